/*
 * Tall-data benchmark (issue 6): GAUSS vs JAC vs F-NPSE, the comparison of
 * Linhart et al. 2024 (ALGORITHMS.md 1.11, table 1.12 (a)/(d)): distance to
 * the exact tall posterior and wall-clock time against the number n of
 * observations, on two problems.
 *
 *  toy      ALGORITHMS.md 1.11 "Toy 1": m = 10, prior N(mu, diag(sd^2)) with
 *           mu ~ U(-10, 10), sd ~ U(0.1, 25.1), x_j ~ N(theta*, 0.2 I + 0.8 11^T).
 *           The "network" is the exact score of each diffused individual
 *           posterior (kappa = 0 in the paper), so every difference between
 *           the methods comes from the composition and the sampler. Runs in
 *           the prior-standardized space a trained model would see (the prior
 *           becomes N(0, I); everything stays Gaussian) on the library's
 *           default schedule (EDM, VP form); distances are computed in the
 *           original units, as in the paper.
 *             GAUSS   C_j estimated the GAUSS way (1000 DDIM draws per
 *                     observation, 100 steps, eta 0.5, the exact individual
 *                     score), counted in its time; then DDIM on (COMP)
 *             JAC     the exact Jacobian J = -(a C + v I)^{-1} of the exact
 *                     score, inverted per draw and observation as JAC does;
 *                     DDIM on (COMP); no high-noise switch (the scores are
 *                     exact, the paper's JAC)
 *             F-NPSE  annealed Langevin (dsbi_annealed_langevin, the driver
 *                     dsbi_model_sample_tall uses) on the plain sum of scores
 *  learned  gaussian_linear (prior N(0, 0.1 I), x ~ N(theta, 0.1 I)): the
 *           default model trained on 10,000 simulations (or --model FILE),
 *           then dsbi_model_sample_tall with each method; the reference is
 *           the analytic tall posterior N(sum_j x_j/(n + 1), 0.1/(n + 1) I).
 *  sets     gaussian_linear again, with a deep-set model trained on sets of
 *           1..10 observations of one theta (--set-sets sets, each of U{1..10}
 *           simulations), then dsbi_model_sample_tall_set: the n observations
 *           in ceil(n/10) groups composed by GAUSS or by PF-NPSE (F-NPSE
 *           Langevin over groups). Same exact reference.
 *
 * Metric: max-sliced Wasserstein-2 (dsbi_sliced_wasserstein, random unit
 * directions) between the draws and as many exact draws, minus its noise
 * floor (mean over 5 pairs of independent exact sets of the same size):
 * "sw_norm" of the paper. Also the plain sliced W2 (mean over directions).
 *
 * Output: one line per (problem, seed, method, n) of key=value pairs
 * starting "bench=tall", then a table of means over seeds (+- 1.96 sd /
 * sqrt(seeds)) and the verdict on "GAUSS >= 5x faster than F-NPSE at equal
 * or better accuracy". Times are only comparable within one run.
 */
#include "approx/model.h"
#include "sample/compose.h"
#include "sample/prior_score.h"
#include "sample/sampler.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TD 10    /* toy dimension */
#define NMAX 100 /* observations simulated per seed */
#define MAXNS 16
#define MAXMETH 8
#define MAXSEEDS 10

/* ---------------------------------------------------------------- options */

typedef struct meth {
    const char *label; /* e.g. "gauss-1000" */
    dsbi_tall_method method;
    size_t K;   /* DDIM steps or Langevin noise levels */
    float eta;  /* DDIM eta (GAUSS, JAC) */
    size_t cov_draws, cov_steps; /* GAUSS: per-method covariance estimate, 0 = the global one */
} meth;

typedef struct opts {
    int toy, learned;
    size_t ns[MAXNS], n_ns;
    int seeds, learned_seeds;
    size_t draws, dirs;
    size_t cov_draws, cov_steps;
    float cov_eta;
    int exact_cov;
    int toy_std;   /* toy in the prior-standardized space instead of the original units */ /* toy GAUSS: the exact C_j instead of the sampled estimate */
    size_t sims, set_sets;
    int sets; /* the set-model problem */
    const char *model_in, *model_out;
    meth toy_m[MAXMETH], lrn_m[MAXMETH], set_m[MAXMETH];
    int n_toy_m, n_lrn_m, n_set_m;
} opts;

/* ---------------------------------------------------------------- results */

typedef struct result {
    double sw_norm, sw_max, floor, sw, seconds;
} result;

static result R_toy[MAXSEEDS][MAXMETH][MAXNS], R_lrn[MAXSEEDS][MAXMETH][MAXNS],
    R_set[MAXSEEDS][MAXMETH][MAXNS];

/* ---------------------------------------------------------------- small helpers */

static int spd_inv(double *A, size_t D) {
    double w[TD * TD + TD];
    return dsbi_spd_inverse(A, D, w);
}

static void matvec(const double *A, const double *x, double *y, size_t D) {
    for (size_t i = 0; i < D; i++) {
        double acc = 0;
        for (size_t k = 0; k < D; k++) acc += A[i * D + k] * x[k];
        y[i] = acc;
    }
}

