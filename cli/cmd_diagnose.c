/* diffsbi diagnose: can a user trust this posterior? Simulates (or reads) a test
 * set of (theta*, x) pairs, draws L posterior samples for every x, and runs the
 * calibration diagnostics of dsbi_calibrate (SBC ranks + simultaneous ECDF band,
 * log-gamma, coverage, TARP, z-score, contraction, NRMSE, correlation). Writes
 * metrics.json, the figures (PNG, optionally SVG) and a self-contained
 * report.html into --out, and prints a one-screen verdict per parameter. */
#include "cli.h"

#define CMD_NAME "diagnose"
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void help(void) {
    printf("usage: diffsbi diagnose --model FILE (--task NAME | --data FILE) [--n N] [--draws L]\n"
           "                        [--out DIR] [options]\n\n"
           "Checks the calibration of a trained posterior on a test set: N pairs\n"
           "(theta*, x) simulated from the task (with a seed derived from --seed that differs\n"
           "from the one 'train' uses, so the pairs are fresh) or read from a CSV/NPY file\n"
           "(theta columns first, then x, as 'diffsbi simulate' writes; or --theta/--x).\n"
           "Draws L posterior samples for every x and writes to DIR: metrics.json,\n"
           "report.html (open it in a browser; no network needed), and the figures\n"
           "sbc_ecdf, coverage, tarp, recovery, z_contraction, pairs (and loss if the model\n"
           "stores its training history). Prints a verdict per parameter: well calibrated,\n"
           "over-confident, under-confident or biased.\n\n"
           "  --model FILE          trained model\n"
           "  --task NAME           simulate the test set from this built-in task\n"
           "  --data FILE           read the test set from a CSV (with header) or NPY table\n"
           "  --theta COLS, --x COLS  columns of the data file, 1-based ranges or names\n"
           "                        [theta: the first dim_theta columns; x: the next dim_x]\n"
           "  --n N                 test simulations (the first N rows of --data) [500]\n"
           "  --draws L             posterior draws per test simulation [100]\n"
           "  --out DIR             output folder [diagnose]\n"
           "  --svg                 also write every figure as SVG\n"
           "  --seed N              seed of the test set and of the sampler [0]\n"
           "  --threads N           threads [1 when --draws < 1000, else all cores]\n"
           "  --quiet               no progress bar and no summary\n"
           CLI_SAMPLE_OPTS_HELP
           "\nexample: diffsbi diagnose --model tm.dsbi --task two_moons --n 500 --out diag\n");
}

/* ---------------------------------------------------------------- files */

/* Writes text to path atomically (temp file in the same folder, then rename). */
static int write_text_atomic(const char *path, const char *text) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) {
        int e = errno;
        remove(tmp);
        fprintf(stderr, "diffsbi: diagnose: cannot write %s: %s\n", path, strerror(e));
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- test set from a file */

/* Reads up to n_max rows of (theta, x) from a table into owned arrays; names
 * of the theta columns go to names (D strdup'ed strings). Returns the rows. */
static size_t read_test_file(const char *path, const char *theta_spec, const char *x_spec,
                             size_t D, size_t K, size_t n_max, float **theta, float **x,
                             char **names) {
    dsbi_table t;
    int st = dsbi_table_read(path, &t);
    if (st) {
        cli_fail("diagnose", st);
        return 0;
    }
    size_t *ti = NULL, *xi = NULL, nt = 0, nx = 0, rows = 0;
    char tb[64], xb[64];
    if (!theta_spec) {
        snprintf(tb, sizeof tb, "1-%zu", D);
        theta_spec = tb;
    }
    if (!x_spec) {
        snprintf(xb, sizeof xb, "%zu-%zu", D + 1, D + K);
        x_spec = xb;
    }
    if (t.cols < (theta_spec == tb ? D : 0) + (x_spec == xb ? K : 0)) {
        fprintf(stderr, "diffsbi: diagnose: %s has %zu columns; the model needs %zu theta + %zu x\n",
                path, t.cols, D, K);
        goto done;
    }
    if (cli_parse_cols(CMD_NAME, theta_spec, &t, &ti, &nt) || cli_parse_cols(CMD_NAME, x_spec, &t, &xi, &nx)) goto done;
    if (nt != D || nx != K) {
        fprintf(stderr, "diffsbi: diagnose: %zu theta and %zu x columns selected; the model has "
                "dim_theta = %zu, dim_x = %zu\n", nt, nx, D, K);
        goto done;
    }
    size_t n = t.rows < n_max ? t.rows : n_max;
    *theta = malloc((n ? n : 1) * D * sizeof **theta);
    *x = malloc((n ? n : 1) * K * sizeof **x);
    if (!*theta || !*x) {
        fprintf(stderr, "diffsbi: diagnose: out of memory\n");
        goto done;
    }
    size_t skipped = 0;
    for (size_t i = 0; i < t.rows && rows < n; i++) {
        int ok = 1;
        for (size_t k = 0; k < D; k++) ok &= isfinite(t.data[i * t.cols + ti[k]]);
        for (size_t k = 0; k < K; k++) ok &= isfinite(t.data[i * t.cols + xi[k]]);
        if (!ok) {
            skipped++;
            continue;
        }
        for (size_t k = 0; k < D; k++) (*theta)[rows * D + k] = t.data[i * t.cols + ti[k]];
        for (size_t k = 0; k < K; k++) (*x)[rows * K + k] = t.data[i * t.cols + xi[k]];
        rows++;
    }
    if (skipped)
        fprintf(stderr, "diffsbi: warning: %s: skipped %zu rows with non-finite values\n", path,
                skipped);
    for (size_t k = 0; k < D; k++) names[k] = strdup(t.names[ti[k]]);
done:
    free(ti);
    free(xi);
    dsbi_table_free(&t);
    return rows;
}

/* ---------------------------------------------------------------- metrics.json */

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *num_array(const double *v, size_t n, size_t stride) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, num(v[i * stride]));
    return a;
}

