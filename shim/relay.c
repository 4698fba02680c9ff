/* SPDX-License-Identifier: MIT */
/*
 * The relay: one device (relay.h). Listening and connecting with back-off,
 * the peers' user checks, the front-end's requests before the mode is
 * decided, the mode decision (one table of mode.h, chosen once), a back-end
 * reply to the front-end or to the mode, and what a lost peer means. The
 * session's primitives are the session core's (session.h). The relay and
 * offer.c (the offer every mode can honour) are the only files that name a
 * mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "mode.h"
#include "offer.h"
#include "relay.h"

#define VS_BACKOFF_MIN_MS 100
#define VS_BACKOFF_MAX_MS 2000
/* What F_VDPA needs acked with it; CONFIG is implied (docs/vdpa-user.md 2.2). */
#define VS_VDPA_COMPANIONS (VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS))

static void end_session(struct vs_relay *r, const char *why);
static void try_connect_backend(struct vs_relay *r);
static void try_connect_frontend(struct vs_relay *r);
static void fe_timer_cb(uv_timer_t *t);

/* A new session: the core's state reset, pass-through until decided. */
static void reset_session(struct vs_relay *r)
{
    vs_session_reset(r);
    r->ops = &vs_mode_pass;
    r->mode_decided = false;
}

/* A request that goes on as it is, the way the session's mode passes such
 * requests on (pass-through journals them). */
static void forward_as_is(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m,
                          const char *note)
{
    if (r->ops->forward)
        r->ops->forward(r, d, m, note);
    else
        vs_forward_to_backend(r, d, m, note);
}

/* SET_OWNER is held until protocol features are settled: vdpa-user wants
 * SET_PROTOCOL_FEATURES first, and DPDK virtio-user sends SET_OWNER before
 * anything else. Legacy back-ends do not care when it comes. */
static void flush_deferred_owner(struct vs_relay *r)
{
    struct vu_msg owner;

    if (!r->owner_deferred)
        return;
    r->owner_deferred = false;
    vu_msg_init(&owner, VU_REQ_SET_OWNER, 0);
    forward_as_is(r, vu_msg_desc_lookup(VU_CHAN_FRONTEND, VU_REQ_SET_OWNER), &owner,
                  "deferred SET_OWNER");
}

/* The front-end and the back-end speak different protocols: the session
 * becomes a translation. The journal pass-through kept so far is dropped. A
 * mode that cannot begin ends the session (nothing is half built). 0 (the
 * mode answers SET_PROTOCOL_FEATURES) or -ECONNRESET (ended). */
static int begin_translation(struct vs_relay *r, const struct vu_msg *set_pf,
                             const struct vs_mode_ops *ops)
{
    char why[128];
    int rc;

    r->ops->end(r);
    r->ops = ops;
    vs_info("%s: %s front-end, %s back-end: %s", r->cfg.id,
            ops == &vs_mode_up ? "legacy" : "vdpa-user",
            ops == &vs_mode_up ? "vdpa-user" : "legacy", ops->name);
    rc = ops->begin(r, set_pf);
    if (rc == 0)
        return 0;
    vs_err("%s: cannot begin %s: %s; the session ends", r->cfg.id, ops->name, strerror(-rc));
    snprintf(why, sizeof(why), "%s could not begin", ops->name);
    end_session(r, why);
    return -ECONNRESET;
}

/* SET_PROTOCOL_FEATURES decides the session's mode. 1: forward it
 * (pass-through); 0: the translation answers it; -ECONNRESET: the session
 * ended; other -errno: refused with the reason in err. */
