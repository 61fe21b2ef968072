/*
 * Sequence layers for time-series summaries: a 1-D convolution over the rows
 * of each item ('same' zero padding: rows outside [0, len_b) read as 0) and a
 * GRU (Cho et al. 2014, PyTorch gate convention) with backpropagation through
 * time, whose output is the hidden state after the last valid step:
 *   r = s(x Wr + br + h Ur + cr), z = s(x Wz + bz + h Uz + cz),
 *   n = tanh(x Wn + bn + r (h Un + cn)), h' = (1 - z) n + z h, h_0 = 0.
 * reverse = 1 runs from step len_b - 1 down to 0 (the backward half of a
 * bidirectional GRU). Items of length len_b < L keep their state on the
 * padded steps, so a padded batch gives exactly the unpadded answer. An LSTM
 * with the same interface, output and masks follows the GRU.
 */
#include "summary/summary.h"
#include "nn/layers.h"
#include <math.h>
#include <string.h>

static size_t n_valid(const size_t *count, size_t b, size_t L) {
    if (!count) return L;
    DSBI_ASSERT(count[b] >= 1 && count[b] <= L);
    return count[b];
}

/* ---------------------------------------------------------------- convolution */

/* output rows t in [lo, hi) read input row t + s, both inside [0, n) */
static void tap_range(size_t n, size_t j, size_t pl, size_t *lo, size_t *hi) {
    long s = (long)j - (long)pl, ln = (long)n;
    long a = s < 0 ? -s : 0, e = s > 0 ? ln - s : ln;
    *lo = (size_t)a;
    *hi = e > a ? (size_t)e : (size_t)a;
}

/* x (B*L x Cin), p = [W (K x Cin x Cout), b (Cout)], out (B*L x Cout):
 * out[t] = b + sum_j x[t + j - (K-1)/2] W_j for t < n_b, 0 on padded rows */
void dsbi_conv1d_forward(float *out, const float *x, const float *p, const size_t *count,
                         size_t B, size_t L, size_t Cin, size_t Cout, size_t K) {
    const float *bias = p + K * Cin * Cout;
    size_t pl = (K - 1) / 2;
    for (size_t b = 0; b < B; b++) {
        size_t n = n_valid(count, b, L);
        const float *xb = x + b * L * Cin;
        float *ob = out + b * L * Cout;
        for (size_t t = 0; t < n; t++) memcpy(ob + t * Cout, bias, Cout * sizeof(float));
        memset(ob + n * Cout, 0, (L - n) * Cout * sizeof(float));
        for (size_t j = 0; j < K; j++) {
            size_t lo, hi;
            tap_range(n, j, pl, &lo, &hi);
            if (hi == lo) continue;
            dsbi_sgemm(0, 0, hi - lo, Cout, Cin, 1.0f, xb + (lo + j - pl) * Cin, Cin,
                       p + j * Cin * Cout, Cout, 1.0f, ob + lo * Cout, Cout);
        }
    }
}

/* dW_j += x_shift^T d_out, db += sum_t d_out[t], dx_shift += d_out W_j^T (valid rows only) */
void dsbi_conv1d_backward(float *d_x, float *d_p, const float *d_out, const float *x,
                          const float *p, const size_t *count, size_t B, size_t L, size_t Cin,
                          size_t Cout, size_t K) {
    size_t pl = (K - 1) / 2;
    for (size_t b = 0; b < B; b++) {
        size_t n = n_valid(count, b, L);
        const float *xb = x + b * L * Cin;      /* L x Cin */
        const float *gb = d_out + b * L * Cout; /* L x Cout */
        if (d_p) {
            float *db = d_p + K * Cin * Cout;
            for (size_t t = 0; t < n; t++)
                for (size_t c = 0; c < Cout; c++) db[c] += gb[t * Cout + c];
        }
        for (size_t j = 0; j < K; j++) {
            size_t lo, hi;
            tap_range(n, j, pl, &lo, &hi);
            if (hi == lo) continue;
            size_t src = lo + j - pl;
            if (d_p)
                dsbi_sgemm(1, 0, Cin, Cout, hi - lo, 1.0f, xb + src * Cin, Cin, gb + lo * Cout,
                           Cout, 1.0f, d_p + j * Cin * Cout, Cout);
            if (d_x)
                dsbi_sgemm(0, 1, hi - lo, Cin, Cout, 1.0f, gb + lo * Cout, Cout,
                           p + j * Cin * Cout, Cout, 1.0f, d_x + b * L * Cin + src * Cin, Cin);
        }
    }
}

