/* SPDX-License-Identifier: MIT */
/*
 * check=: the shim measures a live conversation against the compatibility
 * matrix and reports what a peer of that role and device type never sends,
 * must handle, or must send. Scripted peers around the real binary; the
 * reports are read from the shim's log.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/eventfd.h>

#include "matrix.h"
#include "scripted.h"

#define NEED     VU_FLAG_NEED_REPLY
#define FEATURES (UINT64_C(1) << 32 | UINT64_C(1) << 30)

static char matrix_path[64];

static bool log_has(const struct scripted *s, const char *text)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "grep -qF -- '%s' %s", text, s->log_path);
    return system(cmd) == 0;
}

/* The front-end asks, the back-end answers u64 v, the front-end gets it. */
static void roundtrip(struct scripted *s, uint32_t req, uint64_t v)
{
    struct vu_msg m;

    assert_int_equal(send_empty(s->fe, req, 0), 0);
    assert_int_equal(expect_msg(s->be, req, &m), 0);
    assert_int_equal(reply_u64(s->be, req, v), 0);
    assert_int_equal(expect_msg(s->fe, req, &m), 0);
}

/* A request with NEED_REPLY (a u64 payload unless it is SET_OWNER), acked
 * by the back-end with `ack`. */
static void acked(struct scripted *s, uint32_t req, uint64_t v, uint64_t ack)
{
    struct vu_msg m;

    if (req == VU_REQ_SET_OWNER)
        assert_int_equal(send_empty(s->fe, req, NEED), 0);
    else
        assert_int_equal(send_u64_req(s->fe, req, NEED, v, -1), 0);
    assert_int_equal(expect_msg(s->be, req, &m), 0);
    assert_int_equal(reply_u64(s->be, req, ack), 0);
    assert_int_equal(expect_msg(s->fe, req, &m), 0);
    assert_int_equal(m.payload.u64, ack);
}

static struct scripted session; /* stopped by the teardown even when a test fails */

static int stop_session(void **state)
{
    (void)state;
    return scripted_stop(&session) == 0 ? 0 : -1;
}

static void blk_conversation_checked(void **state)
{
    struct scripted *sp = &session;
    char extra[128];
    struct vu_vring_addr addr = { .index = 0 };
    struct vu_msg m;

    (void)state;
    snprintf(extra, sizeof(extra), "check=%s", matrix_path);
    assert_int_equal(scripted_start(sp, "blk", extra), 0);
    assert_int_equal(scripted_connect(sp), 0);
#define s (*sp)
    assert_true(log_has(&s, "checking the conversation against"));
    roundtrip(&s, VU_REQ_GET_FEATURES, FEATURES);
    roundtrip(&s, VU_REQ_GET_PROTOCOL_FEATURES, VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_NET_MTU));
    assert_int_equal(send_u64_req(s.fe, VU_REQ_SET_PROTOCOL_FEATURES, 0,
                                  VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_NET_MTU), -1),
                     0);
    assert_int_equal(expect_msg(s.be, VU_REQ_SET_PROTOCOL_FEATURES, &m), 0);
    /* a blk front-end has no use for NET_SET_MTU: relayed, and reported */
    acked(&s, VU_REQ_NET_SET_MTU, 1500, 0);
    assert_true(
        log_has(&s, "check: the front-end sent NET_SET_MTU, which a blk front-end never sends"));
    /* a back-end that refuses SET_OWNER refuses what it must handle */
    acked(&s, VU_REQ_SET_OWNER, 0, 1);
    assert_true(
        log_has(&s, "check: the back-end refused SET_OWNER, which a blk back-end must handle"));
    /* a session cut before the device started owes nothing more */
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, NEED);
    vu_msg_set_addr(&m, &addr);
    assert_int_equal(vu_send_blocking(s.fe, &m), 0);
    assert_int_equal(expect_msg(s.be, VU_REQ_SET_VRING_ADDR, &m), 0);
    assert_int_equal(reply_u64(s.be, VU_REQ_SET_VRING_ADDR, 0), 0);
    assert_int_equal(expect_msg(s.fe, VU_REQ_SET_VRING_ADDR, &m), 0);
    close(s.fe);
    s.fe = -1;
    assert_true(closed_within(s.be, SCRIPT_TIMEOUT_MS));
    close(s.be);
    s.be = -1;
    for (int i = 0; i < 100 && !log_has(&s, "session ended"); i++)
        usleep(10000);
    assert_false(log_has(&s, "without sending"));

    /* a device started (the legacy kick) without GET_CONFIG, which QEMU's
     * vhost-user-blk always reads: reported when the session ends */
    assert_int_equal(scripted_connect(&s), 0);
    roundtrip(&s, VU_REQ_GET_FEATURES, FEATURES);
    int kick = eventfd(0, EFD_CLOEXEC);
    assert_true(kick >= 0);
    assert_int_equal(send_u64_req(s.fe, VU_REQ_SET_VRING_KICK, 0, 0, kick), 0);
    close(kick);
    assert_int_equal(expect_msg(s.be, VU_REQ_SET_VRING_KICK, &m), 0);
    vu_msg_close_fds(&m);
    assert_false(log_has(&s, "without sending GET_CONFIG")); /* only at the session's end */
    close(s.fe);
    s.fe = -1;
    assert_true(closed_within(s.be, SCRIPT_TIMEOUT_MS));
    for (int i = 0; i < 100 && !log_has(&s, "without sending GET_CONFIG"); i++)
        usleep(10000);
    assert_true(log_has(&s, "check: the front-end started the device without sending GET_CONFIG, "
                            "which a blk front-end must send"));
    /* ...and not about what it did send */
    assert_false(log_has(&s, "without sending SET_VRING_KICK"));
