/* SPDX-License-Identifier: MIT */
/*
 * The session core: the primitives every mode builds on (session.h). The
 * replies owed on each socket and the answers the shim gives in their order,
 * the shim's own requests with their continuations, refusals, the boundary
 * checks that need the session (fds connected to the shim, the fd budget),
 * forwarding, and what a forwarded reply teaches the session. It calls no
 * mode and not the relay: ending the session goes through r->end_session,
 * which the relay provides.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd_util.h"
#include "log.h"
#include "session.h"

#define VS_NOTE_MAX 160 /* a trace note the session core composes */

int vs_owed_push(struct vs_owed_fifo *f, const struct vs_owed *o)
{
    bool peer = o->origin != VS_FROM_SHIM;

    if ((peer && f->peer_count >= VS_MAX_PENDING) || f->count >= VS_MAX_OWED)
        return -ENOBUFS;
    if (f->count == f->cap) {
        unsigned cap = f->cap ? 2 * f->cap : 16;
        struct vs_owed *items = malloc(cap * sizeof(*items));
        if (!items)
            return -ENOMEM;
        for (unsigned i = 0; i < f->count; i++)
            items[i] = f->items[(f->head + i) % f->cap];
        free(f->items);
        f->items = items;
        f->cap = cap;
        f->head = 0;
    }
    f->items[(f->head + f->count) % f->cap] = *o;
    f->count++;
    f->peer_count += peer;
    return 0;
}

int vs_owed_pop(struct vs_owed_fifo *f, struct vs_owed *o)
{
    if (f->count == 0)
        return -ENOENT;
    *o = f->items[f->head];
    f->head = (f->head + 1) % f->cap;
    f->count--;
    f->peer_count -= o->origin != VS_FROM_SHIM;
    return 0;
}

void vs_owed_reset(struct vs_owed_fifo *f)
{
    free(f->items);
    memset(f, 0, sizeof(*f));
}

void vs_session_reset(struct vs_relay *r)
{
    memset(&r->fe_limits, 0, sizeof(r->fe_limits));
    r->fe_limits.max_queues = vs_device_max_rings(&r->cfg);
    r->fe_limits.config_size = r->cfg.type->config_size;
    r->be_limits = r->fe_limits;
    r->backend_pf = 0;
    r->offered_pf = 0;
    r->owner_deferred = false;
    r->pf_settled = false;
    r->features_dropped = 0;
    r->features_dropped_logged = false;
    r->offer_explained = false;
    r->pass_status = 0;
    vs_owed_reset(&r->main_pending);
    vs_owed_reset(&r->chan_pending);
}

void vs_trace_dir(struct vs_relay *r, const char *dir, enum vu_channel ch, const struct vu_msg *m,
                  const char *note)
{
    vs_trace_msg(r->trace, r->cfg.id, dir, ch, m, note);
}

/* Sends a REPLY_ACK-style u64 answer to `request` on conn. */
static void send_ack(struct vs_relay *r, struct vs_conn *conn, enum vu_channel ch, uint32_t request,
                     uint64_t value, const char *note)
{
    struct vu_msg ack;

    vu_msg_init(&ack, request, VU_FLAG_REPLY);
    vu_msg_set_u64(&ack, value);
    vs_trace_dir(r, conn == r->be || conn == r->be_chan ? "shim->be" : "shim->fe", ch, &ack, note);
    vs_conn_send(conn, &ack);
}

static void send_answer(struct vs_relay *r, struct vs_conn *to, enum vu_channel ch,
                        const struct vs_owed *a, const char *note)
{
    struct vu_msg reply;

    if (a->action != VS_ANSWER_EMPTY_CONFIG) {
        send_ack(r, to, ch, a->p.request, a->arg, note ? note : "answered by the shim");
        return;
    }
    vu_msg_init(&reply, a->p.request, VU_FLAG_REPLY);
    vs_trace_dir(r, "shim->fe", ch, &reply, "refused (empty config reply)");
    vs_conn_send(to, &reply);
}

/* Replies carry no request id: an answer the shim gives itself must not
 * overtake replies the peer is still owed on the same socket. */
