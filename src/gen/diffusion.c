/*
 * Diffusion schedules, prediction types, loss weightings and the denoising
 * loss. Formulas: ALGORITHMS.md 3.1 (log-SNR form, BayesFlow's schedules),
 * Karras et al. 2022 (EDM), Kingma & Gao 2023 (weightings).
 *
 * Loss (any prediction): eps_hat = (z - alpha x_hat)/sigma, with
 * x_hat = A z + C out, so eps_hat = P z + Q out, P = (1 - alpha A)/sigma,
 * Q = -alpha C / sigma; L = mean_rows w(lambda) mean_d (eps_hat - eps)^2.
 */
#include "gen/diffusion.h"
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- schedules */

static double cosine_t_of_lambda(double lambda, double shift) {
    return (2.0 / M_PI) * atan(exp((2.0 * shift - lambda) / 2.0));
}

void dsbi_sched_init(dsbi_sched *s, dsbi_schedule kind, double sigma_data, double shift) {
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->sigma_data = sigma_data > 0 ? sigma_data : 1.0;
    s->shift = shift;
    switch (kind) {
    case DSBI_SCHEDULE_COSINE:
        s->vp = 1;
        s->lambda_min = -15.0;
        s->lambda_max = 15.0;
        s->t_min = cosine_t_of_lambda(s->lambda_max, shift);
        s->t_max = cosine_t_of_lambda(s->lambda_min, shift);
        break;
    case DSBI_SCHEDULE_LINEAR:
        /* abar(t) = exp(-(beta_min t + (beta_max - beta_min) t^2 / 2)), t in [1e-3, 1] */
        s->vp = 1;
        s->beta_min = 0.1;
        s->beta_max = 20.0;
        s->t_min = 1e-3;
        s->t_max = 1.0;
        s->lambda_max = dsbi_sched_lambda(s, 0.0);
        s->lambda_min = dsbi_sched_lambda(s, 1.0);
        break;
    case DSBI_SCHEDULE_FLOW:
        /* rectified-flow path z = (1 - tt) x + tt eps, tt in [1e-4, 1 - 1e-4]:
           alpha/sigma = e^{lambda/2} with alpha + sigma = 1 */
        s->vp = 0;
        s->t_min = 1e-4;
        s->t_max = 1.0 - 1e-4;
        s->lambda_max = dsbi_sched_lambda(s, 0.0);
        s->lambda_min = dsbi_sched_lambda(s, 1.0);
        break;
    case DSBI_SCHEDULE_SCM:
    case DSBI_SCHEDULE_CONSISTENCY:
        /* consistency training works in VE coordinates; the sCM's TrigFlow
           (scm.c: x_t = cos(t) x + sin(t) z, sigma_VE = sd tan(t)) is VP. Both
           take their sampling times from the same Karras grid */
        s->vp = kind == DSBI_SCHEDULE_SCM;
        s->sigma_min = 0.002;
        s->sigma_max = 80.0;
        s->rho = 7.0;
        s->lambda_min = -2.0 * log(s->sigma_max);
        s->lambda_max = -2.0 * log(s->sigma_min);
        break;
    case DSBI_SCHEDULE_EDM:
    case DSBI_SCHEDULE_EDM_VE:
    default:
        s->vp = kind != DSBI_SCHEDULE_EDM_VE;
        s->sigma_min = 1e-4;
        s->sigma_max = 80.0;
        s->rho = 7.0;
        s->lambda_min = -2.0 * log(s->sigma_max);
        s->lambda_max = -2.0 * log(s->sigma_min);
        break;
    }
}

/* EDM: sigma(t) = (smax^(1/rho) + (1-t)(smin^(1/rho) - smax^(1/rho)))^rho, lambda = -2 ln sigma.
 * Cosine: lambda = -2 ln tan(pi tt/2) + 2 shift, tt = t_min + (t_max - t_min) t. */
static double linear_log_abar(const dsbi_sched *s, double tt) {
    return -(s->beta_min * tt + 0.5 * (s->beta_max - s->beta_min) * tt * tt);
}

