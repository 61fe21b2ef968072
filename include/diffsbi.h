/*
 * diffsbi — amortized simulation-based inference with diffusion models.
 *
 * The one public header. A worked example (error checks shortened):
 *
 *     dsbi_simulator sim;
 *     dsbi_task_get("two_moons", &sim);                 // or your own callbacks
 *     dsbi_dataset *ds = NULL;
 *     dsbi_dataset_simulate(&sim, 10000, 42, &ds, NULL);  // theta ~ prior, x ~ sim
 *     dsbi_model_config mc = dsbi_model_config_default();
 *     dsbi_model *m = dsbi_model_create(&mc, sim.dim_theta, sim.dim_x);
 *     dsbi_train_config tc = dsbi_train_config_default();
 *     if (dsbi_model_fit(m, ds, &tc) != DSBI_STATUS_OK)
 *         fprintf(stderr, "%s\n", dsbi_last_error());
 *     float x_obs[2] = {0.0f, 0.0f}, theta[1000 * 2];
 *     dsbi_sample_config sc = dsbi_sample_config_default();
 *     dsbi_model_sample(m, x_obs, 1000, &sc, theta, NULL); // posterior draws
 *     dsbi_model_save(m, "model.dsbi");
 *     dsbi_model_free(m); dsbi_dataset_free(ds);
 *
 * Conventions: every function that can fail for reasons outside the caller's
 * control returns a dsbi_status (DSBI_STATUS_OK == 0) or NULL, and leaves a
 * message in dsbi_last_error() (thread-local). The library never exits and never
 * prints; progress and warnings reach the caller through callbacks. Arrays are
 * row-major float32: an n x d table is n rows of d values.
 */
#ifndef DIFFSBI_H
#define DIFFSBI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSBI_VERSION "0.1.0"

/* ---------------------------------------------------------------- status */

typedef enum dsbi_status {
    DSBI_STATUS_OK = 0,
    DSBI_STATUS_ERR_INVALID = -1,     /* invalid argument or configuration */
    DSBI_STATUS_ERR_NOMEM = -2,       /* allocation failed or size absurd */
    DSBI_STATUS_ERR_IO = -3,          /* file could not be read or written */
    DSBI_STATUS_ERR_FORMAT = -4,      /* file content malformed or corrupted */
    DSBI_STATUS_ERR_NUMERIC = -5,     /* non-finite loss, failed solve, ... */
    DSBI_STATUS_ERR_INTERRUPTED = -6, /* stopped by a callback or a signal */
    DSBI_STATUS_ERR_SIMULATOR = -7    /* a simulator callback reported failure */
} dsbi_status;

/* Short name of a status code ("ok", "invalid argument", ...). Static string. */
const char *dsbi_status_str(int status);
/* Detail of the last failure on this thread (file, line, field...). Never NULL. */
const char *dsbi_last_error(void);

/* Threads used for BLAS and OpenMP loops together, so they never oversubscribe.
 * n <= 0 means: environment DSBI_NUM_THREADS, else the number of cores. */
void dsbi_set_threads(int n);
int dsbi_get_threads(void);

/* ---------------------------------------------------------------- random numbers */

/* Counter-based generator (Philox4x32-10). A (seed, stream) pair names an
 * independent stream; the same pair always gives the same numbers. The fields
 * are private; the struct is public so it can live on the stack. */
typedef struct dsbi_rng {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];
    unsigned used;
    int has_spare;
    double spare;
} dsbi_rng;

void dsbi_rng_init(dsbi_rng *rng, uint64_t seed, uint64_t stream);
uint32_t dsbi_rng_u32(dsbi_rng *rng);
double dsbi_rng_uniform(dsbi_rng *rng); /* in (0, 1), never 0 or 1 */
double dsbi_rng_normal(dsbi_rng *rng);  /* standard normal */
void dsbi_rng_fill_normal(dsbi_rng *rng, float *out, size_t n);

/* ---------------------------------------------------------------- simulators */

/* Draws n parameter vectors from the prior into theta (n x dim_theta).
 * Returns DSBI_STATUS_OK or a negative status. */
typedef int (*dsbi_prior_fn)(void *ctx, dsbi_rng *rng, size_t n, float *theta);
/* Simulates x (n x dim_x) for the n parameter rows theta. Non-finite outputs
 * are allowed: those rows are counted and dropped by the dataset layer. */
typedef int (*dsbi_simulate_fn)(void *ctx, dsbi_rng *rng, size_t n,
                                const float *theta, float *x);

/* A simulation model: prior plus simulator, as callbacks. Borrowed everywhere. */
typedef struct dsbi_simulator {
    const char *name;
    size_t dim_theta, dim_x;
    dsbi_prior_fn prior;
    dsbi_simulate_fn simulate;
    void *ctx;
    const char *const *theta_names; /* dim_theta names, or NULL */
    const char *const *x_names;     /* dim_x names, or NULL */
    /* 1: prior and simulate may be called concurrently from several threads,
     * each call on its own disjoint rows with its own rng (ctx is shared, so
     * anything it points to must be read-only or synchronized). Datasets are
     * then simulated in parallel over fixed chunks of DSBI_SIM_CHUNK rows.
     * 0 (a zero-initialised struct): one prior and one simulate call for all
     * rows, on the calling thread [0]. */
    int thread_safe;
} dsbi_simulator;

/* Rows per prior/simulate call of a thread-safe simulator. Each chunk draws
 * from its own random streams of (seed, chunk index), so a dataset depends on
 * the seed only, never on the number of threads. */
#define DSBI_SIM_CHUNK 256

/* Built-in tasks ("inverse_kinematics", "gaussian_linear", "two_moons", ...). */
size_t dsbi_task_count(void);
const char *dsbi_task_name(size_t i);
const char *dsbi_task_description(const char *name); /* NULL if unknown */
int dsbi_task_get(const char *name, dsbi_simulator *out);

/* ---------------------------------------------------------------- datasets and tables */

typedef struct dsbi_dataset dsbi_dataset;

/* Copies n rows of (theta, x); rows with a non-finite value are dropped and
 * counted in *n_dropped (may be NULL). Returns an owned dataset or NULL. */
dsbi_dataset *dsbi_dataset_from_arrays(const float *theta, const float *x, size_t n,
                                       size_t dim_theta, size_t dim_x, size_t *n_dropped);
/* Simulates n pairs with the given seed. Non-finite simulations are dropped and
 * their count stored in *n_dropped (may be NULL); the dataset then has fewer
 * rows. Fails if every simulation is non-finite. A thread-safe simulator runs
 * in parallel on dsbi_get_threads() threads, chunk by chunk (see
 * DSBI_SIM_CHUNK): the result is bit-identical for any thread count, and a
 * failure reports the message of the first failing chunk. */
int dsbi_dataset_simulate(const dsbi_simulator *sim, size_t n, uint64_t seed,
                          dsbi_dataset **out, size_t *n_dropped);
void dsbi_dataset_free(dsbi_dataset *ds);
size_t dsbi_dataset_size(const dsbi_dataset *ds);
size_t dsbi_dataset_dim_theta(const dsbi_dataset *ds);
size_t dsbi_dataset_dim_x(const dsbi_dataset *ds);
const float *dsbi_dataset_theta(const dsbi_dataset *ds); /* n x dim_theta, borrowed */
const float *dsbi_dataset_x(const dsbi_dataset *ds);     /* n x dim_x, borrowed */

