/* diffsbi train: fit a diffusion posterior on a task or a simulator plugin
 * (simulated here) or on a data file of (theta, x) rows, and save the model.
 * --impute keeps rows with missing x (mask columns), --dry-run only prints
 * the memory and time a configuration needs. */
#include "cli.h"
#include <math.h>

#define CMD_NAME "train"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void) {
    printf("usage: diffsbi train (--task NAME | --simulator LIB.so | --data FILE --theta COLS --x COLS)\n"
           "                     --out MODEL [options]\n\n"
           "Trains a conditional diffusion model of p(theta | x) and saves it (safetensors\n"
           "layout). With --task, --sims pairs are simulated first (or fresh ones every epoch\n"
           "with --online). With --data, COLS are 1-based column ranges or names, e.g.\n"
           "--theta 1-2 --x 3-4 or --theta mu,sigma --x x1,x2. Ctrl-C stops training\n"
           "cleanly and saves the model trained so far.\n\n"
           "  --task NAME           built-in task (see 'diffsbi tasks')\n"
           "  --simulator LIB.so    simulator plugin (include/diffsbi_plugin.h), run in --threads\n"
           "                        worker processes; a crash or hang is reported with its theta\n"
           "  --sim-timeout S       seconds one plugin call (64 rows) may take, 0 = no limit [0]\n"
           "  --sim-args STR        string passed to the plugin's dsbi_plugin_init [\"\"]\n"
           "  --data FILE           CSV (with header) or NPY table of simulations\n"
           "  --theta COLS, --x COLS  columns of the data file [task: theta first]\n"
           "  --sims N              simulations for --task [10000]\n"
           "  --online              fresh simulations every epoch (--sims per epoch)\n"
           "  --impute              keep simulations with missing (NaN/inf) x values: impute the\n"
           "                        column mean and add a 0/1 mask column per x column (the model\n"
           "                        then accepts 'nan' in sample --obs); not with --online\n"
           "  --bounds LIST         the prior's support as LO:HI per parameter (inf/-inf for an\n"
           "                        open side): the model learns logit (interval) or log\n"
           "                        (half-line) coordinates and every draw lies inside; with\n"
           "                        --task the task's own support is used unless --no-bounds\n"
           "  --no-bounds           train on the raw parameters even for a bounded task prior\n"
           "  --cfg-dropout P       classifier-free guidance: replace each training row's x by a\n"
           "                        learned null condition with probability P in [0,1) (0.1-0.2\n"
           "                        is usual), so the model also learns the prior score; then\n"
           "                        sample --guidance-scale W works [0 = off]\n"
           "  --ot-coupling[=R]     flow matching (--model flow): minibatch OT coupling of the\n"
           "                        training noise, conditional (C^2OT): noise moves only between\n"
           "                        rows of similar x, within a fraction R in (0, 0.05] of the row\n"
           "                        pairs [off; 0.01 when given]; straighter paths for few-step\n"
           "                        samplers (e.g. --sampler euler --steps 4), slower steps\n"
           "  --distill TEACHER     consistency distillation: train a consistency model (implies\n"
           "                        --model consistency) on the probability-flow ODE of the\n"
           "                        trained diffusion or flow model TEACHER (same data\n"
           "                        dimensions; its standardization and bounds are adopted);\n"
           "                        better one- and two-step draws than consistency training\n"
           "  --dry-run             print parameters, memory and a time estimate (5 timed\n"
           "                        steps on random data), then exit without training\n"
           "  --out FILE            model file to write (required)\n"
           "  --loss-plot FILE      loss curves as .png or .svg\n"
           "  --checkpoint FILE     write the training state here every --checkpoint-every\n"
           "                        epochs, on Ctrl-C and at the end (atomic; also a usable model)\n"
           "  --checkpoint-every N  epochs between checkpoints [10]\n"
           "  --resume              continue from --checkpoint: same data, seed, epochs and\n"
           "                        threads give bit-identical final weights\n"
           "  --seed N              seed for simulation, initialisation, training [0]\n"
           "  --threads N           BLAS/OpenMP threads [all cores]\n"
           "  --quiet               no progress bar\n"
           "\nSets and sequences (a summary network trained with the diffusion model):\n"
           "  --summary KIND        deepset | set_transformer | timeseries [none]; then --data is\n"
           "                        a 3-D NPY (sets x members x features, shorter sets padded\n"
           "                        with NaN members) with --theta-file, or a long-form CSV with\n"
           "                        one row per member: --id COL --theta COLS [--x COLS]\n"
           "  --theta-file FILE     parameters of the sets of a 3-D NPY (one row per set)\n"
           "  --id COL              set id column of a long-form CSV\n"
           "  --set-size N          most members per set [largest set in the data]; with --task\n"
           "                        or --simulator the simulator writes packed rows [n, members]\n"
           "  --set-features F      values per member, with --task/--simulator [1]\n"
           "  --summary-dim N       summary size fed to the diffusion network [16]\n"
           "  --summary-width N     hidden width of the summary network [64]\n"
           "  --summary-depth N     layers per stage [2]\n"
           "  --summary-heads N     set transformer attention heads [4]\n"
           "  --summary-inducing N  set transformer ISAB inducing points, 0 = SAB [8]\n"
           "  --summary-pool NAME   deep set pooling: mean | max [mean]\n"
           "  --summary-rnn NAME    timeseries recurrent layers: gru | lstm (bidirectional) [gru]\n"
           "  --no-summary-stats    do not feed [mean, ln sd, sqrt n] of the members\n"
           CLI_MODEL_OPTS_HELP
           "\nexample: diffsbi train --task two_moons --sims 10000 --epochs 200 --out tm.dsbi\n");
}

