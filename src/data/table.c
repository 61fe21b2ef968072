/*
 * Tables: CSV with a header row, and NumPy .npy (format 1.0-3.0, 2-D or 1-D,
 * little-endian f4/f8, C order). Readers check sizes against the file before
 * allocating and report errors with the file, line and column. Writers are
 * atomic (temp file + rename). The format follows the extension.
 */
#include "internal.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_TABLE_BYTES ((size_t)1 << 34) /* 16 GiB: refuse larger inputs */
#define MAX_COLS 1000000

static const char *ext_of(const char *path) {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

static int is_ext(const char *path, const char *ext) { return strcasecmp(ext_of(path), ext) == 0; }

void dsbi_table_free(dsbi_table *t) {
    if (!t) return;
    if (t->names)
        for (size_t j = 0; j < t->cols; j++) free(t->names[j]);
    free(t->names);
    free(t->data);
    memset(t, 0, sizeof *t);
}

static int read_file(const char *path, char **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return dsbi_fail(DSBI_STATUS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return dsbi_fail(DSBI_STATUS_ERR_IO, "%s: not a regular file", path);
    }
    if ((size_t)st.st_size > MAX_TABLE_BYTES) {
        fclose(f);
        return dsbi_fail(DSBI_STATUS_ERR_NOMEM, "%s: file of %lld bytes is larger than the limit",
                         path, (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    char *b = dsbi_malloc(n + 1, 1);
    if (!b) {
        fclose(f);
        return DSBI_STATUS_ERR_NOMEM;
    }
    if (n && fread(b, 1, n, f) != n) {
        free(b);
        fclose(f);
        return dsbi_fail(DSBI_STATUS_ERR_IO, "%s: read error", path);
    }
    fclose(f);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return DSBI_STATUS_OK;
}

/* ---------------------------------------------------------------- CSV */

/* Splits one header line into names (handles "quoted" names). */
static int parse_header(const char *path, char *line, dsbi_table *t) {
    size_t cap = 16, n = 0;
    char **names = dsbi_malloc(cap, sizeof *names);
    if (!names) return DSBI_STATUS_ERR_NOMEM;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        char *start = p, *end;
        if (*p == '"') {
            /* quoted name: "" stands for one quote; unescaped in place */
            start = ++p;
            char *w = p;
            while (*p) {
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            end = w;
            while (*p && *p != ',') p++;
        } else {
            while (*p && *p != ',') p++;
            end = p;
            while (end > start && isspace((unsigned char)end[-1])) end--;
        }
        if (n == cap) {
            if (cap >= MAX_COLS) {
                for (size_t j = 0; j < n; j++) free(names[j]);
                free(names);
                return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s:1: more than %d columns", path, MAX_COLS);
            }
            char **q = realloc(names, 2 * cap * sizeof *q);
            if (!q) {
                for (size_t j = 0; j < n; j++) free(names[j]);
                free(names);
                return dsbi_fail(DSBI_STATUS_ERR_NOMEM, "out of memory");
            }
            names = q;
            cap *= 2;
        }
        names[n] = strndup(start, (size_t)(end - start));
        if (!names[n]) {
            for (size_t j = 0; j < n; j++) free(names[j]);
            free(names);
            return dsbi_fail(DSBI_STATUS_ERR_NOMEM, "out of memory");
        }
        n++;
        if (*p != ',') break;
        p++;
    }
    t->names = names;
    t->cols = n;
    return DSBI_STATUS_OK;
}

/* double -> float; values beyond float's range become +-inf explicitly (they
 * are then non-finite like "inf" and dropped or imputed by the dataset layer).
 * 0x1.ffffffp+127 is FLT_MAX plus half an ulp: from there on, rounding gives inf. */
static float to_float(double v) {
    if (fabs(v) >= 0x1.ffffffp+127) return v > 0 ? INFINITY : -INFINITY;
    return (float)v;
}

/* Copies non-printable bytes of a field as '?' so messages stay one clean line. */
static void clean_field(char *dst, size_t cap, const char *src) {
    size_t k = 0;
    while (src[k] && src[k] != ',' && k < cap - 1) {
        unsigned char c = (unsigned char)src[k];
        dst[k] = c >= 32 && c < 127 ? (char)c : '?';
        k++;
    }
    dst[k] = '\0';
}

/* Parses a CSV held in buf (len bytes plus a NUL; owned: freed here). */
static int parse_csv(const char *path, char *buf, size_t len, dsbi_table *t) {
    int st;
    const char *nul = memchr(buf, '\0', len);
    if (nul) {
        size_t line = 1;
        for (const char *c = buf; c < nul; c++) line += *c == '\n';
        free(buf);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s:%zu: NUL byte in a text table (binary file?)", path, line);
    }
    if (len == 0) {
        free(buf);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: empty file (expected a header row)", path);
    }
    /* lines: split in place */
    char *p = buf;
    char *nl = strpbrk(p, "\r\n");
    if (nl) {
        char c = *nl;
        *nl = '\0';
        nl += (c == '\r' && nl[1] == '\n') ? 2 : 1;
    } else {
        nl = buf + len;
    }
    {
        const char *q = p;
        while (*q == ' ' || *q == '\t') q++;
        if (*q == '\0') {
            free(buf);
            return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s:1: empty header row (expected column names)", path);
        }
    }
    if ((st = parse_header(path, p, t))) {
        free(buf);
        return st;
    }
    size_t C = t->cols;
    /* count data lines to size the allocation, bounded by the file size */
    size_t rows_max = 0;
    for (char *q = nl; *q; q++)
        if (*q == '\n' || (*q == '\r' && q[1] != '\n')) rows_max++;
    rows_max++;
    if (rows_max > len / (2 * C) + 1) rows_max = len / (2 * C) + 1;
    t->data = dsbi_malloc(rows_max ? rows_max : 1, C * sizeof(float));
    if (!t->data) {
        free(buf);
        dsbi_table_free(t);
        return DSBI_STATUS_ERR_NOMEM;
    }
    size_t r = 0, lineno = 1;
    p = nl;
    while (*p) {
        lineno++;
        char *e = strpbrk(p, "\r\n");
        char *next;
        if (e) {
            next = e + ((e[0] == '\r' && e[1] == '\n') ? 2 : 1);
            *e = '\0';
        } else {
            next = p + strlen(p);
        }
        char *q = p;
        while (*q == ' ' || *q == '\t') q++;
        if (*q == '\0') { /* blank line */
            p = next;
            continue;
        }
        if (r >= rows_max) {
            free(buf);
            dsbi_table_free(t);
            return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s:%zu: too many rows", path, lineno);
        }
        for (size_t j = 0; j < C; j++) {
            errno = 0;
            char *end;
            double v = strtod(q, &end);
            if (end == q) {
                char field[32], name[48];
                clean_field(field, sizeof field, q);
                clean_field(name, sizeof name, t->names[j]);
                st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s:%zu: column %zu (%s): '%s' is not a number",
                               path, lineno, j + 1, name, field);
                free(buf);
                dsbi_table_free(t);
                return st;
            }
            t->data[r * C + j] = to_float(v);
            while (*end == ' ' || *end == '\t') end++;
            if (j + 1 < C) {
                if (*end != ',') {
                    st = dsbi_fail(DSBI_STATUS_ERR_FORMAT,
                                   "%s:%zu: expected %zu columns, found %zu", path, lineno, C, j + 1);
                    free(buf);
                    dsbi_table_free(t);
                    return st;
                }
                q = end + 1;
            } else if (*end != '\0') {
                st = dsbi_fail(DSBI_STATUS_ERR_FORMAT,
                               "%s:%zu: more than the %zu columns of the header", path, lineno, C);
                free(buf);
                dsbi_table_free(t);
                return st;
            }
        }
        r++;
        p = next;
    }
    free(buf);
    t->rows = r;
    return DSBI_STATUS_OK;
}

/* growing output buffer */
typedef struct strbuf {
    char *p;
    size_t n, cap;
    int oom;
} strbuf;

static void sb_reserve(strbuf *b, size_t extra) {
    if (b->oom || b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
        b->oom = 1;
        return;
    }
    b->p = q;
    b->cap = cap;
}

static void sb_put(strbuf *b, const char *s, size_t len) {
    sb_reserve(b, len);
    if (b->oom) return;
    memcpy(b->p + b->n, s, len);
    b->n += len;
}

/* a header name, quoted (with "" escapes) when it holds a comma, quote or newline */
static void sb_name(strbuf *b, const char *name) {
    if (!strpbrk(name, ",\"\r\n")) {
        sb_put(b, name, strlen(name));
        return;
    }
    sb_put(b, "\"", 1);
    for (const char *c = name; *c; c++) {
        if (*c == '"') sb_put(b, "\"\"", 2);
        else sb_put(b, c, 1);
    }
    sb_put(b, "\"", 1);
}

static int write_csv(const char *path, const float *data, size_t rows, size_t cols,
                     const char *const *names) {
    strbuf b = {0};
    char num[48];
    for (size_t j = 0; j < cols; j++) {
        if (j) sb_put(&b, ",", 1);
        if (names) {
            sb_name(&b, names[j] ? names[j] : "");
        } else {
            int w = snprintf(num, sizeof num, "c%zu", j + 1);
            sb_put(&b, num, (size_t)w);
        }
    }
    sb_put(&b, "\n", 1);
    /* %.9g round-trips float32 exactly */
    for (size_t i = 0; i < rows && !b.oom; i++) {
        for (size_t j = 0; j < cols; j++) {
            int w = snprintf(num, sizeof num, "%s%.9g", j ? "," : "", (double)data[i * cols + j]);
            sb_put(&b, num, (size_t)w);
        }
        sb_put(&b, "\n", 1);
    }
    if (b.oom) {
        free(b.p);
        return dsbi_fail(DSBI_STATUS_ERR_NOMEM, "%s: out of memory formatting the table", path);
    }
    const void *parts[1] = {b.p};
    size_t sizes[1] = {b.n};
    int st = dsbi_write_atomic(path, parts, sizes, 1);
    free(b.p);
    return st;
}

/* ---------------------------------------------------------------- NPY */

/* finds 'key': value in the header dict; returns pointer after the colon */
static const char *npy_find(const char *hdr, const char *key) {
    const char *p = strstr(hdr, key);
    if (!p) return NULL;
    p = strchr(p + strlen(key), ':');
    return p ? p + 1 : NULL;
}

/* Parses an NPY file held in buf (len bytes; owned: freed here). */
static int parse_npy(const char *path, char *buf, size_t len, dsbi_table *t) {
    const unsigned char *u = (const unsigned char *)buf;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        free(buf);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: not an NPY file (bad magic)", path);
    }
    int major = u[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = u[8] | (size_t)u[9] << 8;
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) {
            free(buf);
            return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: truncated NPY header", path);
        }
        hlen = u[8] | (size_t)u[9] << 8 | (size_t)u[10] << 16 | (size_t)u[11] << 24;
        hoff = 12;
    } else {
        free(buf);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: unsupported NPY version %d", path, major);
    }
    if (hlen > len - hoff || hlen > 65536) {
        free(buf);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: NPY header length %zu exceeds the file", path, hlen);
    }
    char hdr[65537];
    memcpy(hdr, buf + hoff, hlen);
    hdr[hlen] = '\0';
    const char *d = npy_find(hdr, "'descr'"), *fo = npy_find(hdr, "'fortran_order'"),
               *sh = npy_find(hdr, "'shape'");
    if (!d || !fo || !sh) {
        free(buf);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: NPY header lacks descr/fortran_order/shape", path);
    }
    while (*d == ' ') d++;
    int f8;
    if (!strncmp(d, "'<f4'", 5)) f8 = 0;
    else if (!strncmp(d, "'<f8'", 5)) f8 = 1;
    else {
        free(buf);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT,
                         "%s: NPY dtype must be little-endian float32 or float64 ('<f4', '<f8')", path);
    }
    while (*fo == ' ') fo++;
    if (strncmp(fo, "False", 5) != 0) {
        free(buf);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: Fortran-ordered NPY arrays are not supported", path);
    }
    while (*sh == ' ') sh++;
    if (*sh != '(') {
        free(buf);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: bad NPY shape", path);
    }
    sh++;
    size_t dims[3], nd = 0;
    while (nd < 3) {
        while (*sh == ' ') sh++;
        if (*sh == ')') break;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(sh, &end, 10);
        if (end == sh || errno || v > ((size_t)1 << 40) || !isdigit((unsigned char)*sh)) {
            free(buf);
            return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: NPY shape entry %zu is not a size in 0..2^40", path, nd + 1);
        }
        dims[nd++] = (size_t)v;
        sh = end;
        while (*sh == ' ') sh++;
        if (*sh == ',') sh++;
    }
    if (nd == 0 || nd > 2 || *sh != ')') {
        free(buf);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: NPY array must be 1-D or 2-D", path);
    }
    size_t rows = dims[0], cols = nd == 2 ? dims[1] : 1;
    size_t esz = f8 ? 8 : 4, off = hoff + hlen;
    if (cols == 0 || cols > MAX_COLS || (rows && cols > (len / esz) / rows + 1) ||
        rows * cols * esz != len - off || rows > MAX_TABLE_BYTES / esz) {
        free(buf);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT,
                         "%s: NPY shape (%zu, %zu) does not match the %zu data bytes", path, rows,
                         cols, len - off);
    }
    t->data = dsbi_malloc(rows ? rows * cols : 1, sizeof(float));
    t->names = dsbi_calloc(cols, sizeof *t->names);
    if (!t->data || !t->names) {
        free(buf);
        free(t->data);
        free(t->names);
        memset(t, 0, sizeof *t);
        return DSBI_STATUS_ERR_NOMEM;
    }
    t->rows = rows;
    t->cols = cols;
    for (size_t j = 0; j < cols; j++) {
        char nm[32];
        snprintf(nm, sizeof nm, "c%zu", j + 1);
        t->names[j] = strdup(nm);
        if (!t->names[j]) {
            free(buf);
            dsbi_table_free(t);
            return dsbi_fail(DSBI_STATUS_ERR_NOMEM, "out of memory");
        }
    }
    const unsigned char *src = u + off;
    for (size_t i = 0; i < rows * cols; i++) {
        if (f8) {
            uint64_t b = 0;
            for (int k = 7; k >= 0; k--) b = b << 8 | src[8 * i + (size_t)k];
            double v;
            memcpy(&v, &b, 8);
            t->data[i] = to_float(v);
        } else {
            uint32_t b = 0;
            for (int k = 3; k >= 0; k--) b = b << 8 | src[4 * i + (size_t)k];
            memcpy(&t->data[i], &b, 4);
        }
    }
    free(buf);
    return DSBI_STATUS_OK;
}

