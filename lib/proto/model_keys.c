/* SPDX-License-Identifier: MIT */
/*
 * The device keys the models read for a back-end without a config space of
 * its own (devmodel.h, enum vs_model_key): one row a key, with its device
 * type and the range VIRTIO 1.2 allows (the spec section is cited in each
 * model_<type>.c). The CLI (shim/cli.c) parses them against this table.
 */
#include <string.h>

#include "devmodel.h"

/* vsock: CIDs 0-2 are reserved (hypervisor, loopback, host) and the upper
 * 32 bits are reserved and zero (VIRTIO 1.2 5.10.4); 0xffffffff is
 * VMADDR_CID_ANY. QEMU's vhost-vsock refuses guest-cid <= 2 likewise. */
#define VSOCK_CID_MIN 3u
#define VSOCK_CID_MAX 0xfffffffeu
/* gpu: "Minimum value is 1, maximum value is 16" (VIRTIO 1.2 5.7.4). */
#define GPU_MAX_SCANOUTS 16u
/* scsi: max_target SHOULD be <= 255, max_lun <= 16383 (VIRTIO 1.2 5.6.4). */
#define SCSI_MAX_TARGET 255u
#define SCSI_MAX_LUN    16383u
/* console: the device has 2 + 2 * max_nr_ports virtqueues (VIRTIO 1.2
 * 5.3.2), within vhost-user's 256 rings (VU_MAX_QUEUES). */
#define CONSOLE_MAX_PORTS ((VU_MAX_QUEUES - 2u) / 2u)
#define U16_MAX           0xffffu
#define U32_MAX           0xffffffffu

static const struct vs_model_key_desc keys[VS_MODEL_KEYS] = {
    [VS_KEY_GUEST_CID] = { "guest-cid", "vsock", VSOCK_CID_MIN, VSOCK_CID_MAX, false, 0,
                           "vsock: the guest's CID, 3..4294967294" },
    [VS_KEY_NGPIO] = { "ngpio", "gpio", 1, U16_MAX, false, 0, "gpio: GPIO lines, 1..65535" },
    [VS_KEY_COLS] = { "cols", "console", 1, U16_MAX, false, 0,
                      "console: columns, 1..65535 (with rows=; offers VIRTIO_CONSOLE_F_SIZE)" },
    [VS_KEY_ROWS] = { "rows", "console", 1, U16_MAX, false, 0,
                      "console: rows, 1..65535 (with cols=)" },
    [VS_KEY_PORTS] = { "ports", "console", 1, CONSOLE_MAX_PORTS, false, 0,
                       "console: max_nr_ports with VIRTIO_CONSOLE_F_MULTIPORT, 1..127" },
    [VS_KEY_STREAMS] = { "streams", "sound", 1, U32_MAX, false, 0,
                         "sound: PCM streams, 1..4294967295" },
    [VS_KEY_JACKS] = { "jacks", "sound", 0, U32_MAX, true, 0, "sound: jacks (default 0)" },
    [VS_KEY_CHMAPS] = { "chmaps", "sound", 0, U32_MAX, true, 0, "sound: channel maps (default 0)" },
    [VS_KEY_SCANOUTS] = { "scanouts", "gpu", 1, GPU_MAX_SCANOUTS, true, 1,
                          "gpu: num_scanouts, 1..16 (default 1, as QEMU's max_outputs)" },
    [VS_KEY_MAX_TARGET] = { "max-target", "scsi", 0, SCSI_MAX_TARGET, false, 0,
                            "scsi: highest target number, 0..255" },
    [VS_KEY_MAX_LUN] = { "max-lun", "scsi", 0, SCSI_MAX_LUN, false, 0,
                         "scsi: highest LUN, 0..16383" },
};

const struct vs_model_key_desc *vs_model_key_desc(unsigned key)
{
    return key < VS_MODEL_KEYS ? &keys[key] : NULL;
}

int vs_model_key_find(const char *name)
{
    for (unsigned k = 0; k < VS_MODEL_KEYS; k++)
        if (strcmp(keys[k].name, name) == 0)
            return (int)k;
    return -1;
}

bool vs_model_key_value(const struct vs_model_input *in, unsigned key, uint64_t *value)
{
    if (key >= VS_MODEL_KEYS)
        return false;
    if (in->keys_set & (UINT32_C(1) << key)) {
        *value = in->key[key];
        return true;
    }
    if (!keys[key].has_default)
        return false;
    *value = keys[key].dflt;
    return true;
}
