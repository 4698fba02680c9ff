/* SPDX-License-Identifier: MIT */
/*
 * lib/virtio/virtio_status.c: the VIRTIO device-status state machine that
 * the shim's down-conversion and the reference back-end share. One table
 * row per rule of vdpa-user 5.2 (current status, written value, context ->
 * outcome), every status bit written from status 0, the corners where the
 * two former copies disagreed, and an exhaustive sweep of every written
 * byte from every reachable status against the list of allowed steps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <cmocka.h>

#include "virtio/virtio_status.h"

#define ACK        VIRTIO_STATUS_BASE_ACKED
#define DRV        VIRTIO_STATUS_BASE_DRIVER
#define FOK        VIRTIO_STATUS_BASE_FEATURES_OK
#define DOK        VIRTIO_STATUS_BASE_DRIVER_OK
#define NR         VIRTIO_STATUS_DEVICE_NEEDS_RESET
#define FAIL       VIRTIO_STATUS_FAILED
#define SUSP_BIT   VIRTIO_STATUS_SUSPEND /* VIRTIO 1.4 only, with VIRTIO_F_SUSPEND */
#define BIT5       (1u << 5)             /* undefined in every VIRTIO revision */
#define WIRE_BIT8  (UINT64_C(1) << 8)
#define WIRE_BIT63 (UINT64_C(1) << 63)

enum {
    NO = 0,
    YES = 1
};

struct row {
    const char *name;
    uint8_t current;
    uint64_t written;
    bool suspended, features_ok;
    enum virtio_status_action action;
    uint8_t status; /* expected status afterwards */
    int err;
    unsigned rule; /* expected row of virtio_status.h's table */
};

#define R_REFUSE VIRTIO_STATUS_ACT_REFUSE
#define R_ACCEPT VIRTIO_STATUS_ACT_ACCEPT
#define R_RESET  VIRTIO_STATUS_ACT_RESET
#define R_RECORD VIRTIO_STATUS_ACT_RECORD
#define R_FAIL   VIRTIO_STATUS_ACT_FAIL
#define R_FACC   VIRTIO_STATUS_ACT_FEATURES_ACCEPT
#define R_FREF   VIRTIO_STATUS_ACT_FEATURES_REFUSED
#define R_START  VIRTIO_STATUS_ACT_START

