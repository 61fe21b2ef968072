/*
 * The approximator: standardization fitted on training data, the diffusion
 * network, training (offline and online) with Adam + warm-up/cosine LR +
 * clipping + EMA, and batched posterior sampling. Sampling splits the draws
 * into fixed chunks with their own RNG streams, so the result does not depend
 * on the thread count.
 */
#include "approx/model.h"
#include "approx/transform.h"
#include "gen/ot.h"
#include "sample/sampler.h"
#include <cJSON.h>
#include <math.h>
#include <omp.h>
#include <string.h>

void openblas_set_num_threads(int num_threads);

#define SAMPLE_CHUNK 256
#define RNG_STREAM_INIT 1
#define RNG_STREAM_SPLIT 2
#define RNG_STREAM_TRAIN 3
#define RNG_STREAM_VAL 4
#define RNG_STREAM_SIM 5
#define RNG_STREAM_SAMPLE 1000

dsbi_model_config dsbi_model_config_default(void) {
    return (dsbi_model_config){
        .schedule = DSBI_SCHEDULE_EDM,
        .prediction = DSBI_PREDICTION_F,
        .weighting = DSBI_WEIGHTING_DEFAULT,
        .width = 256,
        .depth = 4,
        .activation = DSBI_ACT_SILU,
        .residual = 1,
        .layer_norm = 0,
        .time_embedding = DSBI_TIME_FOURIER,
        .time_features = 32,
        .fourier_scale = 3.0f,
        .sigma_data = 1.0f,
        .cosine_shift = 0.0f,
        .seed = 0,
        .summary = DSBI_SUMMARY_NONE,
        .set_size = 0,
        .set_features = 1,
        .summary_dim = 16,
        .summary_width = 64,
        .summary_depth = 2,
        .summary_heads = 4,
        .summary_inducing = 8,
        .summary_pool = DSBI_SUMMARY_POOL_MEAN,
        .summary_stats = 1,
        .cfg_dropout = 0.0f,
    };
}

dsbi_train_config dsbi_train_config_default(void) {
    return (dsbi_train_config){
        .epochs = 300,
        .batch_size = 256,
        .lr = 1e-3f,
        .lr_min = 1e-6f,
        .warmup = 0.05f,
        .weight_decay = 0.0f,
        .clip_norm = 1.5f,
        .ema_decay = 0.999f,
        .val_fraction = 0.1f,
        .patience = 30,
        .checkpoint = NULL,
        .checkpoint_every = 10,
        .resume = 0,
        .sims_per_epoch = 10000,
        .seed = 0,
    };
}

dsbi_sample_config dsbi_sample_config_default(void) {
    return (dsbi_sample_config){
        .sampler = DSBI_SAMPLER_DDIM,
        .steps = 100,
        .stop_time = 0.0f,
        .eta = 0.0f,
        .max_nfe = 0,
        .atol = 0.0f,
        .rtol = 0.0f,
        .corrector_steps = 1,
        .snr = 0.08f,
        .seed = 0,
        .guidance_scale = 1.0f,
    };
}

static int check_config(const dsbi_model_config *c, size_t D, size_t K) {
    if (D == 0 || K == 0 || D > 100000 || K > 10000000)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "model dimensions theta=%zu x=%zu out of range", D, K);
    if ((unsigned)c->schedule > DSBI_SCHEDULE_SCM)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown schedule %d", (int)c->schedule);
    if ((unsigned)c->prediction > DSBI_PREDICTION_FLOW)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown prediction %d", (int)c->prediction);
    if ((unsigned)c->weighting > DSBI_WEIGHTING_FLOW)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown weighting %d", (int)c->weighting);
    if ((c->prediction == DSBI_PREDICTION_FLOW) != (c->schedule == DSBI_SCHEDULE_FLOW) &&
        c->prediction == DSBI_PREDICTION_FLOW)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "the flow velocity prediction needs the flow schedule (use --model flow)");
    if ((unsigned)c->activation > DSBI_ACT_RELU)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown activation %d", (int)c->activation);
    if ((unsigned)c->time_embedding > DSBI_TIME_SINUSOIDAL)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown time embedding %d", (int)c->time_embedding);
    if (c->width == 0 || c->width > 65536 || c->depth == 0 || c->depth > 1000)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "width %zu / depth %zu out of range", c->width, c->depth);
    if (c->time_features < 2 || c->time_features > 4096 || c->time_features % 2)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "time_features must be even, 2..4096 (got %zu)",
                         c->time_features);
    if (!(c->sigma_data > 0.0f) || !isfinite(c->fourier_scale) || !isfinite(c->cosine_shift))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "sigma_data must be > 0 and scales finite");
    if (!(c->cfg_dropout >= 0.0f && c->cfg_dropout < 1.0f))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "condition dropout (cfg_dropout) must be in [0, 1) (got %g); 0.1-0.2 is usual",
                         (double)c->cfg_dropout);
    return dsbi_summary_check_config(c, K);
}

/* Builds the diffusion net (conditioned on the summary when there is one)
 * and the summary net of a config. */
static int build_nets(const dsbi_model_config *cfg, size_t D, size_t K, dsbi_diffusion *dm,
                      dsbi_summary_net *sn) {
    int has = cfg->summary != DSBI_SUMMARY_NONE;
    memset(sn, 0, sizeof *sn);
    int st = dsbi_diffusion_build(dm, cfg, D, has ? cfg->summary_dim : K);
    if (!st && has && (st = dsbi_summary_net_build(sn, cfg, cfg->set_size)))
        dsbi_diffusion_free(dm);
    return st;
}

/* ---------------------------------------------------------------- classifier-free guidance
 *
 * The unconditional branch needs a condition that means "no observation".
 * We learn one: a vector of dm.K values (standardized x, or the summary for
 * a summary model) stored at the end of the parameter block, written into
 * the network's condition input for the dropped rows, and trained by the
 * condition-input gradient of those rows. Why a learned vector rather than
 * zeros (BayesFlow's fallback) or an extra indicator input: zeros in
 * standardized x space are the most typical observation, so the net could
 * not tell "no x" from "x at the training mean"; an indicator column would
 * change the width of the condition input that every consumer of the
 * diffusion net (tall-data composition, guidance) fills with dm.K values.
 * A vector inside the parameter block is handled by the optimizer, EMA,
 * checkpoints and files unchanged, and models without dropout keep their
 * exact parameter layout and files. */

/* Where the null vector starts: after the diffusion and summary weights. */
static size_t null_offset(const dsbi_model *m) { return m->dm.net.n_params + m->sn.net.n_params; }

/* Start the null vector away from the data (entries +-6 training sds, signs
 * alternating): at 0 it coincides with the commonest observation and the two
 * training targets (prior, and posterior at x = mean) fight until its
 * gradient has moved it off. Measured on a 2-D Gaussian toy (tests/test_cfg.c):
 * initialised at 0 the learned prior's sd came out at 0.54 / 0.65 of the
 * true one, at +-3 at 0.95, at +-6 at 0.94 with the posterior of an
 * observation lying toward the null vector closer too (mean error 0.09
 * instead of 0.16 sd). Deterministic, so it draws nothing from the init
 * stream: the other weights are those of a model without dropout. */
#define CFG_NULL_INIT 6.0f

const float *dsbi_model_null_condition(const dsbi_model *m, const float *params) {
    return m->cfg.cfg_dropout > 0.0f ? params + null_offset(m) : NULL;
}

int dsbi_model_has_null_condition(const dsbi_model *m) { return m && m->cfg.cfg_dropout > 0.0f; }

int dsbi_model_count_params(const dsbi_model_config *cfg, size_t D, size_t K, size_t *n_params) {
    if (check_config(cfg, D, K)) return DSBI_STATUS_ERR_INVALID;
    dsbi_diffusion dm;
    dsbi_summary_net sn;
    int st = build_nets(cfg, D, K, &dm, &sn);
    if (st) return st;
    *n_params = dm.net.n_params + sn.net.n_params + (cfg->cfg_dropout > 0.0f ? dm.K : 0);
    dsbi_diffusion_free(&dm);
    dsbi_summary_net_free(&sn);
    return DSBI_STATUS_OK;
}

dsbi_model *dsbi_model_create(const dsbi_model_config *cfg, size_t D, size_t K) {
    dsbi_clear_error();
    dsbi_model_config def = dsbi_model_config_default();
    if (!cfg) cfg = &def;
    if (check_config(cfg, D, K)) return NULL;
    dsbi_model *m = dsbi_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cfg = *cfg;
    m->D = D;
    m->K = K;
    if (build_nets(cfg, D, K, &m->dm, &m->sn)) goto fail;
    m->n_params = m->dm.net.n_params + m->sn.net.n_params + (cfg->cfg_dropout > 0.0f ? m->dm.K : 0);
    m->params = dsbi_malloc(m->n_params, sizeof(float));
    m->theta_mean = dsbi_malloc(2 * D + 2 * K, sizeof(float));
    if (!m->params || !m->theta_mean) goto fail;
    m->theta_std = m->theta_mean + D;
    m->x_mean = m->theta_std + D;
    m->x_std = m->x_mean + K;
    for (size_t i = 0; i < D; i++) m->theta_mean[i] = 0.0f, m->theta_std[i] = 1.0f;
    for (size_t i = 0; i < K; i++) m->x_mean[i] = 0.0f, m->x_std[i] = 1.0f;
    dsbi_rng rng;
    dsbi_rng_init(&rng, cfg->seed, RNG_STREAM_INIT);
    dsbi_net_init_params(&m->dm.net, m->params, &rng);
    if (cfg->summary) dsbi_net_init_params(&m->sn.net, m->params + m->dm.net.n_params, &rng);
    if (cfg->cfg_dropout > 0.0f)
        for (size_t k = 0; k < m->dm.K; k++)
            m->params[null_offset(m) + k] = k % 2 ? -CFG_NULL_INIT : CFG_NULL_INIT;
    return m;
fail:
    dsbi_model_free(m);
    return NULL;
}