static void answer_in_order(struct vs_relay *r, struct vs_conn *to, struct vs_owed_fifo *f,
                            enum vu_channel ch, uint32_t request, bool empty_config, uint64_t value,
                            const char *note)
{
    struct vs_owed a = { .p = { .request = request },
                         .origin = VS_SHIM_ANSWER,
                         .action = empty_config ? VS_ANSWER_EMPTY_CONFIG : VS_ANSWER_U64,
                         .arg = value };

    if (f->count == 0) {
        send_answer(r, to, ch, &a, note); /* a queued answer's note is the default */
        return;
    }
    if (vs_owed_push(f, &a)) {
        vs_warn("%s: more than %d replies outstanding; disconnecting", r->cfg.id, VS_MAX_PENDING);
        vs_conn_fail(to, -ENOBUFS); /* ends the session from the loop, not under a handler */
    }
}

/* Sends the shim's queued answers that have come to the head. */
void vs_session_flush_answers(struct vs_relay *r, struct vs_conn *to, struct vs_owed_fifo *f,
                              enum vu_channel ch)
{
    struct vs_owed a;

    while (to && f->count && f->items[f->head].origin == VS_SHIM_ANSWER) {
        vs_owed_pop(f, &a);
        send_answer(r, to, ch, &a, NULL);
    }
}

void vs_reply_frontend_u64(struct vs_relay *r, uint32_t request, uint64_t value, const char *note)
{
    answer_in_order(r, r->fe, &r->main_pending, VU_CHAN_FRONTEND, request, false, value, note);
}

void vs_reply_frontend_ack(struct vs_relay *r, uint32_t request, uint64_t value)
{
    vs_reply_frontend_u64(r, request, value, NULL);
}

/* A request failed validation or was refused. What the sender gets: a
 * REPLY_ACK failure where it asked for one, the spec's empty reply for
 * GET_CONFIG, and otherwise a disconnect (never a false success). */
void vs_session_reject(struct vs_relay *r, struct vs_conn *from, enum vu_channel ch,
                       const struct vu_hdr *hdr, const struct vu_msg_desc *d, int rc,
                       const char *text)
{
    bool from_fe = from == r->fe || from == r->fe_chan;
    const struct vu_session_limits *lim = from_fe ? &r->fe_limits : &r->be_limits;
    const char *who = from_fe ? "front-end" : "back-end";
    bool acked = d && d->reply == VU_REPLY_ACK && (hdr->flags & VU_FLAG_NEED_REPLY) &&
                 vu_has_bit(lim->protocol_features, VU_PF_REPLY_ACK);
    bool empty_config = d && ch == VU_CHAN_FRONTEND && hdr->request == VU_REQ_GET_CONFIG;
    struct vu_msg shown;
    enum vs_log_level level = vs_refusal_quiet(r) ? VS_LOG_DEBUG : VS_LOG_WARN;

    if (!text || !*text)
        text = "refused without a reason (a shim bug: please report it with --trace)";
    r->stats.rejected++;
    vu_msg_init(&shown, hdr->request, hdr->flags);
    vs_trace_dir(r, from_fe ? "fe->shim" : "be->shim", ch, &shown, text);
    if (acked || empty_config) {
        vs_log(level, "%s: %s sent a bad %s: %s (%s); answered with a failure", r->cfg.id, who,
               d->name, text, strerror(-rc));
        answer_in_order(r, from, from == r->fe ? &r->main_pending : &r->chan_pending, ch,
                        hdr->request, !acked, (uint64_t)-rc, NULL);
        return;
    }
    vs_log(level,
           "%s: %s sent a bad %s: %s (%s); disconnecting both sides (--trace shows the "
           "conversation up to it)",
           r->cfg.id, who, d ? d->name : "message", text, strerror(-rc));
    vs_refusal_mark(r);
    vs_end_session(r, "protocol error");
}

void vs_refuse_frontend(struct vs_relay *r, const struct vu_hdr *hdr, const struct vu_msg_desc *d,
                        int rc, const char *text)
{
    vs_session_reject(r, r->fe, VU_CHAN_FRONTEND, hdr, d, rc, text);
}

void vs_end_session(struct vs_relay *r, const char *why)
{
    r->end_session(r, why);
}

/* A request with NEED_REPLY on a session without REPLY_ACK: the spec says
 * no reply comes, but DPDK and libvhost-user answer anyway. Clearing the bit
 * keeps the reply count certain. */
void vs_session_need_reply(const struct vu_session_limits *lim, const struct vu_msg_desc *d,
                           struct vu_msg *m)
{
    if (d->reply == VU_REPLY_ACK && !vu_has_bit(lim->protocol_features, VU_PF_REPLY_ACK))
        m->hdr.flags &= ~VU_FLAG_NEED_REPLY;
}

