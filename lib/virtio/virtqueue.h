/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues, both sides.
 *
 * Device side (a back-end): pop available descriptor chains, push used
 * entries, decide whether to signal the call eventfd. The ring and every
 * descriptor live in memory the guest writes, so every index, length and
 * address is checked, each field is read exactly once into local memory
 * before it is checked (the guest may change it concurrently), and a chain
 * is bounded by the queue size (a loop is an error, not a hang). Indirect
 * descriptors are followed once VIRTIO_F_INDIRECT_DESC is negotiated
 * (indirect_ok; one level, never chained or nested, VIRTIO 1.2 2.7.5.3).
 * No VIRTIO_F_EVENT_IDX: a back-end using this library must not offer it.
 *
 * Driver side (a front-end or a test): owns rings in its own memory, adds
 * buffers, publishes them, kicks, and collects used entries.
 *
 * Both sides follow VIRTIO 1.2, 2.7 ("Split Virtqueues"), little-endian.
 */
#ifndef PEERS_VIRTQUEUE_H
#define PEERS_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/guest_mem.h"
#include "virtio.h"

/* ---- Device side ------------------------------------------------------------ */

/* Segments one chain may map to. A chain has at most `num` descriptors; a
 * descriptor that spans adjacent memory regions needs more than one
 * segment. Back-ends cap their queue size so that ordinary chains fit. */
#define VQ_MAX_IOV 2048u

/* One popped chain: device-readable segments first (out), then
 * device-writable ones (in), as VIRTIO requires the driver to order them. */
struct vq_chain {
    uint16_t head;            /* descriptor index to return in the used ring */
    unsigned n_out, n_in;     /* iov[0 .. n_out) readable, iov[n_out .. n_out + n_in) writable */
    uint64_t out_len, in_len; /* total bytes of each kind */
    struct iovec iov[VQ_MAX_IOV];
};

struct vq_device {
    uint16_t num; /* queue size, a power of two */
    struct vq_desc *desc;
    struct vq_avail *avail;
    struct vq_used *used;
    uint16_t last_avail;         /* next available-ring entry to process */
    uint16_t used_idx;           /* next used-ring entry to write */
    const struct guest_mem *mem; /* translates descriptor (guest-physical) addresses */
    bool indirect_ok;            /* VIRTIO_F_INDIRECT_DESC negotiated (set after attach) */
};

/* Errors from the device side. Each is a guest or front-end bug that makes
 * the ring unusable (vdpa-user: DEVICE_NEEDS_RESET). */
enum vq_error {
    VQ_OK = 0,
    VQ_ERR_RING_ADDR = -1, /* ring not in guest memory or misaligned */
    VQ_ERR_AVAIL_IDX = -2, /* available index moved by more than num */
    VQ_ERR_HEAD = -3,      /* head index >= num */
    VQ_ERR_NEXT = -4,      /* next index >= num */
    VQ_ERR_LOOP = -5,      /* chain longer than num: a loop */
    VQ_ERR_BUF_ADDR = -6,  /* buffer not in guest memory */
    VQ_ERR_ORDER = -7,     /* readable descriptor after a writable one */
    VQ_ERR_INDIRECT = -8,  /* indirect descriptor not negotiated or malformed */
    VQ_ERR_TOO_BIG = -9,   /* more than VQ_MAX_IOV segments */
};

const char *vq_strerror(int err);

/* Attaches to a ring whose parts are at front-end user addresses desc/avail/
 * used, starting at available index `base`. The used index is taken from the
 * ring's memory (where the driver, or a previous device, left it). Returns
 * VQ_OK or VQ_ERR_RING_ADDR. num must be a power of two <= VQ_MAX_SIZE. */
int vq_device_attach(struct vq_device *vq, const struct guest_mem *mem, unsigned num,
                     uint64_t desc_uva, uint64_t avail_uva, uint64_t used_uva, uint16_t base);

/* Re-translates the ring addresses after the memory table changed. */
int vq_device_remap(struct vq_device *vq, const struct guest_mem *mem, uint64_t desc_uva,
                    uint64_t avail_uva, uint64_t used_uva);

/* Whether the driver has made buffers available that were not popped yet. */
bool vq_device_has_pending(const struct vq_device *vq);

/* Pops the next chain: 1 = *chain filled, 0 = ring empty, <0 = enum vq_error
 * (nothing consumed). */
