/* SPDX-License-Identifier: MIT */
/*
 * Legacy back-ends without VHOST_USER_PROTOCOL_F_REPLY_ACK (rust-vmm's
 * vhost-device-rng and -i2c offer MQ only), through the real vdpa-shim
 * binary with scripted peers. The shim learns that a request was handled
 * the way QEMU does (hw/virtio/vhost-user.c, enforce_reply): the request goes
 * without NEED_REPLY and a GET_FEATURES "barrier" follows it, whose reply
 * stands for the ack (shim/session.c, vs_send_internal and
 * vs_forward_to_backend).
 *
 * Checked here: a vdpa-user front-end's whole down-conversion start (set-up,
 * FEATURES_OK, memory, ring layout, DRIVER_OK) over such a back-end, every
 * NEED_REPLY request of the front-end acked in order and only after the
 * barrier's reply, the back-end never seeing NEED_REPLY; the same emulated
 * ack for a legacy front-end in pass-through that acked the REPLY_ACK the
 * shim offered; and the log lines that say why a chain does not translate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "scripted.h"
#include "virtio.h"

#define NEED       VU_FLAG_NEED_REPLY
#define F_V1       VU_BIT(VIRTIO_F_VERSION_1)
#define F_PF       VU_BIT(VU_F_PROTOCOL_FEATURES)
#define BE_FEATURE (F_V1 | F_PF)
/* What vhost-device-rng offers: MQ only, no REPLY_ACK, no CONFIG. */
#define BE_PF VU_BIT(VU_PF_MQ)
#define FE_PF                                                                                      \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS))
#define ST_DRIVER      (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define ST_FEATURES_OK (ST_DRIVER | VIRTIO_STATUS_FEATURES_OK)
#define ST_DRIVER_OK   (ST_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)
#define RNG_DEVICE_ID  4u
#define RING_NUM       256u
#define GUEST_UVA      0x7f0000000000ull
#define GUEST_SIZE     (1u << 20)
#define QUIET_MS       50 /* the front-end hears nothing before the barrier's reply */
/* A ring start's steps, each acked by its own barrier: NUM, BASE, ADDR,
 * KICK, CALL, ENABLE (no ERR eventfd was given). */
#define RING_START_STEPS 6u

struct noack_test {
    struct scripted s;
    unsigned barriers; /* GET_FEATURES barriers the back-end answered */
    int memfd, kick, call;
    int fds_idle;
};

/* ---- the scripted legacy back-end: no REPLY_ACK --------------------------- */

/* The next request; it never carries NEED_REPLY (REPLY_ACK was not
 * negotiated). The caller owns m's fds. */
static void be_recv(struct noack_test *t, uint32_t req, struct vu_msg *m)
{
    assert_int_equal(expect_msg(t->s.be, req, m), 0);
    if (m->hdr.flags & NEED)
        fail_msg("the back-end got %s with NEED_REPLY, without REPLY_ACK negotiated",
                 vu_request_name(VU_CHAN_FRONTEND, req));
}

/* A GET_FEATURES barrier: answered only after checking that the front-end
 * has not been answered before it (fe_quiet). */
static void be_barrier(struct noack_test *t, bool fe_quiet)
{
    struct vu_msg m;

    be_recv(t, VU_REQ_GET_FEATURES, &m);
    if (fe_quiet && !quiet_for(t->s.fe, QUIET_MS))
        fail_msg("the front-end was answered before the back-end answered the barrier");
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, BE_FEATURE), 0);
    t->barriers++;
}

/* A request the shim must know was handled: itself, then its barrier. */
static void be_step(struct noack_test *t, uint32_t req, struct vu_msg *m)
{
    be_recv(t, req, m);
    be_barrier(t, true);
}

/* ---- the scripted front-end --------------------------------------------------- */

static void fe_expect_ack(struct noack_test *t, uint32_t req, uint64_t want)
{
    struct vu_msg m;

    assert_int_equal(expect_msg(t->s.fe, req, &m), 0);
    assert_int_equal(m.hdr.flags, VU_VERSION | VU_FLAG_REPLY);
    assert_int_equal(m.hdr.size, sizeof(uint64_t));
    assert_int_equal(m.payload.u64, want);
}

