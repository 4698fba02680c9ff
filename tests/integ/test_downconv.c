/* SPDX-License-Identifier: MIT */
/*
 * Down-conversion with scripted peers around the real vdpa-shim binary: a
 * vdpa-user front-end (acks F_VDPA) on one side, a scripted legacy vhost-user
 * back-end (no F_VDPA, no status register) on the other. Each test checks
 * what the legacy back-end receives, in order, and what the front-end sees of
 * the VIRTIO device model the shim presents.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "scripted.h"
#include "testutil.h"
#include "virtio/virtqueue.h"

#define NEED             VU_FLAG_NEED_REPLY
#define F_V1             (UINT64_C(1) << 32)
#define F_PF             (UINT64_C(1) << 30)
#define F_GUEST_ANNOUNCE (UINT64_C(1) << 21)
#define F_CTRL_VQ        (UINT64_C(1) << 17)
#define F_MQ             (UINT64_C(1) << 22)
#define F_MAC            (UINT64_C(1) << 5)
#define F_STATUS         (UINT64_C(1) << 16)
#define F_CTRL_MAC_ADDR  (UINT64_C(1) << 23)
#define F_MRG_RXBUF      (UINT64_C(1) << 15)
/* What a DPDK-like legacy net back-end offers: no MAC, no STATUS of its own. */
#define BE_NET_FEATURES (F_V1 | F_PF | F_MRG_RXBUF | F_GUEST_ANNOUNCE | F_MQ)
#define BE_PF           (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_NET_MTU))
/* What a vdpa-user front-end acks: CONFIG is implied by F_VDPA (spec 2.2). */
#define FE_PF                                                                                      \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS))
#define ST_DRIVER      (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define ST_FEATURES_OK (ST_DRIVER | VIRTIO_STATUS_FEATURES_OK)
#define ST_DRIVER_OK   (ST_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)
#define GUEST_UVA      0x7f0000000000ull
#define GUEST_SIZE     (1u << 20)

struct down_test {
    struct scripted s;
    uint64_t be_features, be_pf;
    uint64_t fe_extra; /* acked beyond FE_PF: CONFIG, as a revision-1 front-end does */
    uint64_t be_pairs; /* GET_QUEUE_NUM */
    bool net;
    uint64_t features; /* what the front-end selected at FEATURES_OK */
    int config_call;   /* the front-end's config-call eventfd */
    int kick[8], call[8];
    int memfd;
    uint8_t *guest; /* the memfd, mapped here as the "guest" */
    int fds_idle;
};

/* ---- the scripted legacy back-end ------------------------------------------ */

static void be_recv(struct down_test *t, uint32_t req, struct vu_msg *m)
{
    assert_int_equal(expect_msg(t->s.be, req, m), 0);
}

/* A request the shim sends with NEED_REPLY: answered with `ack`. */
static void be_ack_value(struct down_test *t, uint32_t req, struct vu_msg *m, uint64_t ack)
{
    be_recv(t, req, m);
    assert_true(m->hdr.flags & NEED);
    assert_int_equal(reply_u64(t->s.be, req, ack), 0);
}

static void be_ack(struct down_test *t, uint32_t req, struct vu_msg *m)
{
    be_ack_value(t, req, m, 0);
}

/* The GET_FEATURES that ends each of the shim's sequences. */
static void be_barrier(struct down_test *t)
{
    struct vu_msg m;

    be_recv(t, VU_REQ_GET_FEATURES, &m);
    assert_false(m.hdr.flags & NEED); /* a payload reply is not asked for */
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, t->be_features), 0);
}

/* ---- the scripted vdpa-user front-end ------------------------------------------ */

static uint64_t fe_get_u64(struct down_test *t, uint32_t req)
{
    struct vu_msg m;

    assert_int_equal(send_empty(t->s.fe, req, 0), 0);
    assert_int_equal(expect_msg(t->s.fe, req, &m), 0);
    assert_int_equal(m.hdr.size, 8);
    return m.payload.u64;
}

static void fe_expect_ack(struct down_test *t, uint32_t req, uint64_t want)
{
    struct vu_msg m;

    assert_int_equal(expect_msg(t->s.fe, req, &m), 0);
    assert_int_equal(m.hdr.flags, VU_VERSION | VU_FLAG_REPLY);
    assert_int_equal(m.nfds, 0);
    if (want == UINT64_MAX)
        assert_int_not_equal(m.payload.u64, 0);
    else
        assert_int_equal(m.payload.u64, want);
}

/* A u64 request answered by the shim alone (the back-end hears nothing). */
static void fe_u64_local(struct down_test *t, uint32_t req, uint64_t v, uint64_t want)
{
    assert_int_equal(send_u64_req(t->s.fe, req, NEED, v, -1), 0);
    fe_expect_ack(t, req, want);
}

static void fe_status(struct down_test *t, uint8_t status, uint64_t want)
{
    fe_u64_local(t, VU_REQ_SET_STATUS, status, want);
}

static void fe_state(struct down_test *t, uint32_t req, uint32_t i, uint32_t num, uint64_t want)
{
    assert_int_equal(send_state_req(t->s.fe, req, NEED, i, num), 0);
    fe_expect_ack(t, req, want);
}

static void fe_get_config(struct down_test *t, uint32_t offset, uint32_t size, uint8_t *out)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, offset, size, 0, NULL);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_CONFIG, &m), 0);
    if (!out) {
        assert_int_equal(m.hdr.size, 0); /* refused */
        return;
    }
    assert_int_equal(m.payload.config.size, size);
    memcpy(out, m.payload.config.data, size);
}

/* ---- set-up ------------------------------------------------------------------------- */

/* From connect to an acked F_VDPA: the shim's legacy set-up of the back-end. */
static void negotiate(struct down_test *t, const char *type)
{
    struct vu_msg m;

    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_FEATURES, 0), 0);
    be_recv(t, VU_REQ_GET_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, t->be_features), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(m.payload.u64, t->be_features); /* the legacy view, unchanged */

    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, 0), 0);
    be_recv(t, VU_REQ_GET_PROTOCOL_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_PROTOCOL_FEATURES, t->be_pf), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, &m), 0);
    assert_int_equal(m.payload.u64 & FE_PF, FE_PF); /* F_VDPA with its companions */
    /* CONFIG only where the back-end has it: F_VDPA implies it, and a legacy
     * QEMU reading this offer warns about CONFIG for net and fs */
    assert_int_equal(m.payload.u64 & VU_BIT(VU_PF_CONFIG), t->be_pf & VU_BIT(VU_PF_CONFIG));

    assert_int_equal(
        send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, NEED, FE_PF | t->fe_extra, -1), 0);
    /* The back-end hears legacy bits only, and no NEED_REPLY on this one. */
    be_recv(t, VU_REQ_SET_PROTOCOL_FEATURES, &m);
    assert_false(m.hdr.flags & NEED);
    assert_int_equal(m.payload.u64, t->be_pf);
    if (t->be_pf & VU_BIT(VU_PF_BACKEND_REQ)) {
        be_ack(t, VU_REQ_SET_BACKEND_REQ_FD, &m);
        assert_int_equal(m.nfds, 1);
        vu_msg_close_fds(&m);
    }
    be_recv(t, VU_REQ_GET_QUEUE_NUM, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_QUEUE_NUM, t->be_pairs), 0);
    if (strcmp(type, "blk") == 0 && (t->be_pf & VU_BIT(VU_PF_CONFIG))) {
        /* QEMU 7.2's daemon knows a 60-byte virtio-blk config: 72 is
         * refused (empty reply), the shim asks again for 60. */
        be_recv(t, VU_REQ_GET_CONFIG, &m);
        assert_int_equal(m.payload.config.size, 72);
        vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
        assert_int_equal(vu_send_blocking(t->s.be, &m), 0);
        be_recv(t, VU_REQ_GET_CONFIG, &m);
        assert_int_equal(m.payload.config.size, 60);
        uint8_t config[60] = { 0x00, 0x80 }; /* capacity 0x8000 sectors */
        config[34] = 1;                      /* num_queues */
        vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
        vu_msg_set_config(&m, 0, 60, 0, config);
        assert_int_equal(vu_send_blocking(t->s.be, &m), 0);
    }
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_PROTOCOL_FEATURES, 0);

    /* vdpa-user's SET_OWNER reaches the legacy back-end as it is. */
    assert_int_equal(send_empty(t->s.fe, VU_REQ_SET_OWNER, NEED), 0);
    be_ack(t, VU_REQ_SET_OWNER, &m);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_OWNER, 0);
}

