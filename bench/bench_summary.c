/*
 * Summary-network benchmark (issue 7): summary networks trained jointly with
 * the diffusion model, against the same diffusion model fed hand-made
 * statistics, on i.i.d. sets and sequences (ALGORITHMS.md 2.5 / 2.7; the
 * simulators of the last five are in src/summary/problems.c):
 *
 *  normal_gamma  sets: tau = 1/sigma^2 ~ Gamma(4, rate 4), mu | tau ~
 *                N(0, 1/tau), y ~ N(mu, sigma^2), n ~ U{5..50}; theta = (mu,
 *                ln sigma); deepset, set_transformer vs stats = (mean, ln sd,
 *                n); exact posterior
 *  ar1           sequences: tau ~ Gamma(4, rate 4), phi | tau ~ N(0, 1/(4 tau))
 *                truncated jointly to |phi| < 1, x_0 = 0, x_t = phi x_{t-1} +
 *                sigma e_t, n ~ U{10..50}; theta = (phi, ln sigma); GRU, LSTM
 *                vs stats = (phi_n, ln lambda_n, ln b_n, n); exact (below)
 *  gk            sets: g-and-k, theta = (a/5, ln(b + 1e-3)/2, g/5,
 *                ln(k + 1e-3)/2), y = tanh(Q/10), n ~ U{20..100} (cDiff:
 *                100..1000); deepset, set_transformer vs octiles = (the 7
 *                octiles of y, n); no exact posterior
 *  normal_wishart  sets of 4-D points: Sigma ~ InvWishart(6, I), mu ~
 *                N(0, Sigma), n ~ U{20..100} (cDiff: 100..1000); theta =
 *                (mu, ln diag L, L21 L31 L32 L41 L42 L43), L L^T = Sigma;
 *                deepset, set_transformer vs mean_chol = (sample mean, the
 *                sample covariance in the same Cholesky map, n); exact
 *                (conjugate; Bartlett inverse-Wishart draws)
 *  stoch_vol     sequences: stochastic volatility, theta = (mu, phi,
 *                sigma_eta), L ~ U{100..300} (cDiff: 300..1500; --fast
 *                50..150); LSTM vs logsq_acf = (mean and ln sd of ln y^2,
 *                its autocorrelations at lags 1, 2, 3, 5, 10, ln mean y^2,
 *                L); no exact posterior
 *  lv_raw, sir_raw  sequences: sbibm's lotka_volterra and sir with the
 *                tasks' noise at every point of their ODE saving grid
 *                (201 x (prey, predator) at t = 0.1 j; 161 days) instead of
 *                their 10 sub-sampled times; the GRU sees every stride-th
 *                point (lv_raw 2, --fast 4: 101, 51 points, as ln of the
 *                positive values; sir_raw 1, --fast 4: 161, 41 points, as
 *                ln(1 + count); elementwise, so no information is lost);
 *                theta = ln of the tasks' rates. Baseline sbibm_task: the
 *                built-in task (x = the 20 or 10 sub-sampled values),
 *                trained on its own simulator and evaluated on the
 *                sub-samples of the same test series; no exact posterior
 * AR(1) posterior: the likelihood given x_0 is a regression of x_t on
 * x_{t-1}, so with s1 = sum x_{t-1}^2, s2 = sum x_{t-1} x_t, s3 = sum x_t^2:
 * lambda_n = 4 + s1, phi_n = s2 / lambda_n, a_n = 4 + n/2,
 * b_n = 4 + (s3 - lambda_n phi_n^2) / 2, phi | tau ~ N(phi_n, 1/(lambda_n
 * tau)), truncated to |phi| < 1 (drawn by rejection).
 *
 * Every model of a problem is trained on the same online simulations, then:
 *  - training seconds per epoch;
 *  - with an exact posterior: C2ST accuracy (0.5 = indistinguishable) of its
 *    draws against as many exact draws, mean and max over a few
 *    observations at three sizes n (the largest beyond the training sizes),
 *    with the posterior mean error in posterior sds and the sd ratios;
 *  - calibration over a test set of prior-predictive simulations
 *    (dsbi_calibrate, as `diffsbi diagnose` computes it): per parameter the
 *    verdict, the SBC log-gamma (< 0: the rank ECDF leaves its 95 % band),
 *    the coverage error and the contraction 1 - posterior var / prior var
 *    (how much the data taught), and the joint TARP area beside its
 *    Monte-Carlo level 0.31/sqrt(n_test); one summary line per model for
 *    normal_wishart's 14 parameters. The exact posterior, where there is
 *    one, gets the same rows as a reference for the noise of these.
 * Output: tables, plus one line per (problem, model) of key=value pairs
 * starting "bench=summary". --fast: fewer epochs (normal_wishart 120,
 * stoch_vol 40, others 60; default 300, stoch_vol 150), observations and
 * test simulations, the shorter series above and one summary network per
 * set problem beyond normal_gamma.
 */
