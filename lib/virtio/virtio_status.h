/* SPDX-License-Identifier: MIT */
/*
 * The VIRTIO device-status state machine of a vdpa-user device
 * (docs/vdpa-user.md 5.2 and 5.5; VIRTIO 1.2 and 1.3, 2.1 and 3.1), as pure
 * functions: the current status and the written value in, what the device
 * does out. No I/O, no globals. The shim's down-conversion (shim/downconv.c)
 * and the reference back-end (peers/vdpa-backend/device.c) both decide
 * SET_STATUS here, so they cannot disagree; each then carries the outcome
 * out in its own way (the shim through requests to a legacy back-end, the
 * back-end on its own rings).
 *
 * SET_STATUS(V), S the current status: the rows of vdpa-user 5.2, tried in
 * this order. "0x40" is DEVICE_NEEDS_RESET, which only the device sets: it
 * is removed from V (drivers write back what they read) and from S before
 * the rows compare them, and kept in the status afterwards.
 *
 *   pre  bits 8-63 of the u64, or bit 0x10 or 0x20 in V     REFUSE -EINVAL
 *   1    V == 0                                             RESET
 *   2    V == S                                             ACCEPT
 *   3    S != 0, FAILED clear in S, V == S | FAILED         FAIL
 *   4    FAILED or 0x40 in the status, or SUSPENDED         REFUSE -EBUSY
 *   5    S == 0, V == ACK or ACK|DRIVER                     RECORD
 *   6    S == ACK, V == ACK|DRIVER                          RECORD
 *   7    S == ACK|DRIVER, V == S|FEATURES_OK                FEATURES_ACCEPT or
 *                                                           FEATURES_REFUSED
 *   8    S == ACK|DRIVER|FEATURES_OK, V == S|DRIVER_OK      START
 *   9    anything else (a cleared bit, a skipped step,      REFUSE -EINVAL
 *        DRIVER_OK without an earlier FEATURES_OK, FAILED
 *        on status 0)
 *
 * Decisions where the sources leave room:
 * - A value with undefined bits is refused with -EINVAL in every state,
 *   including FAILED, DEVICE_NEEDS_RESET and SUSPENDED (the row "pre" runs
 *   before row 4). A reserved bit makes the request malformed whatever the
 *   state (vdpa-user 3.1: EINVAL for malformed requests, EBUSY for a
 *   well-formed request the state does not allow), and -EINVAL is the one
 *   code Linux vhost_vdpa_set_status() refuses a status value with. Until
 *   this function the reference back-end answered EBUSY there and the shim
 *   EINVAL; vdpa-user 5.2 only requires "non-zero", so both conformed.
 *   0x10 is SUSPEND in VIRTIO 1.4, but only with VIRTIO_F_SUSPEND, which
 *   vdpa-user never offers; 0x20 is undefined in every revision.
 * - Bits 8-63 make even a "reset" malformed: 0x100 is refused, not a reset
 *   (vdpa-user 3.3: "bits 8-63 MUST be zero"). 0x40 alone, on the other
 *   hand, is V == 0: a reset, as vdpa-user 3.3 ignores the bit in a write.
 * - A write that clears a bit while FAILED or DEVICE_NEEDS_RESET is set is
 *   -EBUSY (row 4: only reset leads on from there); elsewhere it is -EINVAL
 *   (row 9), the code Linux vhost_vdpa_set_status() returns for "userspace
 *   shouldn't remove status bits unless reset". Unlike Linux, a write that
 *   leaves out the device's 0x40 is not "clearing" it (vdpa-user 3.3).
 * - Row 7 is acked 0 even when the device declines the features: the driver
 *   learns it by reading FEATURES_OK back (VIRTIO 3.1.1 step 6).
 * - Row 8 is acked 0 even when a ring cannot start: the caller sets
 *   DEVICE_NEEDS_RESET then (vdpa-user 5.2, 5.5).
 */
#ifndef VIRTIO_STATUS_H
#define VIRTIO_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio.h"

