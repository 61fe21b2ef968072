/*
 * Calibration diagnostics of an amortized posterior over a test set: SBC ranks
 * (Talts et al. 2018) with the simultaneous ECDF band of Säilynoja, Bürkner &
 * Vehtari 2022 (their simulation method: the alpha quantile of gamma = min_k
 * two-sided binomial tail of the ECDF count, over seeded uniform rank sets),
 * the log-gamma statistic of Modrák et al. 2023 (log gamma - log gamma_crit),
 * expected coverage of central intervals computed from the ranks with each
 * rank's mass spread over its bin (randomised PIT averaged analytically, so an
 * exact posterior has expected coverage exactly the level for any L), TARP
 * (Lemos et al. 2023, cDiff's normalisation), z-scores, contraction, NRMSE.
 */
#include "internal.h"
#include <math.h>
#include <string.h>

dsbi_calibration_config dsbi_calibration_config_default(void) {
    return (dsbi_calibration_config){.n_levels = 99, .n_points = 0, .band_alpha = 0.05,
                                     .band_sims = 2000, .tarp_points = 101, .seed = 5};
}

const char *dsbi_verdict_name(dsbi_verdict v) {
    switch (v) {
    case DSBI_VERDICT_CALIBRATED: return "well calibrated";
    case DSBI_VERDICT_OVERCONFIDENT: return "over-confident";
    case DSBI_VERDICT_UNDERCONFIDENT: return "under-confident";
    case DSBI_VERDICT_BIASED: return "biased";
    }
    return "unknown";
}

static int check_args(const char *what, const float *truth, const float *draws, size_t n, size_t L,
                      size_t d) {
    if (!truth || !draws) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: NULL array", what);
    if (n == 0 || L == 0 || d == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: empty test set (n = %zu, L = %zu, d = %zu)",
                         what, n, L, d);
    if (L > UINT32_MAX - 1 || n > DSBI_MAX_ALLOC / L || n * L > DSBI_MAX_ALLOC / d)
        return dsbi_fail(DSBI_STATUS_ERR_NOMEM, "%s: test set too large", what);
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(truth[i]))
            return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: true parameter %zu of test set %zu is "
                             "not finite", what, i % d + 1, i / d + 1);
    for (size_t i = 0; i < n * L * d; i++)
        if (!isfinite(draws[i]))
            return dsbi_fail(DSBI_STATUS_ERR_NUMERIC, "%s: posterior draw %zu of test set %zu is "
                             "not finite", what, i / d % L + 1, i / (L * d) + 1);
    return DSBI_STATUS_OK;
}

/* ---------------------------------------------------------------- SBC ranks */

int dsbi_sbc_ranks(const float *truth, const float *draws, size_t n, size_t L, size_t d,
                   uint32_t *ranks) {
    int st = check_args("sbc_ranks", truth, draws, n, L, d);
    if (st) return st;
    if (!ranks) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "sbc_ranks: ranks is NULL");
    for (size_t i = 0; i < n; i++) {
        const float *blk = draws + i * L * d;
        for (size_t j = 0; j < d; j++) {
            float t = truth[i * d + j];
            size_t below = 0, tie = 0;
            for (size_t l = 0; l < L; l++) {
                float v = blk[l * d + j];
                below += v < t;
                tie += v == t;
            }
            ranks[i * d + j] = (uint32_t)(below + tie / 2);
        }
    }
    return DSBI_STATUS_OK;
}

/* ---------------------------------------------------------------- binomial tails and the band */

/* Binomial(n, p) lower and upper tails over a window [c0, c1] of counts
 * that holds all but ~1e-25 of the mass: low[c - c0] = P(X <= c),
 * up[c - c0] = P(X >= c), each summed from its own tail for accuracy. */
typedef struct binom_tab {
    size_t c0, c1;
    double *low, *up;
} binom_tab;

