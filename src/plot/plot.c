/*
 * Figures drawn with cairo: loss curves, marginal histograms and the
 * inverse-kinematics arm (BayesFlow tutorial), as PNG or SVG by extension.
 * The three figures share one set of pieces: a figure (surface + context +
 * temp file), panels that map data to pixels, 1-2-5 "nice" ticks (decades on
 * a log axis), one histogram routine and one legend. Sizes are fixed in pixels
 * (PLOT_* below; SVG uses px units). A figure is drawn into "<path>.tmp.<pid>"
 * and renamed over path, so a failure never leaves a partial file. Non-finite
 * values are skipped; cairo errors latch in the context and are checked once.
 * The pieces are shared with diag_plots.c through plot_internal.h (dsbi_fig_*).
 */
#include "internal.h"
#include "plot/plot_internal.h"
#include <cairo-svg.h>
#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---------------------------------------------------------------- sizes, fonts, colors */

/* Loss curves: 800 x 500 px. */
#define PLOT_LOSS_W 800
#define PLOT_LOSS_H 500
/* Marginals: one 300 x 260 px cell per parameter, up to 4 per row, so the
 * figure is 300 * min(d, 4) wide and 260 * ceil(d / 4) high. */
#define PLOT_MARG_CELL_W 300
#define PLOT_MARG_CELL_H 260
#define PLOT_MARG_COLS 4
/* Cairo image surfaces stop at 32767 px: 126 rows of cells, 504 parameters. */
#define PLOT_MARG_MAX_D ((size_t)PLOT_MARG_COLS * (32767 / PLOT_MARG_CELL_H))
/* Arm figure: 1200 x 600 px; a title band, the arm panel on the left half
 * (600 x 552) and a 2 x 2 grid of 300 x 276 marginal cells on the right. */
#define PLOT_ARM_W 1200
#define PLOT_ARM_H 600
#define PLOT_ARM_TITLE_H 48

#define LOSS_MAX_DOTS 60 /* loss curves with at most this many points get dots */

void dsbi_fig_set_font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, "sans", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

double dsbi_fig_text_width(cairo_t *cr, const char *s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* Height of digits and capitals above the baseline, for vertical anchoring. */
double dsbi_fig_cap_height(cairo_t *cr) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, "0", &e);
    return -e.y_bearing;
}

/* Draws s in the current font with its anchor at (x, y), rotated by angle:
 * ax = 0, 0.5, 1 anchors the left, center, right; ay = 0, 0.5, 1 the top,
 * middle, baseline of the capitals. */
void dsbi_fig_text_at(cairo_t *cr, double x, double y, const char *s, double ax, double ay,
                    double angle) {
    double w = dsbi_fig_text_width(cr, s), h = dsbi_fig_cap_height(cr);
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    cairo_move_to(cr, -ax * w, h * (1.0 - ay));
    cairo_show_text(cr, s);
    cairo_restore(cr);
}

/* ---------------------------------------------------------------- figure and atomic write */

static int fail_cairo(const char *path, const char *what, cairo_status_t cs) {
    int st = cs == CAIRO_STATUS_NO_MEMORY ? DSBI_STATUS_ERR_NOMEM : DSBI_STATUS_ERR_IO;
    return dsbi_fail(st, "%s: %s: %s", path, what, cairo_status_to_string(cs));
}

/* Releases everything and removes the temp file if it was created. */
static void figure_discard(figure *fig) {
    if (fig->cr) cairo_destroy(fig->cr);
    if (fig->surface) cairo_surface_destroy(fig->surface); /* closes an SVG stream */
    if (fig->tmp && fig->tmp_made) remove(fig->tmp);
    free(fig->tmp);
    fig->cr = NULL;
    fig->surface = NULL;
    fig->tmp = NULL;
}

int dsbi_fig_open(figure *fig, const char *path, int width, int height) {
    memset(fig, 0, sizeof *fig);
    fig->path = path;
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash) && strcasecmp(dot, ".png") == 0)
        fig->svg = 0;
    else if (dot && (!slash || dot > slash) && strcasecmp(dot, ".svg") == 0)
        fig->svg = 1;
    else
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "%s: unsupported figure format (use .png or .svg)", path);
    size_t len = strlen(path) + 32;
    fig->tmp = dsbi_malloc(len, 1);
    if (!fig->tmp) return DSBI_STATUS_ERR_NOMEM;
    snprintf(fig->tmp, len, "%s.tmp.%ld", path, (long)getpid());

    if (fig->svg) {
        fig->surface = cairo_svg_surface_create(fig->tmp, width, height);
        if (cairo_surface_status(fig->surface) == CAIRO_STATUS_SUCCESS) {
            fig->tmp_made = 1;
            cairo_svg_surface_set_document_unit(fig->surface, CAIRO_SVG_UNIT_PX);
        }
    } else {
        fig->surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
    }
    cairo_status_t cs = cairo_surface_status(fig->surface);
    if (cs == CAIRO_STATUS_SUCCESS) {
        fig->cr = cairo_create(fig->surface);
        cs = cairo_status(fig->cr);
    }
    if (cs != CAIRO_STATUS_SUCCESS) {
        figure_discard(fig);
        return fail_cairo(path, "cannot create figure", cs);
    }
    cairo_t *cr = fig->cr;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_BEST);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    return DSBI_STATUS_OK;
}

