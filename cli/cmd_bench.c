/* diffsbi bench accuracy: the sbibm benchmark for one task. Simulates the
 * budget, trains a model with the library defaults (or loads one), draws
 * 10,000 posterior samples per observation and scores them against the
 * reference posterior samples with C2ST (sbibm's definition, C2ST.md), MMD^2
 * and sliced Wasserstein; prints a table beside the published NPE and
 * best-of-eight C2ST (Lueckmann et al. 2021; read from the per-observation
 * CSV published_c2st_lueckmann2021_per_observation.csv of the reference dir,
 * see PUBLISHED_C2ST.md; gaussian_mixture uses the sbibm v1.1.0 rerun rows)
 * and writes it as JSON. */
#include "cli.h"
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_OBS 10
#define N_ALGOS 8

static void help(void) {
    printf("usage: diffsbi bench accuracy --task NAME [--budget N] [options]\n\n"
           "Runs one sbibm task: simulates --budget pairs, trains a model with the library\n"
           "defaults (or --load MODEL), draws --samples posterior samples for each chosen\n"
           "observation and compares them with the reference posterior samples: C2ST\n"
           "(sbibm: 5-fold MLP classifier, 0.5 = indistinguishable), unbiased MMD^2\n"
           "(Gaussian kernel, median heuristic) and sliced / max-sliced Wasserstein-2, in\n"
           "the original parameter space. Published C2ST of NPE and of the best of the\n"
           "eight algorithms of Lueckmann et al. (2021) at the same budget are shown beside.\n"
           "The JSON also records the model design, the sampler, the network evaluations per\n"
           "draw (nfe) and the mean sampling time per observation (sample_seconds_mean).\n\n"
           "  --task NAME            sbibm task (see 'diffsbi tasks')\n"
           "  --budget N             simulations [10000]\n"
           "  --observations LIST    e.g. 1-10 or 1,4,7 [1-10]\n"
           "  --load MODEL           use a trained model instead of training (then the model\n"
           "                         and training options below do not apply)\n"
           "  --save MODEL           save the trained model\n"
           "  --samples N            posterior samples per observation [10000]\n"
           "  --projections N        directions of the sliced Wasserstein [1000]\n"
           "  --reference-dir DIR    sbibm files [../shared/benchmarks/sbibm/]\n"
           "  --json FILE            write the table as JSON\n"
           "  --seed N               seed for simulation, training, sampling [0]\n"
           "  --threads N            BLAS/OpenMP threads [all cores]\n"
           "  --no-bounds            train on the raw parameters even when the prior is bounded\n"
           "                         (default: a box prior is learned in logit coordinates, a\n"
           "                         positive one in log coordinates; see dsbi_model_set_bounds)\n"
           "  --quiet                no progress output and no calibration table\n"
           "  --diagnose DIR         also check the calibration of the model with the same\n"
           "                         sampler on fresh simulations of the task, as 'diffsbi\n"
           "                         diagnose' does: metrics.json, report.html and figures in\n"
           "                         DIR; the per-parameter verdicts and the TARP area go into\n"
           "                         the JSON under \"diagnose\"\n"
           "  --diagnose-n N         test simulations of --diagnose [200]\n"
           "  --diagnose-draws L     posterior draws per test simulation [100]\n\n"
           "model and training (when not --load):\n" CLI_MODEL_OPTS_HELP
           "\nsampling:\n" CLI_SAMPLE_OPTS_HELP
           "\nexample: diffsbi bench accuracy --task two_moons --budget 10000 --json tm.json\n"
           "         diffsbi bench accuracy --task slcp --model flow --sampler rk45 --diagnose diag\n");
}

/* ---------------------------------------------------------------- published values */

typedef struct published {
    int have;
    char algo[N_ALGOS][16];
    double c2st[N_ALGOS][MAX_OBS + 1]; /* NAN where missing; index = observation */
    size_t n_algo;
} published;

/* Reads the rows of task at budget from the per-observation CSV
 * (source,task,algorithm,num_simulations,num_observation,c2st). */
