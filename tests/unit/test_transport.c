/* SPDX-License-Identifier: MIT */
/*
 * Transport over real AF_UNIX SOCK_STREAM socketpairs: memfds and eventfds
 * pass peer to peer (checked through the kernel objects themselves), framing
 * survives partial reads and writes, bad ancillary data and bad headers close
 * whatever arrived, and no test changes the process's open-fd count.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fdcount.h"
#include "transport.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define TIMEOUT_MS    3000

/* ---- fixture: a non-blocking socketpair, and the fd count around it ---- */

struct pair {
    int a, b; /* a sends, b receives (mostly) */
    int fds_before;
    struct vu_rx rx; /* b's receive state */
};

static int setup(void **state)
{
    struct pair *p = calloc(1, sizeof(*p));
    int sv[2];

    if (!p)
        return -1;
    p->fds_before = fdcount();
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
        free(p);
        return -1;
    }
    p->a = sv[0];
    p->b = sv[1];
    vu_rx_init(&p->rx);
    *state = p;
    return 0;
}

/* Every test must leave the fd count as it found it. */
static int teardown(void **state)
{
    struct pair *p = *state;
    int before = p->fds_before, after;

    vu_rx_clear(&p->rx);
    if (p->a >= 0)
        close(p->a);
    if (p->b >= 0)
        close(p->b);
    free(p);
    after = fdcount();
    if (after != before) {
        fprintf(stderr, "fd leak: %d fds open after the test, %d before\n", after, before);
        fdcount_dump("after the test");
        return -1;
    }
    return 0;
}

/* ---- helpers -------------------------------------------------------------- */

/* A 4 KiB memfd holding `text` at offset 0. */
static int memfd_with(const char *text)
{
    int fd = memfd_create("transport-test", MFD_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4096), 0);
    assert_int_equal(pwrite(fd, text, strlen(text) + 1, 0), (ssize_t)strlen(text) + 1);
    return fd;
}

/* fd maps memory that starts with `text`: read through mmap and pread. */
static void assert_memfd_holds(int fd, const char *text)
{
    char buf[64] = { 0 };
    char *map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);

    assert_true(map != MAP_FAILED);
    assert_string_equal(map, text);
    munmap(map, 4096);
    assert_true(pread(fd, buf, sizeof(buf) - 1, 0) > 0);
    assert_string_equal(buf, text);
}

static int new_eventfd(unsigned initval)
{
    int fd = eventfd(initval, EFD_CLOEXEC | EFD_NONBLOCK);

    assert_true(fd >= 0);
    return fd;
}

/* A copy of fd that stays ours after fd itself is handed to the queue. */
static int keep(int fd)
{
    int k = fcntl(fd, F_DUPFD_CLOEXEC, 0);

    assert_true(k >= 0);
    return k;
}

/* `received` and `original` are the same eventfd: a value written to one is
 * read from the other. */
static void assert_same_eventfd(int received, int original, uint64_t value)
{
    uint64_t v = value, got = 0;

    assert_int_equal(write(received, &v, sizeof(v)), sizeof(v));
    assert_int_equal(read(original, &got, sizeof(got)), sizeof(got));
    assert_int_equal(got, value);
}

static bool has_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);

    assert_true(fl >= 0);
    return (fl & FD_CLOEXEC) != 0;
}

/* Receives one whole message from a non-blocking socket, polling between
 * attempts; the error (or -ETIMEDOUT) otherwise. */
static int recv_one(int sock, struct vu_rx *rx, struct vu_msg *m)
{
    for (int waited = 0; waited < TIMEOUT_MS; waited += 10) {
        int rc = vu_recv(sock, rx, m);
        if (rc != 0)
            return rc;
        struct pollfd pfd = { .fd = sock, .events = POLLIN };
        poll(&pfd, 1, 10);
    }
    return -ETIMEDOUT;
}

/* A raw sendmsg of len bytes with n fds attached (none when n is 0),
 * bypassing the transport, to send what a buggy or hostile peer would. */
