/*
 * Built-in tasks and their registry: inverse kinematics (the BayesFlow
 * tutorial's arm, Kruse et al. 2021) and the sbibm tasks gaussian_linear,
 * gaussian_linear_uniform, gaussian_mixture and two_moons, exactly as in
 * shared/benchmarks/sbibm/TASKS.md (0.1 in the Gaussian tasks is a variance;
 * gaussian_mixture is the fixed sbibm >= 1.1.0 version, one sigma per
 * simulation). The other sbibm tasks (slcp, slcp_distractors, bernoulli_glm,
 * bernoulli_glm_raw, sir, lotka_volterra) live in sbibm.c. Each entry also
 * gives the prior's log-density, support and the benchmark's transform.
 */
#include "tasks/tasks.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- inverse kinematics */

/* theta = (h, a1, a2, a3) ~ N(0, diag(0.25, 0.5, 0.5, 0.5)^2) */
static int ik_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    (void)ctx;
    static const double sd[4] = {0.25, 0.5, 0.5, 0.5};
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < 4; j++) theta[i * 4 + j] = (float)(sd[j] * dsbi_rng_normal(rng));
    return 0;
}

void dsbi_ik_forward(const float *theta, float *x) {
    double h = theta[0], a1 = theta[1], a2 = theta[2], a3 = theta[3];
    x[0] = (float)(h + 0.5 * sin(a1) + 0.5 * sin(a1 + a2) + 1.0 * sin(a1 + a2 + a3));
    x[1] = (float)(0.5 * cos(a1) + 0.5 * cos(a1 + a2) + 1.0 * cos(a1 + a2 + a3));
}

static int ik_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    (void)ctx;
    (void)rng;
    for (size_t i = 0; i < n; i++) dsbi_ik_forward(theta + 4 * i, x + 2 * i);
    return 0;
}

/* ---------------------------------------------------------------- gaussian_linear */

static int gl_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    (void)ctx;
    const double sd = sqrt(0.1);
    for (size_t i = 0; i < n * 10; i++) theta[i] = (float)(sd * dsbi_rng_normal(rng));
    return 0;
}

static int gl_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    (void)ctx;
    const double sd = sqrt(0.1);
    for (size_t i = 0; i < n * 10; i++) x[i] = (float)(theta[i] + sd * dsbi_rng_normal(rng));
    return 0;
}

/* ---------------------------------------------------------------- two_moons */

static int uniform_box_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta, size_t d, double lo,
                             double hi) {
    (void)ctx;
    for (size_t i = 0; i < n * d; i++) theta[i] = (float)(lo + (hi - lo) * dsbi_rng_uniform(rng));
    return 0;
}

static int tm_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    return uniform_box_prior(ctx, rng, n, theta, 2, -1.0, 1.0);
}

static int tm_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        double a = (dsbi_rng_uniform(rng) - 0.5) * M_PI;
        double r = 0.1 + 0.01 * dsbi_rng_normal(rng);
        double p0 = r * cos(a) + 0.25, p1 = r * sin(a);
        double t0 = theta[2 * i], t1 = theta[2 * i + 1];
        double z0 = (t0 + t1) / M_SQRT2, z1 = (-t0 + t1) / M_SQRT2;
        x[2 * i] = (float)(p0 - fabs(z0));
        x[2 * i + 1] = (float)(p1 + z1);
    }
    return 0;
}

/* ---------------------------------------------------------------- log priors */

static double log_normal_iid(const float *theta, size_t d, double var) {
    double s = 0;
    for (size_t j = 0; j < d; j++) s += (double)theta[j] * theta[j];
    return -0.5 * s / var - 0.5 * (double)d * log(2 * M_PI * var);
}

static double log_box(const float *theta, size_t d, double lo, double hi) {
    for (size_t j = 0; j < d; j++)
        if (!(theta[j] >= lo && theta[j] <= hi)) return -INFINITY;
    return -(double)d * log(hi - lo);
}

static double ik_log_prior(const float *t) {
    static const double sd[4] = {0.25, 0.5, 0.5, 0.5};
    double s = 0;
    for (int j = 0; j < 4; j++) s += -0.5 * (t[j] / sd[j]) * (t[j] / sd[j]) - log(sd[j]) - 0.5 * log(2 * M_PI);
    return s;
}
static double gl_log_prior(const float *t) { return log_normal_iid(t, 10, 0.1); }
static double glu_log_prior(const float *t) { return log_box(t, 10, -1, 1); }
static double tm_log_prior(const float *t) { return log_box(t, 2, -1, 1); }
static double gm_log_prior(const float *t) { return log_box(t, 2, -10, 10); }

/* ---------------------------------------------------------------- gaussian_linear_uniform */

static int glu_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    return uniform_box_prior(ctx, rng, n, theta, 10, -1.0, 1.0);
}

/* ---------------------------------------------------------------- gaussian_mixture */

static int gm_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    return uniform_box_prior(ctx, rng, n, theta, 2, -10.0, 10.0);
}

