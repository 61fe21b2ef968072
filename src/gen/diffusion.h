/*
 * Conditional diffusion model in the log-SNR formulation (Kingma et al. 2021;
 * Kingma & Gao 2023; the unified form of the tutorial review, ALGORITHMS.md
 * 3.1). A schedule maps time t in [0, 1] (0 = data, 1 = noise) to the log
 * signal-to-noise ratio lambda; z = alpha x + sigma eps with, for VP,
 * alpha^2 = sigmoid(lambda), sigma^2 = sigmoid(-lambda), and for VE alpha = 1,
 * sigma^2 = exp(-lambda). Every prediction type is an affine map of the
 * network output: x_hat = A z + C out, which makes conversions exact.
 */
#ifndef DSBI_DIFFUSION_H
#define DSBI_DIFFUSION_H

#include "nn/nn.h"

typedef struct dsbi_sched {
    dsbi_schedule kind;
    int vp;                     /* variance preserving? */
    double lambda_min, lambda_max;
    double sigma_min, sigma_max, rho; /* EDM */
    double shift;                     /* cosine */
    double t_min, t_max;              /* cosine, linear, flow: truncated time range */
    double beta_min, beta_max;        /* linear */
    double sigma_data;
} dsbi_sched;

void dsbi_sched_init(dsbi_sched *s, dsbi_schedule kind, double sigma_data, double shift);
/* Sampling schedule lambda(t) and its derivative d lambda / dt (< 0). */
double dsbi_sched_lambda(const dsbi_sched *s, double t);
double dsbi_sched_dlambda(const dsbi_sched *s, double t);
/* Training noise level for a uniform u in (0,1): lambda and its density. */
double dsbi_sched_train_lambda(const dsbi_sched *s, double u, double *density);
void dsbi_sched_alpha_sigma(const dsbi_sched *s, double lambda, double *alpha, double *sigma);
/* Time derivatives of alpha and sigma along the sampling schedule at t. */
void dsbi_sched_dalpha_dsigma(const dsbi_sched *s, double t, double *dalpha, double *dsigma);
/* Network time input: lambda normalised to [-1, 1]. */
double dsbi_sched_time_input(const dsbi_sched *s, double lambda);
/* Scale of the network's z input, 1 / sqrt(alpha^2 sigma_data^2 + sigma^2). */
double dsbi_sched_c_in(const dsbi_sched *s, double lambda);
double dsbi_sched_weight(const dsbi_sched *s, dsbi_weighting w, double lambda, double density);

/* x_hat = A z + C out for a prediction type at noise level lambda. */
void dsbi_pred_coef(const dsbi_sched *s, dsbi_prediction p, double lambda, double *A, double *C);
/* Inverse normal CDF (for low-discrepancy EDM noise levels). */
double dsbi_norm_ppf(double u);

/* The inference network: tape + node ids + design choices. */
typedef struct dsbi_diffusion {
    dsbi_net net;
    int in_z, in_x, in_t, out;
    size_t D, K;
    dsbi_sched sched;
    dsbi_prediction pred;
    dsbi_weighting weighting;
    size_t ct_levels; /* consistency training: current discretisation N (set per step) */
    /* consistency distillation: a trained diffusion model whose probability-
       flow ODE supplies the targets (borrowed, set for the length of a fit) */
    const struct dsbi_diffusion *teacher;
    const float *teacher_params;
    /* sCM tangent warm-up: the fit's current and total optimizer steps (set
       per step; total 0 = no warm-up) */
    size_t train_step, train_steps;
} dsbi_diffusion;

int dsbi_diffusion_build(dsbi_diffusion *dm, const dsbi_model_config *cfg, size_t D, size_t K);
void dsbi_diffusion_free(dsbi_diffusion *dm);

/* Scratch for one batch: network workspace plus per-row noise quantities. */
typedef struct dsbi_diff_ws {
    dsbi_ws ws;
    size_t B;
    double *row;      /* B x 4: lambda, weight, P, Q */
    float *aux;       /* 3 x B x D: consistency training and sampling */
    struct dsbi_diff_ws *teacher; /* distillation: the teacher's workspace (training only) */
} dsbi_diff_ws;

