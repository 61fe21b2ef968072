/*
 * The sbibm tasks slcp, slcp_distractors, bernoulli_glm(_raw), sir and
 * lotka_volterra, as specified in shared/benchmarks/sbibm/TASKS.md (sbibm
 * 1.1.1, Lueckmann et al. 2021). slcp: 4 points from N(m, S) with standard
 * deviations theta_3^2, theta_4^2 (so variances theta^4) and 1e-6 jitter.
 * Bernoulli GLM: x = X^T y, y_t ~ Bernoulli(sigmoid((X theta)_t)), with the
 * smoothness prior precision P built from its formula. SIR and Lotka-Volterra:
 * Dormand-Prince 5(4) at rtol = atol = 1e-8 (ode.c) on the stated time grids,
 * then Binomial(1000, I/N) and 10% log-normal noise; a failed solve gives NaN.
 *
 * Fixed arrays. The Bernoulli GLM stimulus (100 float32 values, the first 100
 * draws of numpy RandomState(42).randn, files/stimulus_I.csv) is embedded
 * below, and X and P are computed from it, so these tasks need no files. The
 * distractor mixture of slcp_distractors (20 x 92 locations, 20 92x92
 * Cholesky factors = 170k doubles, and a permutation) is too large to embed
 * sensibly: it is loaded at run time, on the first dsbi_task_get, from
 * dsbi_sbibm_dir()/slcp_distractors/files/ (env DSBI_SBIBM_DIR), and a
 * missing or malformed file fails the getter with a message naming it.
 */
#include "tasks/ode.h"
#include "tasks/tasks.h"
#include <math.h>
#include <pthread.h>
#include <string.h>

const char *const dsbi_param_names[10] = {
    "parameter_1", "parameter_2", "parameter_3", "parameter_4", "parameter_5", "parameter_6",
    "parameter_7", "parameter_8", "parameter_9", "parameter_10"};
const char *const dsbi_data_names[100] = {
    "data_1", "data_2", "data_3", "data_4", "data_5", "data_6", "data_7", "data_8", "data_9",
    "data_10", "data_11", "data_12", "data_13", "data_14", "data_15", "data_16", "data_17",
    "data_18", "data_19", "data_20", "data_21", "data_22", "data_23", "data_24", "data_25",
    "data_26", "data_27", "data_28", "data_29", "data_30", "data_31", "data_32", "data_33",
    "data_34", "data_35", "data_36", "data_37", "data_38", "data_39", "data_40", "data_41",
    "data_42", "data_43", "data_44", "data_45", "data_46", "data_47", "data_48", "data_49",
    "data_50", "data_51", "data_52", "data_53", "data_54", "data_55", "data_56", "data_57",
    "data_58", "data_59", "data_60", "data_61", "data_62", "data_63", "data_64", "data_65",
    "data_66", "data_67", "data_68", "data_69", "data_70", "data_71", "data_72", "data_73",
    "data_74", "data_75", "data_76", "data_77", "data_78", "data_79", "data_80", "data_81",
    "data_82", "data_83", "data_84", "data_85", "data_86", "data_87", "data_88", "data_89",
    "data_90", "data_91", "data_92", "data_93", "data_94", "data_95", "data_96", "data_97",
    "data_98", "data_99", "data_100"};

static double lognormal_logpdf(double v, double mu, double s) {
    if (!(v > 0)) return -INFINITY;
    double z = (log(v) - mu) / s;
    return -0.5 * z * z - log(v) - log(s) - 0.5 * log(2 * M_PI);
}

static void box_prior(dsbi_rng *rng, size_t n, float *theta, size_t d, double lo, double hi) {
    for (size_t i = 0; i < n * d; i++) theta[i] = (float)(lo + (hi - lo) * dsbi_rng_uniform(rng));
}

/* ---------------------------------------------------------------- slcp */

static int slcp_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    (void)ctx;
    box_prior(rng, n, theta, 5, -3.0, 3.0);
    return 0;
}

