/* SPDX-License-Identifier: MIT */
/*
 * Issue 15, items 1-3, with scripted peers (tests/integ/conv_script.h: the
 * back-end answers whatever the shim asks). Each test fails on 44c4f61:
 *   1  QEMU's virtio-net brings each queue pair up as its own vhost device
 *      on the same socket (hw/virtio/vhost-user.c vhost_user_backend_init):
 *      GET_FEATURES, GET_PROTOCOL_FEATURES and the same SET_PROTOCOL_FEATURES
 *      again, then rings 2 and 3. The shim refused the second
 *      SET_PROTOCOL_FEATURES (in pass-through with an empty reason) and
 *      QEMU reconnected at once, forever, unthrottled;
 *   2  a back-end offering HOST_ECN without HOST_TSO4/6 (DPDK without tso=1)
 *      had the shim offer a feature set that breaks VIRTIO 1.2 5.1.3.1;
 *   3  a protocol feature the shim offered in a mode was neither served by
 *      the shim nor negotiated with the back-end (up-conversion showed the
 *      back-end's CONFIGURE_MEM_SLOTS, BACKEND_SEND_FD, HOST_NOTIFIER, ...
 *      and forwarded their requests to a back-end that never agreed).
 * The walk: for each mode and each protocol feature the shim offers there,
 * the front-end acks it and sends the request it enables; the shim answers
 * it or forwards it to a back-end that agreed to the bit, never refuses it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "conv_script.h"

/* What the scripted back-ends offer: every protocol feature the shim can
 * relay (legacy), and the same with F_VDPA (vdpa-user). */
#define ALL_LEGACY_PF    (VS_TEST_KNOWN_PF & ~(VU_BIT(VU_PF_PAGEFAULT) | VU_BIT(VU_PF_XEN_MMAP)))
#define VS_TEST_KNOWN_PF ((UINT64_C(1) << VU_PF_COUNT_KNOWN) - 1)
#define ALL_VDPA_PF      (ALL_LEGACY_PF | VU_BIT(VU_PF_VDPA))
/* What a vdpa-user front-end acks over a legacy back-end (spec 2.2). */
#define VDPA_FE_PF        (CS_VDPA_PF | VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_RARP))
#define NET_MTU           1500u
#define MTU_OFFSET        10u
#define CONFIG_PROBE_SIZE 12u
#define TWO_PAIRS         2u
#define PAIR1_RX          2u
#define PAIR1_TX          3u
#define RING_SIZE         256u
#define HOST_ECN          13
#define DPDK_NO_TSO                                                                                \
    (VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(VIRTIO_NET_F_CSUM) |     \
     VU_BIT(HOST_ECN) | VU_BIT(VIRTIO_NET_F_MRG_RXBUF))
/* The reconnect back-off (shim/refusal.c): the 5th refused session in a
 * row starts a 250 ms delay, doubling. */
#define LOOP_SESSIONS        8
#define LOOP_STREAK          5
#define LOOP_LAST_MIN_MS     900 /* the 8th waits 1000 ms (250, 500, 1000) */
#define LOOP_UNKNOWN_REQUEST 0x7777u

enum walk_mode {
    W_PASS,
    W_PASS_VDPA,
    W_UP,
    W_DOWN
};

struct ot {
    struct iso t;
    struct cs_peer p;
    uint64_t be_acked;   /* the last SET_PROTOCOL_FEATURES the back-end got */
    unsigned be_set_pf;  /* how many it got */
    uint64_t be_seen_pf; /* gates of the requests the back-end got */
};

/* ---- the back-end: conv_script's answers, plus what it agreed to -------- */

