/* SPDX-License-Identifier: MIT */
/*
 * The connection's fd sweep (shim/conn.c, issue 16): after on_msg returns,
 * every fd still in the message is closed, with a debug line naming the
 * request; an fd the handler took out of its slot stays open. A real
 * socketpair and a real libuv loop; the fds are checked with fcntl and the
 * process's fd count. Also the helpers of lib/fd_util.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "conn.h"
#include "fd_util.h"
#include "fdcount.h"
#include "log.h"
#include "testutil.h"
#include "transport.h"

#define WAIT_MS  3000u /* for one message to arrive (times the valgrind scale) */
#define SENT_FDS 2u    /* fds carried by each test message */
#define LOG_MAX  4096

enum handler_kind {
    LEAVE_ALL,  /* a handler that forgets its fds */
    TAKE_ALL,   /* one that keeps them (slots -1) */
    TAKE_FIRST, /* one that keeps one and forgets the other */
};

struct sweep_test {
    uv_loop_t loop;
    uv_timer_t timer;
    struct vs_conn *conn;
    int peer; /* the test's end of the socketpair */
    enum handler_kind kind;
    unsigned calls;
    bool timed_out;
    int seen[SENT_FDS]; /* the fd numbers on_msg found in the message */
    int kept[SENT_FDS]; /* what it took: owned by the test, or -1 */
    int open_during;    /* how many of seen[] were open inside on_msg */
    int log_fd;         /* stderr while the test runs, or -1 */
    int saved_stderr;
};

static void on_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct sweep_test *t = c->owner;

    t->calls++;
    t->open_during = 0;
    for (unsigned i = 0; i < SENT_FDS; i++) {
        t->seen[i] = m->fds[i];
        t->open_during += fd_is_open(m->fds[i]);
    }
    if (t->kind == TAKE_ALL || t->kind == TAKE_FIRST)
        t->kept[0] = fd_take(&m->fds[0]);
    if (t->kind == TAKE_ALL)
        t->kept[1] = fd_take(&m->fds[1]);
    uv_stop(&t->loop);
}

static void on_close(struct vs_conn *c, int reason)
{
    struct sweep_test *t = c->owner;

    (void)reason;
    t->conn = NULL;
}

static void on_timeout(uv_timer_t *timer)
{
    struct sweep_test *t = timer->data;

    t->timed_out = true;
    uv_stop(&t->loop);
}

/* stderr goes to a temporary file, so that the log lines can be read. */
static void capture_log(struct sweep_test *t)
{
    char path[] = "/tmp/vs-conn-sweep-XXXXXX";

    t->log_fd = mkstemp(path);
    assert_true(t->log_fd >= 0);
    unlink(path);
    t->saved_stderr = fd_dup_cloexec(STDERR_FILENO);
    assert_true(t->saved_stderr >= 0);
    assert_true(dup2(t->log_fd, STDERR_FILENO) == STDERR_FILENO);
}

/* Restores stderr and returns what was logged meanwhile. */
static void release_log(struct sweep_test *t, char *out, size_t len)
{
    ssize_t n;

    assert_true(dup2(t->saved_stderr, STDERR_FILENO) == STDERR_FILENO);
    fd_close(&t->saved_stderr);
    n = pread(t->log_fd, out, len - 1, 0);
    out[n < 0 ? 0 : n] = '\0';
    fd_close(&t->log_fd);
    fputs(out, stderr); /* shown with the test's output */
}

static int setup(void **state)
{
    static struct sweep_test t;
    int sv[2];

    memset(&t, 0, sizeof(t));
    t.peer = t.log_fd = t.saved_stderr = -1;
    for (unsigned i = 0; i < SENT_FDS; i++)
        t.seen[i] = t.kept[i] = -1;
    if (uv_loop_init(&t.loop) < 0 || uv_timer_init(&t.loop, &t.timer) < 0)
        return -1;
    t.timer.data = &t;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    t.peer = sv[1];
    t.conn = vs_conn_new(&t.loop, sv[0], "test connection", on_msg, on_close, &t);
    if (!t.conn)
        return -1;
    vs_log_set_level(VS_LOG_DEBUG);
    *state = &t;
    return 0;
}

static int teardown(void **state)
{
    struct sweep_test *t = *state;

    if (t->saved_stderr >= 0) { /* a test failed between capture and release */
        dup2(t->saved_stderr, STDERR_FILENO);
        fd_close(&t->saved_stderr);
    }
    fd_close(&t->log_fd);
    vs_conn_close(t->conn, 0);
    uv_close((uv_handle_t *)&t->timer, NULL);
    uv_run(&t->loop, UV_RUN_DEFAULT); /* the closes complete */
    fd_close(&t->peer);
    for (unsigned i = 0; i < SENT_FDS; i++)
        fd_close(&t->kept[i]);
    vs_log_set_level(VS_LOG_INFO);
    return uv_loop_close(&t->loop) == 0 ? 0 : -1;
}

/* Sends SET_VRING_KICK carrying SENT_FDS fresh eventfds (the message owns
 * them) and runs the loop until the connection has handled it. */