static double slcp_log_prior(const float *t) {
    for (int j = 0; j < 5; j++)
        if (!(t[j] >= -3.0f && t[j] <= 3.0f)) return -INFINITY;
    return -5.0 * log(6.0);
}

/* Four draws v_k ~ N(m, S) interleaved into x (8); the Cholesky factor of
 * S = [[s1^2 + 1e-6, r s1 s2], [r s1 s2, s2^2 + 1e-6]] is written out. */
static void slcp_one(dsbi_rng *rng, const float *theta, float *x) {
    double m0 = theta[0], m1 = theta[1];
    double s1 = (double)theta[2] * theta[2], s2 = (double)theta[3] * theta[3];
    double rho = tanh((double)theta[4]);
    double S00 = s1 * s1 + 1e-6, S01 = rho * s1 * s2, S11 = s2 * s2 + 1e-6;
    double L00 = sqrt(S00), L10 = S01 / L00, L11 = sqrt(fmax(S11 - L10 * L10, 0.0));
    for (int k = 0; k < 4; k++) {
        double z0 = dsbi_rng_normal(rng), z1 = dsbi_rng_normal(rng);
        x[2 * k] = (float)(m0 + L00 * z0);
        x[2 * k + 1] = (float)(m1 + L10 * z0 + L11 * z1);
    }
}

static int slcp_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) slcp_one(rng, theta + 5 * i, x + 8 * i);
    return 0;
}

/* ---------------------------------------------------------------- slcp_distractors */

#define DIS_C 20
#define DIS_K 92
static struct {
    pthread_mutex_t lock;
    int loaded;
    float *loc;  /* DIS_C x DIS_K */
    float *tril; /* DIS_C x DIS_K x DIS_K, row r of L_c at (c * DIS_K + r) * DIS_K */
    int perm[100];
} dis = {PTHREAD_MUTEX_INITIALIZER, 0, NULL, NULL, {0}};

static int read_fixed(const char *name, size_t rows, size_t cols, dsbi_table *t) {
    char path[1024];
    snprintf(path, sizeof path, "%s/slcp_distractors/files/%s", dsbi_sbibm_dir(), name);
    int st = dsbi_table_read(path, t);
    if (st) {
        char why[512];
        snprintf(why, sizeof why, "%s", dsbi_last_error());
        return dsbi_fail(st, "slcp_distractors needs %s (set DSBI_SBIBM_DIR to the sbibm benchmark folder): %s",
                         path, why);
    }
    if (t->rows != rows || t->cols != cols) {
        dsbi_table_free(t);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: expected %zu rows x %zu columns, found %zu x %zu",
                         path, rows, cols, t->rows, t->cols);
    }
    for (size_t i = 0; i < rows * cols; i++)
        if (!isfinite(t->data[i])) {
            dsbi_table_free(t);
            return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: line %zu, column %zu: non-finite value", path,
                             i / cols + 2, i % cols + 1);
        }
    return DSBI_STATUS_OK;
}

static int dis_load(void) {
    dsbi_table loc = {0}, tril = {0}, perm = {0};
    int st;
    if ((st = read_fixed("distractor_loc.csv", DIS_C, DIS_K, &loc))) return st;
    if ((st = read_fixed("distractor_scale_tril.csv", DIS_C * DIS_K, DIS_K, &tril))) {
        dsbi_table_free(&loc);
        return st;
    }
    if ((st = read_fixed("permutation_idx.csv", 100, 1, &perm))) {
        dsbi_table_free(&loc);
        dsbi_table_free(&tril);
        return st;
    }
    int seen[100] = {0};
    for (int i = 0; i < 100; i++) {
        float v = perm.data[i];
        int k = (int)v;
        if ((float)k != v || k < 0 || k > 99 || seen[k]++) {
            dsbi_table_free(&loc);
            dsbi_table_free(&tril);
            dsbi_table_free(&perm);
            return dsbi_fail(DSBI_STATUS_ERR_FORMAT,
                             "%s/slcp_distractors/files/permutation_idx.csv: line %d: '%g' is not a new index in 0..99",
                             dsbi_sbibm_dir(), i + 2, (double)v);
        }
        dis.perm[i] = k;
    }
    dis.loc = loc.data;
    dis.tril = tril.data;
    loc.data = tril.data = NULL;
    dsbi_table_free(&loc);
    dsbi_table_free(&tril);
    dsbi_table_free(&perm);
    dis.loaded = 1;
    return DSBI_STATUS_OK;
}

