/*
 * Minibatch optimal-transport coupling for flow-matching training (Tong et
 * al. 2023; Pooladian et al. 2023), in its conditional form (C^2OT, Cheng &
 * Schwing 2025): entropic OT by log-stabilised Sinkhorn on a B x B cost,
 * rounded to a permutation that reassigns the noise rows of a batch. See
 * ot.c for the reasoning behind the conditional cost.
 */
#ifndef DSBI_OT_H
#define DSBI_OT_H

#include "internal.h"

/* Entropic regularisation relative to the median theta-noise cost, the
 * Sinkhorn iteration cap and its tolerance on the marginals (the largest
 * |B * column sum - 1|). Measured in ot.c's header comment. */
#define DSBI_OT_REG_REL 0.2
#define DSBI_OT_MAX_ITER 30
#define DSBI_OT_TOL 1e-2
/* Largest batch: the workspace is 12 B^2 bytes (768 MiB at 8192). */
#define DSBI_OT_MAX_BATCH 8192

/* Workspace for batches of up to B rows of D parameters: O(B^2) floats,
 * allocated once (one block) and reused every step. */
typedef struct dsbi_ot_ws {
    size_t B, D;
    float *cost;    /* B x B: total cost C = M + w X */
    float *aux;     /* B x B: X = |x_i - x_j|^2, then selection scratch */
    float *kern;    /* B x B: exp((f_i + g_j - C_ij) / reg), flushed to 0 below e^-60 */
    double *f, *g;  /* B, B: absorbed dual potentials (cost units) */
    float *u, *v, *s; /* B each: Sinkhorn scalings and column sums */
    size_t *perm;   /* B: row i receives noise row perm[i] */
    struct dsbi_ot_rank *rank; /* B: rows with their best column, by decreasing confidence */
    unsigned char *taken; /* B: columns already assigned */
    float *eps_tmp; /* B x D */
    void *block;
} dsbi_ot_ws;

typedef struct dsbi_ot_stats {
    size_t iters;        /* Sinkhorn iterations run */
    size_t absorptions;  /* kernel rebuilds after absorbing u, v into the duals */
    int converged;       /* marginal error reached DSBI_OT_TOL */
    double marg_err;     /* largest |B * column sum - 1| at exit (rows are exact) */
    double reg;          /* regularisation used */
    double weight;       /* condition weight w of C = M + w X */
    double cost_before;  /* mean |theta_i - eps_i|^2 of the drawn pairing */
    double cost_after;   /* the same after coupling */
    size_t moved;        /* rows whose noise changed */
} dsbi_ot_stats;

int dsbi_ot_ws_create(dsbi_ot_ws *w, size_t B, size_t D);
void dsbi_ot_ws_free(dsbi_ot_ws *w);

/* C (Ba x Bb) = squared Euclidean distances between the rows of a (Ba x D)
 * and of b (Bb x D). */
void dsbi_ot_sqdist(float *C, const float *a, const float *b, size_t Ba, size_t Bb, size_t D);

/* The C^2OT condition weight w for M (B x B, M_ij = |theta_i - eps_j|^2)
 * and X (B x B, condition distances): the smallest w >= 0 such that at most
 * a fraction `ratio` of the off-diagonal pairs cost no more than the row's
 * own pairing, M_ij + w X_ij <= M_ii. scratch holds B x B floats. */
double dsbi_ot_condition_weight(const float *M, const float *X, size_t B, double ratio,
                                float *scratch);

/* Entropic OT with uniform marginals on the B x B cost C (row-major, rows =
 * batch rows, columns = noise rows) at regularisation reg, in the workspace
 * (kern, u, v hold the plan P_ij = u_i kern_ij v_j / B). Returns
 * DSBI_STATUS_ERR_NUMERIC if a row or column of the kernel vanished. */
int dsbi_ot_sinkhorn(dsbi_ot_ws *w, const float *C, size_t B, double reg, size_t max_iter,
                     double tol, dsbi_ot_stats *st);
/* The plan of the last dsbi_ot_sinkhorn as a dense B x B matrix (sums to 1). */
void dsbi_ot_plan(const dsbi_ot_ws *w, size_t B, double *P);
/* A permutation from the last plan into w->perm: each row takes its most
 * probable column, rows in order of decreasing confidence, and a row whose
 * column is taken takes its most probable free one. */
void dsbi_ot_round(dsbi_ot_ws *w, size_t B);

/* The whole coupling of one training batch: reorders the noise rows eps
 * (B x D) in place so that batch row i (theta_i, x_i) gets the noise chosen
 * by the conditional OT plan with condition ratio `ratio` (C^2OT; 0.5 or more
 * = unconditional OT). theta is B x D, x is B x K (standardized). On a
 * numerical failure eps is left as drawn (the independent coupling) and the
 * status says so. st may be NULL. */
int dsbi_ot_couple(dsbi_ot_ws *w, const float *theta, const float *x, float *eps, size_t B,
                   size_t D, size_t K, double ratio, dsbi_ot_stats *st);

#endif
