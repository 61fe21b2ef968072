/*
 * Model files in the safetensors layout: 8-byte little-endian header length,
 * a JSON header naming each tensor's dtype, shape and byte offsets, and a
 * "__metadata__" map of strings (format name and version, the model config as
 * JSON, the CRC-32 of the data section, names), then raw little-endian
 * float32 data. Python's safetensors can read it. Loading checks every size,
 * offset, the version and the CRC before trusting anything.
 */
#include "approx/model.h"
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#define FORMAT_NAME "diffsbi"
#define FORMAT_VERSION 1
#define MAX_HEADER ((uint64_t)100 << 20)

typedef struct tensor_spec {
    const char *name;
    float *ptr;
    size_t count;
} tensor_spec;

#define MAX_TENSORS 16

static size_t model_tensors(const dsbi_model *m, tensor_spec *t, float *hist, const float *params,
                            const dsbi_extra_tensor *extra, size_t n_extra) {
    size_t n = 0;
    t[n++] = (tensor_spec){"params", (float *)(params ? params : m->params), m->n_params};
    t[n++] = (tensor_spec){"theta_mean", m->theta_mean, m->D};
    t[n++] = (tensor_spec){"theta_std", m->theta_std, m->D};
    t[n++] = (tensor_spec){"x_mean", m->x_mean, m->K};
    t[n++] = (tensor_spec){"x_std", m->x_std, m->K};
    if (hist) t[n++] = (tensor_spec){"loss_history", hist, 2 * m->n_hist};
    for (size_t i = 0; i < n_extra && n < MAX_TENSORS; i++)
        t[n++] = (tensor_spec){extra[i].name, extra[i].ptr, extra[i].count};
    return n;
}

static cJSON *config_json(const dsbi_model *m) {
    const dsbi_model_config *c = &m->cfg;
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "model", "diffusion");
    cJSON_AddNumberToObject(j, "dim_theta", (double)m->D);
    cJSON_AddNumberToObject(j, "dim_x", (double)m->K);
    cJSON_AddStringToObject(j, "schedule", dsbi_schedule_name(c->schedule));
    cJSON_AddStringToObject(j, "prediction", dsbi_prediction_name(c->prediction));
    cJSON_AddStringToObject(j, "weighting", dsbi_weighting_name(c->weighting));
    cJSON_AddNumberToObject(j, "width", (double)c->width);
    cJSON_AddNumberToObject(j, "depth", (double)c->depth);
    cJSON_AddStringToObject(j, "activation", dsbi_activation_name(c->activation));
    cJSON_AddBoolToObject(j, "residual", c->residual);
    cJSON_AddBoolToObject(j, "layer_norm", c->layer_norm);
    cJSON_AddStringToObject(j, "time_embedding",
                            c->time_embedding == DSBI_TIME_FOURIER ? "fourier" : "sinusoidal");
    cJSON_AddNumberToObject(j, "time_features", (double)c->time_features);
    cJSON_AddNumberToObject(j, "fourier_scale", c->fourier_scale);
    cJSON_AddNumberToObject(j, "sigma_data", c->sigma_data);
    cJSON_AddNumberToObject(j, "cosine_shift", c->cosine_shift);
    cJSON_AddNumberToObject(j, "seed", (double)c->seed);
    cJSON_AddBoolToObject(j, "trained", m->trained);
    /* summary network: written only when there is one, so flat models keep
       the exact files of earlier versions (and older readers read them) */
    if (c->summary) {
        cJSON_AddStringToObject(j, "summary", dsbi_summary_name(c->summary));
        cJSON_AddNumberToObject(j, "set_size", (double)c->set_size);
        cJSON_AddNumberToObject(j, "set_features", (double)c->set_features);
        cJSON_AddNumberToObject(j, "summary_dim", (double)c->summary_dim);
        cJSON_AddNumberToObject(j, "summary_width", (double)c->summary_width);
        cJSON_AddNumberToObject(j, "summary_depth", (double)c->summary_depth);
        cJSON_AddNumberToObject(j, "summary_heads", (double)c->summary_heads);
        cJSON_AddNumberToObject(j, "summary_inducing", (double)c->summary_inducing);
        cJSON_AddStringToObject(j, "summary_pool",
                                c->summary_pool == DSBI_SUMMARY_POOL_MAX ? "max" : "mean");
        cJSON_AddBoolToObject(j, "summary_stats", c->summary_stats);
        if (c->summary == DSBI_SUMMARY_TIMESERIES)
            cJSON_AddStringToObject(j, "summary_rnn",
                                    c->summary_rnn == DSBI_SUMMARY_RNN_LSTM ? "lstm" : "gru");
    }
    /* classifier-free guidance: likewise only when on (the null condition
       is then the last dm.K values of "params") */
    if (c->cfg_dropout > 0.0f) cJSON_AddNumberToObject(j, "cfg_dropout", c->cfg_dropout);
    /* minibatch OT coupling of flow-matching training: likewise only when on */
    if (c->ot_coupling > 0.0f) cJSON_AddNumberToObject(j, "ot_coupling", c->ot_coupling);
    return j;
}

