/*
 * Set data from files (issue 7): a 3-D NPY array (n sets x N members x F
 * features, missing members as NaN rows, sbi's padding convention) or a
 * long-form table with one row per member and an id column naming its set.
 * Both give a dsbi_sets (n x N x F values plus counts) that
 * dsbi_dataset_from_sets packs for training.
 */
#include "summary/summary.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void dsbi_sets_free(dsbi_sets *s) {
    if (!s) return;
    free(s->theta);
    free(s->x);
    free(s->counts);
    memset(s, 0, sizeof *s);
}

static int alloc_sets(dsbi_sets *s, size_t n, size_t N, size_t F, size_t D) {
    memset(s, 0, sizeof *s);
    s->n = n, s->N = N, s->F = F, s->D = D;
    s->x = dsbi_calloc(n ? n * N * F : 1, sizeof(float));
    s->counts = dsbi_calloc(n ? n : 1, sizeof(size_t));
    s->theta = D ? dsbi_calloc(n ? n * D : 1, sizeof(float)) : NULL;
    if (!s->x || !s->counts || (D && !s->theta)) {
        dsbi_sets_free(s);
        return DSBI_STATUS_ERR_NOMEM;
    }
    return DSBI_STATUS_OK;
}

/* ---------------------------------------------------------------- 3-D NPY */

/* The shape tuple of an NPY header: up to 4 sizes. */
static int npy_shape(const char *path, const char *hdr, size_t *dims, size_t *nd) {
    const char *p = strstr(hdr, "'shape'");
    if (p) p = strchr(p, '(');
    if (!p) return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: NPY header has no shape", path);
    *nd = 0;
    for (p++;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || errno || v > ((size_t)1 << 40) || *nd == 4)
            return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: NPY shape entry %zu is not a size in 0..2^40",
                             path, *nd + 1);
        dims[(*nd)++] = (size_t)v;
        p = end;
    }
    return DSBI_STATUS_OK;
}

/* Reads the whole file and parses it with dsbi_sets_parse_npy. */
int dsbi_sets_read_npy(const char *path, dsbi_sets *out) {
    dsbi_clear_error();
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return dsbi_fail(DSBI_STATUS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > DSBI_MAX_ALLOC) {
        fclose(f);
        return dsbi_fail(DSBI_STATUS_ERR_IO, "%s: not a regular file of a sane size", path);
    }
    size_t len = (size_t)st.st_size;
    unsigned char *buf = dsbi_malloc(len + 1, 1);
    if (!buf) {
        fclose(f);
        return DSBI_STATUS_ERR_NOMEM;
    }
    size_t got = fread(buf, 1, len, f);
    fclose(f);
    int s = got != len ? dsbi_fail(DSBI_STATUS_ERR_IO, "%s: read error", path)
                       : dsbi_sets_parse_npy(path, buf, len, out);
    free(buf);
    return s;
}

/* Rewrites a 3-D header as the 2-D (n, N F) one and lets the table parser
 * check dtype, order and size: one NPY reader to harden, not two. */
