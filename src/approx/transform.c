/* Bounded <-> unbounded parameter maps (see transform.h). Computed in double:
 * the logit of a value near a bound loses digits in float. */
#include "approx/transform.h"
#include <math.h>

static double lo_of(const double *lo, size_t j) { return lo ? lo[j] : -INFINITY; }
static double hi_of(const double *hi, size_t j) { return hi ? hi[j] : INFINITY; }

int dsbi_bounds_active(const double *lo, const double *hi, size_t D) {
    for (size_t j = 0; j < D; j++)
        if (isfinite(lo_of(lo, j)) || isfinite(hi_of(hi, j))) return 1;
    return 0;
}

static double to_free(double a, double b, double x) {
    int fa = isfinite(a), fb = isfinite(b);
    if (!fa && !fb) return x;
    if ((fa && !(x > a)) || (fb && !(x < b))) return NAN; /* on or outside a bound */
    if (fa && fb) return log((x - a) / (b - x));
    return fa ? log(x - a) : -log(b - x);
}

static double from_free(double a, double b, double u) {
    int fa = isfinite(a), fb = isfinite(b);
    if (!fa && !fb) return u;
    if (fa && fb) {
        /* logistic without overflow on either side */
        double s = u >= 0.0 ? 1.0 / (1.0 + exp(-u)) : exp(u) / (1.0 + exp(u));
        return a + (b - a) * s;
    }
    return fa ? a + exp(u) : b - exp(-u);
}

void dsbi_bounds_to_free(const double *lo, const double *hi, float *theta, size_t n, size_t D) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < D; j++)
            theta[i * D + j] = (float)to_free(lo_of(lo, j), hi_of(hi, j), theta[i * D + j]);
}

void dsbi_bounds_from_free(const double *lo, const double *hi, float *theta, size_t n, size_t D) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < D; j++) {
            double a = lo_of(lo, j), b = hi_of(hi, j);
            float v = (float)from_free(a, b, theta[i * D + j]);
            /* rounding to float may land on the bound itself: step inside */
            if (isfinite(a) && !((double)v > a)) v = nextafterf((float)a, INFINITY);
            if (isfinite(b) && !((double)v < b)) v = nextafterf((float)b, -INFINITY);
            theta[i * D + j] = v;
        }
}

double dsbi_bounds_jacobian(const double *lo, const double *hi, size_t j, double u) {
    double a = lo_of(lo, j), b = hi_of(hi, j);
    int fa = isfinite(a), fb = isfinite(b);
    if (!fa && !fb) return 1.0;
    if (fa && fb) {
        double s = u >= 0.0 ? 1.0 / (1.0 + exp(-u)) : exp(u) / (1.0 + exp(u));
        return (b - a) * s * (1.0 - s);
    }
    return fa ? exp(u) : exp(-u);
}