static ssize_t raw_send(int sock, const void *buf, size_t len, const int *fds, unsigned n)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 16)];
        struct cmsghdr align;
    } c;
    struct iovec iov = { (void *)buf, len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    struct cmsghdr *cm;

    assert_true(n <= 16);
    memset(&c, 0, sizeof(c)); /* the kernel reads the padding too */
    if (n) {
        mh.msg_control = c.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
    }
    return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

/* The bytes of a message as they go on the wire; returns the length. */
static size_t wire_bytes(const struct vu_msg *m, uint8_t *out)
{
    vu_hdr_encode(&m->hdr, out);
    memcpy(out + VU_HDR_SIZE, m->payload.bytes, m->hdr.size);
    return vu_msg_wire_size(m);
}

static void assert_rx_empty(const struct vu_rx *rx)
{
    assert_int_equal(rx->have, 0);
    assert_int_equal(rx->nfds, 0);
    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        assert_int_equal(rx->fds[i], -1);
}

/* ---- fds pass peer to peer --------------------------------------------------- */

static void memfds_pass(void **state)
{
    struct pair *p = *state;
    struct vu_mem_region r[2] = { { 0, 4096, 0x7f0000000000ull, 0 },
                                  { 0x100000, 4096, 0x7f0000100000ull, 0 } };
    struct vu_txq q;
    struct vu_msg m, got;
    int mem0 = memfd_with("region zero"), mem1 = memfd_with("region one");

    vu_txq_init(&q, 65536);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, VU_FLAG_NEED_REPLY);
    assert_int_equal(vu_msg_set_mem_table(&m, r, 2), 0);
    assert_int_equal(vu_msg_add_fd(&m, mem0), 0);
    assert_int_equal(vu_msg_add_fd(&m, mem1), 0);
    assert_int_equal(vu_txq_push(&q, &m), 0);
    /* the queue took the fds */
    assert_int_equal(m.nfds, 0);
    assert_int_equal(m.fds[0], -1);
    assert_int_equal(m.fds[1], -1);
    assert_false(vu_txq_empty(&q));
    assert_int_equal(vu_txq_flush(p->a, &q), 1);
    assert_true(vu_txq_empty(&q));
    /* sent: the queue closed its copies (checked before anything can reuse
     * the numbers) */
    assert_true(fd_is_closed(mem0));
    assert_true(fd_is_closed(mem1));

    assert_int_equal(recv_one(p->b, &p->rx, &got), 1);
    assert_int_equal(got.hdr.request, VU_REQ_SET_MEM_TABLE);
    assert_int_equal(got.hdr.flags, VU_VERSION | VU_FLAG_NEED_REPLY);
    assert_int_equal(got.hdr.size, 8 + 2 * 32);
    assert_memory_equal(&got.payload.mem, &m.payload.mem, got.hdr.size);
    assert_int_equal(got.nfds, 2);
    for (unsigned i = 2; i < VU_MAX_FDS; i++)
        assert_int_equal(got.fds[i], -1);
    /* the same memory, in the order they were attached */
    assert_memfd_holds(got.fds[0], "region zero");
    assert_memfd_holds(got.fds[1], "region one");
    vu_msg_close_fds(&got);
    assert_rx_empty(&p->rx);
}

static void eventfd_passes(void **state)
{
    struct pair *p = *state;
    struct vu_txq q;
    struct vu_msg m, got;
    int ev = new_eventfd(0), mine = keep(ev);

    vu_txq_init(&q, 65536);
    vu_msg_init(&m, VU_REQ_SET_VRING_CALL, 0);
    vu_msg_set_u64(&m, 1);
    assert_int_equal(vu_msg_add_fd(&m, ev), 0);
    assert_int_equal(vu_txq_push(&q, &m), 0);
    assert_int_equal(vu_txq_flush(p->a, &q), 1);
    assert_true(fd_is_closed(ev));

    assert_int_equal(recv_one(p->b, &p->rx, &got), 1);
    assert_int_equal(got.hdr.request, VU_REQ_SET_VRING_CALL);
    assert_int_equal(got.payload.u64, 1);
    assert_int_equal(got.nfds, 1);
    /* a signal written to the received copy is read from the original */
    assert_same_eventfd(got.fds[0], mine, 5);
    assert_same_eventfd(mine, got.fds[0], 9); /* and the other way round */
    vu_msg_close_fds(&got);
    close(mine);
}

/* MSG_CMSG_CLOEXEC: received fds are close-on-exec even when the sender's
 * were not (fd flags do not travel with SCM_RIGHTS). */
static void received_fds_cloexec(void **state)
{
    struct pair *p = *state;
    struct vu_msg m, got;
    int plain = eventfd(0, 0), mem = memfd_create("no-cloexec", 0);

    assert_true(plain >= 0 && mem >= 0);
    assert_false(has_cloexec(plain));
    assert_false(has_cloexec(mem));
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_add_fd(&m, plain);
    vu_msg_add_fd(&m, mem);
    assert_int_equal(vu_send_blocking(p->a, &m), 0);
    assert_int_equal(recv_one(p->b, &p->rx, &got), 1);
    assert_int_equal(got.nfds, 2);
    assert_true(has_cloexec(got.fds[0]));
    assert_true(has_cloexec(got.fds[1]));
    vu_msg_close_fds(&got);
}

/* Eight fds (the most a message may carry), with the blocking calls. */
static void eight_fds_blocking(void **state)
{
    struct pair *p = *state;
    struct vu_msg m, got;
    char text[VU_MAX_FDS][16];

    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_u64(&m, 0x8888);
    for (unsigned i = 0; i < VU_MAX_FDS; i++) {
        snprintf(text[i], sizeof(text[i]), "fd number %u", i);
        assert_int_equal(vu_msg_add_fd(&m, memfd_with(text[i])), 0);
    }
    assert_int_equal(vu_send_blocking(p->a, &m), 0);
    assert_int_equal(m.nfds, 0);
    memset(&got, 0, sizeof(got));
    assert_int_equal(vu_recv_blocking(p->b, &got, TIMEOUT_MS), 0);
    assert_int_equal(got.hdr.request, VU_REQ_SET_MEM_TABLE);
    assert_int_equal(got.payload.u64, 0x8888);
    assert_int_equal(got.nfds, VU_MAX_FDS);
    for (unsigned i = 0; i < VU_MAX_FDS; i++) {
        assert_true(has_cloexec(got.fds[i]));
        assert_memfd_holds(got.fds[i], text[i]);
    }
    vu_msg_close_fds(&got);
}