/* Writes the figure to the temp file, renames it over path and releases all. */
int dsbi_fig_finish(figure *fig) {
    cairo_status_t cs = cairo_status(fig->cr);
    if (cs == CAIRO_STATUS_SUCCESS) {
        cairo_destroy(fig->cr);
        fig->cr = NULL;
        cairo_surface_flush(fig->surface);
        if (fig->svg) {
            cairo_surface_finish(fig->surface); /* writes and closes the file */
            cs = cairo_surface_status(fig->surface);
        } else {
            fig->tmp_made = 1; /* a failed write may leave a partial file */
            cs = cairo_surface_write_to_png(fig->surface, fig->tmp);
        }
    }
    if (cs != CAIRO_STATUS_SUCCESS) {
        figure_discard(fig);
        return fail_cairo(fig->path, "cannot write figure", cs);
    }
    cairo_surface_destroy(fig->surface);
    fig->surface = NULL;
    if (rename(fig->tmp, fig->path) != 0) {
        int e = errno;
        figure_discard(fig);
        return dsbi_fail(DSBI_STATUS_ERR_IO, "%s: cannot move figure into place: %s",
                         fig->path, strerror(e));
    }
    free(fig->tmp);
    fig->tmp = NULL;
    return DSBI_STATUS_OK;
}

/* ---------------------------------------------------------------- ticks */

static double nice_step(double span, int target) {
    double raw = span / (target > 1 ? target : 1);
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * mag;
}

static int step_decimals(double step) {
    int d = (int)ceil(-log10(step) - 1e-9);
    return d < 0 ? 0 : d > 9 ? 9 : d;
}

/* Label m x 10^e as "m×10" + superscript e, or "10" + e when m is 1. */
static void label_scientific(tick *t, double v) {
    double a = fabs(v);
    int e = (int)floor(log10(a) + 1e-9);
    double m = a / pow(10.0, e);
    const char *sign = v < 0 ? MINUS : "";
    if (fabs(m - 1.0) < 1e-6)
        snprintf(t->text, sizeof t->text, "%s10", sign);
    else
        snprintf(t->text, sizeof t->text, "%s%.3g" TIMES "10", sign, m);
    snprintf(t->sup, sizeof t->sup, "%s%d", e < 0 ? MINUS : "", e < 0 ? -e : e);
}

static void tick_add(tick_set *tk, double v, int major) {
    if (tk->n >= MAX_TICKS) return;
    tick *t = &tk->t[tk->n++];
    t->v = v;
    t->major = major;
    t->text[0] = t->sup[0] = '\0';
}

/* Multiples of a 1-2-5 step inside [lo, hi], about target of them. */
void dsbi_fig_ticks_linear(tick_set *tk, double lo, double hi, int target, int integer) {
    double step = nice_step(hi - lo, target);
    if (integer && step < 1.0) step = 1.0;
    double amax = fmax(fabs(lo), fabs(hi));
    int sci = amax >= 1e5 || amax < 1e-3;
    tk->n = 0;
    for (double k = ceil(lo / step - 1e-9); k * step <= hi + 1e-9 * step; k++) {
        double v = k * step;
        if (fabs(v) < 1e-9 * step) v = 0.0;
        tick_add(tk, v, 1);
        if (tk->n == MAX_TICKS) break;
        tick *t = &tk->t[tk->n - 1];
        if (v == 0.0)
            snprintf(t->text, sizeof t->text, "0");
        else if (sci)
            label_scientific(t, v);
        else
            snprintf(t->text, sizeof t->text, "%s%.*f", v < 0 ? MINUS : "", step_decimals(step),
                     fabs(v));
    }
}

/* Ticks of a log axis spanning [lo10, hi10] in log10 units: labeled decades
 * (every k-th one if there are many), minor 2..9 marks, and labeled 2 and 5
 * when the axis spans less than three decades. */
void dsbi_fig_ticks_log(tick_set *tk, double lo10, double hi10) {
    int k0 = (int)ceil(lo10 - 1e-9), k1 = (int)floor(hi10 + 1e-9);
    int decades = k1 - k0 + 1, every = decades > 7 ? (decades + 5) / 6 : 1;
    int fine = decades < 3;
    tk->n = 0;
    for (int k = (int)floor(lo10); k <= (int)ceil(hi10); k++) {
        for (int m = 1; m <= 9; m++) {
            double l = k + log10((double)m);
            if (l < lo10 - 1e-9 || l > hi10 + 1e-9) continue;
            int major = m == 1 ? ((k % every) + every) % every == 0 : fine && (m == 2 || m == 5);
            if (!major && every > 1) continue;
            double v = m * pow(10.0, k);
            tick_add(tk, v, major);
            tick *t = &tk->t[tk->n - 1];
            if (!major) continue;
            if (k >= -3 && k <= 4)
                snprintf(t->text, sizeof t->text, "%.*f", k < 0 ? -k : 0, v);
            else
                label_scientific(t, v);
        }
    }
}

double dsbi_fig_tick_label_width(cairo_t *cr, const tick *t) {
    dsbi_fig_set_font(cr, FONT_TICK, 0);
    double w = dsbi_fig_text_width(cr, t->text);
    if (t->sup[0]) {
        dsbi_fig_set_font(cr, FONT_TICK * SUP_SCALE, 0);
        w += dsbi_fig_text_width(cr, t->sup) + 1.0;
        dsbi_fig_set_font(cr, FONT_TICK, 0);
    }
    return w;
}

