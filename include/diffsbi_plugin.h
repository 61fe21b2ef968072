/*
 * diffsbi simulator plugins — the ABI a shared library implements so that
 * `diffsbi simulate|train --simulator ./libmysim.so` (or dsbi_plugin_open)
 * can draw parameters from its prior and simulate data with it.
 *
 * A worked example, a 1-D Gaussian location model (build it with
 * `cc -shared -fPIC -O2 -Iinclude mysim.c -o libmysim.so -lm`):
 *
 *     #include <diffsbi_plugin.h>
 *     #include <math.h>
 *
 *     static const dsbi_plugin_desc desc = {
 *         .name = "gauss1d", .dim_theta = 1, .dim_x = 1,
 *         .theta_names = "mu", .x_names = "x",
 *         .description = "mu ~ N(0, 1), x ~ N(mu, 0.5^2)"};
 *
 *     int dsbi_plugin_abi_version(void) { return DSBI_PLUGIN_ABI_VERSION; }
 *     const dsbi_plugin_desc *dsbi_plugin_info(void) { return &desc; }
 *
 *     static double unif(uint64_t *s) {            // splitmix64 -> (0, 1)
 *         uint64_t z = (*s += 0x9E3779B97F4A7C15u);
 *         z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
 *         z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
 *         return ((double)((z ^ (z >> 31)) >> 11) + 0.5) / 9007199254740992.0;
 *     }
 *     static double normal(uint64_t *s) {
 *         return sqrt(-2 * log(unif(s))) * cos(6.283185307179586 * unif(s));
 *     }
 *     int dsbi_plugin_prior(void *state, uint64_t seed, size_t n, float *theta) {
 *         (void)state;
 *         for (size_t i = 0; i < n; i++) theta[i] = (float)normal(&seed);
 *         return 0;
 *     }
 *     int dsbi_plugin_simulate(void *state, uint64_t seed, size_t n,
 *                              const float *theta, float *x) {
 *         (void)state;
 *         for (size_t i = 0; i < n; i++) x[i] = theta[i] + 0.5f * (float)normal(&seed);
 *         return 0;
 *     }
 *
 * The contract:
 * - Required symbols: dsbi_plugin_abi_version (must return the
 *   DSBI_PLUGIN_ABI_VERSION the plugin was written for; a mismatch is refused),
 *   dsbi_plugin_info, dsbi_plugin_prior, dsbi_plugin_simulate. Optional:
 *   dsbi_plugin_init and dsbi_plugin_free.
 * - Arrays are row-major float32: theta is n x dim_theta, x is n x dim_x.
 *   Write every value; NaN or inf in x marks a failed simulation (the row is
 *   dropped and counted, or imputed with `train --impute`).
 * - Randomness comes from `seed` only (no global state, no time()): the
 *   library derives one seed per call from its own seeded generator, so a
 *   given --seed reproduces every simulation. Use any generator you like,
 *   seeded from it; different calls get unrelated seeds.
 * - Return 0 on success, non-zero on failure (the run stops with a message
 *   that quotes the value).
 * - Each call runs in a worker process forked from the caller, several in
 *   parallel: the plugin need not be thread-safe, a crash or hang is caught
 *   and reported with the offending theta row, and writes to global variables
 *   in prior/simulate do not reach the caller or the next call. Do not use
 *   OpenMP inside the plugin (the library parallelizes over processes).
 * - Only plain C types cross the boundary, and the library never calls back:
 *   Fortran implements it with bind(C) and iso_c_binding (integer(c_int),
 *   integer(c_int64_t) for the seed, integer(c_size_t) for n, type(c_ptr) for
 *   strings and state, real(c_float) arrays), see examples/plugins/fortran_plugin.f90.
 *
 * Versioning: DSBI_PLUGIN_ABI_VERSION changes only when this contract or the
 * layout of dsbi_plugin_desc changes; a library reads the versions it knows.
 */
#ifndef DIFFSBI_PLUGIN_H
#define DIFFSBI_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSBI_PLUGIN_ABI_VERSION 1

/* What a plugin declares about itself. Returned by dsbi_plugin_info as a
 * pointer to static storage that stays valid while the library is loaded. */
typedef struct dsbi_plugin_desc {
    const char *name;        /* short name, e.g. "sir" (required, non-empty) */
    int32_t dim_theta;       /* parameters per row, 1..100000 */
    int32_t dim_x;           /* data values per row, 1..10000000 */
    const char *theta_names; /* "beta,gamma": dim_theta comma-separated names, or NULL */
    const char *x_names;     /* "x1,x2,...": dim_x names, or NULL (then x_1, x_2, ...) */
    const char *description; /* one line for humans, or NULL */
} dsbi_plugin_desc;

/* Required: returns DSBI_PLUGIN_ABI_VERSION. */
int dsbi_plugin_abi_version(void);
/* Required: the plugin's description (static storage). */
const dsbi_plugin_desc *dsbi_plugin_info(void);
/* Optional: called after loading with the string given by `--sim-args`
 * (never NULL; "" if none). Set *state to anything (it is passed to every
 * call; workers inherit it as a copy) and return 0, or non-zero to refuse.
 * It runs first in a throwaway process (so that a crash is reported, not
 * fatal), then in the loading process: keep it free of outside side effects
 * or make them idempotent. */
int dsbi_plugin_init(const char *args, void **state);
/* Optional: called once before unloading with the state from init. */
void dsbi_plugin_free(void *state);
/* Required: n draws from the prior into theta (n x dim_theta). */
int dsbi_plugin_prior(void *state, uint64_t seed, size_t n, float *theta);
/* Required: one simulation per row of theta (n x dim_theta) into x (n x dim_x). */
int dsbi_plugin_simulate(void *state, uint64_t seed, size_t n, const float *theta, float *x);

#ifdef __cplusplus
}
#endif
#endif /* DIFFSBI_PLUGIN_H */
