/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_file.h"
#include "regfile.h"

struct reader {
    struct vs_options *opts;
    const char *name;
    char *err;
    size_t errlen;
    enum {
        SEC_NONE,
        SEC_GLOBAL,
        SEC_DEVICE
    } section;
    unsigned global_line;        /* the [global] line, 0 when none yet */
    struct vs_device_config dev; /* the [device NAME] being read */
    struct vs_device_seen seen;
    unsigned dev_line;
    unsigned *dev_lines; /* section line of each device from the file */
    size_t first;        /* index of the file's first device in opts */
};

static int at(struct reader *rd, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int at(struct reader *rd, unsigned line, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(rd->err, rd->errlen, "%s:%u: %s", rd->name, line, msg);
    return -EINVAL;
}

static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    return s;
}

/* The device read since its [device NAME] line is complete. */
static int finish_device(struct reader *rd)
{
    char msg[512];
    struct vs_options *o = rd->opts;

    if (rd->section != SEC_DEVICE)
        return 0;
    rd->section = SEC_NONE;
    if (vs_device_finish(&rd->dev, msg, sizeof(msg)))
        return at(rd, rd->dev_line, "[device %s]: %s", rd->dev.id, msg);
    for (size_t i = 0; i < o->ndevices; i++) {
        const struct vs_device_config *d = &o->devices[i];
        char where[48] = "on the command line (--device)";
        if (i >= rd->first)
            snprintf(where, sizeof(where), "at line %u", rd->dev_lines[i - rd->first]);
        const char *path;
        switch (vs_device_clash(&rd->dev, d, &path)) {
        case VS_CLASH_ID:
            return at(rd, rd->dev_line, "[device %s] is defined twice (also %s)", d->id, where);
        case VS_CLASH_SOCKET:
            return at(rd, rd->dev_line, "[device %s] uses socket %s, as device %s does (%s)",
                      rd->dev.id, path, d->id, where);
        }
    }
    if (vs_options_add_device(o, &rd->dev, msg, sizeof(msg)))
        return at(rd, rd->dev_line, "%s", msg);
    unsigned *lines = realloc(rd->dev_lines, (o->ndevices - rd->first) * sizeof(*lines));
    if (!lines)
        return at(rd, rd->dev_line, "out of memory");
    rd->dev_lines = lines;
    lines[o->ndevices - rd->first - 1] = rd->dev_line;
    return 0;
}

static int section_line(struct reader *rd, unsigned line, char *s)
{
    size_t len = strlen(s);
    char msg[512];
    char *inner;
    int rc;

    if (s[len - 1] != ']')
        return at(rd, line, "a section header ends with ']': %s", s);
    s[len - 1] = '\0';
    inner = trim(s + 1);
    rc = finish_device(rd);
    if (rc)
        return rc;
    if (strcmp(inner, "global") == 0) {
        if (rd->global_line)
            return at(rd, line, "[global] is given twice (also at line %u)", rd->global_line);
        rd->global_line = line;
        rd->section = SEC_GLOBAL;
        return 0;
    }
    if (strncmp(inner, "device", 6) == 0 && (inner[6] == ' ' || inner[6] == '\t')) {
        char *name = trim(inner + 6);
        if (rd->opts->ndevices >= VS_MAX_DEVICES)
            return at(rd, line, "more than %d devices", VS_MAX_DEVICES);
        vs_device_begin(&rd->dev, rd->opts->ndevices, &rd->seen);
        if (vs_device_set(&rd->dev, &rd->seen, "id", name, msg, sizeof(msg)))
            return at(rd, line, "[device %s]: the name is the device's id: %s", name, msg);
        rd->section = SEC_DEVICE;
        rd->dev_line = line;
        return 0;
    }
    if (strcmp(inner, "device") == 0)
        return at(rd, line, "[device] needs a name: [device NAME] (the name is the device's id)");
    return at(rd, line, "unknown section [%s]; expected [global] or [device NAME]", inner);
}

static int key_line(struct reader *rd, unsigned line, char *s)
{
    char *eq = strchr(s, '=');
    char msg[512];
    char *key, *value;

    if (!eq)
        return at(rd, line, "expected KEY = VALUE, a [section] or a comment: %.80s", s);
    *eq = '\0';
    key = trim(s);
    value = trim(eq + 1);
    if (!*key)
        return at(rd, line, "a line '= %.80s' has no key", value);
    switch (rd->section) {
    case SEC_NONE:
        return at(rd, line,
                  "%s = ... comes before any section; put device keys under "
                  "[device NAME] and trace/log settings (and the reply-timeout default) under "
                  "[global]",
                  key);
    case SEC_GLOBAL:
        if (vs_option_set(rd->opts, key, value, false, msg, sizeof(msg)))
            return at(rd, line, "%s", msg);
        return 0;
    case SEC_DEVICE:
        if (strcmp(key, "id") == 0)
            return at(rd, line, "id is the section's name ([device %s]); remove this line",
                      rd->dev.id);
        if (!vs_device_key_known(key) &&
            (strcmp(key, "trace") == 0 || strcmp(key, "log-level") == 0 ||
             strcmp(key, "trace-format") == 0 || strcmp(key, "trace-max") == 0))
            return at(rd, line, "%s is a [global] setting, not a device key", key);
        if (vs_device_set(&rd->dev, &rd->seen, key, value, msg, sizeof(msg)))
            return at(rd, line, "[device %s]: %s", rd->dev.id, msg);
        return 0;
    }
    return 0;
}

