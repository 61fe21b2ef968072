/* Set and sequence data on the command line (issue 7): `train --summary`
 * reads sets from a 3-D NPY array plus a theta table, or from a long-form
 * CSV with an id column; `sample` reads an observed set from a table whose
 * rows are its members. */
#include "cli.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

dsbi_dataset *cli_sets_dataset(const char *cmd, const char *data, const char *theta_file,
                               const char *id_spec, const char *theta_spec, const char *x_spec,
                               dsbi_model_config *mc, char ***names_out);
int cli_read_set_obs(const char *cmd, const char *spec, size_t F, float **members, size_t *count);

static size_t ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* theta names (D) then K empty x slots, owned */
static char **theta_names(const dsbi_table *t, const size_t *cols, size_t D, size_t K) {
    char **names = calloc(D + K, sizeof *names);
    for (size_t d = 0; names && d < D; d++) names[d] = strdup(t->names[cols[d]]);
    return names;
}

/* Sets from --data: a 3-D NPY (with --theta-file) or a long-form table (with
 * --id). Sets mc->set_size (kept if larger than the data's largest set) and
 * mc->set_features; *names_out gets D theta names followed by K NULLs. */
dsbi_dataset *cli_sets_dataset(const char *cmd, const char *data, const char *theta_file,
                               const char *id_spec, const char *theta_spec, const char *x_spec,
                               dsbi_model_config *mc, char ***names_out) {
    dsbi_sets s;
    dsbi_table tt = {0}, t = {0};
    size_t *ti = NULL, *xi = NULL, *ii = NULL, nt = 0, nx = 0, ni = 0;
    dsbi_dataset *ds = NULL;
    int st;
    memset(&s, 0, sizeof s);
    if (ends_with(data, ".npy")) {
        if (!theta_file) {
            cli_usage_error(cmd, "--data %s is a 3-D array of sets: give the parameters with --theta-file FILE", data);
            return NULL;
        }
        if ((st = dsbi_sets_read_npy(data, &s)) || (st = dsbi_table_read(theta_file, &tt))) {
            cli_fail(cmd, st);
            goto done;
        }
        if (tt.rows != s.n) {
            fprintf(stderr, "diffsbi: %s: %s has %zu rows but %s holds %zu sets\n", cmd, theta_file,
                    tt.rows, data, s.n);
            goto done;
        }
        if (theta_spec) {
            if (cli_parse_cols(cmd, theta_spec, &tt, &ti, &nt)) goto done;
        } else {
            nt = tt.cols;
            ti = malloc(nt * sizeof *ti);
            for (size_t j = 0; ti && j < nt; j++) ti[j] = j;
        }
        if (!ti) goto done;
        s.theta = malloc(s.n * nt * sizeof *s.theta);
        if (!s.theta) goto done;
        s.D = nt;
        for (size_t i = 0; i < s.n; i++)
            for (size_t d = 0; d < nt; d++) s.theta[i * nt + d] = tt.data[i * tt.cols + ti[d]];
        *names_out = theta_names(&tt, ti, nt, DSBI_SET_ROW(mc->set_size > s.N ? mc->set_size : s.N, s.F));
    } else {
        if (!id_spec || !theta_spec) {
            cli_usage_error(cmd, "--data %s in long form (one row per member) needs --id COL and --theta COLS", data);
            return NULL;
        }
        if ((st = dsbi_table_read(data, &t))) {
            cli_fail(cmd, st);
            goto done;
        }
        if (cli_parse_cols(cmd, id_spec, &t, &ii, &ni) || cli_parse_cols(cmd, theta_spec, &t, &ti, &nt)) goto done;
        if (ni != 1) {
            cli_usage_error(cmd, "--id names %zu columns; give exactly one", ni);
            goto done;
        }
        if (x_spec) {
            if (cli_parse_cols(cmd, x_spec, &t, &xi, &nx)) goto done;
        } else { /* default: every column that is neither the id nor theta */
            xi = malloc(t.cols * sizeof *xi);
            for (size_t j = 0; xi && j < t.cols; j++) {
                int used = j == ii[0];
                for (size_t k = 0; k < nt; k++) used |= ti[k] == j;
                if (!used) xi[nx++] = j;
            }
            if (!xi || nx == 0) {
                cli_usage_error(cmd, "%s: no member columns left after --id and --theta; give --x COLS", data);
                goto done;
            }
        }
        if ((st = dsbi_sets_from_long(data, &t, ii[0], ti, nt, xi, nx, &s))) {
            cli_fail(cmd, st);
            goto done;
        }
        *names_out = theta_names(&t, ti, nt, DSBI_SET_ROW(mc->set_size > s.N ? mc->set_size : s.N, s.F));
    }
    if (mc->set_size && mc->set_size < s.N) {
        cli_usage_error(cmd, "--set-size %zu is smaller than the largest set in %s (%zu members)",
                        mc->set_size, data, s.N);
        goto done;
    }
    size_t N = mc->set_size > s.N ? mc->set_size : s.N, dropped = 0;
    /* re-lay the members for a larger N */
    float *x = s.x;
    if (N != s.N) {
        x = calloc(s.n * N * s.F, sizeof *x);
        for (size_t i = 0; x && i < s.n; i++)
            memcpy(x + i * N * s.F, s.x + i * s.N * s.F, s.counts[i] * s.F * sizeof *x);
    }
    ds = x ? dsbi_dataset_from_sets(s.theta, x, s.counts, s.n, s.D, N, s.F, &dropped) : NULL;
    if (x != s.x) free(x);
    if (!ds) {
        cli_fail_msg(cmd);
        goto done;
    }
    if (dropped)
        fprintf(stderr, "diffsbi: warning: %s: dropped %zu of %zu sets with non-finite values\n", data,
                dropped, s.n);
    mc->set_size = N;
    mc->set_features = s.F;
    fprintf(stderr, "%s: %zu sets of 1..%zu members x %zu features\n", data, s.n, N, s.F);
done:
    if (!ds && *names_out) {
        for (size_t d = 0; d < nt; d++) free((*names_out)[d]);
        free(*names_out);
        *names_out = NULL;
    }
    dsbi_sets_free(&s);
    dsbi_table_free(&tt);
    dsbi_table_free(&t);
    free(ti);
    free(xi);
    free(ii);
    return ds;
}

