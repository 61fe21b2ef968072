/*
 * Set layers: masked pooling (mean, sum, max) from members to sets, the fixed
 * set statistics of cDiff's DeepSet [e^a xbar, e^b ln sd, e^c sqrt(n)], and
 * multi-head attention out = q + concat_h(softmax(Q_h K_h^T / sqrt(d_h)) V_h) Wo + bo,
 * the core of the Set Transformer's MAB (SAB = MAB(X, X), ISAB, PMA; Lee et al.
 * 2019, "Set Transformer", ICML, eq. 1-11). Keys beyond count[b] get zero
 * attention weight, so a padded set gives exactly the unpadded answer. The
 * attention weights A (B x H x nq x nk) are kept for backward: memory grows as
 * N^2 for SAB; ISAB with m inducing points keeps it at N m.
 */
#include "summary/summary.h"
#include "nn/layers.h"
#include <math.h>
#include <string.h>

static size_t n_valid(const size_t *count, size_t b, size_t N) {
    if (!count) return N;
    DSBI_ASSERT(count[b] >= 1 && count[b] <= N);
    return count[b];
}

/* ---------------------------------------------------------------- pooling */

/* in (B*N x F), out (B x F); mean/sum over the first n_b rows, max with the
 * argmax row saved as a float index in save (B x F) */
void dsbi_pool_forward(float *out, float *save, const float *in, const size_t *count, size_t B,
                       size_t N, size_t F, dsbi_pool op) {
    for (size_t b = 0; b < B; b++) {
        size_t n = n_valid(count, b, N);
        const float *x = in + b * N * F;
        float *o = out + b * F;
        for (size_t f = 0; f < F; f++) {
            if (op == DSBI_POOL_MAX) {
                size_t arg = 0;
                for (size_t i = 1; i < n; i++)
                    if (x[i * F + f] > x[arg * F + f]) arg = i;
                o[f] = x[arg * F + f];
                save[b * F + f] = (float)arg;
            } else {
                double s = 0.0;
                for (size_t i = 0; i < n; i++) s += x[i * F + f];
                o[f] = (float)(op == DSBI_POOL_MEAN ? s / (double)n : s);
            }
        }
    }
}

/* mean: d_in[i] += d_out / n; sum: d_in[i] += d_out; max: d_in[argmax] += d_out
 * (rows i < n_b only; padding gets no gradient) */
void dsbi_pool_backward(float *d_in, const float *d_out, const float *save, const size_t *count,
                        size_t B, size_t N, size_t F, dsbi_pool op) {
    for (size_t b = 0; b < B; b++) {
        size_t n = n_valid(count, b, N);
        const float *g = d_out + b * F; /* B x F */
        float *dx = d_in + b * N * F;   /* B*N x F */
        if (op == DSBI_POOL_MAX) {
            for (size_t f = 0; f < F; f++) dx[(size_t)save[b * F + f] * F + f] += g[f];
            continue;
        }
        float s = op == DSBI_POOL_MEAN ? 1.0f / (float)n : 1.0f;
        for (size_t i = 0; i < n; i++)
            for (size_t f = 0; f < F; f++) dx[i * F + f] += s * g[f];
    }
}

/* ---------------------------------------------------------------- set statistics */

#define STATS_EPS 1e-6 /* ln sd = 0.5 ln(var + eps): finite for n = 1 or constant sets */

/* in (B*N x d), p = [a (d), b (d), c], out (B x 2d+1) = [e^a m, e^b 0.5 ln(v + eps), e^c sqrt(n)],
 * m = mean, v = unbiased variance (divisor max(n-1, 1)); save (B x 2d) = [m, v] */
void dsbi_set_stats_forward(float *out, float *save, const float *in, const float *p,
                            const size_t *count, size_t B, size_t N, size_t d) {
    const float *pa = p, *pb = p + d, *pc = p + 2 * d;
    for (size_t b = 0; b < B; b++) {
        size_t n = n_valid(count, b, N);
        const float *x = in + b * N * d;
        float *o = out + b * (2 * d + 1), *sv = save + b * 2 * d;
        for (size_t f = 0; f < d; f++) {
            double s = 0.0, s2 = 0.0;
            for (size_t i = 0; i < n; i++) s += x[i * d + f];
            double m = s / (double)n;
            for (size_t i = 0; i < n; i++) s2 += (x[i * d + f] - m) * (x[i * d + f] - m);
            double v = s2 / (double)(n > 1 ? n - 1 : 1);
            sv[f] = (float)m;
            sv[d + f] = (float)v;
            o[f] = expf(pa[f]) * (float)m;
            o[d + f] = expf(pb[f]) * (float)(0.5 * log(v + STATS_EPS));
        }
        o[2 * d] = expf(pc[0]) * sqrtf((float)n);
    }
}