dsbi_dataset *cli_sets_dataset(const char *cmd, const char *data, const char *theta_file,
                               const char *id_spec, const char *theta_spec, const char *x_spec,
                               dsbi_model_config *mc, char ***names_out); /* cli/sets.c */
static const char *set_theta_file, *set_id; /* --theta-file, --id */

static dsbi_dataset *dataset_from_file(const char *path, const char *theta_spec, const char *x_spec,
                                       const dsbi_simulator *task, int impute, char ***names_out) {
    dsbi_table t;
    int st = dsbi_table_read(path, &t);
    if (st) {
        cli_fail("train", st);
        return NULL;
    }
    size_t *ti = NULL, *xi = NULL, nt = 0, nx = 0;
    dsbi_dataset *ds = NULL;
    char buf[64];
    if (!theta_spec && task) {
        snprintf(buf, sizeof buf, "1-%zu", task->dim_theta);
        theta_spec = buf;
    }
    if (!theta_spec) {
        fprintf(stderr, "diffsbi: train: --theta COLS is required with --data (file has %zu columns)\n", t.cols);
        goto done;
    }
    if (cli_parse_cols(CMD_NAME, theta_spec, &t, &ti, &nt)) goto done;
    if (x_spec) {
        if (cli_parse_cols(CMD_NAME, x_spec, &t, &xi, &nx)) goto done;
    } else {
        /* default x: every column not used for theta */
        xi = malloc(t.cols * sizeof *xi);
        if (!xi) goto done;
        for (size_t j = 0; j < t.cols; j++) {
            int used = 0;
            for (size_t k = 0; k < nt; k++) used |= ti[k] == j;
            if (!used) xi[nx++] = j;
        }
        if (nx == 0) {
            fprintf(stderr, "diffsbi: train: no columns left for x; give --x COLS\n");
            goto done;
        }
    }
    float *th = malloc((t.rows ? t.rows : 1) * nt * sizeof *th), *xx = malloc((t.rows ? t.rows : 1) * nx * sizeof *xx);
    size_t nxn = impute ? 2 * nx : nx;
    char **names = calloc(nt + nxn, sizeof *names);
    if (th && xx && names) {
        for (size_t i = 0; i < t.rows; i++) {
            for (size_t k = 0; k < nt; k++) th[i * nt + k] = t.data[i * t.cols + ti[k]];
            for (size_t k = 0; k < nx; k++) xx[i * nx + k] = t.data[i * t.cols + xi[k]];
        }
        for (size_t k = 0; k < nt; k++) names[k] = strdup(t.names[ti[k]]);
        for (size_t k = 0; k < nx; k++) names[nt + k] = strdup(t.names[xi[k]]);
        for (size_t k = 0; impute && k < nx; k++) {
            size_t l = strlen(t.names[xi[k]]) + sizeof DSBI_MASK_SUFFIX;
            if ((names[nt + nx + k] = malloc(l))) snprintf(names[nt + nx + k], l, "%s%s", t.names[xi[k]], DSBI_MASK_SUFFIX);
        }
        size_t dropped = 0, imputed = 0;
        ds = impute ? dsbi_dataset_from_arrays_masked(th, xx, t.rows, nt, nx, &imputed, &dropped)
                    : dsbi_dataset_from_arrays(th, xx, t.rows, nt, nx, &dropped);
        if (!ds) cli_fail_msg("train");
        else if (dropped)
            fprintf(stderr, "diffsbi: warning: %s: dropped %zu of %zu rows with non-finite values\n", path, dropped, t.rows);
        if (ds && imputed)
            fprintf(stderr, "diffsbi: %s: imputed %zu missing x values (mask columns added)\n", path, imputed);
        *names_out = names;
    } else {
        free(names);
        fprintf(stderr, "diffsbi: train: out of memory\n");
    }
    free(th);
    free(xx);
done:
    free(ti);
    free(xi);
    dsbi_table_free(&t);
    return ds;
}

