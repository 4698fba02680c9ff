/* SPDX-License-Identifier: MIT */
/* The VIRTIO device types the shim knows: IDs, config sizes, queue layout. */
#ifndef VDPA_SHIM_DEVICE_TYPES_H
#define VDPA_SHIM_DEVICE_TYPES_H

#include <stdbool.h>
#include <stdint.h>

struct vs_device_type {
    const char *name;        /* the CLI's type= value */
    uint32_t virtio_id;      /* VIRTIO 1.2, 5 */
    uint32_t config_size;    /* bytes of device config space VIRTIO defines */
    uint32_t default_queues; /* virtqueues with the default device keys */
    bool queue_num_is_pairs; /* GET_QUEUE_NUM counts queue pairs (net) */
    uint16_t ring_size_max;  /* the largest ring the known back-ends take: what
                                down-conversion shows (VDPA_GET_VRING_NUM)
                                unless queue-size= is given */
    uint32_t event_rings;    /* rings 0..31 the device fills on its own
                                initiative (eventq: VIRTIO 1.2 5.x) */
    bool even_rings_receive; /* every even ring is a receiveq (net, console) */
};

/* QEMU's and libvhost-user's limit (VIRTQUEUE_MAX_SIZE). */
#define VS_RING_SIZE_MAX_DEFAULT 1024u

/* NULL when the name is unknown. */
const struct vs_device_type *vs_device_type_find(const char *name);
/* The type with this VIRTIO device ID; NULL when the shim does not know it. */
const struct vs_device_type *vs_device_type_by_id(uint32_t virtio_id);
/* Whether ring is one the device fills on its own initiative (an eventq or
 * a receiveq): a notification on it only announces buffers. The net control
 * queue is even only when the ring count says so: callers ask for data rings. */
bool vs_device_type_event_ring(const struct vs_device_type *t, uint32_t ring);
/* Comma-separated list of names, for error messages and --help. */
const char *vs_device_type_names(void);

#endif
