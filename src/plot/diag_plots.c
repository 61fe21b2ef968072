/*
 * Diagnostic figures (PNG or SVG by extension) built on plot.c's pieces
 * (plot_internal.h): the pair plot of posterior draws; and, from a
 * dsbi_calibration, the SBC rank-ECDF difference with its simultaneous band
 * (Säilynoja et al. 2022, as BayesFlow's calibration_ecdf(difference=True)),
 * coverage of central intervals, the TARP coverage curve (Lemos et al. 2023)
 * with a 95% Kolmogorov band (1.358/sqrt n), recovery (posterior mean vs
 * truth, +-1 sd) and z-score vs contraction (Schad et al. 2021). Per-parameter
 * figures share one grid: 300 x 270 px cells, up to 4 per row, under a 60 px
 * title band. Every figure is written atomically by dsbi_fig_finish.
 */
#include "plot/plot_internal.h"
#include <string.h>

#define GRID_CELL_W 300
#define GRID_CELL_H 270
#define GRID_COLS 4
#define GRID_TITLE_H 60
#define GRID_MAX_D ((size_t)GRID_COLS * ((32767 - GRID_TITLE_H) / GRID_CELL_H))
#define TARP_W 560
#define TARP_H 520
#define PAIRS_LEFT 70
#define PAIRS_TOP 50
#define PAIRS_BOTTOM 50
#define PAIRS_RIGHT 20
#define PAIRS_MAX_D 16
#define PAIRS_MAX_POINTS 20000 /* scatter at most this many points per set */
#define KS_95 1.3581           /* asymptotic 95% Kolmogorov quantile */

static const rgb col_band = HEX_RGB(0x9ecae1);

/* ---------------------------------------------------------------- small pieces */

static const char *param_name(const char *const *names, size_t j, char buf[32]) {
    if (names && names[j]) return names[j];
    snprintf(buf, 32, "theta_%zu", j + 1);
    return buf;
}

static void line(cairo_t *cr, const panel *p, double x0, double y0, double x1, double y1, rgb c,
                 double width, int dashed) {
    cairo_save(cr);
    if (dashed) {
        double dash[2] = {6.0, 4.0};
        cairo_set_dash(cr, dash, 2, 0.0);
    }
    set_color(cr, c, 1.0);
    cairo_set_line_width(cr, width);
    cairo_move_to(cr, map_x(p, x0), map_y(p, y0));
    cairo_line_to(cr, map_x(p, x1), map_y(p, y1));
    cairo_stroke(cr);
    cairo_restore(cr);
}

/* A short note on a white box in a panel corner: 0 upper left, 1 lower right. */
static void panel_note(cairo_t *cr, const panel *p, const char *const *lines, size_t n,
                       int corner) {
    dsbi_fig_set_font(cr, FONT_LEGEND - 1.0, 0);
    double w = 0.0, row = 16.0, pad = 5.0;
    for (size_t i = 0; i < n; i++) w = fmax(w, dsbi_fig_text_width(cr, lines[i]));
    double h = row * (double)n + 2 * pad - 4.0, bw = w + 2 * pad;
    double x = corner ? p->x + p->w - 6.0 - bw : p->x + 6.0;
    double y = corner ? p->y + p->h - 6.0 - h : p->y + 6.0;
    cairo_save(cr);
    set_color(cr, col_white, 0.85);
    cairo_rectangle(cr, x, y, bw, h);
    cairo_fill(cr);
    set_color(cr, col_text, 1.0);
    for (size_t i = 0; i < n; i++)
        dsbi_fig_text_at(cr, x + pad, y + pad + row * (double)i + 6.0, lines[i], 0.0, 0.5, 0.0);
    cairo_restore(cr);
}

/* Polyline through (x[k], y[k]) with the given y offset series. */
static void polyline(cairo_t *cr, const panel *p, const double *x, const double *y,
                     const double *y_minus, size_t n, size_t stride, rgb c, double width) {
    cairo_new_path(cr);
    for (size_t k = 0; k < n; k++) {
        double v = y[k * stride] - (y_minus ? y_minus[k] : 0.0);
        if (k == 0)
            cairo_move_to(cr, map_x(p, x[k]), map_y(p, v));
        else
            cairo_line_to(cr, map_x(p, x[k]), map_y(p, v));
    }
    set_color(cr, c, 1.0);
    cairo_set_line_width(cr, width);
    cairo_stroke(cr);
}

