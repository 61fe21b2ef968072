/*
 * Maps between a bounded parameter space and the unbounded space a model is
 * trained in, per coordinate: (lo, hi) both finite -> logit, only lo ->
 * log(theta - lo), only hi -> -log(hi - theta) (so the map stays increasing),
 * neither -> identity. A diffusion model has a smooth density on R^D, so a
 * posterior that is cut off by a box prior (sbibm's uniform priors) is learned
 * far better after the logit than as a hard edge in the original space.
 */
#ifndef DSBI_TRANSFORM_H
#define DSBI_TRANSFORM_H

#include <stddef.h>

/* theta (n x D) to the unbounded space in place; values on or outside the
 * bounds become NaN (the dataset layer then drops and counts those rows).
 * lo/hi may be NULL (no bound on that side for every coordinate). */
void dsbi_bounds_to_free(const double *lo, const double *hi, float *theta, size_t n, size_t D);
/* The inverse, in place: any value maps inside the bounds (clamped to the
 * nearest float inside when the logistic saturates). */
void dsbi_bounds_from_free(const double *lo, const double *hi, float *theta, size_t n, size_t D);
/* d theta / d u at the unbounded value u of coordinate j (for guidance). */
double dsbi_bounds_jacobian(const double *lo, const double *hi, size_t j, double u);
/* 1 if any coordinate has a finite bound */
int dsbi_bounds_active(const double *lo, const double *hi, size_t D);

#endif
