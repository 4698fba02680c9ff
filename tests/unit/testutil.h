/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the unit tests and the integration tests
 * (tests/integ; include after <cmocka.h>): assert_contains, and a scratch
 * directory for a test group. Header-only.
 */
#ifndef VDPA_SHIM_TESTS_TESTUTIL_H
#define VDPA_SHIM_TESTS_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        const char *hay_ = (hay), *needle_ = (needle);                                             \
        if (!strstr(hay_, needle_))                                                                \
            fail_msg("\"%s\" does not contain \"%s\"", hay_, needle_);                             \
    } while (0)

/* The factor by which time bounds stretch: VS_TEST_TIME_SCALE (run-unit.sh
 * sets it under valgrind), else 1. */
static inline unsigned test_time_scale(void)
{
    const char *v = getenv("VS_TEST_TIME_SCALE");
    unsigned long n = v ? strtoul(v, NULL, 10) : 0;

    return n ? (unsigned)n : 1u;
}

/* The group's scratch directory: made by scratch_dir_setup (a cmocka group
 * setup), removed with its contents by scratch_dir_teardown. */
static char scratch_dir[64];

static inline int scratch_dir_setup(void **state)
{
    (void)state;
    strcpy(scratch_dir, "/tmp/vs-unit-XXXXXX");
    return mkdtemp(scratch_dir) ? 0 : -1;
}

static inline int scratch_dir_teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch_dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