/* The base status values of vdpa-user 5.1. */
#define VIRTIO_STATUS_BASE_ACKED       VIRTIO_STATUS_ACKNOWLEDGE
#define VIRTIO_STATUS_BASE_DRIVER      (VIRTIO_STATUS_BASE_ACKED | VIRTIO_STATUS_DRIVER)
#define VIRTIO_STATUS_BASE_FEATURES_OK (VIRTIO_STATUS_BASE_DRIVER | VIRTIO_STATUS_FEATURES_OK)
#define VIRTIO_STATUS_BASE_DRIVER_OK   (VIRTIO_STATUS_BASE_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)
/* The overlay bits: with either set no ring runs and only reset leads on. */
#define VIRTIO_STATUS_OVERLAY (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED)

/* What the device does with an accepted or refused SET_STATUS. */
enum virtio_status_action {
    VIRTIO_STATUS_ACT_REFUSE, /* reject: nothing changes; `err` says why */
    VIRTIO_STATUS_ACT_ACCEPT, /* ack 0 and do nothing (the value is the status) */
    VIRTIO_STATUS_ACT_RESET,  /* reset the device (vdpa-user 5.3); status 0 */
    VIRTIO_STATUS_ACT_RECORD, /* store `status`; nothing else */
    VIRTIO_STATUS_ACT_FAIL,   /* store `status` (FAILED added) and stop every ring */
    /* fix the stored features; the status becomes `status` */
    VIRTIO_STATUS_ACT_FEATURES_ACCEPT,
    /* ack 0 with the status unchanged: FEATURES_OK stays clear */
    VIRTIO_STATUS_ACT_FEATURES_REFUSED,
    VIRTIO_STATUS_ACT_START, /* store `status` (DRIVER_OK added) and start the device */
};

/* What the device knows besides its status byte. */
struct virtio_status_ctx {
    /* DRIVER_OK's sub-state SUSPENDED (VDPA_SUSPEND), not in the status. */
    bool suspended;
    /* The stored feature selection passes the FEATURES_OK validation
     * (VERSION_1, the device type's dependencies, what the device can
     * provide). Read only by row 7. */
    bool features_acceptable;
};

struct virtio_status_outcome {
    enum virtio_status_action action;
    /* The status byte afterwards, 0x40 kept where it was set; for
     * FEATURES_ACCEPT the status once the features are fixed. With REFUSE
     * and FEATURES_REFUSED, the current status. */
    uint8_t status;
    int err;         /* 0, or with REFUSE -EINVAL or -EBUSY */
    unsigned row;    /* the row above that matched: 0 for "pre", else 1-9 */
    const char *why; /* static text for a log line */
};

/* Decides SET_STATUS(written) on a device in status `current`. Fills *out
 * and returns out->err: 0 when the write is acknowledged with 0, a negative
 * errno when it is refused. `ctx` and `out` must not be NULL. */
int virtio_status_transition(uint8_t current, uint64_t written, const struct virtio_status_ctx *ctx,
                             struct virtio_status_outcome *out);

/* vdpa-user 5.5: the status after the device sets DEVICE_NEEDS_RESET on
 * itself. In status 0 there is nothing to fail and the bit stays clear; set
 * once, it stays until reset. Returns whether the status changes. */
bool virtio_status_needs_reset(uint8_t current, uint8_t *next);

/* SET_VRING_BASE's `num` (vdpa-user 3.3) under the negotiated `features`:
 * for a split ring the next available index, 16 bits, so above 0xffff is
 * -EINVAL (as Linux vhost refuses it); for a packed ring (VIRTIO_F_RING_PACKED)
 * all 32 bits carry indices and wrap counters. Returns 0 or -EINVAL. */
int virtio_vring_base_check(uint64_t features, uint32_t num);

/* The largest split-ring index (VIRTIO 2.7: 16-bit ring indices). */
#define VIRTIO_SPLIT_INDEX_MAX 0xffffu

#endif
