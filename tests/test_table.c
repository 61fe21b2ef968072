/* Tables (CSV/NPY read and write, malformed inputs, atomic writes), datasets
 * (non-finite rows dropped, simulator failures), the task registry (prior and
 * simulator moments) and the random number generator. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "diffsbi.h"

/* ---------------------------------------------------------------- helpers */

/* A fresh folder under /tmp (left behind on failure for inspection). */
static void tmp_dir(char dir[64]) {
    snprintf(dir, 64, "/tmp/dsbi_XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
}

static void path_in(char *out, size_t cap, const char *dir, const char *name) {
    cr_assert_lt(strlen(dir) + strlen(name) + 2, cap, "path too long");
    snprintf(out, cap, "%.150s/%.100s", dir, name);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

/* Builds a little NPY v1.0 file: magic, header dict padded to 64 bytes, data. */
static size_t npy_bytes(unsigned char *out, size_t cap, const char *dict, const void *data, size_t n) {
    size_t dl = strlen(dict);
    size_t total = 10 + dl + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hl = dl + pad + 1;
    cr_assert_leq(10 + hl + n, cap);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)(hl & 0xFF);
    out[9] = (unsigned char)(hl >> 8);
    memcpy(out + 10, dict, dl);
    memset(out + 10 + dl, ' ', pad);
    out[10 + dl + pad] = '\n';
    if (n) memcpy(out + 10 + hl, data, n);
    return 10 + hl + n;
}

static size_t count_entries(const char *dir, const char *containing) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot list %s", dir);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (!containing || strstr(e->d_name, containing)) n++;
    }
    closedir(d);
    return n;
}

/* Reads a table that must fail with `status`; checks the message holds each
 * of the (NULL-terminated) fragments. The table must come back empty. */
static void expect_read_error(const char *path, int status, ...) {
    dsbi_table t;
    memset(&t, 0xAB, sizeof t);
    int st = dsbi_table_read(path, &t);
    const char *msg = dsbi_last_error();
    cr_assert_eq(st, status, "%s: status %d (%s), expected %d; message: %s", path, st,
                 dsbi_status_str(st), status, msg);
    cr_assert_eq(t.rows, 0, "failed read left rows = %zu", t.rows);
    cr_assert_null(t.data, "failed read left data");
    cr_assert_null(t.names, "failed read left names");
    dsbi_table_free(&t); /* harmless on the zeroed table */
    va_list ap;
    va_start(ap, status);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        cr_assert_not_null(strstr(msg, frag), "message '%s' lacks '%s'", msg, frag);
    va_end(ap);
}

/* float32 values that stress %.9g: extremes, subnormals, signed zero. */
static void tricky_values(float *a, size_t n, uint64_t seed) {
    static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.1f, 1.0f / 3.0f, FLT_MAX, -FLT_MAX,
                                    FLT_MIN, 1e-45f, 3e-39f, 16777217.0f, 123456789.0f,
                                    2.5e-7f, -6.02214076e23f, 0.33333334f};
    size_t ns = sizeof special / sizeof special[0];
    dsbi_rng r;
    dsbi_rng_init(&r, seed, 5);
    for (size_t i = 0; i < n; i++) {
        if (i < ns) {
            a[i] = special[i];
        } else {
            /* random bit patterns that are finite floats, and random normals */
            uint32_t b = dsbi_rng_u32(&r);
            float f;
            memcpy(&f, &b, 4);
            a[i] = isfinite(f) && (i % 2) ? f : (float)(dsbi_rng_normal(&r) * exp(10.0 * dsbi_rng_normal(&r)));
        }
    }
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---------------------------------------------------------------- round trips */

Test(table, csv_roundtrip_exact_with_names) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "t.csv");
    enum { R = 200, C = 3 };
    float a[R * C];
    tricky_values(a, R * C, 1);
    const char *names[C] = {"alpha", "beta_2", "x y"};
    cr_assert_eq(dsbi_table_write(path, a, R, C, names), DSBI_STATUS_OK, "%s", dsbi_last_error());
    dsbi_table t;
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.rows, R);
    cr_assert_eq(t.cols, C);
    for (size_t j = 0; j < C; j++) cr_assert_str_eq(t.names[j], names[j]);
    for (size_t i = 0; i < R * C; i++)
        cr_assert(same_bits(t.data[i], a[i]), "value %zu: wrote %.9g, read %.9g", i, (double)a[i],
                  (double)t.data[i]);
    dsbi_table_free(&t);
    cr_assert_null(t.data);
    cr_assert_eq(t.cols, 0);
}

Test(table, csv_default_names_and_empty_body) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "t.csv");
    float a[2] = {1.5f, -2.5f};
    cr_assert_eq(dsbi_table_write(path, a, 1, 2, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    dsbi_table t;
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.rows, 1);
    cr_assert_eq(t.cols, 2);
    cr_assert_str_eq(t.names[0], "c1");
    cr_assert_str_eq(t.names[1], "c2");
    cr_assert_eq(t.data[0], 1.5f);
    cr_assert_eq(t.data[1], -2.5f);
    dsbi_table_free(&t);
    /* a table with a header and no rows */
    cr_assert_eq(dsbi_table_write(path, a, 0, 2, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.rows, 0);
    cr_assert_eq(t.cols, 2);
    dsbi_table_free(&t);
}

Test(table, csv_reader_tolerates_crlf_spaces_quotes_blank_lines) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "t.csv");
    write_text(path, "\"a\", b ,c\r\n1, 2 ,3\r\n\r\n  \n4,5e-1,-6\r\n");
    dsbi_table t;
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.rows, 2);
    cr_assert_eq(t.cols, 3);
    cr_assert_str_eq(t.names[0], "a");
    cr_assert_str_eq(t.names[1], "b");
    cr_assert_str_eq(t.names[2], "c");
    const float want[6] = {1, 2, 3, 4, 0.5f, -6};
    for (int i = 0; i < 6; i++) cr_assert_eq(t.data[i], want[i], "value %d", i);
    dsbi_table_free(&t);
    /* .txt is read as CSV too, and the extension test ignores case */
    path_in(path, sizeof path, dir, "T.CSV");
    write_text(path, "a\n7\n");
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.rows, 1);
    cr_assert_eq(t.data[0], 7.0f);
    dsbi_table_free(&t);
}

