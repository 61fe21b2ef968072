/* Summary-network layers on the tape: gradient checks of every set and
 * sequence node kind, GRU and LSTM included (parameters and inputs, with
 * masked variable sizes) against central finite differences, permutation
 * invariance of DeepSet and Set Transformer/PMA outputs, padded-and-masked
 * == unpadded for sets and sequences, and the normal-gamma task's conjugate
 * posterior against importance sampling. */
#include "gradcheck.h"
#include "summary/summary.h"
#include <string.h>


/* three sets of at most 5 members: full, partly padded, a single member */
static void set_counts(gc *g) {
    g->use_count = 1;
    g->count[0] = 5;
    g->count[1] = 3;
    g->count[2] = 1;
}

/* ---------------------------------------------------------------- gradient checks: sets */

static void pool_check(dsbi_pool op) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input_rows(&g.net, 3, 5, 1);
    g.n_inputs = 1;
    int h = dsbi_net_pool(&g.net, g.inputs[0], op);
    g.out = dsbi_net_act(&g.net, h, DSBI_ACT_TANH);
    set_counts(&g);
    gc_setup(&g, 3);
    if (op == DSBI_POOL_MAX) { /* members 0.3 apart (no ties within h), padding larger */
        float *x = dsbi_ws_act(&g.ws, &g.net, g.inputs[0], 3);
        for (size_t b = 0; b < 3; b++)
            for (size_t i = 0; i < 5; i++)
                for (size_t f = 0; f < 3; f++)
                    x[(b * 5 + i) * 3 + f] = i < g.count[b] ? 0.3f * (float)((i * 7 + f * 3 + b) % 5) - 0.6f : 5.0f;
    }
    gc_check(&g, 3e-3);
}

Test(summary, grad_pool_mean) { pool_check(DSBI_POOL_MEAN); }
Test(summary, grad_pool_sum) { pool_check(DSBI_POOL_SUM); }
Test(summary, grad_pool_max) { pool_check(DSBI_POOL_MAX); }

/* per-member dense, layer norm and activation on B*N rows, then pooling:
 * padding rows must get exactly zero parameter gradient */
Test(summary, grad_member_mlp) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input_rows(&g.net, 2, 5, 1);
    g.n_inputs = 1;
    int h = dsbi_net_dense(&g.net, g.inputs[0], 4, 0);
    h = dsbi_net_layernorm(&g.net, h);
    h = dsbi_net_act(&g.net, h, DSBI_ACT_SILU);
    cr_assert_eq(g.net.nodes[h].rows, 5);
    cr_assert(g.net.nodes[h].masked);
    h = dsbi_net_pool(&g.net, h, DSBI_POOL_MEAN);
    cr_assert_eq(g.net.nodes[h].rows, 1);
    g.out = dsbi_net_dense(&g.net, h, 2, 0);
    set_counts(&g);
    gc_setup(&g, 3);
    gc_check(&g, 5e-3);
}

Test(summary, grad_set_stats) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input_rows(&g.net, 2, 5, 1);
    g.n_inputs = 1;
    g.out = dsbi_net_set_stats(&g.net, g.inputs[0]);
    cr_assert_eq(g.net.nodes[g.out].dim, 5);
    g.use_count = 1;
    g.count[0] = 5;
    g.count[1] = 3;
    g.count[2] = 2; /* ln sd needs n >= 2 to be informative */
    gc_setup(&g, 3);
    gc_check(&g, 5e-3);
}

Test(summary, grad_mha_self_masked) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input_rows(&g.net, 4, 5, 1);
    g.n_inputs = 1;
    g.out = dsbi_net_mha(&g.net, g.inputs[0], g.inputs[0], 2);
    set_counts(&g);
    gc_setup(&g, 3);
    gc_check(&g, 5e-3);
}

Test(summary, grad_mha_cross) {
    /* queries (3 rows of width 4) attend over 5 masked keys of width 3 */
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input_rows(&g.net, 4, 3, 0);
    g.inputs[1] = dsbi_net_input_rows(&g.net, 3, 5, 1);
    g.n_inputs = 2;
    g.out = dsbi_net_mha(&g.net, g.inputs[0], g.inputs[1], 2);
    set_counts(&g);
    gc_setup(&g, 3);
    gc_check(&g, 5e-3);
}

