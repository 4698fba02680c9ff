/* SPDX-License-Identifier: MIT */
/*
 * The scripted peers of the up-conversion tests (test_upconv.c and
 * test_up_rings.c): a legacy front-end and a vdpa-user back-end around the
 * real vdpa-shim binary, and the steps a device takes to run.
 */
#ifndef VDPA_SHIM_TESTS_UP_SCRIPT_H
#define VDPA_SHIM_TESTS_UP_SCRIPT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <endian.h>
#include <unistd.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "scripted.h"
#include "virtio.h"

#define FEATURES (UINT64_C(1) << 32 | UINT64_C(1) << 30 | 1u << 5 /* MAC */ | 1u << 3 /* MTU */)
#define BE_PF                                                                                      \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |      \
     VU_BIT(VU_PF_STATUS))
/* What a legacy net front-end acks; CONFIG is not shown to it (QEMU keeps
 * virtio-net's config itself and warns when a back-end offers CONFIG). */
#define FE_PF                                                                                      \
    (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_NET_MTU) |                          \
     VU_BIT(VU_PF_RESET_DEVICE) | VU_BIT(VU_PF_BACKEND_REQ))
#define NEED     VU_FLAG_NEED_REPLY
#define RING_MAX 1024u /* the scripted back-end's VDPA_GET_VRING_NUM */

struct up_test {
    struct scripted s;
    bool provision;       /* the shim was given mac= and mtu= */
    uint64_t extra_pf;    /* protocol features the front-end acks besides FE_PF */
    int config_call;      /* the eventfd the shim handed the back-end */
    int fds_idle;         /* the shim's open fds before any session */
    uint64_t be_features; /* the back-end's GET_FEATURES, 0: FEATURES */
    uint16_t max_pairs;   /* config max_virtqueue_pairs, 0: left 0 */
};

/* The back-end side of one request that the shim sends with NEED_REPLY:
 * checks it and answers with ack 0. Returns the message (fds to the caller). */
static inline void be_ack(struct up_test *t, uint32_t req, struct vu_msg *m)
{
    assert_int_equal(expect_msg(t->s.be, req, m), 0);
    assert_true(m->hdr.flags & NEED);
    assert_int_equal(reply_u64(t->s.be, req, 0), 0);
}

static inline void be_answer(struct up_test *t, uint32_t req, uint64_t value)
{
    struct vu_msg m;

    assert_int_equal(expect_msg(t->s.be, req, &m), 0);
    assert_int_equal(m.nfds, 0);
    assert_int_equal(reply_u64(t->s.be, req, value), 0);
}

static inline void be_status(struct up_test *t, uint8_t want)
{
    struct vu_msg m;

    be_ack(t, VU_REQ_SET_STATUS, &m);
    assert_int_equal(m.payload.u64, want);
}

static inline void fe_expect_ack(struct up_test *t, uint32_t req, uint64_t value)
{
    struct vu_msg m;

    assert_int_equal(expect_msg(t->s.fe, req, &m), 0);
    assert_true(m.hdr.flags & VU_FLAG_REPLY);
    assert_int_equal(m.payload.u64, value);
}

