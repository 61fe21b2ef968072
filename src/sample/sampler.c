/*
 * The sampling driver and the step types. For a path z = alpha x + sigma eps
 * (VP, VE or the flow-matching line) with alpha' and sigma' the time derivatives:
 *   probability-flow ODE   dz/dt = alpha' x_hat + sigma' eps_hat,
 *                          eps_hat = (z - alpha x_hat) / sigma
 *   reverse SDE            dz = [f z - g^2 s] dt + g dW, f = alpha'/alpha,
 *                          g^2 = d(sigma^2)/dt - 2 f sigma^2, s = (alpha x_hat - z) / sigma^2
 *   DDIM (Song et al. 2021) z' = alpha' x_hat + sqrt(sigma'^2 - e^2) eps_hat + e xi,
 *                          e^2 = eta^2 sigma'^2 (1 - alpha^2 sigma'^2 / (alpha'^2 sigma^2))
 * DDIM with eta = 0 is the exact solution of the probability-flow ODE when
 * x_hat is constant over the step (first-order exponential integrator).
 * DPM-Solver++(2M) (Lu et al. 2022) extrapolates x_hat linearly in
 * h = log(alpha/sigma) from the previous step: second order, one network
 * evaluation per step. rk45 and tsit5 share one adaptive Runge-Kutta driver
 * that takes a Butcher tableau; pc adds Langevin corrector steps to
 * Euler-Maruyama. Every sampler reports its exact evaluation count and none
 * exceeds max_nfe.
 */
#include "sample/sampler.h"
#include <math.h>
#include <string.h>

static void coef(const dsbi_sched *s, double t, double *lam, double *a, double *sg) {
    *lam = dsbi_sched_lambda(s, t);
    dsbi_sched_alpha_sigma(s, *lam, a, sg);
}

/* v = alpha' x_hat + sigma' eps_hat, eps_hat = (z - alpha x_hat)/sigma: the
 * velocity of the probability-flow ODE for any path z = alpha x + sigma eps
 * (for VP and VE it equals 1/2 lambda' alpha (x_hat - alpha z)) */
static void velocity_of(const dsbi_field *f, const float *z, size_t B, double t, float *xhat,
                        float *v) {
    double lam, a, sg, da, ds;
    coef(f->sched, t, &lam, &a, &sg);
    dsbi_sched_dalpha_dsigma(f->sched, t, &da, &ds);
    float kx = (float)(da - ds * a / sg), kz = (float)(ds / sg);
    for (size_t i = 0; i < B * f->D; i++) v[i] = kx * xhat[i] + kz * z[i];
}

static void pf_velocity(const dsbi_field *f, const float *z, size_t B, double t, float *xhat,
                        float *v) {
    f->denoise(f->ctx, z, t, B, xhat);
    velocity_of(f, z, B, t, xhat, v);
}

static void step_euler(const dsbi_field *f, float *z, size_t B, double t_prev, double t, double t_next,
                       size_t k, size_t K, float *scratch, dsbi_rng *rng, const dsbi_sample_config *cfg) {
    (void)t_prev; (void)k; (void)K; (void)rng; (void)cfg;
    size_t n = B * f->D;
    float *xhat = scratch, *v = scratch + n;
    pf_velocity(f, z, B, t, xhat, v);
    float h = (float)(t_next - t);
    for (size_t i = 0; i < n; i++) z[i] += h * v[i];
}

static void step_heun(const dsbi_field *f, float *z, size_t B, double t_prev, double t, double t_next,
                      size_t k, size_t K, float *scratch, dsbi_rng *rng, const dsbi_sample_config *cfg) {
    (void)t_prev; (void)k; (void)K; (void)rng; (void)cfg;
    size_t n = B * f->D;
    float *xhat = scratch, *v1 = scratch + n, *zp = scratch + 2 * n;
    pf_velocity(f, z, B, t, xhat, v1);
    float h = (float)(t_next - t);
    for (size_t i = 0; i < n; i++) zp[i] = z[i] + h * v1[i];
    /* second slope at the Euler prediction; x_hat's buffer then holds it */
    float *v2 = xhat;
    f->denoise(f->ctx, zp, t_next, B, v2);
    velocity_of(f, zp, B, t_next, v2, v2);
    for (size_t i = 0; i < n; i++) z[i] += 0.5f * h * (v1[i] + v2[i]);
}

