/* Schedules, prediction types and samplers checked against exact answers:
 * every prediction maps its exact target back to the clean parameters, and
 * every sampler driven by the exact denoiser of a Gaussian reaches the right
 * mean and sd; the ODE steppers show their order when the step halves. */
#include "helpers.h"
#include "gen/diffusion.h"
#include "sample/sampler.h"
#include <string.h>

static const dsbi_schedule schedules[] = {DSBI_SCHEDULE_EDM, DSBI_SCHEDULE_COSINE, DSBI_SCHEDULE_EDM_VE,
                                          DSBI_SCHEDULE_LINEAR, DSBI_SCHEDULE_FLOW};
#define N_SCHEDULES (sizeof schedules / sizeof schedules[0])

Test(schedule, lambda_monotone_and_derivative) {
    for (size_t k = 0; k < N_SCHEDULES; k++) {
        dsbi_sched s;
        dsbi_sched_init(&s, schedules[k], 1.0, 0.0);
        cr_assert_float_eq(dsbi_sched_lambda(&s, 0.0), s.lambda_max, 1e-9);
        cr_assert_float_eq(dsbi_sched_lambda(&s, 1.0), s.lambda_min, 1e-9);
        double prev = INFINITY;
        for (int i = 0; i <= 100; i++) {
            double t = i / 100.0, l = dsbi_sched_lambda(&s, t);
            cr_assert(l < prev, "lambda must decrease in t");
            prev = l;
            if (i > 0 && i < 100) {
                double h = 1e-6, fd = (dsbi_sched_lambda(&s, t + h) - dsbi_sched_lambda(&s, t - h)) / (2 * h);
                cr_assert(fabs(fd - dsbi_sched_dlambda(&s, t)) < 1e-4 * (1 + fabs(fd)), "dlambda at t=%g", t);
            }
            double a, sg;
            dsbi_sched_alpha_sigma(&s, l, &a, &sg);
            if (s.vp) cr_assert_float_eq(a * a + sg * sg, 1.0, 1e-12);
            else if (s.kind == DSBI_SCHEDULE_FLOW) cr_assert_float_eq(a + sg, 1.0, 1e-12);
            else cr_assert_float_eq(sg * sg, exp(-l), 1e-12 * exp(-l));
            /* the path derivatives match finite differences of alpha(t), sigma(t) */
            if (i > 0 && i < 100) {
                double h = 1e-6, ap, sp, am, sm, da, ds;
                dsbi_sched_alpha_sigma(&s, dsbi_sched_lambda(&s, t + h), &ap, &sp);
                dsbi_sched_alpha_sigma(&s, dsbi_sched_lambda(&s, t - h), &am, &sm);
                dsbi_sched_dalpha_dsigma(&s, t, &da, &ds);
                cr_assert(fabs((ap - am) / (2 * h) - da) < 1e-4 * (1 + fabs(da)), "dalpha at t=%g", t);
                cr_assert(fabs((sp - sm) / (2 * h) - ds) < 1e-4 * (1 + fabs(ds)), "dsigma at t=%g", t);
            }
        }
    }
}

Test(schedule, norm_ppf_inverts_cdf) {
    for (double u = 1e-6; u < 1.0; u += 0.0731) {
        double x = dsbi_norm_ppf(u);
        cr_assert_float_eq(0.5 * erfc(-x / M_SQRT2), u, 1e-12);
    }
}

/* For z = alpha x + sigma eps, each prediction's exact target must map back to x. */
Test(prediction, exact_targets_recover_x) {
    const double x = 0.7, eps = -1.3;
    for (size_t k = 0; k < N_SCHEDULES; k++) {
        dsbi_sched s;
        dsbi_sched_init(&s, schedules[k], 1.0, 0.0);
        for (double lam = s.lambda_min; lam <= s.lambda_max; lam += 0.5) {
            double a, sg;
            dsbi_sched_alpha_sigma(&s, lam, &a, &sg);
            double z = a * x + sg * eps;
            double targets[6];
            targets[DSBI_PREDICTION_NOISE] = eps;
            targets[DSBI_PREDICTION_X] = x;
            targets[DSBI_PREDICTION_V] = a * eps - sg * x;
            targets[DSBI_PREDICTION_SCORE] = -eps / sg;
            double A, C;
            dsbi_pred_coef(&s, DSBI_PREDICTION_F, lam, &A, &C);
            targets[DSBI_PREDICTION_F] = (x - A * z) / C;
            targets[DSBI_PREDICTION_FLOW] = eps - x; /* defined on the flow path only */
            int n_pred = s.kind == DSBI_SCHEDULE_FLOW ? 6 : 5;
            for (int p = 0; p < n_pred; p++) {
                dsbi_pred_coef(&s, (dsbi_prediction)p, lam, &A, &C);
                double xh = A * z + C * targets[p];
                cr_assert(fabs(xh - x) < 1e-9 * (1 + fabs(z) * fabs(A) + fabs(C * targets[p])),
                          "schedule %zu prediction %d lambda %g: %g vs %g", k, p, lam, xh, x);
            }
        }
    }
}