/* N draws of N(mu, S) (D x D) into out (float), then mapped by out = shift + scale * draw */
static void gauss_draws(const double *mu, const double *S, size_t D, size_t N, const double *shift,
                        const double *scale, uint64_t seed, float *out) {
    double L[TD * TD], e[TD];
    memcpy(L, S, D * D * sizeof(double));
    if (dsbi_chol(L, D)) {
        fprintf(stderr, "bench_tall: reference covariance not positive definite\n");
        exit(1);
    }
    dsbi_rng r;
    dsbi_rng_init(&r, seed, 77);
    for (size_t i = 0; i < N; i++) {
        for (size_t d = 0; d < D; d++) e[d] = dsbi_rng_normal(&r);
        for (size_t d = 0; d < D; d++) {
            double v = mu[d];
            for (size_t k = 0; k <= d; k++) v += L[d * D + k] * e[k];
            out[i * D + d] = (float)(shift[d] + scale[d] * v);
        }
    }
}

/* max-sliced and sliced W2 of draws against ref (N rows each), and the noise
 * floor of the max-sliced value from 5 pairs of further exact sets in floor_sets
 * (10 N rows). Non-finite draws give NaN. */
static void distances(const float *draws, const float *ref, const float *floor_sets, size_t N, size_t D,
                      size_t dirs, uint64_t seed, result *r) {
    double fl = 0, s, ms;
    for (int k = 0; k < 5; k++) {
        dsbi_sliced_wasserstein(floor_sets + 2 * k * N * D, N, floor_sets + (2 * k + 1) * N * D, N, D,
                                dirs, seed + 100 + (uint64_t)k, NULL, &ms);
        fl += ms / 5;
    }
    r->floor = fl;
    if (dsbi_sliced_wasserstein(draws, N, ref, N, D, dirs, seed, &s, &ms)) {
        r->sw = r->sw_max = r->sw_norm = NAN;
        return;
    }
    r->sw = s;
    r->sw_max = ms;
    r->sw_norm = ms - fl;
}

/* ---------------------------------------------------------------- the Gaussian toy */

typedef struct toy {
    double mu_l[TD], sd_l[TD]; /* prior in the original units */
    double shift[TD], scale[TD]; /* sampling space u = (theta - shift)/scale */
    double pm[TD], pv[TD];     /* prior mean and variance in the sampling space */
    double C[TD * TD];         /* individual posterior covariance (sampling space) */
    double Sxi[TD * TD];       /* likelihood precision (sampling space) */
    double m[NMAX * TD];       /* individual posterior means */
    double x[NMAX * TD];       /* observations (sampling space) */
} toy;

/* standardized != 0: the sampling space is the prior-standardized one a
 * trained model works in; else the original units, as in the paper (its toy
 * does not z-score theta). */
static void toy_init(toy *t, uint64_t seed, int standardized) {
    const size_t D = TD;
    dsbi_rng r;
    dsbi_rng_init(&r, seed, 1);
    double theta[TD], Sx[TD * TD], L[TD * TD], P[TD * TD];
    for (size_t i = 0; i < D; i++) {
        t->mu_l[i] = -10 + 20 * dsbi_rng_uniform(&r);
        t->sd_l[i] = 0.1 + 25 * dsbi_rng_uniform(&r);
        t->shift[i] = standardized ? t->mu_l[i] : 0.0;
        t->scale[i] = standardized ? t->sd_l[i] : 1.0;
        t->pm[i] = (t->mu_l[i] - t->shift[i]) / t->scale[i];
        t->pv[i] = (t->sd_l[i] / t->scale[i]) * (t->sd_l[i] / t->scale[i]);
    }
    for (size_t i = 0; i < D; i++) theta[i] = t->mu_l[i] + t->sd_l[i] * dsbi_rng_normal(&r);
    for (size_t i = 0; i < D; i++)
        for (size_t j = 0; j < D; j++) Sx[i * D + j] = i == j ? 1.0 : 0.8;
    memcpy(L, Sx, sizeof L);
    dsbi_chol(L, D);
    for (size_t j = 0; j < NMAX; j++) {
        double e[TD];
        for (size_t i = 0; i < D; i++) e[i] = dsbi_rng_normal(&r);
        for (size_t i = 0; i < D; i++) {
            double v = theta[i];
            for (size_t k = 0; k <= i; k++) v += L[i * D + k] * e[k];
            t->x[j * D + i] = (v - t->shift[i]) / t->scale[i];
        }
    }
    for (size_t i = 0; i < D; i++)
        for (size_t j = 0; j < D; j++) t->Sxi[i * D + j] = Sx[i * D + j] / (t->scale[i] * t->scale[j]);
    spd_inv(t->Sxi, D);
    memcpy(P, t->Sxi, sizeof P);
    for (size_t i = 0; i < D; i++) P[i * D + i] += 1.0 / t->pv[i];
    memcpy(t->C, P, sizeof P);
    spd_inv(t->C, D);
    for (size_t j = 0; j < NMAX; j++) {
        double b[TD];
        matvec(t->Sxi, t->x + j * D, b, D);
        for (size_t i = 0; i < D; i++) b[i] += t->pm[i] / t->pv[i];
        matvec(t->C, b, t->m + j * D, D);
    }
}

/* tall posterior of the first n observations (sampling space) */
static void toy_tall(const toy *t, size_t n, double *mu, double *S) {
    const size_t D = TD;
    double sx[TD] = {0}, b[TD];
    for (size_t i = 0; i < D * D; i++) S[i] = (double)n * t->Sxi[i];
    for (size_t i = 0; i < D; i++) S[i * D + i] += 1.0 / t->pv[i];
    spd_inv(S, D);
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < D; i++) sx[i] += t->x[j * D + i];
    matvec(t->Sxi, sx, b, D);
    for (size_t i = 0; i < D; i++) b[i] += t->pm[i] / t->pv[i];
    matvec(S, b, mu, D);
}

/* The sampling context: the composed score of the first n observations with
 * one method, or (single >= 0) the score of observation `single` alone. */