static void step_em(const dsbi_field *f, float *z, size_t B, double t_prev, double t,
                    double t_next, size_t k, size_t K, float *scratch, dsbi_rng *rng, const dsbi_sample_config *cfg) {
    (void)t_prev; (void)cfg;
    int last = k + 1 == K;
    size_t n = B * f->D;
    float *xhat = scratch;
    double lam, a, sg, da, ds;
    coef(f->sched, t, &lam, &a, &sg);
    dsbi_sched_dalpha_dsigma(f->sched, t, &da, &ds);
    /* drift f z with f = alpha'/alpha, g^2 = d(sigma^2)/dt - 2 f sigma^2 */
    double fz = da / a, g2 = 2.0 * sg * ds - 2.0 * fz * sg * sg;
    double h = t - t_next;
    f->denoise(f->ctx, z, t, B, xhat);
    float noise = last ? 0.0f : (float)sqrt(g2 * h);
    for (size_t i = 0; i < n; i++) {
        double s = (a * xhat[i] - z[i]) / (sg * sg);
        double drift = fz * z[i] - g2 * s;
        z[i] = (float)(z[i] - h * drift) + (noise > 0 ? noise * (float)dsbi_rng_normal(rng) : 0.0f);
    }
}

static void step_ddim(const dsbi_field *f, float *z, size_t B, double t_prev, double t,
                      double t_next, size_t k, size_t K, float *scratch, dsbi_rng *rng, const dsbi_sample_config *cfg) {
    (void)t_prev; (void)k; (void)K;
    size_t n = B * f->D;
    float *xhat = scratch;
    double lam, a, sg, lam2, a2, sg2, eta = cfg->eta;
    coef(f->sched, t, &lam, &a, &sg);
    coef(f->sched, t_next, &lam2, &a2, &sg2);
    f->denoise(f->ctx, z, t, B, xhat);
    double e2 = 0.0;
    if (eta > 0.0) {
        double r = (a * a * sg2 * sg2) / (a2 * a2 * sg * sg);
        e2 = eta * eta * sg2 * sg2 * (1.0 - r);
        if (e2 < 0.0) e2 = 0.0;
    }
    double keep = sqrt(fmax(sg2 * sg2 - e2, 0.0)) / sg;
    float e = (float)sqrt(e2);
    for (size_t i = 0; i < n; i++) {
        double resid = z[i] - a * xhat[i]; /* sigma eps_hat */
        double zn = a2 * xhat[i] + keep * resid;
        z[i] = (float)zn + (e > 0 ? e * (float)dsbi_rng_normal(rng) : 0.0f);
    }
}

/* z' = (sigma'/sigma) z - alpha' (e^{-h} - 1) D, h = l' - l, l = log(alpha/sigma),
 * D = x_hat (first step) or (1 + 1/(2r)) x_hat - 1/(2r) x_hat_prev, r = h_prev/h.
 * The previous x_hat is kept in the third scratch slot. */
static void step_dpm2m(const dsbi_field *f, float *z, size_t B, double t_prev, double t,
                       double t_next, size_t k, size_t K, float *scratch, dsbi_rng *rng, const dsbi_sample_config *cfg) {
    (void)K; (void)rng; (void)cfg;
    size_t n = B * f->D;
    float *xhat = scratch, *xprev = scratch + 2 * n;
    double lam, a, sg, lam2, a2, sg2;
    coef(f->sched, t, &lam, &a, &sg);
    coef(f->sched, t_next, &lam2, &a2, &sg2);
    f->denoise(f->ctx, z, t, B, xhat);
    double h = 0.5 * (lam2 - lam);
    double ratio = sg2 / sg, w = -a2 * expm1(-h);
    double c0 = 1.0, c1 = 0.0;
    if (k > 0) {
        double h_prev = 0.5 * (lam - dsbi_sched_lambda(f->sched, t_prev));
        double r = h_prev / h;
        c0 = 1.0 + 0.5 / r;
        c1 = -0.5 / r;
    }
    /* the first step must not read xprev: the scratch is uninitialised and
       0 * NaN would poison the draw */
    for (size_t i = 0; i < n; i++) {
        double d = k > 0 ? c0 * xhat[i] + c1 * xprev[i] : xhat[i];
        z[i] = (float)(ratio * z[i] + w * d);
        xprev[i] = xhat[i];
    }
}

/* ---------------------------------------------------------------- predictor-corrector */

