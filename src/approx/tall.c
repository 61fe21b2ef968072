/*
 * Tall data: posterior draws for n i.i.d. observations from a model trained on
 * single observations (ALGORITHMS.md 1.2-1.7, 1.13), or groups of them from a
 * model trained on sets (PF-NPSE, 1.8). Runs in the model's
 * standardized space, where the user's normal or box prior stays a normal or
 * a box. GAUSS and JAC feed the composed score (COMP) to the model's samplers
 * through a dsbi_field whose denoiser returns the Tweedie mean
 * x_hat = (z + sigma^2 s)/alpha; FNPSE runs annealed Langevin on the plain sum
 * (1.7). Observations are streamed: per draw one Lambda (D x D) and, for JAC,
 * one Jacobian (D x D, D backward passes through the tape) at a time.
 */
#include "approx/model.h"
#include "sample/compose.h"
#include "sample/guide.h"
#include "sample/prior_score.h"
#include "sample/sampler.h"
#include <math.h>
#include <omp.h>
#include <string.h>

/* as in model.c (not exported there) */
void openblas_set_num_threads(int num_threads);

#define TALL_CHUNK 512
#define RNG_STREAM_TALL 3000
#define CHUNK_BYTES ((size_t)64 << 20) /* per-chunk matrices: at most ~64 MB */

dsbi_tall_config dsbi_tall_config_default(void) {
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.eta = 0.5f;
    return (dsbi_tall_config){
        .method = DSBI_TALL_GAUSS,
        .prior = DSBI_PRIOR_NORMAL,
        .prior_a = NULL,
        .prior_b = NULL,
        .sample = sc,
        .cov_draws = 1000,
        .cov_steps = 100,
        .cov_eta = 0.5f,
        .langevin_steps = 5,
        .langevin_tau = 0.5f,
        .clip = 0.0f,
        .info = NULL,
        .guide = NULL,
        .n_guide = 0,
    };
}

/* ---------------------------------------------------------------- the composed field */

/* Where the n_obs composed conditions come from: rows of x (x_obs, n_obs x
 * K), or for a set model (PF-NPSE) groups of members, group j being the
 * count[j] members from first[j] on (F values each). */
typedef struct tall_src {
    const float *x_obs;
    const float *members;
    const size_t *first, *count;
} tall_src;

/* Shared, read-only during sampling. */
typedef struct tall_shared {
    const dsbi_model *m;
    const dsbi_tall_config *cfg;
    size_t n_obs;
    const float *xs;        /* n_obs x dm.K conditions: standardized x rows, or the
                               summaries of the groups of a set model */
    dsbi_dprior prior;      /* standardized */
    const double *cinv;     /* GAUSS: n_obs x D x D inverse covariances (standardized) */
    const double *cinv_sum; /* GAUSS: their sum (D x D) */
} tall_shared;

/* One per thread. */
typedef struct tall_ctx {
    const tall_shared *sh;
    dsbi_diff_ws ws;
    size_t cap;
    float *xh;                 /* cap x D */
    double *lam, *rhs, *fsum;  /* cap x D x D, cap x D, cap x D */
    double *score;             /* cap x D: individual score of one observation */
    double *jac;               /* JAC: cap x D x D */
    double *P, *work, *sp;     /* D x D, D x D + 2 D + prior work, D */
    unsigned char *bad;        /* cap: a JAC kernel was not positive definite */
    size_t n_solves, n_fallback;
} tall_ctx;

static void tall_ctx_free(tall_ctx *c) {
    dsbi_diff_ws_free(&c->ws);
    free(c->xh);
    free(c->lam);
    free(c->jac);
    free(c->bad);
}

