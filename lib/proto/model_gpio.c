/* SPDX-License-Identifier: MIT */
/*
 * virtio-gpio (VIRTIO 1.2, GPIO device, ID 41): struct virtio_gpio_config
 * { le16 ngpio; u8 padding[2]; le32 gpio_names_size; }, 8 bytes, always
 * present (oasis-tcs/virtio-spec device-types/gpio/description.tex; Linux
 * include/uapi/linux/virtio_gpio.h). From the back-end's GET_CONFIG
 * (vhost-device-gpio has F_CONFIG), else ngpio= and gpio_names_size 0: "The
 * device sets this to 0 if it doesn't support names", so a driver does not
 * ask the back-end for names the shim cannot vouch for.
 */
#include "devmodel.h"
#include "virtio.h"

static const struct vs_config_field gpio_fields[] = {
    { "ngpio", 0, 2, -1, VS_SRC_KEY, VS_KEY_NGPIO, .from_backend = true },
    { "padding", 2, 2, -1, VS_SRC_CONST, 0 }, /* zero, whatever the back-end has */
    { "gpio_names_size", 4, 4, -1, VS_SRC_CONST, 0, .from_backend = true },
};

const struct vs_device_model vs_model_gpio = {
    .type = "gpio",
    .fields = gpio_fields,
    .nfields = sizeof(gpio_fields) / sizeof(gpio_fields[0]),
    .hidden_features = VU_BIT(VIRTIO_F_ACCESS_PLATFORM) | VU_BIT(VIRTIO_F_RING_RESET),
};
