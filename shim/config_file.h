/* SPDX-License-Identifier: MIT */
/*
 * --config FILE: devices (and a few global settings) in a small INI file.
 *
 *     # comment            (also ';'; whole lines only)
 *     [global]
 *     log-level = info     (trace, trace-format, trace-max, log-level,
 *                           reply-timeout: the default for devices without it)
 *     [device vm0-net]     (NAME becomes the device's id)
 *     type = net
 *     frontend = /run/vdpa-shim/vm0-net.sock
 *     backend = /run/dpdk/vhost0.sock
 *
 * Keys and values are exactly those of --device (the same parser); a value
 * runs to the end of its line, blanks around it removed (no ',,' escaping).
 * Errors are "FILE:LINE: message".
 */
#ifndef VDPA_SHIM_CONFIG_FILE_H
#define VDPA_SHIM_CONFIG_FILE_H

#include <stddef.h>

#include "cli.h"

#define VS_CONFIG_LINE_MAX 4096
/* Room for VS_MAX_DEVICES devices of 1 KiB each (a real one is 100-300
 * bytes); a larger file is refused before it is read. */
#define VS_CONFIG_FILE_MAX (4u << 20)

/* Reads opts->config_path: appends its devices to opts->devices (after those
 * from --device), applies [global] settings not given on the command line,
 * and checks that no two devices share an id or a socket. 0, or -EINVAL (or
 * -errno when the file cannot be read) with "FILE:LINE: message" in err.
 * Never blocks on what is at the path: a symbolic link is followed, then
 * anything but a regular file is refused ("FILE: ...: it is a FIFO, not a
 * regular file"; -EISDIR for a directory, else -EINVAL), and so is a file
 * over VS_CONFIG_FILE_MAX bytes (-EFBIG). */
int vs_config_load(struct vs_options *opts, char *err, size_t errlen);

/* The same from a string (tests); name is used in messages. */
int vs_config_load_string(struct vs_options *opts, const char *name, const char *text, char *err,
                          size_t errlen);

#endif