typedef struct tctx {
    const toy *t;
    const dsbi_sched *s;
    size_t n;
    int method;
    long single;
    const double *cinv; /* GAUSS: n x D x D estimated C_j^{-1} */
    double *score;      /* B x D */
    size_t fallback;
} tctx;

/* The "network": exact score of the diffused individual posterior j,
 * N(alpha m_j, a C + v I), given M = (a C + v I)^{-1}. */
static void exact_score(const toy *t, const double *M, double alpha, size_t j, const double *z, double *s) {
    const size_t D = TD;
    double r[TD];
    for (size_t i = 0; i < D; i++) r[i] = z[i] - alpha * t->m[j * D + i];
    matvec(M, r, s, D);
    for (size_t i = 0; i < D; i++) s[i] = -s[i];
}

static void toy_score(void *vctx, const float *z, double tt, size_t B, double *out) {
    tctx *c = vctx;
    const toy *t = c->t;
    const size_t D = TD, n = c->n;
    double alpha, sigma;
    dsbi_sched_alpha_sigma(c->s, dsbi_sched_lambda(c->s, tt), &alpha, &sigma);
    const double a = alpha * alpha, v = sigma * sigma, k = a / v, w_prior = 1.0 - (double)n;
    double M[TD * TD];
    for (size_t i = 0; i < D * D; i++) M[i] = a * t->C[i];
    for (size_t i = 0; i < D; i++) M[i * D + i] += v;
    spd_inv(M, D);
    double zero[TD] = {0}, Pl[TD * TD], sl[TD], zi[TD], sj[TD];
    dsbi_dprior pr = {.kind = DSBI_PRIOR_NORMAL, .D = D, .mean = t->pm, .var = t->pv};
    if (c->single >= 0) {
        for (size_t i = 0; i < B; i++) {
            for (size_t d = 0; d < D; d++) zi[d] = z[i * D + d];
            exact_score(t, M, alpha, (size_t)c->single, zi, out + i * D);
        }
        return;
    }
    /* GAUSS: Lambda = sum_j C_j^{-1} + n k I + (1 - n) P_prior is the same for
       every state (normal prior); factor it once per call */
    double Lam[TD * TD];
    int lam_ok = 0;
    if (c->method == DSBI_TALL_GAUSS && n > 1) {
        dsbi_dprior_eval(&pr, alpha, sigma, zero, sl, Pl, NULL);
        for (size_t i = 0; i < D * D; i++) Lam[i] = w_prior * Pl[i];
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < D * D; i++) Lam[i] += c->cinv[j * D * D + i];
        for (size_t i = 0; i < D; i++) Lam[i * D + i] += (double)n * k;
        lam_ok = dsbi_chol(Lam, D) == 0;
    }
    double lam[TD * TD], rhs[TD], fsum[TD], J[TD * TD], P[TD * TD], work[TD * TD + TD];
    dsbi_comp acc = {D, lam, rhs, fsum};
    for (size_t i = 0; i < B; i++) {
        for (size_t d = 0; d < D; d++) zi[d] = z[i * D + d];
        double *o = out + i * D;
        if (n == 1) {
            exact_score(t, M, alpha, 0, zi, o);
            continue;
        }
        dsbi_comp_reset(&acc);
        int bad = 0;
        for (size_t j = 0; j < n; j++) {
            exact_score(t, M, alpha, j, zi, sj);
            if (c->method == DSBI_TALL_FNPSE) {
                dsbi_comp_add(&acc, 1.0, NULL, sj);
            } else if (c->method == DSBI_TALL_GAUSS) {
                const double *Ci = c->cinv + j * D * D;
                for (size_t p = 0; p < D; p++) {
                    double r = k * sj[p];
                    for (size_t q = 0; q < D; q++) r += Ci[p * D + q] * sj[q];
                    rhs[p] += r;
                    fsum[p] += sj[p];
                }
            } else {
                /* JAC: the Jacobian of this observation's score, here exactly -M */
                for (size_t p = 0; p < D * D; p++) J[p] = -M[p];
                if (bad || dsbi_jac_precision(J, alpha, sigma, D, P, work)) {
                    bad = 1;
                    dsbi_comp_add(&acc, 1.0, NULL, sj);
                } else {
                    dsbi_comp_add(&acc, 1.0, P, sj);
                }
            }
        }
        dsbi_dprior_eval(&pr, alpha, sigma, zi, sl, Pl, NULL);
        if (c->method == DSBI_TALL_FNPSE) {
            dsbi_comp_add(&acc, w_prior, NULL, sl);
            memcpy(o, fsum, D * sizeof(double));
        } else if (c->method == DSBI_TALL_GAUSS) {
            double ps[TD];
            matvec(Pl, sl, ps, D);
            for (size_t p = 0; p < D; p++) {
                rhs[p] += w_prior * ps[p];
                fsum[p] += w_prior * sl[p];
            }
            if (lam_ok) {
                memcpy(o, rhs, D * sizeof(double));
                dsbi_chol_solve(Lam, o, D);
            } else {
                memcpy(o, fsum, D * sizeof(double));
                c->fallback++;
            }
        } else {
            dsbi_comp_add(&acc, w_prior, Pl, sl);
            if (bad) {
                memcpy(o, fsum, D * sizeof(double));
                c->fallback++;
            } else {
                c->fallback += (size_t)dsbi_comp_solve(&acc, o);
            }
        }
    }
}

