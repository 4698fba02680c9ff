/* SPDX-License-Identifier: MIT */
/*
 * The session core: the state of one device and its current session, and
 * the primitives every mode builds on (session.c, channel.c, watchdog.c,
 * fd_budget.c, check.c, refusal.c). Below the modes (mode.h) and the relay
 * (relay.c): nothing declared here calls a mode or the relay, except
 * through the two pointers the relay sets (ops, end_session). Private to the
 * shim; the public interface is relay.h.
 */
#ifndef VDPA_SHIM_SESSION_H
#define VDPA_SHIM_SESSION_H

#include <uv.h>

#include "cli.h"
#include "conn.h"
#include "fd_budget.h"
#include "stats.h"
#include "trace.h"
#include "validate.h"

/* Replies one side may owe the other at once for a peer's own requests. A
 * peer that pipelines more requests than this without reading replies is
 * disconnected. The shim's own sequences (a device start sends several
 * requests for every ring) may add up to VS_MAX_OWED in all. */
#define VS_MAX_PENDING 64
#define VS_MAX_OWED    4096

/* Who waits for a reply owed on the main socket. */
enum vs_origin {
    VS_FROM_FRONTEND, /* forward the reply to the front-end */
    VS_FROM_SHIM,     /* the shim asked; the reply is handled internally */
    VS_SHIM_ANSWER,   /* an answer the shim itself gives, queued behind the
                           replies still owed so that order is kept; its
                           action is an enum vs_answer */
};

/* The answers the shim gives itself (VS_SHIM_ANSWER). */
enum vs_answer {
    VS_ANSWER_U64,          /* a u64 reply: an ack (0 or an errno) or a value */
    VS_ANSWER_EMPTY_CONFIG, /* GET_CONFIG refused: the spec's empty reply */
};

struct vs_owed {
    struct vu_pending p;
    enum vs_origin origin;
    uint16_t action; /* translation-specific continuation */
    uint64_t arg;    /* the continuation's argument, or the answer's value */
    /* A GET_FEATURES barrier standing for the ack of this request (REPLY_ACK
     * emulated for a back-end that lacks it), or 0 (VU_REQ_NONE). */
    uint32_t acks;
};

/* Grows as needed (a session usually owes a handful); released at session end. */
struct vs_owed_fifo {
    struct vs_owed *items;
    unsigned head, count, cap;
    unsigned peer_count; /* entries for the peer's requests (not VS_FROM_SHIM) */
};

/* One peer's side of the reply time-out (watchdog.c). */
enum vs_peer {
    VS_PEER_BACKEND,
    VS_PEER_FRONTEND,
    VS_PEERS
};
struct vs_watch_side {
    uint64_t since; /* loop time (ms) the current wait began */
    bool stuck;     /* the peer owes a reply or has half sent a message */
    bool warned;
};

/* Sessions ended by a refusal, for the reconnect back-off (refusal.c). */
struct vs_refusal_streak {
    uint64_t last_ms;     /* loop time the last refused session ended */
    unsigned count;       /* refused sessions in a row */
    unsigned delay_ms;    /* the next front-end waits this long after last_ms */
    bool session_refused; /* the current session is ending by a refusal */
};

struct vs_mode_ops; /* the session's mode (mode.h) */
struct vs_up;       /* up-conversion state (up_int.h) */
struct vs_down;     /* down-conversion state (down_int.h) */
struct vs_check;    /* check= state (check.c) */
struct vs_replay;   /* the journal for a back-end restart (replay.c) */

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
    bool in_session; /* a front-end came and the session has not ended */

    /* The session. */
    const struct vs_mode_ops *ops; /* its mode: pass-through until the front-end's
                                         SET_PROTOCOL_FEATURES decides (mode.h) */
    bool mode_decided;             /* ops is final for this session */
    /* Ends the session: both peers disconnected, the mode's state released
     * (the relay's; vs_end_session calls it). */
    void (*end_session)(struct vs_relay *r, const char *why);
    struct vs_conn *fe, *be;            /* main sockets */
    struct vs_conn *fe_chan, *be_chan;  /* back-end channel, front-end / back-end ends */
    struct vu_session_limits fe_limits; /* as the front-end negotiated with the shim */
    struct vu_session_limits be_limits; /* as the shim negotiated with the back-end */
    uint64_t backend_pf;                /* protocol features the back-end offered */
    uint64_t offered_pf;                /* protocol features shown to the front-end */
    bool owner_deferred;                /* SET_OWNER held until protocol features are set */
    bool pf_settled;                    /* the front-end's SET_PROTOCOL_FEATURES was taken */
    uint64_t features_dropped;          /* feature bits the offer lost to a VIRTIO
                                         dependency (offer.c) */
    bool features_dropped_logged;       /* ... said once per session */
    bool offer_explained;               /* why F_VDPA is not offered: said once (offer.c) */
    struct vs_owed_fifo main_pending;   /* replies owed on the main socket */
    struct vs_owed_fifo chan_pending;   /* replies owed on the back-end channel */
    struct vs_up *up;                   /* up-conversion only */
    struct vs_down *down;               /* down-conversion only */
    struct vs_check *check;             /* check= given, else NULL */
    struct vs_replay *replay;           /* pass-through: the journal, made at the first state */
    uint8_t pass_status;                /* pass-through: the status a front-end wrote when the
                                         shim, not the back-end, offered STATUS */

    /* reply-timeout= (watchdog.c): one timer per device, running only while
     * a peer owes a reply or has half sent a message. */
    uv_timer_t watch_timer;
    struct vs_watch_side watch[VS_PEERS];
    struct vs_fd_budget fds;          /* fds the session holds (fd_budget.h) */
    struct vs_refusal_streak refusal; /* the reconnect back-off (refusal.c); outlives sessions */

    struct vs_relay_stats stats;
};

