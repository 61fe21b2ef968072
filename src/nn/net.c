/*
 * The static tape: building a network node by node, workspaces, and the
 * forward/backward walks that dispatch on the node kind through tables.
 * Set and sequence kinds dispatch to kernels in src/summary/.
 */
#include "nn/layers.h"
#include "summary/summary.h"
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
    if (n.rows == 0) { /* per-row kinds inherit rows and mask from their inputs */
        n.rows = n.n_in ? net->nodes[n.in[0]].rows : 1;
        for (int k = 0; k < n.n_in; k++) {
            DSBI_ASSERT(net->nodes[n.in[k]].rows == n.rows);
            n.masked |= net->nodes[n.in[k]].masked;
        }
    }
    /* a node read once, by a dense or activation node, gets its gradient
     * written (=) by that reader, so the backward walk need not zero it */
    for (int k = 0; k < n.n_in; k++) {
        dsbi_node *src = &net->nodes[n.in[k]];
        src->n_cons++;
        src->dact_set = src->n_cons == 1 && (n.kind == DSBI_NODE_DENSE || n.kind == DSBI_NODE_ACT);
    }
    n.n_cons = 0;
    n.dact_set = 0;
    n.p_off = net->n_params;
    net->n_params += n.p_size;
    n.a_off = net->act_per_row;
    net->act_per_row += n.rows * n.dim;
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
    return push(net, (dsbi_node){.kind = DSBI_NODE_INPUT, .dim = dim, .rows = 1});
}

int dsbi_net_input_rows(dsbi_net *net, size_t dim, size_t rows, int masked) {
    DSBI_ASSERT(rows >= 1);
    return push(net, (dsbi_node){.kind = DSBI_NODE_INPUT, .dim = dim, .rows = rows,
                                 .masked = masked != 0});
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
                                 .p_size = 2 * D, .s_dim = 2 * net->nodes[in].rows});
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

static const dsbi_node *node_of(const dsbi_net *net, int i) {
    DSBI_ASSERT(i >= 0 && (size_t)i < net->n_nodes);
    return &net->nodes[i];
}

int dsbi_net_pool(dsbi_net *net, int in, dsbi_pool op) {
    size_t F = dim_of(net, in);
    return push(net, (dsbi_node){.kind = DSBI_NODE_POOL, .op = op, .n_in = 1, .in = {in},
                                 .dim = F, .rows = 1, .s_dim = op == DSBI_POOL_MAX ? F : 0});
}

int dsbi_net_set_stats(dsbi_net *net, int in) {
    size_t d = dim_of(net, in);
    return push(net, (dsbi_node){.kind = DSBI_NODE_SET_STATS, .n_in = 1, .in = {in},
                                 .dim = 2 * d + 1, .rows = 1, .p_size = 2 * d + 1,
                                 .s_dim = 2 * d});
}

int dsbi_net_mha(dsbi_net *net, int q, int kv, size_t heads) {
    const dsbi_node *nq = node_of(net, q), *nk = node_of(net, kv);
    size_t F = nq->dim;
    DSBI_ASSERT(heads >= 1 && F % heads == 0);
    return push(net, (dsbi_node){.kind = DSBI_NODE_MHA, .n_in = 2, .in = {q, kv}, .dim = F,
                                 .rows = nq->rows, .masked = nq->masked, .heads = heads,
                                 .p_size = dsbi_mha_param_size(nk->dim, F),
                                 .s_dim = dsbi_mha_save_size(nq->rows, nk->rows, F, heads)});
}

int dsbi_net_pma(dsbi_net *net, int in, size_t k, size_t dim, size_t heads) {
    const dsbi_node *nk = node_of(net, in);
    DSBI_ASSERT(k >= 1 && heads >= 1 && dim % heads == 0);
    return push(net, (dsbi_node){.kind = DSBI_NODE_PMA, .n_in = 1, .in = {in}, .dim = dim,
                                 .rows = k, .heads = heads,
                                 .p_size = k * dim + dsbi_mha_param_size(nk->dim, dim),
                                 .s_dim = dsbi_mha_save_size(k, nk->rows, dim, heads)});
}

