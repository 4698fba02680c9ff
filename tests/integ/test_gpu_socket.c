/* SPDX-License-Identifier: MIT */
/*
 * VHOST_USER_GPU_SET_SOCKET through the real vdpa-shim binary in each mode,
 * with scripted peers: QEMU's vhost-user-gpu front-end makes a socketpair
 * and sends one end with GPU_SET_SOCKET; the back-end then speaks the
 * vhost-user-gpu display protocol to QEMU over it, peer to peer. The shim
 * must hand the fd on in pass-through (and keep it in the journal for a new
 * back-end), in up-conversion and in down-conversion (vdpa-user forbids only
 * the legacy requests that overlap a vDPA ioctl, docs/vdpa-user.md 4, and
 * this one overlaps none), and refuse an fd of the wrong kind with the
 * reason named.
 *
 * Each test checks that what the back-end received is the very socket the
 * front-end sent: the same inode, and bytes written on the front-end's end
 * arrive on the back-end's fd (and back).
 *
 * The back-end is an auto-responder: whatever the shim asks it answers (an
 * ack where NEED_REPLY is set, the value a request always gets), so each
 * test writes the front-end's side only; it keeps the GPU socket it gets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>
#include <sys/eventfd.h>
#include <cmocka.h>

#include "conv_script.h" /* cs_reply_payload */
#include "scripted.h"
#include "virtio.h"

#define REQ  VU_VERSION
#define NEED VU_FLAG_NEED_REPLY
/* virtio-gpu (VIRTIO 1.2 5.7): device ID 16, two queues (control and
 * cursor), a 16-byte config space; F_EDID is feature bit 1. */
#define GPU_DEVICE_ID   16u
#define GPU_RINGS       2u
#define GPU_CONFIG_SIZE 16u
#define GPU_F_EDID      1
#define GPU_FEATURES                                                                               \
    (VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(GPU_F_EDID))
/* QEMU's vhost-user-gpu (libvhost-user): REPLY_ACK and CONFIG among others. */
#define LEGACY_PF (VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG))
/* A vdpa-user back-end's offer (docs/vdpa-user.md 2.2). */
#define VDPA_PF                                                                                    \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |      \
     VU_BIT(VU_PF_STATUS))
/* What a vdpa-user front-end acks (CONFIG is implied by F_VDPA). */
#define FE_VDPA_PF                                                                                 \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS))
#define ST_DRIVER (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define QUIET_MS  300 /* long enough for a message the shim should not send */
#define NOTE      "handed on: no vDPA ioctl overlaps it"
#define PING      "vhost-user-gpu"

enum mode {
    PASS,
    UP,
    DOWN
};

struct gt {
    struct scripted s;
    uint64_t be_features, be_pf;
    uint8_t be_status; /* the last SET_STATUS the back-end got */
    int sv[2];         /* the front-end's socketpair: [0] kept, [1] sent */
    int be_sock;       /* the GPU socket the back-end got, or -1 */
    uint32_t be_flags; /* the header flags it came with */
    unsigned be_socks; /* GPU_SET_SOCKETs the back-end got */
    unsigned be_heard; /* messages the back-end got */
};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the auto-responding back-end ---------------------------------------- */

/* The reply's payload: what the request always gets, else an ack of 0. */
static void be_reply_payload(const struct gt *t, const struct vu_msg *m, struct vu_msg *r)
{
    const struct cs_answers a = { .features = t->be_features,
                                  .pf = t->be_pf,
                                  .queue_num = GPU_RINGS,
                                  .device_id = GPU_DEVICE_ID,
                                  .vqs = GPU_RINGS,
                                  .config_size = GPU_CONFIG_SIZE,
                                  .status = t->be_status };

    cs_reply_payload(&a, m, r);
}

/* Answers one message the shim sent the back-end; keeps a GPU socket. */
static void be_answer(struct gt *t, struct vu_msg *m)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m->hdr.request);
    struct vu_msg r;

    t->be_heard++;
    if (m->hdr.request == VU_REQ_SET_STATUS)
        t->be_status = (uint8_t)m->payload.u64;
    if (m->hdr.request == VU_REQ_GPU_SET_SOCKET) {
        assert_int_equal(m->nfds, 1);
        fd_close(&t->be_sock);
        t->be_sock = fd_take(&m->fds[0]);
        m->nfds = 0;
        t->be_flags = m->hdr.flags;
        t->be_socks++;
    }
    vu_msg_close_fds(m);
    if (!(d && d->reply == VU_REPLY_ALWAYS) && !(m->hdr.flags & NEED))
        return;
    vu_msg_make_reply(&r, m);
    be_reply_payload(t, m, &r);
    assert_int_equal(vu_send_blocking(t->s.be, &r), 0);
}

