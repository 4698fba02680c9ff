/* SPDX-License-Identifier: MIT */
/*
 * virtio-input (VIRTIO 1.2 5.8): struct virtio_input_config { u8 select;
 * u8 subsel; u8 size; u8 reserved[5]; union { char string[128]; u8
 * bitmap[128]; struct virtio_input_absinfo abs; struct virtio_input_devids
 * ids; } u; }, 136 bytes (oasis-tcs/virtio-spec
 * device-types/input/description.tex; Linux
 * include/uapi/linux/virtio_input.h). The driver writes select and subsel,
 * then reads size and u: names, IDs, event bitmaps and axes that only the
 * back-end knows. So the config space must come from the back-end
 * (F_CONFIG; a back-end without it is refused at set-up), select/subsel
 * writes are passed on and every read is the back-end's, live. Writes carry
 * the whole structure at offset 0, as QEMU's vhost-user-input sends them.
 * select and subsel are writable before FEATURES_OK (write_early): the
 * guest's driver writes them at probe, and QEMU's vhost-user-input passes
 * each write on at once (vhost_input_set_config) while its vhost device gets
 * SET_FEATURES only when the guest sets DRIVER_OK, so the back-end sees them
 * in status ACKNOWLEDGE|DRIVER.
 */
#include "devmodel.h"
#include "virtio.h"

static const struct vs_config_field input_fields[] = {
    { "select", 0, 1, -1, VS_SRC_ZERO, .from_backend = true, .write = VS_WRITE_BACKEND,
      .write_early = true },
    { "subsel", 1, 1, -1, VS_SRC_ZERO, .from_backend = true, .write = VS_WRITE_BACKEND,
      .write_early = true },
    { "size", 2, 1, -1, VS_SRC_ZERO, .from_backend = true },
    { "reserved", 3, 5, -1, VS_SRC_CONST, 0 }, /* zero, whatever the back-end has */
    { "u", 8, 128, -1, VS_SRC_ZERO, .from_backend = true },
};

const struct vs_device_model vs_model_input = {
    .type = "input",
    .fields = input_fields,
    .nfields = sizeof(input_fields) / sizeof(input_fields[0]),
    .hidden_features = VU_BIT(VIRTIO_F_ACCESS_PLATFORM) | VU_BIT(VIRTIO_F_RING_RESET),
    .backend_write_whole = true,
};
