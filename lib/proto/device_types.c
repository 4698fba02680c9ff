/* SPDX-License-Identifier: MIT */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "device_types.h"

/* Config sizes are the size of the VIRTIO 1.2 config structure (Linux uapi
 * layouts); queue counts are the spec's fixed queues plus one request queue
 * where the count is variable. The ring size is the largest every back-end
 * measured here takes (vhost-user has no message for a back-end's limit, and
 * rust-vmm's vhost-user-backend refuses a larger SET_VRING_NUM): libvhost-user
 * and most vhost-device-* take 1024 (VIRTQUEUE_MAX_SIZE, QUEUE_SIZE); rust-vmm
 * at f44737d: console 128 (main.rs DEFAULT_QUEUE_SIZE), scsi 128 (vhu_scsi.rs
 * max_queue_size, "qemu assumes this"), gpio 256 (vhu_gpio.rs QUEUE_SIZE),
 * sound 64 (device.rs max_queue_size). */
#define RING_MAX VS_RING_SIZE_MAX_DEFAULT
/* Event and receive queues (the device fills the driver's buffers when it
 * has something to deliver): scsi eventq 1, input eventq 0, vsock rx 0 and
 * event 2, sound eventq 1, scmi eventq 1, gpio interrupt queue 1, the
 * even rings of net and console. */
static const struct vs_device_type types[] = {
    { "net", 1, 24, 2, true, RING_MAX, 0, true }, /* rx, tx (+ ctrl with CTRL_VQ) */
    { "blk", 2, 72, 1, false, RING_MAX, 0, false },
    { "console", 3, 12, 2, false, 128, 0, true },
    { "rng", 4, 0, 1, false, RING_MAX, 0, false },
    { "scsi", 8, 36, 3, false, 128, 1u << 1, false }, /* control, event, request */
    { "gpu", 16, 16, 2, false, RING_MAX, 0, false },
    { "input", 18, 136, 2, false, RING_MAX, 1u << 0, false },
    { "vsock", 19, 8, 3, false, RING_MAX, 1u << 0 | 1u << 2, false }, /* rx, tx, event */
    { "sound", 25, 12, 4, false, 64, 1u << 1, false },
    { "fs", 26, 40, 2, false, RING_MAX, 0, false }, /* hiprio, request */
    { "scmi", 32, 0, 2, false, RING_MAX, 1u << 1,
      false }, /* cmdq, eventq (with VIRTIO_SCMI_F_P2A_CHANNELS) */
    { "i2c", 34, 0, 1, false, RING_MAX, 0, false },
    { "gpio", 41, 8, 2, false, 256, 1u << 1, false },
};

const struct vs_device_type *vs_device_type_find(const char *name)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}

const struct vs_device_type *vs_device_type_by_id(uint32_t virtio_id)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].virtio_id == virtio_id)
            return &types[i];
    return NULL;
}

bool vs_device_type_event_ring(const struct vs_device_type *t, uint32_t ring)
{
    if (t->even_rings_receive && ring % 2 == 0)
        return true;
    return ring < sizeof(t->event_rings) * CHAR_BIT && (t->event_rings >> ring & 1u);
}

const char *vs_device_type_names(void)
{
    static char list[160];

    if (!list[0]) {
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
            if (i)
                strncat(list, ", ", sizeof(list) - strlen(list) - 1);
            strncat(list, types[i].name, sizeof(list) - strlen(list) - 1);
        }
    }
    return list;
}