static void free_names(char **names, size_t n) {
    if (!names) return;
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

void dsbi_model_free(dsbi_model *m) {
    if (!m) return;
    dsbi_diffusion_free(&m->dm);
    dsbi_summary_net_free(&m->sn);
    free(m->params);
    free(m->theta_mean);
    free(m->hist_train);
    free_names(m->theta_names, m->D);
    free_names(m->x_names, m->K);
    free(m->bound_lo);
    free(m);
}

int dsbi_model_set_bounds(dsbi_model *m, const double *lower, const double *upper) {
    dsbi_clear_error();
    if (!m) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "set_bounds: no model");
    if (m->trained)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "set_bounds: the model is trained; bounds must be set before fitting");
    size_t D = m->D;
    for (size_t j = 0; j < D; j++) {
        double a = lower ? lower[j] : -INFINITY, b = upper ? upper[j] : INFINITY;
        if (isnan(a) || isnan(b) || !(a < b))
            return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                             "set_bounds: parameter %zu: lower bound %g is not below upper bound %g",
                             j + 1, a, b);
    }
    free(m->bound_lo);
    m->bound_lo = m->bound_hi = NULL;
    if (!dsbi_bounds_active(lower, upper, D)) return DSBI_STATUS_OK;
    double *lo = dsbi_malloc(2 * D, sizeof(double));
    if (!lo) return DSBI_STATUS_ERR_NOMEM;
    for (size_t j = 0; j < D; j++) {
        lo[j] = lower ? lower[j] : -INFINITY;
        lo[D + j] = upper ? upper[j] : INFINITY;
    }
    m->bound_lo = lo;
    m->bound_hi = lo + D;
    return DSBI_STATUS_OK;
}

/* ---------------------------------------------------------------- consistency distillation */

/* The student learns the teacher's ODE map in the teacher's standardized
 * coordinates, so it adopts the teacher's standardization (and bounds): a
 * diffusion level sigma means the same noise to both only then. */
int dsbi_model_set_teacher(dsbi_model *m, const dsbi_model *teacher) {
    dsbi_clear_error();
    if (!m) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "set_teacher: NULL model");
    if (!teacher) {
        m->teacher = NULL;
        m->dm.teacher = NULL;
        m->dm.teacher_params = NULL;
        return DSBI_STATUS_OK;
    }
    if (m->cfg.schedule != DSBI_SCHEDULE_CONSISTENCY)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "distillation trains a consistency model (--model consistency); this model "
                         "is a diffusion or flow model");
    if (teacher->cfg.schedule == DSBI_SCHEDULE_CONSISTENCY ||
        teacher->cfg.schedule == DSBI_SCHEDULE_SCM || !teacher->trained)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "the teacher must be a trained diffusion or flow-matching model (got %s)",
                         teacher->trained ? "a consistency model" : "an untrained model");
    if (teacher->D != m->D || teacher->K != m->K)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "the teacher has %zu parameters and %zu data values, the student %zu and %zu",
                         teacher->D, teacher->K, m->D, m->K);
    if (m->cfg.summary || teacher->cfg.summary || m->cfg.cfg_dropout > 0.0f)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "distillation of models with a summary network or condition dropout is not "
                         "supported");
    if (m->trained)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "set_teacher: the student is already trained");
    int st = dsbi_model_set_bounds(m, teacher->bound_lo, teacher->bound_hi);
    if (st) return st;
    m->teacher = teacher;
    m->dm.teacher = &teacher->dm;
    m->dm.teacher_params = teacher->params;
    return DSBI_STATUS_OK;
}

static void adopt_teacher_standardization(dsbi_model *m) {
    if (!m->teacher) return;
    memcpy(m->theta_mean, m->teacher->theta_mean, m->D * sizeof(float));
    memcpy(m->theta_std, m->teacher->theta_std, m->D * sizeof(float));
    memcpy(m->x_mean, m->teacher->x_mean, m->K * sizeof(float));
    memcpy(m->x_std, m->teacher->x_std, m->K * sizeof(float));
}

int dsbi_model_get_bounds(const dsbi_model *m, double *lower, double *upper) {
    for (size_t j = 0; j < m->D; j++) {
        if (lower) lower[j] = m->bound_lo ? m->bound_lo[j] : -INFINITY;
        if (upper) upper[j] = m->bound_hi ? m->bound_hi[j] : INFINITY;
    }
    return m->bound_lo != NULL;
}

/* Bounded models train on unbounded coordinates: maps the n theta rows in
 * place and moves rows on or outside the bounds (now NaN) out, keeping theta
 * and x rows paired. Returns the rows kept. */
static size_t rows_to_free(const dsbi_model *m, float *th, float *xx, size_t n) {
    if (!m->bound_lo) return n;
    size_t D = m->D, K = m->K, w = 0;
    dsbi_bounds_to_free(m->bound_lo, m->bound_hi, th, n, D);
    for (size_t i = 0; i < n; i++) {
        int ok = 1;
        for (size_t j = 0; j < D; j++) ok &= isfinite(th[i * D + j]) != 0;
        if (!ok) continue;
        if (w != i) {
            memmove(th + w * D, th + i * D, D * sizeof(float));
            memmove(xx + w * K, xx + i * K, K * sizeof(float));
        }
        w++;
    }
    return w;
}

static void log_outside(const dsbi_train_config *cfg, size_t dropped, size_t n, const char *where) {
    if (!dropped || !cfg->log) return;
    char msg[200];
    snprintf(msg, sizeof msg, "warning: %s: dropped %zu of %zu rows with theta on or outside the bounds",
             where, dropped, n);
    cfg->log(cfg->user, msg);
}

size_t dsbi_model_dim_theta(const dsbi_model *m) { return m->D; }
size_t dsbi_model_dim_x(const dsbi_model *m) { return m->K; }
size_t dsbi_model_num_params(const dsbi_model *m) { return m->n_params; }
size_t dsbi_model_default_steps(const dsbi_model *m) {
    return m->cfg.schedule == DSBI_SCHEDULE_CONSISTENCY || m->cfg.schedule == DSBI_SCHEDULE_SCM ? 2
                                                                                                : 100;
}
dsbi_model_config dsbi_model_get_config(const dsbi_model *m) { return m->cfg; }

const char *dsbi_model_theta_name(const dsbi_model *m, size_t i) {
    return m->theta_names && i < m->D ? m->theta_names[i] : NULL;
}

static char **dup_names(const char *const *names, size_t n) {
    if (!names) return NULL;
    char **out = dsbi_calloc(n, sizeof *out);
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = strdup(names[i] ? names[i] : "");
        if (!out[i]) {
            free_names(out, n);
            return NULL;
        }
    }
    return out;
}

int dsbi_model_set_names(dsbi_model *m, const char *const *theta_names,
                         const char *const *x_names) {
    char **t = dup_names(theta_names, m->D), **x = dup_names(x_names, m->K);
    if ((theta_names && !t) || (x_names && !x)) {
        free_names(t, m->D);
        free_names(x, m->K);
        return dsbi_fail(DSBI_STATUS_ERR_NOMEM, "out of memory copying names");
    }
    free_names(m->theta_names, m->D);
    free_names(m->x_names, m->K);
    m->theta_names = t;
    m->x_names = x;
    return DSBI_STATUS_OK;
}

size_t dsbi_model_loss_history(const dsbi_model *m, const double **train, const double **val) {
    if (train) *train = m->hist_train;
    if (val) *val = m->hist_val;
    return m->n_hist;
}

void dsbi_fit_standardization(const float *a, size_t n, size_t d, float *mean, float *sd) {
    for (size_t j = 0; j < d; j++) {
        double s = 0.0, s2 = 0.0;
        for (size_t i = 0; i < n; i++) s += a[i * d + j];
        double mu = n ? s / (double)n : 0.0;
        for (size_t i = 0; i < n; i++) s2 += (a[i * d + j] - mu) * (a[i * d + j] - mu);
        double v = n > 1 ? s2 / (double)(n - 1) : 0.0;
        mean[j] = (float)mu;
        sd[j] = v > 1e-24 ? (float)sqrt(v) : 1.0f;
    }
}

static void standardize(float *out, const float *in, size_t n, size_t d, const float *mean,
                        const float *sd) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) out[i * d + j] = (in[i * d + j] - mean[j]) / sd[j];
}

/* ---------------------------------------------------------------- set data */

/* Checks that every packed row holds a valid member count; names the row. */
static int check_set_rows(const dsbi_model *m, const float *x, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!dsbi_set_row_count(x + i * m->K, m->cfg.set_size))
            return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                             "%s row %zu: first x value (member count) is %g, expected an integer "
                             "in 1..%zu (set rows are packed as [n, members..., zero padding])",
                             what, i + 1, (double)x[i * m->K], m->cfg.set_size);
    return DSBI_STATUS_OK;
}