static struct down_test *start(void **state, const char *type, const char *keys)
{
    static struct down_test storage;
    struct down_test *t = &storage;

    memset(t, 0, sizeof(*t));
    t->config_call = t->memfd = -1;
    for (int i = 0; i < 8; i++)
        t->kick[i] = t->call[i] = -1;
    t->be_features = BE_NET_FEATURES;
    t->be_pf = BE_PF;
    t->be_pairs = 2;
    t->net = strcmp(type, "net") == 0;
    assert_int_equal(scripted_start(&t->s, type, keys), 0);
    t->fds_idle = fdcount_of(t->s.shim);
    assert_int_equal(scripted_connect(&t->s), 0);
    *state = t;
    return t;
}

static int down_teardown(void **state)
{
    struct down_test *t = *state;

    if (!t)
        return 0;
    if (t->config_call >= 0)
        close(t->config_call);
    for (int i = 0; i < 8; i++) {
        if (t->kick[i] >= 0)
            close(t->kick[i]);
        if (t->call[i] >= 0)
            close(t->call[i]);
    }
    if (t->guest)
        munmap(t->guest, GUEST_SIZE);
    if (t->memfd >= 0)
        close(t->memfd);
    assert_int_equal(scripted_stop(&t->s), 0);
    return 0;
}

static void install_config_call(struct down_test *t)
{
    t->config_call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(t->config_call >= 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_VDPA_SET_CONFIG_CALL, NEED, 0, t->config_call),
                     0);
    fe_expect_ack(t, VU_REQ_VDPA_SET_CONFIG_CALL, 0);
}

static bool config_call_fired(struct down_test *t)
{
    struct pollfd p = { .fd = t->config_call, .events = POLLIN };
    uint64_t v;

    if (poll(&p, 1, SCRIPT_TIMEOUT_MS) != 1)
        return false;
    return read(t->config_call, &v, sizeof(v)) == sizeof(v);
}

static void set_mem_table(struct down_test *t)
{
    struct vu_mem_region region = { 0x0, GUEST_SIZE, GUEST_UVA, 0 };
    struct vu_msg m;

    t->memfd = memfd_create("guest", MFD_CLOEXEC);
    assert_true(t->memfd >= 0);
    assert_int_equal(ftruncate(t->memfd, GUEST_SIZE), 0);
    t->guest = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, t->memfd, 0);
    assert_true(t->guest != MAP_FAILED);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, NEED);
    vu_msg_set_mem_table(&m, &region, 1);
    vu_msg_add_fd(&m, fcntl(t->memfd, F_DUPFD_CLOEXEC, 3));
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    be_ack(t, VU_REQ_SET_MEM_TABLE, &m);
    assert_int_equal(m.nfds, 1); /* the guest's memory goes peer to peer */
    vu_msg_close_fds(&m);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_MEM_TABLE, 0);
}

/* The rings the shim knows the back-end serves: the data rings, which for
 * net are one pair until MQ is selected. */
static uint32_t backend_rings_known(const struct down_test *t)
{
    if (!t->net)
        return (uint32_t)t->be_pairs;
    return (t->features & F_MQ) ? 2 * (uint32_t)t->be_pairs : 2;
}

/* Ring layout as a vdpa-user driver writes it (NUM, ADDR, KICK, CALL,
 * ENABLE): kept by the shim until the device starts, but for the call
 * eventfd of the back-end's rings. */
static void layout_ring_at(struct down_test *t, uint32_t i, uint32_t num,
                           const struct vu_vring_addr *addr)
{
    struct vu_msg m;

    fe_state(t, VU_REQ_SET_VRING_NUM, i, num, 0);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, NEED);
    vu_msg_set_addr(&m, addr);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    fe_expect_ack(t, VU_REQ_SET_VRING_ADDR, 0);
    t->kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_KICK, NEED, i, t->kick[i]), 0);
    fe_expect_ack(t, VU_REQ_SET_VRING_KICK, 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_CALL, NEED, i, t->call[i]), 0);
    if (i < backend_rings_known(t)) {
        /* where the back-end signals, it learns at once (QEMU's order) */
        be_ack(t, VU_REQ_SET_VRING_CALL, &m);
        assert_int_equal(m.payload.u64, i);
        assert_int_equal(m.nfds, 1);
        vu_msg_close_fds(&m);
        be_barrier(t);
    }
    fe_expect_ack(t, VU_REQ_SET_VRING_CALL, 0);
    fe_state(t, VU_REQ_SET_VRING_ENABLE, i, 1, 0);
}

/* The same with the ring parts at uva GUEST_UVA + 0x10000 * (i + 1). */
static void layout_ring(struct down_test *t, uint32_t i, uint32_t num)
{
    uint64_t base = GUEST_UVA + 0x10000ull * (i + 1);
    struct vu_vring_addr addr = { .index = i,
                                  .desc_user_addr = base,
                                  .avail_user_addr = base + 16 * num,
                                  .used_user_addr = base + 0x8000 };

    layout_ring_at(t, i, num, &addr);
}

/* What the legacy back-end receives when the shim starts ring i. */
static void be_expect_ring_start(struct down_test *t, uint32_t i, uint32_t base)
{
    struct vu_msg m;

    be_ack(t, VU_REQ_SET_VRING_NUM, &m);
    assert_int_equal(m.payload.state.index, i);
    be_ack(t, VU_REQ_SET_VRING_BASE, &m);
    assert_int_equal(m.payload.state.num, base);
    be_ack(t, VU_REQ_SET_VRING_ADDR, &m);
    assert_int_equal(m.payload.addr.desc_user_addr, GUEST_UVA + 0x10000ull * (i + 1));
    be_ack(t, VU_REQ_SET_VRING_CALL, &m);
    assert_int_equal(m.nfds, 1);
    /* the front-end's own eventfd: the back-end signals it directly */
    uint64_t one = 1, got = 0;
    assert_int_equal(write(m.fds[0], &one, 8), 8);
    assert_int_equal(read(t->call[i], &got, 8), 8);
    vu_msg_close_fds(&m);
    be_ack(t, VU_REQ_SET_VRING_ENABLE, &m);
    assert_int_equal(m.payload.state.index, i);
    assert_int_equal(m.payload.state.num, 1);
    /* the kick fd last: the ring is enabled before the back-end watches it */
    be_ack(t, VU_REQ_SET_VRING_KICK, &m);
    assert_int_equal(m.payload.u64, i);
    assert_int_equal(m.nfds, 1);
    vu_msg_close_fds(&m);
}

/* The eventfd's count: 0 when it was 0 (EAGAIN), which clears it. */
static uint64_t kicks_in(int fd)
{
    uint64_t n = 0;

    if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n)) {
        assert_int_equal(errno, EAGAIN);
        return 0;
    }
    return n;
}