/* Song et al. (2021), "Score-based generative modeling through SDEs",
 * Algorithms 2 and 4 in the order of their reference code: at each time t of
 * the grid, corrector_steps Langevin steps on the marginal at t,
 *   z <- z + e s(z, t) + sqrt(2 e) xi,   s = (alpha x_hat - z) / sigma^2,
 * then one Euler-Maruyama predictor step to the next time (noise-free on the
 * last step, like em). Running the correctors before the predictor keeps them
 * off the final time, where the learned score is least accurate, and makes a
 * step cost exactly 1 + corrector_steps evaluations.
 *
 * Step size from the signal-to-noise ratio r: Song sets
 * e = 2 (r |xi| / |s|)^2 with batch means of the norms. We take the expected
 * |xi|^2 = D instead of the drawn noise (so the step does not depend on the
 * noise it scales, which matters at the low dimensions of SBI where |xi| is
 * far from concentrated) and the mean of |s|^2 over the chunk of draws
 * integrated together (fixed chunks, so still independent of the thread
 * count, like the adaptive samplers' error norms): e = 2 r^2 D / mean |s|^2.
 * For N(m, v I) this is 2 r^2 v, the stationary variance of the discretised
 * Langevin chain is v / (1 - r^2) (bias r^2), and r >= 1 would make it
 * diverge. An anisotropic posterior's mean |s|^2 is dominated by its
 * narrowest direction (variance v_min): the step is at most 2 r^2 D v_min,
 * so that direction's variance is inflated by up to 1 / (1 - D r^2), and the
 * chain needs D r^2 < 1 in the worst case (D < 156 at the default r). The
 * step is capped at 2 r^2 (alpha^2 sigma_data^2 + sigma^2), its
 * value for the widest marginal (the prior's), so a chunk whose estimated
 * score happens to be near zero cannot take a huge step. alpha_i of Song's
 * VP algorithm (1 - beta_i, the discrete-time factor) is 1 in continuous
 * time.
 *
 * Default r = 0.08 rather than Song's 0.16 (tuned on images): on
 * gaussian_linear (10-D, a small trained network, 100 steps, 4000 draws) the
 * posterior sd came out +1.7 % with em, +1.4 / +0.2 / -2.9 / -13 % with pc at
 * r = 0.04 / 0.08 / 0.16 / 0.3, and the mean error grew with r beyond 0.08
 * (the corrector amplifies the network's score error at low noise). */
#define PC_SNR_DEFAULT 0.08
#define PC_MAX_CORRECTOR 1000

static double pc_snr(const dsbi_sample_config *cfg) {
    return cfg->snr > 0.0f ? (double)cfg->snr : PC_SNR_DEFAULT;
}

static void step_pc(const dsbi_field *f, float *z, size_t B, double t_prev, double t, double t_next,
                    size_t k, size_t K, float *scratch, dsbi_rng *rng, const dsbi_sample_config *cfg) {
    size_t n = B * f->D;
    float *score = scratch; /* x_hat, then the score in place */
    double lam, a, sg, r = pc_snr(cfg), sd = f->sched->sigma_data;
    coef(f->sched, t, &lam, &a, &sg);
    double e_max = 2.0 * r * r * (a * a * sd * sd + sg * sg);
    for (size_t j = 0; j < cfg->corrector_steps; j++) {
        f->denoise(f->ctx, z, t, B, score);
        double s2 = 0.0;
        for (size_t i = 0; i < n; i++) {
            double s = (a * score[i] - z[i]) / (sg * sg);
            score[i] = (float)s;
            s2 += s * s;
        }
        /* D / (s2 / B) = n / s2 */
        double e = s2 > 0.0 ? fmin(2.0 * r * r * (double)n / s2, e_max) : e_max;
        double amp = sqrt(2.0 * e);
        for (size_t i = 0; i < n; i++)
            z[i] = (float)(z[i] + e * score[i] + amp * dsbi_rng_normal(rng));
    }
    step_em(f, z, B, t_prev, t, t_next, k, K, scratch, rng, cfg);
}

/* ---------------------------------------------------------------- adaptive two-step SDE */

