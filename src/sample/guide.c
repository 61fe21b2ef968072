/*
 * Constraint guidance (ANCHORS.md a.5, BayesFlow's guidance_constraints): each
 * constraint c(theta) <= 0 contributes grad log g, log g = -softplus(s(t) c),
 * s(t) = scale alpha^2/sigma^2, evaluated on the denoised estimate in the
 * user's parameter space. In x_hat units this is the shift
 * -strength sigmoid(s c) grad c (see diffsbi.h, dsbi_guide).
 */
#include "sample/guide.h"
#include <math.h>
#include <string.h>

dsbi_guide dsbi_guide_make(dsbi_constraint_fn fn, void *user) {
    return (dsbi_guide){.fn = fn, .user = user, .strength = 1.0f, .scale = 1.0f};
}

void dsbi_guide_apply(const dsbi_guide *g, size_t n_guide, const float *mean, const float *sd,
                      size_t D, double alpha, double sigma, float *xhat, size_t B) {
    if (!n_guide || B == 0) return;
    float *th = malloc(B * D * sizeof(float));
    double *c = malloc(B * (D + 1) * sizeof(double)), *grad = c ? c + B : NULL;
    if (!th || !c) { /* no memory: leave the draws unguided rather than fail the run */
        free(th);
        free(c);
        return;
    }
    double snr = alpha * alpha / (sigma * sigma);
    for (size_t k = 0; k < n_guide; k++) {
        for (size_t i = 0; i < B; i++)
            for (size_t d = 0; d < D; d++) th[i * D + d] = xhat[i * D + d] * sd[d] + mean[d];
        if (!g[k].fn || g[k].fn(g[k].user, th, B, D, c, grad)) continue;
        double s = g[k].scale * snr;
        for (size_t i = 0; i < B; i++) {
            double u = s * c[i];
            if (!isfinite(u)) u = c[i] > 0 ? 1e300 : -1e300;
            double w = u >= 0 ? 1.0 / (1.0 + exp(-u)) : exp(u) / (1.0 + exp(u));
            w *= g[k].strength;
            for (size_t d = 0; d < D; d++) {
                double gr = grad[i * D + d] * sd[d];
                if (isfinite(gr)) xhat[i * D + d] = (float)(xhat[i * D + d] - w * gr);
            }
        }
    }
    free(th);
    free(c);
}

/* ---------------------------------------------------------------- expressions */

/* A recursive-descent parser compiles "lhs <= rhs" / "lhs >= rhs" into a
 * postfix program; evaluation runs it on a stack of (value, gradient) pairs:
 * forward-mode automatic differentiation with dim-long gradients.
 *   constraint := sum ('<=' | '>=' | '<' | '>') sum
 *   sum := product (('+' | '-') product)*     product := unary (('*' | '/') unary)*
 *   unary := ('-' | '+') unary | power         power := primary ('^' unary)?
 *   primary := number | name | func '(' sum ')' | '(' sum ')'                 */

typedef enum { OP_CONST, OP_VAR, OP_NEG, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_FN } op_kind;
typedef enum { FN_SIN, FN_COS, FN_TAN, FN_EXP, FN_LOG, FN_SQRT, FN_ABS, FN_TANH, FN_COUNT } fn_kind;
static const char *const fn_names[FN_COUNT] = {"sin", "cos", "tan", "exp", "log", "sqrt", "abs", "tanh"};

typedef struct op {
    op_kind kind;
    int arg;      /* variable index or function */
    double value; /* constant */
} op;

struct dsbi_expr {
    size_t dim;
    op *ops;
    size_t n_ops, cap, depth, max_depth;
    char *src;
};

typedef struct parser {
    const char *s;
    size_t pos;
    const char *const *names;
    size_t n_names;
    dsbi_expr *e;
    int err;
    size_t nest; /* recursion depth of parse_unary, which every nesting passes through */
} parser;

/* Deeper nesting is refused: the parser recurses, and tens of thousands of
 * '(' in a command-line argument would otherwise overflow the stack. */
#define MAX_NEST 256
/* The message quotes at most this many characters of the expression around
 * the column (a long expression would push the column out of the message
 * buffer), with control characters escaped so the message stays one line. */
