/*
 * Pieces shared by the figure modules (plot.c, diag_plots.c): fonts, colors,
 * the figure (surface + context + atomic temp file), panels mapping data to
 * pixels, 1-2-5 ticks, markers, legends and histograms. The functions live in
 * plot.c; their exported names carry the dsbi_fig_ prefix so the library does
 * not leak short names such as text_at into a user's link.
 */
#ifndef DSBI_PLOT_INTERNAL_H
#define DSBI_PLOT_INTERNAL_H

#include "internal.h"
#include <cairo.h>
#include <math.h>

#define FONT_TICK 12.0
#define FONT_LABEL 14.0
#define FONT_PANEL_TITLE 15.0
#define FONT_TITLE 18.0
#define FONT_LEGEND 12.5
#define SUP_SCALE 0.72 /* superscript size relative to its base */

#define MAX_TICKS 64
#define HIST_MIN_BINS 10
#define HIST_MAX_BINS 60

typedef struct rgb {
    double r, g, b;
} rgb;

#define HEX_RGB(c) {((c) >> 16 & 0xff) / 255.0, ((c) >> 8 & 0xff) / 255.0, ((c) & 0xff) / 255.0}
static const rgb col_blue = HEX_RGB(0x1f77b4);
static const rgb col_navy = HEX_RGB(0x0b3d66);
static const rgb col_orange = HEX_RGB(0xff7f0e);
static const rgb col_red = HEX_RGB(0xd62728);
static const rgb col_text = HEX_RGB(0x1a1a1a);
static const rgb col_frame = HEX_RGB(0x404040);
static const rgb col_grid = HEX_RGB(0xe6e6e6);
static const rgb col_border = HEX_RGB(0xc8c8c8);
static const rgb col_muted = HEX_RGB(0x808080);
static const rgb col_white = HEX_RGB(0xffffff);

#define MINUS "\xe2\x88\x92" /* U+2212, the typographic minus */
#define TIMES "\xc3\x97"     /* U+00D7 */