/* Filled region between lo[k] and hi[k] (minus y_minus[k]) over x[k]. */
static void band_fill(cairo_t *cr, const panel *p, const double *x, const double *lo,
                      const double *hi, const double *y_minus, size_t n, rgb c, double alpha) {
    cairo_new_path(cr);
    for (size_t k = 0; k < n; k++)
        cairo_line_to(cr, map_x(p, x[k]), map_y(p, hi[k] - (y_minus ? y_minus[k] : 0.0)));
    for (size_t k = n; k-- > 0;)
        cairo_line_to(cr, map_x(p, x[k]), map_y(p, lo[k] - (y_minus ? y_minus[k] : 0.0)));
    cairo_close_path(cr);
    set_color(cr, c, alpha);
    cairo_fill(cr);
}

static double point_alpha(size_t n) {
    return fmin(0.75, fmax(0.08, 8.0 / sqrt((double)(n ? n : 1))));
}

static void dot(cairo_t *cr, double x, double y, double r) {
    cairo_new_sub_path(cr);
    cairo_arc(cr, x, y, r, 0, 2 * M_PI);
}

/* ---------------------------------------------------------------- per-parameter grid */

typedef struct grid {
    figure fig;
    size_t d, cols;
} grid;

static int grid_check(const char *path, const dsbi_calibration *c) {
    if (!path) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "plot: path is NULL");
    if (!c || !c->param || c->d == 0 || c->n == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: no calibration results to plot", path);
    if (c->d > GRID_MAX_D)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: %zu parameters are too many for one figure",
                         path, c->d);
    return DSBI_STATUS_OK;
}

/* The title at the largest size (down to 11 pt) at which it fits the width;
 * the short form is tried once the long one needs shrinking below 15 pt. */
static void fit_title(cairo_t *cr, double width, double y, const char *title, const char *short_title) {
    const char *t = title;
    double size = FONT_TITLE;
    for (;; size -= 0.5) {
        dsbi_fig_set_font(cr, size, 1);
        if (dsbi_fig_text_width(cr, t) <= width - 24.0 || size <= 11.0) break;
        if (size <= 15.0 && t != short_title && short_title) t = short_title, size = FONT_TITLE + 0.5;
    }
    set_color(cr, col_text, 1.0);
    dsbi_fig_text_at(cr, width / 2, y, t, 0.5, 0.5, 0.0);
}

static int grid_open(grid *g, const char *path, size_t d, const char *title,
                     const char *short_title) {
    g->d = d;
    g->cols = d < GRID_COLS ? d : GRID_COLS;
    size_t rows = (d + GRID_COLS - 1) / GRID_COLS;
    int st = dsbi_fig_open(&g->fig, path, (int)(g->cols * GRID_CELL_W),
                           (int)(rows * GRID_CELL_H + GRID_TITLE_H));
    if (st) return st;
    fit_title(g->fig.cr, (double)(g->cols * GRID_CELL_W), GRID_TITLE_H / 2.0 + 2.0, title,
              short_title);
    return DSBI_STATUS_OK;
}

/* The plotting area of cell j (data range still unset). */
static panel grid_panel(const grid *g, size_t j) {
    double x0 = (double)(j % g->cols) * GRID_CELL_W;
    double y0 = GRID_TITLE_H + (double)(j / g->cols) * GRID_CELL_H;
    return (panel){.x = x0 + 70, .y = y0 + 30, .w = GRID_CELL_W - 70 - 18,
                   .h = GRID_CELL_H - 30 - 58, .x_lo = 0, .x_hi = 1, .y_lo = 0, .y_hi = 1};
}

static void unit_ticks(tick_set *t) { dsbi_fig_ticks_linear(t, 0.0, 1.0, 4, 0); }

/* ---------------------------------------------------------------- SBC ECDF */

