/* SPDX-License-Identifier: MIT */
/*
 * Isolation (issue 14), items 3, 5, 6, 7 and 8a/8c: a hostile peer of one
 * device (the attacker) in the same shim as a well-behaved device (the
 * victim) whose request/reply exchanges are timed throughout
 * (tests/integ/isolation.h). Every test asserts the victim's worst delay and
 * that the shim is alive at its end, and prints
 *     isolation: item N: victim worst X ms over N exchanges
 * for docs/reliability.md#isolation. Items 1, 2, 4 and 8b (down-conversion)
 * are in test_isolation_down.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/eventfd.h>

#include "isolation.h"
#include "testutil.h"

/* A silent or stalled peer: reply-timeout=500ms, and the session must have
 * ended within this (the old shim waited forever). */
#ifndef SILENT_TIMEOUT_KEY /* (-D...=queue-pairs=1 shows what 44c4f61, without the key, did) */
#define SILENT_TIMEOUT_KEY "reply-timeout=500ms"
#endif
#define SILENT_BOUND_MS 3000
#define HALF_HEADER     6 /* bytes of a 12-byte header sent before stalling */
/* Item 6/7: how long the victim keeps being timed after the attack. */
#define OBSERVE_US 300000
/* Item 7: the trace limit and the content that must survive. */
#define TRACE_MAX         "4K"
#define TRACE_MAX_BYTES   4096
#define PRECIOUS          "precious: this file is not the shim's to truncate\n"
#define TRACE_FSIZE_LIMIT (64 << 10) /* RLIMIT_FSIZE for the write-failure test */
/* Item 8a: the shim's open-file limit, and the rings tried (net, 127 pairs). */
#define NOFILE_LIMIT     256
#define MANY_QUEUE_PAIRS "queue-pairs=127"
#define MANY_RINGS       254
#define FDS_PER_RING     3 /* kick, call, err */
/* The most fds the shim may hold under the attack: a quarter of its limit
 * stays free for other devices' connections. */
#define NOFILE_BOUND (NOFILE_LIMIT * 3 / 4)
/* Item 8c: the uid the hostile back-end runs as (nobody), and the key
 * naming the back-end's uid. */
#define NOBODY_UID 65534
#ifndef BACKEND_UID_KEY /* (-DBACKEND_UID_KEY='""' shows what 44c4f61, without the key, did) */
#define BACKEND_UID_KEY "backend-uid"
#endif

static struct iso the_iso; /* static: a setup that fails half-way leaks nothing */

static int teardown(void **state)
{
    (void)state;
    iso_stop(&the_iso);
    return 0;
}

static double ms_since(uint64_t t0_us)
{
    return (double)(iso_now_us() - t0_us) / 1000.0;
}

/* The attacker's session ended: its peers closed and nothing is left open. */
static void attacker_gone(struct iso *t, const char *why)
{
    iso_close(&t->attacker.fe);
    iso_close(&t->attacker.be);
    iso_expect_fds(t, t->fds_base, why);
}

/* A new attacker session is served (not "a second front-end ... refused"):
 * connected, negotiated, one exchange. */
static void attacker_served_again(struct iso *t, uint64_t pf)
{
    iso_connect(t, &t->attacker);
    iso_negotiate(t, &t->attacker, pf, pf);
}

/* The test's end: the victim's figures asserted and printed, the shim
 * alive, then stopped cleanly. */
static void finish(struct iso *t, const char *label)
{
    iso_expect_alive(t);
    iso_victim_check(t, label);
    if (iso_stop(t) != 0)
        fail_msg("%s: the shim did not exit cleanly on SIGTERM", label);
}

/* ---- no attack: the harness ------------------------------------------------ */