/* Answers the back-end until the front-end has a message (0, in m), or ms
 * pass (-ETIMEDOUT), or the front-end is closed (-ECONNRESET). */
static int pump(struct gt *t, struct vu_msg *m, int ms)
{
    uint64_t deadline = now_ms() + (uint64_t)ms;

    for (;;) {
        struct pollfd p[2] = { { .fd = t->s.fe, .events = POLLIN },
                               { .fd = t->s.be, .events = POLLIN } };
        int64_t left = (int64_t)(deadline - now_ms());
        struct vu_msg b;

        if (left <= 0 || poll(p, 2, (int)left) <= 0)
            return -ETIMEDOUT;
        if (p[1].revents) {
            if (vu_recv_blocking(t->s.be, &b, SCRIPT_TIMEOUT_MS) != 0) {
                scripted_dump(&t->s);
                fail_msg("the back-end connection failed");
            }
            be_answer(t, &b);
        }
        if (p[0].revents)
            return vu_recv_blocking(t->s.fe, m, SCRIPT_TIMEOUT_MS);
    }
}

/* Sends m from the front-end; returns the reply's u64 (fds closed). */
static uint64_t call(struct gt *t, struct vu_msg *m)
{
    uint32_t req = m->hdr.request;
    int rc;

    assert_int_equal(vu_send_blocking(t->s.fe, m), 0);
    rc = pump(t, m, SCRIPT_TIMEOUT_MS);
    if (rc) {
        scripted_dump(&t->s);
        fail_msg("front-end: no reply to %s: %s", vu_request_name(VU_CHAN_FRONTEND, req),
                 strerror(-rc));
    }
    vu_msg_close_fds(m);
    if (m->hdr.request != req || !(m->hdr.flags & VU_FLAG_REPLY))
        fail_msg("front-end: expected the reply to %s, got %s",
                 vu_request_name(VU_CHAN_FRONTEND, req),
                 vu_request_name(VU_CHAN_FRONTEND, m->hdr.request));
    return m->payload.u64;
}

static uint64_t call_u64(struct gt *t, uint32_t req, uint32_t flags, uint64_t v)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    vu_msg_set_u64(&m, v);
    return call(t, &m);
}

static uint64_t call_empty(struct gt *t, uint32_t req, uint32_t flags)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    return call(t, &m);
}

/* Answers the back-end until it has got `count` GPU sockets in all; nothing
 * may reach the front-end meanwhile. */
static void wait_sockets(struct gt *t, unsigned count)
{
    uint64_t deadline = now_ms() + SCRIPT_TIMEOUT_MS;
    struct vu_msg m;

    while (t->be_socks < count) {
        int64_t left = (int64_t)(deadline - now_ms());
        int rc = left > 0 ? pump(t, &m, (int)left) : -ETIMEDOUT;

        if (rc == 0) {
            vu_msg_close_fds(&m);
            fail_msg("front-end: unexpected %s", vu_request_name(VU_CHAN_FRONTEND, m.hdr.request));
        }
        if (t->be_socks < count && rc) {
            scripted_dump(&t->s);
            fail_msg("the back-end got no GPU_SET_SOCKET (%s)", strerror(-rc));
        }
    }
}

/* Answers the back-end for a while; the front-end must hear nothing. */
static void pump_quiet(struct gt *t)
{
    struct vu_msg m;
    int rc = pump(t, &m, QUIET_MS);

    if (rc == 0) {
        vu_msg_close_fds(&m);
        fail_msg("front-end: unexpected %s", vu_request_name(VU_CHAN_FRONTEND, m.hdr.request));
    }
    assert_int_equal(rc, -ETIMEDOUT);
}

/* ---- the GPU socket ----------------------------------------------------------- */

static int send_gpu_socket(struct gt *t, uint32_t flags, int fd)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_GPU_SET_SOCKET, flags);
    if (fd >= 0 && scripted_add_dup(&m, fd) < 0)
        return -EMFILE;
    return vu_send_blocking(t->s.fe, &m);
}

/* Writes on `from`, reads the same bytes on `to` (with a time-out). */
static void bytes_cross(int from, int to)
{
    struct pollfd p = { .fd = to, .events = POLLIN };
    char buf[sizeof(PING)] = { 0 };

    assert_int_equal(write(from, PING, sizeof(PING)), (ssize_t)sizeof(PING));
    assert_int_equal(poll(&p, 1, SCRIPT_TIMEOUT_MS), 1);
    assert_int_equal(recv(to, buf, sizeof(buf), MSG_DONTWAIT), (ssize_t)sizeof(PING));
    assert_memory_equal(buf, PING, sizeof(PING));
}

