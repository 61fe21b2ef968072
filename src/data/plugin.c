/*
 * Simulator plugins (include/diffsbi_plugin.h): load a shared library with
 * dlopen, check its ABI version and description, and wrap it as a
 * dsbi_simulator. Every prior/simulate call runs in forked worker processes
 * that pull fixed-size chunks of rows from a counter in shared memory
 * (mmap MAP_SHARED) and write their results there, so a plugin that crashes,
 * hangs past the timeout or fails cannot take the caller down. The failed
 * chunk is then re-run one row at a time to name the theta row that caused
 * it. Seeds: one per chunk, derived from the caller's RNG and the chunk
 * index, so results do not depend on the number of workers.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "diffsbi_plugin.h"
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define MAX_WORKERS 256
#define MAX_DIM_THETA 100000
#define MAX_DIM_X 10000000

typedef int (*abi_fn)(void);
typedef const dsbi_plugin_desc *(*info_fn)(void);
typedef int (*init_fn)(const char *, void **);
typedef void (*free_fn)(void *);
typedef int (*prior_fn)(void *, uint64_t, size_t, float *);
typedef int (*sim_fn)(void *, uint64_t, size_t, const float *, float *);

struct dsbi_plugin {
    void *dl;
    char *path, *args;
    const char *base; /* file name for messages (points into path) */
    dsbi_plugin_config cfg;
    abi_fn abi;
    info_fn info;
    init_fn init;
    free_fn fini;
    prior_fn prior;
    sim_fn simulate;
    void *state;
    int inited;
    size_t D, K;
    char **theta_names, **x_names; /* D and K strings in one block each */
};

dsbi_plugin_config dsbi_plugin_config_default(void) {
    return (dsbi_plugin_config){.workers = 0, .timeout = 0.0, .chunk_rows = 64, .args = NULL,
                                .in_process = 0};
}

