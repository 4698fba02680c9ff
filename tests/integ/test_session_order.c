/* SPDX-License-Identifier: MIT */
/*
 * The two session-core regressions of issue 16, through the real vdpa-shim
 * binary with scripted peers (tests/integ/scripted.h):
 *
 * 1. Pipelined order. Replies carry no request id, so the front-end matches
 *    them to its requests by order. In pass-through over a legacy back-end
 *    the shim answers the requests only it offered (GET_STATUS under STATUS,
 *    GET_QUEUE_NUM under MQ: the shim shows both for down-conversion,
 *    offer.c). A front-end that sends a request the back-end answers and,
 *    before reading, one the shim answers must get the two replies in the
 *    order it sent the requests. The back-end here is slow on purpose: it
 *    answers only once the trace shows that the shim has taken the second
 *    request, so an answer that overtakes the owed reply is seen every time.
 *
 * 2. A mode whose begin fails ends the session. Up-conversion begins with
 *    an eventfd of the shim's own (the config call); with no fd left to the
 *    shim (its open-file limit lowered to its open fds, as `prlimit --pid`
 *    would, just before the front-end's SET_PROTOCOL_FEATURES decides the
 *    mode) that begin fails. The session must end cleanly: a failed
 *    REPLY_ACK or a disconnect, a log line naming the reason and not
 *    blaming the front-end, the back-end connection closed with nothing
 *    sent to it, no fd kept, and the next front-end served in full.
 *
 * Every wait has a time-out. A failed test prints the shim's log and trace.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <inttypes.h>
#include <sys/resource.h>
#include <cmocka.h>

#include "scripted.h"
#include "virtio.h"

#define TIMEOUT_MS   SCRIPT_TIMEOUT_MS /* any one wait for a message, EOF or trace line */
#define QUIET_MS     200               /* "nothing arrives" */
#define SETTLE_TRIES 100               /* fd count settling: 100 x 20 ms */
#define SETTLE_US    20000
#define FD_SCAN_MAX  4096 /* the highest fd number looked at for a free one */
#define NEED         VU_FLAG_NEED_REPLY
#define REPLY        (VU_VERSION | VU_FLAG_REPLY)

/* VERSION_1, PROTOCOL_FEATURES, MAC, MTU. */
#define FEATURES                                                                                   \
    (VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(VIRTIO_NET_F_MAC) |      \
     VU_BIT(VIRTIO_NET_F_MTU))

/* Pass-through: a legacy back-end with REPLY_ACK only; the shim shows STATUS
 * and MQ too (for down-conversion), and a legacy front-end acks them. */
#define LEGACY_BE_PF    VU_BIT(VU_PF_REPLY_ACK)
#define PASS_FE_PF      (VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS) | VU_BIT(VU_PF_MQ))
#define PASS_STATUS     0x0bu /* ACKNOWLEDGE | DRIVER | FEATURES_OK */
#define NET_QUEUE_PAIRS 1u    /* the shim's GET_QUEUE_NUM for net without MQ */

/* Up-conversion (as tests/integ/test_upconv.c): a vdpa-user back-end and a
 * legacy front-end's ack. */
#define VDPA_BE_PF                                                                                 \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |      \
     VU_BIT(VU_PF_STATUS))
#define UP_FE_PF                                                                                   \
    (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_NET_MTU) |                          \
     VU_BIT(VU_PF_RESET_DEVICE) | VU_BIT(VU_PF_BACKEND_REQ))
#define NET_DEVICE_ID   1u
#define NET_VQS         2u
#define RING_MAX        1024u
#define NET_CONFIG_SIZE 24u
#define ST_NEGOTIATING  (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)

struct order_test {
    struct scripted s;
    int fds_idle;       /* the shim's open fds before any session */
    rlim_t nofile_soft; /* the shim's soft open-file limit to restore, 0: untouched */
    bool done;          /* the body ran to its end (else: dump the log and trace) */
};

/* ---- fixture ------------------------------------------------------------------ */

static struct order_test the_test; /* static: a half-done setup leaks nothing */