/* Several messages in one write: framing by the header's size alone, and
 * the fds of the second arrive with the second. */
static void back_to_back(void **state)
{
    struct pair *p = *state;
    uint8_t bytes[3 * (VU_HDR_SIZE + 64)];
    size_t len = 0;
    struct vu_msg m, got;
    int ev = new_eventfd(0), mine = keep(ev);

    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    len += wire_bytes(&m, bytes + len);
    vu_msg_init(&m, VU_REQ_SET_FEATURES, 0);
    vu_msg_set_u64(&m, 0xabcdef);
    len += wire_bytes(&m, bytes + len);
    assert_int_equal(write(p->a, bytes, len), (ssize_t)len);
    vu_msg_init(&m, VU_REQ_SET_VRING_KICK, 0);
    vu_msg_set_u64(&m, 2);
    len = wire_bytes(&m, bytes);
    assert_int_equal(raw_send(p->a, bytes, len, &ev, 1), (ssize_t)len);
    close(ev);

    assert_int_equal(recv_one(p->b, &p->rx, &got), 1);
    assert_int_equal(got.hdr.request, VU_REQ_GET_FEATURES);
    assert_int_equal(got.hdr.size, 0);
    assert_int_equal(got.nfds, 0);
    assert_int_equal(recv_one(p->b, &p->rx, &got), 1);
    assert_int_equal(got.hdr.request, VU_REQ_SET_FEATURES);
    assert_int_equal(got.payload.u64, 0xabcdef);
    assert_int_equal(got.nfds, 0);
    assert_int_equal(recv_one(p->b, &p->rx, &got), 1);
    assert_int_equal(got.hdr.request, VU_REQ_SET_VRING_KICK);
    assert_int_equal(got.payload.u64, 2);
    assert_int_equal(got.nfds, 1);
    assert_same_eventfd(got.fds[0], mine, 3);
    vu_msg_close_fds(&got);
    close(mine);
    assert_int_equal(vu_recv(p->b, &p->rx, &got), 0); /* nothing more */
}

/* ---- bad ancillary data ------------------------------------------------------- */

static void nine_fds_refused(void **state)
{
    struct pair *p = *state;
    struct vu_hdr h = { VU_REQ_SET_MEM_TABLE, VU_VERSION, 0 };
    struct vu_msg got;
    int before = fdcount(), fds[9];

    for (int i = 0; i < 9; i++)
        fds[i] = new_eventfd(0);
    assert_int_equal(raw_send(p->a, &h, sizeof(h), fds, 9), (ssize_t)sizeof(h));
    for (int i = 0; i < 9; i++)
        close(fds[i]);
    assert_int_equal(fdcount(), before); /* all nine are in flight now */
    assert_int_equal(recv_one(p->b, &p->rx, &got), -EPROTO);
    assert_int_equal(fdcount(), before); /* what arrived was closed */
    assert_rx_empty(&p->rx);
}

/* fds must ride with the first byte of a message. */
static void fds_on_a_later_byte_refused(void **state)
{
    struct pair *p = *state;
    struct vu_msg m, got;
    uint8_t bytes[VU_HDR_SIZE + 8];
    int before = fdcount(), ev;

    vu_msg_init(&m, VU_REQ_SET_FEATURES, 0);
    vu_msg_set_u64(&m, 1);
    wire_bytes(&m, bytes);

    /* header first (received), then the payload with an fd */
    assert_int_equal(raw_send(p->a, bytes, VU_HDR_SIZE, NULL, 0), VU_HDR_SIZE);
    assert_int_equal(vu_recv(p->b, &p->rx, &got), 0);
    assert_int_equal(p->rx.have, VU_HDR_SIZE);
    ev = new_eventfd(0);
    assert_int_equal(raw_send(p->a, bytes + VU_HDR_SIZE, 8, &ev, 1), 8);
    close(ev);
    assert_int_equal(recv_one(p->b, &p->rx, &got), -EPROTO);
    assert_int_equal(fdcount(), before);
    assert_rx_empty(&p->rx);
}

/* The same with both parts already queued, and with the fd on the second
 * byte of the header; and a message whose first byte brought an fd and whose
 * payload brings another. */
