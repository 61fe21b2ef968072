/*
 * The network core: a static tape of nodes built once per network. Each node
 * has a kind, up to four input nodes, an output width and offsets into one
 * flat parameter block and one activation arena. Forward walks the nodes in
 * order; backward walks them in reverse and accumulates (+=) into parameter
 * gradients and into the activation gradients of the inputs, so the same tape
 * yields gradients w.r.t. parameters (training) and w.r.t. inputs (guidance,
 * Jacobians).
 *
 * Rows: a pass runs over B items (samples, or sets, or sequences). Each node
 * holds `rows` rows per item: 1 for vector-level nodes, N for member-level
 * nodes of a set (or L for the steps of a sequence), k for the seed outputs
 * of a PMA. Activations of node i live at ws->act + B * node.a_off and hold
 * (B * node.rows) x node.dim floats, row-major, the rows of one item
 * contiguous; a_off counts floats per item (rows * dim of earlier nodes).
 * Dense, activation, layer norm, add and concat inherit the rows of their
 * inputs, so a per-member MLP is written with the ordinary builders.
 *
 * Masks: member-level nodes built from an input made with masked = 1 carry
 * the flag `masked`. Their item b has ws->count[b] valid rows (1 <= count[b]
 * <= rows); the rest are padding, ignored by pooling, attention keys, the
 * convolution and the GRU. ws->count = NULL means every item is full. The
 * caller sets ws->count (B entries, borrowed) before forward and keeps it
 * for backward, and fills padding rows with finite values (zeros): per-row
 * nodes still compute on them, and their gradients are exactly zero.
 */
#ifndef DSBI_NN_H
#define DSBI_NN_H

#include "internal.h"

typedef enum dsbi_node_kind {
    DSBI_NODE_INPUT = 0,
    DSBI_NODE_DENSE,
    DSBI_NODE_ACT,
    DSBI_NODE_LAYERNORM,
    DSBI_NODE_ADD,
    DSBI_NODE_CONCAT,
    DSBI_NODE_TIME_EMBED,
    DSBI_NODE_POOL,      /* members -> item: mean, sum or max over valid rows */
    DSBI_NODE_SET_STATS, /* members -> item: [e^a mean, e^b ln sd, e^c sqrt(n)] */
    DSBI_NODE_MHA,       /* q + MultiHead(q, kv, kv): keys masked; SAB/ISAB core */
    DSBI_NODE_PMA,       /* S + MultiHead(S, x, x), k learned seeds S: k rows */
    DSBI_NODE_RESHAPE,   /* same floats, rows per item changed (k x F -> 1 x kF) */
    DSBI_NODE_CONV1D,    /* 1-D convolution over rows, 'same' zero padding */
    DSBI_NODE_GRU,       /* GRU over rows, output = last hidden state */
    DSBI_NODE_LSTM,      /* LSTM over rows, output = last hidden state */
    DSBI_NODE_KIND_COUNT
} dsbi_node_kind;

#define DSBI_NODE_MAX_IN 4

typedef enum dsbi_pool { DSBI_POOL_MEAN = 0, DSBI_POOL_SUM, DSBI_POOL_MAX } dsbi_pool;

typedef struct dsbi_node {
    dsbi_node_kind kind;
    int act;                   /* dsbi_activation, for ACT */
    int emb;                   /* dsbi_time_embedding, for TIME_EMBED */
    int n_in;
    int in[DSBI_NODE_MAX_IN];
    int op;                    /* dsbi_pool for POOL; 1 = reversed for GRU/LSTM */
    int masked;                /* rows beyond ws->count[b] are padding */
    size_t dim;                /* output width */
    size_t rows;               /* rows per item (1 = vector level) */
    size_t heads;              /* MHA/PMA heads */
    size_t kernel;             /* CONV1D kernel width */
    size_t p_off, p_size;      /* parameters in the flat block */
    size_t a_off;              /* activation offset (floats per item) */
    size_t s_off, s_dim;       /* saved state and scratch (floats per item) */
    float init_scale;          /* Fourier scale; 0 = zero-initialised dense */
    int n_cons;                /* input edges of later nodes that read this node */
    int dact_set;              /* its one consumer writes (=) its gradient: not zeroed */
} dsbi_node;

