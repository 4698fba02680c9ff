/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "own_sock.h"
#include "session.h"

#define VS_BACKOFF_MIN_MS 100
#define VS_BACKOFF_MAX_MS 2000
/* What F_VDPA needs acked with it; CONFIG is implied (docs/vdpa-user.md 2.2). */
#define VS_VDPA_COMPANIONS (VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS))

static void end_session(struct vs_relay *r, const char *why);
static void try_connect_backend(struct vs_relay *r);
static void try_connect_frontend(struct vs_relay *r);
static void fe_timer_cb(uv_timer_t *t);
static void on_be_chan_msg(struct vs_conn *c, struct vu_msg *m);
static void on_fe_chan_msg(struct vs_conn *c, struct vu_msg *m);
static struct vs_conn *peer_conn(struct vs_relay *r, int fd, const char *label,
                                 vs_conn_msg_cb on_msg, vs_conn_close_cb on_close);

/* ---- small helpers ------------------------------------------------------- */

static int fifo_push(struct vs_owed_fifo *f, const struct vs_owed *o)
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

static int fifo_pop(struct vs_owed_fifo *f, struct vs_owed *o)
{
    return vs_owed_pop(f, o);
}

static void fifo_reset(struct vs_owed_fifo *f)
{
    free(f->items);
    memset(f, 0, sizeof(*f));
}

static void reset_session_state(struct vs_relay *r)
{
    memset(&r->fe_limits, 0, sizeof(r->fe_limits));
    r->fe_limits.max_queues = vs_device_max_rings(&r->cfg);
    r->fe_limits.config_size = r->cfg.type->config_size;
    r->be_limits = r->fe_limits;
    r->mode = VS_MODE_UNDECIDED;
    r->backend_pf = 0;
    r->offered_pf = 0;
    r->owner_deferred = false;
    r->pf_settled = false;
    r->features_dropped = 0;
    r->features_dropped_logged = false;
    r->pass_status = 0;
    fifo_reset(&r->main_pending);
    fifo_reset(&r->chan_pending);
}

void vs_trace_dir(struct vs_relay *r, const char *dir, enum vu_channel ch, const struct vu_msg *m,
                  const char *note)
{
    vs_trace_msg(r->trace, r->cfg.id, dir, ch, m, note);
}

/* Sends a REPLY_ACK-style u64 answer to `request` on conn. */
static void send_ack(struct vs_relay *r, struct vs_conn *conn, enum vu_channel ch,
                     uint32_t request, uint64_t value, const char *note)
{
    struct vu_msg ack;

    vu_msg_init(&ack, request, VU_FLAG_REPLY);
    vu_msg_set_u64(&ack, value);
    vs_trace_dir(r, conn == r->be || conn == r->be_chan ? "shim->be" : "shim->fe", ch, &ack, note);
    vs_conn_send(conn, &ack);
}

static void send_answer(struct vs_relay *r, struct vs_conn *to, enum vu_channel ch,
                        const struct vs_owed *a)
{
    struct vu_msg reply;

    if (a->action != 1) {
        send_ack(r, to, ch, a->p.request, a->arg, "answered by the shim");
        return;
    }
    vu_msg_init(&reply, a->p.request, VU_FLAG_REPLY);
    vs_trace_dir(r, "shim->fe", ch, &reply, "refused (empty config reply)");
    vs_conn_send(to, &reply);
}

/* Replies carry no request id: an answer the shim gives itself must not
 * overtake replies the peer is still owed on the same socket. */
static void answer_in_order(struct vs_relay *r, struct vs_conn *to, struct vs_owed_fifo *f,
                            enum vu_channel ch, uint32_t request, bool empty_config,
                            uint32_t value)
{
    struct vs_owed a = { .p = { .request = request }, .origin = VS_SHIM_ANSWER,
                         .action = empty_config ? 1 : 0, .arg = value };

    if (f->count == 0) {
        send_answer(r, to, ch, &a);
        return;
    }
    if (fifo_push(f, &a)) {
        vs_warn("%s: more than %d replies outstanding; disconnecting", r->cfg.id, VS_MAX_PENDING);
        vs_conn_fail(to, -ENOBUFS); /* ends the session from the loop, not under a handler */
    }
}

