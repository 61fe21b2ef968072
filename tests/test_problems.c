/* The bench-summary problems of src/summary/problems.c: the g-and-k quantile
 * function against hand-computed values and simulated quantiles; the
 * normal-Wishart exact posterior (Bartlett inverse-Wishart draws, theta map)
 * against its closed-form moments and by simulation-based calibration of the
 * conjugate update; stochastic-volatility moments of h and log y^2; the raw
 * sbibm Lotka-Volterra and SIR series against the built-in tasks' ODE values
 * and their noise models. About 2 s on one core. */
#include "helpers.h"
#include "gen/diffusion.h"
#include "summary/summary.h"
#include "tasks/tasks.h"
#include <string.h>

/* ---------------------------------------------------------------- g-and-k */

Test(problems, gk_quantile_hand_values) {
    /* 3 + (1 + 0.8 tanh 1) sqrt 2; 2 (1 + 0.8 tanh 0.75) 3.25^0.2 (-1.5) */
    cr_assert_float_eq(dsbi_gk_quantile(3, 1, 2, 0.5, 1.0), 5.275858989874481, 1e-12);
    cr_assert_float_eq(dsbi_gk_quantile(0, 2, -1, 0.2, -1.5), -5.7270844213137355, 1e-12);
    cr_assert_float_eq(dsbi_gk_quantile(1, 0.5, 0.5, 1.0, 2.0), 7.848468629040038, 1e-12);
    cr_assert_float_eq(dsbi_gk_quantile(1.5, 2, 3, 0.7, 0.0), 1.5, 1e-15); /* median = a */
    /* g = 0: symmetric about a */
    double up = dsbi_gk_quantile(0.3, 1.2, 0, 0.4, 0.8);
    double dn = dsbi_gk_quantile(0.3, 1.2, 0, 0.4, -0.8);
    cr_assert_float_eq(up + dn, 0.6, 1e-12);
}

Test(problems, gk_theta_map_and_prior) {
    const double abgk[4] = {1.5, 0.7, -0.4, 0.3};
    float th[4] = {(float)(abgk[0] / 5), (float)(0.5 * log(abgk[1] + 1e-3)), (float)(abgk[2] / 5),
                   (float)(0.5 * log(abgk[3] + 1e-3))};
    double back[4];
    dsbi_gk_unpack(th, back);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(back[i], abgk[i], 1e-6);
    /* prior means: a, g 0; b, k 1 (Gamma(5, 1/5), Gamma(7, 1/7)) */
    dsbi_rng r;
    dsbi_rng_init(&r, 1, 0);
    double m[4] = {0};
    size_t n = 20000;
    for (size_t i = 0; i < n; i++) {
        dsbi_gk_prior(&r, th);
        dsbi_gk_unpack(th, back);
        for (int j = 0; j < 4; j++) m[j] += back[j] / (double)n;
    }
    cr_assert(fabs(m[0]) < 0.03 && fabs(m[2]) < 0.03, "a, g means %g %g", m[0], m[2]);
    cr_assert(fabs(m[1] - 1) < 0.015 && fabs(m[3] - 1) < 0.012, "b, k means %g %g", m[1], m[3]);
}

/* The fraction of simulated y below tanh(Q(Phi^{-1}(u))/10) is u */
Test(problems, gk_simulated_quantiles) {
    const double abgk[4] = {0.5, 1.3, 1.0, 0.4};
    float th[4] = {(float)(abgk[0] / 5), (float)(0.5 * log(abgk[1] + 1e-3)), (float)(abgk[2] / 5),
                   (float)(0.5 * log(abgk[3] + 1e-3))};
    double p[4];
    dsbi_gk_unpack(th, p);
    size_t n = 40000;
    float *y = malloc(n * sizeof *y);
    dsbi_rng r;
    dsbi_rng_init(&r, 2, 0);
    dsbi_gk_simulate(&r, th, n, y);
    const double us[] = {0.05, 0.125, 0.25, 0.5, 0.75, 0.875, 0.95};
    for (size_t q = 0; q < sizeof us / sizeof *us; q++) {
        double u = us[q], t = tanh(dsbi_gk_quantile(p[0], p[1], p[2], p[3], dsbi_norm_ppf(u)) / 10);
        size_t below = 0;
        for (size_t i = 0; i < n; i++) below += y[i] <= t;
        double f = (double)below / (double)n, se = sqrt(u * (1 - u) / (double)n);
        cr_assert(fabs(f - u) < 4 * se, "u = %g: fraction below Q(u) %g", u, f);
    }
    for (size_t i = 0; i < n; i++) cr_assert(fabsf(y[i]) <= 1.0f);
    free(y);
}

