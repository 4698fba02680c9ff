/* SPDX-License-Identifier: MIT */
/*
 * What the session fuzzer (tests/fuzz/fuzz_session.c) found, replayed in the
 * normal build through the same harness (tests/fuzz/session_harness.h): a
 * whole session on the relay's loop in this process, from an input of its
 * committed corpus (tests/fuzz/corpus/fuzz_session). And every input of that
 * corpus (the bring-up seeds and what once broke the shim) must end with no
 * fd and no libuv handle left behind; under `make check-valgrind` and
 * `make check SAN=1` its memory is checked too, without libFuzzer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../fuzz/session_harness.h"
#include "virtio.h"

#define CORPUS "tests/fuzz/corpus/fuzz_session"

/* Replays one corpus file; 0 or -1 (fd or handle left). */
static int replay(const char *name, struct fz_outcome *out)
{
    static uint8_t buf[1 << 20];
    char path[512];
    size_t n;
    FILE *f;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", CORPUS, name);
    f = fopen(path, "rbe");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    rc = fz_session_run(buf, n, out);
    if (rc)
        fprintf(stderr, "%s: the session left an fd or a libuv handle behind\n", path);
    if (n < FZ_HEADER)
        out->stats.sessions = 1; /* too short to be a session: nothing to serve */
    return rc;
}

/* Every corpus input: a session is served and nothing stays open. */
static void session_corpus_replays_clean(void **state)
{
    DIR *d = opendir(CORPUS);
    struct dirent *e;
    unsigned files = 0;

    (void)state;
    assert_non_null(d);
    while ((e = readdir(d))) {
        struct fz_outcome out;

        if (e->d_name[0] == '.')
            continue;
        files++;
        assert_int_equal(replay(e->d_name, &out), 0);
        if (out.stats.sessions == 0)
            fail_msg("%s: no session was served (the harness did not connect)", e->d_name);
    }
    closedir(d);
    /* the seeds make-seeds.py writes are there */
    assert_true(files >= 10);
}

/* The down-conversion seed reaches the control queue and the back-end's
 * loss: the front-end that connects after it is a second session. */
static void session_down_seed_serves_two_sessions(void **state)
{
    struct fz_outcome out;

    (void)state;
    assert_int_equal(replay("down-net-ctrlq", &out), 0);
    assert_int_equal(out.stats.sessions, 2);
}

/* Found by fuzz_session: a vdpa-user front-end shrank its guest memory file
 * (ftruncate of the memfd) after the shim had mapped it, then kicked the
 * control queue. Reading the ring raised SIGBUS and the whole shim, every
 * device it serves, died. Now the access is guarded: the device needs a
 * reset (the driver reads DEVICE_NEEDS_RESET) and the shim stays up. */
static void guest_memory_shrunk_under_the_control_queue(void **state)
{
    struct fz_outcome out;

    (void)state;
    assert_int_equal(replay("down-net-guest-memory-shrinks", &out), 0);
    assert_int_equal(out.stats.sessions, 1);
    assert_int_equal(out.fe_status, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                        VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK |
                                        VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/* The fuzzer's own input for it: the memory shrank before DRIVER_OK, and
 * the control queue's start (which reads its used index) raised SIGBUS.
 * Now the start fails and the device needs a reset. */
static void guest_memory_shrunk_before_the_control_queue_starts(void **state)
{
    struct fz_outcome out;

    (void)state;
    assert_int_equal(replay("crash-sigbus-control-queue-start", &out), 0);
    assert_true(out.stats.sessions >= 1);
}

/* Issue 14, a peer that goes silent: the back-end owes a reply and stops
 * (or sends half a header), the front-end sends half a header and stops.
 * Time passes (the harness's clock, past reply-timeout=5ms): the shim ends
 * the session (the front-end sees its socket close) and serves the next
 * front-end. Before, it waited forever and refused every later one. */
static void silent_peer_meets_reply_timeout(void **state)
{
    static const char *const inputs[] = { "pass-backend-silent", "pass-backend-half-header",
                                          "pass-frontend-half-header" };

    (void)state;
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct fz_outcome out;

        assert_int_equal(replay(inputs[i], &out), 0);
        if (out.stats.sessions != 2)
            fail_msg("%s: %lu session(s) served, expected 2 (the first ends at "
                     "reply-timeout=, the next front-end is served)",
                     inputs[i], out.stats.sessions);
        if (strcmp(inputs[i], "pass-frontend-half-header") != 0)
            assert_int_equal(out.fe_hangups, 1);
    }
}

/* Issue 14, item 3: the front-end hands the shim a dup of its own socket
 * (as a call fd, as the back-end channel) and exits. The shim refuses it,
 * so the session ends with the front-end and the next one is served;
 * before, the copy the shim kept held the dead session open for good. */
static void own_socket_does_not_wedge_the_device(void **state)
{
    static const char *const inputs[] = { "pass-call-fd-own-socket",
                                          "pass-backend-req-fd-own-socket" };

    (void)state;
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct fz_outcome out;

        assert_int_equal(replay(inputs[i], &out), 0);
        if (out.stats.sessions != 2)
            fail_msg("%s: %lu session(s) served, expected 2", inputs[i], out.stats.sessions);
        assert_true(out.stats.rejected >= 1);
    }
}

/* Issue 14, item 2: down-conversion, the front-end's config-call eventfd
 * saturated (2^64-2) or its control queue's call eventfd made blocking and
 * saturated; then the shim must signal it. It ends that session instead of
 * blocking the loop (the replay would hang), and serves the next
 * front-end. */
static void saturated_eventfd_ends_the_session(void **state)
{
    static const char *const inputs[] = { "down-net-config-call-saturated",
                                          "down-net-ctrl-call-saturated" };

    (void)state;
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct fz_outcome out;

        assert_int_equal(replay(inputs[i], &out), 0);
        if (out.fe_hangups != 1 || out.stats.sessions != 2)
            fail_msg("%s: front-end hung up %u time(s), %lu session(s); expected 1 and 2",
                     inputs[i], out.fe_hangups, out.stats.sessions);
    }
}

/* Issue 14, item 1: down-conversion, the control queue's kick fd a memfd,
 * a directory or an O_PATH fd, then DRIVER_OK and a kick: refused at the
 * boundary (the shim crashed in uv_poll_start). The session goes on: the
 * front-end is not dropped. */
static void wrong_fd_kinds_are_refused(void **state)
{
    static const char *const inputs[] = { "down-net-ctrl-kick-memfd",
                                          "down-net-ctrl-kick-directory",
                                          "down-net-ctrl-kick-opath", "pass-fds-of-every-kind" };

    (void)state;
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct fz_outcome out;

        assert_int_equal(replay(inputs[i], &out), 0);
        if (out.stats.rejected == 0 || out.fe_hangups != 0)
            fail_msg("%s: %lu message(s) refused, front-end hung up %u time(s); expected "
                     "refusals and no hang-up",
                     inputs[i], out.stats.rejected, out.fe_hangups);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_corpus_replays_clean),
        cmocka_unit_test(session_down_seed_serves_two_sessions),
        cmocka_unit_test(guest_memory_shrunk_under_the_control_queue),
        cmocka_unit_test(guest_memory_shrunk_before_the_control_queue_starts),
        cmocka_unit_test(silent_peer_meets_reply_timeout),
        cmocka_unit_test(own_socket_does_not_wedge_the_device),
        cmocka_unit_test(saturated_eventfd_ends_the_session),
        cmocka_unit_test(wrong_fd_kinds_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
