/*
 * Shared CLI helpers: error printing, number parsing with range checks, the
 * terminal progress bar, signal handling, observation parsing and the model /
 * sampler options that several subcommands accept.
 */
#include "cli.h"
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_fail(const char *cmd, int status) {
    fprintf(stderr, "diffsbi: %s: %s: %s\n", cmd, dsbi_status_str(status), dsbi_last_error());
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "diffsbi: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'diffsbi %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

int cli_parse_size(const char *cmd, const char *opt, const char *s, size_t lo, size_t hi, size_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end); /* accepts 1e4 */
    if (end == s || *end || errno || v != floor(v) || v < (double)lo || v > (double)hi) {
        cli_usage_error(cmd, "%s expects a whole number in [%zu, %zu], got '%s'", opt, lo, hi, s);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

int cli_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi)) {
        cli_usage_error(cmd, "%s expects a number in [%g, %g], got '%s'", opt, lo, hi, s);
        return -1;
    }
    *out = (float)v;
    return 0;
}

int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || s[0] == '-') {
        cli_usage_error(cmd, "%s expects a non-negative integer, got '%s'", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------- progress */

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

void cli_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_interrupted(void) { return interrupted; }

void cli_progress_init(cli_progress *p, int quiet, const char *label) {
    p->quiet = quiet;
    p->tty = isatty(fileno(stderr));
    p->label = label;
}

int cli_progress_cb(void *user, size_t epoch, size_t epochs, double train_loss, double val_loss,
                    double seconds) {
    cli_progress *p = user;
    if (!p->quiet && p->tty) {
        const int W = 28;
        int filled = (int)((double)W * (double)epoch / (double)epochs);
        char bar[32];
        for (int i = 0; i < W; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
        bar[W] = '\0';
        double eta = seconds / (double)epoch * (double)(epochs - epoch);
        fprintf(stderr, "\r%s epoch %zu/%zu [%s] loss %.4f val %.4f  %.1f ep/s ETA %d:%02d ",
                p->label, epoch, epochs, bar, train_loss, val_loss, (double)epoch / seconds,
                (int)eta / 60, (int)eta % 60);
        if (epoch == epochs) fputc('\n', stderr);
        fflush(stderr);
    }
    if (interrupted) {
        if (!p->quiet && p->tty) fputc('\n', stderr);
        return 1;
    }
    return 0;
}

void cli_log_cb(void *user, const char *msg) {
    (void)user;
    fprintf(stderr, "diffsbi: %s\n", msg);
}

/* ---------------------------------------------------------------- observation */

int cli_read_obs(const char *cmd, const char *spec, size_t k, float *out) {
    if (access(spec, F_OK) == 0) {
        dsbi_table t;
        int st = dsbi_table_read(spec, &t);
        if (st) return cli_fail(cmd, st);
        if (t.rows < 1 || t.cols != k) {
            fprintf(stderr, "diffsbi: %s: %s: expected a row of %zu values, found %zu rows x %zu columns\n",
                    cmd, spec, k, t.rows, t.cols);
            dsbi_table_free(&t);
            return 1;
        }
        if (t.rows > 1) /* easy to miss: the other rows would be silently ignored */
            fprintf(stderr,
                    "diffsbi: %s: warning: %s has %zu rows; using the first (for several i.i.d. "
                    "observations of one theta use --tall)\n",
                    cmd, spec, t.rows);
        memcpy(out, t.data, k * sizeof(float));
        dsbi_table_free(&t);
        return 0;
    }
    const char *p = spec;
    for (size_t i = 0; i < k; i++) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v)) {
            fprintf(stderr, "diffsbi: %s: --obs: value %zu of '%s' is not a number (and no such file)\n",
                    cmd, i + 1, spec);
            return 2;
        }
        out[i] = (float)v;
        p = end;
        while (*p == ' ') p++;
        if (i + 1 < k) {
            if (*p != ',') {
                fprintf(stderr, "diffsbi: %s: --obs needs %zu comma-separated values, got %zu\n", cmd, k, i + 1);
                return 2;
            }
            p++;
        }
    }
    if (*p) {
        fprintf(stderr, "diffsbi: %s: --obs has more than the %zu values the model expects\n", cmd, k);
        return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------- model options */

enum {
    O_SCHEDULE = CLI_OPT_BASE, O_PREDICTION, O_WEIGHTING, O_WIDTH, O_DEPTH, O_ACTIVATION, O_PLAIN,
    O_LAYER_NORM, O_EPOCHS, O_BATCH, O_LR, O_VAL_FRAC, O_EMA, O_PATIENCE, O_FAMILY
};

const struct option cli_model_long_opts[] = {
    {"schedule", required_argument, 0, O_SCHEDULE},   {"prediction", required_argument, 0, O_PREDICTION},
    {"weighting", required_argument, 0, O_WEIGHTING}, {"width", required_argument, 0, O_WIDTH},
    {"depth", required_argument, 0, O_DEPTH},         {"activation", required_argument, 0, O_ACTIVATION},
    {"plain", no_argument, 0, O_PLAIN},               {"layer-norm", no_argument, 0, O_LAYER_NORM},
    {"epochs", required_argument, 0, O_EPOCHS},       {"batch", required_argument, 0, O_BATCH},
    {"lr", required_argument, 0, O_LR},               {"val-frac", required_argument, 0, O_VAL_FRAC},
    {"ema", required_argument, 0, O_EMA},             {"patience", required_argument, 0, O_PATIENCE},
    {"model", required_argument, 0, O_FAMILY},
};
const size_t cli_model_long_opts_n = sizeof cli_model_long_opts / sizeof cli_model_long_opts[0];

static int parse_enum(const char *cmd, const char *opt, const char *val, int (*parse)(const char *), int *out) {
    int v = parse(val);
    if (v < 0) {
        cli_usage_error(cmd, "--%s: unknown value '%s'", opt, val);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_model_option(const char *cmd, const char *name, const char *val, dsbi_model_config *mc,
                     dsbi_train_config *tc) {
    int code = -1, e;
    for (size_t i = 0; i < cli_model_long_opts_n; i++)
        if (!strcmp(cli_model_long_opts[i].name, name)) code = cli_model_long_opts[i].val;
    switch (code) {
    case O_SCHEDULE: if (parse_enum(cmd, name, val, dsbi_schedule_parse, &e)) return -1; mc->schedule = e; return 1;
    case O_PREDICTION: if (parse_enum(cmd, name, val, dsbi_prediction_parse, &e)) return -1; mc->prediction = e; return 1;
    case O_WEIGHTING: if (parse_enum(cmd, name, val, dsbi_weighting_parse, &e)) return -1; mc->weighting = e; return 1;
    case O_ACTIVATION: if (parse_enum(cmd, name, val, dsbi_activation_parse, &e)) return -1; mc->activation = e; return 1;
    case O_WIDTH: return cli_parse_size(cmd, "--width", val, 1, 65536, &mc->width) ? -1 : 1;
    case O_DEPTH: return cli_parse_size(cmd, "--depth", val, 1, 1000, &mc->depth) ? -1 : 1;
    case O_PLAIN: mc->residual = 0; return 1;
    case O_LAYER_NORM: mc->layer_norm = 1; return 1;
    case O_EPOCHS: return cli_parse_size(cmd, "--epochs", val, 1, 10000000, &tc->epochs) ? -1 : 1;
    case O_BATCH: return cli_parse_size(cmd, "--batch", val, 1, 1000000, &tc->batch_size) ? -1 : 1;
    case O_LR: return cli_parse_float(cmd, "--lr", val, 1e-9, 10.0, &tc->lr) ? -1 : 1;
    case O_VAL_FRAC: return cli_parse_float(cmd, "--val-frac", val, 0.0, 0.9, &tc->val_fraction) ? -1 : 1;
    case O_EMA: return cli_parse_float(cmd, "--ema", val, 0.0, 0.99999, &tc->ema_decay) ? -1 : 1;
    case O_FAMILY:
        /* a family sets its defaults; --schedule/--prediction given later still override */
        if (!strcmp(val, "flow")) {
            mc->schedule = DSBI_SCHEDULE_FLOW;
            mc->prediction = DSBI_PREDICTION_FLOW;
            mc->weighting = DSBI_WEIGHTING_DEFAULT;
        } else if (!strcmp(val, "consistency")) {
            mc->schedule = DSBI_SCHEDULE_CONSISTENCY;
            mc->prediction = DSBI_PREDICTION_F;
            mc->weighting = DSBI_WEIGHTING_DEFAULT;
        } else if (!strcmp(val, "scm")) {
            mc->schedule = DSBI_SCHEDULE_SCM;
            mc->prediction = DSBI_PREDICTION_F;
            mc->weighting = DSBI_WEIGHTING_DEFAULT;
        } else if (!strcmp(val, "diffusion")) {
            dsbi_model_config d = dsbi_model_config_default();
            mc->schedule = d.schedule;
            mc->prediction = d.prediction;
            mc->weighting = d.weighting;
        } else {
            cli_usage_error(cmd, "--model: unknown family '%s' (diffusion, flow, consistency or scm)", val);
            return -1;
        }
        return 1;
    case O_PATIENCE: return cli_parse_size(cmd, "--patience", val, 0, 100000000, &tc->patience) ? -1 : 1;
    default: return 0;
    }
}

enum { S_SAMPLER = CLI_SOPT_BASE, S_STEPS, S_STOP, S_ETA, S_MAXNFE, S_ATOL, S_RTOL, S_CORR, S_SNR };
const struct option cli_sample_long_opts[] = {
    {"sampler", required_argument, 0, S_SAMPLER}, {"steps", required_argument, 0, S_STEPS},
    {"stop-time", required_argument, 0, S_STOP},  {"eta", required_argument, 0, S_ETA},
    {"max-nfe", required_argument, 0, S_MAXNFE},  {"atol", required_argument, 0, S_ATOL},
    {"rtol", required_argument, 0, S_RTOL},       {"corrector-steps", required_argument, 0, S_CORR},
    {"snr", required_argument, 0, S_SNR},
};
const size_t cli_sample_long_opts_n = sizeof cli_sample_long_opts / sizeof cli_sample_long_opts[0];

int cli_sample_option(const char *cmd, const char *name, const char *val, dsbi_sample_config *sc) {
    int code = -1, e;
    for (size_t i = 0; i < cli_sample_long_opts_n; i++)
        if (!strcmp(cli_sample_long_opts[i].name, name)) code = cli_sample_long_opts[i].val;
    switch (code) {
    case S_SAMPLER: if (parse_enum(cmd, name, val, dsbi_sampler_parse, &e)) return -1; sc->sampler = e; return 1;
    case S_STEPS: return cli_parse_size(cmd, "--steps", val, 1, 1000000, &sc->steps) ? -1 : 1;
    case S_STOP: return cli_parse_float(cmd, "--stop-time", val, 0.0, 0.999, &sc->stop_time) ? -1 : 1;
    case S_ETA: return cli_parse_float(cmd, "--eta", val, 0.0, 1.0, &sc->eta) ? -1 : 1;
    case S_MAXNFE: return cli_parse_size(cmd, "--max-nfe", val, 1, (size_t)1e12, &sc->max_nfe) ? -1 : 1;
    case S_ATOL: return cli_parse_float(cmd, "--atol", val, 1e-9, 1.0, &sc->atol) ? -1 : 1;
    case S_RTOL: return cli_parse_float(cmd, "--rtol", val, 1e-9, 1.0, &sc->rtol) ? -1 : 1;
    case S_CORR: return cli_parse_size(cmd, "--corrector-steps", val, 0, 1000, &sc->corrector_steps) ? -1 : 1;
    /* r >= 1 makes the Langevin corrector diverge (see src/sample/sampler.c) */
    case S_SNR: return cli_parse_float(cmd, "--snr", val, 1e-6, 0.999, &sc->snr) ? -1 : 1;
    default: return 0;
    }
}

struct option *cli_options(const struct option *extra, size_t n_extra, int model, int sample) {
    size_t n = n_extra + (model ? cli_model_long_opts_n : 0) + (sample ? cli_sample_long_opts_n : 0) + 1;
    struct option *o = calloc(n, sizeof *o);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n_extra; i++) o[k++] = extra[i];
    for (size_t i = 0; model && i < cli_model_long_opts_n; i++) o[k++] = cli_model_long_opts[i];
    for (size_t i = 0; sample && i < cli_sample_long_opts_n; i++) o[k++] = cli_sample_long_opts[i];
    return o;
}

/* ---------------------------------------------------------------- summary */

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void cli_print_summary(FILE *f, const float *theta, size_t n, size_t d, const char *const *names) {
    float *col = malloc(n * sizeof *col);
    if (!col) return;
    fprintf(f, "%-14s %10s %10s %10s %10s\n", "parameter", "mean", "sd", "q05", "q95");
    for (size_t j = 0; j < d; j++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) {
            col[i] = theta[i * d + j];
            s += col[i];
        }
        double mu = s / (double)n;
        for (size_t i = 0; i < n; i++) s2 += (col[i] - mu) * (col[i] - mu);
        qsort(col, n, sizeof *col, cmp_float);
        char def[32];
        snprintf(def, sizeof def, "theta_%zu", j + 1);
        fprintf(f, "%-14s %10.4f %10.4f %10.4f %10.4f\n", names && names[j] ? names[j] : def, mu,
                n > 1 ? sqrt(s2 / (double)(n - 1)) : 0.0, (double)col[(size_t)(0.05 * (double)(n - 1))],
                (double)col[(size_t)(0.95 * (double)(n - 1))]);
    }
    free(col);
}

int cli_fail_msg(const char *cmd) {
    fprintf(stderr, "diffsbi: %s: %s\n", cmd, dsbi_last_error());
    return 1;
}

/* ---------------------------------------------------------------- files and columns */

int cli_mkdir_p(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            buf[i] = c;
        }
    }
    return 0;
}