static int set_protocol_features(struct vs_relay *r, struct vu_msg *m, struct vu_error *err)
{
    uint64_t v = m->payload.u64;
    /* docs/vdpa-user.md 2.2: with F_VDPA, CONFIG may be acked unshown */
    uint64_t ackable = vu_has_bit(v, VU_PF_VDPA) ? vu_pf_in_effect(r->offered_pf) : r->offered_pf;

    /* docs/vdpa-user.md 2.2: F_VDPA comes with REPLY_ACK and STATUS.
     * Called while the mode is undecided; a later one is
     * vs_offer_protocol_features_again's. */
    if (v & ~ackable) {
        snprintf(err->text, sizeof(err->text),
                 "SET_PROTOCOL_FEATURES acks 0x%" PRIx64 ", which includes 0x%" PRIx64
                 " the back-end did not offer",
                 v, v & ~ackable);
        return -EINVAL;
    }
    if (vu_has_bit(v, VU_PF_VDPA) && (v & VS_VDPA_COMPANIONS) != VS_VDPA_COMPANIONS) {
        snprintf(err->text, sizeof(err->text),
                 "SET_PROTOCOL_FEATURES acks F_VDPA without REPLY_ACK and STATUS "
                 "(0x%" PRIx64 " missing)",
                 VS_VDPA_COMPANIONS & ~v);
        return -EINVAL;
    }
    if (vs_offer_check_vdpa_ack(r, v, err->text, sizeof(err->text)))
        return -EINVAL;
    r->fe_limits.protocol_features = v;
    r->pf_settled = true;
    r->mode_decided = true;
    if (vu_has_bit(r->backend_pf, VU_PF_VDPA) != vu_has_bit(v, VU_PF_VDPA))
        return begin_translation(r, m, vu_has_bit(v, VU_PF_VDPA) ? &vs_mode_down : &vs_mode_up);
    /* Bits the shim offers on its own account stay with the shim. Under
     * F_VDPA, CONFIG goes to a back-end that shows it even when the shim
     * hid it (a revision-1 back-end wants it acked with F_VDPA). */
    m->payload.u64 = vu_pf_in_effect(v) & r->backend_pf;
    r->be_limits.protocol_features = m->payload.u64;
    /* a chain that cannot translate says so (offer.c says why, where it knows) */
    vs_log(vs_refusal_quiet(r) ? VS_LOG_DEBUG : VS_LOG_INFO, "%s: %s: relaying in pass-through",
           r->cfg.id,
           vu_has_bit(v, VU_PF_VDPA) ? "vdpa-user on both sides" : "back-end offers no F_VDPA");
    return 1; /* forward */
}

/* In a translated session the front-end is not read while the shim is owed
 * replies, so that every step sees the state the previous one left. */
static void hold_frontend_if_owed(struct vs_relay *r)
{
    if (r->ops->holds_while_owed && r->fe && r->main_pending.count)
        vs_conn_pause(r->fe, true);
}

/* SET_PROTOCOL_FEATURES once the mode is decided: QEMU sends it again for
 * each virtio-net queue pair (offer.c). */
static void protocol_features_again(struct vs_relay *r, const struct vu_msg_desc *d,
                                    struct vu_msg *m)
{
    struct vu_hdr hdr = m->hdr;
    struct vu_error err;
    int rc = -EINVAL;

    if (r->pf_settled)
        rc = vs_offer_protocol_features_again(r, m, err.text, sizeof(err.text));
    else
        snprintf(err.text, sizeof(err.text),
                 "SET_PROTOCOL_FEATURES after other requests: "
                 "the session already runs as plain vhost-user pass-through");
    if (rc < 0)
        vs_session_reject(r, r->fe, VU_CHAN_FRONTEND, &hdr, d, rc, err.text);
    if (rc == 1)
        forward_as_is(r, d, m, "the same value again");
    hold_frontend_if_owed(r);
}

/* Before the mode is decided: SET_OWNER waits for the protocol features,
 * SET_PROTOCOL_FEATURES decides, anything else but the two GETs makes the
 * session plain pass-through. True when the request was dealt with. */