static void fds_mid_message_variants(void **state)
{
    struct pair *p = *state;
    struct vu_msg m, got;
    uint8_t bytes[VU_HDR_SIZE + 8];
    int before = fdcount(), ev[2];

    vu_msg_init(&m, VU_REQ_SET_VRING_CALL, 0);
    vu_msg_set_u64(&m, 0);
    wire_bytes(&m, bytes);

    ev[0] = new_eventfd(0);
    assert_int_equal(raw_send(p->a, bytes, VU_HDR_SIZE, NULL, 0), VU_HDR_SIZE);
    assert_int_equal(raw_send(p->a, bytes + VU_HDR_SIZE, 8, ev, 1), 8);
    close(ev[0]);
    assert_int_equal(recv_one(p->b, &p->rx, &got), -EPROTO);
    assert_int_equal(fdcount(), before);
    assert_rx_empty(&p->rx);
    close(p->a); /* the stream is out of step now: start a fresh one */
    close(p->b);
    p->a = p->b = -1;

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
    p->a = sv[0];
    p->b = sv[1];
    before = fdcount();
    ev[0] = new_eventfd(0);
    assert_int_equal(raw_send(p->a, bytes, 1, NULL, 0), 1);
    assert_int_equal(vu_recv(p->b, &p->rx, &got), 0);
    assert_int_equal(raw_send(p->a, bytes + 1, VU_HDR_SIZE - 1, ev, 1), VU_HDR_SIZE - 1);
    close(ev[0]);
    assert_int_equal(recv_one(p->b, &p->rx, &got), -EPROTO);
    assert_int_equal(fdcount(), before);
    assert_rx_empty(&p->rx);
    close(p->a);
    close(p->b);
    p->a = p->b = -1;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
    p->a = sv[0];
    p->b = sv[1];
    before = fdcount();
    ev[0] = new_eventfd(0);
    ev[1] = new_eventfd(0);
    assert_int_equal(raw_send(p->a, bytes, VU_HDR_SIZE, &ev[0], 1), VU_HDR_SIZE);
    assert_int_equal(vu_recv(p->b, &p->rx, &got), 0);
    assert_int_equal(p->rx.nfds, 1);
    assert_int_equal(raw_send(p->a, bytes + VU_HDR_SIZE, 8, &ev[1], 1), 8);
    close(ev[0]);
    close(ev[1]);
    assert_int_equal(recv_one(p->b, &p->rx, &got), -EPROTO);
    assert_int_equal(fdcount(), before); /* the first one too */
    assert_rx_empty(&p->rx);
}

/* ---- partial reads ----------------------------------------------------------- */

static void byte_by_byte(void **state)
{
    struct pair *p = *state;
    struct vu_msg m, got;
    uint8_t bytes[VU_HDR_SIZE + 8];
    size_t len;
    int ev = new_eventfd(0), mine = keep(ev);

    vu_msg_init(&m, VU_REQ_SET_VRING_KICK, VU_FLAG_NEED_REPLY);
    vu_msg_set_u64(&m, 3);
    len = wire_bytes(&m, bytes);
    /* the first byte carries the fd, as the spec requires */
    assert_int_equal(raw_send(p->a, bytes, 1, &ev, 1), 1);
    close(ev);
    for (size_t i = 1; i < len; i++) {
        assert_int_equal(vu_recv(p->b, &p->rx, &got), 0);
        assert_int_equal(p->rx.have, i);
        assert_int_equal(p->rx.nfds, 1);
        assert_int_equal(write(p->a, bytes + i, 1), 1);
    }
    assert_int_equal(vu_recv(p->b, &p->rx, &got), 1);
    assert_int_equal(got.hdr.request, VU_REQ_SET_VRING_KICK);
    assert_int_equal(got.hdr.flags, VU_VERSION | VU_FLAG_NEED_REPLY);
    assert_int_equal(got.hdr.size, 8);
    assert_int_equal(got.payload.u64, 3);
    assert_int_equal(got.nfds, 1);
    assert_true(has_cloexec(got.fds[0]));
    assert_same_eventfd(got.fds[0], mine, 11);
    vu_msg_close_fds(&got);
    close(mine);
    assert_rx_empty(&p->rx);
    assert_int_equal(vu_recv(p->b, &p->rx, &got), 0);
}

/* A large payload in uneven chunks, across the header/payload boundary. */
static void uneven_chunks(void **state)
{
    struct pair *p = *state;
    static struct vu_msg m, got;
    static uint8_t bytes[VU_HDR_SIZE + VU_MAX_PAYLOAD];
    size_t len, off = 0, chunk = 1;
    int calls = 0, rc;

    vu_msg_init(&m, VU_REQ_CREATE_CRYPTO_SESSION, 0);
    for (unsigned i = 0; i < VU_MAX_PAYLOAD; i++)
        m.payload.bytes[i] = (uint8_t)(i * 13 + (i >> 8));
    m.hdr.size = VU_MAX_PAYLOAD; /* the largest accepted */
    len = wire_bytes(&m, bytes);
    while (off < len) {
        size_t n = chunk < len - off ? chunk : len - off;
        assert_int_equal(write(p->a, bytes + off, n), (ssize_t)n);
        off += n;
        rc = vu_recv(p->b, &p->rx, &got);
        calls++;
        assert_int_equal(rc, off == len ? 1 : 0);
        chunk = chunk * 3 + 1; /* 1, 4, 13, 40, 121, 364, 1093, ... */
    }
    assert_true(calls > 5);
    assert_int_equal(got.hdr.size, VU_MAX_PAYLOAD);
    assert_memory_equal(got.payload.bytes, m.payload.bytes, VU_MAX_PAYLOAD);
    assert_int_equal(got.nfds, 0);
}

