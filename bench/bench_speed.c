/*
 * Speed benchmark: one machine-readable line per case (key=value pairs).
 *   sgemm M N K        GFLOP/s of OpenBLAS sgemm at the shapes of a training step
 *   gemmstep W D B     GFLOP/s of the sgemm calls of one training step alone
 *   train W D B        training steps/s on two_moons, plain SiLU MLP D x W, batch B
 *   sample W D         draws/s for 10,000 draws (100 DDIM/Euler steps), latency of 1,000
 * Each case runs in its own process (bench/run.sh) so peak RSS is per case.
 * Every case is validated first (finite loss, finite draws), then timed; the
 * median of repeats is reported.
 */
#include "approx/model.h"
#include "sample/sampler.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <sys/resource.h>

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* flops of one forward pass through the dense layers of a plain MLP */
static double mlp_flops(size_t in, size_t W, size_t D, size_t out, size_t B) {
    double f = (double)in * W + (double)(D - 1) * W * W + (double)W * out;
    return 2.0 * f * (double)B;
}

static int bench_sgemm(size_t M, size_t N, size_t K) {
    float *A = malloc(M * K * sizeof(float)), *Bm = malloc(K * N * sizeof(float)), *C = malloc(M * N * sizeof(float));
    for (size_t i = 0; i < M * K; i++) A[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < K * N; i++) Bm[i] = (float)(i % 5) * 0.1f;
    double r[7];
    for (int rep = 0; rep < 7; rep++) {
        int iters = 0;
        double t0 = dsbi_now(), t;
        do {
            dsbi_sgemm(0, 0, M, N, K, 1.0f, A, K, Bm, N, 0.0f, C, N);
            iters++;
        } while ((t = dsbi_now() - t0) < 0.2);
        r[rep] = 2.0 * (double)M * N * K * iters / t / 1e9;
    }
    printf("bench=sgemm M=%zu N=%zu K=%zu threads=%d gflops=%.1f\n", M, N, K, dsbi_get_threads(), median(r, 7));
    free(A);
    free(Bm);
    free(C);
    return 0;
}

/* The sgemm calls of one training step alone, at their exact shapes: per
 * dense layer the forward (NN), the weight gradient (TN) and the input
 * gradient (NT). With T threads the step splits the batch over T workers that
 * run single-threaded BLAS side by side, so this does the same: it is the
 * limit a step made only of its matrix products would reach. */
void openblas_set_num_threads(int num_threads);
typedef struct gemm_bufs {
    float *a[8], *g[8], *w[8], *dw[8];
} gemm_bufs;

static double gemm_sequence(const size_t *dims, size_t L, size_t B, gemm_bufs *b, double seconds) {
    int iters = 0;
    double t0 = dsbi_now(), t;
    do {
        for (size_t l = 0; l < L; l++)
            dsbi_sgemm(0, 0, B, dims[l + 1], dims[l], 1.0f, b->a[l], dims[l], b->w[l], dims[l + 1],
                       0.0f, b->a[l + 1], dims[l + 1]);
        for (size_t l = L; l-- > 0;) {
            dsbi_sgemm(1, 0, dims[l], dims[l + 1], B, 1.0f, b->a[l], dims[l], b->g[l + 1],
                       dims[l + 1], 1.0f, b->dw[l], dims[l + 1]);
            dsbi_sgemm(0, 1, B, dims[l], dims[l + 1], 1.0f, b->g[l + 1], dims[l + 1], b->w[l],
                       dims[l + 1], 0.0f, b->g[l], dims[l]);
        }
        iters++;
    } while ((t = dsbi_now() - t0) < seconds);
    return (double)iters / t;
}

static int bench_gemmstep(size_t W, size_t D, size_t B) {
    size_t dims[8] = {2 + 2 + 17}, L = D + 1;
    if (D < 1 || L > 7) return 2;
    for (size_t l = 1; l <= D; l++) dims[l] = W;
    dims[L] = 2;
    int T = dsbi_get_threads();
    size_t rows = (B + (size_t)T - 1) / (size_t)T;
    gemm_bufs bufs[8];
    if (T > 8) T = 8;
    for (int k = 0; k < T; k++)
        for (size_t l = 0; l <= L; l++) {
            bufs[k].a[l] = malloc(rows * dims[l] * sizeof(float));
            bufs[k].g[l] = malloc(rows * dims[l] * sizeof(float));
            for (size_t i = 0; i < rows * dims[l]; i++) {
                bufs[k].a[l][i] = 0.01f * (float)(i % 13);
                bufs[k].g[l][i] = 0.02f * (float)(i % 7);
            }
            if (l < L) {
                size_t nw = dims[l] * dims[l + 1];
                bufs[k].w[l] = malloc(nw * sizeof(float));
                bufs[k].dw[l] = calloc(nw, sizeof(float));
                for (size_t i = 0; i < nw; i++) bufs[k].w[l][i] = 0.01f * (float)(i % 11);
            }
        }
    double flops = 0.0;
    for (size_t l = 0; l < L; l++) flops += 3.0 * 2.0 * (double)B * dims[l] * dims[l + 1];
    double r[5];
    if (T > 1) openblas_set_num_threads(1);
    for (int rep = 0; rep < 5; rep++) {
        double rate[8] = {0};
#pragma omp parallel num_threads(T)
        rate[omp_get_thread_num()] = gemm_sequence(dims, L, rows, &bufs[omp_get_thread_num()], 0.2);
        double slow = rate[0];
        for (int k = 1; k < T; k++) slow = rate[k] < slow ? rate[k] : slow;
        r[rep] = slow; /* a step waits for its slowest worker */
    }
    double sps = median(r, 5);
    printf("bench=gemmstep width=%zu depth=%zu batch=%zu threads=%d steps_per_s=%.1f gflops=%.1f\n", W, D,
           B, T, sps, sps * flops / 1e9);
    for (int k = 0; k < T; k++)
        for (size_t l = 0; l <= L; l++) {
            free(bufs[k].a[l]);
            free(bufs[k].g[l]);
            if (l < L) {
                free(bufs[k].w[l]);
                free(bufs[k].dw[l]);
            }
        }
    return 0;
}