typedef struct run_info {
    const char *model, *task, *data, *out;
    size_t n, L;
    uint64_t seed;
    dsbi_sample_config sc;
    double seconds_sampling, seconds_metrics;
} run_info;

static const char *verdict_rule =
    "mc = 1/sqrt(12 n); biased if |rank_shift| > max(3 mc, 0.1); else over-confident if "
    "coverage_bias < -max(3 mc, 0.02); else under-confident if coverage_bias > max(3 mc, 0.02); "
    "else, if the rank ECDF leaves its band at the family-wise level 1 - alpha/d, the larger of "
    "|rank_shift| and |coverage_bias| names the fault; else well calibrated";

static int write_metrics(const char *path, const run_info *ri, const dsbi_calibration *c,
                         const char *const *names) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return 1;
    cJSON_AddStringToObject(root, "diffsbi_version", DSBI_VERSION);
    cJSON_AddStringToObject(root, "model", ri->model);
    if (ri->task) cJSON_AddStringToObject(root, "task", ri->task);
    if (ri->data) cJSON_AddStringToObject(root, "data", ri->data);
    cJSON_AddNumberToObject(root, "n", (double)c->n);
    cJSON_AddNumberToObject(root, "draws", (double)c->L);
    cJSON_AddNumberToObject(root, "seed", (double)ri->seed);
    cJSON *s = cJSON_AddObjectToObject(root, "sampler");
    cJSON_AddStringToObject(s, "name", dsbi_sampler_name(ri->sc.sampler));
    cJSON_AddNumberToObject(s, "steps", (double)ri->sc.steps);
    cJSON_AddNumberToObject(s, "eta", ri->sc.eta);
    cJSON_AddNumberToObject(s, "stop_time", ri->sc.stop_time);
    /* tolerances of the adaptive samplers, 0 = the sampler's default */
    cJSON_AddNumberToObject(s, "atol", ri->sc.atol);
    cJSON_AddNumberToObject(s, "rtol", ri->sc.rtol);
    cJSON_AddNumberToObject(s, "max_nfe", (double)ri->sc.max_nfe);
    cJSON_AddStringToObject(root, "verdict_rule", verdict_rule);
    cJSON_AddStringToObject(root, "nrmse_definition", "RMSE of the posterior mean / sd of the test thetas");
    cJSON *params = cJSON_AddArrayToObject(root, "parameters");
    for (size_t j = 0; j < c->d; j++) {
        const dsbi_param_calibration *P = &c->param[j];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", names[j]);
        cJSON_AddStringToObject(o, "verdict", dsbi_verdict_name(P->verdict));
        if (P->direction)
            cJSON_AddStringToObject(o, "bias_direction", P->direction > 0 ? "too high" : "too low");
        cJSON_AddItemToObject(o, "rank_shift", num(P->rank_shift));
        cJSON_AddItemToObject(o, "log_gamma", num(P->log_gamma));
        cJSON_AddBoolToObject(o, "sbc_outside_band", P->sbc_outside);
        cJSON_AddItemToObject(o, "ecdf_max_diff", num(P->ecdf_max_diff));
        cJSON_AddItemToObject(o, "calibration_error", num(P->coverage_error));
        cJSON_AddItemToObject(o, "coverage_bias", num(P->coverage_bias));
        cJSON_AddItemToObject(o, "mc_se", num(P->mc_se));
        cJSON_AddItemToObject(o, "contraction", num(P->contraction));
        cJSON_AddItemToObject(o, "z_mean", num(P->z_mean));
        cJSON_AddItemToObject(o, "z_sd", num(P->z_sd));
        cJSON_AddItemToObject(o, "rmse", num(P->rmse));
        cJSON_AddItemToObject(o, "nrmse", num(P->nrmse));
        cJSON_AddItemToObject(o, "correlation", num(P->correlation));
        cJSON_AddItemToArray(params, o);
    }
    cJSON *sbc = cJSON_AddObjectToObject(root, "sbc");
    cJSON_AddNumberToObject(sbc, "band_level", 1.0 - c->band_alpha);
    cJSON_AddItemToObject(sbc, "gamma_crit", num(c->gamma_crit));
    cJSON_AddStringToObject(sbc, "band_method",
                            "Sailynoja et al. 2022 simulation method, seeded (ECDF of ranks in 0..L "
                            "at p_k = t_k/(L+1))");
    cJSON_AddItemToObject(sbc, "p", num_array(c->ecdf_p, c->n_ecdf, 1));
    cJSON_AddItemToObject(sbc, "band_lo", num_array(c->band_lo, c->n_ecdf, 1));
    cJSON_AddItemToObject(sbc, "band_hi", num_array(c->band_hi, c->n_ecdf, 1));
    cJSON *ecdf = cJSON_AddObjectToObject(sbc, "ecdf");
    for (size_t j = 0; j < c->d; j++)
        cJSON_AddItemToObject(ecdf, names[j], num_array(c->ecdf + j, c->n_ecdf, c->d));
    cJSON *cov = cJSON_AddObjectToObject(root, "coverage");
    cJSON_AddItemToObject(cov, "levels", num_array(c->levels, c->n_levels, 1));
    cJSON *covp = cJSON_AddObjectToObject(cov, "empirical");
    for (size_t j = 0; j < c->d; j++)
        cJSON_AddItemToObject(covp, names[j], num_array(c->coverage + j, c->n_levels, c->d));
    cJSON *tarp = cJSON_AddObjectToObject(root, "tarp");
    cJSON_AddItemToObject(tarp, "area", num(c->tarp_area));
    cJSON_AddItemToObject(tarp, "mc_level", num(c->tarp_mc));
    cJSON_AddItemToObject(tarp, "signed_area", num(c->tarp_signed));
    cJSON_AddItemToObject(tarp, "alpha", num_array(c->tarp_alpha, c->n_tarp, 1));
    cJSON_AddItemToObject(tarp, "ecp", num_array(c->tarp_ecp, c->n_tarp, 1));
    cJSON *t = cJSON_AddObjectToObject(root, "seconds");
    cJSON_AddNumberToObject(t, "sampling", ri->seconds_sampling);
    cJSON_AddNumberToObject(t, "diagnostics", ri->seconds_metrics);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "diffsbi: diagnose: out of memory writing %s\n", path);
        return 1;
    }
    size_t len = strlen(text);
    char *with_nl = realloc(text, len + 2);
    if (with_nl) text = with_nl, text[len] = '\n', text[len + 1] = '\0';
    int rc = write_text_atomic(path, text);
    free(text);
    return rc;
}

