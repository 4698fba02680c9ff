/* SPDX-License-Identifier: MIT */
/*
 * virtio-i2c (VIRTIO 1.2, I2C adapter device, ID 34): no device
 * configuration is defined (oasis-tcs/virtio-spec
 * device-types/i2c/description.tex); VIRTIO_I2C_F_ZERO_LENGTH_REQUEST (0)
 * needs nothing of the shim.
 */
#include "devmodel.h"
#include "virtio.h"

const struct vs_device_model vs_model_i2c = {
    .type = "i2c",
    .hidden_features = VU_BIT(VIRTIO_F_ACCESS_PLATFORM) | VU_BIT(VIRTIO_F_RING_RESET),
};