static void free_names(char **names, size_t n) {
    if (!names) return;
    for (size_t j = 0; j < n; j++) free(names[j]);
    free(names);
}

/* theta names, x names, then x names with the mask suffix (owned) */
static char **mask_names(const dsbi_simulator *sim) {
    size_t D = sim->dim_theta, K = sim->dim_x;
    char **names = calloc(D + 2 * K, sizeof *names);
    if (!names) return NULL;
    for (size_t j = 0; j < D + 2 * K; j++) {
        char def[32];
        const char *base;
        if (j < D) {
            snprintf(def, sizeof def, "theta_%zu", j + 1);
            base = sim->theta_names ? sim->theta_names[j] : def;
        } else {
            size_t k = (j - D) % K;
            snprintf(def, sizeof def, "x_%zu", k + 1);
            base = sim->x_names ? sim->x_names[k] : def;
        }
        size_t l = strlen(base) + sizeof DSBI_MASK_SUFFIX;
        if (!(names[j] = malloc(l))) {
            free_names(names, j);
            return NULL;
        }
        snprintf(names[j], l, "%s%s", base, j >= D + K ? DSBI_MASK_SUFFIX : "");
    }
    return names;
}

static void print_bytes(const char *what, size_t b) {
    double v = (double)b;
    const char *u = "B";
    if (v >= 1024.0 * 1024.0 * 1024.0) v /= 1024.0 * 1024.0 * 1024.0, u = "GiB";
    else if (v >= 1024.0 * 1024.0) v /= 1024.0 * 1024.0, u = "MiB";
    else if (v >= 1024.0) v /= 1024.0, u = "KiB";
    printf("  %-28s %.1f %s\n", what, v, u);
}

