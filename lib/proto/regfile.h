/* SPDX-License-Identifier: MIT */
/*
 * Opening a file an operator names (the config file, a compatibility-matrix
 * file) for reading, without ever blocking the event loop: O_NONBLOCK so that
 * a FIFO (or a device) put at the path returns at once instead of waiting
 * for a writer, then anything but a regular file is refused. A symbolic link
 * is followed (operators link such files; the check is on its target).
 */
#ifndef VDPA_SHIM_REGFILE_H
#define VDPA_SHIM_REGFILE_H

#include <stdio.h>
#include <sys/stat.h>

/* The fd (O_CLOEXEC, blocking again: a regular file never blocks) with *st
 * filled, or -errno: -EISDIR for a directory, -EINVAL for another kind
 * that is not a regular file (*st still filled, for vs_file_kind). */
int vs_open_regular(const char *path, struct stat *st);
/* The same as a stdio stream ("re"), or NULL with errno set. */
FILE *vs_fopen_regular(const char *path);
/* What a file that is not a regular file is, in words ("it is a FIFO"). */
const char *vs_file_kind(const struct stat *st);

#endif