/* ---------------------------------------------------------------- seeds and clocks */

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t sub_seed(uint64_t base, size_t i) {
    return mix64(base + 0x9E3779B97F4A7C15ull * ((uint64_t)i + 1));
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------------------------------------------------------------- worker pool */

enum { JOB_PRIOR = 0, JOB_SIMULATE = 1 };
enum { FAIL_NONE = 0, FAIL_SIGNAL, FAIL_TIMEOUT, FAIL_RETURN, FAIL_EXIT, FAIL_SPAWN, FAIL_INTERRUPT };

/* One worker's slot in shared memory: the chunk it is on (-1: none) and when
 * it started it (monotonic ns; the clock is system-wide), and the plugin's
 * return value when it failed. */
typedef struct slot {
    _Atomic int64_t chunk;
    _Atomic int64_t start;
    _Atomic int rc;
} slot;

typedef struct shared {
    _Atomic int64_t next; /* next chunk to take */
    slot slots[MAX_WORKERS];
} shared;

typedef struct failure {
    int kind;
    int64_t chunk; /* chunk index, -1 if outside any call */
    int sig, rc;
} failure;

typedef struct job {
    const dsbi_plugin *p;
    int kind;
    const float *theta; /* rows of the batch (simulate) */
    float *out;         /* rows x dim results */
    size_t rows, dim, chunk_rows;
    uint64_t seed; /* chunk c gets sub_seed(seed, c) */
} job;

/* A worker dies of the plugin's own signals (no handler of the caller, e.g.
 * a sanitizer's, may turn a crash into an exit code), lets Ctrl-C through,
 * and dies with its parent. */
static void reset_signals(void) {
    static const int sigs[] = {SIGINT, SIGTERM, SIGPIPE, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
}

static void worker_main(const job *jb, shared *sh, int w, float *out) {
    slot *s = &sh->slots[w];
    reset_signals();
    const dsbi_plugin *p = jb->p;
    size_t n_chunks = (jb->rows + jb->chunk_rows - 1) / jb->chunk_rows;
    for (;;) {
        int64_t c = atomic_fetch_add(&sh->next, 1);
        if (c < 0 || (size_t)c >= n_chunks) break;
        size_t r0 = (size_t)c * jb->chunk_rows;
        size_t nr = jb->rows - r0 < jb->chunk_rows ? jb->rows - r0 : jb->chunk_rows;
        atomic_store(&s->start, now_ns());
        atomic_store(&s->chunk, c);
        uint64_t seed = sub_seed(jb->seed, (size_t)c);
        int rc = jb->kind == JOB_PRIOR
                     ? p->prior(p->state, seed, nr, out + r0 * jb->dim)
                     : p->simulate(p->state, seed, nr, jb->theta + r0 * p->D, out + r0 * jb->dim);
        if (rc != 0) {
            atomic_store(&s->rc, rc);
            fflush(NULL);
            _exit(3);
        }
        atomic_store(&s->chunk, -1);
    }
    fflush(NULL);
    _exit(0);
}

/* Runs a job over `workers` processes; on failure fills *f and returns the
 * status (the output is then incomplete). */
static int run_pool(const job *jb, size_t workers, failure *f) {
    memset(f, 0, sizeof *f);
    f->chunk = -1;
    size_t n_chunks = (jb->rows + jb->chunk_rows - 1) / jb->chunk_rows;
    if (n_chunks == 0) return DSBI_STATUS_OK;
    if (workers > n_chunks) workers = n_chunks;
    if (workers > MAX_WORKERS) workers = MAX_WORKERS;
    if (workers < 1) workers = 1;
    size_t out_bytes = jb->rows * jb->dim * sizeof(float);
    size_t total = sizeof(shared) + out_bytes;
    void *mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return dsbi_fail(DSBI_STATUS_ERR_NOMEM, "plugin %s: cannot map %zu bytes of shared memory: %s",
                         jb->p->base, total, strerror(errno));
    shared *sh = mem;
    float *out = (float *)((char *)mem + sizeof(shared));
    atomic_store(&sh->next, 0);
    for (size_t w = 0; w < workers; w++) {
        atomic_store(&sh->slots[w].chunk, -1);
        atomic_store(&sh->slots[w].start, 0);
        atomic_store(&sh->slots[w].rc, 0);
    }
    pid_t pid[MAX_WORKERS];
    int fd[MAX_WORKERS];
    size_t live = 0;
    fflush(NULL); /* no buffered output may be duplicated by the children */
    for (size_t w = 0; w < workers; w++) {
        int pf[2];
        if (pipe(pf) != 0) {
            f->kind = FAIL_SPAWN;
            f->rc = errno;
            break;
        }
        pid_t c = fork();
        if (c < 0) {
            f->kind = FAIL_SPAWN;
            f->rc = errno;
            close(pf[0]);
            close(pf[1]);
            break;
        }
        if (c == 0) {
            close(pf[0]);
            for (size_t k = 0; k < w; k++) close(fd[k]);
            worker_main(jb, sh, (int)w, out);
        }
        close(pf[1]);
        pid[w] = c;
        fd[w] = pf[0];
        live++;
    }
    size_t started = live;
    int64_t limit = jb->p->cfg.timeout > 0 ? (int64_t)(jb->p->cfg.timeout * 1e9) : 0;
    while (live > 0) {
        struct pollfd pfd[MAX_WORKERS];
        size_t idx[MAX_WORKERS], np = 0;
        for (size_t w = 0; w < started; w++)
            if (pid[w] > 0) {
                pfd[np] = (struct pollfd){.fd = fd[w], .events = POLLIN};
                idx[np++] = w;
            }
        int r = poll(pfd, np, f->kind ? 0 : limit ? 10 : 1000);
        if (r < 0 && errno != EINTR) break;
        for (size_t k = 0; k < np; k++) {
            size_t w = idx[k];
            int ended = r > 0 && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR));
            int status = 0;
            if (!ended && f->kind) {
                kill(pid[w], SIGKILL); /* stop the others after a failure */
                ended = 1;
            }
            if (!ended && limit) {
                int64_t c = atomic_load(&sh->slots[w].chunk);
                int64_t t0 = atomic_load(&sh->slots[w].start);
                if (c >= 0 && now_ns() - t0 > limit) {
                    kill(pid[w], SIGKILL);
                    waitpid(pid[w], &status, 0);
                    close(fd[w]);
                    pid[w] = -1;
                    live--;
                    if (!f->kind) {
                        f->kind = FAIL_TIMEOUT;
                        f->chunk = c;
                    }
                    continue;
                }
            }
            if (!ended) continue;
            while (waitpid(pid[w], &status, 0) < 0 && errno == EINTR) {}
            close(fd[w]);
            pid[w] = -1;
            live--;
            if (f->kind) continue;
            int64_t c = atomic_load(&sh->slots[w].chunk);
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
            f->chunk = c;
            if (WIFSIGNALED(status)) {
                f->sig = WTERMSIG(status);
                f->kind = f->sig == SIGINT || f->sig == SIGTERM ? FAIL_INTERRUPT : FAIL_SIGNAL;
            } else if (WEXITSTATUS(status) == 3 && c >= 0) {
                f->kind = FAIL_RETURN;
                f->rc = atomic_load(&sh->slots[w].rc);
            } else {
                f->kind = FAIL_EXIT;
                f->rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            }
        }
    }
    int st = DSBI_STATUS_OK;
    if (f->kind == FAIL_SPAWN)
        st = dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "plugin %s: cannot start a worker process: %s",
                       jb->p->base, strerror(f->rc));
    else if (f->kind)
        st = f->kind == FAIL_INTERRUPT ? DSBI_STATUS_ERR_INTERRUPTED : DSBI_STATUS_ERR_SIMULATOR;
    else if (atomic_load(&sh->next) < (int64_t)n_chunks)
        st = dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "plugin %s: workers stopped early", jb->p->base);
    if (!st) memcpy(jb->out, out, out_bytes);
    munmap(mem, total);
    return st;
}