Test(table, npy_roundtrip_exact) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "t.npy");
    enum { R = 123, C = 5 };
    float a[R * C];
    tricky_values(a, R * C, 2);
    const char *names[C] = {"a", "b", "c", "d", "e"}; /* not stored in NPY */
    cr_assert_eq(dsbi_table_write(path, a, R, C, names), DSBI_STATUS_OK, "%s", dsbi_last_error());
    dsbi_table t;
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.rows, R);
    cr_assert_eq(t.cols, C);
    for (size_t j = 0; j < C; j++) {
        char want[16];
        snprintf(want, sizeof want, "c%zu", j + 1);
        cr_assert_str_eq(t.names[j], want);
    }
    for (size_t i = 0; i < R * C; i++)
        cr_assert(same_bits(t.data[i], a[i]), "value %zu: wrote %.9g, read %.9g", i, (double)a[i],
                  (double)t.data[i]);
    dsbi_table_free(&t);

    /* the file is a valid NPY v1.0: header block a multiple of 64 bytes, '\n'-terminated */
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    unsigned char h[10];
    cr_assert_eq(fread(h, 1, 10, f), 10);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    cr_assert_eq(memcmp(h, "\x93NUMPY\x01\x00", 8), 0);
    size_t hl = h[8] | (size_t)h[9] << 8;
    cr_assert_eq((10 + hl) % 64, 0, "header block of %zu bytes", 10 + hl);
    cr_assert_eq((size_t)size, 10 + hl + sizeof a);

    /* zero rows */
    cr_assert_eq(dsbi_table_write(path, a, 0, C, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.rows, 0);
    cr_assert_eq(t.cols, C);
    dsbi_table_free(&t);
}

Test(table, npy_1d_is_one_column) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "v.npy");
    const float v[5] = {1.0f, -2.0f, 3.25f, 0.0f, 1e10f};
    unsigned char buf[512];
    size_t n = npy_bytes(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }",
                         v, sizeof v);
    write_bytes(path, buf, n);
    dsbi_table t;
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.rows, 5);
    cr_assert_eq(t.cols, 1);
    cr_assert_str_eq(t.names[0], "c1");
    for (int i = 0; i < 5; i++) cr_assert_eq(t.data[i], v[i]);
    dsbi_table_free(&t);
}

Test(table, npy_f8_read_as_float) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "d.npy");
    const double v[6] = {0.1, -1.5, 3.0, 1e300, -1e-300, 123456.789};
    unsigned char buf[512];
    /* numpy writes the shape without spaces after a newer-version header; accept both */
    size_t n = npy_bytes(buf, sizeof buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
                         v, sizeof v);
    write_bytes(path, buf, n);
    dsbi_table t;
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.rows, 2);
    cr_assert_eq(t.cols, 3);
    for (int i = 0; i < 6; i++)
        cr_assert(same_bits(t.data[i], (float)v[i]), "value %d: %g vs %g", i, (double)t.data[i], v[i]);
    dsbi_table_free(&t);
}

Test(table, npy_v2_header_accepted) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "v2.npy");
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }";
    const float v[2] = {4.0f, -8.0f};
    unsigned char buf[256];
    size_t dl = strlen(dict), total = 12 + dl + 1, pad = (64 - total % 64) % 64, hl = dl + pad + 1;
    memcpy(buf, "\x93NUMPY\x02\x00", 8);
    buf[8] = (unsigned char)hl;
    buf[9] = (unsigned char)(hl >> 8);
    buf[10] = buf[11] = 0;
    memcpy(buf + 12, dict, dl);
    memset(buf + 12 + dl, ' ', pad);
    buf[12 + dl + pad] = '\n';
    memcpy(buf + 12 + hl, v, sizeof v);
    write_bytes(path, buf, 12 + hl + sizeof v);
    dsbi_table t;
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.rows, 2);
    cr_assert_eq(t.cols, 1);
    cr_assert_eq(t.data[0], 4.0f);
    cr_assert_eq(t.data[1], -8.0f);
    dsbi_table_free(&t);
}

/* Old-Mac line endings: the reader splits lines at '\r' as well as '\n'. */
Test(table, csv_cr_only_line_endings) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "cr.csv");
    write_text(path, "a,b\r1,2\r3,4\r5,6\r");
    dsbi_table t;
    int st = dsbi_table_read(path, &t);
    cr_assert_eq(st, DSBI_STATUS_OK, "CR-only CSV refused: %s", dsbi_last_error());
    cr_assert_eq(t.rows, 3);
    cr_assert_eq(t.data[5], 6.0f);
    dsbi_table_free(&t);
}

/* Names with a comma or a quote must survive a write/read round trip. */
Test(table, csv_names_with_commas_round_trip) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "names.csv");
    const char *names[3] = {"x,y", "plain", "z"};
    float v[6] = {1, 2, 3, 4, 5, 6};
    cr_assert_eq(dsbi_table_write(path, v, 2, 3, names), DSBI_STATUS_OK, "%s", dsbi_last_error());
    dsbi_table t;
    int st = dsbi_table_read(path, &t);
    cr_assert_eq(st, DSBI_STATUS_OK, "writer produced a CSV its reader refuses: %s", dsbi_last_error());
    cr_assert_eq(t.cols, 3);
    cr_assert_str_eq(t.names[0], "x,y");
    cr_assert_str_eq(t.names[1], "plain");
    dsbi_table_free(&t);
}

