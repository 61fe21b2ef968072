/*
 * Classifier two-sample test exactly as sbibm computes it (C2ST.md in
 * shared/benchmarks/sbibm, after Lopez-Paz & Oquab 2017): both sets z-scored
 * by the reference (unbiased sd), labels 0 (ref) / 1 (alt), KFold(5) on one
 * shuffle, and per fold scikit-learn's MLPClassifier defaults: d -> 10d ->
 * 10d -> 1, ReLU, logistic output, loss = mean BCE (p clipped to [eps, 1-eps],
 * eps = FLT_EPSILON) + 0.5 alpha |W|^2 / batch on weights only, Glorot-uniform
 * init (factor 6), Adam(1e-3) with bias correction, minibatches of 200
 * reshuffled each epoch, epoch loss = size-weighted mean of the minibatch
 * losses, stop after n_iter_no_change + 1 epochs without an improvement of
 * tol, last weights, predict p > 0.5 (logit > 0). The MLP is the library's
 * tape (nn.h); the sigmoid + BCE on the logit is computed here in the stable
 * form max(z,0) - y z + log1p(exp(-|z|)), whose gradient is sigmoid(z) - y.
 */
#include "nn/nn.h"
#include <float.h>
#include <math.h>
#include <string.h>

dsbi_c2st_config dsbi_c2st_config_default(void) {
    return (dsbi_c2st_config){.folds = 5, .hidden_factor = 10, .batch = 200, .max_epochs = 10000,
                              .n_iter_no_change = 10, .lr = 1e-3f, .alpha = 1e-4f, .tol = 1e-4f,
                              .z_score = 1, .seed = 1};
}

typedef struct mlp {
    dsbi_net net;
    int in, out;
} mlp;

static int mlp_build(mlp *m, size_t d, size_t h) {
    dsbi_net_init(&m->net);
    int a = dsbi_net_input(&m->net, d);
    m->in = a;
    if (a >= 0) a = dsbi_net_dense(&m->net, a, h, 0);
    if (a >= 0) a = dsbi_net_act(&m->net, a, DSBI_ACT_RELU);
    if (a >= 0) a = dsbi_net_dense(&m->net, a, h, 0);
    if (a >= 0) a = dsbi_net_act(&m->net, a, DSBI_ACT_RELU);
    if (a >= 0) a = dsbi_net_dense(&m->net, a, 1, 0);
    m->out = a;
    if (a < 0) {
        dsbi_net_free(&m->net);
        return DSBI_STATUS_ERR_NOMEM;
    }
    return DSBI_STATUS_OK;
}

/* Glorot uniform, sklearn's variant: weights and biases ~ U(-b, b),
 * b = sqrt(6 / (fan_in + fan_out)) */
static void glorot_init(const dsbi_net *net, float *params, dsbi_rng *rng) {
    for (size_t i = 0; i < net->n_nodes; i++) {
        const dsbi_node *n = &net->nodes[i];
        if (n->kind != DSBI_NODE_DENSE) continue;
        size_t I = net->nodes[n->in[0]].dim, O = n->dim;
        double b = sqrt(6.0 / (double)(I + O));
        for (size_t k = 0; k < n->p_size; k++)
            params[n->p_off + k] = (float)(b * (2.0 * dsbi_rng_uniform(rng) - 1.0));
    }
}

/* Adds alpha/B * W to the weight gradients (not biases); returns sum W^2 */
static double l2_weights(const dsbi_net *net, const float *params, float *grads, float scale) {
    double s = 0;
    for (size_t i = 0; i < net->n_nodes; i++) {
        const dsbi_node *n = &net->nodes[i];
        if (n->kind != DSBI_NODE_DENSE) continue;
        size_t nw = net->nodes[n->in[0]].dim * n->dim; /* W (I x O) precedes b (O) */
        const float *w = params + n->p_off;
        float *g = grads + n->p_off;
        for (size_t k = 0; k < nw; k++) {
            s += (double)w[k] * w[k];
            g[k] += scale * w[k];
        }
    }
    return s;
}

static void shuffle(size_t *a, size_t n, dsbi_rng *rng) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(dsbi_rng_uniform(rng) * (double)i);
        if (j >= i) j = i - 1;
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Trains one fold on rows train[0..n_train) of data (N x d, labels lab) and
 * counts correct predictions on test[0..n_test). Returns a status. */
