/*
 * Datasets of (theta, x) pairs: built from arrays or by running a simulator.
 * Rows with a non-finite value are never trained on: they are counted and
 * dropped here, and the count is returned so callers can report it. Masked
 * datasets (missing data) impute non-finite x entries with their column's
 * finite mean instead and append one 0/1 mask column per x column.
 * Simulators flagged thread_safe run in parallel over fixed-size chunks, each
 * with its own random streams (issue 8: online simulation in parallel).
 */
#include "internal.h"
#include <math.h>
#include <string.h>

struct dsbi_dataset {
    size_t n, D, K;
    float *theta, *x;
};

static int row_finite(const float *a, size_t d) {
    for (size_t j = 0; j < d; j++)
        if (!isfinite(a[j])) return 0;
    return 1;
}

dsbi_dataset *dsbi_dataset_from_arrays(const float *theta, const float *x, size_t n, size_t D,
                                       size_t K, size_t *n_dropped) {
    if (D == 0 || K == 0) {
        dsbi_fail(DSBI_STATUS_ERR_INVALID, "dataset needs at least one theta and one x column");
        return NULL;
    }
    dsbi_dataset *ds = dsbi_calloc(1, sizeof *ds);
    if (!ds) return NULL;
    ds->theta = dsbi_malloc(n ? n : 1, (D + K) * sizeof(float));
    if (!ds->theta) {
        free(ds);
        return NULL;
    }
    ds->D = D;
    ds->K = K;
    /* one block: the kept theta rows, then the kept x rows, in input order */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (row_finite(theta + i * D, D) && row_finite(x + i * K, K)) kept++;
    ds->x = ds->theta + kept * D;
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(row_finite(theta + i * D, D) && row_finite(x + i * K, K))) continue;
        memcpy(ds->theta + r * D, theta + i * D, D * sizeof(float));
        memcpy(ds->x + r * K, x + i * K, K * sizeof(float));
        r++;
    }
    ds->n = kept;
    if (n_dropped) *n_dropped = n - kept;
    return ds;
}

/* x (n x K) with non-finite entries replaced by the column's finite mean (0
 * if it has none), followed by K mask columns: an n x 2K block (owned). */
static float *impute_x(const float *x, size_t n, size_t K, size_t *n_imputed) {
    float *out = dsbi_malloc(n ? n : 1, 2 * K * sizeof(float));
    double *mean = dsbi_calloc(K, sizeof(double));
    size_t *cnt = dsbi_calloc(K, sizeof(size_t));
    if (!out || !mean || !cnt) {
        free(out);
        free(mean);
        free(cnt);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < K; j++)
            if (isfinite(x[i * K + j])) {
                mean[j] += x[i * K + j];
                cnt[j]++;
            }
    for (size_t j = 0; j < K; j++) mean[j] = cnt[j] ? mean[j] / (double)cnt[j] : 0.0;
    size_t imputed = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < K; j++) {
            float v = x[i * K + j];
            int miss = !isfinite(v);
            out[i * 2 * K + j] = miss ? (float)mean[j] : v;
            out[i * 2 * K + K + j] = miss ? 1.0f : 0.0f;
            imputed += (size_t)miss;
        }
    free(mean);
    free(cnt);
    if (n_imputed) *n_imputed = imputed;
    return out;
}

dsbi_dataset *dsbi_dataset_from_arrays_masked(const float *theta, const float *x, size_t n, size_t D,
                                              size_t K, size_t *n_imputed, size_t *n_dropped) {
    if (D == 0 || K == 0) {
        dsbi_fail(DSBI_STATUS_ERR_INVALID, "dataset needs at least one theta and one x column");
        return NULL;
    }
    float *x2 = impute_x(x, n, K, n_imputed);
    if (!x2) return NULL;
    dsbi_dataset *ds = dsbi_dataset_from_arrays(theta, x2, n, D, 2 * K, n_dropped);
    free(x2);
    return ds;
}

/* The status of a failed callback, with a message in this thread's last
 * error: the simulator's own, or a generic one naming the rows. */
static int callback_failure(const dsbi_simulator *sim, int code, size_t r0, size_t r1) {
    int st = code > 0 ? DSBI_STATUS_ERR_SIMULATOR : code;
    if (!dsbi_last_error()[0])
        dsbi_fail(st, "simulator '%s' reported failure (returned %d) on rows %zu..%zu",
                  sim->name ? sim->name : "?", code, r0 + 1, r1);
    return st;
}

/* Serial path (thread_safe == 0): one prior and one simulate call for all n
 * rows on the calling thread, prior and simulator on streams 11 and 12 of the
 * seed. A plugin splits such a call over its own worker processes. */
static int simulate_serial(const dsbi_simulator *sim, size_t n, uint64_t seed, float *theta,
                           float *x) {
    dsbi_rng rp, rs;
    dsbi_rng_init(&rp, seed, 11);
    dsbi_rng_init(&rs, seed, 12);
    int st = sim->prior(sim->ctx, &rp, n, theta);
    if (st == 0) st = sim->simulate(sim->ctx, &rs, n, theta, x);
    return st ? callback_failure(sim, st, 0, n) : DSBI_STATUS_OK;
}

/* Random streams of chunk c: prior 2c, simulator 2c + 1, under a tag in the
 * upper 32 bits of the stream number that no other stream of the library
 * uses, so a chunk's numbers depend on (seed, c) only. */
#define SIM_STREAM_TAG ((uint64_t)0x73696dU << 32)

