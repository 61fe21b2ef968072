/*
 * libFuzzer target for the guidance expression parser (`diffsbi sample
 * --guide EXPR`): the input, cut at its first NUL byte like a command-line
 * argument, is parsed as a constraint on four parameters with the names of
 * the inverse-kinematics task (h a1 a2 a3, and theta_1..theta_4). A parsed
 * expression is evaluated (value and gradient) at a fixed point and through
 * the batch constraint callback, then freed. Any crash, sanitizer report or
 * leak is a bug; a refusal must carry a message that names the column.
 * Non-finite values are allowed results (log(-1) is NaN), not bugs.
 * Build and run: make fuzz.
 */
#include <diffsbi.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DIM 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[DIM] = {"h", "a1", "a2", "a3"};
    char *src = malloc(size + 1);
    if (!src) return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    dsbi_expr *e = dsbi_expr_parse(src, names, DIM);
    if (!e) {
        /* a failure must carry a message; a syntax error names its column,
         * unless the message was cut at the library's 1023-character limit
         * (it quotes the whole expression before the column) */
        const char *err = dsbi_last_error();
        if (!err[0]) __builtin_trap();
        if (strlen(err) < 1000 && !strstr(err, "column ") && !strstr(err, "out of memory")) __builtin_trap();
        free(src);
        return 0;
    }
    /* the expression keeps its own copy of the source */
    if (strcmp(dsbi_expr_source(e), src) != 0) __builtin_trap();
    static const double theta[DIM] = {0.25, -0.5, 1.5, 3.0};
    double value, grad[DIM];
    if (dsbi_expr_eval(e, theta, &value, grad) != DSBI_STATUS_OK) __builtin_trap();
    if (dsbi_expr_eval(e, theta, &value, NULL) != DSBI_STATUS_OK) __builtin_trap();
    /* the batch callback of the sampler: two rows, the second at zero */
    const float rows[2 * DIM] = {0.25f, -0.5f, 1.5f, 3.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    double c[2], g[2 * DIM];
    if (dsbi_expr_constraint(e, rows, 2, DIM, c, g) != DSBI_STATUS_OK) __builtin_trap();
    /* the first row is the same point (exact in float): the same value, or both NaN */
    if (!(c[0] == value || (isnan(c[0]) && isnan(value)))) __builtin_trap();
    volatile double sink = c[1] + g[0] + g[2 * DIM - 1] + grad[DIM - 1];
    (void)sink;
    dsbi_expr_free(e);
    free(src);
    return 0;
}