/* ---- bad headers and closed peers --------------------------------------------- */

static void oversized_header_refused(void **state)
{
    struct pair *p = *state;
    struct vu_hdr h = { VU_REQ_SET_CONFIG, VU_VERSION, VU_MAX_PAYLOAD + 1 };
    struct vu_msg got;
    int before = fdcount(), ev = new_eventfd(0);

    /* with an fd on the header: closed as well */
    assert_int_equal(raw_send(p->a, &h, sizeof(h), &ev, 1), (ssize_t)sizeof(h));
    close(ev);
    assert_int_equal(recv_one(p->b, &p->rx, &got), -EMSGSIZE);
    assert_int_equal(fdcount(), before);
    assert_rx_empty(&p->rx);

    /* without, and as large as a u32 allows */
    h.size = UINT32_MAX;
    assert_int_equal(write(p->a, &h, sizeof(h)), (ssize_t)sizeof(h));
    assert_int_equal(recv_one(p->b, &p->rx, &got), -EMSGSIZE);
    assert_rx_empty(&p->rx);
}

static void peer_closes_mid_message(void **state)
{
    struct pair *p = *state;
    struct vu_msg m, got;
    uint8_t bytes[VU_HDR_SIZE + 16];
    int before = fdcount(), fds[2] = { new_eventfd(0), memfd_with("lost") };

    vu_msg_init(&m, VU_REQ_SET_LOG_BASE, 0);
    memset(m.payload.bytes, 0, 16);
    m.hdr.size = 16;
    wire_bytes(&m, bytes);
    /* the header and 8 of the 16 payload bytes, with both fds */
    assert_int_equal(raw_send(p->a, bytes, VU_HDR_SIZE + 8, fds, 2), VU_HDR_SIZE + 8);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(vu_recv(p->b, &p->rx, &got), 0);
    assert_int_equal(p->rx.nfds, 2);
    close(p->a);
    p->a = -1;
    assert_int_equal(recv_one(p->b, &p->rx, &got), -ECONNRESET);
    assert_int_equal(fdcount(), before - 1); /* p->a is gone, the two fds too */
    assert_rx_empty(&p->rx);
}

static void peer_closes_between_messages(void **state)
{
    struct pair *p = *state;
    struct vu_msg m, got;

    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    assert_int_equal(vu_send_blocking(p->a, &m), 0);
    close(p->a);
    p->a = -1;
    assert_int_equal(recv_one(p->b, &p->rx, &got), 1); /* what was sent still arrives */
    assert_int_equal(got.hdr.request, VU_REQ_GET_FEATURES);
    assert_int_equal(recv_one(p->b, &p->rx, &got), -ECONNRESET);
    assert_int_equal(vu_recv_blocking(p->b, &got, TIMEOUT_MS), -ECONNRESET);
}

static void send_to_closed_peer(void **state)
{
    struct pair *p = *state;
    struct vu_txq q;
    struct vu_msg m;
    int ev = new_eventfd(0), ev2 = new_eventfd(0);

    close(p->b);
    p->b = -1;
    vu_msg_init(&m, VU_REQ_SET_VRING_CALL, 0);
    vu_msg_set_u64(&m, 0);
    vu_msg_add_fd(&m, ev);
    assert_int_equal(vu_send_blocking(p->a, &m), -EPIPE); /* no SIGPIPE either */
    assert_int_equal(m.nfds, 0);
    assert_true(fd_is_closed(ev));

    vu_txq_init(&q, 4096);
    vu_msg_init(&m, VU_REQ_SET_VRING_CALL, 0);
    vu_msg_set_u64(&m, 0);
    vu_msg_add_fd(&m, ev2);
    assert_int_equal(vu_txq_push(&q, &m), 0);
    assert_int_equal(vu_txq_flush(p->a, &q), -EPIPE);
    vu_txq_clear(&q);
    assert_true(vu_txq_empty(&q));
    assert_true(fd_is_closed(ev2));
}

/* ---- partial writes ------------------------------------------------------------ */

#define NMSG 120

/* Message i: payload size and contents derived from i; every 7th carries an
 * eventfd whose counter starts at i + 1, every 11th a memfd naming i. */
static size_t msg_size(int i)
{
    static const size_t sizes[] = { 0, 8, 100, 1000, VU_MAX_PAYLOAD, 3000, 17 };
    return sizes[i % ARRAY_SIZE(sizes)];
}

static uint8_t msg_byte(int i, size_t k)
{
    return (uint8_t)(i * 31 + k * 7 + (k >> 8));
}

static void make_msg(int i, struct vu_msg *m)
{
    char name[32];

    vu_msg_init(m, VU_REQ_CREATE_CRYPTO_SESSION, 0);
    m->hdr.size = (uint32_t)msg_size(i);
    for (size_t k = 0; k < m->hdr.size; k++)
        m->payload.bytes[k] = msg_byte(i, k);
    if (i % 7 == 0)
        assert_int_equal(vu_msg_add_fd(m, new_eventfd((unsigned)i + 1)), 0);
    if (i % 11 == 0) {
        snprintf(name, sizeof(name), "message %d", i);
        assert_int_equal(vu_msg_add_fd(m, memfd_with(name)), 0);
    }
}