static void baseline(void **state)
{
    struct iso *t = &the_iso;
    struct iso_opts o = ISO_OPTS_DEFAULT;

    (void)state;
    iso_start(t, &o);
    iso_victim_start(t);
    iso_connect(t, &t->attacker);
    iso_negotiate(t, &t->attacker, VU_BIT(VU_PF_REPLY_ACK), VU_BIT(VU_PF_REPLY_ACK));
    usleep(OBSERVE_US);
    iso_close(&t->attacker.fe);
    iso_expect_eof(t, t->attacker.be, "attacker back-end", ISO_TIMEOUT_MS, false);
    attacker_gone(t, "after the attacker left");
    finish(t, "baseline (no attack)");
}

/* ---- item 3: the front-end's own socket passed back to the shim ------------ */

#define ITEM3_PF (VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_BACKEND_REQ))

/* The attacker's front-end exits: the back-end must see the session end
 * (no message first: the socket was not forwarded). */
static void frontend_exits(struct iso *t, const char *what)
{
    uint64_t t0 = iso_now_us();

    iso_close(&t->attacker.fe);
    iso_expect_eof(t, t->attacker.be, what, ISO_TIMEOUT_MS, false);
    printf("isolation: item 3: %s: the back-end saw the session end %.1f ms after the "
           "front-end exited\n",
           what, ms_since(t0));
    attacker_gone(t, what);
}

/* The attacker's front-end sends req (no payload) carrying a dup of its own
 * socket. */
static void send_own_socket(struct iso *t, uint32_t req, uint32_t flags)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    assert_int_equal(vu_msg_add_fd(&m, fcntl(t->attacker.fe, F_DUPFD_CLOEXEC, 3)), 0);
    iso_send_msg(t, t->attacker.fe, &m);
}

static void item3_own_socket(void **state)
{
    struct iso *t = &the_iso;
    struct iso_opts o = ISO_OPTS_DEFAULT;
    struct iso_dev *a = &t->attacker;
    uint64_t ack;

    (void)state;
    o.attacker.extra = "queue-pairs=1";
    iso_start(t, &o);
    iso_victim_start(t);

    /* SET_VRING_CALL carrying the front-end's own socket, no ack asked */
    attacker_served_again(t, ITEM3_PF);
    iso_send_u64(t, a->fe, VU_REQ_SET_VRING_CALL, 0, 0, a->fe);
    frontend_exits(t, "SET_VRING_CALL(own socket)");

    /* SET_BACKEND_REQ_FD with NEED_REPLY: a failed ack, nothing forwarded */
    attacker_served_again(t, ITEM3_PF);
    send_own_socket(t, VU_REQ_SET_BACKEND_REQ_FD, VU_FLAG_NEED_REPLY);
    ack = iso_expect_ack(t, a->fe, "attacker front-end", VU_REQ_SET_BACKEND_REQ_FD);
    if (ack == 0)
        iso_fail(t, "SET_BACKEND_REQ_FD with the front-end's own socket was acked");
    iso_expect_quiet(t, a->be, "attacker back-end", ISO_QUIET_MS);
    frontend_exits(t, "SET_BACKEND_REQ_FD(own socket, NEED_REPLY)");

    /* SET_BACKEND_REQ_FD without an ack */
    attacker_served_again(t, ITEM3_PF);
    send_own_socket(t, VU_REQ_SET_BACKEND_REQ_FD, 0);
    frontend_exits(t, "SET_BACKEND_REQ_FD(own socket)");

    /* and the device still serves the next VMM */
    attacker_served_again(t, ITEM3_PF);
    iso_close(&a->fe);
    iso_expect_eof(t, a->be, "attacker back-end", ISO_TIMEOUT_MS, false);
    attacker_gone(t, "item 3: after the last session");
    finish(t, "item 3");
}

/* ---- item 5: a silent or stalled peer ---------------------------------------- */

/* The attacker's front-end must be disconnected within SILENT_BOUND_MS of t0. */
static void frontend_dropped(struct iso *t, uint64_t t0, const char *what)
{
    iso_expect_eof(t, t->attacker.fe, "attacker front-end", SILENT_BOUND_MS, false);
    printf("isolation: item 5: %s: the session ended after %.1f ms\n", what, ms_since(t0));
    iso_expect_eof(t, t->attacker.be, "attacker back-end", ISO_TIMEOUT_MS, true);
    attacker_gone(t, what);
}

