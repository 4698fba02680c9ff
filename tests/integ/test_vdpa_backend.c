/* SPDX-License-Identifier: MIT */
/*
 * The reference vdpa-user back-end, driven by a scripted vdpa-user
 * front-end. Each test starts the real program ($BUILD/vdpa-backend, BUILD
 * defaults to build) listening on a temporary socket, talks to it with the
 * blocking transport helpers, shares memfd guest memory with it, and moves
 * data through rings with the driver side of lib/virtio. The back-end's
 * stderr goes to a log that is shown when a test fails and that must hold
 * no sanitizer report.
 */
#include <dirent.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fdcount.h"

#include "backend_script.h"

#define ARENA_SIZE (8u << 20)

/* ---- The back-end process ---------------------------------------------------- */

/* Starts the back-end with "--socket S --type TYPE" plus space-separated
 * extra arguments; {disk} and {stats} are replaced by the test's paths. */
static void start_backend(struct ctx *c, const char *type, const char *extra)
{
    char args[512], *argv[BACKEND_ARGS - BACKEND_FIXED], *save = NULL;
    unsigned argc = 0;

    snprintf(args, sizeof(args), "%s", extra ? extra : "");
    for (char *t = strtok_r(args, " ", &save); t && argc < BACKEND_ARGS - BACKEND_FIXED - 1;
         t = strtok_r(NULL, " ", &save)) {
        if (strcmp(t, "{disk}") == 0)
            t = c->disk_path;
        else if (strcmp(t, "{stats}") == 0)
            t = c->stats_path;
        argv[argc++] = t;
    }
    argv[argc] = NULL;
    spawn_backend(c, type, argv);
}

static int setup(void **state)
{
    return backend_setup(state, "vdpa-backend-test", ARENA_SIZE);
}

/* ---- Messages ------------------------------------------------------------------ */

static uint32_t get_vring_base(struct ctx *c, uint32_t index)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_GET_VRING_BASE, 0);
    vu_msg_set_state(&m, index, 0);
    send_msg(c, &m);
    recv_reply(c, VU_REQ_GET_VRING_BASE, &m);
    assert_int_equal(m.hdr.size, 8);
    assert_int_equal(m.payload.state.index, index);
    return m.payload.state.num;
}

/* True when the back-end closes the connection within the time-out. */
static bool closed_within(struct ctx *c, int ms)
{
    struct vu_msg m;
    int rc = vu_recv_blocking(c->fd, &m, ms);

    if (rc == 0)
        vu_msg_close_fds(&m);
    return rc == -ECONNRESET;
}

/* Waits for an eventfd to be signalled; true if it was (and clears it). */
static bool eventfd_fired(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    uint64_t v;

    if (poll(&p, 1, ms) != 1)
        return false;
    return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v) && v > 0;
}

/* ---- Bring-up ---------------------------------------------------------------------- */

/* Steps 1-4 of the spec's example (8): feature and protocol negotiation. */
static uint64_t negotiate(struct ctx *c)
{
    struct vu_msg m;
    uint64_t features = get_u64(c, VU_REQ_GET_FEATURES);
    uint64_t pf = get_u64(c, VU_REQ_GET_PROTOCOL_FEATURES);

    assert_true(vu_has_bit(features, VU_F_PROTOCOL_FEATURES));
    assert_true(vu_has_bit(features, VIRTIO_F_VERSION_1));
    assert_false(vu_has_bit(features, VIRTIO_F_RING_RESET));
    assert_false(vu_has_bit(features, VIRTIO_F_ACCESS_PLATFORM));
    assert_false(vu_has_bit(features, VIRTIO_F_EVENT_IDX));
    assert_false(vu_has_bit(features, VIRTIO_F_INDIRECT_DESC));
    assert_int_equal(pf & PF_VDPA_SET, PF_VDPA_SET);
    assert_false(vu_has_bit(pf, VU_PF_CONFIGURE_MEM_SLOTS));
    /* Step 3 of the example: no NEED_REPLY, so no reply. */
    vu_msg_init(&m, VU_REQ_SET_PROTOCOL_FEATURES, 0);
    vu_msg_set_u64(&m, PF_VDPA_SET);
    send_msg(c, &m);
    assert_int_equal(ack_empty(c, VU_REQ_SET_OWNER), 0);
    return features;
}

/* Reset, ACKNOWLEDGE|DRIVER, SET_FEATURES, FEATURES_OK; checks acceptance. */
static void features_ok(struct ctx *c, uint64_t features)
{
    assert_int_equal(set_status(c, 0), 0);
    assert_int_equal(set_status(c, 0x03), 0);
    assert_int_equal(ack_u64(c, VU_REQ_SET_FEATURES, features, -1), 0);
    assert_int_equal(set_status(c, 0x0B), 0);
    assert_int_equal(get_status(c), 0x0B);
    c->features = features;
}

/* Fresh driver rings (in new arena memory), sent with NUM/ADDR/BASE; the
 * eventfds are created on first use and re-sent. */
static void setup_rings(struct ctx *c, unsigned nrings, unsigned size)
{
    c->nrings = nrings;
    for (unsigned i = 0; i < nrings; i++) {
        lay_out_ring(c, i, size);
        if (c->kick[i] < 0) {
            c->kick[i] = new_eventfd();
            c->call[i] = new_eventfd();
            c->err[i] = new_eventfd();
        }
        assert_int_equal(ack_u64(c, VU_REQ_SET_VRING_KICK, i, c->kick[i]), 0);
        assert_int_equal(ack_u64(c, VU_REQ_SET_VRING_CALL, i, c->call[i]), 0);
        assert_int_equal(ack_u64(c, VU_REQ_SET_VRING_ERR, i, c->err[i]), 0);
    }
}

static void enable_rings(struct ctx *c)
{
    for (unsigned i = 0; i < c->nrings; i++)
        assert_int_equal(ack_state(c, VU_REQ_SET_VRING_ENABLE, i, 1), 0);
}

static void install_config_call(struct ctx *c)
{
    if (c->config_call < 0)
        c->config_call = new_eventfd();
    assert_int_equal(ack_u64(c, VU_REQ_VDPA_SET_CONFIG_CALL, 0, c->config_call), 0);
}

static void driver_ok(struct ctx *c)
{
    assert_int_equal(set_status(c, 0x0F), 0);
    assert_int_equal(get_status(c), 0x0F);
}

/* The whole bring-up of a device with `nrings` rings. */
static void bring_up(struct ctx *c, uint64_t features, unsigned nrings)
{
    connect_fe(c);
    negotiate(c);
    features_ok(c, features);
    send_mem_table(c);
    setup_rings(c, nrings, RING_SIZE);
    enable_rings(c);
    install_config_call(c);
    driver_ok(c);
}

/* Collects one used chain of ring i, waiting for its call eventfd. */
static bool wait_used(struct ctx *c, unsigned i, void **token, uint32_t *len, int ms)
{
    for (int waited = 0;; waited += 10) {
        int rc = vq_driver_get_used(&c->vq[i], token, len);
        assert_true(rc >= 0);
        if (rc == 1)
            return true;
        if (waited >= ms)
            return false;
        eventfd_fired(c->call[i], 10);
    }
}

static void *alloc(struct ctx *c, size_t size)
{
    void *p = dma_alloc(&c->mem, size, 16);
    assert_non_null(p);
    return p;
}

/* ---- virtio-net helpers ---------------------------------------------------------- */

#define NET_HDR 12
#define NET_BASE_FEATURES                                                                          \
    (VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(VIRTIO_NET_F_MAC) |      \
     VU_BIT(VIRTIO_NET_F_STATUS))

static void post_rx(struct ctx *c, unsigned ring, unsigned count, uint32_t size)
{
    for (unsigned k = 0; k < count; k++) {
        uint8_t *buf = alloc(c, size);
        struct vq_buf b = { dma_gpa(&c->mem, buf), size, true };
        assert_int_equal(vq_driver_add(&c->vq[ring], &b, 1, buf), 0);
    }
    vq_driver_kick(c->kick[ring]);
}

