/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "relay.h"
#include "validate.h"

/* Replies one side may owe the other at once. A peer that pipelines more
 * requests than this without reading replies is disconnected. */
#define VS_MAX_PENDING 64
#define VS_BACKOFF_MIN_MS 100
#define VS_VDPA_COMPANIONS (VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) | VU_BIT(VU_PF_STATUS))
#define VS_BACKOFF_MAX_MS 2000

struct pending_fifo {
    struct vu_pending items[VS_MAX_PENDING];
    unsigned head, count;
};

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

    /* The session. */
    struct vs_conn *fe, *be;          /* main sockets */
    struct vs_conn *fe_chan, *be_chan; /* back-end channel, front-end / back-end ends */
    struct vu_session_limits limits;  /* as negotiated between the two peers */
    uint64_t offered_pf;              /* protocol features shown to the front-end */
    struct pending_fifo main_pending; /* back-end replies owed to the front-end */
    struct pending_fifo chan_pending; /* front-end replies owed on the channel */

    struct vs_relay_stats stats;
};

static void end_session(struct vs_relay *r, const char *why);
static void try_connect_backend(struct vs_relay *r);
static void try_connect_frontend(struct vs_relay *r);
static void fe_timer_cb(uv_timer_t *t);

/* ---- small helpers ------------------------------------------------------- */

static int fifo_push(struct pending_fifo *f, const struct vu_pending *p)
{
    if (f->count == VS_MAX_PENDING)
        return -ENOBUFS;
    f->items[(f->head + f->count) % VS_MAX_PENDING] = *p;
    f->count++;
    return 0;
}

static int fifo_pop(struct pending_fifo *f, struct vu_pending *p)
{
    if (f->count == 0)
        return -ENOENT;
    *p = f->items[f->head];
    f->head = (f->head + 1) % VS_MAX_PENDING;
    f->count--;
    return 0;
}

static void reset_session_state(struct vs_relay *r)
{
    memset(&r->limits, 0, sizeof(r->limits));
    r->limits.max_queues = vs_device_max_rings(&r->cfg);
    r->limits.config_size = r->cfg.type->config_size ? r->cfg.type->config_size : 0;
    r->offered_pf = 0;
    memset(&r->main_pending, 0, sizeof(r->main_pending));
    memset(&r->chan_pending, 0, sizeof(r->chan_pending));
}

static void trace(struct vs_relay *r, const char *dir, enum vu_channel ch, const struct vu_msg *m,
                  const char *note)
{
    vs_trace_msg(r->trace, r->cfg.id, dir, ch, m, note);
}

/* Sends a REPLY_ACK-style u64 answer to `request` on conn. */
static void send_ack(struct vs_conn *conn, uint32_t request, uint64_t value)
{
    struct vu_msg ack;

    vu_msg_init(&ack, request, VU_FLAG_REPLY);
    vu_msg_set_u64(&ack, value);
    vs_conn_send(conn, &ack);
}

/* A request failed validation or was refused. What the sender gets: a
 * REPLY_ACK failure where it asked for one, the spec's empty reply for
 * GET_CONFIG, and otherwise a disconnect (never a false success). */
static void reject(struct vs_relay *r, struct vs_conn *from, enum vu_channel ch,
                   const struct vu_hdr *hdr, const struct vu_msg_desc *d, int rc, const char *text)
{
    const char *who = from == r->fe || from == r->fe_chan ? "front-end" : "back-end";
    bool acked = d && d->reply == VU_REPLY_ACK && (hdr->flags & VU_FLAG_NEED_REPLY) &&
                 vu_has_bit(r->limits.protocol_features, VU_PF_REPLY_ACK);
    bool empty_config = d && ch == VU_CHAN_FRONTEND && hdr->request == VU_REQ_GET_CONFIG;
    struct vu_msg shown;

    r->stats.rejected++;
    vu_msg_init(&shown, hdr->request, hdr->flags);
    trace(r, who[0] == 'f' ? "fe->shim" : "be->shim", ch, &shown, text);
    if (acked || empty_config) {
        vs_warn("%s: %s sent a bad %s: %s (%s); answered with a failure", r->cfg.id, who,
                d->name, text, strerror(-rc));
        if (acked) {
            send_ack(from, hdr->request, (uint64_t)-rc);
        } else {
            struct vu_msg reply;
            vu_msg_init(&reply, hdr->request, VU_FLAG_REPLY);
            vs_conn_send(from, &reply);
        }
        return;
    }
    vs_warn("%s: %s sent a bad message: %s (%s); disconnecting both sides", r->cfg.id, who, text,
            strerror(-rc));
    end_session(r, "protocol error");
}

