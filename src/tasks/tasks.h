/* Registry of built-in tasks: simulator callbacks plus what the benchmark
 * needs about each prior (log-density, support, the transform to an
 * unconstrained space) and, for tasks with fixed arrays, a loader. */
#ifndef DSBI_TASKS_H
#define DSBI_TASKS_H
#include "internal.h"

typedef struct dsbi_task_entry {
    dsbi_simulator sim;
    const char *description;
    /* log prior density of one theta row (dim_theta values); -INFINITY outside the support */
    double (*log_prior)(const float *theta);
    double lower, upper;        /* support, the same for every coordinate (+-INFINITY if open) */
    dsbi_transform transform;   /* unconstrained space used by the benchmark's MCMC methods */
    int sbibm;                  /* 1: reference posteriors exist under the sbibm folder */
    /* loads fixed arrays on first use (thread-safe); NULL if none. Returns a status. */
    int (*setup)(void);
} dsbi_task_entry;

const dsbi_task_entry *dsbi_task_find(const char *name);
/* Inverse-kinematics forward model for one theta (4) -> x (2). */
void dsbi_ik_forward(const float *theta, float *x);
/* Binomial(n, p) by inversion from the mode (sbibm.c; thread-safe) */
double dsbi_binomial_draw(dsbi_rng *rng, int n, double p);

/* "parameter_1".."parameter_10" and "data_1".."data_100" (sbibm CSV columns). */
extern const char *const dsbi_param_names[10];
extern const char *const dsbi_data_names[100];

/* Tasks defined in sbibm.c, registered in tasks.c. */
extern const dsbi_task_entry dsbi_task_slcp, dsbi_task_slcp_distractors, dsbi_task_bernoulli_glm,
    dsbi_task_bernoulli_glm_raw, dsbi_task_sir, dsbi_task_lotka_volterra;

/* Fixed arrays of the Bernoulli GLM (computed once from the embedded stimulus):
 * design matrix X (100 x 10), prior precision P (10 x 10) and the Cholesky
 * factor of the prior covariance (10 x 10, lower). */
void dsbi_bglm_arrays(const double **X, const double **P, const double **L_cov);
/* Distractor arrays of slcp_distractors after setup: loc (20 x 92), scale_tril
 * (20 x 92 x 92) and permutation (100). Returns a status (loads on first use). */
int dsbi_distractor_arrays(const float **loc, const float **tril, const int **perm);
/* ODE parts of sir / lotka_volterra (float32-rounded like sbibm; NaN on a
 * failed solve, whose status is returned): I(t) at t = 0, 17, ..., 153, and
 * (X(t_0..t_9), Y(t_0..t_9)) at t_j = 2.1 j. */
int dsbi_sir_solve(const float *theta, double *I_out);
int dsbi_lv_solve(const float *theta, double *u_out);
#endif
