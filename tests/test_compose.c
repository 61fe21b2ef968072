/* Exact tests of the tall-data composition (ALGORITHMS.md section 4):
 * T1 the composed score (COMP) equals the analytic diffused tall-posterior
 * score for Gaussians while the F-NPSE sum does not, and JAC precisions from
 * exact Jacobians equal GAUSS precisions; T2 DDIM driven by the exact composed
 * score reaches the tall posterior's mean and covariance for n = 1, 10, 100;
 * T4 the box prior's closed-form score and kernel variance match finite
 * differences, also far in the tails. No network, no training. */
#include "helpers.h"
#include "sample/compose.h"
#include "sample/prior_score.h"
#include "sample/sampler.h"
#include <string.h>

#define MAXD 6

/* ---------------------------------------------------------------- a Gaussian toy (ALGORITHMS.md 1.11) */

/* prior N(mu_l, diag(var_l)), x_j ~ N(theta, Sx), Sx = 0.2 I + 0.8 11^T */
typedef struct toy {
    size_t D, n;
    double mu_l[MAXD], var_l[MAXD];
    double C[MAXD * MAXD], Cinv[MAXD * MAXD]; /* individual posterior covariance */
    double *m;                                /* n x D individual posterior means */
    double Sn[MAXD * MAXD], mu_n[MAXD];       /* tall posterior */
} toy;

static void mat_inv(const double *A, double *Ai, size_t D) {
    double w[MAXD * MAXD + MAXD];
    memcpy(Ai, A, D * D * sizeof(double));
    cr_assert_eq(dsbi_spd_inverse(Ai, D, w), 0);
}

/* scale 1: the paper's toy (prior means U(-10, 10), sds U(0.1, 25.1)); scale
 * 0.1: the same in roughly standardized units, as a model's sampler sees it */
static void toy_init(toy *t, size_t D, size_t n, uint64_t seed, double scale) {
    dsbi_rng r;
    dsbi_rng_init(&r, seed, 9);
    t->D = D;
    t->n = n;
    double Sxi[MAXD * MAXD], Sx[MAXD * MAXD], P[MAXD * MAXD], theta[MAXD], b[MAXD], sx[MAXD];
    for (size_t i = 0; i < D; i++) {
        t->mu_l[i] = scale * (-10 + 20 * dsbi_rng_uniform(&r));
        double sd = scale * (0.1 + 25 * dsbi_rng_uniform(&r));
        t->var_l[i] = sd * sd;
        theta[i] = t->mu_l[i] + sd * dsbi_rng_normal(&r);
        for (size_t j = 0; j < D; j++) Sx[i * D + j] = scale * scale * (i == j ? 1.0 : 0.8);
    }
    mat_inv(Sx, Sxi, D);
    for (size_t i = 0; i < D * D; i++) P[i] = Sxi[i];
    for (size_t i = 0; i < D; i++) P[i * D + i] += 1.0 / t->var_l[i];
    mat_inv(P, t->C, D);
    memcpy(t->Cinv, P, D * D * sizeof(double));
    /* Sx = L L^T to simulate */
    double L[MAXD * MAXD];
    memcpy(L, Sx, sizeof L);
    cr_assert_eq(dsbi_chol(L, D), 0);
    t->m = malloc(n * D * sizeof(double));
    for (size_t i = 0; i < D; i++) sx[i] = 0;
    for (size_t j = 0; j < n; j++) {
        double e[MAXD], x[MAXD];
        for (size_t i = 0; i < D; i++) e[i] = dsbi_rng_normal(&r);
        for (size_t i = 0; i < D; i++) {
            x[i] = theta[i];
            for (size_t k = 0; k <= i; k++) x[i] += L[i * D + k] * e[k];
            sx[i] += x[i];
        }
        for (size_t i = 0; i < D; i++) {
            b[i] = t->mu_l[i] / t->var_l[i];
            for (size_t k = 0; k < D; k++) b[i] += Sxi[i * D + k] * x[k];
        }
        for (size_t i = 0; i < D; i++) {
            double acc = 0;
            for (size_t k = 0; k < D; k++) acc += t->C[i * D + k] * b[k];
            t->m[j * D + i] = acc;
        }
    }
    for (size_t i = 0; i < D * D; i++) P[i] = (double)n * Sxi[i];
    for (size_t i = 0; i < D; i++) P[i * D + i] += 1.0 / t->var_l[i];
    mat_inv(P, t->Sn, D);
    for (size_t i = 0; i < D; i++) {
        b[i] = t->mu_l[i] / t->var_l[i];
        for (size_t k = 0; k < D; k++) b[i] += Sxi[i * D + k] * sx[k];
    }
    for (size_t i = 0; i < D; i++) {
        double acc = 0;
        for (size_t k = 0; k < D; k++) acc += t->Sn[i * D + k] * b[k];
        t->mu_n[i] = acc;
    }
}