/* The legacy stop of ring i, answered with `base`. */
static void be_expect_ring_stop(struct down_test *t, uint32_t i, uint32_t base)
{
    struct vu_msg m;

    be_recv(t, VU_REQ_GET_VRING_BASE, &m);
    assert_int_equal(m.payload.state.index, i);
    vu_msg_init(&m, VU_REQ_GET_VRING_BASE, VU_FLAG_REPLY);
    vu_msg_set_state(&m, i, base);
    assert_int_equal(vu_send_blocking(t->s.be, &m), 0);
}

/* ACKNOWLEDGE|DRIVER, the features, FEATURES_OK as the back-end accepts it. */
static void select_features(struct down_test *t, uint64_t features, uint64_t want_backend)
{
    struct vu_msg m;

    fe_status(t, ST_DRIVER, 0);
    fe_u64_local(t, VU_REQ_SET_FEATURES, features, 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_FEATURES_OK, -1), 0);
    be_ack(t, VU_REQ_SET_FEATURES, &m);
    assert_int_equal(m.payload.u64, want_backend);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), ST_FEATURES_OK);
    t->features = features;
}

/* ---- tests ---------------------------------------------------------------------------- */

/* The whole life of a net device over a legacy back-end. */
static void down_net_lifecycle(void **state)
{
    struct down_test *t = start(state, "net", "mac=02:00:00:aa:bb:cc,mtu=1400,speed=1000");
    uint8_t config[24];
    uint64_t offered;
    struct vu_msg m;

    negotiate(t, "net");
    /* The device model: net, 2 pairs + control queue, config synthesized. */
    assert_int_equal(fe_get_u64(t, VU_REQ_VDPA_GET_DEVICE_ID), 1);
    assert_int_equal(fe_get_u64(t, VU_REQ_VDPA_GET_VQS_COUNT), 5);
    assert_int_equal(fe_get_u64(t, VU_REQ_VDPA_GET_CONFIG_SIZE), 24);
    assert_int_equal(fe_get_u64(t, VU_REQ_VDPA_GET_VRING_NUM), 1024);
    offered = fe_get_u64(t, VU_REQ_GET_FEATURES);
    /* the VMM's part of virtio-net is offered; what the shim cannot carry is not */
    assert_true(offered & F_MAC && offered & F_STATUS && offered & F_CTRL_VQ && offered & F_MQ);
    assert_true(offered & (UINT64_C(1) << 3) /* MTU */ && offered & (UINT64_C(1) << 63));
    assert_false(offered & F_GUEST_ANNOUNCE);
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), 0);

    fe_get_config(t, 0, 24, NULL);  /* status 0: refused */
    fe_status(t, 0x0F, UINT64_MAX); /* DRIVER_OK from 0: not a transition */
    fe_status(t, ST_DRIVER, 0);
    fe_get_config(t, 0, 24, config);
    assert_memory_equal(config, "\x02\x00\x00\xaa\xbb\xcc", 6);
    assert_int_equal(config[6], 1); /* LINK_UP */
    assert_int_equal(config[8], 2); /* max_virtqueue_pairs */
    assert_int_equal(config[10] | config[11] << 8, 1400);
    assert_int_equal(config[12] | config[13] << 8, 1000); /* speed */
    assert_int_equal(config[16], 1);                      /* full duplex */
    /* not offered -> refused; bit 30 is ignored */
    fe_u64_local(t, VU_REQ_SET_FEATURES, F_V1 | F_GUEST_ANNOUNCE, UINT64_MAX);
    /* ring layout before FEATURES_OK is refused */
    fe_state(t, VU_REQ_SET_VRING_NUM, 0, 256, UINT64_MAX);

    /* FEATURES_OK: the back-end hears its own bits, never the shim's. */
    fe_u64_local(t, VU_REQ_SET_FEATURES, F_V1 | F_PF | F_MRG_RXBUF | F_MAC | F_STATUS, 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_FEATURES_OK, -1), 0);
    be_ack(t, VU_REQ_SET_FEATURES, &m);
    assert_int_equal(m.payload.u64, F_V1 | F_PF | F_MRG_RXBUF);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), ST_FEATURES_OK);

    /* Ring layout goes nowhere until DRIVER_OK. */
    set_mem_table(t);
    layout_ring(t, 0, 256);
    layout_ring(t, 1, 256);
    fe_state(t, VU_REQ_SET_VRING_BASE, 1, 7, 0);
    /* a split ring's index is 16 bits: refused as the reference back-end
     * and Linux vhost do, and ring 1 still starts from 7 below */
    fe_state(t, VU_REQ_SET_VRING_BASE, 1, 0x10000, EINVAL);
    fe_state(t, VU_REQ_SET_VRING_NUM, 2, 300, UINT64_MAX); /* not a power of two */
    assert_true(quiet_for(t->s.be, 100));

    /* The driver notified both rings before the back-end had them: the
     * shim takes the counts out, and once the back-end acknowledged the
     * start signals the request ring (tx) again, not the receive ring. */
    vq_driver_kick(t->kick[0]);
    vq_driver_kick(t->kick[1]);
    vq_driver_kick(t->kick[1]);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_DRIVER_OK, -1), 0);
    be_expect_ring_start(t, 0, 0);
    be_expect_ring_start(t, 1, 7);
    assert_int_equal(kicks_in(t->kick[0]), 0); /* drained before the start */
    assert_int_equal(kicks_in(t->kick[1]), 0);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
    assert_int_equal(kicks_in(t->kick[0]), 0); /* rx: announced buffers only */
    assert_int_equal(kicks_in(t->kick[1]), 1); /* tx: the driver's notification, once */
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), ST_DRIVER_OK);
    fe_state(t, VU_REQ_SET_VRING_NUM, 0, 128, UINT64_MAX); /* running: layout fixed */

    /* SUSPEND is the legacy stop; the indices are exact afterwards. */
    assert_int_equal(send_empty(t->s.fe, VU_REQ_VDPA_SUSPEND, 0), 0);
    be_expect_ring_stop(t, 0, 40);
    be_expect_ring_stop(t, 1, 47);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_VDPA_SUSPEND, 0);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_GET_VRING_BASE, 0, 1, 0), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_VRING_BASE, &m), 0);
    assert_int_equal(m.payload.state.num, 47);
    /* while suspended the layout may change; RESUME starts from it */
    fe_state(t, VU_REQ_SET_VRING_BASE, 0, 41, 0);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_VDPA_RESUME, 0), 0);
    be_expect_ring_start(t, 0, 41);
    be_expect_ring_start(t, 1, 47);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_VDPA_RESUME, 0);

    /* Reset: every ring stopped the legacy way; the status reads 0. */
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, 0, -1), 0);
    be_expect_ring_stop(t, 0, 50);
    be_expect_ring_stop(t, 1, 60);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), 0);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_GET_VRING_BASE, 0, 1, 0), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_VRING_BASE, &m), 0);
    assert_int_equal(m.payload.state.num, 0);
    /* Suspend/resume are not valid outside DRIVER_OK and always answer. */
    assert_int_equal(send_empty(t->s.fe, VU_REQ_VDPA_SUSPEND, 0), 0);
    fe_expect_ack(t, VU_REQ_VDPA_SUSPEND, UINT64_MAX);
    assert_true(quiet_for(t->s.be, 100));

    /* The front-end leaves: the session ends, nothing stays open. */
    close(t->s.fe);
    t->s.fe = -1;
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
    for (int i = 0; i < 50 && fdcount_of(t->s.shim) != t->fds_idle; i++)
        usleep(20000);
    assert_int_equal(fdcount_of(t->s.shim), t->fds_idle);
}

/* Legacy requests are forbidden under vdpa-user, and the validator says so
 * before the device model sees them. */
