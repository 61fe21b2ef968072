/*
 * Consistency training (Song et al. 2023, "Consistency models"; the improved
 * recipe of Song & Dhariwal 2023, iCT) in the variance-exploding coordinates
 * y = theta + sigma eps, sigma in [0.002, 80]:
 *   f(y, sigma) = c_skip y + c_out F(c_in y, sigma),
 *   c_skip = sd^2 / ((sigma - smin)^2 + sd^2), c_out = (sigma - smin) sd / sqrt(sigma^2 + sd^2),
 * so f(y, smin) = y. A training pair shares eps at adjacent levels
 * sigma_i < sigma_{i+1} of a Karras grid whose size N grows from 10 to 150
 * over training; the loss is (1/(sigma_{i+1} - sigma_i)) * pseudo-Huber(f(y_{i+1}) -
 * stopgrad f(y_i)), with i drawn from a discretised log-normal (-1.1, 2.0).
 * Sampling: y = sigma_max eps, theta = f(y, sigma_max), then re-noise to the
 * next level and apply f again (1 to a few steps).
 *
 * Consistency distillation (Song et al. 2023, CD, their algorithm 2): with a
 * trained diffusion model as teacher, the lower point of a pair is not
 * theta + sigma_i eps but one Heun step of the teacher's probability-flow
 * ODE dy/dsigma = (y - D(y, sigma))/sigma from y_{i+1} down to sigma_i, so
 * the student learns the teacher's ODE map instead of the noisier
 * one-sample estimate of CT. Levels are drawn uniformly, as there, from a
 * fixed Karras grid of N = 40: the paper's 18 (with Heun, on images) left
 * two-step draws of a 1-D Gaussian posterior 0.17-0.21 posterior sds off in
 * mean and 8-12 % in sd over three trainings, 40 gave 0.05-0.07 sds and
 * 5-6 % (tests/test_distill.c); finer steps make the teacher's Heun step
 * more exact at the price of a longer chain of consistency targets.
 */
#include "gen/diffusion.h"
#include <math.h>
#include <string.h>

#define CT_SIGMA_MIN 0.002
#define CT_SIGMA_MAX 80.0
#define CT_RHO 7.0
#define CT_P_MEAN -1.1
#define CT_P_STD 2.0
#define CT_S0 10
#define CT_S1 150
#define CD_LEVELS 40

/* sigma_i, i = 0..N-1 increasing, Karras spacing */
static double karras(size_t i, size_t N) {
    double a = pow(CT_SIGMA_MIN, 1.0 / CT_RHO), b = pow(CT_SIGMA_MAX, 1.0 / CT_RHO);
    return pow(a + (double)i / (double)(N - 1) * (b - a), CT_RHO);
}

size_t dsbi_ct_levels(size_t step, size_t total) {
    double k_prime = floor((double)total / (log2((double)CT_S1 / CT_S0) + 1.0));
    if (k_prime < 1) k_prime = 1;
    double n = CT_S0 * pow(2.0, floor((double)step / k_prime));
    if (n > CT_S1) n = CT_S1;
    return (size_t)n + 1;
}

void dsbi_ct_coef(double sigma, double sd, double *c_skip, double *c_out, double *c_in) {
    double ds = sigma - CT_SIGMA_MIN;
    *c_skip = sd * sd / (ds * ds + sd * sd);
    *c_out = ds * sd / sqrt(sigma * sigma + sd * sd);
    *c_in = 1.0 / sqrt(sigma * sigma + sd * sd);
}

/* index i in [0, N-2] with probability proportional to the log-normal mass of
 * (sigma_i, sigma_{i+1}], by inverse CDF of u */
static size_t pick_level(double u, size_t N) {
    double prev = erf((log(karras(0, N)) - CT_P_MEAN) / (M_SQRT2 * CT_P_STD));
    double total = erf((log(karras(N - 1, N)) - CT_P_MEAN) / (M_SQRT2 * CT_P_STD)) - prev;
    double acc = 0.0;
    for (size_t i = 0; i + 1 < N; i++) {
        double e = erf((log(karras(i + 1, N)) - CT_P_MEAN) / (M_SQRT2 * CT_P_STD));
        acc += (e - prev) / total;
        prev = e;
        if (u <= acc) return i;
    }
    return N - 2;
}

/* Evaluates f at noise level sigma for the rows in y (B x D) into f_out; the
 * condition input must be filled. */
