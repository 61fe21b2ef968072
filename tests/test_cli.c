/* End-to-end tests of the diffsbi command through the built binary (path from
 * $DSBI_CLI, default build/diffsbi): help and usage errors, the simulate ->
 * train -> sample -> info pipeline, determinism across runs and thread counts,
 * refusal of truncated and corrupted model files, and clear messages for bad
 * inputs. Every command runs in a fresh folder under /tmp with stdout and
 * stderr captured to files; a crash or a sanitizer report fails the test. */
#include <cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

/* Absolute path of the binary (commands run with the temp folder as cwd). */
static const char *cli_path(void) {
    static char abs[PATH_MAX];
    const char *p = getenv("DSBI_CLI");
    if (!p || !*p) p = "build/diffsbi";
    cr_assert_not_null(realpath(p, abs), "CLI binary '%s' not found (set DSBI_CLI)", p);
    cr_assert_eq(access(abs, X_OK), 0, "CLI binary '%s' is not executable", abs);
    return abs;
}

static void tmp_dir(char dir[64]) {
    snprintf(dir, 64, "/tmp/dsbi_XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
}

/* Reads a whole file (NUL-terminated; *len gets the size). NULL if missing. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    cr_assert_not_null(b);
    for (size_t r; (r = fread(b + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap + 1);
            cr_assert_not_null(b);
        }
    }
    fclose(f);
    b[n] = '\0';
    if (len) *len = n;
    return b;
}

/* Under LeakSanitizer, fontconfig's process-wide cache (used by cairo text in
 * the figures) is reported as leaked at exit; it is not ours. Unless the
 * caller set LSAN_OPTIONS, suppress leaks from that library only. */
static const char *lsan_env(const char *dir) {
    static char env[512];
    if (getenv("LSAN_OPTIONS")) return "";
    char supp[256];
    snprintf(supp, sizeof supp, "%.200s/.lsan.supp", dir);
    FILE *f = fopen(supp, "w");
    cr_assert_not_null(f);
    fputs("leak:libfontconfig.so\n", f);
    fclose(f);
    snprintf(env, sizeof env, "LSAN_OPTIONS=suppressions=%s:print_suppressions=0 ", supp);
    return env;
}

typedef struct run_result {
    int code;  /* exit status, or 128 + signal when killed */
    char *out; /* stdout */
    char *err; /* stderr */
} run_result;

static void run_free(run_result *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Runs `diffsbi ARGS` in dir (ARGS formatted, shell-parsed) and captures
 * output. Fails the test on a crash or a sanitizer report. */
static run_result run(const char *dir, const char *fmt, ...) {
    char args[2048], cmd[4096], outp[256], errp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    cr_assert_lt((size_t)n, sizeof args);
    snprintf(outp, sizeof outp, "%s/.stdout", dir);
    snprintf(errp, sizeof errp, "%s/.stderr", dir);
    snprintf(cmd, sizeof cmd, "cd '%s' && %s'%s' %s >'%s' 2>'%s'", dir, lsan_env(dir), cli_path(), args, outp,
             errp);
    int st = system(cmd);
    cr_assert_neq(st, -1, "system() failed: %s", strerror(errno));
    run_result r;
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    r.out = slurp(outp, NULL);
    r.err = slurp(errp, NULL);
    cr_assert(r.out && r.err);
    remove(outp);
    remove(errp);
    cr_assert(r.code < 128, "diffsbi %s: killed by signal %d (crash)\nstderr: %s", args, r.code - 128, r.err);
    cr_assert_null(strstr(r.err, "Sanitizer"), "diffsbi %s: sanitizer report:\n%s", args, r.err);
    cr_assert_null(strstr(r.err, "runtime error:"), "diffsbi %s: UB report:\n%s", args, r.err);
    cr_assert_null(strstr(r.err, "assertion failed"), "diffsbi %s: assertion:\n%s", args, r.err);
    return r;
}

/* Runs and requires exit code `code`; returns the result for more checks. */
static run_result run_expect(int code, const char *dir, const char *fmt, ...) {
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    run_result r = run(dir, "%s", args);
    cr_assert_eq(r.code, code, "diffsbi %s: exit %d, expected %d\nstdout: %s\nstderr: %s", args, r.code, code,
                 r.out, r.err);
    return r;
}

static void expect_in(const char *haystack, const char *needle, const char *what) {
    cr_assert_not_null(strstr(haystack, needle), "%s lacks '%s':\n%s", what, needle, haystack);
}

static char *file_in(const char *dir, const char *name) {
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%.150s/%.100s", dir, name);
    return p;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static size_t count_lines(const char *text) {
    size_t n = 0;
    for (const char *p = text; *p; p++) n += *p == '\n';
    return n;
}

static int same_bytes(const char *a, const char *b) {
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    cr_assert(x && y, "missing %s or %s", a, b);
    int same = la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

/* simulate two_moons (300 pairs) and train a small model in dir:
 * s.csv and m.dsbi. */
static void make_model(const char *dir) {
    run_result r = run_expect(0, dir, "simulate --task two_moons --sims 300 --out s.csv --quiet");
    run_free(&r);
    r = run_expect(0, dir, "train --data s.csv --theta 1-2 --x 3-4 --epochs 3 --out m.dsbi --quiet");
    run_free(&r);
    cr_assert(exists(file_in(dir, "m.dsbi")));
}

/* ---------------------------------------------------------------- help and usage */

static const char *const commands[] = {"demo",   "tasks",    "simulate", "train",
                                       "sample", "info",     "diagnose", "bench"};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

Test(cli, help_lists_every_command) {
    char dir[64];
    tmp_dir(dir);
    run_result r = run_expect(0, dir, "--help");
    expect_in(r.out, "usage:", "--help output");
    for (size_t i = 0; i < N_COMMANDS; i++) expect_in(r.out, commands[i], "--help output");
    run_free(&r);
    r = run_expect(0, dir, "--version");
    expect_in(r.out, "diffsbi", "--version output");
    run_free(&r);
    /* no arguments: usage on stderr, exit 2 */
    r = run_expect(2, dir, "");
    expect_in(r.err, "usage:", "stderr");
    run_free(&r);
}

Test(cli, every_command_has_help) {
    char dir[64];
    tmp_dir(dir);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        run_result r = run_expect(0, dir, "%s --help", commands[i]);
        expect_in(r.out, "usage:", commands[i]);
        run_free(&r);
    }
    cr_assert_eq(access(file_in(dir, "out"), F_OK), -1, "demo --help created files");
}

Test(cli, unknown_command_and_option_exit_2) {
    char dir[64];
    tmp_dir(dir);
    run_result r = run_expect(2, dir, "frobnicate");
    expect_in(r.err, "unknown command", "stderr");
    expect_in(r.err, "frobnicate", "stderr");
    run_free(&r);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (!strcmp(commands[i], "tasks")) continue; /* tested below: positional */
        r = run_expect(2, dir, "%s --no-such-option", commands[i]);
        cr_assert_neq(r.err[0], '\0', "%s: no message", commands[i]);
        run_free(&r);
    }
    r = run_expect(2, dir, "tasks extra");
    run_free(&r);
    /* bad values of known options */
    r = run_expect(2, dir, "train --task two_moons --out m.dsbi --epochs zero");
    expect_in(r.err, "--epochs", "stderr");
    run_free(&r);
    r = run_expect(2, dir, "train --task two_moons --out m.dsbi --schedule nope");
    expect_in(r.err, "nope", "stderr");
    run_free(&r);
    r = run_expect(2, dir, "simulate --task two_moons --out s.csv --sims -5");
    expect_in(r.err, "--sims", "stderr");
    run_free(&r);
    cr_assert_eq(access(file_in(dir, "m.dsbi"), F_OK), -1);
    cr_assert_eq(access(file_in(dir, "s.csv"), F_OK), -1);
}

Test(cli, missing_required_options_exit_2) {
    char dir[64];
    tmp_dir(dir);
    run_result r = run_expect(2, dir, "train --task two_moons --epochs 2");
    expect_in(r.err, "--out", "stderr");
    run_free(&r);
    r = run_expect(2, dir, "train --out m.dsbi");
    expect_in(r.err, "--task", "stderr");
    run_free(&r);
    r = run_expect(2, dir, "simulate --task two_moons");
    expect_in(r.err, "--out", "stderr");
    run_free(&r);
    r = run_expect(2, dir, "sample --obs 0,0");
    expect_in(r.err, "--model", "stderr");
    run_free(&r);
    r = run_expect(2, dir, "info");
    expect_in(r.err, "--model", "stderr");
    run_free(&r);
}

Test(cli, tasks_lists_builtin_tasks) {
    char dir[64];
    tmp_dir(dir);
    run_result r = run_expect(0, dir, "tasks");
    expect_in(r.out, "inverse_kinematics", "tasks output");
    expect_in(r.out, "gaussian_linear", "tasks output");
    expect_in(r.out, "two_moons", "tasks output");
    run_free(&r);
    r = run_expect(1, dir, "simulate --task three_moons --out s.csv");
    expect_in(r.err, "three_moons", "stderr");
    expect_in(r.err, "two_moons", "stderr (known tasks)");
    run_free(&r);
}

/* ---------------------------------------------------------------- pipeline */

Test(cli, pipeline_simulate_train_sample_info) {
    char dir[64];
    tmp_dir(dir);
    run_result r = run_expect(0, dir, "simulate --task two_moons --sims 300 --out %s", file_in(dir, "s.csv"));
    run_free(&r);
    char *s = slurp(file_in(dir, "s.csv"), NULL);
    cr_assert_not_null(s);
    cr_assert_eq(strncmp(s, "parameter_1,parameter_2,data_1,data_2\n", 38), 0, "header: %.60s", s);
    cr_assert_eq(count_lines(s), 301);
    free(s);

    r = run_expect(0, dir, "train --data %s --theta 1-2 --x 3-4 --epochs 3 --out %s --quiet",
                   file_in(dir, "s.csv"), file_in(dir, "m.dsbi"));
    run_free(&r);
    cr_assert(exists(file_in(dir, "m.dsbi")));

    r = run_expect(0, dir, "sample --model %s --obs 0.1,-0.2 -n 50 --out %s", file_in(dir, "m.dsbi"),
                   file_in(dir, "p.csv"));
    expect_in(r.out, "parameter_1", "sample summary"); /* summary on stdout */
    run_free(&r);
    r = run_expect(0, dir, "sample --model %s --obs 0.1,-0.2 -n 50 --out %s --quiet", file_in(dir, "m.dsbi"),
                   file_in(dir, "p.npy"));
    cr_assert_eq(r.out[0], '\0', "--quiet printed: %s", r.out);
    run_free(&r);
    cr_assert(exists(file_in(dir, "p.csv")));
    cr_assert(exists(file_in(dir, "p.npy")));

    char *p = slurp(file_in(dir, "p.csv"), NULL);
    cr_assert_eq(count_lines(p), 51, "p.csv has %zu lines", count_lines(p));
    cr_assert_eq(strncmp(p, "parameter_1,parameter_2\n", 24), 0, "header: %.40s", p);
    /* every value is a finite number */
    char *line = strchr(p, '\n') + 1;
    float csv_vals[100];
    for (int i = 0; i < 50; i++) {
        char *end;
        double a = strtod(line, &end);
        cr_assert(end != line && *end == ',', "row %d: %.40s", i, line);
        double b = strtod(end + 1, &end);
        cr_assert(*end == '\n', "row %d", i);
        cr_assert(a == a && b == b && a > -1e6 && a < 1e6 && b > -1e6 && b < 1e6, "row %d: %g %g", i, a, b);
        csv_vals[2 * i] = (float)a;
        csv_vals[2 * i + 1] = (float)b;
        line = end + 1;
    }
    free(p);

    /* the NPY file holds the same draws (same default seed) */
    size_t len;
    char *npy = slurp(file_in(dir, "p.npy"), &len);
    cr_assert_eq(memcmp(npy, "\x93NUMPY", 6), 0);
    cr_assert_not_null(strstr(npy + 10, "(50, 2)"), "NPY header: %.80s", npy + 10);
    size_t hl = (unsigned char)npy[8] | (size_t)(unsigned char)npy[9] << 8;
    cr_assert_eq(len, 10 + hl + 50 * 2 * sizeof(float));
    cr_assert_eq(memcmp(npy + 10 + hl, csv_vals, sizeof csv_vals), 0, "p.npy and p.csv hold different draws");
    free(npy);

    r = run_expect(0, dir, "info --model %s", file_in(dir, "m.dsbi"));
    expect_in(r.out, "diffusion", "info output");
    run_free(&r);
    r = run_expect(0, dir, "info m.dsbi"); /* positional form */
    expect_in(r.out, "diffusion", "info output");
    run_free(&r);
    /* no temp files left behind */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q '\\.tmp\\.'", dir);
    cr_assert_neq(system(cmd), 0, "a .tmp. file was left in %s", dir);
}

Test(cli, train_from_task_and_online) {
    char dir[64];
    tmp_dir(dir);
    run_result r = run_expect(0, dir, "train --task gaussian_linear --sims 300 --epochs 2 --out gl.dsbi --quiet");
    run_free(&r);
    cr_assert(exists(file_in(dir, "gl.dsbi")));
    r = run_expect(0, dir, "sample --model gl.dsbi --obs 0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9 -n 20 --out p.csv --quiet");
    run_free(&r);
    char *p = slurp(file_in(dir, "p.csv"), NULL);
    cr_assert_eq(strncmp(p, "parameter_1,parameter_2,parameter_3,parameter_4,parameter_5,parameter_6,"
                            "parameter_7,parameter_8,parameter_9,parameter_10\n", 120), 0,
                 "header: %.130s", p);
    cr_assert_eq(count_lines(p), 21);
    free(p);
    r = run_expect(0, dir, "info --model gl.dsbi");
    expect_in(r.out, "diffusion", "info output");
    run_free(&r);

    /* online training: fresh simulations every epoch */
    r = run_expect(0, dir, "train --task two_moons --online --sims 200 --epochs 2 --out on.dsbi --quiet");
    run_free(&r);
    cr_assert(exists(file_in(dir, "on.dsbi")));
    r = run_expect(2, dir, "train --data x.csv --online --out on2.dsbi --quiet");
    run_free(&r);
}

Test(cli, train_data_with_column_names) {
    char dir[64];
    tmp_dir(dir);
    run_result r = run_expect(0, dir, "simulate --task two_moons --sims 300 --out s.csv --quiet");
    run_free(&r);
    r = run_expect(0, dir, "train --data s.csv --theta parameter_1,parameter_2 --x data_1,data_2 "
                           "--epochs 2 --out named.dsbi --quiet");
    run_free(&r);
    r = run_expect(0, dir, "train --data s.csv --theta 1-2 --x 3,4 --epochs 2 --out ranges.dsbi --quiet");
    run_free(&r);
    /* same columns, same seed: the same model */
    cr_assert(same_bytes(file_in(dir, "named.dsbi"), file_in(dir, "ranges.dsbi")),
              "training on named and numbered columns gave different models");
    r = run_expect(0, dir, "sample --model named.dsbi --obs 0,0 -n 5 --out p.csv --quiet");
    run_free(&r);
    char *p = slurp(file_in(dir, "p.csv"), NULL);
    cr_assert_eq(strncmp(p, "parameter_1,parameter_2\n", 24), 0, "header: %.40s", p);
    free(p);
    /* --x defaults to the columns not used by --theta */
    r = run_expect(0, dir, "train --data s.csv --theta 1-2 --epochs 2 --out dflt.dsbi --quiet");
    run_free(&r);
    r = run_expect(0, dir, "info --model dflt.dsbi");
    expect_in(r.out, "theta 2 dims, x 2 dims", "info output");
    run_free(&r);
    /* unknown column names and out-of-range columns are refused with a message */
    r = run(dir, "train --data s.csv --theta parameter_1,nope --x data_1,data_2 --epochs 2 --out bad.dsbi --quiet");
    cr_assert_neq(r.code, 0);
    expect_in(r.err, "nope", "stderr");
    run_free(&r);
    r = run(dir, "train --data s.csv --theta 1-2 --x 3-9 --epochs 2 --out bad.dsbi --quiet");
    cr_assert_neq(r.code, 0);
    expect_in(r.err, "3-9", "stderr");
    run_free(&r);
    r = run(dir, "train --data s.csv --x 3-4 --epochs 2 --out bad.dsbi --quiet");
    cr_assert_neq(r.code, 0);
    expect_in(r.err, "--theta", "stderr");
    run_free(&r);
    cr_assert_eq(access(file_in(dir, "bad.dsbi"), F_OK), -1);
    /* NPY data: columns by number */
    r = run_expect(0, dir, "simulate --task two_moons --sims 300 --out s.npy --quiet");
    run_free(&r);
    r = run_expect(0, dir, "train --data s.npy --theta 1-2 --x 3-4 --epochs 2 --out npy.dsbi --quiet");
    run_free(&r);
    cr_assert(exists(file_in(dir, "npy.dsbi")));
}

/* ---------------------------------------------------------------- determinism */

Test(cli, same_seed_gives_identical_samples) {
    char dir[64];
    tmp_dir(dir);
    make_model(dir);
    const char *exts[2] = {"csv", "npy"};
    for (int k = 0; k < 2; k++) {
        run_result r = run_expect(0, dir, "sample --model m.dsbi --obs 0.1,-0.2 -n 300 --seed 7 --out a.%s --quiet", exts[k]);
        run_free(&r);
        r = run_expect(0, dir, "sample --model m.dsbi --obs 0.1,-0.2 -n 300 --seed 7 --out b.%s --quiet", exts[k]);
        run_free(&r);
        r = run_expect(0, dir, "sample --model m.dsbi --obs 0.1,-0.2 -n 300 --seed 8 --out c.%s --quiet", exts[k]);
        run_free(&r);
        char a[16], b[16], c[16];
        snprintf(a, sizeof a, "a.%s", exts[k]);
        snprintf(b, sizeof b, "b.%s", exts[k]);
        snprintf(c, sizeof c, "c.%s", exts[k]);
        cr_assert(same_bytes(file_in(dir, a), file_in(dir, b)), "--seed 7 twice gave different %s files", exts[k]);
        cr_assert_not(same_bytes(file_in(dir, a), file_in(dir, c)), "--seed 7 and --seed 8 gave the same draws");
    }
    /* an observation read from a file gives the same draws as the inline one */
    write_text(file_in(dir, "obs.csv"), "data_1,data_2\n0.1,-0.2\n");
    run_result r = run_expect(0, dir, "sample --model m.dsbi --obs obs.csv -n 300 --seed 7 --out f.csv --quiet");
    run_free(&r);
    cr_assert(same_bytes(file_in(dir, "a.csv"), file_in(dir, "f.csv")), "--obs FILE and inline --obs differ");
}

Test(cli, samples_do_not_depend_on_threads) {
    char dir[64];
    tmp_dir(dir);
    make_model(dir);
    /* 1100 draws = 5 chunks of up to 256, so two threads really split them */
    run_result r = run_expect(0, dir, "sample --model m.dsbi --obs 0.1,-0.2 -n 1100 --seed 3 --threads 1 --out t1.npy --quiet");
    run_free(&r);
    r = run_expect(0, dir, "sample --model m.dsbi --obs 0.1,-0.2 -n 1100 --seed 3 --threads 2 --out t2.npy --quiet");
    run_free(&r);
    cr_assert(same_bytes(file_in(dir, "t1.npy"), file_in(dir, "t2.npy")), "--threads 1 and 2 differ (1100 draws)");
    /* 300 draws = chunks of 256 and 44; 100 draws = a single chunk, which
       must not be handed to a threaded BLAS (its AVX-512 kernels change the
       last bits with the thread count) */
    const int small[2] = {300, 100};
    for (int k = 0; k < 2; k++) {
        r = run_expect(0, dir, "sample --model m.dsbi --obs 0.1,-0.2 -n %d --seed 3 --threads 1 --out s1.npy --quiet", small[k]);
        run_free(&r);
        r = run_expect(0, dir, "sample --model m.dsbi --obs 0.1,-0.2 -n %d --seed 3 --threads 2 --out s2.npy --quiet", small[k]);
        run_free(&r);
        cr_assert(same_bytes(file_in(dir, "s1.npy"), file_in(dir, "s2.npy")), "--threads 1 and 2 differ (%d draws)", small[k]);
    }
}

/* ---------------------------------------------------------------- corrupted models */

static void copy_prefix(const char *src, const char *dst, size_t keep) {
    size_t len;
    char *b = slurp(src, &len);
    cr_assert_not_null(b);
    cr_assert_leq(keep, len);
    FILE *f = fopen(dst, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, keep, f), keep);
    fclose(f);
    free(b);
}

static size_t file_size(const char *path) {
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s missing", path);
    return (size_t)st.st_size;
}

static void flip_byte(const char *src, const char *dst, size_t at) {
    size_t len;
    char *b = slurp(src, &len);
    cr_assert_lt(at, len);
    b[at] ^= 0x10;
    FILE *f = fopen(dst, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, len, f), len);
    fclose(f);
    free(b);
}