static void read_published(const char *dir, const char *task, size_t budget, published *p) {
    memset(p, 0, sizeof *p);
    char path[2048], line[512];
    snprintf(path, sizeof path, "%s/published_c2st_lueckmann2021_per_observation.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) return;
    const char *want = !strcmp(task, "gaussian_mixture") ? "sbibm_gaussian_mixture_rerun_v1.1.0"
                                                         : "lueckmann2021_main_paper";
    while (fgets(line, sizeof line, f)) {
        char src[64], tk[64], al[16];
        size_t ns, no;
        double v;
        if (sscanf(line, "%63[^,],%63[^,],%15[^,],%zu,%zu,%lf", src, tk, al, &ns, &no, &v) != 6) continue;
        if (strcmp(src, want) || strcmp(tk, task) || ns != budget || no < 1 || no > MAX_OBS) continue;
        size_t a = 0;
        while (a < p->n_algo && strcmp(p->algo[a], al)) a++;
        if (a == p->n_algo) {
            if (a == N_ALGOS) continue;
            snprintf(p->algo[a], sizeof p->algo[a], "%s", al);
            for (size_t k = 0; k <= MAX_OBS; k++) p->c2st[a][k] = NAN;
            p->n_algo++;
        }
        p->c2st[a][no] = v;
        p->have = 1;
    }
    fclose(f);
}

static int algo_index(const published *p, const char *name) {
    for (size_t a = 0; a < p->n_algo; a++)
        if (!strcmp(p->algo[a], name)) return (int)a;
    return -1;
}

/* ---------------------------------------------------------------- helpers */

static int parse_obs(const char *spec, int *use) {
    memset(use, 0, (MAX_OBS + 1) * sizeof *use);
    char *dup = strdup(spec), *save = NULL;
    if (!dup) return -1;
    int n = 0;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int a, b;
        char extra;
        if (sscanf(tok, "%d-%d%c", &a, &b, &extra) == 2) {
        } else if (sscanf(tok, "%d%c", &a, &extra) == 1) {
            b = a;
        } else {
            free(dup);
            return -1;
        }
        if (a < 1 || b > MAX_OBS || b < a) {
            free(dup);
            return -1;
        }
        for (int k = a; k <= b; k++) n += !use[k], use[k] = 1;
    }
    free(dup);
    return n > 0 ? 0 : -1;
}

static int read_table(const char *dir, const char *task, int k, const char *file, size_t cols,
                      dsbi_table *t) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s/num_observation_%d/%s", dir, task, k, file);
    int st = dsbi_table_read(path, t);
    if (st) return cli_fail("bench", st);
    if (t->cols != cols || t->rows < 1) {
        fprintf(stderr, "diffsbi: bench: %s: expected %zu columns, found %zu (%zu rows)\n", path, cols, t->cols, t->rows);
        dsbi_table_free(t);
        return 1;
    }
    return 0;
}

