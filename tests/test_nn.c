/* Gradient checks of every layer kind (parameters and inputs) against central
 * finite differences, a whole-network random-direction check, and Adam
 * against hand-computed steps. */
#include "gradcheck.h"
#include <string.h>


Test(grad, dense) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input(&g.net, 5);
    g.n_inputs = 1;
    g.out = dsbi_net_dense(&g.net, g.inputs[0], 4, 0);
    gc_setup(&g, 3);
    gc_check(&g, 2e-3);
}

static void act_check(dsbi_activation a) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input(&g.net, 6);
    g.n_inputs = 1;
    int h = dsbi_net_dense(&g.net, g.inputs[0], 5, 0);
    g.out = dsbi_net_act(&g.net, h, a);
    gc_setup(&g, 3);
    gc_check(&g, 5e-3);
}

Test(grad, silu) { act_check(DSBI_ACT_SILU); }
Test(grad, gelu) { act_check(DSBI_ACT_GELU); }
Test(grad, mish) { act_check(DSBI_ACT_MISH); }
Test(grad, tanh) { act_check(DSBI_ACT_TANH); }

Test(grad, relu_away_from_kink) {
    /* ReLU is checked on inputs kept away from 0, where it is differentiable */
    float in[8] = {-2.0f, -1.0f, -0.5f, 0.3f, 0.7f, 1.5f, 2.0f, -0.2f}, out[8], d_in[8] = {0}, d_out[8];
    fill_normal(d_out, 8, 5, 1.0f);
    dsbi_act_forward(out, in, 8, DSBI_ACT_RELU);
    dsbi_act_backward(d_in, d_out, in, 8, DSBI_ACT_RELU);
    for (int i = 0; i < 8; i++) {
        float p = in[i] + 0.01f, m = in[i] - 0.01f, op, om;
        dsbi_act_forward(&op, &p, 1, DSBI_ACT_RELU);
        dsbi_act_forward(&om, &m, 1, DSBI_ACT_RELU);
        cr_assert_float_eq(d_in[i], d_out[i] * (op - om) / 0.02f, 1e-4);
        cr_assert_float_eq(out[i], in[i] > 0 ? in[i] : 0.0f, 0);
    }
}

Test(grad, layernorm) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input(&g.net, 6);
    g.n_inputs = 1;
    g.out = dsbi_net_layernorm(&g.net, g.inputs[0]);
    gc_setup(&g, 3);
    gc_check(&g, 5e-3);
}

Test(grad, add_and_concat) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input(&g.net, 3);
    g.inputs[1] = dsbi_net_input(&g.net, 2);
    g.n_inputs = 2;
    int c = dsbi_net_concat(&g.net, 2, g.inputs);
    int d = dsbi_net_dense(&g.net, c, 5, 0);
    int a = dsbi_net_add(&g.net, d, c);
    g.out = dsbi_net_act(&g.net, a, DSBI_ACT_TANH);
    gc_setup(&g, 2);
    gc_check(&g, 3e-3);
}

Test(grad, time_embed_fourier) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input(&g.net, 1);
    g.n_inputs = 1;
    g.out = dsbi_net_time_embed(&g.net, g.inputs[0], 8, DSBI_TIME_FOURIER, 0.5f);
    gc_setup(&g, 4);
    gc_check(&g, 1e-2);
}

Test(grad, time_embed_sinusoidal) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input(&g.net, 1);
    g.n_inputs = 1;
    int te = dsbi_net_time_embed(&g.net, g.inputs[0], 6, DSBI_TIME_SINUSOIDAL, 0.0f);
    g.out = dsbi_net_dense(&g.net, te, 3, 0);
    gc_setup(&g, 3);
    /* angular frequencies up to 30: a smaller step keeps the difference local */
    gc_check_h(&g, 2e-2, 1e-3f);
}

/* the network the diffusion model builds (residual + layer norm variant),
 * checked along one random direction of all parameters and all inputs */
