/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (entropy device) of the reference driver (VIRTIO 1.2, 5.4).
 *
 * No config space, no device feature; ring 0 is the request queue. Each
 * request is one device-writable buffer that the device fills with random
 * bytes, possibly fewer than asked (the used length says how many: rust-vmm's
 * vhost-device-rng stops at its per-period quota). We read --count bytes
 * and check that they are not all equal (what a device that writes nothing,
 * or zeros, would give).
 */
#include <stdio.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define RNG_DEVICE_ID 4u
#define REQ_RING      0u
#define CHUNK         4096u   /* bytes asked for in one request */
#define MAX_REQUESTS  100000u /* a device returning 0 bytes forever is broken */

static uint64_t rng_features(const struct options *o)
{
    (void)o;
    return 0;
}

static int rng_configure(struct driver *d)
{
    printf("vdpa-driver: config: none (config size %llu)\n", (unsigned long long)d->config_size);
    return drv_use_ring(d, REQ_RING);
}

static int rng_run(struct driver *d)
{
    const size_t want = d->opt.count;
    uint8_t *buf = drv_alloc(d, CHUNK, 1);
    size_t got = 0, requests = 0;
    unsigned first = 0;
    bool all_equal = true;

    if (!buf)
        return -1;
    while (got < want) {
        uint32_t ask = want - got < CHUNK ? (uint32_t)(want - got) : CHUNK, used;
        struct vq_buf b = { dma_gpa(&d->mem, buf), ask, true };

        if (++requests > MAX_REQUESTS) {
            vs_err("rng: %zu requests gave %zu of %zu bytes", requests - 1, got, want);
            return -1;
        }
        memset(buf, 0, ask);
        if (drv_exchange(d, REQ_RING, &b, 1, &used, "rng request"))
            return -1;
        if (used > ask) {
            vs_err("rng: the device says it wrote %u bytes into a %u-byte buffer", used, ask);
            return -1;
        }
        if (got == 0 && used)
            first = buf[0];
        for (uint32_t i = 0; i < used; i++)
            all_equal = all_equal && buf[i] == first;
        got += used;
    }
    if (want > 1 && all_equal) {
        vs_err("rng: all %zu bytes are 0x%02x", want, first);
        snprintf(d->summary, sizeof(d->summary), "rng: read %zu bytes: all equal", got);
        return -1;
    }
    snprintf(d->summary, sizeof(d->summary), "rng: read %zu bytes in %zu requests, not all equal",
             got, requests);
    return 0;
}

const struct drv_type drv_type_rng = {
    .name = "rng",
    .device_id = RNG_DEVICE_ID,
    .features = rng_features,
    .configure = rng_configure,
    .run = rng_run,
};