static void ct_eval(const dsbi_diffusion *dm, const float *params, dsbi_diff_ws *w, const float *y,
                    const double *sigma, size_t B, float *f_out) {
    const dsbi_net *net = &dm->net;
    const size_t D = dm->D;
    float *zin = dsbi_ws_act(&w->ws, net, dm->in_z, B);
    float *tin = dsbi_ws_act(&w->ws, net, dm->in_t, B);
    for (size_t i = 0; i < B; i++) {
        double cs, co, ci;
        dsbi_ct_coef(sigma[i], dm->sched.sigma_data, &cs, &co, &ci);
        for (size_t d = 0; d < D; d++) zin[i * D + d] = (float)(ci * y[i * D + d]);
        tin[i] = (float)dsbi_sched_time_input(&dm->sched, -2.0 * log(sigma[i]));
    }
    dsbi_net_forward(net, params, &w->ws, B);
    const float *out = dsbi_ws_act(&w->ws, net, dm->out, B);
    for (size_t i = 0; i < B; i++) {
        double cs, co, ci;
        dsbi_ct_coef(sigma[i], dm->sched.sigma_data, &cs, &co, &ci);
        for (size_t d = 0; d < D; d++)
            f_out[i * D + d] = (float)(cs * y[i * D + d] + co * out[i * D + d]);
    }
}

/* The teacher's denoised estimate D(y, sigma) for rows at VE levels sigma[i]:
 * in its own schedule, lambda = -2 ln sigma and z = alpha y (for VP,
 * alpha sigma_VE = sigma_t), then x_hat = A z + C out as in sampling. */
static void teacher_denoise(const dsbi_diffusion *T, const float *tparams, dsbi_diff_ws *tw,
                            const float *y, const double *sigma, size_t B, float *xhat) {
    const dsbi_net *net = &T->net;
    const size_t D = T->D;
    float *zin = dsbi_ws_act(&tw->ws, net, T->in_z, B);
    float *tin = dsbi_ws_act(&tw->ws, net, T->in_t, B);
    double *A = tw->row, *C = tw->row + B, *al = tw->row + 2 * B;
    for (size_t i = 0; i < B; i++) {
        double lam = -2.0 * log(sigma[i]), a, sg;
        dsbi_sched_alpha_sigma(&T->sched, lam, &a, &sg);
        dsbi_pred_coef(&T->sched, T->pred, lam, &A[i], &C[i]);
        al[i] = a;
        double ci = dsbi_sched_c_in(&T->sched, lam);
        for (size_t d = 0; d < D; d++) zin[i * D + d] = (float)(ci * a * y[i * D + d]);
        tin[i] = (float)dsbi_sched_time_input(&T->sched, lam);
    }
    dsbi_net_forward(net, tparams, &tw->ws, B);
    const float *out = dsbi_ws_act(&tw->ws, net, T->out, B);
    for (size_t i = 0; i < B; i++)
        for (size_t d = 0; d < D; d++)
            xhat[i * D + d] = (float)(A[i] * al[i] * y[i * D + d] + C[i] * out[i * D + d]);
}

/* Distillation: the lower point y_lo of each pair by one Heun step of the
 * teacher's ODE from y_hi = theta + s_hi eps (into y_hi's buffer). */
static void teacher_step(const dsbi_diffusion *dm, dsbi_diff_ws *w, const float *x, float *y,
                         const double *s_hi, const double *s_lo, size_t B) {
    const dsbi_diffusion *T = dm->teacher;
    dsbi_diff_ws *tw = w->teacher;
    const size_t D = dm->D;
    float *xh = tw->aux, *dhi = tw->aux + B * D, *ye = tw->aux + 2 * B * D;
    memcpy(dsbi_ws_act(&tw->ws, &T->net, T->in_x, B), x, B * T->K * sizeof(float));
    teacher_denoise(T, dm->teacher_params, tw, y, s_hi, B, xh);
    for (size_t i = 0; i < B * D; i++) {
        double h = s_lo[i / D] - s_hi[i / D];
        dhi[i] = (float)((y[i] - xh[i]) / s_hi[i / D]);
        ye[i] = (float)(y[i] + h * dhi[i]);
    }
    teacher_denoise(T, dm->teacher_params, tw, ye, s_lo, B, xh);
    for (size_t i = 0; i < B * D; i++) {
        double h = s_lo[i / D] - s_hi[i / D], dlo = (ye[i] - xh[i]) / s_lo[i / D];
        y[i] = (float)(y[i] + 0.5 * h * (dhi[i] + dlo));
    }
}

