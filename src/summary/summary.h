/*
 * Summary-network kernels: set pooling, set statistics, multi-head attention
 * (SAB/ISAB/PMA), 1-D convolution, GRU and LSTM, as forward/backward pairs
 * that the tape in src/nn/net.c dispatches to; builders for composite blocks
 * (MAB, SAB, ISAB, PMA block, DeepSet); and the conjugate normal-gamma task
 * used to test them. Shapes: B items, N (or L) rows per item, F features;
 * `count` gives the valid rows of each item (NULL = all N). Backward
 * functions accumulate (+=); parameter-gradient pointers may be NULL (input
 * gradients only).
 */
#ifndef DSBI_SUMMARY_H
#define DSBI_SUMMARY_H
#include "nn/nn.h"

/* ---------------------------------------------------------------- sets */

void dsbi_pool_forward(float *out, float *save, const float *in, const size_t *count, size_t B,
                       size_t N, size_t F, dsbi_pool op);
void dsbi_pool_backward(float *d_in, const float *d_out, const float *save, const size_t *count,
                        size_t B, size_t N, size_t F, dsbi_pool op);

void dsbi_set_stats_forward(float *out, float *save, const float *in, const float *p,
                            const size_t *count, size_t B, size_t N, size_t d);
void dsbi_set_stats_backward(float *d_in, float *d_p, const float *d_out, const float *in,
                             const float *save, const float *p, const size_t *count, size_t B,
                             size_t N, size_t d);

/* Multi-head attention dims: nq query rows per item (shared_q: one query
 * block for all items, e.g. PMA seeds), nk key rows per item of width Dk,
 * model width F split into `heads` heads. */
typedef struct dsbi_mha_dims {
    size_t B, nq, nk, Dk, F, heads;
    int shared_q;
} dsbi_mha_dims;
/* floats per item of saved state + scratch */
size_t dsbi_mha_save_size(size_t nq, size_t nk, size_t F, size_t heads);
/* parameter count after the seeds: Wq, bq, Wk, bk, Wv, bv, Wo, bo */
size_t dsbi_mha_param_size(size_t Dk, size_t F);
void dsbi_mha_forward(float *out, float *save, const float *q, const float *kv, const float *p,
                      const size_t *count, const dsbi_mha_dims *d);
void dsbi_mha_backward(float *d_q, float *d_kv, float *d_p, const float *d_out, const float *q,
                       const float *kv, float *save, const float *p, const size_t *count,
                       const dsbi_mha_dims *d);

/* ---------------------------------------------------------------- sequences */

void dsbi_conv1d_forward(float *out, const float *x, const float *p, const size_t *count,
                         size_t B, size_t L, size_t Cin, size_t Cout, size_t K);
void dsbi_conv1d_backward(float *d_x, float *d_p, const float *d_out, const float *x,
                          const float *p, const size_t *count, size_t B, size_t L, size_t Cin,
                          size_t Cout, size_t K);

size_t dsbi_gru_save_size(size_t L, size_t H);
void dsbi_gru_forward(float *out, float *save, const float *x, const float *p,
                      const size_t *count, size_t B, size_t L, size_t Din, size_t H, int reverse);
void dsbi_gru_backward(float *d_x, float *d_p, const float *d_out, const float *x, float *save,
                       const float *p, const size_t *count, size_t B, size_t L, size_t Din,
                       size_t H, int reverse);

/* LSTM with the GRU's interface: p = [Wx (Din x 4H), b (4H), Wh (H x 4H)],
 * gates i, f, g, o; out (B x H) = h after the last valid step. */
size_t dsbi_lstm_save_size(size_t L, size_t H);
size_t dsbi_lstm_param_size(size_t Din, size_t H);
/* U(+-1/sqrt(H)) for every entry, forget-gate biases 1 (see sequence.c) */
void dsbi_lstm_init(float *p, size_t Din, size_t H, dsbi_rng *rng);
void dsbi_lstm_forward(float *out, float *save, const float *x, const float *p,
                       const size_t *count, size_t B, size_t L, size_t Din, size_t H, int reverse);
