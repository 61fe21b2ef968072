/*
 * The summary network of a model (issue 7) and the packed layout of set data.
 *
 * A summary network maps one set or sequence (n <= N members of F
 * standardized values) to S numbers that condition the diffusion network:
 *   deepset:          phi = (Dense W, act) x depth per member, mean or max
 *                     pool, rho = (Dense W, act) x depth, Dense S
 *                     (Zaheer et al. 2017; cDiff's DeepSet, ALGORITHMS.md 2.2)
 *   set_transformer:  Dense W per member, depth x ISAB_m (SAB if m = 0),
 *                     PMA with one seed, (Dense W, act), Dense S (Lee et al. 2019)
 *   timeseries:       (Conv1d W, kernel 3, act) x depth, a forward and a
 *                     reversed GRU (or LSTM, summary_rnn) of W units (the
 *                     last state of each), (Dense W, act), Dense S
 *                     (BayesFlow's TimeSeriesNetwork minus its skip paths)
 * With summary_stats the fixed statistics [e^a mean, e^b ln sd, e^c sqrt n]
 * of the members join the pooled features before the last MLP. Mean pooling
 * alone cannot tell a set of 5 from one of 50 drawn from the same
 * distribution, yet the posterior width depends on n, so the sqrt n feature
 * matters for i.i.d. data (cDiff feeds the same statistics).
 *
 * Every layer's parameter count is independent of the number of rows N, so
 * the tape built for the training sets and one built for an observation of
 * another size share one parameter block.
 */
#include "summary/summary.h"
#include <math.h>
#include <string.h>

static const char *const kind_names[] = {"none", "deepset", "set_transformer", "timeseries"};

const char *dsbi_summary_name(dsbi_summary_kind k) {
    return (unsigned)k < sizeof kind_names / sizeof *kind_names ? kind_names[k] : "?";
}

int dsbi_summary_parse(const char *s) {
    if (!s) return -1;
    for (size_t i = 0; i < sizeof kind_names / sizeof *kind_names; i++)
        if (!strcmp(s, kind_names[i])) return (int)i;
    if (!strcmp(s, "set-transformer")) return DSBI_SUMMARY_SET_TRANSFORMER;
    return -1;
}

int dsbi_summary_check_config(const dsbi_model_config *c, size_t K) {
    if ((unsigned)c->summary > DSBI_SUMMARY_TIMESERIES)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown summary network %d", (int)c->summary);
    if (c->summary == DSBI_SUMMARY_NONE) return DSBI_STATUS_OK;
    const char *name = dsbi_summary_name(c->summary);
    if (c->set_size == 0 || c->set_size > 1000000 || c->set_features == 0 ||
        c->set_features > 100000)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "summary '%s': set_size %zu / set_features %zu out of range (1..1e6 / 1..1e5)",
                         name, c->set_size, c->set_features);
    if (K != DSBI_SET_ROW(c->set_size, c->set_features))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "summary '%s': dim_x must be 1 + set_size * set_features = %zu (got %zu)",
                         name, DSBI_SET_ROW(c->set_size, c->set_features), K);
    if (c->summary_dim == 0 || c->summary_dim > 4096)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "summary_dim must be 1..4096 (got %zu)", c->summary_dim);
    if (c->summary_width == 0 || c->summary_width > 4096)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "summary_width must be 1..4096 (got %zu)",
                         c->summary_width);
    if (c->summary_depth == 0 || c->summary_depth > 64)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "summary_depth must be 1..64 (got %zu)",
                         c->summary_depth);
    if (c->summary == DSBI_SUMMARY_SET_TRANSFORMER &&
        (c->summary_heads == 0 || c->summary_width % c->summary_heads))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "summary_heads (%zu) must be >= 1 and divide summary_width (%zu)",
                         c->summary_heads, c->summary_width);
    if (c->summary_inducing > 4096)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "summary_inducing must be 0..4096 (got %zu)",
                         c->summary_inducing);
    if ((unsigned)c->summary_pool > DSBI_SUMMARY_POOL_MAX)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown summary pooling %d", (int)c->summary_pool);
    if ((unsigned)c->summary_rnn > DSBI_SUMMARY_RNN_LSTM)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown summary_rnn %d (0 = gru, 1 = lstm)",
                         (int)c->summary_rnn);
    return DSBI_STATUS_OK;
}

/* (Dense W, act) x n */
static int mlp(dsbi_net *net, int h, size_t W, size_t n, dsbi_activation act) {
    for (size_t l = 0; l < n && h >= 0; l++)
        if ((h = dsbi_net_dense(net, h, W, 0)) >= 0) h = dsbi_net_act(net, h, act);
    return h;
}