/* Long column names must not push the values past the output buffer. */
Test(table, csv_long_names_do_not_overflow) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "long.csv");
    enum { R = 1000 };
    size_t cap = 64 + 24 * (R + 1);
    char *name = malloc(cap);
    cr_assert_not_null(name);
    memset(name, 'n', cap - 40); /* fits the header check, leaves no room for the rows */
    name[cap - 40] = '\0';
    float *v = malloc(R * sizeof *v);
    for (size_t i = 0; i < R; i++) v[i] = -1.17549435e-38f; /* 15 characters with %.9g */
    const char *names[1] = {name};
    int st = dsbi_table_write(path, v, R, 1, names);
    if (st == DSBI_STATUS_OK) {
        dsbi_table t;
        cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
        cr_assert_eq(t.rows, R);
        cr_assert_str_eq(t.names[0], name);
        for (size_t i = 0; i < R; i++) cr_assert(same_bits(t.data[i], v[i]), "row %zu", i);
        dsbi_table_free(&t);
    } else {
        cr_assert_eq(st, DSBI_STATUS_ERR_INVALID, "status %d", st);
    }
    free(name);
    free(v);
}

/* ---------------------------------------------------------------- malformed CSV */

Test(table, csv_non_numeric_field_names_file_line_column) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "bad.csv");
    write_text(path, "a,b\n1,2\n3,abc\n5,6\n");
    char want[320];
    snprintf(want, sizeof want, "%s:3: column 2 (b): 'abc' is not a number", path);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, want, NULL);
    /* an empty field is not a number either */
    write_text(path, "a,b\n1,2\n3,\n");
    snprintf(want, sizeof want, "%s:3: column 2 (b)", path);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, want, "not a number", NULL);
    /* a long non-numeric field is cut, not overflowed */
    write_text(path, "a,b\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,1\n");
    snprintf(want, sizeof want, "%s:2: column 1 (a)", path);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, want, NULL);
}

Test(table, csv_too_few_columns) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "few.csv");
    write_text(path, "a,b,c\n1,2,3\n4,5,6\n7,8\n");
    char want[320];
    snprintf(want, sizeof want, "%s:4: expected 3 columns, found 2", path);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, want, NULL);
}

Test(table, csv_too_many_columns) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "many.csv");
    write_text(path, "a,b\n1,2,3\n");
    char want[320];
    snprintf(want, sizeof want, "%s:2: more than the 2 columns of the header", path);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, want, NULL);
    /* trailing junk after the last number counts too */
    write_text(path, "a,b\n1,2\n3,4x\n");
    snprintf(want, sizeof want, "%s:3:", path);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, want, NULL);
}

Test(table, csv_empty_file) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "empty.csv");
    write_text(path, "");
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, "empty file", NULL);
}

Test(table, missing_file_is_io_error) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "nope.csv");
    expect_read_error(path, DSBI_STATUS_ERR_IO, path, "cannot open", NULL);
    path_in(path, sizeof path, dir, "nope.npy");
    expect_read_error(path, DSBI_STATUS_ERR_IO, path, "cannot open", NULL);
    /* a folder is not a table */
    char sub[256];
    path_in(sub, sizeof sub, dir, "folder.csv");
    cr_assert_eq(mkdir(sub, 0700), 0);
    expect_read_error(sub, DSBI_STATUS_ERR_IO, sub, NULL);
}

Test(table, unknown_extension_is_invalid) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "t.parquet");
    write_text(path, "a\n1\n");
    expect_read_error(path, DSBI_STATUS_ERR_INVALID, path, "unknown table format", NULL);
    path_in(path, sizeof path, dir, "noext");
    write_text(path, "a\n1\n");
    expect_read_error(path, DSBI_STATUS_ERR_INVALID, path, NULL);
    /* a dot in a folder name is not an extension */
    char sub[256];
    path_in(sub, sizeof sub, dir, "d.csv");
    cr_assert_eq(mkdir(sub, 0700), 0);
    path_in(path, sizeof path, sub, "table");
    expect_read_error(path, DSBI_STATUS_ERR_INVALID, NULL);
    float v = 1.0f;
    cr_assert_eq(dsbi_table_write(path, &v, 1, 1, NULL), DSBI_STATUS_ERR_INVALID);
    path_in(path, sizeof path, dir, "t.xlsx");
    cr_assert_eq(dsbi_table_write(path, &v, 1, 1, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert_not_null(strstr(dsbi_last_error(), "unknown table format"), "%s", dsbi_last_error());
    cr_assert_eq(count_entries(dir, "t.xlsx"), 0);
    /* no columns */
    path_in(path, sizeof path, dir, "t.csv");
    cr_assert_eq(dsbi_table_write(path, &v, 1, 0, NULL), DSBI_STATUS_ERR_INVALID);
}

/* ---------------------------------------------------------------- malformed NPY */

Test(table, npy_bad_magic) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "bad.npy");
    write_text(path, "a,b\n1,2\n3,4\n");
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, "bad magic", NULL);
    write_text(path, "\x93NUM"); /* shorter than any header */
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, NULL);
    write_text(path, "");
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, NULL);
}

Test(table, npy_wrong_dtype) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "i4.npy");
    const int32_t v[4] = {1, 2, 3, 4};
    unsigned char buf[256];
    size_t n = npy_bytes(buf, sizeof buf, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }",
                         v, sizeof v);
    write_bytes(path, buf, n);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, "dtype", NULL);
    /* big-endian float is refused too */
    n = npy_bytes(buf, sizeof buf, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", v, sizeof v);
    write_bytes(path, buf, n);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, "dtype", NULL);
}

Test(table, npy_fortran_order) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "f.npy");
    const float v[4] = {1, 2, 3, 4};
    unsigned char buf[256];
    size_t n = npy_bytes(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                         v, sizeof v);
    write_bytes(path, buf, n);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, "Fortran", NULL);
}