static uint64_t fe_get_u64(struct noack_test *t, uint32_t req)
{
    struct vu_msg m;

    assert_int_equal(send_empty(t->s.fe, req, 0), 0);
    assert_int_equal(expect_msg(t->s.fe, req, &m), 0);
    assert_int_equal(m.hdr.size, sizeof(uint64_t));
    return m.payload.u64;
}

/* A request the shim answers alone (the back-end hears nothing). */
static void fe_local(struct noack_test *t, uint32_t req, uint64_t v)
{
    assert_int_equal(send_u64_req(t->s.fe, req, NEED, v, -1), 0);
    fe_expect_ack(t, req, 0);
}

static void fe_state_local(struct noack_test *t, uint32_t req, uint32_t i, uint32_t num)
{
    assert_int_equal(send_state_req(t->s.fe, req, NEED, i, num), 0);
    fe_expect_ack(t, req, 0);
}

/* ---- set-up ------------------------------------------------------------------- */

static int setup_type(void **state, const char *type)
{
    struct noack_test *t = calloc(1, sizeof(*t));

    if (!t)
        return -1;
    t->memfd = t->kick = t->call = -1;
    if (scripted_start(&t->s, type, NULL))
        return -1;
    t->fds_idle = fdcount_of(t->s.shim);
    if (scripted_connect(&t->s))
        return -1;
    *state = t;
    return 0;
}

static int setup_rng(void **state)
{
    return setup_type(state, "rng");
}

static int setup_vsock(void **state)
{
    return setup_type(state, "vsock");
}

static int teardown(void **state)
{
    struct noack_test *t = *state;
    int status;

    if (!t)
        return 0;
    status = scripted_stop(&t->s);
    fd_close(&t->memfd);
    fd_close(&t->kick);
    fd_close(&t->call);
    free(t);
    return status == 0 ? 0 : -1;
}

/* GET_FEATURES and GET_PROTOCOL_FEATURES through the shim: what the
 * front-end is offered over the back-end's pf. */
static uint64_t offers(struct noack_test *t, uint64_t pf)
{
    struct vu_msg m;

    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_FEATURES, 0), 0);
    be_recv(t, VU_REQ_GET_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, BE_FEATURE), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, 0), 0);
    be_recv(t, VU_REQ_GET_PROTOCOL_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_PROTOCOL_FEATURES, pf), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, &m), 0);
    return m.payload.u64;
}

static bool log_has(struct noack_test *t, const char *needle)
{
    return scripted_file_contains(t->s.log_path, needle);
}

static bool trace_has(struct noack_test *t, const char *needle)
{
    return scripted_file_contains(t->s.trace_path, needle);
}

/* ---- down-conversion ------------------------------------------------------------ */

/* F_VDPA acked: the legacy set-up, ended by the shim's own barrier. */
static void down_negotiate(struct noack_test *t)
{
    struct vu_msg m;

    assert_int_equal(offers(t, BE_PF) & FE_PF,
                     FE_PF); /* F_VDPA over a back-end without REPLY_ACK */
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, NEED, FE_PF, -1), 0);
    be_recv(t, VU_REQ_SET_PROTOCOL_FEATURES, &m);
    assert_int_equal(m.payload.u64, BE_PF); /* its own bits only */
    be_recv(t, VU_REQ_GET_QUEUE_NUM, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_QUEUE_NUM, 1), 0);
    be_barrier(t, true); /* the end of the set-up */
    fe_expect_ack(t, VU_REQ_SET_PROTOCOL_FEATURES, 0);

    /* SET_OWNER goes as QEMU sends it (never waited for), then the
     * sequence's barrier answers the front-end */
    assert_int_equal(send_empty(t->s.fe, VU_REQ_SET_OWNER, NEED), 0);
    be_recv(t, VU_REQ_SET_OWNER, &m);
    be_barrier(t, true);
    fe_expect_ack(t, VU_REQ_SET_OWNER, 0);
}

/* The memory table, a ring's call eventfd and GET_STATUS sent at once: the
 * answers come in order, each ack after its barriers. */
