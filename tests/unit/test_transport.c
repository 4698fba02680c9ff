/* SPDX-License-Identifier: MIT */
/* Transport over real AF_UNIX socketpairs: memfds and eventfds pass peer to
 * peer, framing survives partial reads and writes, bad ancillary data closes
 * what arrived, and no test changes the process's open-fd count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "scripted.h"

struct pair {
    int a, b;
    int fds_before;
};

static int setup(void **state)
{
    struct pair *p = malloc(sizeof(*p));
    int sv[2];

    assert_non_null(p);
    p->fds_before = scripted_count_fds(getpid());
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
    p->a = sv[0];
    p->b = sv[1];
    *state = p;
    return 0;
}

/* Every test must leave the fd count as it found it. */
static int teardown(void **state)
{
    struct pair *p = *state;
    int before = p->fds_before;

    close(p->a);
    close(p->b);
    free(p);
    assert_int_equal(scripted_count_fds(getpid()), before);
    return 0;
}

static int memfd_pattern(const char *text)
{
    int fd = memfd_create("guest-ram", MFD_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4096), 0);
    assert_int_equal(pwrite(fd, text, strlen(text), 0), (ssize_t)strlen(text));
    return fd;
}

/* Receives one whole message from a non-blocking socket (poll between). */
static int recv_one(int fd, struct vu_rx *rx, struct vu_msg *m)
{
    for (int i = 0; i < 300; i++) {
        int rc = vu_recv(fd, rx, m);
        if (rc != 0)
            return rc;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        poll(&p, 1, 10);
    }
    return -ETIMEDOUT;
}

/* A raw sendmsg of len bytes with n fds attached, bypassing the transport,
 * to build what a buggy or hostile peer would send. */
static ssize_t raw_send(int sock, const void *buf, size_t len, const int *fds, unsigned n)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 16)];
        struct cmsghdr align;
    } c;
    struct iovec iov = { (void *)buf, len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
                         .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
    struct cmsghdr *cm;

    memset(&c, 0, sizeof(c)); /* the kernel reads the padding too */
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
    return sendmsg(sock, &mh, 0);
}

static void memfd_and_eventfd_pass(void **state)
{
    struct pair *p = *state;
    struct vu_mem_region r = { 0, 4096, 0x7f0000000000, 0 };
    struct vu_txq q;
    struct vu_rx rx;
    struct vu_msg m, got;
    int mem = memfd_pattern("pattern-42");
    int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    uint64_t v = 0;
    char *map;

    vu_txq_init(&q, 65536);
    vu_rx_init(&rx);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&m, &r, 1);
    vu_msg_add_fd(&m, mem);
    assert_int_equal(vu_txq_push(&q, &m), 0);
    assert_int_equal(m.nfds, 0);            /* the queue took the fd */
    vu_msg_init(&m, VU_REQ_SET_VRING_CALL, 0);
    vu_msg_set_u64(&m, 0);
    vu_msg_add_fd(&m, ev);
    assert_int_equal(vu_txq_push(&q, &m), 0);
    assert_int_equal(vu_txq_flush(p->a, &q), 1);
    assert_true(vu_txq_empty(&q));

    assert_int_equal(recv_one(p->b, &rx, &got), 1);
    assert_int_equal(got.hdr.request, VU_REQ_SET_MEM_TABLE);
    assert_int_equal(got.nfds, 1);
    assert_true(fcntl(got.fds[0], F_GETFD) & FD_CLOEXEC); /* MSG_CMSG_CLOEXEC */
    map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, got.fds[0], 0);
    assert_true(map != MAP_FAILED);
    assert_string_equal(map, "pattern-42");  /* the same memory */
    munmap(map, 4096);
    vu_msg_close_fds(&got);

    assert_int_equal(recv_one(p->b, &rx, &got), 1);
    assert_int_equal(got.hdr.request, VU_REQ_SET_VRING_CALL);
    assert_int_equal(got.nfds, 1);
    v = 5;
    assert_int_equal(write(got.fds[0], &v, 8), 8);
    vu_msg_close_fds(&got);
    /* The sender's queue closed its copy after sending; the kernel object
     * lives on in the receiver's: a signal written there was sent to both
     * ends of one eventfd. That is the data plane, peer to peer. */
    vu_rx_clear(&rx);
}

