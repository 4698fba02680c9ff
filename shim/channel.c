/* SPDX-License-Identifier: MIT */
/*
 * The back-end channel (session layer): the front-end's socket is kept by the
 * shim and the back-end gets one end of the shim's own socketpair, so that
 * the back-end's requests are validated and traced like the main socket's,
 * and the back-end can never send the front-end fds the spec does not allow.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd_util.h"
#include "log.h"
#include "session.h"

static void on_be_chan_msg(struct vs_conn *c, struct vu_msg *m);
static void on_fe_chan_msg(struct vs_conn *c, struct vu_msg *m);

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
    vs_owed_reset(&r->chan_pending);
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
        vs_session_reject(r, c, VU_CHAN_BACKEND, &hdr, d, rc, err.text);
        return;
    }
    if (!vs_session_admit_fds(r, c, VU_CHAN_BACKEND, d, m))
        return;
    vs_session_need_reply(&r->be_limits, d, m);
    if (vu_request_expects_reply(&r->be_limits, d, m, &o.p) && vs_owed_push(&r->chan_pending, &o)) {
        vu_msg_close_fds(m);
        vs_session_reject(r, c, VU_CHAN_BACKEND, &hdr, NULL, -ENOBUFS,
                          "too many replies outstanding");
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

    if (vs_owed_pop(&r->chan_pending, &o)) {
        struct vu_hdr hdr = m->hdr;
        vu_msg_close_fds(m);
        vs_session_reject(r, c, VU_CHAN_BACKEND, &hdr, NULL, -EPROTO,
                          "front-end sent a message on the back-end channel that answers nothing");
        return;
    }
    rc = vu_validate_reply(&o.p, VU_CHAN_BACKEND, m, &err);
    if (rc) {
        vs_session_reject(r, c, VU_CHAN_BACKEND, &m->hdr, NULL, rc, err.text);
        return;
    }
    if (!vs_session_admit_fds(r, c, VU_CHAN_BACKEND, NULL, m))
        return;
    if (o.origin == VS_FROM_SHIM || !r->be_chan) {
        vs_trace_dir(r, "fe->shim", VU_CHAN_BACKEND, m, "answer to the shim");
        if (m->payload.u64)
            vs_warn("%s: the front-end refused %s (%" PRIu64 ")", r->cfg.id,
                    vu_request_name(VU_CHAN_BACKEND, m->hdr.request), m->payload.u64);
        vs_session_flush_answers(r, r->be_chan, &r->chan_pending, VU_CHAN_BACKEND);
        return;
    }
    vs_trace_dir(r, "fe->be", VU_CHAN_BACKEND, m, NULL);
    r->stats.forwarded++;
    vs_conn_send(r->be_chan, m);
    vs_session_flush_answers(r, r->be_chan, &r->chan_pending, VU_CHAN_BACKEND);
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
    if (vu_request_expects_reply(&r->fe_limits, d, m, &o.p) && vs_owed_push(&r->chan_pending, &o)) {
        vu_msg_close_fds(m);
        return; /* the front-end is not answering its channel: drop the event */
    }
    vs_trace_dir(r, "shim->fe", VU_CHAN_BACKEND, m, note);
    vs_conn_send(r->fe_chan, m);
}
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
    if (r->be_chan)
        r->be_chan->channel = VU_CHAN_BACKEND; /* for the fd sweep's log */
    if (!r->be_chan) {                         /* vs_conn_new closed pair[0] */
        close(pair[1]);
        return -ENOMEM;
    }
    r->be_chan->on_partial = vs_session_on_partial; /* reply-timeout= bounds a half message */
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
    r->fe_chan = vs_session_peer_conn(r, fd_take(&m->fds[0]), "front-end channel", on_fe_chan_msg,
                                      on_chan_close);
    m->nfds = 0;
    if (!r->fe_chan)
        rc = -ENOMEM;
    else
        r->fe_chan->channel = VU_CHAN_BACKEND; /* for the fd sweep's log */
    if (!rc && *forward)
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
bool vs_session_backend_req_fd(struct vs_relay *r, struct vs_conn *c, const struct vu_msg_desc *d,
                               struct vu_msg *m)
{
    struct vu_hdr hdr = m->hdr;
    char text[128];
    bool forward;
    int rc = take_backend_channel(r, m, &forward);

    if (rc) {
        snprintf(text, sizeof(text), "cannot set up the back-end channel: %s", strerror(-rc));
        vs_session_reject(r, c, VU_CHAN_FRONTEND, &hdr, d, rc, text);
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