double dsbi_sched_lambda(const dsbi_sched *s, double t) {
    if (s->kind == DSBI_SCHEDULE_LINEAR) {
        double tt = s->t_min + (s->t_max - s->t_min) * t, la = linear_log_abar(s, tt);
        return la - log(-expm1(la)); /* log(abar / (1 - abar)) */
    }
    if (s->kind == DSBI_SCHEDULE_FLOW) {
        double tt = s->t_min + (s->t_max - s->t_min) * t;
        return 2.0 * log((1.0 - tt) / tt);
    }
    if (s->kind == DSBI_SCHEDULE_COSINE) {
        double tt = s->t_min + (s->t_max - s->t_min) * t;
        return -2.0 * log(tan(M_PI * tt / 2.0)) + 2.0 * s->shift;
    }
    double a = pow(s->sigma_max, 1.0 / s->rho), b = pow(s->sigma_min, 1.0 / s->rho);
    double base = a + (1.0 - t) * (b - a);
    return -2.0 * s->rho * log(base);
}

double dsbi_sched_dlambda(const dsbi_sched *s, double t) {
    if (s->kind == DSBI_SCHEDULE_LINEAR) {
        /* d/dt [log abar - log(1 - abar)] = (log abar)' / (1 - abar) */
        double tt = s->t_min + (s->t_max - s->t_min) * t, la = linear_log_abar(s, tt);
        double beta = s->beta_min + (s->beta_max - s->beta_min) * tt;
        return -beta * (s->t_max - s->t_min) / (-expm1(la));
    }
    if (s->kind == DSBI_SCHEDULE_FLOW) {
        double tt = s->t_min + (s->t_max - s->t_min) * t;
        return -2.0 * (s->t_max - s->t_min) / (tt * (1.0 - tt));
    }
    if (s->kind == DSBI_SCHEDULE_COSINE) {
        double tt = s->t_min + (s->t_max - s->t_min) * t;
        return -2.0 * M_PI * (s->t_max - s->t_min) / sin(M_PI * tt);
    }
    double a = pow(s->sigma_max, 1.0 / s->rho), b = pow(s->sigma_min, 1.0 / s->rho);
    double base = a + (1.0 - t) * (b - a);
    return -2.0 * s->rho * (a - b) / base;
}

double dsbi_norm_ppf(double u) {
    /* Acklam's rational approximation (relative error 1.2e-9), then two Newton
       steps on the CDF: exact to double rounding */
    static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                3.754408661907416e+00};
    if (u <= 0.0) return -INFINITY;
    if (u >= 1.0) return INFINITY;
    double x, q, r;
    if (u < 0.02425) {
        q = sqrt(-2.0 * log(u));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    } else if (u > 1.0 - 0.02425) {
        q = sqrt(-2.0 * log(1.0 - u));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    } else {
        q = u - 0.5;
        r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    }
    for (int i = 0; i < 2; i++) {
        double pdf = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
        if (pdf < 1e-300) break;
        x -= (0.5 * erfc(-x / M_SQRT2) - u) / pdf;
    }
    return x;
}

double dsbi_sched_train_lambda(const dsbi_sched *s, double u, double *density) {
    if (s->kind != DSBI_SCHEDULE_EDM && s->kind != DSBI_SCHEDULE_EDM_VE) {
        double lam = dsbi_sched_lambda(s, u);
        if (density) *density = 1.0 / fabs(dsbi_sched_dlambda(s, u));
        return lam;
    }
    /* EDM training: ln sigma ~ N(-1.2, 1.2^2), i.e. lambda ~ N(2.4, 2.4^2), clipped */
    double z = dsbi_norm_ppf(u);
    double lam = 2.4 + 2.4 * z;
    if (lam < s->lambda_min - 1.0) lam = s->lambda_min - 1.0;
    if (lam > s->lambda_max + 1.0) lam = s->lambda_max + 1.0;
    if (density) *density = exp(-0.5 * z * z) / (2.4 * sqrt(2.0 * M_PI));
    return lam;
}

void dsbi_sched_alpha_sigma(const dsbi_sched *s, double lambda, double *alpha, double *sigma) {
    if (s->kind == DSBI_SCHEDULE_FLOW) {
        *alpha = 1.0 / (1.0 + exp(-0.5 * lambda));
        *sigma = 1.0 / (1.0 + exp(0.5 * lambda));
    } else if (s->vp) {
        /* alpha^2 = sigmoid(lambda), sigma^2 = sigmoid(-lambda), computed stably */
        *alpha = sqrt(1.0 / (1.0 + exp(-lambda)));
        *sigma = sqrt(1.0 / (1.0 + exp(lambda)));
    } else {
        *alpha = 1.0;
        *sigma = exp(-0.5 * lambda);
    }
}