static void ot_be_answer(struct ot *o, struct vu_msg *m)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m->hdr.request);
    struct vu_msg r;

    if (m->hdr.request == VU_REQ_SET_PROTOCOL_FEATURES) {
        o->be_acked = m->payload.u64;
        o->be_set_pf++;
    } else if (d && d->gate != VU_GATE_NONE) {
        o->be_seen_pf |= VU_BIT((unsigned)d->gate);
        if (!vu_has_bit(o->be_acked, (unsigned)d->gate))
            iso_fail(&o->t, "the back-end got %s without having agreed to protocol feature %d",
                     d->name, d->gate);
    }
    if (m->hdr.request == VU_REQ_GET_MAX_MEM_SLOTS) {
        vu_msg_make_reply(&r, m);
        vu_msg_set_u64(&r, VU_MAX_MEM_REGIONS);
        iso_send_msg(&o->t, o->p.d->be, &r);
        return;
    }
    if (m->hdr.request == VU_REQ_GET_CONFIG) {
        /* a net config with MTU 1500, for NET_SET_MTU in up-conversion */
        uint8_t cfg[VU_MAX_CONFIG_SIZE] = { 0 };
        uint32_t off = m->payload.config.offset, size = m->payload.config.size;
        cfg[MTU_OFFSET] = NET_MTU & 0xff;
        cfg[MTU_OFFSET + 1] = NET_MTU >> 8;
        vu_msg_make_reply(&r, m);
        vu_msg_set_config(&r, off, size, 0, off + size <= sizeof(cfg) ? cfg + off : cfg);
        vu_msg_close_fds(m);
        iso_send_msg(&o->t, o->p.d->be, &r);
        return;
    }
    cs_be_answer(&o->p, m);
}

/* cs_pump with ot_be_answer. */
static int ot_pump(struct ot *o, struct vu_msg *m, int ms)
{
    uint64_t deadline = iso_now_us() + (uint64_t)ms * 1000u;

    for (;;) {
        struct pollfd fds[2] = { { .fd = o->p.d->fe, .events = POLLIN },
                                 { .fd = o->p.d->be, .events = POLLIN } };
        int64_t left = (int64_t)(deadline - iso_now_us()) / 1000;
        struct vu_msg b;

        if (left < 0 || poll(fds, 2, (int)left) == 0)
            return -ETIMEDOUT;
        if (fds[1].revents) {
            if (vu_recv_blocking(o->p.d->be, &b, ISO_TIMEOUT_MS) == 0)
                ot_be_answer(o, &b);
            else
                iso_close(&o->p.d->be);
        }
        if (fds[0].revents)
            return vu_recv_blocking(o->p.d->fe, m, ISO_TIMEOUT_MS);
    }
}

/* Sends m and returns its reply in m; fails the test on a disconnect. */
static void ot_call(struct ot *o, struct vu_msg *m)
{
    uint32_t req = m->hdr.request;
    int rc;

    iso_send_msg(&o->t, o->p.d->fe, m);
    rc = ot_pump(o, m, ISO_TIMEOUT_MS);
    if (rc)
        iso_fail(&o->t, "no reply to %s: %s", vu_request_name(VU_CHAN_FRONTEND, req),
                 rc == -ECONNRESET ? "disconnected" : strerror(-rc));
    vu_msg_close_fds(m);
    if (m->hdr.request != req)
        iso_fail(&o->t, "expected the reply to %s, got %s", vu_request_name(VU_CHAN_FRONTEND, req),
                 vu_request_name(VU_CHAN_FRONTEND, m->hdr.request));
}

static uint64_t ot_u64(struct ot *o, uint32_t req, uint32_t flags, uint64_t v, int fd)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    vu_msg_set_u64(&m, v);
    if (fd >= 0)
        vu_msg_add_fd(&m, fcntl(fd, F_DUPFD_CLOEXEC, 3));
    ot_call(o, &m);
    return m.payload.u64;
}

static uint64_t ot_empty(struct ot *o, uint32_t req, uint32_t flags)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    ot_call(o, &m);
    return m.payload.u64;
}

/* ---- set-up ---------------------------------------------------------------- */

static int ot_setup(void **state)
{
    struct iso_opts opts = ISO_OPTS_DEFAULT;
    struct ot *o = calloc(1, sizeof(*o));

    if (!o)
        return -1;
    o->p.be_config_call = -1;
    opts.log_level = "info";
    iso_start(&o->t, &opts);
    *state = o;
    return 0;
}

static int ot_teardown(void **state)
{
    struct ot *o = *state;
    int rc = iso_stop(&o->t);

    cs_fini(&o->p);
    free(o);
    return rc == 0 ? 0 : -1;
}

