/* SPDX-License-Identifier: MIT */
/*
 * The reference vdpa-user front-end (docs/reference-driver.md): a VIRTIO
 * driver that talks to a vdpa-user back-end over a unix socket, the way a
 * VMM would, and checks the device end to end.
 *
 *   main.c     command line, the order of the whole run, the summary line
 *   session.c  the control plane: one helper per kind of request, the
 *              bring-up of docs/vdpa-user.md section 8, suspend/resume, reset
 *   net.c      virtio-net traffic: TX frames, RX buffers, loopback check
 *   blk.c      virtio-blk traffic: write, read back, flush, GET_ID
 *
 * Single-threaded and synchronous: every request waits for its reply, and
 * traffic waits for used buffers by polling the call eventfds.
 */
#ifndef VDPA_DRIVER_H
#define VDPA_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "vhost_user.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define DRV_MAX_RINGS 2u          /* net: receiveq1 + transmitq1; blk: requestq1 */
#define DRV_REPLY_TIMEOUT_MS 5000 /* a back-end that does not answer in 5 s is broken */
#define DRV_IO_TIMEOUT_MS 10000   /* traffic: give up after 10 s without progress */

/* ---- Command line ------------------------------------------------------------- */
struct options {
    const char *socket_path;
    const char *type;             /* "net" or "blk" */
    uint32_t device_id;           /* VIRTIO_ID_NET or VIRTIO_ID_BLK, from --type */
    unsigned count;               /* net: frames to send */
    uint64_t pattern_sector;      /* blk: where the 4 KiB pattern goes */
    unsigned mem_mb;              /* guest memory */
    unsigned queue_size;          /* 0: min(256, VDPA_GET_VRING_NUM) */
    bool expect_mac;
    uint8_t mac[6];
};

/* ---- One session with a device -------------------------------------------------- */
struct driver {
    struct options opt;
    int sock;

    /* What the device reported (bring-up steps 1-9). */
    uint64_t offered_features;    /* GET_FEATURES */
    uint64_t protocol_features;   /* what we acknowledged */
    uint64_t vqs_count, max_ring_size, config_size;
    struct vu_iova_range iova;

    /* What we chose. */
    uint64_t features;            /* SET_FEATURES, including transport bit 30 */
    unsigned queue_size;
    uint8_t config[VU_MAX_CONFIG_SIZE]; /* the config space read at step 12 */

    /* Guest memory (a memfd at guest-physical 0) and our rings in it. */
    struct dma_arena mem;
    bool mem_ok;
    unsigned nrings;
    struct vq_driver vq[DRV_MAX_RINGS];
    int kick[DRV_MAX_RINGS], call[DRV_MAX_RINGS];
    int config_call;

    char summary[256];            /* the traffic result, printed at the very end */
};

/* ---- session.c: requests ---------------------------------------------------------- */
/* Each returns 0, or -1 after logging what went wrong. */
int drv_connect(struct driver *d);
/* A request without payload whose reply is a u64 (GET_FEATURES, VDPA_GET_*...). */
int drv_get_u64(struct driver *d, uint32_t request, uint64_t *value);
/* A request without a reply payload of its own: sent with NEED_REPLY, the
 * u64 ack must be 0. Takes the message's fds. */
int drv_ack(struct driver *d, struct vu_msg *msg);
int drv_set_status(struct driver *d, uint8_t status);
int drv_get_status(struct driver *d, uint8_t *status);
int drv_get_config(struct driver *d, uint32_t offset, uint32_t size, uint8_t *out);

/* The whole bring-up, docs/vdpa-user.md section 8: on success the device
 * runs (status 0x0F) with d->nrings rings of d->queue_size entries.
 * device_features is what this driver can use of the device type. */
int drv_bring_up(struct driver *d, uint64_t device_features);
/* Checks that the device did not ask for a reset (config-call eventfd,
 * DEVICE_NEEDS_RESET); 0 when all is well. */
int drv_check_health(struct driver *d);
/* VDPA_SUSPEND, GET_VRING_BASE of every ring (checked against the used
 * index), VDPA_RESUME, SET_STATUS(0). */
int drv_shut_down(struct driver *d);
void drv_close(struct driver *d);

/* Waits for a used buffer on ring i (polls the call eventfd): 1 with *token
 * and *len, 0 on time-out, -1 when the device returned garbage. */
int drv_wait_used(struct driver *d, unsigned i, void **token, uint32_t *len, int timeout_ms);

/* ---- net.c / blk.c ---------------------------------------------------------------- */
/* The device features each driver understands (without VERSION_1, which
 * session.c always asks for). */
uint64_t net_driver_features(void);
uint64_t blk_driver_features(void);
/* Decodes and prints the config space read at bring-up; checks --expect-mac. */
int net_show_config(struct driver *d);
int blk_show_config(struct driver *d);
/* The traffic test; fills d->summary; 0 when everything matched. */
int net_run(struct driver *d);
int blk_run(struct driver *d);

/* Little-endian config fields. */
static inline uint16_t cfg_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t cfg_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t cfg_le64(const uint8_t *p)
{
    return (uint64_t)cfg_le32(p) | (uint64_t)cfg_le32(p + 4) << 32;
}

#endif