static void down_forbidden_and_state_rules(void **state)
{
    struct down_test *t = start(state, "net", NULL);
    uint8_t config[24];

    negotiate(t, "net");
    /* without mtu= (and a back-end without F_MTU) there is no mtu to provision */
    uint16_t mtu = 1500;
    struct vu_msg m;
    fe_status(t, ST_DRIVER, 0);
    vu_msg_init(&m, VU_REQ_SET_CONFIG, NEED);
    vu_msg_set_config(&m, 10, 2, VU_CONFIG_F_MIGRATION, &mtu);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    fe_expect_ack(t, VU_REQ_SET_CONFIG, UINT64_MAX);
    fe_get_config(t, 10, 2, config);
    assert_int_equal(config[0] | config[1], 0);
    fe_u64_local(t, VU_REQ_NET_SET_MTU, 1500, UINT64_MAX);
    fe_u64_local(t, VU_REQ_RESET_DEVICE, 0, UINT64_MAX);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_QUEUE_NUM, 0), 0);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS)); /* no ack asked: disconnect */
    close(t->s.fe);
    t->s.fe = -1;
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
}

/* Provisioning (SET_CONFIG flags=1) before FEATURES_OK; without mac= the
 * MAC is a stable locally administered one; mtu= makes the shim offer MTU. */
static void down_provisioning(void **state)
{
    struct down_test *t = start(state, "net", "mtu=1500");
    uint8_t config[24], mac[6] = { 0x06, 1, 2, 3, 4, 5 };
    uint16_t mtu = 9000;
    struct vu_msg m;

    /* a revision-1 front-end acks CONFIG with F_VDPA, though not shown */
    t->fe_extra = VU_BIT(VU_PF_CONFIG);
    negotiate(t, "net");
    fe_status(t, ST_DRIVER, 0);
    fe_get_config(t, 0, 6, config);
    assert_int_equal(config[0], 0x52);
    assert_int_equal(config[1], 0x54);
    vu_msg_init(&m, VU_REQ_SET_CONFIG, NEED);
    vu_msg_set_config(&m, 0, 6, VU_CONFIG_F_MIGRATION, mac);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    fe_expect_ack(t, VU_REQ_SET_CONFIG, 0);
    vu_msg_init(&m, VU_REQ_SET_CONFIG, NEED);
    vu_msg_set_config(&m, 10, 2, VU_CONFIG_F_MIGRATION, &mtu);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    fe_expect_ack(t, VU_REQ_SET_CONFIG, 0);
    /* status is not provisionable; a driver write to net config is refused */
    vu_msg_init(&m, VU_REQ_SET_CONFIG, NEED);
    vu_msg_set_config(&m, 6, 2, VU_CONFIG_F_MIGRATION, &mtu);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    fe_expect_ack(t, VU_REQ_SET_CONFIG, UINT64_MAX);
    fe_get_config(t, 0, 24, config);
    assert_memory_equal(config, mac, 6);
    assert_int_equal(config[10] | config[11] << 8, 9000);
    assert_true(quiet_for(t->s.be, 100)); /* all of it in the shim */

    /* The MTU reaches the back-end with NET_SET_MTU at FEATURES_OK. */
    fe_u64_local(t, VU_REQ_SET_FEATURES, F_V1 | (UINT64_C(1) << 3), 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_FEATURES_OK, -1), 0);
    be_ack(t, VU_REQ_SET_FEATURES, &m);
    assert_int_equal(m.payload.u64, F_V1 | F_PF); /* MTU: the back-end did not offer it */
    be_ack(t, VU_REQ_NET_SET_MTU, &m);
    assert_int_equal(m.payload.u64, 9000);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
    /* after FEATURES_OK provisioning is over */
    vu_msg_init(&m, VU_REQ_SET_CONFIG, NEED);
    vu_msg_set_config(&m, 0, 6, VU_CONFIG_F_MIGRATION, mac);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    fe_expect_ack(t, VU_REQ_SET_CONFIG, UINT64_MAX);
}

/* The back-end refuses the features: FEATURES_OK stays clear (spec 5.2),
 * the front-end may select again. */
static void down_features_refused(void **state)
{
    struct down_test *t = start(state, "net", NULL);
    struct vu_msg m;

    negotiate(t, "net");
    fe_status(t, ST_DRIVER, 0);
    fe_u64_local(t, VU_REQ_SET_FEATURES, F_V1 | F_MRG_RXBUF, 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_FEATURES_OK, -1), 0);
    be_ack_value(t, VU_REQ_SET_FEATURES, &m, 1);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), ST_DRIVER);
    /* a VIRTIO dependency broken: MQ without CTRL_VQ never reaches the back-end */
    fe_u64_local(t, VU_REQ_SET_FEATURES, F_V1 | F_MQ, 0);
    fe_status(t, ST_FEATURES_OK, 0);
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), ST_DRIVER);
    assert_true(quiet_for(t->s.be, 100));
    select_features(t, F_V1, F_V1 | F_PF);
}

/* A call eventfd goes to the back-end at once for its own rings only; a
 * refusal there is the front-end's failed ack, not a false success. */
static void down_early_call(void **state)
{
    struct down_test *t = start(state, "net", NULL);
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct vu_msg m;

    negotiate(t, "net");
    select_features(t, F_V1, F_V1 | F_PF);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_CALL, NEED, 1, efd), 0);
    be_ack_value(t, VU_REQ_SET_VRING_CALL, &m, 22); /* refused */
    assert_int_equal(m.payload.u64, 1);
    assert_int_equal(m.nfds, 1);
    vu_msg_close_fds(&m);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_VRING_CALL, UINT64_MAX);
    /* ring 2 is the control queue (no MQ): the shim's own, kept */
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_CALL, NEED, 2, efd), 0);
    fe_expect_ack(t, VU_REQ_SET_VRING_CALL, 0);
    /* accepted, after the refusal: the next request's answer is its own */
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_CALL, NEED, 0, efd), 0);
    be_ack(t, VU_REQ_SET_VRING_CALL, &m);
    assert_int_equal(m.payload.u64, 0);
    vu_msg_close_fds(&m);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_VRING_CALL, 0);
    set_mem_table(t); /* the back-end's next message: nothing for ring 2 came first */
    close(efd);
}

/* A ring the back-end refuses at DRIVER_OK: DEVICE_NEEDS_RESET and the
 * config-call eventfd (spec 5.2, 5.5); only a reset leads on. */
static void down_start_refused_needs_reset(void **state)
{
    struct down_test *t = start(state, "net", NULL);
    struct vu_msg m;

    negotiate(t, "net");
    install_config_call(t);
    select_features(t, F_V1, F_V1 | F_PF);
    set_mem_table(t);
    layout_ring(t, 0, 256);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_DRIVER_OK, -1), 0);
    be_ack(t, VU_REQ_SET_VRING_NUM, &m);
    be_ack(t, VU_REQ_SET_VRING_BASE, &m);
    be_ack_value(t, VU_REQ_SET_VRING_ADDR, &m, 22); /* refused */
    be_ack(t, VU_REQ_SET_VRING_CALL, &m);
    vu_msg_close_fds(&m);
    be_ack(t, VU_REQ_SET_VRING_ENABLE, &m);
    be_ack(t, VU_REQ_SET_VRING_KICK, &m);
    vu_msg_close_fds(&m);
    be_barrier(t);
    /* the device stops what runs, then the front-end hears */
    be_expect_ring_stop(t, 0, 0);
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0); /* acked; the outcome is in the status */
    assert_true(config_call_fired(t));
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS),
                     ST_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_VDPA_RESUME, 0), 0);
    fe_expect_ack(t, VU_REQ_VDPA_RESUME, UINT64_MAX);
    fe_status(t, ST_DRIVER_OK, 0);            /* V == S: nothing (spec 5.2 row 2) */
    fe_status(t, ST_FEATURES_OK, UINT64_MAX); /* only a reset leads on (row 4) */
    fe_status(t, 0, 0);
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), 0);
}