/* Sends the shim's queued answers that have come to the head. */
static void flush_answers(struct vs_relay *r, struct vs_conn *to, struct vs_owed_fifo *f,
                          enum vu_channel ch)
{
    struct vs_owed a;

    while (to && f->count && f->items[f->head].origin == VS_SHIM_ANSWER) {
        fifo_pop(f, &a);
        send_answer(r, to, ch, &a);
    }
}

void vs_reply_frontend_ack(struct vs_relay *r, uint32_t request, uint64_t value)
{
    answer_in_order(r, r->fe, &r->main_pending, VU_CHAN_FRONTEND, request, false,
                    (uint32_t)value);
}

/* A request failed validation or was refused. What the sender gets: a
 * REPLY_ACK failure where it asked for one, the spec's empty reply for
 * GET_CONFIG, and otherwise a disconnect (never a false success). */
static void reject(struct vs_relay *r, struct vs_conn *from, enum vu_channel ch,
                   const struct vu_hdr *hdr, const struct vu_msg_desc *d, int rc, const char *text)
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
                        hdr->request, !acked, (uint32_t)-rc);
        return;
    }
    vs_log(level, "%s: %s sent a bad %s: %s (%s); disconnecting both sides (--trace shows the "
           "conversation up to it)", r->cfg.id, who, d ? d->name : "message", text,
           strerror(-rc));
    vs_refusal_mark(r);
    end_session(r, "protocol error");
}

void vs_refuse_frontend(struct vs_relay *r, const struct vu_hdr *hdr, const struct vu_msg_desc *d,
                        int rc, const char *text)
{
    reject(r, r->fe, VU_CHAN_FRONTEND, hdr, d, rc, text);
}

void vs_end_session(struct vs_relay *r, const char *why)
{
    end_session(r, why);
}

/* A request with NEED_REPLY on a session without REPLY_ACK: the spec says
 * no reply comes, but DPDK and libvhost-user answer anyway. Clearing the bit
 * keeps the reply count certain. */