static bool undecided_request(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m)
{
    struct vu_hdr hdr = m->hdr;
    struct vu_error err;
    int rc;

    switch (hdr.request) {
    case VU_REQ_SET_OWNER:
        r->owner_deferred = true;
        vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, m, "held until protocol features are set");
        return true;
    case VU_REQ_SET_PROTOCOL_FEATURES:
        rc = set_protocol_features(r, m, &err);
        if (rc == 1) {
            forward_as_is(r, d, m, NULL);
            flush_deferred_owner(r);
        } else if (rc < 0 && rc != -ECONNRESET) {
            vs_refuse_frontend(r, &hdr, d, rc, err.text);
        }
        if (rc != -ECONNRESET)
            hold_frontend_if_owed(r); /* a translation took it over */
        return true;
    case VU_REQ_GET_FEATURES:
    case VU_REQ_GET_PROTOCOL_FEATURES:
        return false;
    default:
        /* No protocol-feature negotiation: plain relay from here on. */
        vs_log(vs_refusal_quiet(r) ? VS_LOG_DEBUG : VS_LOG_INFO,
               "%s: the front-end negotiates no protocol features: relaying in pass-through",
               r->cfg.id);
        r->mode_decided = true;
        flush_deferred_owner(r);
        return false;
    }
}

static void handle_fe_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;
    const struct vu_msg_desc *d;
    struct vu_error err;
    struct vu_hdr hdr = m->hdr;
    int rc;

    vs_check_request(r, VU_CHAN_FRONTEND, m);
    rc = vu_validate_request(&r->fe_limits, VU_CHAN_FRONTEND, m, &d, &err);
    if (rc) {
        vs_session_reject(r, c, VU_CHAN_FRONTEND, &hdr, d, rc, err.text);
        return;
    }
    if (!vs_session_admit_fds(r, c, VU_CHAN_FRONTEND, d, m))
        return;
    if (!r->mode_decided && undecided_request(r, d, m))
        return;
    if (r->mode_decided && hdr.request == VU_REQ_SET_PROTOCOL_FEATURES) {
        protocol_features_again(r, d, m);
        return;
    }
    if (hdr.request == VU_REQ_SET_BACKEND_REQ_FD) {
        /* the channel is the session's, in every mode */
        if (vs_session_backend_req_fd(r, c, d, m))
            forward_as_is(r, d, m, NULL);
        return;
    }
    r->ops->frontend_request(r, d, m);
    hold_frontend_if_owed(r);
}

/* State the relay keeps from a back-end reply; may rewrite the reply. */
static const char *note_backend_reply(struct vs_relay *r, struct vu_msg *m, char *note, size_t len)
{
    uint64_t v = m->payload.u64;

    if (m->hdr.size == 0)
        return "refused by the back-end"; /* nothing to learn from */

    switch (m->hdr.request) {
    case VU_REQ_GET_FEATURES:
        m->payload.u64 = vs_features_sanitize(r, v);
        r->fe_limits.offered_features = r->be_limits.offered_features = m->payload.u64;
        r->fe_limits.features_known = r->be_limits.features_known = true;
        return vs_features_dropped_note(r, note, len);
    case VU_REQ_GET_PROTOCOL_FEATURES:
        if (r->pf_settled) {
            /* asked again (another queue pair): the offer stays what was acked against */
            m->payload.u64 = r->offered_pf;
            return "the offer in effect";
        }
        r->backend_pf = v;
        r->offered_pf = vs_offer_protocol_features(r, v);
        m->payload.u64 = r->offered_pf;
        if (r->offered_pf == v)
            return NULL;
        snprintf(note, len, "offered 0x%" PRIx64 " (back-end 0x%" PRIx64 ")", r->offered_pf, v);
        return note;
    case VU_REQ_GET_QUEUE_NUM:
        if (!vs_device_max_rings(&r->cfg) && v > 0) {
            uint64_t rings = r->cfg.type->queue_num_is_pairs ? 2 * v + 1 : v;
            r->fe_limits.max_queues = rings < VU_MAX_QUEUES ? (uint32_t)rings : VU_MAX_QUEUES;
            r->be_limits.max_queues = r->fe_limits.max_queues;
        }
        return NULL;
    default:
        return NULL;
    }
}