/* x standardization: per column for flat x; for packed set rows one mean
 * and sd per feature over all valid members of the n rows, repeated over
 * the N member slots so that standardize() applies unchanged, with the
 * count column left as it is (mean 0, sd 1). Padding slots then hold
 * finite junk, which the masked layers ignore. */
static void fit_x_standardization(dsbi_model *m, const float *x, size_t n) {
    if (!m->cfg.summary) {
        dsbi_fit_standardization(x, n, m->K, m->x_mean, m->x_std);
        return;
    }
    const size_t N = m->cfg.set_size, F = m->cfg.set_features, K = m->K;
    for (size_t f = 0; f < F; f++) {
        double s = 0.0, s2 = 0.0, cnt = 0.0;
        for (size_t i = 0; i < n; i++) {
            size_t c = dsbi_set_row_count(x + i * K, N);
            for (size_t j = 0; j < c; j++) s += x[i * K + 1 + j * F + f];
            cnt += (double)c;
        }
        double mu = cnt > 0.0 ? s / cnt : 0.0;
        for (size_t i = 0; i < n; i++) {
            size_t c = dsbi_set_row_count(x + i * K, N);
            for (size_t j = 0; j < c; j++) {
                double d = x[i * K + 1 + j * F + f] - mu;
                s2 += d * d;
            }
        }
        double v = cnt > 1.0 ? s2 / (cnt - 1.0) : 0.0;
        float sd = v > 1e-24 ? (float)sqrt(v) : 1.0f;
        for (size_t j = 0; j < N; j++) {
            m->x_mean[1 + j * F + f] = (float)mu;
            m->x_std[1 + j * F + f] = sd;
        }
    }
    m->x_mean[0] = 0.0f;
    m->x_std[0] = 1.0f;
}

/* Workspace of one worker: the diffusion net's, plus for a summary model the
 * summary net's activations, the member counts and the summaries. cond
 * (B x dm.K) holds the conditions fed to the diffusion net when they are not
 * the x rows themselves: summaries, or rows with the null condition. */
typedef struct model_ws {
    dsbi_diff_ws d;
    dsbi_ws s;
    size_t *count;
    float *cond;
} model_ws;

static void model_ws_free(model_ws *w) {
    dsbi_diff_ws_free(&w->d);
    dsbi_ws_free(&w->s);
    free(w->count);
    free(w->cond);
    memset(w, 0, sizeof *w);
}

static int model_ws_create(model_ws *w, const dsbi_model *m, size_t B, int train) {
    memset(w, 0, sizeof *w);
    int st = dsbi_diff_ws_create(&w->d, &m->dm, B, train);
    if (!st && m->cfg.summary) {
        st = dsbi_ws_create(&w->s, &m->sn.net, B, train);
        w->count = dsbi_malloc(B, sizeof(size_t));
        if (!st && !w->count) st = DSBI_STATUS_ERR_NOMEM;
    }
    if (!st && (m->cfg.summary || m->cfg.cfg_dropout > 0.0f) &&
        !(w->cond = dsbi_malloc(B, m->dm.K * sizeof(float))))
        st = DSBI_STATUS_ERR_NOMEM;
    if (st) model_ws_free(w);
    return st;
}

/* Summaries (into w->cond, B x S) of B standardized packed rows; the member
 * counts were checked when the data came in. */
static void summary_forward(const dsbi_model *m, const float *params, model_ws *w, const float *x,
                            size_t B) {
    const dsbi_summary_net *sn = &m->sn;
    const size_t N = sn->rows, F = sn->F, K = m->K;
    float *in = dsbi_ws_act(&w->s, &sn->net, sn->in, B);
    for (size_t i = 0; i < B; i++) {
        size_t c = dsbi_set_row_count(x + i * K, N);
        DSBI_ASSERT(c >= 1);
        w->count[i] = c;
        memcpy(in + i * N * F, x + i * K + 1, c * F * sizeof(float));
        memset(in + (i * N + c) * F, 0, (N - c) * F * sizeof(float));
    }
    w->s.count = w->count;
    dsbi_net_forward(&sn->net, params + m->dm.net.n_params, &w->s, B);
    memcpy(w->cond, dsbi_ws_act(&w->s, &sn->net, sn->out, B), B * sn->S * sizeof(float));
}

/* The training loss of B rows (see dsbi_diffusion_loss). With a summary net
 * the two tapes are chained: summary forward, diffusion loss and backward,
 * whose gradient at the condition input seeds the summary backward, so the
 * diffusion loss trains the summary net (joint training, cDiff). Two tapes
 * rather than one because sampling runs the diffusion net alone, on one
 * summary computed once, and because the summary tape can be rebuilt for an
 * observation of any size without touching the diffusion tape. */
/* drop (B flags or NULL): rows whose condition is replaced by the null
 * vector (classifier-free guidance); they train the unconditional branch,
 * and their condition-input gradient trains the null vector instead of the
 * summary net. */
static double model_loss(const dsbi_model *m, const float *params, float *grads, model_ws *w,
                         const float *theta, const float *x, const float *eps, const double *u,
                         const unsigned char *drop, size_t B, size_t B_total) {
    const float *null = drop ? dsbi_model_null_condition(m, params) : NULL;
    if (!m->cfg.summary && !null)
        return dsbi_diffusion_loss(&m->dm, params, grads, &w->d, theta, x, eps, u, B, B_total);
    const size_t Kc = m->dm.K;
    if (m->cfg.summary)
        summary_forward(m, params, w, x, B);
    else
        memcpy(w->cond, x, B * Kc * sizeof(float));
    for (size_t i = 0; null && i < B; i++)
        if (drop[i]) memcpy(w->cond + i * Kc, null, Kc * sizeof(float));
    double loss = dsbi_diffusion_loss(&m->dm, params, grads, &w->d, theta, w->cond, eps, u, B,
                                      B_total);
    if (grads) {
        const float *dc = dsbi_ws_dact(&w->d.ws, &m->dm.net, m->dm.in_x, B);
        float *gn = null ? grads + null_offset(m) : NULL;
        for (size_t i = 0; gn && i < B; i++)
            if (drop[i])
                for (size_t k = 0; k < Kc; k++) gn[k] += dc[i * Kc + k];
        if (m->cfg.summary) {
            const dsbi_net *sn = &m->sn.net;
            size_t P = m->dm.net.n_params;
            dsbi_net_zero_dact(sn, &w->s, B);
            float *ds = dsbi_ws_dact(&w->s, sn, m->sn.out, B);
            memcpy(ds, dc, B * Kc * sizeof(float));
            /* a dropped row's summary was not used: no gradient to the summary net */
            for (size_t i = 0; null && i < B; i++)
                if (drop[i]) memset(ds + i * Kc, 0, Kc * sizeof(float));
            dsbi_net_backward(sn, params + P, grads + P, &w->s, B);
        }
    }
    return loss;
}

double dsbi_model_loss_eval_drop(const dsbi_model *m, const float *params, float *grads,
                                 const float *theta, const float *x, const float *eps,
                                 const double *u, const unsigned char *drop, size_t B) {
    model_ws w;
    if (model_ws_create(&w, m, B, grads != NULL)) return NAN;
    double l = model_loss(m, params, grads, &w, theta, x, eps, u, drop, B, B);
    model_ws_free(&w);
    return l;
}

double dsbi_model_loss_eval(const dsbi_model *m, const float *params, float *grads,
                            const float *theta, const float *x, const float *eps, const double *u,
                            size_t B) {
    return dsbi_model_loss_eval_drop(m, params, grads, theta, x, eps, u, NULL, B);
}

/* ---------------------------------------------------------------- training */

/* A batch is split into contiguous row blocks, one per worker thread, each
 * with its own workspace and gradient buffer (worker 0 uses grads); the
 * noise is drawn serially first, so only the summation order of the
 * gradients depends on the thread count. */
#define MAX_WORKERS 64
#define MIN_ROWS_PER_WORKER 32

typedef struct fit_state {
    dsbi_model *m;
    const dsbi_train_config *cfg;
    size_t B, n_params;
    float *grads, *adam_m, *adam_v, *ema, *best;
    double best_val;
    size_t best_epoch, since_best;
    int n_workers;
    model_ws ws[MAX_WORKERS];
    float *wgrads;  /* (n_workers - 1) x n_params */
    float *eps;     /* B x D */
    double *u;      /* B */
    unsigned char *drop; /* B condition-dropout flags (classifier-free guidance) */
    float *bt, *bx; /* batch buffers B x D, B x K */
    size_t *perm;
    size_t perm_n;
    size_t step, total_steps;
    dsbi_rng rng;
    dsbi_adam opt;
    float *gptr[MAX_WORKERS]; /* gradient buffer of each worker */
    int n_grads;              /* buffers filled by the last batch */
    dsbi_ot_ws ot;            /* minibatch OT coupling (flow matching), if enabled */
} fit_state;

static void fit_state_free(fit_state *s) {
    free(s->grads);
    for (int t = 0; t < s->n_workers; t++) model_ws_free(&s->ws[t]);
    if (s->n_workers > 1) openblas_set_num_threads(dsbi_get_threads());
    free(s->wgrads);
    free(s->eps);
    free(s->u);
    free(s->drop);
    free(s->bt);
    free(s->perm);
    dsbi_ot_ws_free(&s->ot);
}