/* sample and info must both refuse `name` with exit 1 and a message naming it. */
static void expect_refused(const char *dir, const char *name, const char *detail) {
    run_result r = run_expect(1, dir, "sample --model %s --obs 0.1,-0.2 -n 10 --out p.csv", name);
    expect_in(r.err, name, "sample stderr");
    if (detail) expect_in(r.err, detail, "sample stderr");
    run_free(&r);
    cr_assert_eq(access(file_in(dir, "p.csv"), F_OK), -1, "samples written from a bad model");
    r = run_expect(1, dir, "info --model %s", name);
    expect_in(r.err, name, "info stderr");
    if (detail) expect_in(r.err, detail, "info stderr");
    run_free(&r);
}

Test(cli, truncated_model_refused) {
    char dir[64];
    tmp_dir(dir);
    make_model(dir);
    size_t len = file_size(file_in(dir, "m.dsbi"));
    copy_prefix(file_in(dir, "m.dsbi"), file_in(dir, "half.dsbi"), len / 2);
    expect_refused(dir, "half.dsbi", NULL);
    /* one byte short, header only, a few bytes, empty */
    copy_prefix(file_in(dir, "m.dsbi"), file_in(dir, "short1.dsbi"), len - 1);
    expect_refused(dir, "short1.dsbi", NULL);
    copy_prefix(file_in(dir, "m.dsbi"), file_in(dir, "tiny.dsbi"), 12);
    expect_refused(dir, "tiny.dsbi", NULL);
    copy_prefix(file_in(dir, "m.dsbi"), file_in(dir, "empty.dsbi"), 0);
    expect_refused(dir, "empty.dsbi", NULL);
    /* not a model at all, and a missing file */
    write_text(file_in(dir, "text.dsbi"), "parameter_1,parameter_2\n1,2\n");
    expect_refused(dir, "text.dsbi", NULL);
    expect_refused(dir, "missing.dsbi", NULL);
}

