/*
 * Summary-network benchmark (issue 7): learned summaries against hand-made
 * sufficient statistics, on two problems with an exact (conjugate) posterior.
 *
 *  normal_gamma  i.i.d. sets: tau = 1/sigma^2 ~ Gamma(4, rate 4),
 *                mu | tau ~ N(0, 1/tau), y_1..n ~ N(mu, sigma^2), n ~ U{5..50};
 *                models: deepset, set_transformer, and a flat model fed
 *                stats = (mean, ln sd, n)
 *  ar1           sequences: tau ~ Gamma(4, rate 4), phi | tau ~ N(0, 1/(4 tau)),
 *                both truncated jointly to |phi| < 1 (stationary; an explosive
 *                series of 50 steps reaches 1e4 and would set the scale of the
 *                member standardization), x_0 = 0, x_t = phi x_{t-1} + sigma e_t,
 *                t = 1..n, n ~ U{10..50}; models: timeseries with a
 *                bidirectional GRU, with a bidirectional LSTM, and stats =
 *                (phi_n, ln lambda_n, ln b_n, n)
 * theta = (mu or phi, ln sigma). Both posteriors are normal-gamma (ar1:
 * truncated to |phi| < 1, drawn by rejection): the AR(1) likelihood given x_0
 * is that of a regression of x_t on x_{t-1}, so with s1 = sum x_{t-1}^2,
 * s2 = sum x_{t-1} x_t, s3 = sum x_t^2: lambda_n = 4 + s1, phi_n = s2 / lambda_n,
 * a_n = 4 + n/2, b_n = 4 + (s3 - lambda_n phi_n^2) / 2 and
 * phi | tau ~ N(phi_n, 1/(lambda_n tau)).
 *
 * Every model is trained on the same online simulations, then per model:
 *  - training seconds per epoch;
 *  - C2ST accuracy (0.5 = indistinguishable) of its draws against as many
 *    exact posterior draws, mean and max over a few observations at three
 *    sizes n (the largest beyond the training sizes), with the posterior
 *    mean error in posterior sds and the sd ratios;
 *  - calibration over a test set of prior-predictive simulations
 *    (dsbi_calibrate, as `diffsbi diagnose` computes it): per parameter the
 *    verdict, the SBC log-gamma (< 0: the rank ECDF leaves its 95 % band)
 *    and the coverage error, and the joint TARP area beside its Monte-Carlo
 *    level 0.31/sqrt(n_test). The exact posterior gets the same rows as a
 *    reference for the noise of these statistics.
 * Output: tables, plus one line per (problem, model) of key=value pairs
 * starting "bench=summary". --fast: fewer epochs, observations and test
 * simulations (a few minutes on 2 cores).
 */
#include "diffsbi.h"
#include "summary/summary.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMAX 50  /* most members / steps in training */
#define NBIG 100 /* the largest evaluation size */
#define NSTATS 4

/* ---------------------------------------------------------------- problems */

typedef struct problem {
    const char *name, *theta_names[2];
    size_t nmin;        /* training sizes nmin..NMAX */
    double lambda0;     /* prior precision factor of theta_0 given tau */
    int bounded;        /* prior (so posterior) truncated to |theta_0| < 1 */
    size_t n_eval[3];   /* C2ST sizes */
    size_t n_stats;     /* hand-made statistics */
    dsbi_summary_kind kind[2];
    dsbi_summary_rnn rnn[2];
    const char *model_names[3];
    void (*data)(dsbi_rng *r, const float *th, size_t n, float *y);
    dsbi_normal_gamma_post (*post)(const float *y, size_t n);
    void (*stats)(const float *y, size_t n, float *s);
} problem;

static void ng_data(dsbi_rng *r, const float *th, size_t n, float *y) {
    for (size_t j = 0; j < n; j++) y[j] = th[0] + expf(th[1]) * (float)dsbi_rng_normal(r);
}

static void ng_stats(const float *y, size_t n, float *s) {
    double m = 0, v = 0;
    for (size_t j = 0; j < n; j++) m += y[j];
    m /= (double)n;
    for (size_t j = 0; j < n; j++) v += (y[j] - m) * (y[j] - m);
    v /= (double)(n - 1);
    s[0] = (float)m;
    s[1] = (float)(0.5 * log(v));
    s[2] = (float)n;
}

