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

/* backend-mode=listen: the shim listens for its back-end. scripted_start
 * cannot be used (it listens on the back-end path itself). */
static int start_listen_mode(const char *extra)
{
    char dev[512], shim[256];

    memset(&session, 0, sizeof(session));
    session.fe = session.be = session.be_listen = -1;
    snprintf(session.dir, sizeof(session.dir), "/tmp/vdpa-shim-test.XXXXXX");
    if (!mkdtemp(session.dir))
        return -errno;
    snprintf(session.fe_path, sizeof(session.fe_path), "%s/fe.sock", session.dir);
    snprintf(session.be_path, sizeof(session.be_path), "%s/be.sock", session.dir);
    snprintf(session.trace_path, sizeof(session.trace_path), "%s/trace.txt", session.dir);
    snprintf(session.log_path, sizeof(session.log_path), "%s/shim.log", session.dir);
    snprintf(dev, sizeof(dev), "type=net,frontend=%s,backend=%s,backend-mode=listen%s%s",
             session.fe_path, session.be_path, extra ? "," : "", extra ? extra : "");
    snprintf(shim, sizeof(shim), "%s/vdpa-shim", scripted_build_dir());
    session.shim = fork();
    if (session.shim < 0)
        return -errno;
    if (session.shim == 0) {
        int log = open(session.log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (log >= 0)
            dup2(log, 2);
        execl(shim, shim, "--device", dev, "--log-level", "debug", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300; i++) {
        struct stat st;
        if (stat(session.fe_path, &st) == 0 && stat(session.be_path, &st) == 0)
            return 0;
        usleep(10000);
    }
    return -ETIMEDOUT;
}

/* Listening for the back-end with no uid restriction: warned at start, and
 * the socket is 0600. */
static void listen_mode_warns(void **state)
{
    struct stat st;

    (void)state;
    assert_int_equal(start_listen_mode(NULL), 0);
    assert_int_equal(stat(session.be_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    for (int i = 0; i < 100 && !log_has("without backend-uid="); i++)
        usleep(10000);
    assert_true(log_has("backend-mode=listen without backend-uid="));
}

/* backend-uid=: a process of another user that connects as the back-end is
 * refused and gets nothing; the front-end keeps waiting for the right one. */
static void listen_mode_backend_uid_refused(void **state)
{
    char extra[64];
    int be;

    (void)state;
    snprintf(extra, sizeof(extra), "backend-uid=%u", (unsigned)getuid() + 4242);
    assert_int_equal(start_listen_mode(extra), 0);
    assert_false(log_has("without backend-uid="));
    session.fe = vu_connect_unix(session.fe_path);
    assert_true(session.fe >= 0);
    be = vu_connect_unix(session.be_path);
    assert_true(be >= 0);
    assert_true(closed_within(be, SCRIPT_TIMEOUT_MS));
    close(be);
    assert_true(quiet_for(session.fe, 200)); /* not disconnected */
    assert_true(log_has("refused a back-end running as uid"));
    assert_false(log_has("back-end process pid"));
}

static void listen_mode_backend_uid_served(void **state)
{
    char extra[64];
    struct vu_msg m;

    (void)state;
    snprintf(extra, sizeof(extra), "backend-uid=%u", (unsigned)getuid());
    assert_int_equal(start_listen_mode(extra), 0);
    session.fe = vu_connect_unix(session.fe_path);
    assert_true(session.fe >= 0);
    session.be = vu_connect_unix(session.be_path);
    assert_true(session.be >= 0);
    assert_int_equal(send_empty(session.fe, VU_REQ_GET_FEATURES, 0), 0);
    assert_int_equal(expect_msg(session.be, VU_REQ_GET_FEATURES, &m), 0);
    assert_true(log_has("back-end process pid"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(other_uid_refused, stop_session),
        cmocka_unit_test_teardown(same_uid_served, stop_session),
        cmocka_unit_test_teardown(socket_mode, stop_session),
        cmocka_unit_test_teardown(listen_mode_warns, stop_session),
        cmocka_unit_test_teardown(listen_mode_backend_uid_refused, stop_session),
        cmocka_unit_test_teardown(listen_mode_backend_uid_served, stop_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