static int shim_fds_settled(pid_t pid)
{
    int n = -1, prev = -2;

    for (int i = 0; i < SETTLE_TRIES && n != prev; i++) {
        prev = n;
        usleep(SETTLE_US);
        n = fdcount_of(pid);
    }
    return n;
}

static int setup(void **state)
{
    struct order_test *t = &the_test;

    memset(t, 0, sizeof(*t));
    t->s.fe = t->s.be = t->s.be_listen = -1;
    *state = t;
    if (scripted_start(&t->s, "net", NULL) != 0) {
        if (t->s.shim <= 0 && t->s.be_listen == 0)
            t->s.be_listen = -1; /* failed before the listener existed */
        fprintf(stderr, "starting %s/vdpa-shim failed\n", scripted_build_dir());
        scripted_stop(&t->s);
        return -1;
    }
    t->fds_idle = shim_fds_settled(t->s.shim);
    if (t->fds_idle <= 0 || scripted_connect(&t->s) != 0) {
        fprintf(stderr, "counting the shim's fds or connecting the peers failed\n");
        scripted_stop(&t->s);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    struct order_test *t = *state;
    int status;

    if (t->nofile_soft) {
        struct rlimit rl;
        if (prlimit(t->s.shim, RLIMIT_NOFILE, NULL, &rl) == 0) {
            rl.rlim_cur = t->nofile_soft;
            prlimit(t->s.shim, RLIMIT_NOFILE, &rl, NULL);
        }
    }
    if (!t->done)
        scripted_dump(&t->s);
    status = scripted_stop(&t->s);
    if (status != 0)
        fail_msg("the shim exited %d on SIGTERM (expected 0)", status);
    return 0;
}

/* ---- scripted peers ----------------------------------------------------------- */

static const char *name_of(uint32_t req)
{
    return vu_request_name(VU_CHAN_FRONTEND, req);
}

static void send_or_fail(int fd, struct vu_msg *m)
{
    int rc = vu_send_blocking(fd, m);

    if (rc)
        fail_msg("sending %s: %s", name_of(m->hdr.request), strerror(-rc));
}

/* One message on fd: request req, a reply when reply; its fds closed. */
static void expect_req(int fd, const char *who, uint32_t req, bool reply, struct vu_msg *m)
{
    int rc = vu_recv_blocking(fd, m, TIMEOUT_MS);

    if (rc)
        fail_msg("%s: waiting for %s%s: %s", who, name_of(req), reply ? "'s reply" : "",
                 rc == -ECONNRESET ? "disconnected" : strerror(-rc));
    vu_msg_close_fds(m);
    if (m->hdr.request != req || !(m->hdr.flags & VU_FLAG_REPLY) != !reply)
        fail_msg("%s: expected %s%s, got %s (%" PRIu32 ") flags=0x%" PRIx32, who, name_of(req),
                 reply ? " reply" : "", name_of(m->hdr.request), m->hdr.request, m->hdr.flags);
}

/* The front-end asks req (no payload); the back-end answers v. */
static uint64_t roundtrip(struct order_test *t, uint32_t req, uint64_t v)
{
    struct vu_msg m;

    assert_int_equal(send_empty(t->s.fe, req, 0), 0);
    expect_req(t->s.be, "back-end", req, false, &m);
    assert_int_equal(reply_u64(t->s.be, req, v), 0);
    expect_req(t->s.fe, "front-end", req, true, &m);
    return m.payload.u64;
}

/* The back-end's side of a request the shim sends with NEED_REPLY: acked 0. */
static void be_ack(struct order_test *t, uint32_t req, struct vu_msg *m)
{
    assert_int_equal(vu_recv_blocking(t->s.be, m, TIMEOUT_MS), 0);
    if (m->hdr.request != req) {
        vu_msg_close_fds(m);
        fail_msg("back-end: expected %s, got %s", name_of(req), name_of(m->hdr.request));
    }
    assert_true(m->hdr.flags & NEED);
    assert_int_equal(reply_u64(t->s.be, req, 0), 0);
}

/* How many lines of the trace contain needle. */
static int trace_count(const struct order_test *t, const char *needle)
{
    char *text = scripted_slurp(t->s.trace_path);
    int n = 0;

    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(text);
    return n;
}

/* Waits (bounded) until the trace has more than `had` lines with needle:
 * the shim has taken the request. False on the time-out. */
static bool trace_grows(const struct order_test *t, const char *needle, int had)
{
    for (int waited = 0; waited < TIMEOUT_MS; waited += 5) {
        if (trace_count(t, needle) > had)
            return true;
        usleep(5000);
    }
    return false;
}

/* ---- 1. pipelined order in pass-through ---------------------------------------- */

/* Pass-through over a legacy back-end with REPLY_ACK only; the front-end
 * acks STATUS and MQ as well, which the shim answers. */
static void pass_negotiate(struct order_test *t)
{
    struct vu_msg m;
    uint64_t shown;

    assert_int_equal(roundtrip(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    shown = roundtrip(t, VU_REQ_GET_PROTOCOL_FEATURES, LEGACY_BE_PF);
    if ((shown & PASS_FE_PF) != PASS_FE_PF)
        fail_msg("the shim offers 0x%" PRIx64 ": no STATUS and MQ of its own to test", shown);
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, PASS_FE_PF, -1), 0);
    expect_req(t->s.be, "back-end", VU_REQ_SET_PROTOCOL_FEATURES, false, &m);
    assert_int_equal(m.payload.u64, LEGACY_BE_PF); /* pass-through: the shim keeps its bits */
}

/* A request of the front-end and what it must get back. */
struct step {
    uint32_t req, flags;
    bool has_u64; /* a u64 payload */
    uint64_t u64;
    uint64_t reply; /* the u64 the front-end must get */
};

static void send_step(int fd, const struct step *st)
{
    struct vu_msg m;

    vu_msg_init(&m, st->req, st->flags);
    if (st->has_u64)
        vu_msg_set_u64(&m, st->u64);
    send_or_fail(fd, &m);
}

/* The front-end sends `first` (the back-end answers it) and then, before
 * reading anything, the nshim requests in `shim` (the shim answers them).
 * The back-end answers only once the trace shows the shim took the last of
 * them. The front-end must get nothing before the back-end's answer, and
 * then every reply in the order of its requests. */
static void pipelined(struct order_test *t, const struct step *first, const struct step *shim,
                      size_t nshim)
{
    char needle[64];
    struct vu_msg m;
    int had;

    snprintf(needle, sizeof(needle), "fe->shim %s", name_of(shim[nshim - 1].req));
    had = trace_count(t, needle);
    send_step(t->s.fe, first);
    for (size_t i = 0; i < nshim; i++)
        send_step(t->s.fe, &shim[i]);

    expect_req(t->s.be, "back-end", first->req, false, &m); /* and it waits */
    if (!trace_grows(t, needle, had))
        fprintf(stderr, "note: no trace line \"%s\" within %d ms; going on\n", needle, TIMEOUT_MS);
    if (!quiet_for(t->s.fe, QUIET_MS)) {
        int rc = vu_recv_blocking(t->s.fe, &m, 0);
        if (rc == 0)
            vu_msg_close_fds(&m);
        fail_msg("out of order: the front-end got %s%s while the back-end still owed the reply "
                 "to %s, sent before it",
                 rc ? strerror(-rc) : name_of(m.hdr.request), rc ? "" : "'s reply",
                 name_of(first->req));
    }
    assert_int_equal(reply_u64(t->s.be, first->req, first->reply), 0);

    expect_req(t->s.fe, "front-end (first reply)", first->req, true, &m);
    assert_int_equal(m.payload.u64, first->reply);
    for (size_t i = 0; i < nshim; i++) {
        expect_req(t->s.fe, "front-end (the shim's answer)", shim[i].req, true, &m);
        assert_int_equal(m.payload.u64, shim[i].reply);
    }
    assert_true(quiet_for(t->s.be, QUIET_MS)); /* the shim's answers stay with the shim */
}

static const struct step get_features = { VU_REQ_GET_FEATURES, 0, false, 0, FEATURES };
static const struct step set_features_acked = { VU_REQ_SET_FEATURES, NEED, true, FEATURES, 0 };
static const struct step get_status = { VU_REQ_GET_STATUS, 0, false, 0, PASS_STATUS };
static const struct step get_queue_num = { VU_REQ_GET_QUEUE_NUM, 0, false, 0, NET_QUEUE_PAIRS };
static const struct step set_status_acked = { VU_REQ_SET_STATUS, NEED, true, PASS_STATUS, 0 };

/* The status the shim keeps for the front-end: SET_STATUS has no reply
 * without NEED_REPLY, so this sets it without a reply to order. */
static void pass_set_status(struct order_test *t)
{
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_STATUS, 0, PASS_STATUS, -1), 0);
}

