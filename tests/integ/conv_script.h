/* SPDX-License-Identifier: MIT */
/*
 * Conversion bring-ups for the isolation tests (tests/integ/isolation.h): one
 * device of the two-device shim driven into down-conversion (a vdpa-user
 * front-end over a legacy back-end, the shim serving the virtio-net control
 * queue from guest memory) or up-conversion (a legacy front-end over a
 * vdpa-user back-end), so that its hostile peer can attack what the shim
 * does there.
 *
 * Unlike tests/integ/test_downconv.c and test_upconv.c, which check every
 * message the back-end receives, the back-end here is an auto-responder:
 * whatever the shim asks it answers from the message table (an ack where
 * NEED_REPLY is set, the value a request always gets), so a test only
 * writes the front-end's side. The one fd it keeps is the config-call
 * eventfd an up-converting shim hands it (cs.be_config_call).
 *
 *     struct cs_peer cs;
 *     struct cs_guest g;
 *     cs_init(&cs, &t, &t.attacker, CS_DOWN);
 *     cs_down_negotiate(&cs, CS_CTRL_FEATURES);
 *     cs_guest_init(&t, &g, 64);
 *     cs_mem_table(&cs, &g);
 *     cs_ctrl_layout(&cs, &g, g.kick, g.call); // asserts both fds accepted
 *     cs_fe_status(&cs, CS_ST_DRIVER_OK);      // the control queue runs
 *     cs_ctrl_post(&g, cmd, len); ... cs_ctrl_wait(&g, ms);
 *
 * Include after <cmocka.h>. Header-only (static functions).
 */
#ifndef VDPA_SHIM_TESTS_CONV_SCRIPT_H
#define VDPA_SHIM_TESTS_CONV_SCRIPT_H

#include <sys/eventfd.h>

#include "isolation.h"
#include "virtio.h"
#include "virtio/virtqueue.h"

#define CS_NEED           VU_FLAG_NEED_REPLY
#define CS_ST_DRIVER      (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define CS_ST_FEATURES_OK (CS_ST_DRIVER | VIRTIO_STATUS_FEATURES_OK)
#define CS_ST_DRIVER_OK   (CS_ST_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

/* A DPDK-like legacy net back-end: no MAC, no STATUS, no MQ of its own. */
#define CS_LEGACY_FEATURES                                                                         \
    (VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(VIRTIO_NET_F_MRG_RXBUF))
#define CS_LEGACY_PF (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_NET_MTU))
/* What a vdpa-user front-end acks over it (spec 2.2.3): CONFIG too, as a
 * revision-1 front-end does, though F_VDPA implies it and it is not shown. */
#define CS_VDPA_PF                                                                                 \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |      \
     VU_BIT(VU_PF_STATUS))
/* A vdpa-user net back-end, and what a legacy front-end acks over it. */
#define CS_VDPA_FEATURES                                                                           \
    (VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(VIRTIO_NET_F_MAC))
#define CS_LEGACY_ACK_PF (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK)) /* no CONFIG for net */
/* The driver's selection for a control queue: no MQ, so it is ring 2. */
#define CS_CTRL_FEATURES                                                                           \
    (VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VIRTIO_NET_F_CTRL_VQ) | VU_BIT(VIRTIO_NET_F_CTRL_RX))
#define CS_CTRL_RING       2u
#define CS_NET_DEVICE_ID   1u
#define CS_NET_PAIRS       1u                     /* the back-end's queue pairs */
#define CS_NET_VQS         (2 * CS_NET_PAIRS + 1) /* the vdpa-user back-end's: + control */
#define CS_NET_CONFIG_SIZE 24u
#define CS_GUEST_SIZE      (2u << 20) /* room for a 32768-entry queue */
#define CS_CMD_BYTES       16u        /* room for one control command */

enum cs_mode {
    CS_DOWN,
    CS_UP
};

/* One device's two scripted peers: the test's front-end and the
 * auto-responding back-end. */
struct cs_peer {
    struct iso *t;
    struct iso_dev *d;
    uint64_t be_features, be_pf, be_pairs;
    uint8_t be_status;    /* the last SET_STATUS the back-end got (vdpa-user) */
    int be_config_call;   /* VDPA_SET_CONFIG_CALL's fd the back-end got, or -1 */
    unsigned be_answered; /* messages the back-end answered */
    uint64_t be_seen;     /* bit r: the back-end heard request r (r < 64) */
};

