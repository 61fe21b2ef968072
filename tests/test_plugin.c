/* Simulator plugins (include/diffsbi_plugin.h, src/data/plugin.c) through the
 * C API and the CLI ($DSBI_CLI): each test writes a small plugin in C, builds
 * it with `cc -shared -fPIC` in a temp folder and checks that NaN draws are
 * counted, a segfault is reported with its theta, a hang is stopped by
 * --sim-timeout, a wrong ABI version or a missing symbol is refused, results
 * do not depend on the worker count, and the SIR example plugin runs. Also
 * the missing-data masks (train --impute) and train --dry-run. */
#include <criterion/criterion.h>
#include <diffsbi.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static const char *cli(void) {
    static char abs[PATH_MAX];
    const char *p = getenv("DSBI_CLI");
    if (!p || !*p) p = "build/diffsbi";
    cr_assert_not_null(realpath(p, abs), "CLI binary '%s' not found (set DSBI_CLI)", p);
    return abs;
}

static const char *repo_include(void) {
    static char inc[PATH_MAX];
    cr_assert_not_null(realpath("include", inc), "run the tests from the repository root");
    return inc;
}

static void tmp_dir(char dir[64]) {
    snprintf(dir, 64, "/tmp/dsbi_plugin_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert_not_null(b);
    size_t r = fread(b, 1, (size_t)n, f);
    b[r] = '\0';
    fclose(f);
    return b;
}

/* The common part of every test plugin: the ABI version V and a description. */
#define PLUGIN_HEAD(V, D, K, NAMES)                                                     \
    "#include <diffsbi_plugin.h>\n#include <math.h>\n#include <signal.h>\n"             \
    "static const dsbi_plugin_desc desc = {.name = \"t\", .dim_theta = " #D              \
    ", .dim_x = " #K ", .theta_names = " NAMES "};\n"                                     \
    "int dsbi_plugin_abi_version(void) { return " #V "; }\n"                             \
    "const dsbi_plugin_desc *dsbi_plugin_info(void) { return &desc; }\n"                 \
    "static double unif(uint64_t *s) { uint64_t z = (*s += 0x9E3779B97F4A7C15ull);\n"    \
    "  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull; z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;\n" \
    "  return ((double)((z ^ (z >> 31)) >> 11) + 0.5) / 9007199254740992.0; }\n"

/* theta = (u1, u2) uniform on (0, 1) */
#define PRIOR_UNIFORM2                                                                   \
    "int dsbi_plugin_prior(void *st, uint64_t seed, size_t n, float *th) { (void)st;\n"  \
    "  for (size_t i = 0; i < 2 * n; i++) th[i] = (float)unif(&seed); return 0; }\n"

/* Builds src into dir/name.so; returns the path (static buffer ring). */
static const char *build_plugin(const char *dir, const char *name, const char *src) {
    static char so[4][256];
    static int k;
    char *out = so[k++ % 4], c_path[256], cmd[PATH_MAX + 1024];
    snprintf(c_path, sizeof c_path, "%s/%s.c", dir, name);
    snprintf(out, 256, "%s/lib%s.so", dir, name);
    FILE *f = fopen(c_path, "w");
    cr_assert_not_null(f);
    fputs(src, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cc -std=gnu17 -O1 -shared -fPIC -Wall -I'%s' -o '%s' '%s' -lm 2>'%s/cc.err'",
             repo_include(), out, c_path, dir);
    int st = system(cmd);
    if (st != 0) {
        char ep[256];
        snprintf(ep, sizeof ep, "%s/cc.err", dir);
        char *e = slurp(ep);
        cr_assert_fail("cannot build plugin %s:\n%s", name, e ? e : "?");
    }
    return out;
}

typedef struct run_result {
    int code;
    char *out, *err;
} run_result;

/* Runs `diffsbi ARGS` in dir, captures stdout/stderr; a crash of the CLI
 * itself or a sanitizer report fails the test. */
static run_result run(const char *dir, const char *fmt, ...) {
    char args[2048], cmd[PATH_MAX + 3072], op[256], ep[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(op, sizeof op, "%s/.out", dir);
    snprintf(ep, sizeof ep, "%s/.err", dir);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >'%s' 2>'%s'", dir, cli(), args, op, ep);
    int st = system(cmd);
    cr_assert_neq(st, -1);
    run_result r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), slurp(op), slurp(ep)};
    cr_assert(r.out && r.err);
    cr_assert(r.code < 128, "diffsbi %s: killed by signal %d\n%s", args, r.code - 128, r.err);
    cr_assert_null(strstr(r.err, "Sanitizer"), "diffsbi %s: sanitizer report:\n%s", args, r.err);
    cr_assert_null(strstr(r.err, "runtime error:"), "diffsbi %s: UB report:\n%s", args, r.err);
    return r;
}

