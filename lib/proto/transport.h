/* SPDX-License-Identifier: MIT */
/*
 * Transport: vhost-user messages over AF_UNIX SOCK_STREAM with SCM_RIGHTS.
 *
 * Non-blocking: a receiver keeps a vu_rx between calls and gets a message
 * once all of it has arrived; a sender queues messages in a vu_txq and
 * flushes as the socket allows. Fds travel with the first byte of their
 * message, exactly once.
 *
 * Fd ownership:
 *  - vu_rx owns fds that arrived with a message still being read; they move
 *    into the vu_msg handed out (the caller then owns them).
 *  - vu_txq_push() takes the message's fds; the queue closes its copies once
 *    they have been sent, or in vu_txq_clear().
 */
#ifndef VDPA_SHIM_TRANSPORT_H
#define VDPA_SHIM_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "vhost_user.h"

struct vu_rx {
    uint8_t buf[VU_HDR_SIZE + VU_MAX_PAYLOAD];
    size_t have;         /* bytes of the current message so far */
    int fds[VU_MAX_FDS]; /* fds of the current message (owned) */
    unsigned nfds;
};

void vu_rx_init(struct vu_rx *rx);
/* Closes fds of a partly received message. */
void vu_rx_clear(struct vu_rx *rx);

/* Reads from a non-blocking socket. Returns:
 *   1  a whole message is in *msg (its fds are the caller's);
 *   0  nothing complete yet (EAGAIN);
 *  -ECONNRESET  the peer closed (cleanly between messages or mid-message);
 *  -EMSGSIZE    the header announces more than VU_MAX_PAYLOAD;
 *  -EPROTO      ancillary data was truncated (too many fds), or fds arrived
 *               in the middle of a message;
 *  other -errno from recvmsg.
 * On every error the fds received so far are closed. */
int vu_recv(int sock, struct vu_rx *rx, struct vu_msg *msg);

struct vu_tx_item;

struct vu_txq {
    struct vu_tx_item *head, *tail;
    size_t bytes; /* queued bytes, bounded by max_bytes */
    size_t max_bytes;
};

void vu_txq_init(struct vu_txq *q, size_t max_bytes);
/* Queues a message; takes its fds (msg->fds become -1). -ENOBUFS when the
 * queue is over its bound (the message's fds are closed), -ENOMEM. */
int vu_txq_push(struct vu_txq *q, struct vu_msg *msg);
/* Writes as much as the socket takes. 1 = queue empty, 0 = blocked (wait
 * for POLLOUT), -errno on error (-EPIPE when the peer has gone). */
int vu_txq_flush(int sock, struct vu_txq *q);
bool vu_txq_empty(const struct vu_txq *q);
void vu_txq_clear(struct vu_txq *q);

/* Blocking convenience for tests, probes and reference peers. timeout_ms
 * < 0 waits for ever. Same returns as above; -ETIMEDOUT on time-out. */
int vu_send_blocking(int sock, struct vu_msg *msg);
int vu_recv_blocking(int sock, struct vu_msg *msg, int timeout_ms);

/* Socket helpers. Each returns an fd (CLOEXEC) or -errno. */
int vu_listen_unix(const char *path, unsigned mode);
int vu_connect_unix(const char *path);
/* For the event loop: never blocks; -EAGAIN when the peer's accept queue is
 * full (retry later). */
int vu_connect_unix_nonblock(const char *path);
int vu_connect_unix_flags(const char *path, int sock_flags);
int vu_accept(int listen_fd);
int vu_set_nonblocking(int fd, bool on);

#endif