/* Connects a front-end to a back-end offering features/pf. */
static void ot_connect(struct ot *o, uint64_t features, uint64_t pf, bool vdpa_backend)
{
    cs_fini(&o->p);
    cs_init(&o->p, &o->t, &o->t.victim, vdpa_backend ? CS_UP : CS_DOWN);
    o->p.be_features = features;
    o->p.be_pf = pf;
    o->p.be_pairs = TWO_PAIRS;
    o->be_acked = 0;
    o->be_set_pf = 0;
    o->be_seen_pf = 0;
    iso_connect(&o->t, &o->t.victim);
}

/* GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES as QEMU
 * sends them (no NEED_REPLY on the last); returns the offer. */
static uint64_t ot_qemu_init(struct ot *o, uint64_t *features, uint64_t ack_mask)
{
    uint64_t offer;

    *features = ot_empty(o, VU_REQ_GET_FEATURES, 0);
    offer = ot_empty(o, VU_REQ_GET_PROTOCOL_FEATURES, 0);
    iso_send_u64(&o->t, o->p.d->fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, offer & ack_mask, -1);
    return offer;
}

/* ---- item 1: a second queue pair on the same socket ----------------------- */

/* QEMU's vhost_dev for queue pair 1 (vq_index 2): everything but the
 * one-time requests again, then its rings. */
static void qemu_second_pair(struct ot *o, uint64_t ack_mask, bool rings)
{
    uint64_t f0, f1, pf0, pf1;

    pf0 = ot_qemu_init(o, &f0, ack_mask);
    /* one-time requests (SET_OWNER, GET_QUEUE_NUM, SET_MEM_TABLE) only for pair 0 */
    if (vu_has_bit(pf0, VU_PF_MQ) && ot_empty(o, VU_REQ_GET_QUEUE_NUM, 0) == 0)
        iso_fail(&o->t, "GET_QUEUE_NUM says no queue pairs");
    pf1 = ot_qemu_init(o, &f1, ack_mask);
    if (pf1 != pf0 || f1 != f0)
        iso_fail(&o->t,
                 "the second queue pair was offered 0x%" PRIx64 "/0x%" PRIx64
                 ", the first 0x%" PRIx64 "/0x%" PRIx64,
                 f1, pf1, f0, pf0);
    /* still connected, the rings of pair 1 accepted */
    if (ot_empty(o, VU_REQ_GET_FEATURES, 0) != f0)
        iso_fail(&o->t, "GET_FEATURES after the second pair's set-up changed");
    if (!rings)
        return;
    for (uint32_t i = PAIR1_RX; i <= PAIR1_TX; i++) {
        struct vu_msg m;
        vu_msg_init(&m, VU_REQ_SET_VRING_NUM, VU_FLAG_NEED_REPLY);
        vu_msg_set_state(&m, i, RING_SIZE);
        ot_call(o, &m);
        if (m.payload.u64 != 0)
            iso_fail(&o->t, "SET_VRING_NUM of ring %u refused (%" PRIu64 ")", i, m.payload.u64);
    }
}

static void mq_pass_through(void **state)
{
    struct ot *o = *state;

    ot_connect(o, CS_LEGACY_FEATURES, CS_LEGACY_PF, false);
    qemu_second_pair(o, ~VU_BIT(VU_PF_VDPA), true);
    /* the back-end sees what QEMU would send it directly: both */
    if (o->be_set_pf != 2 || o->be_acked != CS_LEGACY_PF)
        iso_fail(&o->t, "the back-end got %u SET_PROTOCOL_FEATURES, the last 0x%" PRIx64,
                 o->be_set_pf, o->be_acked);
    assert_int_equal(iso_log_lines(&o->t, "front-end connected", ""), 1);
}

static void mq_up_conversion(void **state)
{
    struct ot *o = *state;

    ot_connect(o, CS_VDPA_FEATURES, CS_VDPA_PF, true);
    qemu_second_pair(o, ~VU_BIT(VU_PF_VDPA), false);
    /* the set-up ran once */
    if (o->be_set_pf != 1)
        iso_fail(&o->t, "the back-end got %u SET_PROTOCOL_FEATURES", o->be_set_pf);
    /* with NEED_REPLY the shim acks it */
    if (ot_u64(o, VU_REQ_SET_PROTOCOL_FEATURES, VU_FLAG_NEED_REPLY,
               ot_empty(o, VU_REQ_GET_PROTOCOL_FEATURES, 0) & ~VU_BIT(VU_PF_VDPA), -1) != 0)
        iso_fail(&o->t, "the same protocol features again were refused");
    assert_int_equal(iso_log_lines(&o->t, "front-end connected", ""), 1);
}

