/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "fd_util.h"
#include "log.h"

static void update_events(struct vs_conn *c);

static void free_timer(uv_handle_t *h)
{
    free(h);
}

static void free_cb(uv_handle_t *h)
{
    free(h->data);
}

void vs_conn_close(struct vs_conn *c, int reason)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    vs_own_sock_remove(&c->own);
    if (c->reap) {
        /* closed here, so that its callback never sees c after this */
        uv_close((uv_handle_t *)c->reap, free_timer);
        c->reap = NULL;
    }
    if (uv_poll_stop(&c->poll) < 0)
        vs_debug("%s: stopping the poll failed", c->label); /* it is closed below anyway */
    vu_rx_clear(&c->rx);
    vu_txq_clear(&c->txq);
    if (c->on_close)
        c->on_close(c, reason);
    close(c->fd);
    c->fd = -1;
    uv_close((uv_handle_t *)&c->poll, free_cb);
}

/* The fd sweep: closes the fds on_msg left in the message (conn.h). A
 * request that comes with fds its handler ignores (a refused one, say) is
 * normal; one its handler meant to keep is a bug, which the debug line
 * shows. */
static void sweep_fds(const struct vs_conn *c, struct vu_msg *msg)
{
    unsigned left = 0;

    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        if (msg->fds[i] >= 0) {
            fd_close(&msg->fds[i]);
            left++;
        }
    msg->nfds = 0;
    if (left)
        vs_debug("%s: closing %u fd(s) left in %s%s (request %u) after it was handled", c->label,
                 left, msg->hdr.flags & VU_FLAG_REPLY ? "the reply to " : "",
                 vu_request_name(c->channel, msg->hdr.request), msg->hdr.request);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct vs_conn *c = h->data;

    if (c->send_error) {
        vs_conn_close(c, c->send_error);
        return;
    }
    if (status < 0) {
        /* The socket's own error says why: ECONNRESET when the peer closed
         * with our messages unread, which is a peer gone, not a fault. */
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err <= 0)
            err = EIO;
        vs_conn_close(c, -err);
        return;
    }
    /* A paused peer (a front-end held until the back-end answers or
     * connects) that hangs up is gone: nobody is left to answer. */
    if ((events & UV_DISCONNECT) && c->paused) {
        vs_conn_close(c, -ECONNRESET);
        return;
    }
    if (events & UV_WRITABLE) {
        int rc = vu_txq_flush(c->fd, &c->txq);
        if (rc < 0) {
            vs_conn_close(c, rc);
            return;
        }
    }
    /* One message per wake-up: the poll is level-triggered, so more data
     * wakes the loop again at once, while reading on until the socket is
     * empty would cost a failed recvmsg on every request of a
     * request/reply conversation, which is what the control plane is. */
    if ((events & UV_READABLE) && !c->paused) {
        struct vu_msg msg;
        int rc = vu_recv(c->fd, &c->rx, &msg);
        if (rc < 0) {
            vs_conn_close(c, rc);
            return;
        }
        if (rc > 0) {
            c->on_msg(c, &msg);
            sweep_fds(c, &msg);
        } else if (c->rx.have && c->on_partial)
            c->on_partial(c);
    }
    if (!c->closing)
        update_events(c);
}

static void reap_cb(uv_timer_t *t)
{
    struct vs_conn *c = t->data;

    vs_conn_close(c, c->send_error ? c->send_error : -EIO);
}

/* The poll of c failed (rc): nothing would ever close c, so a timer of its
 * own (on c's loop, made on the first failure) closes it on the loop's next
 * turn (never under the caller, like vs_conn_fail). */
static void reap_later(struct vs_conn *c, int rc)
{
    vs_err("%s: cannot watch the connection: %s; closing it", c->label, uv_strerror(rc));
    if (!c->send_error) {
        c->send_error = rc;
        shutdown(c->fd, SHUT_RDWR);
    }
    if (!c->reap) {
        uv_timer_t *t = malloc(sizeof(*t));
        if (t && uv_timer_init(c->poll.loop, t) < 0) {
            free(t);
            t = NULL;
        }
        if (t)
            t->data = c;
        c->reap = t; /* an initialised timer, or NULL */
    }
    if (c->reap && uv_timer_start(c->reap, reap_cb, 0, 0) == 0)
        return;
    vs_err("%s: cannot schedule the close; it closes when the session ends", c->label);
}

static void update_events(struct vs_conn *c)
{
    /* after a send error the shut-down socket is watched until the loop
     * sees it and closes the connection */
    int want = (c->paused && !c->send_error ? 0 : UV_READABLE) |
               (vu_txq_empty(&c->txq) ? 0 : UV_WRITABLE) | UV_DISCONNECT;

    if (want == c->events)
        return;
    int rc = want ? uv_poll_start(&c->poll, want, on_poll) : uv_poll_stop(&c->poll);
    if (rc < 0) {
        reap_later(c, rc);
        return;
    }
    c->events = want;
}

struct vs_conn *vs_conn_new(uv_loop_t *loop, int fd, const char *label, vs_conn_msg_cb on_msg,
                            vs_conn_close_cb on_close, void *owner)
{
    struct vs_conn *c = calloc(1, sizeof(*c));

    if (!c || vu_set_nonblocking(fd, true) < 0 || uv_poll_init(loop, &c->poll, fd) < 0) {
        free(c);
        close(fd);
        return NULL;
    }
    c->poll.data = c;
    c->fd = fd;
    c->label = label;
    c->channel = VU_CHAN_FRONTEND;
    c->on_msg = on_msg;
    c->on_close = on_close;
    c->owner = owner;
    vu_rx_init(&c->rx);
    vu_txq_init(&c->txq, VS_CONN_TX_MAX);
    update_events(c);
    return c;
}

int vs_conn_send(struct vs_conn *c, struct vu_msg *msg)
{
    int rc;

    if (!c || c->closing || c->send_error) {
        vu_msg_close_fds(msg);
        return -EPIPE;
    }
    rc = vu_txq_push(&c->txq, msg);
    if (rc == 0)
        rc = vu_txq_flush(c->fd, &c->txq);
    if (rc < 0) {
        vu_msg_close_fds(msg);
        vs_conn_fail(c, rc);
        return rc;
    }
    update_events(c);
    return 0;
}

void vs_conn_fail(struct vs_conn *c, int reason)
{
    if (!c || c->closing || c->send_error)
        return;
    /* Closing now would end the session under the caller, who may be in
     * the middle of a sequence of sends: shut the socket down instead; the
     * loop's next poll of it closes the connection. */
    vu_txq_clear(&c->txq);
    c->send_error = reason;
    shutdown(c->fd, SHUT_RDWR);
    update_events(c);
}

int vs_conn_register_own(struct vs_conn *c)
{
    return c && !c->closing ? vs_own_sock_add(&c->own, c->fd) : -EPIPE;
}

bool vs_conn_partial(const struct vs_conn *c)
{
    return c && !c->closing && !c->paused && c->rx.have > 0;
}

void vs_conn_pause(struct vs_conn *c, bool paused)
{
    if (c->closing)
        return;
    c->paused = paused;
    update_events(c);
}