static cJSON *names_json(char **names, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
    return a;
}

int dsbi_model_save(const dsbi_model *m, const char *path) {
    return dsbi_model_save_ext(m, path, NULL, NULL, 0, NULL);
}

int dsbi_model_save_ext(const dsbi_model *m, const char *path, const float *params,
                        const dsbi_extra_tensor *extra, size_t n_extra, const char *state) {
    dsbi_clear_error();
    if (!m || !path) return dsbi_fail(DSBI_STATUS_ERR_INVALID, "save: model and path required");
    float *hist = NULL;
    if (m->n_hist) {
        hist = dsbi_malloc(2 * m->n_hist, sizeof(float));
        if (!hist) return DSBI_STATUS_ERR_NOMEM;
        for (size_t e = 0; e < m->n_hist; e++) {
            hist[e] = (float)m->hist_train[e];
            hist[m->n_hist + e] = (float)m->hist_val[e];
        }
    }
    tensor_spec ts[MAX_TENSORS];
    size_t nt = model_tensors(m, ts, hist, params, extra, n_extra);
    uint32_t crc = 0;
    size_t off = 0;
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_CreateObject();
    cJSON *cfg = config_json(m);
    int st = DSBI_STATUS_ERR_NOMEM;
    char *cfg_s = NULL, *hdr = NULL, *tn = NULL, *xn = NULL, *bn = NULL;
    if (!root || !meta || !cfg) goto done;
    for (size_t i = 0; i < nt; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(root, ts[i].name, e);
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        if (!strcmp(ts[i].name, "loss_history")) {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber(2));
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)m->n_hist));
        } else {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)ts[i].count));
        }
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += ts[i].count * sizeof(float);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        crc = dsbi_crc32(crc, ts[i].ptr, ts[i].count * sizeof(float));
    }
    char crc_s[16], ver_s[8];
    snprintf(crc_s, sizeof crc_s, "%08x", crc);
    snprintf(ver_s, sizeof ver_s, "%d", FORMAT_VERSION);
    cfg_s = cJSON_PrintUnformatted(cfg);
    if (!cfg_s) goto done;
    cJSON_AddStringToObject(meta, "format", FORMAT_NAME);
    cJSON_AddStringToObject(meta, "format_version", ver_s);
    cJSON_AddStringToObject(meta, "library_version", DSBI_VERSION);
    cJSON_AddStringToObject(meta, "config", cfg_s);
    cJSON_AddStringToObject(meta, "crc32", crc_s);
    if (state) cJSON_AddStringToObject(meta, "training_state", state);
    if (m->theta_names) {
        cJSON *a = names_json(m->theta_names, m->D);
        tn = a ? cJSON_PrintUnformatted(a) : NULL;
        cJSON_Delete(a);
        if (!tn) goto done;
        cJSON_AddStringToObject(meta, "theta_names", tn);
    }
    if (m->x_names) {
        cJSON *a = names_json(m->x_names, m->K);
        xn = a ? cJSON_PrintUnformatted(a) : NULL;
        cJSON_Delete(a);
        if (!xn) goto done;
        cJSON_AddStringToObject(meta, "x_names", xn);
    }
    if (m->bound_lo) { /* [[lo, hi], ...] with null for an open side (JSON has no inf) */
        cJSON *a = cJSON_CreateArray();
        for (size_t j = 0; a && j < m->D; j++) {
            cJSON *pr = cJSON_CreateArray();
            double v[2] = {m->bound_lo[j], m->bound_hi[j]};
            for (int k = 0; pr && k < 2; k++)
                cJSON_AddItemToArray(pr, isfinite(v[k]) ? cJSON_CreateNumber(v[k]) : cJSON_CreateNull());
            if (pr) cJSON_AddItemToArray(a, pr);
        }
        bn = a ? cJSON_PrintUnformatted(a) : NULL;
        cJSON_Delete(a);
        if (!bn) goto done;
        cJSON_AddStringToObject(meta, "theta_bounds", bn);
    }
    cJSON_AddItemToObject(root, "__metadata__", meta);
    meta = NULL;
    hdr = cJSON_PrintUnformatted(root);
    if (!hdr) goto done;
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    char *hp = realloc(hdr, padded + 1);
    if (!hp) goto done;
    hdr = hp;
    memset(hdr + hl, ' ', padded - hl);
    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)padded >> (8 * k));
    const void *parts[MAX_TENSORS + 2];
    size_t sizes[MAX_TENSORS + 2], np = 0;
    parts[np] = len8, sizes[np++] = 8;
    parts[np] = hdr, sizes[np++] = padded;
    for (size_t i = 0; i < nt; i++) parts[np] = ts[i].ptr, sizes[np++] = ts[i].count * sizeof(float);
    st = dsbi_write_atomic(path, parts, sizes, np);