static void eight_fds_ok_nine_truncated(void **state)
{
    struct pair *p = *state;
    struct vu_rx rx;
    struct vu_msg m, got;
    int fds[9];

    vu_rx_init(&rx);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    for (int i = 0; i < 8; i++) {
        fds[i] = eventfd(0, EFD_CLOEXEC);
        vu_msg_add_fd(&m, fds[i]);
    }
    assert_int_equal(vu_send_blocking(p->a, &m), 0);
    assert_int_equal(recv_one(p->b, &rx, &got), 1);
    assert_int_equal(got.nfds, 8);
    vu_msg_close_fds(&got);

    /* Nine fds with a raw sendmsg: the receiver's control buffer holds
     * eight, MSG_CTRUNC is set, and everything that arrived is closed. */
    for (int i = 0; i < 9; i++)
        fds[i] = eventfd(0, EFD_CLOEXEC);
    struct vu_hdr h = { VU_REQ_GET_FEATURES, VU_VERSION, 0 };
    assert_int_equal(raw_send(p->a, &h, sizeof(h), fds, 9), (ssize_t)sizeof(h));
    for (int i = 0; i < 9; i++)
        close(fds[i]);
    assert_int_equal(recv_one(p->b, &rx, &got), -EPROTO);
    vu_rx_clear(&rx);
    /* teardown checks that nothing of the nine stayed open */
}

static void fds_mid_message_refused(void **state)
{
    struct pair *p = *state;
    struct vu_rx rx;
    struct vu_msg got;
    struct vu_hdr h = { VU_REQ_SET_FEATURES, VU_VERSION, 8 };
    uint64_t payload = 1;
    int ev = eventfd(0, EFD_CLOEXEC);

    vu_rx_init(&rx);
    assert_int_equal(write(p->a, &h, sizeof(h)), (ssize_t)sizeof(h));
    assert_int_equal(vu_recv(p->b, &rx, &got), 0);  /* header only so far */
    assert_int_equal(raw_send(p->a, &payload, sizeof(payload), &ev, 1), 8);
    close(ev);
    assert_int_equal(recv_one(p->b, &rx, &got), -EPROTO);
    vu_rx_clear(&rx);
}

static void byte_by_byte(void **state)
{
    struct pair *p = *state;
    struct vu_rx rx;
    struct vu_msg m, got;
    uint8_t bytes[VU_HDR_SIZE + 8];
    int ev = eventfd(0, EFD_CLOEXEC);
    int calls = 0;

    vu_rx_init(&rx);
    vu_msg_init(&m, VU_REQ_SET_VRING_KICK, 0);
    vu_msg_set_u64(&m, 3);
    vu_hdr_encode(&m.hdr, bytes);
    memcpy(bytes + VU_HDR_SIZE, &m.payload.u64, 8);
    /* The first byte carries the fd, as the spec requires. */
    assert_int_equal(raw_send(p->a, bytes, 1, &ev, 1), 1);
    close(ev);
    for (size_t i = 1; i < sizeof(bytes); i++) {
        assert_int_equal(vu_recv(p->b, &rx, &got), 0);
        calls++;
        assert_int_equal(write(p->a, bytes + i, 1), 1);
    }
    assert_int_equal(vu_recv(p->b, &rx, &got), 1);
    assert_int_equal(calls, (int)sizeof(bytes) - 1);
    assert_int_equal(got.hdr.request, VU_REQ_SET_VRING_KICK);
    assert_int_equal(got.payload.u64, 3);
    assert_int_equal(got.nfds, 1);
    vu_msg_close_fds(&got);
}

static void oversize_and_eof(void **state)
{
    struct pair *p = *state;
    struct vu_rx rx;
    struct vu_msg m, got;
    struct vu_hdr h = { VU_REQ_GET_CONFIG, VU_VERSION, VU_MAX_PAYLOAD + 1 };

    vu_rx_init(&rx);
    assert_int_equal(write(p->a, &h, sizeof(h)), (ssize_t)sizeof(h));
    assert_int_equal(recv_one(p->b, &rx, &got), -EMSGSIZE);

    /* The peer closes in the middle of a message that brought an fd. */
    vu_rx_init(&rx);
    vu_msg_init(&m, VU_REQ_SET_VRING_CALL, 0);
    vu_msg_set_u64(&m, 0);
    vu_msg_add_fd(&m, eventfd(0, EFD_CLOEXEC));
    assert_int_equal(vu_send_blocking(p->a, &m), 0);
    assert_int_equal(recv_one(p->b, &rx, &got), 1);
    vu_msg_close_fds(&got);
    h.size = 8;
    h.request = VU_REQ_SET_FEATURES;
    assert_int_equal(write(p->a, &h, sizeof(h)), (ssize_t)sizeof(h));
    assert_int_equal(vu_recv(p->b, &rx, &got), 0);
    shutdown(p->a, SHUT_WR);
    assert_int_equal(recv_one(p->b, &rx, &got), -ECONNRESET);
    assert_int_equal(rx.have, 0);
}

