/*
 * Continuous-time consistency training: the stable consistency model, sCM
 * (Lu & Song 2024, "Simplifying, stabilizing and scaling continuous-time
 * consistency models", arXiv 2410.11081, their algorithm 1 for consistency
 * training, from a random initialisation). TrigFlow coordinates on the
 * standardized parameters, sd = sigma_data:
 *   x_t = cos(t) x0 + sin(t) z, z ~ N(0, sd^2 I), t in [0, pi/2],
 *   f(x_t, t) = cos(t) x_t - sin(t) sd F(x_t / sd, t), so f(x, 0) = x.
 * A training row draws tan(t) = e^tau / sd, tau ~ N(-1.0, 1.4^2) (their
 * CIFAR-10 proposal), and the one-sample PF-ODE tangent
 * dx_t/dt = cos(t) z - sin(t) x0; with
 *   g = -cos^2(t) (sd F - dx_t/dt) - r cos(t) sin(t) (x_t + sd dF/dt)
 * (= cos(t) df/dt at r = 1), r = min(1, step / H) (tangent warm-up, H = 10 %
 * of the steps; r = 0 is TrigFlow diffusion training), g <- g / (|g| + c),
 * c = 0.1 (tangent normalisation), the loss is |F - stopgrad(F) - g|^2 / D.
 * F - stopgrad(F) is 0 in value: one forward pass gives it, and the gradient
 * is -2/D g . dF/dtheta. The paper's adaptive weighting (a learned w(t),
 * loss e^w/D |.|^2 - w) is left out: implemented as a linear head on time
 * features it made every measured case worse (two_moons observations 1-3,
 * two seeds: C2ST 0.68 against 0.60-0.63 at two steps; the 1-D Gaussian of
 * tests/test_scm.c, five seeds: two-step sd 4-8 % off against 2-5 %).
 *
 * dF/dt along the ODE, J_z (dx_t/dt) / sd + dF/d(time input) d(time
 * input)/dt, is a Jacobian-vector product of the network. It is computed
 * exactly by forward-mode tangent propagation over the tape (dsbi_scm_jvp):
 * after the forward pass, one walk of the same nodes carries the input
 * tangents through dense, activation, layer norm, add, concat and time
 * embedding at about the cost of a forward pass, in the activation-gradient
 * arena, which is free until the backward pass. A central difference would
 * take two more forward passes and, in float32, trade truncation against
 * rounding error (tests/test_scm.c needed a fourth-order one to check it).
 *
 * Sampling (1 to N steps): x = sd eps at t_max = arctan(sigma_max / sd)
 * (sigma_max = 80), x0 = f(x, t_max); then re-noise x = cos(t) x0 + sin(t) sd
 * eps and apply f again, at t = 1.1 for two steps (the paper's choice) or,
 * for three and more, at the points of a Karras grid (rho = 7, sigma 80 to
 * 0.002, steps + 1 points, the last unused) mapped by t = arctan(sigma / sd),
 * as the discrete consistency model does.
 */
#include "gen/diffusion.h"
#include <math.h>
#include <string.h>

#define SCM_P_MEAN -1.0
#define SCM_P_STD 1.4
#define SCM_C 0.1           /* tangent normalisation constant */
#define SCM_WARMUP 0.1      /* tangent warm-up over this fraction of the steps */
#define SCM_SIGMA_MAX 80.0
#define SCM_SIGMA_MIN 0.002
#define SCM_RHO 7.0
#define SCM_T_MID 1.1       /* intermediate time of two-step sampling */
#define SCM_TIME_SCALE 0.05 /* network time input range [-0.05, 0.05] (see time_input) */