static void check_msg(int i, struct vu_msg *m)
{
    char name[32];
    unsigned want = (i % 7 == 0) + (i % 11 == 0), k = 0;

    assert_int_equal(m->hdr.request, VU_REQ_CREATE_CRYPTO_SESSION);
    assert_int_equal(m->hdr.size, msg_size(i));
    for (size_t j = 0; j < m->hdr.size; j++)
        if (m->payload.bytes[j] != msg_byte(i, j))
            fail_msg("message %d: byte %zu is 0x%02x, not 0x%02x", i, j, m->payload.bytes[j],
                     msg_byte(i, j));
    if (m->nfds != want)
        fail_msg("message %d arrived with %u fds, not %u", i, m->nfds, want);
    if (i % 7 == 0) {
        uint64_t v = 0;
        assert_int_equal(read(m->fds[k++], &v, sizeof(v)), sizeof(v));
        assert_int_equal(v, (uint64_t)i + 1); /* its own eventfd */
    }
    if (i % 11 == 0) {
        snprintf(name, sizeof(name), "message %d", i);
        assert_memfd_holds(m->fds[k], name);
    }
    vu_msg_close_fds(m);
}

static int bytes_queued_in(int sock)
{
    int n = 0;

    assert_int_equal(ioctl(sock, FIONREAD, &n), 0);
    return n;
}