/* A 2-D table read from CSV (header row) or NPY. Owned; free with dsbi_table_free. */
typedef struct dsbi_table {
    size_t rows, cols;
    float *data;  /* rows x cols */
    char **names; /* cols names (CSV header, or "c1".. for NPY) */
} dsbi_table;

/* Reads a table; the format follows the extension (.csv or .npy). Errors name
 * the file and line/column. */
int dsbi_table_read(const char *path, dsbi_table *out);
void dsbi_table_free(dsbi_table *t);
/* Writes rows x cols values atomically (temp file + rename); .csv or .npy.
 * names may be NULL (CSV header then "c1".."cN"). */
int dsbi_table_write(const char *path, const float *data, size_t rows, size_t cols,
                     const char *const *names);

/* ---------------------------------------------------------------- models */

typedef enum dsbi_schedule {
    DSBI_SCHEDULE_EDM = 0,    /* EDM, variance preserving (default) */
    DSBI_SCHEDULE_COSINE = 1, /* VP cosine in log-SNR form */
    DSBI_SCHEDULE_EDM_VE = 2, /* EDM, variance exploding */
    DSBI_SCHEDULE_LINEAR = 3, /* VP with linear beta(t) in [0.1, 20] (DDPM / score SDE) */
    DSBI_SCHEDULE_FLOW = 4,   /* flow matching: z = (1 - t) theta + t eps */
    DSBI_SCHEDULE_CONSISTENCY = 5, /* consistency model (consistency training, iCT); sampling
                                      ignores the sampler and takes `steps` consistency steps */
    DSBI_SCHEDULE_SCM = 6 /* stable continuous-time consistency model (sCM, Lu & Song 2024:
                             TrigFlow, continuous-time consistency training); samples like
                             CONSISTENCY, in `steps` (1 to a few) network evaluations */
} dsbi_schedule;

typedef enum dsbi_prediction {
    DSBI_PREDICTION_F = 0,     /* EDM preconditioned output (default) */
    DSBI_PREDICTION_NOISE = 1, /* epsilon */
    DSBI_PREDICTION_X = 2,     /* denoised parameters */
    DSBI_PREDICTION_V = 3,     /* velocity alpha*eps - sigma*x */
    DSBI_PREDICTION_SCORE = 4, /* score of the diffused posterior */
    DSBI_PREDICTION_FLOW = 5   /* flow-matching velocity eps - theta (flow schedule only) */
} dsbi_prediction;

typedef enum dsbi_weighting {
    DSBI_WEIGHTING_DEFAULT = 0,  /* EDM for EDM, sigmoid for cosine/linear, flow for flow */
    DSBI_WEIGHTING_NONE = 1,     /* plain noise MSE */
    DSBI_WEIGHTING_EDM = 2,      /* 1 + exp(-lambda)/sigma_data^2 */
    DSBI_WEIGHTING_SIGMOID = 3,  /* sigmoid(2 - lambda), Kingma & Gao 2023 */
    DSBI_WEIGHTING_LIKELIHOOD = 4,
    DSBI_WEIGHTING_FLOW = 5      /* 1/alpha^2: plain velocity MSE of flow matching */
} dsbi_weighting;

typedef enum dsbi_activation {
    DSBI_ACT_SILU = 0,
    DSBI_ACT_GELU = 1,
    DSBI_ACT_MISH = 2,
    DSBI_ACT_TANH = 3,
    DSBI_ACT_RELU = 4
} dsbi_activation;

typedef enum dsbi_time_embedding {
    DSBI_TIME_FOURIER = 0,   /* random Fourier features, trainable frequencies */
    DSBI_TIME_SINUSOIDAL = 1 /* fixed geometric frequencies */
} dsbi_time_embedding;

/* Summary network for data given as sets or sequences (issue 7; see the
 * summary-network section at the end). */
typedef enum dsbi_summary_kind {
    DSBI_SUMMARY_NONE = 0,            /* x is one flat vector per row */
    DSBI_SUMMARY_DEEPSET = 1,         /* per-member MLP, pooling, MLP (Zaheer et al. 2017) */
    DSBI_SUMMARY_SET_TRANSFORMER = 2, /* ISAB/SAB blocks + PMA pooling (Lee et al. 2019) */
    DSBI_SUMMARY_TIMESERIES = 3       /* 1-D convolutions + bidirectional GRU or LSTM */
} dsbi_summary_kind;

typedef enum dsbi_summary_pool {
    DSBI_SUMMARY_POOL_MEAN = 0,
    DSBI_SUMMARY_POOL_MAX = 1
} dsbi_summary_pool;

/* Recurrent layers of the time-series summary ("gru", "lstm" in files and
 * on the command line). */
typedef enum dsbi_summary_rnn {
    DSBI_SUMMARY_RNN_GRU = 0, /* bidirectional GRU (Cho et al. 2014) */
    DSBI_SUMMARY_RNN_LSTM = 1 /* bidirectional LSTM, forget-gate bias 1 (Gers et al. 2000) */
} dsbi_summary_rnn;

/* Architecture and diffusion design of a model. Get defaults, then edit. */
typedef struct dsbi_model_config {
    dsbi_schedule schedule;
    dsbi_prediction prediction;
    dsbi_weighting weighting;
    size_t width;         /* hidden width [256] */
    size_t depth;         /* hidden blocks [4] */
    dsbi_activation activation; /* [SILU] */
    int residual;         /* residual blocks (1) or a plain MLP (0) [1] */
    int layer_norm;       /* layer norm inside residual blocks [0] */
    dsbi_time_embedding time_embedding;
    size_t time_features; /* number of sin+cos features [32] */
    float fourier_scale;  /* std of random Fourier frequencies [3] */
    float sigma_data;     /* EDM sigma_data in standardized units [1] */
    float cosine_shift;   /* shift of the cosine schedule [0] */
    uint64_t seed;        /* initialisation seed [0] */
    /* summary network (issue 7): with summary != NONE each x row is a set or
     * sequence of up to set_size members of set_features values, packed as
     * described at dsbi_dataset_from_sets, and the network's summary_dim
     * outputs condition the diffusion network (trained jointly) */
    dsbi_summary_kind summary;      /* [NONE] */
    size_t set_size;                /* N: most members (steps) per row [0] */
    size_t set_features;            /* F: values per member [1] */
    size_t summary_dim;             /* summary width fed to the diffusion network [16] */
    size_t summary_width;           /* hidden width of the summary network [64] */
    size_t summary_depth;           /* layers per stage (MLP layers, attention blocks,
                                       convolutions) [2] */
    size_t summary_heads;           /* set transformer: attention heads [4] */
    size_t summary_inducing;        /* set transformer: ISAB inducing points, 0 = SAB [8] */
    dsbi_summary_pool summary_pool; /* deep set pooling [MEAN] */
    dsbi_summary_rnn summary_rnn;   /* timeseries: recurrent layers after the
                                       convolutions [GRU] */
    int summary_stats;              /* also feed [mean, ln sd, sqrt n] of the members
                                       (cDiff's DeepSet; sets n apart) [1] */
    float cfg_dropout;              /* classifier-free guidance: probability in [0, 1) that a
                                       training row's condition is replaced by a learned null
                                       condition, 0 = off (see the section at the end) [0] */
    float ot_coupling;              /* flow matching only (schedule FLOW): minibatch OT coupling
                                       of the training noise, conditional (C^2OT, src/gen/ot.c):
                                       noise moves between rows only within about this fraction
                                       r in (0, 0.05] of the row pairs, those with the closest x
                                       (0.01 is usual; larger r biases the posterior);
                                       0 = off, independent noise [0] */
} dsbi_model_config;

