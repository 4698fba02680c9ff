/* SPDX-License-Identifier: MIT */
/*
 * The mode table: what a session does with the front-end's requests and the
 * back-end's replies to the shim, one table per mode. The relay picks a
 * table once, when the front-end's SET_PROTOCOL_FEATURES decides the mode
 * (pass-through until then), and calls the mode only through it. A mode
 * builds on the session core (session.h) and never calls the relay or
 * another mode.
 */
#ifndef VDPA_SHIM_MODE_H
#define VDPA_SHIM_MODE_H

#include "session.h"

/* Protocol features pass-through carries; the rest are hidden from the
 * front-end because relaying them would need more than forwarding:
 * PAGEFAULT (postcopy replies to SET_MEM_TABLE without NEED_REPLY) and
 * XEN_MMAP (a different memory region layout). */
#define VS_RELAY_PROTOCOL_FEATURES                                                                 \
    (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_RARP) | VU_BIT(VU_PF_REPLY_ACK) |   \
     VU_BIT(VU_PF_NET_MTU) | VU_BIT(VU_PF_BACKEND_REQ) | VU_BIT(VU_PF_CROSS_ENDIAN) |              \
     VU_BIT(VU_PF_CRYPTO_SESSION) | VU_BIT(VU_PF_CONFIG) | VU_BIT(VU_PF_BACKEND_SEND_FD) |         \
     VU_BIT(VU_PF_HOST_NOTIFIER) | VU_BIT(VU_PF_INFLIGHT_SHMFD) | VU_BIT(VU_PF_RESET_DEVICE) |     \
     VU_BIT(VU_PF_INBAND_NOTIFICATIONS) | VU_BIT(VU_PF_CONFIGURE_MEM_SLOTS) |                      \
     VU_BIT(VU_PF_STATUS) | VU_BIT(VU_PF_SHARED_OBJECT) | VU_BIT(VU_PF_DEVICE_STATE) |             \
     VU_BIT(VU_PF_VDPA))

/* What the session does when its back-end goes (closed or died, not
 * dropped by the shim for a protocol error). */
enum vs_loss {
    VS_LOSS_END,           /* the session ends: the front-end can reconnect */
    VS_LOSS_KEEP_FRONTEND, /* the front-end stays and is told (DEVICE_NEEDS_RESET) */
    VS_LOSS_RECONNECT,     /* the front-end is held; the session moves to the next back-end */
};

struct vs_mode_ops {
    const char *name; /* for logs: "pass-through", "up-conversion", ... */
    /* The front-end is not read while the shim itself is owed replies, so
     * that every step of a translation sees the state the previous one
     * left. */
    bool holds_while_owed;
    /* The protocol features the mode can serve a front-end, given the
     * back-end's offer (offer.c makes the one offer from these). */
    uint64_t (*offer)(const struct vs_relay *r, uint64_t backend_pf);
    /* Why offer is empty for this back-end, for the log (a static text), or
     * NULL. A NULL pointer: the mode never says (offer.c logs it once per
     * session, so that a chain that cannot translate says why). */
    const char *(*unoffered)(const struct vs_relay *r, uint64_t backend_pf);
    /* Starts the mode: the front-end's SET_PROTOCOL_FEATURES (the mode then
     * answers it). 0, or -errno: the session ends. NULL: nothing to start. */
    int (*begin)(struct vs_relay *r, const struct vu_msg *set_pf);
    /* A request the relay passes on as it is (SET_BACKEND_REQ_FD with the
     * shim's channel, SET_PROTOCOL_FEATURES in pass-through). NULL:
     * vs_forward_to_backend. Takes m's fds. */
    void (*forward)(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m,
                    const char *note);
    /* A validated front-end request. Takes m's fds. */
    void (*frontend_request)(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m);
    /* The back-end's reply to a request the shim made (VS_FROM_SHIM), with
     * the continuation it was sent with. Takes m's fds. */
    void (*internal_reply)(struct vs_relay *r, const struct vs_owed *owed, struct vu_msg *m);
    /* The back-end went (reason: the connection's, 0 for a clean close).
     * The mode has answered or dropped what the shim was owed. */
    enum vs_loss (*backend_lost)(struct vs_relay *r, int reason);
    /* A back-end connected while the session runs (the first, or the next
     * after VS_LOSS_RECONNECT). */
    void (*backend_attached)(struct vs_relay *r);
    /* Whether the front-end stays unread although nothing is owed (a
     * command of the shim's own is in flight). NULL: never. */
    bool (*holds_frontend)(const struct vs_relay *r);
    /* Releases the mode's state (session end, or the mode replaced when
     * it is decided). */
    void (*end)(struct vs_relay *r);
};

extern const struct vs_mode_ops vs_mode_pass; /* pass.c (with replay.c) */
extern const struct vs_mode_ops vs_mode_up;   /* upconv.c */
extern const struct vs_mode_ops vs_mode_down; /* downconv.c */

#endif
