/*
 * The static tape: building a network node by node, workspaces, and the
 * forward/backward walks that dispatch on the node kind through tables.
 */
#include "nn/layers.h"
#include <math.h>
#include <string.h>

void dsbi_net_init(dsbi_net *net) { memset(net, 0, sizeof *net); }

void dsbi_net_free(dsbi_net *net) {
    if (!net) return;
    free(net->nodes);
    memset(net, 0, sizeof *net);
}

static int push(dsbi_net *net, dsbi_node n) {
    if (net->n_nodes == net->cap) {
        size_t cap = net->cap ? 2 * net->cap : 16;
        dsbi_node *p = realloc(net->nodes, cap * sizeof *p);
        if (!p) return dsbi_fail(DSBI_STATUS_ERR_NOMEM, "out of memory building network"), -1;
        net->nodes = p;
        net->cap = cap;
    }
    n.p_off = net->n_params;
    net->n_params += n.p_size;
    n.a_off = net->act_per_row;
    net->act_per_row += n.dim;
    n.s_off = net->save_per_row;
    net->save_per_row += n.s_dim;
    net->nodes[net->n_nodes] = n;
    return (int)net->n_nodes++;
}

static size_t dim_of(const dsbi_net *net, int i) {
    DSBI_ASSERT(i >= 0 && (size_t)i < net->n_nodes);
    return net->nodes[i].dim;
}

int dsbi_net_input(dsbi_net *net, size_t dim) {
    return push(net, (dsbi_node){.kind = DSBI_NODE_INPUT, .dim = dim});
}

int dsbi_net_dense(dsbi_net *net, int in, size_t dim, int zero_init) {
    size_t I = dim_of(net, in);
    return push(net, (dsbi_node){.kind = DSBI_NODE_DENSE, .n_in = 1, .in = {in}, .dim = dim,
                                 .p_size = I * dim + dim, .init_scale = zero_init ? 0.0f : 1.0f});
}

int dsbi_net_act(dsbi_net *net, int in, dsbi_activation act) {
    return push(net, (dsbi_node){.kind = DSBI_NODE_ACT, .act = act, .n_in = 1, .in = {in},
                                 .dim = dim_of(net, in)});
}

int dsbi_net_layernorm(dsbi_net *net, int in) {
    size_t D = dim_of(net, in);
    return push(net, (dsbi_node){.kind = DSBI_NODE_LAYERNORM, .n_in = 1, .in = {in}, .dim = D,
                                 .p_size = 2 * D, .s_dim = 2});
}

int dsbi_net_add(dsbi_net *net, int a, int b) {
    DSBI_ASSERT(dim_of(net, a) == dim_of(net, b));
    return push(net, (dsbi_node){.kind = DSBI_NODE_ADD, .n_in = 2, .in = {a, b},
                                 .dim = dim_of(net, a)});
}

int dsbi_net_concat(dsbi_net *net, int n_in, const int *in) {
    DSBI_ASSERT(n_in >= 1 && n_in <= DSBI_NODE_MAX_IN);
    dsbi_node n = {.kind = DSBI_NODE_CONCAT, .n_in = n_in};
    for (int i = 0; i < n_in; i++) {
        n.in[i] = in[i];
        n.dim += dim_of(net, in[i]);
    }
    return push(net, n);
}

int dsbi_net_time_embed(dsbi_net *net, int in, size_t n_features, dsbi_time_embedding kind,
                        float scale) {
    DSBI_ASSERT(dim_of(net, in) == 1);
    size_t half = n_features / 2;
    return push(net, (dsbi_node){.kind = DSBI_NODE_TIME_EMBED, .emb = kind, .n_in = 1,
                                 .in = {in}, .dim = 1 + 2 * half,
                                 .p_size = kind == DSBI_TIME_FOURIER ? half : 0,
                                 .init_scale = scale});
}