dsbi_model_config dsbi_model_config_default(void);

/* Progress report, called once per epoch; return non-zero to stop training
 * (fit then returns DSBI_STATUS_ERR_INTERRUPTED, the model keeps its weights). */
typedef int (*dsbi_progress_fn)(void *user, size_t epoch, size_t epochs,
                                double train_loss, double val_loss, double seconds);
/* Warnings (dropped simulations, clipped values ...), one line each. */
typedef void (*dsbi_log_fn)(void *user, const char *msg);

typedef struct dsbi_train_config {
    size_t epochs;       /* [300] */
    size_t batch_size;   /* [256] */
    float lr;            /* peak learning rate [1e-3] */
    float lr_min;        /* final learning rate of the cosine decay [1e-6] */
    float warmup;        /* fraction of steps of linear warm-up [0.05] */
    float weight_decay;  /* AdamW decoupled decay [0] */
    float clip_norm;     /* gradient-norm clip, 0 = off [1.5] */
    float ema_decay;     /* EMA of weights used for sampling, 0 = off [0.999] */
    float val_fraction;  /* validation split [0.1] */
    size_t patience;     /* stop after this many epochs without a better validation
                            loss, 0 = never [30]; with a validation set the weights
                            of the best validation epoch are kept either way */
    size_t sims_per_epoch; /* online training: fresh simulations per epoch [10000] */
    const char *checkpoint; /* checkpoint file, written atomically every checkpoint_every
                               epochs, when training stops and at the end [NULL = none] */
    size_t checkpoint_every; /* [10] */
    int resume;          /* continue from `checkpoint`: with the same data, seed, epochs,
                            batch and thread count the result is bit-identical [0] */
    uint64_t seed;       /* [0] */
    dsbi_progress_fn progress;
    dsbi_log_fn log;
    void *user;
} dsbi_train_config;

dsbi_train_config dsbi_train_config_default(void);

typedef enum dsbi_sampler {
    DSBI_SAMPLER_DDIM = 0,  /* exponential-integrator ODE (eta = 0) / DDIM (default) */
    DSBI_SAMPLER_EULER = 1, /* Euler on the probability-flow ODE */
    DSBI_SAMPLER_HEUN = 2,  /* Heun (2nd order) on the probability-flow ODE */
    DSBI_SAMPLER_EM = 3,    /* Euler-Maruyama on the reverse SDE */
    DSBI_SAMPLER_DPM2M = 4, /* DPM-Solver++(2M): 2nd-order multistep ODE, 1 evaluation/step */
    DSBI_SAMPLER_RK45 = 5,  /* adaptive Dormand-Prince 5(4) on the ODE, --atol/--rtol */
    DSBI_SAMPLER_SDE_ADAPTIVE = 6, /* adaptive two-step reverse SDE (Jolicoeur-Martineau
                                      et al. 2021): Euler-Maruyama vs improved Euler */
    DSBI_SAMPLER_TSIT5 = 7, /* adaptive Tsitouras 5(4) on the ODE, --atol/--rtol */
    DSBI_SAMPLER_PC = 8     /* predictor-corrector (Song et al. 2021): Euler-Maruyama on the
                               reverse SDE + corrector_steps Langevin steps per step */
} dsbi_sampler;

typedef struct dsbi_sample_config {
    dsbi_sampler sampler;
    size_t steps;       /* time steps [100] */
    float stop_time;    /* integrate from t = 1 down to this time [0] */
    float eta;          /* DDIM stochasticity, 0 = deterministic [0] */
    size_t max_nfe;     /* evaluation budget per draw, 0 = none; exceeding it fails */
    float atol, rtol;   /* adaptive samplers: error tolerances, 0 = the sampler's default
                           (rk45, tsit5: 1e-3, 1e-3; sde-adaptive: 1e-3, 1e-2) [0, 0] */
    size_t corrector_steps; /* pc: Langevin corrector steps per time step, 0..1000; a
                               step then costs 1 + corrector_steps evaluations [1] */
    float snr;          /* pc: corrector signal-to-noise ratio r, Langevin step
                           2 r^2 D / mean |score|^2; 0 = the default 0.08 [0.08] */
    uint64_t seed;      /* [0] */
    float guidance_scale; /* classifier-free guidance scale w >= 0: 1 = plain posterior
                             sampling, 0 = the learned prior, other values need a model
                             trained with cfg_dropout > 0 (section at the end) [1] */
} dsbi_sample_config;

dsbi_sample_config dsbi_sample_config_default(void);

/* Statistics of one sampling call. */
typedef struct dsbi_sample_stats {
    size_t nfe;          /* network evaluations per draw (the largest over chunks) */
    double seconds;
} dsbi_sample_stats;

typedef struct dsbi_model dsbi_model;

/* Creates an untrained model. Returns an owned model (free with dsbi_model_free)
 * or NULL with dsbi_last_error() set. */
dsbi_model *dsbi_model_create(const dsbi_model_config *cfg, size_t dim_theta, size_t dim_x);
void dsbi_model_free(dsbi_model *m);
size_t dsbi_model_dim_theta(const dsbi_model *m);
size_t dsbi_model_dim_x(const dsbi_model *m);
size_t dsbi_model_num_params(const dsbi_model *m);
dsbi_model_config dsbi_model_get_config(const dsbi_model *m);
/* Names of parameters and data stored with the model (NULL if none). */
const char *dsbi_model_theta_name(const dsbi_model *m, size_t i);
int dsbi_model_set_names(dsbi_model *m, const char *const *theta_names,
                         const char *const *x_names);

/* Trains on an offline dataset (borrowed), with a validation split. Fits the
 * standardization on the training rows. */
int dsbi_model_fit(dsbi_model *m, const dsbi_dataset *ds, const dsbi_train_config *cfg);
/* Consistency distillation (Song et al. 2023): the next dsbi_model_fit or
 * dsbi_model_fit_online of m, a consistency model (schedule CONSISTENCY),
 * learns the probability-flow ODE of teacher, a trained diffusion or
 * flow-matching model of the same dimensions (borrowed: keep it alive until
 * the fit returns), instead of consistency training's one-sample targets. m
 * adopts the teacher's standardization and bounds; the data should be the
 * teacher's training data or more simulations of the same simulator. Models
 * with a summary network or condition dropout are refused. NULL detaches. */
int dsbi_model_set_teacher(dsbi_model *m, const dsbi_model *teacher);

/* Trains on fresh simulations each epoch (cfg->sims_per_epoch). */
int dsbi_model_fit_online(dsbi_model *m, const dsbi_simulator *sim,
                          const dsbi_train_config *cfg);
/* Per-epoch losses of the last fit (borrowed; valid until the next fit/free). */
size_t dsbi_model_loss_history(const dsbi_model *m, const double **train, const double **val);

/* Draws n posterior samples for one observation x_obs (dim_x values) into
 * theta (n x dim_theta). stats may be NULL. Deterministic for a given seed,
 * whatever the thread count. */
int dsbi_model_sample(dsbi_model *m, const float *x_obs, size_t n,
                      const dsbi_sample_config *cfg, float *theta, dsbi_sample_stats *stats);

/* Default number of sampling steps for a model: 100 for diffusion and flow
 * matching, 2 for a consistency model. */
size_t dsbi_model_default_steps(const dsbi_model *m);

/* Saves in the safetensors layout (atomic: temp file + rename). */
int dsbi_model_save(const dsbi_model *m, const char *path);
/* Loads a model; a truncated, corrupted or foreign file gives NULL and a
 * message naming the file and the check that failed. */