#include "diffsbi.h"
#include "summary/summary.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define YMAX 1024  /* floats of one simulated set or series (members x features) */
#define SMAX 24    /* hand-made statistics */
#define DMAX 14    /* parameters */
#define NEVAL_MAX 200

/* ---------------------------------------------------------------- problems */

typedef struct problem {
    const char *name;
    size_t D, F;              /* parameters; values per member (step) */
    size_t nmin, nmax;        /* training (and test) sizes of the simulated data */
    size_t stride;            /* the summary network sees every stride-th member [1] */
    int log_view;             /* ... and ln v (1) or ln(1 + v) (2) of its values v >= 0 */
    const char *const *theta_names;
    size_t n_eval[3];         /* C2ST sizes (exact posterior only) */
    size_t n_stats;           /* hand-made statistics */
    int n_learned;            /* summary networks (1 or 2) */
    dsbi_summary_kind kind[2];
    dsbi_summary_rnn rnn[2];
    const char *model_names[2], *base_name; /* summary networks, baseline */
    size_t summary_dim, summary_width, summary_depth; /* 0: 8, 16, 1 */
    size_t epochs_full, epochs_fast; /* if non-zero, unless --epochs */
    /* --fast: sizes, stride and learned networks if non-zero */
    size_t fast_nmin, fast_nmax, fast_stride;
    int fast_learned;
    void (*prior)(dsbi_rng *r, float *th);
    void (*data)(dsbi_rng *r, const float *th, size_t n, float *y); /* n x F */
    /* L exact posterior draws, or NULL */
    void (*exact)(const float *y, size_t n, dsbi_rng *r, size_t L, float *th);
    void (*stats)(const float *y, size_t n, float *s);
    const char *builtin; /* baseline trained on this built-in task (theta = ln of its) */
} problem;

/* -- normal_gamma and ar1 */

static void ng_prior_l(dsbi_rng *r, float *th, double lambda0, int bounded) {
    do {
        double tau = dsbi_normal_gamma_draw_gamma(r, 4.0) / 4.0;
        th[0] = (float)(dsbi_rng_normal(r) / sqrt(lambda0 * tau));
        th[1] = (float)(-0.5 * log(tau));
    } while (bounded && !(fabsf(th[0]) < 1.0f));
}

static void ng_prior(dsbi_rng *r, float *th) { ng_prior_l(r, th, 1.0, 0); }
/* truncation by redrawing (tau, phi) together: the normal-gamma density
 * restricted to |phi| < 1 */
static void ar_prior(dsbi_rng *r, float *th) { ng_prior_l(r, th, 4.0, 1); }

static void ng_data(dsbi_rng *r, const float *th, size_t n, float *y) {
    for (size_t j = 0; j < n; j++) y[j] = th[0] + expf(th[1]) * (float)dsbi_rng_normal(r);
}

static void ng_exact(const float *y, size_t n, dsbi_rng *r, size_t L, float *th) {
    dsbi_normal_gamma_post post = dsbi_normal_gamma_posterior(y, n);
    dsbi_normal_gamma_sample(&post, r, L, th);
}

static void ng_stats(const float *y, size_t n, float *s) {
    double m = 0, v = 0;
    for (size_t j = 0; j < n; j++) m += y[j];
    m /= (double)n;
    for (size_t j = 0; j < n; j++) v += (y[j] - m) * (y[j] - m);
    v /= (double)(n - 1);
    s[0] = (float)m;
    s[1] = (float)(0.5 * log(v));
    s[2] = (float)n;
}

static void ar_data(dsbi_rng *r, const float *th, size_t n, float *y) {
    double x = 0, sg = exp(th[1]);
    for (size_t t = 0; t < n; t++) {
        x = th[0] * x + sg * dsbi_rng_normal(r);
        y[t] = (float)x;
    }
}

static dsbi_normal_gamma_post ar_post(const float *y, size_t n) {
    double s1 = 0, s2 = 0, s3 = 0, prev = 0;
    for (size_t t = 0; t < n; t++) {
        s1 += prev * prev;
        s2 += prev * y[t];
        s3 += (double)y[t] * y[t];
        prev = y[t];
    }
    double lam = 4.0 + s1, phi = s2 / lam;
    return (dsbi_normal_gamma_post){.mu_n = phi, .kappa_n = lam, .a_n = 4.0 + (double)n / 2.0,
                                    .b_n = 4.0 + 0.5 * (s3 - lam * phi * phi)};
}

static void ar_exact(const float *y, size_t n, dsbi_rng *r, size_t L, float *th) {
    dsbi_normal_gamma_post post = ar_post(y, n);
    for (size_t l = 0, tries = 0; l < L; tries++) {
        if (tries > 10000 * L) {
            fprintf(stderr, "bench_summary: ar1: exact posterior beyond |phi| < 1\n");
            exit(1);
        }
        dsbi_normal_gamma_sample(&post, r, 1, th + 2 * l);
        if (fabsf(th[2 * l]) < 1.0f) l++;
    }
}

static void ar_stats(const float *y, size_t n, float *s) {
    dsbi_normal_gamma_post p = ar_post(y, n);
    s[0] = (float)p.mu_n;
    s[1] = (float)log(p.kappa_n);
    s[2] = (float)log(p.b_n);
    s[3] = (float)n;
}