/* What the back-end got is the front-end's socket: the same inode, and the
 * bytes cross both ways. */
static void check_same_socket(struct gt *t)
{
    struct stat a, b;

    assert_true(t->be_sock >= 0);
    assert_int_equal(fstat(t->be_sock, &a), 0);
    assert_int_equal(fstat(t->sv[1], &b), 0);
    assert_true(S_ISSOCK(a.st_mode));
    assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    bytes_cross(t->sv[0], t->be_sock);
    bytes_cross(t->be_sock, t->sv[0]);
}

static void check_trace_note(struct gt *t)
{
    if (!scripted_file_contains(t->s.trace_path, NOTE)) {
        scripted_dump(&t->s);
        fail_msg("no trace note \"%s\" for GPU_SET_SOCKET", NOTE);
    }
}

static void check_log(struct gt *t, const char *needle)
{
    if (!scripted_file_contains(t->s.log_path, needle)) {
        scripted_dump(&t->s);
        fail_msg("the shim's log does not say \"%s\"", needle);
    }
}

/* ---- bring-ups ------------------------------------------------------------------ */

/* The legacy front-end's (QEMU's) start, up to the mode's decision. */
static void negotiate(struct gt *t, uint64_t fe_pf)
{
    assert_int_equal(call_empty(t, VU_REQ_GET_FEATURES, REQ), t->be_features);
    assert_true(call_empty(t, VU_REQ_GET_PROTOCOL_FEATURES, REQ) & VU_BIT(VU_PF_REPLY_ACK));
    assert_int_equal(call_u64(t, VU_REQ_SET_PROTOCOL_FEATURES, REQ | NEED, fe_pf), 0);
}

static void bring_up(struct gt *t, enum mode mode)
{
    switch (mode) {
    case PASS: /* QEMU over QEMU's vhost-user-gpu */
        negotiate(t, LEGACY_PF);
        assert_int_equal(call_empty(t, VU_REQ_SET_OWNER, REQ | NEED), 0);
        return;
    case UP: /* QEMU over a vdpa-user back-end: the shim's set-up runs */
        negotiate(t, LEGACY_PF);
        assert_true(t->be_status & VIRTIO_STATUS_DRIVER);
        return;
    case DOWN: /* a vdpa-user front-end over QEMU's vhost-user-gpu */
        negotiate(t, FE_VDPA_PF);
        assert_int_equal(call_u64(t, VU_REQ_SET_STATUS, REQ | NEED, ST_DRIVER), 0);
        assert_int_equal(call_empty(t, VU_REQ_VDPA_GET_DEVICE_ID, REQ), GPU_DEVICE_ID);
        return;
    }
}

static int setup_mode(void **state, enum mode mode)
{
    struct gt *t = calloc(1, sizeof(*t));

    if (!t)
        return -1;
    t->be_sock = -1;
    t->be_features = GPU_FEATURES;
    t->be_pf = mode == UP ? VDPA_PF : LEGACY_PF;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t->sv) < 0)
        return -1;
    if (scripted_start(&t->s, "gpu", NULL) || scripted_connect(&t->s))
        return -1;
    *state = t;
    bring_up(t, mode);
    return 0;
}

static int setup_pass(void **state)
{
    return setup_mode(state, PASS);
}

static int setup_up(void **state)
{
    return setup_mode(state, UP);
}

static int setup_down(void **state)
{
    return setup_mode(state, DOWN);
}

static int teardown(void **state)
{
    struct gt *t = *state;
    int status;

    if (!t)
        return 0;
    status = scripted_stop(&t->s);
    fd_close(&t->be_sock);
    fd_close(&t->sv[0]);
    fd_close(&t->sv[1]);
    free(t);
    return status == 0 ? 0 : -1;
}

/* ---- the tests -------------------------------------------------------------------- */

/* QEMU's way: no NEED_REPLY, no answer. The back-end gets the socket as it
 * was sent (no NEED_REPLY added either: nobody would read that reply). */
static void handed_on_as_qemu_sends_it(struct gt *t)
{
    assert_int_equal(send_gpu_socket(t, REQ, t->sv[1]), 0);
    wait_sockets(t, 1);
    assert_false(t->be_flags & NEED);
    check_same_socket(t);
    pump_quiet(t);
    assert_true(scripted_file_contains(t->s.trace_path, "GPU_SET_SOCKET"));
}