static void down_memory_and_call(struct noack_test *t)
{
    struct vu_mem_region region = { 0x0, GUEST_SIZE, GUEST_UVA, 0 };
    struct vu_msg m;

    t->memfd = memfd_create("guest", MFD_CLOEXEC);
    assert_true(t->memfd >= 0);
    assert_int_equal(ftruncate(t->memfd, GUEST_SIZE), 0);
    t->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(t->kick >= 0 && t->call >= 0);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, NEED);
    assert_int_equal(vu_msg_set_mem_table(&m, &region, 1), 0);
    assert_int_equal(scripted_add_dup(&m, t->memfd), 0);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_CALL, NEED, 0, t->call), 0);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_STATUS, 0), 0);

    be_recv(t, VU_REQ_SET_MEM_TABLE, &m);
    assert_int_equal(m.nfds, 1);
    vu_msg_close_fds(&m);
    be_barrier(t, true); /* SET_MEM_TABLE's ack */
    be_barrier(t, true); /* the sequence's end */
    fe_expect_ack(t, VU_REQ_SET_MEM_TABLE, 0);
    be_recv(t, VU_REQ_SET_VRING_CALL, &m);
    assert_int_equal(m.nfds, 1);
    vu_msg_close_fds(&m);
    be_barrier(t, true);
    be_barrier(t, true);
    fe_expect_ack(t, VU_REQ_SET_VRING_CALL, 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_STATUS, &m), 0);
    assert_int_equal(m.payload.u64, ST_FEATURES_OK);
}

/* DRIVER_OK: ring 0 started the legacy way, each step with its barrier. */
static void down_start(struct noack_test *t)
{
    unsigned before = t->barriers;
    struct vu_msg m;

    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_DRIVER_OK, -1), 0);
    be_step(t, VU_REQ_SET_VRING_NUM, &m);
    assert_int_equal(m.payload.state.num, RING_NUM);
    be_step(t, VU_REQ_SET_VRING_BASE, &m);
    assert_int_equal(m.payload.state.num, 0);
    be_recv(t, VU_REQ_SET_VRING_ADDR, &m);
    assert_int_equal(m.payload.addr.desc_user_addr, GUEST_UVA);
    be_barrier(t, true);
    be_recv(t, VU_REQ_SET_VRING_CALL, &m);
    assert_int_equal(m.nfds, 1);
    vu_msg_close_fds(&m);
    be_barrier(t, true);
    be_step(t, VU_REQ_SET_VRING_ENABLE, &m);
    assert_int_equal(m.payload.state.num, 1);
    be_recv(t, VU_REQ_SET_VRING_KICK, &m); /* last: the ring is enabled first */
    assert_int_equal(m.nfds, 1);
    vu_msg_close_fds(&m);
    be_barrier(t, true);
    be_barrier(t, true); /* the sequence's end */
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
    assert_int_equal(t->barriers - before, RING_START_STEPS + 1);
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), ST_DRIVER_OK);
}

/* The whole start of an rng device over vhost-device-rng's protocol
 * features: the front-end gets every ack, in order; the back-end never
 * sees NEED_REPLY, and GET_FEATURES barriers stand for its acks. */
static void down_start_without_reply_ack(void **state)
{
    struct noack_test *t = *state;
    struct vu_msg m;
    struct vu_vring_addr addr = { .index = 0,
                                  .desc_user_addr = GUEST_UVA,
                                  .avail_user_addr = GUEST_UVA + 0x1000,
                                  .used_user_addr = GUEST_UVA + 0x2000 };

    down_negotiate(t);
    assert_int_equal(fe_get_u64(t, VU_REQ_VDPA_GET_DEVICE_ID), RNG_DEVICE_ID);
    assert_int_equal(fe_get_u64(t, VU_REQ_VDPA_GET_VQS_COUNT), 1);
    assert_true(fe_get_u64(t, VU_REQ_GET_FEATURES) & F_V1);

    /* FEATURES_OK: SET_FEATURES, its barrier, the sequence's barrier */
    fe_local(t, VU_REQ_SET_STATUS, ST_DRIVER);
    fe_local(t, VU_REQ_SET_FEATURES, F_V1);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, NEED, ST_FEATURES_OK, -1), 0);
    be_recv(t, VU_REQ_SET_FEATURES, &m);
    assert_int_equal(m.payload.u64, F_V1 | F_PF);
    be_barrier(t, true);
    be_barrier(t, true);
    fe_expect_ack(t, VU_REQ_SET_STATUS, 0);
    assert_int_equal(fe_get_u64(t, VU_REQ_GET_STATUS), ST_FEATURES_OK);

    down_memory_and_call(t);
    /* the layout is the shim's until DRIVER_OK */
    fe_state_local(t, VU_REQ_SET_VRING_NUM, 0, RING_NUM);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, NEED);
    vu_msg_set_addr(&m, &addr);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    fe_expect_ack(t, VU_REQ_SET_VRING_ADDR, 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_KICK, NEED, 0, t->kick), 0);
    fe_expect_ack(t, VU_REQ_SET_VRING_KICK, 0);
    fe_state_local(t, VU_REQ_SET_VRING_ENABLE, 0, 1);
    assert_true(quiet_for(t->s.be, QUIET_MS));

    down_start(t);
    assert_true(trace_has(t, "emulated by a GET_FEATURES barrier"));
    assert_true(log_has(t, "down-converting: rng device"));

    close(t->s.fe);
    t->s.fe = -1;
    assert_true(closed_within(t->s.be, SCRIPT_TIMEOUT_MS));
}