static int run_fold(const mlp *m, const float *data, const unsigned char *lab, size_t d,
                    const size_t *train, size_t n_train, const size_t *test, size_t n_test,
                    const dsbi_c2st_config *cfg, size_t *correct, size_t *epochs_out) {
    const dsbi_net *net = &m->net;
    size_t P = net->n_params, Bmax = cfg->batch < n_train ? cfg->batch : n_train;
    float *blk = dsbi_calloc(4 * P, sizeof(float));
    size_t *order = dsbi_malloc(n_train, sizeof *order);
    dsbi_ws ws;
    int st = blk && order ? dsbi_ws_create(&ws, net, Bmax, 1) : DSBI_STATUS_ERR_NOMEM;
    if (st) {
        free(blk);
        free(order);
        return st;
    }
    float *params = blk, *grads = blk + P, *mom = blk + 2 * P, *vel = blk + 3 * P;
    dsbi_rng rng;
    dsbi_rng_init(&rng, cfg->seed, 2); /* identical init and shuffles for every fold */
    glorot_init(net, params, &rng);
    memcpy(order, train, n_train * sizeof *order);
    const dsbi_adam opt = {0.9f, 0.999f, 1e-8f, 0.0f};
    const double loss_max = -log((double)FLT_EPSILON), loss_min = -log1p(-(double)FLT_EPSILON);
    double best = INFINITY;
    size_t no_improve = 0, step = 0, epoch = 0;
    for (epoch = 0; epoch < cfg->max_epochs; epoch++) {
        shuffle(order, n_train, &rng);
        double acc = 0;
        for (size_t s = 0; s < n_train; s += Bmax) {
            size_t B = n_train - s < Bmax ? n_train - s : Bmax;
            float *xin = dsbi_ws_act(&ws, net, m->in, B); /* B x d */
            for (size_t r = 0; r < B; r++) memcpy(xin + r * d, data + order[s + r] * d, d * sizeof(float));
            dsbi_net_forward(net, params, &ws, B);
            const float *z = dsbi_ws_act(&ws, net, m->out, B); /* B x 1 logits */
            dsbi_net_zero_dact(net, &ws, B);
            float *dz = dsbi_ws_dact(&ws, net, m->out, B);
            double bce = 0;
            for (size_t r = 0; r < B; r++) {
                double zr = z[r], y = lab[order[s + r]];
                double l = fmax(zr, 0.0) - y * zr + log1p(exp(-fabs(zr)));
                bce += fmin(fmax(l, loss_min), loss_max);
                double p = zr >= 0 ? 1.0 / (1.0 + exp(-zr)) : exp(zr) / (1.0 + exp(zr));
                dz[r] = (float)((p - y) / (double)B);
            }
            memset(grads, 0, P * sizeof *grads);
            dsbi_net_backward(net, params, grads, &ws, B);
            double w2 = l2_weights(net, params, grads, cfg->alpha / (float)B);
            double loss = bce / (double)B + 0.5 * cfg->alpha * w2 / (double)B;
            if (!isfinite(loss)) {
                st = dsbi_fail(DSBI_STATUS_ERR_NUMERIC, "c2st: non-finite classifier loss at epoch %zu", epoch + 1);
                goto done;
            }
            acc += loss * (double)B;
            dsbi_adam_update(params, grads, mom, vel, P, &opt, cfg->lr, ++step);
        }
        double eloss = acc / (double)n_train;
        /* scikit-learn's _update_no_improvement_count (no validation set) */
        if (eloss > best - cfg->tol) no_improve++;
        else no_improve = 0;
        if (eloss < best) best = eloss;
        if (no_improve > cfg->n_iter_no_change) {
            epoch++;
            break;
        }
    }
    *epochs_out = epoch;
    size_t ok = 0;
    for (size_t s = 0; s < n_test; s += Bmax) {
        size_t B = n_test - s < Bmax ? n_test - s : Bmax;
        float *xin = dsbi_ws_act(&ws, net, m->in, B);
        for (size_t r = 0; r < B; r++) memcpy(xin + r * d, data + test[s + r] * d, d * sizeof(float));
        dsbi_net_forward(net, params, &ws, B);
        const float *z = dsbi_ws_act(&ws, net, m->out, B);
        for (size_t r = 0; r < B; r++) ok += (unsigned)(z[r] > 0.0f) == lab[test[s + r]];
    }
    *correct = ok;
done:
    dsbi_ws_free(&ws);
    free(blk);
    free(order);
    return st;
}

