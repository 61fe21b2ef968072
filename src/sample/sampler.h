/*
 * Integrators of the reverse diffusion from t = 1 (noise) to t = stop_time.
 * Each sampler is a type object (GSL style) with a name, order, a stochastic
 * flag, network evaluations per step and a step function; one driver runs the
 * time loop. A field is anything that returns the denoised estimate x_hat(z,t).
 */
#ifndef DSBI_SAMPLER_H
#define DSBI_SAMPLER_H

#include "gen/diffusion.h"

typedef struct dsbi_field {
    const dsbi_sched *sched;
    size_t D;
    void (*denoise)(void *ctx, const float *z, double t, size_t B, float *xhat);
    void *ctx;
} dsbi_field;

/* An explicit Runge-Kutta 5(4) pair of 7 stages with the first-same-as-last
 * property: the last row of a holds the 5th-order weights b (c[6] = 1), so
 * the last stage of an accepted step is the first one of the next. e holds
 * b - b_hat, the weights of the embedded error estimate. One adaptive driver
 * runs any such pair (rk45 and tsit5). */
#define DSBI_ERK_STAGES 7
typedef struct dsbi_erk_tableau {
    const char *name;
    double c[DSBI_ERK_STAGES];
    double a[DSBI_ERK_STAGES][DSBI_ERK_STAGES - 1];
    double e[DSBI_ERK_STAGES];
} dsbi_erk_tableau;

extern const dsbi_erk_tableau dsbi_tableau_dopri5; /* Dormand & Prince (1980) */
extern const dsbi_erk_tableau dsbi_tableau_tsit5;  /* Tsitouras (2011) */

typedef struct dsbi_sampler_type {
    const char *name;
    int order;
    int stochastic;      /* integrates the reverse SDE: needs a diffusion schedule */
    size_t nfe_per_step; /* 0: adaptive, evaluations depend on the tolerances */
    size_t scratch;      /* scratch vectors of B x D floats */
    int corrector;       /* each step also takes cfg->corrector_steps Langevin steps */
    const dsbi_erk_tableau *tableau; /* adaptive Runge-Kutta pair, or NULL */
    /* advances z (B x D) from t to t_next < t; step k of K (k = 0 first);
     * t_prev is the previous step's time (for multistep methods); scratch
     * holds `scratch` B D floats and is kept between the steps of one run;
     * NULL for the adaptive samplers */
    void (*step)(const dsbi_field *f, float *z, size_t B, double t_prev, double t, double t_next,
                 size_t k, size_t K, float *scratch, dsbi_rng *rng, const dsbi_sample_config *cfg);
} dsbi_sampler_type;

extern const dsbi_sampler_type *const dsbi_sampler_ddim;
extern const dsbi_sampler_type *const dsbi_sampler_euler;
extern const dsbi_sampler_type *const dsbi_sampler_heun;
extern const dsbi_sampler_type *const dsbi_sampler_em;
extern const dsbi_sampler_type *const dsbi_sampler_dpm2m;
extern const dsbi_sampler_type *const dsbi_sampler_rk45;
extern const dsbi_sampler_type *const dsbi_sampler_sde_adaptive;
extern const dsbi_sampler_type *const dsbi_sampler_tsit5;
extern const dsbi_sampler_type *const dsbi_sampler_pc;
const dsbi_sampler_type *dsbi_sampler_lookup(dsbi_sampler s);

/* Network evaluations per draw for a fixed-step configuration, corrector
 * steps included (checked against max_nfe before sampling); 0 for adaptive
 * samplers. */
size_t dsbi_sampler_nfe(const dsbi_sample_config *cfg);
/* Scratch floats per row (times D) a sampler needs. */
size_t dsbi_sampler_scratch(const dsbi_sample_config *cfg);
/* Draws the initial state z ~ N(0, (alpha^2 + sigma^2) I) at t = 1 (unit-variance data). */
void dsbi_sampler_init_noise(const dsbi_sched *s, float *z, size_t n, dsbi_rng *rng);
/* Runs the time loop on z in place; scratch holds dsbi_sampler_scratch() B D
 * floats; *nfe receives the network evaluations used, also on failure (may
 * be NULL). Never evaluates the field more than cfg->max_nfe times: a
 * fixed-step configuration over the budget is refused before the first
 * evaluation, an adaptive one stops with an error before the step that would
 * overshoot. */
int dsbi_integrate(const dsbi_field *f, const dsbi_sample_config *cfg, float *z, size_t B,
                   float *scratch, dsbi_rng *rng, size_t *nfe);

#endif