Test(cli, bit_flipped_model_refused) {
    char dir[64];
    tmp_dir(dir);
    make_model(dir);
    size_t len = file_size(file_in(dir, "m.dsbi"));
    /* near the end: loss history / standardization; further in: network weights */
    flip_byte(file_in(dir, "m.dsbi"), file_in(dir, "flip_end.dsbi"), len - 5);
    expect_refused(dir, "flip_end.dsbi", "CRC mismatch");
    flip_byte(file_in(dir, "m.dsbi"), file_in(dir, "flip_mid.dsbi"), len - len / 4);
    expect_refused(dir, "flip_mid.dsbi", "CRC mismatch");
    /* a flip in the JSON header is caught too (by the parser, a field check or the CRC) */
    flip_byte(file_in(dir, "m.dsbi"), file_in(dir, "flip_hdr.dsbi"), 40);
    expect_refused(dir, "flip_hdr.dsbi", NULL);
    /* the intact model still works */
    run_result r = run_expect(0, dir, "info --model m.dsbi");
    run_free(&r);
}

/* ---------------------------------------------------------------- bad inputs */

Test(cli, bad_obs_refused_with_message) {
    char dir[64];
    tmp_dir(dir);
    make_model(dir);
    run_result r = run(dir, "sample --model m.dsbi --obs abc -n 5 --out p.csv");
    cr_assert(r.code == 1 || r.code == 2, "exit %d", r.code);
    expect_in(r.err, "abc", "stderr");
    expect_in(r.err, "not a number", "stderr");
    run_free(&r);
    r = run(dir, "sample --model m.dsbi --obs 0.5 -n 5 --out p.csv");
    cr_assert(r.code == 1 || r.code == 2, "exit %d", r.code);
    expect_in(r.err, "2", "stderr (expected count)");
    expect_in(r.err, "--obs", "stderr");
    run_free(&r);
    r = run(dir, "sample --model m.dsbi --obs 0.5,1,2 -n 5 --out p.csv");
    cr_assert(r.code == 1 || r.code == 2, "exit %d", r.code);
    expect_in(r.err, "--obs", "stderr");
    run_free(&r);
    r = run(dir, "sample --model m.dsbi --obs 0.5,nan -n 5 --out p.csv");
    cr_assert(r.code == 1 || r.code == 2, "exit %d", r.code);
    run_free(&r);
    r = run(dir, "sample --model m.dsbi --obs 0.5,x -n 5 --out p.csv");
    cr_assert(r.code == 1 || r.code == 2, "exit %d", r.code);
    run_free(&r);
    /* an observation file with the wrong number of columns */
    write_text(file_in(dir, "obs3.csv"), "a,b,c\n1,2,3\n");
    r = run_expect(1, dir, "sample --model m.dsbi --obs obs3.csv -n 5 --out p.csv");
    expect_in(r.err, "obs3.csv", "stderr");
    run_free(&r);
    cr_assert_eq(access(file_in(dir, "p.csv"), F_OK), -1, "samples written for a bad observation");
    /* -n out of range */
    r = run_expect(2, dir, "sample --model m.dsbi --obs 0,0 -n 0");
    run_free(&r);
}

