/*
 * SIR epidemic simulator plugin (as sbibm's "sir"): theta = (beta, gamma),
 * beta ~ LogNormal(log 0.4, 0.5), gamma ~ LogNormal(log 1/8, 0.2); a closed
 * population of N = 1e6 with one initial infection follows
 *     S' = -beta S I / N,  I' = beta S I / N - gamma I,  R' = gamma I,
 * integrated with classic RK4 (step 0.1 day); at the 10 times t_i = 16 i
 * (i = 1..10, over 160 days) we observe x_i ~ Binomial(1000, I(t_i) / N).
 * Build: make plugins (build/plugins/libsir.so); use:
 *     diffsbi train --simulator build/plugins/libsir.so --sims 10000 --out sir.dsbi
 */
#include <diffsbi_plugin.h>
#include <math.h>

#define N_POP 1e6
#define N_OBS 10
#define T_END 160.0
#define DT 0.1
#define N_TRIALS 1000

static const dsbi_plugin_desc desc = {
    .name = "sir",
    .dim_theta = 2,
    .dim_x = N_OBS,
    .theta_names = "beta,gamma",
    .x_names = "x1,x2,x3,x4,x5,x6,x7,x8,x9,x10",
    .description = "SIR epidemic, 10 binomial(1000, I/N) observations over 160 days"};

int dsbi_plugin_abi_version(void) { return DSBI_PLUGIN_ABI_VERSION; }
const dsbi_plugin_desc *dsbi_plugin_info(void) { return &desc; }

/* ---------------------------------------------------------------- random numbers */

/* splitmix64 stream seeded by the library's per-call seed */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { /* in (0, 1) */
    return ((double)(next_u64(s) >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(uint64_t *s) {
    return sqrt(-2.0 * log(uniform(s))) * cos(6.283185307179586 * uniform(s));
}

/* Binomial(n, p) by inversion, counted from the tail with the smaller
 * probability so that (1 - p)^n never underflows (n <= 1000). */
static int binomial(uint64_t *s, int n, double p) {
    if (!(p > 0.0)) return 0;
    if (p >= 1.0) return n;
    if (p > 0.5) return n - binomial(s, n, 1.0 - p);
    double q = 1.0 - p, r = p / q, pmf = pow(q, n), cdf = pmf, u = uniform(s);
    int k = 0;
    while (u > cdf && k < n) {
        pmf *= r * (double)(n - k) / (double)(k + 1);
        cdf += pmf;
        k++;
    }
    return k;
}

/* ---------------------------------------------------------------- model */

int dsbi_plugin_prior(void *state, uint64_t seed, size_t n, float *theta) {
    (void)state;
    for (size_t i = 0; i < n; i++) {
        theta[2 * i] = (float)exp(log(0.4) + 0.5 * normal(&seed));
        theta[2 * i + 1] = (float)exp(log(0.125) + 0.2 * normal(&seed));
    }
    return 0;
}

static void deriv(double beta, double gamma, const double y[3], double dy[3]) {
    double inf = beta * y[0] * y[1] / N_POP;
    dy[0] = -inf;
    dy[1] = inf - gamma * y[1];
    dy[2] = gamma * y[1];
}

static void rk4_step(double beta, double gamma, double y[3], double h) {
    double k1[3], k2[3], k3[3], k4[3], t[3];
    deriv(beta, gamma, y, k1);
    for (int j = 0; j < 3; j++) t[j] = y[j] + 0.5 * h * k1[j];
    deriv(beta, gamma, t, k2);
    for (int j = 0; j < 3; j++) t[j] = y[j] + 0.5 * h * k2[j];
    deriv(beta, gamma, t, k3);
    for (int j = 0; j < 3; j++) t[j] = y[j] + h * k3[j];
    deriv(beta, gamma, t, k4);
    for (int j = 0; j < 3; j++) y[j] += h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
}

int dsbi_plugin_simulate(void *state, uint64_t seed, size_t n, const float *theta, float *x) {
    (void)state;
    const int steps_per_obs = (int)(T_END / N_OBS / DT + 0.5);
    for (size_t i = 0; i < n; i++) {
        double beta = theta[2 * i], gamma = theta[2 * i + 1];
        float *xi = x + (size_t)N_OBS * i;
        if (!(beta > 0.0) || !(gamma > 0.0) || !isfinite(beta) || !isfinite(gamma)) {
            for (int k = 0; k < N_OBS; k++) xi[k] = NAN; /* outside the model: a failed simulation */
            continue;
        }
        double y[3] = {N_POP - 1.0, 1.0, 0.0};
        for (int k = 0; k < N_OBS; k++) {
            for (int s = 0; s < steps_per_obs; s++) rk4_step(beta, gamma, y, DT);
            double p = y[1] / N_POP;
            p = p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
            xi[k] = (float)binomial(&seed, N_TRIALS, p);
        }
    }
    return 0;
}