/* ---------------------------------------------------------------- messages */

static void describe_failure(char *buf, size_t cap, const dsbi_plugin *p, const failure *f,
                             const char *fn) {
    switch (f->kind) {
    case FAIL_SIGNAL: snprintf(buf, cap, "plugin %s crashed (signal %d) in %s", p->base, f->sig, fn); break;
    case FAIL_TIMEOUT:
        snprintf(buf, cap, "plugin %s timed out (a call to %s ran longer than %g s)", p->base, fn,
                 p->cfg.timeout);
        break;
    case FAIL_RETURN: snprintf(buf, cap, "plugin %s: %s returned %d", p->base, fn, f->rc); break;
    case FAIL_EXIT: snprintf(buf, cap, "plugin %s exited (status %d) in %s", p->base, f->rc, fn); break;
    default: snprintf(buf, cap, "plugin %s failed in %s", p->base, fn); break;
    }
}

static void format_theta(char *buf, size_t cap, const float *t, size_t D) {
    size_t k = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < D && j < 8 && k + 1 < cap; j++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%.6g", j ? ", " : "", (double)t[j]);
    if (D > 8 && k + 1 < cap) snprintf(buf + k, cap - k, ", ...");
}

/* ---------------------------------------------------------------- calls */

static size_t n_workers(const dsbi_plugin *p) {
    size_t w = p->cfg.workers ? p->cfg.workers : (size_t)dsbi_get_threads();
    return w ? w : 1;
}

static int call_in_process(const dsbi_plugin *p, int kind, uint64_t seed, size_t n,
                           const float *theta, float *out) {
    size_t C = p->cfg.chunk_rows, dim = kind == JOB_PRIOR ? p->D : p->K;
    for (size_t r0 = 0, c = 0; r0 < n; r0 += C, c++) {
        size_t nr = n - r0 < C ? n - r0 : C;
        int rc = kind == JOB_PRIOR ? p->prior(p->state, sub_seed(seed, c), nr, out + r0 * dim)
                                   : p->simulate(p->state, sub_seed(seed, c), nr, theta + r0 * p->D,
                                                 out + r0 * dim);
        if (rc)
            return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "plugin %s: %s returned %d (rows %zu..%zu of batch)",
                             p->base, kind == JOB_PRIOR ? "dsbi_plugin_prior" : "dsbi_plugin_simulate",
                             rc, r0, r0 + nr - 1);
    }
    return DSBI_STATUS_OK;
}

