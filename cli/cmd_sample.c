/* diffsbi sample: posterior draws for one observation from a model file.
 * Models trained with `train --impute` take the raw observation with "nan"
 * for missing values; the mask columns are filled in here. */
#include "cli.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Observation of k values for a masked model: inline values where "nan",
 * "NA" or an empty field marks a missing value, or a CSV/NPY file row. */
static int read_obs_masked(const char *spec, size_t k, float *out) {
    if (access(spec, F_OK) == 0) {
        dsbi_table t;
        int st = dsbi_table_read(spec, &t);
        if (st) return cli_fail("sample", st);
        int bad = t.rows < 1 || t.cols != k;
        if (bad)
            fprintf(stderr, "diffsbi: sample: %s: expected a row of %zu values, found %zu rows x %zu columns\n",
                    spec, k, t.rows, t.cols);
        else
            memcpy(out, t.data, k * sizeof(float));
        dsbi_table_free(&t);
        return bad;
    }
    const char *p = spec;
    for (size_t i = 0; i < k; i++) {
        while (*p == ' ') p++;
        char *end;
        if (*p == ',' || *p == '\0') {
            out[i] = NAN;
            end = (char *)p;
        } else if (!strncasecmp(p, "NA", 2) && (p[2] == ',' || p[2] == '\0' || p[2] == ' ')) {
            out[i] = NAN;
            end = (char *)p + 2;
        } else {
            errno = 0;
            double v = strtod(p, &end);
            if (end == p || errno) {
                fprintf(stderr, "diffsbi: sample: --obs: value %zu of '%s' is not a number or nan\n", i + 1, spec);
                return 2;
            }
            out[i] = (float)v;
        }
        p = end;
        while (*p == ' ') p++;
        if (i + 1 < k) {
            if (*p != ',') {
                fprintf(stderr, "diffsbi: sample: --obs needs %zu comma-separated values, got %zu\n", k, i + 1);
                return 2;
            }
            p++;
        }
    }
    if (*p) {
        fprintf(stderr, "diffsbi: sample: --obs has more than the %zu values the model expects\n", k);
        return 2;
    }
    return 0;
}

int cli_sample_tall_wanted(int argc, char **argv); /* cli/sample_tall.c */
int cli_read_set_obs(const char *cmd, const char *spec, size_t F, float **members, size_t *count); /* cli/sets.c */
int cmd_sample_tall(int argc, char **argv);
void cli_sample_tall_help(void);

static void help(void) {
    printf("usage: diffsbi sample --model FILE --obs VALUES|FILE [-n N] [--out FILE] [options]\n\n"
           "Draws N samples of theta ~ p(theta | x_obs). The observation is inline\n"
           "(comma-separated) or the first row of a CSV/NPY file. Samples go to --out\n"
           "(.csv with parameter names, or .npy); a summary goes to stdout. For a model\n"
           "trained with --impute, missing observation values may be given as nan (or NA,\n"
           "or left empty); the model's mask columns are filled in automatically. For a\n"
           "model with a summary network (train --summary) --obs is one set: a CSV/NPY\n"
           "table with one member per row, or inline values for one-value members; any\n"
           "number of members is accepted.\n\n"
           "  --model FILE          trained model\n"
           "  --obs VALUES|FILE     observation x_obs\n"
           "  -n, --num N           number of draws [1000]\n"
           "  --out FILE            samples as .csv or .npy\n"
           "  --plot FILE           pair plot of the draws (.png or .svg; marginals beyond 16 parameters)\n"
           "  --bounds LIST         LO:HI per parameter (inf/-inf for an open side): draws outside\n"
           "                        are rejected and redrawn (a bounded prior's support)\n"
           "  --seed N              seed [0]\n"
           "  --threads N           threads [all cores]\n"
           "  --quiet               no summary\n"
           "  --guidance-scale W    classifier-free guidance for a model trained with\n"
           "                        --cfg-dropout: score = s(theta) + W (s(theta|x) - s(theta));\n"
           "                        1 = posterior, 0 = the learned prior (--obs may be left\n"
           "                        out), > 1 sharpens the likelihood; W other than 0 and 1\n"
           "                        costs two network evaluations per step [1]\n"
           CLI_SAMPLE_OPTS_HELP
           "\nSeveral i.i.d. observations of one theta (the rows of --obs FILE), and\n"
           "constraints on the draws (see `diffsbi sample --tall gauss --help`):\n");
    cli_sample_tall_help();
    printf("\nexample: diffsbi sample --model tm.dsbi --obs 0.1,-0.2 -n 10000 --out post.npy\n");
}