static int tall_ctx_init(tall_ctx *c, const tall_shared *sh, size_t cap) {
    const size_t D = sh->m->D;
    memset(c, 0, sizeof *c);
    c->sh = sh;
    c->cap = cap;
    int jac = sh->cfg->method == DSBI_TALL_JAC && sh->n_obs > 1;
    int st = dsbi_diff_ws_create(&c->ws, &sh->m->dm, cap, jac);
    if (st) return st;
    size_t nd = cap * D * D + 3 * cap * D + 3 * D * D + 3 * D + dsbi_dprior_work(&sh->prior);
    c->xh = dsbi_malloc(cap * D, sizeof(float));
    c->lam = dsbi_malloc(nd, sizeof(double));
    c->bad = dsbi_malloc(cap, 1);
    if (jac) c->jac = dsbi_malloc(cap * D, D * sizeof(double));
    if (!c->xh || !c->lam || !c->bad || (jac && !c->jac)) {
        tall_ctx_free(c);
        return DSBI_STATUS_ERR_NOMEM;
    }
    c->rhs = c->lam + cap * D * D;
    c->fsum = c->rhs + cap * D;
    c->score = c->fsum + cap * D;
    c->P = c->score + cap * D;
    c->sp = c->P + D * D;
    c->work = c->sp + D;
    return DSBI_STATUS_OK;
}

/* Jacobian d score / d z of the network for the B rows of the last forward
 * pass: x_hat = A z + C out(c_in z), s = (alpha x_hat - z)/sigma^2, so
 * J = (alpha A - 1)/sigma^2 I + (alpha C c_in / sigma^2) d out/d zin, with
 * row k of d out/d zin from one backward pass seeded with e_k. */
static void network_jacobian(tall_ctx *c, double t, size_t B) {
    const dsbi_model *m = c->sh->m;
    const dsbi_diffusion *dm = &m->dm;
    const size_t D = m->D;
    double lam = dsbi_sched_lambda(&dm->sched, t), alpha, sigma, A, C;
    dsbi_sched_alpha_sigma(&dm->sched, lam, &alpha, &sigma);
    dsbi_pred_coef(&dm->sched, dm->pred, lam, &A, &C);
    double c_in = dsbi_sched_c_in(&dm->sched, lam), v = sigma * sigma;
    double diag = (alpha * A - 1.0) / v, k_out = alpha * C * c_in / v;
    for (size_t k = 0; k < D; k++) {
        dsbi_net_zero_dact(&dm->net, &c->ws.ws, B);
        float *dout = dsbi_ws_dact(&c->ws.ws, &dm->net, dm->out, B);
        for (size_t i = 0; i < B; i++) dout[i * D + k] = 1.0f;
        dsbi_net_backward(&dm->net, m->params, NULL, &c->ws.ws, B);
        const float *dz = dsbi_ws_dact(&c->ws.ws, &dm->net, dm->in_z, B);
        for (size_t i = 0; i < B; i++) {
            double *J = c->jac + i * D * D + k * D;
            for (size_t l = 0; l < D; l++) J[l] = k_out * dz[i * D + l] + (l == k ? diag : 0.0);
        }
    }
}

/* score of observation j for the B states z (network forward; x_hat kept in c->xh) */
static void obs_score(tall_ctx *c, size_t j, const float *z, double t, size_t B, double alpha,
                      double sigma) {
    const dsbi_model *m = c->sh->m;
    const size_t D = m->D;
    dsbi_diffusion_set_condition(&m->dm, &c->ws, c->sh->xs + j * m->dm.K, B);
    dsbi_diffusion_denoise(&m->dm, m->params, &c->ws, z, t, B, c->xh);
    double iv = 1.0 / (sigma * sigma);
    for (size_t i = 0; i < B * D; i++) c->score[i] = (alpha * c->xh[i] - z[i]) * iv;
}