/* Network time input: linear in t (the paper's c_noise(t) = t: no log near
 * the ends, bounded d/dt), t in [0, pi/2] -> [-0.05, 0.05]. The narrow range
 * keeps the time features smooth, the paper's remedy for unstable
 * continuous-time training (their smaller Fourier scale): with the default
 * Fourier scale 3 the random frequencies have sd 1.2 rad per unit of t.
 * Measured with the adaptive weighting still in: on the 1-D Gaussian of
 * tests/test_scm.c (300 epochs, three seeds) the range [-1, 1] left two-step
 * draws 16-56 % off in sd, [-0.1, 0.1] 2-10 %, [-0.05, 0.05] 2-6 %,
 * [-0.02, 0.02] 2-3 %; on two_moons (observations 1-3) [-0.2, 0.2] gave a
 * two-step C2ST of 0.77, [-0.05, 0.05] 0.69; without it, [-0.05, 0.05] 0.60
 * and [-0.02, 0.02] 0.61. */
static double time_input(double t) { return SCM_TIME_SCALE * (4.0 / M_PI * t - 1.0); }
#define SCM_DTIN (SCM_TIME_SCALE * 4.0 / M_PI) /* d time_input / dt */

/* ---------------------------------------------------------------- forward-mode JVP */

/* frequency k of the fixed sinusoidal embedding, as in layers.c */
static float sinusoidal_freq(size_t k, size_t half) {
    if (half <= 1) return 1.0f / (2.0f * (float)M_PI);
    return expf((float)k * logf(30.0f) / (float)(half - 1)) / (2.0f * (float)M_PI);
}

/* Tangents of the nodes 0..last (node i's at tan + B a_off, laid out as the
 * activations) from those of the input nodes, after dsbi_net_forward on
 * the same inputs; each rule is the derivative of its forward kernel:
 *   dense     dy = dx W                      act   dy = f'(x) dx
 *   add       dy = da + db                   concat: the pieces
 *   layernorm dy = gamma rstd (dx - mean(dx) - xh mean(xh dx)), xh = (x - m) rstd
 *   time      [dt, 2 pi w cos(a) dt, -2 pi w sin(a) dt], a = 2 pi w t */
void dsbi_scm_jvp(const dsbi_net *net, const float *params, const dsbi_ws *ws, float *tan,
                  size_t B, int last) {
    DSBI_ASSERT(last >= 0 && (size_t)last < net->n_nodes);
    for (int i = 0; i <= last; i++) {
        const dsbi_node *n = &net->nodes[i];
        const dsbi_node *a = n->n_in > 0 ? &net->nodes[n->in[0]] : NULL;
        float *to = tan + B * n->a_off;
        const float *ta = a ? tan + B * a->a_off : NULL, *xa = a ? ws->act + B * a->a_off : NULL;
        const float *p = params + n->p_off;
        size_t R = B * n->rows, O = n->dim;
        switch (n->kind) {
        case DSBI_NODE_INPUT:
            break;
        case DSBI_NODE_DENSE:
            dsbi_sgemm(0, 0, R, O, a->dim, 1.0f, ta, a->dim, p, O, 0.0f, to, O);
            break;
        case DSBI_NODE_ACT:
            /* d_in = d_out f'(in) is the same product */
            dsbi_act_backward_set(to, ta, xa, R * O, (dsbi_activation)n->act);
            break;
        case DSBI_NODE_ADD: {
            const float *tb = tan + B * net->nodes[n->in[1]].a_off;
            for (size_t k = 0; k < R * O; k++) to[k] = ta[k] + tb[k];
            break;
        }
        case DSBI_NODE_CONCAT: {
            size_t off = 0;
            for (int k = 0; k < n->n_in; k++) {
                const dsbi_node *c = &net->nodes[n->in[k]];
                const float *tc = tan + B * c->a_off;
                for (size_t r = 0; r < R; r++)
                    memcpy(to + r * O + off, tc + r * c->dim, c->dim * sizeof(float));
                off += c->dim;
            }
            break;
        }
        case DSBI_NODE_LAYERNORM: {
            const float *save = ws->save + B * n->s_off;
            for (size_t r = 0; r < R; r++) {
                const float *x = xa + r * O, *dx = ta + r * O;
                float m = save[2 * r], rstd = save[2 * r + 1];
                double s = 0.0, sx = 0.0;
                for (size_t j = 0; j < O; j++) {
                    s += dx[j];
                    sx += (x[j] - m) * rstd * dx[j];
                }
                float ms = (float)(s / (double)O), msx = (float)(sx / (double)O);
                for (size_t j = 0; j < O; j++)
                    to[r * O + j] = p[j] * rstd * (dx[j] - ms - (x[j] - m) * rstd * msx);
            }
            break;
        }
        case DSBI_NODE_TIME_EMBED: {
            size_t half = (O - 1) / 2;
            int fixed = n->emb != DSBI_TIME_FOURIER;
            for (size_t r = 0; r < R; r++) {
                float *o = to + r * O;
                o[0] = ta[r];
                for (size_t k = 0; k < half; k++) {
                    float f = fixed ? sinusoidal_freq(k, half) : p[k];
                    float w2 = 2.0f * (float)M_PI * f, ang = w2 * xa[r];
                    o[1 + k] = w2 * cosf(ang) * ta[r];
                    o[1 + half + k] = -w2 * sinf(ang) * ta[r];
                }
            }
            break;
        }
        default:
            DSBI_ASSERT(!"sCM tangent pass: node kind without a tangent rule");
        }
    }
}