/* dsbi_field callback: the Tweedie mean of the score */
static void toy_denoise(void *vctx, const float *z, double tt, size_t B, float *xhat) {
    tctx *c = vctx;
    double alpha, sigma;
    dsbi_sched_alpha_sigma(c->s, dsbi_sched_lambda(c->s, tt), &alpha, &sigma);
    toy_score(c, z, tt, B, c->score);
    for (size_t i = 0; i < B * TD; i++) xhat[i] = (float)((z[i] + sigma * sigma * c->score[i]) / alpha);
}

static int toy_ddim(tctx *c, size_t K, float eta, size_t N, uint64_t seed, float *z) {
    dsbi_field f = {c->s, TD, toy_denoise, c};
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.sampler = DSBI_SAMPLER_DDIM;
    sc.steps = K;
    sc.eta = eta;
    dsbi_rng rng;
    dsbi_rng_init(&rng, seed, 5);
    float *scr = malloc(dsbi_sampler_scratch(&sc) * N * TD * sizeof(float) + 1);
    dsbi_sampler_init_noise(c->s, z, N * TD, &rng);
    int st = dsbi_integrate(&f, &sc, z, N, scr, &rng, NULL);
    free(scr);
    return st;
}

/* one toy run: N draws (original units) of method mt for the first n observations */
static void toy_run(const toy *t, const dsbi_sched *s, const meth *mt, size_t n, const opts *o,
                    uint64_t seed, float *out, double *seconds, size_t *fallback, double *cov_err) {
    const size_t D = TD, N = o->draws;
    double *score = malloc(N * D * sizeof(double));
    double *cinv = NULL;
    double t0 = dsbi_now();
    *cov_err = 0;
    tctx c = {t, s, n, (int)mt->method, -1, NULL, score, 0};
    if (mt->method == DSBI_TALL_GAUSS && n > 1) {
        /* C_j from cov_draws DDIM draws of each individual posterior (1.3) */
        size_t Nc = mt->cov_draws ? mt->cov_draws : o->cov_draws;
        cinv = malloc(n * D * D * sizeof(double));
        float *zc = malloc(Nc * D * sizeof(float));
        double *sc2 = malloc(Nc * D * sizeof(double));
        for (size_t j = 0; j < n; j++) {
            tctx cj = {t, s, 1, (int)DSBI_TALL_GAUSS, (long)j, NULL, sc2, 0};
            if (o->exact_cov) {
                memcpy(cinv + j * D * D, t->C, D * D * sizeof(double));
                spd_inv(cinv + j * D * D, D);
                continue;
            }
            toy_ddim(&cj, mt->cov_steps ? mt->cov_steps : o->cov_steps, o->cov_eta, Nc, seed * 1000003u + 7919u * (j + 1), zc);
            double mu[TD] = {0}, *C = cinv + j * D * D;
            for (size_t i = 0; i < Nc; i++)
                for (size_t d = 0; d < D; d++) mu[d] += zc[i * D + d] / (double)Nc;
            for (size_t p = 0; p < D; p++)
                for (size_t q = 0; q <= p; q++) {
                    double acc = 0;
                    for (size_t i = 0; i < Nc; i++) acc += (zc[i * D + p] - mu[p]) * (zc[i * D + q] - mu[q]);
                    C[p * D + q] = C[q * D + p] = acc / (double)(Nc - 1);
                }
            /* relative Frobenius error of the estimate, for the report */
            double e2 = 0, c2 = 0;
            for (size_t p = 0; p < D * D; p++) e2 += (C[p] - t->C[p]) * (C[p] - t->C[p]), c2 += t->C[p] * t->C[p];
            *cov_err += sqrt(e2 / c2) / (double)n;
            if (spd_inv(C, D)) {
                fprintf(stderr, "bench_tall: toy covariance %zu not positive definite\n", j);
                exit(1);
            }
        }
        free(zc);
        free(sc2);
        c.cinv = cinv;
    }
    int st = 0;
    if (mt->method == DSBI_TALL_FNPSE) {
        dsbi_rng rng;
        dsbi_rng_init(&rng, seed, 6);
        dsbi_sampler_init_noise(s, out, N * D, &rng);
        dsbi_annealed_langevin(s, mt->K, 5, 0.5, toy_score, &c, out, N, D, score, &rng);
    } else {
        st = toy_ddim(&c, mt->K, mt->eta, N, seed, out);
    }
    *seconds = dsbi_now() - t0;
    *fallback = c.fallback;
    for (size_t i = 0; i < N * D; i++) {
        size_t d = i % D;
        out[i] = st ? NAN : (float)(t->shift[d] + t->scale[d] * out[i]);
    }
    free(score);
    free(cinv);
}

static void run_toy(const opts *o) {
    const size_t D = TD, N = o->draws;
    dsbi_sched s;
    dsbi_sched_init(&s, DSBI_SCHEDULE_EDM, 1.0, 0.0);
    float *ref = malloc(11 * N * D * sizeof(float)), *draws = malloc(N * D * sizeof(float));
    for (int seed = 0; seed < o->seeds; seed++) {
        toy t;
        toy_init(&t, (uint64_t)seed, o->toy_std);
        for (size_t a = 0; a < o->n_ns; a++) {
            size_t n = o->ns[a];
            double mu[TD], S[TD * TD];
            toy_tall(&t, n, mu, S);
            gauss_draws(mu, S, D, 11 * N, t.shift, t.scale, 1000 + (uint64_t)seed * 1000 + n, ref);
            for (int k = 0; k < o->n_toy_m; k++) {
                const meth *mt = &o->toy_m[k];
                double sec;
                size_t fb;
                double ce;
                toy_run(&t, &s, mt, n, o, 17 + (uint64_t)seed * 131 + n, draws, &sec, &fb, &ce);
                result *r = &R_toy[seed][k][a];
                distances(draws, ref, ref + N * D, N, D, o->dirs, 4242 + (uint64_t)seed, r);
                r->seconds = sec;
                printf("bench=tall problem=toy seed=%d method=%s K=%zu n=%zu draws=%zu seconds=%.3f "
                       "sw_max=%.4f floor=%.4f sw_norm=%.4f sw=%.4f fallback=%zu cov_err=%.4f\n",
                       seed, mt->label, mt->K, n, N, sec, r->sw_max, r->floor, r->sw_norm, r->sw, fb, ce);
                fflush(stdout);
            }
        }
    }
    free(ref);
    free(draws);
}