static int binom_tab_init(binom_tab *b, size_t n, double p, double *buf) {
    double mu = (double)n * p, sd = sqrt((double)n * p * (1.0 - p));
    double a = floor(mu - 11.0 * sd - 5.0), z = ceil(mu + 11.0 * sd + 5.0);
    b->c0 = a < 0 ? 0 : (size_t)a;
    b->c1 = z > (double)n ? n : (size_t)z;
    size_t m = b->c1 - b->c0 + 1;
    b->low = buf;
    b->up = buf + m;
    double lp = log(p), lq = log1p(-p), lnf = lgamma((double)n + 1.0);
    for (size_t k = 0; k < m; k++) {
        double c = (double)(b->c0 + k);
        b->low[k] = exp(lnf - lgamma(c + 1.0) - lgamma((double)n - c + 1.0) + c * lp +
                        ((double)n - c) * lq); /* pmf for now */
    }
    double s = 0.0;
    for (size_t k = m; k-- > 0;) s += b->low[k], b->up[k] = s;
    s = 0.0;
    for (size_t k = 0; k < m; k++) s += b->low[k], b->low[k] = s;
    return 0;
}

static size_t binom_tab_len(size_t n, double p) {
    double sd = sqrt((double)n * p * (1.0 - p));
    return 2 * ((size_t)(22.0 * sd) + 14) + 4;
}

/* Two-sided tail probability of count c: 2 min(P(X <= c), P(X >= c)), capped at 1. */
static double binom_two_sided(const binom_tab *b, size_t c) {
    double lo = c < b->c0 ? 1e-300 : c > b->c1 ? 1.0 : b->low[c - b->c0];
    double up = c > b->c1 ? 1e-300 : c < b->c0 ? 1.0 : b->up[c - b->c0];
    double g = 2.0 * fmin(lo, up);
    return g > 1.0 ? 1.0 : g < 1e-300 ? 1e-300 : g;
}

