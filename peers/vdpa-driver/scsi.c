/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi of the reference driver (VIRTIO 1.2, 5.6).
 *
 * Rings: 0 controlq, 1 eventq, 2.. the request queues; only requestq 0
 * (ring 2) is used. Config space (36 bytes): num_queues, seg_max,
 * max_sectors, cmd_per_lun, event_info_size, sense_size, cdb_size (le32
 * each), max_channel, max_target (le16), max_lun (le32). A command is one
 * chain: the device-readable virtio_scsi_req_cmd (lun[8], id, task_attr,
 * prio, crn, cdb[cdb_size]), the device-writable virtio_scsi_resp_cmd
 * (sense_len, resid, status_qualifier, status, response,
 * sense[sense_size]) and the data-in buffer.
 *
 * On target 0, LUN 0 (single-level flat addressing: lun[0] = 1, lun[1] =
 * target, lun[2..3] = 0x4000 | LUN): TEST UNIT READY, INQUIRY (standard
 * data: peripheral device type, vendor, product), READ CAPACITY(10), and
 * READ(10) of 4 KiB at --pattern-sector, which must hold the pattern
 * blk.c writes (byte i = (i * 31 + 7 + sector) & 0xff): the test puts it in
 * the image the back-end serves.
 */
#include <stdio.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define SCSI_DEVICE_ID     8u
#define REQ_RING           2u /* requestq 0 */
#define CFG_SENSE_SIZE     20
#define CFG_CDB_SIZE       24
#define CFG_MAX_TARGET     30
#define CFG_MAX_LUN        32
#define CFG_SIZE           36
#define REQ_HDR            19u /* lun, id, task_attr, prio, crn */
#define RESP_HDR           12u /* sense_len, resid, status_qualifier, status, response */
#define SIZE_MAX_ACCEPTED  256u
#define S_OK               0 /* VIRTIO_SCSI_S_OK */
#define GOOD               0 /* SCSI status */
#define OP_TEST_UNIT_READY 0x00
#define OP_INQUIRY         0x12
#define OP_READ_CAPACITY   0x25
#define OP_READ10          0x28
#define INQUIRY_LEN        36u
#define CAPACITY_LEN       8u
#define READ_LEN           4096u
#define UNWRITTEN          0xa5u
_Static_assert(READ_LEN / VIRTIO_BLK_SECTOR_SIZE <= 0xff, "READ(10) transfer length in one byte");

static uint64_t scsi_features(const struct options *o)
{
    (void)o;
    return 0; /* no HOTPLUG, CHANGE or T10_PI */
}

static int scsi_configure(struct driver *d)
{
    const uint8_t *c = d->config;
    uint32_t sense = cfg_le32(c + CFG_SENSE_SIZE), cdb = cfg_le32(c + CFG_CDB_SIZE);

    if (d->config_size < CFG_SIZE) {
        vs_err("virtio-scsi config space is %llu bytes, expected %u",
               (unsigned long long)d->config_size, CFG_SIZE);
        return -1;
    }
    printf("vdpa-driver: config: sense_size %u, cdb_size %u, max_target %u, max_lun %u\n", sense,
           cdb, cfg_le16(c + CFG_MAX_TARGET), cfg_le32(c + CFG_MAX_LUN));
    if (cdb < 10 || cdb > SIZE_MAX_ACCEPTED || sense > SIZE_MAX_ACCEPTED) {
        vs_err("virtio-scsi: cdb_size %u or sense_size %u is out of range", cdb, sense);
        return -1;
    }
    return drv_use_ring(d, REQ_RING);
}

/* One command on target 0 LUN 0 with `len` bytes of data in; returns the
 * SCSI status (GOOD is 0), or -1 when the transport failed. */
