/* SPDX-License-Identifier: MIT */
/*
 * The state of one device and its current session, shared by the relay
 * (connections, pass-through) and the translation state machines. Private to
 * the shim; the public interface is relay.h.
 */
#ifndef VDPA_SHIM_SESSION_H
#define VDPA_SHIM_SESSION_H

#include <uv.h>

#include "cli.h"
#include "conn.h"
#include "fd_budget.h"
#include "relay.h"
#include "trace.h"
#include "validate.h"

/* Replies one side may owe the other at once for a peer's own requests. A
 * peer that pipelines more requests than this without reading replies is
 * disconnected. The shim's own sequences (a device start sends several
 * requests for every ring) may add up to VS_MAX_OWED in all. */
#define VS_MAX_PENDING 64
#define VS_MAX_OWED 4096

/* What a session translates. Decided by the front-end's SET_PROTOCOL_FEATURES
 * against what the back-end offered. */
enum vs_mode {
    VS_MODE_UNDECIDED,  /* before SET_PROTOCOL_FEATURES: messages pass through */
    VS_MODE_PASS,       /* both sides speak the same protocol */
    VS_MODE_UP,         /* legacy front-end, vdpa-user back-end */
    VS_MODE_DOWN,       /* vdpa-user front-end, legacy back-end */
};

/* Who waits for a reply owed on the main socket. */
enum vs_origin {
    VS_FROM_FRONTEND,   /* forward the reply to the front-end */
    VS_FROM_SHIM,       /* the shim asked; the reply is handled internally */
    VS_SHIM_ANSWER,     /* an answer the shim itself gives, queued behind the
                           replies still owed so that order is kept; action 1:
                           an empty GET_CONFIG reply, else an ack of `arg` */
};

struct vs_owed {
    struct vu_pending p;
    enum vs_origin origin;
    uint16_t action;     /* translation-specific continuation */
    uint32_t arg;
};

/* Grows as needed (a session usually owes a handful); released at session end. */
struct vs_owed_fifo {
    struct vs_owed *items;
    unsigned head, count, cap;
    unsigned peer_count;       /* entries for the peer's requests (not VS_FROM_SHIM) */
};

/* One peer's side of the reply time-out (watchdog.c). */
enum vs_peer { VS_PEER_BACKEND, VS_PEER_FRONTEND, VS_PEERS };
struct vs_watch_side {
    uint64_t since;      /* loop time (ms) the current wait began */
    bool stuck;          /* the peer owes a reply or has half sent a message */
    bool warned;
};

/* Sessions ended by a refusal, for the reconnect back-off (refusal.c). */
struct vs_refusal_streak {
    uint64_t last_ms;      /* loop time the last refused session ended */
    unsigned count;        /* refused sessions in a row */
    unsigned delay_ms;     /* the next front-end waits this long after last_ms */
    bool session_refused;  /* the current session is ending by a refusal */
};

struct vs_up;            /* up-conversion state (upconv.c) */
struct vs_down;          /* down-conversion state (downconv.c) */
struct vs_check;         /* check= state (check.c) */
struct vs_replay;        /* the journal for a back-end restart (replay.c) */

struct vs_relay {
    uv_loop_t *loop;
    struct vs_device_config cfg;
    struct vs_trace *trace;

    int fe_listen_fd, be_listen_fd;
    uv_poll_t fe_listen, be_listen;
    uv_timer_t fe_timer, be_timer;
    unsigned fe_backoff_ms, be_backoff_ms;
    unsigned handles_open;
    bool stopping, ending;
    bool in_session;                  /* a front-end came and the session has not ended */

    /* The session. */
    enum vs_mode mode;
    struct vs_conn *fe, *be;          /* main sockets */
    struct vs_conn *fe_chan, *be_chan; /* back-end channel, front-end / back-end ends */
    struct vu_session_limits fe_limits; /* as the front-end negotiated with the shim */
    struct vu_session_limits be_limits; /* as the shim negotiated with the back-end */
    uint64_t backend_pf;              /* protocol features the back-end offered */
    uint64_t offered_pf;              /* protocol features shown to the front-end */
    bool owner_deferred;              /* SET_OWNER held until protocol features are set */
    bool pf_settled;                  /* the front-end's SET_PROTOCOL_FEATURES was taken */
    uint64_t features_dropped;        /* feature bits the offer lost to a VIRTIO
                                         dependency (offer.c) */
    bool features_dropped_logged;     /* ... said once per session */
    struct vs_owed_fifo main_pending; /* replies owed on the main socket */
    struct vs_owed_fifo chan_pending; /* replies owed on the back-end channel */
    struct vs_up *up;                 /* VS_MODE_UP only */
    struct vs_down *down;             /* VS_MODE_DOWN only */
    struct vs_check *check;           /* check= given, else NULL */
    struct vs_replay *replay;         /* PASS: the journal, made at the first state */
    uint8_t pass_status;              /* PASS: the status a front-end wrote when the
                                         shim, not the back-end, offered STATUS */

