/*
 * A user simulator through the C API: a 1-D Gaussian location model with a
 * known posterior. theta ~ N(0, 1), x | theta ~ N(theta, 0.5^2), so
 * theta | x ~ N(0.8 x, 0.2). Trains a small model, samples for x = 1 and
 * compares with the analytic posterior. Build: make examples.
 */
#include <diffsbi.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int prior(void *ctx, dsbi_rng *rng, size_t n, float *theta) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) theta[i] = (float)dsbi_rng_normal(rng);
    return 0;
}

static int simulate(void *ctx, dsbi_rng *rng, size_t n, const float *theta, float *x) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) x[i] = theta[i] + 0.5f * (float)dsbi_rng_normal(rng);
    return 0;
}

int main(void) {
    dsbi_simulator sim = {.name = "gauss1d", .dim_theta = 1, .dim_x = 1, .prior = prior, .simulate = simulate};
    dsbi_dataset *ds = NULL;
    if (dsbi_dataset_simulate(&sim, 5000, 1, &ds, NULL) != DSBI_STATUS_OK) goto fail;

    dsbi_model_config mc = dsbi_model_config_default();
    mc.width = 64; /* a small problem needs a small network */
    dsbi_model *m = dsbi_model_create(&mc, 1, 1);
    dsbi_train_config tc = dsbi_train_config_default();
    tc.epochs = 100;
    if (!m || dsbi_model_fit(m, ds, &tc) != DSBI_STATUS_OK) goto fail;

    float x_obs = 1.0f, draws[4000];
    dsbi_sample_config sc = dsbi_sample_config_default();
    dsbi_sample_stats st;
    if (dsbi_model_sample(m, &x_obs, 4000, &sc, draws, &st) != DSBI_STATUS_OK) goto fail;
    double mean = 0, var = 0;
    for (int i = 0; i < 4000; i++) mean += draws[i] / 4000.0;
    for (int i = 0; i < 4000; i++) var += (draws[i] - mean) * (draws[i] - mean) / 3999.0;
    printf("posterior mean %.3f (exact 0.800), sd %.3f (exact %.3f); %zu network evaluations per draw\n",
           mean, sqrt(var), sqrt(0.2), st.nfe);
    dsbi_model_free(m);
    dsbi_dataset_free(ds);
    return fabs(mean - 0.8) < 0.1 && fabs(sqrt(var) / sqrt(0.2) - 1) < 0.15 ? 0 : 1;
fail:
    fprintf(stderr, "error: %s\n", dsbi_last_error());
    return 1;
}