static dsbi_model *make_model(size_t W, size_t D) {
    dsbi_model_config mc = dsbi_model_config_default();
    mc.width = W;
    mc.depth = D;
    mc.residual = 0;
    mc.time_features = 16;
    return dsbi_model_create(&mc, 2, 2);
}

static int bench_train(size_t W, size_t D, size_t B) {
    dsbi_simulator sim;
    dsbi_task_get("two_moons", &sim);
    dsbi_dataset *ds;
    if (dsbi_dataset_simulate(&sim, 10000, 1, &ds, NULL)) return 1;
    dsbi_model *m = make_model(W, D);
    /* one fit of 1 epoch warms up; then timed epochs of 10,000 rows */
    dsbi_train_config tc = dsbi_train_config_default();
    tc.batch_size = B;
    tc.val_fraction = 0.0f;
    tc.epochs = 1;
    if (dsbi_model_fit(m, ds, &tc)) {
        fprintf(stderr, "bench: %s\n", dsbi_last_error());
        return 1;
    }
    const double *tl;
    dsbi_model_loss_history(m, &tl, NULL);
    if (!isfinite(tl[0])) return 1;
    size_t steps_per_epoch = 10000 / B;
    double r[5];
    for (int rep = 0; rep < 5; rep++) {
        tc.epochs = 4;
        double t0 = dsbi_now();
        dsbi_model_fit(m, ds, &tc);
        r[rep] = (double)(4 * steps_per_epoch) / (dsbi_now() - t0);
    }
    double sps = median(r, 5);
    double fl = 3.0 * mlp_flops(2 + 2 + 17, W, D, 2, B); /* forward + 2x backward */
    printf("bench=train task=two_moons width=%zu depth=%zu batch=%zu threads=%d params=%zu steps_per_s=%.1f "
           "examples_per_s=%.0f gflops=%.1f peak_rss_mb=%.1f\n",
           W, D, B, dsbi_get_threads(), dsbi_model_num_params(m), sps, sps * (double)B, sps * fl / 1e9, peak_rss_mb());
    dsbi_model_free(m);
    dsbi_dataset_free(ds);
    return 0;
}

static int bench_sample(size_t W, size_t D) {
    dsbi_model *m = make_model(W, D);
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.sampler = DSBI_SAMPLER_DDIM;
    sc.steps = 100;
    float x[2] = {0.0f, 0.0f};
    float *theta = malloc(10000 * 2 * sizeof(float));
    dsbi_sample_stats st;
    if (dsbi_model_sample(m, x, 1000, &sc, theta, &st)) return 1;
    for (size_t i = 0; i < 2000; i++)
        if (!isfinite(theta[i])) return 1;
    double r[5], l[5];
    for (int rep = 0; rep < 5; rep++) {
        dsbi_model_sample(m, x, 10000, &sc, theta, &st);
        r[rep] = 10000.0 / st.seconds;
        dsbi_model_sample(m, x, 1000, &sc, theta, &st);
        l[rep] = st.seconds;
    }
    printf("bench=sample width=%zu depth=%zu steps=100 threads=%d draws_per_s=%.0f draws_10k_s=%.3f "
           "latency_1k_s=%.4f net_evals_per_s=%.0f peak_rss_mb=%.1f\n",
           W, D, dsbi_get_threads(), median(r, 5), 10000.0 / median(r, 5), median(l, 5),
           median(r, 5) * 100.0, peak_rss_mb());
    free(theta);
    dsbi_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    /* set BLAS and OpenMP threads from DSBI_NUM_THREADS before anything is
     * timed: OpenBLAS would otherwise start with all cores, and the sgemm
     * "peak" of a 1-thread run would really be a multi-thread one */
    dsbi_threads_init();
    if (argc >= 5 && !strcmp(argv[1], "sgemm"))
        return bench_sgemm((size_t)atol(argv[2]), (size_t)atol(argv[3]), (size_t)atol(argv[4]));
    if (argc >= 5 && !strcmp(argv[1], "train"))
        return bench_train((size_t)atol(argv[2]), (size_t)atol(argv[3]), (size_t)atol(argv[4]));
    if (argc >= 5 && !strcmp(argv[1], "gemmstep"))
        return bench_gemmstep((size_t)atol(argv[2]), (size_t)atol(argv[3]), (size_t)atol(argv[4]));
    if (argc >= 4 && !strcmp(argv[1], "sample")) return bench_sample((size_t)atol(argv[2]), (size_t)atol(argv[3]));
    fprintf(stderr, "usage: bench_speed sgemm M N K | gemmstep W D B | train W D B | sample W D\n");
    return 2;
}