static void handle_be_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;
    struct vu_error err;
    struct vs_owed o;
    char note[128];
    const char *what;
    bool emulated;
    int rc;

    if (vs_owed_pop(&r->main_pending, &o)) {
        struct vu_hdr hdr = m->hdr;
        vu_msg_close_fds(m);
        snprintf(err.text, sizeof(err.text), "back-end sent %s (%" PRIu32 ") without being asked",
                 vu_request_name(VU_CHAN_FRONTEND, hdr.request), hdr.request);
        vs_session_reject(r, c, VU_CHAN_FRONTEND, &hdr, NULL, -EPROTO, err.text);
        return;
    }
    rc = vu_validate_reply(&o.p, VU_CHAN_FRONTEND, m, &err);
    if (rc) {
        vs_session_reject(r, c, VU_CHAN_FRONTEND, &m->hdr, NULL, rc, err.text);
        return;
    }
    if (!vs_session_admit_fds(r, c, VU_CHAN_FRONTEND, NULL, m))
        return;
    vs_check_reply(r, o.p.request, m);            /* before a reply is rewritten */
    emulated = vs_session_emulated_ack(r, &o, m); /* a barrier's reply: an ack now */
    /* the front-end's own requests: the shim's probing (a config size the
     * back-end may not know) is not the back-end's conformance */
    if (o.origin == VS_FROM_FRONTEND &&
        (m->hdr.size == 0 || (o.p.kind != VU_PENDING_EXPLICIT && m->payload.u64 != 0)))
        vs_check_refusal(r, o.p.request);
    if (o.origin == VS_FROM_SHIM) {
        if (!emulated)
            vs_trace_dir(r, "be->shim", VU_CHAN_FRONTEND, m, NULL);
        r->ops->internal_reply(r, &o, m);
    } else {
        what = emulated                          ? "the emulated ack"
               : o.p.kind == VU_PENDING_EXPLICIT ? note_backend_reply(r, m, note, sizeof(note))
                                                 : NULL;
        vs_trace_dir(r, emulated ? "shim->fe" : "be->fe", VU_CHAN_FRONTEND, m, what);
        r->stats.forwarded++;
        vs_conn_send(r->fe, m);
    }
    vs_session_flush_answers(r, r->fe, &r->main_pending, VU_CHAN_FRONTEND);
    if (r->ops->holds_while_owed && r->fe && r->main_pending.count == 0)
        vs_conn_pause(r->fe, !r->be || (r->ops->holds_frontend && r->ops->holds_frontend(r)));
}

static void on_fe_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;

    handle_fe_msg(c, m);
    vs_watch_update(r);
}

static void on_be_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;

    vs_watch_progress(r, VS_PEER_BACKEND);
    handle_be_msg(c, m);
    vs_watch_update(r);
}

/* ---- connections and the session ------------------------------------------- */

static void schedule(struct vs_relay *r, uv_timer_t *t, unsigned *backoff, uv_timer_cb cb)
{
    int rc;

    if (r->stopping)
        return;
    rc = uv_timer_start(t, cb, *backoff, 0);
    if (rc < 0)
        vs_err("%s: cannot schedule a retry: %s", r->cfg.id, uv_strerror(rc));
    *backoff = *backoff * 2 > VS_BACKOFF_MAX_MS ? VS_BACKOFF_MAX_MS : *backoff * 2;
}

static void end_session(struct vs_relay *r, const char *why)
{
    if (r->ending)
        return;
    r->ending = true;
    if (r->fe || r->be || r->in_session) {
        vs_log(vs_refusal_quiet(r) ? VS_LOG_DEBUG : VS_LOG_INFO, "%s: session ended (%s)",
               r->cfg.id, why);
        if (!r->stopping)
            vs_refusal_session_end(r);
    }
    r->in_session = false;
    vs_conn_close(r->fe_chan, 0);
    vs_conn_close(r->be_chan, 0);
    vs_conn_close(r->fe, 0);
    vs_conn_close(r->be, 0);
    if (uv_timer_stop(&r->be_timer) < 0)
        vs_debug("%s: stopping the back-end retry timer failed", r->cfg.id);
    vs_watch_reset(r);
    vs_fd_budget_close(&r->fds);
    vs_check_session_end(r);
    r->ops->end(r);
    reset_session(r);
    r->ending = false;
    if (!r->stopping && r->cfg.frontend_mode == VS_MODE_CONNECT) {
        unsigned hold = vs_refusal_wait_ms(r);
        r->fe_backoff_ms = hold > VS_BACKOFF_MIN_MS ? hold : VS_BACKOFF_MIN_MS;
        schedule(r, &r->fe_timer, &r->fe_backoff_ms, fe_timer_cb);
    }
}

