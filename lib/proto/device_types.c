/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include <string.h>

#include "device_types.h"

/* Config sizes are the size of the VIRTIO 1.2 config structure (Linux uapi
 * layouts); queue counts are the spec's fixed queues plus one request queue
 * where the count is variable. */
static const struct vs_device_type types[] = {
    { "net", 1, 24, 2, true }, /* rx, tx (+ ctrl with CTRL_VQ) */
    { "blk", 2, 72, 1, false },    { "console", 3, 12, 2, false },
    { "rng", 4, 0, 1, false },     { "scsi", 8, 36, 3, false }, /* control, event, request */
    { "gpu", 16, 16, 2, false },   { "input", 18, 136, 2, false },
    { "vsock", 19, 8, 3, false },                              /* rx, tx, event */
    { "sound", 25, 12, 4, false }, { "fs", 26, 40, 2, false }, /* hiprio, request */
    { "scmi", 32, 0, 2, false }, /* cmdq, eventq (with VIRTIO_SCMI_F_P2A_CHANNELS) */
    { "i2c", 34, 0, 1, false },    { "gpio", 41, 8, 2, false },
};

const struct vs_device_type *vs_device_type_find(const char *name)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i].name, name) == 0)
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
