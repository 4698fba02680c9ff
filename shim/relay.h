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
#include "trace.h"

struct vs_relay;

/* Protocol features the relay passes on; the rest are hidden from the
 * front-end because relaying them would need more than forwarding:
 * PAGEFAULT (postcopy replies to SET_MEM_TABLE without NEED_REPLY) and
 * XEN_MMAP (a different memory region layout). */
#define VS_RELAY_PROTOCOL_FEATURES                                                              \
    (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_RARP) | VU_BIT(VU_PF_REPLY_ACK) |  \
     VU_BIT(VU_PF_NET_MTU) | VU_BIT(VU_PF_BACKEND_REQ) | VU_BIT(VU_PF_CROSS_ENDIAN) |             \
     VU_BIT(VU_PF_CRYPTO_SESSION) | VU_BIT(VU_PF_CONFIG) | VU_BIT(VU_PF_BACKEND_SEND_FD) |         \
     VU_BIT(VU_PF_HOST_NOTIFIER) | VU_BIT(VU_PF_INFLIGHT_SHMFD) | VU_BIT(VU_PF_RESET_DEVICE) |     \
     VU_BIT(VU_PF_INBAND_NOTIFICATIONS) | VU_BIT(VU_PF_CONFIGURE_MEM_SLOTS) |                     \
     VU_BIT(VU_PF_STATUS) | VU_BIT(VU_PF_SHARED_OBJECT) | VU_BIT(VU_PF_DEVICE_STATE) |            \
     VU_BIT(VU_PF_VDPA))

/* Copies cfg. trace may be NULL; it must outlive the relay. */
struct vs_relay *vs_relay_new(uv_loop_t *loop, const struct vs_device_config *cfg,
                              struct vs_trace *trace);
/* Creates listening sockets / starts connecting. 0 or -errno (logged). */
int vs_relay_start(struct vs_relay *relay);
/* Disconnects both peers, removes the sockets it created, and frees the
 * relay once libuv has released its handles. */
void vs_relay_destroy(struct vs_relay *relay);

/* Counters, for tests and the benchmark. */
struct vs_relay_stats {
    unsigned long sessions;          /* front-end connections served */
    unsigned long forwarded;         /* messages forwarded, all channels */
    unsigned long rejected;          /* messages refused at the boundary */
};
void vs_relay_get_stats(const struct vs_relay *relay, struct vs_relay_stats *stats);

#endif