/* ---------------------------------------------------------------- normal-Wishart */

Test(problems, nw_theta_round_trip) {
    const double mu[4] = {0.1, -2, 3, 0.5};
    const double s[16] = {2,    0.3, -0.5, 0.1,  0.3, 1,    0.2, 0,
                          -0.5, 0.2, 1.5,  -0.4, 0.1, 0,    -0.4, 0.8};
    float th[DSBI_NW_DIM];
    dsbi_nw_theta(mu, s, th);
    double mu2[4], l[16];
    dsbi_nw_unpack(th, mu2, l);
    for (int i = 0; i < 4; i++) {
        cr_assert_float_eq(mu2[i], mu[i], 1e-6);
        for (int j = 0; j < 4; j++) {
            double v = 0;
            for (int k = 0; k < 4; k++) v += l[i * 4 + k] * l[j * 4 + k];
            cr_assert_float_eq(v, s[i * 4 + j], 1e-5, "Sigma[%d][%d]", i, j);
            if (j > i) cr_assert(l[i * 4 + j] == 0);
        }
    }
}

Test(problems, nw_posterior_hand_case) {
    /* two points: ybar = (1, 0, 0, 1), deviations +-(1, 1, 0, 0) */
    const float y[8] = {2, 1, 0, 1, 0, -1, 0, 1};
    dsbi_nw_post q = dsbi_nw_posterior(y, 2);
    cr_assert_float_eq(q.kappa_n, 3, 1e-12);
    cr_assert_float_eq(q.nu_n, 8, 1e-12);
    const double mu_n[4] = {2.0 / 3, 0, 0, 2.0 / 3};
    const double psi[16] = {1 + 2 + 2.0 / 3, 2, 0, 2.0 / 3, 2, 1 + 2, 0, 0,
                            0, 0, 1, 0, 2.0 / 3, 0, 0, 1 + 2.0 / 3};
    for (int i = 0; i < 4; i++) cr_assert_float_eq(q.mu_n[i], mu_n[i], 1e-12);
    for (int i = 0; i < 16; i++) cr_assert_float_eq(q.psi_n[i], psi[i], 1e-12, "Psi_n[%d]", i);
}

/* E[Sigma | y] = Psi_n / (nu_n - p - 1), E[mu | y] = mu_n,
 * Cov(mu | y) = E[Sigma | y] / kappa_n, from draws of theta mapped back */
Test(problems, nw_exact_posterior_moments) {
    dsbi_rng r;
    dsbi_rng_init(&r, 3, 0);
    float th0[DSBI_NW_DIM], y[30 * 4];
    dsbi_nw_prior(&r, th0);
    dsbi_nw_simulate(&r, th0, 30, y);
    dsbi_nw_post q = dsbi_nw_posterior(y, 30);
    size_t n = 40000;
    double s1[16] = {0}, s2[16] = {0}, m1[4] = {0}, m2[16] = {0};
    for (size_t d = 0; d < n; d++) {
        float th[DSBI_NW_DIM];
        double mu[4], l[16];
        dsbi_nw_sample(&q, &r, 1, th);
        dsbi_nw_unpack(th, mu, l);
        for (int i = 0; i < 4; i++) {
            m1[i] += mu[i];
            for (int j = 0; j < 4; j++) {
                double v = 0;
                for (int k = 0; k < 4; k++) v += l[i * 4 + k] * l[j * 4 + k];
                s1[i * 4 + j] += v;
                s2[i * 4 + j] += v * v;
                m2[i * 4 + j] += (mu[i] - q.mu_n[i]) * (mu[j] - q.mu_n[j]);
            }
        }
    }
    double dn = (double)n, c = q.nu_n - 4 - 1;
    for (int i = 0; i < 4; i++) {
        double sd_mu = sqrt(q.psi_n[i * 5] / c / q.kappa_n);
        cr_assert(fabs(m1[i] / dn - q.mu_n[i]) < 4.5 * sd_mu / sqrt(dn), "E[mu_%d]", i);
        for (int j = 0; j < 4; j++) {
            int ij = i * 4 + j;
            double mean = s1[ij] / dn, se = sqrt((s2[ij] / dn - mean * mean) / dn);
            cr_assert(fabs(mean - q.psi_n[ij] / c) < 4.5 * se, "E[Sigma_%d%d] %g vs %g (se %g)", i,
                      j, mean, q.psi_n[ij] / c, se);
            /* Cov(mu_i, mu_j) within 5 % of the scale sqrt(var_i var_j) */
            double cov = q.psi_n[ij] / c / q.kappa_n,
                   scale = sqrt(q.psi_n[i * 5] * q.psi_n[j * 5]) / c / q.kappa_n;
            cr_assert(fabs(m2[ij] / dn - cov) < 0.05 * scale, "Cov(mu_%d, mu_%d)", i, j);
        }
    }
}