static void item5_silent_peer(void **state)
{
    static const uint8_t half[HALF_HEADER] = { VU_REQ_GET_FEATURES, 0, 0, 0, ISO_REPLY, 0 };
    struct iso *t = &the_iso;
    struct iso_opts o = ISO_OPTS_DEFAULT;
    struct iso_dev *a = &t->attacker;
    struct vu_msg m;
    uint64_t t0;

    (void)state;
    o.attacker.extra = SILENT_TIMEOUT_KEY;
    iso_start(t, &o);
    iso_victim_start(t);

    /* the back-end reads GET_FEATURES and never answers */
    iso_connect(t, a);
    t0 = iso_now_us();
    iso_send_empty(t, a->fe, VU_REQ_GET_FEATURES, 0);
    iso_expect(t, a->be, "attacker back-end", VU_REQ_GET_FEATURES, ISO_REQ, &m);
    frontend_dropped(t, t0, "back-end silent on GET_FEATURES");
    if (!iso_wait_log_line(t, "reply-timeout", "GET_FEATURES", ISO_ALIVE_MS))
        iso_fail(t, "no log line names the request never answered (GET_FEATURES) and "
                    "reply-timeout=");

    /* the back-end sends half a reply header and stalls */
    iso_connect(t, a);
    iso_send_empty(t, a->fe, VU_REQ_GET_FEATURES, 0);
    iso_expect(t, a->be, "attacker back-end", VU_REQ_GET_FEATURES, ISO_REQ, &m);
    t0 = iso_now_us();
    assert_int_equal(write(a->be, half, sizeof(half)), (ssize_t)sizeof(half));
    frontend_dropped(t, t0, "back-end stalled after half a reply header");

    /* the front-end sends half a request header and stalls */
    iso_connect(t, a);
    t0 = iso_now_us();
    assert_int_equal(write(a->fe, half, sizeof(half)), (ssize_t)sizeof(half));
    frontend_dropped(t, t0, "front-end stalled after half a request header");

    /* the device serves the next session */
    iso_connect(t, a);
    iso_negotiate(t, a, VU_BIT(VU_PF_REPLY_ACK), VU_BIT(VU_PF_REPLY_ACK));
    finish(t, "item 5");
}

/* ---- item 6: SIGHUP with the config file replaced by a FIFO ------------------ */

static void item6_config_fifo(void **state)
{
    struct iso *t = &the_iso;
    struct iso_opts o = ISO_OPTS_DEFAULT;
    char fifo[ISO_PATH + 8];

    (void)state;
    o.config_file = true;
    iso_start(t, &o);
    iso_victim_start(t);
    iso_connect(t, &t->attacker);
    iso_negotiate(t, &t->attacker, VU_BIT(VU_PF_REPLY_ACK), VU_BIT(VU_PF_REPLY_ACK));

    snprintf(fifo, sizeof(fifo), "%.*s.fifo", ISO_PATH - 1, t->config_path);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(rename(fifo, t->config_path), 0);
    assert_int_equal(kill(t->shim, SIGHUP), 0);
    usleep(OBSERVE_US);
    iso_victim_check(t, "item 6");
    if (!iso_wait_log(t, "not a regular file", ISO_ALIVE_MS))
        iso_fail(t, "SIGHUP with a FIFO as the config file: no \"not a regular file\" in the log");
    /* the running devices keep running: the victim, and the attacker's session */
    iso_expect_alive(t);
    if (iso_roundtrip_u64(t, &t->attacker, VU_REQ_GET_FEATURES, ISO_FEATURES) != ISO_FEATURES)
        iso_fail(t, "the attacker's session changed after the failed reload");
    assert_int_equal(iso_stop(t), 0);
}