/* ---------------------------------------------------------------- training */

double dsbi_scm_loss(const dsbi_diffusion *dm, const float *params, float *grads, dsbi_diff_ws *w,
                     const float *theta, const float *x, const float *eps, const double *u,
                     size_t B, size_t B_total) {
    const dsbi_net *net = &dm->net;
    const size_t D = dm->D, K = dm->K;
    const double sd = dm->sched.sigma_data;
    /* the tangents live in the activation-gradient arena until backward */
    DSBI_ASSERT(w->ws.dact);
    float *tan = w->ws.dact;
    float *zin = dsbi_ws_act(&w->ws, net, dm->in_z, B);
    float *tin = dsbi_ws_act(&w->ws, net, dm->in_t, B);
    float *xt = w->aux, *dxdt = w->aux + B * D; /* B x D each */
    double *tt = w->row;                         /* B */
    memcpy(dsbi_ws_act(&w->ws, net, dm->in_x, B), x, B * K * sizeof(float));
    for (size_t i = 0; i < B; i++) {
        double tau = SCM_P_MEAN + SCM_P_STD * dsbi_norm_ppf(u[i]);
        double t = atan(exp(tau) / sd), c = cos(t), s = sin(t);
        tt[i] = t;
        tin[i] = (float)time_input(t);
        for (size_t d = 0; d < D; d++) {
            size_t k = i * D + d;
            double z = sd * eps[k];
            xt[k] = (float)(c * theta[k] + s * z);
            dxdt[k] = (float)(c * z - s * theta[k]);
            zin[k] = (float)(xt[k] / sd);
        }
    }
    dsbi_net_forward(net, params, &w->ws, B);
    /* tangent inputs: d(x_t / sd)/dt, d(time input)/dt, and 0 for the condition */
    float *tz = tan + B * net->nodes[dm->in_z].a_off, *tt_in = tan + B * net->nodes[dm->in_t].a_off;
    for (size_t k = 0; k < B * D; k++) tz[k] = (float)(dxdt[k] / sd);
    for (size_t i = 0; i < B; i++) tt_in[i] = (float)SCM_DTIN;
    memset(tan + B * net->nodes[dm->in_x].a_off, 0, B * K * sizeof(float));
    dsbi_scm_jvp(net, params, &w->ws, tan, B, dm->out);
    const float *F = dsbi_ws_act(&w->ws, net, dm->out, B);
    const float *dF = tan + B * net->nodes[dm->out].a_off;
    double r = 1.0;
    if (dm->train_steps > 0) {
        double h = SCM_WARMUP * (double)dm->train_steps;
        r = h > 0.0 ? fmin(1.0, (double)dm->train_step / h) : 1.0;
    }
    /* g (into dxdt, read before written per element) and the loss */
    float *g = dxdt;
    double total = 0.0;
    for (size_t i = 0; i < B; i++) {
        double c = cos(tt[i]), s = sin(tt[i]), nrm = 0.0;
        for (size_t d = 0; d < D; d++) {
            size_t k = i * D + d;
            double gk = -c * c * (sd * F[k] - dxdt[k]) - r * c * s * (xt[k] + sd * dF[k]);
            g[k] = (float)gk;
            nrm += gk * gk;
        }
        double scale = 1.0 / (sqrt(nrm) + SCM_C), acc = 0.0;
        for (size_t d = 0; d < D; d++) {
            g[i * D + d] = (float)(g[i * D + d] * scale);
            acc += (double)g[i * D + d] * g[i * D + d];
        }
        total += acc / (double)D;
    }
    if (grads) {
        dsbi_net_zero_dact(net, &w->ws, B);
        float *dout = dsbi_ws_dact(&w->ws, net, dm->out, B);
        for (size_t k = 0; k < B * D; k++) dout[k] = (float)(-2.0 * g[k] / (double)(D * B_total));
        dsbi_net_backward(net, params, grads, &w->ws, B);
    }
    return total / (double)B_total;
}

