/* SPDX-License-Identifier: MIT */
/*
 * One device: the front-end (VMM side) socket joined to the back-end socket.
 *
 * Pass-through relay: every message is validated at the boundary, traced, and
 * forwarded with its fds; the shim keeps the session's negotiated state
 * (features, protocol features, pending replies) so that it can validate the
 * next message and mask protocol features it cannot honour. The back-end
 * channel is relayed too: the shim hands the back-end its own socket and
 * forwards between that and the front-end's.
 *
 * Life cycle: one session at a time. When either peer goes, the other is
 * disconnected too, so a legacy front-end sees a clean disconnect (and can
 * reconnect) and a back-end resets its state for the next session.
 */
#ifndef VDPA_SHIM_RELAY_H
#define VDPA_SHIM_RELAY_H

#include <uv.h>

#include "cli.h"
#include "stats.h"
#include "trace.h"

struct vs_relay;

/* Copies cfg. trace may be NULL; it must outlive the relay. */
struct vs_relay *vs_relay_new(uv_loop_t *loop, const struct vs_device_config *cfg,
                              struct vs_trace *trace);
/* Creates listening sockets / starts connecting. 0 or -errno (logged). */
int vs_relay_start(struct vs_relay *relay);
/* Disconnects both peers, removes the sockets it created, and frees the
 * relay once libuv has released its handles. */
void vs_relay_destroy(struct vs_relay *relay);

void vs_relay_get_stats(const struct vs_relay *relay, struct vs_relay_stats *stats);

#endif