/* Fds a peer sent, before the shim acts on them: a socket connected to one
 * of the shim's own connections is refused (holding it would keep that
 * connection open after its peer has gone: the session would never end),
 * and a front-end request's fds must fit the session's fd budget. True when
 * the message may go on; otherwise it was refused and its fds closed. */
bool vs_session_admit_fds(struct vs_relay *r, struct vs_conn *from, enum vu_channel ch,
                          const struct vu_msg_desc *d, struct vu_msg *m)
{
    struct vu_hdr hdr = m->hdr;
    char why[256];
    int rc = 0;

    for (unsigned i = 0; i < m->nfds && rc == 0; i++) {
        rc = vs_own_sock_is_peer(m->fds[i]);
        if (rc > 0) {
            snprintf(why, sizeof(why),
                     "the %s fd is a socket connected to the shim itself "
                     "(the %s's own connection; holding it would keep the session open after "
                     "the %s has gone)",
                     d ? d->name : "message's",
                     from == r->be || from == r->be_chan ? "back-end" : "front-end",
                     from == r->be || from == r->be_chan ? "back-end" : "front-end");
            rc = -EPERM;
        } else if (rc < 0) {
            snprintf(why, sizeof(why), "cannot tell where a socket fd is connected: %s",
                     strerror(-rc));
        }
    }
    if (rc == 0 && from == r->fe && d && d->fds != VU_FDS_NONE)
        rc = vs_fd_budget_charge(&r->fds, d, m, why, sizeof(why));
    if (rc == 0)
        return true;
    vu_msg_close_fds(m);
    vs_session_reject(r, from, ch, &hdr, d, rc, why);
    return false;
}

/* ---- the main socket --------------------------------------------------------- */

/* The entry of a GET_FEATURES barrier standing for `request`'s ack. */
static void barrier_entry(struct vs_owed *o, uint32_t request)
{
    o->p = (struct vu_pending){ .request = VU_REQ_GET_FEATURES, .kind = VU_PENDING_EXPLICIT };
    o->acks = request;
}

/* A barrier's entry shown as the entry of the request it acks. */
static void barrier_as_ack(struct vs_owed *o)
{
    o->p = (struct vu_pending){ .request = o->acks, .kind = VU_PENDING_ACK };
    o->acks = VU_REQ_NONE;
}

/* REPLY_ACK emulated (QEMU's enforce_reply): GET_FEATURES has a reply in
 * every state and no effect, and a back-end answers it only after the
 * requests before it. Its entry is pushed by the caller. */
static int send_barrier(struct vs_relay *r, uint32_t request)
{
    struct vu_msg b;
    char note[VS_NOTE_MAX];
    int rc;

    vu_msg_init(&b, VU_REQ_GET_FEATURES, 0);
    snprintf(note, sizeof(note), "barrier for %s (the back-end has no REPLY_ACK)",
             vu_request_name(VU_CHAN_FRONTEND, request));
    vs_trace_dir(r, "shim->be", VU_CHAN_FRONTEND, &b, note);
    rc = vs_conn_send(r->be, &b);
    vs_watch_update(r); /* a reply is owed from now */
    return rc;
}

bool vs_session_emulated_ack(struct vs_relay *r, struct vs_owed *o, struct vu_msg *m)
{
    char note[VS_NOTE_MAX];

    if (o->acks == VU_REQ_NONE)
        return false;
    snprintf(note, sizeof(note),
             "barrier reply: %s acked (emulated by a GET_FEATURES barrier; a failure "
             "cannot be told)",
             vu_request_name(VU_CHAN_FRONTEND, o->acks));
    vs_trace_dir(r, "be->shim", VU_CHAN_FRONTEND, m, note);
    vu_msg_close_fds(m);
    vu_msg_init(m, o->acks, VU_FLAG_REPLY);
    vu_msg_set_u64(m, 0);
    barrier_as_ack(o);
    return true;
}

/* The shim's own SET_OWNER and SET_PROTOCOL_FEATURES are sent as QEMU sends
 * them: never waited for (hw/virtio/vhost-user.c, vhost_user_set_owner and
 * vhost_user_set_protocol_features), so no barrier follows them. */
static bool sent_unawaited(uint32_t request)
{
    return request == VU_REQ_SET_OWNER || request == VU_REQ_SET_PROTOCOL_FEATURES;
}