/* Linear ticks whose labels fit side by side on an axis width px long. */
void dsbi_fig_ticks_fit(cairo_t *cr, tick_set *tk, double lo, double hi, double width, int integer) {
    int target = (int)(width / 70.0);
    if (target > 10) target = 10;
    for (; target >= 2; target--) {
        dsbi_fig_ticks_linear(tk, lo, hi, target, integer);
        if (tk->n < 2) return;
        double gap = (tk->t[1].v - tk->t[0].v) / (hi - lo) * width, wmax = 0.0;
        for (size_t i = 0; i < tk->n; i++) wmax = fmax(wmax, dsbi_fig_tick_label_width(cr, &tk->t[i]));
        if (gap >= wmax + 14.0) return;
    }
}

/* Draws a tick label with its optional superscript, anchored like dsbi_fig_text_at. */
static void tick_label(cairo_t *cr, double x, double y, const tick *t, double ax, double ay) {
    double w = dsbi_fig_tick_label_width(cr, t), h = dsbi_fig_cap_height(cr);
    double left = x - ax * w, base = y + h * (1.0 - ay);
    set_color(cr, col_text, 1.0);
    cairo_move_to(cr, left, base);
    cairo_show_text(cr, t->text);
    if (t->sup[0]) {
        double xs = left + dsbi_fig_text_width(cr, t->text) + 1.0;
        dsbi_fig_set_font(cr, FONT_TICK * SUP_SCALE, 0);
        cairo_move_to(cr, xs, base - 0.55 * h);
        cairo_show_text(cr, t->sup);
        dsbi_fig_set_font(cr, FONT_TICK, 0);
    }
}

/* ---------------------------------------------------------------- panels */

void dsbi_fig_panel_clip(cairo_t *cr, const panel *p) {
    cairo_save(cr);
    cairo_rectangle(cr, p->x, p->y, p->w, p->h);
    cairo_clip(cr);
}