void dsbi_lstm_backward(float *d_x, float *d_p, const float *d_out, const float *x, float *save,
                        const float *p, const size_t *count, size_t B, size_t L, size_t Din,
                        size_t H, int reverse);

/* ---------------------------------------------------------------- blocks */

/* Builders on the tape; return the output node or -1 (out of memory).
 * MAB(q, kv) = LN(H + rFF(H)), H = LN(q + MultiHead(q, kv, kv)),
 * rFF = Dense(F) act Dense(F) (Lee et al. 2019, eq. 6-7). */
int dsbi_summary_mab(dsbi_net *net, int q, int kv, size_t heads, dsbi_activation act);
/* SAB(x) = MAB(x, x) */
int dsbi_summary_sab(dsbi_net *net, int x, size_t heads, dsbi_activation act);
/* ISAB_m(x) = MAB(x, H), H = MAB(I, x) with m learned inducing points I (width of x) */
int dsbi_summary_isab(dsbi_net *net, int x, size_t m, size_t heads, dsbi_activation act);
/* PMA_k(x) = MAB(S, x) with k seeds of width `dim`, flattened to (B x k dim) */
int dsbi_summary_pma(dsbi_net *net, int x, size_t k, size_t dim, size_t heads,
                     dsbi_activation act);
/* DeepSet: phi (Dense width, act) x depth on members, mean pool, rho
 * (Dense width, act) x depth, Dense(out_dim). */
int dsbi_summary_deepset(dsbi_net *net, int x, size_t width, size_t depth, size_t out_dim,
                         dsbi_activation act);

/* ---------------------------------------------------------------- summary networks of models */

/* A model's summary network on its own tape (src/summary/summary_net.c):
 * input (B*rows x F, masked by ws->count) -> output (B x cfg->summary_dim).
 * Its parameter layout depends on the config only, never on `rows`, so one
 * parameter block serves the training tape (rows = set_size) and a tape
 * built for an observation of any size. */
typedef struct dsbi_summary_net {
    dsbi_net net;
    int in, out;
    size_t rows, F, S;
} dsbi_summary_net;

int dsbi_summary_net_build(dsbi_summary_net *s, const dsbi_model_config *cfg, size_t rows);
void dsbi_summary_net_free(dsbi_summary_net *s);
/* Checks the summary fields of a config (message names the field). */
int dsbi_summary_check_config(const dsbi_model_config *cfg, size_t K);
/* Valid members of a packed row (first value), or 0 if not an integer in 1..N. */
size_t dsbi_set_row_count(const float *row, size_t N);

/* ---------------------------------------------------------------- normal-gamma task */

/* Conjugate normal-gamma problem (ALGORITHMS.md 2.7, cDiff 2.5): tau = 1/sigma^2
 * ~ Gamma(4, rate 4), mu ~ N(0, sigma^2), y_i ~ N(mu, sigma^2), theta = (mu, ln sigma).
 * Draws theta (2) and y (n). */
void dsbi_normal_gamma_simulate(dsbi_rng *rng, size_t n, float *theta, float *y);
/* Closed-form posterior parameters: mu | tau ~ N(mu_n, 1/(kappa_n tau)),
 * tau ~ Gamma(a_n, rate b_n). */
typedef struct dsbi_normal_gamma_post {
    double mu_n, kappa_n, a_n, b_n;
} dsbi_normal_gamma_post;
dsbi_normal_gamma_post dsbi_normal_gamma_posterior(const float *y, size_t n);
/* n_draws posterior draws of theta = (mu, ln sigma), (n_draws x 2). */
void dsbi_normal_gamma_sample(const dsbi_normal_gamma_post *post, dsbi_rng *rng, size_t n_draws,
                              float *theta);
