/*
 * Posterior draws restricted to the prior's support. A diffusion model learns
 * a density on all of R^D, so for a bounded prior (sbibm's uniform boxes) it
 * leaves a little mass outside the box, where the true posterior has none.
 * As sbi does for NPE, draws outside are rejected and replaced; the fraction
 * kept is reported so that a badly fitted model (most mass outside) is
 * visible rather than silently slow.
 */
#include "approx/model.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* give up when fewer than one draw in MIN_ACCEPT lands in the box */
#define MIN_ACCEPT 1e-3

static int inside(const float *t, size_t D, const double *lo, const double *hi) {
    for (size_t j = 0; j < D; j++) {
        if (!isfinite(t[j])) return 0;
        if (lo && (double)t[j] < lo[j]) return 0;
        if (hi && (double)t[j] > hi[j]) return 0;
    }
    return 1;
}

int dsbi_model_sample_bounded(dsbi_model *m, const float *x_obs, size_t n,
                              const dsbi_sample_config *cfg, const double *lower,
                              const double *upper, float *theta, dsbi_sample_stats *stats,
                              double *acceptance) {
    dsbi_clear_error();
    if (!m || !x_obs || !theta || n == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "sample_bounded: model, observation, output and n > 0 are required");
    size_t D = dsbi_model_dim_theta(m);
    for (size_t j = 0; j < D; j++)
        if (lower && upper && !(lower[j] < upper[j]))
            return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                             "sample_bounded: parameter %zu: lower bound %g is not below upper bound %g",
                             j + 1, lower[j], upper[j]);
    dsbi_sample_config sc = cfg ? *cfg : dsbi_sample_config_default();
    const uint64_t seed0 = sc.seed;
    size_t kept = 0, drawn = 0, cap = 0;
    float *buf = NULL;
    dsbi_sample_stats total = {0, 0.0};
    int st = DSBI_STATUS_OK;
    for (uint64_t round = 0; kept < n; round++) {
        /* ask for what is missing, scaled up by the acceptance seen so far */
        double acc = drawn ? (double)kept / (double)drawn : 1.0;
        if (acc < MIN_ACCEPT) acc = MIN_ACCEPT;
        size_t want = (size_t)ceil((double)(n - kept) / acc * 1.1) + 16;
        if (want > 64 * n + 1024) want = 64 * n + 1024;
        if (want > cap) {
            float *p = realloc(buf, want * D * sizeof(float));
            if (!p) {
                st = dsbi_fail(DSBI_STATUS_ERR_NOMEM, "sample_bounded: out of memory for %zu draws", want);
                break;
            }
            buf = p;
            cap = want;
        }
        /* round 0 uses the caller's seed: with nothing rejected the draws are
         * those of dsbi_model_sample */
        sc.seed = seed0 + round * 0x9E3779B97F4A7C15ull;
        dsbi_sample_stats s;
        if ((st = dsbi_model_sample(m, x_obs, want, &sc, buf, &s))) break;
        total.seconds += s.seconds;
        if (s.nfe > total.nfe) total.nfe = s.nfe;
        for (size_t i = 0; i < want && kept < n; i++, drawn++)
            if (inside(buf + i * D, D, lower, upper)) memcpy(theta + kept++ * D, buf + i * D, D * sizeof(float));
        if (kept < n && drawn >= 1000 && (double)kept < MIN_ACCEPT * (double)drawn) {
            st = dsbi_fail(DSBI_STATUS_ERR_NUMERIC,
                           "sample_bounded: only %zu of %zu draws fell inside the prior's support; "
                           "the model does not fit this observation (is it inside the prior predictive?)",
                           kept, drawn);
            break;
        }
    }
    free(buf);
    if (st) return st;
    if (stats) *stats = total;
    if (acceptance) *acceptance = (double)kept / (double)drawn;
    return DSBI_STATUS_OK;
}
