/*
 * libFuzzer target for the model loader: the input is the bytes of a model
 * file (safetensors layout), loaded with dsbi_model_load_memory, the code
 * behind dsbi_model_load. A loaded model is described and sampled once, so a
 * file that passes every check must also be usable. Build and run: make fuzz.
 */
#include <diffsbi.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dsbi_model *m = dsbi_model_load_memory("fuzz.dsbi", data, size);
    if (!m) {
        if (!dsbi_last_error()[0]) __builtin_trap();
        return 0;
    }
    char *d = dsbi_model_describe(m);
    free(d);
    size_t K = dsbi_model_dim_x(m), D = dsbi_model_dim_theta(m);
    if (K <= 4096 && D <= 64) {
        float x[4096] = {0}, theta[4 * 64];
        dsbi_sample_config sc = dsbi_sample_config_default();
        sc.steps = 2;
        dsbi_model_sample(m, x, 4, &sc, theta, NULL);
    }
    dsbi_model_free(m);
    return 0;
}
