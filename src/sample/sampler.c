/*
 * The sampling driver and the four step types. In the log-SNR form, with
 * lambda' = d lambda/dt < 0 and g^2 = -lambda' sigma^2 (both VP and VE):
 *   probability-flow ODE   dz/dt = 1/2 lambda' alpha (x_hat - alpha z)
 *   reverse SDE            dz = [f - g^2 s] dt + g dW,  f = -1/2 g^2 z (VP), 0 (VE),
 *                          s = (alpha x_hat - z) / sigma^2
 *   DDIM (Song et al. 2021) z' = alpha' x_hat + sqrt(sigma'^2 - e^2) eps_hat + e xi,
 *                          e^2 = eta^2 sigma'^2 (1 - alpha^2 sigma'^2 / (alpha'^2 sigma^2))
 * DDIM with eta = 0 is the exact solution of the probability-flow ODE when
 * x_hat is constant over the step (first-order exponential integrator).
 * DPM-Solver++(2M) (Lu et al. 2022) extrapolates x_hat linearly in
 * h = log(alpha/sigma) from the previous step: second order, one network
 * evaluation per step.
 */
#include "sample/sampler.h"
#include <math.h>
#include <string.h>

static void coef(const dsbi_sched *s, double t, double *lam, double *a, double *sg) {
    *lam = dsbi_sched_lambda(s, t);
    dsbi_sched_alpha_sigma(s, *lam, a, sg);
}

/* v = 1/2 lambda' alpha (x_hat - alpha z) */
static void pf_velocity(const dsbi_field *f, const float *z, size_t B, double t, float *xhat,
                        float *v) {
    double lam, a, sg;
    coef(f->sched, t, &lam, &a, &sg);
    double dl = dsbi_sched_dlambda(f->sched, t);
    f->denoise(f->ctx, z, t, B, xhat);
    float k = (float)(0.5 * dl * a), fa = (float)a;
    for (size_t i = 0; i < B * f->D; i++) v[i] = k * (xhat[i] - fa * z[i]);
}

static void step_euler(const dsbi_field *f, float *z, size_t B, double t_prev, double t, double t_next,
                       size_t k, size_t K, float *scratch, dsbi_rng *rng, double eta) {
    (void)t_prev; (void)k; (void)K; (void)rng; (void)eta;
    size_t n = B * f->D;
    float *xhat = scratch, *v = scratch + n;
    pf_velocity(f, z, B, t, xhat, v);
    float h = (float)(t_next - t);
    for (size_t i = 0; i < n; i++) z[i] += h * v[i];
}

static void step_heun(const dsbi_field *f, float *z, size_t B, double t_prev, double t, double t_next,
                      size_t k, size_t K, float *scratch, dsbi_rng *rng, double eta) {
    (void)t_prev; (void)k; (void)K; (void)rng; (void)eta;
    size_t n = B * f->D;
    float *xhat = scratch, *v1 = scratch + n, *zp = scratch + 2 * n;
    pf_velocity(f, z, B, t, xhat, v1);
    float h = (float)(t_next - t);
    for (size_t i = 0; i < n; i++) zp[i] = z[i] + h * v1[i];
    /* second slope at the Euler prediction; x_hat's buffer then holds it */
    float *v2 = xhat;
    double lam, a, sg;
    coef(f->sched, t_next, &lam, &a, &sg);
    double dl = dsbi_sched_dlambda(f->sched, t_next);
    f->denoise(f->ctx, zp, t_next, B, v2);
    float slope = (float)(0.5 * dl * a), fa = (float)a;
    for (size_t i = 0; i < n; i++) v2[i] = slope * (v2[i] - fa * zp[i]);
    for (size_t i = 0; i < n; i++) z[i] += 0.5f * h * (v1[i] + v2[i]);
}

static void step_em(const dsbi_field *f, float *z, size_t B, double t_prev, double t,
                    double t_next, size_t k, size_t K, float *scratch, dsbi_rng *rng, double eta) {
    (void)t_prev; (void)eta;
    int last = k + 1 == K;
    size_t n = B * f->D;
    float *xhat = scratch;
    double lam, a, sg;
    coef(f->sched, t, &lam, &a, &sg);
    double g2 = -dsbi_sched_dlambda(f->sched, t) * sg * sg;
    double h = t - t_next;
    f->denoise(f->ctx, z, t, B, xhat);
    double fz = f->sched->vp ? -0.5 * g2 : 0.0;
    float noise = last ? 0.0f : (float)sqrt(g2 * h);
    for (size_t i = 0; i < n; i++) {
        double s = (a * xhat[i] - z[i]) / (sg * sg);
        double drift = fz * z[i] - g2 * s;
        z[i] = (float)(z[i] - h * drift) + (noise > 0 ? noise * (float)dsbi_rng_normal(rng) : 0.0f);
    }
}