static int run_calls(const dsbi_plugin *p, int kind, uint64_t seed, size_t n, const float *theta,
                     float *out) {
    if (p->cfg.in_process) return call_in_process(p, kind, seed, n, theta, out);
    const char *fn = kind == JOB_PRIOR ? "dsbi_plugin_prior" : "dsbi_plugin_simulate";
    job jb = {p, kind, theta, out, n, kind == JOB_PRIOR ? p->D : p->K, p->cfg.chunk_rows, seed};
    failure f;
    int st = run_pool(&jb, n_workers(p), &f);
    if (st == DSBI_STATUS_OK || !f.kind || f.kind == FAIL_SPAWN) return st;
    if (f.kind == FAIL_INTERRUPT)
        return dsbi_fail(DSBI_STATUS_ERR_INTERRUPTED, "plugin %s: interrupted (signal %d)", p->base, f.sig);
    char what[256];
    if (f.chunk < 0) {
        describe_failure(what, sizeof what, p, &f, fn);
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "%s outside a plugin call", what);
    }
    size_t r0 = (size_t)f.chunk * jb.chunk_rows;
    size_t nr = n - r0 < jb.chunk_rows ? n - r0 : jb.chunk_rows;
    if (kind == JOB_PRIOR) {
        describe_failure(what, sizeof what, p, &f, fn);
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "%s (rows %zu..%zu of batch)", what, r0, r0 + nr - 1);
    }
    /* find the row: the failed chunk again, one row per call */
    failure g = f;
    size_t row = r0;
    int found = nr == 1;
    if (nr > 1) {
        float *tmp = dsbi_malloc(nr, p->K * sizeof(float));
        if (tmp) {
            job one = {p, kind, theta + r0 * p->D, tmp, nr, p->K, 1, sub_seed(seed, (size_t)f.chunk)};
            failure h;
            dsbi_clear_error();
            if (run_pool(&one, n_workers(p), &h) != DSBI_STATUS_OK && h.kind && h.kind != FAIL_SPAWN &&
                h.chunk >= 0) {
                g = h;
                row = r0 + (size_t)h.chunk;
                found = 1;
            }
            free(tmp);
        }
    }
    if (g.kind == FAIL_INTERRUPT)
        return dsbi_fail(DSBI_STATUS_ERR_INTERRUPTED, "plugin %s: interrupted (signal %d)", p->base, g.sig);
    char th[256];
    if (!found) {
        describe_failure(what, sizeof what, p, &f, fn);
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR,
                         "%s in rows %zu..%zu of batch (no single row of them fails alone)", what, r0,
                         r0 + nr - 1);
    }
    format_theta(th, sizeof th, theta + row * p->D, p->D);
    switch (g.kind) {
    case FAIL_SIGNAL:
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "plugin %s crashed (signal %d) at theta = (%s) (row %zu of batch)",
                         p->base, g.sig, th, row);
    case FAIL_TIMEOUT:
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR,
                         "plugin %s timed out (no result within %g s) at theta = (%s) (row %zu of batch)",
                         p->base, p->cfg.timeout, th, row);
    case FAIL_RETURN:
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "plugin %s: %s returned %d at theta = (%s) (row %zu of batch)",
                         p->base, fn, g.rc, th, row);
    default:
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "plugin %s exited (status %d) at theta = (%s) (row %zu of batch)",
                         p->base, g.rc, th, row);
    }
}

/* seeds for the plugin come from the caller's stream */
static uint64_t draw_seed(dsbi_rng *rng) {
    uint64_t hi = dsbi_rng_u32(rng);
    return hi << 32 | dsbi_rng_u32(rng);
}

static int cb_prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    return run_calls(ctx, JOB_PRIOR, draw_seed(rng), n, NULL, theta);
}

static int cb_simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    return run_calls(ctx, JOB_SIMULATE, draw_seed(rng), n, theta, x);
}

/* ---------------------------------------------------------------- loading */

/* Splits "a,b,c" into exactly n names (trimmed), or default prefix_1..n when s is NULL. */
static int split_names(const dsbi_plugin *p, const char *what, const char *s, size_t n,
                       const char *prefix, char ***out) {
    size_t count = 1;
    if (s)
        for (const char *c = s; *c; c++) count += *c == ',';
    if (s && count != n)
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: dsbi_plugin_info: %s lists %zu names, expected %zu",
                         p->path, what, count, n);
    size_t text = s ? strlen(s) + 1 : n * (strlen(prefix) + 12);
    char **names = dsbi_malloc(1, n * sizeof(char *) + text);
    if (!names) return DSBI_STATUS_ERR_NOMEM;
    char *buf = (char *)(names + n);
    if (s) {
        memcpy(buf, s, text);
        char *c = buf;
        for (size_t i = 0; i < n; i++) {
            while (*c == ' ') c++;
            names[i] = c;
            char *e = strchr(c, ',');
            char *next = e ? e + 1 : c + strlen(c);
            if (e) *e = '\0';
            for (char *t = c + strlen(c); t > c && t[-1] == ' '; t--) t[-1] = '\0';
            c = next;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            names[i] = buf;
            buf += sprintf(buf, "%s_%zu", prefix, i + 1) + 1;
        }
    }
    *out = names;
    return DSBI_STATUS_OK;
}

