/* SPDX-License-Identifier: MIT */
/*
 * --config FILE: devices (and a few global settings) in a small INI file.
 *
 *     # comment            (also ';'; whole lines only)
 *     [global]
 *     log-level = info     (trace, trace-format, trace-max, log-level)
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

/* Reads opts->config_path: appends its devices to opts->devices (after those
 * from --device), applies [global] settings not given on the command line,
 * and checks that no two devices share an id or a socket. 0, or -EINVAL (or
 * -errno when the file cannot be read) with "FILE:LINE: message" in err. */
int vs_config_load(struct vs_options *opts, char *err, size_t errlen);

/* The same from a string (tests); name is used in messages. */
int vs_config_load_string(struct vs_options *opts, const char *name, const char *text, char *err,
                          size_t errlen);

#endif