/* Conversion between any two predictions through x_hat is exact (to double
 * rounding) and round-trips. */
Test(prediction, conversions_round_trip) {
    for (size_t k = 0; k < N_SCHEDULES; k++) {
        dsbi_sched s;
        dsbi_sched_init(&s, schedules[k], 1.0, 0.0);
        for (double lam = s.lambda_min + 0.25; lam < s.lambda_max; lam += 1.5) {
            double z = 0.3, out = -0.8;
            for (int p = 0; p < 6; p++)
                for (int q = 0; q < 6; q++) {
                    double Ap, Cp, Aq, Cq;
                    dsbi_pred_coef(&s, (dsbi_prediction)p, lam, &Ap, &Cp);
                    dsbi_pred_coef(&s, (dsbi_prediction)q, lam, &Aq, &Cq);
                    double xh = Ap * z + Cp * out;
                    double out_q = (xh - Aq * z) / Cq;
                    double back = ((Aq * z + Cq * out_q) - Ap * z) / Cp;
                    cr_assert(fabs(back - out) < 1e-6 * (1 + fabs(out)), "%d->%d->%d at %g", p, q, p, lam);
                }
        }
    }
}

/* ---------------------------------------------------------------- samplers */

/* exact denoiser of N(mu, diag(s^2)): E[x | z] = mu + alpha s^2/(alpha^2 s^2 + sigma^2)(z - alpha mu) */
typedef struct gauss_ctx {
    const dsbi_sched *s;
    double mu[2], sd[2];
    size_t nfe;
} gauss_ctx;

static void gauss_denoise(void *ctx, const float *z, double t, size_t B, float *xhat) {
    gauss_ctx *g = ctx;
    double a, sg;
    dsbi_sched_alpha_sigma(g->s, dsbi_sched_lambda(g->s, t), &a, &sg);
    for (size_t i = 0; i < B; i++)
        for (int d = 0; d < 2; d++) {
            double v = g->sd[d] * g->sd[d];
            xhat[i * 2 + d] = (float)(g->mu[d] + a * v / (a * a * v + sg * sg) * (z[i * 2 + d] - a * g->mu[d]));
        }
    g->nfe++;
}

static void run_sampler(dsbi_schedule sch, dsbi_sampler smp, size_t steps, float eta, size_t n,
                        float *z, uint64_t seed, gauss_ctx *g, dsbi_sched *s) {
    dsbi_sched_init(s, sch, 1.0, 0.0);
    *g = (gauss_ctx){.s = s, .mu = {0.5, -1.0}, .sd = {0.3, 1.2}};
    dsbi_field f = {s, 2, gauss_denoise, g};
    dsbi_sample_config cfg = dsbi_sample_config_default();
    cfg.sampler = smp;
    cfg.steps = steps;
    cfg.eta = eta;
    dsbi_rng rng;
    dsbi_rng_init(&rng, seed, 5);
    dsbi_sampler_init_noise(s, z, n * 2, &rng);
    float *scratch = malloc(dsbi_sampler_scratch(&cfg) * n * 2 * sizeof(float));
    size_t used = 0;
    cr_assert_eq(dsbi_integrate(&f, &cfg, z, n, scratch, &rng, &used), 0, "%s", dsbi_last_error());
    if (dsbi_sampler_nfe(&cfg)) cr_assert_eq(used, dsbi_sampler_nfe(&cfg));
    free(scratch);
}