Test(cli, max_nfe_below_steps_fails) {
    char dir[64];
    tmp_dir(dir);
    make_model(dir);
    run_result r = run_expect(1, dir, "sample --model m.dsbi --obs 0,0 -n 5 --steps 50 --max-nfe 10 --out p.csv");
    expect_in(r.err, "max-nfe", "stderr");
    run_free(&r);
    cr_assert_eq(access(file_in(dir, "p.csv"), F_OK), -1);
    /* heun needs about two evaluations per step */
    r = run_expect(1, dir, "sample --model m.dsbi --obs 0,0 -n 5 --sampler heun --steps 20 --max-nfe 20");
    expect_in(r.err, "max-nfe", "stderr");
    run_free(&r);
    /* within budget: fine, and the summary reports the evaluations */
    r = run_expect(0, dir, "sample --model m.dsbi --obs 0,0 -n 5 --steps 10 --max-nfe 10");
    expect_in(r.out, "10 network evaluations", "stdout");
    run_free(&r);
    /* every sampler runs */
    const char *samplers[5] = {"ddim", "dpm2m", "euler", "heun", "em"};
    for (int k = 0; k < 5; k++) {
        r = run_expect(0, dir, "sample --model m.dsbi --obs 0,0 -n 5 --steps 8 --sampler %s --quiet", samplers[k]);
        run_free(&r);
    }
    r = run_expect(2, dir, "sample --model m.dsbi --obs 0,0 -n 5 --sampler rk99");
    run_free(&r);
}