/* The legacy negotiation, and the vdpa-user set-up the shim derives from it. */
static inline void negotiate(struct up_test *t, uint32_t device_id, uint64_t vqs)
{
    struct vu_msg m;

    /* DPDK virtio-user sends SET_OWNER first; the shim holds it. */
    assert_int_equal(send_empty(t->s.fe, VU_REQ_SET_OWNER, 0), 0);
    uint64_t be_features = t->be_features ? t->be_features : FEATURES;

    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_FEATURES, 0), 0);
    be_answer(t, VU_REQ_GET_FEATURES, be_features);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(m.payload.u64, be_features);

    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, 0), 0);
    be_answer(t, VU_REQ_GET_PROTOCOL_FEATURES, BE_PF);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, &m), 0);
    /* What the shim can translate is offered to a legacy front-end, but
     * not CONFIG for net, and not F_VDPA's bit alone (shown for vdpa-user
     * front-ends, which pass through). */
    assert_int_equal(m.payload.u64 & FE_PF, FE_PF);
    assert_false(m.payload.u64 & VU_BIT(VU_PF_CONFIG));

    assert_int_equal(
        send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, NEED, FE_PF | t->extra_pf, -1), 0);
    be_ack(t, VU_REQ_SET_PROTOCOL_FEATURES, &m);
    assert_int_equal(m.payload.u64, VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) |
                                        VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |
                                        VU_BIT(VU_PF_STATUS));
    be_ack(t, VU_REQ_SET_OWNER, &m);
    be_answer(t, VU_REQ_VDPA_GET_DEVICE_ID, device_id);
    if (device_id != 1)
        return;
    be_answer(t, VU_REQ_VDPA_GET_VQS_COUNT, vqs);
    be_answer(t, VU_REQ_VDPA_GET_VRING_NUM, RING_MAX);
    be_status(t, 0);
    be_status(t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    if (t->provision) {
        /* mac= and mtu= are provisioned with SET_CONFIG flags=1. */
        be_ack(t, VU_REQ_SET_CONFIG, &m);
        assert_int_equal(m.payload.config.flags, VU_CONFIG_F_MIGRATION);
        assert_int_equal(m.payload.config.offset, 0);
        assert_int_equal(m.payload.config.size, 6);
        assert_memory_equal(m.payload.config.data, "\x02\x00\x00\xaa\xbb\xcc", 6);
        assert_int_equal(expect_msg(t->s.be, VU_REQ_SET_CONFIG, &m), 0);
        assert_int_equal(m.payload.config.offset, 10);
        assert_int_equal(m.payload.config.data[0] | m.payload.config.data[1] << 8, 1400);
        assert_int_equal(reply_u64(t->s.be, VU_REQ_SET_CONFIG, 1), 0); /* refused */
    }
    be_ack(t, VU_REQ_VDPA_SET_CONFIG_CALL, &m);
    assert_int_equal(m.nfds, 1);
    t->config_call = m.fds[0];
    be_answer(t, VU_REQ_VDPA_GET_CONFIG_SIZE, 24);

    assert_int_equal(expect_msg(t->s.be, VU_REQ_GET_CONFIG, &m), 0);
    assert_int_equal(m.payload.config.offset, 0);
    assert_int_equal(m.payload.config.size, 24);
    uint8_t config[24] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
    uint16_t mtu = 1500;
    memcpy(config + 10, &mtu, sizeof(mtu));
    config[8] = (uint8_t)t->max_pairs; /* max_virtqueue_pairs, little-endian */
    config[9] = (uint8_t)(t->max_pairs >> 8);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    vu_msg_set_config(&m, 0, 24, 0, config);
    assert_int_equal(vu_send_blocking(t->s.be, &m), 0);

    fe_expect_ack(t, VU_REQ_SET_PROTOCOL_FEATURES, 0);
}

static inline int up_setup(void **state)
{
    /* Static: a setup that fails half-way must not leak (tests run one
     * at a time). */
    static struct up_test storage;
    struct up_test *t = &storage;

    memset(t, 0, sizeof(*t));
    t->config_call = -1;
    assert_int_equal(scripted_start(&t->s, "net", NULL), 0);
    t->fds_idle = fdcount_of(t->s.shim);
    assert_int_equal(scripted_connect(&t->s), 0);
    *state = t;
    return 0;
}

static inline int up_teardown(void **state)
{
    struct up_test *t = *state;
    int status;

    if (t->config_call >= 0)
        close(t->config_call);
    status = scripted_stop(&t->s);
    assert_int_equal(status, 0);
    return 0;
}

static inline void set_features(struct up_test *t, uint32_t flags, uint8_t status_after)
{
    struct vu_msg m;

    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_FEATURES, flags, FEATURES, -1), 0);
    be_ack(t, VU_REQ_SET_FEATURES, &m);
    assert_int_equal(m.payload.u64, FEATURES);
    be_status(t, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    be_answer(t, VU_REQ_GET_STATUS, status_after);
}

static inline int memfd_with(const char *text)
{
    int fd = memfd_create("guest", MFD_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    assert_int_equal(pwrite(fd, text, strlen(text), 0), (ssize_t)strlen(text));
    return fd;
}

static inline void set_mem_table(struct up_test *t, int memfd)
{
    struct vu_mem_region region = { 0x0, 1 << 20, 0x7f0000000000, 0 };
    struct vu_msg m;
    char seen[16] = { 0 };

    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, NEED);
    vu_msg_set_mem_table(&m, &region, 1);
    vu_msg_add_fd(&m, fcntl(memfd, F_DUPFD_CLOEXEC, 3));
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    be_ack(t, VU_REQ_SET_MEM_TABLE, &m);
    assert_int_equal(m.nfds, 1);
    assert_int_equal(pread(m.fds[0], seen, 5, 0), 5);
    assert_memory_equal(seen, "guest", 5); /* the same memory, peer to peer */
    vu_msg_close_fds(&m);
    fe_expect_ack(t, VU_REQ_SET_MEM_TABLE, 0);
}

