/*
 * Built-in tasks: inverse kinematics (the BayesFlow tutorial's arm, Kruse et
 * al. 2021) and the sbibm tasks gaussian_linear and two_moons, exactly as in
 * shared/benchmarks/sbibm/TASKS.md (0.1 in gaussian_linear is a variance).
 */
#include "tasks/tasks.h"
#include <math.h>
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

/* ---------------------------------------------------------------- registry */

static const char *const ik_theta[] = {"h", "a1", "a2", "a3"};
static const char *const ik_x[] = {"x1", "x2"};
static const char *const tm_theta[] = {"parameter_1", "parameter_2"};
static const char *const tm_x[] = {"data_1", "data_2"};
static const char *const gl_theta[] = {"parameter_1", "parameter_2", "parameter_3", "parameter_4",
                                       "parameter_5", "parameter_6", "parameter_7", "parameter_8",
                                       "parameter_9", "parameter_10"};
static const char *const gl_x[] = {"data_1", "data_2", "data_3", "data_4", "data_5",
                                   "data_6", "data_7", "data_8", "data_9", "data_10"};

static const dsbi_task_entry entries[] = {
    {{"inverse_kinematics", 4, 2, ik_prior, ik_simulate, NULL, ik_theta, ik_x},
     "4-joint arm reaching a 2-D point (BayesFlow tutorial); prior N(0, diag(.25,.5,.5,.5)^2), no noise"},
    {{"gaussian_linear", 10, 10, gl_prior, gl_simulate, NULL, gl_theta, gl_x},
     "sbibm: theta ~ N(0, 0.1 I_10), x ~ N(theta, 0.1 I_10); posterior N(x/2, 0.05 I)"},
    {{"two_moons", 2, 2, tm_prior, tm_simulate, NULL, tm_theta, tm_x},
     "sbibm: theta ~ U(-1,1)^2, bimodal crescent-shaped posterior"},
};

#define N_ENTRIES (sizeof entries / sizeof entries[0])

size_t dsbi_task_count(void) { return N_ENTRIES; }

const char *dsbi_task_name(size_t i) { return i < N_ENTRIES ? entries[i].sim.name : NULL; }

const dsbi_task_entry *dsbi_task_find(const char *name) {
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (name && strcmp(entries[i].sim.name, name) == 0) return &entries[i];
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
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", entries[i].sim.name);
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "unknown task '%s' (known: %s)", name ? name : "",
                         list);
    }
    *out = e->sim;
    return DSBI_STATUS_OK;
}
