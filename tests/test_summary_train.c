/* Models with a summary network trained jointly with the diffusion model
 * (issue 7): the acceptance test on the conjugate normal-gamma task with set
 * sizes 5..50 (posterior mean and sd against the closed form at n = 5 and
 * n = 50), permutation invariance of the trained summary, an LSTM time-series
 * summary learning the AR(1) coefficient, gradients of the chained summary +
 * diffusion tapes against finite differences, save/load and checkpoint
 * resume of set models (time series with a GRU or an LSTM), and the refusal
 * of bad set data. */
#define _GNU_SOURCE /* memmem */
#include "helpers.h"
#include "approx/model.h"
#include "summary/summary.h"
#include <string.h>
#include <unistd.h>

#define NG_NMIN 5
#define NG_NMAX 50

/* ---------------------------------------------------------------- normal-gamma as a set simulator */

static int ng_prior(void *ctx, dsbi_rng *r, size_t n, float *th) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        double tau = dsbi_normal_gamma_draw_gamma(r, 4.0) / 4.0, sg = 1.0 / sqrt(tau);
        th[2 * i] = (float)(sg * dsbi_rng_normal(r));
        th[2 * i + 1] = (float)log(sg);
    }
    return 0;
}

/* n ~ U{5..50} per row, y_j ~ N(mu, sigma^2), packed rows */
static int ng_simulate(void *ctx, dsbi_rng *r, size_t n, const float *th, float *x) {
    (void)ctx;
    const size_t K = DSBI_SET_ROW(NG_NMAX, 1);
    float y[NG_NMAX];
    for (size_t i = 0; i < n; i++) {
        size_t c = NG_NMIN + (size_t)(dsbi_rng_uniform(r) * (NG_NMAX - NG_NMIN + 1));
        if (c > NG_NMAX) c = NG_NMAX;
        for (size_t j = 0; j < c; j++)
            y[j] = th[2 * i] + expf(th[2 * i + 1]) * (float)dsbi_rng_normal(r);
        if (dsbi_set_pack(y, c, NG_NMAX, 1, x + i * K)) return -1;
    }
    return 0;
}

static dsbi_simulator ng_sim(void) {
    return (dsbi_simulator){.name = "normal_gamma_sets", .dim_theta = 2,
                            .dim_x = DSBI_SET_ROW(NG_NMAX, 1), .prior = ng_prior,
                            .simulate = ng_simulate, .thread_safe = 1};
}

static void moments(const float *th, size_t L, size_t d, double *mean, double *sd) {
    col_moments(th, L, 2, d, mean, sd);
}

/* The acceptance test. One deep-set model trained online on sets of 5..50
 * points; for two observations at n = 5 and two at n = 50 (drawn from the
 * prior with fixed seeds) the 4000 draws must match the closed-form
 * posterior: |mean error| < 0.2 posterior sd and |sd ratio - 1| < 0.2 for
 * mu and ln sigma. Monte-Carlo error of the model side with L = 2000
 * (near-Gaussian marginals): sd(mean error) = 1/sqrt(L) = 0.022 sd,
 * sd(sd ratio) = 1/sqrt(2L) = 0.016; the reference moments use 200,000
 * exact draws (10x smaller errors). So the bounds, 9 and 12 MC sds wide,
 * measure the approximation, not sampling noise (measured: worst 0.04 sd
 * and 5 %). The DDIM sampler runs 200 steps (its discretisation shrinks sds
 * by ~3 % at 100). About 15 s single-threaded on an idle core (12 s training). */
