/* SPDX-License-Identifier: MIT */
/*
 * Back-end restart under a live front-end (shim/replay.c), through the real
 * vdpa-shim binary with scripted peers: a legacy front-end brings a net
 * device up through the shim, the back-end goes, and the next back-end that
 * arrives is given the whole session again (owner, offers checked, protocol
 * features, channel, features, memory, each ring with its base read from the
 * used index in guest memory) while the front-end keeps its connection and
 * never sees a difference. Sessions that cannot be rebuilt (features the new
 * back-end lacks, packed rings) end with a clean disconnect; nothing leaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "scripted.h"

#define REQ      VU_VERSION
#define REQ_NEED (VU_VERSION | VU_FLAG_NEED_REPLY)
/* VERSION_1 (32), PROTOCOL_FEATURES (30), MAC (5), MRG_RXBUF (15). */
#define FEATURES    (VU_BIT(32) | VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(5) | VU_BIT(15))
#define RING_PACKED 34
#define PF          (VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_BACKEND_REQ))
#define MEM_SIZE    (1u << 20)
#define MEM_UVA     0x7f1200000000ull /* the front-end's address of guest memory */
#define RING_NUM    256u
#define RINGS       2u

struct rp_test {
    struct scripted s;
    int fds_idle;
    int memfd;
    uint8_t *mem;
    int kick[RINGS], call[RINGS];
    int chan[2]; /* the front-end's back-end channel: [0] kept, [1] sent */
    int be_chan; /* the back-end's end, as the back-end received it */
};

/* Where ring i lives in guest memory (offsets from the start). */
static uint64_t ring_off(uint32_t i, unsigned part)
{
    return (uint64_t)i * 0x4000 + part * 0x1000; /* 0 desc, 1 avail, 2 used */
}

static void set_used_idx(struct rp_test *t, uint32_t ring, uint16_t idx)
{
    uint8_t *used = t->mem + ring_off(ring, 2);
    used[2] = (uint8_t)idx;
    used[3] = (uint8_t)(idx >> 8);
}

static void recv_expect(int fd, const char *who, uint32_t req, struct vu_msg *m)
{
    int rc = vu_recv_blocking(fd, m, SCRIPT_TIMEOUT_MS);

    if (rc)
        fail_msg("%s: waiting for %s: %s", who, vu_request_name(VU_CHAN_FRONTEND, req),
                 strerror(-rc));
    if (m->hdr.request != req)
        fail_msg("%s: expected %s, got %s", who, vu_request_name(VU_CHAN_FRONTEND, req),
                 vu_request_name(VU_CHAN_FRONTEND, m->hdr.request));
}

/* The back-end side of one request: expect it, answer it when asked. */
static void be_take(struct rp_test *t, uint32_t req, struct vu_msg *m)
{
    recv_expect(t->s.be, "back-end", req, m);
    if (m->hdr.flags & VU_FLAG_NEED_REPLY)
        assert_int_equal(reply_u64(t->s.be, req, 0), 0);
}

/* A front-end request through the shim: the back-end gets it (and its fds,
 * closed here), acks it when asked, and the front-end gets the ack. */
static void through(struct rp_test *t, struct vu_msg *m)
{
    uint32_t req = m->hdr.request;
    bool need = m->hdr.flags & VU_FLAG_NEED_REPLY;
    struct vu_msg got;

    assert_int_equal(vu_send_blocking(t->s.fe, m), 0);
    be_take(t, req, &got);
    if (req == VU_REQ_SET_BACKEND_REQ_FD) {
        assert_int_equal(got.nfds, 1);
        t->be_chan = got.fds[0];
        got.fds[0] = -1;
        got.nfds = 0;
    }
    vu_msg_close_fds(&got);
    if (need) {
        recv_expect(t->s.fe, "front-end", req, &got);
        assert_int_equal(got.payload.u64, 0);
    }
}

static uint64_t roundtrip(struct rp_test *t, uint32_t req, uint64_t be_value)
{
    struct vu_msg m;

    assert_int_equal(send_empty(t->s.fe, req, REQ), 0);
    recv_expect(t->s.be, "back-end", req, &m);
    assert_int_equal(reply_u64(t->s.be, req, be_value), 0);
    recv_expect(t->s.fe, "front-end", req, &m);
    return m.payload.u64;
}

static void through_u64(struct rp_test *t, uint32_t req, uint64_t v, int fd)
{
    struct vu_msg m;

    vu_msg_init(&m, req, REQ_NEED);
    vu_msg_set_u64(&m, v);
    if (fd >= 0)
        vu_msg_add_fd(&m, fcntl(fd, F_DUPFD_CLOEXEC, 3));
    through(t, &m);
}

