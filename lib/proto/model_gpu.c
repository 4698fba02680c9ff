/* SPDX-License-Identifier: MIT */
/*
 * virtio-gpu (VIRTIO 1.2 5.7): struct virtio_gpu_config { le32 events_read;
 * le32 events_clear; le32 num_scanouts; le32 num_capsets; }, 16 bytes
 * (oasis-tcs/virtio-spec device-types/gpu/description.tex; Linux
 * include/uapi/linux/virtio_gpu.h). events_clear is write-1-to-clear of
 * events_read; num_scanouts is 1..16; CONTEXT_INIT (4) "Requires
 * VIRTIO_GPU_F_VIRGL".
 *
 * As QEMU's vhost-user-gpu-pci does (hw/display/vhost-user-gpu.c
 * vhost_user_gpu_get_config), the shim is the VMM here: it keeps
 * events_read and events_clear itself (a config change of the back-end
 * raises VIRTIO_GPU_EVENT_DISPLAY; a driver's events_clear clears it) and
 * num_scanouts is its own, scanouts= (default 1, QEMU's max_outputs):
 * QEMU's vhost-user-gpu back-end reports 0 there, which Linux's virtio_gpu
 * refuses ("num_scanouts is zero"). num_capsets comes from the back-end's
 * GET_CONFIG when it has F_CONFIG; otherwise, as only a 3D back-end knows
 * it, it reads 0 with VIRTIO_GPU_F_VIRGL hidden (Linux reads capsets only
 * with VIRGL).
 */
#include "devmodel.h"
#include "virtio.h"

#define GPU_F_VIRGL        0
#define GPU_F_CONTEXT_INIT 4
#define GPU_EVENT_DISPLAY  (1u << 0)

static const struct vs_config_field gpu_fields[] = {
    { "events_read", 0, 4, -1, VS_SRC_EVENTS },
    { "events_clear", 4, 4, -1, VS_SRC_CONST, 0, .write = VS_WRITE_CLEARS },
    { "num_scanouts", 8, 4, -1, VS_SRC_KEY, VS_KEY_SCANOUTS },
    { "num_capsets", 12, 4, GPU_F_VIRGL, VS_SRC_ZERO, .from_backend = true },
};

static const struct vs_feature_rule gpu_rules[] = {
    { GPU_F_CONTEXT_INIT, VU_BIT(GPU_F_VIRGL) },
};

const struct vs_device_model vs_model_gpu = {
    .type = "gpu",
    .fields = gpu_fields,
    .nfields = sizeof(gpu_fields) / sizeof(gpu_fields[0]),
    .hidden_features = VU_BIT(VIRTIO_F_ACCESS_PLATFORM) | VU_BIT(VIRTIO_F_RING_RESET),
    .rules = gpu_rules,
    .nrules = sizeof(gpu_rules) / sizeof(gpu_rules[0]),
    .change_events = GPU_EVENT_DISPLAY,
};
