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
#include "virtio/virtio.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_corpus_replays_clean),
        cmocka_unit_test(session_down_seed_serves_two_sessions),
        cmocka_unit_test(guest_memory_shrunk_under_the_control_queue),
        cmocka_unit_test(guest_memory_shrunk_before_the_control_queue_starts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