    /* reply-timeout= (watchdog.c): one timer per device, running only while
     * a peer owes a reply or has half sent a message. */
    uv_timer_t watch_timer;
    struct vs_watch_side watch[VS_PEERS];
    struct vs_fd_budget fds;          /* fds the session holds (fd_budget.h) */
    struct vs_refusal_streak refusal; /* the reconnect back-off (refusal.c); outlives sessions */

    struct vs_relay_stats stats;
};

/* ---- relay.c services used by the translators --------------------------- */

/* Takes the oldest entry; 0, or -ENOENT when empty. */
int vs_owed_pop(struct vs_owed_fifo *f, struct vs_owed *o);

void vs_trace_dir(struct vs_relay *r, const char *dir, enum vu_channel ch,
                  const struct vu_msg *m, const char *note);
/* Sends a request the shim itself makes to the back-end, with NEED_REPLY so
 * that its outcome is known; the reply comes to the translator's handler
 * with `action` and `arg`. Takes m's fds. 0 or -errno (session ended). */
int vs_send_internal(struct vs_relay *r, struct vu_msg *m, uint16_t action, uint32_t arg,
                     const char *note);
/* The shim's own requests with a u64, no payload, or a vring state. */
int vs_send_u64(struct vs_relay *r, uint32_t req, uint64_t v, uint16_t action, uint32_t arg,
                const char *note);
int vs_send_none(struct vs_relay *r, uint32_t req, uint16_t action, uint32_t arg, const char *note);
int vs_send_state(struct vs_relay *r, uint32_t req, uint32_t index, uint32_t num, uint16_t action,
                  uint32_t arg, const char *note);
/* SET_VRING_KICK/CALL/ERR or VDPA_SET_CONFIG_CALL for ring `index` with a
 * duplicate of fd (NOFD when fd is -1). -errno, nothing sent, when fd cannot
 * be duplicated. */
int vs_send_fd_u64(struct vs_relay *r, uint32_t req, uint64_t index, int fd, uint16_t action,
                   const char *note);
/* Owned fd slots: close and set -1; duplicate (-1 stays -1); replace with a
 * duplicate of a message's first fd (or -1 when it has none). */
void vs_close_fd(int *fd);
int vs_dup_fd(int fd);
void vs_replace_fd(int *slot, const struct vu_msg *m);
/* Sends a back-end-channel request of the shim's own to the front-end (with
 * NEED_REPLY where REPLY_ACK allows; the answer is consumed by the shim). */
void vs_send_frontend_channel(struct vs_relay *r, struct vu_msg *m, const char *note);
/* Sends a REPLY_ACK-style answer to the front-end. */
void vs_reply_frontend_ack(struct vs_relay *r, uint32_t request, uint64_t value);
/* Forwards a validated front-end request to the back-end (reply forwarded). */
void vs_forward_to_backend(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m,
                           const char *note);
/* Ends the session: both peers disconnected. */
void vs_end_session(struct vs_relay *r, const char *why);
/* Answers or disconnects a front-end request the shim refuses. */
void vs_refuse_frontend(struct vs_relay *r, const struct vu_hdr *hdr, const struct vu_msg_desc *d,
                        int rc, const char *text);

/* Makes a new back-end channel: a socketpair whose one end the shim reads
 * (r->be_chan, the front-end's channel stays) and whose other end is added
 * to m, a SET_BACKEND_REQ_FD on its way to the back-end. 0 or -errno. */
int vs_attach_backend_channel(struct vs_relay *r, struct vu_msg *m);
/* The same socketpair for a translator that keeps the channel itself: the
 * shim's end becomes r->be_chan with these callbacks (a half message bounded
 * by reply-timeout=); returns the other end (the caller's, to send), or
 * -errno. */
int vs_backend_channel_new(struct vs_relay *r, vs_conn_msg_cb on_msg, vs_conn_close_cb on_close);

/* ---- offer.c: what the front-end is offered -------------------------------- */

/* The GET_PROTOCOL_FEATURES reply for a back-end offer: every bit works in
 * every mode a front-end that acks it can reach. */
uint64_t vs_offer_protocol_features(const struct vs_relay *r, uint64_t backend_pf);
/* A front-end's F_VDPA ack with bits shown for legacy front-ends only:
 * -EINVAL with the reason in text; 0 when acceptable (or no F_VDPA). */
int vs_offer_check_vdpa_ack(const struct vs_relay *r, uint64_t v, char *text, size_t len);
/* SET_PROTOCOL_FEATURES once the mode is decided (QEMU sends it for each
 * queue pair): 1 forward m (pass-through), 0 answered by the shim, -errno
 * refused with the reason in text. */
int vs_offer_protocol_features_again(struct vs_relay *r, struct vu_msg *m, char *text, size_t len);
/* The virtio features offered, less those whose required features are not
 * offered (the device model's rules); logged once per session. */
uint64_t vs_offer_sanitize_features(struct vs_relay *r, uint64_t features);
/* A trace note naming what the sanitizing dropped, or NULL. */
const char *vs_offer_dropped_note(const struct vs_relay *r, char *buf, size_t len);

/* ---- refusal.c: the reconnect back-off ------------------------------------- */

