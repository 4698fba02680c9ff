/* SPDX-License-Identifier: MIT */
/* The VIRTIO device-status state machine of vdpa-user: see virtio_status.h. */
#include <errno.h>
#include <stddef.h>

#include "virtio/virtio_status.h"

/* Bits 8-63 of SET_STATUS's u64 payload: none is a status bit. */
#define STATUS_WIRE_HIGH (~(uint64_t)UINT8_MAX)

static int decide(struct virtio_status_outcome *out, enum virtio_status_action action,
                  uint8_t status, int err, unsigned row, const char *why)
{
    out->action = action;
    out->status = status;
    out->err = err;
    out->row = row;
    out->why = why;
    return err;
}

static int refuse(struct virtio_status_outcome *out, uint8_t current, int err, unsigned row,
                  const char *why)
{
    return decide(out, VIRTIO_STATUS_ACT_REFUSE, current, err, row, why);
}

/* Rows 5-9: the forward steps of a device with no overlay bit, not
 * suspended. `s` and `v` are without 0x40 (which is clear here anyway). */
static int forward(uint8_t s, uint8_t v, const struct virtio_status_ctx *ctx,
                   struct virtio_status_outcome *out)
{
    if (s == 0 && (v == VIRTIO_STATUS_BASE_ACKED || v == VIRTIO_STATUS_BASE_DRIVER))
        return decide(out, VIRTIO_STATUS_ACT_RECORD, v, 0, 5, "driver found the device");
    if (s == VIRTIO_STATUS_BASE_ACKED && v == VIRTIO_STATUS_BASE_DRIVER)
        return decide(out, VIRTIO_STATUS_ACT_RECORD, v, 0, 6, "driver knows the device");
    if (s == VIRTIO_STATUS_BASE_DRIVER && v == VIRTIO_STATUS_BASE_FEATURES_OK) {
        if (ctx->features_acceptable)
            return decide(out, VIRTIO_STATUS_ACT_FEATURES_ACCEPT, v, 0, 7, "features fixed");
        return decide(out, VIRTIO_STATUS_ACT_FEATURES_REFUSED, s, 0, 7,
                      "FEATURES_OK declined: the selected features are not acceptable");
    }
    if (s == VIRTIO_STATUS_BASE_FEATURES_OK && v == VIRTIO_STATUS_BASE_DRIVER_OK)
        return decide(out, VIRTIO_STATUS_ACT_START, v, 0, 8, "DRIVER_OK: device live");
    return refuse(out, s, -EINVAL, 9, "not an allowed status transition");
}

int virtio_status_transition(uint8_t current, uint64_t written, const struct virtio_status_ctx *ctx,
                             struct virtio_status_outcome *out)
{
    const uint8_t needs_reset = VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    uint8_t v = (uint8_t)(written & (uint8_t)~needs_reset);
    uint8_t s = current & (uint8_t)~needs_reset;

    if ((written & STATUS_WIRE_HIGH) || (v & (uint8_t)~VIRTIO_STATUS_DEFINED))
        return refuse(out, current, -EINVAL, 0, "SET_STATUS with undefined bits");
    if (v == 0)
        return decide(out, VIRTIO_STATUS_ACT_RESET, 0, 0, 1, "reset");
    if (v == s)
        return decide(out, VIRTIO_STATUS_ACT_ACCEPT, current, 0, 2, "status unchanged");
    if (s != 0 && !(s & VIRTIO_STATUS_FAILED) && v == (s | VIRTIO_STATUS_FAILED))
        return decide(out, VIRTIO_STATUS_ACT_FAIL, (uint8_t)(current | VIRTIO_STATUS_FAILED), 0, 3,
                      "the driver gave up on the device (FAILED)");
    if ((current & VIRTIO_STATUS_OVERLAY) || ctx->suspended)
        return refuse(out, current, -EBUSY, 4,
                      "status change while failed, needing a reset or suspended");
    return forward(s, v, ctx, out);
}

bool virtio_status_needs_reset(uint8_t current, uint8_t *next)
{
    *next = current;
    if (current == 0 || (current & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
        return false;
    *next = (uint8_t)(current | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    return true;
}

int virtio_vring_base_check(uint64_t features, uint32_t num)
{
    if (features & (UINT64_C(1) << VIRTIO_F_RING_PACKED))
        return 0;
    return num > VIRTIO_SPLIT_INDEX_MAX ? -EINVAL : 0;
}
