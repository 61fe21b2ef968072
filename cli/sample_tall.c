/*
 * diffsbi sample with several observations (--tall) or constraints (--guide):
 * the options of `sample` plus --tall gauss|jac|fnpse, --prior-normal
 * MEAN:SD,... or --prior-box LO:HI,... and --guide EXPR (repeatable). Calls
 * dsbi_model_sample_tall (ALGORITHMS.md 1.13); cmd_sample hands over here
 * when one of these options is present.
 */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

int cli_sample_tall_wanted(int argc, char **argv);
int cmd_sample_tall(int argc, char **argv);

int cli_sample_tall_wanted(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--tall", 6) || !strncmp(argv[i], "--guide", 7) ||
            !strncmp(argv[i], "--prior-", 8))
            return 1;
    return 0;
}

/* the options of this mode, also listed by `diffsbi sample --help` */
#define TALL_OPTS_HELP                                                                           \
    "  --tall METHOD         gauss (covariances from per-observation draws) | jac\n"            \
    "                        (network Jacobians) | fnpse (sum of scores, Langevin) | pf\n"     \
    "                        (PF-NPSE: a set model scores groups of rows, composed as\n"      \
    "                        fnpse) [gauss]. With a set model (train --summary deepset)\n"   \
    "                        the rows of --obs are members, split into groups of at most\n"  \
    "                        --group-size rows whose scores every method composes\n"        \
    "  --group-size N        set model: most members per group [the model's set size]\n"     \
    "  --prior-normal LIST   the prior as MEAN:SD per parameter (required for n > 1)\n"         \
    "  --prior-box LIST      the prior as LO:HI per parameter\n"                                \
    "  --guide EXPR          constraint on the draws, e.g. \"sin(a1) >= 0\" (+ - * / ^,\n"      \
    "                        sin cos tan exp log sqrt abs tanh, parameter names or\n"          \
    "                        theta_1..); repeatable; not with --tall fnpse\n"                  \
    "  --guide-strength X    strength of every guide [1]\n"                                     \
    "  --cov-draws N         gauss: draws per observation for its covariance [1000]\n"          \
    "  --clip X              clip denoised estimates to [-X, X] standardized, 0 = off [0]\n"

void cli_sample_tall_help(void);
void cli_sample_tall_help(void) { fputs(TALL_OPTS_HELP, stdout); }

static void help(void) {
    printf("usage: diffsbi sample --model FILE --obs FILE --tall gauss|jac|fnpse|pf\n"
           "                      (--prior-normal MEAN:SD,... | --prior-box LO:HI,...) [options]\n"
           "       diffsbi sample --model FILE --obs VALUES|FILE --guide EXPR [options]\n\n"
           "Draws N samples of theta ~ p(theta | x_1..x_n) for the n rows of --obs\n"
           "(Linhart et al. 2024), optionally guided by constraints.\n\n"
           TALL_OPTS_HELP
           "  --model FILE, --obs VALUES|FILE, -n N [1000], --out FILE, --plot FILE,\n"
           "  --seed N [0], --threads N, --quiet  as for sample\n"
           CLI_SAMPLE_OPTS_HELP
           "In this mode --eta defaults to 0.5 (stochastic DDIM, which corrects the\n"
           "approximations of the composed score as the GAUSS paper does), and --steps to\n"
           "the model's default.\n"
           "\nexample (two_moons, prior U(-1, 1)^2, 30 rows of x in obs30.csv):\n"
           "  diffsbi sample --model tm.dsbi --obs obs30.csv --tall gauss \\\n"
           "           --prior-box -1:1,-1:1 -n 1000 --out tall.csv\n");
}

/* "a:b,a:b,..." with exactly d pairs (also used by sample --bounds) */
int cli_parse_pairs(const char *cmd, const char *opt, const char *s, size_t d, double *a, double *b) {
    const char *p = s;
    for (size_t i = 0; i < d; i++) {
        char *end;
        a[i] = strtod(p, &end);
        if (end == p || *end != ':') goto bad;
        p = end + 1;
        b[i] = strtod(p, &end);
        if (end == p) goto bad;
        p = end;
        if (i + 1 < d) {
            if (*p != ',') goto bad;
            p++;
        }
    }
    if (*p == '\0') return 0;
bad:
    fprintf(stderr, "diffsbi: %s: %s: expected %zu pairs A:B separated by commas, got '%s'\n", cmd, opt, d, s);
    return 2;
}