Test(grad, whole_network_direction) {
    dsbi_net net;
    dsbi_net_init(&net);
    int z = dsbi_net_input(&net, 3), x = dsbi_net_input(&net, 2), t = dsbi_net_input(&net, 1);
    int te = dsbi_net_time_embed(&net, t, 4, DSBI_TIME_FOURIER, 1.0f);
    int parts[3] = {z, x, te};
    int h = dsbi_net_concat(&net, 3, parts);
    h = dsbi_net_dense(&net, h, 16, 0);
    for (int k = 0; k < 2; k++) {
        int a = dsbi_net_layernorm(&net, h);
        a = dsbi_net_act(&net, a, DSBI_ACT_MISH);
        a = dsbi_net_dense(&net, a, 16, 0);
        h = dsbi_net_add(&net, h, a);
    }
    h = dsbi_net_act(&net, h, DSBI_ACT_GELU);
    int out = dsbi_net_dense(&net, h, 3, 0);
    cr_assert_geq(out, 0);
    size_t B = 4, P = net.n_params;
    float *p = malloc(P * sizeof(float)), *g = calloc(P, sizeof(float)), *dir = malloc(P * sizeof(float));
    dsbi_rng rng;
    dsbi_rng_init(&rng, 1, 1);
    dsbi_net_init_params(&net, p, &rng);
    fill_normal(dir, P, 4, 1.0f);
    dsbi_ws ws;
    cr_assert_eq(dsbi_ws_create(&ws, &net, B, 1), 0);
    fill_normal(dsbi_ws_act(&ws, &net, z, B), B * 3, 1, 1.0f);
    fill_normal(dsbi_ws_act(&ws, &net, x, B), B * 2, 2, 1.0f);
    fill_normal(dsbi_ws_act(&ws, &net, t, B), B, 3, 0.5f);
    float r[12];
    fill_normal(r, 12, 8, 1.0f);
    dsbi_net_forward(&net, p, &ws, B);
    dsbi_net_zero_dact(&net, &ws, B);
    memcpy(dsbi_ws_dact(&ws, &net, out, B), r, sizeof r);
    dsbi_net_backward(&net, p, g, &ws, B);
    double analytic = 0;
    for (size_t i = 0; i < P; i++) analytic += (double)g[i] * dir[i];
    double f[2];
    const float h_ = 1e-3f;
    for (int s = 0; s < 2; s++) {
        float *q = malloc(P * sizeof(float));
        for (size_t i = 0; i < P; i++) q[i] = p[i] + (s ? -h_ : h_) * dir[i];
        dsbi_net_forward(&net, q, &ws, B);
        const float *o = dsbi_ws_act(&ws, &net, out, B);
        f[s] = 0;
        for (int i = 0; i < 12; i++) f[s] += (double)r[i] * o[i];
        free(q);
    }
    double fd = (f[0] - f[1]) / (2.0 * h_);
    cr_assert(fabs(fd - analytic) <= 2e-2 * (1.0 + fabs(fd)), "directional derivative %g vs %g", analytic, fd);
    dsbi_ws_free(&ws);
    free(p);
    free(g);
    free(dir);
    dsbi_net_free(&net);
}

Test(optim, adam_hand_computed) {
    /* two steps on p = [1, -2] with g = [0.5, -0.1] then [0.2, 0.3]:
       step 1: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2 -> p -= lr sign(g)
       step 2 (lr 0.1): m = 0.09 g1 + 0.1 g2, v = 0.000999 g1^2 + 0.001 g2^2 */
    float p[2] = {1.0f, -2.0f}, m[2] = {0}, v[2] = {0};
    float g1[2] = {0.5f, -0.1f}, g2[2] = {0.2f, 0.3f};
    dsbi_adam opt = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
    dsbi_adam_update(p, g1, m, v, 2, &opt, 0.1f, 1);
    cr_assert_float_eq(p[0], 0.9f, 1e-6);
    cr_assert_float_eq(p[1], -1.9f, 1e-6);
    dsbi_adam_update(p, g2, m, v, 2, &opt, 0.1f, 2);
    for (int i = 0; i < 2; i++) {
        double mm = 0.09 * g1[i] + 0.1 * g2[i], vv = 0.000999 * g1[i] * g1[i] + 0.001 * g2[i] * g2[i];
        double mh = mm / (1 - 0.81), vh = vv / (1 - 0.998001);
        double expect = (i == 0 ? 0.9 : -1.9) - 0.1 * mh / (sqrt(vh) + 1e-8);
        cr_assert_float_eq(p[i], (float)expect, 1e-5, "param %d: %g vs %g", i, (double)p[i], expect);
    }
    /* decoupled weight decay: p -= lr * wd * p on top of the Adam step */
    float q[1] = {2.0f}, mq[1] = {0}, vq[1] = {0}, gq[1] = {1.0f};
    dsbi_adam optw = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f};
    dsbi_adam_update(q, gq, mq, vq, 1, &optw, 0.5f, 1);
    cr_assert_float_eq(q[0], 2.0f - 0.5f * (1.0f + 0.2f), 1e-6);
}

