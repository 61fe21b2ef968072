/* Adaptive Runge-Kutta ODE solver (Dormand-Prince 5(4)) used by the ODE tasks
 * (sir, lotka_volterra). Internal to the library. */
#ifndef DSBI_ODE_H
#define DSBI_ODE_H
#include "internal.h"

/* dy/dt = f(t, y); n state variables; writes dydt (n). */
typedef void (*dsbi_ode_fn)(void *ctx, double t, const double *y, double *dydt);

typedef struct dsbi_ode_config {
    double rtol, atol;  /* error per step: |err_i| <= atol + rtol * max(|y_i|, |y_new_i|) (RMS) */
    double h0;          /* first step; 0 = chosen from the problem (Hairer's heuristic) */
    size_t max_steps;   /* accepted + rejected steps before giving up */
} dsbi_ode_config;

typedef struct dsbi_ode_stats {
    size_t accepted, rejected, nfe;
} dsbi_ode_stats;

/* Integrates from t0 with initial state y0 (n values, n <= 16) and writes the
 * state at each of the n_out increasing output times t_out[k] >= t0 into
 * y_out (n_out x n). Steps are shortened to land exactly on the output times.
 * Returns DSBI_STATUS_OK, or DSBI_STATUS_ERR_NUMERIC if the state becomes
 * non-finite, the step underflows or max_steps is exceeded (message set).
 * stats may be NULL. */
int dsbi_ode_solve(dsbi_ode_fn f, void *ctx, size_t n, double t0, const double *y0,
                   const double *t_out, size_t n_out, const dsbi_ode_config *cfg, double *y_out,
                   dsbi_ode_stats *stats);
#endif
