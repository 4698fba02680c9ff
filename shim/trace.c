/* SPDX-License-Identifier: MIT */
/*
 * The trace file (trace.h): opening, rotation and writing. The lines are
 * built by trace_decode.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fd_util.h"
#include "log.h"
#include "regfile.h"
#include "trace.h"

struct vs_trace {
    int fd;     /* -1 while off (or a reopen failed) */
    bool owned; /* a file (not stdout): closed, reopened, rotated */
    char *path;
    enum vs_trace_format format;
    uint64_t max_bytes; /* 0: no limit */
    uint64_t written;   /* bytes in the current file */
    unsigned long rotations;
    uint64_t quiet_ns; /* least time between two warnings of one kind */
    /* write errors: the first is logged at once, then one line per quiet_ns */
    bool write_failed;
    bool cut;             /* the last line went out in part (ended first) */
    uint64_t lost;        /* lines lost since the first failure */
    uint64_t lost_logged; /* of which the last warning counted */
    uint64_t next_write_warn;
    /* rotation that cannot rename: retried (and logged) once per quiet_ns */
    uint64_t next_rotate;
};

#define NS_PER_MS     UINT64_C(1000000)
#define NS_PER_S      (1000 * NS_PER_MS)
#define WARN_QUIET_MS UINT64_C(60000) /* a repeated trace warning: once a minute */
#define TRACE_MODE    0600            /* a new trace file: the shim's user only */

/* ---- the file ---------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Anything but a regular file at the trace path, said once in words. */
static void warn_kind(const struct vs_trace *t, const struct stat *st)
{
    vs_warn("trace %s: %s, not a regular file; give a file's path, or --trace=- for standard "
            "output",
            t->path, vs_file_kind(st));
}

/* Why open(2) refused t->path, said once in words (the caller logs the
 * errno too). A FIFO or socket with no reader is ENXIO: lstat tells which. */
static void explain_open_error(const struct vs_trace *t, int err)
{
    struct stat st;

    if (err == ELOOP)
        vs_warn("trace %s is a symbolic link; the shim does not follow one there (rotation and "
                "appending would reach a file it was not given): give the file's own path",
                t->path);
    else if (err == ENXIO && lstat(t->path, &st) == 0 && !S_ISREG(st.st_mode))
        warn_kind(t, &st);
}

/* The fd of a regular file at path, created (mode 0600) if missing, opened
 * for appending: never through a symbolic link (O_NOFOLLOW), never blocking
 * (vs_open_regular_flags: O_NONBLOCK until fstat shows a regular file),
 * never truncated. excl: only a file this call creates (rotation). -errno
 * after logging why. */
static int open_trace_fd(struct vs_trace *t, bool excl, uint64_t *size)
{
    int flags = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | (excl ? O_EXCL : 0);
    struct stat st = { 0 }; /* st_mode stays 0 unless the file was opened */
    int fd = vs_open_regular_flags(t->path, flags, TRACE_MODE, &st);

    if (fd >= 0) {
        *size = (uint64_t)st.st_size;
        return fd;
    }
    if ((fd == -EINVAL || fd == -EISDIR) && (st.st_mode & S_IFMT))
        warn_kind(t, &st); /* opened, and not a regular file */
    else
        explain_open_error(t, -fd);
    return fd;
}

static int open_file(struct vs_trace *t)
{
    int fd = open_trace_fd(t, false, &t->written);

    if (fd < 0)
        return fd;
    t->fd = fd;
    t->cut = false;
    return 0;
}

struct vs_trace *vs_trace_new(void)
{
    struct vs_trace *t = calloc(1, sizeof(struct vs_trace));

    if (t) {
        t->fd = -1;
        t->quiet_ns = WARN_QUIET_MS * NS_PER_MS;
    }
    return t;
}

void vs_trace_set_warn_interval(struct vs_trace *t, unsigned ms)
{
    t->quiet_ns = (uint64_t)ms * NS_PER_MS;
}

/* Stdout (not owned) stays open; only a file the trace opened is closed. */
static void close_fd(struct vs_trace *t)
{
    if (t->owned)
        fd_close(&t->fd);
    t->fd = -1;
}

static void close_output(struct vs_trace *t)
{
    close_fd(t);
    t->owned = false;
    free(t->path);
    t->path = NULL;
}

int vs_trace_configure(struct vs_trace *t, const char *path, enum vs_trace_format format,
                       uint64_t max_bytes)
{
    char *copy = NULL;
    int rc;

    if (path && !(copy = strdup(path)))
        return -ENOMEM;
    close_output(t);
    t->format = format;
    t->max_bytes = max_bytes;
    t->written = 0;
    t->write_failed = t->cut = false;
    t->lost = t->lost_logged = 0;
    t->next_rotate = 0;
    t->path = copy;
    if (!path)
        return 0;
    if (strcmp(path, "-") == 0) {
        fflush(stdout); /* lines go out with write(2) from now on */
        t->fd = STDOUT_FILENO;
        return 0;
    }
    t->owned = true;
    rc = open_file(t);
    if (rc)
        t->owned = false;
    return rc;
}

struct vs_trace *vs_trace_open_ex(const char *path, enum vs_trace_format format, uint64_t max_bytes)
{
    struct vs_trace *t = vs_trace_new();
    int rc;

    if (!t)
        return NULL;
    rc = vs_trace_configure(t, path, format, max_bytes);
    if (rc) {
        vs_trace_close(t);
        errno = -rc;
        return NULL;
    }
    return t;
}

