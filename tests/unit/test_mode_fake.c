/* SPDX-License-Identifier: MIT */
/*
 * Down-conversion's mode table (vs_mode_down, shim/mode.h) against a fake
 * session, in this process: a struct vs_relay on a private libuv loop whose
 * front-end and back-end connections are socketpairs. The test holds the
 * other ends: it reads with vu_recv what the shim sends each peer, and plays
 * the relay's part itself: a front-end request is built (mkmsg, after
 * libvfio-user's test pattern), validated and handed to the table's
 * frontend_request; a back-end reply is built, matched against the oldest
 * reply the shim is owed and handed to internal_reply, and the shim's queued
 * answers are flushed, as shim/relay.c does. No process is started and the
 * loop only runs at the end, to release the handles.
 *
 * What is checked: the VIRTIO status machine as the front-end sees it
 * (ACKNOWLEDGE, DRIVER, FEATURES_OK carried out with SET_FEATURES on the
 * legacy back-end, DRIVER_OK, reset to 0, FAILED) and the rings' start and
 * stop on the back-end: DRIVER_OK and RESUME start every enabled ring with
 * NUM, BASE, ADDR, KICK, CALL, ERR, ENABLE in QEMU's order; SUSPEND, reset
 * and FAILED stop them with GET_VRING_BASE, whose reply is the base the
 * front-end reads back. The front-end's answer waits for the back-end's
 * replies to every step (the GET_FEATURES barrier).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "fdcount.h"
#include "log.h"
#include "mode.h"
#include "relay.h"
#include "testutil.h"
#include "transport.h"
#include "virtio.h"

#define WAIT_MS 2000 /* for a message the shim has already sent */
#define DEVICE                                                                                     \
    "id=fake,type=net,frontend=/nonexistent/fe.sock,backend=/nonexistent/be.sock,"                 \
    "mac=02:00:00:00:00:01,mtu=1500"
/* The legacy back-end: what a DPDK or libvhost-user net back-end offers. */
#define BE_PF                                                                                      \
    (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_NET_MTU) |                          \
     VU_BIT(VU_PF_RESET_DEVICE))
#define BE_FEATURES                                                                                \
    (VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VIRTIO_NET_F_MAC) | VU_BIT(VIRTIO_NET_F_MTU) |            \
     VU_BIT(VU_F_PROTOCOL_FEATURES))
#define BE_QUEUE_PAIRS 1u
/* The vdpa-user front-end's protocol features (F_VDPA with its companions). */
#define FE_PF                                                                                      \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS))
/* The driver's selection: no control queue, so every ring is the back-end's. */
#define DRIVER_FEATURES                                                                            \
    (VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VIRTIO_NET_F_MAC) | VU_BIT(VIRTIO_NET_F_MTU))
#define NET_MTU     1500u
#define RINGS       2u /* one queue pair: receive and transmit */
#define RING_SIZE   256u
#define RING0_BASE  5u
#define SAVED_BASE0 17u /* what the back-end's GET_VRING_BASE returns */
#define SAVED_BASE1 23u
#define ADDR_STRIDE 0x10000u /* ring i's areas at i * ADDR_STRIDE + ... */
#define DESC_AT     0x1000u
#define AVAIL_AT    0x2000u
#define USED_AT     0x3000u
#define NO_REPLY    UINT64_MAX /* be_next: the request asks for no reply */

#define S_ACK         VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRIVER      (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define S_FEATURES_OK (S_DRIVER | VIRTIO_STATUS_FEATURES_OK)
#define S_DRIVER_OK   (S_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

struct fake {
    uv_loop_t loop;
    struct vs_relay *r;
    int fe_peer, be_peer;         /* the test's ends: the front-end's and the back-end's */
    int kick[RINGS], call0, err0; /* eventfds the front-end gives (the test's copies) */
    void (*relay_end_session)(struct vs_relay *r, const char *why);
    unsigned sessions_ended;
    int fds_before;
};

static struct fake *the_fake; /* end_session has only the relay */

/* ---- the fake session --------------------------------------------------------- */

static void fake_end_session(struct vs_relay *r, const char *why)
{
    (void)why;
    the_fake->sessions_ended++;
    the_fake->relay_end_session(r, why);
}

static void on_conn_close(struct vs_conn *c, int reason)
{
    struct vs_relay *r = c->owner;

    (void)reason;
    if (c == r->fe)
        r->fe = NULL;
    else if (c == r->be)
        r->be = NULL;
}