Test(optim, schedule_and_clip) {
    cr_assert_float_eq(dsbi_lr_schedule(0, 100, 1.0f, 0.0f, 0.1f), 0.1f, 1e-6);
    cr_assert_float_eq(dsbi_lr_schedule(10, 100, 1.0f, 0.0f, 0.1f), 1.0f, 1e-6);
    cr_assert_float_eq(dsbi_lr_schedule(55, 100, 1.0f, 0.0f, 0.1f), 0.5f, 1e-6);
    cr_assert(dsbi_lr_schedule(100, 100, 1.0f, 0.01f, 0.1f) <= 0.0100001f);
    float g[2] = {3.0f, 4.0f};
    double n = dsbi_clip_grad_norm(g, 2, 1.0f);
    cr_assert_float_eq(n, 5.0, 1e-9);
    cr_assert_float_eq(g[0], 0.6f, 1e-6);
    cr_assert_float_eq(g[1], 0.8f, 1e-6);
    float e[1] = {0.0f}, pp[1] = {1.0f};
    dsbi_ema_update(e, pp, 1, 0.9f);
    cr_assert_float_eq(e[0], 0.1f, 1e-7);
}

/* The fused step must equal the separate reference passes (sum of worker
 * gradients, clip, Adam, EMA) to float rounding, and be bit-identical for any
 * thread count. 50,000 parameters span several blocks of the fused step. */
typedef struct opt_state {
    float *p, *m, *v, *e;
} opt_state;

static opt_state opt_state_new(size_t n) {
    opt_state s = {calloc(n, 4), calloc(n, 4), calloc(n, 4), calloc(n, 4)};
    cr_assert(s.p && s.m && s.v && s.e);
    dsbi_rng r;
    dsbi_rng_init(&r, 7, 1);
    dsbi_rng_fill_normal(&r, s.p, n);
    for (size_t i = 0; i < n; i++) {
        s.e[i] = s.p[i] + 0.01f;
        s.m[i] = 0.001f * (float)(i % 17);
        s.v[i] = 0.0001f * (float)(i % 5);
    }
    return s;
}

static void opt_state_free(opt_state *s) {
    free(s->p);
    free(s->m);
    free(s->v);
    free(s->e);
}

/* two workers' gradients, N(0, 1) each: the summed norm is far above the clip */
static void two_grads(float *g0, float *g1, size_t n) {
    dsbi_rng r;
    dsbi_rng_init(&r, 8, 2);
    dsbi_rng_fill_normal(&r, g0, n);
    dsbi_rng_fill_normal(&r, g1, n);
}

Test(optim, fused_step_matches_separate_passes) {
    const size_t n = 50000;
    float *g0 = calloc(n, 4), *g1 = calloc(n, 4);
    cr_assert(g0 && g1);
    dsbi_adam opt = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
    opt_state f[2];
    for (int t = 0; t < 2; t++) {
        f[t] = opt_state_new(n);
        two_grads(g0, g1, n);
        float *gs[2] = {g0, g1};
        double norm = dsbi_optim_step(f[t].p, gs, 2, f[t].m, f[t].v, f[t].e, n, &opt, 1e-3f, 3,
                                      1.5f, 0.99f, t + 1);
        cr_assert(norm > 1.5, "the test must exercise clipping (norm %g)", norm);
    }
    cr_assert(!memcmp(f[0].p, f[1].p, n * 4), "params differ between 1 and 2 threads");
    cr_assert(!memcmp(f[0].v, f[1].v, n * 4), "second moments differ between 1 and 2 threads");
    cr_assert(!memcmp(f[0].e, f[1].e, n * 4), "EMA differs between 1 and 2 threads");
    /* reference: the separate passes */
    opt_state r = opt_state_new(n);
    two_grads(g0, g1, n);
    for (size_t i = 0; i < n; i++) g0[i] += g1[i];
    dsbi_clip_grad_norm(g0, n, 1.5f);
    dsbi_adam_update(r.p, g0, r.m, r.v, n, &opt, 1e-3f, 3);
    dsbi_ema_update(r.e, r.p, n, 0.99f);
    for (size_t i = 0; i < n; i++) {
        cr_assert_float_eq(f[0].p[i], r.p[i], 1e-6f * (1.0f + fabsf(r.p[i])), "param %zu", i);
        cr_assert_float_eq(f[0].e[i], r.e[i], 1e-6f * (1.0f + fabsf(r.e[i])), "ema %zu", i);
        cr_assert_float_eq(f[0].m[i], r.m[i], 1e-7f, "m %zu", i);
    }
    /* decay 0: the EMA is an exact copy of the new weights */
    float *gs1[1] = {g0};
    dsbi_optim_step(r.p, gs1, 1, r.m, r.v, r.e, n, &opt, 1e-3f, 4, 0.0f, 0.0f, 1);
    cr_assert(!memcmp(r.e, r.p, n * 4));
    opt_state_free(&r);
    opt_state_free(&f[0]);
    opt_state_free(&f[1]);
    free(g0);
    free(g1);
}