static void normalise_need_reply(const struct vu_session_limits *lim, const struct vu_msg_desc *d,
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
static bool admit_fds(struct vs_relay *r, struct vs_conn *from, enum vu_channel ch,
                      const struct vu_msg_desc *d, struct vu_msg *m)
{
    struct vu_hdr hdr = m->hdr;
    char why[256];
    int rc = 0;

    for (unsigned i = 0; i < m->nfds && rc == 0; i++) {
        rc = vs_own_sock_is_peer(m->fds[i]);
        if (rc > 0) {
            snprintf(why, sizeof(why), "the %s fd is a socket connected to the shim itself "
                     "(the %s's own connection; holding it would keep the session open after "
                     "the %s has gone)", d ? d->name : "message's",
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
    reject(r, from, ch, &hdr, d, rc, why);
    return false;
}

/* ---- the back-end channel -------------------------------------------------- */

static void on_chan_close(struct vs_conn *c, int reason)
{
    struct vs_relay *r = c->owner;

    (void)reason;
    if (c == r->be_chan) {
        /* The front-end's end stays: a back-end that restarts gets a new
         * channel to it (replay.c); answers still owed to the old one come
         * to the shim. The front-end's end closes with the session. */
        r->be_chan = NULL;
        return;
    }
    r->fe_chan = NULL;
    /* The back-end's requests would have nowhere to go. */
    vs_conn_close(r->be_chan, 0);
    fifo_reset(&r->chan_pending);
}

/* A back-end request on the channel, on its way to the front-end. */
static void handle_be_chan_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;
    const struct vu_msg_desc *d;
    struct vu_error err;
    struct vs_owed o = { .origin = VS_FROM_FRONTEND };
    struct vu_hdr hdr = m->hdr;
    int rc;

    vs_check_request(r, VU_CHAN_BACKEND, m);
    rc = vu_validate_request(&r->be_limits, VU_CHAN_BACKEND, m, &d, &err);
    if (rc) {
        reject(r, c, VU_CHAN_BACKEND, &hdr, d, rc, err.text);
        return;
    }
    if (!admit_fds(r, c, VU_CHAN_BACKEND, d, m))
        return;
    normalise_need_reply(&r->be_limits, d, m);
    if (vu_request_expects_reply(&r->be_limits, d, m, &o.p) && fifo_push(&r->chan_pending, &o)) {
        vu_msg_close_fds(m);
        reject(r, c, VU_CHAN_BACKEND, &hdr, NULL, -ENOBUFS, "too many replies outstanding");
        return;
    }
    vs_trace_dir(r, "be->fe", VU_CHAN_BACKEND, m, NULL);
    r->stats.forwarded++;
    vs_conn_send(r->fe_chan, m);
}

/* A front-end reply on the channel: back to the back-end, or to the shim
 * when the shim asked (a synthesized CONFIG_CHANGE_MSG). */
static void handle_fe_chan_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;
    struct vu_error err;
    struct vs_owed o;
    int rc;

    if (fifo_pop(&r->chan_pending, &o)) {
        struct vu_hdr hdr = m->hdr;
        vu_msg_close_fds(m);
        reject(r, c, VU_CHAN_BACKEND, &hdr, NULL, -EPROTO,
               "front-end sent a message on the back-end channel that answers nothing");
        return;
    }
    rc = vu_validate_reply(&o.p, VU_CHAN_BACKEND, m, &err);
    if (rc) {
        reject(r, c, VU_CHAN_BACKEND, &m->hdr, NULL, rc, err.text);
        return;
    }
    if (!admit_fds(r, c, VU_CHAN_BACKEND, NULL, m))
        return;
    if (o.origin == VS_FROM_SHIM || !r->be_chan) {
        vs_trace_dir(r, "fe->shim", VU_CHAN_BACKEND, m, "answer to the shim");
        if (m->payload.u64)
            vs_warn("%s: the front-end refused %s (%" PRIu64 ")", r->cfg.id,
                    vu_request_name(VU_CHAN_BACKEND, m->hdr.request), m->payload.u64);
        flush_answers(r, r->be_chan, &r->chan_pending, VU_CHAN_BACKEND);
        return;
    }
    vs_trace_dir(r, "fe->be", VU_CHAN_BACKEND, m, NULL);
    r->stats.forwarded++;
    vs_conn_send(r->be_chan, m);
    flush_answers(r, r->be_chan, &r->chan_pending, VU_CHAN_BACKEND);
}

void vs_send_frontend_channel(struct vs_relay *r, struct vu_msg *m, const char *note)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_BACKEND, m->hdr.request);
    struct vs_owed o = { .origin = VS_FROM_SHIM };

    if (!r->fe_chan || !d) {
        vu_msg_close_fds(m);
        return;
    }
    if (vu_has_bit(r->fe_limits.protocol_features, VU_PF_REPLY_ACK))
        m->hdr.flags |= VU_FLAG_NEED_REPLY;
    if (vu_request_expects_reply(&r->fe_limits, d, m, &o.p) && fifo_push(&r->chan_pending, &o)) {
        vu_msg_close_fds(m);
        return; /* the front-end is not answering its channel: drop the event */
    }
    vs_trace_dir(r, "shim->fe", VU_CHAN_BACKEND, m, note);
    vs_conn_send(r->fe_chan, m);
}

static void on_partial(struct vs_conn *c);