/* Sends a frame on TX ring `ring`: header and payload in two descriptors. */
static void send_frame(struct ctx *c, unsigned ring, const void *payload, uint32_t len)
{
    uint8_t *hdr = alloc(c, NET_HDR), *data = alloc(c, len);
    struct vq_buf b[2] = { { dma_gpa(&c->mem, hdr), NET_HDR, false },
                           { dma_gpa(&c->mem, data), len, false } };

    memcpy(data, payload, len);
    assert_int_equal(vq_driver_add(&c->vq[ring], b, 2, hdr), 0);
    vq_driver_kick(c->kick[ring]);
}

static void make_frame(uint8_t *f, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        f[i] = (uint8_t)(seed * 31 + i);
}

/* Receives one frame on RX ring `ring` and checks it against `want`. */
static void expect_frame(struct ctx *c, unsigned ring, const uint8_t *want, uint32_t len)
{
    void *token;
    uint32_t used;
    uint8_t *buf;

    if (!wait_used(c, ring, &token, &used, TIMEOUT_MS)) {
        dump_log(c);
        fail_msg("no frame on ring %u", ring);
    }
    buf = token;
    assert_int_equal(used, NET_HDR + len);
    assert_int_equal(buf[10] | buf[11] << 8, 1); /* num_buffers */
    assert_memory_equal(buf + NET_HDR, want, len);
}

static void expect_tx_done(struct ctx *c, unsigned ring)
{
    void *token;
    uint32_t used;

    assert_true(wait_used(c, ring, &token, &used, TIMEOUT_MS));
    assert_int_equal(used, 0);
}

/* ---- virtio-blk helpers ----------------------------------------------------------- */

#define BLK_FEATURES                                                                               \
    (VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VIRTIO_BLK_F_SEG_MAX) | VU_BIT(VIRTIO_BLK_F_BLK_SIZE) |   \
     VU_BIT(VIRTIO_BLK_F_FLUSH))
#define DISK_SECTORS 2048u

static void make_disk(struct ctx *c, uint64_t size)
{
    int fd = open(c->disk_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    close(fd);
}

/* One request: header, optional data (readable for OUT, writable for IN and
 * GET_ID), status. Returns the status byte; *used gets the used length. */
static uint8_t blk_request(struct ctx *c, uint32_t type, uint64_t sector, void *data, uint32_t len,
                           uint32_t *used_out)
{
    struct virtio_blk_outhdr *h = alloc(c, sizeof(*h));
    uint8_t *buf = len ? alloc(c, len) : NULL, *status = alloc(c, 1);
    struct vq_buf b[3];
    unsigned n = 0;
    void *token;
    uint32_t used;

    h->type = type;
    h->sector = sector;
    *status = 0xff;
    b[n++] = (struct vq_buf){ dma_gpa(&c->mem, h), sizeof(*h), false };
    if (len) {
        if (type == VIRTIO_BLK_T_OUT)
            memcpy(buf, data, len);
        b[n++] = (struct vq_buf){ dma_gpa(&c->mem, buf), len, type != VIRTIO_BLK_T_OUT };
    }
    b[n++] = (struct vq_buf){ dma_gpa(&c->mem, status), 1, true };
    assert_int_equal(vq_driver_add(&c->vq[0], b, n, h), 0);
    vq_driver_kick(c->kick[0]);
    if (!wait_used(c, 0, &token, &used, TIMEOUT_MS)) {
        dump_log(c);
        fail_msg("blk request type %u not completed", type);
    }
    assert_ptr_equal(token, h);
    if (len && type != VIRTIO_BLK_T_OUT)
        memcpy(data, buf, len);
    if (used_out)
        *used_out = used;
    return *status;
}

/* ================================ Tests ================================== */

/* The spec's example sequence (section 8), steps 1-41, on a loopback net
 * device: negotiation, identity, config, features, rings, DRIVER_OK,
 * traffic, SUSPEND with exact bases, RESUME, reset. */
static void test_bringup_example(void **state)
{
    struct ctx *c = *state;
    struct vu_msg m;
    uint8_t config[24], frame[60];
    uint64_t features;

    start_backend(c, "net", "--mtu 1500 --queue-size 1024");
    connect_fe(c);
    features = negotiate(c);
    assert_int_equal(features, NET_BASE_FEATURES | VU_BIT(VIRTIO_NET_F_MTU));
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_DEVICE_ID), 1);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_VQS_COUNT), 2);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_CONFIG_SIZE), 24);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_VRING_NUM), 1024);
    vu_msg_init(&m, VU_REQ_VDPA_GET_IOVA_RANGE, 0);
    send_msg(c, &m);
    recv_reply(c, VU_REQ_VDPA_GET_IOVA_RANGE, &m);
    assert_int_equal(m.hdr.size, 16);
    assert_int_equal(m.payload.iova_range.first, 0);
    assert_true(m.payload.iova_range.last == UINT64_MAX);

    assert_int_equal(set_status(c, 0), 0);                   /* 10 */
    assert_int_equal(set_status(c, 0x03), 0);                /* 11 */
    assert_int_equal(get_config(c, 0, 24, config), 12 + 24); /* 12 */
    static const uint8_t want[24] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
                                      0x01, 0x00, 0x00, 0x00, 0xdc, 0x05 };
    assert_memory_equal(config, want, 24);
    assert_int_equal(ack_u64(c, VU_REQ_SET_FEATURES, features, -1), 0); /* 13 */
    assert_int_equal(set_status(c, 0x0B), 0);                           /* 14 */
    assert_int_equal(get_status(c), 0x0B);                              /* 15 */
    send_mem_table(c);                                                  /* 16 */
    setup_rings(c, 2, 256);                                             /* 17-26 */
    enable_rings(c);                                                    /* 27-28 */
    install_config_call(c);                                             /* 29 */
    assert_int_equal(set_status(c, 0x0F), 0);                           /* 30 */
    assert_int_equal(get_status(c), 0x0F);                              /* 31 */

    /* Traffic: 5 RX buffers, 3 frames out and back. */
    post_rx(c, 0, 5, 2048);
    for (unsigned k = 0; k < 3; k++) {
        make_frame(frame, sizeof(frame), k);
        send_frame(c, 1, frame, sizeof(frame));
        expect_frame(c, 0, frame, sizeof(frame));
        expect_tx_done(c, 1);
    }
    assert_false(eventfd_fired(c->config_call, 0)); /* nothing to say */

    assert_int_equal(get_u64(c, VU_REQ_VDPA_SUSPEND), 0); /* 35 */
    assert_int_equal(get_vring_base(c, 0), 3);            /* 36 */
    assert_int_equal(get_vring_base(c, 1), 3);            /* 37 */
    assert_int_equal(get_status(c), 0x0F);                /* suspension is not in the status */
    assert_int_equal(get_u64(c, VU_REQ_VDPA_RESUME), 0);  /* 38 */
    make_frame(frame, sizeof(frame), 9);
    send_frame(c, 1, frame, sizeof(frame));
    expect_frame(c, 0, frame, sizeof(frame));
    expect_tx_done(c, 1);

    assert_int_equal(set_status(c, 0), 0);     /* 39 */
    assert_int_equal(get_status(c), 0);        /* 40 */
    assert_int_equal(get_vring_base(c, 0), 0); /* 41 */

    /* Memory and eventfds survive the reset: steps 11-30 without 16, the
     * fds and the config call bring the device back. */
    assert_int_equal(set_status(c, 0x03), 0);
    assert_int_equal(ack_u64(c, VU_REQ_SET_FEATURES, features, -1), 0);
    assert_int_equal(set_status(c, 0x0B), 0);
    for (unsigned i = 0; i < 2; i++) {
        lay_out_ring(c, i, 256);
        assert_int_equal(ack_state(c, VU_REQ_SET_VRING_ENABLE, i, 1), 0);
    }
    driver_ok(c);
    post_rx(c, 0, 1, 2048);
    send_frame(c, 1, frame, sizeof(frame));
    expect_frame(c, 0, frame, sizeof(frame));
    stop_backend(c);
}

