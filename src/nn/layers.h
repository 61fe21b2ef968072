/* Layer kernels (forward/backward pairs); see layers.c for the math. */
#ifndef DSBI_LAYERS_H
#define DSBI_LAYERS_H
#include "nn/nn.h"

void dsbi_dense_forward(float *out, const float *in, const float *w, const float *b, size_t B,
                        size_t I, size_t O);
void dsbi_dense_backward(float *d_in, float *dw, float *db, const float *d_out, const float *in,
                         const float *w, size_t B, size_t I, size_t O);
/* Same with acc_in = 0: d_in = dout W^T (overwritten, need not be zeroed). */
void dsbi_dense_backward_ex(float *d_in, float *dw, float *db, const float *d_out,
                            const float *in, const float *w, size_t B, size_t I, size_t O,
                            int acc_in);
void dsbi_layernorm_forward(float *out, float *save, const float *in, const float *gamma,
                            const float *beta, size_t B, size_t D);
void dsbi_layernorm_backward(float *d_in, float *dgamma, float *dbeta, const float *d_out,
                             const float *in, const float *save, const float *gamma, size_t B,
                             size_t D);
void dsbi_time_embed_forward(float *out, const float *t, const float *w, size_t B, size_t half,
                             int fixed);
void dsbi_time_embed_backward(float *d_t, float *d_w, const float *d_out, const float *t,
                              const float *w, size_t B, size_t half, int fixed);
#endif