void dsbi_sched_dalpha_dsigma(const dsbi_sched *s, double t, double *dalpha, double *dsigma) {
    if (s->kind == DSBI_SCHEDULE_FLOW) {
        *dalpha = -(s->t_max - s->t_min);
        *dsigma = s->t_max - s->t_min;
        return;
    }
    double lam = dsbi_sched_lambda(s, t), dl = dsbi_sched_dlambda(s, t), a, sg;
    dsbi_sched_alpha_sigma(s, lam, &a, &sg);
    if (s->vp) {
        /* alpha^2 = sigmoid(lambda): alpha' = alpha sigma^2 lambda'/2, sigma' = -sigma alpha^2 lambda'/2 */
        *dalpha = 0.5 * a * sg * sg * dl;
        *dsigma = -0.5 * sg * a * a * dl;
    } else {
        *dalpha = 0.0;
        *dsigma = -0.5 * sg * dl;
    }
}

double dsbi_sched_time_input(const dsbi_sched *s, double lambda) {
    return 2.0 * (lambda - s->lambda_min) / (s->lambda_max - s->lambda_min) - 1.0;
}

double dsbi_sched_c_in(const dsbi_sched *s, double lambda) {
    double a, sg;
    dsbi_sched_alpha_sigma(s, lambda, &a, &sg);
    return 1.0 / sqrt(a * a * s->sigma_data * s->sigma_data + sg * sg);
}

double dsbi_sched_weight(const dsbi_sched *s, dsbi_weighting w, double lambda, double density) {
    if (w == DSBI_WEIGHTING_DEFAULT)
        w = s->kind == DSBI_SCHEDULE_FLOW                                     ? DSBI_WEIGHTING_FLOW
            : (s->kind == DSBI_SCHEDULE_COSINE || s->kind == DSBI_SCHEDULE_LINEAR) ? DSBI_WEIGHTING_SIGMOID
                                                                                   : DSBI_WEIGHTING_EDM;
    switch (w) {
    case DSBI_WEIGHTING_EDM:
        return 1.0 + exp(-lambda) / (s->sigma_data * s->sigma_data);
    case DSBI_WEIGHTING_SIGMOID:
        return 1.0 / (1.0 + exp(lambda - 2.0));
    case DSBI_WEIGHTING_FLOW: {
        /* noise MSE = alpha^2 (velocity MSE) on the flow path */
        double a, sg;
        dsbi_sched_alpha_sigma(s, lambda, &a, &sg);
        return 1.0 / (a * a);
    }
    case DSBI_WEIGHTING_LIKELIHOOD:
        /* the ELBO weights noise MSE uniformly in lambda: importance weight
           1/density, scaled by the lambda range so that it is O(1) */
        return 1.0 / (density * (s->lambda_max - s->lambda_min));
    default:
        return 1.0;
    }
}

void dsbi_pred_coef(const dsbi_sched *s, dsbi_prediction p, double lambda, double *A, double *C) {
    double a, sg;
    dsbi_sched_alpha_sigma(s, lambda, &a, &sg);
    switch (p) {
    case DSBI_PREDICTION_X:
        *A = 0.0; *C = 1.0;
        break;
    case DSBI_PREDICTION_NOISE:
        *A = 1.0 / a; *C = -sg / a;
        break;
    case DSBI_PREDICTION_V: {
        double n = a * a + sg * sg;
        *A = a / n; *C = -sg / n;
        break;
    }
    case DSBI_PREDICTION_SCORE:
        *A = 1.0 / a; *C = sg * sg / a;
        break;
    case DSBI_PREDICTION_FLOW:
        /* out = eps - x on z = alpha x + sigma eps with alpha + sigma = 1: x = z - sigma out */
        *A = 1.0; *C = -sg;
        break;
    case DSBI_PREDICTION_F:
    default: {
        /* EDM preconditioning in the variance-exploding coordinates y = z/alpha,
           sigma_ve = sigma/alpha = exp(-lambda/2) */
        double sd = s->sigma_data, sve2 = exp(-lambda);
        double c_skip = sd * sd / (sve2 + sd * sd);
        double c_out = sqrt(sve2) * sd / sqrt(sve2 + sd * sd);
        *A = c_skip / a; *C = c_out;
        break;
    }
    }
}

/* ---------------------------------------------------------------- network */