Test(cli, data_file_with_text_cell_names_file_and_line) {
    char dir[64];
    tmp_dir(dir);
    write_text(file_in(dir, "bad.csv"), "t1,t2,x1,x2\n0.1,0.2,0.3,0.4\n0.5,oops,0.7,0.8\n");
    run_result r = run_expect(1, dir, "train --data bad.csv --theta 1-2 --x 3-4 --epochs 2 --out m.dsbi --quiet");
    expect_in(r.err, "bad.csv:3", "stderr");
    expect_in(r.err, "oops", "stderr");
    run_free(&r);
    cr_assert_eq(access(file_in(dir, "m.dsbi"), F_OK), -1);
    /* a missing data file */
    r = run_expect(1, dir, "train --data nowhere.csv --theta 1-2 --x 3-4 --epochs 2 --out m.dsbi --quiet");
    expect_in(r.err, "nowhere.csv", "stderr");
    run_free(&r);
    /* rows with non-finite values are dropped with a warning */
    write_text(file_in(dir, "nan.csv"), "t1,x1\n0.1,0.2\nnan,0.3\n0.2,inf\n0.3,0.1\n0.4,0.5\n-0.1,0.3\n"
                                        "0.5,0.6\n0.6,0.7\n0.7,0.8\n0.8,0.9\n");
    r = run_expect(0, dir, "train --data nan.csv --theta 1 --x 2 --epochs 2 --out nan.dsbi --quiet");
    expect_in(r.err, "dropped 2", "stderr");
    run_free(&r);
}

Test(cli, output_into_missing_folder_fails) {
    char dir[64];
    tmp_dir(dir);
    run_result r = run_expect(1, dir, "simulate --task two_moons --sims 50 --out nodir/s.csv");
    expect_in(r.err, "nodir/s.csv", "stderr");
    run_free(&r);
    make_model(dir);
    r = run_expect(1, dir, "sample --model m.dsbi --obs 0,0 -n 5 --out nodir/p.csv");
    expect_in(r.err, "nodir/p.csv", "stderr");
    run_free(&r);
    r = run_expect(1, dir, "train --task two_moons --sims 100 --epochs 1 --out nodir/m.dsbi --quiet");
    expect_in(r.err, "nodir/m.dsbi", "stderr");
    run_free(&r);
    /* an unknown output format */
    r = run(dir, "sample --model m.dsbi --obs 0,0 -n 5 --out p.parquet");
    cr_assert(r.code == 1 || r.code == 2, "exit %d", r.code);
    expect_in(r.err, "p.parquet", "stderr");
    run_free(&r);
}