int dsbi_net_reshape(dsbi_net *net, int in, size_t rows) {
    const dsbi_node *n = node_of(net, in);
    size_t total = n->rows * n->dim;
    DSBI_ASSERT(!n->masked && rows >= 1 && total % rows == 0);
    return push(net, (dsbi_node){.kind = DSBI_NODE_RESHAPE, .n_in = 1, .in = {in},
                                 .dim = total / rows, .rows = rows});
}

int dsbi_net_conv1d(dsbi_net *net, int in, size_t dim, size_t kernel) {
    const dsbi_node *n = node_of(net, in);
    DSBI_ASSERT(kernel >= 1);
    return push(net, (dsbi_node){.kind = DSBI_NODE_CONV1D, .n_in = 1, .in = {in}, .dim = dim,
                                 .rows = n->rows, .masked = n->masked, .kernel = kernel,
                                 .p_size = kernel * n->dim * dim + dim});
}

int dsbi_net_gru(dsbi_net *net, int in, size_t hidden, int reverse) {
    const dsbi_node *n = node_of(net, in);
    size_t G = 3 * hidden;
    return push(net, (dsbi_node){.kind = DSBI_NODE_GRU, .op = reverse != 0, .n_in = 1,
                                 .in = {in}, .dim = hidden, .rows = 1,
                                 .p_size = n->dim * G + G + hidden * G + G,
                                 .s_dim = dsbi_gru_save_size(n->rows, hidden)});
}

int dsbi_net_lstm(dsbi_net *net, int in, size_t hidden, int reverse) {
    const dsbi_node *n = node_of(net, in);
    return push(net, (dsbi_node){.kind = DSBI_NODE_LSTM, .op = reverse != 0, .n_in = 1,
                                 .in = {in}, .dim = hidden, .rows = 1,
                                 .p_size = dsbi_lstm_param_size(n->dim, hidden),
                                 .s_dim = dsbi_lstm_save_size(n->rows, hidden)});
}

static void fill_uniform(float *p, size_t n, float bound, dsbi_rng *rng) {
    for (size_t k = 0; k < n; k++) p[k] = bound * (float)(2.0 * dsbi_rng_uniform(rng) - 1.0);
}