/* Pushes o on the main socket's FIFO; past the bounds the session ends
 * when the loop next looks, not under the caller. */
static int push_internal(struct vs_relay *r, const struct vs_owed *o)
{
    if (vs_owed_push(&r->main_pending, o) == 0)
        return 0;
    vs_err("%s: the back-end owes more than %d replies; ending the session", r->cfg.id,
           VS_MAX_OWED);
    vs_conn_fail(r->be, -ENOBUFS);
    return -ENOBUFS;
}

/* The shim's own request checked as the back-end will check it: a payload
 * size or fd count the message table does not allow is the shim's bug (a
 * strict back-end, like the Rust virtiofsd, would drop the connection), so
 * it is not sent; the session ends with the reason. */
static bool own_request_well_formed(struct vs_relay *r, struct vu_msg *m)
{
    const struct vu_msg_desc *d;
    struct vu_error err;
    int rc = vu_validate_request(&r->be_limits, VU_CHAN_FRONTEND, m, &d, &err);

    if (rc != -EBADMSG && rc != -EBADF)
        return true;
    vs_err("%s: internal error: the shim's own %s is malformed (%s); ending the session", r->cfg.id,
           vu_request_name(VU_CHAN_FRONTEND, m->hdr.request), err.text);
    vs_conn_fail(r->be, rc);
    return false;
}

int vs_send_internal(struct vs_relay *r, struct vu_msg *m, uint16_t action, uint32_t arg,
                     const char *note)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m->hdr.request);
    struct vs_owed o = { .origin = VS_FROM_SHIM, .action = action, .arg = arg };
    bool barrier;
    int rc;

    if (!r->be || !d) {
        vu_msg_close_fds(m);
        return -ENOTCONN;
    }
    if (!own_request_well_formed(r, m)) {
        vu_msg_close_fds(m);
        return -EPROTO;
    }
    /* Only where the answer is an ack: libvhost-user echoes the flag into
     * payload replies (GET_CONFIG), which QEMU never asks that way. */
    if (d->reply == VU_REPLY_ACK)
        m->hdr.flags |= VU_FLAG_NEED_REPLY;
    barrier = false;
    if (!vu_request_expects_reply(&r->be_limits, d, m, &o.p)) {
        /* Without REPLY_ACK: a barrier stands for the ack, or (a plain
         * request, or one QEMU never waits for) it is counted done. */
        m->hdr.flags &= ~VU_FLAG_NEED_REPLY;
        barrier = d->reply == VU_REPLY_ACK && !sent_unawaited(m->hdr.request);
        if (!barrier) {
            vs_trace_dir(r, "shim->be", VU_CHAN_FRONTEND, m, note);
            return vs_conn_send(r->be, m);
        }
        barrier_entry(&o, m->hdr.request);
    }
    rc = push_internal(r, &o);
    if (rc) {
        vu_msg_close_fds(m);
        return rc;
    }
    vs_trace_dir(r, "shim->be", VU_CHAN_FRONTEND, m, note);
    rc = vs_conn_send(r->be, m);
    if (barrier && rc == 0)
        return send_barrier(r, o.acks);
    vs_watch_update(r); /* a reply is owed from now */
    return rc;
}

int vs_send_u64(struct vs_relay *r, uint32_t req, uint64_t v, uint16_t action, uint32_t arg,
                const char *note)
{
    struct vu_msg m;

    vu_msg_init(&m, req, 0);
    vu_msg_set_u64(&m, v);
    return vs_send_internal(r, &m, action, arg, note);
}

int vs_send_none(struct vs_relay *r, uint32_t req, uint16_t action, uint32_t arg, const char *note)
{
    struct vu_msg m;

    vu_msg_init(&m, req, 0);
    return vs_send_internal(r, &m, action, arg, note);
}

int vs_send_state(struct vs_relay *r, uint32_t req, uint32_t index, uint32_t num, uint16_t action,
                  uint32_t arg, const char *note)
{
    struct vu_msg m;

    vu_msg_init(&m, req, 0);
    vu_msg_set_state(&m, index, num);
    return vs_send_internal(r, &m, action, arg, note);
}