/* The test plays the peers by calling the table itself: nothing is written to
 * the shim's ends, so a message read here is a bug. */
static void on_conn_msg(struct vs_conn *c, struct vu_msg *m)
{
    (void)c;
    fail_msg("the fake session read %s from a peer",
             vu_request_name(VU_CHAN_FRONTEND, m->hdr.request));
}

static int conn_pair(struct fake *t, const char *label, struct vs_conn **conn, int *peer)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        return -errno;
    *peer = sv[1];
    *conn = vs_conn_new(&t->loop, sv[0], label, on_conn_msg, on_conn_close, t->r);
    return *conn ? 0 : -ENOMEM;
}

static int fake_setup(void **state)
{
    struct fake *t = calloc(1, sizeof(*t));
    struct vs_device_config cfg;
    char err[256];

    if (!t)
        return -1;
    t->fds_before = fdcount();
    t->fe_peer = t->be_peer = t->call0 = t->err0 = -1;
    for (unsigned i = 0; i < RINGS; i++)
        t->kick[i] = -1;
    if (vs_device_parse(DEVICE, 0, &cfg, err, sizeof(err)) || uv_loop_init(&t->loop)) {
        free(t);
        return -1;
    }
    the_fake = t;
    *state = t;
    t->r = vs_relay_new(&t->loop, &cfg, NULL);
    if (!t->r)
        return -1;
    /* what relay.c's attach_frontend / attach_backend and the back-end's
     * GET_PROTOCOL_FEATURES leave */
    t->relay_end_session = t->r->end_session;
    t->r->end_session = fake_end_session;
    t->r->in_session = true;
    t->r->backend_pf = BE_PF;
    t->r->offered_pf = vs_mode_down.offer(t->r, BE_PF);
    if (conn_pair(t, "front-end", &t->r->fe, &t->fe_peer) ||
        conn_pair(t, "back-end", &t->r->be, &t->be_peer))
        return -1;
    for (unsigned i = 0; i < RINGS; i++)
        t->kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->call0 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->err0 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return t->call0 >= 0 && t->err0 >= 0 && t->kick[0] >= 0 && t->kick[1] >= 0 ? 0 : -1;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* The relay is destroyed (its end_session ends the mode), the loop runs until
 * every handle is released, and the process holds the fds it held before. */
static int fake_teardown(void **state)
{
    struct fake *t = *state;
    int rc = 0;

    if (!t)
        return 0;
    if (t->r)
        vs_relay_destroy(t->r);
    close_fd(&t->fe_peer);
    close_fd(&t->be_peer);
    close_fd(&t->call0);
    close_fd(&t->err0);
    for (unsigned i = 0; i < RINGS; i++)
        close_fd(&t->kick[i]);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&t->loop) != 0) {
        fprintf(stderr, "a libuv handle was left open\n");
        rc = -1;
    }
    if (fdcount() != t->fds_before) {
        fdcount_dump("fds left after the session");
        rc = -1;
    }
    free(t);
    the_fake = NULL;
    return rc;
}

/* ---- messages (mkmsg) --------------------------------------------------------- */

static void mkmsg(struct vu_msg *m, uint32_t request)
{
    vu_msg_init(m, request, VU_FLAG_NEED_REPLY);
}

static void mkmsg_u64(struct vu_msg *m, uint32_t request, uint64_t v)
{
    mkmsg(m, request);
    vu_msg_set_u64(m, v);
}

static void mkmsg_state(struct vu_msg *m, uint32_t request, uint32_t index, uint32_t num)
{
    mkmsg(m, request);
    vu_msg_set_state(m, index, num);
}

/* SET_VRING_KICK / _CALL / _ERR for ring index with a duplicate of fd. */
static void mkmsg_fd(struct vu_msg *m, uint32_t request, uint32_t index, int fd)
{
    mkmsg_u64(m, request, index);
    assert_int_equal(vu_msg_add_fd(m, fcntl(fd, F_DUPFD_CLOEXEC, 0)), 0);
}

static struct vu_vring_addr ring_addr(uint32_t i)
{
    struct vu_vring_addr a = { .index = i,
                               .desc_user_addr = i * ADDR_STRIDE + DESC_AT,
                               .avail_user_addr = i * ADDR_STRIDE + AVAIL_AT,
                               .used_user_addr = i * ADDR_STRIDE + USED_AT };
    return a;
}