int dsbi_plot_sbc_ecdf(const char *path, const dsbi_calibration *c, const char *const *names) {
    int st = grid_check(path, c);
    if (st) return st;
    if (c->n_ecdf == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: no ECDF points to plot", path);
    size_t m = c->n_ecdf + 2;
    double *x = dsbi_malloc(4 * m, sizeof *x);
    if (!x) return DSBI_STATUS_ERR_NOMEM;
    char title[128];
    snprintf(title, sizeof title,
             "SBC rank ECDF " MINUS " uniform, %.0f%% simultaneous band (n = %zu, L = %zu)",
             100.0 * (1.0 - c->band_alpha), c->n, c->L);
    grid g;
    char short_title[96];
    snprintf(short_title, sizeof short_title, "SBC rank ECDF " MINUS " uniform (%.0f%% band)",
             100.0 * (1.0 - c->band_alpha));
    if ((st = grid_open(&g, path, c->d, title, short_title))) {
        free(x);
        return st;
    }
    cairo_t *cr = g.fig.cr;
    double *lo = x + m, *hi = lo + m, *e = hi + m;
    x[0] = 0.0, x[m - 1] = 1.0;
    lo[0] = hi[0] = lo[m - 1] = hi[m - 1] = 0.0;
    for (size_t k = 0; k < c->n_ecdf; k++) {
        x[k + 1] = c->ecdf_p[k];
        lo[k + 1] = c->band_lo[k] - c->ecdf_p[k];
        hi[k + 1] = c->band_hi[k] - c->ecdf_p[k];
    }
    double ymax = 0.0;
    for (size_t k = 0; k < m; k++) ymax = fmax(ymax, fmax(fabs(lo[k]), fabs(hi[k])));
    for (size_t j = 0; j < c->d; j++)
        for (size_t k = 0; k < c->n_ecdf; k++)
            ymax = fmax(ymax, fabs(c->ecdf[k * c->d + j] - c->ecdf_p[k]));
    ymax = ymax > 0 ? 1.15 * ymax : 0.1;
    for (size_t j = 0; j < c->d; j++) {
        panel p = grid_panel(&g, j);
        p.y_lo = -ymax, p.y_hi = ymax;
        e[0] = e[m - 1] = 0.0;
        for (size_t k = 0; k < c->n_ecdf; k++)
            e[k + 1] = c->ecdf[k * c->d + j] - c->ecdf_p[k];
        tick_set xt, yt;
        unit_ticks(&xt);
        dsbi_fig_ticks_linear(&yt, p.y_lo, p.y_hi, 5, 0);
        dsbi_fig_panel_grid(cr, &p, &xt, &yt);
        dsbi_fig_panel_clip(cr, &p);
        band_fill(cr, &p, x, lo, hi, NULL, m, col_band, 0.45);
        line(cr, &p, 0, 0, 1, 0, col_muted, 1.2, 1);
        const dsbi_param_calibration *P = &c->param[j];
        polyline(cr, &p, x, e, NULL, m, 1, P->sbc_outside ? col_red : col_navy, 2.0);
        cairo_restore(cr);
        char b1[64], b2[64], nb[32];
        snprintf(b1, sizeof b1, "log " "\xce\xb3" " = %.2f", P->log_gamma);
        snprintf(b2, sizeof b2, "%s", dsbi_verdict_name(P->verdict));
        const char *note[2] = {b1, b2};
        panel_note(cr, &p, note, 2, 0);
        dsbi_fig_panel_axes(cr, &p, &xt, &yt, "fractional rank",
                            j % g.cols == 0 ? "ECDF difference" : NULL, param_name(names, j, nb));
    }
    free(x);
    return dsbi_fig_finish(&g.fig);
}

/* ---------------------------------------------------------------- coverage */

int dsbi_plot_coverage(const char *path, const dsbi_calibration *c, const char *const *names) {
    int st = grid_check(path, c);
    if (st) return st;
    if (c->n_levels == 0) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: no coverage levels", path);
    char title[128];
    snprintf(title, sizeof title, "Coverage of central credible intervals (n = %zu)", c->n);
    grid g;
    if ((st = grid_open(&g, path, c->d, title, "Interval coverage"))) return st;
    cairo_t *cr = g.fig.cr;
    for (size_t j = 0; j < c->d; j++) {
        panel p = grid_panel(&g, j);
        tick_set xt, yt;
        unit_ticks(&xt);
        unit_ticks(&yt);
        dsbi_fig_panel_grid(cr, &p, &xt, &yt);
        dsbi_fig_panel_clip(cr, &p);
        band_fill(cr, &p, c->levels, c->coverage_lo, c->coverage_hi, NULL, c->n_levels, col_band,
                  0.45);
        line(cr, &p, 0, 0, 1, 1, col_muted, 1.2, 1);
        const dsbi_param_calibration *P = &c->param[j];
        polyline(cr, &p, c->levels, c->coverage + j, NULL, c->n_levels, c->d,
                 P->verdict == DSBI_VERDICT_CALIBRATED ? col_navy : col_red, 2.0);
        cairo_restore(cr);
        char b1[64], b2[64], nb[32];
        snprintf(b1, sizeof b1, "calibration error %.3f", P->coverage_error);
        snprintf(b2, sizeof b2, "%s", dsbi_verdict_name(P->verdict));
        const char *note[2] = {b1, b2};
        panel_note(cr, &p, note, 2, 0);
        dsbi_fig_panel_axes(cr, &p, &xt, &yt, "nominal level",
                            j % g.cols == 0 ? "empirical coverage" : NULL,
                            param_name(names, j, nb));
    }
    return dsbi_fig_finish(&g.fig);
}

/* ---------------------------------------------------------------- TARP */

typedef struct curve_data {
    const panel *p;
    const double *x, *y;
    size_t n;
} curve_data;

/* Points of the curve, of the diagonal and of its band inside a pixel box. */
static size_t tarp_occupancy(const void *ctx, double x0, double y0, double x1, double y1) {
    const curve_data *C = ctx;
    size_t k = 0;
    for (size_t i = 0; i < C->n; i++) {
        double px = map_x(C->p, C->x[i]);
        double ys[3] = {map_y(C->p, C->y[i]), map_y(C->p, C->x[i] + 0.1), map_y(C->p, C->x[i] - 0.1)};
        for (int j = 0; j < 3; j++) k += px >= x0 && px <= x1 && ys[j] >= y0 && ys[j] <= y1;
    }
    return k;
}

int dsbi_plot_tarp(const char *path, const dsbi_calibration *c) {
    if (!path) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "plot_tarp: path is NULL");
    if (!c || c->n_tarp < 2 || !c->tarp_alpha || !c->tarp_ecp)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: no TARP curve to plot", path);
    figure fig;
    int st = dsbi_fig_open(&fig, path, TARP_W, TARP_H);
    if (st) return st;
    cairo_t *cr = fig.cr;
    panel p = {.x = 80, .y = 56, .w = TARP_W - 80 - 28, .h = TARP_H - 56 - 66,
               .x_lo = 0, .x_hi = 1, .y_lo = 0, .y_hi = 1};
    tick_set xt, yt;
    dsbi_fig_ticks_linear(&xt, 0, 1, 5, 0);
    dsbi_fig_ticks_linear(&yt, 0, 1, 5, 0);
    dsbi_fig_panel_grid(cr, &p, &xt, &yt);
    dsbi_fig_panel_clip(cr, &p);
    double eps = KS_95 / sqrt((double)c->n);
    double bx[4] = {0, 1, 1, 0}, by[4] = {eps, 1 + eps, 1 - eps, -eps};
    cairo_new_path(cr);
    for (int k = 0; k < 4; k++) cairo_line_to(cr, map_x(&p, bx[k]), map_y(&p, by[k]));
    cairo_close_path(cr);
    set_color(cr, col_band, 0.45);
    cairo_fill(cr);
    line(cr, &p, 0, 0, 1, 1, col_muted, 1.2, 1);
    polyline(cr, &p, c->tarp_alpha, c->tarp_ecp, NULL, c->n_tarp, 1, col_navy, 2.4);
    cairo_restore(cr);
    dsbi_fig_panel_axes(cr, &p, &xt, &yt, "credibility level " "\xce\xb1",
                        "expected coverage", NULL);
    char b1[64], b2[64];
    snprintf(b1, sizeof b1, "area %.3f (MC level %.3f)", c->tarp_area, c->tarp_mc);
    snprintf(b2, sizeof b2, "signed area %+.3f", c->tarp_signed);
    const char *note[2] = {b1, b2};
    panel_note(cr, &p, note, 2, 1);
    legend_entry keys[3] = {{"TARP coverage", col_navy, 1, MARK_NONE},
                            {"ideal", col_muted, 1, MARK_NONE},
                            {"95% band (calibrated)", col_band, 1, MARK_NONE}};
    curve_data C = {&p, c->tarp_alpha, c->tarp_ecp, c->n_tarp};
    dsbi_fig_legend(cr, &p, keys, 3, tarp_occupancy, &C);
    char title[96];
    snprintf(title, sizeof title, "TARP coverage (n = %zu, L = %zu)", c->n, c->L);
    dsbi_fig_title(cr, TARP_W, 28.0, title);
    return dsbi_fig_finish(&fig);
}

