/*
 * Calibration diagnostics on exact and deliberately wrong posteriors, no
 * training: gaussian_linear (prior N(0, 0.1 I), x ~ N(theta, 0.1 I), posterior
 * N(x/2, 0.05 I), 10 parameters) with an exact sampler, one with sd x 0.5
 * (over-confident), sd x 2 (under-confident) and mean + 1 sd (biased). Checks
 * SBC ranks, the simultaneous band, coverage within Monte-Carlo error, TARP,
 * verdicts, z-scores and contraction, then draws every diagnostic figure and
 * reads the PNGs back for their pixel size.
 */
#include "helpers.h"
#include <cairo.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_TEST 500
#define L_DRAWS 100
#define D 10

typedef struct test_set {
    float *truth; /* N_TEST x D */
    float *draws; /* N_TEST x L_DRAWS x D */
} test_set;

/* Simulates gaussian_linear test pairs and draws from N(x/2 + shift sd, (scale sd)^2). */
static test_set make_set(double scale, double shift, uint64_t seed) {
    dsbi_simulator sim;
    cr_assert_eq(dsbi_task_get("gaussian_linear", &sim), 0);
    cr_assert_eq(sim.dim_theta, D);
    dsbi_dataset *ds = NULL;
    cr_assert_eq(dsbi_dataset_simulate(&sim, N_TEST, seed, &ds, NULL), 0);
    test_set s;
    s.truth = malloc(N_TEST * D * sizeof *s.truth);
    s.draws = malloc((size_t)N_TEST * L_DRAWS * D * sizeof *s.draws);
    cr_assert(s.truth && s.draws);
    memcpy(s.truth, dsbi_dataset_theta(ds), N_TEST * D * sizeof *s.truth);
    const float *x = dsbi_dataset_x(ds);
    const double sd = sqrt(0.05);
    dsbi_rng rng;
    dsbi_rng_init(&rng, seed, 99);
    for (size_t i = 0; i < N_TEST; i++)
        for (size_t l = 0; l < L_DRAWS; l++)
            for (size_t j = 0; j < D; j++)
                s.draws[(i * L_DRAWS + l) * D + j] =
                    (float)(x[i * D + j] / 2 + shift * sd + scale * sd * dsbi_rng_normal(&rng));
    dsbi_dataset_free(ds);
    return s;
}

static void free_set(test_set *s) {
    free(s->truth);
    free(s->draws);
}

static dsbi_calibration calibrate(const test_set *s) {
    dsbi_calibration c;
    int st = dsbi_calibrate(s->truth, s->draws, N_TEST, L_DRAWS, D, NULL, &c);
    cr_assert_eq(st, 0, "calibrate: %s", dsbi_last_error());
    return c;
}

/* ---------------------------------------------------------------- exact posterior */

