/*
 * Layer kinds as adjacent forward/backward pairs. Buffers written first,
 * buffers read next, sizes last. Backward functions accumulate (+=) into the
 * gradient buffers; the caller zeroes them once per step.
 */
#include "nn/layers.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- activations */

/* exp for the hot activations: e^x = 2^n e^r, n = round(x / ln 2), |r| <= ln2/2,
 * e^r by its Taylor series to degree 6 (relative error < 2e-7, about 1 ulp).
 * Branch-free so that the loops below vectorize. The caller keeps |x| <= 80. */
static inline float fast_expf(float x) {
    /* round to nearest by the 1.5 * 2^23 shift: vectorizes, unlike roundf */
    float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145752f - n * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f +
              r * (0.00833333377f + r * 0.00138888892f)))));
    union { float f; int32_t i; } u = {.f = p};
    u.i += (int32_t)n * (1 << 23); /* |n| <= 127: no overflow, no UB shift */
    return u.f;
}

/* sigmoid(x) = 1 / (1 + e^-x) with the argument clamped to [-40, 40]: beyond
 * that sigmoid is 0 or 1 to float precision. A tighter clamp than float's
 * range matters: the compiler evaluates the clamped branch for every lane, and
 * x / (1 + e^87) would be a denormal, which costs a microcode assist per lane. */
static inline float fast_sigmoid(float x) {
    float t = -x;
    /* written so that NaN also ends up in range: a NaN input (overflowed
       network) must not reach the float-to-int conversion, which is UB */
    t = t > -40.0f ? t : -40.0f;
    t = t < 40.0f ? t : 40.0f;
    return 1.0f / (1.0f + fast_expf(t));
}

/* out = x sigmoid(x); restrict lets the compiler vectorize without alias checks */
static inline void silu_forward(float *restrict out, const float *restrict in, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = in[i] * fast_sigmoid(in[i]);
}


/* out[i] = f(in[i]) */
DSBI_CLONES void dsbi_act_forward(float *out, const float *in, size_t n, dsbi_activation act) {
    switch (act) {
    case DSBI_ACT_SILU:
        silu_forward(out, in, n);
        break;
    case DSBI_ACT_GELU:
        for (size_t i = 0; i < n; i++) out[i] = 0.5f * in[i] * (1.0f + erff(in[i] * 0.70710678f));
        break;
    case DSBI_ACT_MISH:
        for (size_t i = 0; i < n; i++) {
            float x = in[i];
            float sp = x > 20.0f ? x : log1pf(expf(x));
            out[i] = x * tanhf(sp);
        }
        break;
    case DSBI_ACT_TANH:
        for (size_t i = 0; i < n; i++) out[i] = tanhf(in[i]);
        break;
    case DSBI_ACT_RELU:
        /* a mask product instead of a select: the select did not vectorize */
#pragma omp simd
        for (size_t i = 0; i < n; i++) out[i] = in[i] * (float)(in[i] > 0.0f);
        break;
    }
}

/* d_in[i] (+)= d_out[i] * f'(in[i]); acc = 0 overwrites d_in (its only
 * consumer is this node, so the tape need not zero it first). Inlined with a
 * constant acc, so both variants are branch-free loops. */
