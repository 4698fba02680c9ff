/* SPDX-License-Identifier: MIT */
/*
 * The decoded message trace (--trace): one line per message, readable text
 * (the default) or one JSON object a line (--trace-format=json).
 *
 * Bounded: a line is at most VS_TRACE_LINE_MAX bytes whatever the peer sends
 * (config data shown up to 32 bytes, at most 8 memory regions, fd names and
 * notes capped), and a trace file that would grow past its size limit is
 * renamed to FILE.1 (replacing the previous one) and begun again, so a peer
 * that floods messages can use at most twice the limit on disk.
 *
 * The file is written with one write(2) per line; a failed write (a full
 * disk) is logged at once with its reason, then at most once a minute with
 * the count of lines lost, and once more when writes work again. Nothing is
 * ever truncated: when FILE cannot be renamed (FILE.1 is a directory, say)
 * the lines go on into FILE past the limit, with a warning, and the rename
 * is tried again a minute later.
 */
#ifndef VDPA_SHIM_TRACE_H
#define VDPA_SHIM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "msg_table.h"

enum vs_trace_format {
    VS_TRACE_TEXT,
    VS_TRACE_JSON
};

#define VS_TRACE_MAX_DEFAULT (64ull << 20) /* --trace-max default: 64 MiB */
#define VS_TRACE_MAX_MIN     (4u << 10)    /* smallest limit other than 0 (none) */
#define VS_TRACE_LINE_MAX    2048          /* one line, newline included */

struct vs_trace;

/* A trace that writes nothing until configured. NULL when out of memory. */
struct vs_trace *vs_trace_new(void);
/* (Re)directs t: path NULL turns it off, "-" is stdout (never rotated),
 * else the file is opened for appending (created with mode 0600 if missing).
 * A symbolic link at path (-ELOOP) or anything but a regular file (a FIFO,
 * a device: -EINVAL, or -ENXIO for a FIFO with no reader) is refused, with
 * a warning saying so. 0 or -errno (t is then off). */
int vs_trace_configure(struct vs_trace *t, const char *path, enum vs_trace_format format,
                       uint64_t max_bytes);
/* new + configure. NULL on failure (errno set). */
struct vs_trace *vs_trace_open(const char *path); /* text, default limit */
struct vs_trace *vs_trace_open_ex(const char *path, enum vs_trace_format format,
                                  uint64_t max_bytes);
/* Closes and opens the file again (SIGHUP; after logrotate moved it), with
 * the same checks. 0 or -errno (the trace is then off until the next reopen:
 * a symbolic link put at the path stops the trace, it is not followed). */
int vs_trace_reopen(struct vs_trace *t);
void vs_trace_close(struct vs_trace *t);
/* Whether t was opened with these settings (a reload that changes none of
 * them keeps the trace). t may be NULL (no trace). */
bool vs_trace_same(const struct vs_trace *t, const char *path, enum vs_trace_format format,
                   uint64_t max_bytes);
/* Times the file was renamed to FILE.1 (tests). */
unsigned long vs_trace_rotations(const struct vs_trace *t);
/* The least time between two warnings of one kind (a write that keeps
 * failing, a rotation that cannot rename), and between two tries of that
 * rename; one minute unless a test sets it. */
void vs_trace_set_warn_interval(struct vs_trace *t, unsigned ms);

/* Writes one line: who sent it to whom (dir, e.g. "fe->be"), the request's
 * name, flags, the decoded payload and the kinds of the fds. note, if not
 * NULL, says what the shim did with it. t may be NULL (no trace). */
void vs_trace_msg(struct vs_trace *t, const char *device, const char *dir, enum vu_channel channel,
                  const struct vu_msg *msg, const char *note);

/* The line vs_trace_msg writes for a message at time ts (wall clock), into
 * buf (at most VS_TRACE_LINE_MAX bytes are useful); returns its length,
 * newline included. For tests and tools. */
size_t vs_trace_format_line(enum vs_trace_format format, const struct timespec *ts,
                            const char *device, const char *dir, enum vu_channel channel,
                            const struct vu_msg *msg, const char *note, char *buf, size_t len);

/* Decodes a message's payload into buf as text (also used by logs and tests). */
size_t vs_decode_payload(enum vu_channel channel, const struct vu_msg *msg, char *buf, size_t len);

/* Writes s as a JSON string (quotes included; control characters, quotes and
 * backslashes escaped, bytes that are not UTF-8 as \u00XX) into buf, at most
 * max_chars characters of s (then "..." inside the quotes). Returns the
 * length written; buf is always terminated. */
size_t vs_json_string(char *buf, size_t len, const char *s, size_t max_chars);

#endif