/* A request with NEED_REPLY on a session without REPLY_ACK: the spec says
 * no reply comes, but DPDK and libvhost-user answer anyway. Clearing the bit
 * keeps the reply count certain. */
static void normalise_need_reply(const struct vs_relay *r, const struct vu_msg_desc *d,
                                 struct vu_msg *m)
{
    if (d->reply == VU_REPLY_ACK && !vu_has_bit(r->limits.protocol_features, VU_PF_REPLY_ACK))
        m->hdr.flags &= ~VU_FLAG_NEED_REPLY;
}

/* ---- the back-end channel -------------------------------------------------- */

static void on_chan_close(struct vs_conn *c, int reason)
{
    struct vs_relay *r = c->owner;

    (void)reason;
    if (c == r->fe_chan)
        r->fe_chan = NULL;
    if (c == r->be_chan)
        r->be_chan = NULL;
    /* One end without the other is useless: close both. */
    vs_conn_close(r->fe_chan, 0);
    vs_conn_close(r->be_chan, 0);
    memset(&r->chan_pending, 0, sizeof(r->chan_pending));
}

/* A back-end request on the channel, on its way to the front-end. */
static void on_be_chan_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;
    const struct vu_msg_desc *d;
    struct vu_error err;
    struct vu_pending p;
    struct vu_hdr hdr = m->hdr;
    int rc = vu_validate_request(&r->limits, VU_CHAN_BACKEND, m, &d, &err);

    if (rc) {
        reject(r, c, VU_CHAN_BACKEND, &hdr, d, rc, err.text);
        return;
    }
    normalise_need_reply(r, d, m);
    if (vu_request_expects_reply(&r->limits, d, m, &p) && fifo_push(&r->chan_pending, &p)) {
        vu_msg_close_fds(m);
        reject(r, c, VU_CHAN_BACKEND, &hdr, NULL, -ENOBUFS, "too many replies outstanding");
        return;
    }
    trace(r, "be->fe", VU_CHAN_BACKEND, m, NULL);
    r->stats.forwarded++;
    vs_conn_send(r->fe_chan, m);
}

/* A front-end reply on the channel, on its way back to the back-end. */
static void on_fe_chan_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;
    struct vu_error err;
    struct vu_pending p;
    int rc;

    if (fifo_pop(&r->chan_pending, &p)) {
        struct vu_hdr hdr = m->hdr;
        vu_msg_close_fds(m);
        reject(r, c, VU_CHAN_BACKEND, &hdr, NULL, -EPROTO,
               "front-end sent a message on the back-end channel that answers nothing");
        return;
    }
    rc = vu_validate_reply(&p, VU_CHAN_BACKEND, m, &err);
    if (rc) {
        reject(r, c, VU_CHAN_BACKEND, &m->hdr, NULL, rc, err.text);
        return;
    }
    trace(r, "fe->be", VU_CHAN_BACKEND, m, NULL);
    r->stats.forwarded++;
    vs_conn_send(r->be_chan, m);
}

