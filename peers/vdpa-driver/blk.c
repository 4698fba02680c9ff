/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk traffic of the reference driver (VIRTIO 1.2, 5.2).
 *
 * Ring 0 is requestq1. Every request is one chain: a 16-byte device-readable
 * header (type, ioprio, sector), the data (readable for OUT, writable for IN
 * and GET_ID), and a one-byte device-writable status. We write a 4 KiB
 * pattern at --pattern-sector, read it back, compare, flush, and ask for the
 * device ID string.
 *
 * The pattern is byte i = (i * 31 + 7 + sector) & 0xff, so a test can rebuild
 * it and find it in the disk image (tests/e2e/test_vdpa_passthrough.sh).
 */
#include <ctype.h>
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define REQ_RING    0u
#define PATTERN_LEN 4096u

static uint64_t blk_features(const struct options *o)
{
    (void)o;
    /* RO is accepted so that a read-only device is recognised (and the
     * write reported) rather than refused at negotiation. */
    return VU_BIT(VIRTIO_BLK_F_SIZE_MAX) | VU_BIT(VIRTIO_BLK_F_SEG_MAX) |
           VU_BIT(VIRTIO_BLK_F_GEOMETRY) | VU_BIT(VIRTIO_BLK_F_RO) | VU_BIT(VIRTIO_BLK_F_BLK_SIZE) |
           VU_BIT(VIRTIO_BLK_F_FLUSH) | VU_BIT(VIRTIO_BLK_F_TOPOLOGY);
}

static int blk_configure(struct driver *d)
{
    const uint8_t *c = d->config;

    if (d->config_size < VIRTIO_BLK_CFG_NUM_QUEUES) {
        vs_err("virtio-blk config space is %llu bytes, expected %u",
               (unsigned long long)d->config_size, VIRTIO_BLK_CFG_SIZE);
        return -1;
    }
    printf("vdpa-driver: config: capacity %llu sectors (%llu MiB)",
           (unsigned long long)cfg_le64(c + VIRTIO_BLK_CFG_CAPACITY),
           (unsigned long long)(cfg_le64(c + VIRTIO_BLK_CFG_CAPACITY) >> 11));
    /* Fields whose feature was not negotiated are ignored (VIRTIO 5.2.4). */
    if (vu_has_bit(d->features, VIRTIO_BLK_F_SEG_MAX))
        printf(", seg_max %u", cfg_le32(c + VIRTIO_BLK_CFG_SEG_MAX));
    if (vu_has_bit(d->features, VIRTIO_BLK_F_BLK_SIZE))
        printf(", blk_size %u", cfg_le32(c + VIRTIO_BLK_CFG_BLK_SIZE));
    if (vu_has_bit(d->features, VIRTIO_BLK_F_RO))
        printf(", read-only");
    printf("\n");
    return drv_use_ring(d, REQ_RING);
}

/* One request, waited for. Returns the status byte, or -1 when the device
 * did not answer properly. */
static int blk_request(struct driver *d, uint32_t type, uint64_t sector, uint8_t *data,
                       uint32_t len)
{
    struct virtio_blk_outhdr *h = dma_alloc(&d->mem, sizeof(*h), 16);
    uint8_t *status = dma_alloc(&d->mem, 1, 1);
    struct vq_buf b[3];
    unsigned n = 0;
    void *token;
    uint32_t used_len;
    int rc;

    if (!h || !status) {
        vs_err("out of guest memory (try a larger --mem-mb)");
        return -1;
    }
    h->type = htole32(type);
    h->ioprio = 0;
    h->sector = htole64(sector);
    *status = 0xff; /* not a valid status: shows whether the device wrote it */
    b[n++] = (struct vq_buf){ dma_gpa(&d->mem, h), sizeof(*h), false };
    if (len)
        b[n++] = (struct vq_buf){ dma_gpa(&d->mem, data), len, type != VIRTIO_BLK_T_OUT };
    b[n++] = (struct vq_buf){ dma_gpa(&d->mem, status), 1, true };
    if (vq_driver_add(&d->vq[REQ_RING], b, n, h)) {
        vs_err("cannot add a request to the ring");
        return -1;
    }
    vq_driver_kick(d->kick[REQ_RING]);
    rc = drv_wait_used(d, REQ_RING, &token, &used_len, DRV_IO_TIMEOUT_MS);
    if (rc == 0)
        vs_err("request type %u: no completion within %d s", type, DRV_IO_TIMEOUT_MS / 1000);
    if (rc != 1)
        return -1;
    if (token != h) {
        vs_err("request type %u: the device completed a different request", type);
        return -1;
    }
    /* used_len counts what the device wrote: data read plus the status byte. */
    if (used_len < 1 || used_len > (type == VIRTIO_BLK_T_OUT ? 1 : len + 1)) {
        vs_err("request type %u: used length %u is impossible", type, used_len);
        return -1;
    }
    return *status;
}

