/* diffsbi demo: the inverse-kinematics example of the BayesFlow tutorial end to
 * end: simulate, train with a validation split, sample for x_obs = (0, 1.5),
 * report posterior-predictive error and write the model, samples and figures,
 * then check the calibration of the trained posterior with the diagnose
 * pipeline (cli_diagnose_run) on fresh simulations. */
#include "cli.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void help(void) {
    printf("usage: diffsbi demo [--out DIR] [--sims N] [--epochs N] [--seed N] [--quiet]\n"
           "                   [--no-diagnose] [options]\n\n"
           "Inverse kinematics: theta = (h, a1, a2, a3) ~ N(0, diag(.25,.5,.5,.5)^2), x = end\n"
           "point of a 3-segment arm on a rail. Simulates --sims pairs, trains the default\n"
           "diffusion model, draws 1000 posterior samples for x_obs = (0, 1.5) and writes to\n"
           "DIR: model.dsbi, samples.csv, samples.npy, loss.png, posterior.png. Then checks\n"
           "the calibration of the trained posterior as 'diffsbi diagnose' does (SBC, coverage,\n"
           "TARP on fresh simulations) and writes DIR/diagnose/{metrics.json, report.html,\n"
           "figures}, printing a verdict per parameter.\n\n"
           "  --out DIR       output folder [out/demo]\n"
           "  --sims N        simulations [10000]\n"
           "  --obs X1,X2     observation [0,1.5]\n"
           "  -n N            posterior draws [1000]\n"
           "  --seed N        seed [0]\n"
           "  --threads N     threads [all cores]\n"
           "  --quiet         no progress bar\n"
           "  --compare       train a diffusion, a flow-matching and a consistency model on the\n"
           "                  same data (the consistency model distilled from the diffusion\n"
           "                  one) and compare their posterior-predictive error, sampling\n"
           "                  time and calibration (diagnostics in DIR/diagnose/FAMILY/)\n"
           "  --diagnose      run the calibration diagnostics [on]: with the default sizes they\n"
           "                  add about 10 s (one core) to the ~35 s of training on 2 cores, and\n"
           "                  show whether the posterior can be trusted, so the demo does it\n"
           "  --no-diagnose   skip them\n"
           "  --diagnose-n N  test simulations of the diagnostics [200]\n"
           "  --diagnose-draws L  posterior draws per test simulation [100]\n"
           CLI_MODEL_OPTS_HELP CLI_SAMPLE_OPTS_HELP);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double dsbi_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct demo_result {
    double median, p90, train_s, sample_s;
    size_t nfe;
    /* of the diagnostics (when run): TARP area and parameters judged well calibrated */
    double tarp_area;
    size_t n_calibrated;
} demo_result;

/* Trains one model on ds, samples for x_obs, reports the posterior-predictive
 * error and writes PREFIXmodel.dsbi, PREFIXsamples.{csv,npy}, PREFIXloss.png,
 * PREFIXposterior.png under dir; then, unless diag is NULL, runs the
 * diagnostics into diag->out. Returns an exit code. */