/* ---- item 7: the trace file ----------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void expect_file(struct iso *t, const char *path, const char *want, bool prefix)
{
    char *text = scripted_slurp(path);
    bool ok = text && (prefix ? strncmp(text, want, strlen(want)) == 0 : strcmp(text, want) == 0);

    if (!ok) {
        fprintf(stderr, "%s now holds %zu bytes, starting \"%.80s\"\n", path,
                text ? strlen(text) : 0, text ? text : "(unreadable)");
        free(text);
        iso_fail(t, "%s was changed through the trace (%s expected)", path,
                 prefix ? "its first line kept" : "untouched");
    }
    free(text);
}

/* Runs the victim for a while with the trace as it is, then a SIGHUP (the
 * trace is reopened), then a while more. */
static void trace_traffic(struct iso *t)
{
    usleep(OBSERVE_US);
    assert_int_equal(kill(t->shim, SIGHUP), 0);
    usleep(OBSERVE_US);
}

/* --trace is a symbolic link to a file: refused, or nothing written
 * through it. */
static void item7_trace_symlink(void **state)
{
    struct iso *t = &the_iso;
    struct iso_opts o = ISO_OPTS_DEFAULT;
    char target[ISO_PATH], link[ISO_PATH], dir[] = "/tmp/vs-iso-trace.XXXXXX";
    int rc;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(target, sizeof(target), "%s/target.txt", dir);
    snprintf(link, sizeof(link), "%s/trace.txt", dir);
    write_file(target, PRECIOUS);
    assert_int_equal(symlink(target, link), 0);
    o.trace = link;
    o.trace_max = TRACE_MAX;
    rc = iso_start_rc(t, &o);
    if (rc == -ESRCH) {
        /* refused at start: it must say why */
        if (!iso_log_contains(t, "symbolic link"))
            iso_fail(t, "the shim exited with a symlinked --trace without saying why");
        expect_file(t, target, PRECIOUS, false);
        printf("isolation: item 7: a symlinked --trace is refused at start\n");
    } else {
        if (rc)
            iso_fail(t, "starting the shim: %s", strerror(-rc));
        iso_victim_start(t);
        trace_traffic(t);
        expect_file(t, target, PRECIOUS, false);
        finish(t, "item 7 (trace is a symlink)");
    }
    unlink(link);
    unlink(target);
    rmdir(dir);
}

static void item7_rotation_blocked(void **state)
{
    struct iso *t = &the_iso;
    struct iso_opts o = ISO_OPTS_DEFAULT;
    char dot1[ISO_PATH + 8], inside[ISO_PATH + 16], *text;
    size_t size;

    (void)state;
    o.trace_max = TRACE_MAX;
    iso_start(t, &o);
    /* FILE.1 a non-empty directory: the rename cannot happen */
    snprintf(dot1, sizeof(dot1), "%.*s.1", ISO_PATH - 1, t->trace_path);
    snprintf(inside, sizeof(inside), "%s/keep", dot1);
    assert_int_equal(mkdir(dot1, 0700), 0);
    write_file(inside, "x\n");
    /* the current file starts with a line the test checks */
    text = scripted_slurp(t->trace_path);
    assert_non_null(text);
    write_file(t->trace_path, PRECIOUS);
    free(text);
    iso_victim_start(t);
    trace_traffic(t);
    text = scripted_slurp(t->trace_path);
    size = text ? strlen(text) : 0;
    free(text);
    expect_file(t, t->trace_path, PRECIOUS, true);
    if (size <= TRACE_MAX_BYTES)
        iso_fail(t, "the trace did not grow past --trace-max (%zu bytes): no rotation tried", size);
    finish(t, "item 7 (rotation blocked)");
}

/* In the shim's child: files may not grow past TRACE_FSIZE_LIMIT, and
 * writing past it fails with EFBIG instead of killing the shim. */
static void limit_file_size(void)
{
    struct rlimit rl = { TRACE_FSIZE_LIMIT, TRACE_FSIZE_LIMIT };

    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
        _exit(126);
}