/* -- g-and-k */

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* octiles E_1..E_7 (linear interpolation between order statistics) and n */
static void gk_stats(const float *y, size_t n, float *s) {
    float v[YMAX];
    memcpy(v, y, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_float);
    for (int q = 1; q <= 7; q++) {
        double pos = (double)(n - 1) * q / 8.0, f = pos - floor(pos);
        size_t i = (size_t)pos;
        s[q - 1] = (float)(v[i] + (i + 1 < n ? f * (v[i + 1] - v[i]) : 0.0));
    }
    s[7] = (float)n;
}

/* -- normal-Wishart */

static void nw_exact(const float *y, size_t n, dsbi_rng *r, size_t L, float *th) {
    dsbi_nw_post post = dsbi_nw_posterior(y, n);
    dsbi_nw_sample(&post, r, L, th);
}

/* the sample mean and covariance (divisor n - 1) in the theta map, and n */
static void nw_stats(const float *y, size_t n, float *s) {
    double m[4] = {0}, c[16];
    for (size_t r = 0; r < n; r++)
        for (int i = 0; i < 4; i++) m[i] += y[r * 4 + i] / (double)n;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            double a = 0;
            for (size_t r = 0; r < n; r++) a += (y[r * 4 + i] - m[i]) * (y[r * 4 + j] - m[j]);
            c[i * 4 + j] = a / (double)(n - 1);
        }
    dsbi_nw_theta(m, c, s);
    s[14] = (float)n;
}

/* -- stochastic volatility */

static void sv_data(dsbi_rng *r, const float *th, size_t n, float *y) {
    dsbi_sv_simulate(r, th, n, y, NULL);
}

static void sv_stats(const float *y, size_t n, float *s) {
    double l[YMAX], m = 0, v = 0, e = 0;
    for (size_t t = 0; t < n; t++) {
        double y2 = (double)y[t] * y[t];
        l[t] = log(y2 > 1e-300 ? y2 : 1e-300);
        m += l[t] / (double)n;
        e += y2 / (double)n;
    }
    for (size_t t = 0; t < n; t++) v += (l[t] - m) * (l[t] - m) / (double)n;
    s[0] = (float)m;
    s[1] = (float)(0.5 * log(v));
    static const size_t lags[5] = {1, 2, 3, 5, 10};
    for (int k = 0; k < 5; k++) {
        double a = 0;
        for (size_t t = lags[k]; t < n; t++) a += (l[t] - m) * (l[t - lags[k]] - m);
        s[2 + k] = (float)(a / (double)n / v);
    }
    s[7] = (float)log(e);
    s[8] = (float)n;
}

/* -- sbibm raw series (theta = ln of the tasks' rates) */

static void lv_prior(dsbi_rng *r, float *th) {
    static const double mu[4] = {-0.125, -3.0, -0.125, -3.0};
    for (int j = 0; j < 4; j++) th[j] = (float)(mu[j] + 0.5 * dsbi_rng_normal(r));
}

static void lv_data(dsbi_rng *r, const float *th, size_t n, float *y) {
    float k[4];
    for (int j = 0; j < 4; j++) k[j] = expf(th[j]);
    (void)n; /* always DSBI_LV_RAW_T steps; NaN on a failed solve */
    dsbi_lv_raw_simulate(r, k, y);
}

/* the built-in task's x: (prey, predator) at t = 2.1 j = every 21st point */
static void lv_stats(const float *y, size_t n, float *s) {
    (void)n;
    for (int j = 0; j < 10; j++) {
        s[j] = y[2 * 21 * j];
        s[10 + j] = y[2 * 21 * j + 1];
    }
}

static void sir_prior(dsbi_rng *r, float *th) {
    th[0] = (float)(log(0.4) + 0.5 * dsbi_rng_normal(r));
    th[1] = (float)(log(0.125) + 0.2 * dsbi_rng_normal(r));
}

static void sir_data(dsbi_rng *r, const float *th, size_t n, float *y) {
    float k[2] = {expf(th[0]), expf(th[1])};
    (void)n;
    dsbi_sir_raw_simulate(r, k, y);
}

/* the built-in task's x: days 0, 17, ..., 153 */
static void sir_stats(const float *y, size_t n, float *s) {
    (void)n;
    for (int j = 0; j < 10; j++) s[j] = y[17 * j];
}

static const char *const ng_names[] = {"mu", "ln sigma"}, *const ar_names[] = {"phi", "ln sigma"},
                  *const gk_names[] = {"a/5", "ln b/2", "g/5", "ln k/2"},
                  *const nw_names[] = {"mu1", "mu2", "mu3", "mu4", "ln L11", "ln L22", "ln L33",
                                       "ln L44", "L21", "L31", "L32", "L41", "L42", "L43"},
                  *const sv_names[] = {"mu", "phi", "sigma"},
                  *const lv_names[] = {"ln alpha", "ln beta", "ln gamma", "ln delta"},
                  *const sir_names[] = {"ln beta", "ln gamma"};