/* The legacy back-end dies while the device runs: the vdpa-user front-end
 * stays connected, sees DEVICE_NEEDS_RESET, link down and a config-call;
 * its reset then ends the session (there is no back-end to reset). */
static void down_backend_dies(void **state)
{
    struct down_test *t = start(state, "net", NULL);
    uint8_t config[24];

    negotiate(t, "net");
    install_config_call(t);
    select_features(t, F_V1 | F_STATUS, F_V1 | F_PF);
    set_mem_table(t);
    layout_ring(t, 0, 256);
    layout_ring(t, 1, 256);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_DRIVER_OK, -1), 0);
    be_expect_ring_start(t, 0, 0);
    be_expect_ring_start(t, 1, 0);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);

    close(t->s.be);
    t->s.be = -1;
    assert_true(config_call_fired(t));
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS),
                     ST_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    fe_get_config(t, 6, 2, config);
    assert_int_equal(config[0], 0); /* LINK_UP clear */
    assert_int_equal(send_empty(t->s.fe, VU_REQ_VDPA_SUSPEND, 0), 0);
    fe_expect_ack(t, VU_REQ_VDPA_SUSPEND, 0); /* allowed with NEEDS_RESET */
    fe_status(t, 0, 0);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    close(t->s.fe);
    t->s.fe = -1;
    for (int i = 0; i < 50 && fdcount_of(t->s.shim) != t->fds_idle; i++)
        usleep(20000);
    assert_int_equal(fdcount_of(t->s.shim), t->fds_idle);
}

/* virtio-blk with the back-end's config space: read live from the back-end,
 * 60 bytes of QEMU 7.2 shown as 72; CONFIG_CHANGE_MSG on the back-end channel
 * becomes the config-call eventfd once deliverable. */
static void down_blk_backend_config(void **state)
{
    struct down_test *t;
    uint8_t config[72];
    struct vu_msg m;
    int chan;

    t = start(state, "blk", NULL);
    t->be_features = F_V1 | F_PF | (1u << 12) /* MQ */ | (1u << 9) /* FLUSH */ |
                     (UINT64_C(1) << 16) /* SECURE_ERASE: beyond 60 bytes */;
    t->be_pf = VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |
               VU_BIT(VU_PF_BACKEND_REQ);
    t->be_pairs = 1;
    /* negotiate() by hand up to the back-end channel, to keep its socket */
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_FEATURES, 0), 0);
    be_recv(t, VU_REQ_GET_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, t->be_features), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, 0), 0);
    be_recv(t, VU_REQ_GET_PROTOCOL_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_PROTOCOL_FEATURES, t->be_pf), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, &m), 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, NEED, FE_PF, -1), 0);
    be_recv(t, VU_REQ_SET_PROTOCOL_FEATURES, &m);
    be_ack(t, VU_REQ_SET_BACKEND_REQ_FD, &m);
    assert_int_equal(m.nfds, 1);
    chan = m.fds[0];
    be_recv(t, VU_REQ_GET_QUEUE_NUM, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_QUEUE_NUM, 1), 0);
    be_recv(t, VU_REQ_GET_CONFIG, &m);
    assert_int_equal(m.payload.config.size, 72);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    assert_int_equal(vu_send_blocking(t->s.be, &m), 0);
    be_recv(t, VU_REQ_GET_CONFIG, &m);
    assert_int_equal(m.payload.config.size, 60);
    uint8_t be_config[60] = { 0x00, 0x80 };
    be_config[34] = 1;
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    vu_msg_set_config(&m, 0, 60, 0, be_config);
    assert_int_equal(vu_send_blocking(t->s.be, &m), 0);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_PROTOCOL_FEATURES, 0);

    /* secure erase needs bytes 60..71, which this back-end does not have */
    assert_false(fe_get_u64(t, VU_REQ_GET_FEATURES) & (UINT64_C(1) << 16));
    assert_int_equal(fe_get_u64(t, VU_REQ_VDPA_GET_CONFIG_SIZE), 72);
    install_config_call(t);
    fe_status(t, ST_DRIVER, 0);
    /* a resize: capacity read live from the back-end */
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 0, 72, 0, NULL);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    be_recv(t, VU_REQ_GET_CONFIG, &m);
    assert_int_equal(m.payload.config.size, 60);
    be_config[1] = 0x90;
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    vu_msg_set_config(&m, 0, 60, 0, be_config);
    assert_int_equal(vu_send_blocking(t->s.be, &m), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_CONFIG, &m), 0);
    assert_int_equal(m.payload.config.size, 72);
    memcpy(config, m.payload.config.data, 72);
    assert_int_equal(config[1], 0x90);
    assert_int_equal(config[34], 1);

    /* CONFIG_CHANGE_MSG before DRIVER_OK is held back, then delivered */
    vu_msg_init(&m, VU_BREQ_CONFIG_CHANGE_MSG, NEED);
    assert_int_equal(vu_send_blocking(chan, &m), 0);
    assert_int_equal(vu_recv_blocking(chan, &m, SCRIPT_TIMEOUT_MS), 0);
    assert_int_equal(m.hdr.request, VU_BREQ_CONFIG_CHANGE_MSG);
    assert_int_equal(m.payload.u64, 0);
    struct pollfd p = { .fd = t->config_call, .events = POLLIN };
    assert_int_equal(poll(&p, 1, 100), 0);
    select_features(t, F_V1 | (1u << 12), F_V1 | F_PF | (1u << 12));
    set_mem_table(t);
    layout_ring(t, 0, 128);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_DRIVER_OK, -1), 0);
    be_expect_ring_start(t, 0, 0);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
    assert_true(config_call_fired(t));
    close(chan);
}

/* virtio-fs: the config space comes from tag= and the back-end's queues;
 * without tag= the shim cannot present the device and says so. */
static void down_fs_tag(void **state)
{
    struct down_test *t = start(state, "fs", "tag=share0");
    uint8_t config[40];

    t->be_features = F_V1 | F_PF;
    t->be_pairs = 3; /* hiprio + 2 request queues */
    negotiate(t, "fs");
    assert_int_equal(fe_get_u64(t, VU_REQ_VDPA_GET_DEVICE_ID), 26);
    assert_int_equal(fe_get_u64(t, VU_REQ_VDPA_GET_VQS_COUNT), 3);
    fe_status(t, ST_DRIVER, 0);
    fe_get_config(t, 0, 40, config);
    assert_string_equal((char *)config, "share0");
    assert_int_equal(config[36], 2);
}

static void down_fs_without_tag(void **state)
{
    struct down_test *t = start(state, "fs", NULL);
    struct vu_msg m;
    char cmd[300];

    t->be_features = F_V1 | F_PF;
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_FEATURES, 0), 0);
    be_recv(t, VU_REQ_GET_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, t->be_features), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, 0), 0);
    be_recv(t, VU_REQ_GET_PROTOCOL_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_PROTOCOL_FEATURES, t->be_pf), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, &m), 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, NEED, FE_PF, -1), 0);
    be_recv(t, VU_REQ_SET_PROTOCOL_FEATURES, &m);
    be_recv(t, VU_REQ_GET_QUEUE_NUM, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_QUEUE_NUM, 2), 0);
    be_barrier(t);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    snprintf(cmd, sizeof(cmd), "grep -q \"no device key gives 'tag' (add tag=)\" %s",
             t->s.log_path);
    assert_int_equal(system(cmd), 0);
}

/* A control-queue command as the driver posts it (the ack byte reset to a
 * value the device never writes), then the kick. */
