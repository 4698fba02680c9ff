/* SPDX-License-Identifier: MIT */
/*
 * The open-file limit the shim calls low (shim/fd_budget.c,
 * vs_fd_budget_wanted; main.c warns below it) is the fd budget's own
 * figure: from that limit on every session's share is at least
 * VS_FD_SESSION_FLOOR and the sessions' total covers that floor for every
 * device; one fd less and it does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fd_budget.h"

static const size_t device_counts[] = { 0, 1, 2, 7, 100, 1000 };

static void test_wanted_is_where_the_share_reaches_the_floor(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(device_counts) / sizeof(device_counts[0]); i++) {
        size_t n = device_counts[i], shares = n ? n : 1;
        uint64_t wanted = vs_fd_budget_wanted(n);

        vs_fd_budget_configure(wanted, n);
        assert_int_equal(vs_fd_budget_session_cap(), VS_FD_SESSION_FLOOR);
        assert_true(vs_fd_budget_total() >= (uint64_t)shares * VS_FD_SESSION_FLOOR);
        vs_fd_budget_configure(wanted - 1, n);
        /* the cap is still the floor (it never goes under), but the sessions
         * together no longer have it each */
        assert_int_equal(vs_fd_budget_session_cap(), VS_FD_SESSION_FLOOR);
        assert_true(vs_fd_budget_total() < (uint64_t)shares * VS_FD_SESSION_FLOOR);
        vs_fd_budget_configure(wanted + (uint64_t)shares, n);
        assert_int_equal(vs_fd_budget_session_cap(), VS_FD_SESSION_FLOOR + 1);
    }
}

/* More devices want more: the figure grows with every device. */
static void test_wanted_grows_with_devices(void **state)
{
    (void)state;
    assert_true(vs_fd_budget_wanted(1) > VS_FD_RESERVE);
    for (size_t n = 1; n < 64; n++)
        assert_true(vs_fd_budget_wanted(n + 1) > vs_fd_budget_wanted(n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wanted_is_where_the_share_reaches_the_floor),
        cmocka_unit_test(test_wanted_grows_with_devices),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