/* Section 5.2: every refused transition, FEATURES_OK refusal, FAILED, reset. */
static void test_status_machine(void **state)
{
    struct ctx *c = *state;
    uint8_t config[8];
    uint64_t features;

    start_backend(c, "net", NULL);
    connect_fe(c);
    features = negotiate(c);
    assert_int_equal(get_status(c), 0);
    assert_int_not_equal(set_status(c, 0x0B), 0); /* skips ACK|DRIVER */
    assert_int_not_equal(set_status(c, 0x0F), 0);
    assert_int_not_equal(set_status(c, 0x80), 0); /* FAILED needs a non-zero base */
    assert_int_equal(get_status(c), 0);
    assert_int_equal(set_status(c, 0x01), 0);
    assert_int_equal(set_status(c, 0x01), 0);      /* same value: no-op */
    assert_int_not_equal(set_status(c, 0x00F), 0); /* DRIVER_OK without FEATURES_OK */
    assert_int_not_equal(set_status(c, 0x11), 0);  /* undefined bit 0x10 */
    assert_int_not_equal(set_status(c, 0x21), 0);  /* undefined bit 0x20 */
    assert_int_not_equal(set_status(c, 0x103), 0); /* bits 8-63 */
    assert_int_equal(get_status(c), 0x01);
    /* SET_FEATURES only in exactly 0x03. */
    assert_int_not_equal(ack_u64(c, VU_REQ_SET_FEATURES, features, -1), 0);
    assert_int_equal(set_status(c, 0x03), 0);
    assert_int_not_equal(set_status(c, 0x01), 0); /* clearing a bit */
    /* An unoffered feature is rejected outright and nothing is stored. */
    assert_int_not_equal(ack_u64(c, VU_REQ_SET_FEATURES, features | VU_BIT(VIRTIO_NET_F_CSUM), -1),
                         0);
    assert_int_not_equal(ack_u64(c, VU_REQ_SET_FEATURES, features | VU_BIT(VIRTIO_F_EVENT_IDX), -1),
                         0);
    assert_int_equal(set_status(c, 0x0B), 0); /* acked, but refused: */
    assert_int_equal(get_status(c), 0x03);    /* nothing was selected */
    /* A selection without VERSION_1 is refused at FEATURES_OK. */
    assert_int_equal(ack_u64(c, VU_REQ_SET_FEATURES, VU_BIT(VIRTIO_NET_F_MAC), -1), 0);
    assert_int_equal(set_status(c, 0x0B), 0);
    assert_int_equal(get_status(c), 0x03);
    assert_int_not_equal(set_status(c, 0x0F), 0); /* still no FEATURES_OK */
    /* Retry with a good set. */
    assert_int_equal(ack_u64(c, VU_REQ_SET_FEATURES, features, -1), 0);
    assert_int_equal(set_status(c, 0x0B), 0);
    assert_int_equal(get_status(c), 0x0B);
    /* After FEATURES_OK only a repeat of the negotiated set is accepted. */
    assert_int_not_equal(ack_u64(c, VU_REQ_SET_FEATURES, features & ~VU_BIT(VIRTIO_NET_F_MAC), -1),
                         0);
    assert_int_equal(ack_u64(c, VU_REQ_SET_FEATURES, features, -1), 0);
    assert_int_equal(set_status(c, 0x4B), 0); /* 0x40 in a write is ignored */
    assert_int_equal(get_status(c), 0x0B);
    assert_int_not_equal(set_status(c, 0x03), 0);             /* clearing FEATURES_OK */
    assert_int_not_equal(get_u64(c, VU_REQ_VDPA_SUSPEND), 0); /* not live */
    assert_int_not_equal(get_u64(c, VU_REQ_VDPA_RESUME), 0);
    /* FAILED: only reset leads on; config stays readable. */
    assert_int_equal(set_status(c, 0x8B), 0);
    assert_int_equal(get_status(c), 0x8B);
    assert_int_equal(set_status(c, 0x8F), EBUSY);  /* row 4 */
    assert_int_equal(set_status(c, 0x9B), EINVAL); /* undefined bit: malformed in any state */
    assert_int_equal(get_status(c), 0x8B);
    assert_int_not_equal(ack_state(c, VU_REQ_SET_VRING_ENABLE, 0, 1), 0);
    assert_int_not_equal(ack_state(c, VU_REQ_SET_VRING_NUM, 0, 64), 0);
    assert_int_equal(get_config(c, 0, 6, config), 12 + 6);
    /* Reset: everything VIRTIO-visible is gone. */
    assert_int_equal(set_status(c, 0), 0);
    assert_int_equal(get_status(c), 0);
    assert_int_equal(set_status(c, 0), 0);            /* resetting twice is fine */
    assert_int_equal(get_config(c, 0, 6, config), 0); /* no config in status 0 */
    assert_int_not_equal(ack_state(c, VU_REQ_SET_VRING_NUM, 0, 64), 0);
    /* The features were cleared too: FEATURES_OK needs a new selection. */
    assert_int_equal(set_status(c, 0x03), 0);
    assert_int_equal(set_status(c, 0x0B), 0);
    assert_int_equal(get_status(c), 0x03);
    /* Ring layout only between FEATURES_OK and DRIVER_OK. */
    assert_int_equal(ack_u64(c, VU_REQ_SET_FEATURES, features, -1), 0);
    assert_int_equal(set_status(c, 0x0B), 0);
    assert_int_not_equal(ack_state(c, VU_REQ_SET_VRING_NUM, 0, 0), 0);    /* 0 */
    assert_int_not_equal(ack_state(c, VU_REQ_SET_VRING_NUM, 0, 48), 0);   /* not 2^n */
    assert_int_not_equal(ack_state(c, VU_REQ_SET_VRING_NUM, 0, 2048), 0); /* > max 1024 */
    assert_int_not_equal(ack_state(c, VU_REQ_SET_VRING_NUM, 2, 64), 0);   /* no ring 2 */
    assert_int_not_equal(ack_state(c, VU_REQ_SET_VRING_BASE, 0, 0x10000), 0);
    assert_int_not_equal(ack_state(c, VU_REQ_SET_VRING_ENABLE, 0, 2), 0);
    assert_int_equal(ack_state(c, VU_REQ_SET_VRING_NUM, 0, 64), 0);
    /* DRIVER_OK with an enabled ring that has no address: acked 0, but the
     * device cannot start and says so. */
    install_config_call(c);
    assert_int_equal(ack_state(c, VU_REQ_SET_VRING_ENABLE, 0, 1), 0);
    assert_int_equal(set_status(c, 0x0F), 0);
    assert_int_equal(get_status(c), 0x4F);
    assert_true(eventfd_fired(c->config_call, TIMEOUT_MS));
    assert_int_not_equal(get_u64(c, VU_REQ_VDPA_RESUME), 0);
    assert_int_equal(set_status(c, 0), 0);
    assert_int_equal(get_status(c), 0);
    stop_backend(c);
}

/* Config space of virtio-net (6.2), VQS_COUNT with MQ, provisioning, the
 * MQ -> CTRL_VQ dependency, and the control queue. */