/* The driver side of a control queue in guest memory the front-end owns. */
struct cs_guest {
    struct dma_arena arena; /* the memfd, SET_MEM_TABLE'd; gpa 0 */
    struct vq_driver vq;
    uint8_t *cmd, *ack; /* one command buffer and its ack byte */
    int kick, call;     /* the queue's eventfds (non-blocking), or -1 */
};

static inline void cs_init(struct cs_peer *p, struct iso *t, struct iso_dev *d, enum cs_mode mode)
{
    memset(p, 0, sizeof(*p));
    p->t = t;
    p->d = d;
    p->be_features = mode == CS_DOWN ? CS_LEGACY_FEATURES : CS_VDPA_FEATURES;
    p->be_pf = mode == CS_DOWN ? CS_LEGACY_PF : CS_VDPA_PF;
    p->be_pairs = CS_NET_PAIRS;
    p->be_config_call = -1;
}

static inline void cs_fini(struct cs_peer *p)
{
    fd_close(&p->be_config_call);
}

/* ---- the auto-responding back-end ---------------------------------------- */

/* What an auto-responding back-end answers the requests that always get a
 * value (any other gets an ack of 0). */
struct cs_answers {
    uint64_t features, pf;
    uint64_t queue_num;   /* GET_QUEUE_NUM */
    uint64_t device_id;   /* VDPA_GET_DEVICE_ID */
    uint64_t vqs;         /* VDPA_GET_VQS_COUNT */
    uint64_t config_size; /* VDPA_GET_CONFIG_SIZE */
    uint8_t status;       /* GET_STATUS */
};

/* The reply's payload: what the request always gets, else an ack of 0. */
static inline void cs_reply_payload(const struct cs_answers *a, const struct vu_msg *m,
                                    struct vu_msg *r)
{
    switch (m->hdr.request) {
    case VU_REQ_GET_FEATURES:
        vu_msg_set_u64(r, a->features);
        return;
    case VU_REQ_GET_PROTOCOL_FEATURES:
        vu_msg_set_u64(r, a->pf);
        return;
    case VU_REQ_GET_QUEUE_NUM:
        vu_msg_set_u64(r, a->queue_num);
        return;
    case VU_REQ_VDPA_GET_DEVICE_ID:
        vu_msg_set_u64(r, a->device_id);
        return;
    case VU_REQ_VDPA_GET_VQS_COUNT:
        vu_msg_set_u64(r, a->vqs);
        return;
    case VU_REQ_VDPA_GET_VRING_NUM:
        vu_msg_set_u64(r, VU_VRING_NUM_MAX);
        return;
    case VU_REQ_VDPA_GET_CONFIG_SIZE:
        vu_msg_set_u64(r, a->config_size);
        return;
    case VU_REQ_GET_STATUS:
        vu_msg_set_u64(r, a->status);
        return;
    case VU_REQ_GET_VRING_BASE:
        vu_msg_set_state(r, m->payload.state.index, 0);
        return;
    case VU_REQ_GET_CONFIG: {
        uint8_t zeros[VU_MAX_CONFIG_SIZE] = { 0 };
        vu_msg_set_config(r, m->payload.config.offset, m->payload.config.size, 0, zeros);
        return;
    }
    default:
        vu_msg_set_u64(r, 0);
        return;
    }
}

/* The reply's payload from the net back-end's answers. */
static inline void cs_be_reply_payload(const struct cs_peer *p, const struct vu_msg *m,
                                       struct vu_msg *r)
{
    const struct cs_answers a = { .features = p->be_features,
                                  .pf = p->be_pf,
                                  .queue_num = p->be_pairs,
                                  .device_id = CS_NET_DEVICE_ID,
                                  .vqs = CS_NET_VQS,
                                  .config_size = CS_NET_CONFIG_SIZE,
                                  .status = p->be_status };

    cs_reply_payload(&a, m, r);
}