int dsbi_diffusion_build(dsbi_diffusion *dm, const dsbi_model_config *cfg, size_t D, size_t K) {
    memset(dm, 0, sizeof *dm);
    dsbi_net *net = &dm->net;
    dsbi_net_init(net);
    dm->D = D;
    dm->K = K;
    dm->pred = cfg->prediction;
    dm->weighting = cfg->weighting;
    dsbi_sched_init(&dm->sched, cfg->schedule, cfg->sigma_data, cfg->cosine_shift);
    dm->in_z = dsbi_net_input(net, D);
    dm->in_x = dsbi_net_input(net, K);
    dm->in_t = dsbi_net_input(net, 1);
    int te = dsbi_net_time_embed(net, dm->in_t, cfg->time_features, cfg->time_embedding,
                                 cfg->fourier_scale);
    int parts[3] = {dm->in_z, dm->in_x, te};
    int h = dsbi_net_concat(net, 3, parts);
    h = dsbi_net_dense(net, h, cfg->width, 0);
    /* depth dense layers of width H in both variants, so the cost is equal:
       plain: (dense, act) x depth; residual: h += dense(act([LN] h)) */
    for (size_t k = 1; k < cfg->depth; k++) {
        if (cfg->residual) {
            int a = cfg->layer_norm ? dsbi_net_layernorm(net, h) : h;
            a = dsbi_net_act(net, a, cfg->activation);
            a = dsbi_net_dense(net, a, cfg->width, 0);
            h = dsbi_net_add(net, h, a);
        } else {
            h = dsbi_net_act(net, h, cfg->activation);
            h = dsbi_net_dense(net, h, cfg->width, 0);
        }
    }
    h = dsbi_net_act(net, h, cfg->activation);
    dm->out = dsbi_net_dense(net, h, D, 1);
    if (dm->out < 0) {
        dsbi_net_free(net);
        return DSBI_STATUS_ERR_NOMEM;
    }
    return DSBI_STATUS_OK;
}

void dsbi_diffusion_free(dsbi_diffusion *dm) {
    if (dm) dsbi_net_free(&dm->net);
}

int dsbi_diff_ws_create(dsbi_diff_ws *w, const dsbi_diffusion *dm, size_t B, int train) {
    memset(w, 0, sizeof *w);
    w->B = B;
    int st = dsbi_ws_create(&w->ws, &dm->net, B, train);
    if (st) return st;
    w->row = dsbi_malloc(B * 4, sizeof(double));
    w->aux = dsbi_malloc(3 * B * dm->D, sizeof(float));
    if (!w->row || !w->aux) {
        dsbi_diff_ws_free(w);
        return DSBI_STATUS_ERR_NOMEM;
    }
    if (train && dm->teacher) { /* consistency distillation: the teacher's forward passes */
        if (!(w->teacher = dsbi_malloc(1, sizeof *w->teacher)) ||
            (st = dsbi_diff_ws_create(w->teacher, dm->teacher, B, 0))) {
            free(w->teacher);
            w->teacher = NULL;
            dsbi_diff_ws_free(w);
            return st ? st : DSBI_STATUS_ERR_NOMEM;
        }
    }
    return DSBI_STATUS_OK;
}

void dsbi_diff_ws_free(dsbi_diff_ws *w) {
    if (!w) return;
    if (w->teacher) {
        dsbi_diff_ws_free(w->teacher);
        free(w->teacher);
    }
    dsbi_ws_free(&w->ws);
    free(w->row);
    free(w->aux);
    memset(w, 0, sizeof *w);
}

void dsbi_diffusion_draw_noise(const dsbi_diffusion *dm, dsbi_rng *rng, size_t B, float *eps,
                               double *u) {
    dsbi_rng_fill_normal(rng, eps, B * dm->D);
    /* low-discrepancy noise levels: u_i = (u0 + i/B) mod 1 */
    double u0 = dsbi_rng_uniform(rng);
    for (size_t i = 0; i < B; i++) {
        u[i] = fmod(u0 + (double)i / (double)B, 1.0);
        if (u[i] <= 0.0) u[i] = 0.5 / (double)B;
    }
}