static int fit_state_init(fit_state *s, dsbi_model *m, const dsbi_train_config *cfg,
                          size_t max_rows, size_t steps_per_epoch) {
    memset(s, 0, sizeof *s);
    /* OT coupling (gen/ot.c) re-pairs flow-matching noise with parameters;
       its condition distance needs x rows that are vectors, not packed sets.
       Ratios above 0.05 bias the posterior more than they help (gen/ot.c) */
    float ot = m->cfg.ot_coupling;
    if (ot != 0.0f && !(ot > 0.0f && ot <= 0.05f))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "OT coupling ratio must be in (0, 0.05], 0 = off (got %g); larger ratios "
                         "bias the posterior", (double)ot);
    if (ot != 0.0f && m->cfg.schedule != DSBI_SCHEDULE_FLOW)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "OT coupling is for flow-matching models only (--model flow)");
    if (ot != 0.0f && m->cfg.summary)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "OT coupling needs plain x rows; it does not work with a summary network");
    if (ot != 0.0f && cfg->batch_size > DSBI_OT_MAX_BATCH)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "OT coupling: batch size %zu above %d (the plan is B x B)",
                         cfg->batch_size, DSBI_OT_MAX_BATCH);
    s->m = m;
    s->cfg = cfg;
    s->B = cfg->batch_size;
    s->n_params = m->n_params;
    int threads = dsbi_get_threads();
    size_t w = s->B / MIN_ROWS_PER_WORKER;
    s->n_workers = (int)(w < 1 ? 1 : (w < (size_t)threads ? w : (size_t)threads));
    if (s->n_workers > MAX_WORKERS) s->n_workers = MAX_WORKERS;
    s->grads = dsbi_malloc(5 * s->n_params, sizeof(float));
    s->bt = dsbi_malloc(s->B * (m->D + m->K), sizeof(float));
    s->perm = dsbi_malloc(max_rows, sizeof(size_t));
    s->eps = dsbi_malloc(s->B * m->D, sizeof(float));
    s->u = dsbi_malloc(s->B, sizeof(double));
    s->drop = dsbi_malloc(s->B, 1);
    if (s->n_workers > 1) s->wgrads = dsbi_malloc((size_t)(s->n_workers - 1) * s->n_params, sizeof(float));
    if (!s->grads || !s->bt || !s->perm || !s->eps || !s->u || !s->drop ||
        (s->n_workers > 1 && !s->wgrads) || (ot != 0.0f && dsbi_ot_ws_create(&s->ot, s->B, m->D)))
        goto fail;
    s->adam_m = s->grads + s->n_params;
    s->adam_v = s->adam_m + s->n_params;
    s->ema = s->adam_v + s->n_params;
    s->best = s->ema + s->n_params;
    s->best_val = INFINITY;
    s->best_epoch = 0;
    memset(s->adam_m, 0, 2 * s->n_params * sizeof(float));
    memcpy(s->ema, m->params, s->n_params * sizeof(float));
    s->bx = s->bt + s->B * m->D;
    for (int t = 0; t < s->n_workers; t++)
        s->gptr[t] = t == 0 ? s->grads : s->wgrads + (size_t)(t - 1) * s->n_params;
    size_t rows = (s->B + (size_t)s->n_workers - 1) / (size_t)s->n_workers;
    for (int t = 0; t < s->n_workers; t++)
        if (model_ws_create(&s->ws[t], m, t == 0 ? s->B : rows, 1)) goto fail;
    /* the workers run single-threaded BLAS side by side */
    if (s->n_workers > 1) openblas_set_num_threads(1);
    s->total_steps = cfg->epochs * steps_per_epoch;
    dsbi_rng_init(&s->rng, cfg->seed, RNG_STREAM_TRAIN);
    s->opt = (dsbi_adam){.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                         .weight_decay = cfg->weight_decay};
    return DSBI_STATUS_OK;
fail:
    fit_state_free(s);
    return DSBI_STATUS_ERR_NOMEM;
}

static void shuffle(size_t *perm, size_t n, dsbi_rng *rng) {
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(dsbi_rng_uniform(rng) * (double)i);
        if (j >= i) j = i - 1;
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

/* Loss and gradients (into s->grads) of the B rows in s->bt / s->bx. */
static double batch_loss(fit_state *s, const float *params, size_t B) {
    dsbi_model *m = s->m;
    const size_t D = m->D, K = m->K, P = s->n_params;
    dsbi_diffusion_draw_noise(&m->dm, &s->rng, B, s->eps, s->u);
    /* condition dropout from the training stream, after the noise and only
       when enabled: models without it draw exactly what they drew before, and
       the checkpointed stream makes a resumed run bit-identical */
    const unsigned char *drop = NULL;
    if (m->cfg.cfg_dropout > 0.0f) {
        for (size_t i = 0; i < B; i++)
            s->drop[i] = dsbi_rng_uniform(&s->rng) < (double)m->cfg.cfg_dropout;
        drop = s->drop;
    }
    /* OT coupling: a deterministic function of the batch, after every draw,
       so it takes nothing from the training stream; on a numerical failure
       the batch keeps its independent noise (the unbiased fallback) */
    if (m->cfg.ot_coupling > 0.0f)
        dsbi_ot_couple(&s->ot, s->bt, s->bx, s->eps, B, D, K, m->cfg.ot_coupling, NULL);
    int T = s->n_workers;
    s->n_grads = 1;
    if (T == 1 || B < (size_t)T * MIN_ROWS_PER_WORKER / 2) {
        memset(s->grads, 0, P * sizeof(float));
        return model_loss(m, params, s->grads, &s->ws[0], s->bt, s->bx, s->eps, s->u, drop, B, B);
    }
    double part[MAX_WORKERS];
    size_t rows = (B + (size_t)T - 1) / (size_t)T;
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num();
        size_t r0 = (size_t)t * rows, r1 = r0 + rows < B ? r0 + rows : B;
        float *g = t == 0 ? s->grads : s->wgrads + (size_t)(t - 1) * P;
        memset(g, 0, P * sizeof(float));
        part[t] = r1 > r0 ? model_loss(m, params, g, &s->ws[t], s->bt + r0 * D, s->bx + r0 * K,
                                       s->eps + r0 * D, s->u + r0, drop ? drop + r0 : NULL,
                                       r1 - r0, B)
                          : 0.0;
    }
    /* the workers' gradients are summed by dsbi_optim_step, fused with the update */
    s->n_grads = T;
    double loss = 0.0;
    for (int t = 0; t < T; t++) loss += part[t];
    return loss;
}

/* One pass over n standardized rows in shuffled full batches (the last
 * partial batch is dropped; a set smaller than a batch is used whole). */
static int run_epoch(fit_state *s, const float *theta, const float *x, size_t n, double *mean_loss) {
    dsbi_model *m = s->m;
    size_t D = m->D, K = m->K, B = s->B < n ? s->B : n;
    size_t nb = n / B;
    shuffle(s->perm, n, &s->rng);
    double acc = 0.0;
    for (size_t b = 0; b < nb; b++) {
        for (size_t i = 0; i < B; i++) {
            size_t r = s->perm[b * B + i];
            memcpy(s->bt + i * D, theta + r * D, D * sizeof(float));
            memcpy(s->bx + i * K, x + r * K, K * sizeof(float));
        }
        m->dm.ct_levels = dsbi_ct_levels(s->step, s->total_steps);
        m->dm.train_step = s->step; /* sCM tangent warm-up */
        m->dm.train_steps = s->total_steps;
        double loss = batch_loss(s, m->params, B);
        if (!isfinite(loss))
            return dsbi_fail(DSBI_STATUS_ERR_NUMERIC,
                             "training loss became non-finite at step %zu; lower --lr or check "
                             "the data for extreme values", s->step + 1);
        s->step++;
        float lr = dsbi_lr_schedule(s->step - 1, s->total_steps, s->cfg->lr, s->cfg->lr_min,
                                    s->cfg->warmup);
        /* warm-up of the EMA so early epochs are not dominated by the init */
        float d = s->cfg->ema_decay, w = (1.0f + (float)s->step) / (10.0f + (float)s->step);
        if (d > w) d = w;
        dsbi_optim_step(m->params, s->gptr, s->n_grads, s->adam_m, s->adam_v, s->ema,
                        s->n_params, &s->opt, lr, s->step, s->cfg->clip_norm,
                        s->cfg->ema_decay > 0.0f ? d : 0.0f, dsbi_get_threads());
        acc += loss;
    }
    *mean_loss = acc / (double)nb;
    return DSBI_STATUS_OK;
}

/* Validation loss with the EMA weights and a fixed noise stream, so the curve
 * measures the model rather than the noise draw. No condition dropout: it
 * measures the posterior (conditional) branch, the one sampling uses by
 * default, and stays comparable with models trained without dropout. */
static double val_loss(fit_state *s, const float *theta, const float *x, size_t n) {
    if (n == 0) return NAN;
    dsbi_model *m = s->m;
    dsbi_rng r;
    dsbi_rng_init(&r, s->cfg->seed, RNG_STREAM_VAL);
    double acc = 0.0;
    size_t rows = 0;
    for (size_t i = 0; i < n; i += s->B) {
        size_t B = n - i < s->B ? n - i : s->B;
        dsbi_diffusion_draw_noise(&m->dm, &r, B, s->eps, s->u);
        double l = model_loss(m, s->ema, NULL, &s->ws[0], theta + i * m->D, x + i * m->K, s->eps,
                              s->u, NULL, B, B);
        acc += l * (double)B;
        rows += B;
    }
    return acc / (double)rows;
}