#define ACT_STORE(i, g) (d_in[i] = acc ? d_in[i] + (g) : (g))
static inline __attribute__((always_inline)) void act_backward(float *d_in, const float *d_out,
                                                               const float *in, size_t n,
                                                               dsbi_activation act, int acc) {
    switch (act) {
    case DSBI_ACT_SILU:
        /* silu' = s (1 + x (1 - s)), s = sigmoid(x) */
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float s = fast_sigmoid(in[i]);
            ACT_STORE(i, d_out[i] * s * (1.0f + in[i] * (1.0f - s)));
        }
        break;
    case DSBI_ACT_GELU:
        /* gelu' = Phi(x) + x phi(x) */
        for (size_t i = 0; i < n; i++) {
            float x = in[i];
            float cdf = 0.5f * (1.0f + erff(x * 0.70710678f));
            float pdf = 0.39894228f * expf(-0.5f * x * x);
            ACT_STORE(i, d_out[i] * (cdf + x * pdf));
        }
        break;
    case DSBI_ACT_MISH:
        /* mish' = tanh(sp) + x sech^2(sp) sigmoid(x), sp = softplus(x) */
        for (size_t i = 0; i < n; i++) {
            float x = in[i];
            float sp = x > 20.0f ? x : log1pf(expf(x));
            float th = tanhf(sp);
            float sg = 1.0f / (1.0f + expf(-x));
            ACT_STORE(i, d_out[i] * (th + x * (1.0f - th * th) * sg));
        }
        break;
    case DSBI_ACT_TANH:
        for (size_t i = 0; i < n; i++) {
            float th = tanhf(in[i]);
            ACT_STORE(i, d_out[i] * (1.0f - th * th));
        }
        break;
    case DSBI_ACT_RELU:
#pragma omp simd
        for (size_t i = 0; i < n; i++) ACT_STORE(i, d_out[i] * (float)(in[i] > 0.0f));
        break;
    }
}
#undef ACT_STORE

DSBI_CLONES void dsbi_act_backward(float *d_in, const float *d_out, const float *in, size_t n,
                                   dsbi_activation act) {
    act_backward(d_in, d_out, in, n, act, 1);
}

DSBI_CLONES void dsbi_act_backward_set(float *d_in, const float *d_out, const float *in, size_t n,
                                       dsbi_activation act) {
    act_backward(d_in, d_out, in, n, act, 0);
}

/* ---------------------------------------------------------------- dense */

/* out (B x O) = in (B x I) . W (I x O) + b (O) */
void dsbi_dense_forward(float *out, const float *in, const float *w, const float *b, size_t B,
                        size_t I, size_t O) {
    for (size_t r = 0; r < B; r++) memcpy(out + r * O, b, O * sizeof(float));
    dsbi_sgemm(0, 0, B, O, I, 1.0f, in, I, w, O, 1.0f, out, O);
}

/* dW += in^T dout, db += sum_rows dout, d_in += dout W^T (d_in may be NULL,
 * dw/db NULL when parameter gradients are not wanted) */
/* db[j] += sum_r g[r][j]; restrict and the clones let it run at vector width */
DSBI_CLONES static void column_sums(float *restrict db, const float *restrict g, size_t B,
                                    size_t O) {
    for (size_t r = 0; r < B; r++) {
        const float *restrict gr = g + r * O;
#pragma omp simd
        for (size_t j = 0; j < O; j++) db[j] += gr[j];
    }
}

void dsbi_dense_backward(float *d_in, float *dw, float *db, const float *d_out, const float *in,
                         const float *w, size_t B, size_t I, size_t O) {
    dsbi_dense_backward_ex(d_in, dw, db, d_out, in, w, B, I, O, 1);
}

void dsbi_dense_backward_ex(float *d_in, float *dw, float *db, const float *d_out,
                            const float *in, const float *w, size_t B, size_t I, size_t O,
                            int acc_in) {
    if (dw) {
        dsbi_sgemm(1, 0, I, O, B, 1.0f, in, I, d_out, O, 1.0f, dw, O);
        column_sums(db, d_out, B, O);
    }
    if (d_in) dsbi_sgemm(0, 1, B, I, O, 1.0f, d_out, O, w, O, acc_in ? 1.0f : 0.0f, d_in, I);
}

/* ---------------------------------------------------------------- layer norm */