static void test_config_net(void **state)
{
    struct ctx *c = *state;
    uint8_t config[24];
    uint64_t features;

    start_backend(c, "net", "--mac 02:11:22:33:44:55 --mtu 9000 --queue-pairs 2");
    connect_fe(c);
    features = negotiate(c);
    assert_int_equal(features, NET_BASE_FEATURES | VU_BIT(VIRTIO_NET_F_MTU) |
                                   VU_BIT(VIRTIO_NET_F_MQ) | VU_BIT(VIRTIO_NET_F_CTRL_VQ));
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_VQS_COUNT), 5);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_CONFIG_SIZE), 24);
    assert_int_equal(get_config(c, 0, 24, config), 0); /* status 0 */
    assert_int_equal(set_status(c, 0x01), 0);
    assert_int_equal(get_config(c, 0, 24, config), 12 + 24);
    static const uint8_t want[12] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55,
                                      0x01, 0x00, 0x02, 0x00, 0x28, 0x23 };
    assert_memory_equal(config, want, 12);
    for (unsigned i = 12; i < 24; i++)
        assert_int_equal(config[i], 0);
    /* Slices; out of range and bad flags are rejected with an empty reply. */
    assert_int_equal(get_config(c, 10, 2, config), 12 + 2);
    assert_int_equal(config[0] | config[1] << 8, 9000);
    assert_int_equal(get_config(c, 20, 8, config), 0);
    assert_int_equal(get_config(c, 24, 1, config), 0);
    assert_int_equal(get_config(c, 0, 0, config), 0);
    /* Driver writes: nothing in virtio-net is driver-writable. */
    assert_int_not_equal(set_config(c, 0, 6, 0, "\x02\0\0\0\0\x01"), 0);
    /* Provisioning (flags 1) only in 0x03, only mac and mtu. */
    assert_int_not_equal(set_config(c, 0, 6, 1, "\x02\0\0\0\0\x01"), 0); /* status 0x01 */
    assert_int_equal(set_status(c, 0x03), 0);
    assert_int_equal(set_config(c, 0, 6, 1, "\x02\xaa\xbb\xcc\xdd\xee"), 0);
    assert_int_equal(set_config(c, 10, 2, 1, "\xdc\x05"), 0);
    assert_int_not_equal(set_config(c, 10, 2, 1, "\x10\x00"), 0);        /* mtu < 68 */
    assert_int_not_equal(set_config(c, 4, 4, 1, "\x01\x02\x03\x04"), 0); /* touches status */
    assert_int_equal(get_config(c, 0, 12, config), 12 + 12);
    assert_memory_equal(config, "\x02\xaa\xbb\xcc\xdd\xee\x01\x00\x02\x00\xdc\x05", 12);
    /* MQ without CTRL_VQ breaks a VIRTIO dependency: refused. */
    assert_int_equal(ack_u64(c, VU_REQ_SET_FEATURES, features & ~VU_BIT(VIRTIO_NET_F_CTRL_VQ), -1),
                     0);
    assert_int_equal(set_status(c, 0x0B), 0);
    assert_int_equal(get_status(c), 0x03);
    assert_int_equal(ack_u64(c, VU_REQ_SET_FEATURES, features, -1), 0);
    assert_int_equal(set_status(c, 0x0B), 0);
    assert_int_equal(get_status(c), 0x0B);
    assert_int_not_equal(set_config(c, 0, 6, 1, "\x02\0\0\0\0\x01"), 0); /* after FEATURES_OK */

    /* Rings 0-3 data, ring 4 control. Pair 1 carries nothing until the
     * driver sets 2 pairs through the control queue. */
    c->features = features;
    send_mem_table(c);
    setup_rings(c, 5, RING_SIZE);
    enable_rings(c);
    install_config_call(c);
    driver_ok(c);
    uint8_t frame[80];
    make_frame(frame, sizeof(frame), 3);
    post_rx(c, 2, 1, 2048);
    send_frame(c, 3, frame, sizeof(frame));
    expect_tx_done(c, 3);
    void *token;
    uint32_t len;
    assert_false(wait_used(c, 2, &token, &len, 200)); /* pair 1 inactive: dropped */

    uint8_t *cmd = alloc(c, 4), *ack = alloc(c, 1);
    cmd[0] = VIRTIO_NET_CTRL_MQ;
    cmd[1] = VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET;
    cmd[2] = 2;
    cmd[3] = 0;
    *ack = 0xff;
    struct vq_buf b[2] = { { dma_gpa(&c->mem, cmd), 4, false },
                           { dma_gpa(&c->mem, ack), 1, true } };
    assert_int_equal(vq_driver_add(&c->vq[4], b, 2, cmd), 0);
    vq_driver_kick(c->kick[4]);
    assert_true(wait_used(c, 4, &token, &len, TIMEOUT_MS));
    assert_int_equal(len, 1);
    assert_int_equal(*ack, VIRTIO_NET_OK);
    send_frame(c, 3, frame, sizeof(frame));
    expect_frame(c, 2, frame, sizeof(frame));
    stop_backend(c);
}

/* Config space of virtio-blk (6.3), device ID, capacity from the file. */
static void test_config_blk(void **state)
{
    struct ctx *c = *state;
    uint8_t config[72];
    uint64_t capacity, features;
    uint32_t v32;

    make_disk(c, 1234 * 512 + 100); /* a partial sector at the end is not used */
    start_backend(c, "blk", "--disk {disk} --read-only --queue-size 128");
    connect_fe(c);
    features = negotiate(c);
    assert_int_equal(features,
                     BLK_FEATURES | VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(VIRTIO_BLK_F_RO));
    assert_false(vu_has_bit(features, VIRTIO_BLK_F_ZONED));
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_DEVICE_ID), 2);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_VQS_COUNT), 1);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_CONFIG_SIZE), 72);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_VRING_NUM), 128);
    assert_int_equal(set_status(c, 0x03), 0);
    assert_int_equal(get_config(c, 0, 72, config), 12 + 72);
    memcpy(&capacity, config, 8);
    assert_int_equal(capacity, 1234);
    memcpy(&v32, config + 12, 4);
    assert_int_equal(v32, 126); /* seg_max */
    memcpy(&v32, config + 20, 4);
    assert_int_equal(v32, 512);                        /* blk_size */
    assert_int_equal(config[34] | config[35] << 8, 0); /* num_queues: MQ not offered */
    assert_int_equal(get_config(c, 64, 9, config), 0); /* beyond 72 */
    /* blk has no provisioning and (without CONFIG_WCE) nothing writable. */
    assert_int_not_equal(set_config(c, 0, 8, 1, "\1\0\0\0\0\0\0\0"), 0);
    assert_int_equal(ack_u64(c, VU_REQ_SET_FEATURES, features, -1), 0);
    assert_int_equal(set_status(c, 0x0B), 0);
    assert_int_not_equal(set_config(c, 32, 1, 0, "\1"), 0);
    stop_backend(c);

    /* Four queues: MQ and num_queues. */
    start_backend(c, "blk", "--disk {disk} --queue-pairs 4");
    connect_fe(c);
    features = negotiate(c);
    assert_true(vu_has_bit(features, VIRTIO_BLK_F_MQ));
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_VQS_COUNT), 4);
    assert_int_equal(set_status(c, 0x01), 0);
    assert_int_equal(get_config(c, 34, 2, config), 12 + 2);
    assert_int_equal(config[0] | config[1] << 8, 4);
    stop_backend(c);
}

/* Section 4: the forbidden legacy requests. */
static void test_forbidden_legacy(void **state)
{
    static const uint32_t forbidden[] = { VU_REQ_RESET_OWNER, VU_REQ_GET_QUEUE_NUM,
                                          VU_REQ_NET_SET_MTU, VU_REQ_RESET_DEVICE };
    struct ctx *c = *state;
    struct vu_msg m;

    start_backend(c, "net", NULL);
    connect_fe(c);
    negotiate(c);
    assert_int_equal(set_status(c, 0x03), 0);
    for (unsigned i = 0; i < 4; i++) {
        vu_msg_init(&m, forbidden[i], NEED);
        if (forbidden[i] == VU_REQ_NET_SET_MTU)
            vu_msg_set_u64(&m, 1500);
        send_msg(c, &m);
        recv_reply(c, forbidden[i], &m);
        assert_int_equal(m.hdr.size, 8);
        assert_int_equal(m.payload.u64, EOPNOTSUPP);
        /* Never performed: RESET_OWNER / RESET_DEVICE did not reset. */
        assert_int_equal(get_status(c), 0x03);
    }
    end_session(c);
    /* Without NEED_REPLY: the connection is closed; the next one works. */
    for (unsigned i = 0; i < 4; i++) {
        connect_fe(c);
        negotiate(c);
        vu_msg_init(&m, forbidden[i], 0);
        if (forbidden[i] == VU_REQ_NET_SET_MTU)
            vu_msg_set_u64(&m, 1500);
        send_msg(c, &m);
        assert_true(closed_within(c, TIMEOUT_MS));
        end_session(c);
    }
    stop_backend(c);
}