static void through_state(struct rp_test *t, uint32_t req, uint32_t index, uint32_t num)
{
    struct vu_msg m;

    vu_msg_init(&m, req, REQ_NEED);
    vu_msg_set_state(&m, index, num);
    through(t, &m);
}

/* The bring-up a VMM does (QEMU's order), with `features` acked. */
static void bring_up(struct rp_test *t, uint64_t features)
{
    struct vu_msg m;
    struct vu_mem_region region = {
        .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = MEM_UVA, .mmap_offset = 0
    };

    assert_int_equal(send_empty(t->s.fe, VU_REQ_SET_OWNER, REQ), 0); /* held by the shim */
    assert_int_equal(roundtrip(t, VU_REQ_GET_FEATURES, FEATURES | VU_BIT(RING_PACKED)),
                     FEATURES | VU_BIT(RING_PACKED));
    assert_true(roundtrip(t, VU_REQ_GET_PROTOCOL_FEATURES, PF) & PF);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, REQ, PF, -1), 0);
    recv_expect(t->s.be, "back-end", VU_REQ_SET_PROTOCOL_FEATURES, &m);
    recv_expect(t->s.be, "back-end", VU_REQ_SET_OWNER, &m);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t->chan), 0);
    vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, REQ_NEED);
    vu_msg_add_fd(&m, t->chan[1]);
    t->chan[1] = -1;
    through(t, &m);
    through_u64(t, VU_REQ_SET_FEATURES, features, -1);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, REQ_NEED);
    assert_int_equal(vu_msg_set_mem_table(&m, &region, 1), 0);
    vu_msg_add_fd(&m, fcntl(t->memfd, F_DUPFD_CLOEXEC, 3));
    through(t, &m);
    for (uint32_t i = 0; i < RINGS; i++) {
        struct vu_vring_addr a = { .index = i,
                                   .desc_user_addr = MEM_UVA + ring_off(i, 0),
                                   .avail_user_addr = MEM_UVA + ring_off(i, 1),
                                   .used_user_addr = MEM_UVA + ring_off(i, 2) };
        through_state(t, VU_REQ_SET_VRING_NUM, i, RING_NUM);
        through_state(t, VU_REQ_SET_VRING_BASE, i, 0);
        vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, REQ_NEED);
        vu_msg_set_addr(&m, &a);
        through(t, &m);
        through_u64(t, VU_REQ_SET_VRING_KICK, i, t->kick[i]);
        through_u64(t, VU_REQ_SET_VRING_CALL, i, t->call[i]);
        through_state(t, VU_REQ_SET_VRING_ENABLE, i, 1);
    }
}

/* The back-end goes; the shim reconnects to the same socket at once (the
 * scripted back-end still listens): returns with the new connection. */
static void restart_backend(struct rp_test *t)
{
    struct pollfd p = { .fd = t->s.be_listen, .events = POLLIN };

    close(t->s.be);
    if (t->be_chan >= 0)
        close(t->be_chan);
    t->be_chan = -1;
    if (poll(&p, 1, SCRIPT_TIMEOUT_MS) != 1)
        fail_msg("the shim did not reconnect to the back-end");
    t->s.be = vu_accept(t->s.be_listen);
    assert_true(t->s.be >= 0);
    assert_int_equal(vu_set_nonblocking(t->s.be, false), 0);
}

static bool same_file(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
           sa.st_dev == sb.st_dev;
}

/* The new back-end's side of the offers: what it answers. */
static void be_offer(struct rp_test *t, uint64_t features, uint64_t pf)
{
    struct vu_msg m;

    recv_expect(t->s.be, "new back-end", VU_REQ_SET_OWNER, &m);
    recv_expect(t->s.be, "new back-end", VU_REQ_GET_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, features), 0);
    recv_expect(t->s.be, "new back-end", VU_REQ_GET_PROTOCOL_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_PROTOCOL_FEATURES, pf), 0);
}

static void expect_fds_idle(struct rp_test *t)
{
    int n = -1;

    for (int i = 0; i < 100 && n != t->fds_idle; i++) {
        n = fdcount_of(t->s.shim);
        if (n != t->fds_idle)
            usleep(20000);
    }
    if (n != t->fds_idle) {
        scripted_dump(&t->s);
        fail_msg("fd leak in the shim: %d open, %d when idle", n, t->fds_idle);
    }
}

static bool log_has(struct rp_test *t, const char *needle)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "grep -qF '%s' %s", needle, t->s.log_path);
    return system(cmd) == 0;
}