/* ---- pass-through -------------------------------------------------------------- */

/* A legacy front-end acks the REPLY_ACK the shim offered (for vdpa-user
 * front-ends) over a back-end without it: its acks come from barriers, and
 * the log says the session is not translated. */
static void pass_through_emulated_ack(void **state)
{
    struct noack_test *t = *state;
    const uint64_t fe_pf = VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK);
    struct vu_msg m;

    assert_true(offers(t, BE_PF) & VU_BIT(VU_PF_REPLY_ACK));
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, NEED, fe_pf, -1), 0);
    be_recv(t, VU_REQ_SET_PROTOCOL_FEATURES, &m);
    assert_int_equal(m.payload.u64, BE_PF); /* REPLY_ACK stays with the shim */
    be_barrier(t, true);
    fe_expect_ack(t, VU_REQ_SET_PROTOCOL_FEATURES, 0);

    /* two acked requests in a row, and a GET behind them: in order */
    assert_int_equal(send_empty(t->s.fe, VU_REQ_SET_OWNER, NEED), 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_FEATURES, NEED, F_V1 | F_PF, -1), 0);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_FEATURES, 0), 0);
    be_recv(t, VU_REQ_SET_OWNER, &m);
    be_recv(t, VU_REQ_GET_FEATURES, &m); /* SET_OWNER's barrier, answered below */
    be_recv(t, VU_REQ_SET_FEATURES, &m);
    assert_int_equal(m.payload.u64, F_V1 | F_PF);
    assert_true(quiet_for(t->s.fe, QUIET_MS));
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, BE_FEATURE), 0);
    fe_expect_ack(t, VU_REQ_SET_OWNER, 0);
    be_barrier(t, true);
    be_recv(t, VU_REQ_GET_FEATURES, &m); /* the front-end's own */
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, BE_FEATURE), 0);
    fe_expect_ack(t, VU_REQ_SET_FEATURES, 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(m.payload.u64, BE_FEATURE); /* the real reply, not an ack */
    assert_true(log_has(t, "back-end offers no F_VDPA: relaying in pass-through"));
}

/* ---- the replay journal --------------------------------------------------------- */

/* A legacy bring-up without REPLY_ACK on either side (QEMU's order for one
 * ring): nothing is acked, the back-end only receives. */
static void pass_bring_up(struct noack_test *t)
{
    struct vu_mem_region region = { 0x0, GUEST_SIZE, GUEST_UVA, 0 };
    struct vu_vring_addr addr = { .index = 0,
                                  .desc_user_addr = GUEST_UVA,
                                  .avail_user_addr = GUEST_UVA + 0x1000,
                                  .used_user_addr = GUEST_UVA + 0x2000 };
    struct vu_msg m;

    offers(t, BE_PF);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, BE_PF, -1), 0);
    be_recv(t, VU_REQ_SET_PROTOCOL_FEATURES, &m);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_SET_OWNER, 0), 0);
    be_recv(t, VU_REQ_SET_OWNER, &m);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_FEATURES, 0, F_V1 | F_PF, -1), 0);
    be_recv(t, VU_REQ_SET_FEATURES, &m);
    t->memfd = memfd_create("guest", MFD_CLOEXEC);
    assert_true(t->memfd >= 0);
    assert_int_equal(ftruncate(t->memfd, GUEST_SIZE), 0);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    assert_int_equal(vu_msg_set_mem_table(&m, &region, 1), 0);
    assert_int_equal(scripted_add_dup(&m, t->memfd), 0);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    be_recv(t, VU_REQ_SET_MEM_TABLE, &m);
    vu_msg_close_fds(&m);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_NUM, 0, 0, RING_NUM), 0);
    be_recv(t, VU_REQ_SET_VRING_NUM, &m);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_BASE, 0, 0, 0), 0);
    be_recv(t, VU_REQ_SET_VRING_BASE, &m);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &addr);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    be_recv(t, VU_REQ_SET_VRING_ADDR, &m);
    t->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(t->kick >= 0);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_KICK, 0, 0, t->kick), 0);
    be_recv(t, VU_REQ_SET_VRING_KICK, &m);
    vu_msg_close_fds(&m);
}