/* ---------------------------------------------------------------- recovery */

static void range_pad(double *lo, double *hi, double frac) {
    if (!(*hi > *lo)) {
        double h = *lo != 0.0 ? 0.1 * fabs(*lo) : 0.5;
        *lo -= h, *hi += h;
    }
    double pad = frac * (*hi - *lo);
    *lo -= pad, *hi += pad;
}

/* theta* of test set i for parameter j: mean - z sd (z = (mean - truth)/sd). */
static double truth_of(const dsbi_calibration *c, size_t i, size_t j) {
    size_t k = i * c->d + j;
    double z = c->z_score[k];
    return isfinite(z) ? c->post_mean[k] - z * c->post_sd[k] : NAN;
}

int dsbi_plot_recovery(const char *path, const dsbi_calibration *c, const char *const *names) {
    int st = grid_check(path, c);
    if (st) return st;
    char title[128];
    snprintf(title, sizeof title, "Recovery: posterior mean " "\xc2\xb1" " sd vs truth (n = %zu)",
             c->n);
    grid g;
    if ((st = grid_open(&g, path, c->d, title, "Recovery"))) return st;
    cairo_t *cr = g.fig.cr;
    double alpha = point_alpha(c->n);
    for (size_t j = 0; j < c->d; j++) {
        panel p = grid_panel(&g, j);
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < c->n; i++) {
            double t = truth_of(c, i, j), m = c->post_mean[i * c->d + j];
            if (isfinite(t)) lo = fmin(lo, t), hi = fmax(hi, t);
            if (isfinite(m)) lo = fmin(lo, m), hi = fmax(hi, m);
        }
        if (!(hi >= lo)) lo = 0, hi = 1;
        range_pad(&lo, &hi, 0.06);
        p.x_lo = p.y_lo = lo, p.x_hi = p.y_hi = hi;
        tick_set xt, yt;
        dsbi_fig_ticks_fit(cr, &xt, lo, hi, p.w, 0);
        dsbi_fig_ticks_linear(&yt, lo, hi, 5, 0);
        dsbi_fig_panel_grid(cr, &p, &xt, &yt);
        dsbi_fig_panel_clip(cr, &p);
        line(cr, &p, lo, lo, hi, hi, col_muted, 1.2, 1);
        cairo_set_line_width(cr, 1.0);
        set_color(cr, col_blue, 0.6 * alpha);
        for (size_t i = 0; i < c->n; i++) {
            double t = truth_of(c, i, j), m = c->post_mean[i * c->d + j], s = c->post_sd[i * c->d + j];
            if (!isfinite(t) || !isfinite(s)) continue;
            cairo_move_to(cr, map_x(&p, t), map_y(&p, m - s));
            cairo_line_to(cr, map_x(&p, t), map_y(&p, m + s));
        }
        cairo_stroke(cr);
        set_color(cr, col_navy, fmin(1.0, 1.3 * alpha));
        for (size_t i = 0; i < c->n; i++) {
            double t = truth_of(c, i, j), m = c->post_mean[i * c->d + j];
            if (isfinite(t)) dot(cr, map_x(&p, t), map_y(&p, m), 2.4);
        }
        cairo_fill(cr);
        cairo_restore(cr);
        const dsbi_param_calibration *P = &c->param[j];
        char b1[64], b2[64], nb[32];
        snprintf(b1, sizeof b1, "r = %.3f", P->correlation);
        snprintf(b2, sizeof b2, "NRMSE = %.3f", P->nrmse);
        const char *note[2] = {b1, b2};
        panel_note(cr, &p, note, 2, 0);
        dsbi_fig_panel_axes(cr, &p, &xt, &yt, "true value",
                            j % g.cols == 0 ? "posterior mean" : NULL, param_name(names, j, nb));
    }
    return dsbi_fig_finish(&g.fig);
}