#define NPROB 7
static problem problems[NPROB] = {
    {.name = "normal_gamma", .D = 2, .F = 1, .nmin = 5, .nmax = 50, .theta_names = ng_names,
     .n_eval = {5, 50, 100}, .n_stats = 3, .n_learned = 2,
     .kind = {DSBI_SUMMARY_DEEPSET, DSBI_SUMMARY_SET_TRANSFORMER},
     .model_names = {"deepset", "set_transformer"}, .base_name = "stats", .prior = ng_prior,
     .data = ng_data, .exact = ng_exact, .stats = ng_stats},
    {.name = "ar1", .D = 2, .F = 1, .nmin = 10, .nmax = 50, .theta_names = ar_names,
     .n_eval = {10, 50, 100}, .n_stats = 4, .n_learned = 2,
     .kind = {DSBI_SUMMARY_TIMESERIES, DSBI_SUMMARY_TIMESERIES},
     .rnn = {DSBI_SUMMARY_RNN_GRU, DSBI_SUMMARY_RNN_LSTM},
     .model_names = {"timeseries_gru", "timeseries_lstm"}, .base_name = "stats",
     .prior = ar_prior, .data = ar_data, .exact = ar_exact, .stats = ar_stats},
    {.name = "gk", .D = 4, .F = 1, .nmin = 20, .nmax = 100, .theta_names = gk_names,
     .n_stats = 8, .n_learned = 2, .fast_learned = 1,
     .kind = {DSBI_SUMMARY_DEEPSET, DSBI_SUMMARY_SET_TRANSFORMER},
     .model_names = {"deepset", "set_transformer"}, .base_name = "octiles", .summary_dim = 16,
     .prior = dsbi_gk_prior, .data = dsbi_gk_simulate, .stats = gk_stats},
    {.name = "normal_wishart", .D = 14, .F = 4, .nmin = 20, .nmax = 100,
     .theta_names = nw_names, .n_eval = {20, 100, 200}, .n_stats = 15, .n_learned = 2,
     .fast_learned = 1, .epochs_fast = 120,
     .kind = {DSBI_SUMMARY_DEEPSET, DSBI_SUMMARY_SET_TRANSFORMER},
     .model_names = {"deepset", "set_transformer"}, .base_name = "mean_chol",
     .summary_dim = 32, .summary_width = 32, .prior = dsbi_nw_prior,
     .data = dsbi_nw_simulate, .exact = nw_exact, .stats = nw_stats},
    {.name = "stoch_vol", .D = 3, .F = 1, .nmin = 100, .nmax = 300, .theta_names = sv_names,
     .n_stats = 9, .n_learned = 1, .fast_nmin = 50, .fast_nmax = 150, .epochs_full = 150,
     .epochs_fast = 40, .kind = {DSBI_SUMMARY_TIMESERIES}, .rnn = {DSBI_SUMMARY_RNN_LSTM},
     .model_names = {"timeseries_lstm"}, .base_name = "logsq_acf", .summary_dim = 16,
     .prior = dsbi_sv_prior, .data = sv_data, .stats = sv_stats},
    {.name = "lv_raw", .D = 4, .F = 2, .nmin = DSBI_LV_RAW_T, .nmax = DSBI_LV_RAW_T,
     .stride = 2, .fast_stride = 4, .log_view = 1, .theta_names = lv_names, .n_stats = 20,
     .n_learned = 1, .kind = {DSBI_SUMMARY_TIMESERIES}, .rnn = {DSBI_SUMMARY_RNN_GRU},
     .model_names = {"timeseries_gru"}, .base_name = "sbibm_task", .summary_dim = 16,
     .prior = lv_prior, .data = lv_data, .stats = lv_stats, .builtin = "lotka_volterra"},
    {.name = "sir_raw", .D = 2, .F = 1, .nmin = DSBI_SIR_RAW_T, .nmax = DSBI_SIR_RAW_T,
     .stride = 1, .fast_stride = 4, .log_view = 2, .theta_names = sir_names, .n_stats = 10,
     .n_learned = 1, .kind = {DSBI_SUMMARY_TIMESERIES}, .rnn = {DSBI_SUMMARY_RNN_GRU},
     .model_names = {"timeseries_gru"}, .base_name = "sbibm_task", .summary_dim = 8,
     .prior = sir_prior, .data = sir_data, .stats = sir_stats, .builtin = "sir"},
};

static const char *model_name(const problem *p, int k) {
    return k < p->n_learned ? p->model_names[k] : p->base_name;
}

static size_t stride_of(const problem *p) { return p->stride ? p->stride : 1; }

/* members the summary network sees of a series of n */
static size_t view_size(const problem *p, size_t n) { return (n - 1) / stride_of(p) + 1; }

/* every stride-th member of y (n x F) into v, as logs with log_view;
 * returns their number */
