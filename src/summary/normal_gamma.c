/*
 * Conjugate normal-gamma task (ALGORITHMS.md 2.7; cDiff's "normal-gamma", 2.5):
 * tau = 1/sigma^2 ~ Gamma(4, rate 4), mu | tau ~ N(0, 1/tau), y_i ~ N(mu, 1/tau),
 * theta = (mu, ln sigma). With n points, ybar and S = sum (y - ybar)^2 the
 * posterior is normal-gamma: kappa_n = 1 + n, mu_n = n ybar / (1 + n),
 * a_n = 4 + n/2, b_n = 4 + S/2 + n ybar^2 / (2 (1 + n)); tau | y ~ Gamma(a_n, b_n),
 * mu | tau, y ~ N(mu_n, 1/(kappa_n tau)). An exact reference for summary
 * networks on sets of variable size.
 */
#include "summary/summary.h"
#include <math.h>

/* Marsaglia & Tsang (2000), "A simple method for generating gamma variables";
 * shape < 1 by the boost Gamma(a) = Gamma(a + 1) U^(1/a) */
double dsbi_normal_gamma_draw_gamma(dsbi_rng *rng, double shape) {
    if (shape < 1.0)
        return dsbi_normal_gamma_draw_gamma(rng, shape + 1.0) *
               pow(dsbi_rng_uniform(rng), 1.0 / shape);
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = dsbi_rng_normal(rng), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = dsbi_rng_uniform(rng);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return d * v;
    }
}

void dsbi_normal_gamma_simulate(dsbi_rng *rng, size_t n, float *theta, float *y) {
    double tau = dsbi_normal_gamma_draw_gamma(rng, 4.0) / 4.0, sigma = 1.0 / sqrt(tau);
    double mu = sigma * dsbi_rng_normal(rng);
    theta[0] = (float)mu;
    theta[1] = (float)log(sigma);
    for (size_t i = 0; i < n; i++) y[i] = (float)(mu + sigma * dsbi_rng_normal(rng));
}

dsbi_normal_gamma_post dsbi_normal_gamma_posterior(const float *y, size_t n) {
    double s = 0.0, S = 0.0;
    for (size_t i = 0; i < n; i++) s += y[i];
    double ybar = n ? s / (double)n : 0.0, dn = (double)n;
    for (size_t i = 0; i < n; i++) S += (y[i] - ybar) * (y[i] - ybar);
    return (dsbi_normal_gamma_post){.mu_n = dn * ybar / (1.0 + dn),
                                    .kappa_n = 1.0 + dn,
                                    .a_n = 4.0 + dn / 2.0,
                                    .b_n = 4.0 + S / 2.0 + dn * ybar * ybar / (2.0 * (1.0 + dn))};
}

void dsbi_normal_gamma_sample(const dsbi_normal_gamma_post *post, dsbi_rng *rng, size_t n_draws,
                              float *theta) {
    for (size_t k = 0; k < n_draws; k++) {
        double tau = dsbi_normal_gamma_draw_gamma(rng, post->a_n) / post->b_n;
        theta[2 * k] = (float)(post->mu_n + dsbi_rng_normal(rng) / sqrt(post->kappa_n * tau));
        theta[2 * k + 1] = (float)(-0.5 * log(tau));
    }
}

void dsbi_normal_gamma_moments(const float *y, size_t n, dsbi_rng *rng, size_t n_draws,
                               double mean[2], double sd[2]) {
    dsbi_normal_gamma_post post = dsbi_normal_gamma_posterior(y, n);
    double s[2] = {0, 0}, s2[2] = {0, 0};
    for (size_t k = 0; k < n_draws; k++) {
        float th[2];
        dsbi_normal_gamma_sample(&post, rng, 1, th);
        for (int j = 0; j < 2; j++) {
            s[j] += th[j];
            s2[j] += (double)th[j] * th[j];
        }
    }
    for (int j = 0; j < 2; j++) {
        mean[j] = s[j] / (double)n_draws;
        double v = s2[j] / (double)n_draws - mean[j] * mean[j];
        sd[j] = sqrt(v > 0.0 ? v : 0.0);
    }
}
