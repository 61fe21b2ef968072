#!/bin/sh
# Summary networks on the conjugate normal-gamma task (issue 7).
#
# Trains, on the same online simulations (sets of n ~ U{5..50} points):
#   deepset          the deep set of the library trained jointly with the diffusion model
#   set_transformer  ISAB + PMA summary, same diffusion network
#   stats            a flat model fed the hand-made sufficient statistics (mean, ln sd, n)
# and for 5 observations at each of n = 5, 50 and 100 (100 lies beyond the
# training sizes) compares 2000 draws with 2000 exact posterior draws: C2ST
# accuracy (0.5 = indistinguishable), posterior mean error in posterior sds and
# sd ratio; plus training seconds per epoch. Results: bench/results/summary.txt.
#
# usage: sh bench/summary.sh [EPOCHS] [THREADS]     (defaults: 300 epochs, 2 threads;
#        about 3-6 minutes on 2 cores). Needs `make all` first.
set -eu
cd "$(dirname "$0")/.."
EPOCHS=${1:-300}
THREADS=${2:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
MULTIARCH=$(${CC:-cc} -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLAS=/usr/lib/$MULTIARCH/openblas-openmp
[ -f build/libdiffsbi.a ] || { echo "bench/summary.sh: run 'make all' first" >&2; exit 1; }

cat > "$TMP/summary_bench.c" <<'EOF'
#include "diffsbi.h"
#include "summary/summary.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMIN 5
#define NMAX 50

static int prior(void *ctx, dsbi_rng *r, size_t n, float *th) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        double tau = dsbi_normal_gamma_draw_gamma(r, 4.0) / 4.0, sg = 1.0 / sqrt(tau);
        th[2 * i] = (float)(sg * dsbi_rng_normal(r));
        th[2 * i + 1] = (float)log(sg);
    }
    return 0;
}

static size_t draw_set(dsbi_rng *r, const float *th, float *y) {
    size_t c = NMIN + (size_t)(dsbi_rng_uniform(r) * (NMAX - NMIN + 1));
    if (c > NMAX) c = NMAX;
    for (size_t j = 0; j < c; j++) y[j] = th[0] + expf(th[1]) * (float)dsbi_rng_normal(r);
    return c;
}

static void stats_of(const float *y, size_t c, float *s) {
    double m = 0, v = 0;
    for (size_t j = 0; j < c; j++) m += y[j];
    m /= (double)c;
    for (size_t j = 0; j < c; j++) v += (y[j] - m) * (y[j] - m);
    v /= (double)(c - 1);
    s[0] = (float)m;
    s[1] = (float)(0.5 * log(v));
    s[2] = (float)c;
}

/* packed set rows, or the three statistics (ctx != NULL): the same sets */
static int simulate(void *ctx, dsbi_rng *r, size_t n, const float *th, float *x) {
    float y[NMAX];
    for (size_t i = 0; i < n; i++) {
        size_t c = draw_set(r, th + 2 * i, y);
        if (ctx) stats_of(y, c, x + 3 * i);
        else dsbi_set_pack(y, c, NMAX, 1, x + i * DSBI_SET_ROW(NMAX, 1));
    }
    return 0;
}

static double epoch_seconds;
static int progress(void *u, size_t e, size_t E, double tl, double vl, double s) {
    (void)u, (void)tl, (void)vl;
    if (e == E) epoch_seconds = s / (double)E;
    return 0;
}