/* Parallel path (thread_safe == 1): chunks of DSBI_SIM_CHUNK rows, each a
 * prior call then a simulate call on its own streams, spread over the
 * library's threads. Which thread runs a chunk does not matter, so the data
 * are bit-identical for any thread count. On failure the first failing chunk
 * (lowest index) is reported whatever the timing: chunks are handed out in
 * increasing order and only chunks after a known failure are skipped, so
 * every chunk before the first failure runs. */
static int simulate_chunked(const dsbi_simulator *sim, size_t n, uint64_t seed, float *theta,
                            float *x) {
    const size_t D = sim->dim_theta, K = sim->dim_x;
    const size_t n_chunks = (n + DSBI_SIM_CHUNK - 1) / DSBI_SIM_CHUNK;
    int threads = dsbi_get_threads();
    int par = threads > 1 && n_chunks > 1;
    size_t first_fail = n_chunks; /* chunk index of the first failure so far */
    int fail_status = DSBI_STATUS_OK;
    char errbuf[1024] = "";
#pragma omp parallel for schedule(dynamic, 1) num_threads(par ? threads : 1)
    for (size_t c = 0; c < n_chunks; c++) {
        size_t known;
#pragma omp atomic read
        known = first_fail;
        if (c > known) continue;
        size_t r0 = c * DSBI_SIM_CHUNK, B = n - r0 < DSBI_SIM_CHUNK ? n - r0 : DSBI_SIM_CHUNK;
        dsbi_rng rp, rs;
        dsbi_rng_init(&rp, seed, SIM_STREAM_TAG | (2 * (uint64_t)c));
        dsbi_rng_init(&rs, seed, SIM_STREAM_TAG | (2 * (uint64_t)c + 1));
        /* the last error is thread-local: clear it so that a message found
         * after a failed call is this chunk's own */
        dsbi_clear_error();
        int st = sim->prior(sim->ctx, &rp, B, theta + r0 * D);
        if (st == 0) st = sim->simulate(sim->ctx, &rs, B, theta + r0 * D, x + r0 * K);
        if (st != 0) {
            st = callback_failure(sim, st, r0, r0 + B);
#pragma omp critical(dsbi_sim_fail)
            if (c < first_fail) {
                snprintf(errbuf, sizeof errbuf, "%s", dsbi_last_error());
                fail_status = st;
#pragma omp atomic write
                first_fail = c;
            }
        }
    }
    /* restate the worker's message in the calling thread */
    if (fail_status) return dsbi_fail(fail_status, "%s", errbuf);
    return DSBI_STATUS_OK;
}

/* Simulates n pairs (serially or in chunks, see above) and builds a plain or
 * masked dataset from them. */
static int simulate(const dsbi_simulator *sim, size_t n, uint64_t seed, int masked,
                    dsbi_dataset **out, size_t *n_imputed, size_t *n_dropped) {
    *out = NULL;
    dsbi_clear_error();
    if (!sim || !sim->prior || !sim->simulate || sim->dim_theta == 0 || sim->dim_x == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "simulator is incomplete (prior, simulate, dims)");
    if (n == 0) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "number of simulations must be > 0");
    size_t D = sim->dim_theta, K = sim->dim_x;
    float *theta = dsbi_malloc(n, D * sizeof(float));
    float *x = dsbi_malloc(n, K * sizeof(float));
    if (!theta || !x) {
        free(theta);
        free(x);
        return DSBI_STATUS_ERR_NOMEM;
    }
    int st = sim->thread_safe ? simulate_chunked(sim, n, seed, theta, x)
                              : simulate_serial(sim, n, seed, theta, x);
    if (st != 0) {
        free(theta);
        free(x);
        return st;
    }
    size_t dropped = 0;
    dsbi_dataset *ds = masked ? dsbi_dataset_from_arrays_masked(theta, x, n, D, K, n_imputed, &dropped)
                              : dsbi_dataset_from_arrays(theta, x, n, D, K, &dropped);
    free(theta);
    free(x);
    if (!ds) return DSBI_STATUS_ERR_NOMEM;
    if (n_dropped) *n_dropped = dropped;
    if (ds->n == 0) {
        dsbi_dataset_free(ds);
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "all %zu simulations returned non-finite values", n);
    }
    *out = ds;
    return DSBI_STATUS_OK;
}

int dsbi_dataset_simulate(const dsbi_simulator *sim, size_t n, uint64_t seed, dsbi_dataset **out,
                          size_t *n_dropped) {
    return simulate(sim, n, seed, 0, out, NULL, n_dropped);
}

int dsbi_dataset_simulate_masked(const dsbi_simulator *sim, size_t n, uint64_t seed,
                                 dsbi_dataset **out, size_t *n_imputed, size_t *n_dropped) {
    return simulate(sim, n, seed, 1, out, n_imputed, n_dropped);
}

void dsbi_dataset_free(dsbi_dataset *ds) {
    if (!ds) return;
    free(ds->theta);
    free(ds);
}

size_t dsbi_dataset_size(const dsbi_dataset *ds) { return ds->n; }
size_t dsbi_dataset_dim_theta(const dsbi_dataset *ds) { return ds->D; }
size_t dsbi_dataset_dim_x(const dsbi_dataset *ds) { return ds->K; }
const float *dsbi_dataset_theta(const dsbi_dataset *ds) { return ds->theta; }
const float *dsbi_dataset_x(const dsbi_dataset *ds) { return ds->x; }
