/* Constraint guidance: the --guide expression parser (errors point at the
 * column), exact derivatives against finite differences, and the guide
 * pushing sampled draws into the feasible region. */
#include "helpers.h"
#include "sample/guide.h"
#include <string.h>

static const char *const names[3] = {"a1", "a2", "h"};

Test(guide, parse_errors_name_the_column) {
    const struct { const char *src; size_t col; const char *what; } bad[] = {
        {"sin(a1) >= ", 12, "unexpected end"},
        {"sin(a1 >= 0", 8, "expected ')'"},
        {"b + 1 <= 0", 1, "unknown parameter"},
        {"foo(a1) <= 0", 1, "unknown function"},
        {"a1 + a2", 8, "missing comparison"},
        {"a1 <= 0 0", 9, "unexpected text"},
        {"a1 * * 2 <= 0", 6, "expected a number"},
        {"a1 ! 2 <= 0", 4, "expected an operator"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dsbi_expr *e = dsbi_expr_parse(bad[i].src, names, 3);
        cr_assert_null(e, "'%s' parsed", bad[i].src);
        char want[32];
        snprintf(want, sizeof want, "column %zu:", bad[i].col);
        cr_assert(strstr(dsbi_last_error(), want) && strstr(dsbi_last_error(), bad[i].what),
                  "'%s': %s (want %s %s)", bad[i].src, dsbi_last_error(), want, bad[i].what);
    }
}

Test(guide, values_and_derivatives) {
    const char *src[] = {
        "sin(a1) >= 0",
        "a1^2 + 2*a2*h - 3 <= 1/h",
        "-(a1 - a2)^3 / (1 + exp(h)) < cos(a1) * tan(a2)",
        "sqrt(abs(a1) + 1) + log(h) - tanh(a2 * 2) >= 0.5e-1",
        "h ^ a1 + 2 ^ -a2 <= theta_1",
        "-a1 - -a2 + +h <= 2 * 3 ^ 2",
    };
    double th[3] = {0.7, -0.4, 1.3};
    /* closed forms of the first two, c = lhs - rhs (<=) or rhs - lhs (>=) */
    double ref0 = -sin(0.7), ref1 = 0.49 + 2 * -0.4 * 1.3 - 3 - 1 / 1.3, ref5 = -0.7 + -0.4 + 1.3 - 18;
    for (size_t i = 0; i < sizeof src / sizeof src[0]; i++) {
        dsbi_expr *e = dsbi_expr_parse(src[i], names, 3);
        cr_assert_not_null(e, "%s", dsbi_last_error());
        double c, g[3];
        cr_assert_eq(dsbi_expr_eval(e, th, &c, g), 0);
        cr_assert(isfinite(c));
        if (i == 0) cr_assert_float_eq(c, ref0, 1e-14);
        if (i == 1) cr_assert_float_eq(c, ref1, 1e-14);
        if (i == 5) cr_assert_float_eq(c, ref5, 1e-14);
        for (int d = 0; d < 3; d++) {
            double tp[3], tm[3], cp, cm, h = 1e-6;
            memcpy(tp, th, sizeof th);
            memcpy(tm, th, sizeof th);
            tp[d] += h;
            tm[d] -= h;
            dsbi_expr_eval(e, tp, &cp, NULL);
            dsbi_expr_eval(e, tm, &cm, NULL);
            double fd = (cp - cm) / (2 * h);
            cr_assert(fabs(fd - g[d]) < 1e-7 * (1 + fabs(g[d])), "'%s' d/d%s: %.10g vs FD %.10g", src[i],
                      names[d], g[d], fd);
        }
        dsbi_expr_free(e);
    }
    /* without names only theta_k works */
    dsbi_expr *e = dsbi_expr_parse("theta_3 >= theta_1", NULL, 3);
    cr_assert_not_null(e);
    double c, g[3];
    dsbi_expr_eval(e, th, &c, g);
    cr_assert_float_eq(c, 0.7 - 1.3, 1e-15);
    cr_assert(g[0] == 1 && g[1] == 0 && g[2] == -1);
    dsbi_expr_free(e);
    cr_assert_null(dsbi_expr_parse("theta_4 >= 0", NULL, 3));
}

Test(guide, batch_constraint_callback) {
    dsbi_expr *e = dsbi_expr_parse("a1 * a2 <= h", names, 3);
    float th[6] = {1, 2, 3, -1, 0.5f, 2};
    double c[2], g[6];
    cr_assert_eq(dsbi_expr_constraint(e, th, 2, 3, c, g), 0);
    cr_assert_float_eq(c[0], -1.0, 1e-12);
    cr_assert_float_eq(c[1], -2.5, 1e-12);
    cr_assert_float_eq(g[3], 0.5, 1e-7);
    cr_assert_float_eq(g[4], -1.0, 1e-7);
    cr_assert_float_eq(g[5], -1.0, 1e-7);
    cr_assert_eq(dsbi_expr_constraint(e, th, 2, 2, c, g), DSBI_STATUS_ERR_INVALID);
    dsbi_expr_free(e);
}

/* The guide's shift: -strength sigmoid(s c) grad c in standardized units,
 * with the user-space gradient scaled by sd (chain rule). */
Test(guide, apply_shifts_the_denoised_estimate) {
    dsbi_expr *e = dsbi_expr_parse("theta_1 <= 1", NULL, 2);
    dsbi_guide g = dsbi_guide_make(dsbi_expr_constraint, e);
    g.strength = 0.5f;
    float mean[2] = {1, 0}, sd[2] = {2, 1};
    float xh[4] = {1.0f, 0.3f, -1.0f, 0.3f}; /* theta_1 = 3 (violated), -1 (fine) */
    double alpha = 0.8, sigma = 0.6, s = alpha * alpha / (sigma * sigma);
    dsbi_guide_apply(&g, 1, mean, sd, 2, alpha, sigma, xh, 2);
    double w0 = 0.5 / (1 + exp(-s * 2.0)), w1 = 0.5 / (1 + exp(s * 2.0));
    cr_assert_float_eq(xh[0], 1.0 - w0 * 2.0, 1e-6);
    cr_assert_float_eq(xh[2], -1.0 - w1 * 2.0, 1e-6);
    cr_assert(xh[1] == 0.3f && xh[3] == 0.3f);
    dsbi_expr_free(e);
}

/* End to end without training: a model whose network output is zero is an
 * exact-ish Gaussian denoiser (EDM F-prediction with out = 0 is the denoiser
 * of N(0, sigma_data^2)); guiding "theta_1 >= 0.5" must move the draws there. */
Test(guide, guided_sampling_respects_the_constraint) {
    dsbi_model *m = dsbi_model_create(NULL, 2, 1);
    cr_assert_not_null(m);
    float x = 0.0f, *th = malloc(2000 * 2 * sizeof(float));
    double mean[2] = {0, 0}, sd[2] = {1, 1};
    dsbi_expr *e = dsbi_expr_parse("theta_1 >= 0.5", NULL, 2);
    dsbi_guide g = dsbi_guide_make(dsbi_expr_constraint, e);
    dsbi_tall_config c = dsbi_tall_config_default();
    c.prior_a = mean;
    c.prior_b = sd;
    c.guide = &g;
    c.n_guide = 1;
    cr_assert_eq(dsbi_model_sample_tall(m, &x, 1, 2000, &c, th, NULL), 0, "%s", dsbi_last_error());
    size_t bad = 0, bad2 = 0;
    for (size_t i = 0; i < 2000; i++) {
        bad += th[2 * i] < 0.5f - 0.05f;
        bad2 += th[2 * i + 1] < 0.5f - 0.05f;
    }
    /* unguided, theta_1 < 0.45 for 67 % of N(0, 1) draws; the second coordinate stays free */
    cr_assert(bad < 40, "%zu of 2000 draws violate theta_1 >= 0.5", bad);
    cr_assert(bad2 > 1000, "the unconstrained coordinate moved (%zu)", bad2);
    free(th);
    dsbi_expr_free(e);
    dsbi_model_free(m);
}

/* Hostile expressions: deep nesting is refused before the recursive parser
 * can overflow the stack (the CLI segfaulted at ~60,000 '(' before), and a
 * long expression still names its column, quoting only a window around it,
 * on one line. */
Test(guide, deep_nesting_and_long_expressions) {
    const char *ab[2] = {"a", "b"};
    size_t depth = 100000, len = 2 * depth + 16;
    char *src = malloc(len);
    cr_assert(src);
    size_t k = 0;
    for (size_t i = 0; i < depth; i++) src[k++] = '(';
    src[k++] = 'a';
    for (size_t i = 0; i < depth; i++) src[k++] = ')';
    snprintf(src + k, len - k, " >= 0");
    cr_assert_null(dsbi_expr_parse(src, ab, 2));
    cr_assert(strstr(dsbi_last_error(), "column 257: expression nested deeper than 256 levels"), "%s",
              dsbi_last_error());
    cr_assert_lt(strlen(dsbi_last_error()), 300);
    /* 200 levels are fine */
    k = 0;
    for (size_t i = 0; i < 200; i++) src[k++] = '-';
    snprintf(src + k, len - k, "a >= 0");
    dsbi_expr *e = dsbi_expr_parse(src, ab, 2);
    cr_assert_not_null(e, "%s", dsbi_last_error());
    dsbi_expr_free(e);
    /* a 3,000-character expression with an error at its end */
    k = 0;
    for (size_t i = 0; i < 1000; i++) k += (size_t)snprintf(src + k, len - k, "a+");
    snprintf(src + k, len - k, "c >= 0");
    cr_assert_null(dsbi_expr_parse(src, ab, 2));
    cr_assert(strstr(dsbi_last_error(), "column 2001: unknown parameter name"), "%s", dsbi_last_error());
    cr_assert(strstr(dsbi_last_error(), "...a+a+"), "%s", dsbi_last_error());
    /* control characters are escaped: the message stays on one line */
    cr_assert_null(dsbi_expr_parse("a +\n$ >= 0", ab, 2));
    cr_assert_str_eq(dsbi_last_error(), "guide 'a +\\x0a$ >= 0': column 4: expected a number, a name or '('");
    free(src);
}