Test(calibration, exact_posterior_is_calibrated) {
    test_set s = make_set(1.0, 0.0, 11);
    dsbi_calibration c = calibrate(&s);

    /* SBC: Pearson chi-square of the pooled ranks (5000 ranks, 0..100) in 10
     * bins of equal probability under uniformity (rank bins of 101/10 are not
     * integral, so bins are the integer-threshold intervals with their exact
     * probabilities). 99.9% point of chi2(9) = 27.9. */
    size_t edges[11], cnt[10] = {0};
    for (int b = 0; b <= 10; b++) edges[b] = (size_t)llround(b * (L_DRAWS + 1) / 10.0);
    for (size_t i = 0; i < N_TEST * D; i++)
        for (int b = 0; b < 10; b++)
            if (c.ranks[i] >= edges[b] && c.ranks[i] < edges[b + 1]) cnt[b]++;
    double chi2 = 0;
    for (int b = 0; b < 10; b++) {
        double e = (double)N_TEST * D * (double)(edges[b + 1] - edges[b]) / (L_DRAWS + 1);
        chi2 += (cnt[b] - e) * (cnt[b] - e) / e;
    }
    cr_assert_lt(chi2, 27.9, "pooled ranks not uniform: chi2 = %g", chi2);

    /* The simultaneous band has 5% false alarms per parameter: at most 2 of 10
     * outside (P(>= 3) = 1.2%); this seed gives the counts below. */
    size_t outside = 0, calibrated = 0;
    for (size_t j = 0; j < D; j++) {
        outside += (size_t)c.param[j].sbc_outside;
        calibrated += c.param[j].verdict == DSBI_VERDICT_CALIBRATED;
        cr_assert_eq(c.param[j].sbc_outside, c.param[j].log_gamma < 0,
                     "band and log-gamma disagree for parameter %zu", j);
    }
    cr_assert_leq(outside, 2);
    /* A parameter's verdict raises a false alarm with probability about 1 %
     * (the family-wise band at 5 % / 10 parameters, plus the two 3-MC-sd
     * thresholds on rank shift and coverage at 0.27 % each). So requiring all
     * 10 to be called calibrated would fail ~10 % of seeds; at most one false
     * alarm fails P(>= 2 of 10) = 45 x 1e-4 = 0.5 % of them. */
    cr_assert_geq(calibrated, D - 1, "only %zu of 10 parameters called calibrated", calibrated);

    /* Coverage pooled over the 10 independent parameters: sd at level a is
     * sqrt(a (1 - a) / (n D)) (binomial; the PIT averaging only lowers it).
     * 4 sd at each of 99 levels: union bound 99 x 6.3e-5 < 1% false alarm. */
    for (size_t k = 0; k < c.n_levels; k++) {
        double a = c.levels[k], pooled = 0;
        for (size_t j = 0; j < D; j++) pooled += c.coverage[k * D + j] / D;
        double sd = sqrt(a * (1 - a) / (N_TEST * D));
        cr_assert_lt(fabs(pooled - a), 4 * sd, "coverage %g at level %g (sd %g)", pooled, a, sd);
    }
    for (size_t j = 0; j < D; j++) {
        /* per parameter the coverage curve is the ECDF of 500 PIT values, so
         * its median deviation is below the sup, whose 0.1 % point is
         * 1.95/sqrt(500) = 0.087 (Kolmogorov); union over 10: 1 % false alarm */
        cr_assert_lt(c.param[j].coverage_error, 1.95 / sqrt((double)N_TEST), "parameter %zu: %g", j,
                     c.param[j].coverage_error);
        cr_assert_lt(fabs(c.param[j].coverage_bias), 4 * c.param[j].mc_se);
    }

    /* TARP: expected area about 0.31/sqrt(500) = 0.014 */
    cr_assert_lt(c.tarp_area, 3 * c.tarp_mc, "TARP area %g", c.tarp_area);
    cr_assert_float_eq(c.tarp_alpha[0], 0.0, 1e-12);
    cr_assert_float_eq(c.tarp_ecp[c.n_tarp - 1], 1.0, 1e-12);

    /* moments: contraction 1 - 0.05/0.1 = 0.5, z ~ N(0, 1), NRMSE = corr = sqrt(0.5).
     * Each is estimated from 500 test points, with the prior variance taken
     * from the same 500 truths; tolerances are 4 sampling sds (union over 10
     * parameters and 5 statistics: < 0.5 % false alarm):
     *   contraction: sd = 0.5 * sqrt(2/500) (prior variance) = 0.032
     *   z sd: 1/sqrt(2 * 500) = 0.032, plus ~1 % from sds of 100 draws
     *   NRMSE: sqrt(0.5) * sqrt(1/1000 + 1/1000) = 0.032 (RMSE and prior sd)
     *   correlation: (1 - 0.5)/sqrt(500) = 0.022 */
    const double n = N_TEST;
    for (size_t j = 0; j < D; j++) {
        const dsbi_param_calibration *p = &c.param[j];
        cr_assert_float_eq(p->contraction, 0.5, 4 * 0.5 * sqrt(2 / n), "contraction %g", p->contraction);
        cr_assert_lt(fabs(p->z_mean), 4.0 / sqrt(n), "z mean %g", p->z_mean);
        cr_assert_float_eq(p->z_sd, 1.0, 4 / sqrt(2 * n) + 0.01, "z sd %g", p->z_sd);
        cr_assert_float_eq(p->nrmse, sqrt(0.5), 4 * sqrt(0.5) * sqrt(2 / (2 * n)), "nrmse %g", p->nrmse);
        cr_assert_float_eq(p->correlation, sqrt(0.5), 4 * 0.5 / sqrt(n), "corr %g", p->correlation);
    }
    dsbi_calibration_free(&c);
    dsbi_calibration_free(&c); /* idempotent on a zeroed struct */
    free_set(&s);
}