Test(summary, grad_pma_masked) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input_rows(&g.net, 3, 5, 1);
    g.n_inputs = 1;
    int h = dsbi_net_pma(&g.net, g.inputs[0], 2, 4, 2);
    cr_assert_eq(g.net.nodes[h].rows, 2);
    g.out = dsbi_net_reshape(&g.net, h, 1);
    cr_assert_eq(g.net.nodes[g.out].dim, 8);
    set_counts(&g);
    gc_setup(&g, 3);
    gc_check(&g, 5e-3);
}

/* SAB -> ISAB -> PMA block -> dense: every composite block on the tape */
static int build_set_transformer(dsbi_net *net, int x) {
    int h = dsbi_net_dense(net, x, 4, 0);
    h = dsbi_summary_sab(net, h, 2, DSBI_ACT_TANH);
    h = dsbi_summary_isab(net, h, 2, 2, DSBI_ACT_TANH);
    h = dsbi_summary_pma(net, h, 2, 4, 2, DSBI_ACT_TANH);
    return dsbi_net_dense(net, h, 3, 0);
}

Test(summary, grad_set_transformer) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input_rows(&g.net, 2, 5, 1);
    g.n_inputs = 1;
    g.out = build_set_transformer(&g.net, g.inputs[0]);
    set_counts(&g);
    gc_setup(&g, 3);
    gc_check(&g, 1e-2);
}

/* ---------------------------------------------------------------- gradient checks: sequences */

Test(summary, grad_conv1d_masked) {
    for (size_t K = 1; K <= 4; K++) { /* odd and even kernels */
        gc g = {0};
        dsbi_net_init(&g.net);
        g.inputs[0] = dsbi_net_input_rows(&g.net, 2, 5, 1);
        g.n_inputs = 1;
        g.out = dsbi_net_conv1d(&g.net, g.inputs[0], 3, K);
        set_counts(&g);
        gc_setup(&g, 3);
        gc_check(&g, 3e-3);
    }
}

static void gru_check(int reverse) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input_rows(&g.net, 2, 5, 1);
    g.n_inputs = 1;
    g.out = dsbi_net_gru(&g.net, g.inputs[0], 3, reverse);
    set_counts(&g);
    gc_setup(&g, 3);
    gc_check(&g, 5e-3);
}

Test(summary, grad_gru_forward) { gru_check(0); }
Test(summary, grad_gru_reverse) { gru_check(1); }

/* conv -> ELU-free tanh -> bidirectional GRU -> dense, unmasked */
static int build_sequence_net(dsbi_net *net, int x) {
    int h = dsbi_net_conv1d(net, x, 4, 3);
    h = dsbi_net_act(net, h, DSBI_ACT_TANH);
    int parts[2] = {dsbi_net_gru(net, h, 3, 0), dsbi_net_gru(net, h, 3, 1)};
    h = dsbi_net_concat(net, 2, parts);
    return dsbi_net_dense(net, h, 2, 0);
}

Test(summary, grad_sequence_net) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input_rows(&g.net, 2, 6, 0);
    g.n_inputs = 1;
    g.out = build_sequence_net(&g.net, g.inputs[0]);
    gc_setup(&g, 2);
    gc_check(&g, 5e-3);
}

/* LSTM: full sequences and masked ones (items of 5, 3 and 1 valid steps) */
static void lstm_check(int reverse, int masked) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input_rows(&g.net, 2, 5, masked);
    g.n_inputs = 1;
    g.out = dsbi_net_lstm(&g.net, g.inputs[0], 3, reverse);
    cr_assert_eq(g.net.nodes[g.out].rows, 1);
    if (masked) set_counts(&g);
    gc_setup(&g, 3);
    gc_check(&g, 5e-3);
}

Test(summary, grad_lstm_forward) {
    lstm_check(0, 0);
    lstm_check(0, 1);
}
Test(summary, grad_lstm_reverse) {
    lstm_check(1, 0);
    lstm_check(1, 1);
}