static size_t view(const problem *p, const float *y, size_t n, float *v) {
    size_t s = stride_of(p), m = view_size(p, n);
    for (size_t i = 0; i < m; i++) memcpy(v + i * p->F, y + i * s * p->F, p->F * sizeof *v);
    if (p->log_view)
        for (size_t j = 0; j < m * p->F; j++)
            v[j] = p->log_view == 2 ? log1pf(v[j]) : logf(v[j]);
    return m;
}

static size_t draw_size(const problem *p, dsbi_rng *r) {
    size_t c = p->nmin + (size_t)(dsbi_rng_uniform(r) * (double)(p->nmax - p->nmin + 1));
    return c > p->nmax ? p->nmax : c;
}

/* simulator context: the problem, whether to write statistics, and the
 * built-in task of a baseline */
typedef struct sim_ctx {
    const problem *p;
    int stats;
    dsbi_simulator task;
} sim_ctx;

static int prior(void *ctx, dsbi_rng *r, size_t n, float *th) {
    const sim_ctx *c = ctx;
    for (size_t i = 0; i < n; i++) c->p->prior(r, th + c->p->D * i);
    return 0;
}

/* packed rows [n, members..., 0...] of what the network sees, or the statistics */
static int simulate(void *ctx, dsbi_rng *r, size_t n, const float *th, float *x) {
    const sim_ctx *c = ctx;
    const problem *p = c->p;
    float y[YMAX], v[YMAX];
    size_t N = view_size(p, p->nmax);
    for (size_t i = 0; i < n; i++) {
        size_t m = draw_size(p, r);
        p->data(r, th + p->D * i, m, y);
        if (c->stats) {
            p->stats(y, m, x + i * p->n_stats);
            continue;
        }
        float *row = x + i * DSBI_SET_ROW(N, p->F);
        size_t mv = view(p, y, m, v);
        if (!isfinite(v[0])) { /* failed ODE solve: a NaN row, dropped by the trainer */
            for (size_t j = 0; j < DSBI_SET_ROW(N, p->F); j++) row[j] = NAN;
        } else if (dsbi_set_pack(v, mv, N, p->F, row)) {
            return -1;
        }
    }
    return 0;
}

/* the built-in task with theta = ln of its parameters */
static int task_prior(void *ctx, dsbi_rng *r, size_t n, float *th) {
    const sim_ctx *c = ctx;
    int e = c->task.prior(c->task.ctx, r, n, th);
    for (size_t i = 0; i < n * c->p->D; i++) th[i] = logf(th[i]);
    return e;
}

static int task_simulate(void *ctx, dsbi_rng *r, size_t n, const float *th, float *x) {
    const sim_ctx *c = ctx;
    float *k = malloc(n * c->p->D * sizeof *k);
    if (!k) return -1;
    for (size_t i = 0; i < n * c->p->D; i++) k[i] = expf(th[i]);
    int e = c->task.simulate(c->task.ctx, r, n, k, x);
    free(k);
    return e;
}

/* ---------------------------------------------------------------- models */

static double epoch_seconds;
static int progress(void *u, size_t e, size_t E, double tl, double vl, double s) {
    (void)u, (void)tl, (void)vl;
    if (e == E) epoch_seconds = s / (double)E;
    return 0;
}

/* model k of problem p: k < n_learned a summary network, else the baseline */
static dsbi_model *train(const problem *p, int k, size_t epochs, double *sec) {
    int base = k == p->n_learned;
    sim_ctx ctx = {.p = p, .stats = base};
    dsbi_simulator sim = {.name = p->name, .dim_theta = p->D, .prior = prior,
                          .simulate = simulate, .ctx = &ctx, .thread_safe = 1};
    dsbi_model_config mc = dsbi_model_config_default();
    mc.width = 128;
    mc.depth = 3;
    mc.summary_width = p->summary_width ? p->summary_width : 16;
    mc.summary_depth = p->summary_depth ? p->summary_depth : 1;
    mc.summary_dim = p->summary_dim ? p->summary_dim : 8;
    mc.summary_heads = 2;
    mc.summary_inducing = 4;
    dsbi_model *m;
    if (!base) {
        mc.summary = p->kind[k];
        mc.summary_rnn = p->rnn[k];
        size_t N = view_size(p, p->nmax);
        sim.dim_x = DSBI_SET_ROW(N, p->F);
        m = dsbi_model_create_set(&mc, p->D, N, p->F);
    } else {
        sim.dim_x = p->n_stats;
        if (p->builtin) {
            if (dsbi_task_get(p->builtin, &ctx.task) || ctx.task.dim_x != p->n_stats ||
                ctx.task.dim_theta != p->D || !ctx.task.thread_safe) {
                fprintf(stderr, "bench_summary: built-in task %s: %s\n", p->builtin,
                        dsbi_last_error());
                exit(1);
            }
            sim.prior = task_prior;
            sim.simulate = task_simulate;
        }
        m = dsbi_model_create(&mc, p->D, p->n_stats);
    }
    dsbi_train_config tc = dsbi_train_config_default();
    tc.epochs = epochs;
    tc.sims_per_epoch = 4096;
    tc.batch_size = 128;
    tc.lr = 4e-3f;
    tc.patience = 0;
    tc.seed = 3;
    tc.progress = progress;
    if (!m || dsbi_model_fit_online(m, &sim, &tc)) {
        fprintf(stderr, "bench_summary: %s %s: %s\n", p->name, model_name(p, k),
                dsbi_last_error());
        exit(1);
    }
    *sec = epoch_seconds;
    return m;
}

