/*
 * Set and sequence problems of `make bench-summary` (issue 7), written from
 * ALGORITHMS.md 2.5 / 2.7 and shared/benchmarks/sbibm/TASKS.md 9-10:
 *   g-and-k         a ~ N(0,1), b ~ Gamma(5, scale 1/5), g ~ N(0,1),
 *                   k ~ Gamma(7, scale 1/7); y = tanh(Q(z)/10), z ~ N(0,1),
 *                   Q(z) = a + b (1 + 0.8 tanh(g z/2)) (1 + z^2)^k z;
 *                   theta = (a/5, ln(b + 1e-3)/2, g/5, ln(k + 1e-3)/2)
 *   normal-Wishart  Sigma ~ InvWishart(6, I_4), mu | Sigma ~ N(0, Sigma),
 *                   y ~ N_4(mu, Sigma); theta = (mu, ln diag L, strict lower
 *                   L row by row) with L L^T = Sigma. Conjugate: Sigma | y ~
 *                   InvWishart(nu_n, Psi_n), mu | Sigma, y ~ N(mu_n, Sigma/kappa_n),
 *                   drawn by the Bartlett decomposition (below)
 *   stochastic volatility  mu ~ N(-1, 0.5^2), phi ~ U(0.9, 0.999),
 *                   sigma ~ U(0.1, 0.3); h_0 = mu + sigma e_0,
 *                   h_t = mu + phi (h_{t-1} - mu) + sigma e_t, y_t = e^{h_t/2} z_t,
 *                   t = 0..L-1; theta = (mu, phi, sigma)
 *   sbibm lotka_volterra / sir, raw: the ODEs of tasks/sbibm.c solved by the
 *                   library's solver (tasks/ode.c, same tolerances) on sbibm's
 *                   whole saving grid (LV t = 0, 0.1, .., 20; SIR days 0..160),
 *                   with the tasks' observation noise at every saved point
 *                   instead of their 10 sub-sampled times (which are the
 *                   built-in tasks' x; theta in the tasks' natural units).
 * Everything keeps its state on the stack: thread-safe given distinct rngs.
 */
#include "summary/summary.h"
#include "tasks/ode.h"
#include "tasks/tasks.h"
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- g-and-k */

double dsbi_gk_quantile(double a, double b, double g, double k, double z) {
    return a + b * (1.0 + 0.8 * tanh(0.5 * g * z)) * pow(1.0 + z * z, k) * z;
}

void dsbi_gk_unpack(const float *theta, double *abgk) {
    abgk[0] = 5.0 * theta[0];
    abgk[1] = exp(2.0 * theta[1]) - 1e-3;
    abgk[2] = 5.0 * theta[2];
    abgk[3] = exp(2.0 * theta[3]) - 1e-3;
}

void dsbi_gk_prior(dsbi_rng *rng, float *theta) {
    double a = dsbi_rng_normal(rng), b = dsbi_normal_gamma_draw_gamma(rng, 5.0) / 5.0;
    double g = dsbi_rng_normal(rng), k = dsbi_normal_gamma_draw_gamma(rng, 7.0) / 7.0;
    theta[0] = (float)(a / 5.0);
    theta[1] = (float)(0.5 * log(b + 1e-3));
    theta[2] = (float)(g / 5.0);
    theta[3] = (float)(0.5 * log(k + 1e-3));
}

void dsbi_gk_simulate(dsbi_rng *rng, const float *theta, size_t n, float *y) {
    double p[4];
    dsbi_gk_unpack(theta, p);
    for (size_t i = 0; i < n; i++)
        y[i] = (float)tanh(dsbi_gk_quantile(p[0], p[1], p[2], p[3], dsbi_rng_normal(rng)) / 10.0);
}

/* ---------------------------------------------------------------- normal-Wishart */

#define P DSBI_NW_P

/* lower Cholesky factor of the P x P matrix a (row-major); 0, or -1 if not
 * positive definite */
static int chol4(const double *a, double *l) {
    memset(l, 0, P * P * sizeof *l);
    for (int i = 0; i < P; i++)
        for (int j = 0; j <= i; j++) {
            double s = a[i * P + j];
            for (int k = 0; k < j; k++) s -= l[i * P + k] * l[j * P + k];
            if (i == j) {
                if (!(s > 0)) return -1;
                l[i * P + i] = sqrt(s);
            } else {
                l[i * P + j] = s / l[j * P + j];
            }
        }
    return 0;
}

void dsbi_nw_theta(const double *mu, const double *sigma, float *theta) {
    double l[P * P];
    if (chol4(sigma, l)) { /* not positive definite after rounding: no theta */
        for (int i = 0; i < DSBI_NW_DIM; i++) theta[i] = NAN;
        return;
    }
    for (int i = 0; i < P; i++) {
        theta[i] = (float)mu[i];
        theta[P + i] = (float)log(l[i * P + i]);
    }
    for (int i = 1, o = 2 * P; i < P; i++)
        for (int j = 0; j < i; j++) theta[o++] = (float)l[i * P + j];
}

