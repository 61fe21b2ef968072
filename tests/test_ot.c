/* Minibatch OT coupling for flow matching (src/gen/ot.c): the log-stabilised
 * Sinkhorn plan has uniform marginals (also when reg is small enough to need
 * absorption); a shifted copy of a point cloud gets back its known OT
 * permutation; the conditional (C^2OT) weight keeps about the requested
 * fraction of pairs and, for discrete x, moves noise only within a group; a
 * flow model trained with coupling on a 2-D Gaussian toy with a closed-form
 * posterior matches it, and with 4 Euler steps is no worse than the same
 * model trained without; training with coupling is deterministic, and the
 * setting is saved with the model and refused where it does not apply. */
#include "helpers.h"
#include "gen/ot.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double median(const float *a, size_t n) {
    float *c = malloc(n * sizeof *c);
    memcpy(c, a, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_float);
    double m = c[n / 2];
    free(c);
    return m;
}

/* largest |B * row sum - 1| and |B * column sum - 1| of the last plan */
static void plan_errors(const dsbi_ot_ws *w, size_t B, double *row_err, double *col_err) {
    double *P = malloc(B * B * sizeof *P);
    dsbi_ot_plan(w, B, P);
    *row_err = *col_err = 0.0;
    for (size_t i = 0; i < B; i++) {
        double r = 0.0, c = 0.0;
        for (size_t j = 0; j < B; j++) r += P[i * B + j], c += P[j * B + i];
        if (fabs(B * r - 1.0) > *row_err) *row_err = fabs(B * r - 1.0);
        if (fabs(B * c - 1.0) > *col_err) *col_err = fabs(B * c - 1.0);
    }
    free(P);
}

static void assert_permutation(const size_t *perm, size_t B) {
    unsigned char *seen = calloc(B, 1);
    for (size_t i = 0; i < B; i++) {
        cr_assert_lt(perm[i], B);
        cr_assert_eq(seen[perm[i]], 0, "column %zu assigned twice", perm[i]);
        seen[perm[i]] = 1;
    }
    free(seen);
}

/* ---------------------------------------------------------------- Sinkhorn */

Test(ot, sinkhorn_marginals_are_uniform) {
    const size_t B = 100, D = 3;
    float *a = malloc(B * D * sizeof *a), *b = malloc(B * D * sizeof *b), *C = malloc(B * B * sizeof *C);
    fill_normal(a, B * D, 1, 1.0f);
    fill_normal(b, B * D, 2, 1.0f);
    dsbi_ot_sqdist(C, a, b, B, B, D);
    dsbi_ot_ws w;
    cr_assert_eq(dsbi_ot_ws_create(&w, B, D), DSBI_STATUS_OK);
    double med = median(C, B * B), row, col;
    /* reg 0.2 x median (the training default) run to convergence, then a reg
       20 times smaller, where exp(-C / reg) spans ~e^-500 and the scalings
       must be absorbed into the log-domain duals; it converges slowly
       (linearly at a rate that worsens as reg shrinks: measured error 2e-3
       after 1,000 iterations, 1e-4 after 20,000), hence the looser tolerance */
    const double rel[2] = {DSBI_OT_REG_REL, DSBI_OT_REG_REL / 20.0}, tol[2] = {5e-5, 1e-4};
    const size_t iters[2] = {5000, 30000};
    for (int k = 0; k < 2; k++) {
        dsbi_ot_stats st;
        cr_assert_eq(dsbi_ot_sinkhorn(&w, C, B, rel[k] * med, iters[k], tol[k], &st), DSBI_STATUS_OK, "%s",
                     dsbi_last_error());
        plan_errors(&w, B, &row, &col);
        cr_log_info("reg %.4f x median: %zu iterations, %zu absorptions, marginal errors rows %.2e cols %.2e",
                    rel[k], st.iters, st.absorptions, row, col);
        cr_expect(st.converged, "reg %g: no convergence in %zu iterations (error %g)", rel[k], st.iters, st.marg_err);
        /* float plan: rows exact to rounding, columns to the tolerance */
        cr_expect_leq(row, 1e-5, "reg %g: row marginal error %g", rel[k], row);
        cr_expect_leq(col, 2.0 * tol[k], "reg %g: column marginal error %g", rel[k], col);
        if (k == 1) cr_expect_gt(st.absorptions, 0, "the small reg should need absorption");
    }
    /* the training settings (30 iterations at most, tolerance 1e-2) on a
       batch of 256 in 2-D: always a permutation, and far cheaper than the
       drawn pairing */
    dsbi_ot_ws_free(&w);
    const size_t B2 = 256;
    float *th = malloc(B2 * 2 * sizeof *th), *eps = malloc(B2 * 2 * sizeof *eps);
    fill_normal(th, B2 * 2, 3, 1.0f);
    fill_normal(eps, B2 * 2, 4, 1.0f);
    cr_assert_eq(dsbi_ot_ws_create(&w, B2, 2), DSBI_STATUS_OK);
    dsbi_ot_stats st;
    cr_assert_eq(dsbi_ot_couple(&w, th, th, eps, B2, 2, 2, 0.5, &st), DSBI_STATUS_OK, "%s", dsbi_last_error());
    assert_permutation(w.perm, B2);
    cr_log_info("unconditional, B 256, D 2: %zu iterations, marginal error %.3g, cost %.3f -> %.3f",
                st.iters, st.marg_err, st.cost_before, st.cost_after);
    cr_expect_leq(st.iters, DSBI_OT_MAX_ITER);
    cr_expect_lt(st.cost_after, 0.1 * st.cost_before);
    dsbi_ot_ws_free(&w);
    free(th);
    free(eps);
    free(a);
    free(b);
    free(C);
}