Test(cli, plots_from_train_and_sample) {
    char dir[64];
    tmp_dir(dir);
    run_result r = run_expect(0, dir, "train --task two_moons --sims 300 --epochs 3 --out m.dsbi --loss-plot loss.svg --quiet");
    run_free(&r);
    cr_assert(exists(file_in(dir, "loss.svg")));
    r = run_expect(0, dir, "sample --model m.dsbi --obs 0,0 -n 200 --plot post.png --quiet");
    run_free(&r);
    cr_assert(exists(file_in(dir, "post.png")));
}

/* Ctrl-C during training stops cleanly (exit 130) and saves the model so far. */
Test(cli, sigint_stops_training_and_saves, .timeout = 60) {
    char dir[64];
    tmp_dir(dir);
    const char *bin = cli_path();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(99);
        const char *le = lsan_env(dir);
        if (*le) {
            char val[512];
            snprintf(val, sizeof val, "%s", le + strlen("LSAN_OPTIONS="));
            val[strcspn(val, " ")] = '\0';
            setenv("LSAN_OPTIONS", val, 1);
        }
        FILE *e = freopen(".stderr", "w", stderr);
        FILE *o = freopen(".stdout", "w", stdout);
        if (!e || !o) _exit(98);
        execl(bin, bin, "train", "--task", "two_moons", "--sims", "2000", "--epochs", "1000000", "--width", "32",
              "--depth", "2", "--patience", "0", "--out", "int.dsbi", (char *)NULL);
        _exit(97);
    }
    /* wait until training has started (the start message) before interrupting */
    char *err = NULL;
    for (int i = 0; i < 200; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        free(err);
        err = slurp(file_in(dir, ".stderr"), NULL);
        if (err && strstr(err, "training")) break;
    }
    cr_assert(err && strstr(err, "training"), "training never started: %s", err ? err : "(no stderr)");
    free(err);
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGINT);
    int st = 0, waited = 0;
    for (int i = 0; i < 400; i++) { /* up to 40 s */
        if (waitpid(pid, &st, WNOHANG) == pid) {
            waited = 1;
            break;
        }
        struct timespec t2 = {0, 100 * 1000 * 1000};
        nanosleep(&t2, NULL);
    }
    if (!waited) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        cr_assert_fail("training did not stop within 40 s of SIGINT");
    }
    err = slurp(file_in(dir, ".stderr"), NULL);
    cr_assert(WIFEXITED(st), "killed by signal %d; stderr: %s", WIFSIGNALED(st) ? WTERMSIG(st) : 0, err);
    cr_assert_eq(WEXITSTATUS(st), 130, "exit %d; stderr: %s", WEXITSTATUS(st), err);
    expect_in(err, "interrupted", "stderr");
    free(err);
    cr_assert(exists(file_in(dir, "int.dsbi")));
    run_result r = run_expect(0, dir, "info --model int.dsbi");
    expect_in(r.out, "diffusion", "info output");
    run_free(&r);
}

/* kill -9 in the middle of training, then --resume from the last checkpoint:
 * the final model file is byte-identical to an uninterrupted run with the same
 * seed and threads (weights, Adam state, RNG and history all restored). */
Test(cli, kill9_then_resume_is_bit_identical, .timeout = 120) {
    char dir[64];
    tmp_dir(dir);
    const char *common = "train --task two_moons --sims 1000 --epochs 40 --width 32 --depth 2 --seed 5 "
                         "--threads 1 --patience 0 --quiet";
    run_result r = run_expect(0, dir, "%s --out full.dsbi", common);
    run_free(&r);
    const char *bin = cli_path();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(99);
        FILE *e = freopen(".stderr2", "w", stderr);
        FILE *o = freopen(".stdout2", "w", stdout);
        if (!e || !o) _exit(98);
        execl(bin, bin, "train", "--task", "two_moons", "--sims", "1000", "--epochs", "40", "--width", "32",
              "--depth", "2", "--seed", "5", "--threads", "1", "--patience", "0", "--quiet", "--checkpoint",
              "ck.dsbi", "--checkpoint-every", "3", "--out", "part.dsbi", (char *)NULL);
        _exit(97);
    }
    /* wait for the first checkpoint, then kill without warning */
    int found = 0;
    for (int i = 0; i < 600 && !found; i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        found = exists(file_in(dir, "ck.dsbi"));
    }
    cr_assert(found, "no checkpoint was written");
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(exists(file_in(dir, "ck.dsbi")));
    /* a partial checkpoint is a valid model too, and training was cut short */
    r = run_expect(0, dir, "info --model ck.dsbi");
    const char *rec = strstr(r.out, "epochs recorded: ");
    cr_assert_not_null(rec);
    size_t done = 0;
    cr_assert_eq(sscanf(rec, "epochs recorded: %zu", &done), 1);
    cr_assert(done >= 3 && done < 40, "checkpoint after %zu epochs: the kill came too late", done);
    run_free(&r);
    r = run_expect(0, dir, "%s --checkpoint ck.dsbi --resume --out resumed.dsbi", common);
    run_free(&r);
    cr_assert(same_bytes(file_in(dir, "full.dsbi"), file_in(dir, "resumed.dsbi")),
              "resumed model differs from the uninterrupted one");
    /* resuming with other settings is refused with a clear message */
    r = run_expect(1, dir, "train --task two_moons --sims 1000 --epochs 41 --width 32 --depth 2 --seed 5 "
                           "--threads 1 --quiet --checkpoint ck.dsbi --resume --out x.dsbi");
    expect_in(r.err, "epochs", "stderr");
    run_free(&r);
}

/* ---------------------------------------------------------------- diagnostics from demo and bench */

