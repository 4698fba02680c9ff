/* SPDX-License-Identifier: MIT */
/*
 * A vhost-user connection on the libuv loop. libuv streams cannot pass fds
 * with SCM_RIGHTS, so the socket is ours: a uv_poll_t watches it and the
 * transport does recvmsg/sendmsg.
 *
 * Ownership: the connection owns its socket fd and everything queued to
 * send. A received message's fds are lent to on_msg for the call: a handler
 * that keeps one takes it out of the message (fd_take, or vs_conn_send,
 * which takes them all) so that its slot is -1. Whatever is still in the
 * message when on_msg returns is closed by the connection (the fd sweep,
 * logged at debug level: a handler that meant to keep an fd but left it in
 * its slot finds it closed). No handler may keep the struct vu_msg itself or
 * a copy of its fd numbers past the call. vs_conn_close() calls on_close
 * exactly once, synchronously; the memory is released later by libuv, so
 * the owner must forget the pointer in on_close.
 */
#ifndef VDPA_SHIM_CONN_H
#define VDPA_SHIM_CONN_H

#include <stdbool.h>
#include <uv.h>

#include "msg_table.h"
#include "own_sock.h"
#include "transport.h"

struct vs_conn;
typedef void (*vs_conn_msg_cb)(struct vs_conn *conn, struct vu_msg *msg);
typedef void (*vs_conn_close_cb)(struct vs_conn *conn, int reason);

struct vs_conn {
    uv_poll_t poll;
    int fd;
    int events; /* UV_READABLE / UV_WRITABLE now watched */
    bool closing;
    bool paused;    /* not reading (back-pressure) */
    int send_error; /* a send failed: shut down, closed by the next poll */
    struct vu_rx rx;
    struct vu_txq txq;
    vs_conn_msg_cb on_msg;
    vs_conn_close_cb on_close;
    void (*on_partial)(struct vs_conn *conn); /* optional: part of a message was read */
    void *owner;
    const char *label;       /* "front-end", "back-end", ... for logs */
    enum vu_channel channel; /* whose request names the logs use: VU_CHAN_FRONTEND unless
                              * the owner sets VU_CHAN_BACKEND (a back-end channel) */
    struct vs_own_sock own;  /* registered: a peer holds the other end */
    uv_timer_t *reap;        /* closes the connection from its loop after its poll
                              * failed (reap_later); NULL until then */
};

/* Takes fd (made non-blocking). NULL on failure, with fd closed. */
struct vs_conn *vs_conn_new(uv_loop_t *loop, int fd, const char *label, vs_conn_msg_cb on_msg,
                            vs_conn_close_cb on_close, void *owner);
/* Queues msg (taking its fds) and writes what the socket takes. A NULL or
 * closing connection closes the fds and returns -EPIPE. On failure a
 * negative errno is returned and the connection is closed by the loop's next
 * poll (never from inside this call, so a caller's state stays valid). */
int vs_conn_send(struct vs_conn *conn, struct vu_msg *msg);
/* Fails the connection from inside a handler: nothing more is sent, and the
 * loop's next poll closes it (on_close then runs outside the caller). */
void vs_conn_fail(struct vs_conn *conn, int reason);
/* Stops or restarts reading. */
void vs_conn_pause(struct vs_conn *conn, bool paused);
/* Closes (idempotent). reason is 0 or a negative errno for the log. */
void vs_conn_close(struct vs_conn *conn, int reason);
/* Registers the connection as one whose other end a peer holds, so that a
 * socket connected to it, sent by any peer, is recognised (own_sock.h).
 * 0 or -errno. Closing the connection forgets it. */
int vs_conn_register_own(struct vs_conn *conn);
/* True while part of a message has arrived and the rest has not (and the
 * connection is being read). */
bool vs_conn_partial(const struct vs_conn *conn);

/* Bound on bytes queued for one peer that is not reading. */
#define VS_CONN_TX_MAX (256u * 1024u)

#endif
