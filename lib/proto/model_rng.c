/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (VIRTIO 1.2 5.4, entropy device): no feature bits and no
 * device configuration (oasis-tcs/virtio-spec
 * device-types/entropy/description.tex), so down-conversion needs nothing
 * from the back-end but its queue.
 */
#include "devmodel.h"
#include "virtio.h"

const struct vs_device_model vs_model_rng = {
    .type = "rng",
    .hidden_features = VU_BIT(VIRTIO_F_ACCESS_PLATFORM) | VU_BIT(VIRTIO_F_RING_RESET),
};