static void run_free(run_result *r) {
    free(r->out);
    free(r->err);
}

static void expect_in(const char *hay, const char *needle) {
    cr_assert_not_null(strstr(hay, needle), "expected '%s' in:\n%s", needle, hay);
}

/* Parses "theta = (a, b)" from a message. */
static void parse_theta(const char *msg, double *a, double *b) {
    const char *p = strstr(msg, "theta = (");
    cr_assert_not_null(p, "no theta in: %s", msg);
    cr_assert_eq(sscanf(p, "theta = (%lf, %lf)", a, b), 2, "cannot parse theta in: %s", msg);
}

/* ---------------------------------------------------------------- plugins */

/* x = theta + noise, NaN for about 10 % of the draws (decided by the seed) */
static const char *const src_nan10 = PLUGIN_HEAD(1, 2, 2, "\"a,b\"") PRIOR_UNIFORM2
    "int dsbi_plugin_simulate(void *st, uint64_t seed, size_t n, const float *th, float *x) {\n"
    "  (void)st; for (size_t i = 0; i < n; i++) { double u = unif(&seed);\n"
    "    x[2*i] = th[2*i] + 0.1f * (float)unif(&seed); x[2*i+1] = th[2*i+1] + 0.1f * (float)unif(&seed);\n"
    "    if (u < 0.1) x[2*i] = NAN; } return 0; }\n";

/* segfaults when theta_1 > 0.97 */
static const char *const src_segv = PLUGIN_HEAD(1, 2, 2, "\"a,b\"") PRIOR_UNIFORM2
    "int dsbi_plugin_simulate(void *st, uint64_t seed, size_t n, const float *th, float *x) {\n"
    "  (void)st; (void)seed; for (size_t i = 0; i < n; i++) {\n"
    "    if (th[2*i] > 0.97f) { volatile int *p = 0; *p = 1; }\n"
    "    x[2*i] = th[2*i]; x[2*i+1] = th[2*i+1]; } return 0; }\n";

/* never returns when theta_1 > 0.97 */
static const char *const src_hang = PLUGIN_HEAD(1, 2, 2, "\"a,b\"") PRIOR_UNIFORM2
    "int dsbi_plugin_simulate(void *st, uint64_t seed, size_t n, const float *th, float *x) {\n"
    "  (void)st; (void)seed; for (size_t i = 0; i < n; i++) {\n"
    "    if (th[2*i] > 0.97f) for (volatile int k = 0;; k++) {}\n"
    "    x[2*i] = th[2*i]; x[2*i+1] = th[2*i+1]; } return 0; }\n";

/* returns 7 when theta_2 < 0.02 */
static const char *const src_fail = PLUGIN_HEAD(1, 2, 2, "\"a,b\"") PRIOR_UNIFORM2
    "int dsbi_plugin_simulate(void *st, uint64_t seed, size_t n, const float *th, float *x) {\n"
    "  (void)st; (void)seed; for (size_t i = 0; i < n; i++) {\n"
    "    if (th[2*i+1] < 0.02f) return 7;\n"
    "    x[2*i] = th[2*i]; x[2*i+1] = th[2*i+1]; } return 0; }\n";

static const char *const src_good_sim =
    "int dsbi_plugin_simulate(void *st, uint64_t seed, size_t n, const float *th, float *x) {\n"
    "  (void)st; for (size_t i = 0; i < 2 * n; i++) x[i] = th[i] + 0.1f * (float)unif(&seed); return 0; }\n";