static int dis_setup(void) {
    pthread_mutex_lock(&dis.lock);
    int st = dis.loaded ? DSBI_STATUS_OK : dis_load();
    pthread_mutex_unlock(&dis.lock);
    return st;
}

int dsbi_distractor_arrays(const float **loc, const float **tril, const int **perm) {
    int st = dis_setup();
    if (st) return st;
    *loc = dis.loc;
    *tril = dis.tril;
    *perm = dis.perm;
    return DSBI_STATUS_OK;
}

/* c = (slcp 8 values, one draw of the 20-component Student-t(2) mixture, 92
 * values); x[i] = c[perm[i]]. t draw: loc_c + L_c z / sqrt(w / 2), w ~ chi^2_2. */
static int dis_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    (void)ctx;
    int st = dis_setup();
    if (st) return st;
    float c[100];
    double z[DIS_K];
    for (size_t i = 0; i < n; i++) {
        slcp_one(rng, theta + 5 * i, c);
        int comp = (int)(dsbi_rng_uniform(rng) * DIS_C);
        if (comp >= DIS_C) comp = DIS_C - 1;
        for (int k = 0; k < DIS_K; k++) z[k] = dsbi_rng_normal(rng);
        double w = -2.0 * log(dsbi_rng_uniform(rng));
        double scale = 1.0 / sqrt(w / 2.0);
        const float *L = dis.tril + (size_t)comp * DIS_K * DIS_K;
        for (int r = 0; r < DIS_K; r++) {
            double s = 0;
            for (int k = 0; k <= r; k++) s += (double)L[r * DIS_K + k] * z[k];
            c[8 + r] = (float)(dis.loc[comp * DIS_K + r] + s * scale);
        }
        for (int k = 0; k < 100; k++) x[100 * i + k] = c[dis.perm[k]];
    }
    return 0;
}

/* ---------------------------------------------------------------- bernoulli_glm */

/* files/stimulus_I.csv: numpy RandomState(42).randn(100) as float32 */
static const float bglm_stimulus[100] = {
    0.49671414494514465f, -0.13826429843902588f, 0.6476885676383972f, 1.5230298042297363f,
    -0.2341533750295639f, -0.23413695394992828f, 1.5792127847671509f, 0.7674347162246704f,
    -0.4694743752479553f, 0.5425600409507751f, -0.4634176790714264f, -0.4657297432422638f,
    0.241962268948555f, -1.9132802486419678f, -1.7249178886413574f, -0.5622875094413757f,
    -1.0128310918807983f, 0.31424733996391296f, -0.9080240726470947f, -1.4123036861419678f,
    1.4656487703323364f, -0.2257762998342514f, 0.06752820312976837f, -1.424748182296753f,
    -0.5443827509880066f, 0.11092258989810944f, -1.1509935855865479f, 0.3756980299949646f,
    -0.6006386876106262f, -0.2916937470436096f, -0.6017066240310669f, 1.852278232574463f,
    -0.013497225008904934f, -1.057710886001587f, 0.8225449323654175f, -1.2208436727523804f,
    0.20886360108852386f, -1.959670066833496f, -1.32818603515625f, 0.19686123728752136f,
    0.7384665608406067f, 0.1713682860136032f, -0.1156482845544815f, -0.3011036813259125f,
    -1.4785219430923462f, -0.7198442220687866f, -0.46063876152038574f, 1.0571222305297852f,
    0.3436183035373688f, -1.7630401849746704f, 0.32408398389816284f, -0.38508227467536926f,
    -0.6769220232963562f, 0.6116762757301331f, 1.0309995412826538f, 0.9312801361083984f,
    -0.8392175436019897f, -0.3092123866081238f, 0.3312634229660034f, 0.9755451083183289f,
    -0.4791742265224457f, -0.18565897643566132f, -1.106334924697876f, -1.1962065696716309f,
    0.8125258088111877f, 1.3562400341033936f, -0.07201012223958969f, 1.003532886505127f,
    0.3616360127925873f, -0.6451197266578674f, 0.36139559745788574f, 1.538036584854126f,
    -0.03582603856921196f, 1.5646436214447021f, -2.6197450160980225f, 0.8219025135040283f,
    0.08704707026481628f, -0.2990073561668396f, 0.0917607769370079f, -1.9875688552856445f,
    -0.21967189013957977f, 0.3571125566959381f, 1.4778940677642822f, -0.5182701945304871f,
    -0.8084936141967773f, -0.501757025718689f, 0.9154021143913269f, 0.3287511169910431f,
    -0.5297601819038391f, 0.513267457485199f, 0.09707754850387573f, 0.9686449766159058f,
    -0.7020530700683594f, -0.3276621401309967f, -0.39210814237594604f, -1.4635149240493774f,
    0.296120285987854f, 0.26105526089668274f, 0.00511345686390996f, -0.23458713293075562f};

