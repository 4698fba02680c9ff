/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (device ID 2) on a disk image file.
 *
 * A request is a 16-byte header (type, ioprio, sector; device-readable),
 * data (readable for OUT, writable for IN and GET_ID), and one status byte,
 * the last writable byte. Sectors are 512 bytes whatever blk_size says.
 * Requests are executed synchronously with pread/pwrite, so none is ever in
 * flight when a control request is handled.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd_util.h"
#include "vdpa-backend/backend.h"

#define BUDGET  64
#define HDR_LEN sizeof(struct virtio_blk_outhdr)

static uint64_t blk_features(const struct backend *b)
{
    uint64_t f = VU_BIT(VIRTIO_BLK_F_SEG_MAX) | VU_BIT(VIRTIO_BLK_F_BLK_SIZE) |
                 VU_BIT(VIRTIO_BLK_F_FLUSH);

    if (b->opt.read_only)
        f |= VU_BIT(VIRTIO_BLK_F_RO);
    if (b->opt.queue_pairs > 1)
        f |= VU_BIT(VIRTIO_BLK_F_MQ);
    return f;
}

static unsigned blk_vqs_count(const struct backend *b)
{
    return b->opt.queue_pairs; /* one queue unless MQ */
}

static bool blk_features_ok(const struct backend *b, uint64_t f)
{
    (void)b;
    (void)f;
    return true; /* virtio-blk features have no dependencies among ours */
}

static bool blk_ring_in_use(const struct backend *b, unsigned i)
{
    return vu_has_bit(b->features, VIRTIO_BLK_F_MQ) ? i < b->opt.queue_pairs : i == 0;
}

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void blk_read_config(const struct backend *b, uint8_t *c)
{
    uint32_t seg_max = b->opt.queue_size > 2 ? b->opt.queue_size - 2 : 1;

    put_le(c + VIRTIO_BLK_CFG_CAPACITY, b->dev.blk.capacity, 8);
    /* A chain holds at most queue-size descriptors: header and status take
     * two of them. */
    put_le(c + VIRTIO_BLK_CFG_SEG_MAX, seg_max, 4);
    put_le(c + VIRTIO_BLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR_SIZE, 4);
    if (vu_has_bit(blk_features(b), VIRTIO_BLK_F_MQ))
        put_le(c + VIRTIO_BLK_CFG_NUM_QUEUES, b->opt.queue_pairs, 2);
}

/* Reads or writes `len` bytes at file offset `off` through the chain's
 * segments, starting `skip` bytes into its readable (write) or writable
 * (read) part. One segment at a time, retrying short transfers. */