dsbi_model *dsbi_model_load(const char *path);
/* One-paragraph human description of the model (owned string, free()). */
char *dsbi_model_describe(const dsbi_model *m);

/* Names for CLI options and files; parse returns -1 if unknown. */
const char *dsbi_schedule_name(dsbi_schedule s);
const char *dsbi_prediction_name(dsbi_prediction p);
const char *dsbi_weighting_name(dsbi_weighting w);
const char *dsbi_activation_name(dsbi_activation a);
const char *dsbi_sampler_name(dsbi_sampler s);
int dsbi_schedule_parse(const char *s);
int dsbi_prediction_parse(const char *s);
int dsbi_weighting_parse(const char *s);
int dsbi_activation_parse(const char *s);
int dsbi_sampler_parse(const char *s);

/* ---------------------------------------------------------------- figures */

/* Loss curves (train and validation per epoch) as PNG or SVG (by extension). */
int dsbi_plot_loss(const char *path, const double *train, const double *val, size_t epochs);
/* Marginal histograms of n x d samples, one panel per parameter; names may be NULL;
 * truth may be NULL (else d values drawn as vertical lines). */
int dsbi_plot_marginals(const char *path, const float *samples, size_t n, size_t d,
                        const char *const *names, const float *truth);

/* The inverse-kinematics figure: a row of marginal histograms (one per
 * parameter of theta = (h, a1, a2, a3)) and a panel with the arm drawn for
 * up to max_arms posterior draws reaching for x_obs (2 values, marked). */
int dsbi_plot_arm(const char *path, const float *theta, size_t n, const float *x_obs,
                  size_t max_arms);

/* ---------------------------------------------------------------- benchmark tasks and metrics (issue 3) */

/* Where the sbibm benchmark files live: env DSBI_SBIBM_DIR, else
 * "../shared/benchmarks/sbibm" (relative to the current directory). Static or
 * environment string; never NULL. */
const char *dsbi_sbibm_dir(void);

/* Space in which a benchmark's MCMC-based methods work (sbibm): none, logit
 * of a box prior, or log of a positive (log-normal) prior. */
typedef enum dsbi_transform {
    DSBI_TRANSFORM_NONE = 0,
    DSBI_TRANSFORM_LOGIT = 1,
    DSBI_TRANSFORM_LOG = 2
} dsbi_transform;

/* What a built-in task declares about its prior. */
typedef struct dsbi_task_info {
    size_t dim_theta, dim_x;
    double lower, upper;      /* prior support per coordinate (+-INFINITY if unbounded) */
    dsbi_transform transform;
    int sbibm;                /* 1 if reference posteriors exist in dsbi_sbibm_dir() */
} dsbi_task_info;

int dsbi_task_info_get(const char *name, dsbi_task_info *out);
/* Prior log-density of n rows of theta (n x dim_theta) into out (n values);
 * -INFINITY outside the support. */
int dsbi_task_log_prior(const char *name, const float *theta, size_t n, double *out);

/* Classifier two-sample test (sbibm's C2ST, shared/benchmarks/sbibm/C2ST.md):
 * z-score by the reference, k-fold CV of an MLP d -> 10d -> 10d -> 1 (ReLU,
 * sigmoid output, BCE + L2), Adam, early stop on the training loss. */
typedef struct dsbi_c2st_config {
    size_t folds;            /* [5] */
    size_t hidden_factor;    /* hidden width = factor * d [10] */
    size_t batch;            /* [200] */
    size_t max_epochs;       /* [10000] */
    size_t n_iter_no_change; /* [10]: stop after n_iter_no_change + 1 epochs without progress */
    float lr;                /* Adam step [1e-3] */
    float alpha;             /* L2 on weights [1e-4] */
    float tol;               /* required improvement of the epoch loss [1e-4] */
    int z_score;             /* standardise both sets by the reference [1] */
    uint64_t seed;           /* fold split, initialisation, shuffles [1] */
} dsbi_c2st_config;

dsbi_c2st_config dsbi_c2st_config_default(void);
/* C2ST accuracy between ref (n_ref x d, the reference: it sets the z-scoring)
 * and alt (n_alt x d). Folds run in parallel over the library's threads; the
 * result does not depend on the thread count. cfg may be NULL (defaults). */
int dsbi_c2st(const float *ref, size_t n_ref, const float *alt, size_t n_alt, size_t d,
              const dsbi_c2st_config *cfg, double *accuracy);

/* Unbiased MMD^2 (Gretton et al. 2012) with a Gaussian kernel
 * exp(-|a - b|^2 / (2 h^2)); bandwidth h <= 0 selects the median heuristic
 * (median pairwise distance of the pooled sets, on at most 1000 points of
 * each). Writes the estimate (may be slightly negative) and the h used
 * (h_used may be NULL). */
int dsbi_mmd2(const float *x, size_t n, const float *y, size_t m, size_t d, double bandwidth,
              double *mmd2, double *h_used);

/* Sliced Wasserstein-2 over n_dirs random unit directions (seeded):
 * sliced = (mean over directions of W2^2 of the 1-D projections)^(1/2),
 * max_sliced = (max over directions of W2^2)^(1/2). Either output may be NULL. */
int dsbi_sliced_wasserstein(const float *x, size_t n, const float *y, size_t m, size_t d,
                            size_t n_dirs, uint64_t seed, double *sliced, double *max_sliced);

/* end of benchmark section */

/* ---------------------------------------------------------------- diagnostics (issue 5) */

/* Calibration diagnostics of an amortized posterior over a test set of n
 * simulations (theta*_i, x_i), i = 1..n: truth is n x d (theta*_i), draws are
 * L posterior draws for each x_i, laid out as n blocks of L rows of d values
 * (n x L x d). Every function borrows its arrays for the call only. */

/* SBC ranks (Talts et al. 2018): ranks[i*d+j] = #{l : draw_ilj < theta*_ij},
 * ties counting one half (rounded down), so each rank is in 0..L and uniform on
 * {0..L} for an exact posterior. */
int dsbi_sbc_ranks(const float *truth, const float *draws, size_t n, size_t L, size_t d,
                   uint32_t *ranks);

/* Simultaneous 1 - alpha band for the ECDF of n ranks uniform on {0..L}
 * (Säilynoja, Bürkner & Vehtari 2022, the simulation method of their section
 * 2.2): the ECDF is evaluated at n_points - 1 interior points p_k = t_k/(L+1)
 * (t_k = round(k (L+1)/n_points), where n ECDF(p_k) ~ Binomial(n, p_k) exactly);
 * gamma = min over k of the two-sided binomial tail probability of the count;
 * gamma_crit = the alpha quantile of gamma over n_sims simulated uniform rank
 * sets (seeded, so the band is reproducible); the band is the binomial
 * gamma_crit/2 and 1 - gamma_crit/2 quantiles divided by n. p, lo, hi receive
 * n_points - 1 values each; gamma_crit may be NULL. */
int dsbi_sbc_band(size_t n, size_t L, size_t n_points, double alpha, size_t n_sims,
                  uint64_t seed, double *p, double *lo, double *hi, double *gamma_crit);