int vs_backend_channel_new(struct vs_relay *r, vs_conn_msg_cb on_msg, vs_conn_close_cb on_close)
{
    int pair[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        return -errno;
    vs_conn_close(r->be_chan, 0);
    /* Not registered as the shim's own (vs_conn_register_own): its other
     * end is the shim's to give, and a chain of two devices in one shim
     * passes it to the other device as that device's channel. */
    r->be_chan = vs_conn_new(r->loop, pair[0], "back-end channel", on_msg, on_close, r);
    if (!r->be_chan) { /* vs_conn_new closed pair[0] */
        close(pair[1]);
        return -ENOMEM;
    }
    r->be_chan->on_partial = on_partial; /* reply-timeout= bounds a half message */
    return pair[1];
}

int vs_attach_backend_channel(struct vs_relay *r, struct vu_msg *m)
{
    int end = vs_backend_channel_new(r, on_be_chan_msg, on_chan_close);

    if (end < 0)
        return end;
    vu_msg_add_fd(m, end);
    return 0;
}

/* SET_BACKEND_REQ_FD: keep the front-end's socket. When the back-end has a
 * channel too, give it one end of the shim's own socketpair, so its requests
 * are validated and traced; *forward says whether the request goes on. */
static int take_backend_channel(struct vs_relay *r, struct vu_msg *m, bool *forward)
{
    int rc = 0;

    *forward = vu_has_bit(r->be_limits.protocol_features, VU_PF_BACKEND_REQ);
    vs_conn_close(r->fe_chan, 0);
    r->fe_chan = peer_conn(r, m->fds[0], "front-end channel", on_fe_chan_msg, on_chan_close);
    m->fds[0] = -1;
    m->nfds = 0;
    if (!r->fe_chan)
        rc = -ENOMEM;
    else if (*forward)
        rc = vs_attach_backend_channel(r, m);
    if (rc) {
        vs_conn_close(r->fe_chan, 0);
        vu_msg_close_fds(m);
    }
    return rc;
}

/* SET_BACKEND_REQ_FD from the front-end: true when it goes on to the
 * back-end (with the shim's end of a new channel), false when the shim
 * answered or refused it. */
static bool backend_req_fd(struct vs_relay *r, struct vs_conn *c, const struct vu_msg_desc *d,
                           struct vu_msg *m)
{
    struct vu_hdr hdr = m->hdr;
    char text[128];
    bool forward;
    int rc = take_backend_channel(r, m, &forward);

    if (rc) {
        snprintf(text, sizeof(text), "cannot set up the back-end channel: %s", strerror(-rc));
        reject(r, c, VU_CHAN_FRONTEND, &hdr, d, rc, text);
        return false;
    }
    if (forward)
        return true;
    vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, m, "back-end channel kept by the shim");
    if ((hdr.flags & VU_FLAG_NEED_REPLY) &&
        vu_has_bit(r->fe_limits.protocol_features, VU_PF_REPLY_ACK))
        vs_reply_frontend_ack(r, hdr.request, 0);
    return false;
}

/* ---- the main socket --------------------------------------------------------- */