int cli_parse_cols(const char *cmd, const char *spec, const dsbi_table *t, size_t **out,
                   size_t *n_out) {
    size_t cap = t->cols + 1, n = 0;
    size_t *idx = malloc(cap * sizeof *idx);
    char *dup = strdup(spec), *save = NULL;
    if (!idx || !dup) {
        free(idx);
        free(dup);
        fprintf(stderr, "diffsbi: %s: out of memory\n", cmd);
        return -1;
    }
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t a = 0, b = 0;
        char extra;
        int named = -1;
        for (size_t j = 0; j < t->cols; j++)
            if (!strcmp(t->names[j], tok)) named = (int)j;
        if (named >= 0) {
            a = b = (size_t)named + 1;
        } else if (sscanf(tok, "%zu-%zu%c", &a, &b, &extra) == 2 || sscanf(tok, "%zu%c", &a, &extra) == 1) {
            if (b == 0) b = a; /* a single column */
            if (a < 1 || b < a || b > t->cols) {
                fprintf(stderr, "diffsbi: %s: column range '%s' outside 1..%zu\n", cmd, tok, t->cols);
                goto bad;
            }
        } else {
            fprintf(stderr, "diffsbi: %s: no column named '%s' in the data file\n", cmd, tok);
            goto bad;
        }
        for (size_t j = a; j <= b; j++) {
            if (n == cap) {
                fprintf(stderr, "diffsbi: %s: too many columns in '%s'\n", cmd, spec);
                goto bad;
            }
            idx[n++] = j - 1;
        }
    }
    free(dup);
    if (n == 0) {
        free(idx);
        fprintf(stderr, "diffsbi: %s: empty column list '%s'\n", cmd, spec);
        return -1;
    }
    *out = idx;
    *n_out = n;
    return 0;
bad:
    free(dup);
    free(idx);
    return -1;
}
