/* Parallel simulation of thread-safe simulators (issue 8): datasets are
 * bit-identical for 1 and 2 threads (built-in tasks and a test simulator),
 * non-finite rows are dropped (or imputed) exactly as building the dataset
 * from the full arrays does, a failing chunk is reported with the
 * simulator's own message (the first failing chunk, whatever the timing),
 * chunks really run on several threads, and an unflagged simulator keeps the
 * serial path: one call for all rows on the calling thread. */
#include "helpers.h"
#include "internal.h" /* dsbi_fail: messages like those of the plugins and built-in tasks */
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* runs f with the library on `threads` threads, restoring the setting after */
static int saved_threads;
static void use_threads(int n) {
    if (!saved_threads) saved_threads = dsbi_get_threads();
    dsbi_set_threads(n);
}
static void restore_threads(void) {
    if (saved_threads) dsbi_set_threads(saved_threads);
    saved_threads = 0;
}

static void expect_same(const dsbi_dataset *a, const dsbi_dataset *b, const char *what) {
    size_t n = dsbi_dataset_size(a), D = dsbi_dataset_dim_theta(a), K = dsbi_dataset_dim_x(a);
    cr_assert_eq(dsbi_dataset_size(b), n, "%s: %zu vs %zu rows", what, n, dsbi_dataset_size(b));
    cr_assert_eq(dsbi_dataset_dim_x(b), K, "%s", what);
    cr_assert_eq(memcmp(dsbi_dataset_theta(a), dsbi_dataset_theta(b), n * D * sizeof(float)), 0,
                 "%s: theta differs", what);
    cr_assert_eq(memcmp(dsbi_dataset_x(a), dsbi_dataset_x(b), n * K * sizeof(float)), 0, "%s: x differs",
                 what);
}

/* 1000 rows = three full chunks and a partial one */
#define N_ROWS 1000

Test(parallel_sim, builtin_tasks_bit_identical_for_1_and_2_threads) {
    const char *tasks[] = {"two_moons", "gaussian_mixture", "slcp", "bernoulli_glm", "sir", "lotka_volterra",
                           "inverse_kinematics"};
    for (size_t t = 0; t < sizeof tasks / sizeof tasks[0]; t++) {
        dsbi_simulator sim;
        cr_assert_eq(dsbi_task_get(tasks[t], &sim), 0, "%s", dsbi_last_error());
        cr_assert_eq(sim.thread_safe, 1, "%s is not flagged thread-safe", tasks[t]);
        dsbi_dataset *one = NULL, *two = NULL, *other = NULL;
        size_t d1 = 7, d2 = 9;
        use_threads(1);
        cr_assert_eq(dsbi_dataset_simulate(&sim, N_ROWS, 11, &one, &d1), 0, "%s", dsbi_last_error());
        use_threads(2);
        cr_assert_eq(dsbi_dataset_simulate(&sim, N_ROWS, 11, &two, &d2), 0, "%s", dsbi_last_error());
        cr_assert_eq(dsbi_dataset_simulate(&sim, N_ROWS, 12, &other, NULL), 0, "%s", dsbi_last_error());
        restore_threads();
        cr_assert_eq(d1, d2, "%s: dropped %zu vs %zu", tasks[t], d1, d2);
        expect_same(one, two, tasks[t]);
        /* another seed gives other parameters */
        size_t D = sim.dim_theta;
        cr_assert_neq(memcmp(dsbi_dataset_theta(one), dsbi_dataset_theta(other), D * sizeof(float)), 0,
                      "%s: seeds 11 and 12 give the same first row", tasks[t]);
        /* every chunk has its own streams: chunk 1 does not repeat chunk 0 */
        if (d1 == 0)
            cr_assert_neq(memcmp(dsbi_dataset_theta(one), dsbi_dataset_theta(one) + DSBI_SIM_CHUNK * D,
                                 DSBI_SIM_CHUNK * D * sizeof(float)),
                          0, "%s: chunks 0 and 1 drew the same parameters", tasks[t]);
        dsbi_dataset_free(one);
        dsbi_dataset_free(two);
        dsbi_dataset_free(other);
    }
}

/* ---------------------------------------------------------------- a test simulator */

/* theta ~ U(0,1)^2; x = (theta0 + theta1, theta0 * theta1), with x1 = NaN
 * when theta0 < 0.1 (about 10% of rows). Counts what it is asked to do;
 * with record set (single-threaded runs only) it also appends every row it
 * produced, in call order. */
typedef struct test_sim {
    size_t nan_rows, calls, max_rows, rows;
    int fail_mode; /* 0 none, 1 fail the partial chunk, 2 fail every chunk, 3 no message, 4 prior fails */
    int record;
    float theta[2 * N_ROWS], x[2 * N_ROWS];
    int thread_used[64];
    int in_parallel;
} test_sim;

static int ts_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    test_sim *s = ctx;
    if (s->fail_mode == 4) return dsbi_fail(DSBI_STATUS_ERR_NUMERIC, "test prior: cannot draw %zu rows", n);
    for (size_t i = 0; i < 2 * n; i++) theta[i] = (float)dsbi_rng_uniform(rng);
    return 0;
}