/* ---------------------------------------------------------------- tests */

Test(plugin, nan_draws_are_counted_and_training_succeeds) {
    char dir[64];
    tmp_dir(dir);
    const char *so = build_plugin(dir, "nan10", src_nan10);
    run_result r = run(dir, "train --simulator '%s' --sims 600 --epochs 2 --width 16 --depth 1 "
                            "--batch 64 --out m.dsbi --quiet --threads 2", so);
    cr_assert_eq(r.code, 0, "exit %d:\n%s", r.code, r.err);
    const char *p = strstr(r.err, "dropped ");
    cr_assert_not_null(p, "no count of dropped simulations:\n%s", r.err);
    size_t dropped = 0, total = 0;
    cr_assert_eq(sscanf(p, "dropped %zu of %zu", &dropped, &total), 2, "%s", r.err);
    cr_assert_eq(total, 600);
    cr_assert(dropped >= 30 && dropped <= 95, "dropped %zu of 600, expected about 60", dropped);
    run_free(&r);
    /* the model knows the plugin's names */
    r = run(dir, "info m.dsbi");
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
}

Test(plugin, segfault_is_reported_with_its_theta) {
    char dir[64];
    tmp_dir(dir);
    const char *so = build_plugin(dir, "segv", src_segv);
    run_result r = run(dir, "simulate --simulator '%s' --sims 400 --out s.csv --threads 2", so);
    cr_assert_eq(r.code, 1, "exit %d:\n%s", r.code, r.err);
    expect_in(r.err, "plugin libsegv.so crashed (signal 11) at theta = (");
    expect_in(r.err, "of batch)");
    double a, b;
    parse_theta(r.err, &a, &b);
    cr_assert(a > 0.97 && a < 1.0 && b > 0.0 && b < 1.0, "printed theta (%g, %g) is not a crashing one", a, b);
    cr_assert_eq(access("s.csv", F_OK), -1);
    run_free(&r);
    /* the same through training, online */
    r = run(dir, "train --simulator '%s' --online --sims 300 --epochs 2 --width 8 --depth 1 --out m.dsbi --quiet", so);
    cr_assert_eq(r.code, 1, "exit %d:\n%s", r.code, r.err);
    expect_in(r.err, "crashed (signal 11) at theta = (");
    run_free(&r);
}

Test(plugin, hang_is_stopped_by_sim_timeout, .timeout = 30) {
    char dir[64];
    tmp_dir(dir);
    const char *so = build_plugin(dir, "hang", src_hang);
    run_result r = run(dir, "simulate --simulator '%s' --sims 300 --sim-timeout 0.5 --out s.csv --threads 2", so);
    cr_assert_eq(r.code, 1, "exit %d:\n%s", r.code, r.err);
    expect_in(r.err, "plugin libhang.so timed out");
    double a, b;
    parse_theta(r.err, &a, &b);
    cr_assert(a > 0.97, "printed theta (%g, %g) is not a hanging one", a, b);
    run_free(&r);
}

Test(plugin, nonzero_return_is_reported_with_its_theta) {
    char dir[64];
    tmp_dir(dir);
    const char *so = build_plugin(dir, "fail", src_fail);
    run_result r = run(dir, "simulate --simulator '%s' --sims 500 --out s.csv", so);
    cr_assert_eq(r.code, 1, "exit %d:\n%s", r.code, r.err);
    expect_in(r.err, "dsbi_plugin_simulate returned 7 at theta = (");
    double a, b;
    parse_theta(r.err, &a, &b);
    cr_assert(b < 0.02, "printed theta (%g, %g) is not a failing one", a, b);
    run_free(&r);
}