int vs_send_internal(struct vs_relay *r, struct vu_msg *m, uint16_t action, uint32_t arg,
                     const char *note)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m->hdr.request);
    struct vs_owed o = { .origin = VS_FROM_SHIM, .action = action, .arg = arg };
    int rc;

    if (!r->be || !d) {
        vu_msg_close_fds(m);
        return -ENOTCONN;
    }
    /* Only where the answer is an ack: libvhost-user echoes the flag into
     * payload replies (GET_CONFIG), which QEMU never asks that way. */
    if (d->reply == VU_REPLY_ACK)
        m->hdr.flags |= VU_FLAG_NEED_REPLY;
    if (!vu_request_expects_reply(&r->be_limits, d, m, &o.p)) {
        /* Without REPLY_ACK a plain request has no answer: count it done. */
        m->hdr.flags &= ~VU_FLAG_NEED_REPLY;
        vs_trace_dir(r, "shim->be", VU_CHAN_FRONTEND, m, note);
        return vs_conn_send(r->be, m);
    }
    if (fifo_push(&r->main_pending, &o)) {
        /* the session ends when the loop next looks, not under the caller */
        vu_msg_close_fds(m);
        vs_err("%s: the back-end owes more than %d replies; ending the session", r->cfg.id,
               VS_MAX_OWED);
        vs_conn_fail(r->be, -ENOBUFS);
        return -ENOBUFS;
    }
    vs_trace_dir(r, "shim->be", VU_CHAN_FRONTEND, m, note);
    rc = vs_conn_send(r->be, m);
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
    int copy = vs_dup_fd(fd);

    if (fd >= 0 && copy < 0) {
        int rc = -errno;
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

void vs_close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int vs_dup_fd(int fd)
{
    return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

void vs_replace_fd(int *slot, const struct vu_msg *m)
{
    vs_close_fd(slot);
    if (m->nfds)
        *slot = vs_dup_fd(m->fds[0]);
}

void vs_forward_to_backend(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m,
                           const char *note)
{
    struct vs_owed o = { .origin = VS_FROM_FRONTEND };
    struct vu_hdr hdr = m->hdr;

    normalise_need_reply(&r->fe_limits, d, m);
    if (vu_request_expects_reply(&r->fe_limits, d, m, &o.p) && fifo_push(&r->main_pending, &o)) {
        vu_msg_close_fds(m);
        reject(r, r->fe, VU_CHAN_FRONTEND, &hdr, NULL, -ENOBUFS, "too many replies outstanding");
        return;
    }
    if (r->mode == VS_MODE_PASS || r->mode == VS_MODE_UNDECIDED)
        vs_replay_record(r, d, m);
    vs_trace_dir(r, "fe->be", VU_CHAN_FRONTEND, m, note);
    r->stats.forwarded++;
    vs_conn_send(r->be, m);
}

/* PASS mode, a front-end that acked STATUS or CONFIG because the shim
 * offered them (for vdpa-user) while the back-end has neither: the shim
 * answers, so that the back-end never sees a request it did not agree to.
 * True when the request was answered. */
static bool answer_shim_offered(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m)
{
    bool ack = (m->hdr.flags & VU_FLAG_NEED_REPLY) &&
               vu_has_bit(r->fe_limits.protocol_features, VU_PF_REPLY_ACK);
    struct vu_msg reply;

    if (d->gate == VU_GATE_NONE ||
        vu_has_bit(vu_pf_in_effect(r->be_limits.protocol_features), (unsigned)d->gate) ||
        !vu_has_bit(r->fe_limits.protocol_features, (unsigned)d->gate))
        return false;
    vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, m, "the back-end lacks this feature");
    vu_msg_close_fds(m);
    switch (m->hdr.request) {
    case VU_REQ_SET_STATUS:
        /* a legacy back-end starts on kicks and stops on GET_VRING_BASE */
        r->pass_status = (uint8_t)m->payload.u64;
        if (ack)
            vs_reply_frontend_ack(r, m->hdr.request, 0);
        return true;
    case VU_REQ_GET_STATUS:
    case VU_REQ_GET_QUEUE_NUM:
        /* a back-end without MQ serves the type's default queues */
        vu_msg_make_reply(&reply, m);
        vu_msg_set_u64(&reply, m->hdr.request == VU_REQ_GET_STATUS ? r->pass_status
                               : r->cfg.type->queue_num_is_pairs ? 1
                                                                 : r->cfg.type->default_queues);
        vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "answered by the shim");
        vs_conn_send(r->fe, &reply);
        return true;
    default:
        reject(r, r->fe, VU_CHAN_FRONTEND, &m->hdr, d, -EOPNOTSUPP,
               "the back-end does not have this protocol feature");
        return true;
    }
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
    vs_replay_record(r, vu_msg_desc_lookup(VU_CHAN_FRONTEND, VU_REQ_SET_OWNER), &owner);
    vs_trace_dir(r, "shim->be", VU_CHAN_FRONTEND, &owner, "deferred SET_OWNER");
    vs_conn_send(r->be, &owner);
}

/* SET_PROTOCOL_FEATURES decides the session's mode. */
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
                 " the back-end did not offer", v, v & ~ackable);
        return -EINVAL;
    }
    if (vu_has_bit(v, VU_PF_VDPA) && (v & VS_VDPA_COMPANIONS) != VS_VDPA_COMPANIONS) {
        snprintf(err->text, sizeof(err->text),
                 "SET_PROTOCOL_FEATURES acks F_VDPA without REPLY_ACK and STATUS "
                 "(0x%" PRIx64 " missing)", VS_VDPA_COMPANIONS & ~v);
        return -EINVAL;
    }
    if (vs_offer_check_vdpa_ack(r, v, err->text, sizeof(err->text)))
        return -EINVAL;
    r->fe_limits.protocol_features = v;
    r->pf_settled = true;
    if (vu_has_bit(r->backend_pf, VU_PF_VDPA) && !vu_has_bit(v, VU_PF_VDPA)) {
        r->mode = VS_MODE_UP;
        vs_info("%s: legacy front-end, vdpa-user back-end: up-converting", r->cfg.id);
        return vs_up_begin(r, m);
    }
    if (vu_has_bit(v, VU_PF_VDPA) && !vu_has_bit(r->backend_pf, VU_PF_VDPA)) {
        r->mode = VS_MODE_DOWN;
        vs_info("%s: vdpa-user front-end, legacy back-end: down-converting", r->cfg.id);
        return vs_down_begin(r, m);
    }
    r->mode = VS_MODE_PASS;
    /* Bits the shim offers on its own account stay with the shim. Under
     * F_VDPA, CONFIG goes to a back-end that shows it even when the shim
     * hid it (a revision-1 back-end wants it acked with F_VDPA). */
    m->payload.u64 = vu_pf_in_effect(v) & r->backend_pf;
    r->be_limits.protocol_features = m->payload.u64;
    return 1; /* forward */
}