/* GET_FEATURES (back-end), then GET_STATUS (the shim: STATUS). */
static void pipelined_get_status(void **state)
{
    struct order_test *t = *state;

    pass_negotiate(t);
    pass_set_status(t);
    pipelined(t, &get_features, &get_status, 1);
    t->done = true;
}

/* SET_FEATURES with NEED_REPLY (back-end), then GET_QUEUE_NUM (the shim: MQ). */
static void pipelined_get_queue_num(void **state)
{
    struct order_test *t = *state;

    pass_negotiate(t);
    pipelined(t, &set_features_acked, &get_queue_num, 1);
    t->done = true;
}

/* The same with every request the shim answers in pass-through, one after
 * the other behind one owed reply: SET_STATUS (acked), GET_STATUS,
 * GET_QUEUE_NUM. */
static void pipelined_all_shim_answers(void **state)
{
    struct order_test *t = *state;
    const struct step shim[] = { set_status_acked, get_status, get_queue_num };

    pass_negotiate(t);
    pipelined(t, &get_features, shim, sizeof(shim) / sizeof(shim[0]));
    t->done = true;
}

/* A control: SET_STATUS's ack goes through the in-order path today. */
static void pipelined_set_status_ack(void **state)
{
    struct order_test *t = *state;

    pass_negotiate(t);
    pipelined(t, &get_features, &set_status_acked, 1);
    t->done = true;
}