static int check_train_config(const dsbi_train_config *c) {
    if (c->epochs == 0 || c->epochs > 10000000)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "epochs must be 1..1e7 (got %zu)", c->epochs);
    if (c->batch_size == 0 || c->batch_size > 1000000)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "batch size must be 1..1e6 (got %zu)", c->batch_size);
    if (!(c->lr > 0.0f) || !(c->lr_min >= 0.0f) || !isfinite(c->lr))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "learning rate must be > 0 (got %g)", (double)c->lr);
    if (!(c->val_fraction >= 0.0f && c->val_fraction < 1.0f))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "validation fraction must be in [0, 1)");
    if (!(c->ema_decay >= 0.0f && c->ema_decay < 1.0f))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "EMA decay must be in [0, 1)");
    if (!(c->warmup >= 0.0f && c->warmup <= 1.0f) || !(c->clip_norm >= 0.0f) ||
        !(c->weight_decay >= 0.0f))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "warmup in [0,1], clip and weight decay >= 0");
    return DSBI_STATUS_OK;
}

/* hist_val points into hist_train's block: only hist_train is freed */
static int alloc_history(dsbi_model *m, size_t epochs) {
    free(m->hist_train);
    m->hist_val = NULL;
    m->n_hist = 0;
    m->hist_train = dsbi_malloc(2 * epochs, sizeof(double));
    if (!m->hist_train) return DSBI_STATUS_ERR_NOMEM;
    m->hist_val = m->hist_train + epochs;
    return DSBI_STATUS_OK;
}

/* Records the epoch's validation loss; returns 1 when patience ran out. The
 * best weights are kept (EMA weights, as used for sampling). */
static int track_best(fit_state *s, size_t epoch, double vl) {
    /* the consistency loss changes meaning as the curriculum refines the
       levels, and the sCM loss (of normalised tangents) does not measure the
       fit: no model selection or early stopping on either */
    if (!isfinite(vl) || s->m->cfg.schedule == DSBI_SCHEDULE_CONSISTENCY ||
        s->m->cfg.schedule == DSBI_SCHEDULE_SCM)
        return 0;
    if (vl < s->best_val) {
        s->best_val = vl;
        s->best_epoch = epoch;
        s->since_best = 0;
        memcpy(s->best, s->ema, s->n_params * sizeof(float));
        return 0;
    }
    s->since_best++;
    return s->cfg->patience && s->since_best >= s->cfg->patience;
}

/* The sampling weights after a fit: those of the best validation epoch, or
 * the final EMA weights without a validation set. */
static int finish_fit(dsbi_model *m, fit_state *s, int status) {
    memcpy(m->params, s->best_epoch ? s->best : s->ema, s->n_params * sizeof(float));
    if (s->best_epoch && s->best_epoch < m->n_hist && s->cfg->log) {
        char msg[160];
        snprintf(msg, sizeof msg, "kept the weights of epoch %zu (lowest validation loss %.4f) of %zu",
                 s->best_epoch, s->best_val, m->n_hist);
        s->cfg->log(s->cfg->user, msg);
    }
    m->trained = 1;
    fit_state_free(s);
    return status;
}

/* ---------------------------------------------------------------- checkpoints */

/* A checkpoint is a model file (its "params" are the current sampling
 * weights, so `diffsbi sample` can use it) plus the live weights, Adam
 * moments, EMA and best weights as extra tensors, and the counters and RNG
 * state as a JSON string in the metadata. Resuming restores all of it, so the
 * rest of the run is bit-identical to an uninterrupted one with the same seed
 * and thread count. */
static int write_checkpoint(dsbi_model *m, fit_state *s, size_t epochs_done) {
    const dsbi_train_config *c = s->cfg;
    dsbi_extra_tensor ex[5] = {{"train_params", m->params, s->n_params},
                               {"adam_m", s->adam_m, s->n_params},
                               {"adam_v", s->adam_v, s->n_params},
                               {"ema", s->ema, s->n_params},
                               {"best", s->best, s->n_params}};
    char state[768];
    const dsbi_rng *r = &s->rng;
    snprintf(state, sizeof state,
             "{\"epoch\":%zu,\"step\":%zu,\"best_val\":%.17g,\"best_epoch\":%zu,\"since_best\":%zu,"
             "\"rng\":[%u,%u,%u,%u,%u,%u,%u,%u,%u,%u,%u,%d],\"rng_spare\":%.17g,\"epochs\":%zu,"
             "\"batch\":%zu,\"seed\":%llu,\"workers\":%d}",
             epochs_done, s->step, isfinite(s->best_val) ? s->best_val : 1e308, s->best_epoch,
             s->since_best, r->key[0], r->key[1], r->ctr[0], r->ctr[1], r->ctr[2], r->ctr[3],
             r->buf[0], r->buf[1], r->buf[2], r->buf[3], r->used, r->has_spare, r->spare, c->epochs,
             c->batch_size, (unsigned long long)c->seed, s->n_workers);
    m->trained = 1;
    return dsbi_model_save_ext(m, c->checkpoint, s->best_epoch ? s->best : s->ema, ex, 5, state);
}

static int json_size(const cJSON *o, const char *k, size_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) return -1;
    *out = (size_t)v->valuedouble;
    return 0;
}

/* Restores the training state; returns the number of epochs already done
 * through *epochs_done. The data (split, standardization) must be the same. */
static int read_checkpoint(dsbi_model *m, fit_state *s, size_t *epochs_done) {
    const dsbi_train_config *c = s->cfg;
    const char *path = c->checkpoint;
    dsbi_extra_tensor ex[5] = {{"train_params", m->params, s->n_params},
                               {"adam_m", s->adam_m, s->n_params},
                               {"adam_v", s->adam_v, s->n_params},
                               {"ema", s->ema, s->n_params},
                               {"best", s->best, s->n_params}};
    char *state = NULL;
    dsbi_model *ck = dsbi_model_load_ext(path, ex, 5, &state);
    if (!ck) return DSBI_STATUS_ERR_FORMAT; /* message names the file */
    int st = DSBI_STATUS_OK;
    cJSON *j = state ? cJSON_Parse(state) : NULL;
    size_t epoch = 0, step = 0, best_epoch = 0, since = 0, epochs = 0, batch = 0, seed = 0;
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(j, "rng");
    const cJSON *bv = cJSON_GetObjectItemCaseSensitive(j, "best_val");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "rng_spare");
    const cJSON *wk = cJSON_GetObjectItemCaseSensitive(j, "workers");
    if (!j || json_size(j, "epoch", &epoch) || json_size(j, "step", &step) ||
        json_size(j, "best_epoch", &best_epoch) || json_size(j, "since_best", &since) ||
        json_size(j, "epochs", &epochs) || json_size(j, "batch", &batch) ||
        json_size(j, "seed", &seed) || !cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 12 ||
        !cJSON_IsNumber(bv) || !cJSON_IsNumber(sp)) {
        st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: not a training checkpoint (no valid training state)", path);
    } else if (ck->D != m->D || ck->K != m->K || ck->n_params != s->n_params ||
               ck->cfg.summary != m->cfg.summary || ck->cfg.schedule != m->cfg.schedule || ck->cfg.prediction != m->cfg.prediction ||
               ck->cfg.width != m->cfg.width || ck->cfg.depth != m->cfg.depth ||
               ck->cfg.cfg_dropout != m->cfg.cfg_dropout || ck->cfg.ot_coupling != m->cfg.ot_coupling) {
        st = dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: checkpoint of a different model configuration", path);
    } else if (epochs != c->epochs || batch != c->batch_size || seed != (size_t)c->seed) {
        st = dsbi_fail(DSBI_STATUS_ERR_INVALID,
                       "%s: checkpoint was made with epochs %zu, batch %zu, seed %zu; resume with the same",
                       path, epochs, batch, seed);
    } else if (epoch > c->epochs || ck->n_hist != epoch) {
        st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: inconsistent epoch count in checkpoint", path);
    } else if (memcmp(ck->theta_mean, m->theta_mean, 2 * (m->D + m->K) * sizeof(float)) != 0) {
        st = dsbi_fail(DSBI_STATUS_ERR_INVALID,
                       "%s: the training data differ from the checkpoint's (standardization mismatch)", path);
    } else {
        uint32_t v[12];
        for (int i = 0; i < 12; i++) v[i] = (uint32_t)cJSON_GetArrayItem(rng, i)->valuedouble;
        dsbi_rng *r = &s->rng;
        r->key[0] = v[0], r->key[1] = v[1];
        for (int i = 0; i < 4; i++) r->ctr[i] = v[2 + i], r->buf[i] = v[6 + i];
        r->used = v[10];
        r->has_spare = (int)v[11];
        r->spare = sp->valuedouble;
        s->step = step;
        s->best_val = bv->valuedouble >= 1e308 ? INFINITY : bv->valuedouble;
        s->best_epoch = best_epoch;
        s->since_best = since;
        for (size_t e = 0; e < epoch; e++) {
            m->hist_train[e] = ck->hist_train[e];
            m->hist_val[e] = ck->hist_val[e];
        }
        m->n_hist = epoch;
        *epochs_done = epoch;
        if (cJSON_IsNumber(wk) && (int)wk->valuedouble != s->n_workers && c->log) {
            char msg[200];
            snprintf(msg, sizeof msg, "note: the checkpoint was written with %d worker threads, resuming "
                     "with %d: the result is valid but not bit-identical to an uninterrupted run",
                     (int)wk->valuedouble, s->n_workers);
            c->log(c->user, msg);
        }
    }
    cJSON_Delete(j);
    free(state);
    dsbi_model_free(ck);
    return st;
}