/* score of N(alpha m, a S + v I) at z */
static void gauss_score(const double *S, const double *m, size_t D, double alpha, double sigma,
                        const double *z, double *s) {
    double M[MAXD * MAXD];
    for (size_t i = 0; i < D * D; i++) M[i] = alpha * alpha * S[i];
    for (size_t i = 0; i < D; i++) {
        M[i * D + i] += sigma * sigma;
        s[i] = z[i] - alpha * m[i];
    }
    cr_assert_eq(dsbi_chol(M, D), 0);
    dsbi_chol_solve(M, s, D);
    for (size_t i = 0; i < D; i++) s[i] = -s[i];
}

/* (COMP) with exact individual scores and GAUSS precisions; returns fallback flag */
static int toy_composed(const toy *t, double alpha, double sigma, const double *z, double *s,
                        double *s_fnpse) {
    const size_t D = t->D;
    double lam[MAXD * MAXD], rhs[MAXD], fsum[MAXD], P[MAXD * MAXD], sj[MAXD], sl[MAXD];
    dsbi_comp c = {D, lam, rhs, fsum};
    dsbi_comp_reset(&c);
    dsbi_gauss_precision(t->Cinv, alpha, sigma, D, P);
    for (size_t j = 0; j < t->n; j++) {
        gauss_score(t->C, t->m + j * D, D, alpha, sigma, z, sj);
        dsbi_comp_add(&c, 1.0, P, sj);
    }
    dsbi_dprior pr = {.kind = DSBI_PRIOR_NORMAL, .D = D, .mean = t->mu_l, .var = t->var_l};
    cr_assert_eq(dsbi_dprior_eval(&pr, alpha, sigma, z, sl, P, NULL), 0);
    dsbi_comp_add(&c, 1.0 - (double)t->n, P, sl);
    if (s_fnpse) memcpy(s_fnpse, fsum, D * sizeof(double));
    return dsbi_comp_solve(&c, s);
}

/* ---------------------------------------------------------------- T1 */

Test(compose, composed_score_is_exact_for_gaussians) {
    const size_t dims[3] = {2, 4, 6}, ns[3] = {2, 5, 40};
    dsbi_rng r;
    dsbi_rng_init(&r, 4, 1);
    double worst = 0, fnpse_min = INFINITY;
    for (int k = 0; k < 3; k++) {
        toy t;
        toy_init(&t, dims[k], ns[k], 10 + (uint64_t)k, 1.0);
        const size_t D = t.D;
        for (int trial = 0; trial < 20; trial++) {
            double a = 0.005 + 0.99 * dsbi_rng_uniform(&r), alpha = sqrt(a), sigma = sqrt(1 - a);
            double z[MAXD], s[MAXD], sf[MAXD], ref[MAXD];
            for (size_t i = 0; i < D; i++) z[i] = alpha * t.mu_n[i] + 2.0 * dsbi_rng_normal(&r);
            cr_assert_eq(toy_composed(&t, alpha, sigma, z, s, sf), 0);
            gauss_score(t.Sn, t.mu_n, D, alpha, sigma, z, ref);
            double scale = 0, err = 0, ef = 0;
            for (size_t i = 0; i < D; i++) scale = fmax(scale, fabs(ref[i]));
            for (size_t i = 0; i < D; i++) {
                err = fmax(err, fabs(s[i] - ref[i]) / (1 + scale));
                ef = fmax(ef, fabs(sf[i] - ref[i]) / (1 + scale));
            }
            cr_assert(err < 1e-10, "D=%zu n=%zu a=%g: composed score off by %g (relative)", D, t.n, a, err);
            worst = fmax(worst, err);
            fnpse_min = fmin(fnpse_min, ef);
        }
        free(t.m);
    }
    /* the F-NPSE sum drops grad log L_t: wrong for 0 < t < 1 */
    cr_assert(fnpse_min > 1e-3, "F-NPSE unexpectedly exact (%g)", fnpse_min);
    cr_log_info("T1: worst relative error of (COMP) %.2e; F-NPSE at least %.2e off", worst, fnpse_min);
}

