/*
 * Cost of a training run before running it (train --dry-run): parameter,
 * optimizer and activation memory follow from the network's tape (one
 * parameter block; gradients, Adam m and v, EMA and best weights are five
 * more of the same size; activations, their gradients and saved state per
 * batch row), and the time per optimizer step is measured on random data with
 * a copy of the model, so the estimate reflects this machine and thread count.
 */
#include "approx/model.h"
#include <math.h>
#include <string.h>

int dsbi_model_estimate(const dsbi_model *m, const dsbi_train_config *cfg, size_t n_rows,
                        size_t timing_steps, dsbi_train_estimate *out) {
    dsbi_clear_error();
    if (!m || !cfg || !out) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "estimate: model, config and output required");
    if (cfg->batch_size == 0 || cfg->epochs == 0)
        return dsbi_fail(DSBI_STATUS_ERR_INVALID, "estimate: batch size and epochs must be > 0");
    memset(out, 0, sizeof *out);
    const dsbi_net *net = &m->dm.net;
    size_t P = dsbi_model_num_params(m), B = cfg->batch_size;
    size_t rows = n_rows ? n_rows - (size_t)floor(cfg->val_fraction * (double)n_rows) : cfg->sims_per_epoch;
    if (rows == 0) rows = 1;
    size_t Bu = B < rows ? B : rows;
    out->n_params = P;
    out->param_bytes = P * sizeof(float);
    out->optimizer_bytes = 5 * P * sizeof(float);
    /* training workspace: activations + their gradients + saved state, a row
       record of 4 doubles, noise and batch copies */
    out->activation_bytes = Bu * ((2 * (net->act_per_row + m->sn.net.act_per_row) +
                                   net->save_per_row + m->sn.net.save_per_row) * sizeof(float) +
                                  4 * sizeof(double) + sizeof(double) +
                                  (2 * m->D + m->K) * sizeof(float));
    out->steps = cfg->epochs * (rows / Bu);
    if (timing_steps == 0) return DSBI_STATUS_OK;
    /* time `timing_steps` steps: one epoch of timing_steps full batches */
    size_t n = Bu * timing_steps, D = m->D, K = m->K;
    dsbi_model *copy = dsbi_model_create(&m->cfg, D, K);
    float *th = dsbi_malloc(n, (D + K) * sizeof(float));
    int st = DSBI_STATUS_ERR_NOMEM;
    dsbi_dataset *ds = NULL;
    if (copy && th) {
        dsbi_rng r;
        dsbi_rng_init(&r, cfg->seed, 77);
        dsbi_rng_fill_normal(&r, th, n * (D + K));
        /* set rows start with a valid member count (summary networks, issue 7) */
        for (size_t i = 0; m->cfg.summary && i < n; i++)
            th[n * D + i * K] = (float)(1 + i % m->cfg.set_size);
        ds = dsbi_dataset_from_arrays(th, th + n * D, n, D, K, NULL);
        if (ds) {
            dsbi_train_config tc = *cfg;
            tc.epochs = 1;
            tc.val_fraction = 0.0f;
            tc.batch_size = Bu;
            tc.checkpoint = NULL;
            tc.resume = 0;
            tc.progress = NULL;
            tc.log = NULL;
            double t0 = dsbi_now();
            st = dsbi_model_fit(copy, ds, &tc);
            double dt = dsbi_now() - t0;
            if (st == DSBI_STATUS_OK) {
                out->seconds_per_step = dt / (double)timing_steps;
                out->seconds_total = out->seconds_per_step * (double)out->steps;
            }
        }
    }
    dsbi_dataset_free(ds);
    free(th);
    dsbi_model_free(copy);
    return st;
}
