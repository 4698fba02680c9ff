/* SPDX-License-Identifier: MIT */
/* The decoded message trace (--trace): one readable line per message. */
#ifndef VDPA_SHIM_TRACE_H
#define VDPA_SHIM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "msg_table.h"

struct vs_trace;

/* path "-" is stdout. NULL on failure (errno set). */
struct vs_trace *vs_trace_open(const char *path);
void vs_trace_close(struct vs_trace *t);

/* Writes one line: who sent it to whom (dir, e.g. "fe->be"), the request's
 * name, flags, the decoded payload and the kinds of the fds. note, if not
 * NULL, says what the shim did with it. t may be NULL (no trace). */
void vs_trace_msg(struct vs_trace *t, const char *device, const char *dir,
                  enum vu_channel channel, const struct vu_msg *msg, const char *note);

/* Decodes a message's payload into buf (also used by logs and tests). */
size_t vs_decode_payload(enum vu_channel channel, const struct vu_msg *msg, char *buf,
                         size_t len);

#endif
