/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fd_util.h"
#include "regfile.h"

const char *vs_file_kind(const struct stat *st)
{
    switch (st->st_mode & S_IFMT) {
    case S_IFDIR:
        return "Is a directory"; /* strerror(EISDIR) */
    case S_IFIFO:
        return "it is a FIFO";
    case S_IFSOCK:
        return "it is a socket";
    case S_IFCHR:
        return "it is a character device";
    case S_IFBLK:
        return "it is a block device";
    default:
        return "it is of an unknown kind";
    }
}

int vs_open_regular(const char *path, struct stat *st)
{
    return vs_open_regular_flags(path, O_RDONLY, 0, st);
}

int vs_open_regular_flags(const char *path, int open_flags, mode_t mode, struct stat *st)
{
    int fd = open(path, open_flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, mode);
    int flags, rc;

    if (fd < 0)
        return -errno;
    if (fstat(fd, st) < 0)
        rc = -errno;
    else if (!S_ISREG(st->st_mode))
        rc = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
    else if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
        rc = -errno;
    else
        return fd;
    close(fd);
    return rc;
}

FILE *vs_fopen_regular(const char *path)
{
    struct stat st;
    int fd = vs_open_regular(path, &st);
    FILE *f;

    if (fd < 0) {
        errno = -fd;
        return NULL;
    }
    f = fdopen(fd, "re");
    if (!f)
        fd_close(&fd); /* errno stays fdopen's */
    return f;
}