/* d/dx_i: g_m e^a / n + g_s e^b (x_i - m) / ((v + eps)(n - 1)) (the mean's own
 * dependence cancels since sum_i (x_i - m) = 0); d/da = g_m e^a m, etc. */
void dsbi_set_stats_backward(float *d_in, float *d_p, const float *d_out, const float *in,
                             const float *save, const float *p, const size_t *count, size_t B,
                             size_t N, size_t d) {
    const float *pa = p, *pb = p + d, *pc = p + 2 * d;
    for (size_t b = 0; b < B; b++) {
        size_t n = n_valid(count, b, N);
        const float *x = in + b * N * d;                /* B*N x d */
        const float *g = d_out + b * (2 * d + 1);      /* B x 2d+1 */
        const float *sv = save + b * 2 * d;             /* B x 2d */
        float *dx = d_in ? d_in + b * N * d : NULL;     /* B*N x d */
        double dn = (double)(n > 1 ? n - 1 : 1);
        for (size_t f = 0; f < d; f++) {
            double m = sv[f], v = sv[d + f];
            float ea = expf(pa[f]), eb = expf(pb[f]);
            if (d_p) {
                d_p[f] += g[f] * ea * (float)m;
                d_p[d + f] += g[d + f] * eb * (float)(0.5 * log(v + STATS_EPS));
            }
            if (!dx) continue;
            float cm = g[f] * ea / (float)n;
            float cs = (float)(g[d + f] * eb / ((v + STATS_EPS) * dn));
            for (size_t i = 0; i < n; i++) dx[i * d + f] += cm + cs * (x[i * d + f] - (float)m);
        }
        if (d_p) d_p[2 * d] += g[2 * d] * expf(pc[0]) * sqrtf((float)n);
    }
}

/* ---------------------------------------------------------------- multi-head attention */

/* Saved state and scratch, each region laid out for B items:
 * Q (B*nq x F; shared_q uses the first nq rows), K, V (B*nk x F),
 * A (B x H x nq x nk), Oc (B*nq x F) concatenated heads; scratch for backward:
 * dQ (B*nq x F), dK, dV (B*nk x F), dOc (B*nq x F), dS (B*nq x nk; one item used). */
typedef struct mha_bufs {
    float *Q, *K, *V, *A, *Oc, *dQ, *dK, *dV, *dOc, *dS;
} mha_bufs;

size_t dsbi_mha_save_size(size_t nq, size_t nk, size_t F, size_t heads) {
    return 4 * nq * F + 4 * nk * F + (heads + 1) * nq * nk;
}

size_t dsbi_mha_param_size(size_t Dk, size_t F) { return 2 * (F * F + F) + 2 * (Dk * F + F); }

static mha_bufs mha_split(float *save, const dsbi_mha_dims *d) {
    size_t B = d->B, qF = B * d->nq * d->F, kF = B * d->nk * d->F;
    mha_bufs m;
    m.Q = save;
    m.K = m.Q + qF;
    m.V = m.K + kF;
    m.A = m.V + kF;
    m.Oc = m.A + B * d->heads * d->nq * d->nk;
    m.dQ = m.Oc + qF;
    m.dK = m.dQ + qF;
    m.dV = m.dK + kF;
    m.dOc = m.dV + kF;
    m.dS = m.dOc + qF;
    return m;
}

typedef struct mha_params {
    const float *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;
} mha_params;

static mha_params mha_params_split(const float *p, size_t Dk, size_t F) {
    mha_params w;
    w.wq = p;
    w.bq = w.wq + F * F;
    w.wk = w.bq + F;
    w.bk = w.wk + Dk * F;
    w.wv = w.bk + F;
    w.bv = w.wv + Dk * F;
    w.wo = w.bv + F;
    w.bo = w.wo + F * F;
    return w;
}

/* softmax over the first n of each of nq rows (stride ld), zero beyond */
static void softmax_rows(float *S, size_t nq, size_t n, size_t ld) {
    for (size_t i = 0; i < nq; i++) {
        float *s = S + i * ld;
        float mx = s[0];
        for (size_t j = 1; j < n; j++) mx = s[j] > mx ? s[j] : mx;
        double z = 0.0;
        for (size_t j = 0; j < n; j++) {
            s[j] = expf(s[j] - mx);
            z += s[j];
        }
        float iz = (float)(1.0 / z);
        for (size_t j = 0; j < n; j++) s[j] *= iz;
        for (size_t j = n; j < ld; j++) s[j] = 0.0f;
    }
}

