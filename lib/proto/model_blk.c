/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk over a legacy vhost-user back-end (qemu-storage-daemon, ...):
 * the config space of docs/vdpa-user.md 6.3, read from the back-end's
 * GET_CONFIG when it offers F_CONFIG, else synthesized from device keys
 * (capacity=), and then only the fields the shim can know are offered.
 */
#include "devmodel.h"
#include "virtio.h"

#define BLK_F_DISCARD      13
#define BLK_F_WRITE_ZEROES 14
#define BLK_F_SECURE_ERASE 16

/* clang-format off: a braced initializer, not a block */
#define B(name, off, size, gate)                                                                   \
    {                                                                                              \
        name, off, size, gate, VS_SRC_ZERO, .from_backend = true                                   \
    }
/* clang-format on */

static const struct vs_config_field blk_fields[] = {
    { "capacity", 0, 8, -1, VS_SRC_CAPACITY, .from_backend = true },
    B("size_max", 8, 4, VIRTIO_BLK_F_SIZE_MAX),
    B("seg_max", 12, 4, VIRTIO_BLK_F_SEG_MAX),
    B("geometry.cylinders", 16, 2, VIRTIO_BLK_F_GEOMETRY),
    B("geometry.heads", 18, 1, VIRTIO_BLK_F_GEOMETRY),
    B("geometry.sectors", 19, 1, VIRTIO_BLK_F_GEOMETRY),
    { "blk_size", 20, 4, VIRTIO_BLK_F_BLK_SIZE, VS_SRC_CONST, 512, .from_backend = true },
    B("physical_block_exp", 24, 1, VIRTIO_BLK_F_TOPOLOGY),
    B("alignment_offset", 25, 1, VIRTIO_BLK_F_TOPOLOGY),
    B("min_io_size", 26, 2, VIRTIO_BLK_F_TOPOLOGY),
    B("opt_io_size", 28, 4, VIRTIO_BLK_F_TOPOLOGY),
    { "writeback", 32, 1, VIRTIO_BLK_F_CONFIG_WCE, VS_SRC_ZERO, .from_backend = true,
      .write = VS_WRITE_BACKEND },
    { "num_queues", 34, 2, VIRTIO_BLK_F_MQ, VS_SRC_NUM_QUEUES, .from_backend = true },
    B("max_discard_sectors", 36, 4, BLK_F_DISCARD),
    B("max_discard_seg", 40, 4, BLK_F_DISCARD),
    B("discard_sector_alignment", 44, 4, BLK_F_DISCARD),
    B("max_write_zeroes_sectors", 48, 4, BLK_F_WRITE_ZEROES),
    B("max_write_zeroes_seg", 52, 4, BLK_F_WRITE_ZEROES),
    B("write_zeroes_may_unmap", 56, 1, BLK_F_WRITE_ZEROES),
    B("max_secure_erase_sectors", 60, 4, BLK_F_SECURE_ERASE),
    B("max_secure_erase_seg", 64, 4, BLK_F_SECURE_ERASE),
    B("secure_erase_sector_alignment", 68, 4, BLK_F_SECURE_ERASE),
};

const struct vs_device_model vs_model_blk = {
    .type = "blk",
    .fields = blk_fields,
    .nfields = sizeof(blk_fields) / sizeof(blk_fields[0]),
    /* ZONED: out of scope for vdpa-user v1 (spec 6.3). */
    .hidden_features = VU_BIT(VIRTIO_BLK_F_ZONED) | VU_BIT(VIRTIO_F_ACCESS_PLATFORM) |
                       VU_BIT(VIRTIO_F_RING_RESET),
};