typedef struct dsbi_net {
    dsbi_node *nodes;
    size_t n_nodes, cap;
    size_t n_params;
    size_t act_per_row;  /* floats per item: sum of node rows * dim */
    size_t save_per_row; /* floats per item of saved state */
} dsbi_net;

/* Workspace: activations (and their gradients when train != 0) for B items.
 * count: valid rows of each item for masked nodes (B entries, borrowed, set
 * by the caller before forward); NULL = all rows valid. */
typedef struct dsbi_ws {
    size_t B;
    float *act, *dact, *save;
    const size_t *count;
} dsbi_ws;

void dsbi_net_init(dsbi_net *net);
void dsbi_net_free(dsbi_net *net);
/* Builders return the new node index or -1 on allocation failure. */
int dsbi_net_input(dsbi_net *net, size_t dim);
/* Input with `rows` rows per item (N members of a set, L steps of a series);
 * masked = 1: item b has ws->count[b] valid rows. */
int dsbi_net_input_rows(dsbi_net *net, size_t dim, size_t rows, int masked);
int dsbi_net_dense(dsbi_net *net, int in, size_t dim, int zero_init);
int dsbi_net_act(dsbi_net *net, int in, dsbi_activation act);
int dsbi_net_layernorm(dsbi_net *net, int in);
int dsbi_net_add(dsbi_net *net, int a, int b);
int dsbi_net_concat(dsbi_net *net, int n_in, const int *in);
/* t (width 1) -> [t, sin(2 pi w_k t), cos(2 pi w_k t)], n_features = 2 * #w. */
int dsbi_net_time_embed(dsbi_net *net, int in, size_t n_features, dsbi_time_embedding kind,
                        float scale);

/* Set and sequence nodes (kernels in src/summary/, see summary.h). Each
 * reads a node with rows > 1 per item (masked or full). */
/* (B*N x F) -> (B x F): mean, sum or max over the valid members. */
int dsbi_net_pool(dsbi_net *net, int in, dsbi_pool op);
/* (B*N x d) -> (B x 2d+1): [e^a xbar, e^b ln sd, e^c sqrt(n)], sd unbiased,
 * a, b (d) initialised to -2, c to 0 (cDiff DeepSet; ALGORITHMS.md 2.2). */
int dsbi_net_set_stats(dsbi_net *net, int in);
/* q (B*nq x F) attends over kv (B*nk x Dk) with `heads` heads (F divisible
 * by heads): out (B*nq x F) = q + concat_h(softmax(Q_h K_h^T / sqrt(F/h)) V_h) Wo + bo,
 * Q = q Wq + bq, K = kv Wk + bk, V = kv Wv + bv; keys beyond count masked
 * when kv is masked. q = kv gives SAB's attention; out keeps q's rows/mask. */
int dsbi_net_mha(dsbi_net *net, int q, int kv, size_t heads);
/* k learned seeds S (k x F) attend over x (B*N x Dk): out (B*k x F),
 * unmasked, = S + MultiHead(S, x, x) (PMA of Lee et al. 2019 before its
 * layer norms and rFF; ISAB's first half with k inducing points). */
int dsbi_net_pma(dsbi_net *net, int in, size_t k, size_t dim, size_t heads);
/* Same floats per item with `rows` rows: (B*k x F) -> (B x kF) for rows = 1.
 * Input must be unmasked. */
int dsbi_net_reshape(dsbi_net *net, int in, size_t rows);
/* (B*L x Cin) -> (B*L x dim): out[t] = b + sum_j x[t + j - (kernel-1)/2] W_j,
 * x = 0 outside the valid rows; padded output rows are 0. */
int dsbi_net_conv1d(dsbi_net *net, int in, size_t dim, size_t kernel);
/* (B*L x Din) -> (B x hidden): GRU hidden state after the last valid step
 * (reverse = 1: after running from the last valid step back to step 0). */
int dsbi_net_gru(dsbi_net *net, int in, size_t hidden, int reverse);
/* The same with an LSTM (forget-gate biases initialised to 1). */
int dsbi_net_lstm(dsbi_net *net, int in, size_t hidden, int reverse);