static const char *blk_status_name(int s)
{
    return s == VIRTIO_BLK_S_OK       ? "OK"
           : s == VIRTIO_BLK_S_IOERR  ? "IOERR"
           : s == VIRTIO_BLK_S_UNSUPP ? "UNSUPP"
                                      : "invalid";
}

static int expect_ok(const char *what, int s)
{
    if (s == VIRTIO_BLK_S_OK)
        return 0;
    if (s >= 0)
        vs_err("%s failed: status %d (%s)", what, s, blk_status_name(s));
    return -1;
}

static int blk_run(struct driver *d)
{
    const uint64_t sector = d->opt.pattern_sector;
    const uint64_t capacity = cfg_le64(d->config + VIRTIO_BLK_CFG_CAPACITY);
    uint8_t *wbuf = dma_alloc(&d->mem, PATTERN_LEN, 512);
    uint8_t *rbuf = dma_alloc(&d->mem, PATTERN_LEN, 512);
    uint8_t *id = dma_alloc(&d->mem, VIRTIO_BLK_ID_BYTES, 1);
    char id_str[VIRTIO_BLK_ID_BYTES + 1];

    if (!wbuf || !rbuf || !id) {
        vs_err("out of guest memory (try a larger --mem-mb)");
        return -1;
    }
    if (sector > capacity || capacity - sector < PATTERN_LEN / VIRTIO_BLK_SECTOR_SIZE) {
        vs_err("--pattern-sector %llu: 4 KiB do not fit a disk of %llu sectors",
               (unsigned long long)sector, (unsigned long long)capacity);
        return -1;
    }
    if (vu_has_bit(d->features, VIRTIO_BLK_F_RO)) {
        vs_err("the device is read-only: cannot write the pattern");
        return -1;
    }
    for (unsigned i = 0; i < PATTERN_LEN; i++)
        wbuf[i] = (uint8_t)(i * 31u + 7u + sector);
    memset(rbuf, 0, PATTERN_LEN);

    if (expect_ok("write (VIRTIO_BLK_T_OUT)",
                  blk_request(d, VIRTIO_BLK_T_OUT, sector, wbuf, PATTERN_LEN)) ||
        expect_ok("read (VIRTIO_BLK_T_IN)",
                  blk_request(d, VIRTIO_BLK_T_IN, sector, rbuf, PATTERN_LEN)))
        return -1;
    if (memcmp(wbuf, rbuf, PATTERN_LEN) != 0) {
        unsigned i = 0;

        while (wbuf[i] == rbuf[i])
            i++;
        vs_err("read-back differs from what was written, first at byte %u (0x%02x, "
               "expected 0x%02x)",
               i, rbuf[i], wbuf[i]);
        snprintf(d->summary, sizeof(d->summary),
                 "blk: wrote+read %u bytes at sector %llu: MISMATCH", PATTERN_LEN,
                 (unsigned long long)sector);
        return -1;
    }
    if (vu_has_bit(d->features, VIRTIO_BLK_F_FLUSH)) {
        if (expect_ok("flush (VIRTIO_BLK_T_FLUSH)", blk_request(d, VIRTIO_BLK_T_FLUSH, 0, NULL, 0)))
            return -1;
    } else {
        vs_info("VIRTIO_BLK_F_FLUSH not offered: the device writes through, no flush sent");
    }
    /* GET_ID is not gated by a feature; a device may answer UNSUPP. */
    {
        int s = blk_request(d, VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES);

        if (s < 0)
            return -1;
        memcpy(id_str, id, VIRTIO_BLK_ID_BYTES);
        id_str[VIRTIO_BLK_ID_BYTES] = '\0';
        for (char *p = id_str; *p; p++)
            if (!isprint((unsigned char)*p))
                *p = '?';
        if (s == VIRTIO_BLK_S_OK)
            printf("vdpa-driver: device ID string \"%s\"\n", id_str);
        else
            printf("vdpa-driver: GET_ID answered %s\n", blk_status_name(s));
    }
    snprintf(d->summary, sizeof(d->summary), "blk: wrote+read %u bytes at sector %llu: match",
             PATTERN_LEN, (unsigned long long)sector);
    return 0;
}

const struct drv_type drv_type_blk = {
    .name = "blk",
    .device_id = VIRTIO_ID_BLK,
    .features = blk_features,
    .configure = blk_configure,
    .run = blk_run,
};
