/*
 * Diffused prior scores in closed form (ALGORITHMS.md 1.5) for the path
 * z = alpha theta + sigma eps: the score of lambda_t = prior * N(0, sigma^2)
 * after scaling by alpha, and the precision of the backward kernel
 * lambda_{0|t}(theta | z). In the paper's VP notation a = alpha^2, v = sigma^2;
 * the formulas below hold for any (alpha, sigma) (VP, VE, flow).
 */
#ifndef DSBI_PRIOR_SCORE_H
#define DSBI_PRIOR_SCORE_H

#include "internal.h"

/* A prior in the coordinates the diffusion runs in (the model's standardized
 * theta). kind is DSBI_PRIOR_NORMAL or DSBI_PRIOR_BOX (diffsbi.h). NORMAL:
 * mean (D) and either var (D, diagonal) or cov and cov_inv (D x D, full; var
 * NULL). BOX: lo, hi (D each, lo < hi), independent uniforms. Borrowed. */
typedef struct dsbi_dprior {
    int kind;
    size_t D;
    const double *mean, *var, *cov, *cov_inv;
    const double *lo, *hi;
} dsbi_dprior;

/* Scratch doubles dsbi_dprior_eval needs (full covariance only: D^2 + D). */
size_t dsbi_dprior_work(const dsbi_dprior *p);

/* Score of the diffused prior at z (D) into score (D); backward-kernel
 * precision into prec (D x D, may be NULL). Gaussian N(m, S):
 * score = -(a S + v I)^{-1}(z - alpha m), prec = S^{-1} + (a/v) I. Box: see
 * dsbi_box_score. Returns 0, or -1 if a + v covariance is not positive
 * definite (full covariance only). */
int dsbi_dprior_eval(const dsbi_dprior *p, double alpha, double sigma, const double *z,
                     double *score, double *prec, double *work);

/* One coordinate of the box prior U[lo, hi]: with u = z/alpha, tau = sigma/alpha,
 * A = (lo - u)/tau, B = (hi - u)/tau, Z = Phi(B) - Phi(A):
 *   score = (phi(A) - phi(B)) / (sigma Z)      (= d/dz log[(Phi(B) - Phi(A))/alpha])
 *   var   = tau^2 [1 + (A phi(A) - B phi(B))/Z - ((phi(A) - phi(B))/Z)^2]
 * the variance of the backward kernel, a normal N(u, tau^2) truncated to
 * [lo, hi]; *prec = 1/var. Computed in the tails through log Phi and the
 * Mills ratio (no 1e-6 guard as in the reference code; finite for every z). */
void dsbi_box_score(double lo, double hi, double alpha, double sigma, double z, double *score,
                    double *prec);

/* log(1 - Phi(x)), accurate for all x (erfc, then a continued fraction). */
double dsbi_log_ndtr_upper(double x);

#endif
