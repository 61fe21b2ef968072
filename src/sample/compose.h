/*
 * Composition of individual posterior scores into the score of the diffused
 * tall posterior p_t(theta | x_1..n) (ALGORITHMS.md 1.1-1.4, 1.7):
 *   (COMP)   Lambda = sum_j P_j + (1 - n) P_prior
 *            score  = Lambda^{-1} [ sum_j P_j s_j + (1 - n) P_prior s_prior ]
 *   (F-NPSE) score  = sum_j s_j + (1 - n) s_prior
 * with backward-kernel precisions P (GAUSS: C_j^{-1} + (a/v) I; JAC:
 * (a/v)(I + v sym(J_j))^{-1}), a = alpha^2, v = sigma^2. All in double.
 */
#ifndef DSBI_COMPOSE_H
#define DSBI_COMPOSE_H

#include "internal.h"
#include "gen/diffusion.h"

/* ---------------------------------------------------------------- small dense linear algebra */

/* Cholesky A = L L^T in place (row-major D x D; the lower triangle receives
 * L, the strict upper triangle is zeroed). Returns 0, or -1 if A is not
 * (numerically) positive definite. */
int dsbi_chol(double *A, size_t D);
/* Solves L L^T x = b in place. */
void dsbi_chol_solve(const double *L, double *b, size_t D);
/* A <- A^{-1} for symmetric positive definite A; work holds D * D + D doubles.
 * Returns 0 or -1 (not positive definite, A then undefined). */
int dsbi_spd_inverse(double *A, size_t D, double *work);

/* ---------------------------------------------------------------- precisions */

/* GAUSS: P = C^{-1} + (alpha^2 / sigma^2) I from the inverse covariance C_inv. */
void dsbi_gauss_precision(const double *C_inv, double alpha, double sigma, size_t D, double *P);
/* JAC: P = (a/v) (I + v Js)^{-1}, Js = (J + J^T)/2, J = d score / d z
 * (row k = gradient of score component k). work: D * D + D doubles. Returns -1
 * if I + v Js is not positive definite (the kernel covariance
 * (v/a)(I + v Js) must be), else 0. */
int dsbi_jac_precision(const double *J, double alpha, double sigma, size_t D, double *P,
                       double *work);

/* ---------------------------------------------------------------- composition */

/* Accumulator of (COMP) and (F-NPSE) for one state z, fed observation by
 * observation so that n never has to fit in memory at once. Memory is the
 * caller's: lam D x D, rhs D, fsum D. */
typedef struct dsbi_comp {
    size_t D;
    double *lam, *rhs, *fsum;
} dsbi_comp;

void dsbi_comp_reset(dsbi_comp *c);
/* Adds w P s to the right-hand side, w P to Lambda and w s to the F-NPSE sum
 * (w = 1 for an observation, 1 - n for the prior). P NULL: F-NPSE only. */
void dsbi_comp_add(dsbi_comp *c, double w, const double *P, const double *s);
/* Adds w (Pd + k I) with a diagonal Pd (D values, may be NULL) and scalar k,
 * and its product with s: the GAUSS form with shared C_j^{-1} handled apart. */
void dsbi_comp_add_diag(dsbi_comp *c, double w, const double *Pd, double k, const double *s);
/* score <- Lambda^{-1} rhs by Cholesky (Lambda is destroyed). If Lambda is not
 * positive definite the score falls back to the F-NPSE sum for this state
 * and 1 is returned (the caller counts these), else 0. */
int dsbi_comp_solve(dsbi_comp *c, double *score);

/* One-shot (COMP) for n observations: P n x D x D, s n x D, prior P_prior
 * (D x D) and s_prior (D); work: D * D + 2 D doubles. Returns as
 * dsbi_comp_solve. */
int dsbi_compose_score(size_t D, size_t n, const double *P, const double *s,
                       const double *P_prior, const double *s_prior, double *score, double *work);
/* F-NPSE: score = sum_j s_j + (1 - n) s_prior. */
void dsbi_fnpse_score(size_t D, size_t n, const double *s, const double *s_prior, double *score);

/* ---------------------------------------------------------------- annealed Langevin */

/* A score field: writes the score at (z, t) of B states (B x D) into score
 * (B x D doubles, the buffer given to dsbi_annealed_langevin). */
typedef void (*dsbi_score_fn)(void *ctx, const float *z, double t, size_t B, double *score);

/* Annealed Langevin as F-NPSE runs it (ALGORITHMS.md 1.7), on the schedule s:
 * K levels t_k = 1 - k/K; gamma = abar(t_k)/abar(t_{k+1}) with
 * abar = alpha^2/(alpha^2 + sigma^2) (= alpha^2 for VP schedules); step
 * delta = tau (1 - gamma)/sqrt(gamma) (alpha^2 + sigma^2); L steps
 * z <- z + delta score(z, t_k) + sqrt(2 delta) N(0, I) per level; finally
 * z <- z / alpha(t_{K-1}) (sigma there is tiny). z: B x D, in place; score:
 * B x D doubles handed to fn. Lives here (not in tall.c) so that any score,
 * e.g. an exact one in a benchmark, runs through the same schedule. */
void dsbi_annealed_langevin(const dsbi_sched *s, size_t K, size_t L, double tau, dsbi_score_fn fn,
                            void *ctx, float *z, size_t B, size_t D, double *score, dsbi_rng *rng);

#endif