/* --dry-run: the configuration's cost, measured on 5 steps of random data */
static int dry_run(dsbi_model *m, dsbi_train_config *tc, size_t n_rows, int online) {
    dsbi_train_estimate e;
    int st = dsbi_model_estimate(m, tc, online ? 0 : n_rows, 5, &e);
    if (st) return cli_fail("train", st);
    printf("dry run: %zu theta, %zu x, %s, batch %zu, %zu epochs\n", dsbi_model_dim_theta(m),
           dsbi_model_dim_x(m), online ? "online" : "offline", tc->batch_size, tc->epochs);
    printf("  %-28s %zu\n", "parameters", e.n_params);
    print_bytes("parameter memory", e.param_bytes);
    print_bytes("optimizer state", e.optimizer_bytes);
    print_bytes("activations per batch", e.activation_bytes);
    print_bytes("total (approx.)", e.param_bytes + e.optimizer_bytes + e.activation_bytes);
    printf("  %-28s %zu (%zu per epoch)\n", "optimizer steps", e.steps, e.steps / tc->epochs);
    printf("  %-28s %.3g ms (5 steps timed on random data, %d threads)\n", "time per step",
           e.seconds_per_step * 1e3, dsbi_get_threads());
    printf("  %-28s %.1f s (%.1f min), excluding simulation and validation\n", "estimated training time",
           e.seconds_total, e.seconds_total / 60.0);
    return 0;
}

static int train_with(dsbi_model_config *mcp, dsbi_train_config *tcp, dsbi_simulator *simp, const char *task,
                      const char *data, const char *theta_spec, const char *x_spec, size_t sims,
                      uint64_t seed, int online, int impute, int dry, int quiet, const char *out,
                      const char *plot);

/* --bounds LIST and --no-bounds, read by train_with */
static const char *train_bounds;
static int train_no_bounds;
static const char *train_distill; /* --distill TEACHER */

