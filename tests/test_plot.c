/* Figures: each one is written as PNG at its documented pixel size with real
 * content, and as SVG; bad extensions, empty or non-finite data and missing
 * folders fail with the right status and leave no file (nor temp file) behind. */
#include <cairo.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "diffsbi.h"

/* A fresh folder under /tmp; the test removes it (and its files) at the end. */
static char *make_dir(void) {
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/dsbi_plot_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static char *file_in(const char *dir, const char *name) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static size_t count_files(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) remove(file_in(dir, e->d_name));
    closedir(d);
    rmdir(dir);
}

/* Reads a PNG back, checks its size and that enough pixels are not white. */
static void check_png(const char *path, int width, int height) {
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    cr_assert_eq(cairo_surface_status(s), CAIRO_STATUS_SUCCESS, "%s: %s", path,
                 cairo_status_to_string(cairo_surface_status(s)));
    cr_assert_eq(cairo_image_surface_get_width(s), width);
    cr_assert_eq(cairo_image_surface_get_height(s), height);
    cairo_surface_flush(s);
    const unsigned char *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    size_t ink = 0;
    for (int y = 0; y < height; y++) {
        const uint32_t *row = (const uint32_t *)(data + (size_t)y * (size_t)stride);
        for (int x = 0; x < width; x++) ink += row[x] != 0xFFFFFFFFu;
    }
    cairo_surface_destroy(s);
    cr_assert_gt(ink, (size_t)width * (size_t)height / 100, "%s: only %zu non-white pixels", path,
                 ink);
    cr_assert_lt(ink, (size_t)width * (size_t)height / 2, "%s: %zu non-white pixels", path, ink);
}

static void check_svg(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s missing", path);
    char head[512] = {0};
    size_t got = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    cr_assert_gt(got, 0);
    cr_assert(strncmp(head, "<?xml", 5) == 0 || strstr(head, "<svg"), "%s is not SVG", path);
}

/* A decreasing loss with noise; validation every 5 epochs (NaN between). */
static void make_losses(double *train, double *val, size_t epochs, double scale) {
    for (size_t e = 0; e < epochs; e++) {
        double t = (double)e;
        train[e] = scale * (0.02 + exp(-t / 20.0)) * (1.0 + 0.05 * sin(1.7 * t));
        val[e] = e % 5 == 4 ? scale * (0.03 + 1.1 * exp(-t / 20.0)) : NAN;
    }
}

/* Posterior-like draws of the arm angles near (0, 0.5, -0.6, 0.8). */
static void make_theta(float *theta, size_t n) {
    dsbi_rng r;
    dsbi_rng_init(&r, 11, 3);
    static const double mu[4] = {0.0, 0.5, -0.6, 0.8}, sd[4] = {0.2, 0.3, 0.4, 0.3};
    for (size_t i = 0; i < n * 4; i++)
        theta[i] = (float)(mu[i % 4] + sd[i % 4] * dsbi_rng_normal(&r));
}

/* The hand position of an arm, from the simulator's formulas. */
static void arm_hand(const float *th, float x[2]) {
    double a1 = th[1], a12 = a1 + th[2], a123 = a12 + th[3];
    x[0] = (float)(th[0] + 0.5 * sin(a1) + 0.5 * sin(a12) + sin(a123));
    x[1] = (float)(0.5 * cos(a1) + 0.5 * cos(a12) + cos(a123));
}

Test(plot, loss_png_log_and_linear) {
    char *dir = make_dir();
    double train[120], val[120];
    make_losses(train, val, 120, 1.0); /* spans > 10x: log axis */
    cr_assert_eq(dsbi_plot_loss(file_in(dir, "loss_log.png"), train, val, 120), DSBI_STATUS_OK,
                 "%s", dsbi_last_error());
    check_png(file_in(dir, "loss_log.png"), 800, 500);
    for (size_t e = 0; e < 120; e++) train[e] = 0.3 + 0.3 * exp(-(double)e / 30.0); /* linear */
    cr_assert_eq(dsbi_plot_loss(file_in(dir, "loss_lin.png"), train, NULL, 120), DSBI_STATUS_OK);
    check_png(file_in(dir, "loss_lin.png"), 800, 500);
    double one = 0.7; /* a single epoch, a flat range */
    cr_assert_eq(dsbi_plot_loss(file_in(dir, "loss_one.png"), &one, NULL, 1), DSBI_STATUS_OK);
    check_png(file_in(dir, "loss_one.png"), 800, 500);
    cr_assert_eq(count_files(dir), 3); /* no temp files left */
    remove_dir(dir);
}