/* SET_BACKEND_REQ_FD: keep the front-end's socket, give the back-end ours. */
static int splice_backend_channel(struct vs_relay *r, struct vu_msg *m)
{
    int pair[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        return -errno;
    vs_conn_close(r->fe_chan, 0);
    vs_conn_close(r->be_chan, 0);
    r->fe_chan = vs_conn_new(r->loop, m->fds[0], "front-end channel", on_fe_chan_msg,
                             on_chan_close, r);
    m->fds[0] = pair[1];
    r->be_chan = vs_conn_new(r->loop, pair[0], "back-end channel", on_be_chan_msg,
                             on_chan_close, r);
    if (!r->fe_chan || !r->be_chan) {
        vs_conn_close(r->fe_chan, 0);
        vs_conn_close(r->be_chan, 0);
        return -ENOMEM;
    }
    return 0;
}

/* ---- the main socket --------------------------------------------------------- */

/* State the relay keeps from a front-end request before forwarding it. */
static int note_frontend_request(struct vs_relay *r, struct vu_msg *m, struct vu_error *err)
{
    uint64_t v = m->payload.u64;

    switch (m->hdr.request) {
    case VU_REQ_SET_PROTOCOL_FEATURES:
        if (v & ~r->offered_pf) {
            snprintf(err->text, sizeof(err->text),
                     "SET_PROTOCOL_FEATURES acks 0x%" PRIx64 ", which includes 0x%" PRIx64
                     " the back-end did not offer", v, v & ~r->offered_pf);
            return -EINVAL;
        }
        /* docs/vdpa-user.md 2.2: F_VDPA comes with REPLY_ACK, CONFIG and
         * STATUS, and the decision holds for the connection's lifetime. */
        if (vu_has_bit(r->limits.protocol_features, VU_PF_VDPA)) {
            snprintf(err->text, sizeof(err->text),
                     "SET_PROTOCOL_FEATURES again after F_VDPA was negotiated");
            return -EINVAL;
        }
        if (vu_has_bit(v, VU_PF_VDPA) && (v & VS_VDPA_COMPANIONS) != VS_VDPA_COMPANIONS) {
            snprintf(err->text, sizeof(err->text),
                     "SET_PROTOCOL_FEATURES acks F_VDPA without REPLY_ACK, CONFIG and STATUS "
                     "(0x%" PRIx64 " missing)", VS_VDPA_COMPANIONS & ~v);
            return -EINVAL;
        }
        r->limits.protocol_features = v;
        return 0;
    case VU_REQ_SET_FEATURES:
        if (r->limits.features_known && (v & ~r->limits.offered_features)) {
            snprintf(err->text, sizeof(err->text),
                     "SET_FEATURES acks 0x%" PRIx64 ", which includes 0x%" PRIx64
                     " the back-end did not offer", v, v & ~r->limits.offered_features);
            return -EINVAL;
        }
        return 0;
    case VU_REQ_SET_BACKEND_REQ_FD: {
        int rc = splice_backend_channel(r, m);
        if (rc)
            snprintf(err->text, sizeof(err->text), "cannot set up the back-end channel: %s",
                     strerror(-rc));
        return rc;
    }
    default:
        return 0;
    }
}

static void on_fe_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;
    const struct vu_msg_desc *d;
    struct vu_error err;
    struct vu_pending p;
    struct vu_hdr hdr = m->hdr;
    int rc = vu_validate_request(&r->limits, VU_CHAN_FRONTEND, m, &d, &err);

    if (rc == 0) {
        rc = note_frontend_request(r, m, &err);
        if (rc)
            vu_msg_close_fds(m);
    }
    if (rc) {
        reject(r, c, VU_CHAN_FRONTEND, &hdr, d, rc, err.text);
        return;
    }
    normalise_need_reply(r, d, m);
    if (vu_request_expects_reply(&r->limits, d, m, &p) && fifo_push(&r->main_pending, &p)) {
        vu_msg_close_fds(m);
        reject(r, c, VU_CHAN_FRONTEND, &hdr, NULL, -ENOBUFS, "too many replies outstanding");
        return;
    }
    trace(r, "fe->be", VU_CHAN_FRONTEND, m, NULL);
    r->stats.forwarded++;
    vs_conn_send(r->be, m);
}

