/* SPDX-License-Identifier: MIT */
/*
 * vs_model_write_span (lib/proto/model.c): the part of a driver's config
 * write a device takes in a given status, from the device models: input's
 * select and subsel before FEATURES_OK (write_early), console's emerg_wr
 * with its gate offered, blk's writeback only with CONFIG_WCE negotiated
 * and FEATURES_OK set, nothing in FAILED or DEVICE_NEEDS_RESET.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "devmodel.h"
#include "virtio.h"

#define ST_NEG    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define ST_FEAT   (ST_NEG | VIRTIO_STATUS_FEATURES_OK)
#define ST_RUN    (ST_FEAT | VIRTIO_STATUS_DRIVER_OK)
#define INPUT_CFG 136
#define EMERG_OFF 8
#define EMERG_LEN 4
#define F_EMERG   2  /* VIRTIO_CONSOLE_F_EMERG_WRITE */
#define WCE_OFF   32 /* virtio-blk writeback */
#define F_WCE     11 /* VIRTIO_BLK_F_CONFIG_WCE */

static void span(const char *type, uint32_t off, uint32_t size, uint8_t status, uint64_t neg,
                 uint64_t offered, uint32_t want_off, uint32_t want_size)
{
    const struct vs_device_model *m = vs_model_find(type);
    uint32_t o = 0xdead, s = 0xdead;

    assert_non_null(m);
    assert_int_equal(vs_model_write_span(m, off, size, status, neg, offered, &o, &s), 0);
    assert_int_equal(s, want_size);
    if (want_size)
        assert_int_equal(o, want_off);
}

/* QEMU's whole-structure write: select and subsel, in every status from
 * ACKNOWLEDGE|DRIVER on; nothing before it or with an overlay bit. */
static void input_select_early(void **state)
{
    (void)state;
    span("input", 0, INPUT_CFG, ST_NEG, 0, 0, 0, 2);
    span("input", 0, INPUT_CFG, ST_FEAT, 0, 0, 0, 2);
    span("input", 0, INPUT_CFG, ST_RUN, 0, 0, 0, 2);
    span("input", 1, 1, ST_NEG, 0, 0, 1, 1);
    span("input", 2, 6, ST_NEG, 0, 0, 0, 0); /* size, reserved: read-only */
    span("input", 0, INPUT_CFG, VIRTIO_STATUS_ACKNOWLEDGE, 0, 0, 0, 0);
    span("input", 0, INPUT_CFG, 0, 0, 0, 0, 0);
    span("input", 0, INPUT_CFG, ST_NEG | VIRTIO_STATUS_FAILED, 0, 0, 0, 0);
    span("input", 0, INPUT_CFG, ST_RUN | VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0, 0, 0, 0);
}

/* emerg_wr: early too, but only with F_EMERG_WRITE offered. */
static void console_emerg_gate(void **state)
{
    (void)state;
    span("console", 0, 12, ST_NEG, 0, VU_BIT(F_EMERG), EMERG_OFF, EMERG_LEN);
    span("console", 0, 12, ST_NEG, 0, 0, 0, 0);
}

/* writeback: not early, and gated by the negotiated CONFIG_WCE. */
static void blk_writeback_late(void **state)
{
    (void)state;
    span("blk", WCE_OFF, 1, ST_NEG, VU_BIT(F_WCE), VU_BIT(F_WCE), 0, 0);
    span("blk", WCE_OFF, 1, ST_FEAT, 0, VU_BIT(F_WCE), 0, 0);
    span("blk", 0, 72, ST_FEAT, VU_BIT(F_WCE), VU_BIT(F_WCE), WCE_OFF, 1);
    span("net", 0, 24, ST_RUN, ~UINT64_C(0), ~UINT64_C(0), 0, 0); /* nothing writable */
}

/* Writable fields apart (none of the shipped models has them: made here):
 * one write cannot carry both, so a write covering the gap is refused; one
 * up to the gap is not. Adjacent writable fields (scsi sense_size and
 * cdb_size) are one range. */
static void two_ranges_refused(void **state)
{
    static const struct vs_config_field fields[] = {
        { "a", 0, 1, -1, VS_SRC_ZERO, .write = VS_WRITE_BACKEND },
        { "ro", 1, 1, -1, VS_SRC_ZERO },
        { "b", 2, 1, -1, VS_SRC_ZERO, .write = VS_WRITE_BACKEND },
    };
    const struct vs_device_model apart = { .type = "apart", .fields = fields, .nfields = 3 };
    const struct vs_device_model *scsi = vs_model_find("scsi");
    uint32_t o = 0, s = 0;

    (void)state;
    assert_int_equal(vs_model_write_span(&apart, 0, 3, ST_FEAT, 0, 0, &o, &s), -EINVAL);
    assert_int_equal(vs_model_write_span(&apart, 0, 2, ST_FEAT, 0, 0, &o, &s), 0);
    assert_int_equal(o, 0);
    assert_int_equal(s, 1);
    assert_int_equal(vs_model_write_span(&apart, 1, 2, ST_FEAT, 0, 0, &o, &s), 0);
    assert_int_equal(o, 2);
    assert_int_equal(s, 1);
    assert_non_null(scsi);
    assert_int_equal(vs_model_write_span(scsi, 16, 16, ST_FEAT, 0, 0, &o, &s), 0);
    assert_int_equal(o, 20);
    assert_int_equal(s, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(input_select_early),
        cmocka_unit_test(console_emerg_gate),
        cmocka_unit_test(blk_writeback_late),
        cmocka_unit_test(two_ranges_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