/* ---------------------------------------------------------------- the learned problem */

#define SET_N 10 /* most observations per training set of the set model */

/* The set model: sets of U{1..SET_N} simulations of one theta from the prior. */
static dsbi_model *train_set_model(const opts *o, dsbi_simulator *sim, size_t *calls) {
    const size_t D = 10, S = o->set_sets;
    float *th = malloc(S * D * sizeof(float)), *xs = calloc(S * SET_N * D, sizeof(float));
    float *rep = malloc(SET_N * D * sizeof(float));
    size_t *cnt = malloc(S * sizeof(size_t)), dropped = 0;
    dsbi_rng r;
    dsbi_rng_init(&r, 2024, 0);
    sim->prior(sim->ctx, &r, S, th);
    *calls = 0;
    for (size_t i = 0; i < S; i++) {
        cnt[i] = 1 + (size_t)(dsbi_rng_uniform(&r) * SET_N);
        if (cnt[i] > SET_N) cnt[i] = SET_N;
        for (size_t j = 0; j < cnt[i]; j++) memcpy(rep + j * D, th + i * D, D * sizeof(float));
        sim->simulate(sim->ctx, &r, cnt[i], rep, xs + i * SET_N * D);
        *calls += cnt[i];
    }
    dsbi_dataset *ds = dsbi_dataset_from_sets(th, xs, cnt, S, D, SET_N, D, &dropped);
    dsbi_model_config mc = dsbi_model_config_default();
    mc.summary = DSBI_SUMMARY_DEEPSET;
    dsbi_model *m = ds ? dsbi_model_create_set(&mc, D, SET_N, D) : NULL;
    if (!m || dsbi_model_fit(m, ds, NULL)) {
        fprintf(stderr, "bench_tall: training the set model: %s\n", dsbi_last_error());
        exit(1);
    }
    dsbi_dataset_free(ds);
    free(th);
    free(xs);
    free(rep);
    free(cnt);
    return m;
}

static void run_learned(const opts *o, int set) {
    const size_t D = 10, N = o->draws;
    dsbi_simulator sim;
    if (dsbi_task_get("gaussian_linear", &sim)) {
        fprintf(stderr, "bench_tall: %s\n", dsbi_last_error());
        exit(1);
    }
    dsbi_model *m = NULL;
    double t0 = dsbi_now();
    size_t calls = o->sims;
    if (set) {
        m = train_set_model(o, &sim, &calls);
    } else if (o->model_in) {
        if (!(m = dsbi_model_load(o->model_in))) {
            fprintf(stderr, "bench_tall: --model %s: %s\n", o->model_in, dsbi_last_error());
            exit(1);
        }
        if (dsbi_model_dim_theta(m) != D || dsbi_model_dim_x(m) != D) {
            fprintf(stderr, "bench_tall: --model %s: not a gaussian_linear model (dims %zu, %zu; need 10, 10)\n",
                    o->model_in, dsbi_model_dim_theta(m), dsbi_model_dim_x(m));
            exit(1);
        }
    } else {
        dsbi_dataset *ds = NULL;
        m = dsbi_model_create(NULL, D, D);
        if (!m || dsbi_dataset_simulate(&sim, o->sims, 2024, &ds, NULL) || dsbi_model_fit(m, ds, NULL)) {
            fprintf(stderr, "bench_tall: training: %s\n", dsbi_last_error());
            exit(1);
        }
        dsbi_dataset_free(ds);
        if (o->model_out && dsbi_model_save(m, o->model_out))
            fprintf(stderr, "bench_tall: --save %s: %s\n", o->model_out, dsbi_last_error());
    }
    const char *prob = set ? "sets" : "learned";
    printf("bench=tall problem=%s task=gaussian_linear sims=%zu%s %s=%.1f\n", prob, calls,
           set ? " (in sets of 1..10)" : "", o->model_in && !set ? "load_seconds" : "train_seconds",
           dsbi_now() - t0);
    double pmean[10], psd[10], zero[10] = {0}, one[10];
    for (size_t d = 0; d < D; d++) pmean[d] = 0.0, psd[d] = sqrt(0.1), one[d] = 1.0;
    float *ref = malloc(11 * N * D * sizeof(float)), *draws = malloc(N * D * sizeof(float));
    float *x = malloc(NMAX * D * sizeof(float)), theta0[10];
    for (int seed = 0; seed < o->learned_seeds; seed++) {
        dsbi_rng rng;
        dsbi_rng_init(&rng, 99 + (uint64_t)seed, 0);
        sim.prior(sim.ctx, &rng, 1, theta0);
        float th[NMAX * 10];
        for (size_t j = 0; j < NMAX; j++) memcpy(th + j * D, theta0, sizeof theta0);
        sim.simulate(sim.ctx, &rng, NMAX, th, x);
        for (size_t a = 0; a < o->n_ns; a++) {
            size_t n = o->ns[a];
            double mu[10] = {0}, S[100] = {0};
            for (size_t j = 0; j < n; j++)
                for (size_t d = 0; d < D; d++) mu[d] += x[j * D + d] / (double)(n + 1);
            for (size_t d = 0; d < D; d++) S[d * D + d] = 0.1 / (double)(n + 1);
            gauss_draws(mu, S, D, 11 * N, zero, one, 5000 + (uint64_t)seed * 1000 + n, ref);
            for (int k = 0; k < (set ? o->n_set_m : o->n_lrn_m); k++) {
                const meth *mt = set ? &o->set_m[k] : &o->lrn_m[k];
                dsbi_tall_config c = dsbi_tall_config_default();
                dsbi_tall_info info;
                c.method = mt->method;
                c.prior_a = pmean;
                c.prior_b = psd;
                c.sample.steps = mt->K;
                c.sample.eta = mt->eta;
                c.sample.seed = 7 + (uint64_t)seed * 131 + n;
                c.cov_draws = mt->cov_draws ? mt->cov_draws : o->cov_draws;
                c.cov_steps = mt->cov_steps ? mt->cov_steps : o->cov_steps;
                c.cov_eta = o->cov_eta;
                c.info = &info;
                double t1 = dsbi_now();
                int st = set ? dsbi_model_sample_tall_set(m, x, n, N, &c, draws, NULL)
                             : dsbi_model_sample_tall(m, x, n, N, &c, draws, NULL);
                double sec = dsbi_now() - t1;
                result *r = set ? &R_set[seed][k][a] : &R_lrn[seed][k][a];
                r->seconds = sec;
                if (st) {
                    fprintf(stderr, "bench_tall: %s n=%zu: %s\n", mt->label, n, dsbi_last_error());
                    r->sw = r->sw_max = r->sw_norm = r->floor = NAN;
                    memset(&info, 0, sizeof info);
                } else {
                    distances(draws, ref, ref + N * D, N, D, o->dirs, 4242 + (uint64_t)seed, r);
                }
                printf("bench=tall problem=%s seed=%d method=%s K=%zu n=%zu draws=%zu seconds=%.3f "
                       "cov_seconds=%.3f sw_max=%.4f floor=%.4f sw_norm=%.4f sw=%.4f fallback=%zu solves=%zu\n",
                       prob, seed, mt->label, mt->K, n, N, sec, info.cov_seconds, r->sw_max, r->floor, r->sw_norm,
                       r->sw, info.n_fallback, info.n_solves);
                fflush(stdout);
            }
        }
    }
    free(ref);
    free(draws);
    free(x);
    dsbi_model_free(m);
}