/* The back-end went: the mode says what the session does. True when the
 * session goes on. */
static bool backend_lost(struct vs_relay *r, int reason)
{
    enum vs_loss next = r->ops->backend_lost ? r->ops->backend_lost(r, reason) : VS_LOSS_END;

    switch (next) {
    case VS_LOSS_KEEP_FRONTEND:
        /* the vdpa-user front-end sees DEVICE_NEEDS_RESET and decides */
        vs_conn_close(r->be_chan, 0);
        if (r->fe)
            vs_conn_pause(r->fe, r->main_pending.count != 0);
        return true;
    case VS_LOSS_RECONNECT:
        /* the front-end waits, unaware, for the next back-end */
        vs_conn_close(r->be_chan, 0);
        vs_conn_pause(r->fe, true);
        r->be_backoff_ms = VS_BACKOFF_MIN_MS;
        if (r->cfg.backend_mode == VS_MODE_CONNECT)
            try_connect_backend(r);
        return true;
    case VS_LOSS_END:
        break;
    }
    return false;
}

static void on_main_close(struct vs_conn *c, int reason)
{
    struct vs_relay *r = c->owner;
    bool was_fe = c == r->fe;

    if (was_fe)
        r->fe = NULL;
    else
        r->be = NULL;
    if (reason && reason != -ECONNRESET)
        vs_warn("%s: %s connection failed: %s; the session ends", r->cfg.id, c->label,
                strerror(-reason));
    else
        vs_log(vs_refusal_quiet(r) ? VS_LOG_DEBUG : VS_LOG_INFO, "%s: %s disconnected", r->cfg.id,
               c->label);
    if (!was_fe && !r->ending && backend_lost(r, reason))
        return;
    end_session(r, was_fe ? "front-end gone" : "back-end gone");
}

/* peer-uid= (both peers) and backend-uid= (the back-end): the process at
 * the other end of fd must run as that user (SO_PEERCRED). Logs and returns
 * false otherwise. An accepted back-end is logged with its pid and uid: it
 * receives guest memory. */
static bool peer_allowed(struct vs_relay *r, int fd, const char *who)
{
    bool backend = strcmp(who, "back-end") == 0;
    bool want_be = backend && r->cfg.backend_uid_set;
    const char *key = want_be ? "backend-uid" : "peer-uid";
    unsigned uid = want_be ? r->cfg.backend_uid : r->cfg.peer_uid;
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (!r->cfg.peer_uid_set && !want_be && !backend)
        return true;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        if (!r->cfg.peer_uid_set && !want_be)
            return true; /* nothing to check; only the log line is lost */
        vs_warn("%s: cannot learn the %s's user (%s); refused (%s=%u)", r->cfg.id, who,
                strerror(errno), key, uid);
        return false;
    }
    if ((r->cfg.peer_uid_set && cred.uid != r->cfg.peer_uid) ||
        (want_be && cred.uid != r->cfg.backend_uid)) {
        bool peer_failed = r->cfg.peer_uid_set && cred.uid != r->cfg.peer_uid;
        vs_warn("%s: refused a %s running as uid %u, pid %d: %s=%u", r->cfg.id, who,
                (unsigned)cred.uid, (int)cred.pid, peer_failed ? "peer-uid" : "backend-uid",
                peer_failed ? r->cfg.peer_uid : r->cfg.backend_uid);
        return false;
    }
    if (backend)
        vs_info("%s: back-end process pid %d, uid %u accepted", r->cfg.id, (int)cred.pid,
                (unsigned)cred.uid);
    return true;
}