int vq_device_pop(struct vq_device *vq, struct vq_chain *chain);

/* Gives the last popped chain back (it will be popped again). */
void vq_device_unpop(struct vq_device *vq);

/* Returns a chain to the driver with `len` bytes written to its writable part. */
void vq_device_push(struct vq_device *vq, uint16_t head, uint32_t len);

/* Whether the driver wants an interrupt now (VQ_AVAIL_F_NO_INTERRUPT clear). */
bool vq_device_should_notify(const struct vq_device *vq);

/* Signals an eventfd (call, err, config-call) through peer_fd_signal: never
 * blocks; a saturated counter, an fd that is not an eventfd or fd < 0 is
 * ignored (callers that must know call peer_fd_signal). */
void vq_eventfd_signal(int fd);
/* Reads and clears an eventfd whose kind was checked where it was received
 * (peer_fd_drain_eventfd: never blocks); returns the counter (0 if nothing
 * or on error). */
uint64_t vq_eventfd_drain(int fd);

/* Copies between a chain's segments and a flat buffer, starting `skip` bytes
 * into the readable (copy_from) or writable (copy_to) part. Return the bytes
 * copied. */
size_t vq_chain_copy_from(const struct vq_chain *chain, size_t skip, void *buf, size_t len);
size_t vq_chain_copy_to(const struct vq_chain *chain, size_t skip, const void *buf, size_t len);

/* ---- Driver side ---------------------------------------------------------- */

/* Memory a driver owns and shares with a device: one memfd, mapped here, that
 * the device sees at guest-physical address `gpa`. A bump allocator hands out
 * rings and buffers. */
struct dma_arena {
    int fd; /* memfd, sent with SET_MEM_TABLE */
    uint8_t *base;
    uint64_t size;
    uint64_t gpa;
    uint64_t used;
};

/* Creates an arena of `size` bytes (rounded up to pages). 0 or -errno. */
int dma_arena_create(struct dma_arena *a, uint64_t size, uint64_t gpa);
void dma_arena_destroy(struct dma_arena *a);
/* Zeroed memory, `align` a power of two; NULL when the arena is full. */
void *dma_alloc(struct dma_arena *a, uint64_t size, uint64_t align);
/* The guest-physical and front-end user address of a pointer in the arena. */
uint64_t dma_gpa(const struct dma_arena *a, const void *p);
uint64_t dma_uva(const void *p);
/* The memory-table region describing the arena. */
struct vu_mem_region dma_region(const struct dma_arena *a);

struct vq_buf {
    uint64_t gpa;
    uint32_t len;
    bool writable; /* device-writable */
};

struct vq_driver {
    uint16_t num;
    struct vq_desc *desc;
    struct vq_avail *avail;
    struct vq_used *used;
    uint16_t free_head; /* free descriptors are chained through next[] */
    uint16_t num_free;
    uint16_t avail_idx; /* shadow of avail->idx */
    uint16_t last_used; /* next used entry to collect */
    void **tokens;      /* per head: the caller's cookie */
    /* Driver-private: the device may write the shared descriptor table, so
     * the free list and each chain's length are never read back from it. */
    uint16_t *next;      /* per descriptor: the next one (free list, chains) */
    uint16_t *chain_len; /* per head: descriptors in its chain */
};

/* Allocates the three ring parts in the arena. 0, -EINVAL (num not a power
 * of two), -ENOMEM. */
int vq_driver_init(struct vq_driver *vq, struct dma_arena *a, unsigned num);
void vq_driver_destroy(struct vq_driver *vq);
/* Front-end user addresses, for SET_VRING_ADDR. */
uint64_t vq_driver_desc_uva(const struct vq_driver *vq);
uint64_t vq_driver_avail_uva(const struct vq_driver *vq);
uint64_t vq_driver_used_uva(const struct vq_driver *vq);

/* Adds one chain (readable buffers must come first) and publishes it.
 * 0, -ENOSPC (not enough free descriptors), -EINVAL (n == 0 or token NULL,
 * or a readable buffer after a writable one). */
int vq_driver_add(struct vq_driver *vq, const struct vq_buf *bufs, unsigned n, void *token);
/* Collects one used chain: 1 with *token and *len, 0 when none. */
int vq_driver_get_used(struct vq_driver *vq, void **token, uint32_t *len);
/* Signals the kick eventfd. */
void vq_driver_kick(int kick_fd);

#endif
