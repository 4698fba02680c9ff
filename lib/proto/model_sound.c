/* SPDX-License-Identifier: MIT */
/*
 * virtio-sound (VIRTIO 1.2 5.14): struct virtio_snd_config { le32 jacks;
 * le32 streams; le32 chmaps; }, 12 bytes, always present, no feature bits
 * (oasis-tcs/virtio-spec device-types/sound/description.tex; Linux
 * include/uapi/linux/virtio_snd.h). Later revisions add le32 controls @12
 * with VIRTIO_SND_F_CTLS (0); the 12-byte space has no room for it, so the
 * bit is hidden. From the back-end's GET_CONFIG (vhost-device-sound has
 * F_CONFIG), else streams= (required) and jacks=, chmaps= (default 0: the
 * driver then asks for none).
 */
#include "devmodel.h"
#include "virtio.h"

#define SND_F_CTLS 0

static const struct vs_config_field sound_fields[] = {
    { "jacks", 0, 4, -1, VS_SRC_KEY, VS_KEY_JACKS, .from_backend = true },
    { "streams", 4, 4, -1, VS_SRC_KEY, VS_KEY_STREAMS, .from_backend = true },
    { "chmaps", 8, 4, -1, VS_SRC_KEY, VS_KEY_CHMAPS, .from_backend = true },
};

const struct vs_device_model vs_model_sound = {
    .type = "sound",
    .fields = sound_fields,
    .nfields = sizeof(sound_fields) / sizeof(sound_fields[0]),
    .hidden_features = VU_BIT(SND_F_CTLS) | VU_BIT(VIRTIO_F_ACCESS_PLATFORM) |
                       VU_BIT(VIRTIO_F_RING_RESET),
};