Test(plot, marginals_png_grid_sizes) {
    char *dir = make_dir();
    size_t n = 2000, d = 6;
    float *s = malloc(n * d * sizeof *s);
    cr_assert_not_null(s);
    dsbi_rng r;
    dsbi_rng_init(&r, 5, 0);
    for (size_t i = 0; i < n * d; i++) {
        double j = (double)(i % d);
        s[i] = (float)(j + (1.0 + 0.5 * j) * dsbi_rng_normal(&r));
    }
    s[7] = NAN; /* non-finite values are skipped */
    s[13] = INFINITY;
    const float truth[6] = {0.1f, 1.2f, 2.5f, 2.0f, 4.4f, 5.0f};
    const char *const names[6] = {"mu", "log sigma", NULL, "beta", "gamma", "delta"};
    cr_assert_eq(dsbi_plot_marginals(file_in(dir, "m6.png"), s, n, d, names, truth), DSBI_STATUS_OK,
                 "%s", dsbi_last_error());
    check_png(file_in(dir, "m6.png"), 4 * 300, 2 * 260);
    cr_assert_eq(dsbi_plot_marginals(file_in(dir, "m2.png"), s, n, 2, NULL, NULL), DSBI_STATUS_OK);
    check_png(file_in(dir, "m2.png"), 2 * 300, 260);
    for (size_t i = 0; i < n; i++) s[i] = 3.0f; /* a constant column */
    cr_assert_eq(dsbi_plot_marginals(file_in(dir, "m1.png"), s, n, 1, NULL, truth),
                 DSBI_STATUS_OK);
    check_png(file_in(dir, "m1.png"), 300, 260);
    free(s);
    remove_dir(dir);
}

Test(plot, arm_png) {
    char *dir = make_dir();
    size_t n = 500;
    float *theta = malloc(n * 4 * sizeof *theta);
    cr_assert_not_null(theta);
    make_theta(theta, n);
    float x_obs[2];
    arm_hand(theta, x_obs); /* a target the first draw reaches exactly */
    cr_assert_eq(dsbi_plot_arm(file_in(dir, "arm.png"), theta, n, x_obs, 60), DSBI_STATUS_OK, "%s",
                 dsbi_last_error());
    check_png(file_in(dir, "arm.png"), 1200, 600);
    theta[5] = NAN; /* a non-finite draw is skipped, x_obs may be omitted */
    cr_assert_eq(dsbi_plot_arm(file_in(dir, "arm2.png"), theta, n, NULL, 1000), DSBI_STATUS_OK);
    check_png(file_in(dir, "arm2.png"), 1200, 600);
    free(theta);
    remove_dir(dir);
}

Test(plot, svg_output) {
    char *dir = make_dir();
    double train[40], val[40];
    make_losses(train, val, 40, 3.0);
    cr_assert_eq(dsbi_plot_loss(file_in(dir, "loss.svg"), train, val, 40), DSBI_STATUS_OK, "%s",
                 dsbi_last_error());
    check_svg(file_in(dir, "loss.svg"));
    float theta[200 * 4];
    make_theta(theta, 200);
    cr_assert_eq(dsbi_plot_marginals(file_in(dir, "m.SVG"), theta, 200, 4, NULL, NULL),
                 DSBI_STATUS_OK);
    check_svg(file_in(dir, "m.SVG"));
    const float x_obs[2] = {0.0f, 1.5f};
    cr_assert_eq(dsbi_plot_arm(file_in(dir, "arm.svg"), theta, 200, x_obs, 20), DSBI_STATUS_OK);
    check_svg(file_in(dir, "arm.svg"));
    cr_assert_eq(count_files(dir), 3);
    remove_dir(dir);
}