/* The OT map between a cloud and its translate by delta is the translation:
 * for any permutation s, sum |a_i - a_s(i) - delta|^2 = sum |a_i - a_s(i)|^2
 * + B |delta|^2. With the copy's rows shuffled by pi, row i must get back
 * column pi^-1(i). */
Test(ot, shifted_copy_gives_the_known_permutation) {
    const size_t B = 128, D = 2;
    const float delta[2] = {0.3f, -0.2f};
    float *a = malloc(B * D * sizeof *a), *b = malloc(B * D * sizeof *b), *C = malloc(B * B * sizeof *C);
    size_t *pi = malloc(B * sizeof *pi);
    fill_normal(a, B * D, 5, 1.0f);
    dsbi_rng r;
    dsbi_rng_init(&r, 6, 1);
    for (size_t i = 0; i < B; i++) pi[i] = i;
    for (size_t i = B; i > 1; i--) {
        size_t j = dsbi_rng_u32(&r) % i, t = pi[i - 1];
        pi[i - 1] = pi[j];
        pi[j] = t;
    }
    for (size_t j = 0; j < B; j++)
        for (size_t d = 0; d < D; d++) b[j * D + d] = a[pi[j] * D + d] + delta[d];
    dsbi_ot_sqdist(C, a, b, B, B, D);
    dsbi_ot_ws w;
    cr_assert_eq(dsbi_ot_ws_create(&w, B, D), DSBI_STATUS_OK);
    /* a sharp plan (reg 0.005 x median): the exact permutation */
    dsbi_ot_stats st;
    cr_assert_eq(dsbi_ot_sinkhorn(&w, C, B, 0.005 * median(C, B * B), 2000, 1e-4, &st), DSBI_STATUS_OK);
    dsbi_ot_round(&w, B);
    assert_permutation(w.perm, B);
    size_t wrong = 0;
    for (size_t j = 0; j < B; j++) wrong += w.perm[pi[j]] != j;
    cr_log_info("sharp plan: %zu iterations, %zu absorptions, %zu of %zu rows off the known permutation",
                st.iters, st.absorptions, wrong, B);
    cr_expect_eq(wrong, 0, "%zu rows off the known OT permutation", wrong);
    /* the training path (dsbi_ot_couple, reg 0.2 x median, 30 iterations at
       most): the transport cost after coupling is near the optimum |delta|^2
       and far below the random pairing's */
    float *eps = malloc(B * D * sizeof *eps);
    memcpy(eps, b, B * D * sizeof *eps);
    cr_assert_eq(dsbi_ot_couple(&w, a, a, eps, B, D, D, 0.5, &st), DSBI_STATUS_OK);
    double opt = (double)delta[0] * delta[0] + (double)delta[1] * delta[1];
    wrong = 0;
    for (size_t j = 0; j < B; j++) wrong += w.perm[pi[j]] != j;
    cr_log_info("training settings: cost %.4f -> %.4f (optimum %.4f), %zu rows off", st.cost_before,
                st.cost_after, opt, wrong);
    cr_expect_lt(st.cost_after, st.cost_before, "coupling did not lower the transport cost");
    cr_expect_lt(st.cost_after, 2.0 * opt, "cost after coupling %.4f, optimum %.4f", st.cost_after, opt);
    cr_expect_gt(st.cost_before, 10.0 * opt);
    /* eps was reordered so that row i holds the matched noise */
    for (size_t i = 0; i < B; i++)
        cr_assert_eq(memcmp(eps + i * D, b + w.perm[i] * D, D * sizeof *eps), 0);
    dsbi_ot_ws_free(&w);
    free(eps);
    free(pi);
    free(a);
    free(b);
    free(C);
}

