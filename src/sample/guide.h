/*
 * Constraint guidance on the denoised estimate (ANCHORS.md a.5) and the small
 * expression language of the CLI's --guide option (guide.c).
 */
#ifndef DSBI_GUIDE_H
#define DSBI_GUIDE_H

#include "internal.h"

/* Applies the guides to x_hat (B x D, standardized) at noise (alpha, sigma):
 * x_hat -= strength * sigmoid(s c) * grad_xhat c with s = scale alpha^2 /
 * sigma^2, c and its gradient evaluated at theta = x_hat * sd + mean (user
 * space; grad_xhat c = sd * grad_theta c). */
void dsbi_guide_apply(const dsbi_guide *g, size_t n_guide, const float *mean, const float *sd,
                      size_t D, double alpha, double sigma, float *xhat, size_t B);

#endif
