/*
 * The composed tall-data score (ALGORITHMS.md 1.2, (COMP)), its F-NPSE
 * special case (1.7) and the GAUSS / JAC backward precisions (1.3, 1.4), with
 * the small Cholesky kernels they need. Positive-definiteness repair: sbi
 * shifts negative eigenvalues of Lambda into every P_j (1.10); we keep it
 * simpler and robust: when the Cholesky factorisation of Lambda fails, that
 * state uses the F-NPSE sum (exact at t = 0, finite everywhere) and the
 * caller counts it. JAC symmetrises the Jacobian as sbi's jac_gauss does.
 */
#include "sample/compose.h"
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- linear algebra */

int dsbi_chol(double *A, size_t D) {
    for (size_t j = 0; j < D; j++) {
        double d = A[j * D + j];
        for (size_t k = 0; k < j; k++) d -= A[j * D + k] * A[j * D + k];
        /* relative pivot floor: a pivot lost to rounding means "not PD" */
        if (!(d > 1e-13 * fabs(A[j * D + j])) || !isfinite(d)) return -1;
        d = sqrt(d);
        A[j * D + j] = d;
        for (size_t i = j + 1; i < D; i++) {
            double s = A[i * D + j];
            for (size_t k = 0; k < j; k++) s -= A[i * D + k] * A[j * D + k];
            A[i * D + j] = s / d;
        }
        for (size_t i = 0; i < j; i++) A[i * D + j] = 0.0;
    }
    return 0;
}

void dsbi_chol_solve(const double *L, double *b, size_t D) {
    for (size_t i = 0; i < D; i++) {
        double s = b[i];
        for (size_t k = 0; k < i; k++) s -= L[i * D + k] * b[k];
        b[i] = s / L[i * D + i];
    }
    for (size_t i = D; i-- > 0;) {
        double s = b[i];
        for (size_t k = i + 1; k < D; k++) s -= L[k * D + i] * b[k];
        b[i] = s / L[i * D + i];
    }
}

int dsbi_spd_inverse(double *A, size_t D, double *work) {
    memcpy(work, A, D * D * sizeof(double));
    if (dsbi_chol(work, D)) return -1;
    double *col = A, *e = work + D * D; /* A column by column through unit vectors */
    for (size_t j = 0; j < D; j++) {
        for (size_t i = 0; i < D; i++) e[i] = i == j ? 1.0 : 0.0;
        dsbi_chol_solve(work, e, D);
        for (size_t i = 0; i < D; i++) col[i * D + j] = e[i];
    }
    /* symmetrise away rounding */
    for (size_t i = 0; i < D; i++)
        for (size_t j = i + 1; j < D; j++) {
            double m = 0.5 * (A[i * D + j] + A[j * D + i]);
            A[i * D + j] = A[j * D + i] = m;
        }
    return 0;
}

/* ---------------------------------------------------------------- precisions */

void dsbi_gauss_precision(const double *C_inv, double alpha, double sigma, size_t D, double *P) {
    double k = alpha * alpha / (sigma * sigma);
    memcpy(P, C_inv, D * D * sizeof(double));
    for (size_t d = 0; d < D; d++) P[d * D + d] += k;
}

int dsbi_jac_precision(const double *J, double alpha, double sigma, size_t D, double *P,
                       double *work) {
    double v = sigma * sigma, k = alpha * alpha / v;
    for (size_t i = 0; i < D; i++)
        for (size_t j = 0; j < D; j++)
            P[i * D + j] = (i == j ? 1.0 : 0.0) + 0.5 * v * (J[i * D + j] + J[j * D + i]);
    if (dsbi_spd_inverse(P, D, work)) return -1;
    for (size_t i = 0; i < D * D; i++) P[i] *= k;
    return 0;
}

/* ---------------------------------------------------------------- composition */