static int transfer(struct backend *b, const struct vq_chain *c, bool write, size_t skip,
                    uint64_t len, uint64_t off)
{
    unsigned first = write ? 0 : c->n_out, end = write ? c->n_out : c->n_out + c->n_in;

    for (unsigned i = first; i < end && len > 0; i++) {
        uint8_t *p = c->iov[i].iov_base;
        size_t seg = c->iov[i].iov_len;
        if (skip >= seg) {
            skip -= seg;
            continue;
        }
        p += skip;
        seg -= skip;
        skip = 0;
        if (seg > len)
            seg = (size_t)len;
        while (seg > 0) {
            ssize_t n = write ? pwrite(b->dev.blk.fd, p, seg, (off_t)off)
                              : pread(b->dev.blk.fd, p, seg, (off_t)off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return -EIO; /* error, or the file shrank under us */
            p += n;
            seg -= (size_t)n;
            len -= (uint64_t)n;
            off += (uint64_t)n;
        }
    }
    return len ? -EIO : 0;
}

/* Whether [sector, sector + bytes/512) lies on the disk, without overflow. */
static bool in_range(const struct backend *b, uint64_t sector, uint64_t bytes)
{
    uint64_t n = bytes / VIRTIO_BLK_SECTOR_SIZE, cap = b->dev.blk.capacity;

    return bytes % VIRTIO_BLK_SECTOR_SIZE == 0 && sector <= cap && n <= cap - sector;
}

/* Executes one request; returns the status byte and the data bytes written
 * into the chain's writable part (*written). */
static uint8_t execute(struct backend *b, const struct vq_chain *c,
                       const struct virtio_blk_outhdr *h, uint64_t *written)
{
    uint64_t in_data = c->in_len - 1, out_data = c->out_len - HDR_LEN;
    uint64_t sector = le64toh(h->sector);

    *written = 0;
    switch (le32toh(h->type)) {
    case VIRTIO_BLK_T_IN:
        if (!in_range(b, sector, in_data) ||
            transfer(b, c, false, 0, in_data, sector * VIRTIO_BLK_SECTOR_SIZE))
            return VIRTIO_BLK_S_IOERR;
        *written = in_data;
        b->stats.blk_reads++;
        b->stats.blk_read_bytes += in_data;
        return VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_OUT:
        if (b->opt.read_only || !in_range(b, sector, out_data) ||
            transfer(b, c, true, HDR_LEN, out_data, sector * VIRTIO_BLK_SECTOR_SIZE))
            return VIRTIO_BLK_S_IOERR;
        /* Without FLUSH negotiated the driver assumes write-through. */
        if (!vu_has_bit(b->features, VIRTIO_BLK_F_FLUSH) && fdatasync(b->dev.blk.fd) < 0)
            return VIRTIO_BLK_S_IOERR;
        b->stats.blk_writes++;
        b->stats.blk_written_bytes += out_data;
        return VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_FLUSH:
        b->stats.blk_flushes++;
        return fdatasync(b->dev.blk.fd) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_GET_ID: {
        /* Up to 20 bytes, not NUL-terminated when it fills them all. */
        uint64_t n = in_data < VIRTIO_BLK_ID_BYTES ? in_data : VIRTIO_BLK_ID_BYTES;
        vq_chain_copy_to(c, 0, b->dev.blk.id, (size_t)n);
        *written = n;
        b->stats.blk_get_ids++;
        return VIRTIO_BLK_S_OK;
    }
    default:
        b->stats.blk_unsupported++;
        return VIRTIO_BLK_S_UNSUPP;
    }
}

static int blk_process(struct backend *b, unsigned index)
{
    struct vq_chain *c = b->chain;

    for (int n = 0; n < BUDGET; n++) {
        struct virtio_blk_outhdr h;
        uint64_t written;
        uint8_t status;
        int rc = device_pop(b, index, c);
        if (rc <= 0)
            return rc;
        /* Without a header or a status byte the request cannot even be
         * answered: a driver bug, so the device stops (DEVICE_NEEDS_RESET). */
        if (c->out_len < HDR_LEN || c->in_len < 1)
            return -EPROTO;
        vq_chain_copy_from(c, 0, &h, HDR_LEN);
        status = execute(b, c, &h, &written);
        if (status == VIRTIO_BLK_S_IOERR)
            b->stats.blk_errors++;
        vq_chain_copy_to(c, (size_t)(c->in_len - 1), &status, 1);
        device_complete(b, index, c->head, (uint32_t)(written + 1));
    }
    return 1;
}

static void blk_reset(struct backend *b)
{
    (void)b; /* no driver-writable config, no state set through the queue */
}

static uint64_t disk_sectors(int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return 0;
    return (uint64_t)st.st_size / VIRTIO_BLK_SECTOR_SIZE;
}

static int blk_init(struct backend *b)
{
    struct blk_state *s = &b->dev.blk;
    char *copy;

    s->fd = open(b->opt.disk, (b->opt.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (s->fd < 0)
        return -errno;
    s->capacity = disk_sectors(s->fd);
    /* GET_ID: the image's file name, truncated to the 20 bytes VIRTIO has. */
    memset(s->id, 0, sizeof(s->id));
    copy = strdup(b->opt.disk);
    if (!copy)
        return -ENOMEM;
    const char *name = basename(copy);
    memcpy(s->id, name, strlen(name) < sizeof(s->id) ? strlen(name) : sizeof(s->id));
    free(copy);
    return 0;
}

static void blk_fini(struct backend *b)
{
    fd_close(&b->dev.blk.fd);
}

static bool blk_rescan(struct backend *b)
{
    /* The image was resized: a device-initiated config change (capacity). */
    uint64_t cap = disk_sectors(b->dev.blk.fd);

    if (cap == b->dev.blk.capacity)
        return false;
    vs_info("disk resized: %llu -> %llu sectors", (unsigned long long)b->dev.blk.capacity,
            (unsigned long long)cap);
    b->dev.blk.capacity = cap;
    return true;
}

static int blk_extra_fd(const struct backend *b, bool *want)
{
    (void)b;
    *want = false;
    return -1;
}

const struct device_type blk_device_type = {
    .name = "blk",
    .device_id = VIRTIO_ID_BLK,
    .config_size = VIRTIO_BLK_CFG_SIZE,
    .init = blk_init,
    .fini = blk_fini,
    .features = blk_features,
    .vqs_count = blk_vqs_count,
    .features_ok = blk_features_ok,
    .ring_in_use = blk_ring_in_use,
    .read_config = blk_read_config,
    .provision = NULL,
    .process = blk_process,
    .extra_fd = blk_extra_fd,
    .on_extra = NULL,
    .reset = blk_reset,
    .rescan = blk_rescan,
};