/* ---- 2. a mode whose begin fails ------------------------------------------------ */

/* The lowest fd number the shim has free, or -1. */
static int lowest_free_fd(pid_t pid)
{
    static bool used[FD_SCAN_MAX];
    char dir[64];
    struct dirent *e;
    DIR *d;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    d = opendir(dir);
    if (!d)
        return -1;
    memset(used, 0, sizeof(used));
    while ((e = readdir(d))) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (e->d_name[0] != '.' && *end == '\0' && fd >= 0 && fd < FD_SCAN_MAX)
            used[fd] = true;
    }
    closedir(d);
    for (int fd = 0; fd < FD_SCAN_MAX; fd++)
        if (!used[fd])
            return fd;
    return -1;
}

/* The shim gets no new fd from now on: its soft open-file limit becomes its
 * lowest free fd number (what `prlimit --pid PID --nofile=N:` does). */
static void starve_shim_of_fds(struct order_test *t)
{
    struct rlimit rl;
    int free_fd = lowest_free_fd(t->s.shim);

    assert_true(free_fd > 0);
    if (prlimit(t->s.shim, RLIMIT_NOFILE, NULL, &rl) < 0)
        fail_msg("reading the shim's open-file limit: %s", strerror(errno));
    t->nofile_soft = rl.rlim_cur;
    rl.rlim_cur = (rlim_t)free_fd;
    if (prlimit(t->s.shim, RLIMIT_NOFILE, &rl, NULL) < 0)
        fail_msg("lowering the shim's open-file limit: %s", strerror(errno));
}