static struct {
    pthread_once_t once;
    double X[100 * 10], P[100], Lc[100], logdet_P;
} bglm = {PTHREAD_ONCE_INIT, {0}, {0}, {0}, 0};

/* Cholesky A = L L^T in place (lower), n x n; returns 0 if not positive definite */
static int cholesky(double *A, int n) {
    for (int j = 0; j < n; j++) {
        double s = A[j * n + j];
        for (int k = 0; k < j; k++) s -= A[j * n + k] * A[j * n + k];
        if (!(s > 0)) return 0;
        A[j * n + j] = sqrt(s);
        for (int i = j + 1; i < n; i++) {
            double t = A[i * n + j];
            for (int k = 0; k < j; k++) t -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = t / A[j * n + j];
        }
        for (int i = 0; i < j; i++) A[i * n + j] = 0;
    }
    return 1;
}

/* X[t,0] = 1, X[t,1+j] = I_{t-j} (t >= j); P = blockdiag(0.5, F^T F) with
 * F = Dm Dm + diag(sqrt(i/9)), Dm = I - (first sub-diagonal); the covariance
 * P^{-1} is formed from the Cholesky factor of P and factored again. */
static void bglm_build(void) {
    for (int t = 0; t < 100; t++) {
        bglm.X[t * 10] = 1.0;
        for (int j = 0; j < 9; j++) bglm.X[t * 10 + 1 + j] = t >= j ? (double)bglm_stimulus[t - j] : 0.0;
    }
    double F[81] = {0};
    for (int i = 0; i < 9; i++) {
        F[i * 9 + i] = 1.0 + sqrt(i / 9.0);
        if (i >= 1) F[i * 9 + i - 1] = -2.0;
        if (i >= 2) F[i * 9 + i - 2] = 1.0;
    }
    memset(bglm.P, 0, sizeof bglm.P);
    bglm.P[0] = 0.5;
    for (int a = 0; a < 9; a++)
        for (int b = 0; b < 9; b++) {
            double s = 0;
            for (int k = 0; k < 9; k++) s += F[k * 9 + a] * F[k * 9 + b];
            bglm.P[(a + 1) * 10 + b + 1] = s;
        }
    double Lp[100], inv[100];
    memcpy(Lp, bglm.P, sizeof Lp);
    DSBI_ASSERT(cholesky(Lp, 10));
    bglm.logdet_P = 0;
    for (int i = 0; i < 10; i++) bglm.logdet_P += 2 * log(Lp[i * 10 + i]);
    /* inverse of P column by column: solve L L^T v = e_c */
    for (int c = 0; c < 10; c++) {
        double v[10];
        for (int i = 0; i < 10; i++) {
            double s = i == c;
            for (int k = 0; k < i; k++) s -= Lp[i * 10 + k] * v[k];
            v[i] = s / Lp[i * 10 + i];
        }
        for (int i = 9; i >= 0; i--) {
            double s = v[i];
            for (int k = i + 1; k < 10; k++) s -= Lp[k * 10 + i] * v[k];
            v[i] = s / Lp[i * 10 + i];
        }
        for (int i = 0; i < 10; i++) inv[i * 10 + c] = v[i];
    }
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < i; j++) inv[i * 10 + j] = inv[j * 10 + i] = 0.5 * (inv[i * 10 + j] + inv[j * 10 + i]);
    memcpy(bglm.Lc, inv, sizeof inv);
    DSBI_ASSERT(cholesky(bglm.Lc, 10));
}