/* reverse-SDE drift d = f z - g^2 s at time t, and g */
static double sde_drift(const dsbi_field *f, const float *z, size_t B, double t, float *xhat,
                        float *d) {
    double lam, a, sg, da, ds;
    coef(f->sched, t, &lam, &a, &sg);
    dsbi_sched_dalpha_dsigma(f->sched, t, &da, &ds);
    double fz = da / a, g2 = 2.0 * sg * ds - 2.0 * fz * sg * sg;
    f->denoise(f->ctx, z, t, B, xhat);
    for (size_t i = 0; i < B * f->D; i++) {
        double s = (a * xhat[i] - z[i]) / (sg * sg);
        d[i] = (float)(fz * z[i] - g2 * s);
    }
    return sqrt(fmax(g2, 0.0));
}

/* Jolicoeur-Martineau et al. (2021), "Gotta go fast when generating data with
 * score-based models": per step an Euler-Maruyama proposal z1 and an improved
 * Euler (Heun) one z2 with the same noise; the scaled difference
 * E = RMS((z1 - z2) / max(atol, rtol max(|z1|, |z_prev|))) accepts the step
 * (z <- z2) when E <= 1 and sets the next step h <- 0.9 h E^(-0.9). Steps stay
 * within 1/1000 and 1/50 of the time range (BayesFlow's bounds), the network
 * evaluations within max_nfe. */
static int integrate_sde_adaptive(const dsbi_field *f, const dsbi_sample_config *cfg, float *z,
                                  size_t B, float *scratch, dsbi_rng *rng, size_t *nfe_out) {
    size_t n = B * f->D, nfe = 0;
    float *xhat = scratch, *d1 = scratch + n, *d2 = scratch + 2 * n, *z1 = scratch + 3 * n,
          *z2 = scratch + 4 * n, *xi = scratch + 5 * n;
    double atol = cfg->atol > 0 ? cfg->atol : 1e-3, rtol = cfg->rtol > 0 ? cfg->rtol : 1e-2;
    double t = 1.0, t_end = cfg->stop_time, range = 1.0 - t_end;
    double h_max = range / 50.0, h_min = range / 1000.0, h = h_max;
    size_t budget = cfg->max_nfe ? cfg->max_nfe : (size_t)-1;
    while (t > t_end + 1e-12) {
        if (t - h < t_end) h = t - t_end;
        if (nfe + 2 > budget) {
            *nfe_out = nfe;
            return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                             "sde-adaptive needs more than --max-nfe %zu network evaluations at "
                             "atol %g, rtol %g (reached t = %.3g); raise the budget or the "
                             "tolerances", cfg->max_nfe, atol, rtol, t);
        }
        double g = sde_drift(f, z, B, t, xhat, d1);
        double sq = sqrt(h);
        for (size_t i = 0; i < n; i++) {
            xi[i] = (float)dsbi_rng_normal(rng);
            z1[i] = z[i] - (float)h * d1[i] + (float)(g * sq) * xi[i];
        }
        sde_drift(f, z1, B, t - h, xhat, d2);
        nfe += 2;
        double err2 = 0.0;
        for (size_t i = 0; i < n; i++) {
            z2[i] = z[i] - 0.5f * (float)h * (d1[i] + d2[i]) + (float)(g * sq) * xi[i];
            double sc = fmax(atol, rtol * fmax(fabs(z1[i]), fabs(z[i])));
            double e = (z1[i] - z2[i]) / sc;
            err2 += e * e;
        }
        double err = sqrt(err2 / (double)n);
        if (!isfinite(err)) {
            *nfe_out = nfe;
            return dsbi_fail(DSBI_STATUS_ERR_NUMERIC, "sde-adaptive diverged at t = %.3g", t);
        }
        if (err <= 1.0 || h <= h_min * 1.000001) {
            memcpy(z, z2, n * sizeof(float));
            t -= h;
        }
        h = 0.9 * h * pow(fmax(err, 1e-10), -0.9);
        h = fmin(h_max, fmax(h_min, h));
    }
    *nfe_out = nfe;
    return DSBI_STATUS_OK;
}


/* ---------------------------------------------------------------- adaptive Runge-Kutta 5(4) */

