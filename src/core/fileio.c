/*
 * CRC-32 and atomic file writes. A file is written to "<path>.tmp.<pid>" in
 * the same folder, flushed, fsync'ed and renamed over the target, so a crash
 * never leaves a half-written model or table behind.
 */
#include "internal.h"
#include <errno.h>
#include <string.h>
#include <unistd.h>

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    crc_ready = 1;
}

uint32_t dsbi_crc32(uint32_t crc, const void *buf, size_t n) {
    if (!crc_ready) crc_init();
    const unsigned char *p = buf;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

int dsbi_write_atomic(const char *path, const void *const *parts, const size_t *sizes,
                      size_t n_parts) {
    size_t len = strlen(path) + 32;
    char *tmp = dsbi_malloc(len, 1);
    if (!tmp) return DSBI_STATUS_ERR_NOMEM;
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(tmp);
        return dsbi_fail(DSBI_STATUS_ERR_IO, "%s: cannot open for writing: %s", path, strerror(e));
    }
    int ok = 1, e = 0;
    for (size_t i = 0; i < n_parts && ok; i++)
        if (sizes[i] && fwrite(parts[i], 1, sizes[i], f) != sizes[i]) ok = 0, e = errno;
    if (ok && fflush(f) != 0) ok = 0, e = errno;
    if (ok && fsync(fileno(f)) != 0) ok = 0, e = errno;
    if (fclose(f) != 0 && ok) ok = 0, e = errno;
    if (ok && rename(tmp, path) != 0) ok = 0, e = errno;
    if (!ok) {
        remove(tmp);
        free(tmp);
        return dsbi_fail(DSBI_STATUS_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    free(tmp);
    return DSBI_STATUS_OK;
}