/* ---- the relay's part ----------------------------------------------------------- */

/* A front-end request: validated as the relay validates it, then the mode's;
 * fds the mode left are closed (the connection's sweep). */
static void fe_send(struct fake *t, struct vu_msg *m)
{
    const struct vu_msg_desc *d;
    struct vu_error err;
    int rc = vu_validate_request(&t->r->fe_limits, VU_CHAN_FRONTEND, m, &d, &err);

    if (rc) {
        vu_msg_close_fds(m);
        fail_msg("%s does not validate: %s", vu_request_name(VU_CHAN_FRONTEND, m->hdr.request),
                 err.text);
    }
    t->r->ops->frontend_request(t->r, d, m);
    vu_msg_close_fds(m);
}

/* The back-end's reply to the oldest request the shim is owed: matched and
 * checked as the relay does, handed to the mode, then the shim's answers
 * that came to the head are sent. */
static void be_reply(struct fake *t, struct vu_msg *reply)
{
    struct vs_owed o;
    struct vu_error err;

    assert_int_equal(vs_owed_pop(&t->r->main_pending, &o), 0);
    assert_int_equal(o.origin, VS_FROM_SHIM);
    assert_int_equal(o.p.request, reply->hdr.request);
    if (vu_validate_reply(&o.p, VU_CHAN_FRONTEND, reply, &err))
        fail_msg("the reply to %s does not validate: %s",
                 vu_request_name(VU_CHAN_FRONTEND, reply->hdr.request), err.text);
    t->r->ops->internal_reply(t->r, &o, reply);
    vs_session_flush_answers(t->r, t->r->fe, &t->r->main_pending, VU_CHAN_FRONTEND);
}

/* ---- the peers' ends ------------------------------------------------------------- */

static void recv_on(int fd, const char *who, uint32_t request, struct vu_msg *m)
{
    int rc = vu_recv_blocking(fd, m, WAIT_MS);

    if (rc)
        fail_msg("%s: no %s (%s)", who, vu_request_name(VU_CHAN_FRONTEND, request), strerror(-rc));
    if (m->hdr.request != request) {
        vu_msg_close_fds(m);
        fail_msg("%s got %s where %s was due", who,
                 vu_request_name(VU_CHAN_FRONTEND, m->hdr.request),
                 vu_request_name(VU_CHAN_FRONTEND, request));
    }
}

static void expect_nothing(int fd, const char *who)
{
    struct vu_msg m;
    int rc = vu_recv_blocking(fd, &m, 0);

    if (rc == 0) {
        vu_msg_close_fds(&m);
        fail_msg("%s got an unexpected %s", who, vu_request_name(VU_CHAN_FRONTEND, m.hdr.request));
    }
    assert_int_equal(rc, -ETIMEDOUT);
}

/* The back-end reads the next request (it must be `request`) into *m; with
 * `ack` other than NO_REPLY it is answered with ack (a u64, or the num of a
 * vring state).
 * The request's fds stay in *m for the caller to look at and close. */
static void be_next(struct fake *t, uint32_t request, uint64_t ack, struct vu_msg *m)
{
    struct vu_msg reply;

    recv_on(t->be_peer, "back-end", request, m);
    if (ack == NO_REPLY) {
        assert_false(m->hdr.flags & VU_FLAG_NEED_REPLY);
        return;
    }
    /* a request answered only when asked (an ack) must ask */
    if (vu_msg_desc_lookup(VU_CHAN_FRONTEND, request)->reply != VU_REPLY_ALWAYS)
        assert_true(m->hdr.flags & VU_FLAG_NEED_REPLY);
    vu_msg_make_reply(&reply, m);
    if (request == VU_REQ_GET_VRING_BASE)
        vu_msg_set_state(&reply, m->payload.state.index, (uint32_t)ack);
    else
        vu_msg_set_u64(&reply, ack);
    be_reply(t, &reply);
}

/* The same for a request whose fds do not matter: closed. */
static uint64_t be_ack(struct fake *t, uint32_t request, uint64_t ack)
{
    struct vu_msg m;

    be_next(t, request, ack, &m);
    vu_msg_close_fds(&m);
    return m.payload.u64;
}

