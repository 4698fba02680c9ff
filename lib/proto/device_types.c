/* SPDX-License-Identifier: MIT */
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
static const struct vs_device_type types[] = {
    { "net", 1, 24, 2, true, RING_MAX }, /* rx, tx (+ ctrl with CTRL_VQ) */
    { "blk", 2, 72, 1, false, RING_MAX },
    { "console", 3, 12, 2, false, 128 },
    { "rng", 4, 0, 1, false, RING_MAX },
    { "scsi", 8, 36, 3, false, 128 }, /* control, event, request */
    { "gpu", 16, 16, 2, false, RING_MAX },
    { "input", 18, 136, 2, false, RING_MAX },
    { "vsock", 19, 8, 3, false, RING_MAX }, /* rx, tx, event */
    { "sound", 25, 12, 4, false, 64 },
    { "fs", 26, 40, 2, false, RING_MAX },  /* hiprio, request */
    { "scmi", 32, 0, 2, false, RING_MAX }, /* cmdq, eventq (with VIRTIO_SCMI_F_P2A_CHANNELS) */
    { "i2c", 34, 0, 1, false, RING_MAX },
    { "gpio", 41, 8, 2, false, 256 },
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