Test(plot, bad_extension_is_invalid) {
    char *dir = make_dir();
    double loss[3] = {1, 0.5, 0.25};
    float s[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    cr_assert_eq(dsbi_plot_loss(file_in(dir, "loss.pdf"), loss, NULL, 3), DSBI_STATUS_ERR_INVALID);
    cr_assert(strstr(dsbi_last_error(), "unsupported figure format"), "%s", dsbi_last_error());
    cr_assert_eq(dsbi_plot_marginals(file_in(dir, "m"), s, 4, 2, NULL, NULL),
                 DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_plot_arm(file_in(dir, "a.png.txt"), s, 2, NULL, 2), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_plot_arm(file_in(dir, ".png/x"), s, 2, NULL, 2), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(count_files(dir), 0);
    remove_dir(dir);
}

Test(plot, empty_or_nonfinite_is_invalid) {
    char *dir = make_dir();
    double loss[3] = {NAN, NAN, INFINITY}, nan3[3] = {NAN, NAN, NAN};
    float s[8] = {0, 1, 2, 3, 4, 5, 6, 7}, bad[8];
    for (int i = 0; i < 8; i++) bad[i] = NAN;
    const char *png = file_in(dir, "f.png");
    cr_assert_eq(dsbi_plot_loss(png, loss, NULL, 0), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_plot_loss(png, loss, nan3, 3), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_plot_loss(NULL, loss, NULL, 3), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_plot_marginals(png, s, 0, 2, NULL, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_plot_marginals(png, s, 4, 0, NULL, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_plot_marginals(png, bad, 4, 2, NULL, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_plot_marginals(NULL, s, 4, 2, NULL, NULL), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_plot_arm(png, s, 0, NULL, 10), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_plot_arm(png, bad, 2, NULL, 10), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(dsbi_plot_arm(NULL, s, 2, NULL, 10), DSBI_STATUS_ERR_INVALID);
    cr_assert_eq(count_files(dir), 0);
    /* a column with no finite value still plots as an empty panel */
    float half[8] = {1, NAN, 2, NAN, 3, NAN, 4, NAN};
    cr_assert_eq(dsbi_plot_marginals(png, half, 4, 2, NULL, NULL), DSBI_STATUS_OK);
    check_png(png, 600, 260);
    remove_dir(dir);
}

Test(plot, missing_folder_is_io_error) {
    char *dir = make_dir();
    double loss[4] = {1, 0.5, 0.3, 0.2};
    float s[16];
    make_theta(s, 4);
    const char *paths[2] = {file_in(dir, "no/such/dir/fig.png"),
                            file_in(dir, "no/such/dir/fig.svg")};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(dsbi_plot_loss(paths[k], loss, NULL, 4), DSBI_STATUS_ERR_IO);
        cr_assert(strstr(dsbi_last_error(), paths[k]), "error does not name the file: %s",
                  dsbi_last_error());
        cr_assert_eq(dsbi_plot_marginals(paths[k], s, 4, 4, NULL, NULL), DSBI_STATUS_ERR_IO);
        cr_assert_eq(dsbi_plot_arm(paths[k], s, 4, NULL, 4), DSBI_STATUS_ERR_IO);
        cr_assert_eq(access(paths[k], F_OK), -1);
    }
    cr_assert_eq(count_files(dir), 0);
    /* the final rename fails when the target is a folder: no temp file remains */
    cr_assert_eq(mkdir(file_in(dir, "taken.png"), 0700), 0);
    cr_assert_eq(dsbi_plot_loss(file_in(dir, "taken.png"), loss, NULL, 4), DSBI_STATUS_ERR_IO);
    cr_assert_eq(count_files(dir), 1);
    rmdir(file_in(dir, "taken.png"));
    remove_dir(dir);
}