/* conv -> tanh -> bidirectional LSTM -> dense, on masked sequences */
static int build_sequence_net_lstm(dsbi_net *net, int x) {
    int h = dsbi_net_conv1d(net, x, 4, 3);
    h = dsbi_net_act(net, h, DSBI_ACT_TANH);
    int parts[2] = {dsbi_net_lstm(net, h, 3, 0), dsbi_net_lstm(net, h, 3, 1)};
    h = dsbi_net_concat(net, 2, parts);
    return dsbi_net_dense(net, h, 2, 0);
}

Test(summary, grad_sequence_net_lstm_masked) {
    gc g = {0};
    dsbi_net_init(&g.net);
    g.inputs[0] = dsbi_net_input_rows(&g.net, 2, 5, 1);
    g.n_inputs = 1;
    g.out = build_sequence_net_lstm(&g.net, g.inputs[0]);
    set_counts(&g);
    gc_setup(&g, 3);
    gc_check(&g, 5e-3);
}

/* One unit, one feature, two steps against the equations in double; the
 * initialisation sets every forget-gate bias to 1 and nothing else. */
Test(summary, lstm_by_hand_and_forget_bias) {
    /* p = [Wx (1 x 4), b (4), Wh (1 x 4)], gates i, f, g, o */
    const float p[12] = {0.5f, -0.3f, 0.8f, 0.2f, 0.1f, 1.0f, -0.2f, 0.3f, -0.4f, 0.6f, 0.7f, -0.5f};
    const float x[2] = {1.5f, -0.7f};
    double h = 0, c = 0;
    for (int t = 0; t < 2; t++) {
        double a[4];
        for (int k = 0; k < 4; k++) a[k] = p[k] * x[t] + p[4 + k] + p[8 + k] * h;
        double i = 1 / (1 + exp(-a[0])), f = 1 / (1 + exp(-a[1])), g = tanh(a[2]),
               o = 1 / (1 + exp(-a[3]));
        c = f * c + i * g;
        h = o * tanh(c);
    }
    float save[9 + 18 * 2], out, out_rev;
    dsbi_lstm_forward(&out, save, x, p, NULL, 1, 2, 1, 1, 0);
    cr_assert_float_eq(out, h, 1e-6, "lstm %g vs by hand %g", (double)out, h);
    /* reversed = forward on the reversed sequence */
    const float xr[2] = {x[1], x[0]};
    float out_fr;
    dsbi_lstm_forward(&out_rev, save, x, p, NULL, 1, 2, 1, 1, 1);
    dsbi_lstm_forward(&out_fr, save, xr, p, NULL, 1, 2, 1, 1, 0);
    cr_assert_eq(out_rev, out_fr);

    enum { Din = 3, H = 5 };
    size_t n = dsbi_lstm_param_size(Din, H);
    cr_assert_eq(n, 4 * H * (Din + 1 + H));
    float *q = malloc(n * sizeof(float));
    dsbi_rng rng;
    dsbi_rng_init(&rng, 2, 2);
    dsbi_lstm_init(q, Din, H, &rng);
    for (size_t k = 0; k < n; k++) {
        int forget_bias = k >= Din * 4 * H + H && k < Din * 4 * H + 2 * H;
        if (forget_bias) cr_assert_eq(q[k], 1.0f, "forget bias %zu = %g", k, (double)q[k]);
        else cr_assert(fabsf(q[k]) <= 1.0f / sqrtf((float)H), "param %zu = %g", k, (double)q[k]);
    }
    /* the tape initialises LSTM nodes the same way */
    dsbi_net net;
    dsbi_net_init(&net);
    int in = dsbi_net_input_rows(&net, Din, 4, 0), l = dsbi_net_lstm(&net, in, H, 0);
    cr_assert_geq(l, 0);
    cr_assert_eq(net.nodes[l].p_size, n);
    float *q2 = malloc(net.n_params * sizeof(float));
    dsbi_rng_init(&rng, 2, 2);
    dsbi_net_init_params(&net, q2, &rng);
    cr_assert_eq(memcmp(q, q2 + net.nodes[l].p_off, n * sizeof(float)), 0);
    free(q);
    free(q2);
    dsbi_net_free(&net);
}

