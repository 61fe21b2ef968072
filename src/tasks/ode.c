/*
 * Dormand-Prince 5(4) explicit Runge-Kutta with FSAL and step-size control,
 * for the ODE tasks of the sbibm suite (sbibm uses Tsit5, another 5(4) pair,
 * at rtol = atol = 1e-8). The 5th-order solution is propagated (local
 * extrapolation); the embedded 4th-order one gives the error estimate
 * err = ||(y5 - y4) / (atol + rtol max(|y|, |y_new|))||_RMS, and the step is
 * h <- h * clamp(0.9 err^(-1/5), 0.2, 5). Steps are cut to hit every output
 * time exactly, so no interpolation error is added.
 * Reference: Hairer, Norsett & Wanner, Solving ODEs I, sec. II.4-5 (DOPRI5).
 */
#include "tasks/ode.h"
#include <math.h>
#include <string.h>

#define ODE_NMAX 16

/* Butcher tableau of Dormand & Prince (1980) */
static const double c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9;
static const double a21 = 1.0 / 5;
static const double a31 = 3.0 / 40, a32 = 9.0 / 40;
static const double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
static const double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561,
                    a54 = -212.0 / 729;
static const double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176,
                    a65 = -5103.0 / 18656;
static const double b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784,
                    b6 = 11.0 / 84;
/* e = b (5th order) - b* (4th order); the 7th stage is f(t + h, y_new) (FSAL) */
static const double e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920,
                    e5 = -17253.0 / 339200, e6 = 22.0 / 525, e7 = -1.0 / 40;

static double err_norm(const double *err, const double *y, const double *yn, size_t n,
                       const dsbi_ode_config *cfg) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double sc = cfg->atol + cfg->rtol * fmax(fabs(y[i]), fabs(yn[i]));
        double r = err[i] / sc;
        s += r * r;
    }
    return sqrt(s / (double)n);
}

/* Hairer's starting step (Solving ODEs I, II.4): h from ||y0|| / ||f0||, then
 * refined with a second-derivative estimate; order 5. */
static double initial_step(dsbi_ode_fn f, void *ctx, size_t n, double t0, const double *y0,
                           const double *f0, double span, const dsbi_ode_config *cfg) {
    double d0 = 0, d1 = 0, y1[ODE_NMAX], f1[ODE_NMAX];
    for (size_t i = 0; i < n; i++) {
        double sc = cfg->atol + cfg->rtol * fabs(y0[i]);
        d0 += (y0[i] / sc) * (y0[i] / sc);
        d1 += (f0[i] / sc) * (f0[i] / sc);
    }
    d0 = sqrt(d0 / (double)n);
    d1 = sqrt(d1 / (double)n);
    double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    h0 = fmin(h0, span);
    for (size_t i = 0; i < n; i++) y1[i] = y0[i] + h0 * f0[i];
    f(ctx, t0 + h0, y1, f1);
    double d2 = 0;
    for (size_t i = 0; i < n; i++) {
        double sc = cfg->atol + cfg->rtol * fabs(y0[i]);
        double r = (f1[i] - f0[i]) / sc;
        d2 += r * r;
    }
    d2 = sqrt(d2 / (double)n) / h0;
    double h1 = fmax(d1, d2) <= 1e-15 ? fmax(1e-6, h0 * 1e-3) : pow(0.01 / fmax(d1, d2), 1.0 / 5);
    return fmin(fmin(100 * h0, h1), span);
}

