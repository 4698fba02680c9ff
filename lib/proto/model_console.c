/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (VIRTIO 1.2 5.3) over a legacy vhost-user back-end
 * (vhost-device-console, ...). struct virtio_console_config, 12 bytes:
 * cols @0 le16 and rows @2 le16 (VIRTIO_CONSOLE_F_SIZE, 0), max_nr_ports
 * @4 le32 (F_MULTIPORT, 1), emerg_wr @8 le32 (F_EMERG_WRITE, 2). Read from
 * oasis-tcs/virtio-spec device-types/console/description.tex at d3d06187
 * (the 1.2 text) and Linux include/uapi/linux/virtio_console.h (packed,
 * cols first). The spec's later text lists rows before cols; Linux drivers
 * read cols at 0, which is what is kept here.
 *
 * Read from the back-end's GET_CONFIG when it has F_CONFIG; otherwise cols=
 * and rows= give the size (and the shim offers F_SIZE: the size is config
 * only), ports= gives max_nr_ports (MULTIPORT only where the back-end offers
 * it: the control queues are its). emerg_wr is the back-end's alone: offered
 * only when its config space has it, and a driver's write goes to it, even
 * before FEATURES_OK (5.3.5: "can be written at any time").
 */
#include "devmodel.h"
#include "virtio.h"

#define CONSOLE_F_SIZE        0
#define CONSOLE_F_MULTIPORT   1
#define CONSOLE_F_EMERG_WRITE 2

static const struct vs_config_field console_fields[] = {
    { "cols", 0, 2, CONSOLE_F_SIZE, VS_SRC_KEY, VS_KEY_COLS, .from_backend = true,
      .shim_offers = true },
    { "rows", 2, 2, CONSOLE_F_SIZE, VS_SRC_KEY, VS_KEY_ROWS, .from_backend = true,
      .shim_offers = true },
    { "max_nr_ports", 4, 4, CONSOLE_F_MULTIPORT, VS_SRC_KEY, VS_KEY_PORTS, .from_backend = true },
    { "emerg_wr", 8, 4, CONSOLE_F_EMERG_WRITE, VS_SRC_ZERO, .from_backend = true,
      .write = VS_WRITE_BACKEND, .write_early = true },
};

const struct vs_device_model vs_model_console = {
    .type = "console",
    .fields = console_fields,
    .nfields = sizeof(console_fields) / sizeof(console_fields[0]),
    .hidden_features = VU_BIT(VIRTIO_F_ACCESS_PLATFORM) | VU_BIT(VIRTIO_F_RING_RESET),
};