static const struct row rows[] = {
    /* pre: malformed values, -EINVAL in every state */
    { "bits 8-63 alone are not a reset", DOK, WIRE_BIT8, NO, YES, R_REFUSE, DOK, -EINVAL, 0 },
    { "bit 63 on a forward step", DRV, FOK | WIRE_BIT63, NO, YES, R_REFUSE, DRV, -EINVAL, 0 },
    { "SUSPEND bit (0x10) from status 0", 0, ACK | SUSP_BIT, NO, YES, R_REFUSE, 0, -EINVAL, 0 },
    { "bit 0x20 on a forward step", ACK, DRV | BIT5, NO, YES, R_REFUSE, ACK, -EINVAL, 0 },
    { "0x10 alone is not a reset", DOK, SUSP_BIT, NO, YES, R_REFUSE, DOK, -EINVAL, 0 },
    /* the corner: undefined bits while FAILED, NEEDS_RESET or suspended
     * (the back-end answered -EBUSY before, the shim -EINVAL) */
    { "undefined bit while FAILED", FOK | FAIL, FOK | FAIL | SUSP_BIT, NO, YES, R_REFUSE,
      FOK | FAIL, -EINVAL, 0 },
    { "undefined bit while NEEDS_RESET", DOK | NR, DOK | BIT5, NO, YES, R_REFUSE, DOK | NR, -EINVAL,
      0 },
    { "undefined bit while suspended", DOK, DOK | SUSP_BIT, YES, YES, R_REFUSE, DOK, -EINVAL, 0 },
    /* 1: reset from every state, overlay or not */
    { "reset in status 0", 0, 0, NO, YES, R_RESET, 0, 0, 1 },
    { "reset a live device", DOK, 0, NO, YES, R_RESET, 0, 0, 1 },
    { "reset FAILED and NEEDS_RESET", DOK | NR | FAIL, 0, NO, YES, R_RESET, 0, 0, 1 },
    { "reset while suspended", DOK, 0, YES, YES, R_RESET, 0, 0, 1 },
    { "0x40 alone is a reset (the bit is ignored)", FOK, NR, NO, YES, R_RESET, 0, 0, 1 },
    /* 2: the same value again */
    { "ACK again", ACK, ACK, NO, YES, R_ACCEPT, ACK, 0, 2 },
    { "same value keeps 0x40", DOK | NR, DOK, NO, YES, R_ACCEPT, DOK | NR, 0, 2 },
    { "written-back 0x40", DOK | NR, DOK | NR, NO, YES, R_ACCEPT, DOK | NR, 0, 2 },
    { "same value while FAILED", FOK | FAIL, FOK | FAIL, NO, YES, R_ACCEPT, FOK | FAIL, 0, 2 },
    { "same value while suspended", DOK, DOK, YES, YES, R_ACCEPT, DOK, 0, 2 },
    /* 3: FAILED on a non-zero status */
    { "FAILED on ACK", ACK, ACK | FAIL, NO, YES, R_FAIL, ACK | FAIL, 0, 3 },
    { "FAILED keeps 0x40", DOK | NR, DOK | FAIL, NO, YES, R_FAIL, DOK | NR | FAIL, 0, 3 },
    { "FAILED while suspended", DOK, DOK | FAIL, YES, YES, R_FAIL, DOK | FAIL, 0, 3 },
    { "FAILED with 0x40 written", FOK, FOK | FAIL | NR, NO, YES, R_FAIL, FOK | FAIL, 0, 3 },
    { "FAILED on status 0", 0, FAIL, NO, YES, R_REFUSE, 0, -EINVAL, 9 },
    { "FAILED that clears DRIVER", DRV, ACK | FAIL, NO, YES, R_REFUSE, DRV, -EINVAL, 9 },
    /* 4: only reset leads on from FAILED, NEEDS_RESET, SUSPENDED */
    { "DRIVER_OK after FAILED", FOK | FAIL, DOK | FAIL, NO, YES, R_REFUSE, FOK | FAIL, -EBUSY, 4 },
    { "clearing FAILED", FOK | FAIL, FOK, NO, YES, R_REFUSE, FOK | FAIL, -EBUSY, 4 },
    { "DRIVER_OK with NEEDS_RESET", FOK | NR, DOK, NO, YES, R_REFUSE, FOK | NR, -EBUSY, 4 },
    { "clearing a bit while suspended", DOK, ACK, YES, YES, R_REFUSE, DOK, -EBUSY, 4 },
    { "FEATURES_OK with NEEDS_RESET", DRV | NR, FOK, NO, YES, R_REFUSE, DRV | NR, -EBUSY, 4 },
    /* 5 */
    { "ACKNOWLEDGE", 0, ACK, NO, YES, R_RECORD, ACK, 0, 5 },
    { "ACKNOWLEDGE|DRIVER in one write", 0, DRV, NO, YES, R_RECORD, DRV, 0, 5 },
    { "FEATURES_OK from status 0", 0, FOK, NO, YES, R_REFUSE, 0, -EINVAL, 9 },
    { "DRIVER_OK from status 0", 0, DOK, NO, YES, R_REFUSE, 0, -EINVAL, 9 },
    /* 6 */
    { "DRIVER after ACKNOWLEDGE", ACK, DRV, NO, YES, R_RECORD, DRV, 0, 6 },
    { "FEATURES_OK skips DRIVER", ACK, ACK | VIRTIO_STATUS_FEATURES_OK, NO, YES, R_REFUSE, ACK,
      -EINVAL, 9 },
    /* 7 */
    { "FEATURES_OK accepted", DRV, FOK, NO, YES, R_FACC, FOK, 0, 7 },
    { "FEATURES_OK declined, acked 0", DRV, FOK, NO, NO, R_FREF, DRV, 0, 7 },
    { "FEATURES_OK with 0x40 written", DRV, FOK | NR, NO, YES, R_FACC, FOK, 0, 7 },
    { "DRIVER_OK without FEATURES_OK", DRV, DRV | VIRTIO_STATUS_DRIVER_OK, NO, YES, R_REFUSE, DRV,
      -EINVAL, 9 },
    { "DRIVER_OK and FEATURES_OK in one write", DRV, DOK, NO, YES, R_REFUSE, DRV, -EINVAL, 9 },
    { "clearing DRIVER", DRV, ACK, NO, YES, R_REFUSE, DRV, -EINVAL, 9 },
    /* 8: features_ok is not read after FEATURES_OK */
    { "DRIVER_OK", FOK, DOK, NO, YES, R_START, DOK, 0, 8 },
    { "DRIVER_OK, features flag ignored", FOK, DOK, NO, NO, R_START, DOK, 0, 8 },
    { "clearing FEATURES_OK", FOK, DRV, NO, YES, R_REFUSE, FOK, -EINVAL, 9 },
    /* 9: from DRIVER_OK */
    { "clearing DRIVER_OK", DOK, FOK, NO, YES, R_REFUSE, DOK, -EINVAL, 9 },
    { "clearing ACKNOWLEDGE", DOK, DOK & ~ACK, NO, YES, R_REFUSE, DOK, -EINVAL, 9 },
    /* every single bit written on status 0 */
    { "bit 0x02 alone", 0, VIRTIO_STATUS_DRIVER, NO, YES, R_REFUSE, 0, -EINVAL, 9 },
    { "bit 0x04 alone", 0, VIRTIO_STATUS_DRIVER_OK, NO, YES, R_REFUSE, 0, -EINVAL, 9 },
    { "bit 0x08 alone", 0, VIRTIO_STATUS_FEATURES_OK, NO, YES, R_REFUSE, 0, -EINVAL, 9 },
    { "bit 0x10 alone", 0, SUSP_BIT, NO, YES, R_REFUSE, 0, -EINVAL, 0 },
    { "bit 0x20 alone", 0, BIT5, NO, YES, R_REFUSE, 0, -EINVAL, 0 },
    { "bit 0x40 alone", 0, NR, NO, YES, R_RESET, 0, 0, 1 },
};