/* ---------------------------------------------------------------- GRU */

/* Saved state and scratch for B items (floats): Gx (B*L x 3H) input
 * projections in input row order; Hs ((L+1) x B x H) hidden states by step;
 * R, Z, N, Ghn (L x B x H) gates and h Un + cn by step; scratch dGx (B*L x 3H),
 * dGh (L x B x 3H) recurrent pre-activation gradients by step (so that dWh is
 * one large product over all steps), Gh (B x 3H), dh, dhp (B x H). */
typedef struct gru_bufs {
    float *Gx, *Hs, *R, *Z, *N, *Ghn, *dGx, *dGh, *Gh, *dh, *dhp;
} gru_bufs;

size_t dsbi_gru_save_size(size_t L, size_t H) { return H * (14 * L + 6); }

static gru_bufs gru_split(float *save, size_t B, size_t L, size_t H) {
    gru_bufs g;
    g.Gx = save;
    g.Hs = g.Gx + B * L * 3 * H;
    g.R = g.Hs + (L + 1) * B * H;
    g.Z = g.R + L * B * H;
    g.N = g.Z + L * B * H;
    g.Ghn = g.N + L * B * H;
    g.dGx = g.Ghn + L * B * H;
    g.dGh = g.dGx + B * L * 3 * H;
    g.Gh = g.dGh + L * B * 3 * H;
    g.dh = g.Gh + B * 3 * H;
    g.dhp = g.dh + B * H;
    return g;
}

static float sigm(float a) { return 1.0f / (1.0f + expf(-a)); }

/* input row read by item b (valid length n) at step t < n */
static size_t gru_row(size_t t, size_t n, int reverse) { return reverse ? n - 1 - t : t; }

/* x (B*L x Din), p = [Wx (Din x 3H), bx (3H), Wh (H x 3H), bh (3H)] in gate
 * order r, z, n; out (B x H) = h after the last valid step */
void dsbi_gru_forward(float *out, float *save, const float *x, const float *p,
                      const size_t *count, size_t B, size_t L, size_t Din, size_t H, int reverse) {
    size_t G = 3 * H;
    const float *wx = p, *bx = wx + Din * G, *wh = bx + G, *bh = wh + H * G;
    gru_bufs s = gru_split(save, B, L, H);
    dsbi_dense_forward(s.Gx, x, wx, bx, B * L, Din, G);
    memset(s.Hs, 0, B * H * sizeof(float));
    for (size_t t = 0; t < L; t++) {
        const float *hp = s.Hs + t * B * H;
        float *hc = s.Hs + (t + 1) * B * H;
        dsbi_dense_forward(s.Gh, hp, wh, bh, B, H, G);
        for (size_t b = 0; b < B; b++) {
            size_t n = n_valid(count, b, L), o = (t * B + b) * H;
            if (t >= n) { /* padded step: carry the state */
                memcpy(hc + b * H, hp + b * H, H * sizeof(float));
                memset(s.R + o, 0, H * sizeof(float));
                memset(s.Z + o, 0, H * sizeof(float));
                memset(s.N + o, 0, H * sizeof(float));
                memset(s.Ghn + o, 0, H * sizeof(float));
                continue;
            }
            const float *gx = s.Gx + (b * L + gru_row(t, n, reverse)) * G, *gh = s.Gh + b * G;
            for (size_t j = 0; j < H; j++) {
                float r = sigm(gx[j] + gh[j]), z = sigm(gx[H + j] + gh[H + j]);
                float nn = tanhf(gx[2 * H + j] + r * gh[2 * H + j]);
                s.R[o + j] = r;
                s.Z[o + j] = z;
                s.N[o + j] = nn;
                s.Ghn[o + j] = gh[2 * H + j];
                hc[b * H + j] = (1.0f - z) * nn + z * hp[b * H + j];
            }
        }
    }
    memcpy(out, s.Hs + L * B * H, B * H * sizeof(float));
}