/* ---------------------------------------------------------------- the epoch loop */

/* Supplies the standardized training rows of one epoch (offline: the same
 * rows every epoch; online: fresh simulations). */
typedef int (*epoch_data_fn)(void *ctx, size_t epoch, const float **theta, const float **x,
                             size_t *n);

static int train_loop(dsbi_model *m, fit_state *s, epoch_data_fn data, void *ctx,
                      const float *vt, const float *vx, size_t nv) {
    const dsbi_train_config *cfg = s->cfg;
    size_t start = 0;
    int st = DSBI_STATUS_OK;
    if (cfg->resume && cfg->checkpoint && (st = read_checkpoint(m, s, &start))) return st;
    int finished_early = start > 0 && s->cfg->patience && s->since_best >= s->cfg->patience;
    double t0 = dsbi_now();
    for (size_t e = start; e < cfg->epochs && !finished_early; e++) {
        const float *th, *xx;
        size_t n;
        double tl = 0.0;
        if ((st = data(ctx, e, &th, &xx, &n)) || (st = run_epoch(s, th, xx, n, &tl))) break;
        double vl = val_loss(s, vt, vx, nv);
        m->hist_train[e] = tl;
        m->hist_val[e] = vl;
        m->n_hist = e + 1;
        int stop = track_best(s, e + 1, vl);
        int user_stop = cfg->progress &&
                        cfg->progress(cfg->user, e + 1, cfg->epochs, tl, vl, dsbi_now() - t0);
        if (cfg->checkpoint && (user_stop || stop || e + 1 == cfg->epochs ||
                                (cfg->checkpoint_every && (e + 1) % cfg->checkpoint_every == 0))) {
            if ((st = write_checkpoint(m, s, e + 1))) break;
        }
        if (user_stop) {
            st = dsbi_fail(DSBI_STATUS_ERR_INTERRUPTED, "training stopped after epoch %zu", e + 1);
            break;
        }
        if (stop) break;
    }
    return st;
}

/* ---------------------------------------------------------------- offline */

typedef struct offline_ctx {
    const float *theta, *x;
    size_t n;
} offline_ctx;

static int offline_data(void *ctx, size_t epoch, const float **theta, const float **x, size_t *n) {
    (void)epoch;
    offline_ctx *c = ctx;
    *theta = c->theta;
    *x = c->x;
    *n = c->n;
    return DSBI_STATUS_OK;
}

int dsbi_model_fit(dsbi_model *m, const dsbi_dataset *ds, const dsbi_train_config *cfg) {
    dsbi_clear_error();
    dsbi_train_config def = dsbi_train_config_default();
    if (!cfg) cfg = &def;
    int st = check_train_config(cfg);
    if (st) return st;
    size_t n = dsbi_dataset_size(ds), D = m->D, K = m->K;
    if (dsbi_dataset_dim_theta(ds) != D || dsbi_dataset_dim_x(ds) != K)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "dataset has theta %zu / x %zu columns, the model expects %zu / %zu",
                         dsbi_dataset_dim_theta(ds), dsbi_dataset_dim_x(ds), D, K);
    size_t n_val = (size_t)floor(cfg->val_fraction * (double)n);
    if (n - n_val < 2)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "need at least 2 training rows (have %zu)", n - n_val);
    /* split rows at random, then standardize with training statistics */
    float *buf = dsbi_malloc(n, (D + K) * sizeof(float));
    size_t *perm = dsbi_malloc(n, sizeof(size_t));
    if (!buf || !perm) {
        free(buf);
        free(perm);
        return DSBI_STATUS_ERR_NOMEM;
    }
    dsbi_rng rs;
    dsbi_rng_init(&rs, cfg->seed, RNG_STREAM_SPLIT);
    shuffle(perm, n, &rs);
    float *th = buf, *xx = buf + n * D;
    const float *T = dsbi_dataset_theta(ds), *X = dsbi_dataset_x(ds);
    for (size_t i = 0; i < n; i++) {
        memcpy(th + i * D, T + perm[i] * D, D * sizeof(float));
        memcpy(xx + i * K, X + perm[i] * K, K * sizeof(float));
    }
    free(perm);
    if (m->cfg.summary && (st = check_set_rows(m, xx, n, "dataset"))) {
        free(buf);
        return st;
    }
    if (m->bound_lo) {
        size_t kept = rows_to_free(m, th, xx, n);
        log_outside(cfg, n - kept, n, "dataset");
        n = kept;
        n_val = (size_t)floor(cfg->val_fraction * (double)n);
        if (n < n_val + 2) {
            free(buf);
            return dsbi_fail(DSBI_STATUS_ERR_INVALID, "need at least 2 training rows inside the bounds (have %zu)",
                             n - (n_val < n ? n_val : n));
        }
    }
    size_t n_tr = n - n_val;
    dsbi_fit_standardization(th, n_tr, D, m->theta_mean, m->theta_std);
    fit_x_standardization(m, xx, n_tr);
    adopt_teacher_standardization(m);
    standardize(th, th, n, D, m->theta_mean, m->theta_std);
    standardize(xx, xx, n, K, m->x_mean, m->x_std);

    size_t B = cfg->batch_size < n_tr ? cfg->batch_size : n_tr;
    fit_state s;
    if ((st = alloc_history(m, cfg->epochs)) || (st = fit_state_init(&s, m, cfg, n_tr, n_tr / B))) {
        free(buf);
        return st;
    }
    offline_ctx oc = {th, xx, n_tr};
    st = train_loop(m, &s, offline_data, &oc, th + n_tr * D, xx + n_tr * K, n_val);
    free(buf);
    return finish_fit(m, &s, st);
}

/* ---------------------------------------------------------------- online */

typedef struct online_ctx {
    dsbi_model *m;
    const dsbi_simulator *sim;
    const dsbi_train_config *cfg;
    float *buf; /* n x (D + K) */
} online_ctx;

static int online_data(void *ctx, size_t e, const float **theta, const float **x, size_t *n) {
    online_ctx *c = ctx;
    dsbi_model *m = c->m;
    size_t D = m->D, K = m->K, want = c->cfg->sims_per_epoch, drop = 0;
    dsbi_dataset *ds = NULL;
    int st = dsbi_dataset_simulate(c->sim, want, c->cfg->seed + 7919 * (e + 1), &ds, &drop);
    if (st) return st;
    if (drop && c->cfg->log) {
        char msg[160];
        snprintf(msg, sizeof msg, "warning: epoch %zu: dropped %zu of %zu simulations with non-finite values",
                 e + 1, drop, want);
        c->cfg->log(c->cfg->user, msg);
    }
    size_t nn = dsbi_dataset_size(ds);
    char what[48];
    snprintf(what, sizeof what, "epoch %zu: simulation", e + 1);
    if (m->cfg.summary && (st = check_set_rows(m, dsbi_dataset_x(ds), nn, what))) {
        dsbi_dataset_free(ds);
        return st;
    }
    if (m->bound_lo) { /* to unbounded coordinates, dropping rows outside the bounds */
        float *xb = c->buf + nn * D;
        memcpy(c->buf, dsbi_dataset_theta(ds), nn * D * sizeof(float));
        memcpy(xb, dsbi_dataset_x(ds), nn * K * sizeof(float));
        dsbi_dataset_free(ds);
        size_t kept = rows_to_free(m, c->buf, xb, nn);
        log_outside(c->cfg, nn - kept, nn, what);
        if (kept != nn) memmove(c->buf + kept * D, xb, kept * K * sizeof(float));
        nn = kept;
        standardize(c->buf, c->buf, nn, D, m->theta_mean, m->theta_std);
        standardize(c->buf + nn * D, c->buf + nn * D, nn, K, m->x_mean, m->x_std);
    } else {
        standardize(c->buf, dsbi_dataset_theta(ds), nn, D, m->theta_mean, m->theta_std);
        standardize(c->buf + nn * D, dsbi_dataset_x(ds), nn, K, m->x_mean, m->x_std);
        dsbi_dataset_free(ds);
    }
    if (nn < 2) return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "epoch %zu: fewer than 2 finite simulations", e + 1);
    *theta = c->buf;
    *x = c->buf + nn * D;
    *n = nn;
    return DSBI_STATUS_OK;
}

