/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (device ID 4, VIRTIO 1.2 5.4): one request queue whose
 * device-writable buffers are filled with random bytes from getrandom(2)
 * (the host kernel's CSPRNG), the used length set to what was written.
 * No feature bits (5.4.3), no config space (5.4.4).
 *
 * 5.4.6.1: the device MUST place one or more bytes into the buffer and MAY
 * use less than all of it; here a buffer is filled up to RNG_MAX_FILL bytes.
 * A chain without a writable byte cannot be answered: a driver bug, so the
 * device stops (DEVICE_NEEDS_RESET).
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "vdpa-backend/backend.h"

#ifndef VIRTIO_ID_RNG
#define VIRTIO_ID_RNG 4 /* VIRTIO 1.2 5 */
#endif
#define RNG_REQUESTQ 0
#define RNG_NQUEUES  1
#define BUDGET       64
#define RNG_CHUNK    4096u         /* bytes drawn at a time */
#define RNG_MAX_FILL (64u * 1024u) /* bytes per buffer at most */

/* Writes up to `want` random bytes into the chain's writable part; returns
 * the count, or -errno when getrandom gave nothing at all. */
static long fill(const struct vq_chain *c, uint64_t want)
{
    uint8_t buf[RNG_CHUNK];
    uint64_t done = 0;

    while (done < want) {
        size_t n = want - done < RNG_CHUNK ? (size_t)(want - done) : RNG_CHUNK;
        ssize_t got = getrandom(buf, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return done ? (long)done : -errno;
        vq_chain_copy_to(c, (size_t)done, buf, (size_t)got);
        done += (uint64_t)got;
    }
    memset(buf, 0, sizeof(buf)); /* no copy of what the guest got stays here */
    return (long)done;
}

static int rng_process(struct backend *b, unsigned index)
{
    struct vq_chain *c = b->chain;

    for (int n = 0; n < BUDGET; n++) {
        long len;
        int rc = device_pop(b, index, c);
        if (rc <= 0)
            return rc;
        if (c->in_len == 0)
            return -EPROTO;
        len = fill(c, c->in_len < RNG_MAX_FILL ? c->in_len : RNG_MAX_FILL);
        if (len < 0) {
            /* Never a buffer of zeros passed off as random: put it back and
             * try again on the next turn. */
            vs_warn("getrandom: %s", strerror((int)-len));
            vq_device_unpop(&b->rings[index].vq);
            return 0;
        }
        device_complete(b, index, c->head, (uint32_t)len);
        b->stats.rng_requests++;
        b->stats.rng_bytes += (uint64_t)len;
    }
    return 1;
}

static uint64_t rng_features(const struct backend *b)
{
    (void)b;
    return 0;
}

static unsigned rng_vqs_count(const struct backend *b)
{
    (void)b;
    return RNG_NQUEUES;
}

static bool rng_features_ok(const struct backend *b, uint64_t f)
{
    (void)b;
    (void)f;
    return true;
}

static bool rng_ring_in_use(const struct backend *b, unsigned i)
{
    (void)b;
    return i == RNG_REQUESTQ;
}

static void rng_read_config(const struct backend *b, uint8_t *config)
{
    (void)b;
    (void)config; /* no config space */
}

static int rng_extra_fd(const struct backend *b, bool *want)
{
    (void)b;
    *want = false;
    return -1;
}

static void rng_reset(struct backend *b)
{
    (void)b;
}

static int rng_init(struct backend *b)
{
    (void)b;
    return 0;
}

static void rng_fini(struct backend *b)
{
    (void)b;
}

static bool rng_rescan(struct backend *b)
{
    (void)b;
    return false;
}

const struct device_type rng_device_type = {
    .name = "rng",
    .device_id = VIRTIO_ID_RNG,
    .config_size = 0,
    .init = rng_init,
    .fini = rng_fini,
    .features = rng_features,
    .vqs_count = rng_vqs_count,
    .features_ok = rng_features_ok,
    .ring_in_use = rng_ring_in_use,
    .read_config = rng_read_config,
    .provision = NULL,
    .write_config = NULL,
    .process = rng_process,
    .extra_fd = rng_extra_fd,
    .on_extra = NULL,
    .reset = rng_reset,
    .rescan = rng_rescan,
};