static uint64_t fe_answer(struct fake *t, uint32_t request)
{
    struct vu_msg m;

    recv_on(t->fe_peer, "front-end", request, &m);
    vu_msg_close_fds(&m);
    assert_true(m.hdr.flags & VU_FLAG_REPLY);
    assert_int_equal(m.hdr.size, sizeof(uint64_t));
    return m.payload.u64;
}

static uint64_t get_status(struct fake *t)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_GET_STATUS, 0);
    fe_send(t, &m);
    return fe_answer(t, VU_REQ_GET_STATUS);
}

/* SET_STATUS that the shim answers at once (no back-end step). */
static void set_status_now(struct fake *t, uint8_t status)
{
    struct vu_msg m;

    mkmsg_u64(&m, VU_REQ_SET_STATUS, status);
    fe_send(t, &m);
    expect_nothing(t->be_peer, "back-end");
    assert_int_equal(fe_answer(t, VU_REQ_SET_STATUS), 0);
    assert_int_equal(get_status(t), status);
}

/* ---- sequences -------------------------------------------------------------------- */

/* SET_PROTOCOL_FEATURES with F_VDPA, as relay.c's begin_translation: the
 * legacy set-up on the back-end, then the front-end's ack. */
static void begin_down(struct fake *t)
{
    struct vu_msg m;

    mkmsg_u64(&m, VU_REQ_SET_PROTOCOL_FEATURES, FE_PF);
    t->r->fe_limits.protocol_features = FE_PF;
    t->r->pf_settled = t->r->mode_decided = true;
    t->r->ops->end(t->r);
    t->r->ops = &vs_mode_down;
    assert_int_equal(t->r->ops->begin(t->r, &m), 0);
    /* sent as QEMU sends it, before REPLY_ACK is in effect: no reply */
    assert_int_equal(be_ack(t, VU_REQ_SET_PROTOCOL_FEATURES, NO_REPLY), BE_PF);
    be_ack(t, VU_REQ_GET_QUEUE_NUM, BE_QUEUE_PAIRS);
    expect_nothing(t->fe_peer, "front-end"); /* the set-up is not over */
    be_ack(t, VU_REQ_GET_FEATURES, BE_FEATURES);
    expect_nothing(t->be_peer, "back-end");
    assert_int_equal(fe_answer(t, VU_REQ_SET_PROTOCOL_FEATURES), 0);
    assert_int_equal(t->sessions_ended, 0);
}

/* ACKNOWLEDGE, DRIVER, the selection, FEATURES_OK (the back-end's
 * SET_FEATURES answered with `be_verdict`). */
static void negotiate(struct fake *t, uint64_t be_verdict)
{
    struct vu_msg m;
    uint64_t sent;

    set_status_now(t, S_ACK);
    set_status_now(t, S_DRIVER);
    mkmsg_u64(&m, VU_REQ_SET_FEATURES, DRIVER_FEATURES);
    fe_send(t, &m);
    expect_nothing(t->be_peer, "back-end"); /* kept by the shim until FEATURES_OK */
    assert_int_equal(fe_answer(t, VU_REQ_SET_FEATURES), 0);

    mkmsg_u64(&m, VU_REQ_SET_STATUS, S_FEATURES_OK);
    fe_send(t, &m);
    sent = be_ack(t, VU_REQ_SET_FEATURES, be_verdict);
    /* the selection, what the back-end offered of it, and the legacy bit */
    assert_true(sent & VU_BIT(VIRTIO_F_VERSION_1));
    assert_true(sent & VU_BIT(VU_F_PROTOCOL_FEATURES));
    assert_int_equal(sent & ~(DRIVER_FEATURES | VU_BIT(VU_F_PROTOCOL_FEATURES)), 0);
    assert_int_equal(be_ack(t, VU_REQ_NET_SET_MTU, 0), NET_MTU);
    expect_nothing(t->fe_peer, "front-end"); /* the answer waits for the barrier */
    be_ack(t, VU_REQ_GET_FEATURES, BE_FEATURES);
    expect_nothing(t->be_peer, "back-end");
    assert_int_equal(fe_answer(t, VU_REQ_SET_STATUS), 0);
}

/* The rings' layout and fds, as a front-end sets them after FEATURES_OK:
 * ring 0 with kick, call and err, ring 1 with a kick only; both enabled. */