/* Simulation-based calibration of the whole conjugate update: theta ~ prior,
 * y ~ model(theta) (3 points), 9 exact posterior draws; the rank of the true
 * theta among them is uniform on 0..9 for every coordinate iff the posterior
 * is right (chi^2, 9 dof: 35 is p ~ 7e-5) */
Test(problems, nw_exact_posterior_sbc) {
    enum { REPS = 3000, LD = 9 };
    static unsigned hist[DSBI_NW_DIM][LD + 1];
    dsbi_rng r;
    dsbi_rng_init(&r, 4, 0);
    for (int rep = 0; rep < REPS; rep++) {
        float th0[DSBI_NW_DIM], y[3 * 4], th[LD * DSBI_NW_DIM];
        dsbi_nw_prior(&r, th0);
        dsbi_nw_simulate(&r, th0, 3, y);
        dsbi_nw_post q = dsbi_nw_posterior(y, 3);
        dsbi_nw_sample(&q, &r, LD, th);
        for (int j = 0; j < DSBI_NW_DIM; j++) {
            int rank = 0;
            for (int l = 0; l < LD; l++) rank += th[l * DSBI_NW_DIM + j] < th0[j];
            hist[j][rank]++;
        }
    }
    for (int j = 0; j < DSBI_NW_DIM; j++) {
        double e = REPS / (LD + 1.0), chi2 = 0;
        for (int b = 0; b <= LD; b++) chi2 += (hist[j][b] - e) * (hist[j][b] - e) / e;
        cr_assert(chi2 < 35, "theta_%d: rank chi^2 %g", j, chi2);
    }
}

/* ---------------------------------------------------------------- stochastic volatility */

/* h_0 ~ N(mu, s^2), var h_t = s^2 (1 - phi^{2(t+1)}) / (1 - phi^2) -> the
 * stationary s^2 / (1 - phi^2); lag-1 covariance phi var h_{t-1};
 * E log y_t^2 = E h_t + psi(1/2) + ln 2 = mu - 1.2703628 */
Test(problems, sv_moments) {
    enum { L = 200, REPS = 4000 };
    const float th[3] = {-1.0f, 0.95f, 0.2f};
    double phi = th[1], s2 = (double)th[2] * th[2], v_inf = s2 / (1 - phi * phi);
    float y[L];
    double h[L];
    double a0 = 0, a0s = 0, a = 0, as = 0, ab = 0, ly = 0;
    dsbi_rng r;
    dsbi_rng_init(&r, 5, 0);
    for (int rep = 0; rep < REPS; rep++) {
        dsbi_sv_simulate(&r, th, L, y, h);
        for (int t = 0; t < L; t++) cr_assert(isfinite(y[t]));
        a0 += h[0], a0s += (h[0] + 1) * (h[0] + 1);
        a += h[L - 1], as += (h[L - 1] + 1) * (h[L - 1] + 1);
        ab += (h[L - 1] + 1) * (h[L - 2] + 1);
        ly += log((double)y[L - 1] * y[L - 1]);
    }
    double n = REPS;
    cr_assert(fabs(a0 / n + 1) < 4 * sqrt(s2 / n), "E h_0 %g", a0 / n);
    cr_assert(fabs(a0s / n / s2 - 1) < 0.1, "var h_0 %g vs %g", a0s / n, s2);
    cr_assert(fabs(a / n + 1) < 4 * sqrt(v_inf / n), "E h_L %g", a / n);
    cr_assert(fabs(as / n / v_inf - 1) < 0.1, "var h_L %g vs stationary %g", as / n, v_inf);
    cr_assert(fabs(ab / n / (phi * v_inf) - 1) < 0.1, "lag-1 cov %g vs %g", ab / n, phi * v_inf);
    cr_assert(fabs(ly / n - (-1 - 1.2703628454614782)) < 4 * sqrt((v_inf + 4.9348) / n),
              "E log y^2 %g", ly / n);
}