struct vs_trace *vs_trace_open(const char *path)
{
    return vs_trace_open_ex(path, VS_TRACE_TEXT, VS_TRACE_MAX_DEFAULT);
}

int vs_trace_reopen(struct vs_trace *t)
{
    if (!t || !t->path || strcmp(t->path, "-") == 0)
        return 0;
    t->owned = true;
    close_fd(t);
    t->next_rotate = 0;
    return open_file(t);
}

void vs_trace_close(struct vs_trace *t)
{
    if (!t)
        return;
    close_output(t);
    free(t);
}

bool vs_trace_same(const struct vs_trace *t, const char *path, enum vs_trace_format format,
                   uint64_t max_bytes)
{
    const char *cur = t ? t->path : NULL;

    if (!cur || !path)
        return !cur && !path;
    return strcmp(cur, path) == 0 && t->format == format && t->max_bytes == max_bytes;
}

unsigned long vs_trace_rotations(const struct vs_trace *t)
{
    return t ? t->rotations : 0;
}

/* FILE is renamed FILE.1 (replacing the previous FILE.1) and a new FILE
 * created. Nothing is ever truncated: when FILE cannot be renamed the lines
 * go on into it (past the limit) and the rename is tried again quiet_ns
 * later; when the new FILE cannot be made (something took its place) the
 * trace stops until SIGHUP. */
static void rotate(struct vs_trace *t)
{
    size_t n = strlen(t->path) + 3;
    char *old = malloc(n);
    uint64_t now = now_ns(), size = 0;
    int fd;

    if (!old || (snprintf(old, n, "%s.1", t->path), rename(t->path, old) < 0)) {
        int err = old ? errno : ENOMEM;
        t->next_rotate = now + t->quiet_ns;
        char when[32];
        if (t->quiet_ns >= NS_PER_S)
            snprintf(when, sizeof(when), "%" PRIu64 " s", t->quiet_ns / NS_PER_S);
        else
            snprintf(when, sizeof(when), "%" PRIu64 " ms", t->quiet_ns / NS_PER_MS);
        vs_warn("trace %s: cannot move it to %s.1 (%s); it grows past --trace-max until that "
                "works (tried again in %s)",
                t->path, t->path, strerror(err), when);
        free(old);
        return;
    }
    free(old);
    t->next_rotate = 0;
    t->rotations++;
    fd = open_trace_fd(t, true, &size);
    close_fd(t);
    if (fd < 0) {
        vs_warn("trace %s: cannot create it again after moving it to %s.1 (%s); tracing stops "
                "until SIGHUP",
                t->path, t->path, strerror(-fd));
        return;
    }
    t->fd = fd;
    t->written = size;
    t->cut = false;
    vs_info("trace %s reached its limit of %" PRIu64 " bytes (--trace-max); the previous "
            "part is %s.1",
            t->path, t->max_bytes, t->path);
}

/* All of line into fd: 0, or the errno of the write that failed. */
static int write_all(int fd, const char *line, size_t n, uint64_t *done)
{
    while (n > 0) {
        ssize_t w = write(fd, line, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        if (w == 0)
            return EIO;
        line += w;
        n -= (size_t)w;
        *done += (uint64_t)w;
    }
    return 0;
}

/* A line was lost to err: the first loss is logged at once with its reason,
 * later ones at most once per quiet_ns, with how many were lost. */
static void write_failed(struct vs_trace *t, int err)
{
    uint64_t now = now_ns();

    t->lost++;
    if (!t->write_failed) {
        t->write_failed = true;
        t->lost_logged = t->lost;
        t->next_write_warn = now + t->quiet_ns;
        vs_warn("trace %s: write failed (%s); trace lines are being lost (check the disk)", t->path,
                strerror(err));
    } else if (now >= t->next_write_warn) {
        vs_warn("trace %s: writes still fail (%s); %" PRIu64 " more lines lost (%" PRIu64
                " in all)",
                t->path, strerror(err), t->lost - t->lost_logged, t->lost);
        t->lost_logged = t->lost;
        t->next_write_warn = now + t->quiet_ns;
    }
}

static void write_line(struct vs_trace *t, const char *line, size_t n)
{
    uint64_t before;
    int err = 0;

    if (t->fd >= 0 && t->owned && t->max_bytes && t->written > 0 && t->written + n > t->max_bytes &&
        (!t->next_rotate || now_ns() >= t->next_rotate))
        rotate(t);
    if (t->fd < 0)
        return;
    if (t->cut && (err = write_all(t->fd, "\n", 1, &t->written)) == 0)
        t->cut = false;
    before = t->written;
    if (!err)
        err = write_all(t->fd, line, n, &t->written);
    if (err) {
        t->cut = t->cut || t->written != before;
        write_failed(t, err);
        return;
    }
    if (t->write_failed) {
        vs_warn("trace %s: writing again; %" PRIu64 " lines were lost", t->path, t->lost);
        t->write_failed = false;
        t->lost = t->lost_logged = 0;
    }
}

void vs_trace_msg(struct vs_trace *t, const char *device, const char *dir, enum vu_channel channel,
                  const struct vu_msg *msg, const char *note)
{
    struct timespec ts;
    char line[VS_TRACE_LINE_MAX];
    size_t n;

    if (!t || t->fd < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    n = vs_trace_format_line(t->format, &ts, device, dir, channel, msg, note, line, sizeof(line));
    write_line(t, line, n);
}