static void attach_backend(struct vs_relay *r, int fd)
{
    if (!peer_allowed(r, fd, "back-end")) {
        close(fd);
        /* a back-end that connects (listen mode) is refused alone; the
         * front-end waits for the right one */
        if (r->cfg.backend_mode == VS_MODE_CONNECT)
            end_session(r, "back-end refused by peer-uid= or backend-uid=");
        return;
    }
    r->be = vs_session_peer_conn(r, fd, "back-end", on_be_msg, on_main_close);
    if (!r->be) {
        vs_err("%s: out of memory for the back-end connection", r->cfg.id);
        end_session(r, "out of memory");
        return;
    }
    r->be_backoff_ms = VS_BACKOFF_MIN_MS;
    vs_info("%s: back-end %s connected", r->cfg.id, r->cfg.backend);
    if (r->ops->backend_attached)
        r->ops->backend_attached(r);
    else if (r->fe)
        vs_conn_pause(r->fe, false);
}

static void attach_frontend(struct vs_relay *r, int fd)
{
    if (!peer_allowed(r, fd, "front-end")) {
        close(fd);
        return;
    }
    if (r->fe) {
        vs_warn("%s: a second front-end connected to %s while one is active; refused", r->cfg.id,
                r->cfg.frontend);
        close(fd);
        return;
    }
    reset_session(r);
    char why[256];
    int rc = vs_fd_budget_open(&r->fds, why, sizeof(why));
    if (rc) {
        vs_warn("%s: front-end refused: %s", r->cfg.id, why);
        close(fd);
        return;
    }
    r->fe = vs_session_peer_conn(r, fd, "front-end", on_fe_msg, on_main_close);
    if (!r->fe) {
        vs_err("%s: out of memory for the front-end connection", r->cfg.id);
        vs_fd_budget_close(&r->fds);
        return;
    }
    r->stats.sessions++;
    r->in_session = true;
    vs_log(vs_refusal_quiet(r) ? VS_LOG_DEBUG : VS_LOG_INFO, "%s: front-end connected on %s",
           r->cfg.id, r->cfg.frontend);
    if (!r->be) {
        /* Hold the front-end's requests until there is somewhere to send them. */
        vs_conn_pause(r->fe, true);
        if (r->cfg.backend_mode == VS_MODE_CONNECT) {
            r->be_backoff_ms = VS_BACKOFF_MIN_MS;
            try_connect_backend(r);
        }
    }
}

static void be_timer_cb(uv_timer_t *t)
{
    try_connect_backend(t->data);
}

static void try_connect_backend(struct vs_relay *r)
{
    int fd;

    if (r->stopping || !r->fe || r->be)
        return;
    fd = vu_connect_unix_nonblock(r->cfg.backend);
    if (fd >= 0) {
        attach_backend(r, fd);
        return;
    }
    if (r->be_backoff_ms == VS_BACKOFF_MIN_MS)
        vs_warn("%s: back-end %s not reachable (%s): start the back-end there, or fix backend= "
                "(a socket that refuses connections was left by a back-end that exited); "
                "retrying while the front-end waits",
                r->cfg.id, r->cfg.backend, strerror(-fd));
    schedule(r, &r->be_timer, &r->be_backoff_ms, be_timer_cb);
}

static void fe_timer_cb(uv_timer_t *t)
{
    try_connect_frontend(t->data);
}

static void try_connect_frontend(struct vs_relay *r)
{
    int fd;

    if (r->stopping || r->fe)
        return;
    fd = vu_connect_unix_nonblock(r->cfg.frontend);
    if (fd >= 0) {
        r->fe_backoff_ms = VS_BACKOFF_MIN_MS;
        attach_frontend(r, fd);
        return;
    }
    if (r->fe_backoff_ms == VS_BACKOFF_MIN_MS)
        vs_info("%s: front-end %s not reachable yet (%s); retrying", r->cfg.id, r->cfg.frontend,
                strerror(-fd));
    schedule(r, &r->fe_timer, &r->fe_backoff_ms, fe_timer_cb);
}

