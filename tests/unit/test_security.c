/* SPDX-License-Identifier: MIT */
/*
 * Who may connect: peer-uid= (SO_PEERCRED) and the mode of the sockets the
 * shim creates. Scripted peers around the real binary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "scripted.h"

static struct scripted session;

static int stop_session(void **state)
{
    (void)state;
    return scripted_stop(&session) == 0 ? 0 : -1;
}

static bool log_has(const char *text)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "grep -qF -- '%s' %s", text, session.log_path);
    return system(cmd) == 0;
}

/* A front-end of another user is refused before any message; the back-end
 * is never contacted. */
static void other_uid_refused(void **state)
{
    struct pollfd p;
    char extra[64];

    (void)state;
    snprintf(extra, sizeof(extra), "peer-uid=%u", (unsigned)getuid() + 4242);
    assert_int_equal(scripted_start(&session, "net", extra), 0);
    session.fe = vu_connect_unix(session.fe_path);
    assert_true(session.fe >= 0);
    assert_true(closed_within(session.fe, SCRIPT_TIMEOUT_MS));
    p = (struct pollfd){ .fd = session.be_listen, .events = POLLIN };
    assert_int_equal(poll(&p, 1, 200), 0); /* no back-end connection */
    assert_true(log_has("refused a front-end running as uid"));
}

/* The same user is served; the back-end is checked too. */
static void same_uid_served(void **state)
{
    char extra[64];

    (void)state;
    snprintf(extra, sizeof(extra), "peer-uid=%u", (unsigned)getuid());
    assert_int_equal(scripted_start(&session, "net", extra), 0);
    assert_int_equal(scripted_connect(&session), 0);
    assert_int_equal(send_empty(session.fe, VU_REQ_GET_FEATURES, 0), 0);
    struct vu_msg m;
    assert_int_equal(expect_msg(session.be, VU_REQ_GET_FEATURES, &m), 0);
    assert_false(log_has("refused"));
}

/* Sockets the shim creates are 0600 unless socket-mode= says otherwise. */
static void socket_mode(void **state)
{
    struct stat st;

    (void)state;
    assert_int_equal(scripted_start(&session, "net", NULL), 0);
    assert_int_equal(stat(session.fe_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(scripted_stop(&session), 0);
    assert_int_equal(scripted_start(&session, "net", "socket-mode=0660"), 0);
    assert_int_equal(stat(session.fe_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(other_uid_refused, stop_session),
        cmocka_unit_test_teardown(same_uid_served, stop_session),
        cmocka_unit_test_teardown(socket_mode, stop_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
