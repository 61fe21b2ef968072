/* Small helpers shared by the Criterion test files (static inline only). */
#ifndef DSBI_TEST_HELPERS_H
#define DSBI_TEST_HELPERS_H
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "diffsbi.h"

static inline void fill_normal(float *a, size_t n, uint64_t seed, float scale) {
    dsbi_rng r;
    dsbi_rng_init(&r, seed, 77);
    for (size_t i = 0; i < n; i++) a[i] = scale * (float)dsbi_rng_normal(&r);
}

/* column mean and sd of an n x d table */
static inline void col_moments(const float *a, size_t n, size_t d, size_t j, double *mean, double *sd) {
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) s += a[i * d + j];
    double m = s / (double)n;
    for (size_t i = 0; i < n; i++) s2 += (a[i * d + j] - m) * (a[i * d + j] - m);
    *mean = m;
    *sd = sqrt(s2 / (double)(n - 1));
}

/* Runs the diffsbi command ($DSBI_CLI, else build/diffsbi) in dir with
 * printf-style arguments, stdout to dir/out and stderr to dir/err; returns
 * its exit code (-1 if it did not exit). */
static inline int cli_run_in(const char *dir, const char *fmt, ...) {
    const char *p = getenv("DSBI_CLI");
    char exe[PATH_MAX], args[2048], cmd[PATH_MAX + 2200];
    cr_assert_not_null(realpath(p ? p : "build/diffsbi", exe), "CLI binary not found (set DSBI_CLI)");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && %s %s > out 2> err", dir, exe, args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* 1 if the file dir/name (its first 64 kB) contains needle */
static inline int file_contains(const char *dir, const char *name, const char *needle) {
    char path[PATH_MAX];
    static char buf[65536];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
    fclose(f);
    return strstr(buf, needle) != NULL;
}
#endif