static void send_and_handle(struct sweep_test *t, uint32_t request)
{
    struct vu_msg m;

    vu_msg_init(&m, request, 0);
    vu_msg_set_u64(&m, 0);
    for (unsigned i = 0; i < SENT_FDS; i++) {
        int efd = eventfd(0, EFD_CLOEXEC);
        assert_true(efd >= 0);
        assert_int_equal(vu_msg_add_fd(&m, efd), 0);
    }
    assert_int_equal(vu_send_blocking(t->peer, &m), 0);
    assert_int_equal(uv_timer_start(&t->timer, on_timeout, WAIT_MS * test_time_scale(), 0), 0);
    (void)uv_run(&t->loop, UV_RUN_DEFAULT); /* until on_msg or the timer stops it */
    assert_int_equal(uv_timer_stop(&t->timer), 0);
    assert_false(t->timed_out);
    assert_int_equal(t->calls, 1);
    assert_int_equal(t->open_during, SENT_FDS); /* they were the handler's to use */
}

static void test_left_fds_are_closed(void **state)
{
    struct sweep_test *t = *state;
    char log[LOG_MAX];
    int before = fdcount();

    t->kind = LEAVE_ALL;
    capture_log(t);
    send_and_handle(t, VU_REQ_SET_VRING_KICK);
    release_log(t, log, sizeof(log));
    for (unsigned i = 0; i < SENT_FDS; i++)
        assert_true(fd_is_closed(t->seen[i]));
    assert_int_equal(fdcount(), before);
    assert_contains(log, "test connection: closing 2 fd(s) left in SET_VRING_KICK");
}

static void test_taken_fds_stay_open(void **state)
{
    struct sweep_test *t = *state;
    char log[LOG_MAX];
    int before = fdcount();

    t->kind = TAKE_ALL;
    capture_log(t);
    send_and_handle(t, VU_REQ_SET_VRING_CALL);
    release_log(t, log, sizeof(log));
    for (unsigned i = 0; i < SENT_FDS; i++) {
        assert_int_equal(t->kept[i], t->seen[i]);
        assert_true(fd_is_open(t->kept[i]));
    }
    assert_int_equal(fdcount(), before + (int)SENT_FDS);
    assert_null(strstr(log, "closing")); /* nothing swept: no line */
}

static void test_only_what_is_left_is_closed(void **state)
{
    struct sweep_test *t = *state;
    char log[LOG_MAX];
    int before = fdcount();

    t->kind = TAKE_FIRST;
    capture_log(t);
    send_and_handle(t, VU_REQ_SET_VRING_ERR);
    release_log(t, log, sizeof(log));
    assert_true(fd_is_open(t->kept[0]));
    assert_true(fd_is_closed(t->seen[1]));
    assert_int_equal(fdcount(), before + 1);
    assert_contains(log, "closing 1 fd(s) left in SET_VRING_ERR");
}

/* A back-end channel's connection names its messages from that table. */
static void test_backend_channel_names(void **state)
{
    struct sweep_test *t = *state;
    char log[LOG_MAX];

    t->kind = LEAVE_ALL;
    t->conn->channel = VU_CHAN_BACKEND;
    capture_log(t);
    send_and_handle(t, VU_BREQ_VRING_CALL);
    release_log(t, log, sizeof(log));
    assert_true(fd_is_closed(t->seen[0]) && fd_is_closed(t->seen[1]));
    assert_contains(log, "left in VRING_CALL (request 4)");
}

/* ---- lib/fd_util.h ------------------------------------------------------- */

static void test_fd_close(void **state)
{
    int fd = eventfd(0, EFD_CLOEXEC), copy, none = -1;

    (void)state;
    assert_true(fd >= 0);
    copy = fd;
    errno = ENOSPC;
    fd_close(&fd);
    assert_int_equal(errno, ENOSPC); /* kept for the caller's message */
    assert_int_equal(fd, -1);
    assert_true(fd_is_closed(copy));
    fd_close(&fd); /* twice: nothing to do */
    fd_close(&none);
    assert_int_equal(none, -1);
}

static void test_fd_take_and_replace(void **state)
{
    int a = eventfd(0, EFD_CLOEXEC), b = eventfd(0, EFD_CLOEXEC), slot, taken, old;

    (void)state;
    assert_true(a >= 0 && b >= 0);
    slot = a;
    taken = fd_take(&slot);
    assert_int_equal(taken, a);
    assert_int_equal(slot, -1);
    assert_true(fd_is_open(a));

    fd_replace(&slot, taken); /* an empty slot takes an fd */
    assert_int_equal(slot, a);
    old = slot;
    fd_replace(&slot, b); /* the old one is closed */
    assert_int_equal(slot, b);
    assert_true(fd_is_closed(old));
    fd_replace(&slot, b); /* the same fd again: kept open */
    assert_true(fd_is_open(b));
    fd_replace(&slot, -1); /* emptied */
    assert_int_equal(slot, -1);
    assert_true(fd_is_closed(b));
}

static void test_fd_dup_cloexec(void **state)
{
    int fd = eventfd(0, 0), copy, gone = eventfd(0, EFD_CLOEXEC), gone_number = gone;

    (void)state;
    assert_true(fd >= 0 && gone >= 0);
    copy = fd_dup_cloexec(fd);
    assert_true(copy >= FD_UTIL_LOWEST);
    assert_true(copy != fd);
    assert_true(fcntl(copy, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(fd_dup_cloexec(-1), -1); /* no fd: no fd, not an error */
    fd_close(&gone);
    assert_int_equal(fd_dup_cloexec(gone_number), -EBADF);
    fd_close(&copy);
    fd_close(&fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_left_fds_are_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_taken_fds_stay_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_what_is_left_is_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backend_channel_names, setup, teardown),
        cmocka_unit_test(test_fd_close),
        cmocka_unit_test(test_fd_take_and_replace),
        cmocka_unit_test(test_fd_dup_cloexec),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