/* ---------------------------------------------------------------- report.html */

typedef struct strbuf {
    char *s;
    size_t n, cap;
    int oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap ? 2 * b->cap : 8192) + (size_t)k;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
}

static void sb_escaped(strbuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_printf(b, "&amp;"); break;
        case '<': sb_printf(b, "&lt;"); break;
        case '>': sb_printf(b, "&gt;"); break;
        case '"': sb_printf(b, "&quot;"); break;
        default: sb_printf(b, "%c", *s);
        }
    }
}

typedef struct fig_doc {
    const char *file, *title, *line1, *line2;
} fig_doc;

static const char *verdict_class(dsbi_verdict v) {
    return v == DSBI_VERDICT_CALIBRATED ? "ok" : v == DSBI_VERDICT_BIASED ? "bad" : "warn";
}

static int write_report(const char *path, const run_info *ri, const dsbi_calibration *c,
                        const char *const *names, const fig_doc *figs, size_t n_figs) {
    strbuf b = {0};
    sb_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<title>diffsbi diagnostics</title>\n<style>\n"
                  "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1240px;"
                  "margin:2em auto;padding:0 1em;color:#1a1a1a;line-height:1.45}\n"
                  "h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;margin-top:1.8em;"
                  "border-bottom:1px solid #ddd;padding-bottom:.2em}\n"
                  ".meta{color:#555} table{border-collapse:collapse;margin:.8em 0;font-size:.95em}\n"
                  "th,td{padding:.3em .7em;border-bottom:1px solid #e4e4e4;text-align:right}\n"
                  "th:first-child,td:first-child,td.v{text-align:left} th{background:#f4f4f4}\n"
                  ".ok{color:#1a7f37;font-weight:600} .warn{color:#b35900;font-weight:600}\n"
                  ".bad{color:#c62828;font-weight:600}\n"
                  "figure{margin:1.4em 0} figure img{max-width:100%%;border:1px solid #eee}\n"
                  "figcaption{color:#333;margin-top:.3em} figcaption b{display:block}\n"
                  "code{background:#f4f4f4;padding:0 .25em} .small{font-size:.9em;color:#555}\n"
                  "</style>\n</head>\n<body>\n<h1>Can this posterior be trusted?</h1>\n"
                  "<p class=\"meta\">Model <code>");
    sb_escaped(&b, ri->model);
    sb_printf(&b, "</code>, test set ");
    if (ri->task) {
        sb_printf(&b, "simulated from task <code>");
        sb_escaped(&b, ri->task);
        sb_printf(&b, "</code>");
    } else {
        sb_printf(&b, "read from <code>");
        sb_escaped(&b, ri->data);
        sb_printf(&b, "</code>");
    }
    sb_printf(&b, ": n = %zu simulations, L = %zu posterior draws each, sampler %s with %zu steps, "
                  "seed %llu. Sampling took %.1f s, diagnostics %.2f s. diffsbi %s.</p>\n",
              c->n, c->L, dsbi_sampler_name(ri->sc.sampler), ri->sc.steps,
              (unsigned long long)ri->seed, ri->seconds_sampling, ri->seconds_metrics,
              DSBI_VERSION);

    sb_printf(&b, "<h2>Verdict per parameter</h2>\n<table>\n<tr><th>parameter</th><th>verdict</th>"
                  "<th>rank shift</th><th>log &gamma;</th><th>calibration error</th>"
                  "<th>coverage bias</th><th>contraction</th><th>z mean</th><th>z sd</th>"
                  "<th>NRMSE</th><th>corr.</th></tr>\n");
    for (size_t j = 0; j < c->d; j++) {
        const dsbi_param_calibration *P = &c->param[j];
        sb_printf(&b, "<tr><td>");
        sb_escaped(&b, names[j]);
        sb_printf(&b, "</td><td class=\"v %s\">%s%s</td><td>%+.3f</td><td>%.2f</td><td>%.3f</td>"
                      "<td>%+.3f</td><td>%.3f</td><td>%+.2f</td><td>%.2f</td><td>%.3f</td>"
                      "<td>%.3f</td></tr>\n",
                  verdict_class(P->verdict), dsbi_verdict_name(P->verdict),
                  P->direction > 0 ? " (too high)" : P->direction < 0 ? " (too low)" : "",
                  P->rank_shift, P->log_gamma, P->coverage_error, P->coverage_bias, P->contraction,
                  P->z_mean, P->z_sd, P->nrmse, P->correlation);
    }
    sb_printf(&b, "</table>\n<p>TARP (all parameters jointly): area %.3f (Monte-Carlo level for "
                  "a calibrated posterior &asymp; %.3f), signed area %+.3f.</p>\n",
              c->tarp_area, c->tarp_mc, c->tarp_signed);
    sb_printf(&b, "<p class=\"small\"><b>How the verdict is reached.</b> With u the fractional "
                  "SBC rank and mc = 1/&radic;(12n) = %.4f (its Monte-Carlo sd): <i>biased</i> if "
                  "|mean(u) &minus; &frac12;| &gt; max(3&middot;mc, 0.1); else <i>over-confident</i> "
                  "if the mean coverage error over levels 0.01&hellip;0.99 is below "
                  "&minus;max(3&middot;mc, 0.02); <i>under-confident</i> if above +max(3&middot;mc, "
                  "0.02); else, if the rank ECDF leaves its simultaneous band at the family-wise "
                  "level 1 &minus; %.2f/%zu, the larger deviation names the fault; else <i>well "
                  "calibrated</i>. Calibration error = median |coverage &minus; level| "
                  "(BayesFlow); log &gamma; &lt; 0 means the ECDF leaves the %.0f%% band "
                  "(Modr&aacute;k et al. 2023); NRMSE = RMSE of the posterior mean / sd of the "
                  "test thetas; contraction = 1 &minus; posterior var / prior var.</p>\n",
              c->param[0].mc_se, c->band_alpha, c->d, 100.0 * (1.0 - c->band_alpha));

    sb_printf(&b, "<h2>Figures</h2>\n");
    for (size_t i = 0; i < n_figs; i++) {
        sb_printf(&b, "<figure>\n<img src=\"");
        sb_escaped(&b, figs[i].file);
        sb_printf(&b, "\" alt=\"");
        sb_escaped(&b, figs[i].title);
        sb_printf(&b, "\">\n<figcaption><b>");
        sb_escaped(&b, figs[i].title);
        sb_printf(&b, "</b>%s<br>%s</figcaption>\n</figure>\n", figs[i].line1, figs[i].line2);
    }
    sb_printf(&b, "</body>\n</html>\n");
    if (b.oom) {
        free(b.s);
        fprintf(stderr, "diffsbi: diagnose: out of memory writing %s\n", path);
        return 1;
    }
    int rc = write_text_atomic(path, b.s);
    free(b.s);
    return rc;
}