static int write_json(const char *path, cJSON *root) {
    char *text = cJSON_Print(root);
    if (!text) {
        fprintf(stderr, "diffsbi: bench: out of memory writing JSON\n");
        return 1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    int e = errno;
    free(text);
    if (!ok) {
        remove(tmp);
        fprintf(stderr, "diffsbi: bench: cannot write %s: %s\n", path, strerror(e));
        return 1;
    }
    return 0;
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static void fmt3(char *buf, size_t cap, double v) {
    if (isfinite(v)) snprintf(buf, cap, "%.3f", v);
    else snprintf(buf, cap, "n/a");
}

/* ---------------------------------------------------------------- accuracy */

/* "consistency" for a consistency model (its own few-step sampler, whatever
 * --sampler says), else the sampler's name. */
static const char *sampler_label(const dsbi_model *m, const dsbi_sample_config *sc) {
    dsbi_schedule s = dsbi_model_get_config(m).schedule;
    return s == DSBI_SCHEDULE_CONSISTENCY ? "consistency"
           : s == DSBI_SCHEDULE_SCM       ? "scm"
                                          : dsbi_sampler_name(sc->sampler);
}

static cJSON *model_json(const dsbi_model *m) {
    dsbi_model_config mc = dsbi_model_get_config(m);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "family", mc.schedule == DSBI_SCHEDULE_CONSISTENCY ? "consistency"
                                         : mc.schedule == DSBI_SCHEDULE_SCM       ? "scm"
                                         : mc.schedule == DSBI_SCHEDULE_FLOW      ? "flow"
                                                                                  : "diffusion");
    cJSON_AddStringToObject(o, "schedule", dsbi_schedule_name(mc.schedule));
    cJSON_AddStringToObject(o, "prediction", dsbi_prediction_name(mc.prediction));
    cJSON_AddStringToObject(o, "weighting", dsbi_weighting_name(mc.weighting));
    cJSON_AddStringToObject(o, "activation", dsbi_activation_name(mc.activation));
    cJSON_AddNumberToObject(o, "width", (double)mc.width);
    cJSON_AddNumberToObject(o, "depth", (double)mc.depth);
    cJSON_AddBoolToObject(o, "residual", mc.residual);
    cJSON_AddBoolToObject(o, "layer_norm", mc.layer_norm);
    cJSON_AddNumberToObject(o, "parameters", (double)dsbi_model_num_params(m));
    return o;
}

static cJSON *sampler_json(const dsbi_model *m, const dsbi_sample_config *sc) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "name", sampler_label(m, sc));
    cJSON_AddNumberToObject(o, "steps", (double)sc->steps);
    cJSON_AddNumberToObject(o, "eta", sc->eta);
    cJSON_AddNumberToObject(o, "stop_time", sc->stop_time);
    /* 0 means the adaptive sampler's own default tolerance */
    cJSON_AddNumberToObject(o, "atol", sc->atol);
    cJSON_AddNumberToObject(o, "rtol", sc->rtol);
    cJSON_AddNumberToObject(o, "max_nfe", (double)sc->max_nfe);
    return o;
}

/* The "diagnose" object of the JSON: where the run wrote its files, its sizes,
 * TARP and the verdict of every parameter. */
static cJSON *diagnose_json(const char *dir, const cli_diag_opts *o, const cli_diag_result *r) {
    cJSON *d = cJSON_CreateObject();
    if (!d) return NULL;
    cJSON_AddStringToObject(d, "dir", dir);
    cJSON_AddNumberToObject(d, "n", (double)r->cal.n);
    cJSON_AddNumberToObject(d, "draws", (double)o->draws);
    cJSON_AddItemToObject(d, "tarp_area", num_or_null(r->cal.tarp_area));
    cJSON_AddItemToObject(d, "tarp_signed_area", num_or_null(r->cal.tarp_signed));
    cJSON_AddItemToObject(d, "tarp_mc_level", num_or_null(r->cal.tarp_mc));
    size_t ok = 0;
    cJSON *params = cJSON_AddArrayToObject(d, "parameters");
    for (size_t j = 0; j < r->d; j++) {
        const dsbi_param_calibration *P = &r->cal.param[j];
        ok += P->verdict == DSBI_VERDICT_CALIBRATED;
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "name", r->names[j]);
        cJSON_AddStringToObject(p, "verdict", dsbi_verdict_name(P->verdict));
        if (P->direction)
            cJSON_AddStringToObject(p, "bias_direction", P->direction > 0 ? "too high" : "too low");
        cJSON_AddItemToObject(p, "rank_shift", num_or_null(P->rank_shift));
        cJSON_AddItemToObject(p, "coverage_bias", num_or_null(P->coverage_bias));
        cJSON_AddItemToObject(p, "calibration_error", num_or_null(P->coverage_error));
        cJSON_AddItemToObject(p, "log_gamma", num_or_null(P->log_gamma));
        cJSON_AddItemToObject(p, "contraction", num_or_null(P->contraction));
        cJSON_AddItemToArray(params, p);
    }
    cJSON_AddNumberToObject(d, "well_calibrated", (double)ok);
    return d;
}