/* The composed score of the tall posterior at (z, t) for B states, into c->score. */
static void composed_score(tall_ctx *c, const float *z, double t, size_t B) {
    const tall_shared *sh = c->sh;
    const dsbi_model *m = sh->m;
    const size_t D = m->D, n = sh->n_obs;
    double alpha, sigma;
    dsbi_sched_alpha_sigma(&m->dm.sched, dsbi_sched_lambda(&m->dm.sched, t), &alpha, &sigma);
    if (n == 1) { /* every method reduces to the single-observation score */
        obs_score(c, 0, z, t, B, alpha, sigma);
        return;
    }
    const double k = alpha * alpha / (sigma * sigma), w_prior = 1.0 - (double)n;
    /* JAC at high noise: I + v J is a cancellation of O(1) terms down to about
       alpha^2 C (1e-4 at the EDM start), far below the network's Jacobian
       error; kernels turn indefinite or absurdly precise and one bad step
       throws the draw away. As the reference code does for box priors (1.3),
       use the F-NPSE sum there: sqrt(abar) <= 0.5, abar = alpha^2/(alpha^2 + sigma^2). */
    int method = sh->cfg->method;
    if (method == DSBI_TALL_JAC && alpha * alpha / (alpha * alpha + sigma * sigma) <= 0.25)
        method = DSBI_TALL_FNPSE;
    memset(c->lam, 0, B * D * D * sizeof(double));
    memset(c->rhs, 0, B * D * sizeof(double));
    memset(c->fsum, 0, B * D * sizeof(double));
    memset(c->bad, 0, B);
    for (size_t j = 0; j < n; j++) {
        obs_score(c, j, z, t, B, alpha, sigma);
        if (method == DSBI_TALL_JAC) network_jacobian(c, t, B);
        for (size_t i = 0; i < B; i++) {
            dsbi_comp acc = {D, c->lam + i * D * D, c->rhs + i * D, c->fsum + i * D};
            const double *s = c->score + i * D;
            if (method == DSBI_TALL_FNPSE) {
                dsbi_comp_add(&acc, 1.0, NULL, s);
            } else if (method == DSBI_TALL_GAUSS) {
                /* P_j = C_j^{-1} + k I: the shared sum of C_j^{-1} enters Lambda at the solve */
                const double *Ci = sh->cinv + j * D * D;
                for (size_t a = 0; a < D; a++) {
                    double r = k * s[a];
                    for (size_t b = 0; b < D; b++) r += Ci[a * D + b] * s[b];
                    acc.rhs[a] += r;
                    acc.fsum[a] += s[a];
                }
            } else {
                if (c->bad[i]) continue;
                if (dsbi_jac_precision(c->jac + i * D * D, alpha, sigma, D, c->P, c->work)) {
                    c->bad[i] = 1;
                    continue;
                }
                dsbi_comp_add(&acc, 1.0, c->P, s);
            }
        }
    }
    /* prior term and the solve, per state */
    for (size_t i = 0; i < B; i++) {
        dsbi_comp acc = {D, c->lam + i * D * D, c->rhs + i * D, c->fsum + i * D};
        double *zi = c->work + D * D + D; /* D doubles past the JAC scratch */
        for (size_t d = 0; d < D; d++) zi[d] = z[i * D + d];
        dsbi_dprior_eval(&sh->prior, alpha, sigma, zi, c->sp, method == DSBI_TALL_FNPSE ? NULL : c->P,
                         c->work + D * D + 2 * D);
        double *out = c->score + i * D;
        if (method == DSBI_TALL_FNPSE) {
            dsbi_comp_add(&acc, w_prior, NULL, c->sp);
            memcpy(out, acc.fsum, D * sizeof(double));
            continue;
        }
        if (method == DSBI_TALL_GAUSS) {
            for (size_t a = 0; a < D * D; a++) acc.lam[a] += sh->cinv_sum[a];
            for (size_t a = 0; a < D; a++) acc.lam[a * D + a] += (double)n * k;
        }
        dsbi_comp_add(&acc, w_prior, c->P, c->sp);
        c->n_solves++;
        if (c->bad[i]) { /* a JAC kernel covariance was not positive definite */
            memcpy(out, acc.fsum, D * sizeof(double));
            c->n_fallback++;
        } else {
            c->n_fallback += (size_t)dsbi_comp_solve(&acc, out);
        }
    }
}

/* dsbi_field callback: Tweedie mean of the composed score, then the optional
 * clip and constraint guidance */
