/*
 * Status codes, the thread-local last-error message, checked allocation and
 * the monotonic clock.
 */
#include "internal.h"
#include <stdarg.h>
#include <string.h>
#include <time.h>

static _Thread_local char last_error[1024];

const char *dsbi_status_str(int status) {
    switch (status) {
    case DSBI_STATUS_OK: return "ok";
    case DSBI_STATUS_ERR_INVALID: return "invalid argument";
    case DSBI_STATUS_ERR_NOMEM: return "out of memory";
    case DSBI_STATUS_ERR_IO: return "i/o error";
    case DSBI_STATUS_ERR_FORMAT: return "bad format";
    case DSBI_STATUS_ERR_NUMERIC: return "numerical failure";
    case DSBI_STATUS_ERR_INTERRUPTED: return "interrupted";
    case DSBI_STATUS_ERR_SIMULATOR: return "simulator failure";
    default: return "unknown status";
    }
}

const char *dsbi_last_error(void) { return last_error; }

void dsbi_clear_error(void) { last_error[0] = '\0'; }

int dsbi_fail(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

void *dsbi_malloc(size_t n, size_t size) {
    if (size != 0 && n > DSBI_MAX_ALLOC / size) {
        dsbi_fail(DSBI_STATUS_ERR_NOMEM, "allocation of %zu x %zu bytes refused (too large)", n, size);
        return NULL;
    }
    size_t bytes = n * size;
    void *p = malloc(bytes ? bytes : 1);
    if (!p) dsbi_fail(DSBI_STATUS_ERR_NOMEM, "out of memory allocating %zu bytes", n * size);
    return p;
}

void *dsbi_calloc(size_t n, size_t size) {
    if (size != 0 && n > DSBI_MAX_ALLOC / size) {
        dsbi_fail(DSBI_STATUS_ERR_NOMEM, "allocation of %zu x %zu bytes refused (too large)", n, size);
        return NULL;
    }
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) dsbi_fail(DSBI_STATUS_ERR_NOMEM, "out of memory allocating %zu bytes", n * size);
    return p;
}

double dsbi_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