/* attention: W* U(+-1/sqrt(fan_in)), biases 0 */
static void init_mha(float *p, size_t Dk, size_t F, dsbi_rng *rng) {
    float bq = 1.0f / sqrtf((float)F), bk = 1.0f / sqrtf((float)Dk);
    memset(p, 0, dsbi_mha_param_size(Dk, F) * sizeof(float));
    fill_uniform(p, F * F, bq, rng);                              /* Wq */
    fill_uniform(p + F * F + F, Dk * F, bk, rng);                 /* Wk */
    fill_uniform(p + F * F + F + Dk * F + F, Dk * F, bk, rng);    /* Wv */
    fill_uniform(p + F * F + 2 * (Dk * F + F) + F, F * F, bq, rng); /* Wo */
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
        case DSBI_NODE_SET_STATS: /* a = b = -2, c = 0 (cDiff) */
            for (size_t k = 0; k + 1 < n->p_size; k++) p[k] = -2.0f;
            p[n->p_size - 1] = 0.0f;
            break;
        case DSBI_NODE_MHA:
            init_mha(p, net->nodes[n->in[1]].dim, n->dim, rng);
            break;
        case DSBI_NODE_PMA: { /* seeds: Xavier uniform as in Lee et al.'s code */
            size_t kF = n->rows * n->dim;
            fill_uniform(p, kF, sqrtf(6.0f / (float)(n->rows + n->dim)), rng);
            init_mha(p + kF, net->nodes[n->in[0]].dim, n->dim, rng);
            break;
        }
        case DSBI_NODE_CONV1D:
            fill_uniform(p, n->p_size, 1.0f / sqrtf((float)(n->kernel * net->nodes[n->in[0]].dim)), rng);
            break;
        case DSBI_NODE_GRU: /* PyTorch: U(+-1/sqrt(hidden)) for all */
            fill_uniform(p, n->p_size, 1.0f / sqrtf((float)n->dim), rng);
            break;
        case DSBI_NODE_LSTM:
            dsbi_lstm_init(p, net->nodes[n->in[0]].dim, n->dim, rng);
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
static size_t in_rows(const ctx *c, int k) { return c->net->nodes[c->n->in[k]].rows; }
static size_t rows_of(const ctx *c) { return c->B * c->n->rows; } /* rows of this pass */
static float *save_of(const ctx *c) { return c->ws->save + c->B * c->n->s_off; }
static const float *par_of(const ctx *c) { return c->params + c->n->p_off; }
static float *grad_of(const ctx *c) { return c->grads ? c->grads + c->n->p_off : NULL; }
/* valid rows per item of input k, NULL when it is not masked */
static const size_t *count_of(const ctx *c, int k) {
    return c->net->nodes[c->n->in[k]].masked ? c->ws->count : NULL;
}

static void fwd_input(const ctx *c) { (void)c; }
static void bwd_input(const ctx *c) { (void)c; }

static void fwd_dense(const ctx *c) {
    size_t I = in_dim(c, 0), O = c->n->dim;
    const float *w = c->params + c->n->p_off;
    dsbi_dense_forward(out_of(c), in_of(c, 0), w, w + I * O, rows_of(c), I, O);
}
static void bwd_dense(const ctx *c) {
    size_t I = in_dim(c, 0), O = c->n->dim;
    const float *w = c->params + c->n->p_off;
    float *gw = c->grads ? c->grads + c->n->p_off : NULL;
    /* always propagate to the input: guidance and Jacobians need it */
    dsbi_dense_backward_ex(din_of(c, 0), gw, gw ? gw + I * O : NULL, dout_of(c), in_of(c, 0), w,
                           rows_of(c), I, O, !c->net->nodes[c->n->in[0]].dact_set);
}

static void fwd_act(const ctx *c) {
    dsbi_act_forward(out_of(c), in_of(c, 0), rows_of(c) * c->n->dim, (dsbi_activation)c->n->act);
}
static void bwd_act(const ctx *c) {
    void (*f)(float *, const float *, const float *, size_t, dsbi_activation) =
        c->net->nodes[c->n->in[0]].dact_set ? dsbi_act_backward_set : dsbi_act_backward;
    f(din_of(c, 0), dout_of(c), in_of(c, 0), rows_of(c) * c->n->dim, (dsbi_activation)c->n->act);
}

static void fwd_layernorm(const ctx *c) {
    const float *p = c->params + c->n->p_off;
    size_t D = c->n->dim;
    dsbi_layernorm_forward(out_of(c), save_of(c), in_of(c, 0), p, p + D, rows_of(c), D);
}
static void bwd_layernorm(const ctx *c) {
    const float *p = c->params + c->n->p_off;
    size_t D = c->n->dim;
    float *g = c->grads ? c->grads + c->n->p_off : NULL;
    dsbi_layernorm_backward(din_of(c, 0), g, g ? g + D : NULL, dout_of(c), in_of(c, 0),
                            save_of(c), p, rows_of(c), D);
}

static void fwd_add(const ctx *c) {
    float *o = out_of(c);
    const float *a = in_of(c, 0), *b = in_of(c, 1);
    size_t n = rows_of(c) * c->n->dim;
    for (size_t i = 0; i < n; i++) o[i] = a[i] + b[i];
}
static void bwd_add(const ctx *c) {
    const float *g = dout_of(c);
    float *da = din_of(c, 0), *db = din_of(c, 1);
    size_t n = rows_of(c) * c->n->dim;
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
        for (size_t r = 0; r < rows_of(c); r++) memcpy(o + r * O + off, x + r * D, D * sizeof(float));
        off += D;
    }
}
static void bwd_concat(const ctx *c) {
    const float *g = dout_of(c);
    size_t O = c->n->dim, off = 0;
    for (int k = 0; k < c->n->n_in; k++) {
        size_t D = in_dim(c, k);
        float *dx = din_of(c, k);
        for (size_t r = 0; r < rows_of(c); r++)
            for (size_t j = 0; j < D; j++) dx[r * D + j] += g[r * O + off + j];
        off += D;
    }
}