static void ctrl_post(struct vq_driver *vq, const struct vq_buf *bufs, uint8_t *ack, int kick)
{
    *ack = 0xff;
    assert_int_equal(vq_driver_add(vq, bufs, 2, ack), 0);
    vq_driver_kick(kick);
}

/* Waits for the command's used entry; returns the ack the shim wrote. */
static uint8_t ctrl_ack(struct vq_driver *vq, const uint8_t *ack)
{
    void *token;
    uint32_t len;

    for (int i = 0; i < 100 && vq_driver_get_used(vq, &token, &len) == 0; i++)
        usleep(10000);
    return *ack;
}

/* The control queue, served by the shim from guest memory: VQ_PAIRS_SET
 * starts and stops the back-end's second pair, MAC_ADDR_SET changes the
 * config MAC, unknown commands get VIRTIO_NET_ERR. */
static void down_ctrl_queue(void **state)
{
    struct down_test *t = start(state, "net", NULL);
    const uint64_t features = F_V1 | F_CTRL_VQ | F_MQ | F_CTRL_MAC_ADDR | F_MAC;
    const uint32_t ctrl = 4; /* 2 * max_virtqueue_pairs */
    struct vq_driver vq;
    struct dma_arena arena;
    uint8_t config[6];
    struct vu_msg m;

    negotiate(t, "net");
    select_features(t, features, F_V1 | F_PF | F_MQ);
    set_mem_table(t);
    /* The driver side of the control queue lives in the same memfd: build
     * it with the driver library over an arena view of the guest memory. */
    arena = (struct dma_arena){
        .fd = -1, .base = t->guest, .size = GUEST_SIZE, .gpa = 0, .used = 0x80000
    };
    assert_int_equal(vq_driver_init(&vq, &arena, 64), 0);
    for (uint32_t i = 0; i < 4; i++)
        layout_ring(t, i, 256);
    {
        /* the control queue at its real address in the arena */
        struct vu_vring_addr addr = { .index = ctrl };
        addr.desc_user_addr = GUEST_UVA + ((uint8_t *)vq.desc - t->guest);
        addr.avail_user_addr = GUEST_UVA + ((uint8_t *)vq.avail - t->guest);
        addr.used_user_addr = GUEST_UVA + ((uint8_t *)vq.used - t->guest);
        layout_ring_at(t, ctrl, 64, &addr);
    }
    /* DRIVER_OK: one pair runs until the driver asks for more */
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_DRIVER_OK, -1), 0);
    be_expect_ring_start(t, 0, 0);
    be_expect_ring_start(t, 1, 0);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);

    /* commands: class, cmd, data | ack */
    uint8_t *cmd = dma_alloc(&arena, 16, 8), *ack = dma_alloc(&arena, 1, 1);
    struct vq_buf bufs[2];
    bufs[0] = (struct vq_buf){ dma_gpa(&arena, cmd), 4, false };
    bufs[1] = (struct vq_buf){ dma_gpa(&arena, ack), 1, true };

    /* VQ_PAIRS_SET 2: answered once the back-end has started pair 2 */
    cmd[0] = 4;
    cmd[1] = 0;
    cmd[2] = 2;
    cmd[3] = 0;
    ctrl_post(&vq, bufs, ack, t->kick[ctrl]);
    be_expect_ring_start(t, 2, 0);
    be_expect_ring_start(t, 3, 0);
    be_barrier(t);
    assert_int_equal(ctrl_ack(&vq, ack), 0); /* VIRTIO_NET_OK */

    /* VQ_PAIRS_SET 1: the second pair stops */
    cmd[2] = 1;
    ctrl_post(&vq, bufs, ack, t->kick[ctrl]);
    be_expect_ring_stop(t, 2, 3);
    be_expect_ring_stop(t, 3, 4);
    be_barrier(t);
    assert_int_equal(ctrl_ack(&vq, ack), 0);

    /* VQ_PAIRS_SET 3 is beyond max_virtqueue_pairs; an unknown class */
    cmd[2] = 3;
    ctrl_post(&vq, bufs, ack, t->kick[ctrl]);
    assert_int_equal(ctrl_ack(&vq, ack), 1); /* VIRTIO_NET_ERR */
    cmd[0] = 99;
    ctrl_post(&vq, bufs, ack, t->kick[ctrl]);
    assert_int_equal(ctrl_ack(&vq, ack), 1);

    /* MAC_ADDR_SET: the config space follows */
    static const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
    cmd[0] = 1;
    cmd[1] = 1;
    memcpy(cmd + 2, mac, 6);
    bufs[0].len = 8;
    ctrl_post(&vq, bufs, ack, t->kick[ctrl]);
    assert_int_equal(ctrl_ack(&vq, ack), 0);
    fe_get_config(t, 0, 6, config);
    assert_memory_equal(config, mac, 6);
    assert_true(quiet_for(t->s.be, 100)); /* the back-end heard nothing of it */

    /* GET_VRING_BASE of the control queue is the shim's own, exact index */
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_GET_VRING_BASE, 0, ctrl, 0), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_VRING_BASE, &m), 0);
    assert_int_equal(m.payload.state.num, 5);
    vq_driver_destroy(&vq);
}

/* ---- hostile front-ends (issue 14) ----------------------------------------------------- */

#define CTRL_RING 4 /* 2 * max_virtqueue_pairs with be_pairs 2 */
/* The worst reply delay a front-end may see while the guest floods the
 * control queue: the shim serves a budget of chains per loop turn, a
 * fraction of a millisecond; this bound leaves room for a loaded 2-core CI
 * machine under ASan (44c4f61 made the front-end wait about 450 ms). */
#define FLOOD_MAX_DELAY_NS (200000000LL * (long long)test_time_scale())
#define FLOOD_SECONDS      1

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* True when the peer closed fd within ms, whatever it sent before. */
static bool closed_after_messages(int fd, int ms)
{
    for (int i = 0; i < 64; i++) {
        struct vu_msg m;
        int rc = vu_recv_blocking(fd, &m, ms);
        if (rc == -ECONNRESET)
            return true;
        if (rc)
            return false;
        vu_msg_close_fds(&m);
    }
    return false;
}

static bool log_has(const struct down_test *t, const char *text)
{
    char cmd[400];

    snprintf(cmd, sizeof(cmd), "grep -qF \"%s\" %s", text, t->s.log_path);
    return system(cmd) == 0;
}

/* After negotiate(): features with the control queue, memory, the data
 * rings and the control queue (ring CTRL_RING, `num` entries, its driver side
 * in guest memory, kicked through t->kick[CTRL_RING]); DRIVER_OK. */
static void ctrl_device_up(struct down_test *t, struct vq_driver *vq, struct dma_arena *arena,
                           unsigned num)
{
    struct vu_vring_addr addr = { .index = CTRL_RING };

    select_features(t, F_V1 | F_CTRL_VQ | F_MQ, F_V1 | F_PF | F_MQ);
    set_mem_table(t);
    *arena = (struct dma_arena){
        .fd = -1, .base = t->guest, .size = GUEST_SIZE, .gpa = 0, .used = 0x80000
    };
    assert_int_equal(vq_driver_init(vq, arena, num), 0);
    for (uint32_t i = 0; i < CTRL_RING; i++)
        layout_ring(t, i, 256);
    addr.desc_user_addr = GUEST_UVA + ((uint8_t *)vq->desc - t->guest);
    addr.avail_user_addr = GUEST_UVA + ((uint8_t *)vq->avail - t->guest);
    addr.used_user_addr = GUEST_UVA + ((uint8_t *)vq->used - t->guest);
    layout_ring_at(t, CTRL_RING, num, &addr);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_DRIVER_OK, -1), 0);
    be_expect_ring_start(t, 0, 0);
    be_expect_ring_start(t, 1, 0);
    be_barrier(t);
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
}

