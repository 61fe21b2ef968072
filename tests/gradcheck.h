/* Gradient-check harness shared by the layer tests (static inline only). */
#ifndef DSBI_TEST_GRADCHECK_H
#define DSBI_TEST_GRADCHECK_H
#include "helpers.h"
#include "nn/nn.h"
#include <string.h>

/* L = sum_i r_i out_i for a random r; backward gradients of every parameter
 * and every registered input against central differences (step h, relative
 * tolerance tol). Nodes may hold several rows per item (sets, sequences);
 * with use_count the workspace gets per-item valid row counts (masks). */
typedef struct gc {
    dsbi_net net;
    int out;
    int inputs[3];
    int n_inputs;
    float *params, *grads, *r;
    dsbi_ws ws;
    size_t B;
    size_t count[8]; /* valid rows per item when use_count */
    int use_count;
} gc;

static inline size_t node_floats(const dsbi_net *net, int i, size_t B) {
    return B * net->nodes[i].rows * net->nodes[i].dim;
}

static inline double loss_of(gc *g) {
    dsbi_net_forward(&g->net, g->params, &g->ws, g->B);
    const float *o = dsbi_ws_act(&g->ws, &g->net, g->out, g->B);
    double s = 0;
    for (size_t i = 0; i < node_floats(&g->net, g->out, g->B); i++) s += (double)g->r[i] * o[i];
    return s;
}

static inline void gc_setup(gc *g, size_t B) {
    cr_assert_geq(g->out, 0);
    g->B = B;
    g->params = calloc(g->net.n_params + 1, sizeof(float));
    g->grads = calloc(g->net.n_params + 1, sizeof(float));
    dsbi_rng rng;
    dsbi_rng_init(&rng, 3, 1);
    dsbi_net_init_params(&g->net, g->params, &rng);
    for (size_t i = 0; i < g->net.n_params; i++) g->params[i] += 0.3f * (float)dsbi_rng_normal(&rng);
    cr_assert_eq(dsbi_ws_create(&g->ws, &g->net, B, 1), 0);
    if (g->use_count) g->ws.count = g->count;
    for (int k = 0; k < g->n_inputs; k++) {
        int in = g->inputs[k];
        fill_normal(dsbi_ws_act(&g->ws, &g->net, in, B), node_floats(&g->net, in, B), 10 + (uint64_t)k, 1.0f);
    }
    size_t no = node_floats(&g->net, g->out, B);
    g->r = malloc(no * sizeof(float));
    fill_normal(g->r, no, 99, 1.0f);
}

static inline void gc_check_h(gc *g, double tol, float h) {
    size_t B = g->B;
    loss_of(g);
    memset(g->grads, 0, g->net.n_params * sizeof(float));
    /* poison the gradient arena: a node whose gradient the walk overwrites
     * (dact_set) and is not zeroed must really be written */
    for (size_t i = 0; i < B * g->net.act_per_row; i++) g->ws.dact[i] = NAN;
    dsbi_net_zero_dact(&g->net, &g->ws, B);
    memcpy(dsbi_ws_dact(&g->ws, &g->net, g->out, B), g->r, node_floats(&g->net, g->out, B) * sizeof(float));
    dsbi_net_backward(&g->net, g->params, g->grads, &g->ws, B);
    for (size_t i = 0; i < g->net.n_params; i++) {
        float p0 = g->params[i];
        g->params[i] = p0 + h;
        double lp = loss_of(g);
        g->params[i] = p0 - h;
        double lm = loss_of(g);
        g->params[i] = p0;
        double fd = (lp - lm) / (2.0 * h);
        cr_assert(fabs(fd - g->grads[i]) <= tol * (1.0 + fabs(fd)),
                  "param %zu: backward %g vs finite difference %g", i, (double)g->grads[i], fd);
    }
    for (int k = 0; k < g->n_inputs; k++) {
        int in = g->inputs[k];
        size_t n = node_floats(&g->net, in, B);
        float *x = dsbi_ws_act(&g->ws, &g->net, in, B);
        float *dx = malloc(n * sizeof(float));
        memcpy(dx, dsbi_ws_dact(&g->ws, &g->net, in, B), n * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            float x0 = x[i];
            x[i] = x0 + h;
            double lp = loss_of(g);
            x[i] = x0 - h;
            double lm = loss_of(g);
            x[i] = x0;
            double fd = (lp - lm) / (2.0 * h);
            cr_assert(fabs(fd - dx[i]) <= tol * (1.0 + fabs(fd)),
                      "input %d[%zu]: backward %g vs finite difference %g", k, i, (double)dx[i], fd);
        }
        free(dx);
    }
    dsbi_ws_free(&g->ws);
    free(g->params);
    free(g->grads);
    free(g->r);
    dsbi_net_free(&g->net);
}

static inline void gc_check(gc *g, double tol) { gc_check_h(g, tol, 1e-2f); }

#endif
