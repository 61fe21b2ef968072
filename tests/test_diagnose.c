/*
 * End-to-end test of `diffsbi diagnose` through the built binary ($DSBI_CLI,
 * default build/diffsbi): train a tiny two_moons model (2 epochs), diagnose it
 * on 50 test simulations x 50 draws, and check metrics.json (parsed with
 * cJSON: one entry per parameter with a known verdict), report.html (links
 * every PNG, no network references) and the figures on disk; then the same
 * from a data file written by `diffsbi simulate`, and the usage errors.
 */
#include <cJSON.h>
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *cli_bin(void) {
    static char abs[PATH_MAX];
    const char *p = getenv("DSBI_CLI");
    if (!p || !*p) p = "build/diffsbi";
    cr_assert_not_null(realpath(p, abs), "CLI binary '%s' not found (set DSBI_CLI)", p);
    return abs;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert_not_null(b);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[got] = '\0';
    return b;
}

/* Runs the CLI in dir with the arguments; returns the exit code. stderr goes
 * to dir/err.txt, stdout to dir/out.txt. */
static int run(const char *dir, const char *args) {
    char cmd[8192];
    const char *lsan = getenv("LSAN_OPTIONS") ? "" : "LSAN_OPTIONS=detect_leaks=0 ";
    snprintf(cmd, sizeof cmd, "cd '%s' && %s'%s' %s >out.txt 2>err.txt", dir, lsan, cli_bin(), args);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "diffsbi %s: crashed", args);
    char path[512];
    snprintf(path, sizeof path, "%s/err.txt", dir);
    char *err = slurp(path);
    cr_assert_not_null(err);
    cr_assert_null(strstr(err, "Sanitizer"), "sanitizer report:\n%s", err);
    cr_assert_null(strstr(err, "runtime error"), "UB report:\n%s", err);
    free(err);
    return WEXITSTATUS(st);
}

static int nonempty(const char *dir, const char *name) {
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

static void check_outputs(const char *dir, const char *names0, const char *names1) {
    static const char *const files[] = {"metrics.json", "report.html", "sbc_ecdf.png",
                                        "coverage.png", "tarp.png",    "recovery.png",
                                        "z_contraction.png", "pairs.png"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        cr_assert(nonempty(dir, files[i]), "%s/%s missing or empty", dir, files[i]);
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    char *text = slurp(path);
    cJSON *root = cJSON_Parse(text);
    cr_assert_not_null(root, "metrics.json does not parse");
    cr_assert_eq(cJSON_GetObjectItem(root, "n")->valuedouble, 50);
    cr_assert_eq(cJSON_GetObjectItem(root, "draws")->valuedouble, 50);
    cJSON *params = cJSON_GetObjectItem(root, "parameters");
    cr_assert_eq(cJSON_GetArraySize(params), 2);
    const char *expect[2] = {names0, names1};
    for (int j = 0; j < 2; j++) {
        cJSON *p = cJSON_GetArrayItem(params, j);
        cr_assert_str_eq(cJSON_GetObjectItem(p, "name")->valuestring, expect[j]);
        const char *v = cJSON_GetObjectItem(p, "verdict")->valuestring;
        cr_assert(!strcmp(v, "well calibrated") || !strcmp(v, "over-confident") ||
                  !strcmp(v, "under-confident") || !strcmp(v, "biased"), "verdict '%s'", v);
        cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(p, "log_gamma")));
        cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(p, "calibration_error")));
    }
    cJSON *tarp = cJSON_GetObjectItem(root, "tarp");
    double area = cJSON_GetObjectItem(tarp, "area")->valuedouble;
    cr_assert(area >= 0 && area <= 0.5, "TARP area %g", area);
    cJSON_Delete(root);
    free(text);

    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = slurp(path);
    cr_assert_not_null(strstr(html, "<html"));
    cr_assert_not_null(strstr(html, "src=\"sbc_ecdf.png\""));
    cr_assert_not_null(strstr(html, "src=\"tarp.png\""));
    cr_assert_not_null(strstr(html, "src=\"pairs.png\""));
    cr_assert_null(strstr(html, "http://"), "report must open offline");
    cr_assert_null(strstr(html, "https://"), "report must open offline");
    cr_assert_null(strstr(html, "<script"), "report needs no JavaScript");
    free(html);
}

Test(calibration, diagnose_cli_end_to_end, .timeout = 300) {
    char dir[] = "/tmp/dsbi_diag_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(run(dir, "train --task two_moons --sims 1000 --epochs 2 --out m.dsbi --quiet"), 0);
    cr_assert_eq(run(dir, "diagnose --model m.dsbi --task two_moons --n 50 --draws 50 --out D"), 0);
    char sub[256];
    snprintf(sub, sizeof sub, "%s/D", dir);
    check_outputs(sub, "parameter_1", "parameter_2"); /* two_moons names */
    char path[512];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    char *out = slurp(path);
    cr_assert_not_null(strstr(out, "verdict"), "summary:\n%s", out);
    cr_assert_not_null(strstr(out, "TARP"), "summary:\n%s", out);
    free(out);
    cr_assert(nonempty(sub, "loss.png"), "the model stores its loss history");

    /* same test set from a file (theta columns first, as simulate writes) */
    cr_assert_eq(run(dir, "simulate --task two_moons --sims 60 --out t.csv --quiet"), 0);
    cr_assert_eq(run(dir, "diagnose --model m.dsbi --data t.csv --n 50 --draws 50 --out F --quiet"),
                 0);
    snprintf(sub, sizeof sub, "%s/F", dir);
    snprintf(path, sizeof path, "%s/t.csv", dir);
    char *csv = slurp(path);
    char h0[64] = "", h1[64] = "";
    cr_assert_eq(sscanf(csv, "%63[^,],%63[^,]", h0, h1), 2);
    free(csv);
    check_outputs(sub, h0, h1);

    /* usage errors */
    cr_assert_eq(run(dir, "diagnose --model m.dsbi --out G"), 2);
    cr_assert_eq(run(dir, "diagnose --model m.dsbi --task two_moons --data t.csv"), 2);
    cr_assert_eq(run(dir, "diagnose --model m.dsbi --task nope"), 2);
    cr_assert_eq(run(dir, "diagnose --model m.dsbi --task gaussian_linear --n 10"), 1);
    cr_assert_eq(run(dir, "diagnose --help"), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