/* A different value, and F_VDPA again, are refused with a reason. */
static void repeat_refusals_say_why(void **state)
{
    struct ot *o = *state;
    uint64_t f, pf;

    ot_connect(o, CS_LEGACY_FEATURES, CS_LEGACY_PF, false);
    pf = ot_qemu_init(o, &f, ~VU_BIT(VU_PF_VDPA));
    iso_send_u64(&o->t, o->p.d->fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, VU_BIT(VU_PF_MQ), -1);
    iso_expect_eof(&o->t, o->p.d->fe, "front-end", ISO_TIMEOUT_MS, true);
    if (!iso_wait_log_line(&o->t, "SET_PROTOCOL_FEATURES again with", "settled once",
                           ISO_TIMEOUT_MS))
        iso_fail(&o->t, "no reason for refusing a different SET_PROTOCOL_FEATURES");
    if (iso_log_lines(&o->t, ":  (", ""))
        iso_fail(&o->t, "a refusal with an empty reason");
    (void)pf;

    ot_connect(o, CS_LEGACY_FEATURES, CS_LEGACY_PF, false);
    ot_empty(o, VU_REQ_GET_FEATURES, 0);
    ot_empty(o, VU_REQ_GET_PROTOCOL_FEATURES, 0);
    if (ot_u64(o, VU_REQ_SET_PROTOCOL_FEATURES, VU_FLAG_NEED_REPLY, CS_VDPA_PF, -1) != 0)
        iso_fail(&o->t, "down-conversion did not start");
    assert_int_not_equal(
        ot_u64(o, VU_REQ_SET_PROTOCOL_FEATURES, VU_FLAG_NEED_REPLY, CS_VDPA_PF, -1), 0);
    if (!iso_wait_log(&o->t, "after F_VDPA was negotiated", ISO_TIMEOUT_MS))
        iso_fail(&o->t, "no reason for refusing SET_PROTOCOL_FEATURES under F_VDPA");
}

/* A front-end refused at once, reconnecting at once: the shim slows it
 * down and stops logging every session. */
static void refusal_loop_backoff(void **state)
{
    struct ot *o = *state;
    uint64_t took_ms = 0;

    for (int i = 0; i < LOOP_SESSIONS; i++) {
        uint64_t t0 = iso_now_us();
        cs_fini(&o->p);
        cs_init(&o->p, &o->t, &o->t.victim, CS_DOWN);
        iso_connect(&o->t, &o->t.victim);
        iso_send_empty(&o->t, o->p.d->fe, LOOP_UNKNOWN_REQUEST, 0);
        iso_expect_eof(&o->t, o->p.d->fe, "front-end", ISO_TIMEOUT_MS, true);
        took_ms = (iso_now_us() - t0) / 1000;
        if (i < LOOP_STREAK && took_ms >= LOOP_LAST_MIN_MS / 2)
            iso_fail(&o->t, "session %d was delayed (%" PRIu64 " ms) before any loop", i, took_ms);
    }
    iso_report("refusal loop", "the 8th session waited", (double)took_ms, "ms");
    if (took_ms < LOOP_LAST_MIN_MS)
        iso_fail(&o->t,
                 "the %dth refused session in a row was accepted after %" PRIu64 " ms: no back-off",
                 LOOP_SESSIONS, took_ms);
    if (!iso_log_contains(&o->t, "in a row ended in a refusal"))
        iso_fail(&o->t, "the loop is not logged");
    if (iso_log_lines(&o->t, "session ended", "") > LOOP_STREAK)
        iso_fail(&o->t, "%d 'session ended' lines for %d sessions: every repeat is logged",
                 iso_log_lines(&o->t, "session ended", ""), LOOP_SESSIONS);
    if (!iso_log_contains(&o->t, "unknown") && !iso_log_contains(&o->t, "30583"))
        iso_fail(&o->t, "the refusal's reason is not logged");
}

/* ---- item 2: the offer keeps VIRTIO's feature dependencies ---------------- */