/* Light grid lines at the major ticks (either tick set may be NULL). */
void dsbi_fig_panel_grid(cairo_t *cr, const panel *p, const tick_set *xt, const tick_set *yt) {
    cairo_save(cr);
    cairo_set_line_width(cr, 1.0);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    set_color(cr, col_grid, 1.0);
    for (size_t i = 0; xt && i < xt->n; i++) {
        if (!xt->t[i].major) continue;
        double x = snap(map_x(p, xt->t[i].v));
        cairo_move_to(cr, x, p->y);
        cairo_line_to(cr, x, p->y + p->h);
    }
    for (size_t i = 0; yt && i < yt->n; i++) {
        if (!yt->t[i].major) continue;
        double y = snap(map_y(p, yt->t[i].v));
        cairo_move_to(cr, p->x, y);
        cairo_line_to(cr, p->x + p->w, y);
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

/* Frame, outward tick marks, tick labels, axis titles and panel title. Any
 * of the tick sets and strings may be NULL. */
void dsbi_fig_panel_axes(cairo_t *cr, const panel *p, const tick_set *xt, const tick_set *yt,
                       const char *xlabel, const char *ylabel, const char *title) {
    double left = snap(p->x), top = snap(p->y);
    double right = snap(p->x + p->w), bottom = snap(p->y + p->h);
    cairo_save(cr);
    cairo_set_line_width(cr, 1.0);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    set_color(cr, col_frame, 1.0);
    cairo_rectangle(cr, left, top, right - left, bottom - top);
    for (size_t i = 0; xt && i < xt->n; i++) {
        double x = snap(map_x(p, xt->t[i].v));
        cairo_move_to(cr, x, bottom);
        cairo_line_to(cr, x, bottom + (xt->t[i].major ? 5.0 : 3.0));
    }
    for (size_t i = 0; yt && i < yt->n; i++) {
        double y = snap(map_y(p, yt->t[i].v));
        cairo_move_to(cr, left, y);
        cairo_line_to(cr, left - (yt->t[i].major ? 5.0 : 3.0), y);
    }
    cairo_stroke(cr);

    dsbi_fig_set_font(cr, FONT_TICK, 0);
    double tick_h = dsbi_fig_cap_height(cr), y_label_w = 0.0;
    for (size_t i = 0; xt && i < xt->n; i++)
        if (xt->t[i].major) tick_label(cr, map_x(p, xt->t[i].v), bottom + 9.0, &xt->t[i], 0.5, 0.0);
    for (size_t i = 0; yt && i < yt->n; i++) {
        if (!yt->t[i].major) continue;
        tick_label(cr, left - 8.0, map_y(p, yt->t[i].v), &yt->t[i], 1.0, 0.5);
        y_label_w = fmax(y_label_w, dsbi_fig_tick_label_width(cr, &yt->t[i]));
    }

    set_color(cr, col_text, 1.0);
    dsbi_fig_set_font(cr, FONT_LABEL, 0);
    if (xlabel) dsbi_fig_text_at(cr, p->x + p->w / 2, bottom + 9.0 + tick_h + 12.0, xlabel, 0.5, 0.0, 0.0);
    if (ylabel)
        dsbi_fig_text_at(cr, left - 8.0 - y_label_w - 12.0, p->y + p->h / 2, ylabel, 0.5, 1.0, -M_PI / 2);
    if (title) {
        dsbi_fig_set_font(cr, FONT_PANEL_TITLE, 1);
        dsbi_fig_text_at(cr, p->x + p->w / 2, top - 10.0, title, 0.5, 1.0, 0.0);
    }
    cairo_restore(cr);
}

/* ---------------------------------------------------------------- markers and legend */

void dsbi_fig_mark(cairo_t *cr, double x, double y, mark m, rgb c, double alpha) {
    cairo_save(cr);
    if (m == MARK_DOT) {
        set_color(cr, c, alpha);
        cairo_arc(cr, x, y, 3.2, 0, 2 * M_PI);
        cairo_fill(cr);
    } else if (m == MARK_TARGET) {
        const double r = 8.0;
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
        for (int pass = 0; pass < 2; pass++) {
            set_color(cr, pass ? c : col_white, pass ? 1.0 : 0.9);
            cairo_set_line_width(cr, pass ? 2.6 : 5.0);
            cairo_move_to(cr, x - r, y - r);
            cairo_line_to(cr, x + r, y + r);
            cairo_move_to(cr, x - r, y + r);
            cairo_line_to(cr, x + r, y - r);
            cairo_stroke(cr);
            cairo_set_line_width(cr, pass ? 1.6 : 4.0);
            cairo_new_sub_path(cr);
            cairo_arc(cr, x, y, 1.75 * r, 0, 2 * M_PI);
            cairo_stroke(cr);
        }
    }
    cairo_restore(cr);
}

void dsbi_fig_legend(cairo_t *cr, const panel *p, const legend_entry *e, size_t n,
                        occupancy_fn occupancy, const void *ctx) {
    const double pad = 9.0, row = 21.0, key = 30.0, margin = 10.0;
    dsbi_fig_set_font(cr, FONT_LEGEND, 0);
    double wmax = 0.0;
    for (size_t i = 0; i < n; i++) wmax = fmax(wmax, dsbi_fig_text_width(cr, e[i].label));
    double w = 2 * pad + key + 8.0 + wmax, h = 2 * pad + row * (double)n - 6.0;
    /* corners in order of preference: upper right, upper left, lower right, lower left */
    double x_r = p->x + p->w - margin - w, y_b = p->y + p->h - margin - h;
    double cx[4] = {x_r, p->x + margin, x_r, p->x + margin};
    double cy[4] = {p->y + margin, p->y + margin, y_b, y_b};
    size_t best = 0, best_n = (size_t)-1;
    for (size_t c = 0; c < 4 && occupancy; c++) {
        size_t k = occupancy(ctx, cx[c], cy[c], cx[c] + w, cy[c] + h);
        if (k < best_n) best_n = k, best = c;
    }
    double x = snap(cx[best]), y = snap(cy[best]);
    cairo_save(cr);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, x, y, floor(w), floor(h));
    set_color(cr, col_white, 0.88);
    cairo_fill_preserve(cr);
    set_color(cr, col_border, 1.0);
    cairo_stroke(cr);
    for (size_t i = 0; i < n; i++) {
        double yc = y + pad + 7.0 + row * (double)i, x0 = x + pad, x1 = x + pad + key;
        if (e[i].line) {
            set_color(cr, e[i].color, 1.0);
            cairo_set_line_width(cr, 2.2);
            cairo_move_to(cr, x0, yc);
            cairo_line_to(cr, x1, yc);
            cairo_stroke(cr);
        }
        if (e[i].m == MARK_DOT) {
            dsbi_fig_mark(cr, x0, yc, MARK_DOT, e[i].color, 1.0);
            dsbi_fig_mark(cr, x1, yc, MARK_DOT, e[i].color, 1.0);
        } else if (e[i].m == MARK_TARGET) {
            cairo_save(cr);
            cairo_translate(cr, (x0 + x1) / 2, yc);
            cairo_scale(cr, 0.55, 0.55);
            dsbi_fig_mark(cr, 0, 0, MARK_TARGET, e[i].color, 1.0);
            cairo_restore(cr);
        }
        set_color(cr, col_text, 1.0);
        dsbi_fig_set_font(cr, FONT_LEGEND, 0);
        dsbi_fig_text_at(cr, x1 + 8.0, yc, e[i].label, 0.0, 0.5, 0.0);
    }
    cairo_restore(cr);
}

void dsbi_fig_title(cairo_t *cr, double width, double y, const char *title) {
    set_color(cr, col_text, 1.0);
    dsbi_fig_set_font(cr, FONT_TITLE, 1);
    dsbi_fig_text_at(cr, width / 2, y, title, 0.5, 0.5, 0.0);
}

/* ---------------------------------------------------------------- histograms */

/* Count of finite values of a strided column and their range. */
size_t dsbi_fig_finite_range(const float *v, size_t n, size_t stride, double *lo, double *hi) {
    size_t k = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double x = v[i * stride];
        if (!isfinite(x)) continue;
        *lo = fmin(*lo, x);
        *hi = fmax(*hi, x);
        k++;
    }
    return k;
}

/* Counts finite values of a strided column into nbins equal bins of [lo, hi]. */
double dsbi_fig_hist_count(const float *v, size_t n, size_t stride, double lo, double hi,
                         size_t nbins, double *counts) {
    double max = 0.0;
    for (size_t b = 0; b < nbins; b++) counts[b] = 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = v[i * stride];
        if (!isfinite(x) || x < lo || x > hi) continue;
        size_t b = (size_t)((x - lo) / (hi - lo) * (double)nbins);
        if (b >= nbins) b = nbins - 1;
        counts[b] += 1.0;
    }
    for (size_t b = 0; b < nbins; b++) max = fmax(max, counts[b]);
    return max;
}