/* Calls abi/info/init/free in a throwaway child first, so that a plugin
 * crashing there is reported instead of killing the caller. */
static int probe(dsbi_plugin *p) {
    int *stage = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (stage == MAP_FAILED) return dsbi_fail(DSBI_STATUS_ERR_NOMEM, "plugin %s: mmap failed", p->base);
    *stage = 0;
    fflush(NULL);
    pid_t c = fork();
    if (c < 0) {
        munmap(stage, sizeof(int));
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "plugin %s: cannot fork: %s", p->base, strerror(errno));
    }
    if (c == 0) {
        reset_signals();
        *stage = 1;
        (void)p->abi();
        *stage = 2;
        (void)p->info();
        *stage = 3;
        void *s = NULL;
        if (p->init && p->init(p->args ? p->args : "", &s) == 0 && p->fini) {
            *stage = 4;
            p->fini(s);
        }
        _exit(0);
    }
    int status = 0;
    int64_t t0 = now_ns(), limit = p->cfg.timeout > 0 ? (int64_t)(p->cfg.timeout * 1e9) : 0;
    for (;;) {
        pid_t r = waitpid(c, &status, limit ? WNOHANG : 0);
        if (r == c) break;
        if (r < 0 && errno != EINTR) break;
        if (limit && now_ns() - t0 > limit) {
            kill(c, SIGKILL);
            waitpid(c, &status, 0);
            break;
        }
        if (limit) usleep(2000);
    }
    static const char *const names[] = {"loading", "dsbi_plugin_abi_version", "dsbi_plugin_info",
                                        "dsbi_plugin_init", "dsbi_plugin_free"};
    int sg = *stage;
    munmap(stage, sizeof(int));
    if (WIFSIGNALED(status))
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "plugin %s crashed (signal %d) in %s", p->base,
                         WTERMSIG(status), names[sg]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "plugin %s exited (status %d) in %s", p->base,
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1, names[sg]);
    return DSBI_STATUS_OK;
}

void dsbi_plugin_close(dsbi_plugin *p) {
    if (!p) return;
    if (p->inited && p->fini) p->fini(p->state);
    if (p->dl) dlclose(p->dl);
    free(p->theta_names);
    free(p->x_names);
    free(p->args);
    free(p->path);
    free(p);
}

int dsbi_plugin_open(const char *path, dsbi_simulator *out, dsbi_plugin **handle) {
    return dsbi_plugin_open_ext(path, NULL, out, handle);
}