/* Parses dir/name as JSON (fails the test if missing or malformed). */
static cJSON *read_json(const char *dir, const char *name) {
    char *text = slurp(file_in(dir, name), NULL);
    cr_assert_not_null(text, "%s/%s is missing", dir, name);
    cJSON *root = cJSON_Parse(text);
    cr_assert_not_null(root, "%s/%s does not parse:\n%s", dir, name, text);
    free(text);
    return root;
}

static double json_num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "JSON key '%s' missing or not a number", key);
    return v->valuedouble;
}

static const char *json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsString(v), "JSON key '%s' missing or not a string", key);
    return v->valuestring;
}

static int known_verdict(const char *v) {
    return !strcmp(v, "well calibrated") || !strcmp(v, "over-confident") ||
           !strcmp(v, "under-confident") || !strcmp(v, "biased");
}

/* The files of a diagnose run in dir/sub and the keys of its metrics.json:
 * n test simulations x L draws, one verdict per expected parameter name,
 * TARP area in its range [0, 1/2] and the sampler's steps. */
static void check_diagnose_dir(const char *dir, const char *sub, size_t n, size_t L,
                               const char *const *names, size_t d, size_t steps) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    static const char *const files[] = {"report.html", "sbc_ecdf.png", "coverage.png", "tarp.png",
                                        "recovery.png", "z_contraction.png", "pairs.png"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        cr_assert(exists(file_in(path, files[i])), "%s/%s missing or empty", path, files[i]);
    cJSON *root = read_json(path, "metrics.json");
    cr_assert_eq(json_num(root, "n"), (double)n);
    cr_assert_eq(json_num(root, "draws"), (double)L);
    cr_assert_eq(json_num(cJSON_GetObjectItem(root, "sampler"), "steps"), (double)steps);
    const cJSON *params = cJSON_GetObjectItem(root, "parameters");
    cr_assert_eq((size_t)cJSON_GetArraySize(params), d);
    for (size_t j = 0; j < d; j++) {
        const cJSON *p = cJSON_GetArrayItem(params, (int)j);
        cr_assert_str_eq(json_str(p, "name"), names[j]);
        cr_assert(known_verdict(json_str(p, "verdict")), "verdict '%s'", json_str(p, "verdict"));
    }
    double area = json_num(cJSON_GetObjectItem(root, "tarp"), "area");
    cr_assert(area >= 0 && area <= 0.5, "TARP area %g", area);
    cJSON_Delete(root);
    char *html = slurp(file_in(path, "report.html"), NULL);
    expect_in(html, "<html", "report.html");
    expect_in(html, "src=\"tarp.png\"", "report.html");
    free(html);
}

Test(cli, demo_diagnoses_by_default_and_not_with_no_diagnose, .timeout = 120) {
    char dir[64];
    tmp_dir(dir);
    /* tiny: the point is the plumbing, not the calibration of a 2-epoch model */
    const char *tiny = "--sims 300 --epochs 2 -n 100 --steps 10 --diagnose-n 20 --diagnose-draws 20 --quiet";
    run_result r = run_expect(0, dir, "demo %s --out o", tiny);
    expect_in(r.out, "verdict", "demo summary");
    expect_in(r.out, "TARP area", "demo summary");
    run_free(&r);
    static const char *const names[4] = {"h", "a1", "a2", "a3"};
    check_diagnose_dir(dir, "o/diagnose", 20, 20, names, 4, 10);
    cJSON *m = read_json(dir, "o/diagnose/metrics.json");
    expect_in(json_str(m, "model"), "o/model.dsbi", "metrics.json model");
    expect_in(json_str(m, "task"), "inverse_kinematics", "metrics.json task");
    cJSON_Delete(m);

    r = run_expect(0, dir, "demo %s --no-diagnose --out p", tiny);
    cr_assert_null(strstr(r.out, "TARP"), "--no-diagnose still diagnosed:\n%s", r.out);
    run_free(&r);
    cr_assert(exists(file_in(dir, "p/model.dsbi")));
    cr_assert_eq(access(file_in(dir, "p/diagnose"), F_OK), -1, "--no-diagnose wrote p/diagnose");

    /* --compare diagnoses each family into its own folder and tabulates TARP */
    r = run_expect(0, dir, "demo %s --compare --out c", tiny);
    expect_in(r.out, "TARP area", "compare table");
    expect_in(r.out, "distilled from the diffusion model", "compare: distilled consistency model");
    run_free(&r);
    static const char *const fam[3] = {"diffusion", "flow", "consistency"};
    for (int f = 0; f < 3; f++) {
        char sub[64];
        snprintf(sub, sizeof sub, "c/diagnose/%s", fam[f]);
        check_diagnose_dir(dir, sub, 20, 20, names, 4, 10);
    }
    r = run_expect(2, dir, "demo --diagnose-n 1");
    expect_in(r.err, "--diagnose-n", "stderr");
    run_free(&r);
}

/* A reference folder in the sbibm layout for two_moons with one observation:
 * the values are arbitrary (the C2ST is not the point here), the shapes are
 * what bench accuracy checks. */
static void fake_reference(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/ref/two_moons/num_observation_1'", dir);
    cr_assert_eq(system(cmd), 0);
    write_text(file_in(dir, "ref/two_moons/num_observation_1/observation.csv"),
               "data_1,data_2\n0.1,-0.2\n");
    FILE *f = fopen(file_in(dir, "ref/two_moons/num_observation_1/reference_posterior_samples.csv"), "w");
    cr_assert_not_null(f);
    fputs("parameter_1,parameter_2\n", f);
    uint32_t u = 12345u; /* a fixed LCG: deterministic values in [-1, 1) */
    for (int i = 0; i < 200; i++) {
        double v[2];
        for (int k = 0; k < 2; k++) {
            u = u * 1664525u + 1013904223u;
            v[k] = (double)(u >> 8) / (double)(1u << 23) - 1.0;
        }
        fprintf(f, "%.6f,%.6f\n", v[0], v[1]);
    }
    cr_assert_eq(fclose(f), 0);
}