int dsbi_model_fit_online(dsbi_model *m, const dsbi_simulator *sim, const dsbi_train_config *cfg) {
    dsbi_clear_error();
    dsbi_train_config def = dsbi_train_config_default();
    if (!cfg) cfg = &def;
    int st = check_train_config(cfg);
    if (st) return st;
    if (!sim || sim->dim_theta != m->D || sim->dim_x != m->K)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "simulator dimensions do not match the model");
    size_t n = cfg->sims_per_epoch, D = m->D, K = m->K;
    size_t n_val = (size_t)floor(cfg->val_fraction * (double)n);
    if (n < 2) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "sims_per_epoch must be >= 2");
    /* the validation set and the standardization come from one pilot simulation */
    dsbi_dataset *pilot = NULL;
    size_t dropped = 0;
    if ((st = dsbi_dataset_simulate(sim, n + n_val, cfg->seed ^ 0x5eed, &pilot, &dropped))) return st;
    if (m->bound_lo) { /* unbounded coordinates; rows outside the bounds are dropped */
        size_t np0 = dsbi_dataset_size(pilot), out = 0;
        float *tt = dsbi_malloc(np0, D * sizeof(float));
        dsbi_dataset *p2 = NULL;
        if (tt) {
            memcpy(tt, dsbi_dataset_theta(pilot), np0 * D * sizeof(float));
            dsbi_bounds_to_free(m->bound_lo, m->bound_hi, tt, np0, D);
            p2 = dsbi_dataset_from_arrays(tt, dsbi_dataset_x(pilot), np0, D, K, &out);
            free(tt);
        }
        dsbi_dataset_free(pilot);
        if (!p2) return DSBI_STATUS_ERR_NOMEM;
        pilot = p2;
        log_outside(cfg, out, np0, "pilot simulation");
    }
    size_t np = dsbi_dataset_size(pilot);
    if (m->cfg.summary && (st = check_set_rows(m, dsbi_dataset_x(pilot), np, "pilot simulation"))) {
        dsbi_dataset_free(pilot);
        return st;
    }
    dsbi_fit_standardization(dsbi_dataset_theta(pilot), np, D, m->theta_mean, m->theta_std);
    fit_x_standardization(m, dsbi_dataset_x(pilot), np);
    adopt_teacher_standardization(m);
    size_t nv = n_val < np ? n_val : 0;
    float *vbuf = dsbi_malloc(nv ? nv : 1, (D + K) * sizeof(float));
    float *tbuf = dsbi_malloc(n, (D + K) * sizeof(float));
    fit_state s;
    size_t B = cfg->batch_size < n ? cfg->batch_size : n;
    if (!vbuf || !tbuf || (st = alloc_history(m, cfg->epochs)) ||
        (st = fit_state_init(&s, m, cfg, n, n / B))) {
        free(vbuf);
        free(tbuf);
        dsbi_dataset_free(pilot);
        return st ? st : DSBI_STATUS_ERR_NOMEM;
    }
    standardize(vbuf, dsbi_dataset_theta(pilot) + (np - nv) * D, nv, D, m->theta_mean, m->theta_std);
    standardize(vbuf + nv * D, dsbi_dataset_x(pilot) + (np - nv) * K, nv, K, m->x_mean, m->x_std);
    dsbi_dataset_free(pilot);
    online_ctx oc = {m, sim, cfg, tbuf};
    st = train_loop(m, &s, online_data, &oc, vbuf, vbuf + nv * D, nv);
    free(vbuf);
    free(tbuf);
    return finish_fit(m, &s, st);
}

/* ---------------------------------------------------------------- sampling */

typedef struct denoise_ctx {
    const dsbi_model *m;
    dsbi_diff_ws *ws;
    int guided;     /* classifier-free guidance with two branches */
    float w;        /* its scale */
    float *zz, *xx; /* guided: 2B x D inputs and estimates */
} denoise_ctx;

/* Guided: one network pass over 2B rows, the first B with the observation's
 * condition, the next B with the null condition (set by set_guided_condition),
 * combined as x_u + w (x_c - x_u). Every sampler turns x_hat into the score
 * (or velocity) by an affine map at fixed z and t, score = (alpha x_hat -
 * z) / sigma^2, whose offset -z/sigma^2 has weight (1 - w) + w = 1 in the
 * combination; so guiding x_hat is exactly guiding the score,
 * s_u + w (s_c - s_u), for every schedule and prediction type. */
static void model_denoise(void *ctx, const float *z, double t, size_t B, float *xhat) {
    denoise_ctx *c = ctx;
    if (!c->guided) {
        dsbi_diffusion_denoise(&c->m->dm, c->m->params, c->ws, z, t, B, xhat);
        return;
    }
    const size_t n = B * c->m->D;
    memcpy(c->zz, z, n * sizeof(float));
    memcpy(c->zz + n, z, n * sizeof(float));
    dsbi_diffusion_denoise(&c->m->dm, c->m->params, c->ws, c->zz, t, 2 * B, c->xx);
    const float *xc = c->xx, *xu = c->xx + n;
    for (size_t i = 0; i < n; i++) xhat[i] = xu[i] + c->w * (xc[i] - xu[i]);
}

/* Condition input of a guided pass over 2B rows: B copies of the
 * observation's condition, then B copies of the null condition. */
static void set_guided_condition(const dsbi_model *m, dsbi_diff_ws *ws, const float *xs, size_t B) {
    const size_t Kc = m->dm.K;
    const float *null = dsbi_model_null_condition(m, m->params);
    float *xc = dsbi_ws_act(&ws->ws, &m->dm.net, m->dm.in_x, 2 * B);
    for (size_t i = 0; i < B; i++) {
        memcpy(xc + i * Kc, xs, Kc * sizeof(float));
        memcpy(xc + (B + i) * Kc, null, Kc * sizeof(float));
    }
}

/* Sampling for a flat or packed observation x_obs, or (members != NULL) an
 * observed set of n_members members. */
static int sample_impl(dsbi_model *m, const float *x_obs, const float *members, size_t n_members,
                       size_t n, const dsbi_sample_config *cfg, float *theta,
                       dsbi_sample_stats *stats) {
    dsbi_sample_config def = dsbi_sample_config_default();
    if (!cfg) cfg = &def;
    if (!dsbi_sampler_lookup(cfg->sampler))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown sampler %d", (int)cfg->sampler);
    if (cfg->steps == 0 || cfg->steps > 1000000)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "steps must be 1..1e6 (got %zu)", cfg->steps);
    if (!(cfg->stop_time >= 0.0f && cfg->stop_time < 1.0f))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "stop time must be in [0, 1) (got %g)",
                         (double)cfg->stop_time);
    if (!(cfg->eta >= 0.0f && cfg->eta <= 1.0f))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "eta must be in [0, 1]");
    if (dsbi_sampler_lookup(cfg->sampler)->stochastic && m->cfg.schedule == DSBI_SCHEDULE_FLOW)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "the SDE samplers (em, sde-adaptive, pc) need a diffusion schedule; "
                         "flow-matching models use the ODE samplers (ddim, dpm2m, euler, heun, "
                         "rk45, tsit5)");
    int cm = m->cfg.schedule == DSBI_SCHEDULE_CONSISTENCY || m->cfg.schedule == DSBI_SCHEDULE_SCM;
    /* classifier-free guidance: w = 1 is the plain conditional path (the
       code below is then unchanged), w = 0 the unconditional branch alone
       (the null condition replaces the observation: one evaluation per
       step), any other w evaluates both branches */
    double gw = cfg->guidance_scale;
    if (!isfinite(gw) || gw < 0.0 || gw > 1000.0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "guidance scale must be in [0, 1000] (got %g): 1 = posterior, 0 = prior, "
                         "> 1 sharpens the likelihood", gw);
    const float *null = dsbi_model_null_condition(m, m->params);
    if (gw != 1.0 && !null)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "guidance scale %g needs a model trained with condition dropout "
                         "(train --cfg-dropout 0.2); this model was trained without, so it has no "
                         "unconditional (prior) score", gw);
    int prior_only = gw == 0.0, guided = gw != 1.0 && !prior_only;
    if (guided && cm)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "guidance scale %g: a consistency model jumps to the data in a few steps and "
                         "has no score to combine along the way; use guidance scale 0 (prior) or 1 "
                         "(posterior), or a diffusion or flow model", gw);
    if (!prior_only && !x_obs && !members)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "sample: no observation given");
    size_t mult = guided ? 2 : 1; /* network evaluations per sampler evaluation */
    size_t nfe = (cm ? cfg->steps : dsbi_sampler_nfe(cfg)) * mult;
    if (cm && cfg->steps > 64)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "a consistency model samples in a few steps: --steps must be 1..64 (got %zu)",
                         cfg->steps);
    if (cfg->max_nfe && nfe > cfg->max_nfe)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "sampler '%s' with %zu steps needs %zu network evaluations per draw%s, "
                         "over the budget --max-nfe %zu", dsbi_sampler_name(cfg->sampler),
                         cfg->steps, nfe, guided ? " (two per step with guidance)" : "",
                         cfg->max_nfe);
    /* the integrators count their own calls against max_nfe: with two
       evaluations per call they get half the budget */
    dsbi_sample_config icfg = *cfg;
    if (guided) icfg.max_nfe /= 2;
    const size_t D = m->D, K = m->K;
    float *xs = dsbi_malloc(m->dm.K, sizeof(float));
    if (!xs) return DSBI_STATUS_ERR_NOMEM;
    if (prior_only) {
        memcpy(xs, null, m->dm.K * sizeof(float));
    } else if (m->cfg.summary) {
        /* the condition is the summary, computed once for all draws */
        size_t c = members ? n_members : dsbi_set_row_count(x_obs, m->cfg.set_size);
        int st = members || c ? dsbi_model_summary(m, members ? members : x_obs + 1, c, xs)
                              : dsbi_fail(DSBI_STATUS_ERR_INVALID,
                               "observation: first value (member count) is %g, expected an "
                               "integer in 1..%zu", (double)x_obs[0], m->cfg.set_size);
        if (st) {
            free(xs);
            return st;
        }
    }
    for (size_t k = 0; k < K && !m->cfg.summary && !prior_only; k++) {
        if (!isfinite(x_obs[k])) {
            free(xs);
            return dsbi_fail(DSBI_STATUS_ERR_INVALID, "observation value %zu is not finite", k + 1);
        }
        xs[k] = (x_obs[k] - m->x_mean[k]) / m->x_std[k];
        if (!(fabsf(xs[k]) < 1e4f)) {
            double z = fabsf(xs[k]);
            free(xs);
            return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                             "observation value %zu (%g) lies %.3g training sds from the training "
                             "mean: far outside what the model was trained on", k + 1,
                             (double)x_obs[k], z);
        }
    }
    double t0 = dsbi_now();
    /* Draws go in fixed chunks of SAMPLE_CHUNK rows, each with its own
       random stream, spread over the threads with single-threaded BLAS: the
       draws depend on the seed alone, and the first k of n draws are those of
       a request for k (bounded sampling relies on it). Letting BLAS thread a
       lone chunk instead would make the draws depend on the thread count:
       OpenBLAS's AVX-512 kernels change the last bits when a product is split
       over threads. 256 rows sample as fast as 512 (measured 2499 vs 2454
       draws/s for 4x256 on one core) and give two threads work from 257
       draws on. */
    const size_t chunk = SAMPLE_CHUNK;
    size_t n_chunks = (n + chunk - 1) / chunk;
    int threads = dsbi_get_threads();
    int par = threads > 1;
    if (par) openblas_set_num_threads(1);
    int status = DSBI_STATUS_OK;
    size_t nfe_max = 0;
    char errbuf[512] = "";