double dsbi_diffusion_loss(const dsbi_diffusion *dm, const float *params, float *grads,
                           dsbi_diff_ws *w, const float *theta, const float *x, const float *eps,
                           const double *u, size_t B, size_t B_total) {
    if (dm->sched.kind == DSBI_SCHEDULE_CONSISTENCY)
        return dsbi_consistency_loss(dm, params, grads, w, theta, x, eps, u, B, B_total);
    if (dm->sched.kind == DSBI_SCHEDULE_SCM)
        return dsbi_scm_loss(dm, params, grads, w, theta, x, eps, u, B, B_total);
    const dsbi_net *net = &dm->net;
    const size_t D = dm->D, K = dm->K;
    float *z = dsbi_ws_act(&w->ws, net, dm->in_z, B);
    float *xc = dsbi_ws_act(&w->ws, net, dm->in_x, B);
    float *tin = dsbi_ws_act(&w->ws, net, dm->in_t, B);
    memcpy(xc, x, B * K * sizeof(float));
    for (size_t i = 0; i < B; i++) {
        double dens, a, sg, A, C;
        double lam = dsbi_sched_train_lambda(&dm->sched, u[i], &dens);
        dsbi_sched_alpha_sigma(&dm->sched, lam, &a, &sg);
        dsbi_pred_coef(&dm->sched, dm->pred, lam, &A, &C);
        double c_in = dsbi_sched_c_in(&dm->sched, lam);
        double *r = w->row + 4 * i;
        r[0] = lam;
        r[1] = dsbi_sched_weight(&dm->sched, dm->weighting, lam, dens);
        r[2] = (1.0 - a * A) / sg;
        r[3] = -a * C / sg;
        tin[i] = (float)dsbi_sched_time_input(&dm->sched, lam);
        for (size_t d = 0; d < D; d++) {
            /* the network sees c_in z; the loss uses the raw z */
            z[i * D + d] = (float)(c_in * (a * theta[i * D + d] + sg * eps[i * D + d]));
        }
    }
    dsbi_net_forward(net, params, &w->ws, B);
    const float *out = dsbi_ws_act(&w->ws, net, dm->out, B);
    float *dout = NULL;
    if (grads) {
        dsbi_net_zero_dact(net, &w->ws, B);
        dout = dsbi_ws_dact(&w->ws, net, dm->out, B);
    }
    double total = 0.0, norm = 1.0 / (double)(B_total * D);
    for (size_t i = 0; i < B; i++) {
        const double *r = w->row + 4 * i;
        double c_in = dsbi_sched_c_in(&dm->sched, r[0]);
        double acc = 0.0;
        for (size_t d = 0; d < D; d++) {
            size_t k = i * D + d;
            double zr = z[k] / c_in;
            double e = r[2] * zr + r[3] * out[k] - eps[k];
            acc += e * e;
            if (dout) dout[k] = (float)(2.0 * r[1] * e * r[3] * norm);
        }
        total += r[1] * acc;
    }
    if (grads) dsbi_net_backward(net, params, grads, &w->ws, B);
    return total * norm;
}

void dsbi_diffusion_set_condition(const dsbi_diffusion *dm, dsbi_diff_ws *w, const float *x,
                                  size_t B) {
    float *xc = dsbi_ws_act(&w->ws, &dm->net, dm->in_x, B);
    for (size_t i = 0; i < B; i++) memcpy(xc + i * dm->K, x, dm->K * sizeof(float));
}

void dsbi_diffusion_denoise(const dsbi_diffusion *dm, const float *params, dsbi_diff_ws *w,
                            const float *z, double t, size_t B, float *xhat) {
    const dsbi_net *net = &dm->net;
    const size_t D = dm->D;
    double lam = dsbi_sched_lambda(&dm->sched, t), A, C;
    dsbi_pred_coef(&dm->sched, dm->pred, lam, &A, &C);
    float c_in = (float)dsbi_sched_c_in(&dm->sched, lam);
    float *zin = dsbi_ws_act(&w->ws, net, dm->in_z, B);
    float *tin = dsbi_ws_act(&w->ws, net, dm->in_t, B);
    float tv = (float)dsbi_sched_time_input(&dm->sched, lam);
    for (size_t i = 0; i < B * D; i++) zin[i] = c_in * z[i];
    for (size_t i = 0; i < B; i++) tin[i] = tv;
    dsbi_net_forward(net, params, &w->ws, B);
    const float *out = dsbi_ws_act(&w->ws, net, dm->out, B);
    float fA = (float)A, fC = (float)C;
    for (size_t i = 0; i < B * D; i++) xhat[i] = fA * z[i] + fC * out[i];
}