static void tall_denoise(void *ctx, const float *z, double t, size_t B, float *xhat) {
    tall_ctx *c = ctx;
    const dsbi_model *m = c->sh->m;
    const size_t D = m->D;
    composed_score(c, z, t, B);
    double alpha, sigma;
    dsbi_sched_alpha_sigma(&m->dm.sched, dsbi_sched_lambda(&m->dm.sched, t), &alpha, &sigma);
    double v = sigma * sigma;
    float clip = c->sh->cfg->clip;
    for (size_t i = 0; i < B * D; i++) {
        float x = (float)((z[i] + v * c->score[i]) / alpha);
        if (clip > 0.0f) x = x < -clip ? -clip : (x > clip ? clip : x);
        xhat[i] = x;
    }
    const dsbi_tall_config *cfg = c->sh->cfg;
    if (cfg->n_guide)
        dsbi_guide_apply(cfg->guide, cfg->n_guide, m->theta_mean, m->theta_std, D, alpha, sigma,
                         xhat, B);
}

/* Annealed Langevin on the F-NPSE score (ALGORITHMS.md 1.7), through the
 * generic driver of compose.c; composed_score already writes into c->score,
 * the buffer the driver hands back. */
static void langevin_score(void *ctx, const float *z, double t, size_t B, double *score) {
    tall_ctx *c = ctx;
    composed_score(c, z, t, B);
    if (score != c->score) memcpy(score, c->score, B * c->sh->m->D * sizeof(double));
}

static void langevin(tall_ctx *c, float *z, size_t B, dsbi_rng *rng) {
    const dsbi_model *m = c->sh->m;
    const dsbi_tall_config *cfg = c->sh->cfg;
    dsbi_annealed_langevin(&m->dm.sched, cfg->sample.steps, cfg->langevin_steps, cfg->langevin_tau,
                           langevin_score, c, z, B, m->D, c->score, rng);
}

/* ---------------------------------------------------------------- GAUSS covariances */

/* C_j^{-1} (standardized) for every observation from cov_draws model draws;
 * a covariance that is not positive definite gets a relative jitter. */
static int estimate_precisions(dsbi_model *m, const tall_src *src, size_t n_obs,
                               const dsbi_tall_config *cfg, double *cinv, double *cinv_sum) {
    const size_t D = m->D, N = cfg->cov_draws;
    float *draws = dsbi_malloc(N * D, sizeof(float));
    double *work = dsbi_malloc(D * D + 2 * D, sizeof(double));
    if (!draws || !work) {
        free(draws);
        free(work);
        return DSBI_STATUS_ERR_NOMEM;
    }
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.sampler = DSBI_SAMPLER_DDIM;
    sc.steps = cfg->cov_steps;
    sc.eta = cfg->cov_eta;
    memset(cinv_sum, 0, D * D * sizeof(double));
    int st = DSBI_STATUS_OK;
    for (size_t j = 0; j < n_obs && !st; j++) {
        sc.seed = cfg->sample.seed * 1000003u + 7919u * (j + 1);
        st = src->members ? dsbi_model_sample_set(m, src->members + src->first[j] * m->cfg.set_features,
                                                  src->count[j], N, &sc, draws, NULL)
                          : dsbi_model_sample(m, src->x_obs + j * m->K, N, &sc, draws, NULL);
        if (st) break;
        double *C = cinv + j * D * D, *mu = work + D * D + D;
        for (size_t a = 0; a < D; a++) {
            double acc = 0.0;
            for (size_t i = 0; i < N; i++) acc += (draws[i * D + a] - m->theta_mean[a]) / m->theta_std[a];
            mu[a] = acc / (double)N;
        }
        for (size_t a = 0; a < D; a++)
            for (size_t b = 0; b <= a; b++) {
                double acc = 0.0;
                for (size_t i = 0; i < N; i++)
                    acc += ((draws[i * D + a] - m->theta_mean[a]) / m->theta_std[a] - mu[a]) *
                           ((draws[i * D + b] - m->theta_mean[b]) / m->theta_std[b] - mu[b]);
                C[a * D + b] = C[b * D + a] = acc / (double)(N - 1);
            }
        double tr = 0.0;
        for (size_t a = 0; a < D; a++) tr += C[a * D + a];
        for (int tries = 0; dsbi_spd_inverse(C, D, work); tries++) {
            /* C was overwritten only on success; re-add a growing jitter */
            if (tries == 6 || !(tr > 0.0) || !isfinite(tr)) {
                st = dsbi_fail(DSBI_STATUS_ERR_NUMERIC,
                               "tall: the posterior covariance of observation %zu is degenerate "
                               "(%zu draws); use more cov draws or another method", j + 1, N);
                break;
            }
            for (size_t a = 0; a < D; a++) C[a * D + a] += pow(10.0, -8 + tries) * tr / (double)D;
        }
        if (!st)
            for (size_t a = 0; a < D * D; a++) cinv_sum[a] += C[a];
    }
    free(draws);
    free(work);
    return st;
}