int cmd_train(int argc, char **argv) {
    enum { O_TASK = 1, O_DATA, O_THETA, O_X, O_SIMS, O_ONLINE, O_SEED, O_THREADS, O_QUIET, O_PLOT,
           O_CKPT, O_CKPT_EVERY, O_RESUME, O_PLUGIN, O_SIM_TIMEOUT, O_SIM_ARGS, O_IMPUTE, O_DRY,
           O_SUMMARY, O_THETA_FILE, O_ID, O_SET_SIZE, O_SET_FEAT, O_SUM_DIM, O_SUM_WIDTH,
           O_SUM_DEPTH, O_SUM_HEADS, O_SUM_IND, O_SUM_POOL, O_SUM_NOSTATS, O_BOUNDS, O_NO_BOUNDS,
           O_CFG_DROPOUT, O_SUM_RNN, O_OT, O_DISTILL };
    static const struct option own[] = {
        {"task", required_argument, 0, O_TASK},   {"data", required_argument, 0, O_DATA},
        {"theta", required_argument, 0, O_THETA}, {"x", required_argument, 0, O_X},
        {"sims", required_argument, 0, O_SIMS},   {"online", no_argument, 0, O_ONLINE},
        {"seed", required_argument, 0, O_SEED},   {"threads", required_argument, 0, O_THREADS},
        {"quiet", no_argument, 0, O_QUIET},       {"loss-plot", required_argument, 0, O_PLOT},
        {"out", required_argument, 0, 'o'},       {"help", no_argument, 0, 'h'},
        {"checkpoint", required_argument, 0, O_CKPT}, {"checkpoint-every", required_argument, 0, O_CKPT_EVERY},
        {"resume", no_argument, 0, O_RESUME},
        {"simulator", required_argument, 0, O_PLUGIN}, {"sim-timeout", required_argument, 0, O_SIM_TIMEOUT},
        {"sim-args", required_argument, 0, O_SIM_ARGS}, {"impute", no_argument, 0, O_IMPUTE},
        {"dry-run", no_argument, 0, O_DRY},
        {"summary", required_argument, 0, O_SUMMARY}, {"theta-file", required_argument, 0, O_THETA_FILE},
        {"id", required_argument, 0, O_ID}, {"set-size", required_argument, 0, O_SET_SIZE},
        {"set-features", required_argument, 0, O_SET_FEAT}, {"summary-dim", required_argument, 0, O_SUM_DIM},
        {"summary-width", required_argument, 0, O_SUM_WIDTH}, {"summary-depth", required_argument, 0, O_SUM_DEPTH},
        {"summary-heads", required_argument, 0, O_SUM_HEADS},
        {"summary-inducing", required_argument, 0, O_SUM_IND},
        {"summary-pool", required_argument, 0, O_SUM_POOL},
        {"summary-rnn", required_argument, 0, O_SUM_RNN},
        {"no-summary-stats", no_argument, 0, O_SUM_NOSTATS},
        {"bounds", required_argument, 0, O_BOUNDS}, {"no-bounds", no_argument, 0, O_NO_BOUNDS},
        {"cfg-dropout", required_argument, 0, O_CFG_DROPOUT},
        {"ot-coupling", optional_argument, 0, O_OT},
        {"distill", required_argument, 0, O_DISTILL}};
    struct option *opts = cli_options(own, sizeof own / sizeof own[0], 1, 0);
    if (!opts) return 1;
    const char *task = NULL, *data = NULL, *theta_spec = NULL, *x_spec = NULL, *out = NULL, *plot = NULL;
    size_t sims = 10000, threads = 0;
    uint64_t seed = 0;
    int quiet = 0, online = 0, impute = 0, dry = 0, c, idx, rc = 0;
    const char *plugin = NULL;
    dsbi_plugin_config pc = dsbi_plugin_config_default();
    float timeout = 0.0f;
    dsbi_model_config mc = dsbi_model_config_default();
    dsbi_train_config tc = dsbi_train_config_default();
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, &idx)) != -1) {
        switch (c) {
        case O_TASK: task = optarg; break;
        case O_DATA: data = optarg; break;
        case O_THETA: theta_spec = optarg; break;
        case O_X: x_spec = optarg; break;
        case O_SIMS: if (cli_parse_size("train", "--sims", optarg, 2, 100000000, &sims)) rc = 2; break;
        case O_ONLINE: online = 1; break;
        case O_SEED: if (cli_parse_u64("train", "--seed", optarg, &seed)) rc = 2; break;
        case O_THREADS: if (cli_parse_size("train", "--threads", optarg, 1, 1024, &threads)) rc = 2; break;
        case O_QUIET: quiet = 1; break;
        case O_PLOT: plot = optarg; break;
        case O_CKPT: tc.checkpoint = optarg; break;
        case O_CKPT_EVERY: if (cli_parse_size("train", "--checkpoint-every", optarg, 1, 100000000, &tc.checkpoint_every)) rc = 2; break;
        case O_RESUME: tc.resume = 1; break;
        case O_DISTILL: train_distill = optarg; break;
        case O_PLUGIN: plugin = optarg; break;
        case O_SIM_TIMEOUT: if (cli_parse_float("train", "--sim-timeout", optarg, 0.0, 1e7, &timeout)) rc = 2; break;
        case O_SIM_ARGS: pc.args = optarg; break;
        case O_IMPUTE: impute = 1; break;
        case O_DRY: dry = 1; break;
        case O_SUMMARY: {
            int k = dsbi_summary_parse(optarg);
            if (k < 0) rc = cli_usage_error("train", "--summary: unknown network '%s' (deepset, set_transformer, timeseries, none)", optarg);
            else mc.summary = (dsbi_summary_kind)k;
            break;
        }
        case O_THETA_FILE: set_theta_file = optarg; break;
        case O_ID: set_id = optarg; break;
        case O_SET_SIZE: if (cli_parse_size("train", "--set-size", optarg, 1, 1000000, &mc.set_size)) rc = 2; break;
        case O_SET_FEAT: if (cli_parse_size("train", "--set-features", optarg, 1, 100000, &mc.set_features)) rc = 2; break;
        case O_SUM_DIM: if (cli_parse_size("train", "--summary-dim", optarg, 1, 4096, &mc.summary_dim)) rc = 2; break;
        case O_SUM_WIDTH: if (cli_parse_size("train", "--summary-width", optarg, 1, 4096, &mc.summary_width)) rc = 2; break;
        case O_SUM_DEPTH: if (cli_parse_size("train", "--summary-depth", optarg, 1, 64, &mc.summary_depth)) rc = 2; break;
        case O_SUM_HEADS: if (cli_parse_size("train", "--summary-heads", optarg, 1, 4096, &mc.summary_heads)) rc = 2; break;
        case O_SUM_IND: if (cli_parse_size("train", "--summary-inducing", optarg, 0, 4096, &mc.summary_inducing)) rc = 2; break;
        case O_SUM_POOL:
            if (!strcmp(optarg, "mean")) mc.summary_pool = DSBI_SUMMARY_POOL_MEAN;
            else if (!strcmp(optarg, "max")) mc.summary_pool = DSBI_SUMMARY_POOL_MAX;
            else rc = cli_usage_error("train", "--summary-pool: '%s' is not mean or max", optarg);
            break;
        case O_SUM_RNN:
            if (!strcmp(optarg, "gru")) mc.summary_rnn = DSBI_SUMMARY_RNN_GRU;
            else if (!strcmp(optarg, "lstm")) mc.summary_rnn = DSBI_SUMMARY_RNN_LSTM;
            else rc = cli_usage_error("train", "--summary-rnn: '%s' is not gru or lstm", optarg);
            break;
        case O_SUM_NOSTATS: mc.summary_stats = 0; break;
        case O_BOUNDS: train_bounds = optarg; break;
        case O_NO_BOUNDS: train_no_bounds = 1; break;
        case O_CFG_DROPOUT: if (cli_parse_float("train", "--cfg-dropout", optarg, 0.0, 0.99, &mc.cfg_dropout)) rc = 2; break;
        case O_OT:
            mc.ot_coupling = 0.01f;
            if (optarg && cli_parse_float("train", "--ot-coupling", optarg, 1e-6, 0.05, &mc.ot_coupling)) rc = 2;
            break;
        case 'o': out = optarg; break;
        case 'h': help(); free(opts); return 0;
        default:
            if (c >= CLI_OPT_BASE) {
                if (cli_model_option("train", opts[idx].name, optarg, &mc, &tc) < 0) rc = 2;
            } else {
                rc = cli_usage_error("train", "unknown option");
            }
        }
        if (rc) {
            free(opts);
            return rc;
        }
    }
    free(opts);
    if (!out && !dry) return cli_usage_error("train", "--out MODEL is required");
    if (!task && !data && !plugin) return cli_usage_error("train", "give --task NAME, --simulator LIB.so or --data FILE");
    if (task && plugin) return cli_usage_error("train", "give either --task or --simulator, not both");
    if (online && !task && !plugin) return cli_usage_error("train", "--online needs --task or --simulator");
    if (online && impute) return cli_usage_error("train", "--impute works with offline data only (not --online)");
    if (mc.summary && impute) return cli_usage_error("train", "--impute does not apply to set data (--summary)");
    if (mc.ot_coupling > 0.0f && mc.schedule != DSBI_SCHEDULE_FLOW)
        return cli_usage_error("train", "--ot-coupling is for flow-matching models: add --model flow");
    if (mc.ot_coupling > 0.0f && mc.summary)
        return cli_usage_error("train", "--ot-coupling does not work with a summary network (--summary)");
    if (!mc.summary && (set_theta_file || set_id))
        return cli_usage_error("train", "--theta-file and --id describe set data: give --summary KIND");
    if (mc.summary && data) {
        size_t dl = strlen(data);
        int npy = dl >= 4 && !strcmp(data + dl - 4, ".npy");
        if (npy && !set_theta_file)
            return cli_usage_error("train", "--data %s is a 3-D array of sets: give the parameters with "
                                            "--theta-file FILE", data);
        if (!npy && (!set_id || !theta_spec))
            return cli_usage_error("train", "--data %s in long form (one row per member) needs --id COL "
                                            "and --theta COLS", data);
    }
    if (mc.summary && !data && !mc.set_size)
        return cli_usage_error("train", "--summary with --task/--simulator needs --set-size N (the simulator "
                                        "writes rows [n, members..., padding] of 1 + N * F values)");
    if (tc.resume && !tc.checkpoint) return cli_usage_error("train", "--resume needs --checkpoint FILE");
    if (tc.resume && access(tc.checkpoint, R_OK) != 0)
        return cli_usage_error("train", "--resume: no checkpoint %s to resume from", tc.checkpoint);
    if (threads) dsbi_set_threads((int)threads);
    mc.seed = seed;
    tc.seed = seed;
    dsbi_simulator sim, *simp = NULL;
    int st;
    dsbi_plugin *ph = NULL;
    if (task) {
        if ((st = dsbi_task_get(task, &sim))) return cli_fail("train", st);
        simp = &sim;
    } else if (plugin) {
        pc.timeout = timeout;
        if ((st = dsbi_plugin_open_ext(plugin, &pc, &sim, &ph))) return cli_fail("train", st);
        simp = &sim;
        task = sim.name;
    }
    rc = train_with(&mc, &tc, simp, task, data, theta_spec, x_spec, sims, seed, online, impute, dry, quiet, out, plot);
    dsbi_plugin_close(ph);
    return rc;
}