static void item7_trace_write_fails(void **state)
{
    struct iso *t = &the_iso;
    struct iso_opts o = ISO_OPTS_DEFAULT;

    (void)state;
    o.pre_exec = limit_file_size;
    iso_start(t, &o);
    iso_victim_start(t);
    if (!iso_wait_log(t, "write failed", 2 * ISO_TIMEOUT_MS))
        iso_fail(t, "trace writes fail (RLIMIT_FSIZE) and the log does not say so");
    if (!iso_log_contains(t, strerror(EFBIG)))
        iso_fail(t, "the trace write failure is logged without its reason (%s)", strerror(EFBIG));
    usleep(OBSERVE_US);
    finish(t, "item 7 (trace writes fail)");
}

/* ---- item 8a: fds held per session --------------------------------------------- */

/* One ring fd request with NEED_REPLY: true when the back-end got it and
 * the front-end its success, false when the shim refused it (failed ack,
 * nothing forwarded). */
static bool ring_fd(struct iso *t, uint32_t req, uint32_t ring)
{
    struct iso_dev *a = &t->attacker;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct pollfd p[2] = { { .fd = a->be, .events = POLLIN }, { .fd = a->fe, .events = POLLIN } };
    struct vu_msg m;

    assert_true(efd >= 0);
    iso_send_u64(t, a->fe, req, VU_FLAG_NEED_REPLY, ring, efd);
    close(efd);
    if (poll(p, 2, ISO_TIMEOUT_MS) <= 0)
        iso_fail(t, "%s ring %u: neither an ack nor a forward",
                 vu_request_name(VU_CHAN_FRONTEND, req), ring);
    if (p[1].revents) { /* the shim answered itself: it must be a refusal */
        if (iso_expect_ack(t, a->fe, "attacker front-end", req) == 0)
            iso_fail(t, "the shim acked %s itself", vu_request_name(VU_CHAN_FRONTEND, req));
        iso_expect_quiet(t, a->be, "attacker back-end", ISO_QUIET_MS);
        return false;
    }
    iso_expect(t, a->be, "attacker back-end", req, ISO_REQ_NEED, &m);
    vu_msg_close_fds(&m);
    iso_send_u64(t, a->be, req, VU_FLAG_REPLY, 0, -1);
    if (iso_expect_ack(t, a->fe, "attacker front-end", req) != 0)
        iso_fail(t, "the back-end's success was not passed on");
    return true;
}

static void item8a_ring_fds(void **state)
{
    static const uint32_t reqs[FDS_PER_RING] = { VU_REQ_SET_VRING_KICK, VU_REQ_SET_VRING_CALL,
                                                 VU_REQ_SET_VRING_ERR };
    struct iso *t = &the_iso;
    struct iso_opts o = ISO_OPTS_DEFAULT;
    int most = 0, n, accepted = 0;
    bool refused = false;

    (void)state;
    o.attacker.extra = MANY_QUEUE_PAIRS;
    o.nofile = NOFILE_LIMIT;
    iso_start(t, &o);
    iso_victim_start(t);
    iso_connect(t, &t->attacker);
    iso_negotiate(t, &t->attacker, VU_BIT(VU_PF_REPLY_ACK), VU_BIT(VU_PF_REPLY_ACK));
    for (uint32_t ring = 0; ring < MANY_RINGS && !refused; ring++) {
        for (int i = 0; i < FDS_PER_RING && !refused; i++) {
            refused = !ring_fd(t, reqs[i], ring);
            accepted += !refused;
        }
        n = iso_fds(t);
        most = n > most ? n : most;
    }
    printf("isolation: item 8a: %d ring fds accepted, then %s; the shim held at most %d fds "
           "(limit %d)\n",
           accepted, refused ? "refused" : "no refusal", most, NOFILE_LIMIT);
    if (!refused)
        iso_fail(t, "%d ring fds accepted with an open-file limit of %d", accepted, NOFILE_LIMIT);
    if (!iso_wait_log(t, "open-file limit", ISO_ALIVE_MS))
        iso_fail(t, "the refusal does not name the open-file limit");
    if (most > NOFILE_BOUND)
        iso_fail(t, "the shim held %d fds (limit %d, bound %d)", most, NOFILE_LIMIT, NOFILE_BOUND);
    iso_close(&t->attacker.fe);
    iso_expect_eof(t, t->attacker.be, "attacker back-end", ISO_TIMEOUT_MS, false);
    attacker_gone(t, "item 8a: after the attacker left");
    finish(t, "item 8a");
}