double dsbi_consistency_loss(const dsbi_diffusion *dm, const float *params, float *grads,
                             dsbi_diff_ws *w, const float *theta, const float *x,
                             const float *eps, const double *u, size_t B, size_t B_total) {
    const dsbi_net *net = &dm->net;
    const int cd = dm->teacher && w->teacher;
    const size_t D = dm->D, K = dm->K,
                 N = cd ? CD_LEVELS : (dm->ct_levels < 3 ? 3 : dm->ct_levels);
    float *y = w->aux, *f_teacher = w->aux + B * D;
    double *s_lo = w->row, *s_hi = w->row + B, *lam = w->row + 2 * B;
    for (size_t i = 0; i < B; i++) {
        size_t k = cd ? (size_t)(u[i] * (double)(N - 1)) : pick_level(u[i], N);
        if (k > N - 2) k = N - 2;
        s_lo[i] = karras(k, N);
        s_hi[i] = karras(k + 1, N);
        lam[i] = 1.0 / (s_hi[i] - s_lo[i]);
    }
    /* target: the same weights at the lower level, no gradient; the lower
       point shares eps with the upper one (CT) or is the teacher's ODE step
       from it (CD) */
    if (cd) {
        for (size_t i = 0; i < B * D; i++) y[i] = theta[i] + (float)s_hi[i / D] * eps[i];
        teacher_step(dm, w, x, y, s_hi, s_lo, B);
    } else {
        for (size_t i = 0; i < B * D; i++) y[i] = theta[i] + (float)s_lo[i / D] * eps[i];
    }
    memcpy(dsbi_ws_act(&w->ws, net, dm->in_x, B), x, B * K * sizeof(float));
    ct_eval(dm, params, w, y, s_lo, B, f_teacher);
    /* student at the higher level with the same eps */
    for (size_t i = 0; i < B * D; i++) y[i] = theta[i] + (float)s_hi[i / D] * eps[i];
    float *f_student = y; /* y is no longer needed after the forward pass inputs are set */
    float *ycopy = f_teacher + B * D;
    memcpy(ycopy, y, B * D * sizeof(float));
    ct_eval(dm, params, w, ycopy, s_hi, B, f_student);
    const double c = 0.00054 * sqrt((double)D);
    float *dout = NULL;
    if (grads) {
        dsbi_net_zero_dact(net, &w->ws, B);
        dout = dsbi_ws_dact(&w->ws, net, dm->out, B);
    }
    double total = 0.0;
    for (size_t i = 0; i < B; i++) {
        double ss = 0.0;
        for (size_t d = 0; d < D; d++) {
            double e = f_student[i * D + d] - f_teacher[i * D + d];
            ss += e * e;
        }
        double r = sqrt(ss + c * c);
        total += lam[i] * (r - c);
        if (dout) {
            double cs, co, ci;
            dsbi_ct_coef(s_hi[i], dm->sched.sigma_data, &cs, &co, &ci);
            for (size_t d = 0; d < D; d++) {
                double e = f_student[i * D + d] - f_teacher[i * D + d];
                dout[i * D + d] = (float)(lam[i] * e / r * co / (double)B_total);
            }
        }
    }
    if (grads) dsbi_net_backward(net, params, grads, &w->ws, B);
    return total / (double)B_total;
}

/* Multistep consistency sampling: levels from a Karras grid of steps + 1
 * points between sigma_max and sigma_min, the last one (sigma_min) unused. */
void dsbi_consistency_sample(const dsbi_diffusion *dm, const float *params, dsbi_diff_ws *w,
                             float *z, size_t B, size_t steps, dsbi_rng *rng, float *scratch) {
    const size_t D = dm->D;
    double *sig = w->row;
    float *fx = scratch;
    for (size_t k = 0; k < steps; k++) {
        double s = karras(steps - k, steps + 1);
        if (k == 0) {
            for (size_t i = 0; i < B * D; i++) z[i] = (float)(CT_SIGMA_MAX * dsbi_rng_normal(rng));
            s = CT_SIGMA_MAX;
        } else {
            double sn = sqrt(fmax(s * s - CT_SIGMA_MIN * CT_SIGMA_MIN, 0.0));
            for (size_t i = 0; i < B * D; i++) z[i] = fx[i] + (float)(sn * dsbi_rng_normal(rng));
        }
        for (size_t i = 0; i < B; i++) sig[i] = s;
        ct_eval(dm, params, w, z, sig, B, fx);
    }
    memcpy(z, fx, B * D * sizeof(float));
}
