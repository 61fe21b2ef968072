/*
 * Closed-form diffused prior scores and backward-kernel precisions
 * (ALGORITHMS.md 1.5) for Gaussian (diagonal or full covariance) and box
 * priors. The box case is the truncated normal N(z/alpha, sigma^2/alpha^2) on
 * [lo, hi]: score = E[theta|z] Tweedie-inverted, precision = 1/Var. Its
 * moments are computed stably in the tails (interval flipped to the lower
 * tail, ratios through log(1 - Phi) and the inverse Mills ratio), so points
 * far outside the box at small sigma give finite scores pointing back in.
 */
#include "sample/prior_score.h"
#include "sample/compose.h"
#include <math.h>
#include <string.h>

#define LOG_SQRT_2PI 0.91893853320467274178

/* phi(x) / (1 - Phi(x)) for x >= 0: erfc below 5, else the continued
 * fraction (1 - Phi)/phi = 1/(x + 1/(x + 2/(x + 3/(x + ...)))) */
static double inv_mills(double x) {
    if (x < 5.0) return exp(-0.5 * x * x - LOG_SQRT_2PI) / (0.5 * erfc(x / M_SQRT2));
    double f = x;
    for (int k = 60; k >= 1; k--) f = x + (double)k / f;
    return f;
}

double dsbi_log_ndtr_upper(double x) {
    if (x < 5.0) return log(0.5 * erfc(x / M_SQRT2));
    return -0.5 * x * x - LOG_SQRT_2PI - log(inv_mills(x));
}

/* m1 = (phi(a) - phi(b))/Z, m2 = (a phi(a) - b phi(b))/Z for the standard
 * normal truncated to [a, b], Z = Phi(b) - Phi(a). */
static void trunc_moments(double a, double b, double *m1, double *m2) {
    int flip = 0;
    if (a > 0.0) { /* mirror into the lower tail: m1 changes sign, m2 does not */
        double t = a;
        a = -b;
        b = -t;
        flip = 1;
    }
    if (b > 0.0) { /* the interval contains 0: no tail cancellation */
        double Z = 0.5 * (erf(b / M_SQRT2) - erf(a / M_SQRT2));
        double pa = exp(-0.5 * a * a - LOG_SQRT_2PI), pb = exp(-0.5 * b * b - LOG_SQRT_2PI);
        *m1 = (pa - pb) / Z;
        *m2 = (a * pa - b * pb) / Z;
    } else { /* a < b <= 0: p = -b, q = -a, Phi(b) = Q(p), Phi(a) = Q(q) = rho Q(p) */
        double p = -b, q = -a;
        double lr = dsbi_log_ndtr_upper(q) - dsbi_log_ndtr_upper(p);
        double rho = exp(lr), one_m = -expm1(lr);
        double rq = inv_mills(q), rp = inv_mills(p);
        double t1 = rho > 0.0 ? rq * rho : 0.0;
        *m1 = (t1 - rp) / one_m;
        *m2 = (a * t1 - b * rp) / one_m;
    }
    if (flip) *m1 = -*m1;
}

void dsbi_box_score(double lo, double hi, double alpha, double sigma, double z, double *score,
                    double *prec) {
    double u = z / alpha, tau = sigma / alpha;
    double A = (lo - u) / tau, B = (hi - u) / tau, m1, m2;
    trunc_moments(A, B, &m1, &m2);
    *score = m1 / sigma;
    if (prec) {
        double r = 1.0 + m2 - m1 * m1;
        /* deep in a tail the kernel is exponential with rate d/tau (d the
           distance to the box in units of tau): var -> tau^2 / d^2, and the
           difference above cancels; use the limit there */
        double d = fmin(fabs(A), fabs(B));
        int outside = A > 0.0 || B < 0.0;
        if (outside && d > 1e3) r = 1.0 / (d * d);
        if (!(r > 0.0)) r = 1e-300;
        *prec = 1.0 / (tau * tau * r);
    }
}

size_t dsbi_dprior_work(const dsbi_dprior *p) {
    return p->kind == DSBI_PRIOR_NORMAL && !p->var ? p->D * p->D + p->D : 0;
}

int dsbi_dprior_eval(const dsbi_dprior *p, double alpha, double sigma, const double *z,
                     double *score, double *prec, double *work) {
    const size_t D = p->D;
    const double a = alpha * alpha, v = sigma * sigma;
    if (prec) memset(prec, 0, D * D * sizeof(double));
    if (p->kind == DSBI_PRIOR_BOX) {
        for (size_t d = 0; d < D; d++)
            dsbi_box_score(p->lo[d], p->hi[d], alpha, sigma, z[d], &score[d],
                           prec ? &prec[d * D + d] : NULL);
        return 0;
    }
    if (p->var) {
        for (size_t d = 0; d < D; d++) {
            score[d] = -(z[d] - alpha * p->mean[d]) / (a * p->var[d] + v);
            if (prec) prec[d * D + d] = 1.0 / p->var[d] + a / v;
        }
        return 0;
    }
    /* full covariance: Cholesky of a S + v I, then solve */
    double *L = work, *r = work + D * D;
    for (size_t i = 0; i < D * D; i++) L[i] = a * p->cov[i];
    for (size_t d = 0; d < D; d++) {
        L[d * D + d] += v;
        r[d] = z[d] - alpha * p->mean[d];
    }
    if (dsbi_chol(L, D)) return -1;
    dsbi_chol_solve(L, r, D);
    for (size_t d = 0; d < D; d++) score[d] = -r[d];
    if (prec) {
        memcpy(prec, p->cov_inv, D * D * sizeof(double));
        for (size_t d = 0; d < D; d++) prec[d * D + d] += a / v;
    }
    return 0;
}