/* ---------------------------------------------------------------- entry point */

static int check_config(const dsbi_model *m, size_t n_obs, size_t n, const dsbi_tall_config *cfg) {
    const size_t D = m->D;
    if (n_obs == 0 || n == 0) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: need n_obs >= 1 and n >= 1");
    if ((unsigned)cfg->method > DSBI_TALL_PF)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: unknown method %d", (int)cfg->method);
    if ((unsigned)cfg->prior > DSBI_PRIOR_BOX)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: unknown prior kind %d", (int)cfg->prior);
    if (n_obs > 1 && (!cfg->prior_a || !cfg->prior_b))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "tall: the prior is required (normal mean/sd or box lo/hi per parameter)");
    for (size_t d = 0; d < D && cfg->prior_a && cfg->prior_b; d++) {
        double a = cfg->prior_a[d], b = cfg->prior_b[d];
        if (!isfinite(a) || !isfinite(b) || (cfg->prior == DSBI_PRIOR_NORMAL ? !(b > 0.0) : !(a < b)))
            return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                             cfg->prior == DSBI_PRIOR_NORMAL
                                 ? "tall: prior of parameter %zu: need a finite mean and sd > 0"
                                 : "tall: prior of parameter %zu: need finite lo < hi", d + 1);
    }
    const dsbi_sample_config *sc = &cfg->sample;
    if (!dsbi_sampler_lookup(sc->sampler))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: unknown sampler %d", (int)sc->sampler);
    if (sc->steps == 0 || sc->steps > 1000000)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: steps must be 1..1e6 (got %zu)", sc->steps);
    const int fnpse = cfg->method == DSBI_TALL_FNPSE || cfg->method == DSBI_TALL_PF;
    if (sc->stop_time != 0.0f && fnpse)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: fnpse (Langevin) does not take a stop time");
    if (!(sc->stop_time >= 0.0f && sc->stop_time < 1.0f) || !(sc->eta >= 0.0f && sc->eta <= 1.0f))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: need stop time in [0, 1) and eta in [0, 1]");
    if (sc->sampler == DSBI_SAMPLER_EM && m->cfg.schedule == DSBI_SCHEDULE_FLOW)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: the em sampler needs a diffusion schedule");
    if (cfg->method == DSBI_TALL_GAUSS && n_obs > 1 &&
        (cfg->cov_draws < D + 2 || cfg->cov_steps == 0 || !(cfg->cov_eta >= 0.0f && cfg->cov_eta <= 1.0f)))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "tall: gauss needs cov_draws >= dim_theta + 2 (got %zu), cov_steps >= 1 and "
                         "cov_eta in [0, 1]", cfg->cov_draws);
    if (fnpse && (cfg->langevin_steps == 0 || !(cfg->langevin_tau > 0.0f)))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: fnpse needs langevin_steps >= 1 and tau > 0");
    if (m->cfg.schedule == DSBI_SCHEDULE_CONSISTENCY || m->cfg.schedule == DSBI_SCHEDULE_SCM)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "tall: a consistency model maps noise to draws in a few jumps and has no "
                         "score to compose or guide; use a diffusion or flow-matching model");
    if (m->bound_lo) /* prior scores and guides would need the logit/log Jacobians */
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "tall: the model is bounded (trained on transformed parameters); tall-data and "
                         "guided sampling need a model trained without bounds");
    if (fnpse && cfg->n_guide) /* its Langevin path has no guidance */
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: guides are not applied by fnpse; use gauss or jac");
    if (!(cfg->clip >= 0.0f)) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: clip must be >= 0");
    if (cfg->n_guide && !cfg->guide) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: n_guide > 0 without guides");
    return DSBI_STATUS_OK;
}