/* x = theta + sigma z, sigma in {1, 0.1} with probability 1/2, one choice per simulation */
static int gm_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        double sigma = dsbi_rng_uniform(rng) < 0.5 ? 1.0 : 0.1;
        for (int j = 0; j < 2; j++) x[2 * i + j] = (float)(theta[2 * i + j] + sigma * dsbi_rng_normal(rng));
    }
    return 0;
}

/* ---------------------------------------------------------------- registry */

static const char *const ik_theta[] = {"h", "a1", "a2", "a3"};
static const char *const ik_x[] = {"x1", "x2"};

/* The five simulators here keep no state beyond their arguments, so they are
 * flagged thread_safe (last field): datasets simulate them in parallel. */
#define INF INFINITY
static const dsbi_task_entry e_ik = {
    {"inverse_kinematics", 4, 2, ik_prior, ik_simulate, NULL, ik_theta, ik_x, 1},
    "4-joint arm reaching a 2-D point (BayesFlow tutorial); prior N(0, diag(.25,.5,.5,.5)^2), no noise",
    ik_log_prior, -INF, INF, DSBI_TRANSFORM_NONE, 0, NULL};
static const dsbi_task_entry e_gl = {
    {"gaussian_linear", 10, 10, gl_prior, gl_simulate, NULL, dsbi_param_names, dsbi_data_names, 1},
    "sbibm: theta ~ N(0, 0.1 I_10), x ~ N(theta, 0.1 I_10); posterior N(x/2, 0.05 I)",
    gl_log_prior, -INF, INF, DSBI_TRANSFORM_NONE, 1, NULL};
static const dsbi_task_entry e_glu = {
    {"gaussian_linear_uniform", 10, 10, glu_prior, gl_simulate, NULL, dsbi_param_names, dsbi_data_names, 1},
    "sbibm: theta ~ U(-1,1)^10, x ~ N(theta, 0.1 I_10); truncated Gaussian posterior",
    glu_log_prior, -1, 1, DSBI_TRANSFORM_LOGIT, 1, NULL};
static const dsbi_task_entry e_gm = {
    {"gaussian_mixture", 2, 2, gm_prior, gm_simulate, NULL, dsbi_param_names, dsbi_data_names, 1},
    "sbibm (>= 1.1.0): theta ~ U(-10,10)^2, x ~ N(theta, sigma^2 I), sigma = 1 or 0.1 per simulation",
    gm_log_prior, -10, 10, DSBI_TRANSFORM_LOGIT, 1, NULL};
static const dsbi_task_entry e_tm = {
    {"two_moons", 2, 2, tm_prior, tm_simulate, NULL, dsbi_param_names, dsbi_data_names, 1},
    "sbibm: theta ~ U(-1,1)^2, bimodal crescent-shaped posterior",
    tm_log_prior, -1, 1, DSBI_TRANSFORM_LOGIT, 1, NULL};

/* The registry: the ten sbibm tasks in TASKS.md order, then the others. */
static const dsbi_task_entry *const entries[] = {
    &e_gl, &e_glu, &dsbi_task_slcp, &dsbi_task_slcp_distractors, &dsbi_task_bernoulli_glm,
    &dsbi_task_bernoulli_glm_raw, &e_gm, &e_tm, &dsbi_task_sir, &dsbi_task_lotka_volterra, &e_ik,
};

#define N_ENTRIES (sizeof entries / sizeof entries[0])

size_t dsbi_task_count(void) { return N_ENTRIES; }

const char *dsbi_task_name(size_t i) { return i < N_ENTRIES ? entries[i]->sim.name : NULL; }

const dsbi_task_entry *dsbi_task_find(const char *name) {
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (name && strcmp(entries[i]->sim.name, name) == 0) return entries[i];
    return NULL;
}

const char *dsbi_task_description(const char *name) {
    const dsbi_task_entry *e = dsbi_task_find(name);
    return e ? e->description : NULL;
}

int dsbi_task_get(const char *name, dsbi_simulator *out) {
    const dsbi_task_entry *e = dsbi_task_find(name);
    if (!e) {
        char list[512] = "";
        size_t n = 0;
        for (size_t i = 0; i < N_ENTRIES; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", entries[i]->sim.name);
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown task '%s' (known: %s)", name ? name : "",
                         list);
    }
    if (e->setup) {
        int st = e->setup();
        if (st) return st;
    }
    *out = e->sim;
    return DSBI_STATUS_OK;
}

const char *dsbi_sbibm_dir(void) {
    const char *d = getenv("DSBI_SBIBM_DIR");
    return d && *d ? d : "../shared/benchmarks/sbibm";
}

int dsbi_task_info_get(const char *name, dsbi_task_info *out) {
    const dsbi_task_entry *e = dsbi_task_find(name);
    if (!e) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown task '%s'", name ? name : "");
    *out = (dsbi_task_info){e->sim.dim_theta, e->sim.dim_x, e->lower, e->upper, e->transform, e->sbibm};
    return DSBI_STATUS_OK;
}

int dsbi_task_log_prior(const char *name, const float *theta, size_t n, double *out) {
    const dsbi_task_entry *e = dsbi_task_find(name);
    if (!e) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown task '%s'", name ? name : "");
    for (size_t i = 0; i < n; i++) out[i] = e->log_prior(theta + i * e->sim.dim_theta);
    return DSBI_STATUS_OK;
}