int vs_send_fd_u64(struct vs_relay *r, uint32_t req, uint64_t index, int fd, uint16_t action,
                   const char *note)
{
    struct vu_msg m;
    int copy = fd_dup_cloexec(fd);

    if (fd >= 0 && copy < 0) {
        int rc = copy;
        vs_err("%s: cannot duplicate an fd for %s: %s", r->cfg.id,
               vu_request_name(VU_CHAN_FRONTEND, req), strerror(-rc));
        return rc; /* not NOFD in its place: that would be a false success */
    }
    vu_msg_init(&m, req, 0);
    vu_msg_set_u64(&m, index | (copy < 0 ? VU_VRING_NOFD_MASK : 0));
    if (copy >= 0)
        vu_msg_add_fd(&m, copy);
    return vs_send_internal(r, &m, action, 0, note);
}

int vs_keep_fd_copy(int *slot, const struct vu_msg *m)
{
    int copy = m->nfds ? fd_dup_cloexec(m->fds[0]) : -1;

    fd_close(slot);
    if (m->nfds && copy < 0)
        return copy;
    *slot = copy;
    return 0;
}

void vs_forward_to_backend(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m,
                           const char *note)
{
    struct vs_owed o = { .origin = VS_FROM_FRONTEND };
    struct vu_hdr hdr = m->hdr;
    bool owed, barrier;

    vs_session_need_reply(&r->fe_limits, d, m);
    owed = vu_request_expects_reply(&r->fe_limits, d, m, &o.p);
    /* an ack the shim offered (REPLY_ACK) and the back-end cannot give */
    barrier = owed && d->reply == VU_REPLY_ACK &&
              !vu_has_bit(r->be_limits.protocol_features, VU_PF_REPLY_ACK);
    if (barrier) {
        m->hdr.flags &= ~VU_FLAG_NEED_REPLY;
        barrier_entry(&o, hdr.request);
    }
    if (owed && vs_owed_push(&r->main_pending, &o)) {
        vu_msg_close_fds(m);
        vs_session_reject(r, r->fe, VU_CHAN_FRONTEND, &hdr, NULL, -ENOBUFS,
                          "too many replies outstanding");
        return;
    }
    vs_trace_dir(r, "fe->be", VU_CHAN_FRONTEND, m, note);
    r->stats.forwarded++;
    if (vs_conn_send(r->be, m) == 0 && barrier)
        send_barrier(r, hdr.request);
}

/* Part of a message arrived: a wait for the rest begins (reply-timeout=). */
void vs_session_on_partial(struct vs_conn *c)
{
    vs_watch_update(c->owner);
}

/* A connection whose other end a peer holds: registered so that a socket
 * connected to it is recognised (admit_fds), and watched for half messages. */
struct vs_conn *vs_session_peer_conn(struct vs_relay *r, int fd, const char *label,
                                     vs_conn_msg_cb on_msg, vs_conn_close_cb on_close)
{
    struct vs_conn *c = vs_conn_new(r->loop, fd, label, on_msg, on_close, r);
    int rc;

    if (!c)
        return NULL;
    c->on_partial = vs_session_on_partial;
    rc = vs_conn_register_own(c);
    if (rc < 0)
        vs_warn("%s: cannot register the %s connection (%s); a socket connected to it would "
                "not be recognised",
                r->cfg.id, label, strerror(-rc));
    return c;
}

unsigned vs_session_drop_owed(struct vs_relay *r, vs_owed_fn *each, void *ctx)
{
    struct vs_owed_fifo taken = r->main_pending;
    struct vs_owed o;
    unsigned n = 0;

    memset(&r->main_pending, 0, sizeof(r->main_pending));
    while (vs_owed_pop(&taken, &o) == 0) {
        n++;
        if (o.acks != VU_REQ_NONE)
            barrier_as_ack(&o);
        if (each)
            each(r, &o, ctx);
    }
    vs_owed_reset(&taken);
    return n;
}

/* ---- a fault found outside a peer's message -------------------------------- */

#define VS_FAIL_TEXT_MAX 256 /* the cause in words, as logged */

void vs_session_fail(struct vs_relay *r, int rc, const char *fmt, ...)
{
    struct vs_conn *c = r->fe ? r->fe : r->be;
    char text[VS_FAIL_TEXT_MAX];
    va_list ap;

    if (!c || c->closing || c->send_error)
        return; /* no session, or it is ending already (its cause was logged) */
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    vs_err("%s: %s; ending the session", r->cfg.id, text);
    /* vs_conn_fail shuts the socket down: the loop's next poll of it
     * closes the connection, and the relay ends the session then */
    vs_conn_fail(c, rc);
}