static int ts_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    test_sim *s = ctx;
    (void)rng;
    if (s->fail_mode == 1 && n != DSBI_SIM_CHUNK)
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "test simulator: refusing a chunk of %zu rows", n);
    if (s->fail_mode == 2)
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "test simulator: chunk starting at theta0 = %.9g",
                         (double)theta[0]);
    if (s->fail_mode == 3 && n != DSBI_SIM_CHUNK) return 5;
    size_t nan = 0;
    for (size_t i = 0; i < n; i++) {
        x[2 * i] = theta[2 * i] + theta[2 * i + 1];
        x[2 * i + 1] = theta[2 * i] < 0.1f ? NAN : theta[2 * i] * theta[2 * i + 1];
        nan += theta[2 * i] < 0.1f;
    }
    int tid = omp_get_thread_num();
#pragma omp critical(test_sim_counts)
    {
        s->nan_rows += nan;
        s->calls++;
        if (n > s->max_rows) s->max_rows = n;
        s->thread_used[tid & 63] = 1;
        s->in_parallel |= omp_in_parallel();
        if (s->record && s->rows + n <= N_ROWS) {
            memcpy(s->theta + 2 * s->rows, theta, 2 * n * sizeof(float));
            memcpy(s->x + 2 * s->rows, x, 2 * n * sizeof(float));
        }
        s->rows += n;
    }
    return 0;
}

static dsbi_simulator make_sim(test_sim *s, int thread_safe) {
    memset(s, 0, sizeof *s);
    return (dsbi_simulator){.name = "test_sim", .dim_theta = 2, .dim_x = 2, .prior = ts_prior,
                            .simulate = ts_simulate, .ctx = s, .thread_safe = thread_safe};
}

Test(parallel_sim, nan_rows_dropped_as_from_the_full_arrays) {
    static test_sim s1, s2;
    dsbi_simulator sim1 = make_sim(&s1, 1), sim2 = make_sim(&s2, 1);
    s1.record = 1;
    dsbi_dataset *one = NULL, *two = NULL;
    size_t d1 = 0, d2 = 0;
    use_threads(1);
    cr_assert_eq(dsbi_dataset_simulate(&sim1, N_ROWS, 5, &one, &d1), 0, "%s", dsbi_last_error());
    use_threads(2);
    cr_assert_eq(dsbi_dataset_simulate(&sim2, N_ROWS, 5, &two, &d2), 0, "%s", dsbi_last_error());
    restore_threads();
    /* ~10% of 1000 rows: the count is Binomial(1000, 0.1), sd 9.5, so 40..160 is > 6 sd wide */
    cr_assert(s1.nan_rows > 40 && s1.nan_rows < 160, "%zu NaN rows", s1.nan_rows);
    cr_assert_eq(d1, s1.nan_rows, "dropped %zu, simulator produced %zu NaN rows", d1, s1.nan_rows);
    cr_assert_eq(d2, s2.nan_rows);
    cr_assert_eq(d1, d2);
    expect_same(one, two, "test_sim 1 vs 2 threads");
    /* chunked calls: ceil(1000 / chunk) calls of at most a chunk each, all rows once */
    size_t chunks = (N_ROWS + DSBI_SIM_CHUNK - 1) / DSBI_SIM_CHUNK;
    cr_assert_eq(s1.calls, chunks);
    cr_assert_eq(s2.calls, chunks);
    cr_assert_eq(s1.max_rows, DSBI_SIM_CHUNK);
    cr_assert_eq(s1.rows, N_ROWS);
    cr_assert_eq(s2.rows, N_ROWS);
    /* the same as building the dataset from everything the simulator produced */
    size_t d3 = 0;
    dsbi_dataset *ref = dsbi_dataset_from_arrays(s1.theta, s1.x, N_ROWS, 2, 2, &d3);
    cr_assert_not_null(ref);
    cr_assert_eq(d3, d1);
    expect_same(ref, one, "dataset vs from_arrays of the recorded rows");
    /* kept rows are aligned: x is the function of their own theta */
    const float *th = dsbi_dataset_theta(two), *x = dsbi_dataset_x(two);
    for (size_t i = 0; i < dsbi_dataset_size(two); i++) {
        cr_assert(th[2 * i] >= 0.1f, "row %zu kept with theta0 = %g", i, (double)th[2 * i]);
        cr_assert_eq(x[2 * i], th[2 * i] + th[2 * i + 1], "row %zu misaligned", i);
        cr_assert_eq(x[2 * i + 1], th[2 * i] * th[2 * i + 1], "row %zu misaligned", i);
    }
    dsbi_dataset_free(ref);
    dsbi_dataset_free(one);
    dsbi_dataset_free(two);
}