/* Initialises parameters (dense: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); output
 * layers flagged zero_init: 0; Fourier frequencies N(0, scale^2)). */
void dsbi_net_init_params(const dsbi_net *net, float *params, dsbi_rng *rng);

int dsbi_ws_create(dsbi_ws *ws, const dsbi_net *net, size_t B, int train);
void dsbi_ws_free(dsbi_ws *ws);
/* Buffer of a node for a pass over B items (B <= ws->B), (B * rows) x dim:
 * the arena is laid out with stride B, so these must be taken with the same
 * B as the pass. */
static inline float *dsbi_ws_act(const dsbi_ws *ws, const dsbi_net *net, int node, size_t B) {
    return ws->act + B * net->nodes[node].a_off;
}
static inline float *dsbi_ws_dact(const dsbi_ws *ws, const dsbi_net *net, int node, size_t B) {
    return ws->dact + B * net->nodes[node].a_off;
}

/* Forward over the first B items (B <= ws->B). Inputs must be filled. */
void dsbi_net_forward(const dsbi_net *net, const float *params, dsbi_ws *ws, size_t B);
/* Zeroes the activation gradients (items < B) that the backward walk adds
 * into. A node read by a single dense or activation node is skipped: that
 * consumer overwrites its gradient, which saves a pass over the arena per
 * step. So seed only nodes without consumers (outputs) before backward. */
void dsbi_net_zero_dact(const dsbi_net *net, dsbi_ws *ws, size_t B);
/* Backward from the seeded dact of the last node; grads may be NULL to get
 * only input gradients. */
void dsbi_net_backward(const dsbi_net *net, const float *params, float *grads, dsbi_ws *ws,
                       size_t B);

/* The elementwise kernels are compiled for AVX-512, AVX2 and baseline x86-64
 * and picked at load time (GCC function multi-versioning), so one binary uses
 * the widest vectors the machine has. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define DSBI_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DSBI_CLONES
#endif

/* Elementwise activation pair (exposed for tests). */
void dsbi_act_forward(float *out, const float *in, size_t n, dsbi_activation act);
void dsbi_act_backward(float *d_in, const float *d_out, const float *in, size_t n,
                       dsbi_activation act);
/* d_in = d_out * f'(in), overwriting d_in */
void dsbi_act_backward_set(float *d_in, const float *d_out, const float *in, size_t n,
                           dsbi_activation act);

/* Optimizer: Adam/AdamW (decoupled weight decay) with bias correction, on flat
 * arrays; step counts from 1. */
typedef struct dsbi_adam {
    float beta1, beta2, eps, weight_decay;
} dsbi_adam;
void dsbi_adam_update(float *params, const float *grads, float *m, float *v, size_t n,
                      const dsbi_adam *opt, float lr, size_t step);
/* Learning rate at a step: linear warm-up from 0.1 lr over warmup * total,
 * then cosine decay to lr_min. */
float dsbi_lr_schedule(size_t step, size_t total, float lr, float lr_min, float warmup);
/* Global L2 norm of the gradients (double accumulation); scales them down to
 * clip if larger and clip > 0. Returns the norm before clipping. */
double dsbi_clip_grad_norm(float *grads, size_t n, float clip);
/* ema = decay * ema + (1 - decay) * params */
void dsbi_ema_update(float *ema, const float *params, size_t n, float decay);

/* One fused training update, the hot path of fit: sums the n_grads gradient
 * buffers (one per data-parallel worker) into grads[0], clips their global L2
 * norm to clip (if clip > 0), takes the Adam/AdamW step and, if ema is not
 * NULL, updates ema with the given decay (0: ema = params). Two passes over
 * memory instead of five, split over `threads` threads; the norm is summed
 * over fixed blocks in order, so the result does not depend on the thread
 * count. Returns the norm before clipping. */
double dsbi_optim_step(float *params, float *const *grads, int n_grads, float *m, float *v,
                       float *ema, size_t n, const dsbi_adam *opt, float lr, size_t step,
                       float clip, float ema_decay, int threads);

#endif