/* BPTT from dh_L = d_out: dn = dh (1-z), dz = dh (h_prev - n), dh_prev = dh z + dGh Wh^T,
 * da_n = dn (1 - n^2), dGh = [dr r(1-r), dz z(1-z), da_n r] with dr = da_n ghn,
 * dGx = [dGh_r, dGh_z, da_n]; then dWh += sum_t h_{t-1}^T dGh_t (one product over
 * all steps), dWx += x^T dGx, d_x += dGx Wx^T */
void dsbi_gru_backward(float *d_x, float *d_p, const float *d_out, const float *x, float *save,
                       const float *p, const size_t *count, size_t B, size_t L, size_t Din,
                       size_t H, int reverse) {
    size_t G = 3 * H;
    const float *wx = p, *wh = wx + Din * G + G;
    float *gwx = d_p, *gbx = d_p ? gwx + Din * G : NULL;
    float *gwh = d_p ? gbx + G : NULL, *gbh = d_p ? gwh + H * G : NULL;
    gru_bufs s = gru_split(save, B, L, H);
    memcpy(s.dh, d_out, B * H * sizeof(float)); /* B x H */
    memset(s.dGx, 0, B * L * G * sizeof(float));
    for (size_t t = L; t-- > 0;) {
        const float *hp = s.Hs + t * B * H; /* B x H */
        for (size_t b = 0; b < B; b++) {
            size_t n = n_valid(count, b, L), o = (t * B + b) * H;
            float *dgh = s.dGh + (t * B + b) * G, *dh = s.dh + b * H, *dhp = s.dhp + b * H;
            if (t >= n) {
                memset(dgh, 0, G * sizeof(float));
                memcpy(dhp, dh, H * sizeof(float));
                continue;
            }
            float *dgx = s.dGx + (b * L + gru_row(t, n, reverse)) * G;
            for (size_t j = 0; j < H; j++) {
                float r = s.R[o + j], z = s.Z[o + j], nn = s.N[o + j], ghn = s.Ghn[o + j];
                float g = dh[j];
                float dan = g * (1.0f - z) * (1.0f - nn * nn);
                float daz = g * (hp[b * H + j] - nn) * z * (1.0f - z);
                float dar = dan * ghn * r * (1.0f - r);
                dgh[j] = dar;
                dgh[H + j] = daz;
                dgh[2 * H + j] = dan * r;
                dgx[j] = dar;
                dgx[H + j] = daz;
                dgx[2 * H + j] = dan;
                dhp[j] = g * z;
            }
        }
        /* dh_{t-1} += dGh_t Wh^T; parameter gradients after the loop */
        dsbi_dense_backward(s.dhp, NULL, NULL, s.dGh + t * B * G, hp, wh, B, H, G);
        float *tmp = s.dh;
        s.dh = s.dhp;
        s.dhp = tmp;
    }
    /* Hs[0..L-1] (L*B x H) are the h_{t-1} of steps 0..L-1, matching dGh's rows */
    dsbi_dense_backward(NULL, gwh, gbh, s.dGh, s.Hs, wh, L * B, H, G);
    dsbi_dense_backward(d_x, gwx, gbx, s.dGx, x, wx, B * L, Din, G);
}

/* ---------------------------------------------------------------- LSTM */

/* LSTM (Hochreiter & Schmidhuber 1997 with a forget gate, Gers et al. 2000;
 * PyTorch gate order i, f, g, o, one bias per gate):
 *   a = x Wx + b + h Wh, i = s(a_i), f = s(a_f), g = tanh(a_g), o = s(a_o),
 *   c' = f c + i g, h' = o tanh(c'), h_0 = c_0 = 0.
 * Output, reverse and masks as for the GRU: padded steps carry (h, c).
 * Saved state and scratch for B items (floats): Gx (B*L x 4H) input
 * projections in input row order; Hs, Cs ((L+1) x B x H) hidden and cell
 * states by step; A (L x B x 4H) gates i, f, g, o by step; scratch dGx
 * (B*L x 4H), dGh (L x B x 4H) pre-activation gradients by step (dWh is one
 * product over all steps), Gh (B x 4H), dh, dhp, dc (B x H). */
