/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sd_listen.h"

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* What the fd is: a listening AF_UNIX stream socket, and its path. */
static void inspect(struct vs_listen_fd *e)
{
    struct sockaddr_un sa;
    socklen_t len = sizeof(sa);
    struct stat st;
    int type = 0, listening = 0;
    socklen_t ilen = sizeof(int);

    e->usable = false;
    e->path[0] = '\0';
    if (fstat(e->fd, &st) < 0 || !S_ISSOCK(st.st_mode))
        return;
    memset(&sa, 0, sizeof(sa));
    if (getsockname(e->fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX)
        return;
    if (len > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0] != '\0') {
        size_t n = strnlen(sa.sun_path, sizeof(sa.sun_path));
        n = n < sizeof(e->path) - 1 ? n : sizeof(e->path) - 1;
        memcpy(e->path, sa.sun_path, n);
        e->path[n] = '\0';
    }
    if (getsockopt(e->fd, SOL_SOCKET, SO_TYPE, &type, &ilen) < 0 || type != SOCK_STREAM)
        return;
    ilen = sizeof(int);
    if (getsockopt(e->fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen) < 0 || !listening)
        return;
    e->usable = true;
}

int vs_listen_fds_parse(const char *pid, const char *fds, const char *names, pid_t self, int first,
                        struct vs_listen_fds *out, char *err, size_t errlen)
{
    unsigned long p, n;
    const char *name = names;

    memset(out, 0, sizeof(*out));
    if (!pid || !fds)
        return 0;
    if (parse_ulong(pid, (unsigned long)-1, &p)) {
        snprintf(err, errlen, "LISTEN_PID=%s is not a process id", pid);
        return -EINVAL;
    }
    if (p != (unsigned long)self)
        return 0; /* meant for another process (a parent's leftovers) */
    if (parse_ulong(fds, VS_LISTEN_FDS_MAX, &n)) {
        snprintf(err, errlen, "LISTEN_FDS=%s is not a count of 0..%d fds", fds, VS_LISTEN_FDS_MAX);
        return -EINVAL;
    }
    if (n == 0)
        return 0;
    out->fds = calloc(n, sizeof(*out->fds));
    if (!out->fds) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    out->n = n;
    for (size_t i = 0; i < n; i++) {
        struct vs_listen_fd *e = &out->fds[i];
        e->fd = first + (int)i;
        if (name && *name) {
            size_t len = strcspn(name, ":");
            snprintf(e->name, sizeof(e->name), "%.*s", (int)len, name);
            name += len;
        }
        if (name && *name == ':')
            name++;
        inspect(e);
    }
    return 0;
}

int vs_listen_fds_from_env(struct vs_listen_fds *out, char *err, size_t errlen)
{
    char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS"),
         *names = getenv("LISTEN_FDNAMES");
    int rc;

    pid = pid ? strdup(pid) : NULL;
    fds = fds ? strdup(fds) : NULL;
    names = names ? strdup(names) : NULL;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    rc = vs_listen_fds_parse(pid, fds, names, getpid(), VS_LISTEN_FDS_START, out, err, errlen);
    free(pid);
    free(fds);
    free(names);
    for (size_t i = 0; rc == 0 && i < out->n; i++) {
        int fd = out->fds[i].fd;
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0)
            fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
        /* accept() after poll() must never block the loop */
        if (out->fds[i].usable && (fl = fcntl(fd, F_GETFL)) >= 0)
            fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    return rc;
}

struct vs_listen_fd *vs_listen_fds_find(struct vs_listen_fds *l, const char *path, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->fds[i].usable && path && strcmp(l->fds[i].path, path) == 0)
            return &l->fds[i];
    for (size_t i = 0; id && i < l->n; i++)
        if (l->fds[i].usable && strcmp(l->fds[i].name, id) == 0)
            return &l->fds[i];
    return NULL;
}

void vs_listen_fds_free(struct vs_listen_fds *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->fds[i].fd >= 0)
            close(l->fds[i].fd);
    free(l->fds);
    memset(l, 0, sizeof(*l));
}

int vs_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len;
    socklen_t salen;
    int fd, rc = 1;

    if (!path || !*path)
        return 0;
    len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
        rc = -errno;
    close(fd);
    return rc;
}