static void restore_shim_fds(struct order_test *t)
{
    struct rlimit rl;

    if (prlimit(t->s.shim, RLIMIT_NOFILE, NULL, &rl) < 0)
        fail_msg("reading the shim's open-file limit: %s", strerror(errno));
    rl.rlim_cur = t->nofile_soft;
    if (prlimit(t->s.shim, RLIMIT_NOFILE, &rl, NULL) < 0)
        fail_msg("restoring the shim's open-file limit: %s", strerror(errno));
    t->nofile_soft = 0;
}

/* The legacy front-end's first steps over a vdpa-user back-end, up to the
 * SET_PROTOCOL_FEATURES that decides the mode (not sent). */
static void up_offer(struct order_test *t)
{
    uint64_t shown;

    assert_int_equal(roundtrip(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    shown = roundtrip(t, VU_REQ_GET_PROTOCOL_FEATURES, VDPA_BE_PF);
    assert_int_equal(shown & UP_FE_PF, UP_FE_PF);
}

/* The rest of an up-conversion bring-up, from the front-end's
 * SET_PROTOCOL_FEATURES with NEED_REPLY to its ack (test_upconv.c). */
static void up_bring_up(struct order_test *t)
{
    uint8_t config[NET_CONFIG_SIZE] = { 0 };
    struct vu_msg m;

    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, NEED, UP_FE_PF, -1), 0);
    be_ack(t, VU_REQ_SET_PROTOCOL_FEATURES, &m);
    expect_req(t->s.be, "back-end", VU_REQ_VDPA_GET_DEVICE_ID, false, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_VDPA_GET_DEVICE_ID, NET_DEVICE_ID), 0);
    expect_req(t->s.be, "back-end", VU_REQ_VDPA_GET_VQS_COUNT, false, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_VDPA_GET_VQS_COUNT, NET_VQS), 0);
    expect_req(t->s.be, "back-end", VU_REQ_VDPA_GET_VRING_NUM, false, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_VDPA_GET_VRING_NUM, RING_MAX), 0);
    be_ack(t, VU_REQ_SET_STATUS, &m);
    assert_int_equal(m.payload.u64, 0);
    be_ack(t, VU_REQ_SET_STATUS, &m);
    assert_int_equal(m.payload.u64, ST_NEGOTIATING);
    be_ack(t, VU_REQ_VDPA_SET_CONFIG_CALL, &m);
    assert_int_equal(m.nfds, 1);
    vu_msg_close_fds(&m);
    expect_req(t->s.be, "back-end", VU_REQ_VDPA_GET_CONFIG_SIZE, false, &m);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_VDPA_GET_CONFIG_SIZE, NET_CONFIG_SIZE), 0);
    expect_req(t->s.be, "back-end", VU_REQ_GET_CONFIG, false, &m);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    vu_msg_set_config(&m, 0, NET_CONFIG_SIZE, 0, config);
    assert_int_equal(vu_send_blocking(t->s.be, &m), 0);
    expect_req(t->s.fe, "front-end", VU_REQ_SET_PROTOCOL_FEATURES, true, &m);
    assert_int_equal(m.payload.u64, 0);
}

/* The front-end: a failed ack of SET_PROTOCOL_FEATURES (when it asked for
 * one) or nothing, then the end of its connection. True when it got the ack. */
static bool expect_fe_refused_then_closed(struct order_test *t, bool asked)
{
    struct vu_msg m;
    int rc = vu_recv_blocking(t->s.fe, &m, TIMEOUT_MS);
    bool acked = rc == 0;

    if (acked) {
        vu_msg_close_fds(&m);
        if (!asked || m.hdr.request != VU_REQ_SET_PROTOCOL_FEATURES || m.hdr.flags != REPLY ||
            m.payload.u64 == 0)
            fail_msg("front-end: expected a failed ack or a disconnect, got %s flags=0x%" PRIx32
                     " value %" PRIu64,
                     name_of(m.hdr.request), m.hdr.flags, m.payload.u64);
        rc = vu_recv_blocking(t->s.fe, &m, TIMEOUT_MS);
        if (rc == 0)
            vu_msg_close_fds(&m);
    }
    if (rc != -ECONNRESET)
        fail_msg("front-end: the session did not end within %d ms (%s)", TIMEOUT_MS,
                 rc == 0 ? "another message" : strerror(-rc));
    return acked;
}