int cmd_sample(int argc, char **argv) {
    /* several observations or constraints: cli/sample_tall.c */
    if (cli_sample_tall_wanted(argc, argv)) return cmd_sample_tall(argc, argv);
    enum { O_MODEL = 1, O_OBS, O_SEED, O_THREADS, O_QUIET, O_PLOT, O_BOUNDS, O_GUIDANCE };
    static const struct option own[] = {
        {"model", required_argument, 0, O_MODEL}, {"obs", required_argument, 0, O_OBS},
        {"num", required_argument, 0, 'n'},       {"out", required_argument, 0, 'o'},
        {"seed", required_argument, 0, O_SEED},   {"threads", required_argument, 0, O_THREADS},
        {"quiet", no_argument, 0, O_QUIET},       {"plot", required_argument, 0, O_PLOT},
        {"bounds", required_argument, 0, O_BOUNDS}, {"help", no_argument, 0, 'h'},
        {"guidance-scale", required_argument, 0, O_GUIDANCE}};
    struct option *opts = cli_options(own, sizeof own / sizeof own[0], 0, 1);
    if (!opts) return 1;
    const char *model = NULL, *obs = NULL, *out = NULL, *plot = NULL, *bounds = NULL;
    size_t n = 1000, threads = 0;
    int quiet = 0, c, idx, rc = 0;
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.steps = 0; /* unless --steps is given: the model's default, set after loading */
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:o:h", opts, &idx)) != -1) {
        switch (c) {
        case O_MODEL: model = optarg; break;
        case O_OBS: obs = optarg; break;
        case 'n': if (cli_parse_size("sample", "-n", optarg, 1, 100000000, &n)) rc = 2; break;
        case 'o': out = optarg; break;
        case O_SEED: if (cli_parse_u64("sample", "--seed", optarg, &sc.seed)) rc = 2; break;
        case O_THREADS: if (cli_parse_size("sample", "--threads", optarg, 1, 1024, &threads)) rc = 2; break;
        case O_QUIET: quiet = 1; break;
        case O_PLOT: plot = optarg; break;
        case O_BOUNDS: bounds = optarg; break;
        case O_GUIDANCE: if (cli_parse_float("sample", "--guidance-scale", optarg, 0.0, 1000.0, &sc.guidance_scale)) rc = 2; break;
        case 'h': help(); free(opts); return 0;
        default:
            if (c >= CLI_SOPT_BASE) {
                if (cli_sample_option("sample", opts[idx].name, optarg, &sc) < 0) rc = 2;
            } else {
                rc = cli_usage_error("sample", "unknown option");
            }
        }
        if (rc) {
            free(opts);
            return rc;
        }
    }
    free(opts);
    /* guidance scale 0 samples the learned prior: no observation needed */
    if (!model || (!obs && sc.guidance_scale != 0.0f))
        return cli_usage_error("sample", "--model and --obs are required (--obs may be left out with --guidance-scale 0)");
    if (threads) dsbi_set_threads((int)threads);
    dsbi_model *m = dsbi_model_load(model);
    if (!m) return cli_fail_msg("sample");
    size_t D = dsbi_model_dim_theta(m), K = dsbi_model_dim_x(m);
    if (!sc.steps) sc.steps = dsbi_model_default_steps(m);
    float *x = malloc(K * sizeof *x), *theta = malloc(n * D * sizeof *theta);
    double *box = bounds ? malloc(2 * D * sizeof *box) : NULL;
    const char **names = malloc(D * sizeof *names);
    char (*defn)[32] = malloc(D * sizeof *defn);
    if (!x || !theta || !names || !defn || (bounds && !box)) {
        rc = 1;
        fprintf(stderr, "diffsbi: sample: out of memory\n");
        goto done;
    }
    if (bounds && (rc = cli_parse_pairs("sample", "--bounds", bounds, D, box, box + D))) goto done;
    dsbi_sample_stats stats;
    double accept = 1.0;
    int st;
    if (!obs) { /* --guidance-scale 0 without an observation: the learned prior */
        if (box) {
            rc = cli_usage_error("sample", "--bounds is not available when sampling the prior (no --obs)");
            goto done;
        }
        st = dsbi_model_prior_sample(m, n, &sc, theta, &stats);
        goto sampled;
    }
    if (dsbi_model_get_config(m).summary) { /* a set model: the rows of --obs are members */
        float *mem = NULL;
        size_t cnt = 0;
        if (box) {
            rc = cli_usage_error("sample", "--bounds is not available for models with a summary network");
            goto done;
        }
        if ((rc = cli_read_set_obs("sample", obs, dsbi_model_get_config(m).set_features, &mem, &cnt))) goto done;
        st = dsbi_model_sample_set(m, mem, cnt, n, &sc, theta, &stats);
        free(mem);
        goto sampled;
    }
    size_t k_obs = dsbi_model_obs_dim(m);
    if (k_obs < K) {
        float *raw = malloc(k_obs * sizeof *raw);
        if (!raw) {
            rc = 1;
            goto done;
        }
        if (!(rc = read_obs_masked(obs, k_obs, raw)) && (st = dsbi_model_prepare_obs(m, raw, x)))
            rc = cli_fail("sample", st);
        free(raw);
        if (rc) goto done;
    } else if ((rc = cli_read_obs("sample", obs, K, x))) {
        goto done;
    }
    st = box ? dsbi_model_sample_bounded(m, x, n, &sc, box, box + D, theta, &stats, &accept)
             : dsbi_model_sample(m, x, n, &sc, theta, &stats);