/* ---------------------------------------------------------------- summary */

typedef struct stat2 {
    double mean, ci; /* mean and 1.96 sd / sqrt(count) over the finite values */
} stat2;

static stat2 summarize(result R[MAXSEEDS][MAXMETH][MAXNS], int seeds, int k, size_t a, int time) {
    double s = 0, s2 = 0;
    int c = 0;
    for (int i = 0; i < seeds; i++) {
        double v = time ? R[i][k][a].seconds : R[i][k][a].sw_norm;
        if (!isfinite(v)) continue;
        s += v;
        s2 += v * v;
        c++;
    }
    if (c == 0) return (stat2){NAN, NAN};
    double mean = s / c, var = c > 1 ? fmax(0.0, (s2 - c * mean * mean) / (c - 1)) : 0.0;
    return (stat2){mean, 1.96 * sqrt(var / c)};
}

static void table(const char *title, result R[MAXSEEDS][MAXMETH][MAXNS], int seeds, const meth *ms, int nm,
                  const opts *o) {
    printf("\n%s (%d seed%s; mean +- 1.96 sd/sqrt(seeds))\n", title, seeds, seeds > 1 ? "s" : "");
    printf("sw_norm (max-sliced W2 minus noise floor)\n%-14s", "method");
    for (size_t a = 0; a < o->n_ns; a++) printf("  n=%-13zu", o->ns[a]);
    printf("\n");
    for (int k = 0; k < nm; k++) {
        printf("%-14s", ms[k].label);
        for (size_t a = 0; a < o->n_ns; a++) {
            stat2 v = summarize(R, seeds, k, a, 0);
            printf("  %7.3f+-%-6.3f", v.mean, v.ci);
        }
        printf("\n");
    }
    printf("time (s)\n");
    for (int k = 0; k < nm; k++) {
        printf("%-14s", ms[k].label);
        for (size_t a = 0; a < o->n_ns; a++) printf("  %-15.3f", summarize(R, seeds, k, a, 1).mean);
        printf("\n");
    }
    /* the acceptance check: some GAUSS configuration at >= 5x less time than
       every F-NPSE configuration with sw_norm no worse (within the CIs) */
    for (int g = 0; g < nm; g++) {
        if (ms[g].method != DSBI_TALL_GAUSS) continue;
        for (int f = 0; f < nm; f++) {
            if (ms[f].method != DSBI_TALL_FNPSE && ms[f].method != DSBI_TALL_PF) continue;
            int ok_speed = 0, ok_acc = 0, cnt = 0;
            double min_ratio = INFINITY;
            for (size_t a = 0; a < o->n_ns; a++) {
                if (o->ns[a] == 1) continue; /* one observation: no composition */
                cnt++;
                stat2 gs = summarize(R, seeds, g, a, 0), fs = summarize(R, seeds, f, a, 0);
                double ratio = summarize(R, seeds, f, a, 1).mean / summarize(R, seeds, g, a, 1).mean;
                min_ratio = fmin(min_ratio, ratio);
                ok_speed += ratio >= 5.0;
                /* F-NPSE diverged (NaN) counts as worse */
                ok_acc += !isfinite(fs.mean) || gs.mean <= fs.mean + gs.ci + fs.ci;
            }
            printf("verdict %s vs %s: time ratio >= 5 at %d/%d n > 1 (smallest %.1fx); "
                   "sw_norm equal or better at %d/%d\n",
                   ms[g].label, ms[f].label, ok_speed, cnt, min_ratio, ok_acc, cnt);
        }
    }
}