typedef struct lstm_bufs {
    float *Gx, *Hs, *Cs, *A, *dGx, *dGh, *Gh, *dh, *dhp, *dc;
} lstm_bufs;

size_t dsbi_lstm_save_size(size_t L, size_t H) { return H * (18 * L + 9); }

size_t dsbi_lstm_param_size(size_t Din, size_t H) { return 4 * H * (Din + 1 + H); }

static lstm_bufs lstm_split(float *save, size_t B, size_t L, size_t H) {
    lstm_bufs s;
    s.Gx = save;
    s.Hs = s.Gx + B * L * 4 * H;
    s.Cs = s.Hs + (L + 1) * B * H;
    s.A = s.Cs + (L + 1) * B * H;
    s.dGx = s.A + L * B * 4 * H;
    s.dGh = s.dGx + B * L * 4 * H;
    s.Gh = s.dGh + L * B * 4 * H;
    s.dh = s.Gh + B * 4 * H;
    s.dhp = s.dh + B * H;
    s.dc = s.dhp + B * H;
    return s;
}

/* p = [Wx (Din x 4H), b (4H), Wh (H x 4H)]: every entry U(+-1/sqrt(H))
 * (PyTorch), then the forget-gate biases set to 1. With b_f = 0 the forget
 * gate starts at s(0) = 0.5, so the cell state, and the gradient through it,
 * halves at every step: early steps of a long series are forgotten and their
 * gradients vanish before training has begun. b_f = 1 (f = 0.73) keeps the
 * memory about 3 steps instead of 1.4 at the start (Gers, Schmidhuber &
 * Cummins 2000; Jozefowicz, Zaremba & Sutskever 2015, who found it closes
 * most of the gap between the LSTM and the GRU). */
void dsbi_lstm_init(float *p, size_t Din, size_t H, dsbi_rng *rng) {
    size_t n = dsbi_lstm_param_size(Din, H);
    float bound = 1.0f / sqrtf((float)H);
    for (size_t k = 0; k < n; k++) p[k] = bound * (float)(2.0 * dsbi_rng_uniform(rng) - 1.0);
    float *bf = p + Din * 4 * H + H;
    for (size_t j = 0; j < H; j++) bf[j] = 1.0f;
}

/* x (B*L x Din), p as at dsbi_lstm_init; out (B x H) = h after the last valid step */
void dsbi_lstm_forward(float *out, float *save, const float *x, const float *p,
                       const size_t *count, size_t B, size_t L, size_t Din, size_t H,
                       int reverse) {
    size_t G = 4 * H;
    const float *wx = p, *bx = wx + Din * G, *wh = bx + G;
    lstm_bufs s = lstm_split(save, B, L, H);
    dsbi_dense_forward(s.Gx, x, wx, bx, B * L, Din, G);
    memset(s.Hs, 0, B * H * sizeof(float));
    memset(s.Cs, 0, B * H * sizeof(float));
    for (size_t t = 0; t < L; t++) {
        const float *hp = s.Hs + t * B * H, *cp = s.Cs + t * B * H;
        float *hc = s.Hs + (t + 1) * B * H, *cc = s.Cs + (t + 1) * B * H;
        dsbi_sgemm(0, 0, B, G, H, 1.0f, hp, H, wh, G, 0.0f, s.Gh, G);
        for (size_t b = 0; b < B; b++) {
            size_t n = n_valid(count, b, L);
            float *a = s.A + (t * B + b) * G;
            if (t >= n) { /* padded step: carry the state */
                memcpy(hc + b * H, hp + b * H, H * sizeof(float));
                memcpy(cc + b * H, cp + b * H, H * sizeof(float));
                memset(a, 0, G * sizeof(float));
                continue;
            }
            const float *gx = s.Gx + (b * L + gru_row(t, n, reverse)) * G, *gh = s.Gh + b * G;
            for (size_t j = 0; j < H; j++) {
                float i = sigm(gx[j] + gh[j]), f = sigm(gx[H + j] + gh[H + j]);
                float g = tanhf(gx[2 * H + j] + gh[2 * H + j]);
                float o = sigm(gx[3 * H + j] + gh[3 * H + j]);
                float c = f * cp[b * H + j] + i * g;
                a[j] = i;
                a[H + j] = f;
                a[2 * H + j] = g;
                a[3 * H + j] = o;
                cc[b * H + j] = c;
                hc[b * H + j] = o * tanhf(c);
            }
        }
    }
    memcpy(out, s.Hs + L * B * H, B * H * sizeof(float));
}

