/* Bounded <-> unbounded parameter maps: round trips, the edges, the Jacobian
 * against finite differences. */
#include "approx/transform.h"
#include <criterion/criterion.h>
#include <math.h>

static const double LO[4] = {-1.0, 0.0, -INFINITY, -INFINITY};
static const double HI[4] = {1.0, INFINITY, 2.0, INFINITY};

Test(transform, round_trip_inside_the_bounds) {
    float t[3 * 4] = {0.3f, 0.01f, 1.5f, -7.0f,  -0.999f, 50.0f, -3.0f, 0.0f,  0.0f, 1.0f, 1.999f, 1e6f};
    float u[3 * 4];
    for (int i = 0; i < 12; i++) u[i] = t[i];
    dsbi_bounds_to_free(LO, HI, u, 3, 4);
    for (int i = 0; i < 12; i++) cr_assert(isfinite(u[i]), "value %d", i);
    cr_assert_float_eq(u[0], log(1.3 / 0.7), 1e-6);  /* logit of the box */
    cr_assert_float_eq(u[1], log(0.01), 1e-6);        /* log above a lower bound */
    cr_assert_float_eq(u[2], -log(0.5), 1e-6);        /* -log below an upper bound */
    cr_assert_eq(u[3], -7.0f);                        /* unbounded: identity */
    dsbi_bounds_from_free(LO, HI, u, 3, 4);
    for (int i = 0; i < 12; i++)
        cr_assert_float_eq(u[i], t[i], 1e-5 * (1.0 + fabs(t[i])), "value %d: %g vs %g", i, u[i], t[i]);
}

Test(transform, on_or_outside_a_bound_is_nan) {
    float t[4 * 4] = {1.0f, 1.0f, 0.0f, 0.0f,  -1.5f, 1.0f, 0.0f, 0.0f,  0.0f, 0.0f, 0.0f, 0.0f,
                      0.0f, 1.0f, 2.5f, 0.0f};
    dsbi_bounds_to_free(LO, HI, t, 4, 4);
    cr_assert(isnan(t[0]) && isnan(t[4]) && isnan(t[9]) && isnan(t[14]));
    cr_assert(isfinite(t[1]) && isfinite(t[5]));
}

Test(transform, saturated_values_stay_strictly_inside) {
    float u[2 * 4] = {60.0f, -200.0f, -200.0f, 1.0f,  -60.0f, 80.0f, 80.0f, 1.0f};
    dsbi_bounds_from_free(LO, HI, u, 2, 4);
    cr_assert(u[0] < 1.0f && u[4] > -1.0f, "logistic saturation must stay inside the box");
    cr_assert(u[1] > 0.0f && u[2] < 2.0f, "exp underflow must stay inside");
    cr_assert(isfinite(u[5]) || isinf(u[5]));
}

Test(transform, jacobian_matches_finite_differences) {
    const double us[3] = {-2.0, 0.3, 1.7};
    for (size_t j = 0; j < 4; j++)
        for (int k = 0; k < 3; k++) {
            double h = 1e-4, u = us[k];
            float a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
            a[j] = (float)(u + h);
            b[j] = (float)(u - h);
            dsbi_bounds_from_free(LO, HI, a, 1, 4);
            dsbi_bounds_from_free(LO, HI, b, 1, 4);
            double fd = ((double)a[j] - (double)b[j]) / (2 * h);
            double an = dsbi_bounds_jacobian(LO, HI, j, u);
            cr_assert_float_eq(fd, an, 2e-3 * (1.0 + fabs(an)), "coord %zu at %g: %g vs %g", j, u, fd, an);
        }
    cr_assert(dsbi_bounds_active(LO, HI, 4));
    cr_assert(!dsbi_bounds_active(NULL, NULL, 4));
}