/* ---------------------------------------------------------------- summary */

static void print_summary(const run_info *ri, const dsbi_calibration *c, const char *const *names,
                          size_t n_figs) {
    printf("diagnose: %zu test simulations x %zu draws, sampler %s (%zu steps), %.1f s\n", c->n,
           c->L, dsbi_sampler_name(ri->sc.sampler), ri->sc.steps,
           ri->seconds_sampling + ri->seconds_metrics);
    printf("%-12s %-26s %7s %7s %7s %7s %7s %6s %5s %6s\n", "parameter", "verdict", "shift",
           "log-g", "cal.err", "cov.bias", "contr.", "z-mean", "z-sd", "NRMSE");
    for (size_t j = 0; j < c->d; j++) {
        const dsbi_param_calibration *P = &c->param[j];
        char v[48];
        snprintf(v, sizeof v, "%s%s", dsbi_verdict_name(P->verdict),
                 P->direction > 0 ? " (too high)" : P->direction < 0 ? " (too low)" : "");
        printf("%-12.12s %-26s %+7.3f %7.2f %7.3f %+8.3f %7.3f %+6.2f %5.2f %6.3f\n", names[j], v,
               P->rank_shift, P->log_gamma, P->coverage_error, P->coverage_bias, P->contraction,
               P->z_mean, P->z_sd, P->nrmse);
    }
    printf("TARP area %.3f (calibrated: ~%.3f), signed %+.3f (> 0 under-, < 0 over-confident)\n",
           c->tarp_area, c->tarp_mc, c->tarp_signed);
    printf("SBC: %.0f%% simultaneous band, log-gamma < 0 means outside; Monte-Carlo sd of shift and "
           "cov.bias: %.4f\n", 100.0 * (1.0 - c->band_alpha), c->param[0].mc_se);
    printf("wrote %s/metrics.json, %s/report.html and %zu figures\n", ri->out, ri->out, n_figs);
}