/* ---------------------------------------------------------------- main */

static void usage(void) {
    printf("usage: bench_tall [options]\n"
           "GAUSS vs JAC vs F-NPSE for tall data: sliced Wasserstein to the exact tall\n"
           "posterior and time against n, on the Gaussian toy (exact scores) and on a\n"
           "model learned on gaussian_linear.\n"
           "  --fast           quick run: n in {1, 8, 30}, 1 seed, 500 draws, fewer steps\n"
           "  --toy-only       only the Gaussian toy\n"
           "  --toy-standardized  run the toy in the prior-standardized space (as a model\n"
           "                   would) instead of the original units (the paper's setting)\n"
           "  --exact-cov      toy GAUSS: use the exact C_j instead of sampling them\n"
           "  --cov-draws N    GAUSS: draws per observation for its covariance [1000]\n"
           "  --cov-steps K    GAUSS: DDIM steps of the covariance draws [100]\n"
           "  --cov-eta E      GAUSS: DDIM eta of the covariance draws [0.5]\n"
           "  --learned-only   only the learned gaussian_linear problem (single-observation model)\n"
           "  --sets-only      only the gaussian_linear set model (PF-NPSE, GAUSS over groups)\n"
           "  --no-sets        skip the set model\n"
           "  --set-sets N     training sets of the set model (1..10 simulations each) [10000]\n"
           "  --ns LIST        comma-separated n values [1,8,14,22,30,50,100] (each <= 100)\n"
           "  --seeds S        toy seeds (1..10) [2]\n"
           "  --learned-seeds S  observation sets for the learned problem (1..10) [1]\n"
           "  --draws N        draws per run and reference size [1000]\n"
           "  --dirs N         random directions of the sliced distances [2000]\n"
           "  --sims N         training simulations of the learned model [10000]\n"
           "  --model FILE     load the gaussian_linear model instead of training\n"
           "  --save FILE      save the trained model\n"
           "  --threads T      library threads [1]\n"
           "  -h, --help       this text\n");
}

static size_t parse_size(const char *opt, const char *v, size_t lo, size_t hi) {
    char *end;
    unsigned long long x = strtoull(v ? v : "", &end, 10);
    if (!v || *end || x < lo || x > hi) {
        fprintf(stderr, "bench_tall: %s: need an integer in %zu..%zu (got '%s')\n", opt, lo, hi, v ? v : "");
        exit(2);
    }
    return (size_t)x;
}