Test(plugin, wrong_abi_version_is_refused) {
    char dir[64];
    tmp_dir(dir);
    char src[4096];
    snprintf(src, sizeof src, "%s%s%s", PLUGIN_HEAD(99, 2, 2, "\"a,b\""), PRIOR_UNIFORM2, src_good_sim);
    const char *so = build_plugin(dir, "abi99", src);
    run_result r = run(dir, "simulate --simulator '%s' --sims 10 --out s.csv", so);
    cr_assert_eq(r.code, 1, "exit %d:\n%s", r.code, r.err);
    expect_in(r.err, "libabi99.so: plugin ABI version 99 is not supported: dsbi_plugin_abi_version must return 1");
    run_free(&r);
    /* through the library: a format error, no handle */
    dsbi_simulator sim;
    dsbi_plugin *h = (dsbi_plugin *)1;
    cr_assert_eq(dsbi_plugin_open(so, &sim, &h), DSBI_STATUS_ERR_FORMAT);
    cr_assert_null(h);
    expect_in(dsbi_last_error(), "ABI version 99");
}

Test(plugin, missing_symbol_and_bad_info_are_refused) {
    char dir[64];
    tmp_dir(dir);
    char src[4096];
    snprintf(src, sizeof src, "%s%s", PLUGIN_HEAD(1, 2, 2, "\"a,b\""), PRIOR_UNIFORM2);
    const char *so = build_plugin(dir, "nosim", src);
    dsbi_simulator sim;
    dsbi_plugin *h = NULL;
    cr_assert_eq(dsbi_plugin_open(so, &sim, &h), DSBI_STATUS_ERR_FORMAT);
    expect_in(dsbi_last_error(), "libnosim.so: plugin lacks the required symbol 'dsbi_plugin_simulate'");
    /* three names for two parameters */
    snprintf(src, sizeof src, "%s%s%s", PLUGIN_HEAD(1, 2, 2, "\"a,b,c\""), PRIOR_UNIFORM2, src_good_sim);
    so = build_plugin(dir, "names3", src);
    cr_assert_eq(dsbi_plugin_open(so, &sim, &h), DSBI_STATUS_ERR_FORMAT);
    expect_in(dsbi_last_error(), "dsbi_plugin_info: theta_names lists 3 names, expected 2");
    /* zero dimensions */
    snprintf(src, sizeof src, "%s%s%s", PLUGIN_HEAD(1, 0, 2, "0"), PRIOR_UNIFORM2, src_good_sim);
    so = build_plugin(dir, "dim0", src);
    cr_assert_eq(dsbi_plugin_open(so, &sim, &h), DSBI_STATUS_ERR_FORMAT);
    expect_in(dsbi_last_error(), "dim_theta = 0 is outside 1..");
    /* not a library at all */
    char path[256];
    snprintf(path, sizeof path, "%s/libjunk.so", dir);
    FILE *f = fopen(path, "w");
    fputs("junk", f);
    fclose(f);
    cr_assert_neq(dsbi_plugin_open(path, &sim, &h), DSBI_STATUS_OK);
    expect_in(dsbi_last_error(), "cannot load plugin");
    cr_assert_eq(dsbi_plugin_open("/nonexistent/libx.so", &sim, &h), DSBI_STATUS_ERR_IO);
}