/* The back-end goes and the shim connects again: the journal is replayed
 * to the new one, each step with its barrier, and the front-end is read
 * again only once the last barrier's reply came. */
static void replay_without_reply_ack(void **state)
{
    struct noack_test *t = *state;
    struct pollfd p = { .fd = t->s.be_listen, .events = POLLIN };
    static const uint32_t steps[] = { VU_REQ_SET_FEATURES,   VU_REQ_SET_MEM_TABLE,
                                      VU_REQ_SET_VRING_NUM,  VU_REQ_SET_VRING_BASE,
                                      VU_REQ_SET_VRING_ADDR, VU_REQ_SET_VRING_KICK };
    size_t nsteps = sizeof(steps) / sizeof(steps[0]);
    struct vu_msg m;

    pass_bring_up(t);
    close(t->s.be);
    assert_int_equal(poll(&p, 1, SCRIPT_TIMEOUT_MS), 1);
    t->s.be = vu_accept(t->s.be_listen);
    assert_true(t->s.be >= 0);
    assert_int_equal(vu_set_nonblocking(t->s.be, false), 0);

    be_recv(t, VU_REQ_SET_OWNER, &m); /* as QEMU sends it: no barrier */
    be_recv(t, VU_REQ_GET_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, BE_FEATURE), 0);
    be_recv(t, VU_REQ_GET_PROTOCOL_FEATURES, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_PROTOCOL_FEATURES, BE_PF), 0);
    be_recv(t, VU_REQ_SET_PROTOCOL_FEATURES, &m);
    for (size_t i = 0; i < nsteps; i++) {
        be_recv(t, steps[i], &m);
        vu_msg_close_fds(&m);
        if (i + 1 < nsteps) {
            be_barrier(t, false);
            continue;
        }
        /* the last barrier unanswered: the front-end is still held */
        assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_FEATURES, 0), 0);
        be_recv(t, VU_REQ_GET_FEATURES, &m);
        assert_true(quiet_for(t->s.be, QUIET_MS));
        assert_false(log_has(t, "session restored on the new back-end"));
        assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, BE_FEATURE), 0);
    }
    be_recv(t, VU_REQ_GET_FEATURES, &m); /* the front-end's, read again */
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, BE_FEATURE), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_FEATURES, &m), 0);
    assert_true(log_has(t, "session restored on the new back-end (8 requests replayed, 1 rings)"));
}

/* ---- the log: a chain that cannot translate says why ---------------------------- */

/* vsock over a back-end without F_CONFIG: down-conversion needs a device
 * model of the shim's for the type. Where the shim has none, F_VDPA is not
 * offered and the log says why, once; where it has one, F_VDPA is offered
 * and no such line is written. */
static void unoffered_vdpa_logged(void **state)
{
    struct noack_test *t = *state;
    const char *line = "F_VDPA not offered over this legacy back-end";
    bool vdpa = offers(t, BE_PF) & VU_BIT(VU_PF_VDPA);
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "test $(grep -cF '%s' %s) -eq 1", line, t->s.log_path);
    if (vdpa) {
        print_message("the shim models vsock: F_VDPA offered, no line expected\n");
        assert_false(log_has(t, line));
    } else {
        assert_int_equal(system(cmd), 0); /* once, naming the cause */
        assert_true(log_has(t, "no device model for this type"));
    }
    /* a second look at the offer says nothing more */
    offers(t, BE_PF);
    if (!vdpa)
        assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(down_start_without_reply_ack, setup_rng, teardown),
        cmocka_unit_test_setup_teardown(pass_through_emulated_ack, setup_rng, teardown),
        cmocka_unit_test_setup_teardown(replay_without_reply_ack, setup_rng, teardown),
        cmocka_unit_test_setup_teardown(unoffered_vdpa_logged, setup_vsock, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