/* Answers one message the shim sent the back-end (and takes its fds). */
static inline void cs_be_answer(struct cs_peer *p, struct vu_msg *m)
{
    const struct vu_msg_desc *desc = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m->hdr.request);
    struct vu_msg r;

    if (m->hdr.request < 64)
        p->be_seen |= UINT64_C(1) << m->hdr.request;
    if (m->hdr.request == VU_REQ_SET_STATUS)
        p->be_status = (uint8_t)m->payload.u64;
    if (m->hdr.request == VU_REQ_VDPA_SET_CONFIG_CALL && m->nfds == 1) {
        fd_replace(&p->be_config_call, fd_take(&m->fds[0]));
        m->nfds = 0;
    }
    vu_msg_close_fds(m);
    if (!(desc && desc->reply == VU_REPLY_ALWAYS) && !(m->hdr.flags & CS_NEED))
        return;
    vu_msg_make_reply(&r, m);
    cs_be_reply_payload(p, m, &r);
    iso_send_msg(p->t, p->d->be, &r);
    p->be_answered++;
}

/* Answers the back-end until the front-end has a message (returned in m,
 * 0) or ms pass (-ETIMEDOUT); -ECONNRESET when the shim closed the
 * front-end. The back-end's hang-up ends its part (the fd stays open). */
static inline int cs_pump(struct cs_peer *p, struct vu_msg *m, int ms)
{
    uint64_t deadline = iso_now_us() + (uint64_t)ms * 1000u;
    bool be_open = p->d->be >= 0;

    for (;;) {
        struct pollfd fds[2] = { { .fd = p->d->fe, .events = POLLIN },
                                 { .fd = be_open ? p->d->be : -1, .events = POLLIN } };
        int64_t left = (int64_t)(deadline - iso_now_us()) / 1000;
        struct vu_msg b;

        if (left < 0 || poll(fds, 2, (int)left) == 0)
            return -ETIMEDOUT;
        if (fds[1].revents) {
            int rc = vu_recv_blocking(p->d->be, &b, ISO_TIMEOUT_MS);
            if (rc == 0)
                cs_be_answer(p, &b);
            else
                be_open = false;
        }
        if (fds[0].revents)
            return vu_recv_blocking(p->d->fe, m, ISO_TIMEOUT_MS);
    }
}

/* Answers the back-end and drops what the front-end gets, for ms. */
static inline void cs_pump_for(struct cs_peer *p, int ms)
{
    uint64_t deadline = iso_now_us() + (uint64_t)ms * 1000u;
    struct vu_msg m;

    for (;;) {
        int64_t left = (int64_t)(deadline - iso_now_us()) / 1000;
        if (left <= 0 || cs_pump(p, &m, (int)left) != 0)
            return;
        vu_msg_close_fds(&m);
    }
}

/* Sends m from the front-end and returns the reply to it (the back-end
 * answered meanwhile); fails the test without one. */
static inline void cs_call(struct cs_peer *p, struct vu_msg *m)
{
    uint32_t req = m->hdr.request;
    int rc;

    iso_send_msg(p->t, p->d->fe, m);
    rc = cs_pump(p, m, ISO_TIMEOUT_MS);
    /* a shim that crashed closes the socket a moment before it is reaped */
    for (int waited = 0; rc && waited < ISO_QUIET_MS && iso_shim_alive(p->t); waited += 10)
        usleep(10000);
    if (rc && !iso_shim_alive(p->t)) {
        char how[96];
        iso_describe_exit(p->t->exit_status, how, sizeof(how));
        iso_fail(p->t, "%s front-end: no reply to %s: the shim is gone: %s", p->d->name,
                 vu_request_name(VU_CHAN_FRONTEND, req), how);
    }
    if (rc)
        iso_fail(p->t, "%s front-end: no reply to %s: %s", p->d->name,
                 vu_request_name(VU_CHAN_FRONTEND, req),
                 rc == -ECONNRESET ? "disconnected" : strerror(-rc));
    vu_msg_close_fds(m);
    if (m->hdr.request != req || !(m->hdr.flags & VU_FLAG_REPLY))
        iso_fail(p->t, "%s front-end: expected the reply to %s, got %s", p->d->name,
                 vu_request_name(VU_CHAN_FRONTEND, req),
                 vu_request_name(VU_CHAN_FRONTEND, m->hdr.request));
}

/* A u64 request (with a dup of passfd when >= 0); flags CS_NEED: returns the
 * ack (0 success, else an errno); flags 0: the reply's value. */