static void fwd_time(const ctx *c) {
    int fixed = c->n->emb != DSBI_TIME_FOURIER;
    dsbi_time_embed_forward(out_of(c), in_of(c, 0), c->params + c->n->p_off, rows_of(c),
                            (c->n->dim - 1) / 2, fixed);
}
static void bwd_time(const ctx *c) {
    int fixed = c->n->emb != DSBI_TIME_FOURIER;
    dsbi_time_embed_backward(din_of(c, 0), c->grads ? c->grads + c->n->p_off : NULL, dout_of(c),
                             in_of(c, 0), c->params + c->n->p_off, rows_of(c), (c->n->dim - 1) / 2,
                             fixed);
}

/* ---------------------------------------------------------------- sets, sequences */

static void fwd_pool(const ctx *c) {
    dsbi_pool_forward(out_of(c), save_of(c), in_of(c, 0), count_of(c, 0), c->B, in_rows(c, 0),
                      c->n->dim, (dsbi_pool)c->n->op);
}
static void bwd_pool(const ctx *c) {
    dsbi_pool_backward(din_of(c, 0), dout_of(c), save_of(c), count_of(c, 0), c->B, in_rows(c, 0),
                       c->n->dim, (dsbi_pool)c->n->op);
}

static void fwd_set_stats(const ctx *c) {
    dsbi_set_stats_forward(out_of(c), save_of(c), in_of(c, 0), par_of(c), count_of(c, 0), c->B,
                           in_rows(c, 0), in_dim(c, 0));
}
static void bwd_set_stats(const ctx *c) {
    dsbi_set_stats_backward(din_of(c, 0), grad_of(c), dout_of(c), in_of(c, 0), save_of(c),
                            par_of(c), count_of(c, 0), c->B, in_rows(c, 0), in_dim(c, 0));
}

/* MHA: inputs (q, kv); PMA: q = the seeds at the start of the parameters */
static dsbi_mha_dims mha_dims(const ctx *c) {
    int pma = c->n->kind == DSBI_NODE_PMA, kv = pma ? 0 : 1;
    return (dsbi_mha_dims){.B = c->B, .nq = c->n->rows, .nk = in_rows(c, kv),
                           .Dk = in_dim(c, kv), .F = c->n->dim, .heads = c->n->heads,
                           .shared_q = pma};
}
static void fwd_mha(const ctx *c) {
    dsbi_mha_dims d = mha_dims(c);
    dsbi_mha_forward(out_of(c), save_of(c), in_of(c, 0), in_of(c, 1), par_of(c), count_of(c, 1),
                     &d);
}
static void bwd_mha(const ctx *c) {
    dsbi_mha_dims d = mha_dims(c);
    dsbi_mha_backward(din_of(c, 0), din_of(c, 1), grad_of(c), dout_of(c), in_of(c, 0),
                      in_of(c, 1), save_of(c), par_of(c), count_of(c, 1), &d);
}
static void fwd_pma(const ctx *c) {
    dsbi_mha_dims d = mha_dims(c);
    size_t kF = c->n->rows * c->n->dim;
    dsbi_mha_forward(out_of(c), save_of(c), par_of(c), in_of(c, 0), par_of(c) + kF,
                     count_of(c, 0), &d);
}
static void bwd_pma(const ctx *c) {
    dsbi_mha_dims d = mha_dims(c);
    size_t kF = c->n->rows * c->n->dim;
    float *g = grad_of(c);
    dsbi_mha_backward(g, din_of(c, 0), g ? g + kF : NULL, dout_of(c), par_of(c), in_of(c, 0),
                      save_of(c), par_of(c) + kF, count_of(c, 0), &d);
}

static void fwd_reshape(const ctx *c) {
    memcpy(out_of(c), in_of(c, 0), rows_of(c) * c->n->dim * sizeof(float));
}
static void bwd_reshape(const ctx *c) {
    const float *g = dout_of(c);
    float *dx = din_of(c, 0);
    size_t n = rows_of(c) * c->n->dim;
    for (size_t i = 0; i < n; i++) dx[i] += g[i];
}

static void fwd_conv1d(const ctx *c) {
    dsbi_conv1d_forward(out_of(c), in_of(c, 0), par_of(c), count_of(c, 0), c->B, c->n->rows,
                        in_dim(c, 0), c->n->dim, c->n->kernel);
}
static void bwd_conv1d(const ctx *c) {
    dsbi_conv1d_backward(din_of(c, 0), grad_of(c), dout_of(c), in_of(c, 0), par_of(c),
                         count_of(c, 0), c->B, c->n->rows, in_dim(c, 0), c->n->dim,
                         c->n->kernel);
}

