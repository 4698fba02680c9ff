/* SPDX-License-Identifier: MIT */
/*
 * Opening a file an operator names (the config file, a compatibility-matrix
 * file; the trace, to write) without ever blocking the event loop:
 * O_NONBLOCK so that a FIFO (or a device) put at the path returns at once
 * instead of waiting for the other side (-ENXIO for a FIFO opened to write
 * with no reader), then anything but a regular file is refused. A symbolic link
 * is followed (operators link such files; the check is on its target)
 * unless the caller's flags say O_NOFOLLOW (vs_open_regular_flags).
 */
#ifndef VDPA_SHIM_REGFILE_H
#define VDPA_SHIM_REGFILE_H

#include <stdio.h>
#include <sys/stat.h>

/* The fd (O_CLOEXEC, blocking again: a regular file never blocks) with *st
 * filled, or -errno: -EISDIR for a directory, -EINVAL for another kind
 * that is not a regular file (*st still filled, for vs_file_kind). */
int vs_open_regular(const char *path, struct stat *st);
/* The same with open(2)'s flags and mode (O_CLOEXEC, O_NONBLOCK and
 * O_NOCTTY are added), for a file the caller writes or creates: the trace
 * gives O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW (a symbolic link is then
 * refused, -ELOOP), and O_EXCL for a file it must create. -errno from
 * open(2) leaves *st untouched. */
int vs_open_regular_flags(const char *path, int flags, mode_t mode, struct stat *st);
/* The same as a stdio stream ("re"), or NULL with errno set. */
FILE *vs_fopen_regular(const char *path);
/* What a file that is not a regular file is, in words ("it is a FIFO"). */
const char *vs_file_kind(const struct stat *st);

#endif