/* ---- session.c: the session core --------------------------------------- */

/* The replies owed on one socket. Push: 0, or -ENOBUFS past the bounds
 * (VS_MAX_PENDING for a peer's requests, VS_MAX_OWED in all) or -ENOMEM.
 * Pop takes the oldest entry: 0, or -ENOENT when empty. Reset frees. */
int vs_owed_push(struct vs_owed_fifo *f, const struct vs_owed *o);
int vs_owed_pop(struct vs_owed_fifo *f, struct vs_owed *o);
void vs_owed_reset(struct vs_owed_fifo *f);
/* A new session's state: limits from the device config, nothing owed,
 * pass-through undecided. */
void vs_session_reset(struct vs_relay *r);

void vs_trace_dir(struct vs_relay *r, const char *dir, enum vu_channel ch, const struct vu_msg *m,
                  const char *note);
/* Sends a request the shim itself makes to the back-end, with NEED_REPLY so
 * that its outcome is known; the reply comes to the mode's internal_reply
 * with `action` and `arg`. Takes m's fds. 0 or -errno (session ended).
 *
 * A back-end without REPLY_ACK (rust-vmm's vhost-device-rng and -i2c offer
 * MQ only) gets the request without NEED_REPLY, followed by a GET_FEATURES
 * "barrier" (QEMU's enforce_reply): every back-end answers it, and only
 * after the requests before it, so its reply comes to internal_reply as a
 * success ack (0) of the request, with the same action and arg. A failure
 * cannot be learnt this way: a legacy back-end that cannot carry out a
 * request without REPLY_ACK has no way to say so (it ignores it, or
 * disconnects, which ends or moves the session as any loss does).
 * SET_OWNER and SET_PROTOCOL_FEATURES are the exception: QEMU never waits
 * for them, and before SET_PROTOCOL_FEATURES nothing is negotiated; without
 * REPLY_ACK they are sent alone and counted done (no continuation). */
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
/* An owned fd slot (lib/base/fd_util.h for the rest) given a duplicate of
 * m's first fd, or -1 when m has none; the old fd is closed. 0, or -errno
 * with the slot -1 (the open-file limit: never a false success). */
int vs_keep_fd_copy(int *slot, const struct vu_msg *m);
/* Answers a front-end request with a u64 (an ack: 0 or a positive errno;
 * or a value), in order behind the replies the front-end is still owed;
 * note goes to the trace (NULL: "answered by the shim"). */
void vs_reply_frontend_u64(struct vs_relay *r, uint32_t request, uint64_t value, const char *note);
void vs_reply_frontend_ack(struct vs_relay *r, uint32_t request, uint64_t value);
/* Sends the shim's queued answers that have come to the head of f. */
void vs_session_flush_answers(struct vs_relay *r, struct vs_conn *to, struct vs_owed_fifo *f,
                              enum vu_channel ch);
/* Forwards a validated front-end request to the back-end (reply forwarded).
 * A front-end that negotiated REPLY_ACK with the shim and asks for an ack
 * the back-end cannot give (it lacks REPLY_ACK: the shim offered the bit on
 * its own account, offer.c) gets it through a GET_FEATURES barrier, as for
 * vs_send_internal: a success ack (0), in order. */
void vs_forward_to_backend(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m,
                           const char *note);
/* Ends the session (r->end_session): both peers disconnected. */
void vs_end_session(struct vs_relay *r, const char *why);
/* A request failed validation or was refused: a REPLY_ACK failure where the
 * sender asked for one, the spec's empty reply for GET_CONFIG, otherwise
 * the session ends. rc is -errno; text says why. */
void vs_session_reject(struct vs_relay *r, struct vs_conn *from, enum vu_channel ch,
                       const struct vu_hdr *hdr, const struct vu_msg_desc *d, int rc,
                       const char *text);
/* The same for a front-end request on the main socket. */
void vs_refuse_frontend(struct vs_relay *r, const struct vu_hdr *hdr, const struct vu_msg_desc *d,
                        int rc, const char *text);
