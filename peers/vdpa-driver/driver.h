/* SPDX-License-Identifier: MIT */
/*
 * The reference vdpa-user front-end (docs/reference-driver.md): a VIRTIO
 * driver that talks to a vdpa-user back-end over a unix socket, the way a
 * VMM would, and checks the device end to end.
 *
 *   main.c     command line, the order of the whole run, the summary line
 *   session.c  the control plane: one helper per kind of request, the
 *              bring-up of docs/vdpa-user.md section 8, suspend/resume, reset
 *   net.c      virtio-net: queue pairs, control queue, loopback traffic
 *   blk.c      virtio-blk traffic: write, read back, flush, GET_ID
 *   fs.c       virtio-fs: the mount tag, one FUSE_INIT
 *   console.c  virtio-console: bytes out on port 0, bytes back in
 *   rng.c      virtio-rng: random bytes read from the request queue
 *   gpio.c     virtio-gpio: line names, direction, value set and read back
 *   i2c.c      virtio-i2c: one read transfer
 *   scmi.c     virtio-scmi: BASE protocol version and attributes
 *   scsi.c     virtio-scsi: TEST UNIT READY, INQUIRY, READ CAPACITY, READ(10)
 *   vsock.c    virtio-vsock: a stream connection to the host, bytes both ways
 *   sound.c    virtio-sound: every stream, map and jack described, silence played
 *   gpu.c      virtio-gpu: the display socket served, a 2D resource shown
 *   queue.c    what they share: a buffer in guest memory, one request
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
#include "virtio.h"
#include "virtio/virtqueue.h"

/* Per-ring state is indexed by the ring index itself, which vhost-user
 * carries in 8 bits (SET_VRING_KICK/CALL): 256 slots of a few dozen bytes.
 * Only the rings in d->ring[] get memory in the guest arena. */
#define DRV_MAX_RINGS VU_MAX_QUEUES
/* net: the control queue sits at 2 * max_virtqueue_pairs, which must be a
 * ring index below 256. */
#define DRV_MAX_PAIRS        ((DRV_MAX_RINGS - 2) / 2)
#define DRV_REPLY_TIMEOUT_MS 5000  /* a back-end that does not answer in 5 s is broken */
#define DRV_IO_TIMEOUT_MS    10000 /* traffic: give up after 10 s without progress */

#define FS_TAG_LEN 36

/* ---- Command line ------------------------------------------------------------- */
struct options {
    const char *socket_path;
    const char *type;        /* "net", "blk", "fs", "console", ... (types[] in main.c) */
    uint32_t device_id;      /* VIRTIO_ID_*, from --type */
    unsigned count;          /* net: frames to send; rng: bytes to read */
    unsigned queue_pairs;    /* net: queue pairs to use (default 1) */
    bool ctrl;               /* net: use the control queue (implied by pairs > 1) */
    uint64_t pattern_sector; /* blk: where the 4 KiB pattern goes */
    unsigned mem_mb;         /* guest memory */
    unsigned queue_size;     /* 0: min(256, VDPA_GET_VRING_NUM) */
    bool expect_mac;
    uint8_t mac[6];
    const char *expect_tag;  /* fs: NULL or the mount tag required */
    const char *send_text;   /* console, vsock: bytes to send */
    const char *expect_text; /* console, vsock: bytes expected back (NULL: send_text) */
    unsigned vsock_port;     /* vsock: the host port connected to */
    unsigned gpio_line;      /* gpio: the line set and read back */
    unsigned i2c_addr;       /* i2c: the 7-bit target address read */
};

/* ---- One session with a device -------------------------------------------------- */
struct driver {
    struct options opt;
    int sock;

    /* What the device reported (bring-up steps 1-9). */
    uint64_t offered_features;  /* GET_FEATURES */
    uint64_t protocol_features; /* what we acknowledged */
    uint64_t vqs_count, max_ring_size, config_size;
    struct vu_iova_range iova;