/* State the relay keeps from a back-end reply; may rewrite the reply. */
static const char *note_backend_reply(struct vs_relay *r, struct vu_msg *m, char *note, size_t len)
{
    uint64_t v = m->payload.u64;

    switch (m->hdr.request) {
    case VU_REQ_GET_FEATURES:
        r->limits.offered_features = v;
        r->limits.features_known = true;
        return NULL;
    case VU_REQ_GET_PROTOCOL_FEATURES:
        r->offered_pf = v & VS_RELAY_PROTOCOL_FEATURES;
        m->payload.u64 = r->offered_pf;
        if (r->offered_pf == v)
            return NULL;
        snprintf(note, len, "hid 0x%" PRIx64 " the shim cannot relay", v & ~r->offered_pf);
        return note;
    case VU_REQ_GET_QUEUE_NUM:
        if (!vs_device_max_rings(&r->cfg) && v > 0) {
            uint64_t rings = r->cfg.type->queue_num_is_pairs ? 2 * v + 1 : v;
            r->limits.max_queues = rings < VU_MAX_QUEUES ? (uint32_t)rings : VU_MAX_QUEUES;
        }
        return NULL;
    default:
        return NULL;
    }
}

static void on_be_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;
    struct vu_error err;
    struct vu_pending p;
    char note[96];
    const char *what;
    int rc;

    if (fifo_pop(&r->main_pending, &p)) {
        struct vu_hdr hdr = m->hdr;
        vu_msg_close_fds(m);
        snprintf(err.text, sizeof(err.text), "back-end sent %s (%" PRIu32 ") without being asked",
                 vu_request_name(VU_CHAN_FRONTEND, hdr.request), hdr.request);
        reject(r, c, VU_CHAN_FRONTEND, &hdr, NULL, -EPROTO, err.text);
        return;
    }
    rc = vu_validate_reply(&p, VU_CHAN_FRONTEND, m, &err);
    if (rc) {
        reject(r, c, VU_CHAN_FRONTEND, &m->hdr, NULL, rc, err.text);
        return;
    }
    what = p.kind == VU_PENDING_EXPLICIT ? note_backend_reply(r, m, note, sizeof(note)) : NULL;
    trace(r, "be->fe", VU_CHAN_FRONTEND, m, what);
    r->stats.forwarded++;
    vs_conn_send(r->fe, m);
}

/* ---- connections and the session ------------------------------------------- */

static void schedule(struct vs_relay *r, uv_timer_t *t, unsigned *backoff, uv_timer_cb cb)
{
    if (r->stopping)
        return;
    uv_timer_start(t, cb, *backoff, 0);
    *backoff = *backoff * 2 > VS_BACKOFF_MAX_MS ? VS_BACKOFF_MAX_MS : *backoff * 2;
}