static void ar_data(dsbi_rng *r, const float *th, size_t n, float *y) {
    double x = 0, sg = exp(th[1]);
    for (size_t t = 0; t < n; t++) {
        x = th[0] * x + sg * dsbi_rng_normal(r);
        y[t] = (float)x;
    }
}

static dsbi_normal_gamma_post ar_post(const float *y, size_t n) {
    double s1 = 0, s2 = 0, s3 = 0, prev = 0;
    for (size_t t = 0; t < n; t++) {
        s1 += prev * prev;
        s2 += prev * y[t];
        s3 += (double)y[t] * y[t];
        prev = y[t];
    }
    double lam = 4.0 + s1, phi = s2 / lam;
    return (dsbi_normal_gamma_post){.mu_n = phi, .kappa_n = lam, .a_n = 4.0 + (double)n / 2.0,
                                    .b_n = 4.0 + 0.5 * (s3 - lam * phi * phi)};
}

static void ar_stats(const float *y, size_t n, float *s) {
    dsbi_normal_gamma_post p = ar_post(y, n);
    s[0] = (float)p.mu_n;
    s[1] = (float)log(p.kappa_n);
    s[2] = (float)log(p.b_n);
    s[3] = (float)n;
}

static const problem problems[2] = {
    {.name = "normal_gamma", .theta_names = {"mu", "ln sigma"}, .nmin = 5, .lambda0 = 1.0,
     .n_eval = {5, 50, 100}, .n_stats = 3,
     .kind = {DSBI_SUMMARY_DEEPSET, DSBI_SUMMARY_SET_TRANSFORMER},
     .rnn = {DSBI_SUMMARY_RNN_GRU, DSBI_SUMMARY_RNN_GRU},
     .model_names = {"deepset", "set_transformer", "stats"}, .data = ng_data,
     .post = dsbi_normal_gamma_posterior, .stats = ng_stats},
    {.name = "ar1", .theta_names = {"phi", "ln sigma"}, .nmin = 10, .lambda0 = 4.0, .bounded = 1,
     .n_eval = {10, 50, 100}, .n_stats = 4,
     .kind = {DSBI_SUMMARY_TIMESERIES, DSBI_SUMMARY_TIMESERIES},
     .rnn = {DSBI_SUMMARY_RNN_GRU, DSBI_SUMMARY_RNN_LSTM},
     .model_names = {"timeseries_gru", "timeseries_lstm", "stats"}, .data = ar_data,
     .post = ar_post, .stats = ar_stats},
};

/* simulator context: the problem, and whether to write statistics */
typedef struct sim_ctx {
    const problem *p;
    int stats;
} sim_ctx;

/* truncation by redrawing (tau, theta_0) together, so that the prior is the
 * normal-gamma density restricted to |theta_0| < 1 */
static void prior_draw(const problem *p, dsbi_rng *r, float *th) {
    do {
        double tau = dsbi_normal_gamma_draw_gamma(r, 4.0) / 4.0;
        th[0] = (float)(dsbi_rng_normal(r) / sqrt(p->lambda0 * tau));
        th[1] = (float)(-0.5 * log(tau));
    } while (p->bounded && !(fabsf(th[0]) < 1.0f));
}

static int prior(void *ctx, dsbi_rng *r, size_t n, float *th) {
    const sim_ctx *c = ctx;
    for (size_t i = 0; i < n; i++) prior_draw(c->p, r, th + 2 * i);
    return 0;
}

static size_t draw_size(const problem *p, dsbi_rng *r) {
    size_t c = p->nmin + (size_t)(dsbi_rng_uniform(r) * (double)(NMAX - p->nmin + 1));
    return c > NMAX ? NMAX : c;
}