Test(parallel_sim, masked_datasets_identical_for_1_and_2_threads) {
    static test_sim s1, s2;
    dsbi_simulator sim1 = make_sim(&s1, 1), sim2 = make_sim(&s2, 1);
    dsbi_dataset *one = NULL, *two = NULL;
    size_t i1 = 0, i2 = 0, d1 = 9, d2 = 9;
    use_threads(1);
    cr_assert_eq(dsbi_dataset_simulate_masked(&sim1, N_ROWS, 8, &one, &i1, &d1), 0, "%s", dsbi_last_error());
    use_threads(2);
    cr_assert_eq(dsbi_dataset_simulate_masked(&sim2, N_ROWS, 8, &two, &i2, &d2), 0, "%s", dsbi_last_error());
    restore_threads();
    /* the NaN entries are imputed, not dropped: one per NaN row */
    cr_assert_eq(d1, 0);
    cr_assert_eq(d2, 0);
    cr_assert_eq(i1, s1.nan_rows);
    cr_assert_eq(i2, i1);
    cr_assert_eq(dsbi_dataset_size(one), N_ROWS);
    expect_same(one, two, "masked 1 vs 2 threads");
    dsbi_dataset_free(one);
    dsbi_dataset_free(two);
}

/* status and message of a failing run with the given thread count */
static int run_failing(dsbi_simulator *sim, int threads, char *msg, size_t cap) {
    static char sentinel;
    dsbi_dataset *ds = (dsbi_dataset *)(void *)&sentinel; /* must be reset to NULL on failure */
    use_threads(threads);
    int st = dsbi_dataset_simulate(sim, N_ROWS, 3, &ds, NULL);
    restore_threads();
    cr_assert_null(ds);
    snprintf(msg, cap, "%s", dsbi_last_error());
    return st;
}

Test(parallel_sim, failing_chunk_reported_with_its_message) {
    static test_sim s;
    dsbi_simulator sim = make_sim(&s, 1);
    char m1[1024], m2[1024];
    /* only the last (partial) chunk fails; its message reaches the caller's thread */
    s.fail_mode = 1;
    for (int th = 1; th <= 2; th++) {
        cr_assert_eq(run_failing(&sim, th, m1, sizeof m1), DSBI_STATUS_ERR_SIMULATOR);
        char want[128];
        snprintf(want, sizeof want, "test simulator: refusing a chunk of %d rows", N_ROWS % DSBI_SIM_CHUNK);
        cr_assert_str_eq(m1, want, "threads %d", th);
    }
    /* every chunk fails: the first chunk's message, whatever the timing */
    s.fail_mode = 2;
    cr_assert_eq(run_failing(&sim, 1, m1, sizeof m1), DSBI_STATUS_ERR_SIMULATOR);
    cr_assert(strstr(m1, "chunk starting at theta0 = "), "%s", m1);
    for (int rep = 0; rep < 5; rep++) {
        cr_assert_eq(run_failing(&sim, 2, m2, sizeof m2), DSBI_STATUS_ERR_SIMULATOR);
        cr_assert_str_eq(m2, m1, "repeat %d with 2 threads", rep);
    }
    /* a positive return without a message: a generic one naming the rows */
    s.fail_mode = 3;
    cr_assert_eq(run_failing(&sim, 2, m1, sizeof m1), DSBI_STATUS_ERR_SIMULATOR);
    snprintf(m2, sizeof m2, "simulator 'test_sim' reported failure (returned 5) on rows %d..%d",
             N_ROWS / DSBI_SIM_CHUNK * DSBI_SIM_CHUNK + 1, N_ROWS);
    cr_assert_str_eq(m1, m2);
    /* a negative status from the prior is passed through with its message */
    s.fail_mode = 4;
    cr_assert_eq(run_failing(&sim, 2, m1, sizeof m1), DSBI_STATUS_ERR_NUMERIC);
    snprintf(m2, sizeof m2, "test prior: cannot draw %d rows", DSBI_SIM_CHUNK);
    cr_assert_str_eq(m1, m2);
}

/* slow chunks, so that the second thread surely takes some of them */
static int slow_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    usleep(5000);
    return ts_simulate(ctx, rng, n, theta, x);
}

Test(parallel_sim, chunks_run_on_several_threads_only_when_flagged) {
    static test_sim s;
    dsbi_simulator sim = make_sim(&s, 1);
    sim.simulate = slow_simulate;
    dsbi_dataset *ds = NULL;
    use_threads(2);
    /* 16 chunks of 5 ms: 80 ms of work for the second thread to join */
    int st = dsbi_dataset_simulate(&sim, 16 * DSBI_SIM_CHUNK, 1, &ds, NULL);
    restore_threads();
    cr_assert_eq(st, 0, "%s", dsbi_last_error());
    cr_assert(s.thread_used[0] && s.thread_used[1], "chunks ran on threads 0: %d, 1: %d", s.thread_used[0],
              s.thread_used[1]);
    cr_assert(s.in_parallel);
    dsbi_dataset_free(ds);

    /* unflagged: one call for all rows, on the calling thread */
    sim = make_sim(&s, 0);
    use_threads(2);
    st = dsbi_dataset_simulate(&sim, N_ROWS, 1, &ds, NULL);
    restore_threads();
    cr_assert_eq(st, 0, "%s", dsbi_last_error());
    cr_assert_eq(s.calls, 1);
    cr_assert_eq(s.max_rows, N_ROWS);
    cr_assert_not(s.in_parallel);
    dsbi_dataset_free(ds);
}
