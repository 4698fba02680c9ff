/* SPDX-License-Identifier: MIT */
/*
 * virtio-fs over a legacy vhost-user back-end (virtiofsd): the VMM used to
 * own the config space (QEMU's -device vhost-user-fs-pci,tag=...), so the
 * shim synthesizes it from tag= and the back-end's queue count, unless the
 * back-end has a config space of its own (the Rust virtiofsd with --tag
 * offers F_CONFIG): then, as for blk's capacity, the back-end's values are
 * shown.
 */
#include "devmodel.h"
#include "virtio.h"

#define FS_F_NOTIFICATION 0

static const struct vs_config_field fs_fields[] = {
    { "tag", 0, 36, -1, VS_SRC_TAG, .from_backend = true },
    { "num_request_queues", 36, 4, -1, VS_SRC_REQUEST_QUEUES, .from_backend = true },
};

const struct vs_device_model vs_model_fs = {
    .type = "fs",
    .fields = fs_fields,
    .nfields = sizeof(fs_fields) / sizeof(fs_fields[0]),
    /* The notification queue needs the VMM's help; no IOTLB; no ring reset. */
    .hidden_features = VU_BIT(FS_F_NOTIFICATION) | VU_BIT(VIRTIO_F_ACCESS_PLATFORM) |
                       VU_BIT(VIRTIO_F_RING_RESET),
};