/* ---------------------------------------------------------------- wrong posteriors */

Test(calibration, overconfident_is_flagged) {
    test_set s = make_set(0.5, 0.0, 12);
    dsbi_calibration c = calibrate(&s);
    for (size_t j = 0; j < D; j++) {
        const dsbi_param_calibration *p = &c.param[j];
        cr_assert_eq(p->verdict, DSBI_VERDICT_OVERCONFIDENT, "param %zu: %s", j,
                     dsbi_verdict_name(p->verdict));
        cr_assert(p->sbc_outside);
        cr_assert_lt(p->log_gamma, 0);
        cr_assert_lt(p->coverage_bias, -0.1);
        /* U-shape: too many extreme ranks, the ECDF rises early */
        cr_assert_gt(c.ecdf[0 * D + j], c.band_hi[0]);
        cr_assert_float_eq(p->z_sd, 2.0, 0.2);
    }
    /* 68% interval of a half-width posterior covers P(|Z| < 0.47) = 0.36 */
    size_t k68 = 67; /* level 0.68 */
    cr_assert_float_eq(c.levels[k68], 0.68, 1e-9);
    cr_assert_lt(c.coverage[k68 * D], 0.45);
    cr_assert_lt(c.tarp_signed, -0.05, "TARP signed area %g", c.tarp_signed);
    cr_assert_gt(c.tarp_area, 5 * c.tarp_mc);
    dsbi_calibration_free(&c);
    free_set(&s);
}

Test(calibration, underconfident_is_flagged) {
    test_set s = make_set(2.0, 0.0, 13);
    dsbi_calibration c = calibrate(&s);
    for (size_t j = 0; j < D; j++) {
        const dsbi_param_calibration *p = &c.param[j];
        cr_assert_eq(p->verdict, DSBI_VERDICT_UNDERCONFIDENT, "param %zu: %s", j,
                     dsbi_verdict_name(p->verdict));
        cr_assert(p->sbc_outside);
        cr_assert_gt(p->coverage_bias, 0.1);
        /* hump: few extreme ranks, the ECDF lags at first */
        cr_assert_lt(c.ecdf[2 * D + j], c.band_lo[2]);
        cr_assert_float_eq(p->z_sd, 0.5, 0.06);
        cr_assert_lt(p->contraction, 0.0); /* wider than the prior */
    }
    cr_assert_gt(c.tarp_signed, 0.05, "TARP signed area %g", c.tarp_signed);
    cr_assert_gt(c.tarp_area, 5 * c.tarp_mc);
    dsbi_calibration_free(&c);
    free_set(&s);
}

Test(calibration, biased_is_flagged) {
    test_set s = make_set(1.0, 1.0, 14);
    dsbi_calibration c = calibrate(&s);
    for (size_t j = 0; j < D; j++) {
        const dsbi_param_calibration *p = &c.param[j];
        cr_assert_eq(p->verdict, DSBI_VERDICT_BIASED, "param %zu: %s", j,
                     dsbi_verdict_name(p->verdict));
        cr_assert_eq(p->direction, 1);
        cr_assert_float_eq(p->z_mean, 1.0, 0.15);
        cr_assert_lt(p->rank_shift, -0.2); /* Phi(-1/sqrt 2) - 1/2 = -0.26 */
    }
    cr_assert_gt(c.tarp_area, 3 * c.tarp_mc);
    dsbi_calibration_free(&c);
    free_set(&s);
}

/* ---------------------------------------------------------------- pieces */