/* The current session ends because the shim refused a message. */
void vs_refusal_mark(struct vs_relay *r);
/* At the end of every session: counts refused sessions in a row. */
void vs_refusal_session_end(struct vs_relay *r);
/* How long the next front-end must still wait (0: accept it now). */
unsigned vs_refusal_wait_ms(const struct vs_relay *r);
/* A refusal loop is under way: per-session log lines go to debug. */
bool vs_refusal_quiet(const struct vs_relay *r);

/* ---- watchdog.c: reply-timeout= ------------------------------------------- */

/* The timer (at relay creation). 0 or a libuv error. */
int vs_watch_init(struct vs_relay *r);
/* Looks at what is owed and half read: starts the timer when a wait begins,
 * stops it when nothing is pending. Cheap; called after every event. */
void vs_watch_update(struct vs_relay *r);
/* A whole message came from the peer: its wait starts again. */
void vs_watch_progress(struct vs_relay *r, enum vs_peer peer);
/* Session end: nothing is waited for. */
void vs_watch_reset(struct vs_relay *r);
/* Releases the timer (relay destruction); cb runs once it is closed. */
void vs_watch_close(struct vs_relay *r, uv_close_cb cb);

/* ---- upconv.c --------------------------------------------------------------- */

/* The protocol features a legacy front-end may see when the back-end speaks
 * vdpa-user (those the shim honours by translation or by forwarding). */
uint64_t vs_up_offer(const struct vs_relay *r, uint64_t backend_pf);
/* Starts up-conversion: the front-end acked `fe_pf` (no F_VDPA). */
int vs_up_begin(struct vs_relay *r, const struct vu_msg *set_pf);
/* A validated front-end request in VS_MODE_UP. Takes m's fds. */
void vs_up_frontend_request(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m);
/* The reply to a request the shim made (origin VS_FROM_SHIM). */
void vs_up_internal_reply(struct vs_relay *r, const struct vs_owed *owed, struct vu_msg *m);
/* Releases the up-conversion state (session end). */
void vs_up_end(struct vs_relay *r);
/* The shim's own control-queue command is in flight (up_ctrl.c): the
 * front-end is not read until it ends. */
bool vs_up_holds_frontend(const struct vs_relay *r);

/* ---- check.c: check= against the compatibility matrix ---------------------- */

/* Loads the matrix named by check= (a file, or a directory of <type>.tsv).
 * 0, or -errno after logging why. */
int vs_check_init(struct vs_relay *r);
void vs_check_free(struct vs_relay *r);
/* A request the front-end (VU_CHAN_FRONTEND) or the back-end (VU_CHAN_BACKEND)
 * sent, before validation (the payload is read only where its size allows). */
void vs_check_request(struct vs_relay *r, enum vu_channel ch, const struct vu_msg *m);
/* The back-end refused a front-end request (failed ack or empty reply). */
void vs_check_refusal(struct vs_relay *r, uint32_t request);
/* The session ended: required requests a front-end that started the device
 * never sent. */
void vs_check_session_end(struct vs_relay *r);

/* ---- downconv.c ------------------------------------------------------------- */

/* The protocol features the shim adds for a vdpa-user front-end when the
 * back-end is legacy (0 when the device cannot be down-converted). */
uint64_t vs_down_offer(const struct vs_relay *r, uint64_t backend_pf);
/* Starts down-conversion: the front-end acked F_VDPA, the back-end lacks it. */
int vs_down_begin(struct vs_relay *r, const struct vu_msg *set_pf);
/* A validated front-end request in VS_MODE_DOWN. Takes m's fds. */
void vs_down_frontend_request(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m);
/* The reply to a request the shim made (origin VS_FROM_SHIM). */
void vs_down_internal_reply(struct vs_relay *r, const struct vs_owed *owed, struct vu_msg *m);
/* The back-end went: true when the front-end stays (DEVICE_NEEDS_RESET),
 * false when the session must end. Answers every reply still owed. */
bool vs_down_backend_lost(struct vs_relay *r);
/* Releases the down-conversion state (session end). */
void vs_down_end(struct vs_relay *r);

/* ---- replay.c: back-end restart under a live front-end -------------------- */

/* A front-end request on its way to the back-end in a pass-through session:
 * kept (with duplicates of its fds) when it sets state a new back-end needs. */
void vs_replay_record(struct vs_relay *r, const struct vu_msg_desc *d, const struct vu_msg *m);
/* The back-end went: true when the session is kept (the front-end must be
 * held) and replayed to the next back-end; false when it must end. */
bool vs_replay_backend_lost(struct vs_relay *r);
/* True between the loss of a back-end and the end of the replay. */
bool vs_replay_restoring(const struct vs_relay *r);
/* A new back-end is connected to a session being restored: replays it. */
void vs_replay_begin(struct vs_relay *r);
/* The reply to a replayed request (origin VS_FROM_SHIM in a pass-through session). */
void vs_replay_internal_reply(struct vs_relay *r, const struct vs_owed *owed, struct vu_msg *m);
/* Releases the journal (session end). */
void vs_replay_end(struct vs_relay *r);

#endif
