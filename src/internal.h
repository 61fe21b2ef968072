/*
 * Private declarations shared across layers: error helpers, assertions, BLAS
 * wrapper, timers. Dimension glossary: B batch rows, D parameter dims (theta),
 * K data dims (x), H hidden width.
 */
#ifndef DSBI_INTERNAL_H
#define DSBI_INTERNAL_H

#include "diffsbi.h"
#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define DSBI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DSBI_PRINTF(a, b)
#endif

/* Records a formatted message for dsbi_last_error() and returns status. */
int dsbi_fail(int status, const char *fmt, ...) DSBI_PRINTF(2, 3);
/* Clears the last error. */
void dsbi_clear_error(void);

/* Programmer errors: cheap checks kept in release builds. */
#define DSBI_ASSERT(c)                                                              \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "diffsbi: %s:%d: assertion failed: %s\n", __FILE__,    \
                    __LINE__, #c);                                                  \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* Sizes: refuse products that overflow or exceed a sanity cap (bytes). */
#define DSBI_MAX_ALLOC ((size_t)1 << 36)
void *dsbi_malloc(size_t n, size_t size);  /* NULL + last error on failure */
void *dsbi_calloc(size_t n, size_t size);

/* Seconds from a monotonic clock. */
double dsbi_now(void);

/* C = alpha * op(A) op(B) + beta * C, row-major; ta/tb: 0 = N, 1 = T.
 * A is M x Kd (after op), B is Kd x N (after op), C is M x N. */
void dsbi_sgemm(int ta, int tb, size_t M, size_t N, size_t Kd, float alpha,
                const float *A, size_t lda, const float *B, size_t ldb, float beta,
                float *C, size_t ldc);

/* Threads: called once before parallel work. */
void dsbi_threads_init(void);

/* CRC-32 (IEEE 802.3 polynomial) of a byte buffer, continuing from crc. */
uint32_t dsbi_crc32(uint32_t crc, const void *buf, size_t n);

/* Writes bytes atomically: path.tmp.PID then rename. */
int dsbi_write_atomic(const char *path, const void *const *parts, const size_t *sizes,
                      size_t n_parts);

#endif
