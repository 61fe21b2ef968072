/*
 * libFuzzer target for the model loader: the input is the bytes of a model
 * file (safetensors layout), loaded with dsbi_model_load_memory, the code
 * behind dsbi_model_load. A loaded model is described once. (Sampling is left
 * out: a network with finite but huge weights overflows to NaN inside the
 * activations, an issue of the network code with extreme inputs, not of the
 * loader.) Build and run: make fuzz.
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
    if (dsbi_model_dim_x(m) == 0 || dsbi_model_dim_theta(m) == 0) __builtin_trap();
    dsbi_model_free(m);
    return 0;
}
