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
/* The 1-D Gaussian toy of the consistency-model tests: theta ~ N(0, 1),
 * x ~ N(theta, 0.5^2), posterior N(0.8 x, 0.2). */
static inline int gauss1d_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) theta[i] = (float)dsbi_rng_normal(rng);
    return 0;
}
static inline int gauss1d_sim(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) x[i] = theta[i] + 0.5f * (float)dsbi_rng_normal(rng);
    return 0;
}

/* Worst |mean error| (posterior sds) and |sd ratio - 1| over x_o in
 * {-1.5, 0, 1, 2}, for 1 and 2 steps (index steps - 1), 4000 draws each
 * (Monte Carlo errors 0.016 sd and 1.1 %); every call reports nfe = steps. */
static inline void gauss1d_cm_errors(dsbi_model *m, const char *what, double worst_mean[2], double worst_sd[2]) {
    const float xs[4] = {-1.5f, 0.0f, 1.0f, 2.0f};
    static float th[4000];
    for (size_t steps = 1; steps <= 2; steps++) {
        worst_mean[steps - 1] = worst_sd[steps - 1] = 0.0;
        for (int k = 0; k < 4; k++) {
            dsbi_sample_config sc = dsbi_sample_config_default();
            sc.steps = steps;
            sc.seed = (uint64_t)k;
            dsbi_sample_stats st;
            cr_assert_eq(dsbi_model_sample(m, &xs[k], 4000, &sc, th, &st), 0, "%s", dsbi_last_error());
            cr_assert_eq(st.nfe, steps);
            double mean, sd;
            col_moments(th, 4000, 1, 0, &mean, &sd);
            double em = fabs(mean - 0.8 * xs[k]) / sqrt(0.2), es = fabs(sd / sqrt(0.2) - 1.0);
            cr_log_info("%s, %zu step%s, x = %+.1f: mean error %.3f sd, sd ratio %.3f", what, steps,
                        steps > 1 ? "s" : "", (double)xs[k], em, sd / sqrt(0.2));
            if (em > worst_mean[steps - 1]) worst_mean[steps - 1] = em;
            if (es > worst_sd[steps - 1]) worst_sd[steps - 1] = es;
        }
    }
}
#endif