static void end_session(struct vs_relay *r, const char *why)
{
    if (r->ending)
        return;
    r->ending = true;
    if (r->fe || r->be)
        vs_info("%s: session ended (%s)", r->cfg.id, why);
    vs_conn_close(r->fe_chan, 0);
    vs_conn_close(r->be_chan, 0);
    vs_conn_close(r->fe, 0);
    vs_conn_close(r->be, 0);
    uv_timer_stop(&r->be_timer);
    reset_session_state(r);
    r->ending = false;
    if (!r->stopping && r->cfg.frontend_mode == VS_MODE_CONNECT) {
        r->fe_backoff_ms = VS_BACKOFF_MIN_MS;
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
        vs_warn("%s: %s connection failed: %s", r->cfg.id, c->label, strerror(-reason));
    else
        vs_info("%s: %s disconnected", r->cfg.id, c->label);
    end_session(r, was_fe ? "front-end gone" : "back-end gone");
}

static void attach_backend(struct vs_relay *r, int fd)
{
    r->be = vs_conn_new(r->loop, fd, "back-end", on_be_msg, on_main_close, r);
    if (!r->be) {
        vs_err("%s: out of memory for the back-end connection", r->cfg.id);
        end_session(r, "out of memory");
        return;
    }
    r->be_backoff_ms = VS_BACKOFF_MIN_MS;
    vs_info("%s: back-end %s connected", r->cfg.id, r->cfg.backend);
    if (r->fe)
        vs_conn_pause(r->fe, false);
}

static void attach_frontend(struct vs_relay *r, int fd)
{
    if (r->fe) {
        vs_warn("%s: a second front-end connected to %s while one is active; refused", r->cfg.id,
                r->cfg.frontend);
        close(fd);
        return;
    }
    reset_session_state(r);
    r->fe = vs_conn_new(r->loop, fd, "front-end", on_fe_msg, on_main_close, r);
    if (!r->fe) {
        vs_err("%s: out of memory for the front-end connection", r->cfg.id);
        return;
    }
    r->stats.sessions++;
    vs_info("%s: front-end connected on %s", r->cfg.id, r->cfg.frontend);
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
    fd = vu_connect_unix(r->cfg.backend);
    if (fd >= 0) {
        attach_backend(r, fd);
        return;
    }
    if (r->be_backoff_ms == VS_BACKOFF_MIN_MS)
        vs_warn("%s: back-end %s not reachable (%s); retrying while the front-end waits",
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
    fd = vu_connect_unix(r->cfg.frontend);
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

static void on_listen(uv_poll_t *h, int status, int events)
{
    struct vs_relay *r = h->data;
    bool fe_side = h == &r->fe_listen;
    int fd;

    (void)events;
    if (status < 0)
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
    r->fe_backoff_ms = r->be_backoff_ms = VS_BACKOFF_MIN_MS;
    uv_timer_init(loop, &r->fe_timer);
    uv_timer_init(loop, &r->be_timer);
    r->fe_timer.data = r->be_timer.data = r;
    r->handles_open = 2;
    reset_session_state(r);
    return r;
}

static int start_listener(struct vs_relay *r, const char *path, int *fd, uv_poll_t *poll)
{
    int rc = vu_listen_unix(path, r->cfg.socket_mode);

    if (rc < 0) {
        vs_err("%s: cannot listen on %s: %s%s", r->cfg.id, path, strerror(-rc),
               rc == -EADDRINUSE ? " (another process is serving it)" : "");
        return rc;
    }
    *fd = rc;
    uv_poll_init(r->loop, poll, *fd);
    poll->data = r;
    r->handles_open++;
    uv_poll_start(poll, UV_READABLE, on_listen);
    return 0;
}

int vs_relay_start(struct vs_relay *r)
{
    int rc;

    if (r->cfg.backend_mode == VS_MODE_LISTEN) {
        rc = start_listener(r, r->cfg.backend, &r->be_listen_fd, &r->be_listen);
        if (rc)
            return rc;
    }
    if (r->cfg.frontend_mode == VS_MODE_LISTEN) {
        rc = start_listener(r, r->cfg.frontend, &r->fe_listen_fd, &r->fe_listen);
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

    if (--r->handles_open == 0)
        free(r);
}

static void stop_listener(int *fd, uv_poll_t *poll, const char *path)
{
    if (*fd < 0)
        return;
    uv_close((uv_handle_t *)poll, handle_closed);
    close(*fd);
    *fd = -1;
    unlink(path);
}

void vs_relay_destroy(struct vs_relay *r)
{
    if (!r || r->stopping)
        return;
    r->stopping = true;
    end_session(r, "shutting down");
    stop_listener(&r->fe_listen_fd, &r->fe_listen, r->cfg.frontend);
    stop_listener(&r->be_listen_fd, &r->be_listen, r->cfg.backend);
    uv_close((uv_handle_t *)&r->fe_timer, handle_closed);
    uv_close((uv_handle_t *)&r->be_timer, handle_closed);
}

void vs_relay_get_stats(const struct vs_relay *r, struct vs_relay_stats *stats)
{
    *stats = r->stats;
}