/* L posterior draws for the observation y (n members): model k, or the
 * exact posterior for m == NULL */
static void draw(const problem *p, dsbi_model *m, int k, const float *y, size_t n, size_t L,
                 uint64_t seed, float *th) {
    if (!m) {
        dsbi_rng r;
        dsbi_rng_init(&r, seed, 99);
        p->exact(y, n, &r, L, th);
        return;
    }
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.seed = seed;
    int e;
    if (k < p->n_learned) {
        float v[YMAX];
        size_t mv = view(p, y, n, v);
        e = dsbi_model_sample_set(m, v, mv, L, &sc, th, NULL);
    } else {
        float st[SMAX];
        p->stats(y, n, st);
        e = dsbi_model_sample(m, st, L, &sc, th, NULL);
    }
    if (e) {
        fprintf(stderr, "bench_summary: %s %s: %s\n", p->name, model_name(p, k),
                dsbi_last_error());
        exit(1);
    }
}

/* ---------------------------------------------------------------- evaluation */

typedef struct opts {
    size_t epochs, n_obs, L_c2st, n_test, L_cal;
    int fast, epochs_given;
    int selected[NPROB];
} opts;

static size_t problem_epochs(const problem *p, const opts *o) {
    size_t e = o->fast ? p->epochs_fast : p->epochs_full;
    return o->epochs_given || !e ? o->epochs : e;
}

typedef struct c2st_row {
    double c2, c2max, mean_err, sd_ratio, sd_min, sd_max;
} c2st_row;

/* a prior draw and a simulation of n members (n = 0: a size drawn after the
 * prior draw) whose values are all finite (the ODE problems can fail to
 * solve; rare); returns the size */
static size_t prior_predictive(const problem *p, dsbi_rng *r, size_t n, float *truth, float *y) {
    for (int tries = 0;; tries++) {
        p->prior(r, truth);
        size_t c = n ? n : draw_size(p, r);
        p->data(r, truth, c, y);
        int ok = 1;
        for (size_t j = 0; j < c * p->F && ok; j++) ok = isfinite(y[j]);
        if (ok) return c;
        if (tries > 1000) {
            fprintf(stderr, "bench_summary: %s: simulations keep failing\n", p->name);
            exit(1);
        }
    }
}

/* C2ST and moments at size n: n_obs observations drawn from the prior (the
 * same for every model: fixed seeds) */
static c2st_row eval_c2st(const problem *p, dsbi_model *m, int k, size_t n, const opts *o) {
    size_t L = o->L_c2st, D = p->D;
    float *ref = malloc(L * D * sizeof(float)), *th = malloc(L * D * sizeof(float));
    c2st_row row = {.sd_min = INFINITY};
    dsbi_rng r;
    dsbi_rng_init(&r, 77, n);
    for (size_t i = 0; i < o->n_obs; i++) {
        float truth[DMAX], y[YMAX];
        prior_predictive(p, &r, n, truth, y);
        draw(p, NULL, 0, y, n, L, 1000 + i, ref);
        draw(p, m, k, y, n, L, i, th);
        double acc = 0.5;
        dsbi_c2st_config cc = dsbi_c2st_config_default();
        if (dsbi_c2st(ref, L, th, L, D, &cc, &acc)) {
            fprintf(stderr, "bench_summary: c2st: %s\n", dsbi_last_error());
            exit(1);
        }
        row.c2 += acc / (double)o->n_obs;
        if (acc > row.c2max) row.c2max = acc;
        for (size_t d = 0; d < D; d++) {
            double a = 0, a2 = 0, b = 0, b2 = 0;
            for (size_t l = 0; l < L; l++) {
                a += ref[D * l + d], a2 += (double)ref[D * l + d] * ref[D * l + d];
                b += th[D * l + d], b2 += (double)th[D * l + d] * th[D * l + d];
            }
            a /= (double)L, b /= (double)L;
            double sa = sqrt(a2 / (double)L - a * a), sb = sqrt(b2 / (double)L - b * b);
            row.mean_err += fabs(b - a) / sa / ((double)D * (double)o->n_obs);
            row.sd_ratio += sb / sa / ((double)D * (double)o->n_obs);
            if (sb / sa < row.sd_min) row.sd_min = sb / sa;
            if (sb / sa > row.sd_max) row.sd_max = sb / sa;
        }
    }
    free(ref);
    free(th);
    return row;
}

/* calibration over n_test prior-predictive simulations (fixed seeds: the same
 * test set for every model) */