static inline uint64_t cs_u64(struct cs_peer *p, uint32_t req, uint32_t flags, uint64_t v,
                              int passfd)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    vu_msg_set_u64(&m, v);
    if (passfd >= 0 && scripted_add_dup(&m, passfd) < 0)
        iso_fail(p->t, "duplicating an fd to send");
    cs_call(p, &m);
    return m.payload.u64;
}

static inline uint64_t cs_empty(struct cs_peer *p, uint32_t req, uint32_t flags)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    cs_call(p, &m);
    return m.payload.u64;
}

static inline uint64_t cs_state(struct cs_peer *p, uint32_t req, uint32_t i, uint32_t num)
{
    struct vu_msg m;

    vu_msg_init(&m, req, CS_NEED);
    vu_msg_set_state(&m, i, num);
    cs_call(p, &m);
    return m.payload.u64;
}

/* A request that must be acked with success. */
static inline void cs_ok(struct cs_peer *p, uint32_t req, uint64_t ack)
{
    if (ack != 0)
        iso_fail(p->t, "%s front-end: %s refused (%" PRIu64 ")", p->d->name,
                 vu_request_name(VU_CHAN_FRONTEND, req), ack);
}

static inline void cs_fe_status(struct cs_peer *p, uint8_t status)
{
    cs_ok(p, VU_REQ_SET_STATUS, cs_u64(p, VU_REQ_SET_STATUS, CS_NEED, status, -1));
}

/* ---- bring-ups -------------------------------------------------------------- */

/* Features and protocol features, the F_VDPA ack (down) or not (up): the
 * session's mode is decided. */
static inline void cs_negotiate(struct cs_peer *p, uint64_t fe_pf)
{
    cs_empty(p, VU_REQ_GET_FEATURES, 0);
    cs_empty(p, VU_REQ_GET_PROTOCOL_FEATURES, 0);
    cs_ok(p, VU_REQ_SET_PROTOCOL_FEATURES,
          cs_u64(p, VU_REQ_SET_PROTOCOL_FEATURES, CS_NEED, fe_pf, -1));
}

/* Down-conversion up to FEATURES_OK with the driver's selection. */
static inline void cs_down_negotiate(struct cs_peer *p, uint64_t features)
{
    cs_negotiate(p, CS_VDPA_PF);
    cs_fe_status(p, CS_ST_DRIVER);
    cs_ok(p, VU_REQ_SET_FEATURES, cs_u64(p, VU_REQ_SET_FEATURES, CS_NEED, features, -1));
    cs_fe_status(p, CS_ST_FEATURES_OK);
    if (cs_empty(p, VU_REQ_GET_STATUS, 0) != CS_ST_FEATURES_OK)
        iso_fail(p->t, "%s: the features were not accepted", p->d->name);
}

/* Up-conversion: the shim's vdpa-user set-up of the back-end, answered;
 * the back-end then holds the shim's config-call eventfd. */
static inline void cs_up_negotiate(struct cs_peer *p)
{
    cs_negotiate(p, CS_LEGACY_ACK_PF);
    if (p->be_config_call < 0)
        iso_fail(p->t, "%s back-end: no VDPA_SET_CONFIG_CALL fd", p->d->name);
}

/* Guest memory with a control queue of num entries and its eventfds. */
static inline void cs_guest_init(struct iso *t, struct cs_guest *g, unsigned num)
{
    memset(g, 0, sizeof(*g));
    g->kick = g->call = -1;
    if (dma_arena_create(&g->arena, CS_GUEST_SIZE, 0) != 0 ||
        vq_driver_init(&g->vq, &g->arena, num) != 0)
        iso_fail(t, "making the guest's memory and control queue");
    g->cmd = dma_alloc(&g->arena, CS_CMD_BYTES, 8);
    g->ack = dma_alloc(&g->arena, 1, 1);
    g->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!g->cmd || !g->ack || g->kick < 0 || g->call < 0)
        iso_fail(t, "making the control command buffers and eventfds");
}

static inline void cs_guest_fini(struct cs_guest *g)
{
    vq_driver_destroy(&g->vq);
    dma_arena_destroy(&g->arena);
    fd_close(&g->kick);
    fd_close(&g->call);
}

