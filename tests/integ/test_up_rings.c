/* SPDX-License-Identifier: MIT */
/*
 * Up-conversion: when a legacy front-end's rings make the device start. A
 * legacy front-end never writes DRIVER_OK (QEMU 7.2 does not), so the
 * shim starts the vdpa-user back-end once every enabled ring is complete.
 */
#include <sys/eventfd.h>

#include "up_script.h"

/* The guest memory and one ring's eventfds of a test (each fd, or -1). */
struct ring_fds {
    int memfd, kick, call;
};

/* The legacy set-up up to ring `ring` laid out (not enabled): negotiation,
 * features, memory table and the ring's layout with its eventfds. */
static void set_up_ring(struct up_test *t, uint32_t ring, struct ring_fds *f)
{
    f->memfd = memfd_with("guest");
    f->kick = eventfd(0, EFD_CLOEXEC);
    f->call = eventfd(0, EFD_CLOEXEC);
    assert_true(f->memfd >= 0 && f->kick >= 0 && f->call >= 0);
    negotiate(t, 1, 2);
    set_features(t, 0, 0x0b);
    set_mem_table(t, f->memfd);
    configure_ring(t, ring, f->kick, f->call);
}

static void close_ring_fds(struct ring_fds *f)
{
    fd_close(&f->memfd);
    fd_close(&f->kick);
    fd_close(&f->call);
}

/* QEMU after SeaBIOS drove a virtio-scsi disk: only the request queue was
 * laid out (QEMU's vhost skips a ring whose address is 0), yet every ring
 * is enabled. The rings never laid out must not hold the start: the device
 * starts with the one ring that is complete. */
static void up_enabled_ring_never_laid_out(void **state)
{
    struct up_test *t = *state;
    struct ring_fds f;

    set_up_ring(t, 1, &f);
    assert_true(quiet_for(t->s.be, 200)); /* nothing runs before an enable */

    /* Ring 0 enabled, never laid out: nothing to start yet. */
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, 0, 1), 0);
    fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);
    assert_true(quiet_for(t->s.be, 200));

    /* Ring 1 enabled and complete: the device starts with ring 1 alone. */
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, 1, 1), 0);
    be_expect_ring(t, 1, 0, true, false);
    be_status(t, 0x0f);
    be_answer(t, VU_REQ_GET_STATUS, 0x0f);
    fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);
    assert_true(quiet_for(t->s.be, 200)); /* ring 0 is not sent */
    close_ring_fds(&f);
}

/* A ring laid out but still without its kick does hold the start: the
 * front-end is in the middle of setting it up. */
static void up_enabled_ring_half_set_up_waits(void **state)
{
    struct up_test *t = *state;
    struct vu_vring_addr addr = { .index = 0, .desc_user_addr = 0x7f0000001000 };
    struct ring_fds f;
    struct vu_msg m;

    set_up_ring(t, 1, &f);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_NUM, 0, 0, 256), 0);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_BASE, 0, 0, 0), 0);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &addr);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, 0, 1), 0);
    fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, 1, 1), 0);
    fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);
    assert_true(quiet_for(t->s.be, 200)); /* ring 0 has no kick yet: no start */
    close_ring_fds(&f);
}

/* QEMU 7.2's gpio: ring 0 set up and enabled (the device runs), then an
 * enable of ring 1, which it never set up. The back-end must not see it: a
 * vdpa-user device starts an enabled ring at once. */
static void up_running_enable_of_ring_never_set_up(void **state)
{
    struct up_test *t = *state;
    struct ring_fds f;

    set_up_ring(t, 0, &f);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, 0, 1), 0);
    be_expect_ring(t, 0, 0, true, false);
    be_status(t, 0x0f);
    be_answer(t, VU_REQ_GET_STATUS, 0x0f);
    fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);

    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, 1, 1), 0);
    fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);
    assert_true(quiet_for(t->s.be, 200)); /* not forwarded */
    close_ring_fds(&f);
}

/* QEMU's virtio-net enables its rings early, at a link change, before it
 * lays them out: then a ring enabled and not yet laid out holds the start
 * until it is complete, and the device starts with both rings. */
static void up_early_enable_waits_for_layout(void **state)
{
    struct up_test *t = *state;
    struct ring_fds f;
    int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);

    assert_true(kick >= 0 && call >= 0);
    f.memfd = memfd_with("guest");
    assert_true(f.memfd >= 0);
    negotiate(t, 1, 2);
    set_features(t, 0, 0x0b);
    set_mem_table(t, f.memfd);
    for (uint32_t i = 0; i < 2; i++) {
        assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_ENABLE, NEED, i, 1), 0);
        fe_expect_ack(t, VU_REQ_SET_VRING_ENABLE, 0);
    }
    f.kick = eventfd(0, EFD_CLOEXEC);
    f.call = eventfd(0, EFD_CLOEXEC);
    assert_true(f.kick >= 0 && f.call >= 0);
    configure_ring(t, 0, f.kick, f.call);
    assert_true(quiet_for(t->s.be, 200)); /* ring 1 is enabled and not complete */
    /* ring 1's layout, then its kick: complete, the device starts */
    struct vu_vring_addr addr = { .index = 1, .desc_user_addr = 0x7f0000002000 };
    struct vu_msg m;
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_NUM, 0, 1, 256), 0);
    assert_int_equal(send_state_req(t->s.fe, VU_REQ_SET_VRING_BASE, 0, 1, 0), 0);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &addr);
    assert_int_equal(vu_send_blocking(t->s.fe, &m), 0);
    assert_true(quiet_for(t->s.be, 200)); /* no kick yet */
    assert_int_equal(send_u64_req(t->s.fe, VU_REQ_SET_VRING_KICK, 0, 1, kick), 0);
    be_ack(t, VU_REQ_SET_VRING_KICK, &m);
    vu_msg_close_fds(&m);
    be_expect_ring(t, 0, 0, true, false);
    be_expect_ring(t, 1, 0, true, false);
    be_status(t, 0x0f);
    be_answer(t, VU_REQ_GET_STATUS, 0x0f);
    close_ring_fds(&f);
    close(kick);
    close(call);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(up_enabled_ring_never_laid_out, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_enabled_ring_half_set_up_waits, up_setup, up_teardown),
        cmocka_unit_test_setup_teardown(up_running_enable_of_ring_never_set_up, up_setup,
                                        up_teardown),
        cmocka_unit_test_setup_teardown(up_early_enable_waits_for_layout, up_setup, up_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