static int write_npy(const char *path, const float *data, size_t rows, size_t cols) {
    char hdr[128];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
                     rows, cols);
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    unsigned char pre[10 + 128 + 64];
    memcpy(pre, "\x93NUMPY\x01\x00", 8);
    size_t hl = (size_t)n + pad + 1;
    pre[8] = (unsigned char)(hl & 0xFF);
    pre[9] = (unsigned char)(hl >> 8);
    memcpy(pre + 10, hdr, (size_t)n);
    memset(pre + 10 + n, ' ', pad);
    pre[10 + (size_t)n + pad] = '\n';
    /* float32 data little-endian (x86 and ARM hosts are little-endian; checked) */
    const uint32_t probe = 1;
    if (*(const unsigned char *)&probe != 1)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "big-endian hosts are not supported for NPY output");
    const void *parts[2] = {pre, data};
    size_t sizes[2] = {10 + hl, rows * cols * sizeof(float)};
    return dsbi_write_atomic(path, parts, sizes, 2);
}

/* ---------------------------------------------------------------- dispatch */

int dsbi_table_read(const char *path, dsbi_table *out) {
    memset(out, 0, sizeof *out);
    if (!path) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "no table path given");
    int npy = is_ext(path, "npy");
    if (!npy && !is_ext(path, "csv") && !is_ext(path, "txt"))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: unknown table format (use .csv or .npy)", path);
    char *buf = NULL;
    size_t len = 0;
    int st = read_file(path, &buf, &len);
    if (st) return st;
    return npy ? parse_npy(path, buf, len, out) : parse_csv(path, buf, len, out);
}

int dsbi_table_parse(const char *name, const void *data, size_t len, dsbi_table *out) {
    memset(out, 0, sizeof *out);
    if (!name || (!data && len)) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "table parse: name and data required");
    int npy = is_ext(name, "npy");
    if (!npy && !is_ext(name, "csv") && !is_ext(name, "txt"))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: unknown table format (use .csv or .npy)", name);
    if (len > MAX_TABLE_BYTES)
        return dsbi_fail(DSBI_STATUS_ERR_NOMEM, "%s: %zu bytes is larger than the limit", name, len);
    char *buf = dsbi_malloc(len + 1, 1);
    if (!buf) return DSBI_STATUS_ERR_NOMEM;
    if (len) memcpy(buf, data, len);
    buf[len] = '\0';
    return npy ? parse_npy(name, buf, len, out) : parse_csv(name, buf, len, out);
}

int dsbi_table_write(const char *path, const float *data, size_t rows, size_t cols,
                     const char *const *names) {
    if (!path || cols == 0) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "table needs a path and columns");
    if (is_ext(path, "npy")) return write_npy(path, data, rows, cols);
    if (is_ext(path, "csv")) return write_csv(path, data, rows, cols, names);
    return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: unknown table format (use .csv or .npy)", path);
}
