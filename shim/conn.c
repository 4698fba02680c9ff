/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

static void update_events(struct vs_conn *c);

static void free_cb(uv_handle_t *h)
{
    free(h->data);
}

void vs_conn_close(struct vs_conn *c, int reason)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    uv_poll_stop(&c->poll);
    vu_rx_clear(&c->rx);
    vu_txq_clear(&c->txq);
    if (c->on_close)
        c->on_close(c, reason);
    close(c->fd);
    c->fd = -1;
    uv_close((uv_handle_t *)&c->poll, free_cb);
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
        if (rc > 0)
            c->on_msg(c, &msg);
    }
    if (!c->closing)
        update_events(c);
}

static void update_events(struct vs_conn *c)
{
    /* after a send error the shut-down socket is watched until the loop
     * sees it and closes the connection */
    int want = (c->paused && !c->send_error ? 0 : UV_READABLE) |
               (vu_txq_empty(&c->txq) ? 0 : UV_WRITABLE) | UV_DISCONNECT;

    if (want == c->events)
        return;
    c->events = want;
    if (want)
        uv_poll_start(&c->poll, want, on_poll);
    else
        uv_poll_stop(&c->poll);
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

void vs_conn_pause(struct vs_conn *c, bool paused)
{
    if (c->closing)
        return;
    c->paused = paused;
    update_events(c);
}