void dsbi_bglm_arrays(const double **X, const double **P, const double **L_cov) {
    pthread_once(&bglm.once, bglm_build);
    *X = bglm.X;
    *P = bglm.P;
    *L_cov = bglm.Lc;
}

static int bglm_setup(void) {
    pthread_once(&bglm.once, bglm_build);
    return DSBI_STATUS_OK;
}

static int bglm_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    (void)ctx;
    pthread_once(&bglm.once, bglm_build);
    for (size_t i = 0; i < n; i++) {
        double z[10];
        for (int j = 0; j < 10; j++) z[j] = dsbi_rng_normal(rng);
        for (int r = 0; r < 10; r++) {
            double s = 0;
            for (int k = 0; k <= r; k++) s += bglm.Lc[r * 10 + k] * z[k];
            theta[10 * i + r] = (float)s;
        }
    }
    return 0;
}

static double bglm_log_prior(const float *t) {
    pthread_once(&bglm.once, bglm_build);
    double q = 0;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++) q += (double)t[i] * bglm.P[i * 10 + j] * t[j];
    return -0.5 * q + 0.5 * bglm.logdet_P - 5.0 * log(2 * M_PI);
}

/* spikes y (100) for one theta */
static void bglm_spikes(dsbi_rng *rng, const float *theta, double *y) {
    for (int t = 0; t < 100; t++) {
        double psi = 0;
        for (int j = 0; j < 10; j++) psi += bglm.X[t * 10 + j] * theta[j];
        double p = 1.0 / (1.0 + exp(-psi));
        y[t] = dsbi_rng_uniform(rng) < p ? 1.0 : 0.0;
    }
}

static int bglm_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    (void)ctx;
    pthread_once(&bglm.once, bglm_build);
    double y[100];
    for (size_t i = 0; i < n; i++) {
        bglm_spikes(rng, theta + 10 * i, y);
        for (int j = 0; j < 10; j++) {
            double s = 0;
            for (int t = 0; t < 100; t++) s += bglm.X[t * 10 + j] * y[t];
            x[10 * i + j] = (float)s;
        }
    }
    return 0;
}

static int bglm_raw_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    (void)ctx;
    pthread_once(&bglm.once, bglm_build);
    double y[100];
    for (size_t i = 0; i < n; i++) {
        bglm_spikes(rng, theta + 10 * i, y);
        for (int t = 0; t < 100; t++) x[100 * i + t] = (float)y[t];
    }
    return 0;
}

/* ---------------------------------------------------------------- ODE tasks */

static const dsbi_ode_config ode_cfg = {1e-8, 1e-8, 0, 200000};

/* Binomial(n, p) by inversion, searching outward from the mode so the cost
 * is O(sqrt(n p (1-p))); exact up to rounding of the pmf recursion. */
