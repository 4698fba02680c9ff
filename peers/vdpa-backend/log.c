/* SPDX-License-Identifier: MIT */
/* Leveled logging to stderr, one line per event. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vdpa-backend/backend.h"

static enum bk_log_level current = BK_LOG_INFO;
static const char *const names[] = { "error", "warn", "info", "debug" };

void bk_log_set_level(enum bk_log_level level)
{
    current = level;
}

int bk_log_level_parse(const char *text, enum bk_log_level *level)
{
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(text, names[i]) == 0) {
            *level = (enum bk_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void bk_log(enum bk_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level > current)
        return;
    fprintf(stderr, "vdpa-backend: %s: ", names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
