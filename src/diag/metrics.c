/*
 * Sample-based distances between two sets of draws.
 * MMD: unbiased estimate of MMD^2 (Gretton et al. 2012, eq. 3) with the
 * Gaussian kernel k(a,b) = exp(-|a-b|^2 / (2 h^2)); h from the median
 * heuristic (median pairwise distance of the pooled sets). Kernel sums run
 * over blocks whose squared distances come from one sgemm each,
 * |a|^2 + |b|^2 - 2 a.b, after centring both sets on the pooled mean.
 * Sliced Wasserstein: random unit directions u (normalised Gaussians); W2^2
 * of the 1-D projections by matching sorted values (unequal sizes: the exact
 * quantile coupling of the two empirical measures); sliced = (mean W2^2)^1/2,
 * max-sliced = (max W2^2)^1/2 (Deshpande et al. 2019; POT's definitions).
 */
#include "internal.h"
#include <math.h>
#include <string.h>

#define BLK 512

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int check_finite(const char *what, const float *a, size_t n, size_t d) {
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(a[i]))
            return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: non-finite value at row %zu, column %zu", what,
                             i / d + 1, i % d + 1);
    return DSBI_STATUS_OK;
}

/* sum over pairs (i in A, j in B) of exp(-g |a_i - b_j|^2); same != 0: A == B
 * and the diagonal i == j is left out. nA, nB rows of d; sq = squared norms. */
static double kernel_sum(const float *A, const double *sqA, size_t nA, const float *B,
                         const double *sqB, size_t nB, size_t d, double g, int same, float *G) {
    double total = 0;
    for (size_t i0 = 0; i0 < nA; i0 += BLK) {
        size_t bi = nA - i0 < BLK ? nA - i0 : BLK;
        for (size_t j0 = 0; j0 < nB; j0 += BLK) {
            size_t bj = nB - j0 < BLK ? nB - j0 : BLK;
            dsbi_sgemm(0, 1, bi, bj, d, 1.0f, A + i0 * d, d, B + j0 * d, d, 0.0f, G, bj);
            for (size_t i = 0; i < bi; i++) {
                double row = 0;
                for (size_t j = 0; j < bj; j++) {
                    if (same && i0 + i == j0 + j) continue;
                    double d2 = sqA[i0 + i] + sqB[j0 + j] - 2.0 * G[i * bj + j];
                    row += exp(-g * (d2 > 0 ? d2 : 0));
                }
                total += row;
            }
        }
    }
    return total;
}

int dsbi_mmd2(const float *x, size_t n, const float *y, size_t m, size_t d, double bandwidth,
              double *mmd2, double *h_used) {
    if (!x || !y || !mmd2 || d == 0 || n < 2 || m < 2)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "mmd: need two sets of >= 2 rows and d > 0");
    int st = check_finite("mmd: first set", x, n, d);
    if (!st) st = check_finite("mmd: second set", y, m, d);
    if (st) return st;
    float *cx = dsbi_malloc(n, d * sizeof(float)), *cy = dsbi_malloc(m, d * sizeof(float));
    double *sx = dsbi_malloc(n, sizeof(double)), *sy = dsbi_malloc(m, sizeof(double));
    float *G = dsbi_malloc(BLK * BLK, sizeof(float));
    double *mu = dsbi_calloc(d, sizeof(double)), *dist = NULL;
    if (!cx || !cy || !sx || !sy || !G || !mu) {
        st = DSBI_STATUS_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n * d; i++) mu[i % d] += x[i];
    for (size_t i = 0; i < m * d; i++) mu[i % d] += y[i];
    for (size_t j = 0; j < d; j++) mu[j] /= (double)(n + m);
    for (size_t i = 0; i < n * d; i++) cx[i] = (float)(x[i] - mu[i % d]);
    for (size_t i = 0; i < m * d; i++) cy[i] = (float)(y[i] - mu[i % d]);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) s += (double)cx[i * d + j] * cx[i * d + j];
        sx[i] = s;
    }
    for (size_t i = 0; i < m; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) s += (double)cy[i * d + j] * cy[i * d + j];
        sy[i] = s;
    }
    double h = bandwidth;
    if (!(h > 0)) {
        /* median heuristic on an evenly strided subset of <= 1000 rows of each set */
        size_t sn = n < 1000 ? n : 1000, sm = m < 1000 ? m : 1000, p = sn + sm, np = p * (p - 1) / 2, k = 0;
        dist = dsbi_malloc(np, sizeof(double));
        if (!dist) {
            st = DSBI_STATUS_ERR_NOMEM;
            goto out;
        }
        for (size_t a = 0; a < p; a++) {
            const float *pa = a < sn ? cx + (a * n / sn) * d : cy + ((a - sn) * m / sm) * d;
            for (size_t b = a + 1; b < p; b++) {
                const float *pb = b < sn ? cx + (b * n / sn) * d : cy + ((b - sn) * m / sm) * d;
                double s = 0;
                for (size_t j = 0; j < d; j++) s += ((double)pa[j] - pb[j]) * ((double)pa[j] - pb[j]);
                dist[k++] = s;
            }
        }
        qsort(dist, np, sizeof *dist, cmp_double);
        h = sqrt(np % 2 ? dist[np / 2] : 0.5 * (dist[np / 2 - 1] + dist[np / 2]));
        if (!(h > 0)) h = 1.0; /* all points equal */
    }
    double g = 1.0 / (2.0 * h * h);
    double kxx = kernel_sum(cx, sx, n, cx, sx, n, d, g, 1, G) / ((double)n * (double)(n - 1));
    double kyy = kernel_sum(cy, sy, m, cy, sy, m, d, g, 1, G) / ((double)m * (double)(m - 1));
    double kxy = kernel_sum(cx, sx, n, cy, sy, m, d, g, 0, G) / ((double)n * (double)m);
    *mmd2 = kxx + kyy - 2.0 * kxy;
    if (h_used) *h_used = h;