int dsbi_summary_net_build(dsbi_summary_net *s, const dsbi_model_config *c, size_t rows) {
    memset(s, 0, sizeof *s);
    dsbi_net *net = &s->net;
    dsbi_net_init(net);
    const size_t W = c->summary_width, L = c->summary_depth;
    const dsbi_activation act = c->activation;
    s->rows = rows;
    s->F = c->set_features;
    s->S = c->summary_dim;
    int x = s->in = dsbi_net_input_rows(net, s->F, rows, 1), h = x, post = 1;
    switch (c->summary) {
    case DSBI_SUMMARY_DEEPSET:
        h = mlp(net, h, W, L, act);
        if (h >= 0)
            h = dsbi_net_pool(net, h, c->summary_pool == DSBI_SUMMARY_POOL_MAX ? DSBI_POOL_MAX
                                                                               : DSBI_POOL_MEAN);
        post = (int)L;
        break;
    case DSBI_SUMMARY_SET_TRANSFORMER:
        /* the attention blocks add their input back (residual), so members are
           first embedded at width W */
        if (h >= 0) h = dsbi_net_dense(net, h, W, 0);
        for (size_t l = 0; l < L && h >= 0; l++)
            h = c->summary_inducing
                    ? dsbi_summary_isab(net, h, c->summary_inducing, c->summary_heads, act)
                    : dsbi_summary_sab(net, h, c->summary_heads, act);
        if (h >= 0) h = dsbi_summary_pma(net, h, 1, W, c->summary_heads, act);
        break;
    case DSBI_SUMMARY_TIMESERIES:
    default: {
        for (size_t l = 0; l < L && h >= 0; l++)
            if ((h = dsbi_net_conv1d(net, h, W, 3)) >= 0) h = dsbi_net_act(net, h, act);
        int (*rnn)(dsbi_net *, int, size_t, int) =
            c->summary_rnn == DSBI_SUMMARY_RNN_LSTM ? dsbi_net_lstm : dsbi_net_gru;
        int g[2] = {h >= 0 ? rnn(net, h, W, 0) : -1, -1};
        if (g[0] >= 0) g[1] = rnn(net, h, W, 1);
        h = g[1] >= 0 ? dsbi_net_concat(net, 2, g) : -1;
        break;
    }
    }
    if (h >= 0 && c->summary_stats) {
        int parts[2] = {h, dsbi_net_set_stats(net, x)};
        h = parts[1] >= 0 ? dsbi_net_concat(net, 2, parts) : -1;
    }
    if (h >= 0) h = mlp(net, h, W, (size_t)post, act);
    if (h >= 0) h = dsbi_net_dense(net, h, s->S, 0);
    if (h < 0) {
        dsbi_summary_net_free(s);
        return DSBI_STATUS_ERR_NOMEM;
    }
    s->out = h;
    return DSBI_STATUS_OK;
}

void dsbi_summary_net_free(dsbi_summary_net *s) {
    if (s) dsbi_net_free(&s->net);
}

/* ---------------------------------------------------------------- packed set rows */

size_t dsbi_set_row_count(const float *row, size_t N) {
    float v = row[0];
    if (!(v >= 1.0f && v <= (float)N) || v != floorf(v)) return 0;
    return (size_t)v;
}

int dsbi_set_pack(const float *members, size_t count, size_t N, size_t F, float *row) {
    if (count == 0 || count > N)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "set of %zu members: need 1..%zu", count, N);
    row[0] = (float)count;
    memcpy(row + 1, members, count * F * sizeof(float));
    memset(row + 1 + count * F, 0, (N - count) * F * sizeof(float));
    return DSBI_STATUS_OK;
}

dsbi_dataset *dsbi_dataset_from_sets(const float *theta, const float *x, const size_t *counts,
                                     size_t n, size_t D, size_t N, size_t F, size_t *n_dropped) {
    dsbi_clear_error();
    if (!theta || !x || !counts || D == 0 || N == 0 || F == 0) {
        dsbi_fail(DSBI_STATUS_ERR_INVALID, "sets: theta, x, counts and non-zero dimensions required");
        return NULL;
    }
    if (N > 1000000 || F > 100000 || N * F > 100000000) {
        dsbi_fail(DSBI_STATUS_ERR_INVALID, "sets: %zu members x %zu features is too large", N, F);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (counts[i] == 0 || counts[i] > N) {
            dsbi_fail(DSBI_STATUS_ERR_INVALID, "sets: row %zu has %zu members (need 1..%zu)", i + 1,
                      counts[i], N);
            return NULL;
        }
    size_t K = DSBI_SET_ROW(N, F);
    float *packed = dsbi_malloc(n ? n : 1, K * sizeof(float));
    if (!packed) return NULL;
    /* the padding of a row is replaced by zeros, so only a non-finite valid
       member can make the row non-finite (and dropped) */
    for (size_t i = 0; i < n; i++)
        dsbi_set_pack(x + i * N * F, counts[i], N, F, packed + i * K);
    dsbi_dataset *ds = dsbi_dataset_from_arrays(theta, packed, n, D, K, n_dropped);
    free(packed);
    return ds;
}
