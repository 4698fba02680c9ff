/* SPDX-License-Identifier: MIT */
/*
 * vhost-user and vdpa-user wire format: numbers, header and payload layouts.
 *
 * Pure definitions and byte-level helpers, no I/O. All numbers are in host
 * byte order, as the vhost-user spec says. Layouts follow QEMU's
 * docs/interop/vhost-user.rst; the vdpa-user extensions follow
 * docs/vdpa-user.md of this project.
 *
 * Fd ownership: every slot of vu_msg.fds[] holds an fd owned by the message
 * or -1. Whoever holds a vu_msg must either hand its fds on (and set the slots
 * to -1) or call vu_msg_close_fds().
 */
#ifndef VDPA_SHIM_VHOST_USER_H
#define VDPA_SHIM_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio.h" /* VIRTIO_STATUS_* and the other VIRTIO constants */

/* ---- Header ------------------------------------------------------------ */

#define VU_VERSION           0x1u
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_FLAG_REPLY        0x4u
#define VU_FLAG_NEED_REPLY   0x8u

#define VU_HDR_SIZE 12u
/* Largest payload the shim accepts. The spec's largest fixed layouts are the
 * memory table (264 bytes) and config space (12 + 256); crypto sessions carry
 * keys and may reach about 1.1 KiB. Anything larger is a hostile peer. */
#define VU_MAX_PAYLOAD 4096u
/* Fds in one message: the memory table's baseline region count. */
#define VU_MAX_FDS         8u
#define VU_MAX_MEM_REGIONS 8u
#define VU_MAX_CONFIG_SIZE 256u
#define VU_CONFIG_HDR_SIZE 12u
/* The u64 ring-index payloads carry the index in bits 0-7. */
#define VU_MAX_QUEUES      256u
#define VU_VRING_NUM_MAX   32768u /* VIRTIO: a virtqueue has at most 2^15 entries */
#define VU_VRING_IDX_MASK  0xffu
#define VU_VRING_NOFD_MASK 0x100u

/* ---- Front-end requests (front-end -> back-end) ---------------------------- */
enum vu_request {
    VU_REQ_NONE = 0,
    VU_REQ_GET_FEATURES = 1,
    VU_REQ_SET_FEATURES = 2,
    VU_REQ_SET_OWNER = 3,
    VU_REQ_RESET_OWNER = 4,
    VU_REQ_SET_MEM_TABLE = 5,
    VU_REQ_SET_LOG_BASE = 6,
    VU_REQ_SET_LOG_FD = 7,
    VU_REQ_SET_VRING_NUM = 8,
    VU_REQ_SET_VRING_ADDR = 9,
    VU_REQ_SET_VRING_BASE = 10,
    VU_REQ_GET_VRING_BASE = 11,
    VU_REQ_SET_VRING_KICK = 12,
    VU_REQ_SET_VRING_CALL = 13,
    VU_REQ_SET_VRING_ERR = 14,
    VU_REQ_GET_PROTOCOL_FEATURES = 15,
    VU_REQ_SET_PROTOCOL_FEATURES = 16,
    VU_REQ_GET_QUEUE_NUM = 17,
    VU_REQ_SET_VRING_ENABLE = 18,
    VU_REQ_SEND_RARP = 19,
    VU_REQ_NET_SET_MTU = 20,
    VU_REQ_SET_BACKEND_REQ_FD = 21,
    VU_REQ_IOTLB_MSG = 22,
    VU_REQ_SET_VRING_ENDIAN = 23,
    VU_REQ_GET_CONFIG = 24,
    VU_REQ_SET_CONFIG = 25,
    VU_REQ_CREATE_CRYPTO_SESSION = 26,
    VU_REQ_CLOSE_CRYPTO_SESSION = 27,
    VU_REQ_POSTCOPY_ADVISE = 28,
    VU_REQ_POSTCOPY_LISTEN = 29,
    VU_REQ_POSTCOPY_END = 30,
    VU_REQ_GET_INFLIGHT_FD = 31,
    VU_REQ_SET_INFLIGHT_FD = 32,
    VU_REQ_GPU_SET_SOCKET = 33,
    VU_REQ_RESET_DEVICE = 34,
    VU_REQ_VRING_KICK = 35,
    VU_REQ_GET_MAX_MEM_SLOTS = 36,
    VU_REQ_ADD_MEM_REG = 37,
    VU_REQ_REM_MEM_REG = 38,
    VU_REQ_SET_STATUS = 39,
    VU_REQ_GET_STATUS = 40,
    VU_REQ_GET_SHARED_OBJECT = 41,
    VU_REQ_SET_DEVICE_STATE_FD = 42,
    VU_REQ_CHECK_DEVICE_STATE = 43,
    /* vdpa-user v1: 0x100 + the vhost-vdpa ioctl number */
    VU_REQ_VDPA_GET_DEVICE_ID = 0x170,
    VU_REQ_VDPA_GET_VRING_NUM = 0x176,
    VU_REQ_VDPA_SET_CONFIG_CALL = 0x177,
    VU_REQ_VDPA_GET_IOVA_RANGE = 0x178,
    VU_REQ_VDPA_GET_CONFIG_SIZE = 0x179,
    VU_REQ_VDPA_SUSPEND = 0x17D,
    VU_REQ_VDPA_RESUME = 0x17E,
    VU_REQ_VDPA_GET_VQS_COUNT = 0x180,
};

