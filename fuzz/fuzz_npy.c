/*
 * libFuzzer target for the NPY readers: the input is parsed as the bytes of a
 * .npy file through dsbi_table_parse (the same code dsbi_table_read runs on a
 * file) and through dsbi_sets_parse_npy (3-D set data, which rewrites the
 * header and hands over to the table parser). Any crash, sanitizer report or
 * leak is a bug; a refusal with a message is the expected outcome for
 * malformed input. Build and run: make fuzz.
 */
#include <diffsbi.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dsbi_table t;
    if (dsbi_table_parse("fuzz.npy", data, size, &t) == DSBI_STATUS_OK) {
        /* touch every value and name so out-of-bounds reads show */
        volatile float acc = 0.0f;
        for (size_t i = 0; i < t.rows * t.cols; i++) acc += t.data[i];
        for (size_t j = 0; j < t.cols; j++) acc += (float)strlen(t.names[j]);
        dsbi_table_free(&t);
    } else if (!dsbi_last_error()[0]) {
        __builtin_trap(); /* a failure must always carry a message */
    }
    dsbi_sets s;
    if (dsbi_sets_parse_npy("fuzz.npy", data, size, &s) == DSBI_STATUS_OK) {
        volatile float acc = 0.0f;
        for (size_t i = 0; i < s.n; i++) {
            if (s.counts[i] < 1 || s.counts[i] > s.N) __builtin_trap();
            for (size_t k = 0; k < s.counts[i] * s.F; k++) acc += s.x[i * s.N * s.F + k];
        }
        dsbi_sets_free(&s);
    } else if (!dsbi_last_error()[0]) {
        __builtin_trap();
    }
    return 0;
}