Test(compose, single_observation_is_the_individual_score) {
    toy t;
    toy_init(&t, 3, 1, 3, 1.0);
    double z[3] = {0.3, -1.0, 2.0}, s[3], ref[3];
    cr_assert_eq(toy_composed(&t, 0.6, 0.8, z, s, NULL), 0);
    gauss_score(t.C, t.m, 3, 0.6, 0.8, z, ref);
    for (int i = 0; i < 3; i++) cr_assert(fabs(s[i] - ref[i]) < 1e-12 * (1 + fabs(ref[i])));
    free(t.m);
}

Test(compose, jac_precision_equals_gauss_for_exact_jacobians) {
    toy t;
    toy_init(&t, 5, 1, 7, 1.0);
    const size_t D = 5;
    for (double a = 0.01; a < 1.0; a += 0.1) {
        double alpha = sqrt(a), sigma = sqrt(1 - a);
        double M[25], J[25], Pj[25], Pg[25], w[30];
        for (size_t i = 0; i < 25; i++) M[i] = a * t.C[i];
        for (size_t i = 0; i < D; i++) M[i * D + i] += 1 - a;
        mat_inv(M, J, D);
        for (size_t i = 0; i < 25; i++) J[i] = -J[i];
        cr_assert_eq(dsbi_jac_precision(J, alpha, sigma, D, Pj, w), 0);
        dsbi_gauss_precision(t.Cinv, alpha, sigma, D, Pg);
        double sc = 0;
        for (size_t i = 0; i < 25; i++) sc = fmax(sc, fabs(Pg[i]));
        for (size_t i = 0; i < 25; i++)
            cr_assert(fabs(Pj[i] - Pg[i]) < 1e-10 * sc, "a=%g entry %zu: JAC %.12g GAUSS %.12g", a, i, Pj[i], Pg[i]);
    }
    free(t.m);
}

Test(compose, indefinite_lambda_falls_back_to_fnpse) {
    double lam[4], rhs[2], fsum[2], s[2];
    dsbi_comp c = {2, lam, rhs, fsum};
    dsbi_comp_reset(&c);
    double P[4] = {1, 0, 0, 1}, Pp[4] = {3, 0, 0, 3}, s1[2] = {1, 2}, sp[2] = {0.5, 0.5};
    dsbi_comp_add(&c, 1.0, P, s1);
    dsbi_comp_add(&c, 1.0, P, s1);
    dsbi_comp_add(&c, -1.0, Pp, sp); /* Lambda = 2 - 3 < 0 */
    cr_assert_eq(dsbi_comp_solve(&c, s), 1);
    cr_assert_float_eq(s[0], 1.5, 1e-15);
    cr_assert_float_eq(s[1], 3.5, 1e-15);
}

/* ---------------------------------------------------------------- T2 */

typedef struct toy_field {
    const toy *t;
    const dsbi_sched *s;
    size_t fallbacks;
} toy_field;

static void toy_denoise(void *ctx, const float *z, double tt, size_t B, float *xhat) {
    toy_field *f = ctx;
    const size_t D = f->t->D;
    double alpha, sigma;
    dsbi_sched_alpha_sigma(f->s, dsbi_sched_lambda(f->s, tt), &alpha, &sigma);
    for (size_t b = 0; b < B; b++) {
        double zz[MAXD], sc[MAXD];
        for (size_t i = 0; i < D; i++) zz[i] = z[b * D + i];
        f->fallbacks += (size_t)toy_composed(f->t, alpha, sigma, zz, sc, NULL);
        /* Tweedie: x_hat = (z + sigma^2 s) / alpha */
        for (size_t i = 0; i < D; i++) xhat[b * D + i] = (float)((zz[i] + sigma * sigma * sc[i]) / alpha);
    }
}

