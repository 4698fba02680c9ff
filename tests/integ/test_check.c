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

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "matrix.h"
#include "scripted.h"

#define NEED     VU_FLAG_NEED_REPLY
#define FEATURES (UINT64_C(1) << 32 | UINT64_C(1) << 30)

static char matrix_path[64];

static bool log_has(const struct scripted *s, const char *text)
{
    return scripted_file_contains(s->log_path, text);
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

/* ---- the measured columns ------------------------------------------------ */

/* The log has `text` within a second (the shim writes it asynchronously). */
static bool log_soon(const struct scripted *s, const char *text)
{
    for (int i = 0; i < 100; i++) {
        if (log_has(s, text))
            return true;
        usleep(10000);
    }
    return false;
}

/* An `offer` value of a column in a committed matrix file, read at run time. */
static uint64_t committed_offer(const char *file, const char *column, const char *what)
{
    char line[512], prefix[160];
    uint64_t v = 0;
    bool found = false;
    FILE *f = fopen(file, "r");

    assert_non_null(f);
    snprintf(prefix, sizeof(prefix), "offer\t%s\t%s\t", column, what);
    while (!found && fgets(line, sizeof(line), f))
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            v = strtoull(line + strlen(prefix), NULL, 0);
            found = true;
        }
    fclose(f);
    assert_true(found);
    return v;
}

/* Starts a net device checked against `matrix` and goes through the
 * handshake with the back-end offering features/pf; the front-end acks
 * REPLY_ACK and NET_MTU (where offered) and sets VERSION_1. */
static void net_handshake(struct scripted *s, const char *matrix, uint64_t features, uint64_t pf)
{
    char extra[PATH_MAX + 16];
    uint64_t acked = pf & (VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_NET_MTU));
    struct vu_msg m;

    snprintf(extra, sizeof(extra), "check=%s", matrix);
    assert_int_equal(scripted_start(s, "net", extra), 0);
    assert_int_equal(scripted_connect(s), 0);
    roundtrip(s, VU_REQ_GET_FEATURES, features);
    roundtrip(s, VU_REQ_GET_PROTOCOL_FEATURES, pf);
    assert_int_equal(send_u64_req(s->fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, acked, -1), 0);
    assert_int_equal(expect_msg(s->be, VU_REQ_SET_PROTOCOL_FEATURES, &m), 0);
    /* the offers alone decide nothing: the back-end may still be asked more */
    assert_false(log_has(s, "check=: back-end"));
    assert_int_equal(send_u64_req(s->fe, VU_REQ_SET_FEATURES, 0, UINT64_C(1) << 32, -1), 0);
    assert_int_equal(expect_msg(s->be, VU_REQ_SET_FEATURES, &m), 0);
}

static char net_matrix[PATH_MAX], blk_matrix[PATH_MAX], one_dpdk[64];

/* compat-matrix/net.tsv without DPDK 20.11's and 24.11's net_vhost: DPDK
 * 22.11's is then the one column its offers match. */