/* The composition itself, for n_obs conditions xs (n_obs x dm.K, standardized
 * x rows or group summaries) whose draws, for GAUSS, come from src. cfg has
 * been checked; PF arrives here as FNPSE. */
static int tall_run(dsbi_model *m, const tall_src *src, const float *xs, size_t n_obs, size_t n,
                    const dsbi_tall_config *cfg, float *theta, dsbi_sample_stats *stats) {
    const size_t D = m->D;
    double t0 = dsbi_now();
    int st = DSBI_STATUS_OK;
    if (cfg->info) memset(cfg->info, 0, sizeof *cfg->info);
    double *pr = dsbi_malloc(2 * D, sizeof(double));
    int gauss = cfg->method == DSBI_TALL_GAUSS && n_obs > 1;
    double *cinv = gauss ? dsbi_malloc(n_obs * D * D + D * D, sizeof(double)) : NULL;
    if (!pr || (gauss && !cinv)) {
        st = DSBI_STATUS_ERR_NOMEM;
        goto out;
    }
    /* n_obs = 1 never uses the prior (it may be absent): a unit normal stands in */
    dsbi_dprior prior = {.kind = cfg->prior_a ? cfg->prior : DSBI_PRIOR_NORMAL, .D = D};
    for (size_t d = 0; d < D && !cfg->prior_a; d++) pr[d] = 0.0, pr[D + d] = 1.0;
    for (size_t d = 0; d < D && cfg->prior_a; d++) {
        double mu = m->theta_mean[d], sd = m->theta_std[d];
        if (cfg->prior == DSBI_PRIOR_NORMAL) {
            pr[d] = (cfg->prior_a[d] - mu) / sd;
            pr[D + d] = (cfg->prior_b[d] / sd) * (cfg->prior_b[d] / sd);
        } else {
            pr[d] = (cfg->prior_a[d] - mu) / sd;
            pr[D + d] = (cfg->prior_b[d] - mu) / sd;
        }
    }
    if (prior.kind == DSBI_PRIOR_NORMAL) prior.mean = pr, prior.var = pr + D;
    else prior.lo = pr, prior.hi = pr + D;
    if (gauss) {
        double tc = dsbi_now();
        if ((st = estimate_precisions(m, src, n_obs, cfg, cinv, cinv + n_obs * D * D))) goto out;
        dsbi_clear_error();
        if (cfg->info) cfg->info->cov_seconds = dsbi_now() - tc;
    }
    tall_shared sh = {m, cfg, n_obs, xs, prior, cinv, cinv ? cinv + n_obs * D * D : NULL};

    /* chunks: the per-draw matrices of a chunk stay under CHUNK_BYTES */
    size_t per_row = 2 * D * D * sizeof(double) + 1;
    size_t chunk = CHUNK_BYTES / per_row;
    chunk = chunk < 1 ? 1 : (chunk > TALL_CHUNK ? TALL_CHUNK : chunk);
    size_t n_chunks = (n + chunk - 1) / chunk;
    int threads = dsbi_get_threads();
    int par = threads > 1 && n_chunks > 1;
    /* single-threaded BLAS even for one chunk: the JAC backward passes are
       many small products, which multithreaded OpenBLAS slows down 100-fold
       on a busy machine (measured: 15 s instead of 0.06 s) */
    if (threads > 1) openblas_set_num_threads(1);
    size_t nfe_steps = 0, solves = 0, fallback = 0;
    char errbuf[512] = "";
    int status = DSBI_STATUS_OK;
    const int fnpse = cfg->method == DSBI_TALL_FNPSE;
#pragma omp parallel num_threads(par ? threads : 1)
    {
        tall_ctx c;
        size_t cap = n < chunk ? n : chunk, nscr = fnpse ? 0 : dsbi_sampler_scratch(&cfg->sample);
        float *buf = NULL;
        int s1 = tall_ctx_init(&c, &sh, cap);
        if (!s1 && !(buf = dsbi_malloc((nscr + 1) * cap, D * sizeof(float)))) s1 = DSBI_STATUS_ERR_NOMEM;
        if (!s1) {
            dsbi_field field = {&m->dm.sched, D, tall_denoise, &c};
#pragma omp for schedule(dynamic, 1)
            for (size_t ch = 0; ch < n_chunks; ch++) {
                size_t r0 = ch * chunk, B = n - r0 < chunk ? n - r0 : chunk, used = 0;
                dsbi_rng rng;
                dsbi_rng_init(&rng, cfg->sample.seed, RNG_STREAM_TALL + ch);
                float *z = buf + nscr * cap * D;
                dsbi_sampler_init_noise(&m->dm.sched, z, B * D, &rng);
                int s2 = DSBI_STATUS_OK;
                if (fnpse) {
                    langevin(&c, z, B, &rng);
                    used = cfg->sample.steps * cfg->langevin_steps;
                    for (size_t i = 0; i < B * D; i++)
                        if (!isfinite(z[i])) {
                            s2 = dsbi_fail(DSBI_STATUS_ERR_NUMERIC,
                                           "tall: fnpse Langevin diverged (non-finite draw); use more "
                                           "steps or a smaller tau");
                            break;
                        }
                } else {
                    s2 = dsbi_integrate(&field, &cfg->sample, z, B, buf, &rng, &used);
                }
#pragma omp critical
                {
                    if (used > nfe_steps) nfe_steps = used;
                    if (s2 && !status) {
                        status = s2;
                        snprintf(errbuf, sizeof errbuf, "%s", dsbi_last_error());
                    }
                }
                for (size_t i = 0; i < B; i++)
                    for (size_t d = 0; d < D; d++)
                        theta[(r0 + i) * D + d] = z[i * D + d] * m->theta_std[d] + m->theta_mean[d];
            }
        } else {
#pragma omp critical
            if (!status) {
                status = s1;
                snprintf(errbuf, sizeof errbuf, "%s", dsbi_last_error());
            }
        }
#pragma omp critical
        {
            solves += c.n_solves;
            fallback += c.n_fallback;
        }
        free(buf);
        tall_ctx_free(&c);
    }
    if (threads > 1) openblas_set_num_threads(threads);
    st = status;
    if (st) dsbi_fail(st, "%s", errbuf);
    if (cfg->info) {
        cfg->info->n_solves = solves;
        cfg->info->n_fallback = fallback;
    }
    if (stats) {
        stats->nfe = nfe_steps * n_obs;
        stats->seconds = dsbi_now() - t0;
    }
out:
    free(pr);
    free(cinv);
    return st;
}

