/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fd_util.h"
#include "transport.h"

static void close_all(int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        fd_close(&fds[i]);
}

void vu_rx_init(struct vu_rx *rx)
{
    rx->have = 0;
    rx->nfds = 0;
    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        rx->fds[i] = -1;
}

void vu_rx_clear(struct vu_rx *rx)
{
    close_all(rx->fds, VU_MAX_FDS);
    rx->nfds = 0;
    rx->have = 0;
}

/* Takes every SCM_RIGHTS fd out of a received control buffer. Returns how
 * many were appended to fds[] (up to room); any beyond room are closed and
 * counted in *dropped. */
static unsigned take_fds(struct msghdr *mh, int *fds, unsigned room, unsigned *dropped)
{
    unsigned got = 0;

    *dropped = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof(int));
            if (got < room && got < VU_MAX_FDS) {
                fds[got++] = fd;
            } else {
                close(fd);
                (*dropped)++;
            }
        }
    }
    return got;
}

int vu_recv(int sock, struct vu_rx *rx, struct vu_msg *msg)
{
    for (;;) {
        size_t want;
        uint32_t size = 0;

        if (rx->have >= VU_HDR_SIZE) {
            struct vu_hdr hdr;
            vu_hdr_decode(rx->buf, &hdr);
            size = hdr.size;
            if (size > VU_MAX_PAYLOAD) {
                vu_rx_clear(rx);
                return -EMSGSIZE;
            }
            if (rx->have == VU_HDR_SIZE + size) {
                msg->hdr = hdr;
                memcpy(msg->payload.bytes, rx->buf + VU_HDR_SIZE, size);
                for (unsigned i = 0; i < VU_MAX_FDS; i++)
                    msg->fds[i] = fd_take(&rx->fds[i]);
                msg->nfds = rx->nfds;
                rx->nfds = 0;
                rx->have = 0;
                return 1;
            }
            want = VU_HDR_SIZE + size - rx->have;
        } else {
            want = VU_HDR_SIZE - rx->have;
        }

        union {
            char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
            struct cmsghdr align;
        } control;
        struct iovec iov = { .iov_base = rx->buf + rx->have, .iov_len = want };
        struct msghdr mh = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control.buf,
            .msg_controllen = sizeof(control.buf),
        };
        ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            int e = -errno;
            vu_rx_clear(rx);
            return e;
        }

        unsigned dropped = 0, got = 0;
        int arrived[VU_MAX_FDS];
        if (mh.msg_controllen > 0)
            got = take_fds(&mh, arrived, VU_MAX_FDS, &dropped);
        if ((mh.msg_flags & MSG_CTRUNC) || dropped) {
            /* More fds than a message may carry: what arrived is closed. */
            close_all(arrived, got);
            vu_rx_clear(rx);
            return -EPROTO;
        }
        if (got) {
            if (rx->have != 0 || rx->nfds != 0) {
                /* fds must ride with the first byte of a message */
                close_all(arrived, got);
                vu_rx_clear(rx);
                return -EPROTO;
            }
            memcpy(rx->fds, arrived, got * sizeof(int));
            rx->nfds = got;
        }
        if (n == 0) {
            vu_rx_clear(rx);
            return -ECONNRESET;
        }
        rx->have += (size_t)n;
    }
}

struct vu_tx_item {
    struct vu_tx_item *next;
    size_t len, off;
    int fds[VU_MAX_FDS];
    unsigned nfds;
    uint8_t bytes[];
};

void vu_txq_init(struct vu_txq *q, size_t max_bytes)
{
    q->head = q->tail = NULL;
    q->bytes = 0;
    q->max_bytes = max_bytes;
}

bool vu_txq_empty(const struct vu_txq *q)
{
    return q->head == NULL;
}

int vu_txq_push(struct vu_txq *q, struct vu_msg *msg)
{
    size_t len = vu_msg_wire_size(msg);
    struct vu_tx_item *it;

    if (msg->hdr.size > VU_MAX_PAYLOAD || q->bytes + len > q->max_bytes) {
        vu_msg_close_fds(msg);
        return -ENOBUFS;
    }
    it = malloc(sizeof(*it) + len);
    if (!it) {
        vu_msg_close_fds(msg);
        return -ENOMEM;
    }
    it->next = NULL;
    it->len = len;
    it->off = 0;
    vu_hdr_encode(&msg->hdr, it->bytes);
    memcpy(it->bytes + VU_HDR_SIZE, msg->payload.bytes, msg->hdr.size);
    it->nfds = 0;
    for (unsigned i = 0; i < VU_MAX_FDS; i++) {
        it->fds[i] = -1;
        if (msg->fds[i] >= 0)
            it->fds[it->nfds++] = msg->fds[i];
        msg->fds[i] = -1;
    }
    msg->nfds = 0;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->bytes += len;
    return 0;
}