void dsbi_nw_unpack(const float *theta, double *mu, double *l) {
    memset(l, 0, P * P * sizeof *l);
    for (int i = 0; i < P; i++) {
        mu[i] = theta[i];
        l[i * P + i] = exp(theta[P + i]);
    }
    for (int i = 1, o = 2 * P; i < P; i++)
        for (int j = 0; j < i; j++) l[i * P + j] = theta[o++];
}

/* Bartlett (1933): with Psi = U U^T (U lower) and A lower, A_ii^2 ~
 * chi^2(nu - i) (i = 0..P-1), A_ij ~ N(0, 1) below the diagonal,
 * W = U^{-T} A A^T U^{-1} ~ Wishart(nu, Psi^{-1}), so
 * Sigma = W^{-1} = B B^T with B = U A^{-T} ~ InvWishart(nu, Psi). */
int dsbi_inv_wishart_draw(dsbi_rng *rng, double nu, const double *psi, double *sigma) {
    double u[P * P], a[P * P] = {0}, ai[P * P] = {0}, b[P * P];
    if (chol4(psi, u)) return -1;
    for (int i = 0; i < P; i++) {
        a[i * P + i] = sqrt(2.0 * dsbi_normal_gamma_draw_gamma(rng, 0.5 * (nu - i)));
        for (int j = 0; j < i; j++) a[i * P + j] = dsbi_rng_normal(rng);
    }
    for (int j = 0; j < P; j++) /* A^{-1} (lower), column j by forward substitution */
        for (int i = j; i < P; i++) {
            double s = i == j ? 1.0 : 0.0;
            for (int k = j; k < i; k++) s -= a[i * P + k] * ai[k * P + j];
            ai[i * P + j] = s / a[i * P + i];
        }
    for (int i = 0; i < P; i++) /* B = U A^{-T}: B_ij = sum_k U_ik Ainv_jk */
        for (int j = 0; j < P; j++) {
            double s = 0;
            for (int k = 0; k < P; k++) s += u[i * P + k] * ai[j * P + k];
            b[i * P + j] = s;
        }
    for (int i = 0; i < P; i++)
        for (int j = 0; j < P; j++) {
            double s = 0;
            for (int k = 0; k < P; k++) s += b[i * P + k] * b[j * P + k];
            sigma[i * P + j] = s;
        }
    return 0;
}

dsbi_nw_post dsbi_nw_posterior(const float *y, size_t n) {
    dsbi_nw_post q = {.kappa_n = 1.0 + (double)n, .nu_n = 6.0 + (double)n};
    double ybar[P] = {0}, dn = (double)n;
    for (size_t r = 0; r < n; r++)
        for (int i = 0; i < P; i++) ybar[i] += y[r * P + i];
    for (int i = 0; i < P; i++) {
        ybar[i] = n ? ybar[i] / dn : 0.0;
        q.mu_n[i] = dn * ybar[i] / (1.0 + dn);
    }
    for (int i = 0; i < P; i++)
        for (int j = 0; j < P; j++) {
            double s = 0;
            for (size_t r = 0; r < n; r++) s += (y[r * P + i] - ybar[i]) * (y[r * P + j] - ybar[j]);
            q.psi_n[i * P + j] = (i == j) + s + dn / (1.0 + dn) * ybar[i] * ybar[j];
        }
    return q;
}

void dsbi_nw_sample(const dsbi_nw_post *q, dsbi_rng *rng, size_t n_draws, float *theta) {
    for (size_t d = 0; d < n_draws; d++) {
        double sigma[P * P], l[P * P], mu[P];
        if (dsbi_inv_wishart_draw(rng, q->nu_n, q->psi_n, sigma) || chol4(sigma, l)) {
            for (int i = 0; i < DSBI_NW_DIM; i++) theta[d * DSBI_NW_DIM + i] = NAN;
            continue;
        }
        double z[P], sk = 1.0 / sqrt(q->kappa_n);
        for (int i = 0; i < P; i++) z[i] = dsbi_rng_normal(rng);
        for (int i = 0; i < P; i++) {
            double s = 0;
            for (int k = 0; k <= i; k++) s += l[i * P + k] * z[k];
            mu[i] = q->mu_n[i] + sk * s;
        }
        dsbi_nw_theta(mu, sigma, theta + d * DSBI_NW_DIM);
    }
}

void dsbi_nw_prior(dsbi_rng *rng, float *theta) {
    dsbi_nw_post prior = dsbi_nw_posterior(NULL, 0);
    dsbi_nw_sample(&prior, rng, 1, theta);
}