const dsbi_erk_tableau dsbi_tableau_dopri5 = {
    .name = "rk45",
    .c = {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1},
    .a = {{0},
          {1.0 / 5},
          {3.0 / 40, 9.0 / 40},
          {44.0 / 45, -56.0 / 15, 32.0 / 9},
          {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
          {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
          {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}},
    .e = {35.0 / 384 - 5179.0 / 57600, 0, 500.0 / 1113 - 7571.0 / 16695, 125.0 / 192 - 393.0 / 640,
          -2187.0 / 6784 + 92097.0 / 339200, 11.0 / 84 - 187.0 / 2100, -1.0 / 40},
};

/* Tsitouras (2011), "Runge-Kutta pairs of order 5(4) satisfying only the
 * first column simplifying assumption", Table 1. The free parameters are the
 * nodes c2..c5 and b2 = 0.01 (a72); the other weights solve the order
 * conditions, which leaves the 5th-order error coefficients smaller than
 * Dormand-Prince's. The decimals (17 digits) satisfy all 17 conditions of
 * order 5 for b and the 8 of order 4 for b_hat to 1e-15 (checked in
 * tests/test_diffusion.c, along with b_hat failing order 5). */
const dsbi_erk_tableau dsbi_tableau_tsit5 = {
    .name = "tsit5",
    .c = {0, 0.161, 0.327, 0.9, 0.9800255409045097, 1, 1},
    .a = {{0},
          {0.161},
          {-0.008480655492356989, 0.335480655492357},
          {2.897153057105493, -6.359448489975075, 4.3622954328695815},
          {5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525},
          {5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401,
           -0.028269050394068383},
          {0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081,
           2.324710524099774}},
    .e = {-0.00178001105222577714, -0.0008164344596567469, 0.007880878010261995,
          -0.1447110071732629, 0.5823571654525552, -0.45808210592918697, 1.0 / 66},
};

/* Integrates the probability-flow ODE from t = 1 to t_end with any FSAL 5(4)
 * pair, error control on the whole chunk (RMS of the scaled error <= 1). A
 * step costs S - 1 evaluations (the first stage is the last one of the
 * previous step); the budget is checked before each step, so max_nfe is never
 * exceeded: when it would be, the run stops with an error instead. */
static int integrate_erk(const dsbi_field *f, const dsbi_erk_tableau *tab,
                         const dsbi_sample_config *cfg, float *z, size_t B, float *scratch,
                         size_t *nfe_out) {
    enum { S = DSBI_ERK_STAGES };
    size_t n = B * f->D, nfe = 0;
    float *k[S], *xhat = scratch + S * n, *y = scratch + (S + 1) * n, *yn = scratch + (S + 2) * n;
    for (int i = 0; i < S; i++) k[i] = scratch + (size_t)i * n;
    double atol = cfg->atol > 0 ? cfg->atol : 1e-3, rtol = cfg->rtol > 0 ? cfg->rtol : 1e-3;
    double t = 1.0, t_end = cfg->stop_time, h_max = (1.0 - t_end) / 20.0, h = -h_max / 2.0;
    size_t budget = cfg->max_nfe ? cfg->max_nfe : (size_t)-1;
    int status = DSBI_STATUS_OK;
    memcpy(y, z, n * sizeof(float));
    while (t > t_end) {
        /* the first step also pays for the first stage */
        size_t cost = nfe ? S - 1 : S;
        if (nfe + cost > budget) {
            status = dsbi_fail(DSBI_STATUS_ERR_INVALID,
                               "%s needs more than --max-nfe %zu network evaluations at atol %g, "
                               "rtol %g (reached t = %.3g); raise the budget or the tolerances",
                               tab->name, cfg->max_nfe, atol, rtol, t);
            break;
        }
        if (!nfe) pf_velocity(f, y, B, t, xhat, k[0]);
        /* landing exactly on t_end: t + (t_end - t) need not round to t_end */
        int last = t + h <= t_end;
        if (last) h = t_end - t;
        for (int st = 1; st < S; st++) {
            for (size_t i = 0; i < n; i++) {
                double acc = y[i];
                for (int j = 0; j < st; j++) acc += h * tab->a[st][j] * k[j][i];
                yn[i] = (float)acc;
            }
            pf_velocity(f, yn, B, t + tab->c[st] * h, xhat, k[st]);
        }
        nfe += cost;
        /* yn holds the 5th-order solution (the last stage is evaluated there) */
        double err2 = 0.0;
        for (size_t i = 0; i < n; i++) {
            double e = 0.0;
            for (int j = 0; j < S; j++) e += tab->e[j] * k[j][i];
            e *= h;
            double sc = atol + rtol * fmax(fabs(y[i]), fabs(yn[i]));
            err2 += (e / sc) * (e / sc);
        }
        double err = sqrt(err2 / (double)n);
        if (!isfinite(err)) {
            status = dsbi_fail(DSBI_STATUS_ERR_NUMERIC, "%s diverged at t = %.3g", tab->name, t);
            break;
        }
        if (err <= 1.0) {
            t = last ? t_end : t + h;
            memcpy(y, yn, n * sizeof(float));
            memcpy(k[0], k[S - 1], n * sizeof(float)); /* first same as last */
        }
        /* step growth at most x2 and steps at most 1/20 of the interval: a large
           step can jump over the narrow range of noise levels where the
           denoiser changes, and both embedded solutions then miss it alike */
        double fac = err > 0 ? 0.9 * pow(err, -0.2) : 2.0;
        h *= fmin(2.0, fmax(0.2, fac));
        if (fabs(h) > h_max) h = -h_max;
        if (t > t_end && fabs(h) < 1e-10) {
            status = dsbi_fail(DSBI_STATUS_ERR_NUMERIC, "%s step size underflow at t = %.3g",
                               tab->name, t);
            break;
        }
    }
    if (!status) memcpy(z, y, n * sizeof(float));
    *nfe_out = nfe;
    return status;
}

/* ---------------------------------------------------------------- types and driver */

static const dsbi_sampler_type type_ddim = {"ddim", 1, 0, 1, 3, 0, NULL, step_ddim};
static const dsbi_sampler_type type_euler = {"euler", 1, 0, 1, 3, 0, NULL, step_euler};
static const dsbi_sampler_type type_heun = {"heun", 2, 0, 2, 3, 0, NULL, step_heun};
static const dsbi_sampler_type type_em = {"em", 1, 1, 1, 3, 0, NULL, step_em};
static const dsbi_sampler_type type_dpm2m = {"dpm2m", 2, 0, 1, 3, 0, NULL, step_dpm2m};
static const dsbi_sampler_type type_rk45 = {"rk45", 5, 0, 0, 10, 0, &dsbi_tableau_dopri5, NULL};
static const dsbi_sampler_type type_sde_adaptive = {"sde-adaptive", 2, 1, 0, 6, 0, NULL, NULL};
static const dsbi_sampler_type type_tsit5 = {"tsit5", 5, 0, 0, 10, 0, &dsbi_tableau_tsit5, NULL};
static const dsbi_sampler_type type_pc = {"pc", 1, 1, 1, 3, 1, NULL, step_pc};
const dsbi_sampler_type *const dsbi_sampler_ddim = &type_ddim;
const dsbi_sampler_type *const dsbi_sampler_euler = &type_euler;
const dsbi_sampler_type *const dsbi_sampler_heun = &type_heun;
const dsbi_sampler_type *const dsbi_sampler_em = &type_em;
const dsbi_sampler_type *const dsbi_sampler_dpm2m = &type_dpm2m;
const dsbi_sampler_type *const dsbi_sampler_rk45 = &type_rk45;
const dsbi_sampler_type *const dsbi_sampler_sde_adaptive = &type_sde_adaptive;
const dsbi_sampler_type *const dsbi_sampler_tsit5 = &type_tsit5;
const dsbi_sampler_type *const dsbi_sampler_pc = &type_pc;

const dsbi_sampler_type *dsbi_sampler_lookup(dsbi_sampler s) {
    switch (s) {
    case DSBI_SAMPLER_DDIM: return dsbi_sampler_ddim;
    case DSBI_SAMPLER_EULER: return dsbi_sampler_euler;
    case DSBI_SAMPLER_HEUN: return dsbi_sampler_heun;
    case DSBI_SAMPLER_EM: return dsbi_sampler_em;
    case DSBI_SAMPLER_DPM2M: return dsbi_sampler_dpm2m;
    case DSBI_SAMPLER_RK45: return dsbi_sampler_rk45;
    case DSBI_SAMPLER_SDE_ADAPTIVE: return dsbi_sampler_sde_adaptive;
    case DSBI_SAMPLER_TSIT5: return dsbi_sampler_tsit5;
    case DSBI_SAMPLER_PC: return dsbi_sampler_pc;
    default: return NULL;
    }
}

size_t dsbi_sampler_nfe(const dsbi_sample_config *cfg) {
    const dsbi_sampler_type *ty = dsbi_sampler_lookup(cfg->sampler);
    if (!ty) return 0;
    return (ty->nfe_per_step + (ty->corrector ? cfg->corrector_steps : 0)) * cfg->steps;
}

size_t dsbi_sampler_scratch(const dsbi_sample_config *cfg) {
    const dsbi_sampler_type *ty = dsbi_sampler_lookup(cfg->sampler);
    return ty ? ty->scratch : 0;
}

void dsbi_sampler_init_noise(const dsbi_sched *s, float *z, size_t n, dsbi_rng *rng) {
    double a, sg;
    dsbi_sched_alpha_sigma(s, dsbi_sched_lambda(s, 1.0), &a, &sg);
    float sd = (float)sqrt(a * a * s->sigma_data * s->sigma_data + sg * sg);
    for (size_t i = 0; i < n; i++) z[i] = sd * (float)dsbi_rng_normal(rng);
}


/* Uniform time grid from t = 1 to stop_time. */
static void integrate_fixed(const dsbi_field *f, const dsbi_sampler_type *ty,
                            const dsbi_sample_config *cfg, float *z, size_t B, float *scratch,
                            dsbi_rng *rng) {
    size_t K = cfg->steps;
    double t_end = cfg->stop_time;
    double t_prev = 1.0;
    for (size_t k = 0; k < K; k++) {
        double t = 1.0 - (1.0 - t_end) * (double)k / (double)K;
        double tn = 1.0 - (1.0 - t_end) * (double)(k + 1) / (double)K;
        ty->step(f, z, B, t_prev, t, tn, k, K, scratch, rng, cfg);
        t_prev = t;
    }
}

int dsbi_integrate(const dsbi_field *f, const dsbi_sample_config *cfg, float *z, size_t B,
                   float *scratch, dsbi_rng *rng, size_t *nfe) {
    size_t used = 0;
    if (nfe) *nfe = 0;
    const dsbi_sampler_type *ty = dsbi_sampler_lookup(cfg->sampler);
    if (!ty) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown sampler %d", (int)cfg->sampler);
    /* the flow path's reverse SDE has drift f = alpha'/alpha = -1/(1 - t):
       unbounded at the noise end */
    if (ty->stochastic && f->sched->kind == DSBI_SCHEDULE_FLOW)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "sampler '%s' integrates the reverse SDE, which needs a diffusion "
                         "schedule; flow-matching models use the ODE samplers (ddim, dpm2m, euler, "
                         "heun, rk45, tsit5)", ty->name);
    if (ty->corrector && cfg->corrector_steps > PC_MAX_CORRECTOR)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "--corrector-steps must be 0..%d (got %zu)",
                         PC_MAX_CORRECTOR, cfg->corrector_steps);
    /* Langevin on N(m, v) with step 2 r^2 v is stable only for r < 1 */
    if (ty->corrector && !(cfg->snr >= 0.0f && cfg->snr < 1.0f))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "--snr must be in (0, 1) (got %g; 0 selects the default %g)",
                         (double)cfg->snr, PC_SNR_DEFAULT);
    int st = DSBI_STATUS_OK;
    if (ty->step) {
        if (cfg->steps == 0)
            return dsbi_fail(DSBI_STATUS_ERR_INVALID, "sampler '%s' needs --steps >= 1", ty->name);
        /* refused up front: a fixed grid cannot stop half way */
        size_t need = dsbi_sampler_nfe(cfg);
        if (cfg->max_nfe && need > cfg->max_nfe)
            return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                             "sampler '%s' with %zu steps%s needs %zu network evaluations per "
                             "draw, over the budget --max-nfe %zu", ty->name, cfg->steps,
                             ty->corrector ? " (1 + --corrector-steps each)" : "", need,
                             cfg->max_nfe);
        integrate_fixed(f, ty, cfg, z, B, scratch, rng);
        used = need;
    } else if (ty->tableau) {
        st = integrate_erk(f, ty->tableau, cfg, z, B, scratch, &used);
    } else {
        st = integrate_sde_adaptive(f, cfg, z, B, scratch, rng, &used);
    }
    if (nfe) *nfe = used;
    if (st) return st;
    for (size_t i = 0; i < B * f->D; i++)
        if (!isfinite(z[i]))
            return dsbi_fail(DSBI_STATUS_ERR_NUMERIC,
                             "sampler '%s' diverged (non-finite draw); try more --steps or "
                             "another --sampler", ty->name);
    return DSBI_STATUS_OK;
}