/* The back-end: its connection closed with no request of the failed mode. */
static void expect_be_closed_untouched(struct order_test *t)
{
    struct vu_msg m;
    int rc = vu_recv_blocking(t->s.be, &m, TIMEOUT_MS);

    if (rc == 0) {
        vu_msg_close_fds(&m);
        fail_msg("back-end: got %s from a session whose mode failed to begin",
                 name_of(m.hdr.request));
    }
    if (rc != -ECONNRESET)
        fail_msg("back-end: not disconnected within %d ms: %s", TIMEOUT_MS, strerror(-rc));
}

/* The log names the reason (no fd: EMFILE) and does not blame the front-end:
 * its SET_PROTOCOL_FEATURES was valid. Log and trace tell no answer the
 * front-end did not get (fe_acked: it got the failed ack). */
static void expect_log_names_reason(struct order_test *t, bool fe_acked)
{
    char *log = scripted_slurp(t->s.log_path);
    const char *blame = "front-end sent a bad SET_PROTOCOL_FEATURES";
    const char *no_reason = "refused without a reason";
    const char *answered = "shim->fe SET_PROTOCOL_FEATURES reply";

    if (!fe_acked && (scripted_file_contains(t->s.trace_path, answered) ||
                      (log && strstr(log, "answered with a failure")))) {
        free(log);
        fail_msg("the front-end got no answer, but the trace or the log says it was answered "
                 "(\"%s\" / \"answered with a failure\")",
                 answered);
    }

    assert_non_null(log);
    if (!strstr(log, strerror(EMFILE))) {
        free(log);
        fail_msg("no log line names the reason (\"%s\")", strerror(EMFILE));
    }
    if (strstr(log, blame) || strstr(log, no_reason)) {
        free(log);
        fail_msg("the log blames the front-end for the shim's failure (\"%s\" / \"%s\")", blame,
                 no_reason);
    }
    free(log);
}

static void expect_fds_idle(struct order_test *t)
{
    int n = -1;

    for (int i = 0; i < SETTLE_TRIES; i++) {
        n = fdcount_of(t->s.shim);
        if (n == t->fds_idle)
            return;
        usleep(SETTLE_US);
    }
    scripted_print_fds(t->s.shim);
    fail_msg("the shim holds %d fds after the session, %d when idle", n, t->fds_idle);
}

/* Up-conversion's begin fails (no fd for its config-call eventfd); asked:
 * the front-end's SET_PROTOCOL_FEATURES asks for an ack. */
static void begin_fails(struct order_test *t, bool asked)
{
    bool fe_acked;

    up_offer(t);
    starve_shim_of_fds(t);
    assert_int_equal(
        send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, asked ? NEED : 0, UP_FE_PF, -1), 0);
    fe_acked = expect_fe_refused_then_closed(t, asked);
    expect_be_closed_untouched(t);
    restore_shim_fds(t);
    expect_log_names_reason(t, fe_acked);
    expect_fds_idle(t);

    /* The device takes the next front-end and serves it. */
    close(t->s.fe);
    close(t->s.be);
    t->s.fe = t->s.be = -1;
    assert_int_equal(scripted_connect(&t->s), 0);
    up_offer(t);
    up_bring_up(t);
    t->done = true;
}

static void up_begin_fails_acked(void **state)
{
    begin_fails(*state, true);
}

static void up_begin_fails_unacked(void **state)
{
    begin_fails(*state, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pipelined_set_status_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(pipelined_get_status, setup, teardown),
        cmocka_unit_test_setup_teardown(pipelined_get_queue_num, setup, teardown),
        cmocka_unit_test_setup_teardown(pipelined_all_shim_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(up_begin_fails_acked, setup, teardown),
        cmocka_unit_test_setup_teardown(up_begin_fails_unacked, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("session order", tests, NULL, NULL);
}