/* Posterior mean and sd of theta by Monte Carlo over n_draws closed-form draws. */
void dsbi_normal_gamma_moments(const float *y, size_t n, dsbi_rng *rng, size_t n_draws,
                               double mean[2], double sd[2]);
/* Gamma(shape, rate 1) draw (Marsaglia-Tsang), shared with tests. */
double dsbi_normal_gamma_draw_gamma(dsbi_rng *rng, double shape);

/* ---------------------------------------------------------------- bench-summary problems */

/* Set and sequence simulators of bench/bench_summary.c (src/summary/problems.c,
 * where the models and theta maps are spelled out; ALGORITHMS.md 2.5 / 2.7,
 * sbibm TASKS.md 9-10). Priors write one theta row; simulators n members
 * (or L steps) of F values. All thread-safe given distinct rngs. */

/* g-and-k (theta 4, F = 1): y = tanh(Q/10). Q at z = Phi^{-1}(u); unpack
 * writes (a, b, g, k) of a theta row. */
double dsbi_gk_quantile(double a, double b, double g, double k, double z);
void dsbi_gk_unpack(const float *theta, double *abgk);
void dsbi_gk_prior(dsbi_rng *rng, float *theta);
void dsbi_gk_simulate(dsbi_rng *rng, const float *theta, size_t n, float *y);

/* normal-Wishart (theta 14, F = 4), conjugate: kappa_n = 1 + n, nu_n = 6 + n,
 * mu_n = n ybar / (1 + n), Psi_n = I + sum (y - ybar)(y - ybar)^T
 * + n/(1 + n) ybar ybar^T (n = 0: the prior). */
#define DSBI_NW_P 4
#define DSBI_NW_DIM 14
typedef struct dsbi_nw_post {
    double kappa_n, nu_n, mu_n[DSBI_NW_P], psi_n[DSBI_NW_P * DSBI_NW_P];
} dsbi_nw_post;
dsbi_nw_post dsbi_nw_posterior(const float *y, size_t n);
/* n_draws exact posterior draws of theta (n_draws x 14) */
void dsbi_nw_sample(const dsbi_nw_post *post, dsbi_rng *rng, size_t n_draws, float *theta);
/* Sigma ~ InvWishart(nu, psi) (4 x 4, row-major) by Bartlett; -1 if psi is
 * not positive definite */
int dsbi_inv_wishart_draw(dsbi_rng *rng, double nu, const double *psi, double *sigma);
/* (mu, Sigma) -> theta (NaN if Sigma is not positive definite); theta ->
 * (mu, lower Cholesky factor of Sigma) */
void dsbi_nw_theta(const double *mu, const double *sigma, float *theta);
void dsbi_nw_unpack(const float *theta, double *mu, double *chol);
void dsbi_nw_prior(dsbi_rng *rng, float *theta);
void dsbi_nw_simulate(dsbi_rng *rng, const float *theta, size_t n, float *y);

/* stochastic volatility (theta 3, F = 1); h (L log-variances) may be NULL */
void dsbi_sv_prior(dsbi_rng *rng, float *theta);
void dsbi_sv_simulate(dsbi_rng *rng, const float *theta, size_t L, float *y, double *h);

/* sbibm lotka_volterra and sir on the whole saving grid (theta as the
 * built-in tasks, natural units). solve: the float32-rounded ODE states
 * (LV: DSBI_LV_RAW_T x (prey, predator), t = 0.1 j; SIR: I at days
 * 0..160); simulate: with the tasks' noise at every point. NaN and a
 * non-zero status if the solve fails. Their priors: dsbi_task_get. */
#define DSBI_LV_RAW_T 201
#define DSBI_SIR_RAW_T 161
int dsbi_lv_raw_solve(const float *theta, double *u);
int dsbi_lv_raw_simulate(dsbi_rng *rng, const float *theta, float *y);
int dsbi_sir_raw_solve(const float *theta, double *I);
int dsbi_sir_raw_simulate(dsbi_rng *rng, const float *theta, float *y);

#endif