static int parse(struct reader *rd, char *text, size_t size)
{
    unsigned line = 0;
    char *p = text, *end = text + size;
    int rc = 0;

    if (memchr(text, '\0', size))
        return at(rd, 1, "a NUL byte: this is not a text file");
    while (p < end && rc == 0) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *next = nl ? nl + 1 : end;
        line++;
        if (nl)
            *nl = '\0';
        else
            *end = '\0';
        if (strlen(p) > VS_CONFIG_LINE_MAX)
            return at(rd, line, "line longer than %d bytes", VS_CONFIG_LINE_MAX);
        char *s = trim(p);
        if (*s && *s != '#' && *s != ';')
            rc = *s == '[' ? section_line(rd, line, s) : key_line(rd, line, s);
        p = next;
    }
    if (rc == 0)
        rc = finish_device(rd);
    return rc;
}

int vs_config_load_string(struct vs_options *opts, const char *name, const char *text, char *err,
                          size_t errlen)
{
    struct reader rd = {
        .opts = opts, .name = name, .err = err, .errlen = errlen, .first = opts->ndevices
    };
    size_t size = strlen(text);
    char *copy = malloc(size + 1);
    int rc;

    if (!copy)
        return -ENOMEM;
    memcpy(copy, text, size + 1);
    rc = parse(&rd, copy, size);
    free(copy);
    free(rd.dev_lines);
    return rc;
}

/* What st is, for "PATH: ...: it is a FIFO, not a regular file". */
/* The config file, opened by vs_open_regular (never blocks; a regular file
 * or refused; a link followed) and bounded in size. The fd, or -errno with
 * "PATH: message" in err. */
static int open_regular(const char *path, off_t *size, char *err, size_t errlen)
{
    struct stat st;
    int fd = vs_open_regular(path, &st);

    if (fd == -EINVAL) {
        snprintf(err, errlen, "%s: cannot read the config file: %s, not a regular file", path,
                 vs_file_kind(&st));
        return fd;
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot read the config file: %s", path, strerror(-fd));
        return fd;
    }
    if (st.st_size > (off_t)VS_CONFIG_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %u MiB (%lld bytes); is this the config file?", path,
                 VS_CONFIG_FILE_MAX >> 20, (long long)st.st_size);
        close(fd);
        return -EFBIG;
    }
    *size = st.st_size;
    return fd;
}

/* Reads all of fd (a regular file) into text, at most max bytes: the size
 * read, or -errno; max + 1 bytes read means the file is too large. */
static ssize_t read_all(int fd, char *text, size_t max)
{
    size_t got = 0;

    while (got <= max) {
        ssize_t n = read(fd, text + got, max + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int vs_config_load(struct vs_options *opts, char *err, size_t errlen)
{
    struct reader rd = { .opts = opts,
                         .name = opts->config_path,
                         .err = err,
                         .errlen = errlen,
                         .first = opts->ndevices };
    const char *path = opts->config_path;
    off_t st_size = 0;
    char *text;
    ssize_t size;
    int fd, rc;

    if (!path) {
        snprintf(err, errlen, "no config file");
        return -EINVAL;
    }
    fd = open_regular(path, &st_size, err, errlen);
    if (fd < 0)
        return fd;
    /* the size fstat saw, plus one byte to tell a file that grew since, plus
     * the terminating NUL parse() writes */
    text = malloc((size_t)st_size + 2);
    if (!text) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    size = read_all(fd, text, (size_t)st_size);
    close(fd);
    if (size < 0) {
        rc = (int)size;
        snprintf(err, errlen, "%s: cannot read the config file: %s", path, strerror(-rc));
    } else if ((size_t)size > (size_t)st_size) {
        rc = -EAGAIN;
        snprintf(err, errlen, "%s: the file grew while it was read; try again", path);
    } else {
        rc = parse(&rd, text, (size_t)size); /* each device checked against those before it */
    }
    free(text);
    free(rd.dev_lines);
    return rc;
}