/* ---------------------------------------------------------------- invariances */

typedef int (*build_fn)(dsbi_net *net, int x);

/* DeepSet (phi: 2 x [dense, silu]; mean; rho) concatenated with the set statistics */
static int build_deepset(dsbi_net *net, int x) {
    int h = dsbi_summary_deepset(net, x, 8, 2, 4, DSBI_ACT_SILU);
    int parts[2] = {h, dsbi_net_set_stats(net, x)};
    h = dsbi_net_concat(net, 2, parts);
    return dsbi_net_dense(net, h, 3, 0);
}

/* the member-max variant: max pooling is invariant too */
static int build_maxpool(dsbi_net *net, int x) {
    int h = dsbi_net_dense(net, x, 6, 0);
    h = dsbi_net_act(net, h, DSBI_ACT_GELU);
    h = dsbi_net_pool(net, h, DSBI_POOL_MAX);
    return dsbi_net_dense(net, h, 3, 0);
}

static int build_pma_only(dsbi_net *net, int x) {
    int h = dsbi_net_dense(net, x, 8, 0);
    h = dsbi_summary_pma(net, h, 3, 8, 4, DSBI_ACT_SILU);
    return dsbi_net_dense(net, h, 3, 0);
}

/* runs `build` on B items of N rows (count may be NULL); returns an owned copy of the output */
static float *run_net(build_fn build, size_t F, size_t N, int masked, size_t B, const size_t *count,
                      const float *x, uint64_t seed, size_t *out_dim) {
    dsbi_net net;
    dsbi_net_init(&net);
    int in = dsbi_net_input_rows(&net, F, N, masked);
    int out = build(&net, in);
    cr_assert_geq(out, 0);
    float *p = malloc(net.n_params * sizeof(float));
    dsbi_rng rng;
    dsbi_rng_init(&rng, seed, 1);
    dsbi_net_init_params(&net, p, &rng);
    dsbi_ws ws;
    cr_assert_eq(dsbi_ws_create(&ws, &net, B, 0), 0);
    ws.count = count;
    memcpy(dsbi_ws_act(&ws, &net, in, B), x, B * N * F * sizeof(float));
    dsbi_net_forward(&net, p, &ws, B);
    *out_dim = net.nodes[out].dim;
    float *o = malloc(B * *out_dim * sizeof(float));
    memcpy(o, dsbi_ws_act(&ws, &net, out, B), B * *out_dim * sizeof(float));
    dsbi_ws_free(&ws);
    free(p);
    dsbi_net_free(&net);
    return o;
}

static void assert_close(const float *a, const float *b, size_t n, float tol, const char *what) {
    for (size_t i = 0; i < n; i++)
        cr_assert(fabsf(a[i] - b[i]) <= tol * (1.0f + fabsf(a[i])), "%s[%zu]: %g vs %g", what, i,
                  (double)a[i], (double)b[i]);
}

/* permuting the valid members of each set leaves the output unchanged, and a
 * padded, masked set gives the output of the same set unpadded */
static void check_set_net(build_fn build, const char *name) {
    enum { B = 3, N = 7, F = 2 };
    size_t count[B] = {7, 4, 2};
    float x[B * N * F], xp[B * N * F];
    fill_normal(x, B * N * F, 21, 1.0f);
    memcpy(xp, x, sizeof x);
    dsbi_rng rng;
    dsbi_rng_init(&rng, 5, 2);
    for (size_t b = 0; b < B; b++) /* Fisher-Yates over the valid members */
        for (size_t i = count[b] - 1; i > 0; i--) {
            size_t j = dsbi_rng_u32(&rng) % (i + 1);
            for (size_t f = 0; f < F; f++) {
                float t = xp[(b * N + i) * F + f];
                xp[(b * N + i) * F + f] = xp[(b * N + j) * F + f];
                xp[(b * N + j) * F + f] = t;
            }
        }
    size_t D;
    float *o = run_net(build, F, N, 1, B, count, x, 7, &D);
    float *op = run_net(build, F, N, 1, B, count, xp, 7, &D);
    assert_close(o, op, B * D, 1e-5f, name);
    for (size_t b = 0; b < B; b++) {
        size_t Db;
        float *ob = run_net(build, F, count[b], 0, 1, NULL, x + b * N * F, 7, &Db);
        assert_close(o + b * D, ob, D, 1e-5f, name);
        free(ob);
    }
    free(o);
    free(op);
}