/* Ring i's layout as QEMU sends it (NUM, BASE, ADDR; no reply asked). */
static inline void send_layout(struct up_test *t, uint32_t i)
{
    struct vu_vring_addr addr = { .index = i, .desc_user_addr = 0x7f0000001000 + i * 0x1000 };
    struct vu_msg m;

    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_NUM, 0, i, 256), 0);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_BASE, 0, i, 0), 0);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &addr);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
}

/* Configures ring i as QEMU does: NUM, BASE, ADDR (kept by the shim), KICK
 * and CALL (forwarded at once). */
static inline void configure_ring(struct up_test *t, uint32_t i, int kick, int call)
{
    struct vu_msg m;

    send_layout(t, i);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_KICK, 0, i, kick), 0);
    be_ack(t, VU_REQ_SET_VRING_KICK, &m);
    assert_int_equal(m.payload.u64, i);
    assert_int_equal(m.nfds, 1);
    vu_msg_close_fds(&m);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_CALL, 0, i, call), 0);
    be_ack(t, VU_REQ_SET_VRING_CALL, &m);
    assert_int_equal(m.nfds, 1);
    /* The call fd is the front-end's eventfd: a signal from the back-end
     * reaches it with no shim in between. */
    uint64_t one = 1, got = 0;
    assert_int_equal(write(m.fds[0], &one, 8), 8);
    assert_int_equal(read(call, &got, 8), 8);
    assert_int_equal(got, 1);
    vu_msg_close_fds(&m);
}

/* The ring set-up the shim sends when the device starts. */
static inline void be_expect_ring(struct up_test *t, uint32_t i, uint32_t base, bool enabled,
                                  bool fds)
{
    struct vu_msg m;

    be_ack(t, VU_REQ_SET_VRING_NUM, &m);
    assert_int_equal(m.payload.state.index, i);
    assert_int_equal(m.payload.state.num, 256);
    be_ack(t, VU_REQ_SET_VRING_ADDR, &m);
    assert_int_equal(m.payload.addr.index, i);
    assert_int_equal(m.payload.addr.desc_user_addr, 0x7f0000001000 + i * 0x1000);
    be_ack(t, VU_REQ_SET_VRING_BASE, &m);
    assert_int_equal(m.payload.state.num, base);
    if (fds) {
        be_ack(t, VU_REQ_SET_VRING_KICK, &m);
        assert_int_equal(m.nfds, 1);
        vu_msg_close_fds(&m);
        be_ack(t, VU_REQ_SET_VRING_CALL, &m);
        assert_int_equal(m.nfds, 1);
        vu_msg_close_fds(&m);
    }
    be_ack(t, VU_REQ_SET_VRING_ENABLE, &m);
    assert_int_equal(m.payload.state.index, i);
    assert_int_equal(m.payload.state.num, enabled ? 1 : 0);
}

/* The back-end answers GET_VRING_BASE for ring i with `base`; the front-end
 * gets exactly that. */
static inline void be_vring_base(struct up_test *t, uint32_t i, uint32_t base)
{
    struct vu_msg m;

    assert_int_equal(expect_msg(t->s.be, VU_REQ_GET_VRING_BASE, &m), 0);
    assert_int_equal(m.payload.state.index, i);
    vu_msg_init(&m, VU_REQ_GET_VRING_BASE, VU_FLAG_REPLY);
    vu_msg_set_state(&m, i, base);
    assert_int_equal(vu_send_blocking(t->s.be, &m), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_VRING_BASE, &m), 0);
    assert_int_equal(m.payload.state.index, i);
    assert_int_equal(m.payload.state.num, base);
}

/* Negotiation, features, memory, two rings, enable: the device runs. */
static inline void run_device(struct up_test *t, int memfd, const int kick[2], const int call[2])
{
    struct vu_msg m;

    negotiate(t, 1, 2);

    /* GET_QUEUE_NUM is forbidden under F_VDPA: the shim answers it. */
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_QUEUE_NUM, 0), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_QUEUE_NUM, &m), 0);
    assert_int_equal(m.payload.u64, 1);

    set_features(t, 0, 0x0b);
    set_mem_table(t, memfd);
    configure_ring(t, 0, kick[0], call[0]);
    configure_ring(t, 1, kick[1], call[1]);
    assert_true(quiet_for(t->s.be, 200)); /* nothing runs before an enable */

    /* Enabling ring 0 completes the device: ring set-up, then DRIVER_OK. */
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, 0, 1), 0);
    be_expect_ring(t, 0, 0, true, false);
    be_expect_ring(t, 1, 0, false, false);
    be_status(t, 0x0f);
    be_answer(t, VU_REQ_GET_STATUS, 0x0f);
    fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);
}

#endif