sampled:
    if (!st && accept < 1.0 && !quiet)
        fprintf(stderr, "diffsbi: sample: %.2f %% of the draws were outside --bounds and redrawn\n",
                100.0 * (1.0 - accept));
    if (st) {
        rc = cli_fail("sample", st);
        goto done;
    }
    for (size_t j = 0; j < D; j++) {
        snprintf(defn[j], sizeof defn[j], "theta_%zu", j + 1);
        names[j] = dsbi_model_theta_name(m, j) ? dsbi_model_theta_name(m, j) : defn[j];
    }
    if (out && (st = dsbi_table_write(out, theta, n, D, names))) {
        rc = cli_fail("sample", st);
        goto done;
    }
    if (plot && (st = D <= 16 ? dsbi_plot_pairs(plot, theta, n, D, names, NULL, 0, NULL)
                              : dsbi_plot_marginals(plot, theta, n, D, names, NULL))) {
        rc = cli_fail("sample", st);
        goto done;
    }
    if (!quiet) {
        cli_print_summary(stdout, theta, n, D, names);
        printf("%zu draws in %.3f s (%.0f draws/s), sampler %s, %zu network evaluations per draw\n", n,
               stats.seconds, (double)n / stats.seconds, dsbi_sampler_name(sc.sampler), stats.nfe);
    }
done:
    free(box);
    free(x);
    free(theta);
    free(names);
    free(defn);
    dsbi_model_free(m);
    return rc;
}