static void write_one_dpdk(void)
{
    char line[512];
    FILE *in = fopen(net_matrix, "r"), *out;
    int fd;

    assert_non_null(in);
    snprintf(one_dpdk, sizeof(one_dpdk), "/tmp/vdpa-check-net.XXXXXX");
    fd = mkstemp(one_dpdk);
    assert_true(fd >= 0);
    out = fdopen(fd, "w");
    assert_non_null(out);
    while (fgets(line, sizeof(line), in))
        if (!strstr(line, "\tdpdk-20.11-net_vhost:") && !strstr(line, "\tdpdk-24.11-net_vhost:"))
            fputs(line, out);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void net_backend_identified_by_offers(void **state)
{
    struct scripted *sp = &session;
    uint64_t f = committed_offer(net_matrix, "dpdk-22.11-net_vhost:backend", "features");
    uint64_t pf = committed_offer(net_matrix, "dpdk-22.11-net_vhost:backend", "protocol-features");
    char want[300];
    struct vu_msg m;
    int call;

    (void)state;
    write_one_dpdk();
    net_handshake(sp, one_dpdk, f, pf);
    snprintf(want, sizeof(want),
             "check=: back-end identified as dpdk-22.11-net_vhost (offered features 0x%" PRIx64
             " and protocol features 0x%" PRIx64 " match that column only)",
             f, pf);
    assert_true(log_soon(sp, want));
    /* GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES,
     * SET_FEATURES: neither QEMU's order nor DPDK's */
    assert_true(log_has(sp, "check=: front-end not identified (its first 4 requests follow no "
                            "measured column's order): checked against the union of 6 measured "
                            "front-end columns"));
    /* no measured front-end sent NET_SET_MTU: a note; DPDK 22.11's
     * net_vhost answered it: refusing it deviates */
    acked(sp, VU_REQ_NET_SET_MTU, 1500, 1);
    assert_true(log_soon(sp, "check=: the front-end sent NET_SET_MTU, not seen when measured"));
    assert_true(log_soon(sp, "check: the back-end refused NET_SET_MTU, which "
                             "dpdk-22.11-net_vhost:backend answered when measured"));
    /* what DPDK 22.11 refused when measured: a failure predicted (and the
     * shim refuses it first: vdpa-user was not negotiated) */
    call = eventfd(0, EFD_CLOEXEC);
    assert_true(call >= 0);
    assert_int_equal(send_u64_req(sp->fe, VU_REQ_VDPA_SET_CONFIG_CALL, NEED, 0, call), 0);
    close(call);
    assert_int_equal(expect_msg(sp->fe, VU_REQ_VDPA_SET_CONFIG_CALL, &m), 0);
    assert_true(log_soon(sp, "check: the front-end sent VDPA_SET_CONFIG_CALL, which the "
                             "back-end's measured column failed: dpdk-22.11-net_vhost:backend "
                             "(refused)"));
    /* the per-ring requests it answered bring nothing */
    assert_false(log_has(sp, "check: the front-end sent SET_FEATURES"));
    unlink(one_dpdk);
}

static void net_backend_offers_match_nothing(void **state)
{
    struct scripted *sp = &session;
    char want[300];

    (void)state;
    net_handshake(sp, net_matrix, FEATURES, VU_BIT(VU_PF_REPLY_ACK));
    snprintf(want, sizeof(want),
             "check=: back-end not identified (offered features 0x%" PRIx64
             " and protocol features 0x%" PRIx64
             " match no measured column): checked against the union of 4 measured back-end "
             "columns (dpdk-20.11-net_vhost, dpdk-22.11-net_vhost, dpdk-24.11-net_vhost, "
             "vdpa-backend)",
             FEATURES, (uint64_t)VU_BIT(VU_PF_REPLY_ACK));
    assert_true(log_soon(sp, want));
    /* every back-end measured answered SET_OWNER */
    acked(sp, VU_REQ_SET_OWNER, 0, 1);
    assert_true(log_soon(sp, "check: the back-end refused SET_OWNER, which "
                             "dpdk-20.11-net_vhost:backend, dpdk-22.11-net_vhost:backend, "
                             "dpdk-24.11-net_vhost:backend, vdpa-backend:backend answered when "
                             "measured"));
}

/* DPDK virtio-user's first requests to a back-end offering what DPDK's
 * net_vhost offers: three versions each side, told apart by nothing; a
 * conformant conversation, so no warning. */
static void net_dpdk_versions_indistinguishable(void **state)
{
    struct scripted *sp = &session;
    char extra[PATH_MAX + 16];
    uint64_t f = committed_offer(net_matrix, "dpdk-22.11-net_vhost:backend", "features");
    uint64_t pf = committed_offer(net_matrix, "dpdk-22.11-net_vhost:backend", "protocol-features");
    struct vu_msg m;
    int call;

    (void)state;
    snprintf(extra, sizeof(extra), "check=%s", net_matrix);
    assert_int_equal(scripted_start(sp, "net", extra), 0);
    assert_int_equal(scripted_connect(sp), 0);
    assert_int_equal(send_empty(sp->fe, VU_REQ_SET_OWNER, 0), 0); /* held by the shim */
    roundtrip(sp, VU_REQ_GET_FEATURES, f);
    roundtrip(sp, VU_REQ_GET_PROTOCOL_FEATURES, pf);
    assert_int_equal(
        send_u64_req(sp->fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, pf & VU_BIT(VU_PF_REPLY_ACK), -1), 0);
    assert_int_equal(expect_msg(sp->be, VU_REQ_SET_PROTOCOL_FEATURES, &m), 0);
    assert_int_equal(expect_msg(sp->be, VU_REQ_SET_OWNER, &m), 0);
    call = eventfd(0, EFD_CLOEXEC);
    assert_true(call >= 0);
    assert_int_equal(send_u64_req(sp->fe, VU_REQ_SET_VRING_CALL, 0, 0, call), 0);
    close(call);
    assert_int_equal(expect_msg(sp->be, VU_REQ_SET_VRING_CALL, &m), 0);
    vu_msg_close_fds(&m);
    assert_true(log_soon(sp, "check=: back-end is one of dpdk-20.11-net_vhost, "
                             "dpdk-22.11-net_vhost, dpdk-24.11-net_vhost, indistinguishable by "
                             "their offers"));
    assert_int_equal(send_u64_req(sp->fe, VU_REQ_SET_FEATURES, 0, UINT64_C(1) << 32, -1), 0);
    assert_int_equal(expect_msg(sp->be, VU_REQ_SET_FEATURES, &m), 0);
    /* DPDK's order has 15 requests: the session's end decides */
    assert_false(log_has(sp, "check=: front-end"));
    close(sp->fe);
    sp->fe = -1;
    assert_true(closed_within(sp->be, SCRIPT_TIMEOUT_MS));
    assert_true(log_soon(sp, "check=: front-end is one of dpdk-20.11-virtio-user, "
                             "dpdk-22.11-virtio-user, dpdk-24.11-virtio-user, indistinguishable "
                             "by the order of its first 6 requests"));
    assert_false(log_has(sp, ": check: "));
    assert_false(log_has(sp, "not seen when measured"));
}

/* compat-matrix/blk.tsv with qemu-storage-daemon 5.2's SET_VRING_CALL
 * measured as a disconnect (as it was before the probe stopped acking
 * INFLIGHT_SHMFD it does not carry out: a failure after the probe's own
 * ring set-up), in `path`. */
static void write_qsd_disconnect(char *path, size_t len)
{
    static const char rec[] = "msg\tqemu-storage-daemon-5.2:backend\tfe\tSET_VRING_CALL\t";
    char line[512];
    FILE *in = fopen(blk_matrix, "r"), *out;
    int fd, found = 0;

    assert_non_null(in);
    snprintf(path, len, "/tmp/vdpa-check-blk.XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    out = fdopen(fd, "w");
    assert_non_null(out);
    while (fgets(line, sizeof(line), in)) {
        if (strncmp(line, rec, sizeof(rec) - 1) == 0) {
            fprintf(out, "%sdisconnect\tprobe\n", rec);
            found = 1;
        } else {
            fputs(line, out);
        }
    }
    fclose(in);
    assert_int_equal(fclose(out), 0);
    assert_true(found);
}

/* qemu-storage-daemon 5.2 is the one blk back-end with its protocol
 * features; a failure measured on a request with a ring index followed
 * the probe's own ring set-up: information, not a predicted failure. */
static void blk_qsd_52_identified(void **state)
{
    struct scripted *sp = &session;
    char extra[PATH_MAX + 16], fixture[64];
    uint64_t f = committed_offer(blk_matrix, "qemu-storage-daemon-5.2:backend", "features");
    uint64_t pf = committed_offer(blk_matrix, "qemu-storage-daemon-5.2:backend",
                                  "protocol-features");
    struct vu_msg m;
    int call;

    (void)state;
    write_qsd_disconnect(fixture, sizeof(fixture));
    snprintf(extra, sizeof(extra), "check=%s", fixture);
    assert_int_equal(scripted_start(sp, "blk", extra), 0);
    unlink(fixture); /* loaded at start */
    assert_int_equal(scripted_connect(sp), 0);
    roundtrip(sp, VU_REQ_GET_FEATURES, f);
    roundtrip(sp, VU_REQ_GET_PROTOCOL_FEATURES, pf);
    assert_int_equal(
        send_u64_req(sp->fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, pf & VU_BIT(VU_PF_REPLY_ACK), -1), 0);
    assert_int_equal(expect_msg(sp->be, VU_REQ_SET_PROTOCOL_FEATURES, &m), 0);
    call = eventfd(0, EFD_CLOEXEC);
    assert_true(call >= 0);
    assert_int_equal(send_u64_req(sp->fe, VU_REQ_SET_VRING_CALL, 0, 0, call), 0);
    close(call);
    assert_int_equal(expect_msg(sp->be, VU_REQ_SET_VRING_CALL, &m), 0);
    vu_msg_close_fds(&m);
    assert_true(log_soon(sp, "check=: back-end identified as qemu-storage-daemon-5.2 (offered"));
    assert_true(log_soon(sp, "check=: the front-end sent SET_VRING_CALL, which failed when "
                             "measured with the probe's own ring values: "
                             "qemu-storage-daemon-5.2:backend (disconnect)"));
    assert_false(log_has(sp, ": check: "));
}

static int write_matrix(void **state)
{
    int fd;
    FILE *f;

    (void)state;
    /* the committed matrix files (the tests run from the top of the tree) */
    if (!realpath("compat-matrix/net.tsv", net_matrix) ||
        !realpath("compat-matrix/blk.tsv", blk_matrix))
        return -1;
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
        cmocka_unit_test_teardown(net_backend_identified_by_offers, stop_session),
        cmocka_unit_test_teardown(net_backend_offers_match_nothing, stop_session),
        cmocka_unit_test_teardown(net_dpdk_versions_indistinguishable, stop_session),
        cmocka_unit_test_teardown(blk_qsd_52_identified, stop_session),
    };
    return cmocka_run_group_tests(tests, write_matrix, remove_matrix);
}