/* TARP (Lemos et al. 2023) as cDiff computes it: truth and draws normalised
 * per coordinate by the min and max of truth over the test set, one reference
 * point r_i ~ U[0,1]^d per simulation (seeded), f_i = fraction of draws closer
 * to r_i than theta*_i (Euclidean). ECP(alpha_k) on the grid alpha_k =
 * k/(n_alpha-1) is the fraction of f_i below alpha_k, with each f_i's mass
 * spread uniformly over its bin [c_i, c_i + 1)/(L + 1) (exactly alpha in
 * expectation for an exact posterior, whatever L). area = integral of
 * |ECP - alpha| (trapezoid); 0 is perfect, about 0.31/sqrt(n) is the
 * Monte-Carlo level. alpha and ecp get n_alpha values (n_alpha >= 2). */
int dsbi_tarp(const float *truth, const float *draws, size_t n, size_t L, size_t d,
              uint64_t seed, size_t n_alpha, double *alpha, double *ecp, double *area);

/* Per-parameter verdict of dsbi_calibrate. */
typedef enum dsbi_verdict {
    DSBI_VERDICT_CALIBRATED = 0,     /* "well calibrated" */
    DSBI_VERDICT_OVERCONFIDENT = 1,  /* too narrow: coverage below nominal, U-shaped ranks */
    DSBI_VERDICT_UNDERCONFIDENT = 2, /* too wide: coverage above nominal, hump-shaped ranks */
    DSBI_VERDICT_BIASED = 3          /* shifted: ranks pile up on one side */
} dsbi_verdict;

/* "well calibrated", "over-confident", "under-confident", "biased". Static. */
const char *dsbi_verdict_name(dsbi_verdict v);

typedef struct dsbi_calibration_config {
    size_t n_levels;   /* central-interval levels k/(n_levels+1), k = 1..n_levels [99] */
    size_t n_points;   /* ECDF grid intervals, 0 = min(L + 1, 100) [0] */
    double band_alpha; /* SBC band and log-gamma level: 1 - band_alpha [0.05] */
    size_t band_sims;  /* simulations behind the band [2000] */
    size_t tarp_points; /* TARP alpha grid [101] */
    uint64_t seed;     /* band simulation and TARP reference points [5] */
} dsbi_calibration_config;

dsbi_calibration_config dsbi_calibration_config_default(void);

/* Summary of one parameter. u_i = (rank_i + 1/2)/(L + 1) is the fractional
 * rank; for an exact posterior it is uniform up to the 1/(L+1) grid. */
typedef struct dsbi_param_calibration {
    double rank_shift;     /* mean(u) - 1/2; < 0: the posterior sits above the truth */
    double log_gamma;      /* Modrák et al. 2023: log(gamma / gamma_crit); < 0 means
                              the rank ECDF leaves the 1 - band_alpha band */
    int sbc_outside;       /* 1 if the rank ECDF leaves the simultaneous band */
    double ecdf_max_diff;  /* max |ECDF(p_k) - p_k| */
    double coverage_error; /* median over levels of |coverage - level| (BayesFlow's
                              calibration error) */
    double coverage_bias;  /* mean over levels of coverage - level; < 0 over-confident */
    double mc_se;          /* Monte-Carlo sd of rank_shift and coverage_bias for an
                              exact posterior: 1/sqrt(12 n) */
    double contraction;    /* mean over the test set of 1 - posterior var / prior var
                              (prior var = variance of the test thetas) */
    double z_mean, z_sd;   /* mean and sd over the test set of the posterior z-score
                              (posterior mean - truth) / posterior sd */
    double rmse;           /* RMSE of the posterior mean */
    double nrmse;          /* rmse / sd of the test thetas (1 = no better than the prior mean) */
    double correlation;    /* Pearson correlation of posterior mean and truth */
    dsbi_verdict verdict;
    int direction;         /* biased: +1 posterior too high, -1 too low; else 0 */
} dsbi_param_calibration;

/* Everything dsbi_calibrate computes. Arrays are owned by the struct; release
 * them with dsbi_calibration_free. */
typedef struct dsbi_calibration {
    size_t n, L, d;
    dsbi_param_calibration *param; /* d */
    uint32_t *ranks;               /* n x d */
    double *post_mean, *post_sd;   /* n x d */
    double *z_score, *contraction; /* n x d, per simulation */
    /* SBC rank ECDF at n_ecdf points p (interior points of [0, 1]) with its band */
    size_t n_ecdf;
    double *ecdf_p, *band_lo, *band_hi; /* n_ecdf */
    double *ecdf;                       /* n_ecdf x d */
    double band_alpha, gamma_crit; /* band level 1 - band_alpha and its gamma threshold */
    /* expected coverage of central credible intervals */
    size_t n_levels;
    double *levels;                     /* n_levels */
    double *coverage;                   /* n_levels x d */
    double *coverage_lo, *coverage_hi;  /* n_levels: pointwise 95% binomial band */
    /* TARP (joint over all parameters) */
    size_t n_tarp;
    double *tarp_alpha, *tarp_ecp;      /* n_tarp */
    double tarp_area;
    double tarp_signed;     /* integral of ECP - alpha: > 0 conservative (under-confident),
                               < 0 over-confident or biased (Lemos et al. 2023, fig. 2) */
    double tarp_mc;         /* Monte-Carlo level of tarp_area: 0.31 / sqrt(n) */
} dsbi_calibration;

/* Runs every diagnostic above on (truth, draws) and decides a verdict per
 * parameter, with mc = mc_se = 1/sqrt(12 n):
 *   biased          if |rank_shift| > max(3 mc, 0.1) (about 0.35 posterior sd);
 *   over-confident  else if coverage_bias < -max(3 mc, 0.02);
 *   under-confident else if coverage_bias > max(3 mc, 0.02);
 *   else, if the rank ECDF leaves its band widened to the family-wise level
 *   1 - band_alpha/d (Bonferroni over the d parameters, so an exact posterior
 *   gets a false alarm on some parameter only band_alpha of the time),
 *   whichever of |rank_shift| and |coverage_bias| is larger names the fault
 *   (biased, or by the sign of coverage_bias over-/under-confident);
 *   else well calibrated.
 * Needs n >= 2 and L >= 2; cfg may be NULL (defaults). out is overwritten;
 * release it with dsbi_calibration_free. */
int dsbi_calibrate(const float *truth, const float *draws, size_t n, size_t L, size_t d,
                   const dsbi_calibration_config *cfg, dsbi_calibration *out);
/* Frees the arrays of c and zeroes it; accepts NULL and zeroed structs. */
void dsbi_calibration_free(dsbi_calibration *c);

/* Pair plot of n x d samples: histograms on the diagonal, 2-D scatter below
 * it; optional reference samples (n_ref x d, e.g. a reference posterior, in
 * orange) and true parameters (d values, red lines and crosses). names, ref
 * and truth may be NULL. A cell is 220 px (smaller beyond 4 parameters); at
 * most 16 parameters. */
int dsbi_plot_pairs(const char *path, const float *samples, size_t n, size_t d,
                    const char *const *names, const float *ref, size_t n_ref,
                    const float *truth);
/* SBC rank ECDF minus its expectation, with the simultaneous band: one panel per
 * parameter (up to 4 per row, 300 x 270 px each). names may be NULL. */
int dsbi_plot_sbc_ecdf(const char *path, const dsbi_calibration *c, const char *const *names);
/* Empirical vs nominal coverage of central intervals with the 95% Monte-Carlo
 * band, one panel per parameter (same grid). */
int dsbi_plot_coverage(const char *path, const dsbi_calibration *c, const char *const *names);
/* TARP expected coverage vs credibility level, one 560 x 520 px panel. */
int dsbi_plot_tarp(const char *path, const dsbi_calibration *c);
/* Recovery: posterior mean vs truth with +-1 posterior sd bars, one panel per
 * parameter (same grid), correlation and NRMSE in each panel. */