int dsbi_diff_ws_create(dsbi_diff_ws *w, const dsbi_diffusion *dm, size_t B, int train);
void dsbi_diff_ws_free(dsbi_diff_ws *w);

/* Draws the noise of a batch of B rows: eps (B x D) standard normal and the
 * low-discrepancy uniforms u (B) that set the noise levels. Drawn serially so
 * that a batch split over threads sees the same numbers whatever the count. */
void dsbi_diffusion_draw_noise(const dsbi_diffusion *dm, dsbi_rng *rng, size_t B, float *eps,
                               double *u);
/* Denoising loss on B rows (theta, x standardized; eps, u from draw_noise) of
 * a batch of B_total rows: returns sum over the rows of w(lambda) mean_d
 * (eps_hat - eps)^2 divided by B_total, and accumulates its parameter
 * gradients into grads unless grads is NULL. */
double dsbi_diffusion_loss(const dsbi_diffusion *dm, const float *params, float *grads,
                           dsbi_diff_ws *w, const float *theta, const float *x, const float *eps,
                           const double *u, size_t B, size_t B_total);

/* Fills the condition input with x (K values) repeated over B rows. */
void dsbi_diffusion_set_condition(const dsbi_diffusion *dm, dsbi_diff_ws *w, const float *x,
                                  size_t B);
/* Denoised estimate x_hat (B x D) at time t for state z (B x D); the condition
 * must have been set for the same B. */
void dsbi_diffusion_denoise(const dsbi_diffusion *dm, const float *params, dsbi_diff_ws *w,
                            const float *z, double t, size_t B, float *xhat);

/* ---------------------------------------------------------------- consistency models */

/* Number of levels N of the consistency-training curriculum at a step. */
size_t dsbi_ct_levels(size_t step, size_t total);
void dsbi_ct_coef(double sigma, double sd, double *c_skip, double *c_out, double *c_in);
/* Consistency-training loss, same contract as dsbi_diffusion_loss. */
double dsbi_consistency_loss(const dsbi_diffusion *dm, const float *params, float *grads,
                             dsbi_diff_ws *w, const float *theta, const float *x,
                             const float *eps, const double *u, size_t B, size_t B_total);
/* Multistep consistency sampling of B rows into z (condition already set);
 * scratch holds B x D floats. */
void dsbi_consistency_sample(const dsbi_diffusion *dm, const float *params, dsbi_diff_ws *w,
                             float *z, size_t B, size_t steps, dsbi_rng *rng, float *scratch);

/* ---------------------------------------------------------------- sCM (scm.c) */

/* Continuous-time consistency training loss (TrigFlow, tangent normalisation
 * and warm-up), same contract as dsbi_diffusion_loss;
 * needs a training workspace (its activation gradients hold the tangents). */
double dsbi_scm_loss(const dsbi_diffusion *dm, const float *params, float *grads,
                     dsbi_diff_ws *w, const float *theta, const float *x, const float *eps,
                     const double *u, size_t B, size_t B_total);
/* Forward-mode Jacobian-vector product: after dsbi_net_forward over B items,
 * propagates the tangents of the input nodes (filled in tan, an arena laid
 * out as the activations) to nodes 0..last. Dense, activation, layer norm,
 * add, concat and time-embedding nodes only. */
void dsbi_scm_jvp(const dsbi_net *net, const float *params, const dsbi_ws *ws, float *tan,
                  size_t B, int last);
/* TrigFlow time of sampling step k (0-based) of `steps`. */
double dsbi_scm_step_time(size_t k, size_t steps, double sigma_data);
/* 1- to N-step sCM sampling of B rows into z (condition set); scratch B x D. */
void dsbi_scm_sample(const dsbi_diffusion *dm, const float *params, dsbi_diff_ws *w, float *z,
                     size_t B, size_t steps, dsbi_rng *rng, float *scratch);

#endif