void dsbi_nw_simulate(dsbi_rng *rng, const float *theta, size_t n, float *y) {
    double mu[P], l[P * P];
    dsbi_nw_unpack(theta, mu, l);
    for (size_t r = 0; r < n; r++) {
        double z[P];
        for (int i = 0; i < P; i++) z[i] = dsbi_rng_normal(rng);
        for (int i = 0; i < P; i++) {
            double s = mu[i];
            for (int k = 0; k <= i; k++) s += l[i * P + k] * z[k];
            y[r * P + i] = (float)s;
        }
    }
}

#undef P

/* ---------------------------------------------------------------- stochastic volatility */

void dsbi_sv_prior(dsbi_rng *rng, float *theta) {
    theta[0] = (float)(-1.0 + 0.5 * dsbi_rng_normal(rng));
    theta[1] = (float)(0.9 + 0.099 * dsbi_rng_uniform(rng));
    theta[2] = (float)(0.1 + 0.2 * dsbi_rng_uniform(rng));
}

void dsbi_sv_simulate(dsbi_rng *rng, const float *theta, size_t L, float *y, double *h) {
    double mu = theta[0], phi = theta[1], sg = theta[2];
    double x = mu + sg * dsbi_rng_normal(rng);
    for (size_t t = 0; t < L; t++) {
        if (t) x = mu + phi * (x - mu) + sg * dsbi_rng_normal(rng);
        if (h) h[t] = x;
        y[t] = (float)(exp(0.5 * x) * dsbi_rng_normal(rng));
    }
}

/* ---------------------------------------------------------------- sbibm ODEs, raw */

/* the sbibm tasks' solver settings (tasks/sbibm.c) */
static const dsbi_ode_config raw_ode = {1e-8, 1e-8, 0, 200000};

static void lv_rhs(void *ctx, double t, const double *y, double *dy) {
    (void)t;
    const double *k = ctx;
    dy[0] = k[0] * y[0] - k[1] * y[0] * y[1];
    dy[1] = -k[2] * y[1] + k[3] * y[0] * y[1];
}

int dsbi_lv_raw_solve(const float *theta, double *u) {
    double k[4] = {theta[0], theta[1], theta[2], theta[3]}, y0[2] = {30.0, 1.0};
    double t_out[DSBI_LV_RAW_T];
    for (int j = 0; j < DSBI_LV_RAW_T; j++) t_out[j] = 0.1 * j;
    int st = dsbi_ode_solve(lv_rhs, k, 2, 0.0, y0, t_out, DSBI_LV_RAW_T, &raw_ode, u, NULL);
    for (int j = 0; j < 2 * DSBI_LV_RAW_T; j++) u[j] = st ? NAN : (double)(float)u[j];
    return st;
}

int dsbi_lv_raw_simulate(dsbi_rng *rng, const float *theta, float *y) {
    double u[2 * DSBI_LV_RAW_T];
    int st = dsbi_lv_raw_solve(theta, u);
    for (int j = 0; j < 2 * DSBI_LV_RAW_T; j++) {
        double v = u[j] < 1e-10 ? 1e-10 : u[j] > 1e4 ? 1e4 : u[j];
        y[j] = st ? NAN : (float)exp(log(v) + 0.1 * dsbi_rng_normal(rng));
    }
    return st;
}

static void sir_rhs(void *ctx, double t, const double *y, double *dy) {
    (void)t;
    const double *k = ctx, N = 1e6;
    double inf = k[0] * y[0] * y[1] / N, rec = k[1] * y[1];
    dy[0] = -inf;
    dy[1] = inf - rec;
    dy[2] = rec;
}

int dsbi_sir_raw_solve(const float *theta, double *I) {
    double k[2] = {theta[0], theta[1]}, y0[3] = {999999.0, 1.0, 0.0};
    double t_out[DSBI_SIR_RAW_T], y[3 * DSBI_SIR_RAW_T];
    for (int j = 0; j < DSBI_SIR_RAW_T; j++) t_out[j] = j;
    int st = dsbi_ode_solve(sir_rhs, k, 3, 0.0, y0, t_out, DSBI_SIR_RAW_T, &raw_ode, y, NULL);
    for (int j = 0; j < DSBI_SIR_RAW_T; j++) I[j] = st ? NAN : (double)(float)y[3 * j + 1];
    return st;
}

int dsbi_sir_raw_simulate(dsbi_rng *rng, const float *theta, float *y) {
    double I[DSBI_SIR_RAW_T];
    int st = dsbi_sir_raw_solve(theta, I);
    for (int j = 0; j < DSBI_SIR_RAW_T; j++) {
        double p = I[j] / 1e6;
        p = p < 0 ? 0 : p > 1 ? 1 : p;
        y[j] = st ? NAN : (float)dsbi_binomial_draw(rng, 1000, p);
    }
    return st;
}