int dsbi_plot_recovery(const char *path, const dsbi_calibration *c, const char *const *names);
/* Posterior z-score vs contraction, one panel per parameter (same grid). */
int dsbi_plot_z_contraction(const char *path, const dsbi_calibration *c,
                            const char *const *names);

/* end of diagnostics section */

/* ---------------------------------------------------------------- user simulators and data (issue 8) */

/* Simulator plugins: a shared library that exports the small C ABI of
 * include/diffsbi_plugin.h (written in C, C++, Fortran bind(C), Rust ...).
 * dsbi_plugin_open loads it with dlopen, checks its ABI version and info, and
 * fills a dsbi_simulator whose prior and simulate callbacks run the plugin in
 * worker processes (fork; results through shared memory), chunk_rows rows per
 * plugin call, with one seed per call drawn from the library's RNG: the same
 * seed gives the same simulations whatever the number of workers. A plugin
 * that crashes, hangs past the timeout or returns non-zero never takes the
 * caller down: the callback returns DSBI_STATUS_ERR_SIMULATOR and the message
 * names the plugin, the signal or timeout and the theta row that caused it
 * (the failed chunk is re-run one row at a time to find it), e.g.
 * "plugin libsir.so crashed (signal 11) at theta = (0.41, 0.12) (row 17 of batch)". */
typedef struct dsbi_plugin dsbi_plugin;

typedef struct dsbi_plugin_config {
    size_t workers;    /* worker processes, 0 = dsbi_get_threads() at each call [0] */
    double timeout;    /* seconds one plugin call (chunk_rows rows) may take, 0 = no limit [0] */
    size_t chunk_rows; /* rows per plugin call [64]; one seed per chunk, so changing it
                          changes the random numbers (the worker count does not) */
    const char *args;  /* string given to the plugin's optional dsbi_plugin_init [NULL] */
    int in_process;    /* 1: call the plugin directly in this process (no isolation,
                          no timeout; for debuggers) [0] */
} dsbi_plugin_config;

dsbi_plugin_config dsbi_plugin_config_default(void);
/* Loads the plugin at path (a path with a '/' or a name dlopen finds) with the
 * default config. On success *out is a simulator valid until
 * dsbi_plugin_close(*handle) (its names and ctx belong to the handle). Errors
 * name the file and the missing or wrong symbol. */
int dsbi_plugin_open(const char *path, dsbi_simulator *out, dsbi_plugin **handle);
/* Same with a config (NULL = defaults); the config is copied, args too. */
int dsbi_plugin_open_ext(const char *path, const dsbi_plugin_config *cfg, dsbi_simulator *out,
                         dsbi_plugin **handle);
/* Calls the plugin's dsbi_plugin_free, unloads it and frees the handle. NULL is fine. */
void dsbi_plugin_close(dsbi_plugin *p);

/* Parses a table held in memory (len bytes); the format follows the extension
 * of name (.csv/.txt or .npy), which also names the source in messages. */
int dsbi_table_parse(const char *name, const void *data, size_t len, dsbi_table *out);
/* Loads a model from len bytes in memory (the bytes of a model file); name is
 * used in messages. NULL on failure, like dsbi_model_load. */
dsbi_model *dsbi_model_load_memory(const char *name, const void *data, size_t len);

/* Missing data. Instead of dropping rows with a non-finite x entry, a masked
 * dataset keeps them: each non-finite x entry is replaced by its column's mean
 * over the finite entries (0 after standardization, up to the validation
 * split), and one 0/1 column per x column is appended (1 = missing), so x has
 * 2 dim_x columns. Rows with a non-finite theta are still dropped. A model
 * trained on such data is "masked": its x names are the data names followed by
 * the same names with DSBI_MASK_SUFFIX, and dsbi_model_prepare_obs turns an
 * observation with NaN entries into the 2 dim_x values it expects. */
#define DSBI_MASK_SUFFIX "#missing"

/* Like dsbi_dataset_from_arrays with imputation; *n_imputed (may be NULL)
 * receives the number of imputed entries, *n_dropped the rows dropped for a
 * non-finite theta. A column with no finite entry at all is imputed with 0. */
dsbi_dataset *dsbi_dataset_from_arrays_masked(const float *theta, const float *x, size_t n,
                                              size_t dim_theta, size_t dim_x,
                                              size_t *n_imputed, size_t *n_dropped);
/* Like dsbi_dataset_simulate (same seeds, same draws) with imputation. */
int dsbi_dataset_simulate_masked(const dsbi_simulator *sim, size_t n, uint64_t seed,
                                 dsbi_dataset **out, size_t *n_imputed, size_t *n_dropped);
/* Name of x column i stored with the model (NULL if none). */
const char *dsbi_model_x_name(const dsbi_model *m, size_t i);
/* Number of raw observation values the model takes: dim_x, or dim_x / 2 for a
 * masked model (x names "a", "b", "a#missing", "b#missing"). */
size_t dsbi_model_obs_dim(const dsbi_model *m);
/* Writes the dim_x model inputs for a raw observation of dsbi_model_obs_dim
 * values: a copy for a plain model (non-finite values refused); for a masked
 * model NaN/inf entries become the training mean of their column plus mask 1. */
int dsbi_model_prepare_obs(const dsbi_model *m, const float *x_raw, float *x);

/* What training a model costs, before training (train --dry-run). */
typedef struct dsbi_train_estimate {
    size_t n_params;
    size_t param_bytes;      /* weights (float32) */
    size_t optimizer_bytes;  /* gradients, Adam moments, EMA and best weights */
    size_t activation_bytes; /* activations, their gradients and saved state for one batch */
    size_t steps;            /* optimizer steps of the whole run */
    double seconds_per_step; /* measured on random data (0 if not measured) */
    double seconds_total;    /* seconds_per_step * steps */
} dsbi_train_estimate;

/* Fills *out for a model m trained with cfg on n_rows rows (offline; the
 * validation split is taken off) or cfg->sims_per_epoch per epoch (online:
 * pass n_rows = 0). timing_steps > 0 times that many training steps on random
 * data with a copy of the model (m is not changed). */
int dsbi_model_estimate(const dsbi_model *m, const dsbi_train_config *cfg, size_t n_rows,
                        size_t timing_steps, dsbi_train_estimate *out);

/* end of user simulators section */

/* ---------------------------------------------------------------- tall data and guidance (issue 6) */

/* Tall data: the posterior p(theta | x_1..x_n) of n i.i.d. observations from
 * a model trained on single observations (Linhart et al. 2024, "Diffusion
 * posterior sampling for SBI in tall data settings"), by composing the n
 * individual scores with the diffused prior score:
 *   GAUSS  backward kernels Gaussian with covariances estimated per
 *          observation by sampling it (cov_draws draws); the default
 *   JAC    kernel covariances from the network's Jacobian (D backward
 *          passes per observation and step; exact for Gaussian posteriors,
 *          unstable when the score is inaccurate)
 *   FNPSE  the plain sum of scores (Geffner et al. 2023) with annealed
 *          Langevin (langevin_steps per noise level): the baseline
 *   PF     PF-NPSE (Geffner et al. 2023): a model with a set summary network
 *          trained on sets of up to N observations scores whole groups; the
 *          n observations are split into ceil(n / group_size) groups composed
 *          with the F-NPSE sum and Langevin (dsbi_model_sample_tall_set; GAUSS,
 *          JAC and FNPSE compose the groups of a set model too)
 * The prior must be given (it is not stored with a model): a normal
 * (mean, sd per parameter) or a box (lo, hi per parameter), in the user's
 * parameter space; it is mapped into the model's standardized space, where it
 * stays a normal or a box. */