static int run_family(const dsbi_model_config *mc, dsbi_train_config *tc,
                      const dsbi_sample_config *sc, const dsbi_dataset *ds, const dsbi_simulator *sim,
                      const float *x_obs, size_t n, const char *dir, const char *prefix, uint64_t seed,
                      int quiet, const cli_diag_opts *diag, const char *teacher_path,
                      demo_result *res) {
    int rc = 0, st;
    dsbi_model *m = dsbi_model_create(mc, 4, 2), *teacher = NULL;
    if (!m) return cli_fail_msg("demo");
    if (teacher_path && (!(teacher = dsbi_model_load(teacher_path)) ||
                         (st = dsbi_model_set_teacher(m, teacher)))) {
        dsbi_model_free(m);
        dsbi_model_free(teacher);
        return cli_fail_msg("demo");
    }
    dsbi_model_set_names(m, sim->theta_names, sim->x_names);
    cli_progress prog;
    cli_progress_init(&prog, quiet, "train");
    tc->progress = cli_progress_cb;
    tc->log = cli_log_cb;
    tc->user = &prog;
    printf("training a %zu-parameter %s model (%s schedule, %s prediction), up to %zu epochs, "
           "%.0f%% validation\n", dsbi_model_num_params(m),
           mc->schedule == DSBI_SCHEDULE_FLOW          ? "flow-matching"
           : mc->schedule == DSBI_SCHEDULE_SCM         ? "continuous-time consistency (sCM)"
           : mc->schedule != DSBI_SCHEDULE_CONSISTENCY ? "diffusion"
           : teacher                                   ? "consistency (distilled from the diffusion model)"
                                                       : "consistency",
           dsbi_schedule_name(mc->schedule), dsbi_prediction_name(mc->prediction), tc->epochs,
           100.0 * tc->val_fraction);
    char path[4200];
    float *theta = malloc(n * 4 * sizeof *theta), *xp = malloc(n * 2 * sizeof *xp);
    double *err = malloc(n * sizeof *err);
    if (!theta || !xp || !err) {
        rc = 1;
        fprintf(stderr, "diffsbi: demo: out of memory\n");
        goto done;
    }
    double t0 = dsbi_now_seconds();
    st = dsbi_model_fit(m, ds, tc);
    dsbi_model_set_teacher(m, NULL);
    dsbi_model_free(teacher);
    teacher = NULL;
    if (st) {
        rc = cli_fail("demo", st);
        goto done;
    }
    res->train_s = dsbi_now_seconds() - t0;
    const double *tl, *vl;
    size_t ne = dsbi_model_loss_history(m, &tl, &vl);
    printf("final loss: train %.4f, validation %.4f (%.1f s)\n", tl[ne - 1], vl[ne - 1], res->train_s);
    snprintf(path, sizeof path, "%s/%smodel.dsbi", dir, prefix);
    if ((st = dsbi_model_save(m, path))) {
        rc = cli_fail("demo", st);
        goto done;
    }
    dsbi_sample_stats stats;
    dsbi_sample_config scm = *sc;
    if (!scm.steps) scm.steps = dsbi_model_default_steps(m);
    if ((st = dsbi_model_sample(m, x_obs, n, &scm, theta, &stats))) {
        rc = cli_fail("demo", st);
        goto done;
    }
    res->sample_s = stats.seconds;
    res->nfe = stats.nfe;
    printf("\nposterior for x_obs = (%g, %g): %zu draws in %.3f s (%s, %zu network evaluations each)\n",
           (double)x_obs[0], (double)x_obs[1], n, stats.seconds,
           mc->schedule == DSBI_SCHEDULE_CONSISTENCY ? "consistency" : dsbi_sampler_name(sc->sampler), stats.nfe);
    cli_print_summary(stdout, theta, n, 4, sim->theta_names);
    /* posterior predictive: |f(theta) - x_obs| for every draw */
    dsbi_rng rng;
    dsbi_rng_init(&rng, seed, 99);
    sim->simulate(sim->ctx, &rng, n, theta, xp);
    size_t upper = 0;
    for (size_t i = 0; i < n; i++) {
        double d0 = xp[2 * i] - x_obs[0], d1 = xp[2 * i + 1] - x_obs[1];
        err[i] = sqrt(d0 * d0 + d1 * d1);
        upper += theta[4 * i + 1] > 0.0f;
    }
    qsort(err, n, sizeof *err, cmp_double);
    res->median = err[n / 2];
    res->p90 = err[(size_t)(0.9 * (double)(n - 1))];
    printf("posterior-predictive error |f(theta) - x_obs|: median %.4f, 90th percentile %.4f\n",
           res->median, res->p90);
    printf("first joint angle a1: %.0f%% of draws > 0, %.0f%% < 0 (two arm configurations)\n",
           100.0 * (double)upper / (double)n, 100.0 * (double)(n - upper) / (double)n);
    const char *names[4] = {"h", "a1", "a2", "a3"};
    static const char *const outs[4] = {"samples.csv", "samples.npy", "loss.png", "posterior.png"};
    for (int k = 0; k < 4 && !rc; k++) {
        snprintf(path, sizeof path, "%s/%s%s", dir, prefix, outs[k]);
        st = k < 2 ? dsbi_table_write(path, theta, n, 4, names)
           : k == 2 ? dsbi_plot_loss(path, tl, vl, ne)
                    : dsbi_plot_arm(path, theta, n, x_obs, 50);
        if (st) rc = cli_fail("demo", st);
    }
    if (!rc)
        printf("\nwrote %s/%s{model.dsbi, samples.csv, samples.npy, loss.png, posterior.png}\n", dir, prefix);
    res->tarp_area = NAN;
    res->n_calibrated = 0;
    if (!rc && diag) {
        printf("\ncalibration on %zu fresh simulations x %zu posterior draws:\n", diag->n, diag->draws);
        fflush(stdout);
        cli_diag_result dr;
        rc = cli_diagnose_run("demo", m, sim, diag, &dr);
        if (!rc) {
            res->tarp_area = dr.cal.tarp_area;
            for (size_t j = 0; j < dr.d; j++)
                res->n_calibrated += dr.cal.param[j].verdict == DSBI_VERDICT_CALIBRATED;
            cli_diag_result_free(&dr);
        }
    }
done:
    free(theta);
    free(xp);
    free(err);
    dsbi_model_free(m);
    dsbi_model_free(teacher);
    return rc;
}