/* Smallest c with P(X <= c) >= q. */
static size_t binom_quantile(const binom_tab *b, double q) {
    for (size_t c = b->c0; c <= b->c1; c++)
        if (b->low[c - b->c0] >= q * (1.0 - 1e-12)) return c;
    return b->c1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The ECDF grid: n_points - 1 interior thresholds t_k of ranks in 0..L. */
static size_t ecdf_grid(size_t L, size_t n_points, size_t *t) {
    size_t m = 0;
    for (size_t k = 1; k < n_points; k++) {
        size_t tk = (size_t)llround((double)k * (double)(L + 1) / (double)n_points);
        if (tk >= 1 && tk <= L && (m == 0 || tk > t[m - 1])) t[m++] = tk;
    }
    return m;
}

/* Everything the band and log-gamma need, built once per (n, L, n_points). */
typedef struct band_ctx {
    size_t n, L, m;
    size_t *t;       /* m thresholds */
    binom_tab *tab;  /* m tables */
    double *buf;
    double gamma_crit;
    double gamma_fw; /* the same at level alpha_fw (Bonferroni over parameters) */
} band_ctx;

static void band_free(band_ctx *B) {
    free(B->t);
    free(B->tab);
    free(B->buf);
    memset(B, 0, sizeof *B);
}

/* gamma of one rank set given its per-threshold counts #{r < t_k}. */
static double band_gamma(const band_ctx *B, const size_t *count) {
    double g = 1.0;
    for (size_t k = 0; k < B->m; k++) g = fmin(g, binom_two_sided(&B->tab[k], count[k]));
    return g;
}

/* numpy's default (linear) quantile of sorted g, as BayesFlow uses */
static double quantile_sorted(const double *g, size_t n, double q) {
    double h = q * (double)(n - 1);
    size_t lo = (size_t)floor(h);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return g[lo] + (h - (double)lo) * (g[hi] - g[lo]);
}

static int band_init(band_ctx *B, size_t n, size_t L, size_t n_points, double alpha,
                     double alpha_fw, size_t sims, uint64_t seed) {
    memset(B, 0, sizeof *B);
    B->n = n;
    B->L = L;
    if (n_points < 2) n_points = 2;
    B->t = dsbi_malloc(n_points, sizeof *B->t);
    B->tab = dsbi_malloc(n_points, sizeof *B->tab);
    if (!B->t || !B->tab) goto nomem;
    B->m = ecdf_grid(L, n_points, B->t);
    size_t total = 0;
    for (size_t k = 0; k < B->m; k++) total += binom_tab_len(n, (double)B->t[k] / (double)(L + 1));
    B->buf = dsbi_malloc(total ? total : 1, sizeof *B->buf);
    if (!B->buf) goto nomem;
    double *p = B->buf;
    for (size_t k = 0; k < B->m; k++) {
        double pk = (double)B->t[k] / (double)(L + 1);
        binom_tab_init(&B->tab[k], n, pk, p);
        p += 2 * (B->tab[k].c1 - B->tab[k].c0 + 1);
    }
    /* null distribution of gamma: uniform rank sets */
    double *g = dsbi_malloc(sims, sizeof *g); /* sims >= 1: checked by the callers */
    size_t *hist = dsbi_calloc(L + 2, sizeof *hist), *count = dsbi_malloc(B->m + 1, sizeof *count);
    if (!g || !hist || !count) {
        free(g), free(hist), free(count);
        goto nomem;
    }
    dsbi_rng rng;
    dsbi_rng_init(&rng, seed, 0x5bcba0d1ULL);
    for (size_t s = 0; s < sims; s++) {
        memset(hist, 0, (L + 2) * sizeof *hist);
        for (size_t i = 0; i < n; i++) {
            size_t r = (size_t)(dsbi_rng_uniform(&rng) * (double)(L + 1));
            hist[r > L ? L : r]++;
        }
        size_t cum = 0, r = 0;
        for (size_t k = 0; k < B->m; k++) {
            for (; r < B->t[k]; r++) cum += hist[r];
            count[k] = cum;
        }
        g[s] = band_gamma(B, count);
    }
    qsort(g, sims, sizeof *g, cmp_double);
    B->gamma_crit = quantile_sorted(g, sims, alpha);
    B->gamma_fw = quantile_sorted(g, sims, alpha_fw);
    free(g), free(hist), free(count);
    return DSBI_STATUS_OK;
nomem:
    band_free(B);
    return DSBI_STATUS_ERR_NOMEM;
}

static void band_limits(const band_ctx *B, double *p, double *lo, double *hi) {
    for (size_t k = 0; k < B->m; k++) {
        if (p) p[k] = (double)B->t[k] / (double)(B->L + 1);
        if (lo) lo[k] = (double)binom_quantile(&B->tab[k], B->gamma_crit / 2) / (double)B->n;
        if (hi) hi[k] = (double)binom_quantile(&B->tab[k], 1.0 - B->gamma_crit / 2) / (double)B->n;
    }
}

static size_t default_points(size_t L, size_t n_points) {
    return n_points ? n_points : L + 1 < 100 ? L + 1 : 100;
}

int dsbi_sbc_band(size_t n, size_t L, size_t n_points, double alpha, size_t n_sims,
                  uint64_t seed, double *p, double *lo, double *hi, double *gamma_crit) {
    if (n == 0 || L == 0 || !(alpha > 0.0 && alpha < 1.0) || n_sims == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "sbc_band: need n, L, n_sims > 0 and alpha in (0, 1) (n = %zu, L = %zu, "
                         "alpha = %g, n_sims = %zu)", n, L, alpha, n_sims);
    band_ctx B;
    int st = band_init(&B, n, L, default_points(L, n_points), alpha, alpha, n_sims, seed);
    if (st) return st;
    band_limits(&B, p, lo, hi);
    if (gamma_crit) *gamma_crit = B.gamma_crit;
    band_free(&B);
    return DSBI_STATUS_OK;
}

/* ---------------------------------------------------------------- TARP */

int dsbi_tarp(const float *truth, const float *draws, size_t n, size_t L, size_t d,
              uint64_t seed, size_t n_alpha, double *alpha, double *ecp, double *area) {
    int st = check_args("tarp", truth, draws, n, L, d);
    if (st) return st;
    if (n_alpha < 2 || !alpha || !ecp)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tarp: need n_alpha >= 2 and output arrays");
    double *lo = dsbi_malloc(2 * d, sizeof *lo);
    double *f = dsbi_malloc(n, sizeof *f);
    if (!lo || !f) {
        free(lo), free(f);
        return DSBI_STATUS_ERR_NOMEM;
    }
    double *scale = lo + d;
    for (size_t j = 0; j < d; j++) {
        double a = INFINITY, b = -INFINITY;
        for (size_t i = 0; i < n; i++) a = fmin(a, truth[i * d + j]), b = fmax(b, truth[i * d + j]);
        lo[j] = a;
        scale[j] = b > a ? 1.0 / (b - a) : 1.0;
    }
    dsbi_rng rng;
    dsbi_rng_init(&rng, seed, 0x7a59ULL);
    for (size_t i = 0; i < n; i++) {
        /* r_i drawn for every simulation in order, so f_i does not depend on L */
        double r[64], *rv = d <= 64 ? r : NULL;
        double *heap = rv ? NULL : dsbi_malloc(d, sizeof *heap);
        if (!rv && !heap) {
            free(lo), free(f);
            return DSBI_STATUS_ERR_NOMEM;
        }
        if (!rv) rv = heap;
        for (size_t j = 0; j < d; j++) rv[j] = dsbi_rng_uniform(&rng);
        double dt = 0.0;
        for (size_t j = 0; j < d; j++) {
            double u = (truth[i * d + j] - lo[j]) * scale[j] - rv[j];
            dt += u * u;
        }
        size_t closer = 0;
        const float *blk = draws + i * L * d;
        for (size_t l = 0; l < L; l++) {
            double ds = 0.0;
            for (size_t j = 0; j < d; j++) {
                double u = (blk[l * d + j] - lo[j]) * scale[j] - rv[j];
                ds += u * u;
            }
            closer += ds < dt;
        }
        f[i] = (double)closer;
        free(heap);
    }
    double acc = 0.0;
    for (size_t k = 0; k < n_alpha; k++) {
        double a = (double)k / (double)(n_alpha - 1), s = 0.0;
        for (size_t i = 0; i < n; i++) s += fmin(1.0, fmax(0.0, a * (double)(L + 1) - f[i]));
        alpha[k] = a;
        ecp[k] = s / (double)n;
        if (k) {
            double e0 = fabs(ecp[k - 1] - alpha[k - 1]), e1 = fabs(ecp[k] - a);
            acc += 0.5 * (e0 + e1) * (a - alpha[k - 1]);
        }
    }
    if (area) *area = acc;
    free(lo);
    free(f);
    return DSBI_STATUS_OK;
}

/* ---------------------------------------------------------------- everything */

void dsbi_calibration_free(dsbi_calibration *c) {
    if (!c) return;
    free(c->param);
    free(c->ranks);
    free(c->post_mean);
    free(c->post_sd);
    free(c->z_score);
    free(c->contraction);
    free(c->ecdf_p);
    free(c->band_lo);
    free(c->band_hi);
    free(c->ecdf);
    free(c->levels);
    free(c->coverage);
    free(c->coverage_lo);
    free(c->coverage_hi);
    free(c->tarp_alpha);
    free(c->tarp_ecp);
    memset(c, 0, sizeof *c);
}

static double median_inplace(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* fw_outside: the ECDF leaves the band at the family-wise level band_alpha/d */
static void decide(dsbi_param_calibration *p, int fw_outside) {
    double mc = p->mc_se;
    double t_shift = fmax(3.0 * mc, 0.1), t_cov = fmax(3.0 * mc, 0.02);
    p->direction = 0;
    if (fabs(p->rank_shift) > t_shift) {
        p->verdict = DSBI_VERDICT_BIASED;
    } else if (p->coverage_bias < -t_cov) {
        p->verdict = DSBI_VERDICT_OVERCONFIDENT;
    } else if (p->coverage_bias > t_cov) {
        p->verdict = DSBI_VERDICT_UNDERCONFIDENT;
    } else if (fw_outside) {
        if (fabs(p->rank_shift) > fabs(p->coverage_bias))
            p->verdict = DSBI_VERDICT_BIASED;
        else
            p->verdict = p->coverage_bias < 0 ? DSBI_VERDICT_OVERCONFIDENT
                                              : DSBI_VERDICT_UNDERCONFIDENT;
    } else {
        p->verdict = DSBI_VERDICT_CALIBRATED;
    }
    /* truths ranked low = draws mostly above the truth = posterior too high */
    if (p->verdict == DSBI_VERDICT_BIASED) p->direction = p->rank_shift < 0 ? 1 : -1;
}

int dsbi_calibrate(const float *truth, const float *draws, size_t n, size_t L, size_t d,
                   const dsbi_calibration_config *cfg, dsbi_calibration *out) {
    if (!out) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "calibrate: out is NULL");
    memset(out, 0, sizeof *out);
    int st = check_args("calibrate", truth, draws, n, L, d);
    if (st) return st;
    if (n < 2 || L < 2)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "calibrate: need at least 2 test simulations and 2 draws each "
                         "(n = %zu, L = %zu)", n, L);
    dsbi_calibration_config c = cfg ? *cfg : dsbi_calibration_config_default();
    if (c.n_levels == 0 || c.tarp_points < 2 || c.band_sims == 0 ||
        !(c.band_alpha > 0.0 && c.band_alpha < 1.0))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "calibrate: bad config (n_levels = %zu, tarp_points = %zu, band_sims = "
                         "%zu, band_alpha = %g)", c.n_levels, c.tarp_points, c.band_sims,
                         c.band_alpha);

    band_ctx B;
    st = band_init(&B, n, L, default_points(L, c.n_points), c.band_alpha,
                   c.band_alpha / (double)d, c.band_sims, c.seed);
    if (st) return st;
    out->n = n, out->L = L, out->d = d;
    out->n_ecdf = B.m;
    out->n_levels = c.n_levels;
    out->n_tarp = c.tarp_points;
    out->gamma_crit = B.gamma_crit;
    out->band_alpha = c.band_alpha;
    out->param = dsbi_calloc(d, sizeof *out->param);
    out->ranks = dsbi_malloc(n * d, sizeof *out->ranks);
    out->post_mean = dsbi_malloc(n * d, sizeof(double));
    out->post_sd = dsbi_malloc(n * d, sizeof(double));
    out->z_score = dsbi_malloc(n * d, sizeof(double));
    out->contraction = dsbi_malloc(n * d, sizeof(double));
    out->ecdf_p = dsbi_malloc(B.m + 1, sizeof(double));
    out->band_lo = dsbi_malloc(B.m + 1, sizeof(double));
    out->band_hi = dsbi_malloc(B.m + 1, sizeof(double));
    out->ecdf = dsbi_malloc((B.m + 1) * d, sizeof(double));
    out->levels = dsbi_malloc(c.n_levels, sizeof(double));
    out->coverage = dsbi_malloc(c.n_levels * d, sizeof(double));
    out->coverage_lo = dsbi_malloc(c.n_levels, sizeof(double));
    out->coverage_hi = dsbi_malloc(c.n_levels, sizeof(double));
    out->tarp_alpha = dsbi_malloc(c.tarp_points, sizeof(double));
    out->tarp_ecp = dsbi_malloc(c.tarp_points, sizeof(double));
    double *work = dsbi_malloc(c.n_levels + n + 1, sizeof *work);
    size_t *count = dsbi_malloc(B.m + 1, sizeof *count);
    if (!out->param || !out->ranks || !out->post_mean || !out->post_sd || !out->z_score ||
        !out->contraction || !out->ecdf_p || !out->band_lo || !out->band_hi || !out->ecdf ||
        !out->levels || !out->coverage || !out->coverage_lo || !out->coverage_hi ||
        !out->tarp_alpha || !out->tarp_ecp || !work || !count) {
        st = DSBI_STATUS_ERR_NOMEM;
        goto done;
    }
    band_limits(&B, out->ecdf_p, out->band_lo, out->band_hi);
    dsbi_sbc_ranks(truth, draws, n, L, d, out->ranks); /* arguments checked above */

    /* posterior moments, z-scores; prior moments from the test thetas */
    for (size_t i = 0; i < n; i++) {
        const float *blk = draws + i * L * d;
        for (size_t j = 0; j < d; j++) {
            double s = 0.0, s2 = 0.0;
            for (size_t l = 0; l < L; l++) s += blk[l * d + j];
            double m = s / (double)L;
            for (size_t l = 0; l < L; l++) s2 += (blk[l * d + j] - m) * (blk[l * d + j] - m);
            double sd = sqrt(s2 / (double)(L - 1));
            out->post_mean[i * d + j] = m;
            out->post_sd[i * d + j] = sd;
            out->z_score[i * d + j] = sd > 0 ? (m - truth[i * d + j]) / sd : NAN;
        }
    }
    const double Lp = (double)(L + 1);
    for (size_t k = 0; k < c.n_levels; k++) {
        double a = (double)(k + 1) / (double)(c.n_levels + 1);
        double se = sqrt(a * (1.0 - a) / (double)n);
        out->levels[k] = a;
        out->coverage_lo[k] = fmax(0.0, a - 1.959964 * se);
        out->coverage_hi[k] = fmin(1.0, a + 1.959964 * se);
    }
    for (size_t j = 0; j < d; j++) {
        dsbi_param_calibration *P = &out->param[j];
        /* prior moments */
        double s = 0.0, s2 = 0.0;
        for (size_t i = 0; i < n; i++) s += truth[i * d + j];
        double mt = s / (double)n;
        for (size_t i = 0; i < n; i++) s2 += (truth[i * d + j] - mt) * (truth[i * d + j] - mt);
        double var_prior = s2 / (double)(n - 1), sd_prior = sqrt(var_prior);
        /* moments of the posterior summaries */
        double se2 = 0.0, sm = 0.0, smm = 0.0, smt = 0.0, zs = 0.0, zs2 = 0.0, cs = 0.0;
        size_t zn = 0;
        for (size_t i = 0; i < n; i++) {
            double m = out->post_mean[i * d + j], t = truth[i * d + j];
            double sd = out->post_sd[i * d + j];
            se2 += (m - t) * (m - t);
            sm += m;
            double con = var_prior > 0 ? 1.0 - sd * sd / var_prior : NAN;
            out->contraction[i * d + j] = con;
            cs += con;
            double z = out->z_score[i * d + j];
            if (isfinite(z)) zs += z, zs2 += z * z, zn++;
        }
        double mm = sm / (double)n;
        for (size_t i = 0; i < n; i++) {
            double m = out->post_mean[i * d + j] - mm, t = truth[i * d + j] - mt;
            smm += m * m;
            smt += m * t;
        }
        P->rmse = sqrt(se2 / (double)n);
        P->nrmse = sd_prior > 0 ? P->rmse / sd_prior : NAN;
        P->correlation = smm > 0 && s2 > 0 ? smt / sqrt(smm * s2) : NAN;
        P->contraction = cs / (double)n;
        P->z_mean = zn ? zs / (double)zn : NAN;
        P->z_sd = zn > 1 ? sqrt(fmax(0.0, (zs2 - zs * zs / (double)zn) / (double)(zn - 1))) : NAN;

        /* ranks: shift, ECDF, gamma, coverage */
        double us = 0.0;
        for (size_t i = 0; i < n; i++) us += ((double)out->ranks[i * d + j] + 0.5) / Lp;
        P->rank_shift = us / (double)n - 0.5;
        P->mc_se = 1.0 / sqrt(12.0 * (double)n);
        for (size_t k = 0; k < B.m; k++) count[k] = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t r = out->ranks[i * d + j];
            for (size_t k = 0; k < B.m; k++) count[k] += r < B.t[k];
        }
        P->ecdf_max_diff = 0.0;
        P->sbc_outside = 0;
        for (size_t k = 0; k < B.m; k++) {
            double e = (double)count[k] / (double)n;
            out->ecdf[k * d + j] = e;
            P->ecdf_max_diff = fmax(P->ecdf_max_diff, fabs(e - out->ecdf_p[k]));
            if (e < out->band_lo[k] - 1e-12 || e > out->band_hi[k] + 1e-12) P->sbc_outside = 1;
        }
        double gamma = band_gamma(&B, count);
        P->log_gamma = log(gamma) - log(B.gamma_crit);
        /* covered at level a: the rank's bin [r, r+1) overlaps the central
         * stretch [(1-a)/2, (1+a)/2] (L+1); the overlap is the probability */
        double bias = 0.0;
        for (size_t k = 0; k < c.n_levels; k++) {
            double a = out->levels[k];
            double lo = 0.5 * (1.0 - a) * Lp, hi = 0.5 * (1.0 + a) * Lp, cov = 0.0;
            for (size_t i = 0; i < n; i++) {
                double r = (double)out->ranks[i * d + j];
                cov += fmax(0.0, fmin(r + 1.0, hi) - fmax(r, lo));
            }
            cov /= (double)n;
            out->coverage[k * d + j] = cov;
            work[k] = fabs(cov - a);
            bias += cov - a;
        }
        P->coverage_bias = bias / (double)c.n_levels;
        P->coverage_error = median_inplace(work, c.n_levels);
        decide(P, gamma < B.gamma_fw);
    }

    st = dsbi_tarp(truth, draws, n, L, d, c.seed, c.tarp_points, out->tarp_alpha, out->tarp_ecp,
                   &out->tarp_area);
    if (st) goto done;
    double sgn = 0.0;
    for (size_t k = 1; k < c.tarp_points; k++)
        sgn += 0.5 * (out->tarp_ecp[k] - out->tarp_alpha[k] + out->tarp_ecp[k - 1] -
                      out->tarp_alpha[k - 1]) * (out->tarp_alpha[k] - out->tarp_alpha[k - 1]);
    out->tarp_signed = sgn;
    out->tarp_mc = 0.313 / sqrt((double)n);

done:
    free(work);
    free(count);
    band_free(&B);
    if (st) dsbi_calibration_free(out);
    return st;
}