typedef enum dsbi_tall_method {
    DSBI_TALL_GAUSS = 0,
    DSBI_TALL_JAC = 1,
    DSBI_TALL_FNPSE = 2,
    DSBI_TALL_PF = 3
} dsbi_tall_method;

typedef enum dsbi_prior_kind {
    DSBI_PRIOR_NORMAL = 0, /* independent normals: prior_a = mean, prior_b = sd */
    DSBI_PRIOR_BOX = 1     /* independent uniforms: prior_a = lo, prior_b = hi */
} dsbi_prior_kind;

/* What a tall sampling call did (optional output, see dsbi_tall_config.info). */
typedef struct dsbi_tall_info {
    size_t n_solves;     /* (COMP) solves, one per draw, step and score evaluation */
    size_t n_fallback;   /* solves whose Lambda was not positive definite (or a JAC
                            kernel covariance was not): those used the F-NPSE sum */
    double cov_seconds;  /* GAUSS: time spent estimating the covariances */
    size_t n_groups;     /* dsbi_model_sample_tall_set: the groups composed */
} dsbi_tall_info;

/* Constraint guidance: a constraint c(theta) <= 0 on the user's parameters.
 * The callback writes c (n values) and its gradient (n x dim) for n rows of
 * theta (n x dim, user space); return 0, non-zero on failure (the rows are
 * then left unguided). Applied on the denoised estimate x_hat at every
 * sampler evaluation (BayesFlow-style, ANCHORS.md a.5): with the penalty
 * log g = -softplus(s(t) c), s(t) = scale alpha^2/sigma^2, the score gains
 * strength * grad_z log g, i.e. (taking dx_hat/dz = 1/alpha) x_hat moves by
 *   -strength * sigmoid(s(t) c(x_hat)) * grad c(x_hat)   (standardized units):
 * a gentle push at high noise, a hard wall (only where c > 0) near t = 0. */
typedef int (*dsbi_constraint_fn)(void *user, const float *theta, size_t n, size_t dim,
                                  double *c, double *grad);

typedef struct dsbi_guide {
    dsbi_constraint_fn fn;
    void *user;
    float strength; /* [1] */
    float scale;    /* factor on s(t) = alpha^2/sigma^2 [1] */
} dsbi_guide;

/* A guide with defaults for fn/user. */
dsbi_guide dsbi_guide_make(dsbi_constraint_fn fn, void *user);

/* Constraints as text (the CLI's --guide): "lhs <= rhs" or "lhs >= rhs"
 * (also < and >), with + - * / ^, unary minus, parentheses, numbers, the
 * functions sin cos tan exp log sqrt abs tanh, and parameter names: names[i]
 * (may be NULL) or theta_1 .. theta_dim. Differentiated exactly (forward-mode
 * automatic differentiation). Returns an owned expression or NULL; the
 * message names the column, e.g. "guide 'sin(a1) >= ': column 12: unexpected
 * end: expected a number, a name or '('". */
typedef struct dsbi_expr dsbi_expr;
dsbi_expr *dsbi_expr_parse(const char *src, const char *const *names, size_t dim);
void dsbi_expr_free(dsbi_expr *e);
const char *dsbi_expr_source(const dsbi_expr *e);
/* c(theta) (lhs - rhs for <=, rhs - lhs for >=) and its gradient (dim values,
 * may be NULL) at theta (dim doubles). */
int dsbi_expr_eval(const dsbi_expr *e, const double *theta, double *value, double *grad);
/* A dsbi_constraint_fn: user = the dsbi_expr. */
int dsbi_expr_constraint(void *expr, const float *theta, size_t n, size_t dim, double *c,
                         double *grad);

typedef struct dsbi_tall_config {
    dsbi_tall_method method;     /* [GAUSS] */
    dsbi_prior_kind prior;       /* [NORMAL] */
    const double *prior_a;       /* dim_theta values (required if n_obs > 1, borrowed) */
    const double *prior_b;       /* dim_theta values (required if n_obs > 1, borrowed) */
    dsbi_sample_config sample;   /* sampler of the composed field (GAUSS, JAC) and seed
                                    [ddim, 100 steps, eta 0.5]; FNPSE uses steps as the
                                    number of noise levels */
    size_t cov_draws;            /* GAUSS: draws per observation for C_j [1000] */
    size_t cov_steps;            /* GAUSS: DDIM steps of those draws [100] */
    float cov_eta;               /* GAUSS: DDIM eta of those draws [0.5] */
    size_t langevin_steps;       /* FNPSE: Langevin steps per noise level [5] */
    float langevin_tau;          /* FNPSE: step-size factor [0.5] */
    float clip;                  /* clip the denoised estimate to [-clip, clip] in
                                    standardized units, 0 = off [0] */
    dsbi_tall_info *info;        /* if not NULL, receives what the call did */
    const dsbi_guide *guide;     /* constraints (borrowed), applied in every method but
                                    FNPSE [NULL] */
    size_t n_guide;              /* [0] */
    size_t group_size;           /* dsbi_model_sample_tall_set: most members per group,
                                    0 = the model's set size N [0] */
} dsbi_tall_config;

dsbi_tall_config dsbi_tall_config_default(void);

/* Draws n samples of theta ~ p(theta | x_obs rows) into theta (n x dim_theta)
 * for n_obs observations x_obs (n_obs x dsbi_model_dim_x values, each row
 * prepared as for dsbi_model_sample). Memory per chunk of up to 512 draws:
 * a D x D matrix per draw (JAC: two); the observations are streamed, so n_obs
 * only costs time (n_obs network evaluations per step, GAUSS adds n_obs
 * covariance runs and n_obs D x D matrices). stats->nfe counts network
 * evaluations per draw (n_obs per step). n_obs = 1 is plain sampling.
 * Deterministic for a given cfg->sample.seed, whatever the thread count. */
int dsbi_model_sample_tall(dsbi_model *m, const float *x_obs, size_t n_obs, size_t n,
                           const dsbi_tall_config *cfg, float *theta, dsbi_sample_stats *stats);
/* The same for a model with a deep-set or set-transformer summary network
 * (PF-NPSE when cfg->method is DSBI_TALL_PF): the n_members observations
 * (n_members x set_features values) are split into G = ceil(n_members /
 * group_size) groups of balanced sizes, each group's summary conditions the
 * score, and the G group scores are composed as G observations (stats->nfe
 * is G per step). Any method may be used; PF is F-NPSE over groups. */
int dsbi_model_sample_tall_set(dsbi_model *m, const float *members, size_t n_members, size_t n,
                               const dsbi_tall_config *cfg, float *theta, dsbi_sample_stats *stats);

/* end of tall data section */

/* ---------------------------------------------------------------- summary networks (issue 7) */

/* Set and sequence data. A model whose config has summary != NONE takes each
 * x row as a set (or sequence) of 1..N members of F values: a summary
 * network (deep set, set transformer, or convolutions + bidirectional GRU
 * or LSTM) maps it to summary_dim values that condition the diffusion
 * network, and the diffusion loss trains both together (Chen et al. 2025,
 * cDiff). Member values are standardized per feature with training
 * statistics; the summary of an observation is computed once per sampling
 * call.
 *
 * Packed rows: such a model's dim_x is 1 + N F and an x row is
 *   [n, member_1 (F values), ..., member_n, padding (zeros) up to N members],
 * so the existing datasets, simulators (dsbi_model_fit_online) and files
 * carry sets unchanged. n must be an integer in 1..N. */