#define QUOTE_MAX 60

static void perr(parser *p, size_t col, const char *what) {
    if (p->err) return;
    size_t n = strlen(p->s), a = 0, b = n;
    if (n > QUOTE_MAX) {
        a = col > QUOTE_MAX / 2 ? col - QUOTE_MAX / 2 : 0;
        b = a + QUOTE_MAX < n ? a + QUOTE_MAX : n;
    }
    char q[4 * QUOTE_MAX + 8];
    size_t k = 0;
    if (a > 0) k += (size_t)snprintf(q + k, sizeof q - k, "...");
    for (size_t i = a; i < b; i++) {
        unsigned char c = (unsigned char)p->s[i];
        if (c < 0x20 || c == 0x7f) k += (size_t)snprintf(q + k, sizeof q - k, "\\x%02x", c);
        else q[k++] = (char)c;
    }
    if (b < n) k += (size_t)snprintf(q + k, sizeof q - k, "...");
    q[k] = '\0';
    p->err = dsbi_fail(DSBI_STATUS_ERR_INVALID, "guide '%s': column %zu: %s", q, col + 1, what);
}

static void emit(parser *p, op_kind k, int arg, double v, int stack_change) {
    if (p->err) return;
    dsbi_expr *e = p->e;
    if (e->n_ops == e->cap) {
        size_t nc = e->cap ? 2 * e->cap : 16;
        op *n = realloc(e->ops, nc * sizeof *n);
        if (!n) {
            p->err = dsbi_fail(DSBI_STATUS_ERR_NOMEM, "guide: out of memory");
            return;
        }
        e->ops = n;
        e->cap = nc;
    }
    e->ops[e->n_ops++] = (op){k, arg, v};
    e->depth = (size_t)((long)e->depth + stack_change);
    if (e->depth > e->max_depth) e->max_depth = e->depth;
}

static void skip_ws(parser *p) {
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t') p->pos++;
}

static void parse_sum(parser *p);

static int is_ident(char c, int first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && ((c >= '0' && c <= '9') || c == '.' || c == '#'));
}

static void parse_unary(parser *p);

static void parse_primary(parser *p) {
    skip_ws(p);
    size_t start = p->pos;
    char c = p->s[p->pos];
    if ((c >= '0' && c <= '9') || c == '.') {
        char *end;
        double v = strtod(p->s + p->pos, &end);
        if (end == p->s + p->pos) return perr(p, start, "malformed number");
        p->pos = (size_t)(end - p->s);
        emit(p, OP_CONST, 0, v, 1);
        return;
    }
    if (c == '(') {
        p->pos++;
        parse_sum(p);
        skip_ws(p);
        if (p->err) return;
        if (p->s[p->pos] != ')') return perr(p, p->pos, "expected ')'");
        p->pos++;
        return;
    }
    if (is_ident(c, 1)) {
        size_t len = 0;
        while (is_ident(p->s[p->pos + len], len == 0)) len++;
        const char *id = p->s + p->pos;
        p->pos += len;
        skip_ws(p);
        if (p->s[p->pos] == '(') { /* function call */
            for (int f = 0; f < FN_COUNT; f++)
                if (strlen(fn_names[f]) == len && !strncmp(fn_names[f], id, len)) {
                    p->pos++;
                    parse_sum(p);
                    skip_ws(p);
                    if (p->err) return;
                    if (p->s[p->pos] != ')') return perr(p, p->pos, "expected ')' after the function argument");
                    p->pos++;
                    emit(p, OP_FN, f, 0, 0);
                    return;
                }
            return perr(p, start, "unknown function (sin cos tan exp log sqrt abs tanh)");
        }
        for (size_t i = 0; i < p->n_names; i++)
            if (p->names && p->names[i] && strlen(p->names[i]) == len && !strncmp(p->names[i], id, len)) {
                emit(p, OP_VAR, (int)i, 0, 1);
                return;
            }
        /* theta_1 .. theta_dim always work */
        if (len > 6 && !strncmp(id, "theta_", 6)) {
            char *end;
            long k = strtol(id + 6, &end, 10);
            if (end == id + len && k >= 1 && (size_t)k <= p->e->dim) {
                emit(p, OP_VAR, (int)(k - 1), 0, 1);
                return;
            }
        }
        return perr(p, start, "unknown parameter name");
    }
    if (c == '\0') return perr(p, start, "unexpected end: expected a number, a name or '('");
    perr(p, start, "expected a number, a name or '('");
}