int cmd_demo(int argc, char **argv) {
    enum { O_SIMS = 1, O_SEED, O_THREADS, O_QUIET, O_OBS, O_COMPARE, O_DIAG, O_NO_DIAG, O_DIAG_N,
           O_DIAG_DRAWS };
    static const struct option own[] = {
        {"out", required_argument, 0, 'o'},       {"sims", required_argument, 0, O_SIMS},
        {"seed", required_argument, 0, O_SEED},   {"threads", required_argument, 0, O_THREADS},
        {"quiet", no_argument, 0, O_QUIET},       {"obs", required_argument, 0, O_OBS},
        {"num", required_argument, 0, 'n'},       {"help", no_argument, 0, 'h'},
        {"compare", no_argument, 0, O_COMPARE},   {"diagnose", no_argument, 0, O_DIAG},
        {"no-diagnose", no_argument, 0, O_NO_DIAG}, {"diagnose-n", required_argument, 0, O_DIAG_N},
        {"diagnose-draws", required_argument, 0, O_DIAG_DRAWS}};
    struct option *opts = cli_options(own, sizeof own / sizeof own[0], 1, 1);
    if (!opts) return 1;
    const char *dir = "out/demo", *obs = "0,1.5";
    size_t sims = 10000, threads = 0, n = 1000;
    uint64_t seed = 0;
    int quiet = 0, compare = 0, diagnose = 1, c, idx, rc = 0;
    /* 200 x 100: the Monte-Carlo sd of the rank shift and coverage bias is
     * 1/sqrt(12 * 200) = 0.02, fine enough to tell a miscalibration of 0.1 from
     * noise, at about 10 s of sampling on one core */
    size_t diag_n = 200, diag_draws = 100;
    dsbi_model_config mc = dsbi_model_config_default();
    dsbi_train_config tc = dsbi_train_config_default();
    dsbi_sample_config sc = dsbi_sample_config_default();
    sc.steps = 0; /* unless --steps is given: each model's default */
    tc.epochs = 500; /* early stopping on the validation loss usually ends it sooner */
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:n:h", opts, &idx)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case O_SIMS: if (cli_parse_size("demo", "--sims", optarg, 10, 10000000, &sims)) rc = 2; break;
        case O_SEED: if (cli_parse_u64("demo", "--seed", optarg, &seed)) rc = 2; break;
        case O_THREADS: if (cli_parse_size("demo", "--threads", optarg, 1, 1024, &threads)) rc = 2; break;
        case O_QUIET: quiet = 1; break;
        case O_OBS: obs = optarg; break;
        case O_COMPARE: compare = 1; break;
        case O_DIAG: diagnose = 1; break;
        case O_NO_DIAG: diagnose = 0; break;
        case O_DIAG_N: if (cli_parse_size("demo", "--diagnose-n", optarg, 2, 10000000, &diag_n)) rc = 2; break;
        case O_DIAG_DRAWS:
            if (cli_parse_size("demo", "--diagnose-draws", optarg, 2, 1000000, &diag_draws)) rc = 2;
            break;
        case 'n': if (cli_parse_size("demo", "-n", optarg, 1, 10000000, &n)) rc = 2; break;
        case 'h': help(); free(opts); return 0;
        default:
            if (c >= CLI_SOPT_BASE) {
                if (cli_sample_option("demo", opts[idx].name, optarg, &sc) < 0) rc = 2;
            } else if (c >= CLI_OPT_BASE) {
                if (cli_model_option("demo", opts[idx].name, optarg, &mc, &tc) < 0) rc = 2;
            } else {
                rc = cli_usage_error("demo", "unknown option");
            }
        }
        if (rc) {
            free(opts);
            return rc;
        }
    }
    free(opts);
    if (threads) dsbi_set_threads((int)threads);
    mc.seed = tc.seed = sc.seed = seed;
    float x_obs[2];
    if ((rc = cli_read_obs("demo", obs, 2, x_obs))) return rc;
    if (cli_mkdir_p(dir) != 0) {
        fprintf(stderr, "diffsbi: demo: cannot create folder %s: %s\n", dir, strerror(errno));
        return 1;
    }
    dsbi_simulator sim;
    int st = dsbi_task_get("inverse_kinematics", &sim);
    if (st) return cli_fail("demo", st);
    printf("== diffsbi demo: inverse kinematics ==\n");
    printf("simulating %zu pairs (theta: h, a1, a2, a3; x: arm end point)\n", sims);
    dsbi_dataset *ds = NULL;
    if ((st = dsbi_dataset_simulate(&sim, sims, seed, &ds, NULL))) return cli_fail("demo", st);
    cli_install_signals();
    cli_diag_opts diag = cli_diag_opts_default();
    diag.n = diag_n;
    diag.draws = diag_draws;
    diag.seed = seed;
    diag.no_progress = quiet;
    diag.sc = sc;
    char diag_dir[4200], model_path[4200];
    if (!compare) {
        demo_result r;
        snprintf(diag_dir, sizeof diag_dir, "%s/diagnose", dir);
        snprintf(model_path, sizeof model_path, "%s/model.dsbi", dir);
        diag.out = diag_dir;
        diag.model_label = model_path;
        rc = run_family(&mc, &tc, &sc, ds, &sim, x_obs, n, dir, "", seed, quiet,
                        diagnose ? &diag : NULL, NULL, &r);
    } else {
        /* the same data and seed for each family; the consistency model is
           distilled from the diffusion model just trained (better than
           consistency training: two_moons C2ST 0.59 against 0.63 at 2 steps)
           and samples in 2 steps */
        static const char *const families[3] = {"diffusion", "flow", "consistency"};
        demo_result r[3];
        for (int f = 0; f < 3 && !rc; f++) {
            dsbi_model_config fc = mc;
            if (f == 1) {
                fc.schedule = DSBI_SCHEDULE_FLOW;
                fc.prediction = DSBI_PREDICTION_FLOW;
                fc.weighting = DSBI_WEIGHTING_DEFAULT;
            } else if (f == 2) {
                fc.schedule = DSBI_SCHEDULE_CONSISTENCY;
                fc.prediction = DSBI_PREDICTION_F;
                fc.weighting = DSBI_WEIGHTING_DEFAULT;
            }
            char prefix[32];
            snprintf(prefix, sizeof prefix, "%s_", families[f]);
            printf("\n== %s ==\n", families[f]);
            snprintf(diag_dir, sizeof diag_dir, "%s/diagnose/%s", dir, families[f]);
            snprintf(model_path, sizeof model_path, "%s/%smodel.dsbi", dir, prefix);
            diag.out = diag_dir;
            diag.model_label = model_path;
            char teacher_path[4200];
            snprintf(teacher_path, sizeof teacher_path, "%s/diffusion_model.dsbi", dir);
            rc = run_family(&fc, &tc, &sc, ds, &sim, x_obs, n, dir, prefix, seed, quiet,
                            diagnose ? &diag : NULL, f == 2 ? teacher_path : NULL, &r[f]);
        }
        if (!rc) {
            printf("\n%-12s %12s %12s %10s %12s %10s", "model", "median err", "p90 err", "train s",
                   "sample s", "NFE/draw");
            if (diagnose) printf(" %10s %11s", "TARP area", "calibrated");
            printf("\n");
            for (int f = 0; f < 3; f++) {
                printf("%-12s %12.4f %12.4f %10.1f %12.3f %10zu", families[f], r[f].median, r[f].p90,
                       r[f].train_s, r[f].sample_s, r[f].nfe);
                if (diagnose) printf(" %10.3f %9zu/4", r[f].tarp_area, r[f].n_calibrated);
                printf("\n");
            }
            printf("figures: %s/{diffusion,flow,consistency}_posterior.png\n", dir);
            if (diagnose) printf("diagnostics: %s/diagnose/{diffusion,flow,consistency}/report.html\n", dir);
        }
    }
    dsbi_dataset_free(ds);
    return rc;
}