static inline void set_color(cairo_t *cr, rgb c, double alpha) {
    cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

/* Pixel-aligned coordinate for crisp 1 px lines. */
static inline double snap(double v) { return floor(v) + 0.5; }

void dsbi_fig_set_font(cairo_t *cr, double size, int bold);
double dsbi_fig_text_width(cairo_t *cr, const char *s);
/* Height of digits and capitals above the baseline, for vertical anchoring. */
double dsbi_fig_cap_height(cairo_t *cr);
/* Draws s with its anchor at (x, y), rotated by angle: ax = 0, 0.5, 1 anchors
 * the left, center, right; ay = 0, 0.5, 1 the top, middle, capital baseline. */
void dsbi_fig_text_at(cairo_t *cr, double x, double y, const char *s, double ax, double ay,
                      double angle);

/* ---------------------------------------------------------------- figure */

typedef struct figure {
    const char *path; /* borrowed */
    char *tmp;        /* "<path>.tmp.<pid>", owned */
    int svg, tmp_made;
    cairo_surface_t *surface;
    cairo_t *cr;
} figure;

/* Opens a white width x height figure drawn into "<path>.tmp.<pid>" (.png or
 * .svg by extension). On failure nothing is left behind. */
int dsbi_fig_open(figure *fig, const char *path, int width, int height);
/* Writes the figure, renames it over path and releases everything. */
int dsbi_fig_finish(figure *fig);
/* Bold figure title centred at (width / 2, y). */
void dsbi_fig_title(cairo_t *cr, double width, double y, const char *title);

/* ---------------------------------------------------------------- ticks */

typedef struct tick {
    double v;      /* data value (not log10) */
    int major;     /* labeled, with a grid line; minor ticks are short marks only */
    char text[32]; /* label, UTF-8 */
    char sup[16];  /* superscript exponent after text, or empty */
} tick;

typedef struct tick_set {
    size_t n;
    tick t[MAX_TICKS];
} tick_set;

/* Multiples of a 1-2-5 step inside [lo, hi], about target of them. */
void dsbi_fig_ticks_linear(tick_set *tk, double lo, double hi, int target, int integer);
/* Decades (and minor 2..9 marks) of a log axis spanning [lo10, hi10]. */
void dsbi_fig_ticks_log(tick_set *tk, double lo10, double hi10);
double dsbi_fig_tick_label_width(cairo_t *cr, const tick *t);
/* Linear ticks whose labels fit side by side on an axis width px long. */
void dsbi_fig_ticks_fit(cairo_t *cr, tick_set *tk, double lo, double hi, double width, int integer);

/* ---------------------------------------------------------------- panels */

/* A plotting area: pixel rectangle and the data range mapped onto it. With
 * y_log the y range is in log10 units and map_y takes data values. */
typedef struct panel {
    double x, y, w, h;
    double x_lo, x_hi, y_lo, y_hi;
    int y_log;
} panel;

static inline double map_x(const panel *p, double v) {
    return p->x + (v - p->x_lo) / (p->x_hi - p->x_lo) * p->w;
}

static inline double map_y(const panel *p, double v) {
    if (p->y_log) v = log10(v);
    return p->y + p->h - (v - p->y_lo) / (p->y_hi - p->y_lo) * p->h;
}

/* cairo_save + clip to the panel; pair with cairo_restore. */
void dsbi_fig_panel_clip(cairo_t *cr, const panel *p);
/* Light grid lines at the major ticks (either tick set may be NULL). */
void dsbi_fig_panel_grid(cairo_t *cr, const panel *p, const tick_set *xt, const tick_set *yt);
/* Frame, outward tick marks, tick labels, axis titles and panel title. Any
 * of the tick sets and strings may be NULL. */
void dsbi_fig_panel_axes(cairo_t *cr, const panel *p, const tick_set *xt, const tick_set *yt,
                         const char *xlabel, const char *ylabel, const char *title);

/* ---------------------------------------------------------------- markers and legend */

typedef enum mark {
    MARK_NONE,
    MARK_DOT,    /* filled circle */
    MARK_TARGET  /* x cross with a white halo and a ring */
} mark;

void dsbi_fig_mark(cairo_t *cr, double x, double y, mark m, rgb c, double alpha);

typedef struct legend_entry {
    const char *label;
    rgb color;
    int line; /* draw a line sample */
    mark m;   /* and/or a marker */
} legend_entry;

/* Number of data points (of the figure's own kind) inside a pixel box, so the
 * legend goes into the emptiest corner. */
typedef size_t (*occupancy_fn)(const void *ctx, double x0, double y0, double x1, double y1);

/* A boxed legend in the panel corner with the fewest points (occupancy may be
 * NULL: upper right). */
void dsbi_fig_legend(cairo_t *cr, const panel *p, const legend_entry *e, size_t n,
                     occupancy_fn occupancy, const void *ctx);

/* ---------------------------------------------------------------- histograms */

/* Count of finite values of a strided column and their range. */
size_t dsbi_fig_finite_range(const float *v, size_t n, size_t stride, double *lo, double *hi);
/* Counts finite values of a strided column into nbins equal bins of [lo, hi];
 * returns the largest count. */
double dsbi_fig_hist_count(const float *v, size_t n, size_t stride, double lo, double hi,
                           size_t nbins, double *counts);
/* Filled step outline of a histogram over [lo, hi] in panel p. */
void dsbi_fig_hist_draw(cairo_t *cr, const panel *p, const double *counts, size_t nbins,
                        double lo, double hi, rgb c);
/* One marginal panel inside a cell: histogram, x ticks, name as title, truth
 * (if given and finite) as a red line. */
void dsbi_fig_marginal(cairo_t *cr, double cx, double cy, double cw, double ch, const float *col,
                       size_t n, size_t stride, const char *name, const float *truth);

#endif