static void parse_power(parser *p) {
    parse_primary(p);
    skip_ws(p);
    if (!p->err && p->s[p->pos] == '^') {
        p->pos++;
        parse_unary(p); /* right-associative, a^-b allowed */
        emit(p, OP_POW, 0, 0, -1);
    }
}

static void parse_unary(parser *p) {
    skip_ws(p);
    if (p->err) return;
    if (++p->nest > MAX_NEST) {
        perr(p, p->pos, "expression nested deeper than 256 levels");
        p->nest--;
        return;
    }
    char c = p->s[p->pos];
    if (c == '-' || c == '+') {
        p->pos++;
        parse_unary(p);
        if (c == '-') emit(p, OP_NEG, 0, 0, 0);
    } else {
        parse_power(p);
    }
    p->nest--;
}

static void parse_product(parser *p) {
    parse_unary(p);
    for (;;) {
        skip_ws(p);
        char c = p->s[p->pos];
        if (p->err || (c != '*' && c != '/')) return;
        p->pos++;
        parse_unary(p);
        emit(p, c == '*' ? OP_MUL : OP_DIV, 0, 0, -1);
    }
}

static void parse_sum(parser *p) {
    parse_product(p);
    for (;;) {
        skip_ws(p);
        char c = p->s[p->pos];
        if (p->err || (c != '+' && c != '-')) return;
        p->pos++;
        parse_product(p);
        emit(p, c == '+' ? OP_ADD : OP_SUB, 0, 0, -1);
    }
}

dsbi_expr *dsbi_expr_parse(const char *src, const char *const *names, size_t dim) {
    dsbi_clear_error();
    if (!src || dim == 0) {
        dsbi_fail(DSBI_STATUS_ERR_INVALID, "guide: empty expression or dim = 0");
        return NULL;
    }
    dsbi_expr *e = dsbi_calloc(1, sizeof *e);
    if (!e) return NULL;
    e->dim = dim;
    e->src = strdup(src);
    parser p = {.s = src, .names = names, .n_names = names ? dim : 0, .e = e};
    if (!e->src) p.err = dsbi_fail(DSBI_STATUS_ERR_NOMEM, "guide: out of memory");
    parse_sum(&p);
    skip_ws(&p);
    int sign = 0;
    if (!p.err) {
        const char *r = src + p.pos;
        if (r[0] == '<' || r[0] == '>') {
            sign = r[0] == '<' ? 1 : -1;
            p.pos += r[1] == '=' ? 2 : 1;
        } else if (r[0] == '\0') {
            perr(&p, p.pos, "missing comparison: write 'expression <= value' or 'expression >= value'");
        } else {
            perr(&p, p.pos, "expected an operator or a comparison (<=, >=)");
        }
    }
    parse_sum(&p);
    skip_ws(&p);
    if (!p.err && src[p.pos] != '\0') perr(&p, p.pos, "unexpected text after the expression");
    /* c = lhs - rhs for <=, rhs - lhs for >= */
    emit(&p, OP_SUB, 0, 0, -1);
    if (sign < 0) emit(&p, OP_NEG, 0, 0, 0);
    if (p.err) {
        dsbi_expr_free(e);
        return NULL;
    }
    return e;
}

void dsbi_expr_free(dsbi_expr *e) {
    if (!e) return;
    free(e->ops);
    free(e->src);
    free(e);
}

/* value and gradient of the compiled constraint at theta (dim doubles);
 * stack: max_depth x (1 + dim) doubles */