done:
    cJSON_Delete(root);
    cJSON_Delete(meta);
    cJSON_Delete(cfg);
    cJSON_free(cfg_s);
    cJSON_free(tn);
    cJSON_free(xn);
    cJSON_free(bn);
    free(hdr);
    free(hist);
    if (st == DSBI_STATUS_ERR_NOMEM && !dsbi_last_error()[0])
        dsbi_fail(st, "%s: out of memory while saving", path);
    return st;
}

/* ---------------------------------------------------------------- load */

static int get_size(const char *path, const cJSON *o, const char *key, size_t lo, size_t hi,
                    size_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)lo || v->valuedouble > (double)hi ||
        v->valuedouble != floor(v->valuedouble))
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: config field '%s' missing or out of range",
                         path, key);
    *out = (size_t)v->valuedouble;
    return DSBI_STATUS_OK;
}

static int get_enum(const char *path, const cJSON *o, const char *key, int (*parse)(const char *),
                    int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int e = cJSON_IsString(v) ? parse(v->valuestring) : -1;
    if (e < 0)
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: config field '%s' missing or unknown", path, key);
    *out = e;
    return DSBI_STATUS_OK;
}

static int get_float(const char *path, const cJSON *o, const char *key, float *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: config field '%s' missing or not a number",
                         path, key);
    *out = (float)v->valuedouble;
    return DSBI_STATUS_OK;
}

static int time_embedding_parse(const char *s) {
    return !strcmp(s, "fourier") ? DSBI_TIME_FOURIER : !strcmp(s, "sinusoidal") ? DSBI_TIME_SINUSOIDAL : -1;
}

static int summary_pool_parse(const char *s) {
    return !strcmp(s, "mean") ? DSBI_SUMMARY_POOL_MEAN : !strcmp(s, "max") ? DSBI_SUMMARY_POOL_MAX : -1;
}

static int summary_rnn_parse(const char *s) {
    return !strcmp(s, "gru") ? DSBI_SUMMARY_RNN_GRU : !strcmp(s, "lstm") ? DSBI_SUMMARY_RNN_LSTM : -1;
}

/* The summary fields; absent in files of flat models (and of versions before
 * summary networks), which then get summary = none. */