static void offer_drops_ecn_without_tso(void **state)
{
    struct ot *o = *state;
    uint64_t f, down;

    ot_connect(o, DPDK_NO_TSO, CS_LEGACY_PF, false);
    f = ot_empty(o, VU_REQ_GET_FEATURES, 0);
    if (vu_has_bit(f, HOST_ECN) || f != (DPDK_NO_TSO & ~VU_BIT(HOST_ECN)))
        iso_fail(&o->t, "pass-through offered 0x%" PRIx64 " for 0x%" PRIx64, f, DPDK_NO_TSO);
    ot_empty(o, VU_REQ_GET_PROTOCOL_FEATURES, 0);
    if (ot_u64(o, VU_REQ_SET_PROTOCOL_FEATURES, VU_FLAG_NEED_REPLY, CS_VDPA_PF, -1) != 0)
        iso_fail(&o->t, "down-conversion did not start");
    down = ot_empty(o, VU_REQ_GET_FEATURES, 0);
    if (vu_has_bit(down, HOST_ECN))
        iso_fail(&o->t, "down-conversion offered HOST_ECN without HOST_TSO4/6: 0x%" PRIx64, down);
    if (iso_log_lines(&o->t, "without a feature they require", "13") != 1)
        iso_fail(&o->t, "what was dropped is not logged once per session");
    if (!scripted_file_contains(o->t.trace_path, "5.1.3.1"))
        iso_fail(&o->t, "the trace does not note what was dropped");
}

/* ---- item 3: every offered protocol feature works in its mode ------------- */

/* The request a protocol feature enables, sent and answered without a
 * refusal. False when the bit has no simple request (the back-end's
 * agreement is checked instead). */
static bool probe_bit(struct ot *o, unsigned bit, enum walk_mode mode)
{
    const uint32_t need = VU_FLAG_NEED_REPLY;
    int sv[2];
    uint64_t v = 0;
    struct vu_msg m;

    switch (bit) {
    case VU_PF_MQ:
        if (mode == W_DOWN || mode == W_PASS_VDPA)
            return false; /* GET_QUEUE_NUM is forbidden under F_VDPA */
        v = ot_empty(o, VU_REQ_GET_QUEUE_NUM, 0) == 0;
        break;
    case VU_PF_RARP:
        v = ot_u64(o, VU_REQ_SEND_RARP, need, 0x525400123456ull, -1);
        break;
    case VU_PF_NET_MTU:
        if (mode == W_DOWN || mode == W_PASS_VDPA)
            return false; /* NET_SET_MTU is forbidden under F_VDPA */
        v = ot_u64(o, VU_REQ_NET_SET_MTU, need, NET_MTU, -1);
        break;
    case VU_PF_STATUS:
        ot_empty(o, VU_REQ_GET_STATUS, 0);
        break;
    case VU_PF_CONFIGURE_MEM_SLOTS:
        v = ot_empty(o, VU_REQ_GET_MAX_MEM_SLOTS, 0) == 0;
        break;
    case VU_PF_CONFIG:
        vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
        vu_msg_set_config(&m, 0, CONFIG_PROBE_SIZE, 0, NULL);
        ot_call(o, &m);
        v = m.hdr.size == 0; /* the empty reply is a refusal */
        break;
    case VU_PF_BACKEND_REQ:
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            iso_fail(&o->t, "socketpair: %s", strerror(errno));
        vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, need);
        vu_msg_add_fd(&m, sv[0]);
        ot_call(o, &m);
        v = m.payload.u64;
        close(sv[1]);
        break;
    default:
        return false;
    }
    if (v)
        iso_fail(&o->t,
                 "mode %d: the request protocol feature %u enables was refused (%" PRIu64 ")", mode,
                 bit, v);
    return true;
}

/* The bits the shim serves itself in a mode (the rest it must have
 * negotiated with the back-end). */