/* cfg with PF mapped onto the F-NPSE composition it uses */
static dsbi_tall_config run_config(const dsbi_tall_config *cfg) {
    dsbi_tall_config c = *cfg;
    if (c.method == DSBI_TALL_PF) c.method = DSBI_TALL_FNPSE;
    return c;
}

int dsbi_model_sample_tall(dsbi_model *m, const float *x_obs, size_t n_obs, size_t n,
                           const dsbi_tall_config *cfg, float *theta, dsbi_sample_stats *stats) {
    dsbi_clear_error();
    if (!m || !x_obs || !theta) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: NULL argument");
    if (!cfg) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: a config with the prior is required");
    if (m->cfg.summary)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "tall: the model has a summary network: give the observations as members "
                         "of sets (dsbi_model_sample_tall_set; PF-NPSE composes groups of them)");
    if (cfg->method == DSBI_TALL_PF)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "tall: pf (PF-NPSE) composes groups of observations and needs a model with a "
                         "deep-set or set-transformer summary network (train --summary deepset)");
    int st = check_config(m, n_obs, n, cfg);
    if (st) return st;
    const size_t K = m->K;
    float *xs = dsbi_malloc(n_obs * K, sizeof(float));
    if (!xs) return DSBI_STATUS_ERR_NOMEM;
    for (size_t j = 0; j < n_obs; j++)
        for (size_t k = 0; k < K; k++) {
            float v = x_obs[j * K + k];
            if (!isfinite(v)) {
                free(xs);
                return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: observation %zu, value %zu is not finite", j + 1, k + 1);
            }
            xs[j * K + k] = (v - m->x_mean[k]) / m->x_std[k];
        }
    tall_src src = {x_obs, NULL, NULL, NULL};
    dsbi_tall_config rc = run_config(cfg);
    st = tall_run(m, &src, xs, n_obs, n, &rc, theta, stats);
    free(xs);
    return st;
}