static int train_with(dsbi_model_config *mcp, dsbi_train_config *tcp, dsbi_simulator *simp, const char *task,
                      const char *data, const char *theta_spec, const char *x_spec, size_t sims,
                      uint64_t seed, int online, int impute, int dry, int quiet, const char *out,
                      const char *plot) {
    dsbi_model_config mc = *mcp;
    dsbi_train_config tc = *tcp;
    dsbi_simulator sim = simp ? *simp : (dsbi_simulator){0};
    int st, rc = 0;
    dsbi_dataset *ds = NULL;
    char **names = NULL;
    size_t D, K;
    if (data) {
        ds = mc.summary ? cli_sets_dataset("train", data, set_theta_file, set_id, theta_spec, x_spec, &mc, &names)
                        : dataset_from_file(data, theta_spec, x_spec, simp, impute, &names);
        if (!ds) return 1;
        D = dsbi_dataset_dim_theta(ds);
        K = dsbi_dataset_dim_x(ds);
        if (simp && (D != sim.dim_theta || K != sim.dim_x * (impute ? 2 : 1))) {
            free_names(names, D + K);
            dsbi_dataset_free(ds);
            return cli_usage_error("train", "data columns (%zu theta, %zu x) do not match task %s", D, K, task);
        }
    } else {
        D = sim.dim_theta;
        K = sim.dim_x * (impute ? 2 : 1);
        if (impute && !(names = mask_names(&sim))) {
            fprintf(stderr, "diffsbi: train: out of memory\n");
            return 1;
        }
        if (!online && !dry) {
            size_t dropped = 0, imputed = 0;
            st = impute ? dsbi_dataset_simulate_masked(&sim, sims, seed, &ds, &imputed, &dropped)
                        : dsbi_dataset_simulate(&sim, sims, seed, &ds, &dropped);
            if (st) {
                free_names(names, D + K);
                return cli_fail("train", st);
            }
            if (dropped) fprintf(stderr, "diffsbi: warning: dropped %zu of %zu simulations with non-finite values\n", dropped, sims);
            if (imputed) fprintf(stderr, "diffsbi: imputed %zu missing x values in %zu simulations (mask columns added)\n", imputed, sims);
        }
    }
    dsbi_model *teacher = NULL;
    if (train_distill) {
        mc.schedule = DSBI_SCHEDULE_CONSISTENCY;
        if (!(teacher = dsbi_model_load(train_distill))) {
            free_names(names, D + K);
            dsbi_dataset_free(ds);
            return cli_fail_msg("train");
        }
    }
    dsbi_model *m = dsbi_model_create(&mc, D, K);
    if (!m || (teacher && (st = dsbi_model_set_teacher(m, teacher)))) {
        free_names(names, D + K);
        dsbi_dataset_free(ds);
        dsbi_model_free(m);
        dsbi_model_free(teacher);
        if (train_distill) fprintf(stderr, "diffsbi: train: --distill %s: %s\n", train_distill, dsbi_last_error());
        return train_distill ? 1 : cli_fail_msg("train");
    }
    /* the prior's support: --bounds, else a built-in task's own (logit for a
     * box, log for a positive prior) unless --no-bounds */
    dsbi_task_info tinfo;
    double *bl = NULL;
    const char *bounds = train_bounds;
    if (teacher && (bounds || train_no_bounds)) { /* set_teacher took the teacher's */
        rc = cli_usage_error("train", "--bounds/--no-bounds: a distilled model uses its teacher's bounds");
        free_names(names, D + K);
        dsbi_dataset_free(ds);
        dsbi_model_free(m);
        dsbi_model_free(teacher);
        return rc;
    }
    if (!teacher && !train_no_bounds && (bounds || (task && !dsbi_task_info_get(task, &tinfo) &&
                                  (isfinite(tinfo.lower) || isfinite(tinfo.upper))))) {
        if (!(bl = malloc(2 * D * sizeof *bl))) rc = cli_fail("train", DSBI_STATUS_ERR_NOMEM);
        else if (bounds) rc = cli_parse_pairs("train", "--bounds", bounds, D, bl, bl + D);
        else
            for (size_t j = 0; j < D; j++) {
                bl[j] = tinfo.lower;
                bl[D + j] = tinfo.upper;
            }
        if (!rc && (st = dsbi_model_set_bounds(m, bl, bl + D))) rc = cli_fail("train", st);
        free(bl);
        if (rc) {
            free_names(names, D + K);
            dsbi_dataset_free(ds);
            dsbi_model_free(m);
            dsbi_model_free(teacher);
            return rc;
        }
    }
    if (dry) {
        tc.sims_per_epoch = sims;
        rc = dry_run(m, &tc, ds ? dsbi_dataset_size(ds) : online ? 0 : sims, online);
        free_names(names, D + K);
        dsbi_model_free(m);
        dsbi_model_free(teacher);
        dsbi_dataset_free(ds);
        return rc;
    }
    if (names) dsbi_model_set_names(m, (const char *const *)names, mc.summary ? NULL : (const char *const *)names + D);
    else if (simp) dsbi_model_set_names(m, sim.theta_names, sim.x_names);
    cli_progress prog;
    cli_progress_init(&prog, quiet, "train");
    tc.progress = cli_progress_cb;
    tc.log = cli_log_cb;
    tc.user = &prog;
    tc.sims_per_epoch = sims;
    cli_install_signals();
    if (!quiet)
        fprintf(stderr, "training %zu-parameter model on %s (%zu rows), %zu epochs\n",
                dsbi_model_num_params(m), data ? data : task, ds ? dsbi_dataset_size(ds) : sims, tc.epochs);
    st = online ? dsbi_model_fit_online(m, &sim, &tc) : dsbi_model_fit(m, ds, &tc);
    if (st == DSBI_STATUS_ERR_INTERRUPTED) {
        fprintf(stderr, "diffsbi: train: interrupted; saving the model trained so far to %s\n", out);
        rc = 130;
    } else if (st) {
        rc = cli_fail("train", st);
    }
    if (st == 0 || st == DSBI_STATUS_ERR_INTERRUPTED) {
        if ((st = dsbi_model_save(m, out))) rc = cli_fail("train", st);
        else if (!quiet) {
            const double *tl, *vl;
            size_t ne = dsbi_model_loss_history(m, &tl, &vl);
            if (ne) fprintf(stderr, "final loss: train %.4f, validation %.4f; model written to %s\n", tl[ne - 1], vl[ne - 1], out);
        }
        if (plot && rc != 1) {
            const double *tl, *vl;
            size_t ne = dsbi_model_loss_history(m, &tl, &vl);
            if ((st = dsbi_plot_loss(plot, tl, vl, ne))) rc = cli_fail("train", st);
        }
    }
    free_names(names, D + K);
    dsbi_model_free(m);
    dsbi_model_free(teacher);
    dsbi_dataset_free(ds);
    return rc;
}