/* 2.2/2.3: protocol-feature negotiation; a session without F_VDPA is closed. */
static void test_non_vdpa_refused(void **state)
{
    struct ctx *c = *state;
    struct vu_msg m;
    uint64_t plain = VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG);

    start_backend(c, "net", NULL);
    /* A legacy front-end (DPDK virtio-user style): SET_OWNER first. */
    connect_fe(c);
    vu_msg_init(&m, VU_REQ_SET_OWNER, 0);
    send_msg(c, &m);
    assert_true(closed_within(c, TIMEOUT_MS));
    end_session(c);

    /* QEMU style: negotiates without bit 63 (acked, it is a valid vhost-user
     * exchange), then the first other request closes the connection. */
    connect_fe(c);
    get_u64(c, VU_REQ_GET_FEATURES);
    get_u64(c, VU_REQ_GET_PROTOCOL_FEATURES);
    assert_int_equal(ack_u64(c, VU_REQ_SET_PROTOCOL_FEATURES, plain, -1), 0);
    vu_msg_init(&m, VU_REQ_SET_OWNER, NEED);
    send_msg(c, &m);
    assert_true(closed_within(c, TIMEOUT_MS));
    end_session(c);

    /* Bit 63 without STATUS: a failure ack (NEED_REPLY and REPLY_ACK in the
     * value), nothing negotiated, and the front-end may retry. */
    connect_fe(c);
    get_u64(c, VU_REQ_GET_FEATURES);
    assert_int_equal(
        ack_u64(c, VU_REQ_SET_PROTOCOL_FEATURES, PF_VDPA_SET & ~VU_BIT(VU_PF_STATUS), -1), EINVAL);
    /* An unoffered bit: likewise. */
    assert_int_equal(ack_u64(c, VU_REQ_SET_PROTOCOL_FEATURES,
                             PF_VDPA_SET | VU_BIT(VU_PF_CONFIGURE_MEM_SLOTS), -1),
                     EINVAL);
    assert_int_equal(ack_u64(c, VU_REQ_SET_PROTOCOL_FEATURES, PF_VDPA_SET, -1), 0);
    assert_int_equal(ack_empty(c, VU_REQ_SET_OWNER), 0);
    assert_int_not_equal(ack_empty(c, VU_REQ_SET_OWNER), 0); /* only once */
    /* Once negotiated, F_VDPA cannot be renegotiated. */
    assert_int_not_equal(ack_u64(c, VU_REQ_SET_PROTOCOL_FEATURES, PF_VDPA_SET, -1), 0);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_DEVICE_ID), 1);
    end_session(c);

    /* Bit 63 without REPLY_ACK and without NEED_REPLY: closed. */
    connect_fe(c);
    vu_msg_init(&m, VU_REQ_SET_PROTOCOL_FEATURES, 0);
    vu_msg_set_u64(&m, PF_VDPA_SET & ~VU_BIT(VU_PF_REPLY_ACK));
    send_msg(c, &m);
    assert_true(closed_within(c, TIMEOUT_MS));
    end_session(c);
    stop_backend(c);
}