double dsbi_binomial_draw(dsbi_rng *rng, int n, double p) {
    if (!(p > 0)) return 0;
    if (p >= 1) return n;
    double q = 1 - p;
    int m = (int)floor((n + 1) * p);
    if (m > n) m = n;
    /* lgamma_r, not lgamma: lgamma stores the sign in the global signgam, a
     * data race when sir runs on several threads (the arguments are >= 1,
     * so the sign is always +1 and the values are the same) */
    int sg;
    double pm = exp(lgamma_r(n + 1.0, &sg) - lgamma_r(m + 1.0, &sg) - lgamma_r(n - m + 1.0, &sg) +
                    m * log(p) + (n - m) * log(q));
    double u = dsbi_rng_uniform(rng) - pm;
    if (u <= 0) return m;
    int lo = m - 1, hi = m + 1;
    double plo = pm, phi = pm;
    while (lo >= 0 || hi <= n) {
        if (hi <= n) {
            phi *= (double)(n - hi + 1) / hi * (p / q);
            if ((u -= phi) <= 0) return hi;
            hi++;
        }
        if (lo >= 0) {
            plo *= (double)(lo + 1) / (n - lo) * (q / p);
            if ((u -= plo) <= 0) return lo;
            lo--;
        }
    }
    return m; /* rounding left u > 0 after the whole support */
}

/* -- sir */

static int sir_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        theta[2 * i] = (float)exp(log(0.4) + 0.5 * dsbi_rng_normal(rng));
        theta[2 * i + 1] = (float)exp(log(0.125) + 0.2 * dsbi_rng_normal(rng));
    }
    return 0;
}

static double sir_log_prior(const float *t) {
    return lognormal_logpdf(t[0], log(0.4), 0.5) + lognormal_logpdf(t[1], log(0.125), 0.2);
}

static void sir_rhs(void *ctx, double t, const double *y, double *dy) {
    (void)t;
    const double *k = ctx, N = 1e6;
    double inf = k[0] * y[0] * y[1] / N, rec = k[1] * y[1];
    dy[0] = -inf;
    dy[1] = inf - rec;
    dy[2] = rec;
}

/* I(t) at t = 0, 17, ..., 153 for theta = (beta, gamma); status of the solve */
int dsbi_sir_solve(const float *theta, double *I_out) {
    double k[2] = {theta[0], theta[1]}, y0[3] = {999999.0, 1.0, 0.0}, t_out[10], y[30];
    for (int j = 0; j < 10; j++) t_out[j] = 17.0 * j;
    int st = dsbi_ode_solve(sir_rhs, k, 3, 0.0, y0, t_out, 10, &ode_cfg, y, NULL);
    for (int j = 0; j < 10; j++) I_out[j] = st ? NAN : (double)(float)y[3 * j + 1];
    return st;
}

static int sir_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    (void)ctx;
    double I[10];
    for (size_t i = 0; i < n; i++) {
        int st = dsbi_sir_solve(theta + 2 * i, I);
        for (int j = 0; j < 10; j++) {
            double p = I[j] / 1e6;
            p = p < 0 ? 0 : p > 1 ? 1 : p;
            x[10 * i + j] = st ? NAN : (float)dsbi_binomial_draw(rng, 1000, p);
        }
    }
    return 0;
}

/* -- lotka_volterra */

static const double lv_mu[4] = {-0.125, -3.0, -0.125, -3.0};

static int lv_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    (void)ctx;
    for (size_t i = 0; i < n * 4; i++) theta[i] = (float)exp(lv_mu[i % 4] + 0.5 * dsbi_rng_normal(rng));
    return 0;
}

static double lv_log_prior(const float *t) {
    double s = 0;
    for (int j = 0; j < 4; j++) s += lognormal_logpdf(t[j], lv_mu[j], 0.5);
    return s;
}

static void lv_rhs(void *ctx, double t, const double *y, double *dy) {
    (void)t;
    const double *k = ctx;
    dy[0] = k[0] * y[0] - k[1] * y[0] * y[1];
    dy[1] = -k[2] * y[1] + k[3] * y[0] * y[1];
}

/* (prey, predator) at t = 2.1 j, j = 0..9, as (X(t_0..t_9), Y(t_0..t_9)) */
int dsbi_lv_solve(const float *theta, double *u_out) {
    double k[4] = {theta[0], theta[1], theta[2], theta[3]}, y0[2] = {30.0, 1.0}, t_out[10], y[20];
    for (int j = 0; j < 10; j++) t_out[j] = 2.1 * j;
    int st = dsbi_ode_solve(lv_rhs, k, 2, 0.0, y0, t_out, 10, &ode_cfg, y, NULL);
    for (int j = 0; j < 10; j++) {
        u_out[j] = st ? NAN : (double)(float)y[2 * j];
        u_out[10 + j] = st ? NAN : (double)(float)y[2 * j + 1];
    }
    return st;
}