Test(summary, deepset_invariant_and_masked) { check_set_net(build_deepset, "deepset"); }
Test(summary, maxpool_invariant_and_masked) { check_set_net(build_maxpool, "maxpool"); }
Test(summary, pma_invariant_and_masked) { check_set_net(build_pma_only, "pma"); }
Test(summary, set_transformer_invariant_and_masked) {
    check_set_net(build_set_transformer, "set transformer");
}

static int build_gru_fwd(dsbi_net *net, int x) { return dsbi_net_gru(net, x, 3, 0); }
static int build_gru_rev(dsbi_net *net, int x) { return dsbi_net_gru(net, x, 3, 1); }

/* padded, masked sequences give the unpadded answer; the reversed GRU equals
 * the forward GRU run on the reversed sequence */
Test(summary, sequence_masked_and_reversed) {
    enum { B = 3, L = 8, F = 2 };
    size_t count[B] = {8, 5, 1};
    float x[B * L * F];
    fill_normal(x, B * L * F, 31, 1.0f);
    build_fn builds[3] = {build_sequence_net, build_gru_fwd, build_gru_rev};
    for (int k = 0; k < 3; k++) {
        size_t D;
        float *o = run_net(builds[k], F, L, 1, B, count, x, 9, &D);
        for (size_t b = 0; b < B; b++) {
            size_t Db;
            float *ob = run_net(builds[k], F, count[b], 0, 1, NULL, x + b * L * F, 9, &Db);
            assert_close(o + b * D, ob, D, 1e-5f, "sequence");
            free(ob);
        }
        free(o);
    }
    float xr[L * F];
    for (size_t t = 0; t < L; t++) memcpy(xr + t * F, x + (L - 1 - t) * F, F * sizeof(float));
    size_t D;
    float *orev = run_net(build_gru_rev, F, L, 0, 1, NULL, x, 9, &D);
    float *ofwd = run_net(build_gru_fwd, F, L, 0, 1, NULL, xr, 9, &D);
    assert_close(orev, ofwd, D, 1e-6f, "reverse");
    free(orev);
    free(ofwd);
}

static int build_lstm_fwd(dsbi_net *net, int x) { return dsbi_net_lstm(net, x, 3, 0); }
static int build_lstm_rev(dsbi_net *net, int x) { return dsbi_net_lstm(net, x, 3, 1); }

/* the same for the LSTM: padded == unpadded, reversed == forward on the
 * reversed sequence */
Test(summary, lstm_masked_and_reversed) {
    enum { B = 3, L = 8, F = 2 };
    size_t count[B] = {8, 5, 1};
    float x[B * L * F];
    fill_normal(x, B * L * F, 32, 1.0f);
    build_fn builds[3] = {build_sequence_net_lstm, build_lstm_fwd, build_lstm_rev};
    for (int k = 0; k < 3; k++) {
        size_t D;
        float *o = run_net(builds[k], F, L, 1, B, count, x, 9, &D);
        for (size_t b = 0; b < B; b++) {
            size_t Db;
            float *ob = run_net(builds[k], F, count[b], 0, 1, NULL, x + b * L * F, 9, &Db);
            assert_close(o + b * D, ob, D, 1e-5f, "lstm sequence");
            free(ob);
        }
        free(o);
    }
    float xr[L * F];
    for (size_t t = 0; t < L; t++) memcpy(xr + t * F, x + (L - 1 - t) * F, F * sizeof(float));
    size_t D;
    float *orev = run_net(build_lstm_rev, F, L, 0, 1, NULL, x, 9, &D);
    float *ofwd = run_net(build_lstm_fwd, F, L, 0, 1, NULL, xr, 9, &D);
    assert_close(orev, ofwd, D, 1e-6f, "lstm reverse");
    free(orev);
    free(ofwd);
}