int dsbi_c2st(const float *ref, size_t n_ref, const float *alt, size_t n_alt, size_t d,
              const dsbi_c2st_config *cfg_in, double *accuracy) {
    dsbi_c2st_config cfg = cfg_in ? *cfg_in : dsbi_c2st_config_default();
    if (!ref || !alt || !accuracy || d == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "c2st: NULL sample set or d = 0");
    if (cfg.folds < 2 || cfg.batch == 0 || cfg.hidden_factor == 0 || cfg.max_epochs == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "c2st: need folds >= 2, batch, hidden_factor, max_epochs > 0");
    size_t N = n_ref + n_alt;
    if (n_ref < 2 || n_alt < 1 || N < 2 * cfg.folds)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "c2st: too few samples (%zu reference, %zu other, %zu folds)",
                         n_ref, n_alt, cfg.folds);
    float *data = dsbi_malloc(N, d * sizeof(float));
    unsigned char *lab = dsbi_malloc(N, 1);
    size_t *perm = dsbi_malloc(N, sizeof *perm), *idx = dsbi_malloc(cfg.folds * N, sizeof *idx);
    size_t *correct = dsbi_calloc(cfg.folds, sizeof *correct), *epochs = dsbi_calloc(cfg.folds, sizeof *epochs);
    int *status = dsbi_calloc(cfg.folds, sizeof *status);
    mlp m = {.in = -1, .out = -1};
    dsbi_net_init(&m.net);
    int st = data && lab && perm && idx && correct && epochs && status ? mlp_build(&m, d, cfg.hidden_factor * d)
                                                                          : DSBI_STATUS_ERR_NOMEM;
    if (st) goto out;
    for (size_t i = 0; i < N * d; i++) {
        float v = i < n_ref * d ? ref[i] : alt[i - n_ref * d];
        if (!isfinite(v)) {
            size_t row = i / d < n_ref ? i / d : i / d - n_ref;
            st = dsbi_fail(DSBI_STATUS_ERR_INVALID, "c2st: non-finite value in %s sample, row %zu, column %zu",
                           i / d < n_ref ? "reference" : "second", row + 1, i % d + 1);
            goto out;
        }
    }
    /* z-score both sets by the reference: mean and unbiased sd, in double */
    for (size_t j = 0; j < d; j++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n_ref; i++) s += ref[i * d + j];
        double mu = s / (double)n_ref;
        for (size_t i = 0; i < n_ref; i++) s2 += (ref[i * d + j] - mu) * (ref[i * d + j] - mu);
        double sd = sqrt(s2 / (double)(n_ref - 1));
        if (!cfg.z_score) mu = 0, sd = 1;
        if (!(sd > 0) || !isfinite(sd)) sd = 1;
        for (size_t i = 0; i < n_ref; i++) data[i * d + j] = (float)((ref[i * d + j] - mu) / sd);
        for (size_t i = 0; i < n_alt; i++) data[(n_ref + i) * d + j] = (float)((alt[i * d + j] - mu) / sd);
    }
    for (size_t i = 0; i < N; i++) lab[i] = i >= n_ref, perm[i] = i;
    dsbi_rng rng;
    dsbi_rng_init(&rng, cfg.seed, 1);
    shuffle(perm, N, &rng);
    /* fold k: test = perm[start_k .. start_k + size_k), the first N % folds folds one longer */
    size_t K = cfg.folds, base = N / K, extra = N % K;
    int nth = dsbi_get_threads();
    if (nth < 1) nth = 1;
    if ((size_t)nth > K) nth = (int)K;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth)
    for (size_t k = 0; k < K; k++) {
        size_t start = k * base + (k < extra ? k : extra), size = base + (k < extra);
        size_t *tr = idx + k * N, n_tr = 0;
        for (size_t i = 0; i < N; i++)
            if (i < start || i >= start + size) tr[n_tr++] = perm[i];
        status[k] = run_fold(&m, data, lab, d, tr, n_tr, perm + start, size, &cfg, &correct[k], &epochs[k]);
    }
    double acc = 0;
    for (size_t k = 0; k < K; k++) {
        /* a worker's message stays in its own thread: restate it here */
        if (status[k] && !st)
            st = dsbi_fail(status[k], "c2st: training the classifier of fold %zu failed (%s)", k + 1,
                           dsbi_status_str(status[k]));
        size_t size = base + (k < extra);
        acc += (double)correct[k] / (double)size;
    }
    if (!st) *accuracy = acc / (double)K;
out:
    dsbi_net_free(&m.net);
    free(data);
    free(lab);
    free(perm);
    free(idx);
    free(correct);
    free(epochs);
    free(status);
    return st;
}