static int lv_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    (void)ctx;
    double u[20];
    for (size_t i = 0; i < n; i++) {
        int st = dsbi_lv_solve(theta + 4 * i, u);
        for (int j = 0; j < 20; j++) {
            double v = u[j] < 1e-10 ? 1e-10 : u[j] > 1e4 ? 1e4 : u[j];
            x[20 * i + j] = st ? NAN : (float)exp(log(v) + 0.1 * dsbi_rng_normal(rng));
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- entries */

/* All six are flagged thread_safe (last field of the simulator): the
 * callbacks keep their state on the stack, the Bernoulli GLM arrays are built
 * once (pthread_once) and the distractor arrays loaded once under a mutex,
 * both read-only afterwards, and the ODE solver only writes its own locals
 * (its failure message goes to the thread-local last error). */

static const char *const sir_theta[] = {"beta", "gamma"};
static const char *const lv_theta[] = {"alpha", "beta", "gamma", "delta"};

const dsbi_task_entry dsbi_task_slcp = {
    {"slcp", 5, 8, slcp_prior, slcp_simulate, NULL, dsbi_param_names, dsbi_data_names, 1},
    "sbibm: theta ~ U(-3,3)^5, 4 points from a 2-D Gaussian (sds theta3^2, theta4^2, corr tanh theta5)",
    slcp_log_prior, -3, 3, DSBI_TRANSFORM_LOGIT, 1, NULL};
const dsbi_task_entry dsbi_task_slcp_distractors = {
    {"slcp_distractors", 5, 100, slcp_prior, dis_simulate, NULL, dsbi_param_names, dsbi_data_names, 1},
    "sbibm: slcp plus 92 Student-t mixture distractors, permuted (reads files/ from DSBI_SBIBM_DIR)",
    slcp_log_prior, -3, 3, DSBI_TRANSFORM_LOGIT, 1, dis_setup};
const dsbi_task_entry dsbi_task_bernoulli_glm = {
    {"bernoulli_glm", 10, 10, bglm_prior, bglm_simulate, NULL, dsbi_param_names, dsbi_data_names, 1},
    "sbibm: spiking GLM, 100 bins, Gaussian smoothness prior; x = X^T y (sufficient statistics)",
    bglm_log_prior, -INFINITY, INFINITY, DSBI_TRANSFORM_NONE, 1, bglm_setup};
const dsbi_task_entry dsbi_task_bernoulli_glm_raw = {
    {"bernoulli_glm_raw", 10, 100, bglm_prior, bglm_raw_simulate, NULL, dsbi_param_names, dsbi_data_names, 1},
    "sbibm: spiking GLM as bernoulli_glm, x = the raw spike train (100 bins)",
    bglm_log_prior, -INFINITY, INFINITY, DSBI_TRANSFORM_NONE, 1, bglm_setup};
const dsbi_task_entry dsbi_task_sir = {
    {"sir", 2, 10, sir_prior, sir_simulate, NULL, sir_theta, dsbi_data_names, 1},
    "sbibm: SIR epidemic ODE, log-normal prior on (beta, gamma), Binomial(1000, I/N) at 10 times",
    sir_log_prior, 0, INFINITY, DSBI_TRANSFORM_LOG, 1, NULL};
const dsbi_task_entry dsbi_task_lotka_volterra = {
    {"lotka_volterra", 4, 20, lv_prior, lv_simulate, NULL, lv_theta, dsbi_data_names, 1},
    "sbibm: predator-prey ODE, log-normal prior, 10% log-normal noise on 2 x 10 values",
    lv_log_prior, 0, INFINITY, DSBI_TRANSFORM_LOG, 1, NULL};