static int setup(void **state)
{
    struct rp_test *t = calloc(1, sizeof(*t));

    if (!t)
        return -1;
    t->be_chan = -1;
    t->chan[0] = t->chan[1] = -1;
    if (scripted_start(&t->s, "net", NULL))
        return -1;
    t->fds_idle = fdcount_of(t->s.shim);
    t->memfd = memfd_create("guest", MFD_CLOEXEC);
    if (t->memfd < 0 || ftruncate(t->memfd, MEM_SIZE) < 0)
        return -1;
    t->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, t->memfd, 0);
    if (t->mem == MAP_FAILED)
        return -1;
    for (unsigned i = 0; i < RINGS; i++) {
        t->kick[i] = eventfd(0, EFD_CLOEXEC);
        t->call[i] = eventfd(0, EFD_CLOEXEC);
    }
    if (scripted_connect(&t->s))
        return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct rp_test *t = *state;
    int status = scripted_stop(&t->s);

    munmap(t->mem, MEM_SIZE);
    close(t->memfd);
    for (unsigned i = 0; i < RINGS; i++) {
        close(t->kick[i]);
        close(t->call[i]);
    }
    for (unsigned i = 0; i < 2; i++)
        if (t->chan[i] >= 0)
            close(t->chan[i]);
    if (t->be_chan >= 0)
        close(t->be_chan);
    free(t);
    return status == 0 ? 0 : -1;
}

/* GET_VRING_BASE from the front-end through the shim: the back-end (who)
 * answers base, and the front-end gets that answer. */
static void stop_ring_through(struct rp_test *t, const char *who, uint32_t ring, uint32_t base)
{
    struct vu_msg m;

    assert_int_equal(send_state_req(t->s.fe, VU_REQ_GET_VRING_BASE, REQ, ring, 0), 0);
    recv_expect(t->s.be, who, VU_REQ_GET_VRING_BASE, &m);
    vu_msg_init(&m, VU_REQ_GET_VRING_BASE, VU_FLAG_REPLY);
    vu_msg_set_state(&m, ring, base);
    assert_int_equal(vu_send_blocking(t->s.be, &m), 0);
    recv_expect(t->s.fe, "front-end", VU_REQ_GET_VRING_BASE, &m);
    assert_int_equal(m.payload.state.num, base);
}

/* The whole session moves to a new back-end; the front-end notices nothing. */
static void session_replayed_to_new_backend(void **state)
{
    struct rp_test *t = *state;
    struct vu_msg m;

    bring_up(t, FEATURES);
    /* ring 1 is stopped before the back-end goes: it stays stopped */
    stop_ring_through(t, "back-end", 1, 5);
    set_used_idx(t, 0, 0x1234); /* where the old back-end got to on ring 0 */

    restart_backend(t);
    be_offer(t, FEATURES, PF);
    recv_expect(t->s.be, "new back-end", VU_REQ_SET_PROTOCOL_FEATURES, &m);
    assert_int_equal(m.payload.u64, PF);
    assert_false(m.hdr.flags & VU_FLAG_NEED_REPLY);
    be_take(t, VU_REQ_SET_BACKEND_REQ_FD, &m);
    assert_int_equal(m.nfds, 1);
    t->be_chan = m.fds[0];
    be_take(t, VU_REQ_SET_FEATURES, &m);
    assert_int_equal(m.payload.u64, FEATURES);
    assert_true(m.hdr.flags & VU_FLAG_NEED_REPLY);
    be_take(t, VU_REQ_SET_MEM_TABLE, &m);
    assert_int_equal(m.nfds, 1);
    assert_true(same_file(m.fds[0], t->memfd));
    assert_int_equal(m.payload.mem.regions[0].userspace_addr, MEM_UVA);
    vu_msg_close_fds(&m);
    be_take(t, VU_REQ_SET_VRING_CALL, &m);
    assert_true(same_file(m.fds[0], t->call[0]));
    vu_msg_close_fds(&m);
    be_take(t, VU_REQ_SET_VRING_NUM, &m);
    assert_int_equal(m.payload.state.num, RING_NUM);
    be_take(t, VU_REQ_SET_VRING_BASE, &m);
    assert_int_equal(m.payload.state.index, 0);
    assert_int_equal(m.payload.state.num, 0x1234);
    be_take(t, VU_REQ_SET_VRING_ADDR, &m);
    assert_int_equal(m.payload.addr.used_user_addr, MEM_UVA + ring_off(0, 2));
    be_take(t, VU_REQ_SET_VRING_KICK, &m);
    assert_true(same_file(m.fds[0], t->kick[0]));
    vu_msg_close_fds(&m);
    be_take(t, VU_REQ_SET_VRING_ENABLE, &m);
    assert_int_equal(m.payload.state.num, 1);

    /* the front-end is read again, and its requests reach the new back-end */
    stop_ring_through(t, "new back-end", 0, 0x1240);
    /* the new back-end's channel reaches the front-end's original one */
    vu_msg_init(&m, VU_BREQ_IOTLB_MSG, REQ);
    m.hdr.size = sizeof(struct vu_iotlb);
    assert_int_equal(vu_send_blocking(t->be_chan, &m), 0);
    assert_int_equal(vu_recv_blocking(t->chan[0], &m, SCRIPT_TIMEOUT_MS), 0);
    assert_int_equal(m.hdr.request, VU_BREQ_IOTLB_MSG);
    assert_true(log_has(t, "session restored on the new back-end"));

    close(t->s.fe);
    t->s.fe = -1;
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
    expect_fds_idle(t);
}