static uint64_t served_by_shim(enum walk_mode mode)
{
    switch (mode) {
    case W_PASS: /* answer_shim_offered */
        return VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_STATUS);
    case W_UP: /* shim/upconv.c translates them */
        return VU_BIT(VU_PF_CONFIG) | VU_BIT(VU_PF_BACKEND_REQ) | VU_BIT(VU_PF_RESET_DEVICE) |
               VU_BIT(VU_PF_NET_MTU) | VU_BIT(VU_PF_STATUS) | VU_BIT(VU_PF_MQ);
    case W_DOWN: /* the device model */
        return VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_CONFIG) | VU_BIT(VU_PF_STATUS) | VU_BIT(VU_PF_MQ);
    default: /* pass-through under F_VDPA: the back-end's bits only */
        return 0;
    }
}

static void walk(struct ot *o, enum walk_mode mode)
{
    bool vdpa_be = mode == W_UP || mode == W_PASS_VDPA;
    uint64_t offer, ack;

    ot_connect(o, vdpa_be ? CS_VDPA_FEATURES : CS_LEGACY_FEATURES,
               vdpa_be ? ALL_VDPA_PF : ALL_LEGACY_PF | VU_BIT(VU_PF_REPLY_ACK), vdpa_be);
    ot_empty(o, VU_REQ_GET_FEATURES, 0);
    offer = ot_empty(o, VU_REQ_GET_PROTOCOL_FEATURES, 0);
    ack = offer & ~VU_BIT(VU_PF_VDPA); /* a legacy front-end acks all it knows */
    if (mode == W_DOWN)
        ack = offer & VDPA_FE_PF;
    else if (mode == W_PASS_VDPA)
        ack = offer & ALL_VDPA_PF;
    if (mode == W_DOWN || mode == W_PASS_VDPA)
        assert_true(vu_has_bit(ack, VU_PF_VDPA));
    if (ot_u64(o, VU_REQ_SET_PROTOCOL_FEATURES, VU_FLAG_NEED_REPLY, ack, -1) != 0)
        iso_fail(&o->t,
                 "mode %d: SET_PROTOCOL_FEATURES 0x%" PRIx64 " (offer 0x%" PRIx64 ") refused", mode,
                 ack, offer);
    /* vdpa-user: the config space reads from ACKNOWLEDGE on (spec 6.1) */
    if (vu_has_bit(ack, VU_PF_VDPA) &&
        ot_u64(o, VU_REQ_SET_STATUS, VU_FLAG_NEED_REPLY, CS_ST_DRIVER, -1) != 0)
        iso_fail(&o->t, "mode %d: SET_STATUS(ACKNOWLEDGE|DRIVER) refused", mode);
    /* with F_VDPA, CONFIG works whether or not it was shown and acked */
    for (unsigned bit = 0; bit < 64; bit++) {
        if (!vu_has_bit(vu_pf_in_effect(ack), bit) || bit == VU_PF_REPLY_ACK)
            continue;
        if (probe_bit(o, bit, mode))
            continue;
        if (!vu_has_bit(o->be_acked, bit) && !vu_has_bit(served_by_shim(mode), bit))
            iso_fail(&o->t,
                     "mode %d offers protocol feature %u (offer 0x%" PRIx64 ") without "
                     "serving it or negotiating it with the back-end (it agreed to 0x%" PRIx64 ")",
                     mode, bit, offer, o->be_acked);
    }
    /* the session is still up */
    ot_empty(o, VU_REQ_GET_FEATURES, 0);
}

static void walk_pass(void **state)
{
    walk(*state, W_PASS);
}

static void walk_pass_vdpa(void **state)
{
    walk(*state, W_PASS_VDPA);
}

static void walk_up(void **state)
{
    walk(*state, W_UP);
}

static void walk_down(void **state)
{
    struct ot *o = *state;
    struct vu_msg m;
    int rc;

    walk(o, W_DOWN);
    /* a vdpa-user front-end acking a bit shown for legacy front-ends only
     * is refused at once, with the reason, not later as "not negotiated" */
    ot_connect(o, CS_LEGACY_FEATURES, ALL_LEGACY_PF, false);
    ot_empty(o, VU_REQ_GET_FEATURES, 0);
    ot_empty(o, VU_REQ_GET_PROTOCOL_FEATURES, 0);
    iso_send_u64(&o->t, o->p.d->fe, VU_REQ_SET_PROTOCOL_FEATURES, VU_FLAG_NEED_REPLY,
                 CS_VDPA_PF | VU_BIT(VU_PF_CONFIGURE_MEM_SLOTS), -1);
    rc = ot_pump(o, &m, ISO_TIMEOUT_MS);
    if (rc == 0)
        vu_msg_close_fds(&m);
    if (rc != -ECONNRESET && (rc != 0 || m.payload.u64 == 0))
        iso_fail(&o->t, "F_VDPA with a legacy-only bit was not refused (%d)", rc);
    if (!iso_wait_log(&o->t, "offered for vhost-user front-ends only", ISO_TIMEOUT_MS))
        iso_fail(&o->t, "no reason for refusing F_VDPA with a legacy-only bit");
}

