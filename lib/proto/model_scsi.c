/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi (VIRTIO 1.2 5.6) over a legacy vhost-user back-end
 * (vhost-device-scsi, SPDK, ...). struct virtio_scsi_config, 36 bytes, all
 * fields always present: num_queues @0, seg_max @4, max_sectors @8,
 * cmd_per_lun @12, event_info_size @16, sense_size @20, cdb_size @24 (le32),
 * max_channel @28, max_target @30 (le16), max_lun @32 (le32)
 * (oasis-tcs/virtio-spec device-types/scsi/description.tex; Linux
 * include/uapi/linux/virtio_scsi.h, packed).
 *
 * QEMU's vhost-user-scsi keeps this config space itself, so the shim does
 * too where the back-end has none: num_queues from the back-end's queues
 * (all but controlq and eventq), max-target= and max-lun=, and QEMU's
 * values for the rest. sense_size and cdb_size are the only fields a
 * driver writes (Linux writes 96 and 32 at probe); a vhost back-end cannot
 * change them (QEMU's vhost-scsi-common refuses another value, and
 * vhost-device-scsi's set_config panics), so a write of the value they
 * read is accepted and never sent on, any other refused.
 */
#include "devmodel.h"
#include "virtio.h"

#define SCSI_FIXED_QUEUES    2u   /* controlq, eventq */
#define SCSI_SEG_MAX         126u /* QEMU and vhost-device-scsi: a 128-entry queue less 2 */
#define SCSI_MAX_SECTORS     0xffffu
#define SCSI_CMD_PER_LUN     128u
#define SCSI_EVENT_INFO_SIZE 16u /* struct virtio_scsi_event */
#define SCSI_SENSE_SIZE      96u /* "MUST be 96" on reset */
#define SCSI_CDB_SIZE        32u /* "MUST be 32" on reset */

/* clang-format off: braced initializers, not blocks */
#define C(name, off, size, v)                                                                      \
    {                                                                                              \
        name, off, size, -1, VS_SRC_CONST, v, .from_backend = true                                 \
    }
/* clang-format on */

static const struct vs_config_field scsi_fields[] = {
    { "num_queues", 0, 4, -1, VS_SRC_DATA_QUEUES, SCSI_FIXED_QUEUES },
    C("seg_max", 4, 4, SCSI_SEG_MAX),
    C("max_sectors", 8, 4, SCSI_MAX_SECTORS),
    C("cmd_per_lun", 12, 4, SCSI_CMD_PER_LUN),
    C("event_info_size", 16, 4, SCSI_EVENT_INFO_SIZE),
    { "sense_size", 20, 4, -1, VS_SRC_CONST, SCSI_SENSE_SIZE, .from_backend = true,
      .write = VS_WRITE_SAME },
    { "cdb_size", 24, 4, -1, VS_SRC_CONST, SCSI_CDB_SIZE, .from_backend = true,
      .write = VS_WRITE_SAME },
    C("max_channel", 28, 2, 0), /* "SHOULD be zero" */
    { "max_target", 30, 2, -1, VS_SRC_KEY, VS_KEY_MAX_TARGET, .from_backend = true },
    { "max_lun", 32, 4, -1, VS_SRC_KEY, VS_KEY_MAX_LUN, .from_backend = true },
};

const struct vs_device_model vs_model_scsi = {
    .type = "scsi",
    .fields = scsi_fields,
    .nfields = sizeof(scsi_fields) / sizeof(scsi_fields[0]),
    .hidden_features = VU_BIT(VIRTIO_F_ACCESS_PLATFORM) | VU_BIT(VIRTIO_F_RING_RESET),
};