/* ---- Back-end channel requests (back-end -> front-end) --------------------- */
enum vu_backend_request {
    VU_BREQ_NONE = 0,
    VU_BREQ_IOTLB_MSG = 1,
    VU_BREQ_CONFIG_CHANGE_MSG = 2,
    VU_BREQ_VRING_HOST_NOTIFIER_MSG = 3,
    VU_BREQ_VRING_CALL = 4,
    VU_BREQ_VRING_ERR = 5,
    VU_BREQ_SHARED_OBJECT_ADD = 6,
    VU_BREQ_SHARED_OBJECT_REMOVE = 7,
    VU_BREQ_SHARED_OBJECT_LOOKUP = 8,
};

/* ---- Feature bits --------------------------------------------------------- */
/* VIRTIO feature bit 30, reused by vhost-user to gate protocol features. */
#define VU_F_PROTOCOL_FEATURES 30

enum vu_protocol_feature {
    VU_PF_MQ = 0,
    VU_PF_LOG_SHMFD = 1,
    VU_PF_RARP = 2,
    VU_PF_REPLY_ACK = 3,
    VU_PF_NET_MTU = 4,
    VU_PF_BACKEND_REQ = 5,
    VU_PF_CROSS_ENDIAN = 6,
    VU_PF_CRYPTO_SESSION = 7,
    VU_PF_PAGEFAULT = 8,
    VU_PF_CONFIG = 9,
    VU_PF_BACKEND_SEND_FD = 10,
    VU_PF_HOST_NOTIFIER = 11,
    VU_PF_INFLIGHT_SHMFD = 12,
    VU_PF_RESET_DEVICE = 13,
    VU_PF_INBAND_NOTIFICATIONS = 14,
    VU_PF_CONFIGURE_MEM_SLOTS = 15,
    VU_PF_STATUS = 16,
    VU_PF_XEN_MMAP = 17,
    VU_PF_SHARED_OBJECT = 18,
    VU_PF_DEVICE_STATE = 19,
    VU_PF_COUNT_KNOWN = 20,
    /* vdpa-user v1; experimental number, far from upstream allocations */
    VU_PF_VDPA = 63,
};

#define VU_BIT(n) (UINT64_C(1) << (n))

/* ---- Payload layouts (host byte order, sizes pinned below) ---------------- */
struct vu_hdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
};

struct vu_vring_state {
    uint32_t index;
    uint32_t num;
};

struct vu_vring_addr {
    uint32_t index;
    uint32_t flags; /* VU_VRING_F_LOG */
    uint64_t desc_user_addr;
    uint64_t used_user_addr;
    uint64_t avail_user_addr;
    uint64_t log_guest_addr;
};
#define VU_VRING_F_LOG 0x1u

struct vu_mem_region {
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t mmap_offset;
};

struct vu_mem_table {
    uint32_t nregions;
    uint32_t padding;
    struct vu_mem_region regions[VU_MAX_MEM_REGIONS];
};
#define VU_MEM_TABLE_HDR_SIZE 8u

struct vu_mem_single {
    uint64_t padding;
    struct vu_mem_region region;
};

struct vu_log {
    uint64_t mmap_size;
    uint64_t mmap_offset;
};

struct vu_iotlb {
    uint64_t iova;
    uint64_t size;
    uint64_t uaddr;
    uint8_t perm;
    uint8_t type;
    uint8_t padding[6];
};

struct vu_config {
    uint32_t offset;
    uint32_t size;
    uint32_t flags; /* VU_CONFIG_F_* */
    uint8_t data[VU_MAX_CONFIG_SIZE];
};
#define VU_CONFIG_F_WRITABLE  0x0u
#define VU_CONFIG_F_MIGRATION 0x1u

struct vu_vring_area {
    uint64_t u64; /* ring index in bits 0-7, NOFD in bit 8 */
    uint64_t size;
    uint64_t offset;
};

struct vu_inflight {
    uint64_t mmap_size;
    uint64_t mmap_offset;
    uint16_t num_queues;
    uint16_t queue_size;
    uint32_t padding; /* the C struct's tail padding is on the wire */
};

struct vu_device_state {
    uint32_t direction; /* 0 save, 1 load */
    uint32_t phase;     /* 0 stopped */
};

struct vu_shared_object {
    uint8_t uuid[16];
};

struct vu_iova_range {
    uint64_t first;
    uint64_t last;
};

/* A whole message with its ancillary fds. */
struct vu_msg {
    struct vu_hdr hdr;
    union {
        uint64_t u64;
        struct vu_vring_state state;
        struct vu_vring_addr addr;
        struct vu_mem_table mem;
        struct vu_mem_single mem_single;
        struct vu_log log;
        struct vu_iotlb iotlb;
        struct vu_config config;
        struct vu_vring_area area;
        struct vu_inflight inflight;
        struct vu_device_state device_state;
        struct vu_shared_object object;
        struct vu_iova_range iova_range;
        uint8_t bytes[VU_MAX_PAYLOAD];
    } payload;
    int fds[VU_MAX_FDS]; /* owned fds, -1 in unused slots */
    unsigned nfds;
};