Test(summary_train, normal_gamma_matches_conjugate_posterior, .timeout = 240) {
    dsbi_simulator sim = ng_sim();
    dsbi_model_config mc = dsbi_model_config_default();
    mc.summary = DSBI_SUMMARY_DEEPSET;
    mc.width = 128;
    mc.depth = 3;
    mc.summary_width = 16;
    mc.summary_depth = 1;
    mc.summary_dim = 8;
    dsbi_model *m = dsbi_model_create_set(&mc, 2, NG_NMAX, 1);
    cr_assert_not_null(m, "%s", dsbi_last_error());
    dsbi_train_config tc = dsbi_train_config_default();
    tc.epochs = 300;
    tc.sims_per_epoch = 4096;
    tc.batch_size = 128;
    tc.lr = 4e-3f;
    tc.patience = 0;
    tc.seed = 3;
    double t0 = dsbi_now();
    cr_assert_eq(dsbi_model_fit_online(m, &sim, &tc), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_log_info("normal-gamma deep set: %zu parameters, training %.1f s (%zu epochs of %zu sets)",
                dsbi_model_num_params(m), dsbi_now() - t0, tc.epochs, tc.sims_per_epoch);

    const size_t L = 2000;
    float *th = malloc(L * 2 * sizeof(float));
    dsbi_rng r;
    dsbi_rng_init(&r, 2024, 7);
    double worst_mean = 0.0, worst_sd = 0.0;
    for (int o = 0; o < 4; o++) {
        size_t n = o < 2 ? NG_NMIN : NG_NMAX;
        float truth[2], y[NG_NMAX];
        ng_prior(NULL, &r, 1, truth);
        for (size_t j = 0; j < n; j++) y[j] = truth[0] + expf(truth[1]) * (float)dsbi_rng_normal(&r);
        double em[2], es[2];
        dsbi_normal_gamma_moments(y, n, &r, 200000, em, es);
        dsbi_sample_config sc = dsbi_sample_config_default();
        sc.steps = 200;
        sc.seed = (uint64_t)o;
        cr_assert_eq(dsbi_model_sample_set(m, y, n, L, &sc, th, NULL), DSBI_STATUS_OK, "%s",
                     dsbi_last_error());
        for (size_t d = 0; d < 2; d++) {
            double mean, sd;
            moments(th, L, d, &mean, &sd);
            double err = (mean - em[d]) / es[d], ratio = sd / es[d];
            cr_log_info("n = %2zu, %s: mean error %+.3f posterior sd, sd ratio %.3f", n,
                        d ? "ln sigma" : "mu", err, ratio);
            cr_expect(fabs(err) < 0.2, "n = %zu, param %zu: mean off by %.3f posterior sd", n, d, err);
            cr_expect(fabs(ratio - 1.0) < 0.2, "n = %zu, param %zu: sd ratio %.3f", n, d, ratio);
            if (fabs(err) > worst_mean) worst_mean = fabs(err);
            if (fabs(ratio - 1.0) > worst_sd) worst_sd = fabs(ratio - 1.0);
        }
        /* permutation invariance of the trained summary: reversed and rotated
           sets give the same summary up to float rounding of the sums */
        float perm[NG_NMAX], s0[64], s1[64];
        for (size_t j = 0; j < n; j++) perm[j] = y[(j + 3) % n];
        float rev[NG_NMAX];
        for (size_t j = 0; j < n; j++) rev[j] = perm[n - 1 - j];
        cr_assert_eq(dsbi_model_summary(m, y, n, s0), DSBI_STATUS_OK);
        cr_assert_eq(dsbi_model_summary(m, rev, n, s1), DSBI_STATUS_OK);
        for (size_t k = 0; k < mc.summary_dim; k++)
            cr_assert(fabsf(s0[k] - s1[k]) <= 1e-5f * (1.0f + fabsf(s0[k])),
                      "summary %zu changes under a permutation: %g vs %g", k, (double)s0[k],
                      (double)s1[k]);
    }
    cr_log_info("worst |mean error| %.3f posterior sd, worst |sd ratio - 1| %.3f", worst_mean, worst_sd);
    free(th);
    dsbi_model_free(m);
}

/* ---------------------------------------------------------------- an LSTM summary learns order */

/* AR(1) with a conjugate prior truncated to |phi| < 1 (bench/bench_summary.c's
 * ar1 with shorter series): tau ~ Gamma(4, 4), phi | tau ~ N(0, 1/(4 tau)),
 * x_t = phi x_{t-1} + sigma e_t from x_0 = 0, n ~ U{10..30} steps; the exact
 * posterior mean of phi is s2 / (4 + s1) (s1 = sum x_{t-1}^2, s2 = sum x_{t-1} x_t). */
#define AR_NMAX 30
static void ar_prior_draw(dsbi_rng *r, float *th) {
    do {
        double tau = dsbi_normal_gamma_draw_gamma(r, 4.0) / 4.0;
        th[0] = (float)(dsbi_rng_normal(r) / sqrt(4.0 * tau));
        th[1] = (float)(-0.5 * log(tau));
    } while (!(fabsf(th[0]) < 1.0f));
}
static int ar_prior(void *ctx, dsbi_rng *r, size_t n, float *th) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) ar_prior_draw(r, th + 2 * i);
    return 0;
}
static void ar_series(dsbi_rng *r, const float *th, size_t n, float *y) {
    double x = 0.0;
    for (size_t t = 0; t < n; t++) y[t] = (float)(x = th[0] * x + exp(th[1]) * dsbi_rng_normal(r));
}
static int ar_simulate(void *ctx, dsbi_rng *r, size_t n, const float *th, float *x) {
    (void)ctx;
    float y[AR_NMAX];
    for (size_t i = 0; i < n; i++) {
        size_t c = 10 + (size_t)(dsbi_rng_uniform(r) * (AR_NMAX - 10 + 1));
        if (c > AR_NMAX) c = AR_NMAX;
        ar_series(r, th + 2 * i, c, y);
        if (dsbi_set_pack(y, c, AR_NMAX, 1, x + i * DSBI_SET_ROW(AR_NMAX, 1))) return -1;
    }
    return 0;
}

/* The sign and size of phi live in the order of the steps: permutation-
 * invariant summaries cannot see it (a deep set here: correlation -0.4 with
 * the exact posterior mean). A small LSTM summary trained for 60 epochs of
 * 2048 simulations must track it: over 30 observations of 30 steps, the
 * correlation of its posterior mean of phi with the exact one > 0.9 and the
 * mean |difference| < 0.15 (the exact means have sd 0.42). Measured over 6
 * training seeds: correlation 0.95-0.99, |difference| 0.04-0.10. About 5 s
 * on one core. */
