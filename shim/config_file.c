/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_file.h"

#define VS_CONFIG_FILE_MAX (16u << 20)

struct reader {
    struct vs_options *opts;
    const char *name;
    char *err;
    size_t errlen;
    enum { SEC_NONE, SEC_GLOBAL, SEC_DEVICE } section;
    unsigned global_line;          /* the [global] line, 0 when none yet */
    struct vs_device_config dev;   /* the [device NAME] being read */
    struct vs_device_seen seen;
    unsigned dev_line;
    unsigned *dev_lines;           /* section line of each device from the file */
    size_t first;                  /* index of the file's first device in opts */
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
        return at(rd, line, "%s = ... comes before any section; put device keys under "
                  "[device NAME] and trace/log settings under [global]", key);
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
    struct reader rd = { .opts = opts, .name = name, .err = err, .errlen = errlen,
                         .first = opts->ndevices };
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

int vs_config_load(struct vs_options *opts, char *err, size_t errlen)
{
    struct reader rd = { .opts = opts, .name = opts->config_path, .err = err, .errlen = errlen,
                         .first = opts->ndevices };
    FILE *f;
    char *text;
    size_t size = 0;
    int rc;

    if (!opts->config_path) {
        snprintf(err, errlen, "no config file");
        return -EINVAL;
    }
    f = fopen(opts->config_path, "re");
    if (!f) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot read the config file: %s", opts->config_path,
                 strerror(errno));
        return rc;
    }
    text = malloc(VS_CONFIG_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", opts->config_path);
        return -ENOMEM;
    }
    errno = 0;
    size = fread(text, 1, VS_CONFIG_FILE_MAX + 1, f);
    rc = ferror(f) ? (errno ? -errno : -EIO) : 0;
    fclose(f);
    if (rc) {
        snprintf(err, errlen, "%s: cannot read the config file: %s", opts->config_path,
                 strerror(-rc));
    } else if (size > VS_CONFIG_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %u MiB; is this the config file?",
                 opts->config_path, VS_CONFIG_FILE_MAX >> 20);
        rc = -EFBIG;
    } else {
        rc = parse(&rd, text, size); /* each device checked against those before it */
    }
    free(text);
    free(rd.dev_lines);
    return rc;
}