Test(cli, bench_accuracy_design_sampler_and_diagnose_in_json, .timeout = 120) {
    char dir[64];
    tmp_dir(dir);
    fake_reference(dir);
    const char *common = "bench accuracy --task two_moons --budget 300 --observations 1 --samples 100 "
                         "--projections 10 --reference-dir ref --quiet";
    run_result r = run_expect(0, dir, "%s --epochs 2 --width 32 --depth 2 --sampler ddim --steps 7 "
                              "--diagnose D --diagnose-n 20 --diagnose-draws 20 --save m.dsbi --json b.json",
                              common);
    expect_in(r.out, "mean", "bench table");
    run_free(&r);
    cJSON *b = read_json(dir, "b.json");
    /* the model options reached the model */
    const cJSON *mc = cJSON_GetObjectItem(b, "model_config");
    cr_assert_eq(json_num(mc, "width"), 32);
    cr_assert_eq(json_num(mc, "depth"), 2);
    cr_assert_eq(json_num(b, "epochs"), 2);
    /* DDIM evaluates the network once per step */
    const cJSON *smp = cJSON_GetObjectItem(b, "sampler");
    cr_assert_str_eq(json_str(smp, "name"), "ddim");
    cr_assert_eq(json_num(smp, "steps"), 7);
    cr_assert_eq(json_num(b, "nfe"), 7);
    double secs = json_num(b, "sample_seconds_mean");
    cr_assert(secs > 0 && secs < 60, "sample_seconds_mean %g", secs);
    const cJSON *o1 = cJSON_GetArrayItem(cJSON_GetObjectItem(b, "observations"), 0);
    cr_assert_eq(json_num(o1, "nfe"), 7);
    cr_assert(json_num(o1, "sample_seconds") <= json_num(o1, "seconds"));
    double c2 = json_num(cJSON_GetObjectItem(b, "mean"), "c2st");
    cr_assert(c2 >= 0 && c2 <= 1, "C2ST %g", c2);
    /* the diagnose summary in the JSON matches the run's own metrics.json */
    const cJSON *dg = cJSON_GetObjectItem(b, "diagnose");
    cr_assert_not_null(dg, "no \"diagnose\" in the JSON");
    cr_assert_str_eq(json_str(dg, "dir"), "D");
    const cJSON *dp = cJSON_GetObjectItem(dg, "parameters");
    cr_assert_eq(cJSON_GetArraySize(dp), 2);
    size_t ok = 0;
    for (int j = 0; j < 2; j++) {
        const char *v = json_str(cJSON_GetArrayItem(dp, j), "verdict");
        cr_assert(known_verdict(v), "verdict '%s'", v);
        ok += !strcmp(v, "well calibrated");
    }
    cr_assert_eq(json_num(dg, "well_calibrated"), (double)ok);
    static const char *const names[2] = {"parameter_1", "parameter_2"};
    check_diagnose_dir(dir, "D", 20, 20, names, 2, 7);
    cJSON *dm = read_json(dir, "D/metrics.json");
    cr_assert_float_eq(json_num(dg, "tarp_area"), json_num(cJSON_GetObjectItem(dm, "tarp"), "area"), 1e-12);
    cJSON_Delete(dm);
    cJSON_Delete(b);

    /* a loaded model with another sampler: recorded as such */
    r = run_expect(0, dir, "%s --load m.dsbi --sampler heun --steps 4 --json h.json", common);
    run_free(&r);
    b = read_json(dir, "h.json");
    cr_assert_str_eq(json_str(b, "model"), "m.dsbi");
    cr_assert_str_eq(json_str(cJSON_GetObjectItem(b, "sampler"), "name"), "heun");
    double nfe = json_num(b, "nfe");
    cr_assert(nfe >= 4 && nfe <= 8, "heun with 4 steps: %g evaluations per draw", nfe);
    cr_assert_null(cJSON_GetObjectItem(b, "diagnose"), "\"diagnose\" without --diagnose");
    cJSON_Delete(b);

    /* design options do not apply to a loaded model: refused, not ignored */
    r = run_expect(2, dir, "%s --load m.dsbi --schedule cosine", common);
    expect_in(r.err, "--schedule", "stderr");
    run_free(&r);
}

Test(cli, bench_accuracy_rejects_bad_sampler_options) {
    char dir[64];
    tmp_dir(dir);
    /* refused while parsing: nothing is simulated or trained */
    run_result r = run_expect(2, dir, "bench accuracy --task two_moons --sampler nope");
    expect_in(r.err, "--sampler", "stderr");
    expect_in(r.err, "nope", "stderr");
    run_free(&r);
    r = run_expect(2, dir, "bench accuracy --task two_moons --steps 0");
    expect_in(r.err, "--steps", "stderr");
    run_free(&r);
    r = run_expect(2, dir, "bench accuracy --task two_moons --prediction nope");
    expect_in(r.err, "--prediction", "stderr");
    run_free(&r);
    r = run_expect(2, dir, "bench accuracy --task two_moons --diagnose-draws 1");
    expect_in(r.err, "--diagnose-draws", "stderr");
    run_free(&r);
}

Test(cli, diagnose_options_in_help) {
    char dir[64];
    tmp_dir(dir);
    run_result r = run_expect(0, dir, "bench accuracy --help");
    static const char *const bench_opts[] = {
        "--diagnose DIR", "--diagnose-n", "--diagnose-draws", "--model FAMILY", "--schedule",
        "--prediction", "--weighting", "--width", "--depth", "--lr", "--batch", "--epochs",
        "--sampler", "--steps", "--atol", "--rtol", "--max-nfe", "--eta", "--stop-time",
        "sample_seconds_mean"};
    for (size_t i = 0; i < sizeof bench_opts / sizeof bench_opts[0]; i++)
        expect_in(r.out, bench_opts[i], "bench accuracy --help");
    run_free(&r);
    r = run_expect(0, dir, "demo --help");
    expect_in(r.out, "--no-diagnose", "demo --help");
    expect_in(r.out, "--diagnose-n", "demo --help");
    expect_in(r.out, "--diagnose-draws", "demo --help");
    run_free(&r);
}