Test(table, npy_shape_does_not_match_data) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "short.npy");
    float v[60];
    for (int i = 0; i < 60; i++) v[i] = (float)i;
    /* write a good file through the library, then truncate it */
    cr_assert_eq(dsbi_table_write(path, v, 20, 3, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(truncate(path, st.st_size - 10), 0);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, "does not match", NULL);
    /* extra bytes after the data */
    unsigned char buf[512];
    size_t n = npy_bytes(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                         v, 7 * sizeof(float));
    write_bytes(path, buf, n);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, "does not match", NULL);
    /* a shape whose product overflows size_t must not wrap around to the data size */
    n = npy_bytes(buf, sizeof buf,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }",
                  v, 0);
    write_bytes(path, buf, n);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, NULL);
    /* header length larger than the file */
    n = npy_bytes(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v,
                  6 * sizeof(float));
    buf[8] = 0xFF;
    buf[9] = 0x7F;
    write_bytes(path, buf, n);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, NULL);
    /* 3-D and 0-D arrays */
    n = npy_bytes(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }", v,
                  6 * sizeof(float));
    write_bytes(path, buf, n);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, NULL);
    n = npy_bytes(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", v, sizeof(float));
    write_bytes(path, buf, n);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, NULL);
    /* missing keys, unsupported version */
    n = npy_bytes(buf, sizeof buf, "{'descr': '<f4', 'shape': (2, 3), }", v, 6 * sizeof(float));
    write_bytes(path, buf, n);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, NULL);
    n = npy_bytes(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v,
                  6 * sizeof(float));
    buf[6] = 9;
    write_bytes(path, buf, n);
    expect_read_error(path, DSBI_STATUS_ERR_FORMAT, path, "version", NULL);
}

/* Every prefix of a valid NPY file is refused cleanly (no crash, no success). */
Test(table, npy_every_truncation_refused) {
    char dir[64], path[256], cut[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "full.npy");
    path_in(cut, sizeof cut, dir, "cut.npy");
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    cr_assert_eq(dsbi_table_write(path, v, 4, 2, NULL), DSBI_STATUS_OK);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    unsigned char buf[512];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cr_assert_gt(n, 100);
    for (size_t k = 0; k < n; k++) {
        write_bytes(cut, buf, k);
        dsbi_table t;
        int st = dsbi_table_read(cut, &t);
        cr_assert_eq(st, DSBI_STATUS_ERR_FORMAT, "prefix of %zu bytes: status %d (%s)", k, st,
                     dsbi_last_error());
    }
}

/* ---------------------------------------------------------------- atomic writes */

Test(table, write_into_missing_folder_fails_cleanly) {
    char dir[64], path[256], sub[256];
    tmp_dir(dir);
    path_in(sub, sizeof sub, dir, "missing");
    float v[4] = {1, 2, 3, 4};
    const char *exts[2] = {"t.csv", "t.npy"};
    for (int k = 0; k < 2; k++) {
        path_in(path, sizeof path, sub, exts[k]);
        int st = dsbi_table_write(path, v, 2, 2, NULL);
        cr_assert_eq(st, DSBI_STATUS_ERR_IO, "%s: status %d", path, st);
        cr_assert_not_null(strstr(dsbi_last_error(), path), "message '%s' lacks the path", dsbi_last_error());
    }
    struct stat st;
    cr_assert_neq(stat(sub, &st), 0, "the missing folder was created");
    cr_assert_eq(count_entries(dir, NULL), 0, "something was left in %s", dir);
}