/* ---- item 8c: backend-mode=listen and backend-uid= ------------------------------ */

/* Sends fd over sock (SCM_RIGHTS, one byte). */
static int send_fd(int sock, int fd)
{
    char byte = 0, cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)
    };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &mh, 0) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
    char byte, cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)
    };
    struct pollfd p = { .fd = sock, .events = POLLIN };
    struct cmsghdr *c;
    int fd = -1;

    if (poll(&p, 1, ISO_TIMEOUT_MS) != 1 || recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
        return -1;
    c = CMSG_FIRSTHDR(&mh);
    if (c && c->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

/* A connection to path made by a process running as uid (its credentials
 * are the socket's, whoever holds the fd later); fd or -1. */
static int connect_as(const char *path, uid_t uid)
{
    int sv[2], fd, status;
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        close(sv[0]);
        if (setgid(uid) < 0 || setuid(uid) < 0)
            _exit(1);
        fd = vu_connect_unix(path);
        _exit(fd >= 0 && send_fd(sv[1], fd) == 0 ? 0 : 2);
    }
    close(sv[1]);
    fd = pid > 0 ? recv_fd(sv[0]) : -1;
    close(sv[0]);
    if (pid > 0)
        waitpid(pid, &status, 0);
    return fd;
}

static void item8c_backend_uid(void **state)
{
    struct iso *t = &the_iso;
    struct iso_opts o = ISO_OPTS_DEFAULT;
    struct iso_dev *a = &t->attacker;
    int intruder;
    char keys[64];

    (void)state;
    if (*BACKEND_UID_KEY)
        snprintf(keys, sizeof(keys), "%s=%u,socket-mode=0666", BACKEND_UID_KEY, (unsigned)getuid());
    else
        snprintf(keys, sizeof(keys), "socket-mode=0666");
    o.attacker.extra = keys;
    o.attacker.backend_listen = true;
    iso_start(t, &o);
    assert_int_equal(chmod(t->dir, 0755), 0);
    iso_victim_start(t);

    /* another user's process connects first: refused, it gets nothing */
    intruder = connect_as(a->be_path, NOBODY_UID);
    if (intruder < 0)
        iso_fail(t, "connecting to %s as uid %d", a->be_path, NOBODY_UID);
    iso_expect_eof(t, intruder, "the other user's back-end", ISO_TIMEOUT_MS, false);
    close(intruder);
    if (!iso_wait_log(t, "uid 65534", ISO_ALIVE_MS))
        iso_fail(t, "the refusal does not name the intruder's uid");

    /* the real back-end, then the VMM: a working session */
    a->be = iso_connect_backend(a);
    if (a->be < 0)
        iso_fail(t, "the back-end connecting to %s: %s", a->be_path, strerror(-a->be));
    iso_connect(t, a);
    iso_negotiate(t, a, VU_BIT(VU_PF_REPLY_ACK), VU_BIT(VU_PF_REPLY_ACK));
    usleep(OBSERVE_US);
    finish(t, "item 8c");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(baseline, teardown),
        cmocka_unit_test_teardown(item3_own_socket, teardown),
        cmocka_unit_test_teardown(item5_silent_peer, teardown),
        cmocka_unit_test_teardown(item6_config_fifo, teardown),
        cmocka_unit_test_teardown(item7_trace_symlink, teardown),
        cmocka_unit_test_teardown(item7_rotation_blocked, teardown),
        cmocka_unit_test_teardown(item7_trace_write_fails, teardown),
        cmocka_unit_test_teardown(item8a_ring_fds, teardown),
        cmocka_unit_test_teardown(item8c_backend_uid, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