int cmd_sample_tall(int argc, char **argv) {
    enum { O_MODEL = 1, O_OBS, O_SEED, O_THREADS, O_QUIET, O_TALL, O_PN, O_PB, O_GUIDE, O_GS, O_COV, O_CLIP, O_PLOT, O_GROUP };
    static const struct option own[] = {
        {"model", required_argument, 0, O_MODEL}, {"obs", required_argument, 0, O_OBS},
        {"num", required_argument, 0, 'n'},       {"out", required_argument, 0, 'o'},
        {"seed", required_argument, 0, O_SEED},   {"threads", required_argument, 0, O_THREADS},
        {"quiet", no_argument, 0, O_QUIET},       {"tall", required_argument, 0, O_TALL},
        {"prior-normal", required_argument, 0, O_PN}, {"prior-box", required_argument, 0, O_PB},
        {"guide", required_argument, 0, O_GUIDE}, {"guide-strength", required_argument, 0, O_GS},
        {"cov-draws", required_argument, 0, O_COV}, {"clip", required_argument, 0, O_CLIP},
        {"plot", required_argument, 0, O_PLOT},   {"help", no_argument, 0, 'h'},
        {"group-size", required_argument, 0, O_GROUP}};
    struct option *opts = cli_options(own, sizeof own / sizeof own[0], 0, 1);
    if (!opts) return 1;
    const char *model = NULL, *obs = NULL, *out = NULL, *plot = NULL, *prior_s = NULL, *guides[32];
    size_t n = 1000, threads = 0, n_guides = 0;
    int quiet = 0, c, idx, rc = 0;
    float strength = 1.0f;
    dsbi_tall_config tc = dsbi_tall_config_default();
    tc.sample.steps = 0; /* unless --steps is given: the model's default, set after loading */
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:o:h", opts, &idx)) != -1) {
        switch (c) {
        case O_MODEL: model = optarg; break;
        case O_OBS: obs = optarg; break;
        case 'n': if (cli_parse_size("sample", "-n", optarg, 1, 100000000, &n)) rc = 2; break;
        case 'o': out = optarg; break;
        case O_SEED: if (cli_parse_u64("sample", "--seed", optarg, &tc.sample.seed)) rc = 2; break;
        case O_THREADS: if (cli_parse_size("sample", "--threads", optarg, 1, 1024, &threads)) rc = 2; break;
        case O_QUIET: quiet = 1; break;
        case O_TALL:
            if (!strcmp(optarg, "gauss")) tc.method = DSBI_TALL_GAUSS;
            else if (!strcmp(optarg, "jac")) tc.method = DSBI_TALL_JAC;
            else if (!strcmp(optarg, "fnpse")) tc.method = DSBI_TALL_FNPSE;
            else if (!strcmp(optarg, "pf")) tc.method = DSBI_TALL_PF;
            else rc = cli_usage_error("sample", "--tall: unknown method '%s' (gauss, jac, fnpse, pf)", optarg);
            break;
        case O_PN: prior_s = optarg; tc.prior = DSBI_PRIOR_NORMAL; break;
        case O_PB: prior_s = optarg; tc.prior = DSBI_PRIOR_BOX; break;
        case O_GUIDE:
            if (n_guides == sizeof guides / sizeof guides[0]) rc = cli_usage_error("sample", "at most 32 --guide");
            else guides[n_guides++] = optarg;
            break;
        case O_GS: if (cli_parse_float("sample", "--guide-strength", optarg, 0, 1e6, &strength)) rc = 2; break;
        case O_COV: if (cli_parse_size("sample", "--cov-draws", optarg, 3, 10000000, &tc.cov_draws)) rc = 2; break;
        case O_CLIP: if (cli_parse_float("sample", "--clip", optarg, 0, 1e6, &tc.clip)) rc = 2; break;
        case O_PLOT: plot = optarg; break;
        case O_GROUP: if (cli_parse_size("sample", "--group-size", optarg, 1, 1000000, &tc.group_size)) rc = 2; break;
        case 'h': help(); free(opts); return 0;
        default:
            if (c >= CLI_SOPT_BASE) {
                if (cli_sample_option("sample", opts[idx].name, optarg, &tc.sample) < 0) rc = 2;
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
    if (!model || !obs) return cli_usage_error("sample", "--model and --obs are required");
    if (threads) dsbi_set_threads((int)threads);
    if (n_guides && (tc.method == DSBI_TALL_FNPSE || tc.method == DSBI_TALL_PF))
        return cli_usage_error("sample", "--guide is not applied by --tall fnpse or pf (use gauss or jac)");
    dsbi_model *m = dsbi_model_load(model);
    if (!m) return cli_fail_msg("sample");
    if (!tc.sample.steps) tc.sample.steps = dsbi_model_default_steps(m);
    /* a set model: the rows are members (set_features values each) */
    const dsbi_model_config mc = dsbi_model_get_config(m);
    const int set_model = mc.summary != DSBI_SUMMARY_NONE;
    size_t D = dsbi_model_dim_theta(m), K = set_model ? mc.set_features : dsbi_model_dim_x(m), n_obs = 0;
    dsbi_table t = {0};
    float *x = NULL, *theta = malloc(n * D * sizeof *theta);
    double *pa = malloc(2 * D * sizeof *pa);
    dsbi_expr *ex[32] = {0};
    dsbi_guide gd[32];
    const char **names = malloc(D * sizeof *names);
    char (*defn)[32] = malloc(D * sizeof *defn);
    if (!theta || !pa || !names || !defn) {
        rc = 1;
        fprintf(stderr, "diffsbi: sample: out of memory\n");
        goto done;
    }
    for (size_t j = 0; j < D; j++) {
        snprintf(defn[j], sizeof defn[j], "theta_%zu", j + 1);
        names[j] = dsbi_model_theta_name(m, j) ? dsbi_model_theta_name(m, j) : defn[j];
    }
    /* observations: every row of a file, or one inline row */
    if (dsbi_table_read(obs, &t) == DSBI_STATUS_OK) {
        if (t.cols != K) {
            fprintf(stderr, "diffsbi: sample: %s: rows of %zu values expected, found %zu columns\n", obs, K, t.cols);
            rc = 1;
            goto done;
        }
        n_obs = t.rows;
        x = t.data;
    } else {
        dsbi_table_free(&t);
        memset(&t, 0, sizeof t);
        if (!(x = malloc(K * sizeof *x)) || (rc = cli_read_obs("sample", obs, K, x))) {
            rc = rc ? rc : 1;
            goto done;
        }
        n_obs = 1;
    }
    if (prior_s) {
        if ((rc = cli_parse_pairs("sample", tc.prior == DSBI_PRIOR_BOX ? "--prior-box" : "--prior-normal", prior_s, D, pa, pa + D)))
            goto done;
        tc.prior_a = pa;
        tc.prior_b = pa + D;
    } else if (n_obs > 1 && !set_model) { /* a set model needs it only for several groups */
        rc = cli_usage_error("sample", "%zu observations: give the prior with --prior-normal or --prior-box", n_obs);
        goto done;
    }
    for (size_t g = 0; g < n_guides; g++) {
        if (!(ex[g] = dsbi_expr_parse(guides[g], names, D))) {
            rc = cli_fail_msg("sample");
            goto done;
        }
        gd[g] = dsbi_guide_make(dsbi_expr_constraint, ex[g]);
        gd[g].strength = strength;
    }
    tc.guide = gd;
    tc.n_guide = n_guides;
    dsbi_tall_info info;
    tc.info = &info;
    dsbi_sample_stats stats;
    int st = set_model ? dsbi_model_sample_tall_set(m, x, n_obs, n, &tc, theta, &stats)
                       : dsbi_model_sample_tall(m, x, n_obs, n, &tc, theta, &stats);
    if (st) {
        rc = cli_fail("sample", st);
        goto done;
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
    /* a composed precision that is not positive definite falls back to the
     * F-NPSE sum for that state; more than a few such states mean the learned
     * scores are not good enough for this method (typically JAC on a model
     * trained briefly) and the draws should not be trusted */
    if (info.n_fallback && (double)info.n_fallback > 0.01 * (double)info.n_solves)
        fprintf(stderr,
                "diffsbi: sample: warning: %zu of %zu composed solves (%.0f %%) were not positive "
                "definite and fell back to F-NPSE; the draws may be far off: try --tall gauss, "
                "--clip 5, or a longer-trained model\n",
                info.n_fallback, info.n_solves, 100.0 * (double)info.n_fallback / (double)info.n_solves);
    if (!quiet) {
        static const char *const mn[4] = {"gauss", "jac", "fnpse", "pf"};
        cli_print_summary(stdout, theta, n, D, names);
        printf("%zu draws from %zu observation%s (%s", n, n_obs, n_obs == 1 ? "" : "s",
               n_obs == 1 && !set_model ? "guided" : mn[tc.method]);
        if (set_model) printf(" over %zu group%s", info.n_groups, info.n_groups == 1 ? "" : "s");
        printf(") in %.3f s, %zu network evaluations per draw", stats.seconds, stats.nfe);
        if (info.n_fallback) printf(", %zu of %zu solves fell back to F-NPSE", info.n_fallback, info.n_solves);
        printf("\n");
    }
done:
    for (size_t g = 0; g < n_guides; g++) dsbi_expr_free(ex[g]);
    if (t.data) dsbi_table_free(&t);
    else free(x);
    free(theta);
    free(pa);
    free(names);
    free(defn);
    dsbi_model_free(m);
    return rc;
}