Test(summary_train, lstm_learns_ar1_coefficient, .timeout = 120) {
    dsbi_simulator sim = {.name = "ar1", .dim_theta = 2, .dim_x = DSBI_SET_ROW(AR_NMAX, 1),
                          .prior = ar_prior, .simulate = ar_simulate, .thread_safe = 1};
    dsbi_model_config mc = dsbi_model_config_default();
    mc.summary = DSBI_SUMMARY_TIMESERIES;
    mc.summary_rnn = DSBI_SUMMARY_RNN_LSTM;
    mc.width = 32;
    mc.depth = 2;
    mc.summary_width = 8;
    mc.summary_depth = 1;
    mc.summary_dim = 4;
    dsbi_model *m = dsbi_model_create_set(&mc, 2, AR_NMAX, 1);
    cr_assert_not_null(m, "%s", dsbi_last_error());
    dsbi_train_config tc = dsbi_train_config_default();
    tc.epochs = 60;
    tc.sims_per_epoch = 2048;
    tc.batch_size = 64;
    tc.lr = 4e-3f;
    tc.patience = 0;
    tc.seed = 3;
    cr_assert_eq(dsbi_model_fit_online(m, &sim, &tc), DSBI_STATUS_OK, "%s", dsbi_last_error());
    enum { K = 30, L = 200 };
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, err = 0;
    float th[2], y[AR_NMAX], *d = malloc(L * 2 * sizeof(float));
    dsbi_rng r;
    dsbi_rng_init(&r, 5, 5);
    for (int k = 0; k < K; k++) {
        ar_prior_draw(&r, th);
        ar_series(&r, th, AR_NMAX, y);
        double s1 = 0, s2 = 0, prev = 0;
        for (int t = 0; t < AR_NMAX; t++) {
            s1 += prev * prev;
            s2 += prev * y[t];
            prev = y[t];
        }
        double exact = s2 / (4.0 + s1), mean = 0;
        dsbi_sample_config sc = dsbi_sample_config_default();
        sc.seed = (uint64_t)k;
        sc.steps = 30;
        cr_assert_eq(dsbi_model_sample_set(m, y, AR_NMAX, L, &sc, d, NULL), DSBI_STATUS_OK, "%s",
                     dsbi_last_error());
        for (int l = 0; l < L; l++) mean += d[2 * l] / (double)L;
        sx += exact, sy += mean, sxx += exact * exact, syy += mean * mean, sxy += exact * mean;
        err += fabs(mean - exact) / K;
    }
    double cov = sxy / K - sx * sy / (K * K), vx = sxx / K - sx * sx / (K * K),
           vy = syy / K - sy * sy / (K * K), corr = cov / sqrt(vx * vy);
    cr_assert_gt(corr, 0.9, "correlation of model and exact posterior means of phi: %g", corr);
    cr_assert_lt(err, 0.15, "mean |model - exact posterior mean of phi|: %g (exact sd %g)", err, sqrt(vx));
    free(d);
    dsbi_model_free(m);
}

/* ---------------------------------------------------------------- gradients of the chained tapes */

/* Packed rows of B random sets with sizes 1..N. */
static void random_sets(float *x, size_t B, size_t N, size_t F, uint64_t seed) {
    dsbi_rng r;
    dsbi_rng_init(&r, seed, 5);
    float *mem = malloc(N * F * sizeof(float));
    for (size_t i = 0; i < B; i++) {
        size_t c = 1 + (size_t)(dsbi_rng_uniform(&r) * (double)N);
        if (c > N) c = N;
        if (i == 0) c = N; /* one full set */
        if (i == 1) c = 1; /* one singleton */
        for (size_t k = 0; k < c * F; k++) mem[k] = (float)dsbi_rng_normal(&r);
        dsbi_set_pack(mem, c, N, F, x + i * DSBI_SET_ROW(N, F));
    }
    free(mem);
}

/* The loss gradient of every summary weight and a sample of diffusion
 * weights against central differences (double-checked in float32: step
 * 1e-2 on weights of order 0.1-1 keeps the truncation error ~1e-4 relative,
 * rounding ~1e-5 / 1e-2). Proves that the diffusion loss reaches the summary
 * net through the chained tapes, with masks. */
static void chain_gradcheck_rnn(dsbi_summary_kind kind, dsbi_summary_rnn rnn) {
    dsbi_model_config mc = dsbi_model_config_default();
    mc.summary = kind;
    mc.summary_rnn = rnn;
    mc.width = 16;
    mc.depth = 2;
    mc.summary_width = 8;
    mc.summary_depth = 1;
    mc.summary_dim = 3;
    mc.summary_heads = 2;
    mc.summary_inducing = 2;
    mc.activation = DSBI_ACT_TANH; /* smooth, so differences are clean */
    const size_t N = 4, F = 2, B = 5, D = 2;
    dsbi_model *m = dsbi_model_create_set(&mc, D, N, F);
    cr_assert_not_null(m, "%s", dsbi_last_error());
    size_t P = dsbi_model_num_params(m), Pd = m->dm.net.n_params;
    cr_assert_gt(P, Pd, "the summary weights are part of the parameter block");
    float *x = malloc(B * m->K * sizeof(float)), *th = malloc(B * D * sizeof(float));
    float *eps = malloc(B * D * sizeof(float)), *g = calloc(P, sizeof(float));
    double u[5];
    random_sets(x, B, N, F, 1);
    fill_normal(th, B * D, 2, 1.0f);
    dsbi_rng r;
    dsbi_rng_init(&r, 9, 9);
    dsbi_diffusion_draw_noise(&m->dm, &r, B, eps, u);
    /* push the zero-initialised output layer away from 0 so that every
       weight has a gradient */
    for (size_t i = 0; i < P; i++) m->params[i] += 0.2f * (float)dsbi_rng_normal(&r);
    double l0 = dsbi_model_loss_eval(m, m->params, g, th, x, eps, u, B);
    cr_assert(isfinite(l0));
    size_t checked = 0, nonzero = 0;
    for (size_t i = 0; i < P; i += i < Pd ? 7 : 1) {
        float p0 = m->params[i], h = 1e-2f;
        m->params[i] = p0 + h;
        double lp = dsbi_model_loss_eval(m, m->params, NULL, th, x, eps, u, B);
        m->params[i] = p0 - h;
        double lm = dsbi_model_loss_eval(m, m->params, NULL, th, x, eps, u, B);
        m->params[i] = p0;
        double fd = (lp - lm) / (2.0 * h);
        cr_assert(fabs(fd - g[i]) <= 2e-3 * (fabs(l0) + fabs(fd)) + 1e-4,
                  "%s: param %zu (%s): backward %g vs finite difference %g", dsbi_summary_name(kind), i,
                  i < Pd ? "diffusion" : "summary", (double)g[i], fd);
        checked++;
        if (i >= Pd && fabs(g[i]) > 1e-6) nonzero++;
    }
    cr_assert_gt(nonzero, (P - Pd) / 2, "%s: most summary weights should get a gradient (%zu of %zu)",
                 dsbi_summary_name(kind), nonzero, P - Pd);
    /* padding members do not matter: scribbling over them leaves the loss */
    for (size_t i = 0; i < B; i++) {
        size_t c = (size_t)x[i * m->K];
        for (size_t k = 1 + c * F; k < m->K; k++) x[i * m->K + k] = 123.0f;
    }
    double l1 = dsbi_model_loss_eval(m, m->params, NULL, th, x, eps, u, B);
    cr_assert_float_eq(l1, l0, 1e-6 * fabs(l0), "%s: padding changed the loss", dsbi_summary_name(kind));
    free(x);
    free(th);
    free(eps);
    free(g);
    dsbi_model_free(m);
}