/* In a translated session the front-end is not read while the shim is owed
 * replies, so that every step sees the state the previous one left. */
static bool translating(const struct vs_relay *r)
{
    return r->mode == VS_MODE_UP || r->mode == VS_MODE_DOWN;
}

static void hold_frontend_if_owed(struct vs_relay *r)
{
    if (translating(r) && r->fe && r->main_pending.count)
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
        snprintf(err.text, sizeof(err.text), "SET_PROTOCOL_FEATURES after other requests: "
                 "the session already runs as plain vhost-user pass-through");
    if (rc < 0)
        reject(r, r->fe, VU_CHAN_FRONTEND, &hdr, d, rc, err.text);
    if (rc == 1)
        vs_forward_to_backend(r, d, m, "the same value again");
    hold_frontend_if_owed(r);
}

static void handle_fe_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;
    const struct vu_msg_desc *d;
    struct vu_error err;
    struct vu_hdr hdr = m->hdr;
    uint32_t req = hdr.request;
    int rc;

    vs_check_request(r, VU_CHAN_FRONTEND, m);
    rc = vu_validate_request(&r->fe_limits, VU_CHAN_FRONTEND, m, &d, &err);
    if (rc) {
        reject(r, c, VU_CHAN_FRONTEND, &hdr, d, rc, err.text);
        return;
    }
    if (!admit_fds(r, c, VU_CHAN_FRONTEND, d, m))
        return;
    if (r->mode == VS_MODE_UNDECIDED) {
        if (req == VU_REQ_SET_OWNER) {
            r->owner_deferred = true;
            vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, m, "held until protocol features are set");
            return;
        }
        if (req == VU_REQ_SET_PROTOCOL_FEATURES) {
            rc = set_protocol_features(r, m, &err);
            if (rc <= 0) {
                if (rc < 0)
                    reject(r, c, VU_CHAN_FRONTEND, &hdr, d, rc, err.text);
                hold_frontend_if_owed(r); /* up-conversion took it over */
                return;
            }
            vs_forward_to_backend(r, d, m, NULL);
            flush_deferred_owner(r);
            return;
        }
        if (req != VU_REQ_GET_FEATURES && req != VU_REQ_GET_PROTOCOL_FEATURES) {
            /* No protocol-feature negotiation: plain relay from here on. */
            r->mode = VS_MODE_PASS;
            flush_deferred_owner(r);
        }
    } else if (req == VU_REQ_SET_PROTOCOL_FEATURES) {
        protocol_features_again(r, d, m);
        return;
    }

    if (req == VU_REQ_SET_BACKEND_REQ_FD) {
        if (!backend_req_fd(r, c, d, m))
            return;
    } else if (r->mode == VS_MODE_UP) {
        vs_up_frontend_request(r, d, m);
        hold_frontend_if_owed(r);
        return;
    } else if (r->mode == VS_MODE_DOWN) {
        vs_down_frontend_request(r, d, m);
        hold_frontend_if_owed(r);
        return;
    } else if (answer_shim_offered(r, d, m)) {
        return;
    }

    switch (req) {
    case VU_REQ_SET_FEATURES:
        if (r->fe_limits.features_known && (m->payload.u64 & ~r->fe_limits.offered_features)) {
            snprintf(err.text, sizeof(err.text),
                     "SET_FEATURES acks 0x%" PRIx64 ", which includes 0x%" PRIx64
                     " the back-end did not offer", m->payload.u64,
                     m->payload.u64 & ~r->fe_limits.offered_features);
            vu_msg_close_fds(m);
            reject(r, c, VU_CHAN_FRONTEND, &hdr, d, -EINVAL, err.text);
            return;
        }
        break;
    default:
        break;
    }
    vs_forward_to_backend(r, d, m, NULL);
}