static void eval_calibration(const problem *p, dsbi_model *m, int k, const opts *o,
                             dsbi_calibration *cal) {
    size_t n = o->n_test, L = o->L_cal, D = p->D;
    float *truth = malloc(n * D * sizeof(float)), *draws = malloc(n * L * D * sizeof(float));
    dsbi_rng r;
    dsbi_rng_init(&r, 4242, 7);
    for (size_t i = 0; i < n; i++) {
        float y[YMAX];
        size_t c = prior_predictive(p, &r, 0, truth + D * i, y);
        draw(p, m, k, y, c, L, 5000 + i, draws + i * L * D);
    }
    if (dsbi_calibrate(truth, draws, n, L, D, NULL, cal)) {
        fprintf(stderr, "bench_summary: calibrate: %s\n", dsbi_last_error());
        exit(1);
    }
    free(truth);
    free(draws);
}

static void verdict_key(dsbi_verdict v, char *out, size_t size) {
    snprintf(out, size, "%s", dsbi_verdict_name(v)); /* "well calibrated" -> "well_calibrated" */
    for (char *c = out; *c; c++) *c = *c == ' ' ? '_' : *c;
}

/* calibration rows: one per parameter, or (many parameters) one per model
 * with the verdict counts, the worst log-gamma and coverage error and the
 * mean contraction */
static void print_calibration(const problem *p, const char *name, const dsbi_calibration *cal) {
    if (p->D <= 4) {
        for (size_t d = 0; d < p->D; d++) {
            const dsbi_param_calibration *pc = &cal->param[d];
            printf("%-16s %-9s %-17s %9.2f %9.3f %9.3f", d ? "" : name, p->theta_names[d],
                   dsbi_verdict_name(pc->verdict), pc->log_gamma, pc->coverage_error,
                   pc->contraction);
            if (d == 0) printf(" %9.3f", cal->tarp_area);
            printf("\n");
        }
        return;
    }
    int counts[8] = {0};
    double lg = INFINITY, ce = 0, co = 0;
    for (size_t d = 0; d < p->D; d++) {
        const dsbi_param_calibration *pc = &cal->param[d];
        if ((unsigned)pc->verdict < 8) counts[pc->verdict]++;
        if (pc->log_gamma < lg) lg = pc->log_gamma;
        if (pc->coverage_error > ce) ce = pc->coverage_error;
        co += pc->contraction / (double)p->D;
    }
    char v[96] = "";
    for (int i = 0; i < 8; i++)
        if (counts[i]) {
            size_t len = strlen(v);
            snprintf(v + len, sizeof v - len, "%s%d %s", len ? ", " : "", counts[i],
                     dsbi_verdict_name((dsbi_verdict)i));
        }
    printf("%-16s %-9s %-17s %9.2f %9.3f %9.3f %9.3f\n  (%zu parameters: %s)\n", name, "all",
           "(worst / mean)", lg, ce, co, cal->tarp_area, p->D, v);
}

static void run_problem(const problem *p, const opts *o) {
    int nm = p->n_learned + 1;
    dsbi_model *m[3];
    double sec[3], t0 = dsbi_now();
    size_t epochs = problem_epochs(p, o);
    for (int k = 0; k < nm; k++) m[k] = train(p, k, epochs, &sec[k]);
    printf("\n== %s: %zu parameters, sizes %zu..%zu", p->name, p->D, p->nmin, p->nmax);
    if (stride_of(p) > 1)
        printf(" (the network sees 1 in %zu: %zu)", stride_of(p), view_size(p, p->nmax));
    printf(" x %zu values, %zu epochs of 4096 online simulations, %d threads\n", p->F, epochs,
           dsbi_get_threads());
    for (int k = 0; k < nm; k++)
        printf("  %-16s %6zu parameters, %.3f s per epoch%s\n", model_name(p, k),
               dsbi_model_num_params(m[k]), sec[k],
               k == p->n_learned && p->builtin ? " (trained on the built-in task)" : "");

    c2st_row rows[3][3];
    if (p->exact) {
        printf("\nC2ST against the exact posterior (%zu observations x %zu draws per n)\n",
               o->n_obs, o->L_c2st);
        printf("%-16s %4s %8s %8s %10s %8s %8s %8s\n", "model", "n", "C2ST", "C2ST max",
               "|mean err|", "sd ratio", "min", "max");
        for (int k = 0; k < nm; k++)
            for (int s = 0; s < 3; s++) {
                c2st_row *c = &rows[k][s];
                *c = eval_c2st(p, m[k], k, p->n_eval[s], o);
                printf("%-16s %4zu %8.3f %8.3f %10.3f %8.3f %8.3f %8.3f\n", model_name(p, k),
                       p->n_eval[s], c->c2, c->c2max, c->mean_err, c->sd_ratio, c->sd_min,
                       c->sd_max);
            }
    }

    printf("\nCalibration on %zu test simulations x %zu draws (SBC log-gamma < 0: outside the "
           "95%% band;\ncoverage error: median |coverage - level|; contraction: 1 - posterior / "
           "prior variance;\nTARP area, Monte-Carlo level %.3f)\n",
           o->n_test, o->L_cal, 0.31 / sqrt((double)o->n_test));
    printf("%-16s %-9s %-17s %9s %9s %9s %9s\n", "model", "param", "verdict", "log-gamma",
           "cov err", "contract.", "TARP area");
    for (int k = p->exact ? -1 : 0; k < nm; k++) {
        dsbi_calibration cal;
        const char *name = k < 0 ? "exact" : model_name(p, k);
        eval_calibration(p, k < 0 ? NULL : m[k], k < 0 ? 0 : k, o, &cal);
        print_calibration(p, name, &cal);
        printf("bench=summary problem=%s model=%s", p->name, name);
        if (k >= 0) {
            printf(" params=%zu epoch_s=%.4f", dsbi_model_num_params(m[k]), sec[k]);
            if (p->exact)
                for (int s = 0; s < 3; s++)
                    printf(" c2st_n%zu=%.4f", p->n_eval[s], rows[k][s].c2);
        }
        for (size_t d = 0; d < p->D; d++) {
            char v[32];
            verdict_key(cal.param[d].verdict, v, sizeof v);
            printf(" verdict_%zu=%s log_gamma_%zu=%.3f cov_err_%zu=%.4f contraction_%zu=%.4f", d,
                   v, d, cal.param[d].log_gamma, d, cal.param[d].coverage_error, d,
                   cal.param[d].contraction);
        }
        printf(" tarp_area=%.4f tarp_mc=%.4f\n", cal.tarp_area, cal.tarp_mc);
        dsbi_calibration_free(&cal);
    }
    printf("(%s: %.0f s)\n", p->name, dsbi_now() - t0);
    fflush(stdout);
    for (int k = 0; k < nm; k++) dsbi_model_free(m[k]);
}