/* A back-end that dies again during the replay, with the shim's requests
 * unread (the shim sees ECONNRESET, not an orderly close): the shim waits
 * for the next one and replays to it. Seen with DPDK net_vhost restarting. */
static void backend_gone_again_during_replay(void **state)
{
    struct rp_test *t = *state;
    struct pollfd p;
    struct vu_msg m;

    bring_up(t, FEATURES);
    restart_backend(t);
    p = (struct pollfd){ .fd = t->s.be, .events = POLLIN };
    assert_int_equal(poll(&p, 1, SCRIPT_TIMEOUT_MS), 1);
    close(t->s.be); /* SET_OWNER and GET_FEATURES unread */
    t->s.be = -1;
    restart_backend(t);
    be_offer(t, FEATURES, PF);
    for (;;) {
        assert_int_equal(vu_recv_blocking(t->s.be, &m, SCRIPT_TIMEOUT_MS), 0);
        if (m.hdr.flags & VU_FLAG_NEED_REPLY)
            assert_int_equal(reply_u64(t->s.be, m.hdr.request, 0), 0);
        if (m.hdr.request == VU_REQ_SET_BACKEND_REQ_FD && m.nfds == 1) {
            t->be_chan = m.fds[0];
            m.fds[0] = -1;
        }
        vu_msg_close_fds(&m);
        if (m.hdr.request == VU_REQ_SET_VRING_ENABLE && m.payload.state.index == RINGS - 1)
            break;
    }
    /* the front-end is read again, and its requests reach the third back-end */
    stop_ring_through(t, "third back-end", 0, 7);
    assert_true(log_has(t, "session restored on the new back-end"));

    close(t->s.fe);
    t->s.fe = -1;
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
    expect_fds_idle(t);
}

/* A new back-end that lacks a negotiated feature cannot take over: the
 * front-end is disconnected (it reconnects and negotiates again). */
static void new_backend_lacking_features(void **state)
{
    struct rp_test *t = *state;

    struct vu_msg m;

    bring_up(t, FEATURES);
    restart_backend(t);
    recv_expect(t->s.be, "new back-end", VU_REQ_SET_OWNER, &m);
    recv_expect(t->s.be, "new back-end", VU_REQ_GET_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, FEATURES & ~VU_BIT(15)), 0);
    /* The shim may give up on this back-end as soon as it reads the features,
     * before the protocol features are answered: that answer may find the
     * connection gone. */
    recv_expect(t->s.be, "new back-end", VU_REQ_GET_PROTOCOL_FEATURES, &m);
    (void)reply_u64(t->s.be, VU_REQ_GET_PROTOCOL_FEATURES, PF);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(log_has(t, "without 0x8000 the front-end negotiated"));
    expect_fds_idle(t);
}

/* Packed rings keep their position in the device, not in guest memory. */
static void packed_rings_not_replayed(void **state)
{
    struct rp_test *t = *state;

    bring_up(t, FEATURES | VU_BIT(RING_PACKED));
    close(t->s.be);
    t->s.be = -1;
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(log_has(t, "packed rings"));
    expect_fds_idle(t);
}

/* The new back-end refuses a replayed request: a clean disconnect, no leak. */
static void new_backend_refuses_a_step(void **state)
{
    struct rp_test *t = *state;
    struct vu_msg m;

    bring_up(t, FEATURES);
    restart_backend(t);
    be_offer(t, FEATURES, PF);
    recv_expect(t->s.be, "new back-end", VU_REQ_SET_PROTOCOL_FEATURES, &m);
    be_take(t, VU_REQ_SET_BACKEND_REQ_FD, &m);
    vu_msg_close_fds(&m);
    recv_expect(t->s.be, "new back-end", VU_REQ_SET_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_SET_FEATURES, EINVAL), 0);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(log_has(t, "refused the replayed SET_FEATURES"));
    expect_fds_idle(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(session_replayed_to_new_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(backend_gone_again_during_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(new_backend_lacking_features, setup, teardown),
        cmocka_unit_test_setup_teardown(packed_rings_not_replayed, setup, teardown),
        cmocka_unit_test_setup_teardown(new_backend_refuses_a_step, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
