/* SPDX-License-Identifier: MIT */
/*
 * Open-fd accounting for the unit tests, the integration tests (tests/integ)
 * and the session fuzzer: how many fds the process has open (entries of
 * /proc/self/fd), whether one fd is closed, and a dump of what is open for
 * the message of a failed leak check. Header-only.
 */
#ifndef VDPA_SHIM_TESTS_FDCOUNT_H
#define VDPA_SHIM_TESTS_FDCOUNT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Calls fn(fd, arg) for every open fd except the one used for the listing;
 * returns how many there were, or -1 when /proc/self/fd cannot be read. */
static inline int fdcount_each(void (*fn)(int fd, void *arg), void *arg)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0, self;

    if (!d)
        return -1;
    self = dirfd(d);
    while ((e = readdir(d))) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);

        if (e->d_name[0] == '.' || *end != '\0' || fd == self)
            continue;
        if (fn)
            fn((int)fd, arg);
        n++;
    }
    closedir(d);
    return n;
}

/* The number of fds this process has open. */
static inline int fdcount(void)
{
    return fdcount_each(NULL, NULL);
}

static inline void fdcount_print_one(int fd, void *arg)
{
    char link[64], target[PATH_MAX];
    ssize_t n;

    (void)arg;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof(target) - 1);
    target[n < 0 ? 0 : n] = '\0';
    fprintf(stderr, "    fd %d -> %s\n", fd, target);
}

/* Lists the open fds on stderr (what leaked, when a count is off). */
static inline void fdcount_dump(const char *why)
{
    fprintf(stderr, "  open fds (%s):\n", why);
    fdcount_each(fdcount_print_one, NULL);
}

/* True when fd is not open: fcntl fails with EBADF. */
static inline bool fd_is_closed(int fd)
{
    errno = 0;
    return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

static inline bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* Open fds of another process (entries of /proc/PID/fd); -1 if unreadable. */
static inline int fdcount_of(pid_t pid)
{
    char path[64];
    struct dirent *e;
    int n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

#endif