/* ---------------------------------------------------------------- the command */

static const fig_doc fig_docs[] = {
    {"sbc_ecdf", "SBC rank ECDF difference",
     "Each curve is the ECDF of the truth's rank among its posterior draws minus the uniform CDF; "
     "the shaded region is the simultaneous 95% band for an exact posterior.",
     "Leaving the band means miscalibration: above zero in the first half and below in the second "
     "is over-confidence, the mirror image under-confidence, a one-sided bulge bias (above zero: "
     "the posterior sits too high)."},
    {"coverage", "Coverage of central credible intervals",
     "Fraction of test simulations whose true value lies inside the central posterior interval, "
     "for levels 0.01 to 0.99; the band is the 95% Monte-Carlo range for an exact posterior.",
     "Below the diagonal the intervals are too narrow (over-confident); above it they are too wide "
     "(under-confident)."},
    {"tarp", "TARP expected coverage (all parameters jointly)",
     "Expected coverage of random-reference-point balls (Lemos et al. 2023) against the "
     "credibility level; the band is a 95% Kolmogorov band for a calibrated posterior.",
     "Above the diagonal: conservative (under-confident); below: over-confident or biased. The "
     "area between curve and diagonal summarises the gap."},
    {"recovery", "Parameter recovery",
     "Posterior mean (dots) and &plusmn;1 posterior sd (bars) against the true value of each test "
     "simulation; the dashed line is perfect recovery.",
     "Points close to the line with short bars mean the data identify the parameter; a flat cloud "
     "means the posterior stays near the prior mean."},
    {"z_contraction", "Posterior z-score vs contraction",
     "Each dot is one test simulation: contraction 1 &minus; posterior var / prior var (x) and "
     "z-score (posterior mean &minus; truth) / posterior sd (y).",
     "Good posteriors sit right (contraction near 1) inside |z| &lt; 2 (shaded); many large |z| "
     "mean over-confidence or bias, contraction near 0 means little was learned."},
    {"pairs", "Posterior of the first test simulation",
     "Pair plot of posterior draws for the first test simulation: histograms on the diagonal, "
     "pairwise scatter below; the red lines and crosses mark the true parameters.",
     "The truth should look like a typical draw; a truth far in the tails of many such plots is "
     "what the calibration figures above quantify."},
    {"loss", "Training and validation loss",
     "Loss per epoch as stored in the model file (log scale when it spans a decade).",
     "A validation curve well above the training curve signals overfitting; one still falling "
     "suggests more epochs or simulations would help."},
};
#define N_FIG_DOCS (sizeof fig_docs / sizeof fig_docs[0])

cli_diag_opts cli_diag_opts_default(void) {
    cli_diag_opts o;
    memset(&o, 0, sizeof o);
    o.n = 500;
    o.draws = 100;
    o.out = "diagnose";
    o.sc = dsbi_sample_config_default();
    o.sc.steps = 0; /* the model's default, set once the model is known */
    return o;
}

