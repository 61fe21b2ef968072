/* Shared pieces of the diffsbi command: options, progress bar, messages. */
#ifndef DSBI_CLI_H
#define DSBI_CLI_H

#include "diffsbi.h"
#include <stdio.h>

int cmd_demo(int argc, char **argv);
int cmd_tasks(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_diagnose(int argc, char **argv);

/* Prints "diffsbi: <cmd>: <status>: <detail>" and returns the exit code (1). */
int cli_fail(const char *cmd, int status);
/* Prints "diffsbi: <cmd>: <detail>" (for NULL-returning calls); returns 1. */
int cli_fail_msg(const char *cmd);
/* Prints a usage error and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Number parsing with range checks; print the error and return non-zero. */
int cli_parse_size(const char *cmd, const char *opt, const char *s, size_t lo, size_t hi, size_t *out);
int cli_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out);
int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);

/* Progress reporting: a bar on a terminal (stderr), nothing otherwise. */
typedef struct cli_progress {
    int quiet;
    int tty;
    const char *label;
} cli_progress;
int cli_progress_cb(void *user, size_t epoch, size_t epochs, double train_loss, double val_loss,
                    double seconds);
void cli_log_cb(void *user, const char *msg);
void cli_progress_init(cli_progress *p, int quiet, const char *label);

/* SIGINT/SIGTERM set a flag that the progress callback turns into a clean stop. */
void cli_install_signals(void);
int cli_interrupted(void);

/* "a:b,a:b,..." with exactly d pairs into a and b (inf/-inf allowed); prints
 * the error and returns 2 if malformed. */
int cli_parse_pairs(const char *cmd, const char *opt, const char *s, size_t d, double *a, double *b);

/* Observation: inline "v1,v2,..." or a CSV/NPY file (first row). Fills k values. */
int cli_read_obs(const char *cmd, const char *spec, size_t k, float *out);

/* Model design options shared by train and demo. */
#define CLI_MODEL_OPTS_HELP                                                                     \
    "  --model FAMILY        diffusion | flow (flow matching) | consistency (iCT) |\n"          \
    "                        scm (continuous-time consistency) [diffusion]\n"                 \
    "  --schedule NAME       edm | cosine | linear | edm-ve | flow [edm]\n"                    \
    "  --prediction NAME     F | noise | x | v | score | flow [F]\n"                           \
    "  --weighting NAME      default | none | edm | sigmoid | likelihood | flow [default]\n"   \
    "  --width N             hidden width [256]\n"                                             \
    "  --depth N             hidden layers [4]\n"                                              \
    "  --activation NAME     silu | gelu | mish | tanh | relu [silu]\n"                        \
    "  --plain               plain MLP instead of residual blocks\n"                           \
    "  --layer-norm          layer norm in residual blocks\n"                                  \
    "  --epochs N            training epochs [300; demo 500]\n"                                          \
    "  --batch N             batch size [256]\n"                                               \
    "  --lr X                peak learning rate [1e-3]\n"                                      \
    "  --val-frac X          validation fraction [0.1]\n"                                      \
    "  --ema X               EMA decay of the weights, 0 = off [0.999]\n"                     \
    "  --patience N          stop after N epochs without a better validation loss, 0 = never [30]\n"

/* Handles one model/training option; returns 1 if consumed, 0 if not ours,
 * -1 on a bad value (message printed). */
int cli_model_option(const char *cmd, const char *name, const char *val, dsbi_model_config *mc,
                     dsbi_train_config *tc);
/* getopt_long entries for the options above (ids 1000..). */
#include <getopt.h>
extern const struct option cli_model_long_opts[];
extern const size_t cli_model_long_opts_n;
#define CLI_OPT_BASE 1000

/* Sampler options shared by sample and demo. */
#define CLI_SAMPLE_OPTS_HELP                                                                    \
    "  --sampler NAME        ddim | dpm2m | euler | heun | em | rk45 | tsit5 | sde-adaptive\n"  \
    "                        | pc [ddim]\n"                                                     \
    "  --steps N             time steps [100; consistency models: steps, default 2]\n"          \
    "  --stop-time X         end the integration at this time in [0,1) [0]\n"                   \
    "  --eta X               DDIM stochasticity in [0,1] [0]\n"                                 \
    "  --max-nfe N           refuse settings needing more network evaluations per draw\n"       \
    "  --atol X, --rtol X    tolerances of the adaptive samplers [rk45, tsit5 1e-3, 1e-3;\n"    \
    "                        sde-adaptive 1e-3, 1e-2]\n"                                        \
    "  --corrector-steps N   pc: Langevin corrector steps per time step, each one more\n"       \
    "                        network evaluation [1]\n"                                          \
    "  --snr X               pc: corrector signal-to-noise ratio in (0,1) [0.08]\n"
int cli_sample_option(const char *cmd, const char *name, const char *val, dsbi_sample_config *sc);
extern const struct option cli_sample_long_opts[];
extern const size_t cli_sample_long_opts_n;
#define CLI_SOPT_BASE 2000

/* Builds a long-option table: common + extra (terminated). Owned, free(). */
struct option *cli_options(const struct option *extra, size_t n_extra, int model, int sample);

/* Creates a folder and its parents (like mkdir -p); 0 on success. */
int cli_mkdir_p(const char *path);
/* Parses "1-3,5" or "name1,name2" into 0-based column indices of t (owned
 * array); prints the error naming the command and returns -1 on failure. */
int cli_parse_cols(const char *cmd, const char *spec, const dsbi_table *t, size_t **out,
                   size_t *n_out);

/* The pipeline of 'diffsbi diagnose' on a simulator, for other commands too
 * (demo, bench accuracy): simulates o->n fresh test pairs, draws o->draws
 * posterior samples for each, computes the calibration diagnostics and writes
 * metrics.json, report.html and the figures into o->out; prints the verdict
 * table unless o->quiet. */
typedef struct cli_diag_opts {
    size_t n;                /* test simulations [500] */
    size_t draws;            /* posterior draws per test simulation [100] */
    uint64_t seed;           /* seed of the test set and of the sampler [0] */
    const char *out;         /* output folder, created with its parents [diagnose] */
    int quiet;               /* no progress bar and no summary table [0] */
    int no_progress;         /* no progress bar, but the summary table unless quiet [0] */
    int svg;                 /* also write the figures as SVG [0] */
    size_t threads;          /* 0: one thread when draws < 1000 and DSBI_NUM_THREADS is unset;
                                the caller's thread count is restored afterwards [0] */
    dsbi_sample_config sc;   /* sampler; steps 0 = the model's default */
    const char *model_label; /* how metrics.json and the report name the model [(in memory)] */
} cli_diag_opts;
cli_diag_opts cli_diag_opts_default(void);
/* What a caller may keep of a run: the calibration (per-parameter verdicts,
 * TARP area, ...) and the D parameter names. Free with cli_diag_result_free. */
typedef struct cli_diag_result {
    dsbi_calibration cal;
    char **names;
    size_t d;
} cli_diag_result;
void cli_diag_result_free(cli_diag_result *r);
/* cmd names the calling command in messages. res may be NULL. Returns an exit
 * code (0 ok, 1 failure, 2 bad options), the message printed. */
int cli_diagnose_run(const char *cmd, dsbi_model *m, const dsbi_simulator *sim,
                     const cli_diag_opts *o, cli_diag_result *res);

/* Summary lines of samples: per-parameter mean, sd, 5% and 95% quantiles. */
void cli_print_summary(FILE *f, const float *theta, size_t n, size_t d, const char *const *names);

#endif
