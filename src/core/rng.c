/*
 * Philox4x32-10 counter-based generator (Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3", SC 2011). The 64-bit seed is the key, the
 * stream number fills the upper half of the 128-bit counter, so streams never
 * overlap. Normals by the Box-Muller transform in double precision.
 */
#include "internal.h"
#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void philox_block(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4]) {
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void dsbi_rng_init(dsbi_rng *rng, uint64_t seed, uint64_t stream) {
    rng->key[0] = (uint32_t)seed;
    rng->key[1] = (uint32_t)(seed >> 32);
    rng->ctr[0] = 0;
    rng->ctr[1] = 0;
    rng->ctr[2] = (uint32_t)stream;
    rng->ctr[3] = (uint32_t)(stream >> 32);
    rng->used = 4;
    rng->has_spare = 0;
    rng->spare = 0.0;
}

uint32_t dsbi_rng_u32(dsbi_rng *rng) {
    if (rng->used >= 4) {
        philox_block(rng->ctr, rng->key, rng->buf);
        if (++rng->ctr[0] == 0) rng->ctr[1]++;
        rng->used = 0;
    }
    return rng->buf[rng->used++];
}

double dsbi_rng_uniform(dsbi_rng *rng) {
    /* 53 random bits, shifted by half an ulp so the result is never 0 or 1 */
    uint64_t a = dsbi_rng_u32(rng) >> 5, b = dsbi_rng_u32(rng) >> 6;
    return ((double)(a * 67108864u + b) + 0.5) / 9007199254740992.0;
}

double dsbi_rng_normal(dsbi_rng *rng) {
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    double u1 = dsbi_rng_uniform(rng), u2 = dsbi_rng_uniform(rng);
    double r = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
    rng->spare = r * sin(a);
    rng->has_spare = 1;
    return r * cos(a);
}

void dsbi_rng_fill_normal(dsbi_rng *rng, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (float)dsbi_rng_normal(rng);
}