static void partial_writes_keep_order(void **state)
{
    struct pair *p = *state;
    int small = 4096;
    struct vu_txq q;
    struct vu_rx rx;
    struct vu_msg m, got;
    const int n = 200;
    int blocked = 0, next = 0, rc;

    setsockopt(p->a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    vu_txq_init(&q, 1 << 20);
    vu_rx_init(&rx);
    for (int i = 0; i < n; i++) {
        vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
        uint8_t data[200];
        memset(data, i, sizeof(data));
        vu_msg_set_config(&m, 0, sizeof(data), 0, data);
        if (i % 10 == 0)
            vu_msg_add_fd(&m, eventfd((unsigned)i + 1, EFD_CLOEXEC | EFD_NONBLOCK));
        assert_int_equal(vu_txq_push(&q, &m), 0);
    }
    /* Flush and drain in turns until everything arrived, in order, each fd
     * with its own message. */
    while (next < n) {
        rc = vu_txq_flush(p->a, &q);
        assert_true(rc >= 0);
        blocked += rc == 0;
        while ((rc = vu_recv(p->b, &rx, &got)) == 1) {
            assert_int_equal(got.payload.config.data[0], (uint8_t)next);
            assert_int_equal(got.payload.config.data[199], (uint8_t)next);
            if (next % 10 == 0) {
                uint64_t v;
                assert_int_equal(got.nfds, 1);
                assert_int_equal(read(got.fds[0], &v, 8), 8);
                assert_int_equal(v, (uint64_t)next + 1); /* the right eventfd */
            } else {
                assert_int_equal(got.nfds, 0);
            }
            vu_msg_close_fds(&got);
            next++;
        }
        assert_int_equal(rc, 0);
    }
    assert_true(blocked > 0); /* the socket really filled up */
    assert_true(vu_txq_empty(&q));
}

static void queue_bound_and_clear(void **state)
{
    struct pair *p = *state;
    struct vu_txq q;
    struct vu_msg m;
    int ev = eventfd(0, EFD_CLOEXEC);

    (void)p;
    vu_txq_init(&q, 64);
    vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
    vu_msg_set_config(&m, 0, 100, 0, NULL);
    vu_msg_add_fd(&m, ev);
    assert_int_equal(vu_txq_push(&q, &m), -ENOBUFS);
    assert_int_equal(fcntl(ev, F_GETFD), -1); /* closed, not leaked */

    vu_txq_init(&q, 4096);
    vu_msg_init(&m, VU_REQ_SET_VRING_CALL, 0);
    vu_msg_set_u64(&m, 0);
    vu_msg_add_fd(&m, eventfd(0, EFD_CLOEXEC));
    assert_int_equal(vu_txq_push(&q, &m), 0);
    vu_txq_clear(&q); /* teardown's count proves the queued fd was closed */
    assert_true(vu_txq_empty(&q));
}

static void blocking_timeout(void **state)
{
    struct pair *p = *state;
    struct vu_msg m;

    assert_int_equal(vu_recv_blocking(p->b, &m, 50), -ETIMEDOUT);
}

static void listen_and_connect(void **state)
{
    char dir[] = "/tmp/vdpa-shim-transport.XXXXXX", path[128], longp[200];
    struct stat st;
    int l, c, s, f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    l = vu_listen_unix(path, 0600);
    assert_true(l >= 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Published by rename once listening: no temporary name stays behind. */
    char probe[160];
    snprintf(probe, sizeof(probe), "%s.%d.tmp", path, (int)getpid());
    assert_int_equal(access(probe, F_OK), -1);
    assert_int_equal(vu_listen_unix(path, 0600), -EADDRINUSE); /* live: kept */
    c = vu_connect_unix(path);
    assert_true(c >= 0);
    s = vu_accept(l);
    assert_true(s >= 0);
    close(c);
    close(s);
    close(l);
    l = vu_listen_unix(path, 0660); /* stale socket file: replaced */
    assert_true(l >= 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    close(l);
    unlink(path);
    f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    close(f);
    assert_int_equal(vu_listen_unix(path, 0600), -EEXIST); /* never a regular file */
    unlink(path);
    memset(longp, 'x', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(vu_listen_unix(longp, 0600), -ENAMETOOLONG);
    assert_int_equal(vu_connect_unix(longp), -ENAMETOOLONG);
    assert_true(vu_connect_unix(path) < 0);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(memfd_and_eventfd_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(eight_fds_ok_nine_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(fds_mid_message_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(byte_by_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(oversize_and_eof, setup, teardown),
        cmocka_unit_test_setup_teardown(partial_writes_keep_order, setup, teardown),
        cmocka_unit_test_setup_teardown(queue_bound_and_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(blocking_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(listen_and_connect, setup, teardown),
    };

    return cmocka_run_group_tests_name("transport", tests, NULL, NULL);
}