/* Filled step outline of a histogram over [lo, hi] in panel p. */
void dsbi_fig_hist_draw(cairo_t *cr, const panel *p, const double *counts, size_t nbins,
                      double lo, double hi, rgb c) {
    double base = map_y(p, 0.0), bw = (hi - lo) / (double)nbins;
    cairo_save(cr);
    cairo_new_path(cr);
    cairo_move_to(cr, map_x(p, lo), base);
    for (size_t b = 0; b < nbins; b++) {
        double y = map_y(p, counts[b]);
        cairo_line_to(cr, map_x(p, lo + bw * (double)b), y);
        cairo_line_to(cr, map_x(p, lo + bw * (double)(b + 1)), y);
    }
    cairo_line_to(cr, map_x(p, hi), base);
    cairo_close_path(cr);
    set_color(cr, c, 0.45);
    cairo_fill_preserve(cr);
    set_color(cr, c, 1.0);
    cairo_set_line_width(cr, 1.4);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_MITER);
    cairo_stroke(cr);
    cairo_restore(cr);
}

/* One marginal panel inside a cell: histogram of a strided column, x ticks,
 * the name as title, and the true value (if given and finite) as a red line. */
void dsbi_fig_marginal(cairo_t *cr, double cx, double cy, double cw, double ch,
                          const float *col, size_t n, size_t stride, const char *name,
                          const float *truth) {
    panel p = {.x = floor(cx + 18.0), .y = floor(cy + 36.0), .w = floor(cw - 36.0),
               .h = floor(ch - 36.0 - 44.0), .x_lo = 0, .x_hi = 1, .y_lo = 0, .y_hi = 1};
    double lo, hi;
    size_t n_ok = dsbi_fig_finite_range(col, n, stride, &lo, &hi);
    if (n_ok == 0) {
        dsbi_fig_panel_axes(cr, &p, NULL, NULL, NULL, NULL, name);
        set_color(cr, col_muted, 1.0);
        dsbi_fig_set_font(cr, FONT_LABEL, 0);
        dsbi_fig_text_at(cr, p.x + p.w / 2, p.y + p.h / 2, "no finite values", 0.5, 0.5, 0.0);
        return;
    }
    if (hi - lo <= 1e-9 * fmax(1.0, fabs(lo))) { /* a constant column */
        double half = lo != 0.0 ? 0.1 * fabs(lo) : 0.5;
        lo -= half;
        hi += half;
    }
    double t = truth && isfinite(*truth) ? *truth : NAN;
    double v_lo = isnan(t) ? lo : fmin(lo, t), v_hi = isnan(t) ? hi : fmax(hi, t);
    double pad = 0.05 * (v_hi - v_lo);
    p.x_lo = v_lo - pad;
    p.x_hi = v_hi + pad;

    double counts[HIST_MAX_BINS];
    size_t nbins = (size_t)ceil(2.0 * cbrt((double)n_ok)); /* Rice rule */
    nbins = nbins < HIST_MIN_BINS ? HIST_MIN_BINS : nbins > HIST_MAX_BINS ? HIST_MAX_BINS : nbins;
    double max = dsbi_fig_hist_count(col, n, stride, lo, hi, nbins, counts);
    p.y_hi = 1.12 * max;

    tick_set xt;
    dsbi_fig_ticks_fit(cr, &xt, p.x_lo, p.x_hi, p.w, 0);
    dsbi_fig_panel_grid(cr, &p, &xt, NULL);
    dsbi_fig_panel_clip(cr, &p);
    dsbi_fig_hist_draw(cr, &p, counts, nbins, lo, hi, col_blue);
    if (!isnan(t)) {
        double x = map_x(&p, t);
        set_color(cr, col_red, 1.0);
        cairo_set_line_width(cr, 2.2);
        cairo_move_to(cr, x, p.y);
        cairo_line_to(cr, x, p.y + p.h);
        cairo_stroke(cr);
    }
    cairo_restore(cr); /* dsbi_fig_panel_clip */
    dsbi_fig_panel_axes(cr, &p, &xt, NULL, NULL, NULL, name);
}

/* ---------------------------------------------------------------- loss curves */

typedef struct loss_data {
    const panel *p;
    const double *series[2];
    size_t epochs;
} loss_data;

static int loss_ok(const panel *p, double v) { return isfinite(v) && (!p->y_log || v > 0.0); }

/* Points of both curves (and the 1/4, 1/2, 3/4 points of their segments)
 * inside the box. */
static size_t loss_occupancy(const void *ctx, double x0, double y0, double x1, double y1) {
    const loss_data *L = ctx;
    size_t k = 0;
    for (int s = 0; s < 2; s++) {
        const double *y = L->series[s];
        double px = NAN, py = NAN;
        for (size_t e = 0; y && e < L->epochs; e++) {
            if (!loss_ok(L->p, y[e])) continue;
            double qx = map_x(L->p, (double)(e + 1)), qy = map_y(L->p, y[e]);
            for (int j = isnan(px) ? 4 : 1; j <= 4; j++) {
                double f = j / 4.0, x = isnan(px) ? qx : px + f * (qx - px);
                double yy = isnan(py) ? qy : py + f * (qy - py);
                k += x >= x0 && x <= x1 && yy >= y0 && yy <= y1;
            }
            px = qx;
            py = qy;
        }
    }
    return k;
}

