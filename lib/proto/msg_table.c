/* SPDX-License-Identifier: MIT */
/* The message-descriptor table. Rows are kept in request order (binary search). */
#include "msg_table.h"

/* The table and its shorthands keep their columns: not the formatter's. */
/* clang-format off */
#define SZ(n)          { VU_SIZE_EXACT, (n), (n) }
#define SZ_RANGE(a, b) { VU_SIZE_RANGE, (a), (b) }
#define SZ_NONE        SZ(0)
#define SZ_U64         SZ(8)
#define SZ_STATE       SZ(sizeof(struct vu_vring_state))
#define SZ_ADDR        SZ(sizeof(struct vu_vring_addr))
#define SZ_MEM_TABLE   { VU_SIZE_MEM_TABLE, VU_MEM_TABLE_HDR_SIZE + 32, sizeof(struct vu_mem_table) }
#define SZ_CONFIG      { VU_SIZE_CONFIG, VU_CONFIG_HDR_SIZE, sizeof(struct vu_config) }
#define SZ_CONFIG_REPLY { VU_SIZE_CONFIG_REPLY, 0, sizeof(struct vu_config) }
/* A crypto session carries algorithm parameters and keys whose size depends
 * on the front-end's version; accept anything that fits a message. */
#define SZ_CRYPTO      SZ_RANGE(8, VU_MAX_PAYLOAD)

#define NONE VU_GATE_NONE
/* What a back-end restart replays (lib/proto/msg_table.h). */
#define STATE     VU_DESC_STATE
#define CLEARS    VU_DESC_CLEARS_STATE
#define NO_REPLAY VU_DESC_NOT_REPLAYABLE

