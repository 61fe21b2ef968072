/* The approximator a user holds: standardization + inference network. */
#ifndef DSBI_MODEL_H
#define DSBI_MODEL_H

#include "gen/diffusion.h"

struct dsbi_model {
    dsbi_model_config cfg;
    size_t D, K;
    dsbi_diffusion dm;
    float *params;                 /* weights used for sampling (EMA after fit) */
    float *theta_mean, *theta_std; /* D each */
    float *x_mean, *x_std;         /* K each */
    int trained;
    double *hist_train, *hist_val;
    size_t n_hist;
    char **theta_names, **x_names; /* D / K names or NULL */
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

/* Fits mean and sd per column of n x d rows (sd floor 1e-12 -> 1). */
void dsbi_fit_standardization(const float *a, size_t n, size_t d, float *mean, float *sd);

#endif