/* A curve through the finite points (gaps are bridged), with dots if sparse. */
static void loss_curve(cairo_t *cr, const panel *p, const double *y, size_t epochs, rgb c) {
    size_t n_ok = 0;
    cairo_new_path(cr);
    for (size_t e = 0; e < epochs; e++) {
        if (!loss_ok(p, y[e])) continue;
        double x = map_x(p, (double)(e + 1)), v = map_y(p, y[e]);
        if (n_ok++ == 0)
            cairo_move_to(cr, x, v);
        else
            cairo_line_to(cr, x, v);
    }
    set_color(cr, c, 1.0);
    cairo_set_line_width(cr, 2.2);
    cairo_stroke(cr);
    if (n_ok > LOSS_MAX_DOTS) return;
    for (size_t e = 0; e < epochs; e++)
        if (loss_ok(p, y[e]))
            dsbi_fig_mark(cr, map_x(p, (double)(e + 1)), map_y(p, y[e]), MARK_DOT, c, 1.0);
}

int dsbi_plot_loss(const char *path, const double *train, const double *val, size_t epochs) {
    if (!path) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "plot_loss: path is NULL");
    if (!train || epochs == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: no loss values to plot (epochs = %zu)",
                         path, epochs);
    double lo = INFINITY, hi = -INFINITY;
    size_t n_train = 0, n_val = 0;
    for (size_t e = 0; e < epochs; e++) {
        if (isfinite(train[e])) lo = fmin(lo, train[e]), hi = fmax(hi, train[e]), n_train++;
        if (val && isfinite(val[e])) lo = fmin(lo, val[e]), hi = fmax(hi, val[e]), n_val++;
    }
    if (n_train + n_val == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: every loss value is non-finite", path);

    figure fig;
    int st = dsbi_fig_open(&fig, path, PLOT_LOSS_W, PLOT_LOSS_H);
    if (st != DSBI_STATUS_OK) return st;
    cairo_t *cr = fig.cr;

    panel p = {.x = 80, .y = 56, .w = PLOT_LOSS_W - 80 - 28, .h = PLOT_LOSS_H - 56 - 66};
    double x_pad = epochs > 1 ? 0.02 * (double)(epochs - 1) : 0.5;
    p.x_lo = 1.0 - x_pad;
    p.x_hi = (double)epochs + x_pad;
    p.y_log = lo > 0.0 && hi > 10.0 * lo;
    if (p.y_log) {
        lo = log10(lo);
        hi = log10(hi);
    } else if (hi - lo <= 1e-12 * fmax(1.0, fabs(hi))) { /* flat curve */
        double half = hi != 0.0 ? 0.1 * fabs(hi) : 1.0;
        lo -= half;
        hi += half;
    }
    p.y_lo = lo - 0.05 * (hi - lo);
    p.y_hi = hi + 0.05 * (hi - lo);

    tick_set xt, yt;
    if (p.y_log)
        dsbi_fig_ticks_log(&yt, p.y_lo, p.y_hi);
    else
        dsbi_fig_ticks_linear(&yt, p.y_lo, p.y_hi, (int)(p.h / 55.0), 0);
    /* widen the left margin when the y labels are long (e.g. 1.25x10^5) */
    double y_label_w = 0.0;
    for (size_t i = 0; i < yt.n; i++)
        if (yt.t[i].major) y_label_w = fmax(y_label_w, dsbi_fig_tick_label_width(cr, &yt.t[i]));
    double left = ceil(24.0 + FONT_LABEL + 12.0 + y_label_w + 8.0);
    if (left > p.x) p.w -= left - p.x, p.x = left;
    dsbi_fig_ticks_fit(cr, &xt, p.x_lo, p.x_hi, p.w, 1);

    dsbi_fig_panel_grid(cr, &p, &xt, &yt);
    dsbi_fig_panel_clip(cr, &p);
    loss_curve(cr, &p, train, epochs, col_blue);
    if (val) loss_curve(cr, &p, val, epochs, col_orange);
    cairo_restore(cr);
    dsbi_fig_panel_axes(cr, &p, &xt, &yt, "epoch", p.y_log ? "loss (log scale)" : "loss", NULL);

    legend_entry keys[2];
    size_t n_keys = 0;
    if (n_train)
        keys[n_keys++] = (legend_entry){"train", col_blue, 1,
                                        n_train > LOSS_MAX_DOTS ? MARK_NONE : MARK_DOT};
    if (n_val)
        keys[n_keys++] = (legend_entry){"validation", col_orange, 1,
                                        n_val > LOSS_MAX_DOTS ? MARK_NONE : MARK_DOT};
    loss_data L = {&p, {train, val}, epochs};
    dsbi_fig_legend(cr, &p, keys, n_keys, loss_occupancy, &L);

    char title[96];
    snprintf(title, sizeof title, "%s loss (%zu epoch%s)",
             n_val ? "Training and validation" : "Training", epochs, epochs == 1 ? "" : "s");
    dsbi_fig_title(cr, PLOT_LOSS_W, 28.0, title);
    return dsbi_fig_finish(&fig);
}

/* ---------------------------------------------------------------- marginals */

