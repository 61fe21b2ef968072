/* The approximator a user holds: standardization + inference network. */
#ifndef DSBI_MODEL_H
#define DSBI_MODEL_H

#include "gen/diffusion.h"
#include "summary/summary.h"

/* A model with a summary network (cfg.summary != NONE) has two chained tapes:
 * the summary net maps the packed set rows (K = 1 + N F values) to S values,
 * the diffusion net is built with K = S and reads them as its condition. One
 * parameter block holds both: the diffusion weights, then the summary
 * weights, so the optimizer, EMA, checkpoints and files see one vector.
 * With cfg.cfg_dropout > 0 the block ends with the learned null condition
 * of classifier-free guidance (dm.K values, see dsbi_model_null_condition). */
struct dsbi_model {
    dsbi_model_config cfg;
    size_t D, K;
    dsbi_diffusion dm;
    dsbi_summary_net sn;           /* rows = cfg.set_size; unused without a summary */
    size_t n_params;               /* diffusion + summary weights */
    float *params;                 /* weights used for sampling (EMA after fit) */
    float *theta_mean, *theta_std; /* D each */
    float *x_mean, *x_std;         /* K each */
    int trained;
    double *hist_train, *hist_val;
    size_t n_hist;
    char **theta_names, **x_names; /* D / K names or NULL */
    double *bound_lo, *bound_hi;   /* D each, the prior's support, or NULL: the network
                                    * works on unbounded coordinates (approx/transform.h) */
    const dsbi_model *teacher;     /* consistency distillation (borrowed) or NULL */
};

/* Extra float tensors stored beside a model (training state of checkpoints). */
typedef struct dsbi_extra_tensor {
    const char *name;
    float *ptr;
    size_t count;
} dsbi_extra_tensor;

/* Saves the model with params replaced by `params` (if not NULL), extra
 * tensors and a training-state string in the metadata. */
int dsbi_model_save_ext(const dsbi_model *m, const char *path, const float *params,
                        const dsbi_extra_tensor *extra, size_t n_extra, const char *state);
/* Loads a model and fills the extra tensors (exact sizes checked); *state
 * receives the training-state string (owned, NULL if none). */
dsbi_model *dsbi_model_load_ext(const char *path, const dsbi_extra_tensor *extra, size_t n_extra,
                                char **state);

/* Parameter count of a model with this config, without building it (loaders
 * size-check files with it). */
int dsbi_model_count_params(const dsbi_model_config *cfg, size_t D, size_t K, size_t *n_params);

/* The training loss of B standardized rows (packed set rows for a summary
 * model) with noise eps, u from dsbi_diffusion_draw_noise, accumulating its
 * gradients into grads (n_params values) unless NULL; NAN if out of memory.
 * For gradient checks of the chained summary + diffusion tapes. */
double dsbi_model_loss_eval(const dsbi_model *m, const float *params, float *grads,
                            const float *theta, const float *x, const float *eps, const double *u,
                            size_t B);

/* Same, with a per-row condition-dropout mask (drop[i] != 0: row i sees the
 * null condition; drop may be NULL) for gradient checks of the null vector. */
double dsbi_model_loss_eval_drop(const dsbi_model *m, const float *params, float *grads,
                                 const float *theta, const float *x, const float *eps,
                                 const double *u, const unsigned char *drop, size_t B);

/* The learned null condition inside a parameter block (dm.K values: in
 * standardized x space, or summary space for a summary model); NULL for a
 * model without condition dropout. */
const float *dsbi_model_null_condition(const dsbi_model *m, const float *params);

/* Fits mean and sd per column of n x d rows (sd floor 1e-12 -> 1). */
void dsbi_fit_standardization(const float *a, size_t n, size_t d, float *mean, float *sd);

#endif