#define DSBI_SET_ROW(N, F) (1 + (N) * (F))

/* Packs n sets into an owned dataset: x is n x N x F (members beyond
 * counts[i] are ignored and may hold anything, NaN included), counts n
 * values in 1..N. Rows with a non-finite theta or valid member value are
 * dropped and counted in *n_dropped (may be NULL); a count outside 1..N is
 * an error naming the row. */
dsbi_dataset *dsbi_dataset_from_sets(const float *theta, const float *x, const size_t *counts,
                                     size_t n, size_t dim_theta, size_t N, size_t F,
                                     size_t *n_dropped);
/* Writes one packed row (DSBI_SET_ROW(N, F) values) for count members
 * (count x F values); for simulators that produce sets. Fails if count is
 * not in 1..N. */
int dsbi_set_pack(const float *members, size_t count, size_t N, size_t F, float *row);

/* Creates a model for sets of up to N members of F values: cfg->summary
 * (NONE becomes DEEPSET) with set_size = N and set_features = F, dim_x =
 * DSBI_SET_ROW(N, F). Owned; NULL on failure. */
dsbi_model *dsbi_model_create_set(const dsbi_model_config *cfg, size_t dim_theta, size_t N,
                                  size_t F);
/* The summary (summary_dim values, into out) of one observed set of
 * n_members x F values (borrowed). Any n_members >= 1 is accepted, also
 * beyond the training N: the layers do not depend on N (mean pooling and
 * sqrt(n) extrapolate; how well depends on the data). */
int dsbi_model_summary(const dsbi_model *m, const float *members, size_t n_members, float *out);
/* dsbi_model_sample for one observed set of n_members x F values.
 * (dsbi_model_sample itself takes a packed row for such a model.) */
int dsbi_model_sample_set(dsbi_model *m, const float *members, size_t n_members, size_t n,
                          const dsbi_sample_config *cfg, float *theta, dsbi_sample_stats *stats);

/* Set data read from files; the arrays are owned (release with dsbi_sets_free). */
typedef struct dsbi_sets {
    size_t n, N, F, D; /* sets, most members, features, theta columns (0 = none) */
    float *theta;      /* n x D, NULL when D = 0 */
    float *x;          /* n x N x F, zeros beyond counts[i] members */
    size_t *counts;    /* n values in 1..N */
} dsbi_sets;

/* Reads a 3-D NPY array (sets x members x features, float32/float64, C
 * order). Sets with fewer members are padded with whole NaN members at the
 * end (sbi's convention); a partly non-finite member or a member after the
 * padding is an error naming the set and member. */
int dsbi_sets_read_npy(const char *path, dsbi_sets *out);
/* The same from the len bytes of an NPY file in memory; name is used in messages. */
int dsbi_sets_parse_npy(const char *name, const unsigned char *buf, size_t len, dsbi_sets *out);
/* Groups a long-form table (one row per member) into sets by the value of
 * column id_col: sets in increasing id, members in file order; theta_cols
 * (D columns, may be 0) must be constant within a set (an error names the
 * line: name is the file name for messages). */
int dsbi_sets_from_long(const char *name, const dsbi_table *t, size_t id_col,
                        const size_t *theta_cols, size_t D, const size_t *x_cols, size_t F,
                        dsbi_sets *out);
void dsbi_sets_free(dsbi_sets *s);

/* "none", "deepset", "set_transformer", "timeseries"; parse returns -1 if unknown. */
const char *dsbi_summary_name(dsbi_summary_kind k);
int dsbi_summary_parse(const char *s);

/* end of summary networks section */

/* ---------------------------------------------------------------- bounded parameters */

/* Declares the prior's support: lower[j] < theta_j < upper[j] (+-INFINITY
 * leaves a side open; either array may be NULL). Call before fitting. The
 * network then works on unbounded coordinates (logit for an interval, log for
 * a half-line), so a posterior cut off by a box prior is learned as a smooth
 * density, and every draw lies inside. Training rows on or outside the bounds
 * are dropped and reported through the log callback. The bounds are saved
 * with the model. Tall-data and guided sampling refuse bounded models. */
int dsbi_model_set_bounds(dsbi_model *m, const double *lower, const double *upper);
/* Fills lower/upper (D values each, may be NULL) with the model's bounds
 * (+-INFINITY when open); returns 1 if the model is bounded, else 0. */
int dsbi_model_get_bounds(const dsbi_model *m, double *lower, double *upper);

/* ---------------------------------------------------------------- sampling within the prior's support */

/* Posterior draws restricted to lower <= theta <= upper per parameter (either
 * array may be NULL; +-INFINITY entries leave a side open). A diffusion model
 * puts a little mass outside a bounded prior's support, where the posterior
 * has none; those draws are rejected and replaced (as sbi does for NPE).
 * Round r of draws uses seed cfg->seed + r * 0x9E3779B97F4A7C15, so with
 * nothing rejected the result equals dsbi_model_sample. *acceptance (may be
 * NULL) receives the fraction of draws that were inside. Fails with
 * DSBI_STATUS_ERR_NUMERIC when fewer than 1 in 1,000 draws are inside. */
int dsbi_model_sample_bounded(dsbi_model *m, const float *x_obs, size_t n,
                              const dsbi_sample_config *cfg, const double *lower,
                              const double *upper, float *theta, dsbi_sample_stats *stats,
                              double *acceptance);
/* end of the support section */

/* ---------------------------------------------------------------- classifier-free guidance (issue 6) */

/* Classifier-free guidance (Ho & Salimans 2022). A model trained with
 * cfg_dropout = p > 0 sees, for a fraction p of its training rows, a learned
 * null condition (K values in standardized x space, or summary_dim values
 * for a summary-network model, trained with the rest of the weights and
 * saved with them) in place of the row's x. One network then estimates both
 * the posterior score s(theta | x) and the prior score s(theta). Sampling
 * with guidance_scale w follows
 *   s_w = s(theta) + w (s(theta | x) - s(theta)),
 * the score of p(theta) p(x | theta)^w up to the noise: w = 1 is the
 * posterior (one network evaluation per step, bit-identical to a model
 * sampled without guidance), w = 0 the learned prior (one evaluation, the
 * observation is ignored), w > 1 sharpens the likelihood ("super-
 * conditioning"), 0 < w < 1 tempers it. Other w cost two evaluations per
 * step, reported in dsbi_sample_stats.nfe and counted against max_nfe.
 * Consistency models accept w = 0 and 1 only; w != 1 on a model trained
 * without dropout fails with DSBI_STATUS_ERR_INVALID. The tall-data
 * sampler (dsbi_model_sample_tall) does not apply guidance_scale. */

/* n draws from the learned prior of a model trained with cfg_dropout > 0
 * (dsbi_model_sample with guidance_scale 0; cfg's guidance_scale is
 * ignored, cfg may be NULL). Bounded models return draws inside the bounds. */
int dsbi_model_prior_sample(dsbi_model *m, size_t n, const dsbi_sample_config *cfg, float *theta,
                            dsbi_sample_stats *stats);
/* 1 if the model was trained (or configured) with condition dropout and so
 * has a null condition; 0 otherwise. */
int dsbi_model_has_null_condition(const dsbi_model *m);

/* end of the classifier-free guidance section */

#ifdef __cplusplus
}
#endif
#endif /* DIFFSBI_H */
