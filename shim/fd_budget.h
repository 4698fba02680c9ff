/* SPDX-License-Identifier: MIT */
/*
 * The fds sessions hold, bounded and accounted against the open-file limit.
 *
 * A session keeps fds beyond its sockets: the journal (replay.c) or a
 * translator's cache keeps the latest memory table, log, inflight and
 * kick/call/err fd of every ring the front-end set, so one session could
 * make the shim hold about 800 fds (256 rings). Each session's holdings are
 * modelled here by the front-end requests that carry fds, one slot per
 * (request, ring or region) as the journal and the caches keep them (a
 * later request for the same slot replaces the earlier one), and checked
 * before the request is acted on:
 *   - a per-session cap, the fair share of the limit: (limit - reserve) /
 *     devices, at least VS_FD_SESSION_FLOOR;
 *   - the process total, so that sessions together never take the fds the
 *     shim needs to accept connections and serve the other devices.
 * A request that would go past either is refused (a REPLY_ACK failure, or
 * a disconnect) with an error naming the limit. Ring count itself is not
 * capped separately: the validator bounds ring indices by the device's
 * ring count, and the fds a ring brings are what this bounds.
 */
#ifndef VDPA_SHIM_FD_BUDGET_H
#define VDPA_SHIM_FD_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "msg_table.h"

/* Fds kept back from sessions: listening sockets, the trace, the log,
 * accept() of a new front-end, libuv's own. */
#define VS_FD_RESERVE 64u
/* A session always gets at least this many (a 1-queue-pair net device with
 * its channel, memory table and log needs about 20). */
#define VS_FD_SESSION_FLOOR 32u
/* Sockets every session holds: front-end, back-end, and a shim eventfd or two. */
#define VS_FD_SESSION_BASE 4u

struct vs_fd_slot {
    uint32_t request;
    uint64_t key;
    unsigned nfds;
};

struct vs_fd_budget {
    struct vs_fd_slot *slots;
    unsigned n, cap;
    unsigned held; /* fds this session is charged for */
};

/* The open-file limit (RLIM_INFINITY: unbounded) and the number of devices
 * (listening sockets are taken off too). */
void vs_fd_budget_configure(uint64_t nofile, size_t ndevices);
/* The open-file limit under which ndevices sessions cannot all have
 * VS_FD_SESSION_FLOOR fds besides the reserve and the devices' listening
 * sockets: below it, the shim warns that the limit is low. */
uint64_t vs_fd_budget_wanted(size_t ndevices);
/* The per-session cap and the total sessions may hold, for the log. */
unsigned vs_fd_budget_session_cap(void);
uint64_t vs_fd_budget_total(void);

/* A session starts: charges its base. 0 or -EMFILE (why set). */
int vs_fd_budget_open(struct vs_fd_budget *b, char *why, size_t len);
/* A validated front-end request: what holding its fds would cost. 0 (the
 * charge taken), or -EMFILE with why set (nothing changed), -ENOMEM. */
int vs_fd_budget_charge(struct vs_fd_budget *b, const struct vu_msg_desc *d, const struct vu_msg *m,
                        char *why, size_t len);
/* The session ended: everything it was charged is returned. */
void vs_fd_budget_close(struct vs_fd_budget *b);

#endif