static void pop(struct vu_txq *q)
{
    struct vu_tx_item *it = q->head;

    q->head = it->next;
    if (!q->head)
        q->tail = NULL;
    q->bytes -= it->len;
    close_all(it->fds, it->nfds);
    free(it);
}

int vu_txq_flush(int sock, struct vu_txq *q)
{
    while (q->head) {
        struct vu_tx_item *it = q->head;
        union {
            char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
            struct cmsghdr align;
        } control;
        struct iovec iov = { .iov_base = it->bytes + it->off, .iov_len = it->len - it->off };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (it->off == 0 && it->nfds) {
            memset(&control, 0, sizeof(control));
            mh.msg_control = control.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * it->nfds);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * it->nfds);
            memcpy(CMSG_DATA(c), it->fds, sizeof(int) * it->nfds);
        }
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -errno;
        }
        if (it->off == 0 && it->nfds) {
            /* The peer has its copies now; never send them twice. */
            close_all(it->fds, it->nfds);
            it->nfds = 0;
        }
        it->off += (size_t)n;
        if (it->off == it->len)
            pop(q);
    }
    return 1;
}

void vu_txq_clear(struct vu_txq *q)
{
    while (q->head)
        pop(q);
}

int vu_send_blocking(int sock, struct vu_msg *msg)
{
    struct vu_txq q;
    int rc;

    vu_txq_init(&q, VU_HDR_SIZE + VU_MAX_PAYLOAD);
    rc = vu_txq_push(&q, msg);
    while (rc == 0) {
        rc = vu_txq_flush(sock, &q);
        if (rc == 0) {
            struct pollfd p = { .fd = sock, .events = POLLOUT };
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                rc = -errno;
        }
    }
    vu_txq_clear(&q);
    return rc < 0 ? rc : 0;
}

int vu_recv_blocking(int sock, struct vu_msg *msg, int timeout_ms)
{
    struct vu_rx *rx = malloc(sizeof(*rx));
    int rc;

    if (!rx)
        return -ENOMEM;
    vu_rx_init(rx);
    for (;;) {
        rc = vu_recv(sock, rx, msg);
        if (rc != 0)
            break;
        struct pollfd p = { .fd = sock, .events = POLLIN };
        int pr = poll(&p, 1, timeout_ms);
        if (pr == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        if (pr < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
    }
    vu_rx_clear(rx);
    free(rx);
    return rc < 0 ? rc : 0;
}

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(sa->sun_path))
        return -ENAMETOOLONG;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, len + 1);
    return 0;
}

int vu_connect_unix(const char *path)
{
    return vu_connect_unix_flags(path, 0);
}

int vu_connect_unix_nonblock(const char *path)
{
    /* An AF_UNIX connect never waits in progress: it succeeds, or fails at
     * once, with EAGAIN when the listener's accept queue is full. */
    return vu_connect_unix_flags(path, SOCK_NONBLOCK);
}

int vu_connect_unix_flags(const char *path, int flags)
{
    struct sockaddr_un sa;
    int fd, rc = fill_addr(&sa, path);

    if (rc)
        return rc;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

int vu_listen_unix(const char *path, unsigned mode)
{
    struct sockaddr_un sa;
    struct stat st;
    int fd, rc = fill_addr(&sa, path);
    mode_t old;

    if (rc)
        return rc;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return -EEXIST;
        /* Reuse a stale socket file, never one somebody still listens on. */
        int probe = vu_connect_unix(path);
        if (probe >= 0) {
            close(probe);
            return -EADDRINUSE;
        }
        unlink(path);
    }
    /* Bound under a temporary name and renamed into place once listening:
     * a peer that sees the path can connect at once (a VMM started right
     * after the shim must not meet ECONNREFUSED). */
    struct sockaddr_un tmp;
    char tmp_path[sizeof(tmp.sun_path) + 32];
    snprintf(tmp_path, sizeof(tmp_path), "%s.%d.tmp", path, (int)getpid());
    if (fill_addr(&tmp, tmp_path)) {
        /* No room for the suffix near the sun_path limit: bind in place. */
        tmp = sa;
        snprintf(tmp_path, sizeof(tmp_path), "%s", path);
    }
    unlink(tmp_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    /* The umask makes the socket file appear with `mode` from the start,
     * with no window in which it is more open. */
    old = umask((mode_t)(~mode & 0777));
    rc = bind(fd, (struct sockaddr *)&tmp, sizeof(tmp));
    umask(old);
    if (rc < 0 || listen(fd, 16) < 0 || (strcmp(tmp_path, path) && rename(tmp_path, path) < 0)) {
        rc = -errno;
        unlink(tmp_path);
        close(fd);
        return rc;
    }
    return fd;
}

int vu_accept(int listen_fd)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

int vu_set_nonblocking(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0)
        return -errno;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}