void dsbi_comp_reset(dsbi_comp *c) {
    memset(c->lam, 0, c->D * c->D * sizeof(double));
    memset(c->rhs, 0, c->D * sizeof(double));
    memset(c->fsum, 0, c->D * sizeof(double));
}

void dsbi_comp_add(dsbi_comp *c, double w, const double *P, const double *s) {
    const size_t D = c->D;
    for (size_t i = 0; i < D; i++) c->fsum[i] += w * s[i];
    if (!P) return;
    for (size_t i = 0; i < D; i++) {
        double acc = 0.0;
        for (size_t j = 0; j < D; j++) {
            acc += P[i * D + j] * s[j];
            c->lam[i * D + j] += w * P[i * D + j];
        }
        c->rhs[i] += w * acc;
    }
}

void dsbi_comp_add_diag(dsbi_comp *c, double w, const double *Pd, double k, const double *s) {
    const size_t D = c->D;
    for (size_t i = 0; i < D; i++) {
        double p = (Pd ? Pd[i] : 0.0) + k;
        c->lam[i * D + i] += w * p;
        c->rhs[i] += w * p * s[i];
        c->fsum[i] += w * s[i];
    }
}

int dsbi_comp_solve(dsbi_comp *c, double *score) {
    const size_t D = c->D;
    if (dsbi_chol(c->lam, D) == 0) {
        memcpy(score, c->rhs, D * sizeof(double));
        dsbi_chol_solve(c->lam, score, D);
        int ok = 1;
        for (size_t i = 0; i < D; i++) ok &= isfinite(score[i]);
        if (ok) return 0;
    }
    memcpy(score, c->fsum, D * sizeof(double));
    return 1;
}

int dsbi_compose_score(size_t D, size_t n, const double *P, const double *s,
                       const double *P_prior, const double *s_prior, double *score, double *work) {
    dsbi_comp c = {D, work, work + D * D, work + D * D + D};
    dsbi_comp_reset(&c);
    for (size_t j = 0; j < n; j++) dsbi_comp_add(&c, 1.0, P + j * D * D, s + j * D);
    dsbi_comp_add(&c, 1.0 - (double)n, P_prior, s_prior);
    return dsbi_comp_solve(&c, score);
}

void dsbi_fnpse_score(size_t D, size_t n, const double *s, const double *s_prior, double *score) {
    for (size_t i = 0; i < D; i++) {
        double acc = (1.0 - (double)n) * s_prior[i];
        for (size_t j = 0; j < n; j++) acc += s[j * D + i];
        score[i] = acc;
    }
}

/* ---------------------------------------------------------------- annealed Langevin */

void dsbi_annealed_langevin(const dsbi_sched *s, size_t K, size_t L, double tau, dsbi_score_fn fn,
                            void *ctx, float *z, size_t B, size_t D, double *score, dsbi_rng *rng) {
    double alpha = 1.0, sigma = 1.0;
    for (size_t k = 0; k < K; k++) {
        double t = 1.0 - (double)k / (double)K, tn = 1.0 - (double)(k + 1) / (double)K, a2, s2;
        dsbi_sched_alpha_sigma(s, dsbi_sched_lambda(s, t), &alpha, &sigma);
        dsbi_sched_alpha_sigma(s, dsbi_sched_lambda(s, tn), &a2, &s2);
        double ab = alpha * alpha / (alpha * alpha + sigma * sigma), ab2 = a2 * a2 / (a2 * a2 + s2 * s2);
        double gamma = ab / ab2;
        double delta = tau * (1.0 - gamma) / sqrt(gamma) * (alpha * alpha + sigma * sigma);
        float noise = (float)sqrt(2.0 * delta);
        for (size_t l = 0; l < L; l++) {
            fn(ctx, z, t, B, score);
            for (size_t i = 0; i < B * D; i++)
                z[i] = (float)(z[i] + delta * score[i]) + noise * (float)dsbi_rng_normal(rng);
        }
    }
    for (size_t i = 0; i < B * D; i++) z[i] = (float)(z[i] / alpha);
}