/* 3.1: malformed and unsupported requests are rejected by the rule. */
static void test_rejections(void **state)
{
    struct ctx *c = *state;
    struct vu_msg m;
    int efd = new_eventfd();

    start_backend(c, "net", NULL);
    connect_fe(c);
    negotiate(c);
    features_ok(c, NET_BASE_FEATURES);
    /* Wrong payload size. */
    {
        uint32_t half = 64;
        vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 0);
        vu_msg_set_payload(&m, &half, sizeof(half));
        assert_int_equal(ack_msg(c, &m), EINVAL);
    }
    /* An fd where none belongs (and it is closed by the back-end). */
    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 0);
    vu_msg_set_state(&m, 0, 64);
    vu_msg_add_fd(&m, fcntl(efd, F_DUPFD_CLOEXEC, 3));
    assert_int_equal(ack_msg(c, &m), EINVAL);
    /* Reserved bits in ring-fd and config-call requests; NOFD with an fd. */
    assert_int_not_equal(ack_u64(c, VU_REQ_SET_VRING_CALL, 0x1000 | 0x100, -1), 0);
    assert_int_not_equal(ack_u64(c, VU_REQ_VDPA_SET_CONFIG_CALL, 0x1, efd), 0);
    assert_int_not_equal(ack_u64(c, VU_REQ_VDPA_SET_CONFIG_CALL, 0x100, efd), 0);
    assert_int_equal(ack_u64(c, VU_REQ_VDPA_SET_CONFIG_CALL, 0x100, -1), 0);
    assert_int_equal(ack_u64(c, VU_REQ_SET_VRING_KICK, 0x100 | 1, -1), 0); /* NOFD is fine */
    /* A ring index beyond VQS_COUNT. */
    assert_int_not_equal(ack_u64(c, VU_REQ_SET_VRING_KICK, 2, efd), 0);
    /* Unknown ids, reserved vdpa-user ids, and requests we do not offer. */
    assert_int_equal(ack_empty(c, 0x17A), EOPNOTSUPP);
    assert_int_equal(ack_empty(c, 999), EOPNOTSUPP);
    /* (one with a reply payload of its own: an empty reply) */
    vu_msg_init(&m, VU_REQ_GET_MAX_MEM_SLOTS, NEED);
    send_msg(c, &m);
    recv_reply(c, VU_REQ_GET_MAX_MEM_SLOTS, &m);
    assert_int_equal(m.hdr.size, 0);
    vu_msg_init(&m, VU_REQ_SET_LOG_FD, 0);
    vu_msg_add_fd(&m, fcntl(efd, F_DUPFD_CLOEXEC, 3));
    assert_int_equal(ack_msg(c, &m), EOPNOTSUPP);
    /* A request with its own reply payload fails with an empty reply. */
    vu_msg_init(&m, VU_REQ_GET_STATUS, 0);
    vu_msg_set_u64(&m, 0);
    send_msg(c, &m);
    recv_reply(c, VU_REQ_GET_STATUS, &m);
    assert_int_equal(m.hdr.size, 0);
    /* A memory table whose region is larger than its file. */
    {
        struct dma_arena small;
        struct vu_mem_region r;
        assert_int_equal(dma_arena_create(&small, 4096, 0), 0);
        r = dma_region(&small);
        r.memory_size = 1 << 20;
        vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
        vu_msg_set_mem_table(&m, &r, 1);
        vu_msg_add_fd(&m, fcntl(small.fd, F_DUPFD_CLOEXEC, 3));
        assert_int_equal(ack_msg(c, &m), EINVAL);
        dma_arena_destroy(&small);
    }
    /* The session is still fine. */
    assert_int_equal(get_status(c), 0x0B);
    /* Without NEED_REPLY a rejection closes the connection. */
    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 0);
    vu_msg_set_state(&m, 0, 3);
    send_msg(c, &m);
    assert_true(closed_within(c, TIMEOUT_MS));
    end_session(c);
    /* A header announcing more than any message may carry: closed. */
    connect_fe(c);
    negotiate(c);
    {
        uint32_t hdr[3] = { VU_REQ_GET_STATUS, VU_VERSION, 1u << 20 };
        assert_int_equal(write(c->fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
    }
    assert_true(closed_within(c, TIMEOUT_MS));
    close(efd);
    stop_backend(c);
}

/* virtio-blk I/O through a ring: write a pattern, read it back, check the
 * file; GET_ID; flush; out-of-range sectors; unsupported requests. */
static void test_blk_io(void **state)
{
    struct ctx *c = *state;
    uint8_t *pattern = malloc(8192), *back = malloc(8192), id[20];
    uint32_t used;
    int fd;

    assert_non_null(pattern);
    assert_non_null(back);
    make_disk(c, DISK_SECTORS * 512ull);
    start_backend(c, "blk", "--disk {disk} --stats {stats}");
    bring_up(c, BLK_FEATURES, 1);
    for (unsigned i = 0; i < 8192; i++)
        pattern[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(blk_request(c, VIRTIO_BLK_T_OUT, 100, pattern, 8192, &used), 0);
    assert_int_equal(used, 1);
    memset(back, 0, 8192);
    assert_int_equal(blk_request(c, VIRTIO_BLK_T_IN, 100, back, 8192, &used), 0);
    assert_int_equal(used, 8192 + 1);
    assert_memory_equal(back, pattern, 8192);
    assert_int_equal(blk_request(c, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &used), 0);
    /* The file holds the data at sector 100. */
    fd = open(c->disk_path, O_RDONLY);
    assert_true(fd >= 0);
    memset(back, 0, 8192);
    assert_int_equal(pread(fd, back, 8192, 100 * 512), 8192);
    assert_memory_equal(back, pattern, 8192);
    close(fd);
    /* The last sector is fine, one past it is not; a length that is not a
     * whole number of sectors is not either. */
    assert_int_equal(blk_request(c, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, back, 512, NULL), 0);
    assert_int_equal(blk_request(c, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, back, 1024, &used),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(used, 1);
    assert_int_equal(blk_request(c, VIRTIO_BLK_T_OUT, DISK_SECTORS, pattern, 512, NULL),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(blk_request(c, VIRTIO_BLK_T_IN, UINT64_MAX - 1, back, 1024, NULL),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(blk_request(c, VIRTIO_BLK_T_IN, 0, back, 100, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(blk_request(c, 42, 0, NULL, 0, NULL), VIRTIO_BLK_S_UNSUPP);
    memset(id, 0xff, sizeof(id));
    assert_int_equal(blk_request(c, VIRTIO_BLK_T_GET_ID, 0, id, 20, &used), 0);
    assert_int_equal(used, 21);
    assert_memory_equal(id, "disk.img\0\0\0\0\0\0\0\0\0\0\0\0", 20);
    /* Counters on SIGUSR1. */
    kill(c->pid, SIGUSR1);
    {
        char line[128];
        unsigned long long reads = 0, writes = 0, errors = 0;
        FILE *f = NULL;
        for (int i = 0; i < 300 && !f; i++) {
            f = fopen(c->stats_path, "r");
            if (!f)
                usleep(10000);
        }
        assert_non_null(f);
        while (fgets(line, sizeof(line), f)) {
            sscanf(line, "blk_reads %llu", &reads);
            sscanf(line, "blk_writes %llu", &writes);
            sscanf(line, "blk_errors %llu", &errors);
        }
        fclose(f);
        assert_int_equal(reads, 2);
        assert_int_equal(writes, 1);
        assert_int_equal(errors, 4);
    }
    free(pattern);
    free(back);
    stop_backend(c);
}

/* A read-only disk refuses writes with IOERR and leaves the file alone. */
static void test_blk_read_only(void **state)
{
    struct ctx *c = *state;
    uint8_t data[512], back[512];
    int fd;

    make_disk(c, DISK_SECTORS * 512ull);
    start_backend(c, "blk", "--disk {disk} --read-only");
    bring_up(c, BLK_FEATURES | VU_BIT(VIRTIO_BLK_F_RO), 1);
    memset(data, 0xab, sizeof(data));
    assert_int_equal(blk_request(c, VIRTIO_BLK_T_OUT, 0, data, 512, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(blk_request(c, VIRTIO_BLK_T_IN, 0, back, 512, NULL), 0);
    fd = open(c->disk_path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, back, 512, 0), 512);
    close(fd);
    for (unsigned i = 0; i < 512; i++)
        assert_int_equal(back[i], 0);
    stop_backend(c);
}

/* Loopback: frames of several sizes out on TX come back on RX; RX buffers
 * posted after the frames still receive them (back-pressure, no loss). */
static void test_net_loopback(void **state)
{
    struct ctx *c = *state;
    static const uint32_t sizes[] = { 14, 60, 1514, 4000, 9014 };
    uint8_t frame[9014];

    start_backend(c, "net", "--stats {stats}");
    bring_up(c, NET_BASE_FEATURES, 2);
    post_rx(c, 0, 5, 12 + 9014);
    for (unsigned k = 0; k < 5; k++) {
        make_frame(frame, sizes[k], k + 1);
        send_frame(c, 1, frame, sizes[k]);
    }
    for (unsigned k = 0; k < 5; k++) {
        make_frame(frame, sizes[k], k + 1);
        expect_frame(c, 0, frame, sizes[k]);
        expect_tx_done(c, 1);
    }
    /* No RX buffer: TX waits in the ring... */
    make_frame(frame, 100, 77);
    send_frame(c, 1, frame, 100);
    void *token;
    uint32_t len;
    assert_false(wait_used(c, 1, &token, &len, 200));
    /* ...until the driver posts one. */
    post_rx(c, 0, 1, 2048);
    expect_frame(c, 0, frame, 100);
    expect_tx_done(c, 1);
    /* A buffer too small is skipped: the frame is dropped, the buffer kept. */
    post_rx(c, 0, 1, 64);
    make_frame(frame, 200, 78);
    send_frame(c, 1, frame, 200);
    expect_tx_done(c, 1);
    assert_false(wait_used(c, 0, &token, &len, 200));
    make_frame(frame, 40, 79);
    send_frame(c, 1, frame, 40);
    expect_frame(c, 0, frame, 40);
    assert_int_equal(get_status(c), 0x0F);
    stop_backend(c);
    {
        FILE *f = fopen(c->stats_path, "r");
        char line[128];
        unsigned long long tx = 0, rx = 0, drop = 0;
        assert_non_null(f);
        while (fgets(line, sizeof(line), f)) {
            sscanf(line, "net_tx_packets %llu", &tx);
            sscanf(line, "net_rx_packets %llu", &rx);
            sscanf(line, "net_rx_dropped %llu", &drop);
        }
        fclose(f);
        assert_int_equal(tx, 8);
        assert_int_equal(rx, 7);
        assert_int_equal(drop, 1);
    }
}

static int udp_socket(uint16_t *port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* UDP mode: TX payloads arrive at --udp-peer; datagrams sent to --udp-bind
 * arrive on RX. */
static void test_net_udp(void **state)
{
    struct ctx *c = *state;
    uint16_t peer_port, be_port;
    int peer = udp_socket(&peer_port), probe = udp_socket(&be_port);
    char args[160];
    uint8_t frame[300], got[400];
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct pollfd p = { .fd = peer, .events = POLLIN };

    close(probe); /* the back-end binds this port */
    snprintf(args, sizeof(args), "--net-mode udp --udp-bind 127.0.0.1:%u --udp-peer 127.0.0.1:%u",
             be_port, peer_port);
    start_backend(c, "net", args);
    bring_up(c, NET_BASE_FEATURES, 2);
    make_frame(frame, sizeof(frame), 5);
    send_frame(c, 1, frame, sizeof(frame));
    expect_tx_done(c, 1);
    assert_int_equal(poll(&p, 1, TIMEOUT_MS), 1);
    assert_int_equal(recv(peer, got, sizeof(got), 0), sizeof(frame));
    assert_memory_equal(got, frame, sizeof(frame));

    post_rx(c, 0, 2, 2048);
    to.sin_port = htons(be_port);
    make_frame(frame, 123, 6);
    assert_int_equal(sendto(peer, frame, 123, 0, (struct sockaddr *)&to, sizeof(to)), 123);
    expect_frame(c, 0, frame, 123);
    close(peer);
    stop_backend(c);
}

/* SUSPEND stops the rings with exact bases; kicks while suspended are not
 * processed; ring setup is accepted while suspended; RESUME checks for
 * pending buffers at once. */
static void test_suspend_resume(void **state)
{
    struct ctx *c = *state;
    uint8_t frame[64];
    void *token;
    uint32_t len;

    start_backend(c, "net", NULL);
    bring_up(c, NET_BASE_FEATURES, 2);
    post_rx(c, 0, 8, 2048);
    for (unsigned k = 0; k < 5; k++) {
        make_frame(frame, sizeof(frame), k);
        send_frame(c, 1, frame, sizeof(frame));
        expect_frame(c, 0, frame, sizeof(frame));
        expect_tx_done(c, 1);
    }
    assert_int_equal(get_u64(c, VU_REQ_VDPA_SUSPEND), 0);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_SUSPEND), 0); /* idempotent */
    assert_int_equal(get_vring_base(c, 0), 5);
    assert_int_equal(get_vring_base(c, 1), 5);
    /* Work queued while suspended stays in the ring. */
    make_frame(frame, sizeof(frame), 20);
    send_frame(c, 1, frame, sizeof(frame));
    assert_false(wait_used(c, 1, &token, &len, 300));
    assert_int_equal(get_vring_base(c, 1), 5);
    /* Status unchanged; layout writable again; DRIVER_OK writes refused. */
    assert_int_equal(get_status(c), 0x0F);
    assert_int_equal(ack_state(c, VU_REQ_SET_VRING_BASE, 0, 5), 0);
    assert_int_not_equal(set_status(c, 0x0B), 0); /* row 4: suspended */
    /* FAILED is allowed while suspended (row 3); then RESUME is refused. */
    assert_int_equal(set_status(c, 0x8F), 0);
    assert_int_equal(get_status(c), 0x8F);
    assert_int_not_equal(get_u64(c, VU_REQ_VDPA_RESUME), 0);
    end_session(c);

    /* A second device: suspend, disable+enable while suspended, resume. */
    bring_up(c, NET_BASE_FEATURES, 2);
    post_rx(c, 0, 4, 2048);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_SUSPEND), 0);
    make_frame(frame, sizeof(frame), 30);
    send_frame(c, 1, frame, sizeof(frame));
    assert_int_equal(ack_state(c, VU_REQ_SET_VRING_ENABLE, 1, 0), 0);
    assert_int_equal(ack_state(c, VU_REQ_SET_VRING_ENABLE, 1, 1), 0);
    assert_false(wait_used(c, 1, &token, &len, 200));
    assert_int_equal(get_u64(c, VU_REQ_VDPA_RESUME), 0);
    /* Pending buffers are found without a new kick. */
    expect_frame(c, 0, frame, sizeof(frame));
    expect_tx_done(c, 1);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_RESUME), 0); /* idempotent */
    assert_int_equal(get_vring_base(c, 1), 1);
    /* Disabling a running ring stops it at once. */
    assert_int_equal(ack_state(c, VU_REQ_SET_VRING_ENABLE, 1, 0), 0);
    send_frame(c, 1, frame, sizeof(frame));
    assert_false(wait_used(c, 1, &token, &len, 200));
    assert_int_equal(get_vring_base(c, 1), 1);
    assert_int_equal(ack_state(c, VU_REQ_SET_VRING_ENABLE, 1, 1), 0);
    expect_frame(c, 0, frame, sizeof(frame));
    stop_backend(c);
}

/* 5.5: a hostile ring sets DEVICE_NEEDS_RESET, signals the err fd and the
 * config-call eventfd, and the back-end survives. */
static void test_bad_descriptors(void **state)
{
    struct ctx *c = *state;
    struct vq_buf bad = { 0xdead00000000ull, 64, false };
    uint8_t frame[64];

    start_backend(c, "net", NULL);
    bring_up(c, NET_BASE_FEATURES, 2);
    post_rx(c, 0, 2, 2048);
    assert_int_equal(vq_driver_add(&c->vq[1], &bad, 1, frame), 0);
    vq_driver_kick(c->kick[1]);
    if (!eventfd_fired(c->config_call, TIMEOUT_MS)) {
        dump_log(c);
        fail_msg("config-call eventfd not signalled");
    }
    assert_true(eventfd_fired(c->err[1], TIMEOUT_MS));
    assert_int_equal(get_status(c), 0x4F);
    /* NEEDS_RESET: SUSPEND allowed (5.4 note), RESUME and ring setup not. */
    assert_int_equal(get_u64(c, VU_REQ_VDPA_SUSPEND), 0);
    assert_int_equal(get_vring_base(c, 1), 0); /* the bad chain was not consumed */
    assert_int_not_equal(get_u64(c, VU_REQ_VDPA_RESUME), 0);
    assert_int_not_equal(ack_state(c, VU_REQ_SET_VRING_ENABLE, 0, 1), 0);
    assert_int_equal(set_status(c, 0x0F), 0); /* write-back with 0x40 stripped: no-op */
    assert_int_equal(get_status(c), 0x4F);

    /* Reset, and every other kind of bad ring in turn. */
    for (int kind = 0; kind < 7; kind++) {
        struct vq_driver *vq;
        features_ok(c, NET_BASE_FEATURES);
        setup_rings(c, 2, RING_SIZE);
        enable_rings(c);
        driver_ok(c);
        post_rx(c, 0, 1, 2048); /* loopback takes TX chains only when RX has room */
        vq = &c->vq[1];
        uint8_t *buf = alloc(c, 64);
        uint64_t gpa = dma_gpa(&c->mem, buf);
        switch (kind) {
        case 0: /* a loop: 0 -> 1 -> 0 */
            vq->desc[0] = (struct vq_desc){ gpa, 12, VQ_DESC_F_NEXT, 1 };
            vq->desc[1] = (struct vq_desc){ gpa, 12, VQ_DESC_F_NEXT, 0 };
            vq->avail->ring[0] = 0;
            break;
        case 1: /* head out of range */
            vq->avail->ring[0] = RING_SIZE + 3;
            break;
        case 2: /* next out of range */
            vq->desc[0] = (struct vq_desc){ gpa, 12, VQ_DESC_F_NEXT, 999 };
            vq->avail->ring[0] = 0;
            break;
        case 3: /* a buffer that wraps around the address space */
            vq->desc[0] = (struct vq_desc){ UINT64_MAX - 8, 64, 0, 0 };
            vq->avail->ring[0] = 0;
            break;
        case 5: /* a device-readable descriptor after a device-writable one */
            vq->desc[0] = (struct vq_desc){ gpa, 12, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 1 };
            vq->desc[1] = (struct vq_desc){ gpa + 16, 12, 0, 0 };
            vq->avail->ring[0] = 0;
            break;
        case 6: /* an indirect descriptor, never offered */
            vq->desc[0] = (struct vq_desc){ gpa, 32, VQ_DESC_F_INDIRECT, 0 };
            vq->avail->ring[0] = 0;
            break;
        case 4: /* available index jumps by more than the ring size */
            vq->desc[0] = (struct vq_desc){ gpa, 12, 0, 0 };
            break;
        }
        __atomic_store_n(&vq->avail->idx, kind == 4 ? RING_SIZE + 5 : 1, __ATOMIC_RELEASE);
        vq_driver_kick(c->kick[1]);
        if (!eventfd_fired(c->config_call, TIMEOUT_MS)) {
            dump_log(c);
            fail_msg("bad ring kind %d: config-call not signalled", kind);
        }
        assert_int_equal(get_status(c), 0x4F);
    }
    /* A ring whose memory is replaced by a table without it. */
    features_ok(c, NET_BASE_FEATURES);
    setup_rings(c, 2, RING_SIZE);
    enable_rings(c);
    driver_ok(c);
    {
        struct dma_arena other;
        struct vu_mem_region r;
        struct vu_msg m;
        assert_int_equal(dma_arena_create(&other, 1 << 20, ARENA_GPA), 0);
        r = dma_region(&other);
        vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
        vu_msg_set_mem_table(&m, &r, 1);
        vu_msg_add_fd(&m, fcntl(other.fd, F_DUPFD_CLOEXEC, 3));
        assert_int_equal(ack_msg(c, &m), 0);
        assert_true(eventfd_fired(c->config_call, TIMEOUT_MS));
        assert_int_equal(get_status(c), 0x4F);
        dma_arena_destroy(&other);
    }
    /* Back to the good table: the device works again after a reset. */
    send_mem_table(c);
    features_ok(c, NET_BASE_FEATURES);
    setup_rings(c, 2, RING_SIZE);
    enable_rings(c);
    driver_ok(c);
    post_rx(c, 0, 1, 2048);
    make_frame(frame, sizeof(frame), 1);
    send_frame(c, 1, frame, sizeof(frame));
    expect_frame(c, 0, frame, sizeof(frame));
    stop_backend(c);
}

/* Section 7: a device-initiated config change (disk resize on SIGHUP) is
 * signalled when deliverable, held back while suspended, and delivered on
 * RESUME. */
static void test_config_change(void **state)
{
    struct ctx *c = *state;
    uint8_t config[8];
    uint64_t capacity;

    make_disk(c, DISK_SECTORS * 512ull);
    start_backend(c, "blk", "--disk {disk}");
    bring_up(c, BLK_FEATURES, 1);
    assert_int_equal(truncate(c->disk_path, 2 * DISK_SECTORS * 512ull), 0);
    kill(c->pid, SIGHUP);
    assert_true(eventfd_fired(c->config_call, TIMEOUT_MS));
    assert_int_equal(get_status(c), 0x0F);
    assert_int_equal(get_config(c, 0, 8, config), 12 + 8);
    memcpy(&capacity, config, 8);
    assert_int_equal(capacity, 2 * DISK_SECTORS);
    /* Held back while suspended. */
    assert_int_equal(get_u64(c, VU_REQ_VDPA_SUSPEND), 0);
    assert_int_equal(truncate(c->disk_path, 3 * DISK_SECTORS * 512ull), 0);
    kill(c->pid, SIGHUP);
    assert_false(eventfd_fired(c->config_call, 300));
    assert_int_equal(get_u64(c, VU_REQ_VDPA_RESUME), 0);
    assert_true(eventfd_fired(c->config_call, TIMEOUT_MS));
    assert_int_equal(get_config(c, 0, 8, config), 12 + 8);
    memcpy(&capacity, config, 8);
    assert_int_equal(capacity, 3 * DISK_SECTORS);
    stop_backend(c);
}

/* After a session the back-end holds exactly the fds it held before, and
 * takes the next front-end. --once exits after the first. */
static void test_no_fd_leak(void **state)
{
    struct ctx *c = *state;
    uint8_t frame[64];
    int idle, now = -1;

    start_backend(c, "net", "--queue-pairs 2");
    idle = fdcount_of(c->pid);
    assert_true(idle > 0);
    for (int round = 0; round < 2; round++) {
        uint64_t f = NET_BASE_FEATURES | VU_BIT(VIRTIO_NET_F_MQ) | VU_BIT(VIRTIO_NET_F_CTRL_VQ);
        bring_up(c, f, 5);
        post_rx(c, 0, 1, 2048);
        make_frame(frame, sizeof(frame), 2);
        send_frame(c, 1, frame, sizeof(frame));
        expect_frame(c, 0, frame, sizeof(frame));
        /* Replace some fds while running, and a second memory table. */
        assert_int_equal(ack_u64(c, VU_REQ_SET_VRING_CALL, 0, c->call[0]), 0);
        assert_int_equal(ack_u64(c, VU_REQ_SET_VRING_KICK, 1, c->kick[1]), 0);
        send_mem_table(c);
        {
            int sp[2];
            struct vu_msg m;
            assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
            vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, 0);
            vu_msg_add_fd(&m, sp[1]);
            /* BACKEND_REQ was not negotiated in negotiate(): rejected, fd closed. */
            assert_int_not_equal(ack_msg(c, &m), 0);
            close(sp[0]);
        }
        assert_true(fdcount_of(c->pid) > idle);
        end_session(c);
        for (int i = 0; i < 300; i++) {
            now = fdcount_of(c->pid);
            if (now == idle)
                break;
            usleep(10000);
        }
        assert_int_equal(now, idle);
        assert_int_equal(kill(c->pid, 0), 0);
    }
    stop_backend(c);

    /* --once: the first disconnect ends the process, cleanly. */
    start_backend(c, "net", "--once");
    bring_up(c, NET_BASE_FEATURES, 2);
    end_session(c);
    int status = 0;
    for (int i = 0; i < 300; i++) {
        if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
            c->pid = 0;
            break;
        }
        usleep(10000);
    }
    assert_int_equal(c->pid, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_false(log_has_sanitizer_report(c));
}

/* BACKEND_REQ negotiated: the channel fd is accepted and released. */
static void test_backend_req_fd(void **state)
{
    struct ctx *c = *state;
    struct vu_msg m;
    int sp[2], idle;

    start_backend(c, "net", NULL);
    idle = fdcount_of(c->pid);
    connect_fe(c);
    get_u64(c, VU_REQ_GET_FEATURES);
    assert_int_equal(
        ack_u64(c, VU_REQ_SET_PROTOCOL_FEATURES, PF_VDPA_SET | VU_BIT(VU_PF_BACKEND_REQ), -1), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, 0);
    vu_msg_add_fd(&m, sp[1]);
    assert_int_equal(ack_msg(c, &m), 0);
    /* The back-end never sends on it (no CONFIG_CHANGE_MSG under F_VDPA). */
    struct pollfd p = { .fd = sp[0], .events = POLLIN };
    assert_int_equal(poll(&p, 1, 100), 0);
    end_session(c);
    /* Released with the session: our end sees the peer gone. */
    assert_int_equal(poll(&p, 1, TIMEOUT_MS), 1);
    close(sp[0]);
    for (int i = 0; i < 300 && fdcount_of(c->pid) != idle; i++)
        usleep(10000);
    assert_int_equal(fdcount_of(c->pid), idle);
    stop_backend(c);
}

/* --connect: the back-end connects to a listening front-end. */
static void test_connect_mode(void **state)
{
    struct ctx *c = *state;
    char fe_path[96];
    int lfd, status = 0;

    snprintf(fe_path, sizeof(fe_path), "%s/fe.sock", c->dir);
    lfd = vu_listen_unix(fe_path, 0600);
    assert_true(lfd >= 0);
    /* start_backend waits for c->sock_path: point it at the front-end's. */
    snprintf(c->sock_path, sizeof(c->sock_path), "%s", fe_path);
    start_backend(c, "blk", "--connect --disk /dev/null");
    /* /dev/null is a valid (empty) disk: capacity 0. */
    struct pollfd p = { .fd = lfd, .events = POLLIN };
    assert_int_equal(poll(&p, 1, TIMEOUT_MS), 1);
    c->fd = vu_accept(lfd);
    assert_true(c->fd >= 0);
    assert_int_equal(vu_set_nonblocking(c->fd, false), 0);
    negotiate(c);
    assert_int_equal(get_u64(c, VU_REQ_VDPA_GET_DEVICE_ID), 2);
    end_session(c);
    for (int i = 0; i < 300 && c->pid; i++) {
        if (waitpid(c->pid, &status, WNOHANG) == c->pid)
            c->pid = 0;
        else
            usleep(10000);
    }
    assert_int_equal(c->pid, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_false(log_has_sanitizer_report(c));
    close(lfd);
}

/* The driver side of a ring reads nothing back from the shared descriptor
 * table a device can write: a device that turns a used chain into a loop
 * (or points it past the table) neither hangs the driver nor corrupts its
 * free list. The alarm fails a hang. */
static void test_driver_ignores_rewritten_descriptors(void **state)
{
    struct dma_arena a;
    struct vq_driver vq;
    struct vq_buf b[2] = { { .gpa = 0x1000, .len = 16 },
                           { .gpa = 0x2000, .len = 16, .writable = true } };
    int token = 1;
    void *got = NULL;
    uint32_t len = 0;

    (void)state;
    assert_int_equal(dma_arena_create(&a, 1 << 16, 0), 0);
    assert_int_equal(vq_driver_init(&vq, &a, 8), 0);
    for (int round = 0; round < 3; round++) {
        uint16_t head = vq.free_head;
        assert_int_equal(vq_driver_add(&vq, b, 2, &token), 0);
        /* the hostile device: a loop, then a link past the table */
        vq.desc[head].next = htole16(round == 1 ? 0xffff : head);
        vq.desc[head].flags |= htole16(VQ_DESC_F_NEXT);
        vq.used->ring[vq.last_used & (vq.num - 1)].id = htole32(head);
        vq.used->ring[vq.last_used & (vq.num - 1)].len = 0;
        __atomic_store_n(&vq.used->idx, htole16((uint16_t)(vq.last_used + 1)), __ATOMIC_RELEASE);
        alarm(10);
        assert_int_equal(vq_driver_get_used(&vq, &got, &len), 1);
        alarm(0);
        assert_ptr_equal(got, &token);
        assert_int_equal(vq.num_free, 8);
    }
    /* the free list is whole: all 8 descriptors can be taken again */
    for (int k = 0; k < 4; k++)
        assert_int_equal(vq_driver_add(&vq, b, 2, &token), 0);
    assert_int_equal(vq_driver_add(&vq, b, 1, &token), -ENOSPC);
    vq_driver_destroy(&vq);
    dma_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_driver_ignores_rewritten_descriptors),
        cmocka_unit_test_setup_teardown(test_bringup_example, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_status_machine, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_config_net, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_config_blk, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_forbidden_legacy, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_non_vdpa_refused, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_rejections, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_blk_io, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_blk_read_only, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_net_loopback, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_net_udp, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_suspend_resume, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_bad_descriptors, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_config_change, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_no_fd_leak, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_backend_req_fd, setup, backend_teardown),
        cmocka_unit_test_setup_teardown(test_connect_mode, setup, backend_teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("vdpa_backend", tests, NULL, NULL);
}
