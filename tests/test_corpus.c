/* The malformed-file corpus (tests/corpus/, written by make_corpus.py):
 * every damaged model, CSV and NPY file is refused with its exact message
 * (the distinctive part, plus the file name) by the library, and through the
 * CLI (`diffsbi info` for models, `diffsbi train --data` for tables) with
 * that message on stderr and exit code 1. Also: the memory entry points give
 * the same answers as the file readers, and every malformed --guide expression
 * (guide_*.expr, one expression per file) is refused with its exact message,
 * the column pointing at the offending character, by dsbi_expr_parse and by
 * `diffsbi sample --guide`. */
#include <criterion/criterion.h>
#include <diffsbi.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct corpus_case {
    const char *file;
    const char *message;
} corpus_case;

static const corpus_case cases[] = {
    {"model_short.dsbi", "file too short to be a model (5 bytes)"},
    {"model_truncated.dsbi", "but the data section holds 380 bytes (truncated?)"},
    {"model_huge_header.dsbi", "header length 1099511627776 exceeds the file"},
    {"model_bad_json.dsbi", "header is not valid JSON"},
    {"model_wrong_version.dsbi", "format version 2 not supported (this build reads 1)"},
    {"model_not_diffsbi.dsbi", "not a diffsbi model (metadata 'format' missing)"},
    {"model_crc_mismatch.dsbi", "CRC mismatch (stored efdb5a75, computed"},
    {"model_nan_std.dsbi", "standardization of theta 1 is invalid"},
    {"model_bad_offsets.dsbi", "tensor 'x_mean' offsets outside the data section"},
    {"csv_bad_cell.csv", "csv_bad_cell.csv:3: column 2 (b): 'x7' is not a number"},
    {"csv_ragged_short.csv", "csv_ragged_short.csv:3: expected 3 columns, found 2"},
    {"csv_ragged_long.csv", "csv_ragged_long.csv:3: more than the 2 columns of the header"},
    {"csv_empty.csv", "csv_empty.csv: empty file (expected a header row)"},
    {"csv_empty_header.csv", "csv_empty_header.csv:1: empty header row"},
    {"csv_nul.csv", "csv_nul.csv:3: NUL byte in a text table"},
    {"csv_quoted_number.csv", "csv_quoted_number.csv:3: column 1 (a): '\"3\"' is not a number"},
    {"npy_bad_magic.npy", "not an NPY file (bad magic)"},
    {"npy_bad_dtype.npy", "NPY dtype must be little-endian float32 or float64"},
    {"npy_bad_shape.npy", "NPY array must be 1-D or 2-D"},
    {"npy_truncated.npy", "NPY shape (2, 2) does not match the 10 data bytes"},
    {"npy_huge_shape.npy", "NPY shape (1099511627776, 2) does not match the 16 data bytes"},
    {"npy_fortran.npy", "Fortran-ordered NPY arrays are not supported"},
    {"npy_bad_version.npy", "unsupported NPY version 9"},
    {"npy_negative_shape.npy", "NPY shape entry 1 is not a size in 0..2^40"},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static int is_model(const char *f) { return strstr(f, ".dsbi") != NULL; }

static void corpus_path(char *out, size_t cap, const char *file) {
    snprintf(out, cap, "tests/corpus/%s", file);
    cr_assert_eq(access(out, R_OK), 0, "%s missing (run the tests from the repository root)", out);
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert_not_null(b);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = '\0';
    fclose(f);
    return b;
}

Test(corpus, library_gives_each_message) {
    for (size_t i = 0; i < N_CASES; i++) {
        char path[256];
        corpus_path(path, sizeof path, cases[i].file);
        const char *err;
        if (is_model(cases[i].file)) {
            dsbi_model *m = dsbi_model_load(path);
            cr_assert_null(m, "%s loaded", path);
        } else {
            dsbi_table t;
            cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_ERR_FORMAT, "%s: %s", path, dsbi_last_error());
            cr_assert_null(t.data);
        }
        err = dsbi_last_error();
        cr_assert_not_null(strstr(err, cases[i].message), "%s: expected '%s', got '%s'", path,
                           cases[i].message, err);
        cr_assert_not_null(strstr(err, cases[i].file), "%s: message does not name the file: %s", path, err);
        cr_assert_null(strchr(err, '\n'), "%s: message is not one line", path);
    }
}

Test(corpus, memory_entry_points_agree_with_files) {
    for (size_t i = 0; i < N_CASES; i++) {
        char path[256];
        corpus_path(path, sizeof path, cases[i].file);
        size_t len;
        char *buf = read_all(path, &len);
        if (is_model(cases[i].file)) {
            cr_assert_null(dsbi_model_load_memory(cases[i].file, buf, len));
        } else {
            dsbi_table t;
            cr_assert_neq(dsbi_table_parse(cases[i].file, buf, len, &t), DSBI_STATUS_OK);
        }
        cr_assert_not_null(strstr(dsbi_last_error(), cases[i].message), "%s (memory): got '%s'", path,
                           dsbi_last_error());
        free(buf);
    }
}