static int any_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) return 1;
    return 0;
}

int dsbi_plot_marginals(const char *path, const float *samples, size_t n, size_t d,
                        const char *const *names, const float *truth) {
    if (!path) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "plot_marginals: path is NULL");
    if (!samples || n == 0 || d == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: no samples to plot (n = %zu, d = %zu)",
                         path, n, d);
    if (d > PLOT_MARG_MAX_D)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                         "%s: %zu parameters are too many for one figure (at most %zu)", path, d,
                         PLOT_MARG_MAX_D);
    if (n > DSBI_MAX_ALLOC / d || !any_finite(samples, n * d))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: every sample value is non-finite", path);

    size_t cols = d < PLOT_MARG_COLS ? d : PLOT_MARG_COLS;
    size_t rows = (d + PLOT_MARG_COLS - 1) / PLOT_MARG_COLS;
    figure fig;
    int st = dsbi_fig_open(&fig, path, (int)cols * PLOT_MARG_CELL_W, (int)rows * PLOT_MARG_CELL_H);
    if (st != DSBI_STATUS_OK) return st;
    for (size_t j = 0; j < d; j++) {
        char fallback[32];
        const char *name = names ? names[j] : NULL;
        if (!name) {
            snprintf(fallback, sizeof fallback, "theta_%zu", j + 1);
            name = fallback;
        }
        dsbi_fig_marginal(fig.cr, (double)(j % cols) * PLOT_MARG_CELL_W,
                      (double)(j / cols) * PLOT_MARG_CELL_H, PLOT_MARG_CELL_W, PLOT_MARG_CELL_H,
                      samples + j, n, d, name, truth ? truth + j : NULL);
    }
    return dsbi_fig_finish(&fig);
}

/* ---------------------------------------------------------------- inverse-kinematics arm */

/* Base, two elbows and hand of one arm as (x2, x1) points: segments of 0.5,
 * 0.5 and 1.0 at cumulative angles a1, a1+a2, a1+a2+a3 from the base (0, h),
 * so the hand is the simulator's (x2, x1). Returns 0 if theta is not finite. */
static int arm_joints(const float *th, double jx[4], double jy[4]) {
    static const double len[3] = {0.5, 0.5, 1.0};
    for (int k = 0; k < 4; k++)
        if (!isfinite(th[k])) return 0;
    double a = 0.0;
    jx[0] = 0.0;
    jy[0] = th[0];
    for (int s = 0; s < 3; s++) {
        a += th[s + 1];
        jx[s + 1] = jx[s] + len[s] * cos(a);
        jy[s + 1] = jy[s] + len[s] * sin(a);
    }
    return 1;
}

typedef struct arm_data {
    const panel *p;
    const float *theta; /* n_arms x 4 */
    size_t n_arms;
    const float *x_obs; /* 2 values, or NULL */
} arm_data;

/* Joints, segment midpoints and the target inside the box, in pixels. */
static size_t arm_occupancy(const void *ctx, double x0, double y0, double x1, double y1) {
    const arm_data *A = ctx;
    size_t k = 0;
    double jx[4], jy[4];
    for (size_t i = 0; i < A->n_arms; i++) {
        if (!arm_joints(A->theta + 4 * i, jx, jy)) continue;
        for (int j = 0; j < 7; j++) {
            double u = j % 2 ? (jx[j / 2] + jx[j / 2 + 1]) / 2 : jx[j / 2];
            double v = j % 2 ? (jy[j / 2] + jy[j / 2 + 1]) / 2 : jy[j / 2];
            double x = map_x(A->p, u), y = map_y(A->p, v);
            k += x >= x0 && x <= x1 && y >= y0 && y <= y1;
        }
    }
    if (A->x_obs) {
        double x = map_x(A->p, A->x_obs[1]), y = map_y(A->p, A->x_obs[0]);
        k += 100 * (x >= x0 - 20 && x <= x1 + 20 && y >= y0 - 20 && y <= y1 + 20);
    }
    return k;
}

/* Draws the arms of the first n_arms rows of theta in the cell's rectangle;
 * returns how many were finite and drawn. */
