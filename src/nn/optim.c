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