out:
    free(cx);
    free(cy);
    free(sx);
    free(sy);
    free(G);
    free(mu);
    free(dist);
    return st;
}

/* W2^2 between the empirical measures of sorted a (n) and sorted b (m):
 * each a-point carries m units of mass and each b-point n units, so the
 * quantile coupling is walked in exact integer arithmetic. */
static double w2sq_sorted(const float *a, size_t n, const float *b, size_t m) {
    if (n == m) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        return s / (double)n;
    }
    size_t i = 0, j = 0, ra = m, rb = n;
    double s = 0;
    while (i < n && j < m) {
        size_t w = ra < rb ? ra : rb;
        double diff = (double)a[i] - b[j];
        s += (double)w * diff * diff;
        ra -= w;
        rb -= w;
        if (ra == 0) i++, ra = m;
        if (rb == 0) j++, rb = n;
    }
    return s / ((double)n * (double)m);
}

int dsbi_sliced_wasserstein(const float *x, size_t n, const float *y, size_t m, size_t d,
                            size_t n_dirs, uint64_t seed, double *sliced, double *max_sliced) {
    if (!x || !y || d == 0 || n == 0 || m == 0 || n_dirs == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "sliced wasserstein: empty set, d = 0 or no directions");
    int st = check_finite("sliced wasserstein: first set", x, n, d);
    if (!st) st = check_finite("sliced wasserstein: second set", y, m, d);
    if (st) return st;
    const size_t chunk = 64; /* directions per sgemm */
    float *U = dsbi_malloc(chunk, d * sizeof(float));
    float *px = dsbi_malloc(n, chunk * sizeof(float)), *py = dsbi_malloc(m, chunk * sizeof(float));
    float *colx = dsbi_malloc(n, sizeof(float)), *coly = dsbi_malloc(m, sizeof(float));
    if (!U || !px || !py || !colx || !coly) {
        st = DSBI_STATUS_ERR_NOMEM;
        goto out;
    }
    dsbi_rng rng;
    dsbi_rng_init(&rng, seed, 0x5157);
    double sum = 0, mx = 0;
    for (size_t l0 = 0; l0 < n_dirs; l0 += chunk) {
        size_t L = n_dirs - l0 < chunk ? n_dirs - l0 : chunk;
        for (size_t l = 0; l < L; l++) {
            double nrm = 0;
            do {
                nrm = 0;
                for (size_t j = 0; j < d; j++) {
                    double v = dsbi_rng_normal(&rng);
                    U[l * d + j] = (float)v;
                    nrm += v * v;
                }
            } while (!(nrm > 1e-20));
            for (size_t j = 0; j < d; j++) U[l * d + j] = (float)(U[l * d + j] / sqrt(nrm));
        }
        dsbi_sgemm(0, 1, n, L, d, 1.0f, x, d, U, d, 0.0f, px, L); /* n x L projections */
        dsbi_sgemm(0, 1, m, L, d, 1.0f, y, d, U, d, 0.0f, py, L);
        for (size_t l = 0; l < L; l++) {
            for (size_t i = 0; i < n; i++) colx[i] = px[i * L + l];
            for (size_t i = 0; i < m; i++) coly[i] = py[i * L + l];
            qsort(colx, n, sizeof *colx, cmp_float);
            qsort(coly, m, sizeof *coly, cmp_float);
            double w = w2sq_sorted(colx, n, coly, m);
            sum += w;
            if (w > mx) mx = w;
        }
    }
    if (sliced) *sliced = sqrt(sum / (double)n_dirs);
    if (max_sliced) *max_sliced = sqrt(mx);
out:
    free(U);
    free(px);
    free(py);
    free(colx);
    free(coly);
    return st;
}
