/* Sample-set metrics (src/diag): C2ST per sbibm's definition, unbiased MMD^2
 * and (max-)sliced Wasserstein-2 on sets with known answers, and C2ST of an
 * sbibm reference posterior against itself. Seeds are fixed; tolerances are
 * justified by the sample sizes at each check. The reference folder
 * (../shared/benchmarks/sbibm from the repo root) must exist. */
#include "helpers.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static float *gauss(size_t n, size_t d, uint64_t seed, double shift0) {
    float *a = malloc(n * d * sizeof *a);
    cr_assert_not_null(a);
    fill_normal(a, n * d, seed, 1.0f);
    for (size_t i = 0; i < n; i++) a[i * d] += (float)shift0;
    return a;
}

/* ---------------------------------------------------------------- C2ST */

Test(diag, c2st_same_gaussian_is_one_half) {
    /* 2-D, 10,000 vs 10,000: accuracy on 20,000 held-out rows has se
     * sqrt(0.25/20000) = 0.0035; overfitting only lowers it. 0.03 ~ 8 se. */
    float *a = gauss(10000, 2, 1, 0), *b = gauss(10000, 2, 2, 0);
    double acc;
    cr_assert_eq(dsbi_c2st(a, 10000, b, 10000, 2, NULL, &acc), 0, "%s", dsbi_last_error());
    cr_expect(fabs(acc - 0.5) < 0.03, "C2ST %g", acc);
    free(a);
    free(b);
}

Test(diag, c2st_unit_shift_reaches_the_bayes_accuracy) {
    /* N(0,1) vs N(1,1): the Bayes classifier (x > 1/2) scores Phi(1/2) = 0.6915;
     * a fitted MLP gets at most that plus chance (se 0.0035 on 20,000 rows). */
    float *a = gauss(10000, 1, 3, 0), *b = gauss(10000, 1, 4, 1.0);
    double acc;
    cr_assert_eq(dsbi_c2st(a, 10000, b, 10000, 1, NULL, &acc), 0, "%s", dsbi_last_error());
    cr_expect(fabs(acc - 0.6915) < 0.03, "C2ST %g", acc);
    free(a);
    free(b);
}

Test(diag, c2st_separable_sets_score_one_and_results_ignore_threads) {
    float *a = gauss(1000, 3, 5, 0), *b = gauss(1000, 3, 6, 8.0);
    double acc1, acc2;
    dsbi_set_threads(1);
    cr_assert_eq(dsbi_c2st(a, 1000, b, 1000, 3, NULL, &acc1), 0);
    dsbi_set_threads(2);
    cr_assert_eq(dsbi_c2st(a, 1000, b, 1000, 3, NULL, &acc2), 0);
    dsbi_set_threads(1);
    cr_expect_eq(acc1, acc2, "thread count changed the result: %g vs %g", acc1, acc2);
    /* 8 sd apart: P(misclassified) = Phi(-4) = 3e-5 per row */
    cr_expect(acc1 > 0.995, "C2ST %g", acc1);
    /* unequal sizes and 7 folds (2,300 rows, not divisible) work too */
    dsbi_c2st_config c = dsbi_c2st_config_default();
    c.folds = 7;
    cr_assert_eq(dsbi_c2st(a, 1000, b, 300, 3, &c, &acc1), 0);
    cr_expect(acc1 > 0.99);
    free(a);
    free(b);
}

Test(diag, c2st_rejects_bad_input) {
    float a[20] = {0}, b[20] = {0};
    double acc;
    cr_expect_eq(dsbi_c2st(a, 1, b, 1, 2, NULL, &acc), DSBI_STATUS_ERR_INVALID);
    a[3] = NAN;
    cr_expect_eq(dsbi_c2st(a, 10, b, 10, 2, NULL, &acc), DSBI_STATUS_ERR_INVALID);
    cr_expect(strstr(dsbi_last_error(), "reference sample, row 2, column 2") != NULL, "%s", dsbi_last_error());
}

Test(diag, c2st_sbibm_reference_against_itself) {
    const char *dir = getenv("DSBI_SBIBM_DIR") ? getenv("DSBI_SBIBM_DIR") : "../shared/benchmarks/sbibm";
    char path[1024];
    snprintf(path, sizeof path, "%s/two_moons/num_observation_1/reference_posterior_samples.csv", dir);
    struct stat sst;
    cr_assert(stat(path, &sst) == 0, "reference file %s is missing (run from the repo root)", path);
    dsbi_table t;
    cr_assert_eq(dsbi_table_read(path, &t), 0, "%s", dsbi_last_error());
    cr_assert(t.rows == 10000 && t.cols == 2);
    /* two halves of one exact sample, 5,000 vs 5,000: se 0.005, 0.03 = 6 se */
    double acc;
    cr_assert_eq(dsbi_c2st(t.data, 5000, t.data + 5000 * 2, 5000, 2, NULL, &acc), 0, "%s", dsbi_last_error());
    cr_expect(fabs(acc - 0.5) < 0.03, "two_moons obs 1 halves: C2ST %g", acc);
    dsbi_table_free(&t);
}

/* ---------------------------------------------------------------- MMD */