static int scsi_command(struct driver *d, const uint8_t *cdb, unsigned cdb_len, uint8_t *data,
                        uint32_t len)
{
    uint32_t cdb_size = cfg_le32(d->config + CFG_CDB_SIZE);
    uint32_t sense_size = cfg_le32(d->config + CFG_SENSE_SIZE), used;
    uint8_t *req = drv_alloc(d, REQ_HDR + cdb_size, 8);
    uint8_t *resp = drv_alloc(d, RESP_HDR + sense_size, 8);
    struct vq_buf b[3];
    char what[32];

    if (!req || !resp)
        return -1;
    req[0] = 1;    /* single-level LUN structure */
    req[1] = 0;    /* target 0 */
    req[2] = 0x40; /* flat space addressing, LUN 0 */
    memcpy(req + REQ_HDR, cdb, cdb_len);
    memset(resp, 0xff, RESP_HDR);
    if (len)
        memset(data, UNWRITTEN, len);
    b[0] = (struct vq_buf){ dma_gpa(&d->mem, req), REQ_HDR + cdb_size, false };
    b[1] = (struct vq_buf){ dma_gpa(&d->mem, resp), RESP_HDR + sense_size, true };
    b[2] = (struct vq_buf){ len ? dma_gpa(&d->mem, data) : 0, len, true };
    snprintf(what, sizeof(what), "SCSI command 0x%02x", cdb[0]);
    if (drv_exchange(d, REQ_RING, b, len ? 3 : 2, &used, what))
        return -1;
    if (resp[RESP_HDR - 1] != S_OK) {
        vs_err("%s: virtio-scsi response %u", what, resp[RESP_HDR - 1]);
        return -1;
    }
    if (resp[RESP_HDR - 2] != GOOD)
        vs_err("%s: SCSI status 0x%02x, sense key 0x%x", what, resp[RESP_HDR - 2],
               cfg_le32(resp) > 2 ? resp[RESP_HDR + 2] & 0xf : 0);
    return resp[RESP_HDR - 2];
}

/* SCSI fields are big-endian. */
static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void print_inquiry(const uint8_t *q)
{
    char vendor[9], product[17];

    memcpy(vendor, q + 8, 8);
    vendor[8] = '\0';
    memcpy(product, q + 16, 16);
    product[16] = '\0';
    for (char *p = vendor; *p; p++)
        *p = (*p < 0x20 || *p == 0x7f) ? '?' : *p;
    for (char *p = product; *p; p++)
        *p = (*p < 0x20 || *p == 0x7f) ? '?' : *p;
    printf("vdpa-driver: scsi: INQUIRY: peripheral type 0x%02x, vendor \"%s\", product \"%s\"\n",
           q[0] & 0x1f, vendor, product);
}

static int scsi_run(struct driver *d)
{
    const uint64_t sector = d->opt.pattern_sector;
    const uint8_t tur[6] = { OP_TEST_UNIT_READY }, inq[6] = { OP_INQUIRY, 0, 0, 0, INQUIRY_LEN };
    const uint8_t cap[10] = { OP_READ_CAPACITY };
    uint8_t rd[10] = { OP_READ10 };
    uint8_t *buf = drv_alloc(d, READ_LEN, 512);
    uint32_t last_lba, block;
    unsigned i;

    if (!buf || sector > UINT32_MAX)
        return sector > UINT32_MAX ? vs_err("--pattern-sector is beyond READ(10)"), -1 : -1;
    if (scsi_command(d, tur, sizeof(tur), NULL, 0) != GOOD ||
        scsi_command(d, inq, sizeof(inq), buf, INQUIRY_LEN) != GOOD)
        return -1;
    print_inquiry(buf);
    if (scsi_command(d, cap, sizeof(cap), buf, CAPACITY_LEN) != GOOD)
        return -1;
    last_lba = get_be32(buf);
    block = get_be32(buf + 4);
    printf("vdpa-driver: scsi: READ CAPACITY: %llu blocks of %u bytes\n",
           (unsigned long long)last_lba + 1, block);
    if (block != VIRTIO_BLK_SECTOR_SIZE || sector + READ_LEN / block > (uint64_t)last_lba + 1) {
        vs_err("scsi: 4 KiB at block %llu do not fit %u-byte blocks up to %u",
               (unsigned long long)sector, block, last_lba);
        return -1;
    }
    put_be32(rd + 2, (uint32_t)sector);                   /* LOGICAL BLOCK ADDRESS */
    rd[8] = (uint8_t)(READ_LEN / VIRTIO_BLK_SECTOR_SIZE); /* TRANSFER LENGTH (low byte) */
    if (scsi_command(d, rd, sizeof(rd), buf, READ_LEN) != GOOD)
        return -1;
    for (i = 0; i < READ_LEN && buf[i] == (uint8_t)(i * 31u + 7u + sector); i++)
        ;
    if (i < READ_LEN) {
        vs_err("scsi: READ(10) at block %llu: byte %u is 0x%02x, the pattern has 0x%02x",
               (unsigned long long)sector, i, buf[i], (uint8_t)(i * 31u + 7u + sector));
        snprintf(d->summary, sizeof(d->summary), "scsi: read %u bytes at block %llu: MISMATCH",
                 READ_LEN, (unsigned long long)sector);
        return -1;
    }
    snprintf(d->summary, sizeof(d->summary), "scsi: read %u bytes at block %llu: pattern matches",
             READ_LEN, (unsigned long long)sector);
    return 0;
}

const struct drv_type drv_type_scsi = {
    .name = "scsi",
    .device_id = SCSI_DEVICE_ID,
    .features = scsi_features,
    .configure = scsi_configure,
    .run = scsi_run,
};