/* Shorthands for the common shapes of a row. */
/* The trailing arguments are: reply rule, reply size, reply fds, summary. */
#define FE(req, size_, fds_, ring_, gate_, flags_, ...) \
    { #req, VU_REQ_##req, VU_CHAN_FRONTEND, size_, fds_, ring_, gate_, flags_, __VA_ARGS__ }
#define BE(req, size_, fds_, ring_, gate_, flags_, ...) \
    { #req, VU_BREQ_##req, VU_CHAN_BACKEND, size_, fds_, ring_, gate_, flags_, __VA_ARGS__ }
/* An fd rule and the kind of those fds (lib/proto/msg_table.h). */
#define NOFD      VU_FDS_NONE, VU_FDK_NONE
#define ACK VU_REPLY_ACK, SZ_U64, NOFD

/* Fd kinds (the column after the fd rule, and after the reply's): eventfds
 * for kick, call, err, the dirty-log notification and the config-call;
 * mappable memory for memory regions, the dirty log and the in-flight buffer;
 * sockets for the back-end channel and the GPU socket. VU_FDK_ANY where real
 * peers pass other kinds, which the shim only hands on: SET_DEVICE_STATE_FD
 * and its reply (QEMU and libvhost-user pass a pipe), POSTCOPY_ADVISE's reply
 * (a userfaultfd), the shared-object replies (a dma-buf or another exported
 * fd), VRING_HOST_NOTIFIER_MSG (a VFIO device: a character device or an
 * anon inode, or a memfd) and REM_MEM_REG's tolerated fd (closed unused). */
static const struct vu_msg_desc frontend_rows[] = {
    FE(GET_FEATURES, SZ_NONE, NOFD, VU_RING_NONE, NONE, 0,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "read the back-end's VIRTIO feature bits"),
    FE(SET_FEATURES, SZ_U64, NOFD, VU_RING_NONE, NONE, STATE,
       ACK, "set the negotiated VIRTIO feature bits"),
    FE(SET_OWNER, SZ_NONE, NOFD, VU_RING_NONE, NONE, STATE,
       ACK, "start a session"),
    FE(RESET_OWNER, SZ_NONE, NOFD, VU_RING_NONE, NONE,
       VU_DESC_DEPRECATED | VU_DESC_FORBIDDEN_UNDER_VDPA | CLEARS,
       ACK, "deprecated: disable all rings"),
    FE(SET_MEM_TABLE, SZ_MEM_TABLE, VU_FDS_PER_REGION, VU_FDK_MEMORY, VU_RING_NONE, NONE, STATE,
       ACK, "set guest memory regions, one fd each"),
    FE(SET_LOG_BASE, SZ(sizeof(struct vu_log)), VU_FDS_ONE, VU_FDK_MEMORY, VU_RING_NONE,
       VU_PF_LOG_SHMFD,
       NO_REPLAY,
       /* the spec's reply is a u64; DPDK (22.11) replies with no payload */
       VU_REPLY_ALWAYS, SZ_RANGE(0, 8), NOFD, "set the dirty-log shared memory"),
    FE(SET_LOG_FD, SZ_RANGE(0, 8), VU_FDS_ONE, VU_FDK_EVENTFD, VU_RING_NONE, NONE, NO_REPLAY,
       ACK, "set the dirty-log eventfd"),
    FE(SET_VRING_NUM, SZ_STATE, NOFD, VU_RING_STATE, NONE, STATE,
       ACK, "set a ring's size"),
    FE(SET_VRING_ADDR, SZ_ADDR, NOFD, VU_RING_ADDR, NONE, STATE,
       ACK, "set a ring's addresses"),
    FE(SET_VRING_BASE, SZ_STATE, NOFD, VU_RING_STATE, NONE, STATE,
       ACK, "set a ring's next available index"),
    FE(GET_VRING_BASE, SZ_STATE, NOFD, VU_RING_STATE, NONE, CLEARS,
       VU_REPLY_ALWAYS, SZ_STATE, NOFD, "stop a ring and read its index"),
    FE(SET_VRING_KICK, SZ_U64, VU_FDS_ONE_UNLESS_NOFD, VU_FDK_EVENTFD, VU_RING_U64, NONE, STATE,
       ACK, "set a ring's kick eventfd"),
    FE(SET_VRING_CALL, SZ_U64, VU_FDS_ONE_UNLESS_NOFD, VU_FDK_EVENTFD, VU_RING_U64, NONE, STATE,
       ACK, "set a ring's call eventfd"),
    FE(SET_VRING_ERR, SZ_U64, VU_FDS_ONE_UNLESS_NOFD, VU_FDK_EVENTFD, VU_RING_U64, NONE, STATE,
       ACK, "set a ring's error eventfd"),
    FE(GET_PROTOCOL_FEATURES, SZ_NONE, NOFD, VU_RING_NONE, NONE,
       VU_DESC_NEEDS_PROTOCOL_FEATURES,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "read the back-end's protocol feature bits"),
    FE(SET_PROTOCOL_FEATURES, SZ_U64, NOFD, VU_RING_NONE, NONE,
       VU_DESC_NEEDS_PROTOCOL_FEATURES | STATE,
       ACK, "set the negotiated protocol feature bits"),
    FE(GET_QUEUE_NUM, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_MQ,
       VU_DESC_FORBIDDEN_UNDER_VDPA,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "read the maximum queue (pair) count"),
    FE(SET_VRING_ENABLE, SZ_STATE, NOFD, VU_RING_STATE, NONE,
       VU_DESC_NEEDS_PROTOCOL_FEATURES | STATE,
       ACK, "enable or disable a ring"),
    FE(SEND_RARP, SZ_U64, NOFD, VU_RING_NONE, VU_PF_RARP, 0,
       ACK, "broadcast a RARP for the given MAC after migration"),
    FE(NET_SET_MTU, SZ_U64, NOFD, VU_RING_NONE, VU_PF_NET_MTU,
       VU_DESC_FORBIDDEN_UNDER_VDPA | STATE,
       ACK, "set the MTU exposed to the guest"),
    FE(SET_BACKEND_REQ_FD, SZ_NONE, VU_FDS_ONE, VU_FDK_SOCKET, VU_RING_NONE, VU_PF_BACKEND_REQ,
       STATE,
       ACK, "hand over the back-end channel socket"),
    FE(IOTLB_MSG, SZ(sizeof(struct vu_iotlb)), NOFD, VU_RING_NONE, NONE, NO_REPLAY,
       VU_REPLY_NEED_REPLY, SZ_U64, NOFD, "update or invalidate a device IOTLB entry"),
    FE(SET_VRING_ENDIAN, SZ_STATE, NOFD, VU_RING_STATE, VU_PF_CROSS_ENDIAN, STATE,
       ACK, "set a legacy ring's endianness"),
    FE(GET_CONFIG, SZ_CONFIG, NOFD, VU_RING_NONE, VU_PF_CONFIG, VU_DESC_ONCE_PER_DEVICE,
       VU_REPLY_ALWAYS, SZ_CONFIG_REPLY, NOFD, "read device config space"),
    FE(SET_CONFIG, SZ_CONFIG, NOFD, VU_RING_NONE, VU_PF_CONFIG, STATE,
       ACK, "write device config space"),
    FE(CREATE_CRYPTO_SESSION, SZ_CRYPTO, NOFD, VU_RING_NONE, VU_PF_CRYPTO_SESSION, NO_REPLAY,
       VU_REPLY_ALWAYS, SZ_CRYPTO, NOFD, "create a crypto session"),
    FE(CLOSE_CRYPTO_SESSION, SZ_U64, NOFD, VU_RING_NONE, VU_PF_CRYPTO_SESSION, 0,
       ACK, "close a crypto session"),
    FE(POSTCOPY_ADVISE, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_PAGEFAULT, NO_REPLAY,
       VU_REPLY_ALWAYS, SZ_RANGE(0, 8), VU_FDS_ONE, VU_FDK_ANY, "open a userfaultfd for postcopy"),
    FE(POSTCOPY_LISTEN, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_PAGEFAULT, NO_REPLAY,
       ACK, "enter postcopy mode"),
    FE(POSTCOPY_END, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_PAGEFAULT, NO_REPLAY,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "leave postcopy mode"),
    FE(GET_INFLIGHT_FD, SZ(sizeof(struct vu_inflight)), NOFD, VU_RING_NONE,
       VU_PF_INFLIGHT_SHMFD, 0,
       VU_REPLY_ALWAYS, SZ(sizeof(struct vu_inflight)), VU_FDS_ONE, VU_FDK_MEMORY,
       "get the in-flight I/O tracking buffer"),
    FE(SET_INFLIGHT_FD, SZ(sizeof(struct vu_inflight)), VU_FDS_ONE, VU_FDK_MEMORY, VU_RING_NONE,
       VU_PF_INFLIGHT_SHMFD, STATE,
       ACK, "hand back the in-flight I/O tracking buffer"),
    FE(GPU_SET_SOCKET, SZ_NONE, VU_FDS_ONE, VU_FDK_SOCKET, VU_RING_NONE, NONE, STATE,
       ACK, "hand over the vhost-user-gpu socket"),
    FE(RESET_DEVICE, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_RESET_DEVICE,
       VU_DESC_FORBIDDEN_UNDER_VDPA | CLEARS,
       ACK, "reset the device to its initial state"),
    FE(VRING_KICK, SZ_STATE, NOFD, VU_RING_STATE, VU_PF_INBAND_NOTIFICATIONS, 0,
       ACK, "in-band kick"),
    FE(GET_MAX_MEM_SLOTS, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_CONFIGURE_MEM_SLOTS, 0,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "read the memory slot limit"),
    FE(ADD_MEM_REG, SZ(sizeof(struct vu_mem_single)), VU_FDS_ONE, VU_FDK_MEMORY, VU_RING_NONE,
       VU_PF_CONFIGURE_MEM_SLOTS, STATE,
       ACK, "add one memory region"),
    FE(REM_MEM_REG, SZ(sizeof(struct vu_mem_single)), VU_FDS_DISCARD, VU_FDK_ANY, VU_RING_NONE,
       VU_PF_CONFIGURE_MEM_SLOTS, STATE,
       ACK, "remove one memory region"),
    FE(SET_STATUS, SZ_U64, NOFD, VU_RING_NONE, VU_PF_STATUS, STATE,
       ACK, "write the VIRTIO device status"),
    FE(GET_STATUS, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_STATUS, 0,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "read the VIRTIO device status"),
    FE(GET_SHARED_OBJECT, SZ(sizeof(struct vu_shared_object)), NOFD, VU_RING_NONE,
       VU_PF_SHARED_OBJECT, 0,
       VU_REPLY_ALWAYS, SZ_U64, VU_FDS_ZERO_OR_ONE, VU_FDK_ANY, "look up a shared object by UUID"),
    FE(SET_DEVICE_STATE_FD, SZ(sizeof(struct vu_device_state)), VU_FDS_ONE, VU_FDK_ANY,
       VU_RING_NONE, VU_PF_DEVICE_STATE, NO_REPLAY,
       VU_REPLY_ALWAYS, SZ_U64, VU_FDS_ZERO_OR_ONE, VU_FDK_ANY, "start a device state transfer"),
    FE(CHECK_DEVICE_STATE, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_DEVICE_STATE, 0,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "check the device state transfer's result"),
    FE(VDPA_GET_DEVICE_ID, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_VDPA, VU_DESC_VDPA_ONLY,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "read the VIRTIO device ID"),
    FE(VDPA_GET_VRING_NUM, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_VDPA, VU_DESC_VDPA_ONLY,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "read the maximum ring size"),
    FE(VDPA_SET_CONFIG_CALL, SZ_U64, VU_FDS_ONE_UNLESS_NOFD, VU_FDK_EVENTFD, VU_RING_NONE,
       VU_PF_VDPA,
       VU_DESC_VDPA_ONLY | STATE,
       ACK, "set the config-change eventfd"),
    FE(VDPA_GET_IOVA_RANGE, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_VDPA, VU_DESC_VDPA_ONLY,
       VU_REPLY_ALWAYS, SZ(sizeof(struct vu_iova_range)), NOFD,
       "read the usable IOVA range"),
    FE(VDPA_GET_CONFIG_SIZE, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_VDPA, VU_DESC_VDPA_ONLY,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "read the config space size"),
    FE(VDPA_SUSPEND, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_VDPA, VU_DESC_VDPA_ONLY,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "suspend every ring"),
    FE(VDPA_RESUME, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_VDPA, VU_DESC_VDPA_ONLY,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "resume every ring"),
    FE(VDPA_GET_VQS_COUNT, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_VDPA, VU_DESC_VDPA_ONLY,
       VU_REPLY_ALWAYS, SZ_U64, NOFD, "read the number of virtqueues"),
};

static const struct vu_msg_desc backend_rows[] = {
    BE(IOTLB_MSG, SZ(sizeof(struct vu_iotlb)), NOFD, VU_RING_NONE, NONE, 0,
       ACK, "report a device IOTLB miss or access failure"),
    BE(CONFIG_CHANGE_MSG, SZ_NONE, NOFD, VU_RING_NONE, VU_PF_CONFIG,
       VU_DESC_FORBIDDEN_UNDER_VDPA,
       ACK, "tell the front-end that config space changed"),
    BE(VRING_HOST_NOTIFIER_MSG, SZ(sizeof(struct vu_vring_area)), VU_FDS_ONE_UNLESS_NOFD,
       VU_FDK_ANY,
       VU_RING_U64, VU_PF_HOST_NOTIFIER, 0,
       ACK, "offer a ring's host notifier area"),
    BE(VRING_CALL, SZ_STATE, NOFD, VU_RING_STATE, VU_PF_INBAND_NOTIFICATIONS, 0,
       ACK, "in-band call"),
    BE(VRING_ERR, SZ_STATE, NOFD, VU_RING_STATE, VU_PF_INBAND_NOTIFICATIONS, 0,
       ACK, "in-band error"),
    BE(SHARED_OBJECT_ADD, SZ(sizeof(struct vu_shared_object)), NOFD, VU_RING_NONE,
       VU_PF_SHARED_OBJECT, 0,
       ACK, "export a shared object"),
    BE(SHARED_OBJECT_REMOVE, SZ(sizeof(struct vu_shared_object)), NOFD, VU_RING_NONE,
       VU_PF_SHARED_OBJECT, 0,
       ACK, "withdraw a shared object"),
    BE(SHARED_OBJECT_LOOKUP, SZ(sizeof(struct vu_shared_object)), NOFD, VU_RING_NONE,
       VU_PF_SHARED_OBJECT, 0,
       VU_REPLY_ALWAYS, SZ_U64, VU_FDS_ZERO_OR_ONE, VU_FDK_ANY, "look up a shared object by UUID"),
};
/* clang-format on */

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

static const struct vu_msg_desc *rows_of(enum vu_channel channel, size_t *n)
{
    if (channel == VU_CHAN_BACKEND) {
        *n = ROWS(backend_rows);
        return backend_rows;
    }
    *n = ROWS(frontend_rows);
    return frontend_rows;
}

const struct vu_msg_desc *vu_msg_desc_lookup(enum vu_channel channel, uint32_t request)
{
    size_t n;
    const struct vu_msg_desc *rows = rows_of(channel, &n);
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rows[mid].request == request)
            return &rows[mid];
        if (rows[mid].request < request)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *vu_request_name(enum vu_channel channel, uint32_t request)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(channel, request);
    return d ? d->name : "UNKNOWN";
}

size_t vu_msg_desc_count(enum vu_channel channel)
{
    size_t n;
    rows_of(channel, &n);
    return n;
}

const struct vu_msg_desc *vu_msg_desc_at(enum vu_channel channel, size_t i)
{
    size_t n;
    const struct vu_msg_desc *rows = rows_of(channel, &n);
    return i < n ? &rows[i] : NULL;
}

static const char *const protocol_feature_names[VU_PF_COUNT_KNOWN] = {
    [VU_PF_MQ] = "MQ",
    [VU_PF_LOG_SHMFD] = "LOG_SHMFD",
    [VU_PF_RARP] = "RARP",
    [VU_PF_REPLY_ACK] = "REPLY_ACK",
    [VU_PF_NET_MTU] = "NET_MTU",
    [VU_PF_BACKEND_REQ] = "BACKEND_REQ",
    [VU_PF_CROSS_ENDIAN] = "CROSS_ENDIAN",
    [VU_PF_CRYPTO_SESSION] = "CRYPTO_SESSION",
    [VU_PF_PAGEFAULT] = "PAGEFAULT",
    [VU_PF_CONFIG] = "CONFIG",
    [VU_PF_BACKEND_SEND_FD] = "BACKEND_SEND_FD",
    [VU_PF_HOST_NOTIFIER] = "HOST_NOTIFIER",
    [VU_PF_INFLIGHT_SHMFD] = "INFLIGHT_SHMFD",
    [VU_PF_RESET_DEVICE] = "RESET_DEVICE",
    [VU_PF_INBAND_NOTIFICATIONS] = "INBAND_NOTIFICATIONS",
    [VU_PF_CONFIGURE_MEM_SLOTS] = "CONFIGURE_MEM_SLOTS",
    [VU_PF_STATUS] = "STATUS",
    [VU_PF_XEN_MMAP] = "XEN_MMAP",
    [VU_PF_SHARED_OBJECT] = "SHARED_OBJECT",
    [VU_PF_DEVICE_STATE] = "DEVICE_STATE",
};

const char *vu_protocol_feature_name(unsigned bit)
{
    if (bit == VU_PF_VDPA)
        return "VDPA";
    return bit < VU_PF_COUNT_KNOWN ? protocol_feature_names[bit] : NULL;
}
