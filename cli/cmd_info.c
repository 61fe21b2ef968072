/* diffsbi info: what a model file holds. */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        if (c == 'm') path = optarg;
        else if (c == 'h') {
            printf("usage: diffsbi info --model FILE\n\n"
                   "Describes a model file: design, network size, standardization, final losses.\n");
            return 0;
        } else return cli_usage_error("info", "unknown option");
    }
    if (!path && optind < argc) path = argv[optind];
    if (!path) return cli_usage_error("info", "--model FILE is required");
    dsbi_model *m = dsbi_model_load(path);
    if (!m) return cli_fail_msg("info");
    char *d = dsbi_model_describe(m);
    printf("%s: %s", path, d ? d : "\n");
    free(d);
    dsbi_model_free(m);
    return 0;
}