/* ---------------------------------------------------------------- z-score vs contraction */

int dsbi_plot_z_contraction(const char *path, const dsbi_calibration *c,
                            const char *const *names) {
    int st = grid_check(path, c);
    if (st) return st;
    char title[128];
    snprintf(title, sizeof title, "Posterior z-score vs contraction (n = %zu)", c->n);
    grid g;
    if ((st = grid_open(&g, path, c->d, title, "z-score vs contraction"))) return st;
    cairo_t *cr = g.fig.cr;
    double alpha = point_alpha(c->n);
    for (size_t j = 0; j < c->d; j++) {
        panel p = grid_panel(&g, j);
        double clo = 0.0, zmax = 3.0;
        for (size_t i = 0; i < c->n; i++) {
            double k = c->contraction[i * c->d + j], z = c->z_score[i * c->d + j];
            if (isfinite(k)) clo = fmin(clo, k);
            if (isfinite(z)) zmax = fmax(zmax, fabs(z));
        }
        clo = fmax(clo, -2.0); /* wider-than-prior posteriors pile up on the edge */
        zmax = fmin(zmax, 8.0) * 1.08;
        p.x_lo = clo - 0.04 * (1.0 - clo), p.x_hi = 1.04;
        p.y_lo = -zmax, p.y_hi = zmax;
        tick_set xt, yt;
        dsbi_fig_ticks_fit(cr, &xt, p.x_lo, p.x_hi, p.w, 0);
        dsbi_fig_ticks_linear(&yt, p.y_lo, p.y_hi, 5, 0);
        dsbi_fig_panel_grid(cr, &p, &xt, &yt);
        dsbi_fig_panel_clip(cr, &p);
        cairo_rectangle(cr, p.x, map_y(&p, 2.0), p.w, map_y(&p, -2.0) - map_y(&p, 2.0));
        set_color(cr, col_band, 0.3);
        cairo_fill(cr);
        line(cr, &p, p.x_lo, 0, p.x_hi, 0, col_muted, 1.2, 1);
        set_color(cr, col_navy, alpha);
        for (size_t i = 0; i < c->n; i++) {
            double k = c->contraction[i * c->d + j], z = c->z_score[i * c->d + j];
            if (!isfinite(k) || !isfinite(z)) continue;
            k = fmax(k, p.x_lo), z = fmax(fmin(z, p.y_hi), p.y_lo); /* clamp onto the edge */
            dot(cr, map_x(&p, k), map_y(&p, z), 2.4);
        }
        cairo_fill(cr);
        cairo_restore(cr);
        const dsbi_param_calibration *P = &c->param[j];
        char b1[64], b2[64], nb[32];
        snprintf(b1, sizeof b1, "z: mean %+.2f, sd %.2f", P->z_mean, P->z_sd);
        snprintf(b2, sizeof b2, "contraction %.3f", P->contraction);
        const char *note[2] = {b1, b2};
        panel_note(cr, &p, note, 2, 0);
        dsbi_fig_panel_axes(cr, &p, &xt, &yt, "posterior contraction",
                            j % g.cols == 0 ? "posterior z-score" : NULL, param_name(names, j, nb));
    }
    return dsbi_fig_finish(&g.fig);
}

