/* Small helpers shared by the Criterion test files (static inline only). */
#ifndef DSBI_TEST_HELPERS_H
#define DSBI_TEST_HELPERS_H
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include "diffsbi.h"

static inline void fill_normal(float *a, size_t n, uint64_t seed, float scale) {
    dsbi_rng r;
    dsbi_rng_init(&r, seed, 77);
    for (size_t i = 0; i < n; i++) a[i] = scale * (float)dsbi_rng_normal(&r);
}

/* column mean and sd of an n x d table */
static inline void col_moments(const float *a, size_t n, size_t d, size_t j, double *mean, double *sd) {
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) s += a[i * d + j];
    double m = s / (double)n;
    for (size_t i = 0; i < n; i++) s2 += (a[i * d + j] - m) * (a[i * d + j] - m);
    *mean = m;
    *sd = sqrt(s2 / (double)(n - 1));
}
#endif