static void check_tall_ddim(size_t n, float eta, size_t steps, size_t N) {
    const size_t D = 3;
    toy t;
    toy_init(&t, D, n, 100 + n, 0.1);
    dsbi_sched s;
    dsbi_sched_init(&s, DSBI_SCHEDULE_EDM, 1.0, 0.0);
    toy_field tf = {&t, &s, 0};
    dsbi_field f = {&s, D, toy_denoise, &tf};
    dsbi_sample_config cfg = dsbi_sample_config_default();
    cfg.steps = steps;
    cfg.eta = eta;
    dsbi_rng rng;
    dsbi_rng_init(&rng, 5, n);
    float *z = malloc(N * D * sizeof(float)), *scr = malloc(3 * N * D * sizeof(float));
    dsbi_sampler_init_noise(&s, z, N * D, &rng);
    cr_assert_eq(dsbi_integrate(&f, &cfg, z, N, scr, &rng, NULL), 0, "%s", dsbi_last_error());
    cr_assert_eq(tf.fallbacks, 0);
    /* moments in units of the tall posterior sd; Monte Carlo SE 1/sqrt(N) for a mean,
       about sqrt(2/N) for a covariance entry (correlation scale); 4 SE plus 1.5 %
       for the time discretisation */
    double mean[MAXD], worst_m = 0, worst_c = 0;
    for (size_t i = 0; i < D; i++) {
        double acc = 0;
        for (size_t b = 0; b < N; b++) acc += z[b * D + i];
        mean[i] = acc / (double)N;
        double e = fabs(mean[i] - t.mu_n[i]) / sqrt(t.Sn[i * D + i]);
        worst_m = fmax(worst_m, e);
        cr_expect(e < 4 / sqrt((double)N) + 0.015, "n=%zu dim %zu: mean %.6g vs %.6g (%.3f sd)", n, i,
                  mean[i], t.mu_n[i], e);
    }
    for (size_t i = 0; i < D; i++)
        for (size_t j = 0; j <= i; j++) {
            double acc = 0;
            for (size_t b = 0; b < N; b++) acc += (z[b * D + i] - mean[i]) * (z[b * D + j] - mean[j]);
            double cov = acc / (double)(N - 1), sc = sqrt(t.Sn[i * D + i] * t.Sn[j * D + j]);
            double e = fabs(cov - t.Sn[i * D + j]) / sc;
            worst_c = fmax(worst_c, e);
            cr_expect(e < 4 * sqrt(2.0 / (double)N) + 0.03, "n=%zu cov[%zu][%zu]: %.6g vs %.6g", n, i, j,
                      cov, t.Sn[i * D + j]);
        }
    cr_log_info("T2 n=%zu eta=%g K=%zu N=%zu: worst mean error %.3f sd, worst cov error %.3f",
                n, (double)eta, steps, N, worst_m, worst_c);
    free(z);
    free(scr);
    free(t.m);
}

/* The probability-flow ODE (eta = 0) at 200 steps, and the stochastic DDIM
 * (eta = 1, as in the paper) at 800: at 200 steps eta = 1 still has a
 * discretisation bias of about 10 % on the variance for these narrow targets
 * (measured for n = 1 as well, so it belongs to the sampler, not to (COMP)). */
Test(compose, ddim_with_exact_composed_score_n1) {
    check_tall_ddim(1, 0.0f, 200, 6000);
    check_tall_ddim(1, 1.0f, 800, 3000);
}
Test(compose, ddim_with_exact_composed_score_n10) {
    check_tall_ddim(10, 0.0f, 200, 6000);
    check_tall_ddim(10, 1.0f, 800, 2000);
}
Test(compose, ddim_with_exact_composed_score_n100) { check_tall_ddim(100, 0.0f, 200, 2000); }

/* ---------------------------------------------------------------- T4 */

static double log_box_naive(double lo, double hi, double alpha, double sigma, double z) {
    double zl = (alpha * lo - z) / sigma, zh = (alpha * hi - z) / sigma;
    double Phl = 0.5 * erfc(-zl / M_SQRT2), Phh = 0.5 * erfc(-zh / M_SQRT2);
    /* in the upper tail use the complementary form to keep digits */
    double d = zl > 0 ? 0.5 * erfc(zl / M_SQRT2) - 0.5 * erfc(zh / M_SQRT2) : Phh - Phl;
    return log(d / alpha);
}