/* packed rows [n, y_1..y_n, 0...], or the statistics */
static int simulate(void *ctx, dsbi_rng *r, size_t n, const float *th, float *x) {
    const sim_ctx *c = ctx;
    float y[NMAX];
    for (size_t i = 0; i < n; i++) {
        size_t m = draw_size(c->p, r);
        c->p->data(r, th + 2 * i, m, y);
        if (c->stats) c->p->stats(y, m, x + i * c->p->n_stats);
        else if (dsbi_set_pack(y, m, NMAX, 1, x + i * DSBI_SET_ROW(NMAX, 1))) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- models */

static double epoch_seconds;
static int progress(void *u, size_t e, size_t E, double tl, double vl, double s) {
    (void)u, (void)tl, (void)vl;
    if (e == E) epoch_seconds = s / (double)E;
    return 0;
}

/* model k of problem p: 0, 1 learned summaries, 2 the statistics */
static dsbi_model *train(const problem *p, int k, size_t epochs, double *sec) {
    static sim_ctx ctx[2][2];
    int pi = p == &problems[1];
    ctx[pi][k == 2] = (sim_ctx){.p = p, .stats = k == 2};
    dsbi_simulator sim = {.name = p->name, .dim_theta = 2, .prior = prior, .simulate = simulate,
                          .ctx = &ctx[pi][k == 2], .thread_safe = 1};
    dsbi_model_config mc = dsbi_model_config_default();
    mc.width = 128;
    mc.depth = 3;
    mc.summary_width = 16;
    mc.summary_depth = 1;
    mc.summary_dim = 8;
    mc.summary_heads = 2;
    mc.summary_inducing = 4;
    dsbi_model *m;
    if (k < 2) {
        mc.summary = p->kind[k];
        mc.summary_rnn = p->rnn[k];
        sim.dim_x = DSBI_SET_ROW(NMAX, 1);
        m = dsbi_model_create_set(&mc, 2, NMAX, 1);
    } else {
        sim.dim_x = p->n_stats;
        m = dsbi_model_create(&mc, 2, p->n_stats);
    }
    dsbi_train_config tc = dsbi_train_config_default();
    tc.epochs = epochs;
    tc.sims_per_epoch = 4096;
    tc.batch_size = 128;
    tc.lr = 4e-3f;
    tc.patience = 0;
    tc.seed = 3;
    tc.progress = progress;
    if (!m || dsbi_model_fit_online(m, &sim, &tc)) {
        fprintf(stderr, "bench_summary: %s %s: %s\n", p->name, p->model_names[k],
                dsbi_last_error());
        exit(1);
    }
    *sec = epoch_seconds;
    return m;
}

/* L posterior draws for the observation y (n values): model k, or the exact
 * posterior for m == NULL */
static void draw(const problem *p, dsbi_model *m, int k, const float *y, size_t n, size_t L,
                 uint64_t seed, float *th) {
    int e = 0;
    if (!m) { /* truncated: rejection */
        dsbi_normal_gamma_post post = p->post(y, n);
        dsbi_rng r;
        dsbi_rng_init(&r, seed, 99);
        for (size_t l = 0, tries = 0; l < L; tries++) {
            if (tries > 10000 * L) {
                fprintf(stderr, "bench_summary: %s: exact posterior beyond |phi| < 1\n", p->name);
                exit(1);
            }
            dsbi_normal_gamma_sample(&post, &r, 1, th + 2 * l);
            if (!p->bounded || fabsf(th[2 * l]) < 1.0f) l++;
        }
        return;
    }
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.seed = seed;
    if (k < 2) {
        e = dsbi_model_sample_set(m, y, n, L, &sc, th, NULL);
    } else {
        float st[NSTATS];
        p->stats(y, n, st);
        e = dsbi_model_sample(m, st, L, &sc, th, NULL);
    }
    if (e) {
        fprintf(stderr, "bench_summary: %s %s: %s\n", p->name, p->model_names[k],
                dsbi_last_error());
        exit(1);
    }
}

/* ---------------------------------------------------------------- evaluation */

typedef struct opts {
    size_t epochs, n_obs, L_c2st, n_test, L_cal;
    int problem; /* -1 = both */
} opts;

typedef struct c2st_row {
    double c2, c2max, mean_err, sd_ratio[2];
} c2st_row;

/* C2ST and moments at size n: n_obs observations drawn from the prior (the
 * same for every model: fixed seeds) */
static c2st_row eval_c2st(const problem *p, dsbi_model *m, int k, size_t n, const opts *o) {
    size_t L = o->L_c2st;
    float *ref = malloc(L * 2 * sizeof(float)), *th = malloc(L * 2 * sizeof(float));
    c2st_row row = {0};
    dsbi_rng r;
    dsbi_rng_init(&r, 77, n);
    for (size_t i = 0; i < o->n_obs; i++) {
        float truth[2], y[NBIG];
        prior_draw(p, &r, truth);
        p->data(&r, truth, n, y);
        draw(p, NULL, 0, y, n, L, 1000 + i, ref);
        draw(p, m, k, y, n, L, i, th);
        double acc = 0.5;
        dsbi_c2st_config cc = dsbi_c2st_config_default();
        if (dsbi_c2st(ref, L, th, L, 2, &cc, &acc)) {
            fprintf(stderr, "bench_summary: c2st: %s\n", dsbi_last_error());
            exit(1);
        }
        row.c2 += acc / (double)o->n_obs;
        if (acc > row.c2max) row.c2max = acc;
        for (int d = 0; d < 2; d++) {
            double a = 0, a2 = 0, b = 0, b2 = 0;
            for (size_t l = 0; l < L; l++) {
                a += ref[2 * l + d], a2 += (double)ref[2 * l + d] * ref[2 * l + d];
                b += th[2 * l + d], b2 += (double)th[2 * l + d] * th[2 * l + d];
            }
            a /= (double)L, b /= (double)L;
            double sa = sqrt(a2 / (double)L - a * a), sb = sqrt(b2 / (double)L - b * b);
            row.mean_err += fabs(b - a) / sa / (2.0 * (double)o->n_obs);
            row.sd_ratio[d] += sb / sa / (double)o->n_obs;
        }
    }
    free(ref);
    free(th);
    return row;
}

/* calibration over n_test prior-predictive simulations (fixed seeds: the same
 * test set for every model) */
static void eval_calibration(const problem *p, dsbi_model *m, int k, const opts *o,
                             dsbi_calibration *cal) {
    size_t n = o->n_test, L = o->L_cal;
    float *truth = malloc(n * 2 * sizeof(float)), *draws = malloc(n * L * 2 * sizeof(float));
    dsbi_rng r;
    dsbi_rng_init(&r, 4242, 7);
    for (size_t i = 0; i < n; i++) {
        float y[NMAX];
        prior_draw(p, &r, truth + 2 * i);
        size_t c = draw_size(p, &r);
        p->data(&r, truth + 2 * i, c, y);
        draw(p, m, k, y, c, L, 5000 + i, draws + i * L * 2);
    }
    if (dsbi_calibrate(truth, draws, n, L, 2, NULL, cal)) {
        fprintf(stderr, "bench_summary: calibrate: %s\n", dsbi_last_error());
        exit(1);
    }
    free(truth);
    free(draws);
}

static void run_problem(const problem *p, const opts *o) {
    dsbi_model *m[3];
    double sec[3];
    for (int k = 0; k < 3; k++) m[k] = train(p, k, o->epochs, &sec[k]);
    printf("\n== %s: sizes %zu..%d, %zu epochs of 4096 online simulations, %d threads\n", p->name,
           p->nmin, NMAX, o->epochs, dsbi_get_threads());
    for (int k = 0; k < 3; k++)
        printf("  %-16s %6zu parameters, %.3f s per epoch\n", p->model_names[k],
               dsbi_model_num_params(m[k]), sec[k]);

    printf("\nC2ST against the exact posterior (%zu observations x %zu draws per n)\n", o->n_obs,
           o->L_c2st);
    printf("%-16s %4s %8s %8s %10s %8s %8s\n", "model", "n", "C2ST", "C2ST max", "|mean err|",
           "sd ratio", "sd ratio");
    printf("%-16s %4s %8s %8s %10s %8s %8s\n", "", "", "", "", "", p->theta_names[0],
           p->theta_names[1]);
    c2st_row rows[3][3];
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < 3; s++) {
            c2st_row *c = &rows[k][s];
            *c = eval_c2st(p, m[k], k, p->n_eval[s], o);
            printf("%-16s %4zu %8.3f %8.3f %10.3f %8.3f %8.3f\n", p->model_names[k], p->n_eval[s],
                   c->c2, c->c2max, c->mean_err, c->sd_ratio[0], c->sd_ratio[1]);
        }

    printf("\nCalibration on %zu test simulations x %zu draws (SBC log-gamma < 0: outside the "
           "95%% band;\ncoverage error: median |coverage - level|; TARP area, Monte-Carlo level "
           "%.3f)\n",
           o->n_test, o->L_cal, 0.31 / sqrt((double)o->n_test));
    printf("%-16s %-9s %-17s %9s %9s %9s\n", "model", "param", "verdict", "log-gamma", "cov err",
           "TARP area");
    for (int k = -1; k < 3; k++) {
        dsbi_calibration cal;
        const char *name = k < 0 ? "exact" : p->model_names[k];
        eval_calibration(p, k < 0 ? NULL : m[k], k < 0 ? 0 : k, o, &cal);
        for (int d = 0; d < 2; d++) {
            const dsbi_param_calibration *pc = &cal.param[d];
            printf("%-16s %-9s %-17s %9.2f %9.3f", d ? "" : name, p->theta_names[d],
                   dsbi_verdict_name(pc->verdict), pc->log_gamma, pc->coverage_error);
            if (d == 0) printf(" %9.3f", cal.tarp_area);
            printf("\n");
        }
        printf("bench=summary problem=%s model=%s", p->name, name);
        if (k >= 0) {
            printf(" params=%zu epoch_s=%.4f", dsbi_model_num_params(m[k]), sec[k]);
            for (int s = 0; s < 3; s++)
                printf(" c2st_n%zu=%.4f", p->n_eval[s], rows[k][s].c2);
        }
        for (int d = 0; d < 2; d++) {
            char v[32]; /* "well calibrated" -> "well_calibrated" */
            snprintf(v, sizeof v, "%s", dsbi_verdict_name(cal.param[d].verdict));
            for (char *c = v; *c; c++) *c = *c == ' ' ? '_' : *c;
            printf(" verdict_%d=%s log_gamma_%d=%.3f cov_err_%d=%.4f", d, v, d,
                   cal.param[d].log_gamma, d, cal.param[d].coverage_error);
        }
        printf(" tarp_area=%.4f tarp_mc=%.4f\n", cal.tarp_area, cal.tarp_mc);
        dsbi_calibration_free(&cal);
    }
    for (int k = 0; k < 3; k++) dsbi_model_free(m[k]);
}

static void usage(void) {
    printf("usage: bench_summary [--fast] [--epochs N] [--problem normal_gamma|ar1]\n\n"
           "Summary networks vs hand-made statistics on normal_gamma (sets) and ar1\n"
           "(sequences): C2ST against the exact posterior, seconds per epoch, SBC and\n"
           "coverage verdicts and TARP area. Defaults: 300 epochs, 5 observations x 2000\n"
           "draws per size, 500 test simulations x 100 draws. --fast: 60 epochs, 3 x 1000,\n"
           "200 x 100 (a few minutes on 2 cores).\n");
}

int main(int argc, char **argv) {
    opts o = {.epochs = 300, .n_obs = 5, .L_c2st = 2000, .n_test = 500, .L_cal = 100,
              .problem = -1};
    size_t epochs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--fast")) {
            o.epochs = 60;
            o.n_obs = 3;
            o.L_c2st = 1000;
            o.n_test = 200;
        } else if (!strcmp(a, "--epochs") && v) {
            epochs = (size_t)strtoul(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--problem") && v) {
            o.problem = !strcmp(v, "normal_gamma") ? 0 : !strcmp(v, "ar1") ? 1 : -2;
            i++;
        } else {
            usage();
            return strcmp(a, "--help") ? 2 : 0;
        }
    }
    if (epochs) o.epochs = epochs;
    if (o.problem == -2) {
        usage();
        return 2;
    }
    for (int pi = 0; pi < 2; pi++)
        if (o.problem < 0 || o.problem == pi) run_problem(&problems[pi], &o);
    printf("\n(C2ST: mean over the observations of the accuracy of a classifier telling model\n"
           " draws from exact ones, 0.5 = indistinguishable; |mean err| in posterior sds,\n"
           " averaged over both parameters; sd ratio exact = 1; n = 100 is beyond the training\n"
           " sizes)\n");
    return 0;
}