int main(int argc, char **argv) {
    size_t epochs = argc > 1 ? (size_t)atoi(argv[1]) : 300;
    static int stats_ctx = 1;
    const char *names[3] = {"deepset", "set_transformer", "stats"};
    dsbi_model *m[3];
    double sec[3];
    for (int k = 0; k < 3; k++) {
        dsbi_simulator sim = {.name = "normal_gamma", .dim_theta = 2, .prior = prior,
                              .simulate = simulate, .thread_safe = 1};
        dsbi_model_config mc = dsbi_model_config_default();
        mc.width = 128;
        mc.depth = 3;
        mc.summary_width = 16;
        mc.summary_depth = 1;
        mc.summary_dim = 8;
        mc.summary_heads = 2;
        mc.summary_inducing = 4;
        if (k < 2) {
            mc.summary = k == 0 ? DSBI_SUMMARY_DEEPSET : DSBI_SUMMARY_SET_TRANSFORMER;
            sim.dim_x = DSBI_SET_ROW(NMAX, 1);
            m[k] = dsbi_model_create_set(&mc, 2, NMAX, 1);
        } else {
            sim.dim_x = 3;
            sim.ctx = &stats_ctx;
            m[k] = dsbi_model_create(&mc, 2, 3);
        }
        dsbi_train_config tc = dsbi_train_config_default();
        tc.epochs = epochs;
        tc.sims_per_epoch = 4096;
        tc.batch_size = 128;
        tc.lr = 4e-3f;
        tc.patience = 0;
        tc.seed = 3;
        tc.progress = progress;
        if (!m[k] || dsbi_model_fit_online(m[k], &sim, &tc)) {
            fprintf(stderr, "%s: %s\n", names[k], dsbi_last_error());
            return 1;
        }
        sec[k] = epoch_seconds;
    }
    printf("normal-gamma, sets of 5..50 points, %zu epochs of 4096 online simulations, %d threads\n",
           epochs, dsbi_get_threads());
    for (int k = 0; k < 3; k++)
        printf("  %-16s %6zu parameters, %.3f s per epoch\n", names[k], dsbi_model_num_params(m[k]),
               sec[k]);
    printf("\n%-16s %4s %8s %8s %10s %8s %8s\n", "model", "n", "C2ST", "C2ST max", "|mean err|",
           "sd mu", "sd ln s");
    const size_t L = 2000, n_obs = 5, sizes[3] = {5, 50, 100};
    float *ref = malloc(L * 2 * sizeof(float)), *th = malloc(L * 2 * sizeof(float));
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < 3; s++) {
            dsbi_rng r;
            dsbi_rng_init(&r, 77, (uint64_t)s);
            double c2 = 0, c2max = 0, me = 0, sr[2] = {0, 0};
            for (size_t o = 0; o < n_obs; o++) {
                float truth[2], y[100], st[3];
                size_t n = sizes[s];
                prior(NULL, &r, 1, truth);
                for (size_t j = 0; j < n; j++) y[j] = truth[0] + expf(truth[1]) * (float)dsbi_rng_normal(&r);
                dsbi_normal_gamma_post post = dsbi_normal_gamma_posterior(y, n);
                dsbi_normal_gamma_sample(&post, &r, L, ref);
                dsbi_sample_config sc = dsbi_sample_config_default();
                sc.seed = o;
                int e;
                if (k < 2) {
                    e = dsbi_model_sample_set(m[k], y, n, L, &sc, th, NULL);
                } else {
                    stats_of(y, n, st);
                    e = dsbi_model_sample(m[k], st, L, &sc, th, NULL);
                }
                double acc = 0.5;
                dsbi_c2st_config cc = dsbi_c2st_config_default();
                if (e || dsbi_c2st(ref, L, th, L, 2, &cc, &acc)) {
                    fprintf(stderr, "%s\n", dsbi_last_error());
                    return 1;
                }
                c2 += acc / (double)n_obs;
                if (acc > c2max) c2max = acc;
                for (int d = 0; d < 2; d++) {
                    double a = 0, a2 = 0, b = 0, b2 = 0;
                    for (size_t i = 0; i < L; i++) {
                        a += ref[2 * i + d], a2 += ref[2 * i + d] * ref[2 * i + d];
                        b += th[2 * i + d], b2 += th[2 * i + d] * th[2 * i + d];
                    }
                    a /= L, b /= L;
                    double sa = sqrt(a2 / L - a * a), sb = sqrt(b2 / L - b * b);
                    me += fabs(b - a) / sa / (2.0 * n_obs);
                    sr[d] += sb / sa / (double)n_obs;
                }
            }
            printf("%-16s %4zu %8.3f %8.3f %10.3f %8.3f %8.3f\n", names[k], sizes[s], c2, c2max, me,
                   sr[0], sr[1]);
        }
    printf("(C2ST: mean over %zu observations of the accuracy of a classifier telling %zu model\n"
           " draws from %zu exact ones; |mean err| in posterior sds, averaged over mu and ln sigma;\n"
           " sd ratios exact = 1; n = 100 is beyond the training sizes 5..50)\n",
           n_obs, L, L);
    for (int k = 0; k < 3; k++) dsbi_model_free(m[k]);
    free(ref);
    free(th);
    return 0;
}
EOF

${CC:-cc} -std=gnu17 -O2 -fopenmp -Iinclude -Isrc -I/usr/include/$MULTIARCH/openblas-openmp \
    "$TMP/summary_bench.c" build/libdiffsbi.a -L"$BLAS" -Wl,-rpath,"$BLAS" -lopenblas \
    $(pkg-config --libs cairo libcjson) -lm -ldl -o "$TMP/summary_bench"
mkdir -p bench/results
DSBI_NUM_THREADS=$THREADS "$TMP/summary_bench" "$EPOCHS" | tee bench/results/summary.txt