static void set_up_rings(struct fake *t)
{
    struct vu_msg m;
    struct vu_vring_addr a;

    for (uint32_t i = 0; i < RINGS; i++) {
        mkmsg_state(&m, VU_REQ_SET_VRING_NUM, i, RING_SIZE);
        fe_send(t, &m);
        assert_int_equal(fe_answer(t, VU_REQ_SET_VRING_NUM), 0);
        mkmsg(&m, VU_REQ_SET_VRING_ADDR);
        a = ring_addr(i);
        vu_msg_set_addr(&m, &a);
        fe_send(t, &m);
        assert_int_equal(fe_answer(t, VU_REQ_SET_VRING_ADDR), 0);
        mkmsg_fd(&m, VU_REQ_SET_VRING_KICK, i, t->kick[i]);
        fe_send(t, &m);
        assert_int_equal(fe_answer(t, VU_REQ_SET_VRING_KICK), 0);
    }
    mkmsg_state(&m, VU_REQ_SET_VRING_BASE, 0, RING0_BASE);
    fe_send(t, &m);
    assert_int_equal(fe_answer(t, VU_REQ_SET_VRING_BASE), 0);
    /* kicks wait for the start; a call and an err fd reach the back-end's
     * ring at once, as QEMU sends them at set-up */
    mkmsg_fd(&m, VU_REQ_SET_VRING_CALL, 0, t->call0);
    fe_send(t, &m);
    be_ack(t, VU_REQ_SET_VRING_CALL, 0);
    be_ack(t, VU_REQ_GET_FEATURES, BE_FEATURES);
    assert_int_equal(fe_answer(t, VU_REQ_SET_VRING_CALL), 0);
    mkmsg_fd(&m, VU_REQ_SET_VRING_ERR, 0, t->err0);
    fe_send(t, &m);
    be_ack(t, VU_REQ_SET_VRING_ERR, 0);
    be_ack(t, VU_REQ_GET_FEATURES, BE_FEATURES);
    assert_int_equal(fe_answer(t, VU_REQ_SET_VRING_ERR), 0);
    for (uint32_t i = 0; i < RINGS; i++) {
        mkmsg_state(&m, VU_REQ_SET_VRING_ENABLE, i, 1);
        fe_send(t, &m);
        assert_int_equal(fe_answer(t, VU_REQ_SET_VRING_ENABLE), 0);
    }
    expect_nothing(t->be_peer, "back-end"); /* nothing runs before DRIVER_OK */
}

/* A ring's eventfd request: index, and an fd or NOFD. */
static void expect_ring_fd(struct fake *t, uint32_t request, uint32_t i, bool has_fd)
{
    struct vu_msg m;

    be_next(t, request, 0, &m);
    assert_int_equal(m.payload.u64 & VU_VRING_IDX_MASK, i);
    assert_int_equal((m.payload.u64 & VU_VRING_NOFD_MASK) != 0, !has_fd);
    assert_int_equal(m.nfds, has_fd ? 1 : 0);
    vu_msg_close_fds(&m);
}

/* One ring's legacy start, in QEMU's order (vhost_virtqueue_start). */
static void expect_ring_start(struct fake *t, uint32_t i, uint32_t base)
{
    struct vu_vring_addr want = ring_addr(i);
    struct vu_msg m;

    be_next(t, VU_REQ_SET_VRING_NUM, 0, &m);
    assert_int_equal(m.payload.state.index, i);
    assert_int_equal(m.payload.state.num, RING_SIZE);
    be_next(t, VU_REQ_SET_VRING_BASE, 0, &m);
    assert_int_equal(m.payload.state.index, i);
    assert_int_equal(m.payload.state.num, base);
    be_next(t, VU_REQ_SET_VRING_ADDR, 0, &m);
    assert_int_equal(m.payload.addr.index, i);
    assert_int_equal(m.payload.addr.desc_user_addr, want.desc_user_addr);
    assert_int_equal(m.payload.addr.avail_user_addr, want.avail_user_addr);
    assert_int_equal(m.payload.addr.used_user_addr, want.used_user_addr);
    expect_ring_fd(t, VU_REQ_SET_VRING_CALL, i, i == 0);
    if (i == 0)
        expect_ring_fd(t, VU_REQ_SET_VRING_ERR, i, true);
    be_next(t, VU_REQ_SET_VRING_ENABLE, 0, &m);
    assert_int_equal(m.payload.state.index, i);
    assert_int_equal(m.payload.state.num, 1);
    /* the kick fd last: the ring is enabled before the back-end watches it */
    expect_ring_fd(t, VU_REQ_SET_VRING_KICK, i, true);
}

