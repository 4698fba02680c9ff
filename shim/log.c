/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

static enum vs_log_level current = VS_LOG_INFO;
static const char *program = "vdpa-shim";
static const char *const names[] = { "error", "warn", "info", "debug" };
static int journal;  /* stderr is the journal: lines carry a syslog priority */

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

void vs_log_detect_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
              (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void vs_log(enum vs_log_level level, const char *fmt, ...)
{
    static const int priority[] = { 3, 4, 6, 7 }; /* syslog err, warning, info, debug */
    va_list ap;

    if (level > current)
        return;
    if (journal)
        fprintf(stderr, "<%d>", priority[level]);
    fprintf(stderr, "%s: %s: ", program, names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
