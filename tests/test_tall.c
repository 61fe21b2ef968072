/* Tall-data sampling from a trained model (dsbi_model_sample_tall): the
 * network Jacobian used by JAC against finite differences, argument checks,
 * and GAUSS / JAC / F-NPSE on gaussian_linear against the analytic tall
 * posterior (the only training in these tests, ~15 s on one thread). */
#include "helpers.h"
#include "approx/model.h"
#include <string.h>

/* defined in src/approx/tall.c (test hook) */
int dsbi_tall_network_jacobian(dsbi_model *m, const float *x_std, const float *z, double t, size_t B,
                               double *score, double *jac);

Test(tall, network_jacobian_matches_finite_differences) {
    const size_t D = 3, K = 2, B = 4;
    const dsbi_schedule sch[2] = {DSBI_SCHEDULE_EDM, DSBI_SCHEDULE_COSINE};
    const dsbi_prediction pred[2] = {DSBI_PREDICTION_F, DSBI_PREDICTION_NOISE};
    for (int v = 0; v < 2; v++) {
        dsbi_model_config mc = dsbi_model_config_default();
        mc.width = 16;
        mc.depth = 2;
        mc.activation = DSBI_ACT_TANH;
        mc.schedule = sch[v];
        mc.prediction = pred[v];
        dsbi_model *m = dsbi_model_create(&mc, D, K);
        cr_assert_not_null(m);
        /* random weights everywhere (the output layer starts at zero) */
        fill_normal(m->params, dsbi_model_num_params(m), 3 + (uint64_t)v, 0.3f);
        float x[2] = {0.3f, -0.7f}, z[12], zp[12];
        fill_normal(z, B * D, 11, 1.0f);
        for (double t = 0.2; t < 1.0; t += 0.3) {
            double s[12], J[36], sp[12], Jd[36], sm[12];
            cr_assert_eq(dsbi_tall_network_jacobian(m, x, z, t, B, s, J), 0);
            for (size_t l = 0; l < D; l++) {
                /* float32 network: step 1e-2 of a unit-scale input, central differences */
                const float h = 1e-2f;
                memcpy(zp, z, sizeof z);
                for (size_t i = 0; i < B; i++) zp[i * D + l] += h;
                dsbi_tall_network_jacobian(m, x, zp, t, B, sp, Jd);
                memcpy(zp, z, sizeof z);
                for (size_t i = 0; i < B; i++) zp[i * D + l] -= h;
                dsbi_tall_network_jacobian(m, x, zp, t, B, sm, Jd);
                for (size_t i = 0; i < B; i++)
                    for (size_t k = 0; k < D; k++) {
                        double fd = (sp[i * D + k] - sm[i * D + k]) / (2.0 * h), an = J[i * D * D + k * D + l];
                        cr_assert(fabs(fd - an) < 2e-3 * (1 + fabs(an)) + 1e-3 * fabs(s[i * D + k]),
                                  "variant %d t=%g row %zu: ds_%zu/dz_%zu = %g, FD %g", v, t, i, k, l, an, fd);
                    }
            }
        }
        dsbi_model_free(m);
    }
}