/* PF-NPSE (Geffner et al. 2023, ALGORITHMS.md 1.8): a set model trained on
 * sets of up to N members gives the score of a whole group; n members are
 * split into G = ceil(n / group) groups of balanced sizes (sizes differ by
 * at most one, so no group is much smaller than those trained on), and the
 * G group scores are composed like G observations. */
int dsbi_model_sample_tall_set(dsbi_model *m, const float *members, size_t n_members, size_t n,
                               const dsbi_tall_config *cfg, float *theta, dsbi_sample_stats *stats) {
    dsbi_clear_error();
    if (!m || !members || !theta) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: NULL argument");
    if (!cfg) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: a config with the prior is required");
    if (!m->cfg.summary)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "tall: the model has no summary network: give one observation per row "
                         "(dsbi_model_sample_tall)");
    if (m->cfg.summary == DSBI_SUMMARY_TIMESERIES)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "tall: a time-series model's members are ordered steps, not i.i.d. "
                         "observations: they cannot be split into groups");
    if (n_members == 0) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: no members given");
    const size_t N = m->cfg.set_size, F = m->cfg.set_features, S = m->dm.K;
    size_t gs = cfg->group_size ? cfg->group_size : N;
    if (gs > N)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "tall: group size %zu exceeds the %zu members the model was trained on",
                         gs, N);
    for (size_t i = 0; i < n_members * F; i++)
        if (!isfinite(members[i]))
            return dsbi_fail(DSBI_STATUS_ERR_INVALID, "tall: member %zu, value %zu is not finite",
                             i / F + 1, i % F + 1);
    size_t G = (n_members + gs - 1) / gs;
    int st = check_config(m, G, n, cfg);
    if (st) return st;
    size_t *first = dsbi_malloc(2 * G, sizeof(size_t));
    float *xs = dsbi_malloc(G * S, sizeof(float));
    if (!first || !xs) {
        free(first);
        free(xs);
        return DSBI_STATUS_ERR_NOMEM;
    }
    size_t *count = first + G, at = 0;
    for (size_t g = 0; g < G && !st; g++) {
        count[g] = n_members / G + (g < n_members % G);
        first[g] = at;
        at += count[g];
        st = dsbi_model_summary(m, members + first[g] * F, count[g], xs + g * S);
    }
    if (!st) {
        tall_src src = {NULL, members, first, count};
        dsbi_tall_config rc = run_config(cfg);
        st = tall_run(m, &src, xs, G, n, &rc, theta, stats);
        if (!st && cfg->info) cfg->info->n_groups = G;
    }
    free(first);
    free(xs);
    return st;
}

/* ---------------------------------------------------------------- test hook */

/* Network score s (B x D) and Jacobian d s/d z (B x D x D) at (z, t) for one
 * standardized observation x_std: the exact quantities JAC uses, exposed for
 * the finite-difference test (declared there, not in a header). */
int dsbi_tall_network_jacobian(dsbi_model *m, const float *x_std, const float *z, double t, size_t B,
                               double *score, double *jac) {
    const size_t D = m->D;
    dsbi_tall_config cfg = dsbi_tall_config_default();
    cfg.method = DSBI_TALL_JAC;
    tall_shared sh = {m, &cfg, 2, x_std, {.kind = DSBI_PRIOR_NORMAL, .D = D}, NULL, NULL};
    tall_ctx c;
    int st = tall_ctx_init(&c, &sh, B);
    if (st) return st;
    double alpha, sigma;
    dsbi_sched_alpha_sigma(&m->dm.sched, dsbi_sched_lambda(&m->dm.sched, t), &alpha, &sigma);
    obs_score(&c, 0, z, t, B, alpha, sigma);
    network_jacobian(&c, t, B);
    memcpy(score, c.score, B * D * sizeof(double));
    memcpy(jac, c.jac, B * D * D * sizeof(double));
    tall_ctx_free(&c);
    return DSBI_STATUS_OK;
}