/* State the relay keeps from a back-end reply; may rewrite the reply. */
static const char *note_backend_reply(struct vs_relay *r, struct vu_msg *m, char *note, size_t len)
{
    uint64_t v = m->payload.u64;

    if (m->hdr.size == 0)
        return "refused by the back-end"; /* nothing to learn from */

    switch (m->hdr.request) {
    case VU_REQ_GET_FEATURES:
        m->payload.u64 = vs_offer_sanitize_features(r, v);
        r->fe_limits.offered_features = r->be_limits.offered_features = m->payload.u64;
        r->fe_limits.features_known = r->be_limits.features_known = true;
        return vs_offer_dropped_note(r, note, len);
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
    int rc;

    if (fifo_pop(&r->main_pending, &o)) {
        struct vu_hdr hdr = m->hdr;
        vu_msg_close_fds(m);
        snprintf(err.text, sizeof(err.text), "back-end sent %s (%" PRIu32 ") without being asked",
                 vu_request_name(VU_CHAN_FRONTEND, hdr.request), hdr.request);
        reject(r, c, VU_CHAN_FRONTEND, &hdr, NULL, -EPROTO, err.text);
        return;
    }
    rc = vu_validate_reply(&o.p, VU_CHAN_FRONTEND, m, &err);
    if (rc) {
        reject(r, c, VU_CHAN_FRONTEND, &m->hdr, NULL, rc, err.text);
        return;
    }
    if (!admit_fds(r, c, VU_CHAN_FRONTEND, NULL, m))
        return;
    /* the front-end's own requests: the shim's probing (a config size the
     * back-end may not know) is not the back-end's conformance */
    if (o.origin == VS_FROM_FRONTEND &&
        (m->hdr.size == 0 || (o.p.kind != VU_PENDING_EXPLICIT && m->payload.u64 != 0)))
        vs_check_refusal(r, o.p.request);
    if (o.origin == VS_FROM_SHIM) {
        vs_trace_dir(r, "be->shim", VU_CHAN_FRONTEND, m, NULL);
        if (r->mode == VS_MODE_DOWN)
            vs_down_internal_reply(r, &o, m);
        else if (r->mode == VS_MODE_UP)
            vs_up_internal_reply(r, &o, m);
        else
            vs_replay_internal_reply(r, &o, m);
    } else {
        what = o.p.kind == VU_PENDING_EXPLICIT ? note_backend_reply(r, m, note, sizeof(note)) : NULL;
        vs_trace_dir(r, "be->fe", VU_CHAN_FRONTEND, m, what);
        r->stats.forwarded++;
        vs_conn_send(r->fe, m);
    }
    flush_answers(r, r->fe, &r->main_pending, VU_CHAN_FRONTEND);
    if (translating(r) && r->fe && r->main_pending.count == 0)
        vs_conn_pause(r->fe, !r->be || vs_up_holds_frontend(r));
}

/* ---- what every message and partial read is followed by -------------------- */

/* A whole message from a peer: the handler, then the reply timer looks at
 * what is owed now (the relay outlives the session the handler may end). */
static void on_be_chan_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;

    handle_be_chan_msg(c, m);
    vs_watch_update(r);
}

static void on_fe_chan_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;

    vs_watch_progress(r, VS_PEER_FRONTEND);
    handle_fe_chan_msg(c, m);
    vs_watch_update(r);
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

/* Part of a message arrived: a wait for the rest begins (reply-timeout=). */
static void on_partial(struct vs_conn *c)
{
    vs_watch_update(c->owner);
}

/* A connection whose other end a peer holds: registered so that a socket
 * connected to it is recognised (admit_fds), and watched for half messages. */
