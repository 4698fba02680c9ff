/* SPDX-License-Identifier: MIT */
/*
 * The VIRTIO features a session shows the front-end, less those whose
 * required features are missing (the device model's dependency rules,
 * VIRTIO 1.2 5.1.3.1). Session layer: used by the relay for a forwarded
 * GET_FEATURES and by down-conversion for the offer it makes.
 */
#include <inttypes.h>
#include <stdio.h>

#include "devmodel.h"
#include "log.h"
#include "session.h"

/* Bit numbers of a mask, "13,14", for a log line. */
static void bit_list(uint64_t mask, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (unsigned b = 0; b < 64 && used < len; b++) {
        if (!vu_has_bit(mask, b))
            continue;
        int n = snprintf(buf + used, len - used, "%s%u", used ? "," : "", b);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

uint64_t vs_features_sanitize(struct vs_relay *r, uint64_t features)
{
    const struct vs_device_model *m = vs_model_find(r->cfg.type->name);
    /* A vhost-user view (everything but a vdpa-user front-end's) is the
     * back-end's part of a device whose VMM adds its own (the control
     * queue, MAC, link status): those count as offered, so that MQ without
     * CTRL_VQ, say, stays as every legacy back-end offers it. */
    bool whole = vu_has_bit(r->fe_limits.protocol_features, VU_PF_VDPA);
    uint64_t vmm = m && !whole ? m->shim_features : 0;
    uint64_t kept = m ? vs_model_sanitize(m, features | vmm) & features : features;
    char bits[96];

    if (kept == features)
        return features;
    r->features_dropped = features & ~kept;
    if (!r->features_dropped_logged) {
        r->features_dropped_logged = true;
        bit_list(r->features_dropped, bits, sizeof(bits));
        vs_info("%s: the back-end offers feature bit(s) %s without a feature they require "
                "(VIRTIO 1.2 5.1.3.1); not offered to the front-end (features 0x%" PRIx64
                ", back-end 0x%" PRIx64 ")",
                r->cfg.id, bits, kept, features);
    }
    return kept;
}

const char *vs_features_dropped_note(const struct vs_relay *r, char *buf, size_t len)
{
    if (!r->features_dropped)
        return NULL;
    snprintf(buf, len,
             "dropped 0x%" PRIx64 ": required features not offered (VIRTIO 1.2 "
             "5.1.3.1)",
             r->features_dropped);
    return buf;
}