int main(int argc, char **argv) {
    opts o = {.toy = 1, .learned = 1, .seeds = 2, .learned_seeds = 1, .draws = 1000, .dirs = 2000,
              .cov_draws = 1000, .cov_steps = 100, .cov_eta = 0.5f, .sims = 10000, .sets = 1,
              .set_sets = 10000};
    const size_t ns_default[7] = {1, 8, 14, 22, 30, 50, 100};
    memcpy(o.ns, ns_default, sizeof ns_default);
    o.n_ns = 7;
    int fast = 0, threads = 1, ns_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--fast")) {
            fast = 1;
        } else if (!strcmp(a, "--toy-standardized")) {
            o.toy_std = 1;
        } else if (!strcmp(a, "--exact-cov")) {
            o.exact_cov = 1;
        } else if (!strcmp(a, "--cov-draws")) {
            o.cov_draws = parse_size(a, v, 12, 1000000), i++;
        } else if (!strcmp(a, "--cov-steps")) {
            o.cov_steps = parse_size(a, v, 1, 100000), i++;
        } else if (!strcmp(a, "--cov-eta")) {
            o.cov_eta = (float)atof(v ? v : "-1"), i++;
            if (!(o.cov_eta >= 0.0f && o.cov_eta <= 1.0f)) {
                fprintf(stderr, "bench_tall: --cov-eta: need a number in [0, 1]\n");
                return 2;
            }
        } else if (!strcmp(a, "--toy-only")) {
            o.learned = 0, o.sets = 0;
        } else if (!strcmp(a, "--learned-only")) {
            o.toy = 0, o.sets = 0;
        } else if (!strcmp(a, "--sets-only")) {
            o.toy = 0, o.learned = 0;
        } else if (!strcmp(a, "--no-sets")) {
            o.sets = 0;
        } else if (!strcmp(a, "--set-sets")) {
            o.set_sets = parse_size(a, v, 100, 10000000), i++;
        } else if (!strcmp(a, "--ns")) {
            o.n_ns = 0;
            ns_given = 1;
            for (const char *p = v ? v : ""; *p && o.n_ns < MAXNS;) {
                char *end;
                unsigned long x = strtoul(p, &end, 10);
                if (end == p || x < 1 || x > NMAX || (*end && *end != ',')) {
                    fprintf(stderr, "bench_tall: --ns: need comma-separated integers in 1..%d (got '%s')\n",
                            NMAX, v ? v : "");
                    return 2;
                }
                o.ns[o.n_ns++] = x;
                p = *end ? end + 1 : end;
            }
            if (!o.n_ns) {
                fprintf(stderr, "bench_tall: --ns: empty list\n");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--seeds")) {
            o.seeds = (int)parse_size(a, v, 1, MAXSEEDS), i++;
        } else if (!strcmp(a, "--learned-seeds")) {
            o.learned_seeds = (int)parse_size(a, v, 1, MAXSEEDS), i++;
        } else if (!strcmp(a, "--draws")) {
            o.draws = parse_size(a, v, 20, 100000), i++;
        } else if (!strcmp(a, "--dirs")) {
            o.dirs = parse_size(a, v, 1, 1000000), i++;
        } else if (!strcmp(a, "--sims")) {
            o.sims = parse_size(a, v, 100, 10000000), i++;
        } else if (!strcmp(a, "--model")) {
            o.model_in = v, i++;
        } else if (!strcmp(a, "--save")) {
            o.model_out = v, i++;
        } else if (!strcmp(a, "--threads")) {
            threads = (int)parse_size(a, v, 1, 256), i++;
        } else {
            fprintf(stderr, "bench_tall: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    dsbi_set_threads(threads);
    /* Toy: the paper's "equivalent speed" settings (GAUSS K=1000 eta 1, JAC
       K=400 eta 0.8, Langevin 400 levels x 5) plus GAUSS at K=50 (eta 0.2,
       the paper's pairing), the configuration that tests "5x faster at equal
       or better accuracy"; and GAUSS at K=50 with a cheaper covariance
       estimate (300 draws of 25 DDIM steps per observation instead of the
       paper's 1000 x 100, which on the learned problem is 60-75 % of GAUSS's
       time: its precision matters at mid noise only, where k I does not
       dominate, so a rougher C_j costs little accuracy). */
    const meth toy_full[5] = {{"gauss-1000", DSBI_TALL_GAUSS, 1000, 1.0f, 0, 0},
                              {"gauss-50", DSBI_TALL_GAUSS, 50, 0.2f, 0, 0},
                              {"jac-400", DSBI_TALL_JAC, 400, 0.8f, 0, 0},
                              {"fnpse-400x5", DSBI_TALL_FNPSE, 400, 0, 0, 0},
                              {"gauss-50-c300", DSBI_TALL_GAUSS, 50, 0.2f, 300, 25}};
    const meth lrn_full[5] = {{"gauss-100", DSBI_TALL_GAUSS, 100, 0.5f, 0, 0},
                              {"gauss-50", DSBI_TALL_GAUSS, 50, 0.2f, 0, 0},
                              {"jac-50", DSBI_TALL_JAC, 50, 0.2f, 0, 0},
                              {"fnpse-100x5", DSBI_TALL_FNPSE, 100, 0, 0, 0},
                              {"gauss-50-c300", DSBI_TALL_GAUSS, 50, 0.2f, 300, 25}};
    memcpy(o.toy_m, toy_full, sizeof toy_full);
    o.n_toy_m = 5;
    memcpy(o.lrn_m, lrn_full, sizeof lrn_full);
    o.n_lrn_m = 5;
    const meth set_full[3] = {{"gauss-100", DSBI_TALL_GAUSS, 100, 0.5f, 0, 0},
                              {"gauss-50", DSBI_TALL_GAUSS, 50, 0.2f, 0, 0},
                              {"pf-100x5", DSBI_TALL_PF, 100, 0, 0, 0}};
    memcpy(o.set_m, set_full, sizeof set_full);
    o.n_set_m = 3;
    if (fast) {
        if (!ns_given) {
            o.n_ns = 3;
            o.ns[0] = 1, o.ns[1] = 8, o.ns[2] = 30;
        }
        o.seeds = 1;
        o.learned_seeds = 1;
        o.draws = 500;
        o.dirs = 500;
        o.cov_draws = 500;
        o.cov_steps = 50;
        o.toy_m[0].K = 200, o.toy_m[0].label = "gauss-200";
        o.toy_m[2].K = 100, o.toy_m[2].label = "jac-100";
        o.toy_m[3].K = 100, o.toy_m[3].label = "fnpse-100x5";
        o.lrn_m[0].K = 50, o.lrn_m[0].label = "gauss-50";
        o.n_lrn_m = 4;
        o.lrn_m[1] = lrn_full[2];
        o.lrn_m[2] = lrn_full[3];
        o.lrn_m[2].K = 50, o.lrn_m[2].label = "fnpse-50x5";
        o.lrn_m[3] = lrn_full[4];
        o.n_set_m = 2;
        o.set_m[0] = set_full[1];
        o.set_m[1] = set_full[2];
        o.set_m[1].K = 50, o.set_m[1].label = "pf-50x5";
        o.set_sets = 5000;
    }
    printf("bench=tall config fast=%d seeds=%d learned_seeds=%d draws=%zu dirs=%zu cov_draws=%zu "
           "cov_steps=%zu threads=%d\n", fast, o.seeds, o.learned_seeds, o.draws, o.dirs, o.cov_draws,
           o.cov_steps, threads);
    double t0 = dsbi_now();
    if (o.toy) run_toy(&o);
    if (o.learned) run_learned(&o, 0);
    if (o.sets) run_learned(&o, 1);
    if (o.toy) table("Gaussian toy, m = 10, exact scores", R_toy, o.seeds, o.toy_m, o.n_toy_m, &o);
    if (o.learned)
        table("gaussian_linear, learned model", R_lrn, o.learned_seeds, o.lrn_m, o.n_lrn_m, &o);
    if (o.sets)
        table("gaussian_linear, set model (sets of 1..10), groups of <= 10", R_set, o.learned_seeds,
              o.set_m, o.n_set_m, &o);
    printf("\ntotal %.0f s\n", dsbi_now() - t0);
    return 0;
}