/* q (B*nq x F, or nq x F when shared_q), kv (B*nk x Dk), out (B*nq x F):
 * Q = q Wq + bq, K = kv Wk + bk, V = kv Wv + bv; per item and head h
 * A_h = softmax(Q_h K_h^T / sqrt(dh)) over valid keys, Oc_h = A_h V_h; out = q + Oc Wo + bo */
void dsbi_mha_forward(float *out, float *save, const float *q, const float *kv, const float *p,
                      const size_t *count, const dsbi_mha_dims *d) {
    size_t B = d->B, nq = d->nq, nk = d->nk, F = d->F, H = d->heads, dh = F / H;
    mha_bufs m = mha_split(save, d);
    mha_params w = mha_params_split(p, d->Dk, F);
    float scale = 1.0f / sqrtf((float)dh);
    dsbi_dense_forward(m.Q, q, w.wq, w.bq, d->shared_q ? nq : B * nq, F, F);
    dsbi_dense_forward(m.K, kv, w.wk, w.bk, B * nk, d->Dk, F);
    dsbi_dense_forward(m.V, kv, w.wv, w.bv, B * nk, d->Dk, F);
    for (size_t b = 0; b < B; b++) {
        size_t n = n_valid(count, b, nk);
        const float *Qb = m.Q + (d->shared_q ? 0 : b * nq * F);
        const float *Kb = m.K + b * nk * F, *Vb = m.V + b * nk * F;
        float *Ob = m.Oc + b * nq * F;
        for (size_t h = 0; h < H; h++) {
            float *A = m.A + (b * H + h) * nq * nk; /* nq x nk */
            dsbi_sgemm(0, 1, nq, n, dh, scale, Qb + h * dh, F, Kb + h * dh, F, 0.0f, A, nk);
            softmax_rows(A, nq, n, nk);
            dsbi_sgemm(0, 0, nq, dh, n, 1.0f, A, nk, Vb + h * dh, F, 0.0f, Ob + h * dh, F);
        }
    }
    dsbi_dense_forward(out, m.Oc, w.wo, w.bo, B * nq, F, F);
    for (size_t b = 0; b < B; b++) {
        const float *qb = q + (d->shared_q ? 0 : b * nq * F);
        float *ob = out + b * nq * F;
        for (size_t i = 0; i < nq * F; i++) ob[i] += qb[i];
    }
}

/* d_q += d_out + dQ Wq^T; dOc = d_out Wo^T; per head: dV_h += A^T dOc_h,
 * dA = dOc_h V_h^T, dS = A (dA - rowsum(A dA)) / sqrt(dh), dQ_h += dS K_h,
 * dK_h += dS^T Q_h; d_kv += dK Wk^T + dV Wv^T (shared_q: dQ summed over items) */
