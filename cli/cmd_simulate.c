/* diffsbi simulate: (theta, x) pairs from a built-in task or a simulator
 * plugin (shared library, include/diffsbi_plugin.h) into CSV or NPY. */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

static void help(void) {
    printf("usage: diffsbi simulate (--task NAME | --simulator LIB.so) [--sims N] [--seed N] --out FILE\n\n"
           "Draws theta from the prior and simulates x. Writes one row per pair,\n"
           "theta columns first, then x columns (CSV with a header of names, or NPY by\n"
           "extension). Pairs with non-finite values are dropped and counted.\n\n"
           "  --task NAME   built-in task (see 'diffsbi tasks')\n"
           "  --simulator LIB.so  simulator plugin (include/diffsbi_plugin.h); runs in\n"
           "                --threads worker processes, crashes are reported with their theta\n"
           "  --sim-timeout S  seconds one plugin call (64 rows) may take, 0 = no limit [0]\n"
           "  --sim-args STR   string passed to the plugin's dsbi_plugin_init [\"\"]\n"
           "  --sims N      number of pairs [10000]\n"
           "  --seed N      random seed [0]\n"
           "  --out FILE    output .csv or .npy\n"
           "  --threads N   worker threads/processes [all cores]\n"
           "  --quiet       no messages\n\n"
           "example: diffsbi simulate --task two_moons --sims 1000 --out sims.csv\n");
}

int cmd_simulate(int argc, char **argv) {
    static const struct option opts[] = {
        {"task", required_argument, 0, 't'}, {"sims", required_argument, 0, 's'},
        {"seed", required_argument, 0, 'S'}, {"out", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'},      {"threads", required_argument, 0, 'T'},
        {"help", no_argument, 0, 'h'},       {"simulator", required_argument, 0, 'P'},
        {"sim-timeout", required_argument, 0, 'W'}, {"sim-args", required_argument, 0, 'A'},
        {0, 0, 0, 0}};
    const char *task = NULL, *out = NULL, *plugin = NULL;
    dsbi_plugin_config pc = dsbi_plugin_config_default();
    float timeout = 0.0f;
    size_t sims = 10000, threads = 0;
    uint64_t seed = 0;
    int quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': task = optarg; break;
        case 's': if (cli_parse_size("simulate", "--sims", optarg, 1, 100000000, &sims)) return 2; break;
        case 'S': if (cli_parse_u64("simulate", "--seed", optarg, &seed)) return 2; break;
        case 'T': if (cli_parse_size("simulate", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'o': out = optarg; break;
        case 'P': plugin = optarg; break;
        case 'W': if (cli_parse_float("simulate", "--sim-timeout", optarg, 0.0, 1e7, &timeout)) return 2; break;
        case 'A': pc.args = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': help(); return 0;
        default: return cli_usage_error("simulate", "unknown option");
        }
    }
    if (!task == !plugin || !out)
        return cli_usage_error("simulate", "give --task NAME or --simulator LIB.so, and --out FILE");
    if (threads) dsbi_set_threads((int)threads);
    dsbi_simulator sim;
    dsbi_plugin *ph = NULL;
    pc.timeout = timeout;
    int st = plugin ? dsbi_plugin_open_ext(plugin, &pc, &sim, &ph) : dsbi_task_get(task, &sim);
    if (st) return cli_fail("simulate", st);
    dsbi_dataset *ds = NULL;
    size_t dropped = 0;
    if ((st = dsbi_dataset_simulate(&sim, sims, seed, &ds, &dropped))) {
        cli_fail("simulate", st);
        dsbi_plugin_close(ph);
        return 1;
    }
    size_t n = dsbi_dataset_size(ds), D = sim.dim_theta, K = sim.dim_x, C = D + K;
    float *tab = malloc(n * C * sizeof *tab);
    const char **names = malloc(C * sizeof *names);
    if (!tab || !names) {
        free(tab);
        free(names);
        dsbi_dataset_free(ds);
        dsbi_plugin_close(ph);
        fprintf(stderr, "diffsbi: simulate: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(tab + i * C, dsbi_dataset_theta(ds) + i * D, D * sizeof(float));
        memcpy(tab + i * C + D, dsbi_dataset_x(ds) + i * K, K * sizeof(float));
    }
    for (size_t j = 0; j < D; j++) names[j] = sim.theta_names[j];
    for (size_t j = 0; j < K; j++) names[D + j] = sim.x_names[j];
    st = dsbi_table_write(out, tab, n, C, names);
    free(tab);
    free(names);
    dsbi_dataset_free(ds);
    dsbi_plugin_close(ph);
    if (st) return cli_fail("simulate", st);
    if (dropped) fprintf(stderr, "diffsbi: warning: dropped %zu of %zu simulations with non-finite values\n", dropped, sims);
    if (!quiet) fprintf(stderr, "wrote %zu pairs (%zu theta + %zu x columns) to %s\n", n, D, K, out);
    return 0;
}