/* ---------------------------------------------------------------- sampling */

/* Time of sampling step k of `steps` (see the top of the file). */
double dsbi_scm_step_time(size_t k, size_t steps, double sd) {
    if (k == 0) return atan(SCM_SIGMA_MAX / sd);
    if (steps == 2) return SCM_T_MID;
    /* Karras grid of steps + 1 levels, increasing; step k uses level steps - k */
    double a = pow(SCM_SIGMA_MIN, 1.0 / SCM_RHO), b = pow(SCM_SIGMA_MAX, 1.0 / SCM_RHO);
    double sigma = pow(a + (double)(steps - k) / (double)steps * (b - a), SCM_RHO);
    return atan(sigma / sd);
}

/* f(x, t) = cos(t) x - sin(t) sd F(x / sd, t) for B rows at one t into f;
 * the condition input must be set. */
static void scm_eval(const dsbi_diffusion *dm, const float *params, dsbi_diff_ws *w,
                     const float *xin, double t, size_t B, float *f) {
    const dsbi_net *net = &dm->net;
    const size_t D = dm->D;
    const double sd = dm->sched.sigma_data;
    float *zin = dsbi_ws_act(&w->ws, net, dm->in_z, B);
    float *tin = dsbi_ws_act(&w->ws, net, dm->in_t, B);
    for (size_t k = 0; k < B * D; k++) zin[k] = (float)(xin[k] / sd);
    for (size_t i = 0; i < B; i++) tin[i] = (float)time_input(t);
    dsbi_net_forward(net, params, &w->ws, B);
    const float *F = dsbi_ws_act(&w->ws, net, dm->out, B);
    double c = cos(t), s = sin(t);
    for (size_t k = 0; k < B * D; k++) f[k] = (float)(c * xin[k] - s * sd * F[k]);
}

void dsbi_scm_sample(const dsbi_diffusion *dm, const float *params, dsbi_diff_ws *w, float *z,
                     size_t B, size_t steps, dsbi_rng *rng, float *scratch) {
    const size_t D = dm->D;
    const double sd = dm->sched.sigma_data;
    float *x0 = scratch;
    for (size_t k = 0; k < steps; k++) {
        double t = dsbi_scm_step_time(k, steps, sd);
        if (k == 0) {
            for (size_t i = 0; i < B * D; i++) z[i] = (float)(sd * dsbi_rng_normal(rng));
        } else {
            double c = cos(t), s = sin(t);
            for (size_t i = 0; i < B * D; i++)
                z[i] = (float)(c * x0[i] + s * sd * dsbi_rng_normal(rng));
        }
        scm_eval(dm, params, w, z, t, B, x0);
    }
    memcpy(z, x0, B * D * sizeof(float));
}