static int parse_summary(const char *path, const cJSON *j, dsbi_model_config *c) {
    if (!cJSON_GetObjectItemCaseSensitive(j, "summary")) return DSBI_STATUS_OK;
    int kind = 0, pool = 0, st;
    if ((st = get_enum(path, j, "summary", dsbi_summary_parse, &kind)) ||
        (st = get_size(path, j, "set_size", 1, 1000000, &c->set_size)) ||
        (st = get_size(path, j, "set_features", 1, 100000, &c->set_features)) ||
        (st = get_size(path, j, "summary_dim", 1, 4096, &c->summary_dim)) ||
        (st = get_size(path, j, "summary_width", 1, 4096, &c->summary_width)) ||
        (st = get_size(path, j, "summary_depth", 1, 64, &c->summary_depth)) ||
        (st = get_size(path, j, "summary_heads", 1, 4096, &c->summary_heads)) ||
        (st = get_size(path, j, "summary_inducing", 0, 4096, &c->summary_inducing)) ||
        (st = get_enum(path, j, "summary_pool", summary_pool_parse, &pool)))
        return st;
    c->summary = (dsbi_summary_kind)kind;
    c->summary_pool = (dsbi_summary_pool)pool;
    c->summary_stats = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "summary_stats"));
    /* "summary_rnn": absent in files of versions before the LSTM, which are GRU */
    int rnn = DSBI_SUMMARY_RNN_GRU;
    if (cJSON_GetObjectItemCaseSensitive(j, "summary_rnn") &&
        (st = get_enum(path, j, "summary_rnn", summary_rnn_parse, &rnn)))
        return st;
    c->summary_rnn = (dsbi_summary_rnn)rnn;
    return DSBI_STATUS_OK;
}

/* "cfg_dropout" in [0, 1); absent (0) in files of models trained without
 * condition dropout and of versions before it. */
static int parse_cfg_dropout(const char *path, const cJSON *j, dsbi_model_config *c) {
    if (!cJSON_GetObjectItemCaseSensitive(j, "cfg_dropout")) return DSBI_STATUS_OK;
    int st = get_float(path, j, "cfg_dropout", &c->cfg_dropout);
    if (!st && !(c->cfg_dropout >= 0.0f && c->cfg_dropout < 1.0f))
        st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: config field 'cfg_dropout' is %g, outside [0, 1)",
                       path, (double)c->cfg_dropout);
    return st;
}

/* "ot_coupling" in (0, 0.05]; absent (0) in files of models trained without
 * OT coupling and of versions before it. */
static int parse_ot_coupling(const char *path, const cJSON *j, dsbi_model_config *c) {
    if (!cJSON_GetObjectItemCaseSensitive(j, "ot_coupling")) return DSBI_STATUS_OK;
    int st = get_float(path, j, "ot_coupling", &c->ot_coupling);
    if (!st && !(c->ot_coupling > 0.0f && c->ot_coupling <= 0.05f))
        st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: config field 'ot_coupling' is %g, outside (0, 0.05]",
                       path, (double)c->ot_coupling);
    return st;
}

static int parse_config(const char *path, const char *s, dsbi_model_config *c, size_t *D,
                        size_t *K, int *trained) {
    cJSON *j = cJSON_Parse(s);
    if (!j) return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: model config is not valid JSON", path);
    *c = dsbi_model_config_default();
    int e[5] = {0}, st;
    size_t seed = 0;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!cJSON_IsString(model) || strcmp(model->valuestring, "diffusion") != 0) {
        st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: unsupported model family in config", path);
    } else if (!(st = get_size(path, j, "dim_theta", 1, 100000, D)) &&
               !(st = get_size(path, j, "dim_x", 1, 10000000, K)) &&
               !(st = get_enum(path, j, "schedule", dsbi_schedule_parse, &e[0])) &&
               !(st = get_enum(path, j, "prediction", dsbi_prediction_parse, &e[1])) &&
               !(st = get_enum(path, j, "weighting", dsbi_weighting_parse, &e[2])) &&
               !(st = get_enum(path, j, "activation", dsbi_activation_parse, &e[3])) &&
               !(st = get_enum(path, j, "time_embedding", time_embedding_parse, &e[4])) &&
               !(st = get_size(path, j, "width", 1, 65536, &c->width)) &&
               !(st = get_size(path, j, "depth", 1, 1000, &c->depth)) &&
               !(st = get_size(path, j, "time_features", 2, 4096, &c->time_features)) &&
               !(st = get_size(path, j, "seed", 0, 9007199254740992.0, &seed)) &&
               !(st = get_float(path, j, "fourier_scale", &c->fourier_scale)) &&
               !(st = get_float(path, j, "sigma_data", &c->sigma_data)) &&
               !(st = get_float(path, j, "cosine_shift", &c->cosine_shift)) &&
               !(st = parse_summary(path, j, c)) && !(st = parse_cfg_dropout(path, j, c)) &&
               !(st = parse_ot_coupling(path, j, c))) {
        c->schedule = (dsbi_schedule)e[0];
        c->prediction = (dsbi_prediction)e[1];
        c->weighting = (dsbi_weighting)e[2];
        c->activation = (dsbi_activation)e[3];
        c->time_embedding = (dsbi_time_embedding)e[4];
        c->seed = seed;
        if (c->time_features % 2 || !(c->sigma_data > 0.0f))
            st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: config field '%s' out of range", path,
                           c->time_features % 2 ? "time_features" : "sigma_data");
        c->residual = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "residual"));
        c->layer_norm = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "layer_norm"));
        *trained = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "trained"));
    }
    cJSON_Delete(j);
    return st;
}

