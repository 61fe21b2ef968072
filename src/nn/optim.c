/*
 * Optimisation on flat parameter blocks: Adam / AdamW (Kingma & Ba 2015;
 * Loshchilov & Hutter 2019, decoupled weight decay), warm-up + cosine learning
 * rate, global gradient-norm clipping and the exponential moving average of
 * the weights used for sampling.
 */
#include "nn/nn.h"
#include <math.h>

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr (mhat / (sqrt(vhat) + eps) + wd p), mhat = m/(1-b1^t), vhat = v/(1-b2^t) */
void dsbi_adam_update(float *params, const float *grads, float *m, float *v, size_t n,
                      const dsbi_adam *opt, float lr, size_t step) {
    const float b1 = opt->beta1, b2 = opt->beta2;
    const float c1 = 1.0f / (1.0f - powf(b1, (float)step));
    const float c2 = 1.0f / (1.0f - powf(b2, (float)step));
    const float wd = opt->weight_decay, eps = opt->eps;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        float upd = (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
        params[i] -= lr * (upd + wd * params[i]);
    }
}

float dsbi_lr_schedule(size_t step, size_t total, float lr, float lr_min, float warmup) {
    if (total == 0) return lr;
    size_t n_warm = (size_t)(warmup * (float)total);
    if (step < n_warm) {
        float f = (float)step / (float)n_warm;
        return lr * (0.1f + 0.9f * f);
    }
    size_t rest = total - n_warm;
    float f = rest ? (float)(step - n_warm) / (float)rest : 1.0f;
    if (f > 1.0f) f = 1.0f;
    return lr_min + 0.5f * (lr - lr_min) * (1.0f + cosf((float)M_PI * f));
}

double dsbi_clip_grad_norm(float *grads, size_t n, float clip) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += (double)grads[i] * grads[i];
    double norm = sqrt(s);
    if (clip > 0.0f && norm > clip) {
        float f = (float)(clip / norm);
        for (size_t i = 0; i < n; i++) grads[i] *= f;
    }
    return norm;
}

void dsbi_ema_update(float *ema, const float *params, size_t n, float decay) {
    const float a = 1.0f - decay;
#pragma omp simd
    for (size_t i = 0; i < n; i++) ema[i] += a * (params[i] - ema[i]);
}

/* ---------------------------------------------------------------- fused step */

/* Blocks of the fused step: the unit of work sharing and of the norm sum. At
 * most MAX_BLOCKS partial sums, so they live on the stack. */
#define MIN_BLOCK 8192
#define MAX_BLOCKS 1024

/* g[0][lo..hi) += g[k][lo..hi) for k >= 1; returns the block's sum of squares */
DSBI_CLONES static double reduce_block(float *const *g, int ng, size_t lo, size_t hi) {
    float *restrict g0 = g[0];
    for (int k = 1; k < ng; k++) {
        const float *restrict gk = g[k];
#pragma omp simd
        for (size_t i = lo; i < hi; i++) g0[i] += gk[i];
    }
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (size_t i = lo; i < hi; i++) s += (double)g0[i] * g0[i];
    return s;
}

typedef struct adam_coef {
    float b1, b2, c1, c2, eps, wd, lr, scale, ema_a;
} adam_coef;

/* Adam on [lo, hi) with the gradients scaled by k->scale, then the EMA (one
 * pass: the update is bound by memory traffic over p, g, m, v and ema) */
DSBI_CLONES static void adam_block(float *restrict p, const float *restrict g, float *restrict m,
                                   float *restrict v, float *restrict ema, const adam_coef *k,
                                   size_t lo, size_t hi) {
    const float b1 = k->b1, b2 = k->b2, c1 = k->c1, c2 = k->c2, eps = k->eps, wd = k->wd,
                lr = k->lr, sc = k->scale, a = k->ema_a;
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        float gi = g[i] * sc;
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr * ((mi * c1) / (sqrtf(vi * c2) + eps) + wd * p[i]);
    }
    if (!ema) return;
    if (a >= 1.0f) {
        for (size_t i = lo; i < hi; i++) ema[i] = p[i];
        return;
    }
#pragma omp simd
    for (size_t i = lo; i < hi; i++) ema[i] += a * (p[i] - ema[i]);
}

double dsbi_optim_step(float *params, float *const *grads, int n_grads, float *m, float *v,
                       float *ema, size_t n, const dsbi_adam *opt, float lr, size_t step,
                       float clip, float ema_decay, int threads) {
    size_t blk = (n + MAX_BLOCKS - 1) / MAX_BLOCKS;
    if (blk < MIN_BLOCK) blk = MIN_BLOCK;
    size_t nb = (n + blk - 1) / blk;
    double part[MAX_BLOCKS];
    adam_coef k = {.b1 = opt->beta1, .b2 = opt->beta2, .eps = opt->eps,
                   .wd = opt->weight_decay, .lr = lr, .scale = 1.0f,
                   .ema_a = 1.0f - ema_decay};
    k.c1 = 1.0f / (1.0f - powf(k.b1, (float)step));
    k.c2 = 1.0f / (1.0f - powf(k.b2, (float)step));
    double norm = 0.0;
    if (threads < 1) threads = 1;
    if ((size_t)threads > nb) threads = (int)nb;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
#pragma omp for schedule(static)
        for (size_t b = 0; b < nb; b++) {
            size_t lo = b * blk, hi = lo + blk < n ? lo + blk : n;
            part[b] = reduce_block(grads, n_grads, lo, hi);
        }
#pragma omp single
        {
            double s = 0.0;
            for (size_t b = 0; b < nb; b++) s += part[b];
            norm = sqrt(s);
            if (clip > 0.0f && norm > clip) k.scale = (float)(clip / norm);
        }
#pragma omp for schedule(static)
        for (size_t b = 0; b < nb; b++) {
            size_t lo = b * blk, hi = lo + blk < n ? lo + blk : n;
            adam_block(params, grads[0], m, v, ema, &k, lo, hi);
        }
    }
    return norm;
}