static void chain_gradcheck(dsbi_summary_kind kind) { chain_gradcheck_rnn(kind, DSBI_SUMMARY_RNN_GRU); }

Test(summary_train, chained_gradients_deepset) { chain_gradcheck(DSBI_SUMMARY_DEEPSET); }
Test(summary_train, chained_gradients_set_transformer) { chain_gradcheck(DSBI_SUMMARY_SET_TRANSFORMER); }
Test(summary_train, chained_gradients_timeseries) { chain_gradcheck(DSBI_SUMMARY_TIMESERIES); }
Test(summary_train, chained_gradients_timeseries_lstm) {
    chain_gradcheck_rnn(DSBI_SUMMARY_TIMESERIES, DSBI_SUMMARY_RNN_LSTM);
}

/* ---------------------------------------------------------------- files and resume */

static int stop_after_2(void *user, size_t epoch, size_t epochs, double tl, double vl, double s) {
    (void)user, (void)epochs, (void)tl, (void)vl, (void)s;
    return epoch >= 2;
}

/* n sets of 1..N members of F values with theta = member mean (a toy task:
 * only file and resume mechanics are tested here). */
static dsbi_dataset *toy_sets(size_t n, size_t N, size_t F, uint64_t seed) {
    float *x = malloc(n * N * F * sizeof(float)), *th = malloc(n * 2 * sizeof(float));
    size_t *cnt = malloc(n * sizeof(size_t));
    dsbi_rng r;
    dsbi_rng_init(&r, seed, 3);
    for (size_t i = 0; i < n; i++) {
        cnt[i] = 1 + (size_t)(dsbi_rng_uniform(&r) * (double)N) % N;
        th[2 * i] = (float)dsbi_rng_normal(&r);
        th[2 * i + 1] = (float)dsbi_rng_normal(&r);
        for (size_t k = 0; k < N * F; k++)
            x[i * N * F + k] = k < cnt[i] * F ? th[2 * i + k % 2] + (float)dsbi_rng_normal(&r) : NAN;
    }
    size_t dropped = 99;
    dsbi_dataset *ds = dsbi_dataset_from_sets(th, x, cnt, n, 2, N, F, &dropped);
    cr_assert_not_null(ds, "%s", dsbi_last_error());
    cr_assert_eq(dropped, 0, "NaN padding beyond the counts must not drop rows");
    free(x);
    free(th);
    free(cnt);
    return ds;
}

static dsbi_model_config small_config(dsbi_summary_kind kind) {
    dsbi_model_config mc = dsbi_model_config_default();
    mc.summary = kind;
    mc.width = 32;
    mc.depth = 2;
    mc.summary_width = 8;
    mc.summary_depth = 1;
    mc.summary_dim = 4;
    mc.summary_heads = 2;
    mc.summary_inducing = 3;
    mc.seed = 5;
    return mc;
}