/* metadata "theta_bounds": D pairs [lo, hi], null = open side, lo < hi */
static int load_bounds(const char *path, const cJSON *meta, dsbi_model *m) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, "theta_bounds");
    if (!v) return DSBI_STATUS_OK;
    cJSON *a = cJSON_IsString(v) ? cJSON_Parse(v->valuestring) : NULL;
    double *lo = dsbi_malloc(2 * m->D, sizeof(double));
    int st = DSBI_STATUS_OK;
    if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != m->D)
        st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: metadata 'theta_bounds' is not a list of %zu pairs", path, m->D);
    else if (!lo)
        st = DSBI_STATUS_ERR_NOMEM;
    for (size_t j = 0; !st && j < m->D; j++) {
        const cJSON *pr = cJSON_GetArrayItem(a, (int)j);
        const cJSON *e[2] = {cJSON_GetArrayItem(pr, 0), cJSON_GetArrayItem(pr, 1)};
        if (!cJSON_IsArray(pr) || cJSON_GetArraySize(pr) != 2 || !e[0] || !e[1] ||
            !(cJSON_IsNull(e[0]) || cJSON_IsNumber(e[0])) || !(cJSON_IsNull(e[1]) || cJSON_IsNumber(e[1]))) {
            st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: metadata 'theta_bounds': entry %zu is not [lo, hi]", path, j + 1);
            break;
        }
        lo[j] = cJSON_IsNull(e[0]) ? -INFINITY : e[0]->valuedouble;
        lo[m->D + j] = cJSON_IsNull(e[1]) ? INFINITY : e[1]->valuedouble;
        if (!(lo[j] < lo[m->D + j]))
            st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: metadata 'theta_bounds': entry %zu has lo >= hi", path, j + 1);
    }
    cJSON_Delete(a);
    if (st) {
        free(lo);
        return st;
    }
    m->bound_lo = lo;
    m->bound_hi = lo + m->D;
    return DSBI_STATUS_OK;
}