void dsbi_mha_backward(float *d_q, float *d_kv, float *d_p, const float *d_out, const float *q,
                       const float *kv, float *save, const float *p, const size_t *count,
                       const dsbi_mha_dims *d) {
    size_t B = d->B, nq = d->nq, nk = d->nk, F = d->F, H = d->heads, dh = F / H, Dk = d->Dk;
    mha_bufs m = mha_split(save, d);
    mha_params w = mha_params_split(p, Dk, F);
    float *gq = NULL, *gbq = NULL, *gk = NULL, *gbk = NULL, *gv = NULL, *gbv = NULL, *go = NULL,
          *gbo = NULL;
    if (d_p) {
        gq = d_p;
        gbq = gq + F * F;
        gk = gbq + F;
        gbk = gk + Dk * F;
        gv = gbk + F;
        gbv = gv + Dk * F;
        go = gbv + F;
        gbo = go + F * F;
    }
    float scale = 1.0f / sqrtf((float)dh);
    size_t qrows = B * nq;
    if (d_q) /* residual */
        for (size_t b = 0; b < B; b++) {
            float *dqb = d_q + (d->shared_q ? 0 : b * nq * F);
            const float *g = d_out + b * nq * F;
            for (size_t i = 0; i < nq * F; i++) dqb[i] += g[i];
        }
    memset(m.dOc, 0, qrows * F * sizeof(float));
    memset(m.dQ, 0, qrows * F * sizeof(float));
    memset(m.dK, 0, B * nk * F * sizeof(float));
    memset(m.dV, 0, B * nk * F * sizeof(float));
    dsbi_dense_backward(m.dOc, go, gbo, d_out, m.Oc, w.wo, qrows, F, F);
    for (size_t b = 0; b < B; b++) {
        size_t n = n_valid(count, b, nk);
        const float *Qb = m.Q + (d->shared_q ? 0 : b * nq * F);
        const float *Kb = m.K + b * nk * F, *Vb = m.V + b * nk * F;
        const float *dOb = m.dOc + b * nq * F;
        float *dQb = m.dQ + b * nq * F, *dKb = m.dK + b * nk * F, *dVb = m.dV + b * nk * F;
        for (size_t h = 0; h < H; h++) {
            const float *A = m.A + (b * H + h) * nq * nk; /* nq x nk */
            float *dS = m.dS;                              /* nq x nk */
            dsbi_sgemm(0, 1, nq, n, dh, 1.0f, dOb + h * dh, F, Vb + h * dh, F, 0.0f, dS, nk);
            dsbi_sgemm(1, 0, n, dh, nq, 1.0f, A, nk, dOb + h * dh, F, 1.0f, dVb + h * dh, F);
            for (size_t i = 0; i < nq; i++) {
                const float *a = A + i * nk;
                float *s = dS + i * nk;
                double dot = 0.0;
                for (size_t j = 0; j < n; j++) dot += (double)a[j] * s[j];
                for (size_t j = 0; j < n; j++) s[j] = scale * a[j] * (s[j] - (float)dot);
            }
            dsbi_sgemm(0, 0, nq, dh, n, 1.0f, dS, nk, Kb + h * dh, F, 1.0f, dQb + h * dh, F);
            dsbi_sgemm(1, 0, n, dh, nq, 1.0f, dS, nk, Qb + h * dh, F, 1.0f, dKb + h * dh, F);
        }
    }
    if (d->shared_q) {
        for (size_t b = 1; b < B; b++)
            for (size_t i = 0; i < nq * F; i++) m.dQ[i] += m.dQ[b * nq * F + i];
        qrows = nq;
    }
    dsbi_dense_backward(d_q, gq, gbq, m.dQ, q, w.wq, qrows, F, F);
    dsbi_dense_backward(d_kv, gk, gbk, m.dK, kv, w.wk, B * nk, Dk, F);
    dsbi_dense_backward(d_kv, gv, gbv, m.dV, kv, w.wv, B * nk, Dk, F);
}

/* ---------------------------------------------------------------- blocks */

/* LN(H + rFF(H)), H = LN(h): the rest of a MAB after its attention node */
static int mab_tail(dsbi_net *net, int h, dsbi_activation act) {
    if (h < 0 || (h = dsbi_net_layernorm(net, h)) < 0) return -1;
    size_t F = net->nodes[h].dim;
    int f = dsbi_net_dense(net, h, F, 0);
    if (f < 0 || (f = dsbi_net_act(net, f, act)) < 0 || (f = dsbi_net_dense(net, f, F, 0)) < 0)
        return -1;
    int s = dsbi_net_add(net, h, f);
    return s < 0 ? -1 : dsbi_net_layernorm(net, s);
}

int dsbi_summary_mab(dsbi_net *net, int q, int kv, size_t heads, dsbi_activation act) {
    return mab_tail(net, dsbi_net_mha(net, q, kv, heads), act);
}

int dsbi_summary_sab(dsbi_net *net, int x, size_t heads, dsbi_activation act) {
    return dsbi_summary_mab(net, x, x, heads, act);
}

int dsbi_summary_isab(dsbi_net *net, int x, size_t m, size_t heads, dsbi_activation act) {
    size_t F = net->nodes[x].dim;
    int h = mab_tail(net, dsbi_net_pma(net, x, m, F, heads), act); /* MAB(I, x): m rows */
    return h < 0 ? -1 : dsbi_summary_mab(net, x, h, heads, act);
}

int dsbi_summary_pma(dsbi_net *net, int x, size_t k, size_t dim, size_t heads,
                     dsbi_activation act) {
    int h = mab_tail(net, dsbi_net_pma(net, x, k, dim, heads), act);
    return h < 0 ? -1 : dsbi_net_reshape(net, h, 1);
}

int dsbi_summary_deepset(dsbi_net *net, int x, size_t width, size_t depth, size_t out_dim,
                         dsbi_activation act) {
    int h = x;
    for (size_t l = 0; l < depth && h >= 0; l++)
        if ((h = dsbi_net_dense(net, h, width, 0)) >= 0) h = dsbi_net_act(net, h, act);
    if (h >= 0) h = dsbi_net_pool(net, h, DSBI_POOL_MEAN);
    for (size_t l = 0; l < depth && h >= 0; l++)
        if ((h = dsbi_net_dense(net, h, width, 0)) >= 0) h = dsbi_net_act(net, h, act);
    return h < 0 ? -1 : dsbi_net_dense(net, h, out_dim, 0);
}