Test(summary, conv1d_same_padding_by_hand) {
    /* kernel 3, one channel: out[t] = b + w0 x[t-1] + w1 x[t] + w2 x[t+1], x = 0 outside */
    float x[4] = {1, 2, 3, 4}, p[4] = {0.5f, -1.0f, 2.0f, 0.25f}, out[4];
    dsbi_conv1d_forward(out, x, p, NULL, 1, 4, 1, 1, 3);
    float expect[4] = {0.25f - 1 + 4, 0.25f + 0.5f - 2 + 6, 0.25f + 1 - 3 + 8, 0.25f + 1.5f - 4};
    assert_close(out, expect, 4, 1e-6f, "conv");
}

/* ---------------------------------------------------------------- normal-gamma */

Test(summary, normal_gamma_posterior_vs_importance_sampling) {
    enum { n = 10 };
    dsbi_rng rng;
    dsbi_rng_init(&rng, 11, 3);
    float theta[2], y[n];
    dsbi_normal_gamma_simulate(&rng, n, theta, y);
    double mean[2], sd[2];
    dsbi_normal_gamma_moments(y, n, &rng, 200000, mean, sd);
    dsbi_normal_gamma_post post = dsbi_normal_gamma_posterior(y, n);
    cr_assert_float_eq(mean[0], post.mu_n, 0.01, "E[mu] %g vs mu_n %g", mean[0], post.mu_n);
    /* self-normalised importance sampling with the prior as proposal */
    const size_t M = 400000;
    double *lw = malloc(M * sizeof(double)), *th = malloc(2 * M * sizeof(double)), lmax = -INFINITY;
    for (size_t k = 0; k < M; k++) {
        double tau = dsbi_normal_gamma_draw_gamma(&rng, 4.0) / 4.0;
        double mu = dsbi_rng_normal(&rng) / sqrt(tau), l = 0.5 * n * log(tau);
        for (int i = 0; i < n; i++) l -= 0.5 * tau * (y[i] - mu) * (y[i] - mu);
        lw[k] = l;
        th[2 * k] = mu;
        th[2 * k + 1] = -0.5 * log(tau);
        lmax = l > lmax ? l : lmax;
    }
    double sw = 0, sw2 = 0, m1[2] = {0, 0}, m2[2] = {0, 0};
    for (size_t k = 0; k < M; k++) {
        double w = exp(lw[k] - lmax);
        sw += w;
        sw2 += w * w;
        for (int j = 0; j < 2; j++) {
            m1[j] += w * th[2 * k + j];
            m2[j] += w * th[2 * k + j] * th[2 * k + j];
        }
    }
    cr_assert_gt(sw * sw / sw2, 5000.0, "effective sample size %g", sw * sw / sw2);
    for (int j = 0; j < 2; j++) {
        double m = m1[j] / sw, s = sqrt(m2[j] / sw - m * m);
        cr_assert(fabs(m - mean[j]) < 0.1 * sd[j], "theta %d mean: IS %g vs conjugate %g", j, m, mean[j]);
        cr_assert(fabs(s - sd[j]) < 0.05 * sd[j], "theta %d sd: IS %g vs conjugate %g", j, s, sd[j]);
    }
    /* the prior draw of theta is typically inside the posterior */
    cr_assert(fabs(theta[0] - mean[0]) < 4 * sd[0] && fabs(theta[1] - mean[1]) < 4 * sd[1]);
    free(lw);
    free(th);
}

Test(summary, normal_gamma_prior_moments) {
    /* tau ~ Gamma(4, 4): E tau = 1; E[ln sigma] = -(psi(4) - ln 4)/2 = -(1.2561176684 - 1.3862943611)/2 */
    dsbi_rng rng;
    dsbi_rng_init(&rng, 12, 3);
    double st = 0, sl = 0;
    const int M = 200000;
    for (int k = 0; k < M; k++) {
        float theta[2], y[1];
        dsbi_normal_gamma_simulate(&rng, 1, theta, y);
        st += exp(-2.0 * theta[1]);
        sl += theta[1];
    }
    cr_assert_float_eq(st / M, 1.0, 0.01);
    cr_assert_float_eq(sl / M, 0.5 * (1.3862943611 - 1.2561176684), 0.003);
}