int dsbi_plugin_open_ext(const char *path, const dsbi_plugin_config *cfg, dsbi_simulator *out,
                         dsbi_plugin **handle) {
    dsbi_clear_error();
    if (handle) *handle = NULL;
    if (!path || !out || !handle) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "plugin: path, out and handle required");
    dsbi_plugin_config c = cfg ? *cfg : dsbi_plugin_config_default();
    if (c.chunk_rows == 0) c.chunk_rows = 64;
    if (!(c.timeout >= 0.0) || !isfinite(c.timeout))
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "plugin %s: timeout must be >= 0 seconds", path);
    dsbi_plugin *p = dsbi_calloc(1, sizeof *p);
    if (!p) return DSBI_STATUS_ERR_NOMEM;
    /* dlopen searches the library path for a bare name; a file in the
       current folder is what a user means by "libmysim.so" */
    struct stat sb;
    size_t len = strlen(path);
    int local = !strchr(path, '/') && stat(path, &sb) == 0;
    p->path = malloc(len + 3);
    p->args = strdup(c.args ? c.args : "");
    if (!p->path || !p->args) {
        dsbi_plugin_close(p);
        return dsbi_fail(DSBI_STATUS_ERR_NOMEM, "out of memory");
    }
    snprintf(p->path, len + 3, "%s%s", local ? "./" : "", path);
    const char *slash = strrchr(p->path, '/');
    p->base = slash ? slash + 1 : p->path;
    c.args = p->args;
    p->cfg = c;
    int st;
    if (!strchr(p->path, '/') || stat(p->path, &sb) == 0) {
        dlerror();
        p->dl = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
    }
    if (!p->dl) {
        const char *e = dlerror();
        st = dsbi_fail(stat(p->path, &sb) != 0 && strchr(p->path, '/') ? DSBI_STATUS_ERR_IO : DSBI_STATUS_ERR_FORMAT,
                       "%s: cannot load plugin: %s", path,
                       e ? e : stat(p->path, &sb) != 0 ? strerror(errno) : "dlopen failed");
        dsbi_plugin_close(p);
        return st;
    }
    static const char *const req[] = {"dsbi_plugin_abi_version", "dsbi_plugin_info", "dsbi_plugin_prior",
                                      "dsbi_plugin_simulate"};
    void *sym[4];
    for (int i = 0; i < 4; i++) {
        sym[i] = dlsym(p->dl, req[i]);
        if (!sym[i]) {
            st = dsbi_fail(DSBI_STATUS_ERR_FORMAT,
                           "%s: plugin lacks the required symbol '%s' (see include/diffsbi_plugin.h)",
                           path, req[i]);
            dsbi_plugin_close(p);
            return st;
        }
    }
    /* object pointers to function pointers via memcpy (ISO C has no cast) */
    memcpy(&p->abi, &sym[0], sizeof p->abi);
    memcpy(&p->info, &sym[1], sizeof p->info);
    memcpy(&p->prior, &sym[2], sizeof p->prior);
    memcpy(&p->simulate, &sym[3], sizeof p->simulate);
    void *si = dlsym(p->dl, "dsbi_plugin_init"), *sf = dlsym(p->dl, "dsbi_plugin_free");
    memcpy(&p->init, &si, sizeof p->init);
    memcpy(&p->fini, &sf, sizeof p->fini);
    if (!c.in_process && (st = probe(p))) {
        dsbi_plugin_close(p);
        return st;
    }
    int v = p->abi();
    if (v != DSBI_PLUGIN_ABI_VERSION) {
        st = dsbi_fail(DSBI_STATUS_ERR_FORMAT,
                       "%s: plugin ABI version %d is not supported: dsbi_plugin_abi_version must return %d "
                       "(rebuild the plugin against include/diffsbi_plugin.h of diffsbi %s)",
                       path, v, DSBI_PLUGIN_ABI_VERSION, DSBI_VERSION);
        dsbi_plugin_close(p);
        return st;
    }
    const dsbi_plugin_desc *d = p->info();
    if (!d) st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: dsbi_plugin_info returned NULL", path);
    else if (!d->name || !d->name[0])
        st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: dsbi_plugin_info: name is empty", path);
    else if (d->dim_theta < 1 || d->dim_theta > MAX_DIM_THETA)
        st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: dsbi_plugin_info: dim_theta = %d is outside 1..%d",
                       path, (int)d->dim_theta, MAX_DIM_THETA);
    else if (d->dim_x < 1 || d->dim_x > MAX_DIM_X)
        st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: dsbi_plugin_info: dim_x = %d is outside 1..%d", path,
                       (int)d->dim_x, MAX_DIM_X);
    else {
        p->D = (size_t)d->dim_theta;
        p->K = (size_t)d->dim_x;
        st = split_names(p, "theta_names", d->theta_names, p->D, "theta", &p->theta_names);
        if (!st) st = split_names(p, "x_names", d->x_names, p->K, "x", &p->x_names);
    }
    if (!st && p->init) {
        int rc = p->init(p->args, &p->state);
        if (rc) st = dsbi_fail(DSBI_STATUS_ERR_SIMULATOR, "%s: dsbi_plugin_init(\"%s\") returned %d", path, p->args, rc);
        else p->inited = 1;
    }
    if (st) {
        dsbi_plugin_close(p);
        return st;
    }
    *out = (dsbi_simulator){.name = d->name,
                            .dim_theta = p->D,
                            .dim_x = p->K,
                            .prior = cb_prior,
                            .simulate = cb_simulate,
                            .ctx = p,
                            .theta_names = (const char *const *)p->theta_names,
                            .x_names = (const char *const *)p->x_names};
    *handle = p;
    return DSBI_STATUS_OK;
}