void dsbi_net_init_params(const dsbi_net *net, float *params, dsbi_rng *rng) {
    for (size_t i = 0; i < net->n_nodes; i++) {
        const dsbi_node *n = &net->nodes[i];
        float *p = params + n->p_off;
        switch (n->kind) {
        case DSBI_NODE_DENSE: {
            size_t I = net->nodes[n->in[0]].dim;
            float bound = n->init_scale == 0.0f ? 0.0f : 1.0f / sqrtf((float)I);
            for (size_t k = 0; k < n->p_size; k++)
                p[k] = bound * (float)(2.0 * dsbi_rng_uniform(rng) - 1.0);
            break;
        }
        case DSBI_NODE_LAYERNORM:
            for (size_t k = 0; k < n->dim; k++) {
                p[k] = 1.0f;
                p[n->dim + k] = 0.0f;
            }
            break;
        case DSBI_NODE_TIME_EMBED:
            for (size_t k = 0; k < n->p_size; k++) p[k] = n->init_scale * (float)dsbi_rng_normal(rng);
            break;
        default:
            break;
        }
    }
}

int dsbi_ws_create(dsbi_ws *ws, const dsbi_net *net, size_t B, int train) {
    memset(ws, 0, sizeof *ws);
    ws->B = B;
    ws->act = dsbi_malloc(B * net->act_per_row, sizeof(float));
    ws->save = dsbi_malloc(B * (net->save_per_row + 1), sizeof(float));
    if (train) ws->dact = dsbi_malloc(B * net->act_per_row, sizeof(float));
    if (!ws->act || !ws->save || (train && !ws->dact)) {
        dsbi_ws_free(ws);
        return DSBI_STATUS_ERR_NOMEM;
    }
    return DSBI_STATUS_OK;
}

void dsbi_ws_free(dsbi_ws *ws) {
    if (!ws) return;
    free(ws->act);
    free(ws->dact);
    free(ws->save);
    memset(ws, 0, sizeof *ws);
}

/* ---------------------------------------------------------------- dispatch */

typedef struct ctx {
    const dsbi_net *net;
    const dsbi_node *n;
    const float *params;
    float *grads; /* NULL: input gradients only */
    dsbi_ws *ws;
    size_t B;
} ctx;

static float *out_of(const ctx *c) { return c->ws->act + c->B * c->n->a_off; }
static float *in_of(const ctx *c, int k) { return c->ws->act + c->B * c->net->nodes[c->n->in[k]].a_off; }
static float *dout_of(const ctx *c) { return c->ws->dact + c->B * c->n->a_off; }
static float *din_of(const ctx *c, int k) { return c->ws->dact + c->B * c->net->nodes[c->n->in[k]].a_off; }
static size_t in_dim(const ctx *c, int k) { return c->net->nodes[c->n->in[k]].dim; }

static void fwd_input(const ctx *c) { (void)c; }
static void bwd_input(const ctx *c) { (void)c; }

static void fwd_dense(const ctx *c) {
    size_t I = in_dim(c, 0), O = c->n->dim;
    const float *w = c->params + c->n->p_off;
    dsbi_dense_forward(out_of(c), in_of(c, 0), w, w + I * O, c->B, I, O);
}
static void bwd_dense(const ctx *c) {
    size_t I = in_dim(c, 0), O = c->n->dim;
    const float *w = c->params + c->n->p_off;
    float *gw = c->grads ? c->grads + c->n->p_off : NULL;
    /* always propagate to the input: guidance and Jacobians need it */
    dsbi_dense_backward(din_of(c, 0), gw, gw ? gw + I * O : NULL, dout_of(c), in_of(c, 0), w,
                        c->B, I, O);
}

static void fwd_act(const ctx *c) {
    dsbi_act_forward(out_of(c), in_of(c, 0), c->B * c->n->dim, (dsbi_activation)c->n->act);
}
static void bwd_act(const ctx *c) {
    dsbi_act_backward(din_of(c, 0), dout_of(c), in_of(c, 0), c->B * c->n->dim,
                      (dsbi_activation)c->n->act);
}

static void fwd_layernorm(const ctx *c) {
    const float *p = c->params + c->n->p_off;
    size_t D = c->n->dim;
    dsbi_layernorm_forward(out_of(c), c->ws->save + c->B * c->n->s_off, in_of(c, 0), p, p + D,
                           c->B, D);
}
static void bwd_layernorm(const ctx *c) {
    const float *p = c->params + c->n->p_off;
    size_t D = c->n->dim;
    float *g = c->grads ? c->grads + c->n->p_off : NULL;
    dsbi_layernorm_backward(din_of(c, 0), g, g ? g + D : NULL, dout_of(c), in_of(c, 0),
                            c->ws->save + c->B * c->n->s_off, p, c->B, D);
}