Test(tall, invalid_arguments_refused) {
    dsbi_model *m = dsbi_model_create(NULL, 2, 2);
    float x[4] = {0}, th[4];
    double mean[2] = {0, 0}, sd[2] = {1, -1}, lo[2] = {0, 1}, hi[2] = {1, 1};
    dsbi_tall_config c = dsbi_tall_config_default();
    cr_assert_eq(dsbi_model_sample_tall(m, x, 2, 2, &c, th, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert(strstr(dsbi_last_error(), "prior is required"), "%s", dsbi_last_error());
    cr_assert_eq(dsbi_model_sample_tall(m, x, 1, 2, &c, th, NULL), 0, "one observation needs no prior");
    c.prior_a = mean;
    c.prior_b = sd;
    cr_assert_eq(dsbi_model_sample_tall(m, x, 2, 2, &c, th, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert(strstr(dsbi_last_error(), "parameter 2"), "%s", dsbi_last_error());
    c.prior = DSBI_PRIOR_BOX;
    c.prior_a = lo;
    c.prior_b = hi;
    cr_assert_eq(dsbi_model_sample_tall(m, x, 2, 2, &c, th, NULL), DSBI_STATUS_ERR_INVALID);
    double blo[2] = {-1, -1}, bhi[2] = {1, 1};
    c.prior_a = blo;
    c.prior_b = bhi;
    c.cov_draws = 2;
    cr_assert_eq(dsbi_model_sample_tall(m, x, 2, 2, &c, th, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert(strstr(dsbi_last_error(), "cov_draws"), "%s", dsbi_last_error());
    c.method = DSBI_TALL_FNPSE;
    cr_assert_eq(dsbi_model_sample_tall(m, x, 0, 2, &c, th, NULL), DSBI_STATUS_ERR_INVALID);
    x[1] = NAN;
    cr_assert_eq(dsbi_model_sample_tall(m, x, 2, 2, &c, th, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert(strstr(dsbi_last_error(), "not finite"), "%s", dsbi_last_error());
    x[1] = 0.0f;
    /* F-NPSE's Langevin path has no guidance: refused, never silently ignored */
    dsbi_guide g = dsbi_guide_make(NULL, NULL);
    c.guide = &g;
    c.n_guide = 1;
    cr_assert_eq(dsbi_model_sample_tall(m, x, 2, 2, &c, th, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert(strstr(dsbi_last_error(), "not applied by fnpse"), "%s", dsbi_last_error());
    dsbi_model_free(m);
}

/* gaussian_linear (10-D): prior N(0, 0.1 I), x_j ~ N(theta, 0.1 I), so the
 * tall posterior is N(sum_j x_j / (n + 1), 0.1/(n + 1) I). */
typedef struct tall_err {
    double mean_max, mean_rms, sd_max; /* mean errors in posterior sds, relative sd error */
} tall_err;

static tall_err tall_errors(const float *draws, size_t N, const float *x, size_t n) {
    tall_err e = {0, 0, 0};
    double sd_true = sqrt(0.1 / (double)(n + 1));
    for (size_t d = 0; d < 10; d++) {
        double mu = 0;
        for (size_t j = 0; j < n; j++) mu += x[j * 10 + d];
        mu /= (double)(n + 1);
        double mean, sd;
        col_moments(draws, N, 10, d, &mean, &sd);
        double em = fabs(mean - mu) / sd_true, es = fabs(sd / sd_true - 1);
        e.mean_max = fmax(e.mean_max, em);
        e.mean_rms += em * em / 10.0;
        e.sd_max = fmax(e.sd_max, es);
    }
    e.mean_rms = sqrt(e.mean_rms);
    return e;
}

/* Tolerances (posterior sds of the tall posterior; relative sd error):
 * set from what was measured (300 draws, DDIM 100 steps eta 0.5, C_j from 300
 * draws of 50 steps; and once with 1000 draws and 1000 covariance draws):
 *   n = 1:  mean max 0.18-0.25 (RMS 0.09-0.10), sd 6-8 %   (the model itself)
 *   n = 5:  mean max 0.37-0.46 (RMS 0.19),      sd 9-20 %
 *   n = 30: mean max 0.79-1.09 (RMS 0.36-0.41), sd 19-37 % (too wide)
 * Why the errors grow with n: a systematic error delta (in single-posterior
 * sds) of the individual scores shifts the tall mean by about
 * 2 delta sd_1 / sd_n = 2 delta sqrt(0.05 (n + 1)/0.1) = 7.9 delta at n = 30,
 * and the model's single-observation error at 10k simulations is about
 * delta = 0.1 RMS (test_model.c): errors that are shared by neighbouring
 * observations do not average out. The sd inflation at n = 30 did not shrink
 * with 1000 covariance draws, and the exact-score runs of test_compose.c (T2)
 * show no such bias, so it belongs to the learned scores, as in the paper's
 * table 1.12 (d) where GAUSS's error grows with n once the score is perturbed.
 * Monte Carlo error with 300 draws: 0.06 sd for a mean, 4 % for an sd. So
 * the limits are the worst measured value with about 1.5x margin. On an
 * AVX-512 machine (different BLAS kernels, so a different trained net) n = 30
 * gave mean max 0.83 (RMS 0.53) and sd +49 to +51 %: the n = 30 sd limit is
 * that with 1.3x margin, a guard against regressions rather than a claim of
 * accuracy (bench/bench_tall.c measures the tall samplers properly). */
static const double tol_mean_max[3] = {0.45, 0.8, 1.6}, tol_mean_rms[3] = {0.25, 0.45, 0.8},
                    tol_sd[3] = {0.25, 0.35, 0.65};

Test(tall, gaussian_linear_tall_posterior, .timeout = 600) {
    dsbi_simulator sim;
    cr_assert_eq(dsbi_task_get("gaussian_linear", &sim), 0);
    dsbi_dataset *ds = NULL;
    cr_assert_eq(dsbi_dataset_simulate(&sim, 10000, 2024, &ds, NULL), 0);
    dsbi_model *m = dsbi_model_create(NULL, 10, 10);
    double t0 = dsbi_now();
    cr_assert_eq(dsbi_model_fit(m, ds, NULL), 0, "%s", dsbi_last_error());
    cr_log_info("training: %.1f s", dsbi_now() - t0);
    dsbi_dataset_free(ds);
    double mean[10], sd[10];
    for (int d = 0; d < 10; d++) mean[d] = 0.0, sd[d] = sqrt(0.1);
    dsbi_rng rng;
    dsbi_rng_init(&rng, 99, 0);
    float theta0[10], x[30 * 10];
    sim.prior(sim.ctx, &rng, 1, theta0);
    sim.simulate(sim.ctx, &rng, 30, (float[300]){0}, x); /* noise only, shifted below */
    for (size_t j = 0; j < 30; j++)
        for (size_t d = 0; d < 10; d++) x[j * 10 + d] += theta0[d];
    const size_t N = 300, ns[3] = {1, 5, 30};
    float *draws = malloc(N * 10 * sizeof(float));
    const char *mname[3] = {"gauss", "jac", "fnpse"};
    /* GAUSS at n = 1, 5, 30 (asserted); JAC and F-NPSE at n = 5 (smaller runs, logged) */
    const int runs[5][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 1}, {2, 1}};
    for (int r = 0; r < 5; r++) {
        int meth = runs[r][0], k = runs[r][1];
        dsbi_tall_config c = dsbi_tall_config_default();
        dsbi_tall_info info;
        c.method = (dsbi_tall_method)meth;
        c.prior_a = mean;
        c.prior_b = sd;
        c.info = &info;
        c.sample.steps = meth == 0 ? 100 : 40;
        c.sample.eta = meth == 0 ? 0.5f : 0.0f;
        c.cov_draws = 300;
        c.cov_steps = 50;
        c.sample.seed = 7 + (uint64_t)k;
        size_t NN = meth == 0 ? N : 100;
        dsbi_sample_stats st;
        t0 = dsbi_now();
        cr_assert_eq(dsbi_model_sample_tall(m, x, ns[k], NN, &c, draws, &st), 0, "%s", dsbi_last_error());
        tall_err e = tall_errors(draws, NN, x, ns[k]);
        cr_log_info("%s n=%zu: mean error max %.3f / RMS %.3f posterior sd, sd error max %.1f %%, "
                    "%zu fallbacks of %zu solves, %.2f s (cov %.2f s), nfe %zu",
                    mname[meth], ns[k], e.mean_max, e.mean_rms, 100 * e.sd_max, info.n_fallback,
                    info.n_solves, dsbi_now() - t0, info.cov_seconds, st.nfe);
        cr_assert_eq(st.nfe, c.sample.steps * ns[k] * (meth == 2 ? c.langevin_steps : 1));
        if (meth == 0) {
            cr_expect(e.mean_max <= tol_mean_max[k] && e.mean_rms <= tol_mean_rms[k],
                      "gauss n=%zu: mean error max %.3f RMS %.3f sd", ns[k], e.mean_max, e.mean_rms);
            cr_expect(e.sd_max <= tol_sd[k], "gauss n=%zu: sd error %.1f %%", ns[k], 100 * e.sd_max);
            cr_expect(info.n_fallback == 0);
        } else {
            cr_expect(e.mean_max < 3.0 && e.sd_max < 1.0, "%s n=5 far off", mname[meth]);
        }
    }
    free(draws);
    dsbi_model_free(m);
}
