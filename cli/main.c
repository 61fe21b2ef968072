/* diffsbi: the command-line front end. One file per subcommand (cmd_*.c);
 * everything here goes through the public API in include/diffsbi.h. */
#include "cli.h"
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"demo", cmd_demo, "run the inverse-kinematics example end to end"},
    {"tasks", cmd_tasks, "list the built-in simulators"},
    {"simulate", cmd_simulate, "simulate (theta, x) pairs from a task into CSV or NPY"},
    {"train", cmd_train, "train a diffusion posterior on a task or a data file"},
    {"sample", cmd_sample, "draw posterior samples for an observation"},
    {"diagnose", cmd_diagnose, "calibration diagnostics on a test set: SBC, coverage, TARP, report"},
    {"info", cmd_info, "describe a model file"},
    {"bench", cmd_bench, "sbibm accuracy benchmark: C2ST, MMD, sliced Wasserstein vs reference posteriors"},
};

static void usage(FILE *f) {
    fprintf(f,
            "diffsbi %s - amortized simulation-based inference with diffusion models\n\n"
            "usage: diffsbi <command> [options]   (diffsbi <command> --help for details)\n\n"
            "commands:\n", DSBI_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f,
            "\ncommon options: --seed N, --threads N (or env DSBI_NUM_THREADS), --quiet\n\n"
            "example:\n"
            "  diffsbi train --task two_moons --sims 10000 --out tm.dsbi\n"
            "  diffsbi sample --model tm.dsbi --obs 0,0 -n 1000 --out post.csv\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("diffsbi %s\n", DSBI_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "diffsbi: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