static void fwd_add(const ctx *c) {
    float *o = out_of(c);
    const float *a = in_of(c, 0), *b = in_of(c, 1);
    size_t n = c->B * c->n->dim;
    for (size_t i = 0; i < n; i++) o[i] = a[i] + b[i];
}
static void bwd_add(const ctx *c) {
    const float *g = dout_of(c);
    float *da = din_of(c, 0), *db = din_of(c, 1);
    size_t n = c->B * c->n->dim;
    for (size_t i = 0; i < n; i++) {
        da[i] += g[i];
        db[i] += g[i];
    }
}

static void fwd_concat(const ctx *c) {
    float *o = out_of(c);
    size_t O = c->n->dim, off = 0;
    for (int k = 0; k < c->n->n_in; k++) {
        size_t D = in_dim(c, k);
        const float *x = in_of(c, k);
        for (size_t r = 0; r < c->B; r++) memcpy(o + r * O + off, x + r * D, D * sizeof(float));
        off += D;
    }
}
static void bwd_concat(const ctx *c) {
    const float *g = dout_of(c);
    size_t O = c->n->dim, off = 0;
    for (int k = 0; k < c->n->n_in; k++) {
        size_t D = in_dim(c, k);
        float *dx = din_of(c, k);
        for (size_t r = 0; r < c->B; r++)
            for (size_t j = 0; j < D; j++) dx[r * D + j] += g[r * O + off + j];
        off += D;
    }
}

static void fwd_time(const ctx *c) {
    int fixed = c->n->emb != DSBI_TIME_FOURIER;
    dsbi_time_embed_forward(out_of(c), in_of(c, 0), c->params + c->n->p_off, c->B,
                            (c->n->dim - 1) / 2, fixed);
}
static void bwd_time(const ctx *c) {
    int fixed = c->n->emb != DSBI_TIME_FOURIER;
    dsbi_time_embed_backward(din_of(c, 0), c->grads ? c->grads + c->n->p_off : NULL, dout_of(c),
                             in_of(c, 0), c->params + c->n->p_off, c->B, (c->n->dim - 1) / 2,
                             fixed);
}

typedef void (*node_fn)(const ctx *);
static const node_fn forward_fn[DSBI_NODE_KIND_COUNT] = {
    [DSBI_NODE_INPUT] = fwd_input,     [DSBI_NODE_DENSE] = fwd_dense,
    [DSBI_NODE_ACT] = fwd_act,         [DSBI_NODE_LAYERNORM] = fwd_layernorm,
    [DSBI_NODE_ADD] = fwd_add,         [DSBI_NODE_CONCAT] = fwd_concat,
    [DSBI_NODE_TIME_EMBED] = fwd_time,
};
static const node_fn backward_fn[DSBI_NODE_KIND_COUNT] = {
    [DSBI_NODE_INPUT] = bwd_input,     [DSBI_NODE_DENSE] = bwd_dense,
    [DSBI_NODE_ACT] = bwd_act,         [DSBI_NODE_LAYERNORM] = bwd_layernorm,
    [DSBI_NODE_ADD] = bwd_add,         [DSBI_NODE_CONCAT] = bwd_concat,
    [DSBI_NODE_TIME_EMBED] = bwd_time,
};

/* The arena is laid out with stride B of the pass, which stays inside the
 * allocation because B <= ws->B. */
void dsbi_net_forward(const dsbi_net *net, const float *params, dsbi_ws *ws, size_t B) {
    DSBI_ASSERT(B <= ws->B);
    ctx c = {.net = net, .params = params, .ws = ws, .B = B};
    for (size_t i = 0; i < net->n_nodes; i++) {
        c.n = &net->nodes[i];
        forward_fn[c.n->kind](&c);
    }
}

void dsbi_net_zero_dact(const dsbi_net *net, dsbi_ws *ws, size_t B) {
    memset(ws->dact, 0, B * net->act_per_row * sizeof(float));
}

void dsbi_net_backward(const dsbi_net *net, const float *params, float *grads, dsbi_ws *ws,
                       size_t B) {
    DSBI_ASSERT(ws->dact && B <= ws->B);
    ctx c = {.net = net, .params = params, .grads = grads, .ws = ws, .B = B};
    for (size_t i = net->n_nodes; i-- > 0;) {
        c.n = &net->nodes[i];
        backward_fn[c.n->kind](&c);
    }
}