/* An observed set: a CSV/NPY table with F columns whose rows are the
 * members, or (F = 1) inline comma-separated values. */
int cli_read_set_obs(const char *cmd, const char *spec, size_t F, float **members, size_t *count) {
    *members = NULL;
    *count = 0;
    if (access(spec, F_OK) == 0) {
        dsbi_table t;
        int st = dsbi_table_read(spec, &t);
        if (st) return cli_fail(cmd, st);
        if (t.rows < 1 || t.cols != F) {
            fprintf(stderr,
                    "diffsbi: %s: %s: the model takes sets of members with %zu value%s each (one "
                    "member per row), found %zu rows x %zu columns\n",
                    cmd, spec, F, F == 1 ? "" : "s", t.rows, t.cols);
            dsbi_table_free(&t);
            return 1;
        }
        for (size_t i = 0; i < t.rows * F; i++)
            if (!isfinite(t.data[i])) {
                fprintf(stderr, "diffsbi: %s: %s: line %zu, column %zu: not a finite number\n", cmd,
                        spec, i / F + 2, i % F + 1);
                dsbi_table_free(&t);
                return 1;
            }
        *members = t.data;
        *count = t.rows;
        t.data = NULL;
        dsbi_table_free(&t);
        return 0;
    }
    if (F != 1) {
        fprintf(stderr, "diffsbi: %s: --obs %s: no such file (members with %zu values are read from a "
                        "CSV/NPY table, one member per row)\n", cmd, spec, F);
        return 2;
    }
    size_t cap = 16, n = 0;
    float *v = malloc(cap * sizeof *v);
    for (const char *p = spec; v;) {
        char *end;
        errno = 0;
        double d = strtod(p, &end);
        if (end == p || errno || !isfinite(d)) {
            fprintf(stderr, "diffsbi: %s: --obs: value %zu of '%s' is not a number (and no such file)\n",
                    cmd, n + 1, spec);
            free(v);
            return 2;
        }
        if (n == cap) {
            float *g = realloc(v, 2 * cap * sizeof *v);
            if (!g) break;
            v = g;
            cap *= 2;
        }
        v[n++] = (float)d;
        p = end;
        while (*p == ' ') p++;
        if (!*p) {
            *members = v;
            *count = n;
            return 0;
        }
        if (*p != ',') {
            fprintf(stderr, "diffsbi: %s: --obs: expected ',' after value %zu of '%s'\n", cmd, n, spec);
            free(v);
            return 2;
        }
        p++;
    }
    free(v);
    fprintf(stderr, "diffsbi: %s: out of memory\n", cmd);
    return 1;
}