Test(diag, mmd_zero_for_identical_sets_and_grows_with_shift) {
    const size_t n = 2000;
    float *a = gauss(n, 3, 7, 0);
    double m, h;
    cr_assert_eq(dsbi_mmd2(a, n, a, n, 3, 0, &m, &h), 0);
    /* X = Y: kxx + kyy - 2 kxy = -2 (1 - kxx) / n exactly, in (-2/n, 0] */
    cr_expect(m <= 1e-9 && m > -2.0 / n, "identical sets: %g", m);
    /* median heuristic: median distance of N(0, I_3) pairs = sqrt(2 * 2.366) = 2.18 */
    cr_expect(fabs(h - 2.18) < 0.1, "bandwidth %g", h);
    float *b = gauss(n, 3, 8, 0);
    cr_assert_eq(dsbi_mmd2(a, n, b, n, 3, 0, &m, NULL), 0);
    /* independent sets of one law: unbiased, |MMD^2| ~ 1/n */
    cr_expect(fabs(m) < 2e-3, "same law: %g", m);
    double prev = m;
    for (int k = 1; k <= 3; k++) {
        float *c = gauss(n, 3, 8, 0.5 * k);
        cr_assert_eq(dsbi_mmd2(a, n, c, n, 3, 1.0, &m, NULL), 0);
        cr_expect(m > prev + 0.01, "shift %g: %g !> %g", 0.5 * k, m, prev);
        prev = m;
        free(c);
    }
    /* closed form for a shift delta, bandwidth h, Gaussians N(0,I), N(delta e1, I):
     * MMD^2 = 2 (h^2/(h^2+2))^{d/2} (1 - exp(-delta^2 / (2 (h^2+2)))); delta = 1.5, h = 1, d = 3 */
    double want = 2 * pow(1.0 / 3, 1.5) * (1 - exp(-2.25 / 6));
    cr_expect(fabs(prev - want) < 0.01, "MMD^2 %g vs closed form %g", prev, want);
    free(a);
    free(b);
}

/* ---------------------------------------------------------------- sliced Wasserstein */

Test(diag, sliced_wasserstein_zero_and_shift) {
    const size_t n = 5000, d = 5;
    float *a = gauss(n, d, 9, 0), *b = gauss(n, d, 10, 0);
    double sw, msw;
    cr_assert_eq(dsbi_sliced_wasserstein(a, n, a, n, d, 200, 1, &sw, &msw), 0);
    cr_expect(sw == 0 && msw == 0, "identical sets: %g %g", sw, msw);
    /* delta = (1,1,1,1,0)... shifted in every coordinate: delta_j = 0.8944, |delta| = 2 */
    for (size_t i = 0; i < n * d; i++) b[i] += 2.0f / sqrtf((float)d);
    cr_assert_eq(dsbi_sliced_wasserstein(a, n, b, n, d, 1000, 2, &sw, &msw), 0);
    /* E_u[(delta.u)^2] = |delta|^2 / d: sliced -> 2/sqrt(5) = 0.894; the mean over
     * 1000 directions of (delta.u)^2 has relative se 3.4% (1.7% on the root) */
    cr_expect(fabs(sw - 2.0 / sqrt(5.0)) < 0.05 * 2.0 / sqrt(5.0), "sliced %g vs %g", sw, 2.0 / sqrt(5.0));
    /* max-sliced: in 5-D the best of 1000 random directions still misses delta
     * (cos^2 ~ Beta(1/2, 2), its max over 1000 draws ~ 0.9): only bounds here */
    cr_expect(msw > 1.75 && msw < 2.1, "max-sliced %g", msw);
    /* unequal sizes use the exact quantile coupling: a vs its first half + shift */
    cr_assert_eq(dsbi_sliced_wasserstein(a, n, b, n / 2, d, 500, 3, &sw, NULL), 0);
    cr_expect(fabs(sw - 2.0 / sqrt(5.0)) < 0.07, "unequal sizes: %g", sw);
    free(a);
    free(b);
}

Test(diag, max_sliced_wasserstein_finds_the_shift) {
    /* 3-D: |cos(u, delta)| is uniform on [0, 1], so the best of 1000 directions
     * has cos > 0.995 with probability 1 - 0.995^1000 > 0.99; the sampling bias of
     * W2^2 with 5000 points is ~1e-3. max-sliced -> |delta| = 2 (ALGORITHMS.md T7) */
    const size_t n = 5000, d = 3;
    float *a = gauss(n, d, 11, 0), *b = gauss(n, d, 12, 0);
    for (size_t i = 0; i < n * d; i++) b[i] += 2.0f / sqrtf((float)d);
    double sw, msw;
    cr_assert_eq(dsbi_sliced_wasserstein(a, n, b, n, d, 1000, 4, &sw, &msw), 0);
    cr_expect(fabs(msw - 2.0) < 0.05, "max-sliced %g vs 2", msw);
    cr_expect(fabs(sw - 2.0 / sqrt(3.0)) < 0.05 * 2.0 / sqrt(3.0), "sliced %g vs %g", sw, 2.0 / sqrt(3.0));
    free(a);
    free(b);
}

Test(diag, sliced_wasserstein_one_dimension_exact) {
    /* 1-D: every direction is +-1, W2^2 of sorted samples is exact */
    float a[4] = {0, 1, 2, 3}, b[2] = {10, 11};
    double sw, msw;
    cr_assert_eq(dsbi_sliced_wasserstein(a, 4, b, 2, 1, 3, 1, &sw, &msw), 0);
    /* coupling: {0,1} -> 10, {2,3} -> 11, each mass 1/4: (100 + 81 + 81 + 64) / 4 = 81.5 */
    cr_expect(fabs(sw * sw - 81.5) < 1e-4 && fabs(msw * msw - 81.5) < 1e-4, "%g %g", sw * sw, msw * msw);
}