/* Issue 15 item 4: QEMU 7.2 reads the offer a vdpa-user front-end reads,
 * drops F_VDPA silently, but for net and fs warns "vhost-user backend
 * supports VHOST_USER_PROTOCOL_F_CONFIG but QEMU does not" when bit 9 is
 * shown. F_VDPA implies CONFIG (docs/vdpa-user.md 2.2), so over a net
 * back-end without CONFIG the offer shows F_VDPA and no CONFIG, and a
 * vdpa-user front-end acking F_VDPA alone still reads the config space
 * (down-conversion); over a vdpa-user back-end that shows CONFIG, a legacy
 * net front-end (up-conversion) is not shown it either. */
static void offer_invisible_to_legacy_vmm(void **state)
{
    const uint64_t vdpa_ack = VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS);
    struct ot *o = *state;
    uint64_t offer;
    struct vu_msg m;

    ot_connect(o, CS_LEGACY_FEATURES, CS_LEGACY_PF, false);
    ot_empty(o, VU_REQ_GET_FEATURES, 0);
    offer = ot_empty(o, VU_REQ_GET_PROTOCOL_FEATURES, 0);
    assert_true(vu_has_bit(offer, VU_PF_VDPA));
    assert_false(vu_has_bit(offer, VU_PF_CONFIG));
    if (ot_u64(o, VU_REQ_SET_PROTOCOL_FEATURES, VU_FLAG_NEED_REPLY, vdpa_ack, -1) != 0)
        iso_fail(&o->t, "F_VDPA without CONFIG refused (offer 0x%" PRIx64 ")", offer);
    if (ot_u64(o, VU_REQ_SET_STATUS, VU_FLAG_NEED_REPLY, CS_ST_DRIVER, -1) != 0)
        iso_fail(&o->t, "SET_STATUS(ACKNOWLEDGE|DRIVER) refused");
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 0, CONFIG_PROBE_SIZE, 0, NULL);
    ot_call(o, &m);
    if (m.hdr.size != VU_CONFIG_HDR_SIZE + CONFIG_PROBE_SIZE)
        iso_fail(&o->t, "GET_CONFIG under F_VDPA without CONFIG acked: reply of %" PRIu32 " bytes",
                 m.hdr.size);

    ot_connect(o, CS_VDPA_FEATURES, CS_VDPA_PF, true);
    ot_empty(o, VU_REQ_GET_FEATURES, 0);
    offer = ot_empty(o, VU_REQ_GET_PROTOCOL_FEATURES, 0);
    assert_true(vu_has_bit(CS_VDPA_PF, VU_PF_CONFIG));
    assert_false(vu_has_bit(offer, VU_PF_CONFIG));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mq_pass_through, ot_setup, ot_teardown),
        cmocka_unit_test_setup_teardown(mq_up_conversion, ot_setup, ot_teardown),
        cmocka_unit_test_setup_teardown(repeat_refusals_say_why, ot_setup, ot_teardown),
        cmocka_unit_test_setup_teardown(refusal_loop_backoff, ot_setup, ot_teardown),
        cmocka_unit_test_setup_teardown(offer_drops_ecn_without_tso, ot_setup, ot_teardown),
        cmocka_unit_test_setup_teardown(walk_pass, ot_setup, ot_teardown),
        cmocka_unit_test_setup_teardown(walk_pass_vdpa, ot_setup, ot_teardown),
        cmocka_unit_test_setup_teardown(walk_up, ot_setup, ot_teardown),
        cmocka_unit_test_setup_teardown(walk_down, ot_setup, ot_teardown),
        cmocka_unit_test_setup_teardown(offer_invisible_to_legacy_vmm, ot_setup, ot_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
