/* SPDX-License-Identifier: MIT */
/*
 * File-descriptor slots: the one set of helpers for the shim, the peers,
 * the bench and the fuzzers.
 *
 * A slot is an int that owns the fd it holds or is -1 (never any other
 * negative value). Ownership moves only through these helpers or by setting
 * the old slot to -1 in the same step as the new owner takes the fd, so
 * that no fd is closed twice and none is left behind.
 *
 *   fd_close(&slot)          close what the slot owns; the slot becomes -1
 *   fd = fd_take(&slot)      the fd leaves the slot (now -1) for its new owner
 *   fd_replace(&slot, fd)    the slot closes what it had and owns fd instead
 *   copy = fd_dup_cloexec(fd) a new fd of the same file, close-on-exec
 *
 * Header-only (static inline): it is shared by programs that link different
 * libraries, and every function is a few lines.
 */
#ifndef VDPA_FD_UTIL_H
#define VDPA_FD_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* Duplicates never take 0, 1 or 2: a process started with one of those
 * closed must not have a peer's fd become its stdin, stdout or stderr. */
#define FD_UTIL_LOWEST 3

/* Closes the fd the slot owns, if any, and sets the slot to -1. errno is
 * kept: callers close on their error paths after reading errno. A failing
 * close(2) is not retried (on Linux the fd is released even on EINTR, and a
 * second close could hit an fd another thread just opened). */
static inline void fd_close(int *slot)
{
    if (*slot >= 0) {
        int saved = errno;
        close(*slot);
        errno = saved;
    }
    *slot = -1;
}

/* Takes the fd out of the slot: the caller owns it now and the slot is -1. */
static inline int fd_take(int *slot)
{
    int fd = *slot;

    *slot = -1;
    return fd;
}

/* The slot closes what it owned and owns fd (an fd or -1) from now on. */
static inline void fd_replace(int *slot, int fd)
{
    if (*slot != fd)
        fd_close(slot);
    *slot = fd;
}

/* A close-on-exec duplicate of fd, numbered FD_UTIL_LOWEST or above, which
 * the caller owns. -1 stays -1 (no fd, no error); otherwise the new fd or
 * -errno (EMFILE when the process is out of fds; F_DUPFD never fails with
 * EPERM, so -1 means "no fd" only). */
static inline int fd_dup_cloexec(int fd)
{
    int copy;

    if (fd < 0)
        return -1;
    copy = fcntl(fd, F_DUPFD_CLOEXEC, FD_UTIL_LOWEST);
    return copy < 0 ? -errno : copy;
}

#endif
