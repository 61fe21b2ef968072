/* diffsbi tasks: list the built-in simulators. */
#include "cli.h"
#include <string.h>

int cmd_tasks(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: diffsbi tasks\n\nLists the built-in tasks with their dimensions.\n");
        return 0;
    }
    if (argc > 1) return cli_usage_error("tasks", "unexpected argument '%s'", argv[1]);
    printf("%-22s %5s %5s  %s\n", "task", "theta", "x", "description");
    for (size_t i = 0; i < dsbi_task_count(); i++) {
        dsbi_simulator s;
        const char *name = dsbi_task_name(i);
        if (dsbi_task_get(name, &s)) continue;
        printf("%-22s %5zu %5zu  %s\n", name, s.dim_theta, s.dim_x, dsbi_task_description(name));
    }
    return 0;
}