static void usage(void) {
    printf("usage: bench_summary [--fast] [--epochs N] [--problem NAME[,NAME...]]\n\n"
           "Summary networks vs hand-made statistics on sets (normal_gamma, gk,\n"
           "normal_wishart) and sequences (ar1, stoch_vol, lv_raw, sir_raw): seconds per\n"
           "epoch, SBC and coverage verdicts, contraction and TARP area, and C2ST against\n"
           "the exact posterior where there is one (normal_gamma, ar1, normal_wishart).\n"
           "Defaults: 300 epochs (stoch_vol 150), 5 observations x 2000 draws per size,\n"
           "500 test simulations x 100 draws. --fast: 60 epochs (normal_wishart 120,\n"
           "stoch_vol 40), 3 x 1000, 200 x 100, shorter or sub-sampled series and one\n"
           "summary network for gk and normal_wishart (about 15 minutes on 2 cores).\n"
           "--epochs N sets every problem's epochs.\n");
}

int main(int argc, char **argv) {
    opts o = {.epochs = 300, .n_obs = 5, .L_c2st = 2000, .n_test = 500, .L_cal = 100};
    size_t epochs = 0;
    int any = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--fast")) {
            o.fast = 1;
            o.epochs = 60;
            o.n_obs = 3;
            o.L_c2st = 1000;
            o.n_test = 200;
        } else if (!strcmp(a, "--epochs") && v) {
            epochs = (size_t)strtoul(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--problem") && v) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
                int found = 0;
                for (int pi = 0; pi < NPROB; pi++)
                    if (!strcmp(t, problems[pi].name)) found = o.selected[pi] = 1;
                if (!found) {
                    fprintf(stderr, "bench_summary: unknown problem '%s'\n", t);
                    usage();
                    return 2;
                }
                any = 1;
            }
            i++;
        } else {
            usage();
            return strcmp(a, "--help") ? 2 : 0;
        }
    }
    if (epochs) o.epochs = epochs, o.epochs_given = 1;
    for (int pi = 0; pi < NPROB; pi++) {
        problem *p = &problems[pi];
        if (o.fast && p->fast_nmax) p->nmin = p->fast_nmin, p->nmax = p->fast_nmax;
        if (o.fast && p->fast_learned) p->n_learned = p->fast_learned;
        if (o.fast && p->fast_stride) p->stride = p->fast_stride;
        if (view_size(p, p->nmax) * p->F > YMAX || p->nmax * p->F > YMAX ||
            p->n_eval[2] * p->F > YMAX || p->n_stats > SMAX || p->D > DMAX) {
            fprintf(stderr, "bench_summary: %s: sizes beyond the buffers\n", p->name);
            return 1;
        }
    }
    for (int pi = 0; pi < NPROB; pi++)
        if (!any || o.selected[pi]) run_problem(&problems[pi], &o);
    printf("\n(C2ST: mean over the observations of the accuracy of a classifier telling model\n"
           " draws from exact ones, 0.5 = indistinguishable; |mean err| in posterior sds and\n"
           " sd ratio (exact = 1) averaged over the parameters, with the extreme ratios; the\n"
           " largest n is beyond the training sizes. Baselines: stats, octiles, mean_chol,\n"
           " logsq_acf are hand-made statistics; sbibm_task is the built-in sbibm task, whose x\n"
           " sub-samples the same series at 10 times)\n");
    return 0;
}
