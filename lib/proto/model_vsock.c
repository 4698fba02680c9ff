/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock (VIRTIO 1.2 5.10, socket device): struct
 * virtio_vsock_config { le64 guest_cid; }, 8 bytes, always present
 * (oasis-tcs/virtio-spec device-types/vsock/description.tex; Linux
 * include/uapi/linux/virtio_vsock.h). QEMU's vhost-user-vsock reads it from
 * the back-end (vhost-device-vsock has F_CONFIG); a back-end without a
 * config space needs guest-cid=. VIRTIO_VSOCK_F_STREAM (0) and
 * F_SEQPACKET (1) are the back-end's.
 */
#include "devmodel.h"
#include "virtio.h"

static const struct vs_config_field vsock_fields[] = {
    { "guest_cid", 0, 8, -1, VS_SRC_KEY, VS_KEY_GUEST_CID, .from_backend = true },
};

const struct vs_device_model vs_model_vsock = {
    .type = "vsock",
    .fields = vsock_fields,
    .nfields = sizeof(vsock_fields) / sizeof(vsock_fields[0]),
    .hidden_features = VU_BIT(VIRTIO_F_ACCESS_PLATFORM) | VU_BIT(VIRTIO_F_RING_RESET),
};