/* The legacy stop of ring i: GET_VRING_BASE, answered with `saved`. */
static void expect_ring_stop(struct fake *t, uint32_t i, uint32_t saved)
{
    struct vu_msg m;

    be_next(t, VU_REQ_GET_VRING_BASE, saved, &m);
    assert_int_equal(m.payload.state.index, i);
}

/* The end of a sequence: the barrier, then the front-end's answer. */
static void expect_barrier_then_answer(struct fake *t, uint32_t request, uint64_t answer)
{
    expect_nothing(t->fe_peer, "front-end");
    be_ack(t, VU_REQ_GET_FEATURES, BE_FEATURES);
    expect_nothing(t->be_peer, "back-end");
    assert_int_equal(fe_answer(t, request), answer);
}

/* FEATURES_OK, the rings, DRIVER_OK: both rings started on the back-end. */
static void drive_to_driver_ok(struct fake *t)
{
    struct vu_msg m;

    begin_down(t);
    negotiate(t, 0);
    set_up_rings(t);
    mkmsg_u64(&m, VU_REQ_SET_STATUS, S_DRIVER_OK);
    fe_send(t, &m);
    expect_ring_start(t, 0, RING0_BASE);
    expect_ring_start(t, 1, 0);
    expect_barrier_then_answer(t, VU_REQ_SET_STATUS, 0);
    assert_int_equal(get_status(t), S_DRIVER_OK);
}

static uint32_t get_vring_base(struct fake *t, uint32_t i)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_GET_VRING_BASE, 0);
    vu_msg_set_state(&m, i, 0);
    fe_send(t, &m);
    recv_on(t->fe_peer, "front-end", VU_REQ_GET_VRING_BASE, &m);
    assert_int_equal(m.payload.state.index, i);
    return m.payload.state.num;
}

/* ---- tests --------------------------------------------------------------------------- */

/* ACKNOWLEDGE -> DRIVER -> FEATURES_OK -> DRIVER_OK, each step visible in
 * GET_STATUS, FEATURES_OK carried out on the back-end first. */
static void status_machine(void **state)
{
    struct fake *t = *state;

    drive_to_driver_ok(t);
    assert_int_equal(t->sessions_ended, 0);
}

/* After the set-up the shim answers GET_STATUS: a new device, 0. */
static void status_after_setup(void **state)
{
    struct fake *t = *state;

    begin_down(t);
    assert_int_equal(get_status(t), 0);
}

/* A back-end that refuses the selection: FEATURES_OK stays clear (spec 5.2),
 * and DRIVER_OK without it is refused. */
static void features_ok_refused(void **state)
{
    struct fake *t = *state;
    struct vu_msg m;

    begin_down(t);
    negotiate(t, EINVAL);
    assert_int_equal(get_status(t), S_DRIVER);
    mkmsg_u64(&m, VU_REQ_SET_STATUS, S_DRIVER_OK | S_DRIVER);
    fe_send(t, &m);
    expect_nothing(t->be_peer, "back-end");
    assert_int_not_equal(fe_answer(t, VU_REQ_SET_STATUS), 0);
    assert_int_equal(get_status(t), S_DRIVER);
}

/* SUSPEND stops both rings with GET_VRING_BASE; the front-end reads the
 * bases the back-end returned; RESUME starts them again from there. */
static void suspend_resume(void **state)
{
    struct fake *t = *state;
    struct vu_msg m;

    drive_to_driver_ok(t);
    mkmsg(&m, VU_REQ_VDPA_SUSPEND);
    fe_send(t, &m);
    expect_ring_stop(t, 0, SAVED_BASE0);
    expect_ring_stop(t, 1, SAVED_BASE1);
    expect_barrier_then_answer(t, VU_REQ_VDPA_SUSPEND, 0);
    assert_int_equal(get_vring_base(t, 0), SAVED_BASE0);
    assert_int_equal(get_vring_base(t, 1), SAVED_BASE1);

    mkmsg(&m, VU_REQ_VDPA_RESUME);
    fe_send(t, &m);
    expect_ring_start(t, 0, SAVED_BASE0);
    expect_ring_start(t, 1, SAVED_BASE1);
    expect_barrier_then_answer(t, VU_REQ_VDPA_RESUME, 0);
    assert_int_equal(get_status(t), S_DRIVER_OK);
}

