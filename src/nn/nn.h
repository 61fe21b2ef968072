/*
 * The network core: a static tape of nodes built once per network. Each node
 * has a kind, up to four input nodes, an output width and offsets into one
 * flat parameter block and one activation arena. Forward walks the nodes in
 * order; backward walks them in reverse and accumulates (+=) into parameter
 * gradients and into the activation gradients of the inputs, so the same tape
 * yields gradients w.r.t. parameters (training) and w.r.t. inputs (guidance,
 * Jacobians). Activations of node i for a pass over B rows live at
 * ws->act + B * node.a_off and hold B x node.dim floats.
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
    DSBI_NODE_KIND_COUNT
} dsbi_node_kind;

#define DSBI_NODE_MAX_IN 4

typedef struct dsbi_node {
    dsbi_node_kind kind;
    int act;                   /* dsbi_activation, for ACT */
    int emb;                   /* dsbi_time_embedding, for TIME_EMBED */
    int n_in;
    int in[DSBI_NODE_MAX_IN];
    size_t dim;                /* output width */
    size_t p_off, p_size;      /* parameters in the flat block */
    size_t a_off;              /* activation offset (per-row units) */
    size_t s_off, s_dim;       /* saved per-row state (layer norm mean, rstd) */
    float init_scale;          /* Fourier scale; 0 = zero-initialised dense */
} dsbi_node;

typedef struct dsbi_net {
    dsbi_node *nodes;
    size_t n_nodes, cap;
    size_t n_params;
    size_t act_per_row;  /* sum of node dims */
    size_t save_per_row; /* sum of saved state per row */
} dsbi_net;

/* Workspace: activations (and their gradients when train != 0) for B rows. */
typedef struct dsbi_ws {
    size_t B;
    float *act, *dact, *save;
} dsbi_ws;

void dsbi_net_init(dsbi_net *net);
void dsbi_net_free(dsbi_net *net);
/* Builders return the new node index or -1 on allocation failure. */
int dsbi_net_input(dsbi_net *net, size_t dim);
int dsbi_net_dense(dsbi_net *net, int in, size_t dim, int zero_init);
int dsbi_net_act(dsbi_net *net, int in, dsbi_activation act);
int dsbi_net_layernorm(dsbi_net *net, int in);
int dsbi_net_add(dsbi_net *net, int a, int b);
int dsbi_net_concat(dsbi_net *net, int n_in, const int *in);
/* t (width 1) -> [t, sin(2 pi w_k t), cos(2 pi w_k t)], n_features = 2 * #w. */
int dsbi_net_time_embed(dsbi_net *net, int in, size_t n_features, dsbi_time_embedding kind,
                        float scale);

/* Initialises parameters (dense: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); output
 * layers flagged zero_init: 0; Fourier frequencies N(0, scale^2)). */
void dsbi_net_init_params(const dsbi_net *net, float *params, dsbi_rng *rng);

int dsbi_ws_create(dsbi_ws *ws, const dsbi_net *net, size_t B, int train);
void dsbi_ws_free(dsbi_ws *ws);
/* Buffer of a node for a pass over B rows (B <= ws->B): the arena is laid
 * out with stride B, so these must be taken with the same B as the pass. */
static inline float *dsbi_ws_act(const dsbi_ws *ws, const dsbi_net *net, int node, size_t B) {
    return ws->act + B * net->nodes[node].a_off;
}
static inline float *dsbi_ws_dact(const dsbi_ws *ws, const dsbi_net *net, int node, size_t B) {
    return ws->dact + B * net->nodes[node].a_off;
}

/* Forward over the first B rows (B <= ws->B). Inputs must be filled. */
void dsbi_net_forward(const dsbi_net *net, const float *params, dsbi_ws *ws, size_t B);
/* Zeroes all activation gradients (rows < B). */
void dsbi_net_zero_dact(const dsbi_net *net, dsbi_ws *ws, size_t B);
/* Backward from the seeded dact of the last node; grads may be NULL to get
 * only input gradients. */
void dsbi_net_backward(const dsbi_net *net, const float *params, float *grads, dsbi_ws *ws,
                       size_t B);

/* Elementwise activation pair (exposed for tests). */
void dsbi_act_forward(float *out, const float *in, size_t n, dsbi_activation act);
void dsbi_act_backward(float *d_in, const float *d_out, const float *in, size_t n,
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

#endif