static void on_listen(uv_poll_t *h, int status, int events);

/* The refusal back-off is over: front-ends are accepted again. */
static void fe_listen_resume(uv_timer_t *t)
{
    struct vs_relay *r = t->data;
    int rc;

    if (r->stopping || r->fe_listen_fd < 0)
        return;
    rc = uv_poll_start(&r->fe_listen, UV_READABLE, on_listen);
    if (rc < 0)
        vs_err("%s: cannot watch %s again: %s; restart the shim", r->cfg.id, r->cfg.frontend,
               uv_strerror(rc));
}

/* A front-end arrived during the refusal back-off: it waits in the listen
 * backlog until the delay is over. True when held. */
static bool fe_listen_hold(struct vs_relay *r)
{
    unsigned wait = vs_refusal_wait_ms(r);
    int rc;

    if (!wait || r->fe)
        return false;
    rc = uv_poll_stop(&r->fe_listen);
    if (rc == 0)
        rc = uv_timer_start(&r->fe_timer, fe_listen_resume, wait, 0);
    if (rc < 0) {
        vs_err("%s: cannot delay the next front-end: %s", r->cfg.id, uv_strerror(rc));
        return false;
    }
    return true;
}

static void on_listen(uv_poll_t *h, int status, int events)
{
    struct vs_relay *r = h->data;
    bool fe_side = h == &r->fe_listen;
    int fd;

    (void)events;
    if (status < 0)
        return;
    if (fe_side && fe_listen_hold(r))
        return;
    fd = vu_accept(fe_side ? r->fe_listen_fd : r->be_listen_fd);
    if (fd < 0)
        return; /* EAGAIN or a connection that vanished */
    if (fe_side) {
        attach_frontend(r, fd);
    } else if (r->be) {
        vs_warn("%s: a second back-end connected to %s; refused", r->cfg.id, r->cfg.backend);
        close(fd);
    } else {
        attach_backend(r, fd);
    }
}

/* ---- public ------------------------------------------------------------------ */

struct vs_relay *vs_relay_new(uv_loop_t *loop, const struct vs_device_config *cfg,
                              struct vs_trace *trace_out)
{
    struct vs_relay *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->loop = loop;
    r->cfg = *cfg;
    r->trace = trace_out;
    r->fe_listen_fd = r->be_listen_fd = -1;
    /* frontend_fd/backend_fd >= 0 from here on: the socket was passed in */
    if (!r->cfg.frontend_fd_given)
        r->cfg.frontend_fd = -1;
    if (!r->cfg.backend_fd_given)
        r->cfg.backend_fd = -1;
    r->fe_backoff_ms = r->be_backoff_ms = VS_BACKOFF_MIN_MS;
    /* uv_timer_init only fails for a bad loop; nothing to undo then (no
     * handle was registered) */
    if (uv_timer_init(loop, &r->fe_timer) < 0 || uv_timer_init(loop, &r->be_timer) < 0 ||
        vs_watch_init(r) < 0) {
        free(r);
        return NULL;
    }
    r->fe_timer.data = r->be_timer.data = r;
    r->handles_open = 3;
    r->end_session = end_session;
    reset_session(r);
    return r;
}

/* Listens on path, or on the socket passed in for it (given_fd >= 0: socket
 * activation; the relay owns that fd). */