/* A GET_FEATURES barrier's reply (validated) that stands for an ack
 * (vs_owed.acks): traced as it came, then m becomes a success ack (u64 0) of
 * that request and o its entry (p.request, ack kind, acks 0), so the mode or
 * the front-end sees the ack REPLY_ACK would have given. False (nothing
 * changed) for any other reply. */
bool vs_session_emulated_ack(struct vs_relay *r, struct vs_owed *o, struct vu_msg *m);
/* NEED_REPLY cleared where REPLY_ACK was not negotiated (no reply comes). */
void vs_session_need_reply(const struct vu_session_limits *lim, const struct vu_msg_desc *d,
                           struct vu_msg *m);
/* The fds of a validated message, checked against the session: none
 * connected to the shim itself, the front-end's within the fd budget. True
 * when the message may go on; otherwise refused and its fds closed. */
bool vs_session_admit_fds(struct vs_relay *r, struct vs_conn *from, enum vu_channel ch,
                          const struct vu_msg_desc *d, struct vu_msg *m);
/* A connection whose other end a peer holds: registered as the shim's own
 * (vs_session_admit_fds recognises a socket connected to it) and watched
 * for half messages (reply-timeout=). NULL when out of memory (fd closed). */
struct vs_conn *vs_session_peer_conn(struct vs_relay *r, int fd, const char *label,
                                     vs_conn_msg_cb on_msg, vs_conn_close_cb on_close);
/* conn's on_partial for every peer connection: a wait for the rest begins. */
void vs_session_on_partial(struct vs_conn *c);
/* A continuation for vs_session_drop_owed: one entry that will never be
 * answered by the peer that owed it. */
typedef void vs_owed_fn(struct vs_relay *r, const struct vs_owed *o, void *ctx);
/* The back-end is lost: every entry owed on the main socket is taken at
 * once (r->main_pending is empty before the first call, so what `each`
 * sends or answers is queued anew), then `each` (may be NULL) is called
 * with ctx for every entry in order, whatever its origin: a forwarded
 * request's, a shim step's or a queued shim answer (a GET_FEATURES barrier
 * standing for an ack is shown as that request's entry). Returns how many
 * were taken. */
unsigned vs_session_drop_owed(struct vs_relay *r, vs_owed_fn *each, void *ctx);

/* ---- features.c: the features offered ------------------------------------ */

/* The virtio features offered, less those whose required features are not
 * offered (the device model's rules); logged once per session. */
uint64_t vs_features_sanitize(struct vs_relay *r, uint64_t features);
/* A trace note naming what the sanitizing dropped, or NULL. */
const char *vs_features_dropped_note(const struct vs_relay *r, char *buf, size_t len);

/* ---- channel.c: the back-end channel --------------------------------------- */

/* Sends a back-end-channel request of the shim's own to the front-end (with
 * NEED_REPLY where REPLY_ACK allows; the answer is consumed by the shim). */
void vs_send_frontend_channel(struct vs_relay *r, struct vu_msg *m, const char *note);
/* Makes a new back-end channel: a socketpair whose one end the shim reads
 * (r->be_chan, the front-end's channel stays) and whose other end is added
 * to m, a SET_BACKEND_REQ_FD on its way to the back-end. 0 or -errno. */
int vs_attach_backend_channel(struct vs_relay *r, struct vu_msg *m);
/* The same socketpair for a mode that keeps the channel itself: the shim's
 * end becomes r->be_chan with these callbacks (a half message bounded by
 * reply-timeout=); returns the other end (the caller's, to send), or
 * -errno. */
int vs_backend_channel_new(struct vs_relay *r, vs_conn_msg_cb on_msg, vs_conn_close_cb on_close);
/* SET_BACKEND_REQ_FD from the front-end: the shim keeps the front-end's
 * socket. True when the request goes on to the back-end (with the shim's
 * end of a new channel), false when the shim answered or refused it. */
bool vs_session_backend_req_fd(struct vs_relay *r, struct vs_conn *c, const struct vu_msg_desc *d,
                               struct vu_msg *m);

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
/* A back-end reply to `request` (the front-end's or the shim's), as the
 * back-end sent it: its offers identify its measured column. */
void vs_check_reply(struct vs_relay *r, uint32_t request, const struct vu_msg *m);
/* The session ended: required requests a front-end that started the device
 * never sent. */
void vs_check_session_end(struct vs_relay *r);

/* ---- session.c: a fault found outside a peer's message ------------------- */

/* The session cannot go on because of a fault found outside a peer's
 * message (an eventfd, a libuv handle or a queue the shim watches
 * misbehaves): logged once as an error ("ID: TEXT; ending the session")
 * and the session ends on the loop's next turn, never under the caller,
 * whose state stays valid. The front-end's connection is failed with rc
 * (-errno, the reason it closes with; the back-end's when there is no
 * front-end): losing the front-end ends the session in every mode, where a
 * lost back-end may be kept or replaced (mode.h). A session whose
 * connection has already failed is ending: not logged again. */
void vs_session_fail(struct vs_relay *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