static int bench_accuracy(int argc, char **argv) {
    enum { O_TASK = 1, O_BUDGET, O_OBS, O_LOAD, O_SAVE, O_SAMPLES, O_PROJ, O_REF, O_JSON, O_SEED,
           O_THREADS, O_QUIET, O_DIAG, O_DIAG_N, O_DIAG_DRAWS, O_NO_BOUNDS };
    static const struct option own[] = {
        {"task", required_argument, 0, O_TASK},       {"budget", required_argument, 0, O_BUDGET},
        {"observations", required_argument, 0, O_OBS}, {"load", required_argument, 0, O_LOAD},
        {"save", required_argument, 0, O_SAVE},       {"samples", required_argument, 0, O_SAMPLES},
        {"projections", required_argument, 0, O_PROJ}, {"reference-dir", required_argument, 0, O_REF},
        {"json", required_argument, 0, O_JSON},       {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"quiet", no_argument, 0, O_QUIET},
        {"diagnose", required_argument, 0, O_DIAG},   {"diagnose-n", required_argument, 0, O_DIAG_N},
        {"diagnose-draws", required_argument, 0, O_DIAG_DRAWS}, {"no-bounds", no_argument, 0, O_NO_BOUNDS},
        {"help", no_argument, 0, 'h'}};
    struct option *opts = cli_options(own, sizeof own / sizeof own[0], 1, 1);
    if (!opts) return 1;
    const char *task = NULL, *load = NULL, *save = NULL, *json = NULL, *obs_spec = "1-10";
    const char *refdir = "../shared/benchmarks/sbibm/", *diag_dir = NULL, *model_opt = NULL;
    size_t budget = 10000, n_samples = 10000, n_proj = 1000, threads = 0;
    uint64_t seed = 0;
    int quiet = 0, no_bounds = 0, c, idx, rc = 0, use[MAX_OBS + 1];
    dsbi_model_config mc = dsbi_model_config_default();
    dsbi_train_config tc = dsbi_train_config_default();
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.steps = 0; /* unless --steps is given: the model's default, set once it is known */
    cli_diag_opts dopt = cli_diag_opts_default();
    dopt.n = 200; /* Monte-Carlo sd of shift / coverage bias 1/sqrt(12 n) = 0.02 */
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
        switch (c) {
        case O_TASK: task = optarg; break;
        case O_BUDGET: if (cli_parse_size("bench", "--budget", optarg, 10, 100000000, &budget)) rc = 2; break;
        case O_OBS: obs_spec = optarg; break;
        case O_LOAD: load = optarg; break;
        case O_SAVE: save = optarg; break;
        case O_SAMPLES: if (cli_parse_size("bench", "--samples", optarg, 10, 10000000, &n_samples)) rc = 2; break;
        case O_PROJ: if (cli_parse_size("bench", "--projections", optarg, 1, 1000000, &n_proj)) rc = 2; break;
        case O_REF: refdir = optarg; break;
        case O_JSON: json = optarg; break;
        case O_SEED: if (cli_parse_u64("bench", "--seed", optarg, &seed)) rc = 2; break;
        case O_THREADS: if (cli_parse_size("bench", "--threads", optarg, 1, 1024, &threads)) rc = 2; break;
        case O_QUIET: quiet = 1; break;
        case O_NO_BOUNDS: no_bounds = 1; break;
        case O_DIAG: diag_dir = optarg; break;
        case O_DIAG_N: if (cli_parse_size("bench", "--diagnose-n", optarg, 2, 10000000, &dopt.n)) rc = 2; break;
        case O_DIAG_DRAWS:
            if (cli_parse_size("bench", "--diagnose-draws", optarg, 2, 1000000, &dopt.draws)) rc = 2;
            break;
        case 'h': help(); free(opts); return 0;
        default:
            if (c >= CLI_SOPT_BASE) {
                if (cli_sample_option("bench", opts[idx].name, optarg, &sc) < 0) rc = 2;
            } else if (c >= CLI_OPT_BASE) {
                if (cli_model_option("bench", opts[idx].name, optarg, &mc, &tc) < 0) rc = 2;
                else if (!model_opt) model_opt = opts[idx].name;
            } else {
                rc = cli_usage_error("bench", "unknown option");
            }
        }
    }
    free(opts);
    if (rc) return rc;
    if (optind < argc) return cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    if (!task) return cli_usage_error("bench", "--task NAME is required");
    if (parse_obs(obs_spec, use)) return cli_usage_error("bench", "--observations: '%s' is not a list of 1..10", obs_spec);
    /* a loaded model is already designed and trained: its options would be silently ignored */
    if (load && model_opt)
        return cli_usage_error("bench", "--%s is a model/training option; it does not apply to --load %s",
                               model_opt, load);
    if (load && save) return cli_usage_error("bench", "--save goes with training, not with --load");
    if (load && no_bounds)
        return cli_usage_error("bench", "--no-bounds goes with training; %s keeps the bounds it was trained with",
                               load);
    if (threads) dsbi_set_threads((int)threads);
    /* the task's fixed files (slcp_distractors) come from the same folder */
    if (setenv("DSBI_SBIBM_DIR", refdir, 1) != 0) return cli_usage_error("bench", "cannot set DSBI_SBIBM_DIR");
    dsbi_task_info info;
    dsbi_simulator sim;
    int st;
    if ((st = dsbi_task_info_get(task, &info))) return cli_fail("bench", st);
    if (!info.sbibm) return cli_usage_error("bench", "task '%s' has no sbibm reference posteriors", task);
    if ((st = dsbi_task_get(task, &sim))) return cli_fail("bench", st);
    size_t D = sim.dim_theta, K = sim.dim_x;

    /* ---- model */
    dsbi_model *m = NULL;
    double t_train = 0;
    if (load) {
        if (!(m = dsbi_model_load(load))) return cli_fail_msg("bench");
        if (dsbi_model_dim_theta(m) != D || dsbi_model_dim_x(m) != K) {
            fprintf(stderr, "diffsbi: bench: %s has dims (%zu, %zu), task %s needs (%zu, %zu)\n", load,
                    dsbi_model_dim_theta(m), dsbi_model_dim_x(m), task, D, K);
            dsbi_model_free(m);
            return 1;
        }
    } else {
        dsbi_dataset *ds = NULL;
        size_t dropped = 0;
        if ((st = dsbi_dataset_simulate(&sim, budget, seed, &ds, &dropped))) return cli_fail("bench", st);
        if (dropped) fprintf(stderr, "diffsbi: warning: dropped %zu of %zu simulations with non-finite values\n", dropped, budget);
        mc.seed = seed;
        tc.seed = seed;
        if (!(m = dsbi_model_create(&mc, D, K))) {
            dsbi_dataset_free(ds);
            return cli_fail_msg("bench");
        }
        dsbi_model_set_names(m, sim.theta_names, sim.x_names);
        if (!no_bounds && (isfinite(info.lower) || isfinite(info.upper))) {
            /* the prior's support: the model trains on logit/log coordinates */
            double *bl = malloc(2 * D * sizeof *bl);
            if (!bl) {
                dsbi_dataset_free(ds);
                dsbi_model_free(m);
                return cli_fail("bench", DSBI_STATUS_ERR_NOMEM);
            }
            for (size_t j = 0; j < D; j++) {
                bl[j] = info.lower;
                bl[D + j] = info.upper;
            }
            st = dsbi_model_set_bounds(m, bl, bl + D);
            free(bl);
            if (st) {
                dsbi_dataset_free(ds);
                dsbi_model_free(m);
                return cli_fail("bench", st);
            }
            if (!quiet) fprintf(stderr, "%s: bounded prior: training on %s coordinates\n", task,
                                isfinite(info.lower) && isfinite(info.upper) ? "logit" : "log");
        }
        cli_progress prog;
        cli_progress_init(&prog, quiet, "train");
        tc.progress = cli_progress_cb;
        tc.log = cli_log_cb;
        tc.user = &prog;
        cli_install_signals();
        if (!quiet) fprintf(stderr, "%s: training on %zu simulations, up to %zu epochs\n", task, budget, tc.epochs);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        st = dsbi_model_fit(m, ds, &tc);
        clock_gettime(CLOCK_MONOTONIC, &b);
        t_train = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
        dsbi_dataset_free(ds);
        if (st) {
            dsbi_model_free(m);
            return cli_fail("bench", st);
        }
        if (save && (st = dsbi_model_save(m, save))) {
            dsbi_model_free(m);
            return cli_fail("bench", st);
        }
    }
    if (!sc.steps) sc.steps = dsbi_model_default_steps(m);

    /* ---- published values */
    published pub;
    read_published(refdir, task, budget, &pub);
    int a_npe = algo_index(&pub, "NPE");

    /* ---- per observation */
    float *samples = malloc(n_samples * D * sizeof *samples);
    if (!samples) {
        dsbi_model_free(m);
        fprintf(stderr, "diffsbi: bench: out of memory\n");
        return 1;
    }
    double c2st[MAX_OBS + 1], mmd[MAX_OBS + 1], sw[MAX_OBS + 1], msw[MAX_OBS + 1], secs[MAX_OBS + 1];
    double sample_s[MAX_OBS + 1];
    size_t nfe[MAX_OBS + 1], nfe_max = 0;
    dsbi_c2st_config cc = dsbi_c2st_config_default();
    for (int k = 1; k <= MAX_OBS && !rc; k++) {
        c2st[k] = mmd[k] = sw[k] = msw[k] = secs[k] = sample_s[k] = NAN;
        nfe[k] = 0;
        if (!use[k]) continue;
        dsbi_table obs = {0}, ref = {0};
        if ((rc = read_table(refdir, task, k, "observation.csv", K, &obs))) break;
        if ((rc = read_table(refdir, task, k, "reference_posterior_samples.csv", D, &ref))) {
            dsbi_table_free(&obs);
            break;
        }
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        sc.seed = seed * 1000 + (uint64_t)k;
        dsbi_sample_stats stats = {0};
        st = dsbi_model_sample(m, obs.data, n_samples, &sc, samples, &stats);
        size_t bad = 0;
        for (size_t i = 0; !st && i < n_samples * D; i++) bad += !isfinite(samples[i]);
        if (st) {
            fprintf(stderr, "diffsbi: bench: observation %d: ", k);
            rc = cli_fail("bench", st);
        } else if (bad) {
            fprintf(stderr, "diffsbi: bench: observation %d: %zu non-finite sample values\n", k, bad);
            rc = 1;
        }
        sample_s[k] = stats.seconds;
        nfe[k] = stats.nfe;
        if (nfe[k] > nfe_max) nfe_max = nfe[k];
        if (!rc && (st = dsbi_c2st(ref.data, ref.rows, samples, n_samples, D, &cc, &c2st[k]))) rc = cli_fail("bench", st);
        if (!rc && (st = dsbi_mmd2(ref.data, ref.rows, samples, n_samples, D, 0, &mmd[k], NULL))) rc = cli_fail("bench", st);
        if (!rc && (st = dsbi_sliced_wasserstein(ref.data, ref.rows, samples, n_samples, D, n_proj, seed + (uint64_t)k,
                                                 &sw[k], &msw[k])))
            rc = cli_fail("bench", st);
        clock_gettime(CLOCK_MONOTONIC, &b);
        secs[k] = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
        if (!rc && !quiet)
            fprintf(stderr, "%s obs %d: C2ST %.3f, MMD^2 %.4g, SW %.4g (%.1f s, sampling %.2f s)\n", task, k,
                    c2st[k], mmd[k], sw[k], secs[k], sample_s[k]);
        dsbi_table_free(&obs);
        dsbi_table_free(&ref);
        if (cli_interrupted()) rc = 130;
    }
    free(samples);
    if (rc) {
        dsbi_model_free(m);
        return rc;
    }

    /* ---- calibration of the same model with the same sampler on fresh simulations */
    cli_diag_result dres = {0};
    if (diag_dir) {
        char label[4200];
        if (load) snprintf(label, sizeof label, "%s", load);
        else if (save) snprintf(label, sizeof label, "%s", save);
        else snprintf(label, sizeof label, "trained by bench accuracy (%s, %zu simulations)", task, budget);
        dopt.out = diag_dir;
        dopt.seed = seed;
        dopt.sc = sc;
        dopt.quiet = quiet;
        dopt.model_label = label;
        if (!quiet) printf("calibration (diagnose) on %zu fresh simulations x %zu draws:\n", dopt.n, dopt.draws);
        rc = cli_diagnose_run("bench", m, &sim, &dopt, &dres);
        if (!quiet) printf("\n");
    }
    const char *sname = sampler_label(m, &sc); /* a static string: outlives the model */
    cJSON *model_j = json ? model_json(m) : NULL, *sampler_j = json ? sampler_json(m, &sc) : NULL;
    dsbi_model_free(m);
    if (rc) {
        cJSON_Delete(model_j);
        cJSON_Delete(sampler_j);
        return rc;
    }

    /* ---- table: per observation, then the means over the chosen observations */
    double sum[4] = {0}, s_npe = 0, s_sample = 0;
    size_t n_used = 0, n_npe = 0;
    double best_obs[MAX_OBS + 1];
    const char *best_name[MAX_OBS + 1];
    for (int k = 1; k <= MAX_OBS; k++) {
        best_obs[k] = NAN;
        best_name[k] = "";
        for (size_t a = 0; a < pub.n_algo; a++)
            if (isfinite(pub.c2st[a][k]) && !(pub.c2st[a][k] >= best_obs[k])) best_obs[k] = pub.c2st[a][k], best_name[k] = pub.algo[a];
        if (!use[k]) continue;
        n_used++;
        sum[0] += c2st[k], sum[1] += mmd[k], sum[2] += sw[k], sum[3] += msw[k];
        s_sample += sample_s[k];
        if (a_npe >= 0 && isfinite(pub.c2st[a_npe][k])) s_npe += pub.c2st[a_npe][k], n_npe++;
    }
    double npe_mean = n_npe == n_used ? s_npe / (double)n_npe : NAN, best_mean = NAN;
    const char *best_mean_name = "";
    for (size_t a = 0; a < pub.n_algo; a++) {
        double s = 0;
        size_t nn = 0;
        for (int k = 1; k <= MAX_OBS; k++)
            if (use[k] && isfinite(pub.c2st[a][k])) s += pub.c2st[a][k], nn++;
        if (nn == n_used && !(s / (double)nn >= best_mean)) best_mean = s / (double)nn, best_mean_name = pub.algo[a];
    }
    const double sample_mean = s_sample / (double)n_used;
    printf("task %s, %zu simulations, %s, %zu samples per observation\n", task, budget,
           load ? load : model_opt ? "trained with the given design" : "trained with library defaults",
           n_samples);
    if (!load) printf("training: %zu epochs max, %.1f s\n", tc.epochs, t_train);
    printf("sampler %s, %zu steps: %zu network evaluations per draw, %.3f s per observation\n", sname,
           sc.steps, nfe_max, sample_mean);
    printf("%-5s %7s %7s %12s %10s %10s %10s\n", "obs", "C2ST", "NPE", "best-of-8", "MMD^2", "SW2", "maxSW2");
    char b1[16], b2[16], b3[32];
    for (int k = 1; k <= MAX_OBS; k++) {
        if (!use[k]) continue;
        fmt3(b1, sizeof b1, a_npe >= 0 ? pub.c2st[a_npe][k] : NAN);
        fmt3(b2, sizeof b2, best_obs[k]);
        snprintf(b3, sizeof b3, "%s %s", b2, best_name[k]);
        printf("%-5d %7.3f %7s %12s %10.4g %10.4g %10.4g\n", k, c2st[k], b1, b3, mmd[k], sw[k], msw[k]);
    }
    fmt3(b1, sizeof b1, npe_mean);
    fmt3(b2, sizeof b2, best_mean);
    snprintf(b3, sizeof b3, "%s %s", b2, best_mean_name);
    printf("%-5s %7.3f %7s %12s %10.4g %10.4g %10.4g\n", "mean", sum[0] / (double)n_used, b1, b3,
           sum[1] / (double)n_used, sum[2] / (double)n_used, sum[3] / (double)n_used);
    if (!pub.have) printf("(no published values for %s at %zu simulations)\n", task, budget);
    if (diag_dir) {
        size_t ok = 0;
        for (size_t j = 0; j < dres.d; j++) ok += dres.cal.param[j].verdict == DSBI_VERDICT_CALIBRATED;
        printf("calibration: %zu of %zu parameters well calibrated, TARP area %.3f (calibrated ~%.3f); "
               "%s/report.html\n", ok, dres.d, dres.cal.tarp_area, dres.cal.tarp_mc, diag_dir);
    }

    if (json) {
        cJSON *root = cJSON_CreateObject(), *arr = cJSON_CreateArray();
        cJSON_AddStringToObject(root, "task", task);
        cJSON_AddNumberToObject(root, "budget", (double)budget);
        cJSON_AddNumberToObject(root, "samples", (double)n_samples);
        cJSON_AddNumberToObject(root, "seed", (double)seed);
        if (load) cJSON_AddStringToObject(root, "model", load);
        else {
            cJSON_AddNumberToObject(root, "epochs", (double)tc.epochs);
            cJSON_AddNumberToObject(root, "train_seconds", t_train);
            cJSON *t = cJSON_AddObjectToObject(root, "training");
            cJSON_AddNumberToObject(t, "epochs", (double)tc.epochs);
            cJSON_AddNumberToObject(t, "batch_size", (double)tc.batch_size);
            cJSON_AddNumberToObject(t, "lr", tc.lr);
            cJSON_AddNumberToObject(t, "val_fraction", tc.val_fraction);
            cJSON_AddNumberToObject(t, "ema_decay", tc.ema_decay);
            cJSON_AddNumberToObject(t, "patience", (double)tc.patience);
        }
        if (model_j) cJSON_AddItemToObject(root, "model_config", model_j);
        if (sampler_j) cJSON_AddItemToObject(root, "sampler", sampler_j);
        model_j = sampler_j = NULL;
        /* the largest over the observations: adaptive samplers differ per observation */
        cJSON_AddNumberToObject(root, "nfe", (double)nfe_max);
        cJSON_AddItemToObject(root, "sample_seconds_mean", num_or_null(sample_mean));
        cJSON_AddStringToObject(root, "c2st_variant", "sbibm z-scored (reference first), 5-fold MLP");
        cJSON_AddStringToObject(root, "published_source",
                                !strcmp(task, "gaussian_mixture") ? "sbibm_gaussian_mixture_rerun_v1.1.0"
                                                                  : "lueckmann2021_main_paper");
        for (int k = 1; k <= MAX_OBS; k++) {
            if (!use[k]) continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "observation", k);
            cJSON_AddItemToObject(o, "c2st", num_or_null(c2st[k]));
            cJSON_AddItemToObject(o, "mmd2", num_or_null(mmd[k]));
            cJSON_AddItemToObject(o, "sliced_w2", num_or_null(sw[k]));
            cJSON_AddItemToObject(o, "max_sliced_w2", num_or_null(msw[k]));
            cJSON_AddItemToObject(o, "published_npe", num_or_null(a_npe >= 0 ? pub.c2st[a_npe][k] : NAN));
            cJSON_AddItemToObject(o, "published_best", num_or_null(best_obs[k]));
            cJSON_AddStringToObject(o, "published_best_algorithm", best_name[k]);
            cJSON_AddNumberToObject(o, "nfe", (double)nfe[k]);
            cJSON_AddItemToObject(o, "sample_seconds", num_or_null(sample_s[k]));
            cJSON_AddItemToObject(o, "seconds", num_or_null(secs[k]));
            cJSON_AddItemToArray(arr, o);
        }
        cJSON_AddItemToObject(root, "observations", arr);
        cJSON *mean = cJSON_CreateObject();
        cJSON_AddItemToObject(mean, "c2st", num_or_null(sum[0] / (double)n_used));
        cJSON_AddItemToObject(mean, "mmd2", num_or_null(sum[1] / (double)n_used));
        cJSON_AddItemToObject(mean, "sliced_w2", num_or_null(sum[2] / (double)n_used));
        cJSON_AddItemToObject(mean, "max_sliced_w2", num_or_null(sum[3] / (double)n_used));
        cJSON_AddItemToObject(mean, "published_npe", num_or_null(npe_mean));
        cJSON_AddItemToObject(mean, "published_best", num_or_null(best_mean));
        cJSON_AddStringToObject(mean, "published_best_algorithm", best_mean_name);
        cJSON_AddItemToObject(root, "mean", mean);
        if (diag_dir) cJSON_AddItemToObject(root, "diagnose", diagnose_json(diag_dir, &dopt, &dres));
        rc = write_json(json, root);
        cJSON_Delete(root);
    }
    cJSON_Delete(model_j);
    cJSON_Delete(sampler_j);
    cli_diag_result_free(&dres);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help();
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "accuracy")) return bench_accuracy(argc - 1, argv + 1);
    return cli_usage_error("bench", "unknown benchmark '%s' (known: accuracy)", argv[1]);
}