    /* What we chose. */
    uint64_t features; /* SET_FEATURES, including transport bit 30 */
    unsigned queue_size;
    uint8_t config[VU_MAX_CONFIG_SIZE]; /* the config space read at step 12 */

    /* The rings this driver sets up and enables, by index (the device type
     * chooses them after negotiation); the others stay disabled. */
    unsigned nrings;
    unsigned ring[DRV_MAX_RINGS];

    /* virtio-net: queue pairs in use and the control queue (-1: none). */
    unsigned net_pairs;
    int net_ctrl_ring;

    /* Guest memory (a memfd at guest-physical 0) and our rings in it, each
     * array indexed by ring index. */
    struct dma_arena mem;
    bool mem_ok;
    struct vq_driver vq[DRV_MAX_RINGS];
    int kick[DRV_MAX_RINGS], call[DRV_MAX_RINGS];
    int config_call;

    char summary[256]; /* the traffic result, printed at the very end */
};

/* ---- A device type ---------------------------------------------------------------- */
struct drv_type {
    const char *name; /* --type */
    uint32_t device_id;
    /* The device features the driver can use (without VERSION_1, which
     * session.c always asks for); may depend on the options. */
    uint64_t (*features)(const struct options *o);
    /* After FEATURES_OK: decodes and prints the config space read at
     * bring-up, checks what the options require of the device (features,
     * --expect-*), and fills d->ring[] / d->nrings. */
    int (*configure)(struct driver *d);
    /* The traffic test, after DRIVER_OK; fills d->summary; 0 when
     * everything matched. */
    int (*run)(struct driver *d);
};

extern const struct drv_type drv_type_net, drv_type_blk, drv_type_fs, drv_type_console,
    drv_type_rng, drv_type_gpio, drv_type_i2c, drv_type_scmi, drv_type_scsi, drv_type_vsock,
    drv_type_sound, drv_type_gpu;

/* Adds ring `index` to the rings to set up; -1 (logged) when it is not a
 * ring the device has. */
int drv_use_ring(struct driver *d, unsigned index);

/* ---- queue.c: traffic helpers ------------------------------------------------------ */
/* Zeroed guest memory; NULL (logged) when the arena is full. */
void *drv_alloc(struct driver *d, uint64_t size, uint64_t align);
/* Puts one chain b[0..n) on ring `ring`, kicks, and waits for that chain to
 * be used: 0 with *used_len, or -1 after logging `what` and the reason. */
int drv_exchange(struct driver *d, unsigned ring, const struct vq_buf *b, unsigned n,
                 uint32_t *used_len, const char *what);

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

/* The bring-up of docs/vdpa-user.md section 8 in two halves, with the
 * device type's configure() in between (it needs the negotiated features
 * and the config space to choose its rings).
 * drv_negotiate, steps 1-15: on success the status is FEATURES_OK, the
 * config space is in d->config and the features in d->features.
 * device_features is what this driver can use of the device type. */
int drv_negotiate(struct driver *d, uint64_t device_features);
/* drv_start, steps 16-31: memory table, the rings in d->ring[], DRIVER_OK;
 * on success the device runs (status 0x0F). */
int drv_start(struct driver *d);
/* Checks that the device did not ask for a reset (config-call eventfd,
 * DEVICE_NEEDS_RESET); 0 when all is well. */
int drv_check_health(struct driver *d);
/* VDPA_SUSPEND, GET_VRING_BASE of every ring in d->ring[] (checked against
 * the used index), VDPA_RESUME, SET_STATUS(0). */
int drv_shut_down(struct driver *d);
void drv_close(struct driver *d);

/* Waits for a used buffer on ring i (polls the call eventfd): 1 with *token
 * and *len, 0 on time-out, -1 when the device returned garbage. */
int drv_wait_used(struct driver *d, unsigned i, void **token, uint32_t *len, int timeout_ms);

/* Little-endian config fields. */
static inline uint16_t cfg_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t cfg_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t cfg_le64(const uint8_t *p)
{
    return (uint64_t)cfg_le32(p) | (uint64_t)cfg_le32(p + 4) << 32;
}

#endif