/* y = gamma * (x - mean) * rstd + beta per row; saves mean and rstd */
void dsbi_layernorm_forward(float *out, float *save, const float *in, const float *gamma,
                            const float *beta, size_t B, size_t D) {
    for (size_t r = 0; r < B; r++) {
        const float *x = in + r * D;
        double s = 0.0, s2 = 0.0;
        for (size_t j = 0; j < D; j++) s += x[j];
        double mean = s / (double)D;
        for (size_t j = 0; j < D; j++) s2 += (x[j] - mean) * (x[j] - mean);
        float rstd = (float)(1.0 / sqrt(s2 / (double)D + 1e-5));
        float m = (float)mean;
        float *y = out + r * D;
        for (size_t j = 0; j < D; j++) y[j] = gamma[j] * (x[j] - m) * rstd + beta[j];
        save[2 * r] = m;
        save[2 * r + 1] = rstd;
    }
}

/* xh = (x - mean) rstd; dx += rstd (g - mean(g) - xh mean(g xh)), g = dy gamma */
void dsbi_layernorm_backward(float *d_in, float *dgamma, float *dbeta, const float *d_out,
                             const float *in, const float *save, const float *gamma, size_t B,
                             size_t D) {
    for (size_t r = 0; r < B; r++) {
        const float *x = in + r * D, *dy = d_out + r * D;
        float m = save[2 * r], rstd = save[2 * r + 1];
        double sg = 0.0, sgx = 0.0;
        for (size_t j = 0; j < D; j++) {
            float xh = (x[j] - m) * rstd;
            float g = dy[j] * gamma[j];
            sg += g;
            sgx += g * xh;
            if (dgamma) {
                dgamma[j] += dy[j] * xh;
                dbeta[j] += dy[j];
            }
        }
        float mg = (float)(sg / (double)D), mgx = (float)(sgx / (double)D);
        if (d_in) {
            float *dx = d_in + r * D;
            for (size_t j = 0; j < D; j++) {
                float xh = (x[j] - m) * rstd;
                dx[j] += rstd * (dy[j] * gamma[j] - mg - xh * mgx);
            }
        }
    }
}

/* ---------------------------------------------------------------- time embedding */

/* frequency k of a fixed sinusoidal embedding: angular frequencies geometric
 * from 1 to 30 rad per unit of the time input (which lies in [-1, 1]) */
static float sinusoidal_freq(size_t k, size_t half) {
    if (half <= 1) return 1.0f / (2.0f * (float)M_PI);
    return expf((float)k * logf(30.0f) / (float)(half - 1)) / (2.0f * (float)M_PI);
}

/* out (B x (1 + 2h)) = [t, sin(2 pi w t), cos(2 pi w t)]; w = params (h) or fixed */
void dsbi_time_embed_forward(float *out, const float *t, const float *w, size_t B, size_t half,
                             int fixed) {
    size_t O = 1 + 2 * half;
    for (size_t r = 0; r < B; r++) {
        float *o = out + r * O;
        o[0] = t[r];
        for (size_t k = 0; k < half; k++) {
            float f = fixed ? sinusoidal_freq(k, half) : w[k];
            float a = 2.0f * (float)M_PI * f * t[r];
            o[1 + k] = sinf(a);
            o[1 + half + k] = cosf(a);
        }
    }
}

/* d(sin a)/da = cos a, d(cos a)/da = -sin a, a = 2 pi w t */
void dsbi_time_embed_backward(float *d_t, float *d_w, const float *d_out, const float *t,
                              const float *w, size_t B, size_t half, int fixed) {
    size_t O = 1 + 2 * half;
    for (size_t r = 0; r < B; r++) {
        const float *g = d_out + r * O;
        double dt = g[0];
        for (size_t k = 0; k < half; k++) {
            float f = fixed ? sinusoidal_freq(k, half) : w[k];
            float a = 2.0f * (float)M_PI * f * t[r];
            float da = g[1 + k] * cosf(a) - g[1 + half + k] * sinf(a);
            dt += da * 2.0f * (float)M_PI * f;
            if (d_w && !fixed) d_w[k] += da * 2.0f * (float)M_PI * t[r];
        }
        if (d_t) d_t[r] += (float)dt;
    }
}