void cli_diag_result_free(cli_diag_result *r) {
    if (!r) return;
    dsbi_calibration_free(&r->cal);
    for (size_t j = 0; r->names && j < r->d; j++) free(r->names[j]);
    free(r->names);
    memset(r, 0, sizeof *r);
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

/* The pipeline after the test set is known: posterior draws for every test x,
 * metrics, figures, metrics.json, report.html and the summary. theta (n x D),
 * x (n x K) and names (D strings) are borrowed; on success with res != NULL,
 * the calibration and the names move into res (names is then set to NULL). */
static int diag_core(const char *cmd, dsbi_model *m, const float *theta, const float *x, size_t n,
                     char **names, run_info *ri, const cli_diag_opts *o, cli_diag_result *res) {
    const size_t D = dsbi_model_dim_theta(m), K = dsbi_model_dim_x(m), L = o->draws;
    dsbi_sample_config sc = o->sc;
    if (!sc.steps) sc.steps = dsbi_model_default_steps(m);
    ri->sc = sc;
    ri->n = n;
    ri->L = L;
    ri->out = o->out;
    ri->seed = o->seed;
    const uint64_t seed = o->seed;
    int rc = 0, st;
    float *draws = NULL, *pair = NULL;
    dsbi_calibration cal = {0};
    /* Each call samples a small batch (L draws): parallel regions that small
     * cost more in synchronisation than they gain, and on a loaded machine
     * spinning OpenMP threads slowed sampling 50-fold. One thread unless asked;
     * the caller's thread count comes back at the end (demo and bench go on
     * with their own work). */
    const int threads_before = dsbi_get_threads();
    if (o->threads)
        dsbi_set_threads((int)o->threads);
    else if (!getenv("DSBI_NUM_THREADS") && L < 1000)
        dsbi_set_threads(1);

    /* ---- posterior draws for every test simulation */
    if (n > ((size_t)1 << 34) / (L * D)) {
        rc = cli_usage_error(cmd, "%zu test simulations x %zu draws is too large", n, L);
        goto done;
    }
    draws = malloc(n * L * D * sizeof *draws);
    if (!draws) {
        rc = 1;
        fprintf(stderr, "diffsbi: %s: out of memory (%zu x %zu draws)\n", cmd, n, L);
        goto done;
    }
    cli_install_signals();
    int tty = !o->quiet && !o->no_progress && isatty(fileno(stderr));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n; i++) {
        dsbi_sample_config sci = sc;
        sci.seed = seed * 1000003ULL + i + 1;
        st = dsbi_model_sample(m, x + i * K, L, &sci, draws + i * L * D, NULL);
        if (st) {
            if (tty) fputc('\n', stderr);
            fprintf(stderr, "diffsbi: %s: test simulation %zu: ", cmd, i + 1);
            rc = cli_fail(cmd, st);
            goto done;
        }
        if (cli_interrupted()) {
            if (tty) fputc('\n', stderr);
            fprintf(stderr, "diffsbi: %s: interrupted while sampling test simulation %zu of %zu\n",
                    cmd, i + 1, n);
            rc = 1;
            goto done;
        }
        double el = seconds_since(&t0);
        if (tty && (i + 1 == n || i % 4 == 0)) {
            const int W = 28;
            int filled = (int)((double)W * (double)(i + 1) / (double)n);
            char bar[32];
            for (int k = 0; k < W; k++) bar[k] = k < filled ? '=' : (k == filled ? '>' : ' ');
            bar[W] = '\0';
            double eta = el / (double)(i + 1) * (double)(n - i - 1);
            fprintf(stderr, "\rdiagnose: sampling %zu/%zu [%s] %.1f sims/s ETA %d:%02d ", i + 1, n,
                    bar, (double)(i + 1) / el, (int)eta / 60, (int)eta % 60);
            if (i + 1 == n) fputc('\n', stderr);
            fflush(stderr);
        }
        ri->seconds_sampling = el;
    }

    /* ---- metrics */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((st = dsbi_calibrate(theta, draws, n, L, D, NULL, &cal))) {
        rc = cli_fail(cmd, st);
        goto done;
    }
    ri->seconds_metrics = seconds_since(&t0);

    /* ---- files */
    if (cli_mkdir_p(o->out) != 0) {
        fprintf(stderr, "diffsbi: %s: cannot create folder %s: %s\n", cmd, o->out, strerror(errno));
        rc = 1;
        goto done;
    }
    size_t n_pair = L > 1000 ? L : 1000;
    pair = malloc(n_pair * D * sizeof *pair);
    if (!pair) {
        rc = 1;
        fprintf(stderr, "diffsbi: %s: out of memory\n", cmd);
        goto done;
    }
    {
        dsbi_sample_config scp = sc;
        scp.seed = seed * 1000003ULL;
        if ((st = dsbi_model_sample(m, x, n_pair, &scp, pair, NULL))) {
            rc = cli_fail(cmd, st);
            goto done;
        }
    }
    const double *hist_train = NULL, *hist_val = NULL;
    size_t epochs = dsbi_model_loss_history(m, &hist_train, &hist_val);
    fig_doc figs[N_FIG_DOCS];
    char files[N_FIG_DOCS][64];
    size_t n_figs = 0;
    const char *const *cnames = (const char *const *)names;
    for (int pass = 0; pass < (o->svg ? 2 : 1); pass++) {
        const char *ext = pass ? "svg" : "png";
        for (size_t f = 0; f < N_FIG_DOCS; f++) {
            const char *key = fig_docs[f].file;
            char path[4200];
            snprintf(path, sizeof path, "%s/%s.%s", o->out, key, ext);
            if (!strcmp(key, "sbc_ecdf")) st = dsbi_plot_sbc_ecdf(path, &cal, cnames);
            else if (!strcmp(key, "coverage")) st = dsbi_plot_coverage(path, &cal, cnames);
            else if (!strcmp(key, "tarp")) st = dsbi_plot_tarp(path, &cal);
            else if (!strcmp(key, "recovery")) st = dsbi_plot_recovery(path, &cal, cnames);
            else if (!strcmp(key, "z_contraction")) st = dsbi_plot_z_contraction(path, &cal, cnames);
            else if (!strcmp(key, "pairs")) {
                if (D > 16) continue; /* unreadable; the other figures still cover every parameter */
                st = dsbi_plot_pairs(path, pair, n_pair, D, cnames, NULL, 0, theta);
            } else if (!strcmp(key, "loss")) {
                if (epochs == 0 || !hist_train) continue;
                st = dsbi_plot_loss(path, hist_train, hist_val, epochs);
            }
            if (st) {
                rc = cli_fail(cmd, st);
                goto done;
            }
            if (pass == 0) {
                snprintf(files[n_figs], sizeof files[n_figs], "%s.png", key);
                figs[n_figs] = fig_docs[f];
                figs[n_figs].file = files[n_figs];
                n_figs++;
            }
        }
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.json", o->out);
    if ((rc = write_metrics(path, ri, &cal, cnames))) goto done;
    snprintf(path, sizeof path, "%s/report.html", o->out);
    if ((rc = write_report(path, ri, &cal, cnames, figs, n_figs))) goto done;
    if (!o->quiet) print_summary(ri, &cal, cnames, n_figs * (o->svg ? 2 : 1));
    if (res) {
        res->cal = cal;
        res->names = names;
        res->d = D;
        memset(&cal, 0, sizeof cal);
    }

done:
    dsbi_set_threads(threads_before);
    dsbi_calibration_free(&cal);
    free(draws);
    free(pair);
    return rc;
}

/* Names of the model's parameters: stored with the model, else the
 * simulator's, else theta_1..theta_D. NULL when out of memory. */
static char **param_names(const dsbi_model *m, const dsbi_simulator *sim, size_t D) {
    char **names = calloc(D, sizeof *names);
    for (size_t j = 0; names && j < D; j++) {
        const char *nm = dsbi_model_theta_name(m, j);
        if (!nm && sim && sim->theta_names) nm = sim->theta_names[j];
        char def[32];
        snprintf(def, sizeof def, "theta_%zu", j + 1);
        if (!(names[j] = strdup(nm ? nm : def))) {
            for (size_t k = 0; k < j; k++) free(names[k]);
            free(names);
            return NULL;
        }
    }
    return names;
}

static void free_names(char **names, size_t D) {
    for (size_t j = 0; names && j < D; j++) free(names[j]);
    free(names);
}

int cli_diagnose_run(const char *cmd, dsbi_model *m, const dsbi_simulator *sim,
                     const cli_diag_opts *o, cli_diag_result *res) {
    const size_t D = dsbi_model_dim_theta(m), K = dsbi_model_dim_x(m);
    if (res) memset(res, 0, sizeof *res);
    if (sim->dim_theta != D || sim->dim_x != K) {
        fprintf(stderr, "diffsbi: %s: task %s has dim_theta = %zu, dim_x = %zu but the model has "
                "%zu, %zu\n", cmd, sim->name ? sim->name : "(simulator)", sim->dim_theta,
                sim->dim_x, D, K);
        return 1;
    }
    if (o->n < 2 || o->draws < 2)
        return cli_usage_error(cmd, "diagnose needs at least 2 test simulations and 2 draws each");
    size_t dropped = 0;
    dsbi_dataset *ds = NULL;
    /* a seed train never uses for its simulations: the test pairs are fresh */
    int st = dsbi_dataset_simulate(sim, o->n, o->seed ^ 0x7e577e577e577e57ULL, &ds, &dropped);
    if (st) return cli_fail(cmd, st);
    if (dropped)
        fprintf(stderr, "diffsbi: warning: %zu of %zu test simulations were non-finite and "
                "dropped\n", dropped, o->n);
    size_t n = dsbi_dataset_size(ds);
    char **names = param_names(m, sim, D);
    int rc;
    if (!names) {
        fprintf(stderr, "diffsbi: %s: out of memory\n", cmd);
        rc = 1;
    } else if (n < 2) {
        fprintf(stderr, "diffsbi: %s: only %zu finite test simulations\n", cmd, n);
        rc = 1;
    } else {
        run_info ri = {.model = o->model_label ? o->model_label : "(in memory)",
                       .task = sim->name ? sim->name : "(simulator)"};
        rc = diag_core(cmd, m, dsbi_dataset_theta(ds), dsbi_dataset_x(ds), n, names, &ri, o, res);
        if (!rc && res) names = NULL; /* moved into res */
    }
    free_names(names, D);
    dsbi_dataset_free(ds);
    return rc;
}

int cmd_diagnose(int argc, char **argv) {
    enum { O_MODEL = 1, O_TASK, O_DATA, O_THETA, O_X, O_N, O_DRAWS, O_SEED, O_THREADS, O_QUIET,
           O_SVG };
    static const struct option own[] = {
        {"model", required_argument, 0, O_MODEL}, {"task", required_argument, 0, O_TASK},
        {"data", required_argument, 0, O_DATA},   {"theta", required_argument, 0, O_THETA},
        {"x", required_argument, 0, O_X},         {"n", required_argument, 0, O_N},
        {"draws", required_argument, 0, O_DRAWS}, {"out", required_argument, 0, 'o'},
        {"seed", required_argument, 0, O_SEED},   {"threads", required_argument, 0, O_THREADS},
        {"quiet", no_argument, 0, O_QUIET},       {"svg", no_argument, 0, O_SVG},
        {"help", no_argument, 0, 'h'}};
    struct option *opts = cli_options(own, sizeof own / sizeof own[0], 0, 1);
    if (!opts) return 1;
    const char *model = NULL, *task = NULL, *data = NULL, *theta_spec = NULL, *x_spec = NULL;
    cli_diag_opts o = cli_diag_opts_default();
    int c, idx, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, &idx)) != -1) {
        switch (c) {
        case O_MODEL: model = optarg; break;
        case O_TASK: task = optarg; break;
        case O_DATA: data = optarg; break;
        case O_THETA: theta_spec = optarg; break;
        case O_X: x_spec = optarg; break;
        case O_N: if (cli_parse_size(CMD_NAME, "--n", optarg, 2, 10000000, &o.n)) rc = 2; break;
        case O_DRAWS: if (cli_parse_size(CMD_NAME, "--draws", optarg, 2, 1000000, &o.draws)) rc = 2; break;
        case 'o': o.out = optarg; break;
        case O_SEED: if (cli_parse_u64(CMD_NAME, "--seed", optarg, &o.seed)) rc = 2; break;
        case O_THREADS: if (cli_parse_size(CMD_NAME, "--threads", optarg, 1, 1024, &o.threads)) rc = 2; break;
        case O_QUIET: o.quiet = 1; break;
        case O_SVG: o.svg = 1; break;
        case 'h': help(); free(opts); return 0;
        default:
            if (c >= CLI_SOPT_BASE) {
                if (cli_sample_option(CMD_NAME, opts[idx].name, optarg, &o.sc) < 0) rc = 2;
            } else {
                rc = cli_usage_error(CMD_NAME, "unknown option");
            }
        }
        if (rc) {
            free(opts);
            return rc;
        }
    }
    free(opts);
    if (optind < argc) return cli_usage_error(CMD_NAME, "unexpected argument '%s'", argv[optind]);
    if (!model) return cli_usage_error(CMD_NAME, "--model is required");
    if (!task == !data) return cli_usage_error(CMD_NAME, "give exactly one of --task and --data");
    if ((theta_spec || x_spec) && !data)
        return cli_usage_error(CMD_NAME, "--theta and --x go with --data");
    o.model_label = model;

    dsbi_simulator sim;
    if (task && dsbi_task_get(task, &sim) != DSBI_STATUS_OK)
        return cli_usage_error(CMD_NAME, "unknown task '%s' (see 'diffsbi tasks')", task);
    dsbi_model *m = dsbi_model_load(model);
    if (!m) return cli_fail_msg(CMD_NAME);
    if (task) {
        rc = cli_diagnose_run(CMD_NAME, m, &sim, &o, NULL);
        dsbi_model_free(m);
        return rc;
    }

    /* ---- the test set from a file */
    const size_t D = dsbi_model_dim_theta(m), K = dsbi_model_dim_x(m);
    float *theta = NULL, *x = NULL;
    char **names = calloc(D, sizeof *names);
    if (!names) {
        rc = 1;
        fprintf(stderr, "diffsbi: diagnose: out of memory\n");
        goto done;
    }
    size_t n = read_test_file(data, theta_spec, x_spec, D, K, o.n, &theta, &x, names);
    if (n < 2) {
        if (theta && x)
            fprintf(stderr, "diffsbi: diagnose: %s: need at least 2 usable rows, found %zu\n",
                    data, n);
        rc = 1;
        goto done;
    }
    for (size_t j = 0; j < D; j++) {
        const char *nm = dsbi_model_theta_name(m, j);
        if (nm) {
            free(names[j]);
            names[j] = strdup(nm);
        }
        if (!names[j]) {
            rc = 1;
            fprintf(stderr, "diffsbi: diagnose: out of memory\n");
            goto done;
        }
    }
    run_info ri = {.model = model, .data = data};
    rc = diag_core(CMD_NAME, m, theta, x, n, names, &ri, &o, NULL);

done:
    free_names(names, D);
    free(theta);
    free(x);
    dsbi_model_free(m);
    return rc;
}