/* C^2OT weight: about a fraction r of the off-diagonal pairs stay cheaper than
 * their row's own pairing; r = 0.5 is unconditional OT (w = 0); with x in a
 * few discrete groups w is infinite and noise moves only within a group
 * (exact conditional OT within the batch). */
Test(ot, conditional_weight) {
    const size_t B = 256, D = 2, K = 2;
    float *th = malloc(B * D * sizeof *th), *x = malloc(B * K * sizeof *x), *eps = malloc(B * D * sizeof *eps);
    float *M = malloc(B * B * sizeof *M), *X = malloc(B * B * sizeof *X), *scratch = malloc(B * B * sizeof *scratch);
    fill_normal(th, B * D, 7, 1.0f);
    fill_normal(x, B * K, 8, 0.5f);
    for (size_t i = 0; i < B * K; i++) x[i] += th[i];
    fill_normal(eps, B * D, 9, 1.0f);
    dsbi_ot_sqdist(M, th, eps, B, B, D);
    dsbi_ot_sqdist(X, x, x, B, B, K);
    const double ratios[3] = {0.002, 0.01, 0.05};
    for (int k = 0; k < 3; k++) {
        double w = dsbi_ot_condition_weight(M, X, B, ratios[k], scratch);
        size_t cand = 0;
        for (size_t i = 0; i < B; i++)
            for (size_t j = 0; j < B; j++)
                cand += j != i && (double)M[i * B + j] + w * X[i * B + j] <= (double)M[i * B + i];
        double want = ratios[k] * (double)(B * (B - 1));
        cr_log_info("ratio %.3f: weight %.3f, %zu candidate pairs (target %.0f)", ratios[k], w, cand, want);
        cr_expect_gt(w, 0.0);
        cr_expect(fabs((double)cand - want) <= 2.0, "ratio %g: %zu candidates, target %.0f", ratios[k], cand, want);
    }
    /* a ratio above the fraction of pairs cheaper than their own (about one
       half) needs no penalty */
    cr_expect_eq(dsbi_ot_condition_weight(M, X, B, 0.6, scratch), 0.0);
    /* four discrete observations */
    for (size_t i = 0; i < B; i++)
        for (size_t k = 0; k < K; k++) x[i * K + k] = (float)(i % 4);
    dsbi_ot_ws w;
    cr_assert_eq(dsbi_ot_ws_create(&w, B, D), DSBI_STATUS_OK);
    dsbi_ot_stats st;
    cr_assert_eq(dsbi_ot_couple(&w, th, x, eps, B, D, K, 0.01, &st), DSBI_STATUS_OK, "%s", dsbi_last_error());
    assert_permutation(w.perm, B);
    size_t across = 0;
    for (size_t i = 0; i < B; i++) across += w.perm[i] % 4 != i % 4;
    cr_log_info("discrete x: weight %g, %zu rows moved, %zu across groups, cost %.3f -> %.3f", st.weight,
                st.moved, across, st.cost_before, st.cost_after);
    cr_expect(isinf(st.weight), "weight %g, expected infinite", st.weight);
    cr_expect_eq(across, 0, "%zu rows got noise from another group", across);
    cr_expect_gt(st.moved, B / 2);
    cr_expect_lt(st.cost_after, 0.5 * st.cost_before);
    dsbi_ot_ws_free(&w);
    free(th);
    free(x);
    free(eps);
    free(M);
    free(X);
    free(scratch);
}

/* ---------------------------------------------------------------- training */

/* The toy of tests/test_cfg.c: theta ~ N(M0, S0^2) per coordinate, x = theta
 * + N(0, SN^2); posterior N(V (M0/S0^2 + x/SN^2), V), V = 1/(1/S0^2 + 1/SN^2). */
static const double M0[2] = {1.0, -0.5}, S0[2] = {1.0, 0.6}, SN = 0.5;
#define N_OBS 6
/* within 1.8 prior-predictive sds: further out this small net is off by
 * 0.2 sd with or without coupling (measured at x = (3.4, -2.1)) */
static const float OBS[N_OBS][2] = {{1.2f, -0.9f}, {0.0f, 0.3f}, {2.5f, -1.4f},
                                    {-0.8f, -0.2f}, {1.9f, 0.5f}, {-1.0f, 0.8f}};