int dsbi_sets_parse_npy(const char *path, const unsigned char *buf, size_t len, dsbi_sets *out) {
    dsbi_clear_error();
    memset(out, 0, sizeof *out);
    size_t hoff = 0, hlen = 0;
    if (len >= 10 && !memcmp(buf, "\x93NUMPY", 6)) {
        hoff = buf[6] == 1 ? 10 : 12;
        hlen = buf[6] == 1 ? (buf[8] | (size_t)buf[9] << 8)
                           : (len >= 12 ? buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 |
                                              (size_t)buf[11] << 24
                                        : len);
    }
    if (hoff == 0 || hoff > len || hlen > 65536 || hlen > len - hoff) {
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: not an NPY file (bad magic or header)", path);
    }
    char hdr[65537];
    memcpy(hdr, buf + hoff, hlen);
    hdr[hlen] = '\0';
    size_t dims[4], nd = 0;
    int s = npy_shape(path, hdr, dims, &nd);
    if (!s && nd != 3)
        s = dsbi_fail(DSBI_STATUS_ERR_FORMAT,
                      "%s: set data must be a 3-D array (sets x members x features), this one is %zu-D",
                      path, nd);
    if (!s && (dims[1] == 0 || dims[2] == 0 || dims[1] > 1000000 || dims[2] > 100000))
        s = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: %zu members x %zu features per set is out of range",
                      path, dims[1], dims[2]);
    if (s) return s;
    const size_t n = dims[0], N = dims[1], F = dims[2];
    /* the same header with the shape (n, N F), as NPY 1.0 */
    char h2[65600];
    const char *descr = strstr(hdr, "'descr'"), *fo = strstr(hdr, "'fortran_order'");
    char dtype[8] = "?", order[8] = "?";
    if (descr && (descr = strchr(descr + 7, '\''))) snprintf(dtype, sizeof dtype, "%.5s", descr);
    if (fo && (fo = strchr(fo + 15, ':'))) {
        while (*++fo == ' ') {}
        snprintf(order, sizeof order, "%.5s", fo);
    }
    int hl = snprintf(h2 + 10, sizeof h2 - 10, "{'descr': %s, 'fortran_order': %s, 'shape': (%zu, %zu), }",
                      dtype, strncmp(order, "False", 5) ? "True" : "False", n, N * F);
    size_t pad = (64 - (10 + (size_t)hl + 1) % 64) % 64;
    memset(h2 + 10 + hl, ' ', pad);
    h2[10 + hl + pad] = '\n';
    size_t h2len = (size_t)hl + pad + 1;
    memcpy(h2, "\x93NUMPY\x01\x00", 8);
    h2[8] = (char)(h2len & 0xff);
    h2[9] = (char)(h2len >> 8);
    size_t data = len - hoff - hlen, total = 10 + h2len + data;
    unsigned char *nb = dsbi_malloc(total, 1);
    if (!nb) return DSBI_STATUS_ERR_NOMEM;
    memcpy(nb, h2, 10 + h2len);
    memcpy(nb + 10 + h2len, buf + hoff + hlen, data);
    char name[4096];
    snprintf(name, sizeof name, "%s", path);
    size_t nl = strlen(name);
    if (nl < 4 || strcmp(name + nl - 4, ".npy")) snprintf(name + nl, sizeof name - nl, ".npy");
    dsbi_table t;
    s = dsbi_table_parse(name, nb, total, &t);
    free(nb);
    if (s) return s;
    if ((s = alloc_sets(out, n, N, F, 0))) {
        dsbi_table_free(&t);
        return s;
    }
    /* members up to the first all-NaN member; after it, all must be NaN */
    for (size_t i = 0; i < n && !s; i++) {
        const float *row = t.data + i * N * F;
        size_t c = 0;
        for (size_t j = 0; j < N && !s; j++) {
            size_t nan = 0, fin = 0;
            for (size_t k = 0; k < F; k++) {
                float v = row[j * F + k];
                nan += isnan(v) != 0;
                fin += isfinite(v) != 0;
            }
            if (fin == F && c == j) {
                c++;
            } else if (nan == F) {
                continue;
            } else {
                s = dsbi_fail(DSBI_STATUS_ERR_FORMAT,
                              "%s: set %zu, member %zu: %s", path, i + 1, j + 1,
                              fin == F ? "a member after the NaN padding (padding must come last)"
                                       : "a member with some non-finite values (pad whole members with NaN)");
            }
        }
        if (!s && c == 0)
            s = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: set %zu has no members (all NaN)", path, i + 1);
        out->counts[i] = c;
        for (size_t k = 0; k < c * F; k++) out->x[i * N * F + k] = row[k];
    }
    dsbi_table_free(&t);
    if (s) dsbi_sets_free(out);
    return s;
}

/* ---------------------------------------------------------------- long form */

typedef struct id_row {
    float id;
    size_t row;
} id_row;

static int cmp_id_row(const void *a, const void *b) {
    const id_row *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

int dsbi_sets_from_long(const char *name, const dsbi_table *t, size_t id_col,
                        const size_t *theta_cols, size_t D, const size_t *x_cols, size_t F,
                        dsbi_sets *out) {
    dsbi_clear_error();
    memset(out, 0, sizeof *out);
    if (id_col >= t->cols || F == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: id column and at least one x column required", name);
    if (t->rows == 0) return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: no rows", name);
    id_row *ir = dsbi_malloc(t->rows, sizeof *ir);
    if (!ir) return DSBI_STATUS_ERR_NOMEM;
    for (size_t r = 0; r < t->rows; r++) {
        ir[r] = (id_row){t->data[r * t->cols + id_col], r};
        if (!isfinite(ir[r].id)) {
            free(ir);
            return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: line %zu: id column '%s' is not a number",
                             name, r + 2, t->names[id_col]);
        }
    }
    /* sets in order of their id; members in file order */
    qsort(ir, t->rows, sizeof *ir, cmp_id_row);
    size_t n = 0, N = 0;
    for (size_t r = 0, run = 0; r < t->rows; r++) {
        run = r && ir[r].id == ir[r - 1].id ? run + 1 : 1;
        if (run == 1) n++;
        if (run > N) N = run;
    }
    int s = alloc_sets(out, n, N, F, D);
    for (size_t r = 0, i = 0; r < t->rows && !s; r++) {
        int first = !r || ir[r].id != ir[r - 1].id;
        if (first && r) i++;
        const float *row = t->data + ir[r].row * t->cols;
        size_t j = out->counts[i]++;
        for (size_t k = 0; k < F; k++) out->x[(i * N + j) * F + k] = row[x_cols[k]];
        for (size_t d = 0; d < D; d++) {
            float v = row[theta_cols[d]], *th = out->theta + i * D + d;
            if (first) {
                *th = v;
            } else if (!(v == *th || (isnan(v) && isnan(*th)))) {
                s = dsbi_fail(DSBI_STATUS_ERR_FORMAT,
                              "%s: line %zu: theta column '%s' is %g but %g earlier in set id %g "
                              "(theta must be constant within a set)",
                              name, ir[r].row + 2, t->names[theta_cols[d]], (double)v, (double)*th,
                              (double)ir[r].id);
                break;
            }
        }
    }
    free(ir);
    if (s) dsbi_sets_free(out);
    return s;
}