Test(calibration, ranks_and_ties) {
    float truth[2] = {0.5f, 2.0f};
    float draws[4 * 2] = {0.1f, 2.0f, 0.5f, 2.0f, 0.9f, 1.0f, 0.5f, 3.0f};
    uint32_t r[2];
    cr_assert_eq(dsbi_sbc_ranks(truth, draws, 1, 4, 2, r), 0);
    cr_assert_eq(r[0], 2); /* one below, two ties -> +1 */
    cr_assert_eq(r[1], 2); /* one below, two ties -> +1 */
    draws[0] = NAN;
    cr_assert_eq(dsbi_sbc_ranks(truth, draws, 1, 4, 2, r), DSBI_STATUS_ERR_NUMERIC);
    cr_assert_eq(dsbi_sbc_ranks(truth, draws, 0, 4, 2, r), DSBI_STATUS_ERR_INVALID);
}

/* The band holds about 1 - alpha of uniform rank sets (simultaneously), is
 * reproducible and wider than a pointwise 95% interval. */
Test(calibration, band_coverage) {
    const size_t n = 100, L = 49, P = 50;
    double p[49], lo[49], hi[49], g, p2[49], lo2[49], hi2[49], g2;
    cr_assert_eq(dsbi_sbc_band(n, L, P, 0.05, 2000, 3, p, lo, hi, &g), 0);
    cr_assert_eq(dsbi_sbc_band(n, L, P, 0.05, 2000, 3, p2, lo2, hi2, &g2), 0);
    cr_assert_eq(memcmp(lo, lo2, sizeof lo), 0);
    cr_assert_eq(g, g2);
    cr_assert_lt(g, 0.05); /* simultaneous: each point at a smaller level */
    cr_assert_float_eq(p[24], 25.0 / 50.0, 1e-12);
    cr_assert_lt(lo[24], 0.5 - 1.96 * 0.05);
    cr_assert_gt(hi[24], 0.5 + 1.96 * 0.05);
    dsbi_rng rng;
    dsbi_rng_init(&rng, 1234, 0);
    size_t outside = 0, trials = 1000;
    for (size_t t = 0; t < trials; t++) {
        size_t hist[50] = {0};
        for (size_t i = 0; i < n; i++) hist[(size_t)(dsbi_rng_uniform(&rng) * 50)]++;
        size_t cum = 0;
        int out = 0;
        for (size_t k = 0; k < 49; k++) {
            cum += hist[k]; /* ranks < k + 1 = p[k] (L + 1) */
            double e = (double)cum / (double)n;
            out |= e < lo[k] || e > hi[k];
        }
        outside += (size_t)out;
    }
    /* 5% nominal; discrete counts make the band slightly conservative.
     * binomial sd of the rate over 1000 trials: 0.007 */
    cr_assert(outside >= 20 && outside <= 75, "%zu of %zu outside", outside, trials);
}

Test(calibration, tarp_exact_small) {
    test_set s = make_set(1.0, 0.0, 15);
    double alpha[11], ecp[11], area;
    cr_assert_eq(dsbi_tarp(s.truth, s.draws, N_TEST, L_DRAWS, D, 5, 11, alpha, ecp, &area), 0);
    for (int k = 0; k < 11; k++) cr_assert_lt(fabs(ecp[k] - alpha[k]), 0.08);
    cr_assert_lt(area, 0.04);
    free_set(&s);
}

/* ---------------------------------------------------------------- figures */

static void expect_png(const char *path, int w, int h) {
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s missing", path);
    cr_assert_gt(st.st_size, 2000, "%s is suspiciously small", path);
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    cr_assert_eq(cairo_surface_status(s), CAIRO_STATUS_SUCCESS, "%s unreadable", path);
    if (w) cr_assert_eq(cairo_image_surface_get_width(s), w, "%s width", path);
    if (h) cr_assert_eq(cairo_image_surface_get_height(s), h, "%s height", path);
    /* not blank: some pixels far from white */
    cairo_surface_flush(s);
    const unsigned char *px = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s), dark = 0;
    for (int y = 0; y < cairo_image_surface_get_height(s); y += 3)
        for (int x = 0; x < cairo_image_surface_get_width(s); x += 3)
            dark += px[y * stride + 4 * x] < 128;
    cr_assert_gt(dark, 100, "%s looks blank", path);
    cairo_surface_destroy(s);
}