static void fwd_gru(const ctx *c) {
    dsbi_gru_forward(out_of(c), save_of(c), in_of(c, 0), par_of(c), count_of(c, 0), c->B,
                     in_rows(c, 0), in_dim(c, 0), c->n->dim, c->n->op);
}
static void bwd_gru(const ctx *c) {
    dsbi_gru_backward(din_of(c, 0), grad_of(c), dout_of(c), in_of(c, 0), save_of(c), par_of(c),
                      count_of(c, 0), c->B, in_rows(c, 0), in_dim(c, 0), c->n->dim, c->n->op);
}
static void fwd_lstm(const ctx *c) {
    dsbi_lstm_forward(out_of(c), save_of(c), in_of(c, 0), par_of(c), count_of(c, 0), c->B,
                      in_rows(c, 0), in_dim(c, 0), c->n->dim, c->n->op);
}
static void bwd_lstm(const ctx *c) {
    dsbi_lstm_backward(din_of(c, 0), grad_of(c), dout_of(c), in_of(c, 0), save_of(c), par_of(c),
                       count_of(c, 0), c->B, in_rows(c, 0), in_dim(c, 0), c->n->dim, c->n->op);
}

typedef void (*node_fn)(const ctx *);
static const node_fn forward_fn[DSBI_NODE_KIND_COUNT] = {
    [DSBI_NODE_INPUT] = fwd_input,     [DSBI_NODE_DENSE] = fwd_dense,
    [DSBI_NODE_ACT] = fwd_act,         [DSBI_NODE_LAYERNORM] = fwd_layernorm,
    [DSBI_NODE_ADD] = fwd_add,         [DSBI_NODE_CONCAT] = fwd_concat,
    [DSBI_NODE_TIME_EMBED] = fwd_time, [DSBI_NODE_POOL] = fwd_pool,
    [DSBI_NODE_SET_STATS] = fwd_set_stats, [DSBI_NODE_MHA] = fwd_mha,
    [DSBI_NODE_PMA] = fwd_pma,         [DSBI_NODE_RESHAPE] = fwd_reshape,
    [DSBI_NODE_CONV1D] = fwd_conv1d,   [DSBI_NODE_GRU] = fwd_gru,
    [DSBI_NODE_LSTM] = fwd_lstm,
};
static const node_fn backward_fn[DSBI_NODE_KIND_COUNT] = {
    [DSBI_NODE_INPUT] = bwd_input,     [DSBI_NODE_DENSE] = bwd_dense,
    [DSBI_NODE_ACT] = bwd_act,         [DSBI_NODE_LAYERNORM] = bwd_layernorm,
    [DSBI_NODE_ADD] = bwd_add,         [DSBI_NODE_CONCAT] = bwd_concat,
    [DSBI_NODE_TIME_EMBED] = bwd_time, [DSBI_NODE_POOL] = bwd_pool,
    [DSBI_NODE_SET_STATS] = bwd_set_stats, [DSBI_NODE_MHA] = bwd_mha,
    [DSBI_NODE_PMA] = bwd_pma,         [DSBI_NODE_RESHAPE] = bwd_reshape,
    [DSBI_NODE_CONV1D] = bwd_conv1d,   [DSBI_NODE_GRU] = bwd_gru,
    [DSBI_NODE_LSTM] = bwd_lstm,
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
    /* nodes are laid out in order: clear runs of adjacent nodes at once */
    size_t lo = 0, hi = 0;
    for (size_t i = 0; i < net->n_nodes; i++) {
        const dsbi_node *n = &net->nodes[i];
        if (n->dact_set) continue;
        size_t a = B * n->a_off, b = a + B * n->rows * n->dim;
        if (a != hi) {
            if (hi > lo) memset(ws->dact + lo, 0, (hi - lo) * sizeof(float));
            lo = a;
        }
        hi = b;
    }
    if (hi > lo) memset(ws->dact + lo, 0, (hi - lo) * sizeof(float));
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