/* A command (class 99: unknown, answered VIRTIO_NET_ERR by the shim alone)
 * at a fresh place in guest memory; bufs[0].len is the readable length. */
static void ctrl_command_bufs(struct dma_arena *arena, struct vq_buf bufs[2], uint8_t **ack)
{
    uint8_t *cmd = dma_alloc(arena, 16, 8);

    *ack = dma_alloc(arena, 1, 1);
    cmd[0] = 99;
    cmd[1] = 0;
    bufs[0] = (struct vq_buf){ dma_gpa(arena, cmd), 2, false };
    bufs[1] = (struct vq_buf){ dma_gpa(arena, *ack), 1, true };
}

/* The session is over and the shim still serves: a new front-end gets a
 * new back-end session from scratch. */
static void new_session_works(struct down_test *t)
{
    if (t->s.fe >= 0)
        close(t->s.fe);
    if (t->s.be >= 0)
        close(t->s.be);
    t->s.fe = t->s.be = -1;
    assert_int_equal(scripted_connect(&t->s), 0);
    negotiate(t, "net");
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), 0);
}

/* A control-queue kick fd the shim cannot poll (a memfd), at DRIVER_OK and
 * again while the queue runs. The boundary may refuse it (a failed ack);
 * if it is taken, the watch fails and the device needs a reset. Never a
 * crash (44c4f61: SIGSEGV in uv_poll_start, every device down). */
static void down_ctrl_kick_unpollable(void **state)
{
    struct down_test *t = start(state, "net", NULL);
    int bad = memfd_create("not-an-eventfd", MFD_CLOEXEC);
    struct vu_vring_addr addr = { .index = CTRL_RING };
    struct vq_driver vq;
    struct dma_arena arena;
    struct vu_msg m;
    uint64_t kick_ack;

    assert_true(bad >= 0);
    negotiate(t, "net");
    install_config_call(t);
    select_features(t, F_V1 | F_CTRL_VQ | F_MQ, F_V1 | F_PF | F_MQ);
    set_mem_table(t);
    arena = (struct dma_arena){
        .fd = -1, .base = t->guest, .size = GUEST_SIZE, .gpa = 0, .used = 0x80000
    };
    assert_int_equal(vq_driver_init(&vq, &arena, 64), 0);
    for (uint32_t i = 0; i < CTRL_RING; i++)
        layout_ring(t, i, 256);
    addr.desc_user_addr = GUEST_UVA + ((uint8_t *)vq.desc - t->guest);
    addr.avail_user_addr = GUEST_UVA + ((uint8_t *)vq.avail - t->guest);
    addr.used_user_addr = GUEST_UVA + ((uint8_t *)vq.used - t->guest);
    fe_state(t, VU_REQ_SET_VRING_NUM, CTRL_RING, 64, 0);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, NEED);
    vu_msg_set_addr(&m, &addr);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    fe_expect_ack(t, VU_REQ_SET_VRING_ADDR, 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_KICK, NEED, CTRL_RING, bad), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_SET_VRING_KICK, &m), 0);
    kick_ack = m.payload.u64;
    fe_state(t, VU_REQ_SET_VRING_ENABLE, CTRL_RING, 1, 0);

    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_DRIVER_OK, -1), 0);
    be_expect_ring_start(t, 0, 0);
    be_expect_ring_start(t, 1, 0);
    be_barrier(t);
    if (kick_ack == 0) {
        /* taken: the control queue cannot run, so the device needs a reset */
        be_expect_ring_stop(t, 0, 0);
        be_expect_ring_stop(t, 1, 0);
        fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
        assert_true(config_call_fired(t));
        assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS),
                         ST_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
        assert_true(log_has(t, "cannot watch the control queue's kick fd"));
    } else {
        /* refused at the boundary: the queue runs without a kick fd */
        fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
        assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), ST_DRIVER_OK);
    }
    new_session_works(t);
    vq_driver_destroy(&vq);
    close(bad);
}

/* The same while the control queue runs (the re-kick path): a memfd
 * replaces its kick eventfd. */
static void down_ctrl_rekick_unpollable(void **state)
{
    struct down_test *t = start(state, "net", NULL);
    int bad = memfd_create("not-an-eventfd", MFD_CLOEXEC);
    struct vq_driver vq;
    struct dma_arena arena;
    struct vq_buf bufs[2];
    uint8_t *ack;

    assert_true(bad >= 0);
    negotiate(t, "net");
    install_config_call(t);
    ctrl_device_up(t, &vq, &arena, 64);
    ctrl_command_bufs(&arena, bufs, &ack);
    ctrl_post(&vq, bufs, ack, t->kick[CTRL_RING]);
    assert_int_equal(ctrl_ack(&vq, ack), 1); /* served: VIRTIO_NET_ERR */

    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_KICK, NEED, CTRL_RING, bad), 0);
    struct pollfd p[2] = { { .fd = t->s.fe, .events = POLLIN },
                           { .fd = t->s.be, .events = POLLIN } };
    assert_true(poll(p, 2, SCRIPT_TIMEOUT_MS) > 0);
    if (p[1].revents) {
        /* taken: the stops and DEVICE_NEEDS_RESET, then the ack */
        be_expect_ring_stop(t, 0, 0);
        be_expect_ring_stop(t, 1, 0);
        fe_expect_ack(t, VU_REQ_SET_VRING_KICK, 0);
        assert_true(config_call_fired(t));
        assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS),
                         ST_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    } else {
        /* refused: the old kick eventfd still serves the queue */
        fe_expect_ack(t, VU_REQ_SET_VRING_KICK, UINT64_MAX);
        ctrl_post(&vq, bufs, ack, t->kick[CTRL_RING]);
        assert_int_equal(ctrl_ack(&vq, ack), 1);
    }
    new_session_works(t);
    vq_driver_destroy(&vq);
    close(bad);
}

/* The front-end's config-call eventfd (blocking) is one short of
 * saturation; a malformed command makes the device need a reset, which
 * signals it. The shim must not wait (44c4f61: blocked in write, every
 * device down): it logs, ends that session and serves the next. */