static void step_ddim(const dsbi_field *f, float *z, size_t B, double t_prev, double t,
                      double t_next, size_t k, size_t K, float *scratch, dsbi_rng *rng, double eta) {
    (void)t_prev; (void)k; (void)K;
    size_t n = B * f->D;
    float *xhat = scratch;
    double lam, a, sg, lam2, a2, sg2;
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
                       double t_next, size_t k, size_t K, float *scratch, dsbi_rng *rng, double eta) {
    (void)K; (void)rng; (void)eta;
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

static const dsbi_sampler_type type_ddim = {"ddim", 1, 0, 1, step_ddim};
static const dsbi_sampler_type type_euler = {"euler", 1, 0, 1, step_euler};
static const dsbi_sampler_type type_heun = {"heun", 2, 0, 2, step_heun};
static const dsbi_sampler_type type_em = {"em", 1, 1, 1, step_em};
static const dsbi_sampler_type type_dpm2m = {"dpm2m", 2, 0, 1, step_dpm2m};
const dsbi_sampler_type *const dsbi_sampler_ddim = &type_ddim;
const dsbi_sampler_type *const dsbi_sampler_euler = &type_euler;
const dsbi_sampler_type *const dsbi_sampler_heun = &type_heun;
const dsbi_sampler_type *const dsbi_sampler_em = &type_em;
const dsbi_sampler_type *const dsbi_sampler_dpm2m = &type_dpm2m;

const dsbi_sampler_type *dsbi_sampler_lookup(dsbi_sampler s) {
    switch (s) {
    case DSBI_SAMPLER_DDIM: return dsbi_sampler_ddim;
    case DSBI_SAMPLER_EULER: return dsbi_sampler_euler;
    case DSBI_SAMPLER_HEUN: return dsbi_sampler_heun;
    case DSBI_SAMPLER_EM: return dsbi_sampler_em;
    case DSBI_SAMPLER_DPM2M: return dsbi_sampler_dpm2m;
    default: return NULL;
    }
}

size_t dsbi_sampler_nfe(const dsbi_sample_config *cfg) {
    const dsbi_sampler_type *ty = dsbi_sampler_lookup(cfg->sampler);
    return ty ? ty->nfe_per_step * cfg->steps : 0;
}

void dsbi_sampler_init_noise(const dsbi_sched *s, float *z, size_t n, dsbi_rng *rng) {
    double a, sg;
    dsbi_sched_alpha_sigma(s, dsbi_sched_lambda(s, 1.0), &a, &sg);
    float sd = (float)sqrt(a * a * s->sigma_data * s->sigma_data + sg * sg);
    for (size_t i = 0; i < n; i++) z[i] = sd * (float)dsbi_rng_normal(rng);
}

int dsbi_integrate(const dsbi_field *f, const dsbi_sample_config *cfg, float *z, size_t B,
                   float *scratch, dsbi_rng *rng) {
    const dsbi_sampler_type *ty = dsbi_sampler_lookup(cfg->sampler);
    if (!ty) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown sampler %d", (int)cfg->sampler);
    size_t K = cfg->steps;
    double t_end = cfg->stop_time;
    double t_prev = 1.0;
    for (size_t k = 0; k < K; k++) {
        double t = 1.0 - (1.0 - t_end) * (double)k / (double)K;
        double tn = 1.0 - (1.0 - t_end) * (double)(k + 1) / (double)K;
        ty->step(f, z, B, t_prev, t, tn, k, K, scratch, rng, cfg->eta);
        t_prev = t;
    }
    for (size_t i = 0; i < B * f->D; i++)
        if (!isfinite(z[i]))
            return dsbi_fail(DSBI_STATUS_ERR_NUMERIC,
                             "sampler '%s' diverged (non-finite draw); try more --steps or "
                             "another --sampler", ty->name);
    return DSBI_STATUS_OK;
}