Test(plugin, results_do_not_depend_on_worker_count) {
    char dir[64];
    tmp_dir(dir);
    char src[4096];
    snprintf(src, sizeof src, "%s%s%s", PLUGIN_HEAD(1, 2, 2, "\"a,b\""), PRIOR_UNIFORM2, src_good_sim);
    const char *so = build_plugin(dir, "good", src);
    dsbi_dataset *ds[3] = {0};
    size_t workers[3] = {1, 3, 0};
    for (int k = 0; k < 3; k++) {
        dsbi_plugin_config pc = dsbi_plugin_config_default();
        pc.workers = workers[k];
        pc.in_process = k == 2; /* the direct path gives the same numbers too */
        dsbi_simulator sim;
        dsbi_plugin *h = NULL;
        cr_assert_eq(dsbi_plugin_open_ext(so, &pc, &sim, &h), DSBI_STATUS_OK, "%s", dsbi_last_error());
        cr_assert_eq(sim.dim_theta, 2);
        cr_assert_str_eq(sim.theta_names[1], "b");
        cr_assert_str_eq(sim.x_names[0], "x_1");
        cr_assert_eq(dsbi_dataset_simulate(&sim, 1000, 42, &ds[k], NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
        dsbi_plugin_close(h);
    }
    for (int k = 1; k < 3; k++) {
        cr_assert_eq(dsbi_dataset_size(ds[k]), 1000);
        cr_assert_eq(memcmp(dsbi_dataset_theta(ds[0]), dsbi_dataset_theta(ds[k]), 2000 * sizeof(float)), 0);
        cr_assert_eq(memcmp(dsbi_dataset_x(ds[0]), dsbi_dataset_x(ds[k]), 2000 * sizeof(float)), 0);
    }
    /* theta rows differ (one seed per chunk, not one for all) */
    const float *t = dsbi_dataset_theta(ds[0]);
    cr_assert_neq(t[0], t[2 * 64]);
    for (int k = 0; k < 3; k++) dsbi_dataset_free(ds[k]);
}

Test(plugin, sir_example_plugin_simulates) {
    char dir[64];
    tmp_dir(dir);
    char *src = slurp("examples/plugins/sir_plugin.c");
    cr_assert_not_null(src, "examples/plugins/sir_plugin.c not found");
    const char *so = build_plugin(dir, "sir", src);
    free(src);
    run_result r = run(dir, "simulate --simulator '%s' --sims 200 --out s.csv --quiet", so);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    dsbi_table t;
    char path[256];
    snprintf(path, sizeof path, "%s/s.csv", dir);
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.cols, 12);
    cr_assert_str_eq(t.names[0], "beta");
    cr_assert_str_eq(t.names[11], "x10");
    double peak = 0;
    for (size_t i = 0; i < t.rows; i++) {
        cr_assert(t.data[i * 12] > 0 && t.data[i * 12 + 1] > 0);
        for (size_t j = 2; j < 12; j++) {
            float v = t.data[i * 12 + j];
            cr_assert(v >= 0 && v <= 1000 && v == floorf(v), "x = %g is not a count of 1000", v);
            if (v > peak) peak = v;
        }
    }
    cr_assert(peak > 100, "no epidemic in 200 simulations (peak %g)", peak);
    dsbi_table_free(&t);
}

/* ---------------------------------------------------------------- missing data and dry run */

Test(impute, masked_dataset_imputes_means_and_adds_masks) {
    float theta[4] = {1, 2, NAN, 4};
    float x[8] = {1, 10, NAN, 20, 3, 30, 5, INFINITY};
    size_t imputed = 0, dropped = 0;
    dsbi_dataset *ds = dsbi_dataset_from_arrays_masked(theta, x, 4, 1, 2, &imputed, &dropped);
    cr_assert_not_null(ds);
    cr_assert_eq(imputed, 2);
    cr_assert_eq(dropped, 1); /* the row with a NaN theta */
    cr_assert_eq(dsbi_dataset_dim_x(ds), 4);
    cr_assert_eq(dsbi_dataset_size(ds), 3);
    const float *X = dsbi_dataset_x(ds);
    /* rows 0, 1, 3 kept; column means over finite entries: 3 and 20 */
    float want[12] = {1, 10, 0, 0, 3, 20, 1, 0, 5, 20, 0, 1};
    for (int i = 0; i < 12; i++) cr_assert_float_eq(X[i], want[i], 1e-6, "entry %d: %g", i, X[i]);
    dsbi_dataset_free(ds);
}

Test(impute, train_impute_then_sample_with_nan) {
    char dir[64];
    tmp_dir(dir);
    const char *so = build_plugin(dir, "nan10", src_nan10);
    run_result r = run(dir, "train --simulator '%s' --impute --sims 600 --epochs 2 --width 16 --depth 1 "
                            "--batch 64 --out m.dsbi --quiet", so);
    cr_assert_eq(r.code, 0, "exit %d:\n%s", r.code, r.err);
    expect_in(r.err, "imputed ");
    cr_assert_null(strstr(r.err, "dropped"), "%s", r.err);
    run_free(&r);
    r = run(dir, "sample --model m.dsbi --obs nan,0.5 -n 50 --out p.csv");
    cr_assert_eq(r.code, 0, "exit %d:\n%s", r.code, r.err);
    expect_in(r.out, "a ");
    run_free(&r);
    r = run(dir, "sample --model m.dsbi --obs 0.2,0.5 -n 20");
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    /* the library side */
    char path[256];
    snprintf(path, sizeof path, "%s/m.dsbi", dir);
    dsbi_model *m = dsbi_model_load(path);
    cr_assert_not_null(m, "%s", dsbi_last_error());
    cr_assert_eq(dsbi_model_dim_x(m), 4);
    cr_assert_eq(dsbi_model_obs_dim(m), 2);
    cr_assert_str_eq(dsbi_model_x_name(m, 2), "x_1" DSBI_MASK_SUFFIX);
    float raw[2] = {NAN, 0.5f}, full[4];
    cr_assert_eq(dsbi_model_prepare_obs(m, raw, full), DSBI_STATUS_OK);
    cr_assert(isfinite(full[0]));
    cr_assert_eq(full[1], 0.5f);
    cr_assert_eq(full[2], 1.0f);
    cr_assert_eq(full[3], 0.0f);
    dsbi_model_free(m);
    /* a data file with missing entries, and --impute is refused online */
    FILE *f = fopen("/dev/null", "r");
    fclose(f);
    char csv[256];
    snprintf(csv, sizeof csv, "%s/d.csv", dir);
    f = fopen(csv, "w");
    fputs("t,x1,x2\n", f);
    for (int i = 0; i < 200; i++) fprintf(f, "%d,%s,%d\n", i % 7, i % 5 ? "1.5" : "nan", i % 3);
    fclose(f);
    r = run(dir, "train --data d.csv --theta t --x x1,x2 --impute --epochs 1 --width 8 --depth 1 --out d.dsbi --quiet");
    cr_assert_eq(r.code, 0, "%s", r.err);
    expect_in(r.err, "imputed 40 missing x values");
    run_free(&r);
    r = run(dir, "sample --model d.dsbi --obs ,1 -n 10 --quiet");
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = run(dir, "train --task two_moons --online --impute --out o.dsbi");
    cr_assert_eq(r.code, 2);
    run_free(&r);
}

Test(dry_run, prints_estimate_and_does_not_train) {
    char dir[64];
    tmp_dir(dir);
    run_result r = run(dir, "train --task two_moons --sims 5000 --epochs 50 --width 32 --depth 2 --batch 100 --dry-run --out m.dsbi");
    cr_assert_eq(r.code, 0, "%s", r.err);
    expect_in(r.out, "parameters");
    expect_in(r.out, "optimizer state");
    expect_in(r.out, "activations per batch");
    expect_in(r.out, "time per step");
    expect_in(r.out, "optimizer steps              2250 (45 per epoch)");
    char path[256];
    snprintf(path, sizeof path, "%s/m.dsbi", dir);
    cr_assert_eq(access(path, F_OK), -1, "dry run wrote a model");
    run_free(&r);
    /* library: memory follows from the tape; no timing requested */
    dsbi_model_config mc = dsbi_model_config_default();
    mc.width = 32;
    mc.depth = 2;
    dsbi_model *m = dsbi_model_create(&mc, 2, 2);
    dsbi_train_config tc = dsbi_train_config_default();
    tc.epochs = 10;
    tc.batch_size = 100;
    dsbi_train_estimate e;
    cr_assert_eq(dsbi_model_estimate(m, &tc, 1000, 0, &e), DSBI_STATUS_OK);
    cr_assert_eq(e.n_params, dsbi_model_num_params(m));
    cr_assert_eq(e.optimizer_bytes, 5 * e.param_bytes);
    cr_assert_eq(e.steps, 90);
    cr_assert(e.activation_bytes > 100 * 32 * sizeof(float));
    cr_assert_eq(dsbi_model_estimate(m, &tc, 1000, 3, &e), DSBI_STATUS_OK);
    cr_assert(e.seconds_per_step > 0 && e.seconds_total > e.seconds_per_step);
    dsbi_model_free(m);
}