/* ---------------------------------------------------------------- sbibm raw series */

Test(problems, lv_raw_matches_builtin) {
    const float th[4] = {0.9f, 0.05f, 0.85f, 0.05f}; /* near the prior medians */
    double u[2 * DSBI_LV_RAW_T], ref[20];
    cr_assert_eq(dsbi_lv_raw_solve(th, u), 0);
    cr_assert_eq(dsbi_lv_solve(th, ref), 0);
    cr_assert(u[0] == 30 && u[1] == 1);
    for (int j = 0; j < 10; j++) { /* built-in times 2.1 j = every 21st saved point */
        cr_assert(fabs(u[2 * 21 * j] - ref[j]) <= 1e-6 * fabs(ref[j]), "prey at %d", j);
        cr_assert(fabs(u[2 * 21 * j + 1] - ref[10 + j]) <= 1e-6 * fabs(ref[10 + j]), "pred %d", j);
    }
    /* 10 % log-normal noise at every point */
    float y[2 * DSBI_LV_RAW_T];
    dsbi_rng r;
    dsbi_rng_init(&r, 6, 0);
    double m = 0, m2 = 0;
    size_t n = 0;
    for (int rep = 0; rep < 20; rep++) {
        cr_assert_eq(dsbi_lv_raw_simulate(&r, th, y), 0);
        for (int j = 0; j < 2 * DSBI_LV_RAW_T; j++) {
            cr_assert(isfinite(y[j]) && y[j] > 0);
            if (u[j] < 1e-10 || u[j] > 1e4) continue;
            double e = log(y[j] / u[j]);
            m += e, m2 += e * e, n++;
        }
    }
    cr_assert(n > 1000);
    m /= (double)n;
    double sd = sqrt(m2 / (double)n - m * m);
    cr_assert(fabs(m) < 4 * 0.1 / sqrt((double)n), "noise mean %g", m);
    cr_assert(fabs(sd - 0.1) < 0.006, "noise sd %g", sd);
}

Test(problems, sir_raw_matches_builtin) {
    const float th[2] = {0.4f, 0.125f};
    double I[DSBI_SIR_RAW_T], ref[10];
    cr_assert_eq(dsbi_sir_raw_solve(th, I), 0);
    cr_assert_eq(dsbi_sir_solve(th, ref), 0);
    cr_assert(I[0] == 1);
    for (int j = 0; j < 10; j++)
        cr_assert(fabs(I[17 * j] - ref[j]) <= 1e-6 * fabs(ref[j]) + 1e-6, "I(%d)", 17 * j);
    /* Binomial(1000, I/N) at every day: mean and variance at the peak */
    int peak = 0;
    for (int t = 1; t < DSBI_SIR_RAW_T; t++)
        if (I[t] > I[peak]) peak = t;
    double p = I[peak] / 1e6, s = 0, s2 = 0;
    cr_assert(p > 0.05 && p < 0.95, "peak I/N %g", p);
    float y[DSBI_SIR_RAW_T];
    dsbi_rng r;
    dsbi_rng_init(&r, 7, 0);
    int reps = 3000;
    for (int rep = 0; rep < reps; rep++) {
        cr_assert_eq(dsbi_sir_raw_simulate(&r, th, y), 0);
        for (int t = 0; t < DSBI_SIR_RAW_T; t++)
            cr_assert(y[t] >= 0 && y[t] <= 1000 && y[t] == floorf(y[t]));
        s += y[peak], s2 += (double)y[peak] * y[peak];
    }
    double mean = s / reps, var = s2 / reps - mean * mean, v = 1000 * p * (1 - p);
    cr_assert(fabs(mean - 1000 * p) < 4 * sqrt(v / reps), "mean %g vs %g", mean, 1000 * p);
    cr_assert(fabs(var / v - 1) < 0.12, "variance %g vs %g", var, v);
}