#pragma omp parallel num_threads(par && n_chunks > 1 ? threads : 1)
    {
        dsbi_diff_ws ws;
        size_t cap = n < chunk ? n : chunk;
        float *buf = NULL;
        int st = dsbi_diff_ws_create(&ws, &m->dm, mult * cap, 0);
        size_t nscr = dsbi_sampler_scratch(cfg);
        /* + guided: the two-branch inputs and estimates (2 x 2 cap rows) */
        if (!st && !(buf = dsbi_malloc((nscr + 1 + (guided ? 4 : 0)) * cap, D * sizeof(float))))
            st = DSBI_STATUS_ERR_NOMEM;
        if (!st) {
            denoise_ctx dc = {m, &ws, guided, (float)gw, NULL, NULL};
            if (guided) {
                dc.zz = buf + (nscr + 1) * cap * D;
                dc.xx = dc.zz + 2 * cap * D;
            }
            dsbi_field field = {&m->dm.sched, D, model_denoise, &dc};
#pragma omp for schedule(dynamic, 1)
            for (size_t c = 0; c < n_chunks; c++) {
                size_t r0 = c * chunk, B = n - r0 < chunk ? n - r0 : chunk;
                dsbi_rng rng;
                dsbi_rng_init(&rng, cfg->seed, RNG_STREAM_SAMPLE + c);
                float *z = buf + nscr * cap * D;
                dsbi_sampler_init_noise(&m->dm.sched, z, B * D, &rng);
                if (guided)
                    set_guided_condition(m, &ws, xs, B);
                else
                    dsbi_diffusion_set_condition(&m->dm, &ws, xs, B);
                size_t used = 0;
                int s2 = DSBI_STATUS_OK;
                if (cm) {
                    if (m->cfg.schedule == DSBI_SCHEDULE_SCM)
                        dsbi_scm_sample(&m->dm, m->params, &ws, z, B, cfg->steps, &rng, buf);
                    else
                        dsbi_consistency_sample(&m->dm, m->params, &ws, z, B, cfg->steps, &rng, buf);
                    used = cfg->steps;
                } else {
                    s2 = dsbi_integrate(&field, &icfg, z, B, buf, &rng, &used);
                }
#pragma omp critical
                if (used > nfe_max) nfe_max = used;
                if (s2) {
#pragma omp critical
                    {
                        status = s2;
                        snprintf(errbuf, sizeof errbuf, "%s", dsbi_last_error());
                    }
                }
                for (size_t i = 0; i < B; i++)
                    for (size_t d = 0; d < D; d++)
                        theta[(r0 + i) * D + d] = z[i * D + d] * m->theta_std[d] + m->theta_mean[d];
                if (m->bound_lo) dsbi_bounds_from_free(m->bound_lo, m->bound_hi, theta + r0 * D, B, D);
            }
        } else {
#pragma omp critical
            {
                status = st;
                snprintf(errbuf, sizeof errbuf, "%s", dsbi_last_error());
            }
        }
        free(buf);
        dsbi_diff_ws_free(&ws);
    }
    if (par) openblas_set_num_threads(threads);
    free(xs);
    if (status) dsbi_fail(status, "%s", errbuf); /* worker messages are thread-local */
    if (stats) {
        stats->nfe = nfe_max ? nfe_max * mult : nfe;
        stats->seconds = dsbi_now() - t0;
    }
    return status;
}

int dsbi_model_sample(dsbi_model *m, const float *x_obs, size_t n, const dsbi_sample_config *cfg,
                      float *theta, dsbi_sample_stats *stats) {
    dsbi_clear_error();
    return sample_impl(m, x_obs, NULL, 0, n, cfg, theta, stats);
}

int dsbi_model_prior_sample(dsbi_model *m, size_t n, const dsbi_sample_config *cfg, float *theta,
                            dsbi_sample_stats *stats) {
    dsbi_clear_error();
    if (!m) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "prior_sample: no model");
    if (!dsbi_model_has_null_condition(m))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "prior sampling needs a model trained with condition dropout (train "
                         "--cfg-dropout 0.2); this model has no unconditional (prior) score");
    dsbi_sample_config c = cfg ? *cfg : dsbi_sample_config_default();
    c.guidance_scale = 0.0f;
    return sample_impl(m, NULL, NULL, 0, n, &c, theta, stats);
}

/* ---------------------------------------------------------------- set models (issue 7) */

dsbi_model *dsbi_model_create_set(const dsbi_model_config *cfg, size_t D, size_t N, size_t F) {
    dsbi_model_config c = cfg ? *cfg : dsbi_model_config_default();
    if (c.summary == DSBI_SUMMARY_NONE) c.summary = DSBI_SUMMARY_DEEPSET;
    c.set_size = N;
    c.set_features = F;
    if (N == 0 || F == 0 || N > 1000000 || F > 100000) {
        dsbi_clear_error();
        dsbi_fail(DSBI_STATUS_ERR_INVALID, "sets of %zu members x %zu features: need 1..1e6 x 1..1e5",
                  N, F);
        return NULL;
    }
    return dsbi_model_create(&c, D, DSBI_SET_ROW(N, F));
}

/* The summary of one set on a tape built for its size: every layer's weights
 * are independent of the number of members, so sets smaller or larger than
 * the training N use the same parameter block. */
int dsbi_model_summary(const dsbi_model *m, const float *members, size_t n_members, float *out) {
    if (!m || !m->cfg.summary)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "the model has no summary network (it takes flat x rows)");
    const size_t F = m->cfg.set_features;
    if (n_members == 0 || n_members > 100000000 / F)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "observed set of %zu members: need 1..%zu", n_members,
                         100000000 / F);
    dsbi_summary_net sn;
    if (dsbi_summary_net_build(&sn, &m->cfg, n_members)) return DSBI_STATUS_ERR_NOMEM;
    DSBI_ASSERT(sn.net.n_params == m->sn.net.n_params);
    dsbi_ws ws;
    int st = dsbi_ws_create(&ws, &sn.net, 1, 0);
    if (st) {
        dsbi_summary_net_free(&sn);
        return st;
    }
    float *in = dsbi_ws_act(&ws, &sn.net, sn.in, 1);
    for (size_t j = 0; j < n_members && !st; j++)
        for (size_t f = 0; f < F && !st; f++) {
            float v = members[j * F + f];
            float z = (v - m->x_mean[1 + f]) / m->x_std[1 + f];
            if (!isfinite(v))
                st = dsbi_fail(DSBI_STATUS_ERR_INVALID, "observed set: member %zu, feature %zu is not finite",
                               j + 1, f + 1);
            else if (!(fabsf(z) < 1e4f))
                st = dsbi_fail(DSBI_STATUS_ERR_INVALID,
                               "observed set: member %zu, feature %zu (%g) lies %.3g training sds "
                               "from the training mean: far outside what the model was trained on",
                               j + 1, f + 1, (double)v, (double)fabsf(z));
            in[j * F + f] = z;
        }
    if (!st) {
        ws.count = &n_members;
        dsbi_net_forward(&sn.net, m->params + m->dm.net.n_params, &ws, 1);
        memcpy(out, dsbi_ws_act(&ws, &sn.net, sn.out, 1), sn.S * sizeof(float));
    }
    dsbi_ws_free(&ws);
    dsbi_summary_net_free(&sn);
    return st;
}

int dsbi_model_sample_set(dsbi_model *m, const float *members, size_t n_members, size_t n,
                          const dsbi_sample_config *cfg, float *theta, dsbi_sample_stats *stats) {
    dsbi_clear_error();
    if (!m->cfg.summary)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "the model has no summary network: use dsbi_model_sample");
    return sample_impl(m, NULL, members, n_members, n, cfg, theta, stats);
}