static struct vs_conn *peer_conn(struct vs_relay *r, int fd, const char *label,
                                 vs_conn_msg_cb on_msg, vs_conn_close_cb on_close)
{
    struct vs_conn *c = vs_conn_new(r->loop, fd, label, on_msg, on_close, r);
    int rc;

    if (!c)
        return NULL;
    c->on_partial = on_partial;
    rc = vs_conn_register_own(c);
    if (rc < 0)
        vs_warn("%s: cannot register the %s connection (%s); a socket connected to it would "
                "not be recognised", r->cfg.id, label, strerror(-rc));
    return c;
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
    vs_up_end(r);
    vs_down_end(r);
    vs_replay_end(r);
    reset_session_state(r);
    r->ending = false;
    if (!r->stopping && r->cfg.frontend_mode == VS_MODE_CONNECT) {
        unsigned hold = vs_refusal_wait_ms(r);
        r->fe_backoff_ms = hold > VS_BACKOFF_MIN_MS ? hold : VS_BACKOFF_MIN_MS;
        schedule(r, &r->fe_timer, &r->fe_backoff_ms, fe_timer_cb);
    }
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
        vs_log(vs_refusal_quiet(r) ? VS_LOG_DEBUG : VS_LOG_INFO, "%s: %s disconnected",
               r->cfg.id, c->label);
    if (!was_fe && r->mode == VS_MODE_DOWN && !r->ending && vs_down_backend_lost(r)) {
        /* the vdpa-user front-end sees DEVICE_NEEDS_RESET and decides */
        vs_conn_close(r->be_chan, 0);
        if (r->fe)
            vs_conn_pause(r->fe, r->main_pending.count != 0);
        return;
    }
    /* A back-end that went away is replaced; one the shim dropped (it did
     * not read, or broke the protocol) ends the session. */
    if (!was_fe && r->mode != VS_MODE_DOWN && !r->ending &&
        (!reason || reason == -ECONNRESET || reason == -EPIPE) && vs_replay_backend_lost(r)) {
        /* the front-end waits, unaware, for the next back-end */
        vs_conn_close(r->be_chan, 0);
        vs_conn_pause(r->fe, true);
        r->be_backoff_ms = VS_BACKOFF_MIN_MS;
        if (r->cfg.backend_mode == VS_MODE_CONNECT)
            try_connect_backend(r);
        return;
    }
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
    r->be = peer_conn(r, fd, "back-end", on_be_msg, on_main_close);
    if (!r->be) {
        vs_err("%s: out of memory for the back-end connection", r->cfg.id);
        end_session(r, "out of memory");
        return;
    }
    r->be_backoff_ms = VS_BACKOFF_MIN_MS;
    vs_info("%s: back-end %s connected", r->cfg.id, r->cfg.backend);
    if (vs_replay_restoring(r))
        vs_replay_begin(r); /* the front-end is read again once it is done */
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
    reset_session_state(r);
    char why[256];
    int rc = vs_fd_budget_open(&r->fds, why, sizeof(why));
    if (rc) {
        vs_warn("%s: front-end refused: %s", r->cfg.id, why);
        close(fd);
        return;
    }
    r->fe = peer_conn(r, fd, "front-end", on_fe_msg, on_main_close);
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
                "retrying while the front-end waits", r->cfg.id, r->cfg.backend, strerror(-fd));
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
    reset_session_state(r);
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
               "shim", r->cfg.id, path, strerror(-rc),
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
                    "memory; restrict it with backend-uid=UID (and socket-mode=)", r->cfg.id,
                    r->cfg.backend);
        rc = start_listener(r, r->cfg.backend, r->cfg.backend_fd_given ? r->cfg.backend_fd : -1,
                            &r->be_listen_fd, &r->be_listen);
        r->cfg.backend_fd_given = false; /* owned by be_listen_fd now */
        if (rc)
            return rc;
    }
    if (r->cfg.frontend_mode == VS_MODE_LISTEN) {
        rc = start_listener(r, r->cfg.frontend,
                            r->cfg.frontend_fd_given ? r->cfg.frontend_fd : -1, &r->fe_listen_fd,
                            &r->fe_listen);
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
        fifo_reset(&r->main_pending);
        fifo_reset(&r->chan_pending);
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
