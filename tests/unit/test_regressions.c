/* SPDX-License-Identifier: MIT */
/*
 * What the session fuzzer (tests/fuzz/fuzz_session.c) checks, in the normal
 * build: every input of its committed corpus (tests/fuzz/corpus/fuzz_session:
 * the bring-up seeds and any input that once broke the shim) is replayed
 * through the same harness (tests/fuzz/session_harness.h), a whole session
 * on the relay's loop in this process. Each must end with no fd and no libuv
 * handle left behind; under `make check-valgrind` and `make check SAN=1` its
 * memory is checked too, without libFuzzer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../fuzz/session_harness.h"

#define CORPUS "tests/fuzz/corpus/fuzz_session"

/* Replays one corpus file; 0 or -1 (fd or handle left), sessions served. */
static int replay(const char *name, unsigned long *sessions)
{
    static uint8_t buf[1 << 20];
    struct vs_relay_stats st;
    char path[512];
    size_t n;
    FILE *f;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", CORPUS, name);
    f = fopen(path, "rbe");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    rc = fz_session_run(buf, n, &st);
    if (rc)
        fprintf(stderr, "%s: the session left an fd or a libuv handle behind\n", path);
    *sessions = n >= FZ_HEADER ? st.sessions : 1;
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
        unsigned long sessions = 0;

        if (e->d_name[0] == '.')
            continue;
        files++;
        assert_int_equal(replay(e->d_name, &sessions), 0);
        if (sessions == 0)
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
    unsigned long sessions = 0;

    (void)state;
    assert_int_equal(replay("down-net-ctrlq", &sessions), 0);
    assert_int_equal(sessions, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_corpus_replays_clean),
        cmocka_unit_test(session_down_seed_serves_two_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
