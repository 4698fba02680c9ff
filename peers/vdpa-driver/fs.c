/* SPDX-License-Identifier: MIT */
/*
 * virtio-fs of the reference driver (VIRTIO 1.2, 5.11).
 *
 * Config space (40 bytes): the mount tag (36 bytes, UTF-8, NUL-padded) and
 * num_request_queues (le32). Ring 0 is hiprio, ring 1 the first request
 * queue; only these two are enabled. Requests are FUSE messages: a
 * device-readable fuse_in_header and arguments, then a device-writable
 * fuse_out_header and room for the answer. We send one FUSE_INIT, the
 * first request of every FUSE session, and check the answer.
 */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define HIPRIO_RING               0u
#define REQ_RING                  1u /* requestq 1 */
#define FS_CFG_TAG                0
#define FS_CFG_NUM_REQUEST_QUEUES 36
#define FS_CFG_SIZE               40

/* FUSE (include/uapi/linux/fuse.h), little-endian on the wire here. */
#define FUSE_INIT                 26
#define FUSE_KERNEL_VERSION       7
#define FUSE_KERNEL_MINOR_VERSION 31
#define FUSE_UNIQUE               2    /* odd values are reserved for interrupts */
#define INIT_OUT_ROOM             256u /* fuse_init_out is 64 bytes today */

struct fuse_in_header {
    uint32_t len;
    uint32_t opcode;
    uint64_t unique;
    uint64_t nodeid;
    uint32_t uid, gid, pid;
    uint16_t total_extlen;
    uint16_t padding;
};

struct fuse_init_in {
    uint32_t major, minor, max_readahead, flags, flags2;
    uint32_t unused[11];
};

struct fuse_out_header {
    uint32_t len;
    int32_t error; /* 0 or a negative errno */
    uint64_t unique;
};

/* fuse_init_out: the fields we read, by offset. */
#define INIT_OUT_MAJOR     0
#define INIT_OUT_MINOR     4
#define INIT_OUT_MAX_WRITE 20
#define INIT_OUT_MIN_LEN   24 /* up to and including max_write */

_Static_assert(sizeof(struct fuse_in_header) == 40, "fuse_in_header layout");
_Static_assert(sizeof(struct fuse_init_in) == 64, "fuse_init_in layout");
_Static_assert(sizeof(struct fuse_out_header) == 16, "fuse_out_header layout");

static uint64_t fs_features(const struct options *o)
{
    /* No device feature (not even NOTIFICATION): only VERSION_1. */
    (void)o;
    return 0;
}