/* NEED_REPLY: the back-end's ack is the front-end's answer. */
static void handed_on_with_ack(struct gt *t)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_GPU_SET_SOCKET, REQ | NEED);
    assert_int_equal(scripted_add_dup(&m, t->sv[1]), 0);
    assert_int_equal(call(t, &m), 0);
    assert_int_equal(t->be_socks, 1);
    assert_true(t->be_flags & NEED);
    check_same_socket(t);
}

/* An eventfd where a socket belongs: a failed ack naming the reason, and
 * the back-end hears nothing of it. Then no fd at all. */
static void wrong_kind_refused(struct gt *t)
{
    struct vu_msg m;
    int efd = eventfd(0, EFD_CLOEXEC);
    unsigned heard;

    assert_true(efd >= 0);
    vu_msg_init(&m, VU_REQ_GPU_SET_SOCKET, REQ | NEED);
    assert_int_equal(scripted_add_dup(&m, efd), 0);
    heard = t->be_heard;
    assert_int_equal(call(t, &m), EBADFD);
    check_log(t, "GPU_SET_SOCKET: fd 0 is an eventfd, expected a socket");

    vu_msg_init(&m, VU_REQ_GPU_SET_SOCKET, REQ | NEED);
    assert_int_not_equal(call(t, &m), 0);
    check_log(t, "GPU_SET_SOCKET: carries 0 fds");
    assert_int_equal(t->be_heard, heard);
    assert_int_equal(t->be_socks, 0);
    fd_close(&efd);
    /* the session goes on: a socket is still handed on */
    handed_on_with_ack(t);
}

static void pass_handed_on(void **state)
{
    handed_on_as_qemu_sends_it(*state);
}

static void pass_handed_on_with_ack(void **state)
{
    handed_on_with_ack(*state);
}

static void pass_wrong_kind(void **state)
{
    wrong_kind_refused(*state);
}

/* The back-end restarts: the journal gives the new one the same socket. */
static void pass_replayed_to_new_backend(void **state)
{
    struct gt *t = *state;
    struct pollfd p = { .fd = t->s.be_listen, .events = POLLIN };

    handed_on_as_qemu_sends_it(t);
    fd_close(&t->s.be);
    fd_close(&t->be_sock);
    if (poll(&p, 1, SCRIPT_TIMEOUT_MS) != 1)
        fail_msg("the shim did not reconnect to the back-end");
    t->s.be = vu_accept(t->s.be_listen);
    assert_true(t->s.be >= 0);
    assert_int_equal(vu_set_nonblocking(t->s.be, false), 0);
    wait_sockets(t, 2);
    check_same_socket(t);
    pump_quiet(t);
    check_log(t, "session restored on the new back-end");
}

static void up_handed_on(void **state)
{
    struct gt *t = *state;

    handed_on_as_qemu_sends_it(t);
    check_trace_note(t);
}

static void up_handed_on_with_ack(void **state)
{
    struct gt *t = *state;

    handed_on_with_ack(t);
    check_trace_note(t);
}

static void up_wrong_kind(void **state)
{
    wrong_kind_refused(*state);
}

static void down_handed_on(void **state)
{
    struct gt *t = *state;

    handed_on_as_qemu_sends_it(t);
    check_trace_note(t);
}

static void down_handed_on_with_ack(void **state)
{
    struct gt *t = *state;

    handed_on_with_ack(t);
    check_trace_note(t);
}

static void down_wrong_kind(void **state)
{
    wrong_kind_refused(*state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pass_handed_on, setup_pass, teardown),
        cmocka_unit_test_setup_teardown(pass_handed_on_with_ack, setup_pass, teardown),
        cmocka_unit_test_setup_teardown(pass_wrong_kind, setup_pass, teardown),
        cmocka_unit_test_setup_teardown(pass_replayed_to_new_backend, setup_pass, teardown),
        cmocka_unit_test_setup_teardown(up_handed_on, setup_up, teardown),
        cmocka_unit_test_setup_teardown(up_handed_on_with_ack, setup_up, teardown),
        cmocka_unit_test_setup_teardown(up_wrong_kind, setup_up, teardown),
        cmocka_unit_test_setup_teardown(down_handed_on, setup_down, teardown),
        cmocka_unit_test_setup_teardown(down_handed_on_with_ack, setup_down, teardown),
        cmocka_unit_test_setup_teardown(down_wrong_kind, setup_down, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