static void test_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        struct virtio_status_ctx ctx = { .suspended = r->suspended,
                                         .features_acceptable = r->features_ok };
        struct virtio_status_outcome out;
        int rc = virtio_status_transition(r->current, r->written, &ctx, &out);
        if (rc != r->err || out.err != r->err || out.action != r->action ||
            out.status != r->status || out.row != r->rule || !out.why)
            fail_msg("row %zu \"%s\": 0x%02x <- 0x%llx: got rc %d err %d action %d status "
                     "0x%02x row %u; want err %d action %d status 0x%02x row %u",
                     i, r->name, r->current, (unsigned long long)r->written, rc, out.err,
                     (int)out.action, out.status, out.row, r->err, (int)r->action, r->status,
                     r->rule);
    }
}

/* The forward steps VIRTIO 3.1 allows, as (from, to) pairs. */
static bool allowed_step(uint8_t from, uint8_t to)
{
    static const uint8_t steps[][2] = {
        { 0, ACK }, { 0, DRV }, { ACK, DRV }, { DRV, FOK }, { FOK, DOK },
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (steps[i][0] == from && steps[i][1] == to)
            return true;
    return false;
}

static void check_invariants(uint8_t cur, unsigned w, bool susp, bool feat,
                             const struct virtio_status_outcome *o, int rc)
{
    uint8_t v = (uint8_t)(w & ~NR);
    uint8_t s = cur & (uint8_t)~NR;
    bool forward_ok = !(cur & VIRTIO_STATUS_OVERLAY) && !susp && allowed_step(s, v);

    assert_int_equal(rc, o->err);
    assert_true(o->err == 0 || o->action == VIRTIO_STATUS_ACT_REFUSE);
    assert_int_equal(o->status & (uint8_t)~VIRTIO_STATUS_DEFINED, 0);
    if (w & (unsigned)(SUSP_BIT | BIT5)) {
        assert_int_equal(o->err, -EINVAL); /* malformed, whatever the state */
        return;
    }
    if (v == 0) {
        assert_int_equal(o->action, VIRTIO_STATUS_ACT_RESET);
        return;
    }
    if (o->action == VIRTIO_STATUS_ACT_REFUSE || o->action == VIRTIO_STATUS_ACT_FEATURES_REFUSED)
        assert_int_equal(o->status, cur); /* nothing changes */
    else
        assert_int_equal(o->status & cur, cur); /* no bit cleared, 0x40 kept */
    if (o->action == VIRTIO_STATUS_ACT_RECORD || o->action == VIRTIO_STATUS_ACT_START ||
        o->action == VIRTIO_STATUS_ACT_FEATURES_ACCEPT ||
        o->action == VIRTIO_STATUS_ACT_FEATURES_REFUSED)
        assert_true(forward_ok);
    if (forward_ok) {
        assert_int_equal(o->err, 0);
        assert_true(o->action != VIRTIO_STATUS_ACT_FEATURES_REFUSED || !feat);
    }
}

/* Every written byte (and 0x100) from every status a device can be in,
 * suspended or not, features acceptable or not. */
static void test_exhaustive(void **state)
{
    static const uint8_t bases[] = { 0, ACK, DRV, FOK, DOK };
    static const uint8_t overlays[] = { 0, NR, FAIL, NR | FAIL };
    unsigned checked = 0;

    (void)state;
    for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++)
        for (size_t o = 0; o < sizeof(overlays) / sizeof(overlays[0]); o++)
            for (unsigned flags = 0; flags < 4; flags++)
                for (unsigned w = 0; w <= UINT8_MAX; w++) {
                    uint8_t cur = (uint8_t)(bases[b] | (bases[b] ? overlays[o] : 0));
                    bool susp = (flags & 1) && (bases[b] == DOK);
                    struct virtio_status_ctx ctx = { .suspended = susp,
                                                     .features_acceptable = flags & 2 };
                    struct virtio_status_outcome out;
                    int rc = virtio_status_transition(cur, w, &ctx, &out);
                    check_invariants(cur, w, susp, ctx.features_acceptable, &out, rc);
                    checked++;
                }
    assert_true(checked > 5u * 256u);
}