static void partial_writes_in_order(void **state)
{
    struct pair *p = *state;
    static struct vu_msg m;
    struct vu_txq q;
    size_t boundary[NMSG + 1] = { 0 };
    size_t received = 0;
    int small = 4096, next = 0, blocked = 0, split = 0, rc;

    assert_int_equal(setsockopt(p->a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    vu_txq_init(&q, 1 << 20);
    for (int i = 0; i < NMSG; i++) {
        make_msg(i, &m);
        boundary[i + 1] = boundary[i] + vu_msg_wire_size(&m);
        assert_int_equal(vu_txq_push(&q, &m), 0);
        assert_int_equal(m.nfds, 0);
    }
    /* The socket fills up long before the queue is empty. */
    rc = vu_txq_flush(p->a, &q);
    assert_int_equal(rc, 0);
    assert_false(vu_txq_empty(&q));

    /* Drain and flush in turns; each message whole, in order, with its fds. */
    for (int round = 0; next < NMSG; round++) {
        assert_true(round < 100000);
        /* where the sender stopped: inside a message means a partial write */
        size_t sent = received + p->rx.have + (size_t)bytes_queued_in(p->b);
        bool at_boundary = false;
        for (int i = 0; i <= NMSG; i++)
            at_boundary = at_boundary || boundary[i] == sent;
        split += !at_boundary;

        while ((rc = vu_recv(p->b, &p->rx, &m)) == 1) {
            check_msg(next, &m);
            received += vu_msg_wire_size(&m);
            next++;
        }
        assert_int_equal(rc, 0);
        if (!vu_txq_empty(&q)) {
            rc = vu_txq_flush(p->a, &q);
            assert_true(rc == 0 || rc == 1);
            blocked += rc == 0;
        } else {
            struct pollfd pfd = { .fd = p->b, .events = POLLIN };
            if (next < NMSG)
                assert_int_equal(poll(&pfd, 1, TIMEOUT_MS), 1);
        }
    }
    assert_true(vu_txq_empty(&q));
    assert_int_equal(vu_txq_flush(p->a, &q), 1);
    assert_int_equal(received, boundary[NMSG]);
    assert_true(blocked > 0); /* the socket really filled up, more than once */
    assert_true(split > 0);   /* and some message went out in pieces */
    assert_int_equal(bytes_queued_in(p->b), 0);
    assert_int_equal(vu_recv(p->b, &p->rx, &m), 0);
}

/* ---- the queue's bound and clear ------------------------------------------------- */

static void txq_push_over_bound(void **state)
{
    struct pair *p = *state;
    struct vu_txq q;
    struct vu_msg m;
    int fds[2];

    (void)p;
    vu_txq_init(&q, 64);
    vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
    assert_int_equal(vu_msg_set_config(&m, 0, 100, 0, NULL), 0);
    fds[0] = new_eventfd(0);
    fds[1] = memfd_with("x");
    vu_msg_add_fd(&m, fds[0]);
    vu_msg_add_fd(&m, fds[1]);
    assert_int_equal(vu_txq_push(&q, &m), -ENOBUFS);
    assert_true(fd_is_closed(fds[0])); /* closed, not leaked */
    assert_true(fd_is_closed(fds[1]));
    assert_int_equal(m.nfds, 0);
    assert_int_equal(m.fds[0], -1);
    assert_int_equal(m.fds[1], -1);
    assert_true(vu_txq_empty(&q));

    /* exactly up to the bound, then not a byte more */
    vu_txq_init(&q, 2 * (VU_HDR_SIZE + 8));
    for (int i = 0; i < 2; i++) {
        vu_msg_init(&m, VU_REQ_SET_FEATURES, 0);
        vu_msg_set_u64(&m, (uint64_t)i);
        assert_int_equal(vu_txq_push(&q, &m), 0);
    }
    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    fds[0] = new_eventfd(0);
    vu_msg_add_fd(&m, fds[0]);
    assert_int_equal(vu_txq_push(&q, &m), -ENOBUFS);
    assert_true(fd_is_closed(fds[0]));
    /* once flushed, there is room again */
    assert_int_equal(vu_txq_flush(p->a, &q), 1);
    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    assert_int_equal(vu_txq_push(&q, &m), 0);
    vu_txq_clear(&q);

    /* a header that claims more than a message may carry */
    vu_txq_init(&q, 1 << 20);
    vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
    m.hdr.size = VU_MAX_PAYLOAD + 1;
    fds[0] = new_eventfd(0);
    vu_msg_add_fd(&m, fds[0]);
    assert_int_equal(vu_txq_push(&q, &m), -ENOBUFS);
    assert_true(fd_is_closed(fds[0]));
    assert_true(vu_txq_empty(&q));
}

static void txq_clear_closes_queued_fds(void **state)
{
    struct pair *p = *state;
    struct vu_txq q;
    struct vu_msg m;
    int fds[5], n = 0, before = fdcount();

    (void)p;
    vu_txq_init(&q, 65536);
    for (int i = 0; i < 3; i++) {
        vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
        vu_msg_set_u64(&m, (uint64_t)i);
        for (int j = 0; j <= (i == 1); j++) {
            fds[n] = j ? memfd_with("queued") : new_eventfd(0);
            vu_msg_add_fd(&m, fds[n++]);
        }
        assert_int_equal(vu_txq_push(&q, &m), 0);
    }
    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    assert_int_equal(vu_txq_push(&q, &m), 0); /* one without fds */
    for (int i = 0; i < n; i++)
        assert_true(fd_is_open(fds[i])); /* held by the queue */
    vu_txq_clear(&q);
    assert_true(vu_txq_empty(&q));
    for (int i = 0; i < n; i++)
        assert_true(fd_is_closed(fds[i]));
    assert_int_equal(fdcount(), before);
    vu_txq_clear(&q); /* again: nothing left to do */
    assert_true(vu_txq_empty(&q));
    assert_int_equal(vu_txq_flush(p->a, &q), 1); /* an empty queue is flushed */
    assert_int_equal(bytes_queued_in(p->b), 0);
}

/* ---- blocking receive ----------------------------------------------------------- */

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void recv_blocking_timeout(void **state)
{
    struct pair *p = *state;
    struct vu_msg m;
    struct timespec t0;
    uint8_t bytes[VU_HDR_SIZE + 8];
    int before = fdcount(), ev = new_eventfd(0);
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(vu_recv_blocking(p->b, &m, 100), -ETIMEDOUT);
    ms = elapsed_ms(&t0);
    assert_true(ms >= 90);  /* it did wait */
    assert_true(ms < 2000); /* and did not hang */

    /* half a message with an fd, then silence: time-out, fd closed */
    vu_msg_init(&m, VU_REQ_SET_VRING_CALL, 0);
    vu_msg_set_u64(&m, 0);
    wire_bytes(&m, bytes);
    assert_int_equal(raw_send(p->a, bytes, VU_HDR_SIZE + 4, &ev, 1), VU_HDR_SIZE + 4);
    close(ev);
    assert_int_equal(vu_recv_blocking(p->b, &m, 50), -ETIMEDOUT);
    assert_int_equal(fdcount(), before);
}

/* ---- listening sockets ------------------------------------------------------------ */

struct tmpdir {
    char dir[64];
    char path[160];
};

static void make_tmpdir(struct tmpdir *t, const char *name)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/vdpa-shim-transport.XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, name);
}

static void remove_tmpdir(struct tmpdir *t)
{
    unlink(t->path);
    assert_int_equal(rmdir(t->dir), 0); /* nothing else was left behind */
}

/* A connection through path works: connect, accept, one message each way. */
static void assert_listening(int l, const char *path)
{
    struct vu_msg m, got;
    int c = vu_connect_unix(path), s;

    assert_true(c >= 0);
    assert_true(has_cloexec(c));
    s = vu_accept(l);
    assert_true(s >= 0);
    assert_true(has_cloexec(s));
    assert_true(fcntl(s, F_GETFL) & O_NONBLOCK);
    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    assert_int_equal(vu_send_blocking(c, &m), 0);
    assert_int_equal(vu_recv_blocking(s, &got, TIMEOUT_MS), 0);
    assert_int_equal(got.hdr.request, VU_REQ_GET_FEATURES);
    close(c);
    close(s);
}

/* Accepts and closes pending connections on a non-blocking listener. */
static void drain_backlog(int l)
{
    int s;

    while ((s = vu_accept(l)) >= 0)
        close(s);
    assert_int_equal(s, -EAGAIN);
}