/* SET_STATUS(0): the rings stop, RESET_DEVICE (offered), status 0; the
 * driver can negotiate again from the start. */
static void reset_to_zero(void **state)
{
    struct fake *t = *state;
    struct vu_msg m;

    drive_to_driver_ok(t);
    mkmsg_u64(&m, VU_REQ_SET_STATUS, 0);
    fe_send(t, &m);
    expect_ring_stop(t, 0, SAVED_BASE0);
    expect_ring_stop(t, 1, SAVED_BASE1);
    be_ack(t, VU_REQ_RESET_DEVICE, 0);
    expect_barrier_then_answer(t, VU_REQ_SET_STATUS, 0);
    assert_int_equal(get_status(t), 0);
    assert_int_equal(get_vring_base(t, 0), 0); /* a reset device: no ring state */
    set_status_now(t, S_ACK);
    assert_int_equal(t->sessions_ended, 0);
}

/* FAILED while running: the rings stop, the bit shows, nothing restarts. */
static void failed_stops_rings(void **state)
{
    struct fake *t = *state;
    struct vu_msg m;

    drive_to_driver_ok(t);
    mkmsg_u64(&m, VU_REQ_SET_STATUS, S_DRIVER_OK | VIRTIO_STATUS_FAILED);
    fe_send(t, &m);
    expect_ring_stop(t, 0, SAVED_BASE0);
    expect_ring_stop(t, 1, SAVED_BASE1);
    expect_barrier_then_answer(t, VU_REQ_SET_STATUS, 0);
    assert_true(get_status(t) & VIRTIO_STATUS_FAILED);
    mkmsg(&m, VU_REQ_VDPA_RESUME);
    fe_send(t, &m);
    expect_nothing(t->be_peer, "back-end");
    assert_int_equal(fe_answer(t, VU_REQ_VDPA_RESUME), EBUSY);
}

/* The back-end acks every request up to and including `last`. */
static void ack_until(struct fake *t, uint32_t last)
{
    struct vu_msg step, reply;

    do {
        assert_int_equal(vu_recv_blocking(t->be_peer, &step, WAIT_MS), 0);
        vu_msg_close_fds(&step);
        vu_msg_make_reply(&reply, &step);
        vu_msg_set_u64(&reply, 0);
        be_reply(t, &reply);
    } while (step.hdr.request != last);
}

/* A ring the back-end refuses to start: DEVICE_NEEDS_RESET, and the rings
 * it runs are stopped; the front-end's DRIVER_OK is still acked (spec 5.5:
 * the device reports the failure through its status). */
static void start_refused_needs_reset(void **state)
{
    struct fake *t = *state;
    struct vu_msg m;

    begin_down(t);
    negotiate(t, 0);
    set_up_rings(t);
    mkmsg_u64(&m, VU_REQ_SET_STATUS, S_DRIVER_OK);
    fe_send(t, &m);
    expect_ring_start(t, 0, RING0_BASE);
    be_ack(t, VU_REQ_SET_VRING_NUM, EINVAL); /* ring 1's first step */
    ack_until(t, VU_REQ_SET_VRING_KICK);     /* the rest of ring 1's start */
    be_ack(t, VU_REQ_GET_FEATURES, BE_FEATURES);
    expect_ring_stop(t, 0, SAVED_BASE0);
    expect_ring_stop(t, 1, SAVED_BASE1);
    expect_nothing(t->be_peer, "back-end");
    assert_int_equal(fe_answer(t, VU_REQ_SET_STATUS), 0);
    assert_true(get_status(t) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/* libuv's process-wide state (its signal lock pipe) is made by the first
 * loop: made here, so that each test's fd count sees only its session. */
static int libuv_warm_up(void **state)
{
    uv_loop_t loop;

    (void)state;
    if (uv_loop_init(&loop))
        return -1;
    return uv_loop_close(&loop) ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(status_after_setup, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(status_machine, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(features_ok_refused, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(suspend_resume, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(reset_to_zero, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(failed_stops_rings, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(start_refused_needs_reset, fake_setup, fake_teardown),
    };

    vs_log_set_level(VS_LOG_ERROR);
    return cmocka_run_group_tests(tests, libuv_warm_up, NULL);
}
