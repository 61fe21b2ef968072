/* Names of the design choices, for the CLI, model files and messages. */
#include "approx/model.h"
#include <string.h>

static const char *const schedule_names[] = {"edm", "cosine", "edm-ve", "linear", "flow", "consistency",
                                             "scm"};
static const char *const prediction_names[] = {"F", "noise", "x", "v", "score", "flow"};
static const char *const weighting_names[] = {"default", "none", "edm", "sigmoid", "likelihood", "flow"};
static const char *const activation_names[] = {"silu", "gelu", "mish", "tanh", "relu"};
static const char *const sampler_names[] = {"ddim", "euler", "heun", "em", "dpm2m", "rk45", "sde-adaptive",
                                             "tsit5", "pc"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, int v) {
    return v >= 0 && (size_t)v < n ? names[v] : "unknown";
}

static int parse_of(const char *const *names, size_t n, const char *s) {
    if (!s) return -1;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(names[i], s) == 0) return (int)i;
    return -1;
}

const char *dsbi_schedule_name(dsbi_schedule s) { return name_of(schedule_names, COUNT(schedule_names), s); }
const char *dsbi_prediction_name(dsbi_prediction p) { return name_of(prediction_names, COUNT(prediction_names), p); }
const char *dsbi_weighting_name(dsbi_weighting w) { return name_of(weighting_names, COUNT(weighting_names), w); }
const char *dsbi_activation_name(dsbi_activation a) { return name_of(activation_names, COUNT(activation_names), a); }
const char *dsbi_sampler_name(dsbi_sampler s) { return name_of(sampler_names, COUNT(sampler_names), s); }
int dsbi_schedule_parse(const char *s) { return parse_of(schedule_names, COUNT(schedule_names), s); }
int dsbi_prediction_parse(const char *s) {
    if (s && !strcasecmp(s, "eps")) return DSBI_PREDICTION_NOISE;
    return parse_of(prediction_names, COUNT(prediction_names), s);
}
int dsbi_weighting_parse(const char *s) { return parse_of(weighting_names, COUNT(weighting_names), s); }
int dsbi_activation_parse(const char *s) { return parse_of(activation_names, COUNT(activation_names), s); }
int dsbi_sampler_parse(const char *s) { return parse_of(sampler_names, COUNT(sampler_names), s); }

char *dsbi_model_describe(const dsbi_model *m) {
    const dsbi_model_config *c = &m->cfg;
    size_t cap = 1024 + 96 * (m->D + m->K);
    char *s = dsbi_malloc(cap, 1);
    if (!s) return NULL;
    int n = snprintf(s, cap,
                     "%s, theta %zu dims, x %zu dims\n"
                     "  schedule %s, prediction %s, weighting %s\n"
                     "  network: %s MLP %zu x %zu, %s, layer norm %s, %s time embedding (%zu features)\n"
                     "  parameters: %zu, trained: %s, epochs recorded: %zu\n",
                     c->schedule == DSBI_SCHEDULE_FLOW          ? "conditional flow-matching model"
                     : c->schedule == DSBI_SCHEDULE_CONSISTENCY ? "conditional consistency model"
                     : c->schedule == DSBI_SCHEDULE_SCM ? "conditional continuous-time consistency model (sCM)"
                                                                : "conditional diffusion model",
                     m->D, m->K, dsbi_schedule_name(c->schedule), dsbi_prediction_name(c->prediction),
                     dsbi_weighting_name(c->weighting), c->residual ? "residual" : "plain", c->depth,
                     c->width, dsbi_activation_name(c->activation), c->layer_norm ? "on" : "off",
                     c->time_embedding == DSBI_TIME_FOURIER ? "random Fourier" : "sinusoidal",
                     c->time_features, m->n_params, m->trained ? "yes" : "no", m->n_hist);
    size_t len = (size_t)n;
    if (c->summary && len < cap - 200)
        len += (size_t)snprintf(s + len, cap - len,
                                "  summary network: %s%s on sets of up to %zu x %zu values -> %zu "
                                "(width %zu, depth %zu%s)\n",
                                dsbi_summary_name(c->summary),
                                c->summary != DSBI_SUMMARY_TIMESERIES ? ""
                                : c->summary_rnn == DSBI_SUMMARY_RNN_LSTM ? " (LSTM)" : " (GRU)",
                                c->set_size, c->set_features,
                                c->summary_dim, c->summary_width, c->summary_depth,
                                c->summary_stats ? ", + mean/ln sd/sqrt n" : "");
    if ((c->cfg_dropout > 0.0f || c->ot_coupling > 0.0f) && len < cap - 200) {
        len += (size_t)snprintf(s + len, cap - len, "  trained with");
        if (c->cfg_dropout > 0.0f)
            len += (size_t)snprintf(s + len, cap - len,
                                    " condition dropout %g (classifier-free guidance: sample "
                                    "--guidance-scale)", (double)c->cfg_dropout);
        if (c->ot_coupling > 0.0f)
            len += (size_t)snprintf(s + len, cap - len, "%s minibatch OT coupling (r = %g)",
                                    c->cfg_dropout > 0.0f ? "," : "", (double)c->ot_coupling);
        len += (size_t)snprintf(s + len, cap - len, "\n");
    }
    if (m->bound_lo && len < cap - 100)
        len += (size_t)snprintf(s + len, cap - len,
                                "  bounded parameters: the network works on logit/log coordinates "
                                "(mean and sd below are in those)\n");
    for (size_t j = 0; j < m->D && len < cap - 100; j++) {
        len += (size_t)snprintf(s + len, cap - len, "  theta %-12s mean %10.4g  sd %10.4g",
                                m->theta_names ? m->theta_names[j] : "", (double)m->theta_mean[j],
                                (double)m->theta_std[j]);
        if (m->bound_lo)
            len += (size_t)snprintf(s + len, cap - len, "  in (%g, %g)", m->bound_lo[j], m->bound_hi[j]);
        len += (size_t)snprintf(s + len, cap - len, "\n");
    }
    if (m->n_hist && len < cap - 64)
        snprintf(s + len, cap - len, "  final loss: train %.4g, validation %.4g\n",
                 m->hist_train[m->n_hist - 1], m->hist_val[m->n_hist - 1]);
    return s;
}