static void listen_mode(void **state)
{
    const unsigned modes[] = { 0600, 0660, 0666 };
    struct tmpdir t;
    struct stat st;
    mode_t old;
    int l;

    (void)state;
    make_tmpdir(&t, "vhost.sock");
    old = umask(022);
    for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
        l = vu_listen_unix(t.path, modes[i]);
        assert_true(l >= 0);
        assert_true(has_cloexec(l));
        assert_int_equal(lstat(t.path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        if ((st.st_mode & 07777) != modes[i])
            fail_msg("socket mode %o, asked for %o", st.st_mode & 07777, modes[i]);
        assert_int_equal(umask(022), 022); /* the process umask is restored */
        assert_listening(l, t.path);
        close(l);
        unlink(t.path);
    }
    umask(old);
    remove_tmpdir(&t); /* and no temporary name was left behind */
}

static void listen_replaces_stale_socket(void **state)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct tmpdir t;
    struct stat st;
    int s, l;

    (void)state;
    make_tmpdir(&t, "stale.sock");
    /* a socket file nobody listens on: bound, then closed */
    assert_true(strlen(t.path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, t.path, strlen(t.path) + 1);
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(s);
    assert_int_equal(lstat(t.path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_true(vu_connect_unix(t.path) < 0); /* stale indeed */

    l = vu_listen_unix(t.path, 0600);
    assert_true(l >= 0);
    assert_int_equal(lstat(t.path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_listening(l, t.path);
    close(l);
    remove_tmpdir(&t);
}

static void listen_refuses_live_socket(void **state)
{
    struct tmpdir t;
    struct stat st1, st2;
    int l, l2;

    (void)state;
    make_tmpdir(&t, "live.sock");
    l = vu_listen_unix(t.path, 0600);
    assert_true(l >= 0);
    assert_int_equal(lstat(t.path, &st1), 0);
    l2 = vu_listen_unix(t.path, 0600);
    if (l2 >= 0)
        close(l2);
    assert_int_equal(l2, -EADDRINUSE);
    assert_int_equal(lstat(t.path, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino); /* the same socket file */
    drain_backlog(l);                         /* whatever the liveness check left there */
    assert_listening(l, t.path);              /* still the first listener's */
    close(l);
    remove_tmpdir(&t);
}

static void listen_refuses_regular_file(void **state)
{
    struct tmpdir t;
    struct stat st;
    int f;

    (void)state;
    make_tmpdir(&t, "file");
    f = open(t.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(f >= 0);
    assert_int_equal(write(f, "keep", 4), 4);
    close(f);
    assert_int_equal(vu_listen_unix(t.path, 0600), -EEXIST);
    assert_int_equal(lstat(t.path, &st), 0); /* untouched */
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 4);
    remove_tmpdir(&t);
}

static void listen_path_length(void **state)
{
    struct sockaddr_un sa;
    char longp[sizeof(sa.sun_path) + 20];
    struct tmpdir t;
    size_t dirlen;
    int l;

    (void)state;
    make_tmpdir(&t, "x");
    /* sizeof(sun_path) characters leave no room for the NUL */
    memset(longp, 'a', sizeof(longp));
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(vu_listen_unix(longp, 0600), -ENAMETOOLONG);
    assert_int_equal(vu_connect_unix(longp), -ENAMETOOLONG);
    dirlen = strlen(t.dir);
    snprintf(longp, sizeof(longp), "%s/", t.dir);
    memset(longp + dirlen + 1, 'b', sizeof(sa.sun_path) - dirlen - 1);
    longp[sizeof(sa.sun_path)] = '\0';
    assert_int_equal(strlen(longp), sizeof(sa.sun_path));
    assert_int_equal(vu_listen_unix(longp, 0600), -ENAMETOOLONG);
    /* one less fits exactly (no room for a temporary name: bound in place) */
    longp[sizeof(sa.sun_path) - 1] = '\0';
    l = vu_listen_unix(longp, 0600);
    assert_true(l >= 0);
    assert_listening(l, longp);
    close(l);
    assert_int_equal(unlink(longp), 0);
    remove_tmpdir(&t);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(memfds_pass),
        T(eventfd_passes),
        T(received_fds_cloexec),
        T(eight_fds_blocking),
        T(back_to_back),
        T(nine_fds_refused),
        T(fds_on_a_later_byte_refused),
        T(fds_mid_message_variants),
        T(byte_by_byte),
        T(uneven_chunks),
        T(oversized_header_refused),
        T(peer_closes_mid_message),
        T(peer_closes_between_messages),
        T(send_to_closed_peer),
        T(partial_writes_in_order),
        T(txq_push_over_bound),
        T(txq_clear_closes_queued_fds),
        T(recv_blocking_timeout),
        T(listen_mode),
        T(listen_replaces_stale_socket),
        T(listen_refuses_live_socket),
        T(listen_refuses_regular_file),
        T(listen_path_length),
    };
#undef T

    return cmocka_run_group_tests_name("transport", tests, NULL, NULL);
}