static void post_moments(const float *x, size_t d, double *mean, double *sd) {
    double v = 1.0 / (1.0 / (S0[d] * S0[d]) + 1.0 / (SN * SN));
    *mean = v * (M0[d] / (S0[d] * S0[d]) + x[d] / (SN * SN));
    *sd = sqrt(v);
}

static dsbi_dataset *toy_data(size_t n) {
    float *th = malloc(n * 2 * sizeof(float)), *x = malloc(n * 2 * sizeof(float));
    dsbi_rng r;
    dsbi_rng_init(&r, 1, 9);
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < 2; d++) {
            th[2 * i + d] = (float)(M0[d] + S0[d] * dsbi_rng_normal(&r));
            x[2 * i + d] = (float)(th[2 * i + d] + SN * dsbi_rng_normal(&r));
        }
    dsbi_dataset *ds = dsbi_dataset_from_arrays(th, x, n, 2, 2, NULL);
    cr_assert_not_null(ds, "%s", dsbi_last_error());
    free(th);
    free(x);
    return ds;
}

static dsbi_model *train_flow(const dsbi_dataset *ds, float ot, size_t epochs) {
    dsbi_model_config mc = dsbi_model_config_default();
    mc.schedule = DSBI_SCHEDULE_FLOW;
    mc.prediction = DSBI_PREDICTION_FLOW;
    mc.width = 64;
    mc.depth = 3;
    mc.seed = 2;
    mc.ot_coupling = ot;
    dsbi_model *m = dsbi_model_create(&mc, 2, 2);
    cr_assert_not_null(m, "%s", dsbi_last_error());
    dsbi_train_config tc = dsbi_train_config_default();
    tc.epochs = epochs;
    tc.batch_size = 256;
    tc.seed = 5;
    tc.patience = 0;
    cr_assert_eq(dsbi_model_fit(m, ds, &tc), DSBI_STATUS_OK, "%s", dsbi_last_error());
    return m;
}

/* Posterior errors over the observations with `steps` Euler steps, in
 * posterior sds: the largest |mean error| and |sd ratio - 1| over
 * observations and dimensions, and the root mean square of the Gaussian W2
 * distance (sqrt(dmean^2 + dsd^2) / sd) as one summary. */
typedef struct errs {
    double mean_max, sd_max, w2;
} errs;