static void down_config_call_saturated(void **state)
{
    struct down_test *t = start(state, "net", NULL);
    const uint64_t almost_full = UINT64_MAX - 1;
    struct vq_driver vq;
    struct dma_arena arena;
    struct vq_buf bufs[2];
    uint8_t *ack;
    uint64_t v = 0;

    negotiate(t, "net");
    t->config_call = eventfd(0, EFD_CLOEXEC); /* blocking, like a hostile VMM's */
    assert_true(t->config_call >= 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_VDPA_SET_CONFIG_CALL, NEED, 0, t->config_call),
                     0);
    fe_expect_ack(t, VU_REQ_VDPA_SET_CONFIG_CALL, 0);
    ctrl_device_up(t, &vq, &arena, 64);
    assert_int_equal(write(t->config_call, &almost_full, 8), 8);

    ctrl_command_bufs(&arena, bufs, &ack);
    bufs[0].len = 1; /* a class without a command: malformed */
    ctrl_post(&vq, bufs, ack, t->kick[CTRL_RING]);
    /* the device stops its rings, then the session ends */
    assert_true(closed_after_messages(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(closed_after_messages(t->s.be, SCRIPT_TIMEOUT_MS));
    assert_true(log_has(t, "config-call eventfd is saturated"));
    assert_int_equal(read(t->config_call, &v, 8), 8);
    assert_true(v == almost_full); /* nothing was added, nothing waited */
    new_session_works(t);
    vq_driver_destroy(&vq);
}

/* The guest keeps the control queue full: its available index always one
 * lap ahead of the used index, and a kick after each update. */
struct flood {
    struct vq_driver *vq;
    uint16_t num;
    int kick;
    volatile int stop;
};

static void *flood_run(void *arg)
{
    struct flood *f = arg;

    while (!f->stop) {
        uint16_t used = __atomic_load_n(&f->vq->used->idx, __ATOMIC_ACQUIRE);
        __atomic_store_n(&f->vq->avail->idx, (uint16_t)(used + f->num), __ATOMIC_RELEASE);
        vq_driver_kick(f->kick);
    }
    return NULL;
}

/* The shim serves a full control queue a budget at a time: the front-end's
 * requests are answered promptly meanwhile (44c4f61: the queue was served
 * until empty, which a guest can make never). */
static void down_ctrl_queue_kept_full(void **state)
{
    struct down_test *t = start(state, "net", NULL);
    const uint16_t num = 1024; /* the largest queue: the longest lap */
    struct flood f = { .num = num };
    struct vq_driver vq;
    struct dma_arena arena;
    struct vq_buf bufs[2];
    uint8_t *ack;
    pthread_t th;
    int64_t worst = 0, end;
    unsigned requests = 0;
    uint16_t used_before;
    uint32_t served;

    negotiate(t, "net");
    ctrl_device_up(t, &vq, &arena, num);
    ctrl_command_bufs(&arena, bufs, &ack);
    ctrl_post(&vq, bufs, ack, t->kick[CTRL_RING]);
    assert_int_equal(ctrl_ack(&vq, ack), 1);
    /* every available entry names the same (valid) command */
    for (unsigned i = 0; i < num; i++)
        vq.avail->ring[i] = vq.avail->ring[0];
    used_before = __atomic_load_n(&vq.used->idx, __ATOMIC_ACQUIRE);
    f.vq = &vq;
    f.kick = t->kick[CTRL_RING];
    assert_int_equal(pthread_create(&th, NULL, flood_run, &f), 0);
    served = 0;
    end = now_ns() + FLOOD_SECONDS * 1000000000LL;
    while (now_ns() < end) {
        int64_t t0 = now_ns(), dt;
        uint16_t used;
        assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), ST_DRIVER_OK);
        dt = now_ns() - t0;
        worst = dt > worst ? dt : worst;
        requests++;
        used = __atomic_load_n(&vq.used->idx, __ATOMIC_ACQUIRE);
        served += (uint16_t)(used - used_before);
        used_before = used;
    }
    f.stop = 1;
    pthread_join(th, NULL);
    printf("control queue kept full for %d s: %u chains served, %u requests answered, worst "
           "delay %.3f ms\n",
           FLOOD_SECONDS, served, requests, (double)worst / 1e6);
    assert_true(served > 4u * num); /* the flood really ran, lap after lap */
    assert_true(worst < FLOOD_MAX_DELAY_NS);
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), ST_DRIVER_OK);
    vq_driver_destroy(&vq);
}

/* The shim's CPU time (user + system, in clock ticks). */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long utime = 0, stime = 0;
    FILE *f;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    p = strrchr(buf, ')'); /* the name may hold spaces */
    assert_non_null(p);
    assert_int_equal(
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime), 2);
    return (long)(utime + stime);
}

/* A queue that stays malformed: one DEVICE_NEEDS_RESET, then it is never
 * looked at again, however often the driver kicks (no spinning). */
static void down_ctrl_malformed_stops(void **state)
{
    struct down_test *t = start(state, "net", NULL);
    const long idle_max_ticks = sysconf(_SC_CLK_TCK) / 10; /* 100 ms of CPU in 500 ms */
    struct vq_driver vq;
    struct dma_arena arena;
    struct vq_buf bufs[2];
    uint8_t *ack;
    long before;

    negotiate(t, "net");
    install_config_call(t);
    ctrl_device_up(t, &vq, &arena, 64);
    ctrl_command_bufs(&arena, bufs, &ack);
    bufs[0].len = 1; /* malformed */
    ctrl_post(&vq, bufs, ack, t->kick[CTRL_RING]);
    be_expect_ring_stop(t, 0, 0);
    be_expect_ring_stop(t, 1, 0);
    assert_true(config_call_fired(t));
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS),
                     ST_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    before = cpu_ticks(t->s.shim);
    for (int i = 0; i < 50; i++) {
        vq_driver_kick(t->kick[CTRL_RING]);
        usleep(10000);
    }
    assert_true(cpu_ticks(t->s.shim) - before <= idle_max_ticks);
    assert_int_equal(*ack, 0xff);                /* never answered */
    assert_true(quiet_for(t->config_call, 100)); /* one reset, one signal */
    assert_true(quiet_for(t->s.be, 50));
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS),
                     ST_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    vq_driver_destroy(&vq);
}

/* A memory table the shim cannot map is refused, not forwarded as a
 * success: a region past its memfd's end, a directory, a socket. */
static void down_mem_table_unmappable(void **state)
{
    struct down_test *t = start(state, "net", NULL);
    int memfd = memfd_create("small", MFD_CLOEXEC);
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int sv[2];
    const int bad[3] = { memfd, dir, -1 };
    struct vu_msg m;

    assert_true(memfd >= 0 && dir >= 0);
    assert_int_equal(ftruncate(memfd, GUEST_SIZE), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    negotiate(t, "net");
    select_features(t, F_V1, F_V1 | F_PF);
    for (unsigned i = 0; i < 3; i++) {
        /* the first: offset past the file's end; the others: not memory */
        struct vu_mem_region region = { 0x0, GUEST_SIZE, GUEST_UVA,
                                        i == 0 ? 4ull * GUEST_SIZE : 0 };
        vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, NEED);
        vu_msg_set_mem_table(&m, &region, 1);
        vu_msg_add_fd(&m, fcntl(i < 2 ? bad[i] : sv[0], F_DUPFD_CLOEXEC, 3));
        assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
        fe_expect_ack(t, VU_REQ_SET_MEM_TABLE, UINT64_MAX);
        assert_true(quiet_for(t->s.be, 100)); /* nothing forwarded */
    }
    set_mem_table(t); /* a good one still goes through */
    close(sv[0]);
    close(sv[1]);
    close(dir);
    close(memfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(down_net_lifecycle, down_teardown),
        cmocka_unit_test_teardown(down_forbidden_and_state_rules, down_teardown),
        cmocka_unit_test_teardown(down_provisioning, down_teardown),
        cmocka_unit_test_teardown(down_features_refused, down_teardown),
        cmocka_unit_test_teardown(down_early_call, down_teardown),
        cmocka_unit_test_teardown(down_start_refused_needs_reset, down_teardown),
        cmocka_unit_test_teardown(down_backend_dies, down_teardown),
        cmocka_unit_test_teardown(down_blk_backend_config, down_teardown),
        cmocka_unit_test_teardown(down_fs_tag, down_teardown),
        cmocka_unit_test_teardown(down_fs_without_tag, down_teardown),
        cmocka_unit_test_teardown(down_ctrl_queue, down_teardown),
        cmocka_unit_test_teardown(down_ctrl_kick_unpollable, down_teardown),
        cmocka_unit_test_teardown(down_ctrl_rekick_unpollable, down_teardown),
        cmocka_unit_test_teardown(down_config_call_saturated, down_teardown),
        cmocka_unit_test_teardown(down_ctrl_queue_kept_full, down_teardown),
        cmocka_unit_test_teardown(down_mem_table_unmappable, down_teardown),
        cmocka_unit_test_teardown(down_ctrl_malformed_stops, down_teardown),
    };
    if (getenv("TEST_FILTER")) /* one test by name (cmocka's pattern) */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