Test(calibration, figures) {
    char dir[] = "/tmp/dsbi_figs_XXXXXX", path[256];
    cr_assert_not_null(mkdtemp(dir));
    test_set s = make_set(1.0, 0.0, 16);
    /* 4 parameters keep the figures small: copy the first 4 columns */
    const size_t d = 4;
    float *truth = malloc(N_TEST * d * sizeof *truth);
    float *draws = malloc((size_t)N_TEST * L_DRAWS * d * sizeof *draws);
    for (size_t i = 0; i < N_TEST; i++)
        for (size_t j = 0; j < d; j++) truth[i * d + j] = s.truth[i * D + j];
    for (size_t r = 0; r < (size_t)N_TEST * L_DRAWS; r++)
        for (size_t j = 0; j < d; j++) draws[r * d + j] = s.draws[r * D + j];
    dsbi_calibration c;
    cr_assert_eq(dsbi_calibrate(truth, draws, N_TEST, L_DRAWS, d, NULL, &c), 0);
    const char *names[4] = {"alpha", "beta", "gamma", "delta"};

    snprintf(path, sizeof path, "%s/pairs.png", dir);
    cr_assert_eq(dsbi_plot_pairs(path, draws, L_DRAWS, d, names, draws + L_DRAWS * d, L_DRAWS, truth),
                 0, "%s", dsbi_last_error());
    expect_png(path, 4 * 220 + 90, 4 * 220 + 100);
    snprintf(path, sizeof path, "%s/sbc.png", dir);
    cr_assert_eq(dsbi_plot_sbc_ecdf(path, &c, names), 0, "%s", dsbi_last_error());
    expect_png(path, 4 * 300, 270 + 60);
    snprintf(path, sizeof path, "%s/coverage.png", dir);
    cr_assert_eq(dsbi_plot_coverage(path, &c, names), 0, "%s", dsbi_last_error());
    expect_png(path, 4 * 300, 270 + 60);
    snprintf(path, sizeof path, "%s/tarp.png", dir);
    cr_assert_eq(dsbi_plot_tarp(path, &c), 0, "%s", dsbi_last_error());
    expect_png(path, 560, 520);
    snprintf(path, sizeof path, "%s/recovery.png", dir);
    cr_assert_eq(dsbi_plot_recovery(path, &c, NULL), 0, "%s", dsbi_last_error());
    expect_png(path, 4 * 300, 270 + 60);
    snprintf(path, sizeof path, "%s/zscore.png", dir);
    cr_assert_eq(dsbi_plot_z_contraction(path, &c, names), 0, "%s", dsbi_last_error());
    expect_png(path, 4 * 300, 270 + 60);
    /* one parameter: the pair plot is a single histogram */
    snprintf(path, sizeof path, "%s/pairs1.png", dir);
    cr_assert_eq(dsbi_plot_pairs(path, draws, L_DRAWS, 1, NULL, NULL, 0, NULL), 0);
    expect_png(path, 0, 0);
    /* SVG */
    snprintf(path, sizeof path, "%s/sbc.svg", dir);
    cr_assert_eq(dsbi_plot_sbc_ecdf(path, &c, names), 0);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_gt(st.st_size, 2000);
    /* bad extension: an error, no file */
    snprintf(path, sizeof path, "%s/tarp.jpg", dir);
    cr_assert_eq(dsbi_plot_tarp(path, &c), DSBI_STATUS_ERR_INVALID);
    cr_assert_neq(access(path, F_OK), 0);

    if (!getenv("DSBI_KEEP_FIGURES")) {
        const char *files[] = {"pairs.png", "sbc.png", "coverage.png", "tarp.png", "recovery.png",
                               "zscore.png", "pairs1.png", "sbc.svg"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            remove(path);
        }
        rmdir(dir);
    }
    dsbi_calibration_free(&c);
    free(truth);
    free(draws);
    free_set(&s);
}