Test(compose, box_score_matches_finite_differences) {
    const double lo = -1.5, hi = 2.0;
    const double as[4] = {0.999, 0.7, 0.2, 0.01};
    for (int k = 0; k < 4; k++) {
        double alpha = sqrt(as[k]), sigma = sqrt(1 - as[k]);
        for (double u = -6.0; u <= 6.0; u += 0.37) {
            double z = alpha * u, s, P, h = 1e-4 * sigma;
            /* the naive reference underflows beyond ~25 kernel sds outside the box
               (box_score_in_the_tails covers those points) */
            if (fmax(alpha * lo - z, z - alpha * hi) / sigma > 25) continue;
            dsbi_box_score(lo, hi, alpha, sigma, z, &s, &P);
            double fd = (log_box_naive(lo, hi, alpha, sigma, z + h) - log_box_naive(lo, hi, alpha, sigma, z - h)) / (2 * h);
            cr_assert(fabs(s - fd) < 1e-6 * (1 + fabs(s)), "a=%g u=%g: score %.10g, FD %.10g", as[k], u, s, fd);
            /* second-order Tweedie: Var = (v/a)(1 + v ds/dz), from a FD of the closed-form score */
            double sp, sm;
            dsbi_box_score(lo, hi, alpha, sigma, z + h, &sp, NULL);
            dsbi_box_score(lo, hi, alpha, sigma, z - h, &sm, NULL);
            double var = sigma * sigma / (alpha * alpha) * (1 + sigma * sigma * (sp - sm) / (2 * h));
            cr_assert(fabs(1 / P - var) < 1e-5 * (1 / P) + 1e-9, "a=%g u=%g: var %.10g, Tweedie %.10g", as[k], u, 1 / P, var);
        }
    }
}

Test(compose, box_score_in_the_tails) {
    /* far outside the box at small sigma: the naive 1e-6-guarded formula is 0/0;
       ours follows the tail (compare with the naive double form where it still works) */
    const double lo = 0.0, hi = 1.0, alpha = 0.9999, sigma = sqrt(1 - alpha * alpha);
    for (double u = -0.5; u >= -3.0; u -= 0.25) {
        double z = alpha * u, s, P;
        dsbi_box_score(lo, hi, alpha, sigma, z, &s, &P);
        cr_assert(isfinite(s) && s > 0 && isfinite(P) && P > 0, "u=%g: s=%g P=%g", u, s, P);
        double zl = (alpha * lo - z) / sigma;
        if (zl < 25) {
            double h = 1e-5 * sigma;
            double fd = (log_box_naive(lo, hi, alpha, sigma, z + h) - log_box_naive(lo, hi, alpha, sigma, z - h)) / (2 * h);
            cr_assert(fabs(s - fd) < 1e-5 * fabs(s), "u=%g: %.10g vs %.10g", u, s, fd);
        }
        /* asymptote: d/dz log ~ z_lo/sigma, kernel var ~ (tau/z_lo)^2 */
        cr_assert(fabs(s * sigma / zl - 1) < 2 / (zl * zl) + 1e-9, "u=%g: %g vs %g", u, s, zl / sigma);
    }
    /* symmetric: above the box the score points down */
    double s1, s2;
    dsbi_box_score(lo, hi, alpha, sigma, alpha * 3.0, &s1, NULL);
    dsbi_box_score(lo, hi, alpha, sigma, alpha * -2.0, &s2, NULL);
    cr_assert(s1 < 0 && fabs(s1 + s2) < 1e-9 * fabs(s2), "%g %g", s1, s2);
    cr_assert(dsbi_log_ndtr_upper(40.0) < -800 && isfinite(dsbi_log_ndtr_upper(40.0)));
}

Test(compose, full_covariance_prior_matches_diagonal) {
    double mean[3] = {0.1, -2, 3}, var[3] = {0.5, 2, 7}, cov[9] = {0}, ci[9] = {0}, w[12];
    for (int i = 0; i < 3; i++) cov[i * 4] = var[i], ci[i * 4] = 1 / var[i];
    dsbi_dprior pd = {.kind = DSBI_PRIOR_NORMAL, .D = 3, .mean = mean, .var = var};
    dsbi_dprior pf = {.kind = DSBI_PRIOR_NORMAL, .D = 3, .mean = mean, .cov = cov, .cov_inv = ci};
    cr_assert_eq(dsbi_dprior_work(&pf), 12);
    double z[3] = {1, 2, -1}, s1[3], s2[3], P1[9], P2[9];
    dsbi_dprior_eval(&pd, 0.8, 0.6, z, s1, P1, NULL);
    dsbi_dprior_eval(&pf, 0.8, 0.6, z, s2, P2, w);
    for (int i = 0; i < 3; i++) cr_assert_float_eq(s1[i], s2[i], 1e-12);
    for (int i = 0; i < 9; i++) cr_assert_float_eq(P1[i], P2[i], 1e-12);
}
