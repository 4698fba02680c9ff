/* SPDX-License-Identifier: MIT */
/*
 * virtio-scmi (VIRTIO 1.2, SCMI device, ID 32): cmdq and eventq (the
 * eventq only with VIRTIO_SCMI_F_P2A_CHANNELS, 0); "There is no
 * configuration data for the device" (the SCMI section as proposed to
 * oasis-tcs/virtio-spec, the text of VIRTIO 1.2). VIRTIO_SCMI_F_SHARED_MEMORY
 * (1) means virtio shared memory regions, which a vhost-user back-end maps
 * through its VMM: not carried.
 */
#include "devmodel.h"
#include "virtio.h"

#define SCMI_F_SHARED_MEMORY 1

const struct vs_device_model vs_model_scmi = {
    .type = "scmi",
    .hidden_features = VU_BIT(SCMI_F_SHARED_MEMORY) | VU_BIT(VIRTIO_F_ACCESS_PLATFORM) |
                       VU_BIT(VIRTIO_F_RING_RESET),
};