Test(table, write_leaves_no_temp_file_and_replaces_target) {
    char dir[64], path[256];
    tmp_dir(dir);
    float v[6] = {1, 2, 3, 4, 5, 6};
    path_in(path, sizeof path, dir, "t.csv");
    write_text(path, "old contents that are longer than the new table will be, much longer\n");
    cr_assert_eq(dsbi_table_write(path, v, 3, 2, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    path_in(path, sizeof path, dir, "t.npy");
    cr_assert_eq(dsbi_table_write(path, v, 2, 3, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(dsbi_table_write(path, v, 3, 2, NULL), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(count_entries(dir, ".tmp."), 0, "a temp file was left in %s", dir);
    cr_assert_eq(count_entries(dir, NULL), 2);
    dsbi_table t;
    path_in(path, sizeof path, dir, "t.csv");
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.rows, 3);
    cr_assert_eq(t.cols, 2);
    cr_assert_eq(t.data[5], 6.0f);
    dsbi_table_free(&t);
    path_in(path, sizeof path, dir, "t.npy");
    cr_assert_eq(dsbi_table_read(path, &t), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_eq(t.rows, 3);
    cr_assert_eq(t.cols, 2);
    dsbi_table_free(&t);
}

/* A failed rename reports its own reason, not a stale errno. */
Test(table, write_onto_folder_reports_real_reason) {
    char dir[64], path[256];
    tmp_dir(dir);
    path_in(path, sizeof path, dir, "isdir.csv");
    cr_assert_eq(mkdir(path, 0700), 0);
    char missing[256];
    path_in(missing, sizeof missing, dir, "missing.csv");
    dsbi_table t;
    cr_assert_eq(dsbi_table_read(missing, &t), DSBI_STATUS_ERR_IO); /* leaves errno = ENOENT */
    float v[2] = {1, 2};
    cr_assert_eq(dsbi_table_write(path, v, 1, 2, NULL), DSBI_STATUS_ERR_IO);
    const char *msg = dsbi_last_error();
    cr_assert_not_null(strstr(msg, path), "%s", msg);
    cr_assert_not_null(strstr(msg, strerror(EISDIR)), "message '%s' should give the rename error '%s'", msg,
                       strerror(EISDIR));
    cr_assert_eq(count_entries(dir, ".tmp."), 0, "a temp file was left in %s", dir);
}

/* ---------------------------------------------------------------- datasets */

Test(dataset, from_arrays_drops_non_finite_rows_in_order) {
    enum { N = 8, D = 2, K = 3 };
    float theta[N * D], x[N * K];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) theta[i * D + j] = (float)(10 * i + j);
        for (int k = 0; k < K; k++) x[i * K + k] = (float)(-100 * i - k);
    }
    theta[1 * D + 1] = NAN;      /* row 1: NaN in theta */
    x[3 * K + 2] = INFINITY;     /* row 3: inf in x */
    x[4 * K + 0] = -INFINITY;    /* row 4: -inf in x */
    theta[7 * D + 0] = -NAN;     /* row 7: NaN, last row */
    size_t dropped = 99;
    dsbi_dataset *ds = dsbi_dataset_from_arrays(theta, x, N, D, K, &dropped);
    cr_assert_not_null(ds, "%s", dsbi_last_error());
    cr_assert_eq(dropped, 4);
    cr_assert_eq(dsbi_dataset_size(ds), 4);
    cr_assert_eq(dsbi_dataset_dim_theta(ds), D);
    cr_assert_eq(dsbi_dataset_dim_x(ds), K);
    const int kept[4] = {0, 2, 5, 6};
    const float *t = dsbi_dataset_theta(ds), *xs = dsbi_dataset_x(ds);
    for (int r = 0; r < 4; r++) {
        int i = kept[r];
        for (int j = 0; j < D; j++) cr_assert_eq(t[r * D + j], (float)(10 * i + j), "theta row %d", r);
        for (int k = 0; k < K; k++) cr_assert_eq(xs[r * K + k], (float)(-100 * i - k), "x row %d", r);
    }
    dsbi_dataset_free(ds);

    /* the inputs are copied, n_dropped may be NULL, all-finite keeps everything */
    for (int i = 0; i < N * D; i++) theta[i] = (float)i;
    for (int i = 0; i < N * K; i++) x[i] = (float)-i;
    ds = dsbi_dataset_from_arrays(theta, x, N, D, K, NULL);
    cr_assert_not_null(ds);
    theta[0] = 1234.0f;
    cr_assert_eq(dsbi_dataset_size(ds), N);
    cr_assert_eq(dsbi_dataset_theta(ds)[0], 0.0f);
    cr_assert_eq(dsbi_dataset_x(ds)[N * K - 1], (float)-(N * K - 1));
    dsbi_dataset_free(ds);

    /* zero dimensions are refused */
    cr_assert_null(dsbi_dataset_from_arrays(theta, x, N, 0, K, NULL));
    cr_assert_neq(dsbi_last_error()[0], '\0');
    cr_assert_null(dsbi_dataset_from_arrays(theta, x, N, D, 0, NULL));
    dsbi_dataset_free(NULL);
}

/* A test simulator: theta_i = (i, -i); x_i = 2 theta_i, or NaN per `mode`. */
typedef struct test_sim {
    int mode; /* 0: NaN when i % 10 == 3; 1: all NaN; 2: simulate returns 1; 3: returns -5;
                 4: prior returns 1 */
    size_t prior_calls, sim_calls;
} test_sim;

static int ts_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    test_sim *s = ctx;
    (void)rng;
    s->prior_calls++;
    for (size_t i = 0; i < n; i++) {
        theta[2 * i] = (float)i;
        theta[2 * i + 1] = -(float)i;
    }
    return s->mode == 4 ? 1 : 0;
}

static int ts_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    test_sim *s = ctx;
    (void)rng;
    s->sim_calls++;
    if (s->mode == 2) return 1;
    if (s->mode == 3) return -5;
    for (size_t i = 0; i < n; i++) {
        int bad = s->mode == 1 || i % 10 == 3;
        x[i] = bad ? NAN : 2.0f * theta[2 * i] + theta[2 * i + 1]; /* = i */
    }
    return 0;
}

static dsbi_simulator make_test_sim(test_sim *s, int mode) {
    memset(s, 0, sizeof *s);
    s->mode = mode;
    dsbi_simulator sim = {"test_sim", 2, 1, ts_prior, ts_simulate, s, NULL, NULL, 0};
    return sim;
}

Test(dataset, simulate_drops_every_tenth_row) {
    test_sim s;
    dsbi_simulator sim = make_test_sim(&s, 0);
    enum { N = 1000 };
    dsbi_dataset *ds = NULL;
    size_t dropped = 0;
    cr_assert_eq(dsbi_dataset_simulate(&sim, N, 7, &ds, &dropped), DSBI_STATUS_OK, "%s", dsbi_last_error());
    cr_assert_not_null(ds);
    cr_assert_eq(s.prior_calls, 1);
    cr_assert_eq(s.sim_calls, 1);
    cr_assert_eq(dropped, N / 10);
    cr_assert_eq(dsbi_dataset_size(ds), N - N / 10);
    const float *t = dsbi_dataset_theta(ds), *x = dsbi_dataset_x(ds);
    size_t r = 0;
    for (size_t i = 0; i < N; i++) {
        if (i % 10 == 3) continue;
        cr_assert_eq(t[2 * r], (float)i, "row %zu", r);
        cr_assert_eq(t[2 * r + 1], -(float)i, "row %zu", r);
        cr_assert_eq(x[r], (float)i, "row %zu", r);
        r++;
    }
    dsbi_dataset_free(ds);
    /* n_dropped may be NULL */
    cr_assert_eq(dsbi_dataset_simulate(&sim, 20, 7, &ds, NULL), DSBI_STATUS_OK);
    cr_assert_eq(dsbi_dataset_size(ds), 18);
    dsbi_dataset_free(ds);
}

Test(dataset, simulate_all_non_finite_is_simulator_error) {
    test_sim s;
    dsbi_simulator sim = make_test_sim(&s, 1);
    dsbi_dataset *ds = (dsbi_dataset *)&s; /* must be reset to NULL */
    size_t dropped = 0;
    int st = dsbi_dataset_simulate(&sim, 50, 1, &ds, &dropped);
    cr_assert_eq(st, DSBI_STATUS_ERR_SIMULATOR, "status %d", st);
    cr_assert_null(ds);
    cr_assert_not_null(strstr(dsbi_last_error(), "non-finite"), "%s", dsbi_last_error());
}

Test(dataset, simulate_callback_failure_is_reported) {
    const int modes[3] = {2, 3, 4};
    for (int k = 0; k < 3; k++) {
        test_sim s;
        dsbi_simulator sim = make_test_sim(&s, modes[k]);
        dsbi_dataset *ds = NULL;
        int st = dsbi_dataset_simulate(&sim, 30, 1, &ds, NULL);
        cr_assert_neq(st, DSBI_STATUS_OK, "mode %d", modes[k]);
        cr_assert_lt(st, 0, "mode %d: status %d should be a negative dsbi_status", modes[k], st);
        cr_assert_null(ds);
        if (modes[k] != 3) cr_assert_eq(st, DSBI_STATUS_ERR_SIMULATOR, "mode %d", modes[k]);
        if (modes[k] == 4) cr_assert_eq(s.sim_calls, 0, "simulate called after the prior failed");
        cr_assert_neq(dsbi_last_error()[0], '\0', "mode %d: no message", modes[k]);
    }
}

/* The failure message must describe this failure, not an older one. */
Test(dataset, simulate_callback_failure_message_is_fresh) {
    dsbi_simulator tmp;
    cr_assert_eq(dsbi_task_get("no_such_task", &tmp), DSBI_STATUS_ERR_INVALID);
    test_sim s;
    dsbi_simulator sim = make_test_sim(&s, 2);
    dsbi_dataset *ds = NULL;
    cr_assert_eq(dsbi_dataset_simulate(&sim, 30, 1, &ds, NULL), DSBI_STATUS_ERR_SIMULATOR);
    cr_assert_not_null(strstr(dsbi_last_error(), "test_sim"),
                       "stale message after a simulator failure: '%s' (dataset.c should clear the "
                       "last error before calling the callbacks)", dsbi_last_error());
}

Test(dataset, simulate_rejects_bad_arguments) {
    test_sim s;
    dsbi_simulator sim = make_test_sim(&s, 0);
    dsbi_dataset *ds = NULL;
    cr_assert_eq(dsbi_dataset_simulate(&sim, 0, 1, &ds, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert_null(ds);
    dsbi_simulator bad = sim;
    bad.simulate = NULL;
    cr_assert_eq(dsbi_dataset_simulate(&bad, 10, 1, &ds, NULL), DSBI_STATUS_ERR_INVALID);
    bad = sim;
    bad.dim_x = 0;
    cr_assert_eq(dsbi_dataset_simulate(&bad, 10, 1, &ds, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_dataset_simulate(NULL, 10, 1, &ds, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert_null(ds);
}

Test(dataset, simulate_is_deterministic_per_seed) {
    dsbi_simulator sim;
    cr_assert_eq(dsbi_task_get("two_moons", &sim), DSBI_STATUS_OK);
    dsbi_dataset *a = NULL, *b = NULL, *c = NULL;
    cr_assert_eq(dsbi_dataset_simulate(&sim, 200, 5, &a, NULL), DSBI_STATUS_OK);
    cr_assert_eq(dsbi_dataset_simulate(&sim, 200, 5, &b, NULL), DSBI_STATUS_OK);
    cr_assert_eq(dsbi_dataset_simulate(&sim, 200, 6, &c, NULL), DSBI_STATUS_OK);
    cr_assert_eq(memcmp(dsbi_dataset_theta(a), dsbi_dataset_theta(b), 200 * 2 * sizeof(float)), 0);
    cr_assert_eq(memcmp(dsbi_dataset_x(a), dsbi_dataset_x(b), 200 * 2 * sizeof(float)), 0);
    cr_assert_neq(memcmp(dsbi_dataset_theta(a), dsbi_dataset_theta(c), 200 * 2 * sizeof(float)), 0);
    dsbi_dataset_free(a);
    dsbi_dataset_free(b);
    dsbi_dataset_free(c);
}

/* ---------------------------------------------------------------- tasks */

Test(tasks, registry_round_trip) {
    size_t n = dsbi_task_count();
    cr_assert_geq(n, 3);
    const char *required[3] = {"inverse_kinematics", "gaussian_linear", "two_moons"};
    int found[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const char *name = dsbi_task_name(i);
        cr_assert_not_null(name, "task %zu has no name", i);
        dsbi_simulator sim;
        memset(&sim, 0, sizeof sim);
        cr_assert_eq(dsbi_task_get(name, &sim), DSBI_STATUS_OK, "%s: %s", name, dsbi_last_error());
        cr_assert_str_eq(sim.name, name);
        cr_assert_gt(sim.dim_theta, 0);
        cr_assert_gt(sim.dim_x, 0);
        cr_assert_not_null(sim.prior);
        cr_assert_not_null(sim.simulate);
        cr_assert_not_null(dsbi_task_description(name));
        if (sim.theta_names)
            for (size_t j = 0; j < sim.dim_theta; j++) cr_assert_not_null(sim.theta_names[j]);
        if (sim.x_names)
            for (size_t j = 0; j < sim.dim_x; j++) cr_assert_not_null(sim.x_names[j]);
        for (int k = 0; k < 3; k++) found[k] |= !strcmp(name, required[k]);
    }
    for (int k = 0; k < 3; k++) cr_assert(found[k], "task %s missing", required[k]);
    cr_assert_null(dsbi_task_name(n));
    dsbi_simulator s;
    cr_assert_eq(dsbi_task_get("inverse_kinematics", &s), 0);
    cr_assert_eq(s.dim_theta, 4);
    cr_assert_eq(s.dim_x, 2);
    cr_assert_eq(dsbi_task_get("gaussian_linear", &s), 0);
    cr_assert_eq(s.dim_theta, 10);
    cr_assert_eq(s.dim_x, 10);
    cr_assert_eq(dsbi_task_get("two_moons", &s), 0);
    cr_assert_eq(s.dim_theta, 2);
    cr_assert_eq(s.dim_x, 2);
}

Test(tasks, unknown_name_lists_known_tasks) {
    dsbi_simulator s;
    int st = dsbi_task_get("three_moons", &s);
    cr_assert_eq(st, DSBI_STATUS_ERR_INVALID);
    const char *msg = dsbi_last_error();
    cr_assert_not_null(strstr(msg, "three_moons"), "%s", msg);
    for (size_t i = 0; i < dsbi_task_count(); i++)
        cr_assert_not_null(strstr(msg, dsbi_task_name(i)), "message '%s' lacks %s", msg, dsbi_task_name(i));
    cr_assert_null(dsbi_task_description("three_moons"));
    cr_assert_eq(dsbi_task_get(NULL, &s), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_task_get("", &s), DSBI_STATUS_ERR_INVALID);
}

/* Draws n prior rows of a task with a fixed rng. Caller frees. */
static float *prior_draws(const char *task, size_t n, dsbi_simulator *sim) {
    cr_assert_eq(dsbi_task_get(task, sim), DSBI_STATUS_OK);
    float *theta = malloc(n * sim->dim_theta * sizeof(float));
    cr_assert_not_null(theta);
    dsbi_rng rng;
    dsbi_rng_init(&rng, 2024, 1);
    cr_assert_eq(sim->prior(sim->ctx, &rng, n, theta), 0);
    return theta;
}

static void moments(const float *a, size_t n, size_t d, size_t j, double *mean, double *var) {
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) s += a[i * d + j];
    double m = s / (double)n;
    for (size_t i = 0; i < n; i++) s2 += (a[i * d + j] - m) * (a[i * d + j] - m);
    *mean = m;
    *var = s2 / (double)(n - 1);
}

Test(tasks, gaussian_linear_prior_moments) {
    enum { N = 20000 };
    dsbi_simulator sim;
    float *theta = prior_draws("gaussian_linear", N, &sim);
    for (size_t j = 0; j < 10; j++) {
        double m, v;
        moments(theta, N, 10, j, &m, &v);
        double se = sqrt(0.1 / N);
        cr_assert_lt(fabs(m), 4 * se, "dim %zu: mean %g (4 SE = %g)", j, m, 4 * se);
        cr_assert_lt(fabs(v - 0.1), 0.005, "dim %zu: variance %g, expected 0.1", j, v);
    }
    free(theta);
}

Test(tasks, two_moons_prior_in_box) {
    enum { N = 20000 };
    dsbi_simulator sim;
    float *theta = prior_draws("two_moons", N, &sim);
    for (size_t i = 0; i < 2 * N; i++)
        cr_assert(theta[i] >= -1.0f && theta[i] <= 1.0f, "draw %zu = %g outside [-1, 1]", i, (double)theta[i]);
    for (size_t j = 0; j < 2; j++) {
        double m, v;
        moments(theta, N, 2, j, &m, &v);
        cr_assert_lt(fabs(m), 4 * sqrt(1.0 / 3.0 / N), "dim %zu: mean %g", j, m);
        cr_assert_lt(fabs(v - 1.0 / 3.0), 0.05 / 3.0, "dim %zu: variance %g, expected 1/3", j, v);
    }
    free(theta);
}

Test(tasks, inverse_kinematics_prior_sds) {
    enum { N = 20000 };
    dsbi_simulator sim;
    float *theta = prior_draws("inverse_kinematics", N, &sim);
    const double sd[4] = {0.25, 0.5, 0.5, 0.5};
    for (size_t j = 0; j < 4; j++) {
        double m, v;
        moments(theta, N, 4, j, &m, &v);
        cr_assert_lt(fabs(m), 4 * sd[j] / sqrt(N), "dim %zu: mean %g", j, m);
        cr_assert_lt(fabs(sqrt(v) - sd[j]), 0.05 * sd[j], "dim %zu: sd %g, expected %g", j, sqrt(v), sd[j]);
    }
    free(theta);
}

/* Simulates n rows at one fixed theta. Caller frees. */
static float *simulate_at(const char *task, const float *theta0, size_t n, dsbi_simulator *sim) {
    cr_assert_eq(dsbi_task_get(task, sim), DSBI_STATUS_OK);
    size_t D = sim->dim_theta, K = sim->dim_x;
    float *theta = malloc(n * D * sizeof(float)), *x = malloc(n * K * sizeof(float));
    cr_assert(theta && x);
    for (size_t i = 0; i < n; i++) memcpy(theta + i * D, theta0, D * sizeof(float));
    dsbi_rng rng;
    dsbi_rng_init(&rng, 99, 3);
    cr_assert_eq(sim->simulate(sim->ctx, &rng, n, theta, x), 0);
    free(theta);
    return x;
}

Test(tasks, gaussian_linear_noise_variance) {
    enum { N = 20000 };
    const float theta0[10] = {0.3f, -0.2f, 0.0f, 0.5f, -0.7f, 0.1f, 0.05f, -0.05f, 1.0f, -1.0f};
    dsbi_simulator sim;
    float *x = simulate_at("gaussian_linear", theta0, N, &sim);
    for (size_t j = 0; j < 10; j++) {
        double m, v;
        moments(x, N, 10, j, &m, &v);
        cr_assert_lt(fabs(m - theta0[j]), 4 * sqrt(0.1 / N), "dim %zu: mean of x %g, theta %g", j, m,
                     (double)theta0[j]);
        cr_assert_lt(fabs(v - 0.1), 0.005, "dim %zu: variance of x - theta %g, expected 0.1", j, v);
    }
    free(x);
}

Test(tasks, two_moons_simulator_geometry) {
    enum { N = 20000 };
    const float zero[2] = {0.0f, 0.0f};
    dsbi_simulator sim;
    float *x = simulate_at("two_moons", zero, N, &sim);
    /* x = (r cos a + 0.25, r sin a), a ~ U(-pi/2, pi/2), r ~ N(0.1, 0.01^2) */
    double sr = 0;
    for (size_t i = 0; i < N; i++) {
        double d0 = x[2 * i] - 0.25, d1 = x[2 * i + 1];
        sr += sqrt(d0 * d0 + d1 * d1);
        cr_assert_geq(x[2 * i], 0.25 - 0.05, "row %zu: x1 = %g left of the crescent", i, (double)x[2 * i]);
        cr_assert_lt(fabs(d1), 0.2, "row %zu: x2 = %g", i, d1);
    }
    cr_assert_lt(fabs(sr / N - 0.1), 0.002, "mean radius %g, expected 0.1", sr / N);
    free(x);

    /* away from the origin: x = p - (|z0|, -z1), z = rotation of theta by 45 degrees;
     * E[r cos a] = 0.1 * 2/pi, E[r sin a] = 0 */
    const float th[2] = {0.3f, -0.1f};
    x = simulate_at("two_moons", th, N, &sim);
    double z0 = (0.3 - 0.1) / sqrt(2.0), z1 = (-0.3 - 0.1) / sqrt(2.0);
    double m0, v0, m1, v1;
    moments(x, N, 2, 0, &m0, &v0);
    moments(x, N, 2, 1, &m1, &v1);
    cr_assert_lt(fabs(m0 - (0.25 + 0.2 / M_PI - fabs(z0))), 0.002, "mean x1 %g", m0);
    cr_assert_lt(fabs(m1 - z1), 0.002, "mean x2 %g, expected %g", m1, z1);
    free(x);
}

Test(tasks, inverse_kinematics_forward_model) {
    const float zero[4] = {0, 0, 0, 0};
    dsbi_simulator sim;
    float *x = simulate_at("inverse_kinematics", zero, 3, &sim);
    for (int i = 0; i < 3; i++) {
        cr_assert_lt(fabs(x[2 * i]), 1e-6, "x1 = %g", (double)x[2 * i]);
        cr_assert_lt(fabs(x[2 * i + 1] - 2.0), 1e-6, "x2 = %g", (double)x[2 * i + 1]);
    }
    free(x);
    /* h shifts x1 only; a1 = pi/2 lays the whole arm along x1 */
    const float t1[4] = {0.5f, (float)(M_PI / 2), 0, 0};
    x = simulate_at("inverse_kinematics", t1, 1, &sim);
    cr_assert_lt(fabs(x[0] - 2.5), 1e-6, "x1 = %g", (double)x[0]);
    cr_assert_lt(fabs(x[1]), 1e-6, "x2 = %g", (double)x[1]);
    free(x);
}

/* ---------------------------------------------------------------- rng */

Test(rng, same_seed_and_stream_repeat) {
    dsbi_rng a, b;
    dsbi_rng_init(&a, 12345, 3);
    dsbi_rng_init(&b, 12345, 3);
    for (int i = 0; i < 1000; i++) cr_assert_eq(dsbi_rng_u32(&a), dsbi_rng_u32(&b), "draw %d", i);
    for (int i = 0; i < 100; i++) cr_assert_eq(dsbi_rng_normal(&a), dsbi_rng_normal(&b), "normal %d", i);
    /* fill_normal gives the same numbers as calls to dsbi_rng_normal */
    float f[101];
    dsbi_rng_fill_normal(&a, f, 101);
    for (int i = 0; i < 101; i++) cr_assert_eq(f[i], (float)dsbi_rng_normal(&b), "fill %d", i);
    /* re-initialising restarts the sequence */
    dsbi_rng_init(&a, 12345, 3);
    dsbi_rng_init(&b, 12345, 3);
    uint32_t first = dsbi_rng_u32(&a);
    for (int i = 0; i < 10; i++) dsbi_rng_u32(&a);
    dsbi_rng_init(&a, 12345, 3);
    cr_assert_eq(dsbi_rng_u32(&a), first);
}

Test(rng, streams_and_seeds_differ) {
    enum { M = 64 };
    uint32_t s[4][M];
    const uint64_t seeds[4] = {1, 1, 2, (uint64_t)1 << 32 | 1};
    const uint64_t streams[4] = {0, 1, 0, 0};
    for (int k = 0; k < 4; k++) {
        dsbi_rng r;
        dsbi_rng_init(&r, seeds[k], streams[k]);
        for (int i = 0; i < M; i++) s[k][i] = dsbi_rng_u32(&r);
    }
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++) {
            int same = 0;
            for (int i = 0; i < M; i++) same += s[a][i] == s[b][i];
            cr_assert_lt(same, 3, "generators %d and %d agree on %d of %d draws", a, b, same, M);
        }
    /* streams that differ only in their upper 32 bits differ too */
    dsbi_rng r1, r2;
    dsbi_rng_init(&r1, 7, 1);
    dsbi_rng_init(&r2, 7, (uint64_t)1 << 32 | 1);
    int same = 0;
    for (int i = 0; i < M; i++) same += dsbi_rng_u32(&r1) == dsbi_rng_u32(&r2);
    cr_assert_lt(same, 3);
}

Test(rng, uniform_moments) {
    enum { N = 100000 };
    dsbi_rng r;
    dsbi_rng_init(&r, 42, 0);
    double s = 0, s2 = 0;
    size_t below = 0;
    for (int i = 0; i < N; i++) {
        double u = dsbi_rng_uniform(&r);
        cr_assert(u > 0.0 && u < 1.0, "draw %d = %.17g outside (0, 1)", i, u);
        s += u;
        s2 += u * u;
        below += u < 0.1;
    }
    double m = s / N, v = s2 / N - m * m;
    double se = sqrt(1.0 / 12.0 / N);
    cr_assert_lt(fabs(m - 0.5), 4 * se, "mean %g", m);
    cr_assert_lt(fabs(v - 1.0 / 12.0), 0.02 / 12.0, "variance %g", v);
    double p = 0.1, sep = sqrt(p * (1 - p) / N);
    cr_assert_lt(fabs((double)below / N - p), 4 * sep, "P(u < 0.1) = %g", (double)below / N);
}

Test(rng, normal_moments) {
    enum { N = 100000 };
    dsbi_rng r;
    dsbi_rng_init(&r, 43, 9);
    double s = 0, s2 = 0, s3 = 0, s4 = 0;
    size_t tail = 0;
    for (int i = 0; i < N; i++) {
        double z = dsbi_rng_normal(&r);
        cr_assert(isfinite(z));
        s += z;
        s2 += z * z;
        s3 += z * z * z;
        s4 += z * z * z * z;
        tail += fabs(z) > 1.959964;
    }
    double m = s / N, v = s2 / N - m * m;
    cr_assert_lt(fabs(m), 4 / sqrt(N), "mean %g", m);
    cr_assert_lt(fabs(v - 1.0), 0.02, "variance %g", v);
    cr_assert_lt(fabs(s3 / N), 4 * sqrt(15.0 / N), "third moment %g", s3 / N);
    cr_assert_lt(fabs(s4 / N - 3.0), 4 * sqrt(96.0 / N), "fourth moment %g", s4 / N);
    cr_assert_lt(fabs((double)tail / N - 0.05), 4 * sqrt(0.05 * 0.95 / N), "P(|z| > 1.96) = %g",
                 (double)tail / N);
}