static int start_listener(struct vs_relay *r, const char *path, int given_fd, int *fd,
                          uv_poll_t *poll)
{
    int rc = given_fd >= 0 ? given_fd : vu_listen_unix(path, r->cfg.socket_mode);

    if (given_fd >= 0)
        vs_info("%s: listening on %s with the socket passed in (socket activation)", r->cfg.id,
                path);
    if (rc < 0) {
        vs_err("%s: cannot listen on %s: %s%s; the directory must exist and be writable by the "
               "shim",
               r->cfg.id, path, strerror(-rc),
               rc == -EADDRINUSE ? " (another process is serving it: stop it or pick another path)"
                                 : "");
        return rc;
    }
    *fd = rc;
    rc = uv_poll_init(r->loop, poll, *fd);
    if (rc < 0) {
        vs_err("%s: cannot watch %s: %s", r->cfg.id, path, uv_strerror(rc));
        close(*fd);
        *fd = -1;
        return rc;
    }
    poll->data = r;
    r->handles_open++;
    rc = uv_poll_start(poll, UV_READABLE, on_listen);
    if (rc < 0) {
        vs_err("%s: cannot watch %s: %s", r->cfg.id, path, uv_strerror(rc));
        return rc; /* vs_relay_destroy closes it */
    }
    return 0;
}

int vs_relay_start(struct vs_relay *r)
{
    int rc = vs_check_init(r);

    if (rc)
        return rc;
    if (r->cfg.backend_mode == VS_MODE_LISTEN) {
        if (!r->cfg.backend_uid_set && !r->cfg.peer_uid_set)
            vs_warn("%s: backend-mode=listen without backend-uid= (or peer-uid=): the first "
                    "process that connects to %s becomes the back-end and receives guest "
                    "memory; restrict it with backend-uid=UID (and socket-mode=)",
                    r->cfg.id, r->cfg.backend);
        rc = start_listener(r, r->cfg.backend, r->cfg.backend_fd_given ? r->cfg.backend_fd : -1,
                            &r->be_listen_fd, &r->be_listen);
        r->cfg.backend_fd_given = false; /* owned by be_listen_fd now */
        if (rc)
            return rc;
    }
    if (r->cfg.frontend_mode == VS_MODE_LISTEN) {
        rc = start_listener(r, r->cfg.frontend, r->cfg.frontend_fd_given ? r->cfg.frontend_fd : -1,
                            &r->fe_listen_fd, &r->fe_listen);
        r->cfg.frontend_fd_given = false; /* owned by fe_listen_fd now */
        if (rc)
            return rc;
        vs_info("%s: %s device ready; front-end socket %s, back-end %s", r->cfg.id,
                r->cfg.type->name, r->cfg.frontend, r->cfg.backend);
    } else {
        try_connect_frontend(r);
    }
    return 0;
}

static void handle_closed(uv_handle_t *h)
{
    struct vs_relay *r = h->data;

    if (--r->handles_open == 0) {
        vs_check_free(r);
        vs_owed_reset(&r->main_pending);
        vs_owed_reset(&r->chan_pending);
        free(r);
    }
}

/* A socket passed in (inherited) is closed but its path left: it is not the
 * shim's (systemd keeps listening on it). */
static void stop_listener(int *fd, uv_poll_t *poll, const char *path, bool inherited)
{
    if (*fd < 0)
        return;
    uv_close((uv_handle_t *)poll, handle_closed);
    close(*fd);
    *fd = -1;
    if (!inherited)
        unlink(path);
}

void vs_relay_destroy(struct vs_relay *r)
{
    if (!r || r->stopping)
        return;
    r->stopping = true;
    end_session(r, "shutting down");
    stop_listener(&r->fe_listen_fd, &r->fe_listen, r->cfg.frontend, r->cfg.frontend_fd >= 0);
    stop_listener(&r->be_listen_fd, &r->be_listen, r->cfg.backend, r->cfg.backend_fd >= 0);
    /* a passed-in socket the relay never got to use */
    if (r->cfg.frontend_fd_given)
        close(r->cfg.frontend_fd);
    if (r->cfg.backend_fd_given)
        close(r->cfg.backend_fd);
    r->cfg.frontend_fd_given = r->cfg.backend_fd_given = false;
    uv_close((uv_handle_t *)&r->fe_timer, handle_closed);
    uv_close((uv_handle_t *)&r->be_timer, handle_closed);
    vs_watch_close(r, handle_closed);
}

void vs_relay_get_stats(const struct vs_relay *r, struct vs_relay_stats *stats)
{
    *stats = r->stats;
}