/* SET_MEM_TABLE of one region backed by (a dup of) fd; returns the ack. */
static inline uint64_t cs_mem_region(struct cs_peer *p, const struct vu_mem_region *region, int fd)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, CS_NEED);
    vu_msg_set_mem_table(&m, region, 1);
    if (scripted_add_dup(&m, fd) < 0)
        iso_fail(p->t, "duplicating the memory fd");
    cs_call(p, &m);
    return m.payload.u64;
}

static inline void cs_mem_table(struct cs_peer *p, const struct cs_guest *g)
{
    struct vu_mem_region region = dma_region(&g->arena);

    cs_ok(p, VU_REQ_SET_MEM_TABLE, cs_mem_region(p, &region, g->arena.fd));
}

/* The control queue's size and addresses, and its enable. */
static inline void cs_ctrl_place(struct cs_peer *p, const struct cs_guest *g)
{
    struct vu_vring_addr addr = { .index = CS_CTRL_RING,
                                  .desc_user_addr = vq_driver_desc_uva(&g->vq),
                                  .avail_user_addr = vq_driver_avail_uva(&g->vq),
                                  .used_user_addr = vq_driver_used_uva(&g->vq) };
    struct vu_msg m;

    cs_ok(p, VU_REQ_SET_VRING_NUM, cs_state(p, VU_REQ_SET_VRING_NUM, CS_CTRL_RING, g->vq.num));
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, CS_NEED);
    vu_msg_set_addr(&m, &addr);
    cs_call(p, &m);
    cs_ok(p, VU_REQ_SET_VRING_ADDR, m.payload.u64);
}

/* The whole control-queue layout with kick and call fds that must be
 * accepted (tests of refused fds call cs_ctrl_place and send them). */
static inline void cs_ctrl_layout(struct cs_peer *p, const struct cs_guest *g, int kick, int call)
{
    cs_ctrl_place(p, g);
    cs_ok(p, VU_REQ_SET_VRING_KICK, cs_u64(p, VU_REQ_SET_VRING_KICK, CS_NEED, CS_CTRL_RING, kick));
    cs_ok(p, VU_REQ_SET_VRING_CALL, cs_u64(p, VU_REQ_SET_VRING_CALL, CS_NEED, CS_CTRL_RING, call));
    cs_ok(p, VU_REQ_SET_VRING_ENABLE, cs_state(p, VU_REQ_SET_VRING_ENABLE, CS_CTRL_RING, 1));
}

/* A running down-converted device serving its control queue. */
static inline void cs_down_running(struct cs_peer *p, struct cs_guest *g, unsigned num)
{
    cs_down_negotiate(p, CS_CTRL_FEATURES);
    cs_guest_init(p->t, g, num);
    cs_mem_table(p, g);
    cs_ctrl_layout(p, g, g->kick, g->call);
    cs_fe_status(p, CS_ST_DRIVER_OK);
}

/* ---- the control queue, driver side ----------------------------------------- */

static inline void cs_kick(int fd)
{
    uint64_t one = 1;

    if (write(fd, &one, sizeof(one)) < 0) {
        /* a saturated counter is still a kick */
    }
}

/* Posts cmd (len bytes: class, command, data) with its ack byte and kicks. */
static inline void cs_ctrl_post(struct iso *t, struct cs_guest *g, const uint8_t *cmd, uint32_t len)
{
    struct vq_buf bufs[2] = { { dma_gpa(&g->arena, g->cmd), len, false },
                              { dma_gpa(&g->arena, g->ack), 1, true } };

    if (len > CS_CMD_BYTES)
        iso_fail(t, "control command too long");
    memcpy(g->cmd, cmd, len);
    *g->ack = 0xff; /* a value the device never writes */
    if (vq_driver_add(&g->vq, bufs, 2, g->ack) != 0)
        iso_fail(t, "posting a control command");
    cs_kick(g->kick);
}

/* The posted command's used entry within ms: its ack byte, or -ETIMEDOUT. */
static inline int cs_ctrl_wait(struct cs_guest *g, int ms)
{
    void *token;
    uint32_t len;

    for (int waited = 0; waited <= ms; waited++) {
        if (vq_driver_get_used(&g->vq, &token, &len) == 1)
            return *g->ack;
        usleep(1000);
    }
    return -ETIMEDOUT;
}

#endif
