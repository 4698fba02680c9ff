/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static enum vs_log_level current = VS_LOG_INFO;
static const char *program = "vdpa-shim";
static const char *const names[] = { "error", "warn", "info", "debug" };

void vs_log_set_program(const char *name)
{
    program = name;
}

void vs_log_set_level(enum vs_log_level level)
{
    current = level;
}

enum vs_log_level vs_log_get_level(void)
{
    return current;
}

int vs_log_level_parse(const char *text, enum vs_log_level *level)
{
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(text, names[i]) == 0) {
            *level = (enum vs_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void vs_log(enum vs_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level > current)
        return;
    fprintf(stderr, "%s: %s: ", program, names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
