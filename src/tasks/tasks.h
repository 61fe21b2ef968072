/* Registry of built-in tasks. */
#ifndef DSBI_TASKS_H
#define DSBI_TASKS_H
#include "internal.h"

typedef struct dsbi_task_entry {
    dsbi_simulator sim;
    const char *description;
} dsbi_task_entry;

const dsbi_task_entry *dsbi_task_find(const char *name);
/* Inverse-kinematics forward model for one theta (4) -> x (2). */
void dsbi_ik_forward(const float *theta, float *x);
#endif
