/*
 * BLAS wrapper and thread settings. Every dense product goes through
 * dsbi_sgemm (OpenBLAS). BLAS and OpenMP threads are set together so that the
 * two pools never oversubscribe the cores.
 */
#include "internal.h"
#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <unistd.h>

void openblas_set_num_threads(int num_threads);

static int n_threads = 0;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_default(void) {
    if (n_threads > 0) return;
    const char *env = getenv("DSBI_NUM_THREADS");
    int n = env ? atoi(env) : 0;
    if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0) n = 1;
    n_threads = n;
    openblas_set_num_threads(n);
    omp_set_num_threads(n);
}

void dsbi_threads_init(void) { pthread_once(&once, init_default); }

void dsbi_set_threads(int n) {
    pthread_once(&once, init_default);
    if (n <= 0) {
        n_threads = 0;
        init_default();
        return;
    }
    n_threads = n;
    openblas_set_num_threads(n);
    omp_set_num_threads(n);
}

int dsbi_get_threads(void) {
    dsbi_threads_init();
    return n_threads;
}

void dsbi_sgemm(int ta, int tb, size_t M, size_t N, size_t Kd, float alpha,
                const float *A, size_t lda, const float *B, size_t ldb, float beta,
                float *C, size_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)Kd, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}