static void check_moments_tol(dsbi_schedule sch, dsbi_sampler smp, size_t steps, float eta, double sd_tol) {
    const size_t n = 20000;
    float *z = malloc(n * 2 * sizeof(float));
    gauss_ctx g;
    dsbi_sched s;
    run_sampler(sch, smp, steps, eta, n, z, 1, &g, &s);
    for (int d = 0; d < 2; d++) {
        double m, sd;
        col_moments(z, n, 2, (size_t)d, &m, &sd);
        /* 4 standard errors of the mean; sd within 4 % (SE of sd is 0.5 %) */
        cr_assert(fabs(m - g.mu[d]) < 4 * g.sd[d] / sqrt((double)n) + 0.01 * g.sd[d],
                  "%s/%s dim %d: mean %g vs %g", dsbi_schedule_name(sch), dsbi_sampler_name(smp), d, m, g.mu[d]);
        cr_assert(fabs(sd / g.sd[d] - 1) < sd_tol, "%s/%s dim %d: sd %g vs %g", dsbi_schedule_name(sch),
                  dsbi_sampler_name(smp), d, sd, g.sd[d]);
    }
    if (smp != DSBI_SAMPLER_RK45 && smp != DSBI_SAMPLER_SDE_ADAPTIVE)
        cr_assert_eq(g.nfe, dsbi_sampler_nfe(&(dsbi_sample_config){.sampler = smp, .steps = steps}));
    free(z);
}

static void check_moments(dsbi_schedule sch, dsbi_sampler smp, size_t steps, float eta) {
    check_moments_tol(sch, smp, steps, eta, 0.04);
}

Test(sampler, exact_gaussian_all_samplers) {
    for (size_t k = 0; k < N_SCHEDULES; k++) {
        /* second-order methods at 100 steps, first-order ones at 400, the SDE at 1000 */
        check_moments(schedules[k], DSBI_SAMPLER_DPM2M, 100, 0.0f);
        check_moments(schedules[k], DSBI_SAMPLER_HEUN, 100, 0.0f);
        check_moments(schedules[k], DSBI_SAMPLER_RK45, 0, 0.0f);
        check_moments(schedules[k], DSBI_SAMPLER_DDIM, 400, 0.0f);
        check_moments(schedules[k], DSBI_SAMPLER_DDIM, 400, 1.0f);
        /* Euler in t on the VE schedule starts at sigma = 80: it needs many steps */
        check_moments(schedules[k], DSBI_SAMPLER_EULER, schedules[k] == DSBI_SCHEDULE_EDM_VE ? 4000 : 400, 0.0f);
        /* the reverse SDE of the flow path is stiff near t = 1 (f = -1/alpha): ODE only */
        if (schedules[k] != DSBI_SCHEDULE_FLOW) {
            check_moments(schedules[k], DSBI_SAMPLER_EM, 1000, 0.0f);
            /* a weak first-order scheme: at its default tolerances (300-1000
               evaluations here) the sd is 2-4 % high, against a 0.5 % MC error */
            check_moments_tol(schedules[k], DSBI_SAMPLER_SDE_ADAPTIVE, 0, 0.0f, 0.06);
        }
    }
}

/* Deterministic steppers from fixed starting points: error against a fine
 * Heun solution must shrink by about 2^order when the steps double. */
Test(sampler, order_of_convergence) {
    const size_t n = 64;
    const dsbi_sampler smps[4] = {DSBI_SAMPLER_EULER, DSBI_SAMPLER_HEUN, DSBI_SAMPLER_DDIM, DSBI_SAMPLER_DPM2M};
    const int order[4] = {1, 2, 1, 2};
    /* base step counts keep errors well above float32 rounding */
    const size_t base[4] = {100, 16, 50, 16};
    const size_t which[3] = {0, 1, 4}; /* EDM, cosine, flow */
    for (size_t w = 0; w < 3; w++) {
        size_t k = which[w];
        float ref[128], z[128];
        gauss_ctx g;
        dsbi_sched s;
        run_sampler(schedules[k], DSBI_SAMPLER_HEUN, 4000, 0, n, ref, 3, &g, &s);
        for (int j = 0; j < 4; j++) {
            double err[3];
            for (int r = 0; r < 3; r++) {
                run_sampler(schedules[k], smps[j], base[j] << r, 0, n, z, 3, &g, &s);
                double e = 0;
                for (size_t i = 0; i < n * 2; i++) e = fmax(e, fabs(z[i] - ref[i]));
                err[r] = e;
            }
            double r1 = err[0] / err[1], r2 = err[1] / err[2], want = pow(2.0, order[j]);
            cr_assert(r2 > 0.75 * want && r2 < 1.35 * want,
                      "%s on %s: error ratios %g %g (errors %g %g %g), expected about %g",
                      dsbi_sampler_name(smps[j]), dsbi_schedule_name(schedules[k]), r1, r2, err[0],
                      err[1], err[2], want);
        }
    }
}