/* BPTT from dh_L = d_out, dc_L = 0: dc += dh o (1 - tanh^2 c'), da_o = dh tanh(c') o(1-o),
 * da_i = dc g i(1-i), da_f = dc c f(1-f), da_g = dc i (1-g^2), dc_prev = dc f,
 * dh_prev = dA Wh^T; then dWh += sum_t h_{t-1}^T dA_t (one product over all
 * steps), dWx += x^T dGx, db += sum dGx, d_x += dGx Wx^T */
void dsbi_lstm_backward(float *d_x, float *d_p, const float *d_out, const float *x, float *save,
                        const float *p, const size_t *count, size_t B, size_t L, size_t Din,
                        size_t H, int reverse) {
    size_t G = 4 * H;
    const float *wx = p, *wh = wx + Din * G + G;
    float *gwx = d_p, *gbx = d_p ? gwx + Din * G : NULL, *gwh = d_p ? gbx + G : NULL;
    lstm_bufs s = lstm_split(save, B, L, H);
    memcpy(s.dh, d_out, B * H * sizeof(float)); /* B x H */
    memset(s.dc, 0, B * H * sizeof(float));
    memset(s.dGx, 0, B * L * G * sizeof(float));
    for (size_t t = L; t-- > 0;) {
        const float *hp = s.Hs + t * B * H, *cp = s.Cs + t * B * H, *cc = s.Cs + (t + 1) * B * H;
        for (size_t b = 0; b < B; b++) {
            size_t n = n_valid(count, b, L);
            float *dgh = s.dGh + (t * B + b) * G, *dh = s.dh + b * H, *dhp = s.dhp + b * H;
            float *dc = s.dc + b * H;
            if (t >= n) { /* the carried state passes its gradients through */
                memset(dgh, 0, G * sizeof(float));
                memcpy(dhp, dh, H * sizeof(float));
                continue;
            }
            const float *a = s.A + (t * B + b) * G;
            float *dgx = s.dGx + (b * L + gru_row(t, n, reverse)) * G;
            for (size_t j = 0; j < H; j++) {
                float i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
                float tc = tanhf(cc[b * H + j]), gh = dh[j];
                float dcj = dc[j] + gh * o * (1.0f - tc * tc);
                float dai = dcj * g * i * (1.0f - i), daf = dcj * cp[b * H + j] * f * (1.0f - f);
                float dag = dcj * i * (1.0f - g * g), dao = gh * tc * o * (1.0f - o);
                dgh[j] = dgx[j] = dai;
                dgh[H + j] = dgx[H + j] = daf;
                dgh[2 * H + j] = dgx[2 * H + j] = dag;
                dgh[3 * H + j] = dgx[3 * H + j] = dao;
                dc[j] = dcj * f;
                dhp[j] = 0.0f;
            }
        }
        /* dh_{t-1} += dA_t Wh^T; parameter gradients after the loop */
        dsbi_dense_backward(s.dhp, NULL, NULL, s.dGh + t * B * G, hp, wh, B, H, G);
        float *tmp = s.dh;
        s.dh = s.dhp;
        s.dhp = tmp;
    }
    /* Hs[0..L-1] (L*B x H) are the h_{t-1} of steps 0..L-1, matching dGh's rows */
    if (gwh) dsbi_sgemm(1, 0, H, G, L * B, 1.0f, s.Hs, H, s.dGh, G, 1.0f, gwh, G);
    dsbi_dense_backward(d_x, gwx, gbx, s.dGx, x, wx, B * L, Din, G);
}
