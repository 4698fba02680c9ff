/* SPDX-License-Identifier: MIT */
/*
 * VIRTIO numbers and layouts that the reference peers need (VIRTIO 1.2):
 * split-ring structures, device status, feature bits, and the virtio-net
 * and virtio-blk request and config layouts.
 *
 * Defined here rather than taken from <linux/virtio_*.h> so that the peers
 * build anywhere and the reader sees every number in one place. Everything
 * in guest memory is little-endian (VIRTIO_F_VERSION_1 is required by
 * vdpa-user); the accessors in virtqueue.c convert.
 */
#ifndef PEERS_VIRTIO_H
#define PEERS_VIRTIO_H

#include <stdint.h>

/* ---- Split virtqueue (VIRTIO 1.2, 2.7) ------------------------------------ */
#define VQ_DESC_F_NEXT     1u
#define VQ_DESC_F_WRITE    2u /* device-writable buffer */
#define VQ_DESC_F_INDIRECT 4u /* only with VIRTIO_F_INDIRECT_DESC */

#define VQ_AVAIL_F_NO_INTERRUPT 1u
#define VQ_USED_F_NO_NOTIFY     1u

/* Largest queue size a split ring can have. */
#define VQ_MAX_SIZE 32768u

struct vq_desc {
    uint64_t addr; /* guest-physical address */
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct vq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[]; /* num entries, then used_event with EVENT_IDX */
};

struct vq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct vq_used {
    uint16_t flags;
    uint16_t idx;
    struct vq_used_elem ring[]; /* num entries, then avail_event with EVENT_IDX */
};

/* Alignment of each part (VIRTIO 1.2, 2.7: "Legacy interfaces" aside). */
#define VQ_DESC_ALIGN  16u
#define VQ_AVAIL_ALIGN 2u
#define VQ_USED_ALIGN  4u

static inline uint64_t vq_desc_size(unsigned num)
{
    return 16ull * num;
}
static inline uint64_t vq_avail_size(unsigned num)
{
    return 6ull + 2ull * num;
}
static inline uint64_t vq_used_size(unsigned num)
{
    return 6ull + 8ull * num;
}

_Static_assert(sizeof(struct vq_desc) == 16, "descriptor layout");
_Static_assert(sizeof(struct vq_used_elem) == 8, "used element layout");

/* ---- Device status (VIRTIO 1.2 and 1.3, 2.1) ------------------------------ */
/* The rules that move a device between these values are in
 * virtio/virtio_status.h. (lib/proto/vhost_user.h repeats the six bits with
 * the same spelling; the compiler rejects the pair if they ever differ.) */
#define VIRTIO_STATUS_ACKNOWLEDGE        0x01u
#define VIRTIO_STATUS_DRIVER             0x02u
#define VIRTIO_STATUS_DRIVER_OK          0x04u
#define VIRTIO_STATUS_FEATURES_OK        0x08u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED             0x80u
/* Defined by VIRTIO 1.4 only, and only with VIRTIO_F_SUSPEND (43), which
 * vdpa-user does not offer (it suspends with VDPA_SUSPEND): here the bit is
 * as undefined as 0x20. */
#define VIRTIO_STATUS_SUSPEND 0x10u
/* Every bit a vdpa-user status byte may hold. */
#define VIRTIO_STATUS_DEFINED                                                                      \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK |                  \
     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED)

/* ---- Transport-independent feature bits ----------------------------------- */
#define VIRTIO_F_INDIRECT_DESC   28
#define VIRTIO_F_EVENT_IDX       29
#define VIRTIO_F_VERSION_1       32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED     34
#define VIRTIO_F_RING_RESET      40

/* ---- Device IDs ------------------------------------------------------------ */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLK 2
#define VIRTIO_ID_FS  26

/* ---- virtio-net (VIRTIO 1.2, 5.1) ------------------------------------------ */
#define VIRTIO_NET_F_CSUM           0
#define VIRTIO_NET_F_GUEST_CSUM     1
#define VIRTIO_NET_F_MTU            3
#define VIRTIO_NET_F_MAC            5
#define VIRTIO_NET_F_GUEST_TSO4     7
#define VIRTIO_NET_F_GUEST_TSO6     8
#define VIRTIO_NET_F_HOST_TSO4      11
#define VIRTIO_NET_F_HOST_TSO6      12
#define VIRTIO_NET_F_MRG_RXBUF      15
#define VIRTIO_NET_F_STATUS         16
#define VIRTIO_NET_F_CTRL_VQ        17
#define VIRTIO_NET_F_CTRL_RX        18
#define VIRTIO_NET_F_CTRL_VLAN      19
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_MQ             22
#define VIRTIO_NET_F_CTRL_MAC_ADDR  23
#define VIRTIO_NET_F_RSS            60

#define VIRTIO_NET_S_LINK_UP 1u

/* The header in front of every packet. With VIRTIO_F_VERSION_1 it always has
 * num_buffers, so it is 12 bytes whether or not MRG_RXBUF is negotiated. */
struct virtio_net_hdr_v1 {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};
_Static_assert(sizeof(struct virtio_net_hdr_v1) == 12, "virtio-net header layout");

/* Config space offsets (vdpa-user 6.2; size 24). */
#define VIRTIO_NET_CFG_MAC     0
#define VIRTIO_NET_CFG_STATUS  6
#define VIRTIO_NET_CFG_MAX_VQP 8
#define VIRTIO_NET_CFG_MTU     10
#define VIRTIO_NET_CFG_SIZE    24

/* Control virtqueue: class, command, data; the device writes one ack byte. */
#define VIRTIO_NET_CTRL_RX              0
#define VIRTIO_NET_CTRL_RX_PROMISC      0
#define VIRTIO_NET_CTRL_RX_ALLMULTI     1
#define VIRTIO_NET_CTRL_MAC             1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET   0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET    1
#define VIRTIO_NET_CTRL_VLAN            2
#define VIRTIO_NET_CTRL_MQ              4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN 1
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX 0x8000
#define VIRTIO_NET_OK                   0
#define VIRTIO_NET_ERR                  1

/* ---- virtio-blk (VIRTIO 1.2, 5.2) ------------------------------------------ */
#define VIRTIO_BLK_F_SIZE_MAX   1
#define VIRTIO_BLK_F_SEG_MAX    2
#define VIRTIO_BLK_F_GEOMETRY   4
#define VIRTIO_BLK_F_RO         5
#define VIRTIO_BLK_F_BLK_SIZE   6
#define VIRTIO_BLK_F_FLUSH      9
#define VIRTIO_BLK_F_TOPOLOGY   10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ         12
#define VIRTIO_BLK_F_ZONED      17

#define VIRTIO_BLK_T_IN     0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_SECTOR_SIZE 512u
#define VIRTIO_BLK_ID_BYTES    20u

/* The device-readable header of every request; data and a one-byte status
 * (device-writable, last) follow. */
struct virtio_blk_outhdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
};
_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "virtio-blk header layout");

/* Config space offsets (vdpa-user 6.3; size 72). */
#define VIRTIO_BLK_CFG_CAPACITY   0
#define VIRTIO_BLK_CFG_SEG_MAX    12
#define VIRTIO_BLK_CFG_BLK_SIZE   20
#define VIRTIO_BLK_CFG_NUM_QUEUES 34
#define VIRTIO_BLK_CFG_SIZE       72

#endif