static int load_names(const char *path, const cJSON *meta, const char *key, size_t n, char ***out) {
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    if (!v) return DSBI_STATUS_OK;
    cJSON *a = cJSON_IsString(v) ? cJSON_Parse(v->valuestring) : NULL;
    if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != n) {
        cJSON_Delete(a);
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: metadata '%s' is not a list of %zu names", path, key, n);
    }
    char **names = dsbi_calloc(n, sizeof *names);
    int st = names ? DSBI_STATUS_OK : DSBI_STATUS_ERR_NOMEM;
    for (size_t i = 0; i < n && !st; i++) {
        const cJSON *s = cJSON_GetArrayItem(a, (int)i);
        if (!cJSON_IsString(s)) st = dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: '%s' entry %zu is not a string", path, key, i);
        else if (!(names[i] = strdup(s->valuestring))) st = dsbi_fail(DSBI_STATUS_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(a);
    if (st) {
        for (size_t i = 0; names && i < n; i++) free(names[i]);
        free(names);
        return st;
    }
    *out = names;
    return DSBI_STATUS_OK;
}

/* Checks one tensor entry of the header and copies its data. */
static int load_tensor(const char *path, const cJSON *root, const tensor_spec *t,
                       const unsigned char *data, size_t data_len, size_t *max_end) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, t->name);
    if (!cJSON_IsObject(e)) return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: tensor '%s' missing", path, t->name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsString(dt) || strcmp(dt->valuestring, "F32") != 0)
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: tensor '%s' dtype must be F32", path, t->name);
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    double count = 1.0;
    const cJSON *s;
    if (!cJSON_IsArray(shape)) return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: tensor '%s' shape missing", path, t->name);
    cJSON_ArrayForEach(s, shape) {
        if (!cJSON_IsNumber(s) || s->valuedouble < 0) return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: tensor '%s' bad shape", path, t->name);
        count *= s->valuedouble;
    }
    if (count != (double)t->count)
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: tensor '%s' has %.0f values, the config implies %zu",
                         path, t->name, count, t->count);
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    const cJSON *o0 = cJSON_GetArrayItem(offs, 0), *o1 = cJSON_GetArrayItem(offs, 1);
    if (!cJSON_IsNumber(o0) || !cJSON_IsNumber(o1) || o0->valuedouble < 0 ||
        o0->valuedouble != floor(o0->valuedouble) ||
        o1->valuedouble > (double)data_len || o1->valuedouble - o0->valuedouble != (double)(t->count * sizeof(float)))
        return dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: tensor '%s' offsets outside the data section (file truncated?)",
                         path, t->name);
    size_t a = (size_t)o0->valuedouble, b = (size_t)o1->valuedouble;
    memcpy(t->ptr, data + a, b - a);
    if (b > *max_end) *max_end = b;
    return DSBI_STATUS_OK;
}

dsbi_model *dsbi_model_load(const char *path) { return dsbi_model_load_ext(path, NULL, 0, NULL); }

/* Checks and loads a model from the bytes of a model file (buf, len); name
 * is used in messages. Nothing is trusted or allocated by size before it is
 * checked against len. */
