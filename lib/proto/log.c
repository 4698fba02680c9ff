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
static int journal; /* stderr is the journal: lines carry a syslog priority */

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
    char line[2048];
    size_t n = 0;
    int k;
    va_list ap;

    if (level > current)
        return;
    /* One line, one write: lines of processes sharing stderr (or the
     * journal's stream) never interleave mid-line. */
    if (journal)
        n += (size_t)snprintf(line, sizeof(line), "<%d>", priority[level]);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: %s: ", program, names[level]);
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (k > 0)
        n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k : sizeof(line) - n - 2;
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
}