static int fs_configure(struct driver *d)
{
    const uint8_t *c = d->config;
    char tag[FS_TAG_LEN + 1], shown[FS_TAG_LEN + 1];

    if (d->config_size < FS_CFG_SIZE) {
        vs_err("virtio-fs config space is %llu bytes, expected %u",
               (unsigned long long)d->config_size, FS_CFG_SIZE);
        return -1;
    }
    memcpy(tag, c + FS_CFG_TAG, FS_TAG_LEN);
    tag[FS_TAG_LEN] = '\0';
    memcpy(shown, tag, sizeof(shown));
    for (char *p = shown; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    printf("vdpa-driver: config: tag \"%s\", num_request_queues %u\n", shown,
           cfg_le32(c + FS_CFG_NUM_REQUEST_QUEUES));
    if (d->opt.expect_tag && strcmp(tag, d->opt.expect_tag) != 0) {
        vs_err("the device's tag is \"%s\", expected \"%s\"", shown, d->opt.expect_tag);
        return -1;
    }
    if (cfg_le32(c + FS_CFG_NUM_REQUEST_QUEUES) == 0) {
        vs_err("the device has no request queue (num_request_queues 0)");
        return -1;
    }
    return drv_use_ring(d, HIPRIO_RING) || drv_use_ring(d, REQ_RING) ? -1 : 0;
}

static int fs_run(struct driver *d)
{
    struct fuse_in_header *in = dma_alloc(&d->mem, sizeof(*in) + sizeof(struct fuse_init_in), 8);
    struct fuse_init_in *init = (struct fuse_init_in *)(in + 1);
    struct fuse_out_header *out = dma_alloc(&d->mem, sizeof(*out) + INIT_OUT_ROOM, 8);
    const uint8_t *reply = (const uint8_t *)(out + 1);
    struct vq_buf b[2];
    void *token;
    uint32_t used_len, out_len, major, minor;
    int rc;

    if (!in || !out) {
        vs_err("out of guest memory (try a larger --mem-mb)");
        return -1;
    }
    in->len = htole32(sizeof(*in) + sizeof(*init));
    in->opcode = htole32(FUSE_INIT);
    in->unique = htole64(FUSE_UNIQUE);
    init->major = htole32(FUSE_KERNEL_VERSION);
    init->minor = htole32(FUSE_KERNEL_MINOR_VERSION);
    /* nodeid, uid, gid, pid, max_readahead, flags, flags2: 0 (dma_alloc zeroes). */
    b[0] = (struct vq_buf){ dma_gpa(&d->mem, in), sizeof(*in) + sizeof(*init), false };
    b[1] = (struct vq_buf){ dma_gpa(&d->mem, out), sizeof(*out) + INIT_OUT_ROOM, true };
    if (vq_driver_add(&d->vq[REQ_RING], b, 2, in)) {
        vs_err("cannot add FUSE_INIT to the request queue");
        return -1;
    }
    vq_driver_kick(d->kick[REQ_RING]);
    rc = drv_wait_used(d, REQ_RING, &token, &used_len, DRV_IO_TIMEOUT_MS);
    if (rc == 0)
        vs_err("FUSE_INIT: no answer within %d s", DRV_IO_TIMEOUT_MS / 1000);
    if (rc != 1)
        return -1;
    if (token != in) {
        vs_err("FUSE_INIT: the device completed a different request");
        return -1;
    }

    /* The reply: header, then fuse_init_out; out.len counts both. */
    out_len = le32toh(out->len);
    if (used_len < sizeof(*out) || used_len > sizeof(*out) + INIT_OUT_ROOM) {
        vs_err("FUSE_INIT: used length %u is impossible", used_len);
        return -1;
    }
    if (le64toh(out->unique) != FUSE_UNIQUE) {
        vs_err("FUSE_INIT: the reply is for request %llu, not %u",
               (unsigned long long)le64toh(out->unique), FUSE_UNIQUE);
        return -1;
    }
    if (out->error != 0) {
        int32_t error = (int32_t)le32toh((uint32_t)out->error);

        vs_err("FUSE_INIT failed: error %d (%s)", error,
               error < 0 && error > -4096 ? strerror(-error) : "not a negative errno");
        return -1;
    }
    if (out_len < sizeof(*out) + INIT_OUT_MIN_LEN || out_len > used_len) {
        vs_err("FUSE_INIT: reply length %u (used length %u) cannot hold fuse_init_out", out_len,
               used_len);
        return -1;
    }
    major = cfg_le32(reply + INIT_OUT_MAJOR);
    minor = cfg_le32(reply + INIT_OUT_MINOR);
    if (major != FUSE_KERNEL_VERSION) {
        vs_err("FUSE_INIT: the device speaks FUSE %u.%u, not %u.x", major, minor,
               FUSE_KERNEL_VERSION);
        return -1;
    }
    printf("vdpa-driver: fs: FUSE_INIT ok: protocol %u.%u, max_write %u\n", major, minor,
           cfg_le32(reply + INIT_OUT_MAX_WRITE));
    snprintf(d->summary, sizeof(d->summary), "fs: FUSE_INIT answered, protocol %u.%u", major,
             minor);
    return 0;
}

const struct drv_type drv_type_fs = {
    .name = "fs",
    .device_id = VIRTIO_ID_FS,
    .features = fs_features,
    .configure = fs_configure,
    .run = fs_run,
};