Test(corpus, cli_exits_1_with_each_message) {
    char cli[PATH_MAX];
    const char *p = getenv("DSBI_CLI");
    cr_assert_not_null(realpath(p && *p ? p : "build/diffsbi", cli), "CLI not found (set DSBI_CLI)");
    char dir[] = "/tmp/dsbi_corpus_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    for (size_t i = 0; i < N_CASES; i++) {
        char path[256], cmd[PATH_MAX + 1024], errp[300];
        corpus_path(path, sizeof path, cases[i].file);
        snprintf(errp, sizeof errp, "%s/err", dir);
        if (is_model(cases[i].file))
            snprintf(cmd, sizeof cmd, "'%s' info '%s' >/dev/null 2>'%s'", cli, path, errp);
        else
            snprintf(cmd, sizeof cmd, "'%s' train --data '%s' --theta 1 --out '%s/m.dsbi' >/dev/null 2>'%s'",
                     cli, path, dir, errp);
        int st = system(cmd);
        cr_assert(WIFEXITED(st), "%s: diffsbi killed by a signal", path);
        size_t len;
        char *err = read_all(errp, &len);
        cr_assert_eq(WEXITSTATUS(st), 1, "%s: exit %d, expected 1\n%s", path, WEXITSTATUS(st), err);
        cr_assert_not_null(strstr(err, cases[i].message), "%s: stderr lacks '%s':\n%s", path, cases[i].message, err);
        cr_assert_null(strstr(err, "Sanitizer"), "%s: %s", path, err);
        free(err);
    }
}

/* ---------------------------------------------------------------- guide expressions */

/* Parsed with the parameter names of inverse_kinematics; the full message is
 * "guide '<expression>': " followed by the text below. */
static const char *const guide_names[4] = {"h", "a1", "a2", "a3"};
static const corpus_case guide_cases[] = {
    {"guide_unexpected_end.expr", "column 12: unexpected end: expected a number, a name or '('"},
    {"guide_empty.expr", "column 1: unexpected end: expected a number, a name or '('"},
    {"guide_unclosed_paren.expr", "column 10: expected ')'"},
    {"guide_unclosed_call.expr", "column 9: expected ')' after the function argument"},
    {"guide_unknown_name.expr", "column 1: unknown parameter name"},
    {"guide_theta_out_of_range.expr", "column 6: unknown parameter name"},
    {"guide_unknown_function.expr", "column 5: unknown function (sin cos tan exp log sqrt abs tanh)"},
    {"guide_no_comparison.expr",
     "column 8: missing comparison: write 'expression <= value' or 'expression >= value'"},
    {"guide_trailing_text.expr", "column 9: unexpected text after the expression"},
    {"guide_two_comparisons.expr", "column 10: unexpected text after the expression"},
    {"guide_double_operator.expr", "column 6: expected a number, a name or '('"},
    {"guide_bad_operator.expr", "column 4: expected an operator or a comparison (<=, >=)"},
    {"guide_malformed_number.expr", "column 7: malformed number"},
    {"guide_empty_parens.expr", "column 2: expected a number, a name or '('"},
    {"guide_power_without_exponent.expr", "column 6: expected a number, a name or '('"},
    {"guide_non_ascii.expr", "column 6: expected a number, a name or '('"},
};
#define N_GUIDE (sizeof guide_cases / sizeof guide_cases[0])

static char *guide_expected(const char *src, const char *what) {
    size_t cap = strlen(src) + strlen(what) + 16;
    char *want = malloc(cap);
    cr_assert_not_null(want);
    snprintf(want, cap, "guide '%s': %s", src, what);
    return want;
}

Test(corpus, guide_parser_gives_each_message) {
    for (size_t i = 0; i < N_GUIDE; i++) {
        char path[256];
        corpus_path(path, sizeof path, guide_cases[i].file);
        size_t len;
        char *src = read_all(path, &len);
        cr_assert_eq(strlen(src), len, "%s: NUL byte in the expression", path);
        dsbi_expr *e = dsbi_expr_parse(src, guide_names, 4);
        cr_assert_null(e, "%s: '%s' parsed", path, src);
        char *want = guide_expected(src, guide_cases[i].message);
        cr_assert_str_eq(dsbi_last_error(), want, "%s", path);
        free(want);
        free(src);
    }
}

Test(corpus, cli_sample_guide_exits_1_with_each_message) {
    char cli[PATH_MAX];
    const char *p = getenv("DSBI_CLI");
    cr_assert_not_null(realpath(p && *p ? p : "build/diffsbi", cli), "CLI not found (set DSBI_CLI)");
    char dir[] = "/tmp/dsbi_corpus_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    /* a tiny inverse_kinematics model: its theta names are those of guide_names */
    char cmd[2 * PATH_MAX + 1024], errp[300];
    snprintf(errp, sizeof errp, "%s/err", dir);
    snprintf(cmd, sizeof cmd,
             "'%s' train --task inverse_kinematics --sims 200 --epochs 1 --width 4 --depth 1 --batch 50 "
             "--out '%s/ik.dsbi' --quiet >/dev/null 2>'%s'",
             cli, dir, errp);
    cr_assert_eq(system(cmd), 0, "training the tiny model failed");
    for (size_t i = 0; i < N_GUIDE; i++) {
        char path[256];
        corpus_path(path, sizeof path, guide_cases[i].file);
        /* the expression goes in as one argument, read from its file by the shell */
        snprintf(cmd, sizeof cmd,
                 "'%s' sample --model '%s/ik.dsbi' --obs 0.5,1.0 --n 10 --guide \"$(cat '%s')\" "
                 "--out '%s/draws.csv' >/dev/null 2>'%s'",
                 cli, dir, path, dir, errp);
        int st = system(cmd);
        size_t len;
        char *src = read_all(path, &len), *err = read_all(errp, &len);
        cr_assert(WIFEXITED(st), "%s: diffsbi killed by a signal", path);
        cr_assert_eq(WEXITSTATUS(st), 1, "%s: exit %d, expected 1\n%s", path, WEXITSTATUS(st), err);
        char *want = guide_expected(src, guide_cases[i].message);
        cr_assert_not_null(strstr(err, want), "%s: stderr lacks \"%s\":\n%s", path, want, err);
        cr_assert_null(strstr(err, "Sanitizer"), "%s: %s", path, err);
        free(want);
        free(src);
        free(err);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