static errs posterior_errors(dsbi_model *m, size_t steps, const char *label) {
    const size_t n = 4000;
    float *a = malloc(n * 2 * sizeof *a);
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.sampler = DSBI_SAMPLER_EULER;
    sc.steps = steps;
    sc.seed = 3;
    errs e = {0, 0, 0};
    for (int o = 0; o < N_OBS; o++) {
        cr_assert_eq(dsbi_model_sample(m, OBS[o], n, &sc, a, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
        for (size_t d = 0; d < 2; d++) {
            double mean, sd, pm, ps;
            col_moments(a, n, 2, d, &mean, &sd);
            post_moments(OBS[o], d, &pm, &ps);
            double em = fabs(mean - pm) / ps, es = fabs(sd / ps - 1.0);
            if (em > e.mean_max) e.mean_max = em;
            if (es > e.sd_max) e.sd_max = es;
            e.w2 += ((mean - pm) * (mean - pm) + (sd - ps) * (sd - ps)) / (ps * ps);
        }
    }
    e.w2 = sqrt(e.w2 / (2.0 * N_OBS));
    cr_log_info("%s, euler %zu: max |mean error| %.3f sd, max |sd ratio - 1| %.3f, rms W2 %.3f sd", label,
                steps, e.mean_max, e.sd_max, e.w2);
    free(a);
    return e;
}

/* Measured (6,000 rows, width 64, depth 3, 60 epochs, 4,000 draws per
 * observation; worst over 6 observations x 2 dimensions): with coupling at
 * 20 Euler steps mean error 0.046 sd, sd error 4.5 % (without: 0.056, 5.5 %);
 * rms W2 at 4 steps 0.087 with coupling, 0.120 without. Monte Carlo error
 * with 4,000 draws: 0.016 sd for a mean and 1.1 % for an sd, 3 sigma 0.05
 * and 3.4 %; the bounds (0.12 sd, 9 %) add as much again for the model error
 * of this small net, about twice the worst measured. The 4-step comparison
 * uses the same sampling seed for both models (common random numbers), so the
 * Monte Carlo noise largely cancels in the difference. */
Test(ot, flow_posterior_with_coupling, .timeout = 120) {
    dsbi_dataset *ds = toy_data(6000);
    dsbi_model *plain = train_flow(ds, 0.0f, 60);
    dsbi_model *ot = train_flow(ds, 0.01f, 60);
    errs p4 = posterior_errors(plain, 4, "independent"), p20 = posterior_errors(plain, 20, "independent");
    errs o4 = posterior_errors(ot, 4, "OT coupling"), o20 = posterior_errors(ot, 20, "OT coupling");
    (void)p20;
    cr_expect_leq(o20.mean_max, 0.12, "coupled model, 20 steps: mean error %.3f sd", o20.mean_max);
    cr_expect_leq(o20.sd_max, 0.09, "coupled model, 20 steps: sd error %.3f", o20.sd_max);
    cr_expect_leq(o4.w2, p4.w2, "4 Euler steps: W2 %.3f with coupling, %.3f without", o4.w2, p4.w2);
    dsbi_model_free(plain);
    dsbi_model_free(ot);
    dsbi_dataset_free(ds);
}

/* Same seed and threads: the same model; the setting survives save/load;
 * refusals for models it does not apply to. */
Test(ot, deterministic_saved_and_refused, .timeout = 60) {
    dsbi_dataset *ds = toy_data(1000);
    dsbi_model *a = train_flow(ds, 0.02f, 3), *b = train_flow(ds, 0.02f, 3);
    dsbi_model *c = train_flow(ds, 0.0f, 3);
    const float x[2] = {1.0f, -0.5f};
    float sa[2 * 50], sb[2 * 50], sc_[2 * 50];
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.steps = 10;
    cr_assert_eq(dsbi_model_sample(a, x, 50, &sc, sa, NULL), DSBI_STATUS_OK);
    cr_assert_eq(dsbi_model_sample(b, x, 50, &sc, sb, NULL), DSBI_STATUS_OK);
    cr_assert_eq(dsbi_model_sample(c, x, 50, &sc, sc_, NULL), DSBI_STATUS_OK);
    cr_expect_eq(memcmp(sa, sb, sizeof sa), 0, "two runs with the same seed differ");
    cr_expect_neq(memcmp(sa, sc_, sizeof sa), 0, "coupling changed nothing");
    char path[64];
    snprintf(path, sizeof path, "/tmp/dsbi_ot_%d.dsbi", (int)getpid());
    cr_assert_eq(dsbi_model_save(a, path), DSBI_STATUS_OK, "%s", dsbi_last_error());
    dsbi_model *l = dsbi_model_load(path);
    cr_assert_not_null(l, "%s", dsbi_last_error());
    cr_expect_eq(dsbi_model_get_config(l).ot_coupling, 0.02f);
    cr_assert_eq(dsbi_model_sample(l, x, 50, &sc, sb, NULL), DSBI_STATUS_OK);
    cr_expect_eq(memcmp(sa, sb, sizeof sa), 0, "loaded model samples differently");
    dsbi_model_free(l);
    cr_assert_eq(dsbi_model_save(c, path), DSBI_STATUS_OK);
    l = dsbi_model_load(path);
    cr_assert_not_null(l);
    cr_expect_eq(dsbi_model_get_config(l).ot_coupling, 0.0f);
    dsbi_model_free(l);
    unlink(path);
    /* refusals: a diffusion model, a ratio outside (0, 0.05] */
    dsbi_model_config mc = dsbi_model_config_default();
    mc.width = 8;
    mc.depth = 1;
    mc.ot_coupling = 0.01f;
    dsbi_model *d = dsbi_model_create(&mc, 2, 2);
    cr_assert_not_null(d);
    dsbi_train_config tc = dsbi_train_config_default();
    tc.epochs = 1;
    cr_expect_eq(dsbi_model_fit(d, ds, &tc), DSBI_STATUS_ERR_INVALID);
    cr_expect(strstr(dsbi_last_error(), "flow") != NULL, "%s", dsbi_last_error());
    dsbi_model_free(d);
    mc.schedule = DSBI_SCHEDULE_FLOW;
    mc.prediction = DSBI_PREDICTION_FLOW;
    mc.ot_coupling = 0.2f;
    d = dsbi_model_create(&mc, 2, 2);
    cr_assert_not_null(d);
    cr_expect_eq(dsbi_model_fit(d, ds, &tc), DSBI_STATUS_ERR_INVALID);
    cr_expect(strstr(dsbi_last_error(), "0.05") != NULL, "%s", dsbi_last_error());
    dsbi_model_free(d);
    dsbi_model_free(a);
    dsbi_model_free(b);
    dsbi_model_free(c);
    dsbi_dataset_free(ds);
}