static void expr_run(const dsbi_expr *e, const double *theta, double *stack, double *value,
                     double *grad) {
    const size_t D = e->dim, W = D + 1;
    size_t sp = 0;
    for (size_t k = 0; k < e->n_ops; k++) {
        const op *o = &e->ops[k];
        double *top = stack + (sp ? sp - 1 : 0) * W, *a = top - W; /* a: second from top */
        switch (o->kind) {
        case OP_CONST:
        case OP_VAR: {
            double *n = stack + sp * W;
            memset(n, 0, W * sizeof(double));
            if (o->kind == OP_CONST) n[0] = o->value;
            else n[0] = theta[o->arg], n[1 + o->arg] = 1.0;
            sp++;
            break;
        }
        case OP_NEG:
            for (size_t i = 0; i < W; i++) top[i] = -top[i];
            break;
        case OP_ADD:
        case OP_SUB: {
            double s = o->kind == OP_ADD ? 1.0 : -1.0;
            for (size_t i = 0; i < W; i++) a[i] += s * top[i];
            sp--;
            break;
        }
        case OP_MUL: {
            double u = a[0], v = top[0];
            for (size_t i = 1; i < W; i++) a[i] = a[i] * v + u * top[i];
            a[0] = u * v;
            sp--;
            break;
        }
        case OP_DIV: {
            double u = a[0], v = top[0];
            for (size_t i = 1; i < W; i++) a[i] = (a[i] * v - u * top[i]) / (v * v);
            a[0] = u / v;
            sp--;
            break;
        }
        case OP_POW: {
            double u = a[0], v = top[0], r = pow(u, v);
            int const_exp = 1;
            for (size_t i = 1; i < W; i++) const_exp &= top[i] == 0.0;
            /* d u^v = v u^(v-1) du + u^v log(u) dv; the log term only when v varies */
            double du = v == 0.0 ? 0.0 : v * pow(u, v - 1.0), dv = const_exp ? 0.0 : r * log(u);
            for (size_t i = 1; i < W; i++) a[i] = du * a[i] + (const_exp ? 0.0 : dv * top[i]);
            a[0] = r;
            sp--;
            break;
        }
        case OP_FN: {
            double u = top[0], f, df;
            switch ((fn_kind)o->arg) {
            case FN_SIN: f = sin(u), df = cos(u); break;
            case FN_COS: f = cos(u), df = -sin(u); break;
            case FN_TAN: f = tan(u), df = 1.0 + f * f; break;
            case FN_EXP: f = exp(u), df = f; break;
            case FN_LOG: f = log(u), df = 1.0 / u; break;
            case FN_SQRT: f = sqrt(u), df = 0.5 / f; break;
            case FN_ABS: f = fabs(u), df = u > 0 ? 1.0 : (u < 0 ? -1.0 : 0.0); break;
            case FN_TANH: default: f = tanh(u), df = 1.0 - f * f; break;
            }
            top[0] = f;
            for (size_t i = 1; i < W; i++) top[i] *= df;
            break;
        }
        }
    }
    *value = stack[0];
    if (grad) memcpy(grad, stack + 1, D * sizeof(double));
}

int dsbi_expr_eval(const dsbi_expr *e, const double *theta, double *value, double *grad) {
    double *stack = dsbi_malloc(e->max_depth + 1, (e->dim + 1) * sizeof(double));
    if (!stack) return DSBI_STATUS_ERR_NOMEM;
    expr_run(e, theta, stack, value, grad);
    free(stack);
    return DSBI_STATUS_OK;
}

int dsbi_expr_constraint(void *expr, const float *theta, size_t n, size_t dim, double *c,
                         double *grad) {
    const dsbi_expr *e = expr;
    if (dim != e->dim) return DSBI_STATUS_ERR_INVALID;
    double *stack = dsbi_malloc(e->max_depth + 2, (dim + 1) * sizeof(double));
    if (!stack) return DSBI_STATUS_ERR_NOMEM;
    double *th = stack + (e->max_depth + 1) * (dim + 1);
    for (size_t i = 0; i < n; i++) {
        for (size_t d = 0; d < dim; d++) th[d] = theta[i * dim + d];
        expr_run(e, th, stack, &c[i], grad + i * dim);
    }
    free(stack);
    return DSBI_STATUS_OK;
}

const char *dsbi_expr_source(const dsbi_expr *e) { return e->src; }