/* ---------------------------------------------------------------- pair plot */

static int has_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) return 1;
    return 0;
}

/* Histogram as a density (counts / (n bin width)) so two sets of different
 * sizes share one axis. Returns the largest density. */
static double hist_density(const float *col, size_t n, size_t d, double lo, double hi,
                           size_t nbins, double *dens) {
    dsbi_fig_hist_count(col, n, d, lo, hi, nbins, dens);
    double total = 0.0, mx = 0.0;
    for (size_t b = 0; b < nbins; b++) total += dens[b];
    double scale = total > 0 ? (double)nbins / ((hi - lo) * total) : 0.0;
    for (size_t b = 0; b < nbins; b++) dens[b] *= scale, mx = fmax(mx, dens[b]);
    return mx;
}

static void hist_outline(cairo_t *cr, const panel *p, const double *dens, size_t nbins, double lo,
                         double hi, rgb c) {
    double bw = (hi - lo) / (double)nbins;
    cairo_new_path(cr);
    cairo_move_to(cr, map_x(p, lo), map_y(p, 0));
    for (size_t b = 0; b < nbins; b++) {
        cairo_line_to(cr, map_x(p, lo + bw * (double)b), map_y(p, dens[b]));
        cairo_line_to(cr, map_x(p, lo + bw * (double)(b + 1)), map_y(p, dens[b]));
    }
    cairo_line_to(cr, map_x(p, hi), map_y(p, 0));
    set_color(cr, c, 1.0);
    cairo_set_line_width(cr, 1.8);
    cairo_stroke(cr);
}