#undef s
}

/* QEMU's vhost-user-blk reads the config space once, when the device is
 * created: a reconnection (reconnect=, a restarted shim) sends no
 * GET_CONFIG. A session whose rings resume past 0 does not owe it (found by
 * tests/e2e/test_guest_blk_restart_*.sh, which check= failed before). */
static void blk_resumed_session_owes_no_get_config(void **state)
{
    struct scripted *sp = &session;
    char extra[128];
    struct vu_msg m;
    int kick;

    (void)state;
    snprintf(extra, sizeof(extra), "check=%s", matrix_path);
    assert_int_equal(scripted_start(sp, "blk", extra), 0);
    assert_int_equal(scripted_connect(sp), 0);
    roundtrip(sp, VU_REQ_GET_FEATURES, FEATURES);
    assert_int_equal(send_state_req(sp->fe, VU_REQ_SET_VRING_BASE, 0, 0, 37), 0);
    assert_int_equal(expect_msg(sp->be, VU_REQ_SET_VRING_BASE, &m), 0);
    kick = eventfd(0, EFD_CLOEXEC);
    assert_true(kick >= 0);
    assert_int_equal(send_u64_req(sp->fe, VU_REQ_SET_VRING_KICK, 0, 0, kick), 0);
    close(kick);
    assert_int_equal(expect_msg(sp->be, VU_REQ_SET_VRING_KICK, &m), 0);
    vu_msg_close_fds(&m);
    close(sp->fe);
    sp->fe = -1;
    assert_true(closed_within(sp->be, SCRIPT_TIMEOUT_MS));
    for (int i = 0; i < 100 && !log_has(sp, "session ended"); i++)
        usleep(10000);
    assert_true(log_has(sp, "session ended"));
    assert_false(log_has(sp, "without sending GET_CONFIG"));
}

/* A matrix of another type is refused at start-up, naming file and types. */
static void wrong_matrix_refused_at_start(void **state)
{
    char dev[256], shim[128], cmd[400], log[] = "/tmp/vdpa-check-log.XXXXXX";
    int fd = mkstemp(log), status;
    pid_t pid;

    (void)state;
    assert_true(fd >= 0);
    snprintf(dev, sizeof(dev),
             "type=net,frontend=/tmp/vdpa-check-fe.sock,"
             "backend=/tmp/vdpa-check-be.sock,check=%s",
             matrix_path);
    snprintf(shim, sizeof(shim), "%s/vdpa-shim", scripted_build_dir());
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, 2);
        execl(shim, shim, "--device", dev, (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    snprintf(cmd, sizeof(cmd),
             "grep -q 'check=: %s:2: the matrix is for type blk, the device is "
             "type=net' %s",
             matrix_path, log);
    assert_int_equal(system(cmd), 0);
    close(fd);
    unlink(log);
}

static int write_matrix(void **state)
{
    int fd;
    FILE *f;

    (void)state;
    snprintf(matrix_path, sizeof(matrix_path), "/tmp/vdpa-check-matrix.XXXXXX");
    fd = mkstemp(matrix_path);
    f = fdopen(fd, "w");
    if (!f || vs_mx_write_spec(f, vs_device_type_find("blk")) != 0)
        return -1;
    return fclose(f) == 0 ? 0 : -1;
}

static int remove_matrix(void **state)
{
    (void)state;
    unlink(matrix_path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(blk_conversation_checked, stop_session),
        cmocka_unit_test_teardown(blk_resumed_session_owes_no_get_config, stop_session),
        cmocka_unit_test(wrong_matrix_refused_at_start),
    };
    return cmocka_run_group_tests(tests, write_matrix, remove_matrix);
}