static size_t draw_arm_panel(cairo_t *cr, const panel *cell, const float *theta, size_t n_arms,
                             const float *x_obs) {
    panel p = *cell;
    double jx[4], jy[4];
    double x_lo = 0.0, x_hi = 0.0, y_lo = INFINITY, y_hi = -INFINITY;
    size_t drawn = 0;
    for (size_t i = 0; i < n_arms; i++) {
        if (!arm_joints(theta + 4 * i, jx, jy)) continue;
        drawn++;
        for (int j = 0; j < 4; j++) {
            x_lo = fmin(x_lo, jx[j]), x_hi = fmax(x_hi, jx[j]);
            y_lo = fmin(y_lo, jy[j]), y_hi = fmax(y_hi, jy[j]);
        }
    }
    if (x_obs) {
        x_lo = fmin(x_lo, x_obs[1]), x_hi = fmax(x_hi, x_obs[1]);
        y_lo = fmin(y_lo, x_obs[0]), y_hi = fmax(y_hi, x_obs[0]);
    }
    if (!(y_hi >= y_lo)) y_lo = -1.0, y_hi = 1.0, x_hi = 2.0; /* nothing to show */
    /* pad, then widen one axis so one data unit is as long on both (equal aspect) */
    double span = fmax(fmax(x_hi - x_lo, y_hi - y_lo), 0.5), pad = 0.1 * span;
    x_lo -= pad, x_hi += pad, y_lo -= pad, y_hi += pad;
    double scale = fmin(p.w / (x_hi - x_lo), p.h / (y_hi - y_lo));
    double xc = (x_lo + x_hi) / 2, yc = (y_lo + y_hi) / 2;
    p.x_lo = xc - p.w / scale / 2, p.x_hi = xc + p.w / scale / 2;
    p.y_lo = yc - p.h / scale / 2, p.y_hi = yc + p.h / scale / 2;

    tick_set xt, yt;
    dsbi_fig_ticks_fit(cr, &xt, p.x_lo, p.x_hi, p.w, 0);
    dsbi_fig_ticks_linear(&yt, p.y_lo, p.y_hi, (int)(p.h / 60.0), 0);
    dsbi_fig_panel_grid(cr, &p, &xt, &yt);
    dsbi_fig_panel_clip(cr, &p);

    /* the rail the base slides on */
    double rail = map_x(&p, 0.0);
    set_color(cr, col_muted, 0.55);
    cairo_set_line_width(cr, 5.0);
    cairo_move_to(cr, rail, p.y);
    cairo_line_to(cr, rail, p.y + p.h);
    cairo_stroke(cr);

    /* transparency so that many overlapping arms still show their density */
    double alpha = fmin(0.85, fmax(0.06, 3.0 / sqrt((double)(drawn ? drawn : 1))));
    cairo_set_line_width(cr, 2.0);
    for (size_t i = 0; i < n_arms; i++) {
        if (!arm_joints(theta + 4 * i, jx, jy)) continue;
        set_color(cr, col_blue, alpha);
        cairo_move_to(cr, map_x(&p, jx[0]), map_y(&p, jy[0]));
        for (int j = 1; j < 4; j++) cairo_line_to(cr, map_x(&p, jx[j]), map_y(&p, jy[j]));
        cairo_stroke(cr);
        set_color(cr, col_navy, fmin(1.0, 1.3 * alpha));
        cairo_rectangle(cr, map_x(&p, jx[0]) - 5.0, map_y(&p, jy[0]) - 3.0, 10.0, 6.0);
        cairo_fill(cr);
        for (int j = 1; j < 3; j++)
            dsbi_fig_mark(cr, map_x(&p, jx[j]), map_y(&p, jy[j]), MARK_DOT, col_navy, alpha);
        dsbi_fig_mark(cr, map_x(&p, jx[3]), map_y(&p, jy[3]), MARK_DOT, col_orange, alpha);
    }
    if (x_obs) dsbi_fig_mark(cr, map_x(&p, x_obs[1]), map_y(&p, x_obs[0]), MARK_TARGET, col_red, 1.0);
    cairo_restore(cr); /* dsbi_fig_panel_clip */

    dsbi_fig_panel_axes(cr, &p, &xt, &yt, "x2", "x1", "Arm configurations");
    legend_entry keys[3] = {{"posterior draw", col_blue, 1, MARK_DOT},
                            {"hand position", col_orange, 0, MARK_DOT},
                            {"observed x", col_red, 0, MARK_TARGET}};
    arm_data A = {&p, theta, n_arms, x_obs};
    dsbi_fig_legend(cr, &p, keys, x_obs ? 3 : 2, arm_occupancy, &A);
    return drawn;
}

int dsbi_plot_arm(const char *path, const float *theta, size_t n, const float *x_obs,
                  size_t max_arms) {
    static const char *const names[4] = {"h", "a1", "a2", "a3"};
    if (!path) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "plot_arm: path is NULL");
    if (!theta || n == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: no posterior draws to plot (n = %zu)", path,
                         n);
    if (n > DSBI_MAX_ALLOC / 4 || !any_finite(theta, 4 * n))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: every parameter value is non-finite", path);
    if (x_obs && !(isfinite(x_obs[0]) && isfinite(x_obs[1])))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "%s: observation x_obs is not finite", path);

    figure fig;
    int st = dsbi_fig_open(&fig, path, PLOT_ARM_W, PLOT_ARM_H);
    if (st != DSBI_STATUS_OK) return st;
    cairo_t *cr = fig.cr;
    size_t n_arms = n < max_arms ? n : max_arms;

    const double half = PLOT_ARM_W / 2.0, body = PLOT_ARM_H - PLOT_ARM_TITLE_H;
    panel arm = {.x = 76, .y = PLOT_ARM_TITLE_H + 34, .w = half - 76 - 24,
                 .h = body - 34 - 56};
    size_t drawn = draw_arm_panel(cr, &arm, theta, n_arms, x_obs);
    for (int j = 0; j < 4; j++)
        dsbi_fig_marginal(cr, half + (j % 2) * half / 2, PLOT_ARM_TITLE_H + (j / 2) * body / 2,
                      half / 2, body / 2, theta + j, n, 4, names[j], NULL);

    char title[128];
    snprintf(title, sizeof title, "Inverse kinematics posterior: %zu draw%s, %zu arm%s shown", n,
             n == 1 ? "" : "s", drawn, drawn == 1 ? "" : "s");
    dsbi_fig_title(cr, PLOT_ARM_W, PLOT_ARM_TITLE_H / 2.0 + 4.0, title);
    return dsbi_fig_finish(&fig);
}