static void files_and_resume_rnn(dsbi_summary_kind kind, dsbi_summary_rnn rnn) {
    const size_t N = 12, F = 2;
    char dir[] = "/tmp/dsbi_sumtrain_XXXXXX", ck[64], path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ck, sizeof ck, "%s/ck.dsbi", dir);
    snprintf(path, sizeof path, "%s/m.dsbi", dir);
    dsbi_dataset *ds = toy_sets(600, N, F, 1);
    dsbi_model_config mc = small_config(kind);
    mc.summary_rnn = rnn;
    dsbi_train_config tc = dsbi_train_config_default();
    tc.epochs = 4;
    tc.batch_size = 64;
    tc.seed = 8;
    /* uninterrupted run */
    dsbi_model *full = dsbi_model_create_set(&mc, 2, N, F);
    cr_assert_eq(dsbi_model_fit(full, ds, &tc), DSBI_STATUS_OK, "%s", dsbi_last_error());
    /* stopped after epoch 2 (checkpoint written), then resumed in a fresh model */
    dsbi_model *part = dsbi_model_create_set(&mc, 2, N, F);
    tc.checkpoint = ck;
    tc.checkpoint_every = 1;
    tc.progress = stop_after_2;
    cr_assert_eq(dsbi_model_fit(part, ds, &tc), DSBI_STATUS_ERR_INTERRUPTED);
    dsbi_model_free(part);
    dsbi_model *res = dsbi_model_create_set(&mc, 2, N, F);
    tc.progress = NULL;
    tc.resume = 1;
    cr_assert_eq(dsbi_model_fit(res, ds, &tc), DSBI_STATUS_OK, "%s", dsbi_last_error());
    size_t P = dsbi_model_num_params(full);
    cr_assert_eq(memcmp(full->params, res->params, P * sizeof(float)), 0,
                 "%s: resumed weights differ from the uninterrupted run", dsbi_summary_name(kind));
    /* save/load: same config, weights and standardization, same draws */
    cr_assert_eq(dsbi_model_save(full, path), DSBI_STATUS_OK, "%s", dsbi_last_error());
    dsbi_model *ld = dsbi_model_load(path);
    cr_assert_not_null(ld, "%s", dsbi_last_error());
    dsbi_model_config lc = dsbi_model_get_config(ld);
    cr_assert(lc.summary == kind && lc.set_size == N && lc.set_features == F &&
              lc.summary_dim == mc.summary_dim && lc.summary_inducing == mc.summary_inducing &&
              lc.summary_stats == mc.summary_stats && lc.summary_rnn == rnn);
    /* theta_mean, theta_std, x_mean, x_std are one block */
    cr_assert_eq(memcmp(full->theta_mean, ld->theta_mean, (2 * 2 + 2 * full->K) * sizeof(float)), 0,
                 "standardization changed by save/load");
    float obs[5 * 2] = {0.1f, -0.3f, 0.7f, 0.2f, -1.0f, 0.5f, 0.3f, 0.3f, 0.0f, 1.2f};
    float a[200 * 2], b[200 * 2], c[200 * 2];
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.steps = 20;
    sc.seed = 4;
    cr_assert_eq(dsbi_model_sample_set(full, obs, 5, 200, &sc, a, NULL), DSBI_STATUS_OK, "%s",
                 dsbi_last_error());
    cr_assert_eq(dsbi_model_sample_set(ld, obs, 5, 200, &sc, b, NULL), DSBI_STATUS_OK);
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "loaded model samples differently");
    /* the packed-row path of dsbi_model_sample gives the same draws */
    float row[DSBI_SET_ROW(12, 2)];
    cr_assert_eq(dsbi_set_pack(obs, 5, N, F, row), DSBI_STATUS_OK);
    cr_assert_eq(dsbi_model_sample(ld, row, 200, &sc, c, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(memcmp(a, c, sizeof a), 0, "packed-row and member sampling differ");
    /* sets larger than the training N are accepted (summary by mean/sqrt n) */
    float big[40 * 2];
    fill_normal(big, 80, 6, 1.0f);
    cr_assert_eq(dsbi_model_sample_set(ld, big, 40, 50, &sc, c, NULL), DSBI_STATUS_OK, "%s",
                 dsbi_last_error());
    for (size_t i = 0; i < 100; i++) cr_assert(isfinite(c[i]));
    dsbi_model_free(ld);
    dsbi_model_free(full);
    dsbi_model_free(res);
    dsbi_dataset_free(ds);
    unlink(ck);
    unlink(path);
    rmdir(dir);
}

static void files_and_resume(dsbi_summary_kind kind) { files_and_resume_rnn(kind, DSBI_SUMMARY_RNN_GRU); }

Test(summary_train, files_and_resume_deepset) { files_and_resume(DSBI_SUMMARY_DEEPSET); }
Test(summary_train, files_and_resume_set_transformer) {
    files_and_resume(DSBI_SUMMARY_SET_TRANSFORMER);
}
Test(summary_train, files_and_resume_timeseries) { files_and_resume(DSBI_SUMMARY_TIMESERIES); }
/* an LSTM summary trains, resumes bit-identically, saves and loads to identical draws */
Test(summary_train, files_and_resume_timeseries_lstm) {
    files_and_resume_rnn(DSBI_SUMMARY_TIMESERIES, DSBI_SUMMARY_RNN_LSTM);
}

/* ---------------------------------------------------------------- refusals */

Test(summary_train, bad_set_data_and_configs_refused) {
    const size_t N = 4, F = 1;
    float th[2 * 2] = {0, 0, 1, 1}, x[2 * 4] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t cnt[2] = {2, 5};
    cr_assert_null(dsbi_dataset_from_sets(th, x, cnt, 2, 2, N, F, NULL));
    cr_assert(strstr(dsbi_last_error(), "row 2 has 5 members"), "%s", dsbi_last_error());
    cnt[1] = 0;
    cr_assert_null(dsbi_dataset_from_sets(th, x, cnt, 2, 2, N, F, NULL));
    /* a NaN among the valid members drops the row */
    cnt[1] = 3;
    x[5] = NAN;
    size_t dropped = 0;
    dsbi_dataset *ds = dsbi_dataset_from_sets(th, x, cnt, 2, 2, N, F, &dropped);
    cr_assert_not_null(ds);
    cr_assert_eq(dropped, 1);
    dsbi_dataset_free(ds);
    float row[DSBI_SET_ROW(4, 1)];
    cr_assert_neq(dsbi_set_pack(x, 0, N, F, row), DSBI_STATUS_OK);

    dsbi_model_config mc = small_config(DSBI_SUMMARY_SET_TRANSFORMER);
    mc.summary_heads = 3; /* does not divide width 8 */
    cr_assert_null(dsbi_model_create_set(&mc, 2, N, F));
    cr_assert(strstr(dsbi_last_error(), "summary_heads"), "%s", dsbi_last_error());
    mc = small_config(DSBI_SUMMARY_DEEPSET);
    mc.set_size = N;
    mc.set_features = F;
    cr_assert_null(dsbi_model_create(&mc, 2, 7)); /* dim_x must be 1 + N F = 5 */
    cr_assert(strstr(dsbi_last_error(), "1 + set_size * set_features = 5"), "%s", dsbi_last_error());

    /* a packed dataset row with a bad member count is named */
    dsbi_model *m = dsbi_model_create_set(&mc, 2, N, F);
    cr_assert_not_null(m, "%s", dsbi_last_error());
    float tt[3 * 2] = {0, 1, 2, 3, 4, 5};
    float xx[3 * 5] = {2, 1, 1, 0, 0, 4, 1, 2, 3, 4, 2.5f, 1, 1, 0, 0};
    ds = dsbi_dataset_from_arrays(tt, xx, 3, 2, 5, NULL);
    dsbi_train_config tc = dsbi_train_config_default();
    tc.epochs = 1;
    tc.val_fraction = 0.0f;
    cr_assert_eq(dsbi_model_fit(m, ds, &tc), DSBI_STATUS_ERR_INVALID);
    cr_assert(strstr(dsbi_last_error(), "(member count) is 2.5"), "%s", dsbi_last_error());
    dsbi_dataset_free(ds);
    /* observations: bad count, non-finite member, flat sampling API on a set model */
    float th_out[10 * 2];
    float obs[5] = {0, 1, 2, 3, 4};
    cr_assert_eq(dsbi_model_sample(m, obs, 10, NULL, th_out, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert(strstr(dsbi_last_error(), "member count"), "%s", dsbi_last_error());
    float mem[3] = {1, NAN, 2};
    cr_assert_eq(dsbi_model_sample_set(m, mem, 3, 10, NULL, th_out, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert(strstr(dsbi_last_error(), "member 2, feature 1 is not finite"), "%s", dsbi_last_error());
    cr_assert_eq(dsbi_model_sample_set(m, mem, 0, 10, NULL, th_out, NULL), DSBI_STATUS_ERR_INVALID);
    dsbi_tall_config tall = dsbi_tall_config_default();
    double pa[2] = {0, 0}, pb[2] = {1, 1};
    tall.prior_a = pa;
    tall.prior_b = pb;
    float two[2 * 5] = {1, 1, 0, 0, 0, 1, 2, 0, 0, 0};
    cr_assert_eq(dsbi_model_sample_tall(m, two, 2, 10, &tall, th_out, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert(strstr(dsbi_last_error(), "summary network"), "%s", dsbi_last_error());
    dsbi_model_free(m);
    /* a flat model has no summary */
    dsbi_model *flat = dsbi_model_create(NULL, 2, 3);
    float s[4];
    cr_assert_eq(dsbi_model_summary(flat, mem, 1, s), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_model_sample_set(flat, mem, 1, 10, NULL, th_out, NULL), DSBI_STATUS_ERR_INVALID);
    dsbi_model_free(flat);
}

/* A set model file whose config no longer matches its weights (summary
 * width edited in the header) is refused with the tensor named; a flat
 * model's file has no summary fields at all, so files of flat models are
 * those of earlier versions and load as before. */
Test(summary_train, file_checks_summary_sizes) {
    char dir[] = "/tmp/dsbi_sumfile_XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.dsbi", dir);
    dsbi_model_config mc = small_config(DSBI_SUMMARY_DEEPSET);
    dsbi_model *m = dsbi_model_create_set(&mc, 2, 6, 1);
    cr_assert_eq(dsbi_model_save(m, path), DSBI_STATUS_OK);
    dsbi_model_free(m);
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 20);
    size_t len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    const char *key = "\\\"summary_width\\\":8"; /* escaped inside the metadata string */
    char *hit = memmem(buf, len, key, strlen(key));
    cr_assert_not_null(hit, "summary_width not found in the header");
    hit[strlen(key) - 1] = '7'; /* fewer weights than the file holds */
    f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    cr_assert_null(dsbi_model_load(path));
    cr_assert(strstr(dsbi_last_error(), "tensor 'params' has"), "%s", dsbi_last_error());

    dsbi_model *flat = dsbi_model_create(NULL, 2, 3);
    cr_assert_eq(dsbi_model_save(flat, path), DSBI_STATUS_OK);
    dsbi_model_free(flat);
    f = fopen(path, "rb");
    len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    cr_assert_null(memmem(buf, len, "summary", 7), "flat model files carry no summary fields");
    flat = dsbi_model_load(path);
    cr_assert_not_null(flat, "%s", dsbi_last_error());
    cr_assert_eq(dsbi_model_get_config(flat).summary, DSBI_SUMMARY_NONE);
    dsbi_model_free(flat);
    free(buf);
    unlink(path);
    rmdir(dir);
}

/* Replaces the first `from` in the file by `to` (same length): header edits. */
static void patch_file(const char *path, const char *from, const char *to) {
    cr_assert_eq(strlen(from), strlen(to));
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    char *buf = malloc(1 << 20);
    size_t len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    char *hit = memmem(buf, len, from, strlen(from));
    cr_assert_not_null(hit, "'%s' not found in %s", from, path);
    memcpy(hit, to, strlen(to));
    f = fopen(path, "wb");
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    free(buf);
}

/* "summary_rnn" is written for time-series models; a file without it (of a
 * version before the LSTM) loads as GRU with the same draws; an LSTM file
 * read as GRU is refused by the weight count; an unknown value is refused. */
Test(summary_train, file_summary_rnn_field) {
    char dir[] = "/tmp/dsbi_sumrnn_XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.dsbi", dir);
    const char *key = "\\\"summary_rnn\\\":\\\"";   /* escaped inside the metadata string */
    const char *old_key = "\\\"summary_xxx\\\":\\\""; /* an unknown field: ignored */
    char lstm[64], lsxm[64];
    snprintf(lstm, sizeof lstm, "%slstm", key);
    snprintf(lsxm, sizeof lsxm, "%slsxm", key);
    float obs[6 * 2], a[50 * 2], b[50 * 2];
    fill_normal(obs, 12, 3, 1.0f);
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.steps = 10;
    dsbi_model_config mc = small_config(DSBI_SUMMARY_TIMESERIES);
    dsbi_model *m = dsbi_model_create_set(&mc, 2, 8, 2);
    cr_assert_not_null(m, "%s", dsbi_last_error());
    cr_assert_eq(dsbi_model_sample_set(m, obs, 6, 50, &sc, a, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(dsbi_model_save(m, path), DSBI_STATUS_OK);
    dsbi_model_free(m);
    patch_file(path, key, old_key);
    dsbi_model *ld = dsbi_model_load(path);
    cr_assert_not_null(ld, "%s", dsbi_last_error());
    cr_assert_eq(dsbi_model_get_config(ld).summary_rnn, DSBI_SUMMARY_RNN_GRU);
    cr_assert_eq(dsbi_model_sample_set(ld, obs, 6, 50, &sc, b, NULL), DSBI_STATUS_OK);
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "a file without summary_rnn must load as the GRU it was");
    dsbi_model_free(ld);

    mc.summary_rnn = DSBI_SUMMARY_RNN_LSTM;
    m = dsbi_model_create_set(&mc, 2, 8, 2);
    cr_assert_not_null(m, "%s", dsbi_last_error());
    cr_assert_eq(dsbi_model_save(m, path), DSBI_STATUS_OK);
    dsbi_model_free(m);
    patch_file(path, lstm, lsxm);
    cr_assert_null(dsbi_model_load(path));
    cr_assert(strstr(dsbi_last_error(), "'summary_rnn'"), "%s", dsbi_last_error());
    patch_file(path, lsxm, lstm);
    patch_file(path, key, old_key);
    cr_assert_null(dsbi_model_load(path), "LSTM weights read as a GRU must not load");
    cr_assert(strstr(dsbi_last_error(), "tensor 'params' has"), "%s", dsbi_last_error());
    /* an out-of-range config value is refused at creation */
    mc.summary_rnn = (dsbi_summary_rnn)7;
    cr_assert_null(dsbi_model_create_set(&mc, 2, 8, 2));
    cr_assert(strstr(dsbi_last_error(), "summary_rnn"), "%s", dsbi_last_error());
    unlink(path);
    rmdir(dir);
}

/* ---------------------------------------------------------------- command line */

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>

/* Runs the CLI ($DSBI_CLI, default build/diffsbi) in dir with stderr to
 * dir/err; returns the exit code. */

/* train --summary on a long-form CSV, sample with a set file; bad files are
 * refused with the line and column named. */
Test(summary_train, cli_long_csv_train_and_sample, .timeout = 60) {
    char dir[] = "/tmp/dsbi_sumcli_XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/sets.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "set,a,b,y1,y2\n");
    dsbi_rng r;
    dsbi_rng_init(&r, 1, 1);
    for (int i = 0; i < 300; i++) {
        double a = dsbi_rng_normal(&r), b = dsbi_rng_normal(&r);
        int n = 2 + i % 7;
        for (int j = 0; j < n; j++)
            fprintf(f, "%d,%.5f,%.5f,%.5f,%.5f\n", i, a, b, a + dsbi_rng_normal(&r), b + dsbi_rng_normal(&r));
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/obs.csv", dir);
    f = fopen(path, "w");
    fprintf(f, "y1,y2\n0.5,1\n0.7,1.2\n0.2,0.8\n");
    fclose(f);
    cr_assert_eq(cli_run_in(dir, "train --summary deepset --data sets.csv --id set --theta a,b "
                              "--epochs 3 --width 16 --depth 1 --summary-width 8 --threads 1 "
                              "--quiet --out m.dsbi"), 0);
    cr_assert(file_contains(dir, "err", "300 sets of 1..8 members x 2 features"));
    cr_assert_eq(cli_run_in(dir, "sample --model m.dsbi --obs obs.csv -n 50 --out post.csv --threads 1"), 0);
    cr_assert_eq(cli_run_in(dir, "info m.dsbi"), 0);
    /* a member file with the wrong number of columns */
    cr_assert_eq(cli_run_in(dir, "sample --model m.dsbi --obs sets.csv -n 5"), 1);
    cr_assert(file_contains(dir, "err", "sets of members with 2 values each"));
    /* theta that changes within a set: the line is named */
    snprintf(path, sizeof path, "%s/bad.csv", dir);
    f = fopen(path, "w");
    fprintf(f, "set,a,y\n1,0.5,1\n1,0.5,2\n2,1,1\n1,0.6,3\n");
    fclose(f);
    cr_assert_eq(cli_run_in(dir, "train --summary deepset --data bad.csv --id set --theta a --out x.dsbi"), 1);
    cr_assert(file_contains(dir, "err", "bad.csv: line 5: theta column 'a' is 0.6 but 0.5 earlier in set id 1"));
    /* a long-form file needs --id; set options need --summary */
    cr_assert_eq(cli_run_in(dir, "train --summary deepset --data sets.csv --theta a,b --out x.dsbi"), 2);
    cr_assert(file_contains(dir, "err", "needs --id COL"));
    cr_assert_eq(cli_run_in(dir, "train --data sets.csv --id set --theta a,b --out x.dsbi"), 2);
    cr_assert(file_contains(dir, "err", "give --summary KIND"));
    cr_assert_eq(cli_run_in(dir, "train --summary nonsense --data sets.csv --out x.dsbi"), 2);
    cr_assert(file_contains(dir, "err", "unknown network 'nonsense'"));
    cr_assert_eq(cli_run_in(dir, "train --help"), 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* train --summary timeseries --summary-rnn lstm: the model file records the
 * LSTM; an unknown name is a usage error. */
Test(summary_train, cli_summary_rnn, .timeout = 60) {
    char dir[] = "/tmp/dsbi_sumrnncli_XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/seq.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "id,a,y\n");
    dsbi_rng r;
    dsbi_rng_init(&r, 2, 1);
    for (int i = 0; i < 200; i++) {
        double a = dsbi_rng_normal(&r), y = 0;
        for (int t = 0; t < 3 + i % 6; t++) {
            y = 0.5 * y + a + dsbi_rng_normal(&r);
            fprintf(f, "%d,%.5f,%.5f\n", i, a, y);
        }
    }
    fclose(f);
    cr_assert_eq(cli_run_in(dir, "train --summary timeseries --summary-rnn lstm --data seq.csv --id id "
                              "--theta a --epochs 2 --width 16 --depth 1 --summary-width 4 "
                              "--summary-depth 1 --threads 1 --quiet --out m.dsbi"), 0);
    snprintf(path, sizeof path, "%s/m.dsbi", dir);
    dsbi_model *m = dsbi_model_load(path);
    cr_assert_not_null(m, "%s", dsbi_last_error());
    cr_assert_eq(dsbi_model_get_config(m).summary, DSBI_SUMMARY_TIMESERIES);
    cr_assert_eq(dsbi_model_get_config(m).summary_rnn, DSBI_SUMMARY_RNN_LSTM);
    dsbi_model_free(m);
    cr_assert_eq(cli_run_in(dir, "train --summary timeseries --summary-rnn rnn --data seq.csv --id id "
                              "--theta a --out x.dsbi"), 2);
    cr_assert(file_contains(dir, "err", "--summary-rnn: 'rnn' is not gru or lstm"));
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* 3-D NPY set data: NaN padding gives the counts; a member after the
 * padding is refused with the set and member named. */
static void write_npy3(const char *path, const float *v, size_t n, size_t N, size_t F) {
    char hdr[128];
    int hl = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu, %zu), }",
                      n, N, F);
    size_t pad = (64 - (10 + (size_t)hl + 1) % 64) % 64;
    FILE *f = fopen(path, "wb");
    unsigned short len = (unsigned short)(hl + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(len & 0xff, f);
    fputc(len >> 8, f);
    fwrite(hdr, 1, (size_t)hl, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(v, sizeof(float), n * N * F, f);
    fclose(f);
}

Test(summary_train, npy_sets_with_nan_padding) {
    char dir[] = "/tmp/dsbi_sumnpy_XXXXXX", path[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/x.npy", dir);
    /* 3 sets of up to 3 members x 2 features: 3, 1 and 2 members */
    float v[3 * 3 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, NAN, NAN, NAN, NAN, 9, 10, 11, 12, NAN, NAN};
    write_npy3(path, v, 3, 3, 2);
    dsbi_sets s;
    cr_assert_eq(dsbi_sets_read_npy(path, &s), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert(s.n == 3 && s.N == 3 && s.F == 2);
    cr_assert(s.counts[0] == 3 && s.counts[1] == 1 && s.counts[2] == 2);
    cr_assert(s.x[2 * 3 * 2 + 3] == 12.0f && s.x[1 * 3 * 2 + 2] == 0.0f, "padding is zeroed");
    dsbi_sets_free(&s);
    v[1 * 6 + 4] = 1.0f; /* set 2: a member after the padding */
    v[1 * 6 + 5] = 1.0f;
    write_npy3(path, v, 3, 3, 2);
    cr_assert_neq(dsbi_sets_read_npy(path, &s), DSBI_STATUS_OK);
    cr_assert(strstr(dsbi_last_error(), "set 2, member 3: a member after the NaN padding"), "%s",
              dsbi_last_error());
    v[1 * 6 + 5] = NAN; /* a half-missing member */
    write_npy3(path, v, 3, 3, 2);
    cr_assert_neq(dsbi_sets_read_npy(path, &s), DSBI_STATUS_OK);
    cr_assert(strstr(dsbi_last_error(), "set 2, member 3: a member with some non-finite values"), "%s",
              dsbi_last_error());
    float flat[4] = {1, 2, 3, 4};
    FILE *f = fopen(path, "wb");
    fclose(f);
    cr_assert_neq(dsbi_sets_read_npy(path, &s), DSBI_STATUS_OK); /* empty file */
    write_npy3(path, flat, 1, 2, 2);
    cr_assert_eq(dsbi_sets_read_npy(path, &s), DSBI_STATUS_OK, "%s", dsbi_last_error());
    dsbi_sets_free(&s);
    unlink(path);
    rmdir(dir);
}

/* A truncated NPY 2.0 preamble (shorter than its 12-byte fixed part) was read
 * past its end; now refused with the reader's message, also from memory. */
Test(summary_train, npy_sets_truncated_preamble_refused) {
    const unsigned char v2[11] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 4, 0, 0};
    dsbi_sets s;
    for (size_t len = 0; len <= sizeof v2; len++) {
        cr_assert_eq(dsbi_sets_parse_npy("short.npy", v2, len, &s), DSBI_STATUS_ERR_FORMAT, "length %zu", len);
        cr_assert(strstr(dsbi_last_error(), "short.npy: not an NPY file"), "%s", dsbi_last_error());
    }
}