static dsbi_model *load_buffer(const char *path, const unsigned char *buf, size_t len,
                               const dsbi_extra_tensor *extra, size_t n_extra, char **state) {
    cJSON *root = NULL;
    dsbi_model *m = NULL;
    float *hist = NULL;
    if (len < 8) {
        dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: file too short to be a model (%zu bytes)", path, len);
        return NULL;
    }
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--) hl = hl << 8 | buf[k];
    if (hl > MAX_HEADER || hl > len - 8) {
        dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: header length %llu exceeds the file (truncated or not a model)",
                  path, (unsigned long long)hl);
        return NULL;
    }
    /* the header is one JSON object padded with spaces: anything after the
       object (cJSON stops at its end) means a damaged header */
    const char *hend = NULL, *hdr0 = (const char *)buf + 8;
    root = cJSON_ParseWithLengthOpts(hdr0, (size_t)hl, &hend, 0);
    int tail_ok = root != NULL && hend != NULL;
    for (const char *c = hend; tail_ok && c < hdr0 + hl; c++)
        if (*c != ' ' && *c != '\n' && *c != '\t' && *c != '\r' && *c != '\0') tail_ok = 0;
    if (!cJSON_IsObject(root) || !tail_ok) {
        dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: header is not valid JSON (corrupted file?)", path);
        goto fail;
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(meta, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(meta, "format_version");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(meta, "config");
    const cJSON *crc_j = cJSON_GetObjectItemCaseSensitive(meta, "crc32");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, FORMAT_NAME) != 0) {
        dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: not a diffsbi model (metadata 'format' missing)", path);
        goto fail;
    }
    char ver_s[8];
    snprintf(ver_s, sizeof ver_s, "%d", FORMAT_VERSION);
    if (!cJSON_IsString(ver) || strcmp(ver->valuestring, ver_s) != 0) {
        char shown[24];
        snprintf(shown, sizeof shown, "%s", cJSON_IsString(ver) ? ver->valuestring : "?");
        for (char *c = shown; *c; c++)
            if ((unsigned char)*c < 32 || (unsigned char)*c >= 127) *c = '?';
        dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: format version %s not supported (this build reads %d)",
                  path, shown, FORMAT_VERSION);
        goto fail;
    }
    if (!cJSON_IsString(cfg) || !cJSON_IsString(crc_j)) {
        dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: metadata lacks 'config' or 'crc32'", path);
        goto fail;
    }
    dsbi_model_config mc;
    size_t D, K;
    int trained = 0;
    if (parse_config(path, cfg->valuestring, &mc, &D, &K, &trained)) goto fail;
    const unsigned char *data = buf + 8 + hl;
    size_t data_len = len - 8 - (size_t)hl;
    {
        /* size the networks from the config without allocating weights, and
           refuse a config whose weights cannot be in the file */
        size_t n_params = 0;
        if (dsbi_model_count_params(&mc, D, K, &n_params)) {
            char why[400];
            snprintf(why, sizeof why, "%s", dsbi_last_error());
            dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: model config rejected: %s", path, why);
            goto fail;
        }
        size_t need = n_params + 2 * D + 2 * K;
        if (need > data_len / sizeof(float)) {
            dsbi_fail(DSBI_STATUS_ERR_FORMAT,
                      "%s: config implies %zu values but the data section holds %zu bytes (truncated?)",
                      path, need, data_len);
            goto fail;
        }
    }
    m = dsbi_model_create(&mc, D, K);
    if (!m) goto fail;
    /* loss history is optional; its length follows from its shape */
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "loss_history"), "shape");
    const cJSON *h1 = cJSON_GetArrayItem(hs, 1);
    if (cJSON_IsNumber(h1) && h1->valuedouble >= 1 && h1->valuedouble <= (double)data_len / 8 &&
        h1->valuedouble == floor(h1->valuedouble)) {
        m->n_hist = (size_t)h1->valuedouble;
        hist = dsbi_malloc(2 * m->n_hist, sizeof(float));
        if (!hist) goto fail;
    }
    tensor_spec ts[MAX_TENSORS];
    size_t nt = model_tensors(m, ts, hist, NULL, extra, n_extra), max_end = 0;
    for (size_t i = 0; i < nt; i++)
        if (load_tensor(path, root, &ts[i], data, data_len, &max_end)) goto fail;
    /* a file with tensors the caller did not ask for (a checkpoint read as a
       model) is fine; the CRC below covers exactly the tensors read, so it
       only matches when the file holds nothing else */
    const cJSON *st_j = cJSON_GetObjectItemCaseSensitive(meta, "training_state");
    int has_state = cJSON_IsString(st_j);
    if (max_end != data_len && !has_state) {
        dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: data section has %zu bytes, tensors cover %zu", path, data_len, max_end);
        goto fail;
    }
    uint32_t crc = dsbi_crc32(0, data, data_len);
    char crc_s[16], stored[16];
    snprintf(crc_s, sizeof crc_s, "%08x", crc);
    snprintf(stored, sizeof stored, "%s", crc_j->valuestring);
    for (char *c = stored; *c; c++)
        if ((unsigned char)*c < 32 || (unsigned char)*c >= 127) *c = '?';
    if (strcmp(crc_s, crc_j->valuestring) != 0) {
        dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: CRC mismatch (stored %s, computed %s): the file is corrupted",
                  path, stored, crc_s);
        goto fail;
    }
    if (hist) {
        m->hist_train = dsbi_malloc(2 * m->n_hist, sizeof(double));
        if (!m->hist_train) goto fail;
        m->hist_val = m->hist_train + m->n_hist;
        for (size_t e = 0; e < 2 * m->n_hist; e++) m->hist_train[e] = hist[e];
        free(hist);
        hist = NULL;
    } else {
        m->n_hist = 0;
    }
    for (size_t j = 0; j < D; j++)
        if (!(m->theta_std[j] > 0.0f) || !isfinite(m->theta_std[j]) || !isfinite(m->theta_mean[j])) {
            dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: standardization of theta %zu is invalid (mean %g, sd %g)",
                      path, j + 1, (double)m->theta_mean[j], (double)m->theta_std[j]);
            goto fail;
        }
    for (size_t j = 0; j < K; j++)
        if (!(m->x_std[j] > 0.0f) || !isfinite(m->x_std[j]) || !isfinite(m->x_mean[j])) {
            dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: standardization of x %zu is invalid (mean %g, sd %g)",
                      path, j + 1, (double)m->x_mean[j], (double)m->x_std[j]);
            goto fail;
        }
    for (size_t i = 0; i < m->n_params; i++)
        if (!isfinite(m->params[i])) {
            dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: tensor 'params' holds a non-finite value at index %zu",
                      path, i);
            goto fail;
        }
    if (load_names(path, meta, "theta_names", D, &m->theta_names) ||
        load_names(path, meta, "x_names", K, &m->x_names) || load_bounds(path, meta, m))
        goto fail;
    if (state && has_state && !(*state = strdup(st_j->valuestring))) {
        dsbi_fail(DSBI_STATUS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    m->trained = trained;
    cJSON_Delete(root);
    return m;
fail:
    free(hist);
    dsbi_model_free(m);
    cJSON_Delete(root);
    return NULL;
}

dsbi_model *dsbi_model_load_memory(const char *name, const void *data, size_t len) {
    dsbi_clear_error();
    if (!name || (!data && len)) {
        dsbi_fail(DSBI_STATUS_ERR_INVALID, "load: name and data required");
        return NULL;
    }
    return load_buffer(name, data, len, NULL, 0, NULL);
}

dsbi_model *dsbi_model_load_ext(const char *path, const dsbi_extra_tensor *extra, size_t n_extra,
                                char **state) {
    dsbi_clear_error();
    if (state) *state = NULL;
    if (!path) {
        dsbi_fail(DSBI_STATUS_ERR_INVALID, "load: no path");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        dsbi_fail(DSBI_STATUS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat stt;
    unsigned char *buf = NULL;
    dsbi_model *m = NULL;
    if (fstat(fileno(f), &stt) != 0 || !S_ISREG(stt.st_mode)) {
        dsbi_fail(DSBI_STATUS_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    size_t len = (size_t)stt.st_size;
    if (len > DSBI_MAX_ALLOC) {
        dsbi_fail(DSBI_STATUS_ERR_FORMAT, "%s: file too large", path);
        goto done;
    }
    buf = dsbi_malloc(len + 1, 1);
    if (!buf) goto done;
    if (len && fread(buf, 1, len, f) != len) {
        dsbi_fail(DSBI_STATUS_ERR_IO, "%s: read error", path);
        goto done;
    }
    m = load_buffer(path, buf, len, extra, n_extra, state);
done:
    free(buf);
    fclose(f);
    return m;
}

/* ---------------------------------------------------------------- missing-data masks (issue 8) */

const char *dsbi_model_x_name(const dsbi_model *m, size_t i) {
    return m && m->x_names && i < m->K ? m->x_names[i] : NULL;
}

/* A masked model has 2k x columns named a, b, ..., a#missing, b#missing, ... */
size_t dsbi_model_obs_dim(const dsbi_model *m) {
    size_t K = m->K, k = K / 2;
    if (!m->x_names || K % 2) return K;
    size_t sl = strlen(DSBI_MASK_SUFFIX);
    for (size_t j = 0; j < k; j++) {
        const char *a = m->x_names[j], *b = m->x_names[k + j];
        size_t la = strlen(a);
        if (strlen(b) != la + sl || strncmp(a, b, la) != 0 || strcmp(b + la, DSBI_MASK_SUFFIX) != 0) return K;
    }
    return k;
}

int dsbi_model_prepare_obs(const dsbi_model *m, const float *x_raw, float *x) {
    dsbi_clear_error();
    size_t K = m->K, k = dsbi_model_obs_dim(m);
    if (k == K) {
        for (size_t j = 0; j < K; j++)
            if (!isfinite(x_raw[j]))
                return dsbi_fail(DSBI_STATUS_ERR_INVALID,
                                 "observation value %zu is not finite (the model was not trained with missing-data masks)",
                                 j + 1);
        memcpy(x, x_raw, K * sizeof(float));
        return DSBI_STATUS_OK;
    }
    /* the training mean of a column is what a missing entry became in training
       (up to the validation split): 0 after standardization */
    for (size_t j = 0; j < k; j++) {
        int miss = !isfinite(x_raw[j]);
        x[j] = miss ? m->x_mean[j] : x_raw[j];
        x[k + j] = miss ? 1.0f : 0.0f;
    }
    return DSBI_STATUS_OK;
}
