/* SPDX-License-Identifier: MIT */
/*
 * A connection whose poll cannot be restarted (shim/conn.c, reap_later) is
 * closed on its own loop's next turn, never under the caller, and never by
 * another loop: two loops in one process (the tests, the fuzzer's harness)
 * each close only their own connection, and each loop closes with no
 * handle left behind.
 *
 * libuv refuses uv_poll_start with UV_EEXIST when another poll handle of
 * the same loop watches the fd; the test makes that happen by stopping the
 * connection's poll behind its back and starting a second handle on the
 * same fd, then asks the connection to change what it watches
 * (vs_conn_pause).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "conn.h"
#include "fd_util.h"
#include "log.h"
#include "testutil.h"

#define WAIT_MS 3000u /* for a loop to close its connection (times the valgrind scale) */
#define LOOPS   2u

struct reap_loop {
    uv_loop_t loop;
    uv_timer_t timer; /* the test's time-out */
    uv_poll_t squatter;
    struct vs_conn *conn;
    int peer; /* the test's end of the socketpair */
    unsigned closes;
    int reason;
    bool timed_out;
};

static void on_msg(struct vs_conn *c, struct vu_msg *m)
{
    (void)c;
    (void)m;
    fail_msg("no message is sent in this test");
}

static void on_close(struct vs_conn *c, int reason)
{
    struct reap_loop *l = c->owner;

    l->closes++;
    l->reason = reason;
    l->conn = NULL;
    uv_stop(&l->loop);
}

static void on_timeout(uv_timer_t *timer)
{
    struct reap_loop *l = timer->data;

    l->timed_out = true;
    uv_stop(&l->loop);
}

static void on_squatter(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)status;
    (void)events;
}

/* A loop with one connection whose poll has just failed to restart (twice:
 * a second failure before the loop turns). */
static void make_failed_conn(struct reap_loop *l, bool twice)
{
    int sv[2];

    memset(l, 0, sizeof(*l));
    assert_int_equal(uv_loop_init(&l->loop), 0);
    assert_int_equal(uv_timer_init(&l->loop, &l->timer), 0);
    l->timer.data = l;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    l->peer = sv[1];
    l->conn = vs_conn_new(&l->loop, sv[0], "reaped connection", on_msg, on_close, l);
    assert_non_null(l->conn);
    /* the connection's watch is taken away, another handle takes the fd */
    assert_int_equal(uv_poll_stop(&l->conn->poll), 0);
    assert_int_equal(uv_poll_init(&l->loop, &l->squatter, sv[0]), 0);
    assert_int_equal(uv_poll_start(&l->squatter, UV_READABLE, on_squatter), 0);
    vs_conn_pause(l->conn, true); /* uv_poll_start: UV_EEXIST */
    if (twice) {
        l->conn->events = 0;           /* so that the watch is asked for again */
        vs_conn_pause(l->conn, false); /* UV_EEXIST again */
    }
    /* gone before the loop runs: the fd is closed with the connection */
    uv_close((uv_handle_t *)&l->squatter, NULL);
    assert_int_equal(l->conn->send_error, UV_EEXIST);
    assert_int_equal(l->closes, 0); /* not under the caller */
}

/* Runs l's loop until its connection closes or the time-out. */
static void run_until_closed(struct reap_loop *l)
{
    assert_int_equal(uv_timer_start(&l->timer, on_timeout, WAIT_MS * test_time_scale(), 0), 0);
    (void)uv_run(&l->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_timer_stop(&l->timer), 0);
}

static void finish(struct reap_loop *l)
{
    vs_conn_close(l->conn, 0); /* a test that failed left it open */
    uv_close((uv_handle_t *)&l->timer, NULL);
    (void)uv_run(&l->loop, UV_RUN_DEFAULT); /* the closes complete */
    fd_close(&l->peer);
    assert_int_equal(uv_loop_close(&l->loop), 0); /* no handle left: the reap timer is gone */
}

static void test_each_loop_reaps_its_own(void **state)
{
    static struct reap_loop loops[LOOPS];

    (void)state;
    for (unsigned i = 0; i < LOOPS; i++)
        make_failed_conn(&loops[i], false);
    /* the second loop, alone, closes its connection and nothing else */
    run_until_closed(&loops[1]);
    assert_false(loops[1].timed_out);
    assert_int_equal(loops[1].closes, 1);
    assert_int_equal(loops[1].reason, UV_EEXIST);
    assert_int_equal(loops[0].closes, 0);
    assert_non_null(loops[0].conn);
    finish(&loops[1]);
    /* then the first, after the second is gone */
    run_until_closed(&loops[0]);
    assert_false(loops[0].timed_out);
    assert_int_equal(loops[0].closes, 1);
    assert_int_equal(loops[0].reason, UV_EEXIST);
    finish(&loops[0]);
}

/* A second failure before the loop turns schedules nothing more: one
 * close. */
static void test_second_failure_closes_once(void **state)
{
    static struct reap_loop l;

    (void)state;
    make_failed_conn(&l, true);
    run_until_closed(&l);
    assert_false(l.timed_out);
    assert_int_equal(l.closes, 1);
    assert_int_equal(l.reason, UV_EEXIST);
    finish(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_loop_reaps_its_own),
        cmocka_unit_test(test_second_failure_closes_once),
    };

    vs_log_set_level(VS_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