static void scatter(cairo_t *cr, const panel *p, const float *v, size_t n, size_t d, size_t jx,
                    size_t jy, rgb c, double r) {
    size_t step = n > PAIRS_MAX_POINTS ? (n + PAIRS_MAX_POINTS - 1) / PAIRS_MAX_POINTS : 1;
    set_color(cr, c, point_alpha(n / step));
    size_t k = 0;
    for (size_t i = 0; i < n; i += step) {
        double x = v[i * d + jx], y = v[i * d + jy];
        if (!isfinite(x) || !isfinite(y)) continue;
        dot(cr, map_x(p, x), map_y(p, y), r);
        if (++k % 512 == 0) cairo_fill(cr); /* keep paths short */
    }
    cairo_fill(cr);
}

int dsbi_plot_pairs(const char *path, const float *samples, size_t n, size_t d,
                    const char *const *names, const float *ref, size_t n_ref,
                    const float *truth) {
    if (!path) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "plot_pairs: path is NULL");
    if (!samples || n == 0 || d == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: no samples to plot (n = %zu, d = %zu)",
                         path, n, d);
    if (d > PAIRS_MAX_D)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "%s: a pair plot of %zu parameters is unreadable (at most %d); use "
                         "marginals", path, d, PAIRS_MAX_D);
    if (n > DSBI_MAX_ALLOC / d || (ref && n_ref > DSBI_MAX_ALLOC / d))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: too many samples", path);
    if (!has_finite(samples, n * d))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: every sample value is non-finite", path);
    if (!ref) n_ref = 0;

    const double cs = d <= 4 ? 220.0 : fmax(110.0, floor(880.0 / (double)d));
    const double gap = 8.0;
    int W = (int)(PAIRS_LEFT + cs * (double)d + PAIRS_RIGHT), H = (int)(PAIRS_TOP + cs * (double)d + PAIRS_BOTTOM);
    double lo[PAIRS_MAX_D], hi[PAIRS_MAX_D];
    for (size_t j = 0; j < d; j++) {
        double a, b, ra = INFINITY, rb = -INFINITY;
        dsbi_fig_finite_range(samples + j, n, d, &a, &b);
        if (n_ref) dsbi_fig_finite_range(ref + j, n_ref, d, &ra, &rb);
        a = fmin(a, ra), b = fmax(b, rb);
        if (truth && isfinite(truth[j])) a = fmin(a, truth[j]), b = fmax(b, truth[j]);
        if (!(b >= a)) a = 0, b = 1;
        range_pad(&a, &b, 0.05);
        lo[j] = a, hi[j] = b;
    }
    figure fig;
    int st = dsbi_fig_open(&fig, path, W, H);
    if (st) return st;
    cairo_t *cr = fig.cr;
    double r = cs >= 200 ? 1.6 : 1.2;
    for (size_t row = 0; row < d; row++) {
        for (size_t col = 0; col <= row; col++) {
            panel p = {.x = PAIRS_LEFT + cs * (double)col + gap / 2,
                       .y = PAIRS_TOP + cs * (double)row + gap / 2, .w = cs - gap, .h = cs - gap};
            p.x_lo = lo[col], p.x_hi = hi[col];
            /* ticks from the inner 84% only, so labels of neighbouring cells never touch */
            const double in_x = 0.08 * (p.x_hi - p.x_lo);
            tick_set xt, yt;
            dsbi_fig_set_font(cr, FONT_TICK, 0);
            dsbi_fig_ticks_fit(cr, &xt, p.x_lo + in_x, p.x_hi - in_x, p.w, 0);
            if (row == col) {
                size_t nb = (size_t)ceil(2.0 * cbrt((double)n));
                nb = nb < HIST_MIN_BINS ? HIST_MIN_BINS : nb > 40 ? 40 : nb;
                double dens[HIST_MAX_BINS], rdens[HIST_MAX_BINS], mx;
                mx = hist_density(samples + col, n, d, lo[col], hi[col], nb, dens);
                size_t rnb = 0;
                if (n_ref) {
                    rnb = (size_t)ceil(2.0 * cbrt((double)n_ref));
                    rnb = rnb < HIST_MIN_BINS ? HIST_MIN_BINS : rnb > 40 ? 40 : rnb;
                    mx = fmax(mx, hist_density(ref + col, n_ref, d, lo[col], hi[col], rnb, rdens));
                }
                p.y_lo = 0, p.y_hi = mx > 0 ? 1.1 * mx : 1;
                dsbi_fig_panel_grid(cr, &p, &xt, NULL);
                dsbi_fig_panel_clip(cr, &p);
                dsbi_fig_hist_draw(cr, &p, dens, nb, lo[col], hi[col], col_blue);
                if (n_ref) hist_outline(cr, &p, rdens, rnb, lo[col], hi[col], col_orange);
                if (truth && isfinite(truth[col]))
                    line(cr, &p, truth[col], p.y_lo, truth[col], p.y_hi, col_red, 2.2, 0);
                cairo_restore(cr);
                dsbi_fig_panel_axes(cr, &p, row == d - 1 ? &xt : NULL, NULL, NULL, NULL, NULL);
            } else {
                p.y_lo = lo[row], p.y_hi = hi[row];
                const double in_y = 0.08 * (p.y_hi - p.y_lo);
                dsbi_fig_ticks_linear(&yt, p.y_lo + in_y, p.y_hi - in_y, (int)(p.h / 55.0), 0);
                dsbi_fig_panel_grid(cr, &p, &xt, &yt);
                dsbi_fig_panel_clip(cr, &p);
                if (n_ref) scatter(cr, &p, ref, n_ref, d, col, row, col_orange, r);
                scatter(cr, &p, samples, n, d, col, row, col_blue, r);
                if (truth && isfinite(truth[col]) && isfinite(truth[row])) {
                    line(cr, &p, truth[col], p.y_lo, truth[col], p.y_hi, col_red, 1.0, 1);
                    line(cr, &p, p.x_lo, truth[row], p.x_hi, truth[row], col_red, 1.0, 1);
                    cairo_save(cr);
                    cairo_translate(cr, map_x(&p, truth[col]), map_y(&p, truth[row]));
                    cairo_scale(cr, 0.55, 0.55);
                    dsbi_fig_mark(cr, 0, 0, MARK_TARGET, col_red, 1.0);
                    cairo_restore(cr);
                }
                cairo_restore(cr);
                dsbi_fig_panel_axes(cr, &p, row == d - 1 ? &xt : NULL, col == 0 ? &yt : NULL,
                                    NULL, NULL, NULL);
            }
        }
    }
    /* parameter names: under the bottom row and left of the first column */
    set_color(cr, col_text, 1.0);
    dsbi_fig_set_font(cr, FONT_LABEL, 0);
    for (size_t j = 0; j < d; j++) {
        char nb[32];
        const char *name = param_name(names, j, nb);
        dsbi_fig_text_at(cr, PAIRS_LEFT + cs * ((double)j + 0.5), (double)H - 16.0, name, 0.5, 1.0,
                         0.0);
        if (j > 0)
            dsbi_fig_text_at(cr, 16.0, PAIRS_TOP + cs * ((double)j + 0.5), name, 0.5, 1.0,
                             -M_PI / 2);
    }
    /* legend in the empty upper triangle */
    if (d >= 2 && (n_ref || truth)) {
        panel lp = {.x = PAIRS_LEFT + cs, .y = PAIRS_TOP, .w = cs * (double)(d - 1), .h = cs};
        legend_entry keys[3];
        size_t nk = 0;
        keys[nk++] = (legend_entry){"posterior draws", col_blue, 0, MARK_DOT};
        if (n_ref) keys[nk++] = (legend_entry){"reference", col_orange, 0, MARK_DOT};
        if (truth) keys[nk++] = (legend_entry){"true value", col_red, 0, MARK_TARGET};
        dsbi_fig_legend(cr, &lp, keys, nk, NULL, NULL);
    }
    char title[96];
    snprintf(title, sizeof title, "Posterior draws (n = %zu)", n);
    fit_title(cr, W, PAIRS_TOP / 2.0 + 2.0, title, "Posterior draws");
    return dsbi_fig_finish(&fig);
}