static void test_needs_reset(void **state)
{
    static const struct {
        uint8_t cur, next;
        bool changes;
    } t[] = {
        { 0, 0, false }, /* nothing to fail in status 0 */
        { ACK, ACK | NR, true },
        { FOK, FOK | NR, true },
        { DOK, DOK | NR, true },
        { DOK | NR, DOK | NR, false }, /* set once, until reset */
        { FOK | FAIL, FOK | FAIL | NR, true },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint8_t next = 0xAA;
        assert_int_equal(virtio_status_needs_reset(t[i].cur, &next), t[i].changes);
        assert_int_equal(next, t[i].next);
    }
}

/* The other corner: SET_VRING_BASE above 0xffff (the shim passed it on to a
 * legacy back-end, the back-end refused it). */
static void test_vring_base(void **state)
{
    const uint64_t split = UINT64_C(1) << VIRTIO_F_VERSION_1 | UINT64_C(1) << VIRTIO_F_EVENT_IDX;
    const uint64_t packed = split | UINT64_C(1) << VIRTIO_F_RING_PACKED;
    static const struct {
        bool packed;
        uint32_t num;
        int err;
    } t[] = {
        { false, 0, 0 },
        { false, VIRTIO_SPLIT_INDEX_MAX, 0 },
        { false, VIRTIO_SPLIT_INDEX_MAX + 1, -EINVAL },
        { false, UINT32_MAX, -EINVAL },
        { true, VIRTIO_SPLIT_INDEX_MAX + 1, 0 }, /* used index 1 in bits 16-30 */
        { true, UINT32_MAX, 0 },                 /* both wrap counters set */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_int_equal(virtio_vring_base_check(t[i].packed ? packed : split, t[i].num), t[i].err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_exhaustive),
        cmocka_unit_test(test_needs_reset),
        cmocka_unit_test(test_vring_base),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