_Static_assert(sizeof(struct vu_hdr) == VU_HDR_SIZE, "header layout");
_Static_assert(sizeof(struct vu_vring_state) == 8, "vring state layout");
_Static_assert(sizeof(struct vu_vring_addr) == 40, "vring addr layout");
_Static_assert(sizeof(struct vu_mem_region) == 32, "region layout");
_Static_assert(sizeof(struct vu_mem_table) == 8 + 8 * 32, "memory table layout");
_Static_assert(sizeof(struct vu_mem_single) == 40, "single region layout");
_Static_assert(sizeof(struct vu_log) == 16, "log layout");
_Static_assert(sizeof(struct vu_iotlb) == 32, "iotlb layout");
_Static_assert(sizeof(struct vu_config) == VU_CONFIG_HDR_SIZE + VU_MAX_CONFIG_SIZE,
               "config layout");
_Static_assert(sizeof(struct vu_vring_area) == 24, "vring area layout");
_Static_assert(sizeof(struct vu_inflight) == 24, "inflight layout");
_Static_assert(sizeof(struct vu_device_state) == 8, "device state layout");
_Static_assert(sizeof(struct vu_shared_object) == 16, "shared object layout");
_Static_assert(sizeof(struct vu_iova_range) == 16, "iova range layout");

/* ---- Pure helpers ---------------------------------------------------------- */

/* Resets a message to an empty request: no payload, no fds. */
void vu_msg_init(struct vu_msg *msg, uint32_t request, uint32_t flags);

/* Builders: set header size and payload. Those of a fixed-size payload
 * cannot fail and return nothing; those whose arguments may not fit (too
 * many regions, config or payload too large) return 0 or -EINVAL. */
void vu_msg_set_u64(struct vu_msg *msg, uint64_t value);
void vu_msg_set_state(struct vu_msg *msg, uint32_t index, uint32_t num);
void vu_msg_set_addr(struct vu_msg *msg, const struct vu_vring_addr *addr);
int vu_msg_set_mem_table(struct vu_msg *msg, const struct vu_mem_region *regions, uint32_t n);
int vu_msg_set_config(struct vu_msg *msg, uint32_t offset, uint32_t size, uint32_t flags,
                      const void *data);
/* Copies a fixed-size payload (log, iotlb, area, inflight, ...) */
int vu_msg_set_payload(struct vu_msg *msg, const void *payload, size_t size);

/* Appends an fd (ownership moves into the message). -E2BIG when full. */
int vu_msg_add_fd(struct vu_msg *msg, int fd);
/* Closes every owned fd and empties the slots. */
void vu_msg_close_fds(struct vu_msg *msg);
/* Moves the fds of src into dst (dst must have none); src's slots become -1. */
void vu_msg_move_fds(struct vu_msg *dst, struct vu_msg *src);

/* Whole-message serialisation to bytes: header then payload. */
size_t vu_msg_wire_size(const struct vu_msg *msg);
/* Parses a header from bytes (at least VU_HDR_SIZE). */
void vu_hdr_decode(const uint8_t *bytes, struct vu_hdr *hdr);
void vu_hdr_encode(const struct vu_hdr *hdr, uint8_t *bytes);

/* Accessors that check the payload size; 0 or -EBADMSG. */
int vu_msg_get_u64(const struct vu_msg *msg, uint64_t *value);
int vu_msg_get_state(const struct vu_msg *msg, struct vu_vring_state *state);
int vu_msg_get_addr(const struct vu_msg *msg, struct vu_vring_addr *addr);
int vu_msg_get_mem_table(const struct vu_msg *msg, struct vu_mem_table *mem);
int vu_msg_get_config(const struct vu_msg *msg, struct vu_config *config);
int vu_msg_get_payload(const struct vu_msg *msg, void *payload, size_t size);

/* Reply builders: turn a request header into the matching reply header. */
void vu_msg_make_reply(struct vu_msg *reply, const struct vu_msg *request);

static inline bool vu_has_bit(uint64_t features, unsigned bit)
{
    return (features & VU_BIT(bit)) != 0;
}

/* docs/vdpa-user.md 2.2: F_VDPA implies CONFIG. A back-end that offers
 * F_VDPA serves GET_CONFIG and SET_CONFIG whether or not it shows bit 9,
 * and a front-end that acks F_VDPA may use them without acking bit 9. */
#define VU_PF_VDPA_IMPLIES VU_BIT(VU_PF_CONFIG)

/* The protocol features in effect when `pf` is negotiated (or offered):
 * `pf` itself plus what F_VDPA implies. */
static inline uint64_t vu_pf_in_effect(uint64_t pf)
{
    return vu_has_bit(pf, VU_PF_VDPA) ? pf | VU_PF_VDPA_IMPLIES : pf;
}

#endif