int dsbi_ode_solve(dsbi_ode_fn f, void *ctx, size_t n, double t0, const double *y0,
                   const double *t_out, size_t n_out, const dsbi_ode_config *cfg, double *y_out,
                   dsbi_ode_stats *stats) {
    DSBI_ASSERT(n >= 1 && n <= ODE_NMAX && cfg && cfg->rtol > 0 && cfg->atol >= 0);
    double y[ODE_NMAX], yn[ODE_NMAX], ys[ODE_NMAX], err[ODE_NMAX];
    double k1[ODE_NMAX], k2[ODE_NMAX], k3[ODE_NMAX], k4[ODE_NMAX], k5[ODE_NMAX], k6[ODE_NMAX],
        k7[ODE_NMAX];
    dsbi_ode_stats st = {0, 0, 0};
    memcpy(y, y0, n * sizeof *y);
    double t = t0;
    size_t k = 0;
    while (k < n_out && t_out[k] <= t0) memcpy(y_out + n * k++, y, n * sizeof *y);
    if (k == n_out) goto done;
    f(ctx, t, y, k1);
    st.nfe++;
    double span = t_out[n_out - 1] - t0;
    double h = cfg->h0 > 0 ? cfg->h0 : initial_step(f, ctx, n, t, y, k1, span, cfg);
    st.nfe++;
    size_t max_steps = cfg->max_steps ? cfg->max_steps : 100000;
    while (k < n_out) {
        if (st.accepted + st.rejected >= max_steps) {
            if (stats) *stats = st;
            return dsbi_fail(DSBI_STATUS_ERR_NUMERIC, "ode: more than %zu steps before t = %g (at t = %g)",
                             max_steps, t_out[k], t);
        }
        double target = t_out[k];
        int hit = 0;
        double hs = h;
        if (t + hs >= target || target - (t + hs) < 1e-12 * fabs(target)) {
            hs = target - t;
            hit = 1;
        }
        if (!(hs > 1e-14 * fmax(1.0, fabs(t)))) {
            if (stats) *stats = st;
            return dsbi_fail(DSBI_STATUS_ERR_NUMERIC, "ode: step size underflow at t = %g", t);
        }
        for (size_t i = 0; i < n; i++) ys[i] = y[i] + hs * a21 * k1[i];
        f(ctx, t + c2 * hs, ys, k2);
        for (size_t i = 0; i < n; i++) ys[i] = y[i] + hs * (a31 * k1[i] + a32 * k2[i]);
        f(ctx, t + c3 * hs, ys, k3);
        for (size_t i = 0; i < n; i++) ys[i] = y[i] + hs * (a41 * k1[i] + a42 * k2[i] + a43 * k3[i]);
        f(ctx, t + c4 * hs, ys, k4);
        for (size_t i = 0; i < n; i++)
            ys[i] = y[i] + hs * (a51 * k1[i] + a52 * k2[i] + a53 * k3[i] + a54 * k4[i]);
        f(ctx, t + c5 * hs, ys, k5);
        for (size_t i = 0; i < n; i++)
            ys[i] = y[i] + hs * (a61 * k1[i] + a62 * k2[i] + a63 * k3[i] + a64 * k4[i] + a65 * k5[i]);
        f(ctx, t + hs, ys, k6);
        for (size_t i = 0; i < n; i++)
            yn[i] = y[i] + hs * (b1 * k1[i] + b3 * k3[i] + b4 * k4[i] + b5 * k5[i] + b6 * k6[i]);
        f(ctx, t + hs, yn, k7);
        st.nfe += 6;
        int finite = 1;
        for (size_t i = 0; i < n; i++) {
            err[i] = hs * (e1 * k1[i] + e3 * k3[i] + e4 * k4[i] + e5 * k5[i] + e6 * k6[i] + e7 * k7[i]);
            finite &= isfinite(yn[i]) && isfinite(err[i]);
        }
        double e = finite ? err_norm(err, y, yn, n, cfg) : INFINITY;
        if (e <= 1.0) {
            st.accepted++;
            t = hit ? target : t + hs;
            memcpy(y, yn, n * sizeof *y);
            memcpy(k1, k7, n * sizeof *k1);
            if (hit) memcpy(y_out + n * k++, y, n * sizeof *y);
            double fac = e == 0 ? 5.0 : fmin(5.0, fmax(0.2, 0.9 * pow(e, -0.2)));
            /* a step cut short for an output time does not shrink the next one */
            h = (hit && hs < h) ? h : hs * fac;
        } else {
            st.rejected++;
            h = hs * (isfinite(e) ? fmax(0.2, 0.9 * pow(e, -0.2)) : 0.2);
        }
    }
done:
    if (stats) *stats = st;
    return DSBI_STATUS_OK;
}
