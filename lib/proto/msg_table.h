/* SPDX-License-Identifier: MIT */
/*
 * The message-descriptor table: one row per vhost-user / vdpa-user request.
 *
 * The one list of messages and their rules. The validator, the trace
 * decoder, the name printer, the journal of a back-end restart (its
 * state/clears/not-replayable marks) and the compatibility matrix read it.
 * What else names requests does so for behaviour, not rules: a mode's
 * handler table (which request its handlers serve), replay.c's replay
 * order, matrix.c's two requests whose payload it inspects.
 */
#ifndef VDPA_SHIM_MSG_TABLE_H
#define VDPA_SHIM_MSG_TABLE_H

#include "vhost_user.h"

/* Which socket a request travels on. */
enum vu_channel {
    VU_CHAN_FRONTEND = 0, /* main socket: front-end requests, back-end replies */
    VU_CHAN_BACKEND = 1,  /* back-end channel: back-end requests, front-end replies */
};

/* How large a payload may be. */
enum vu_size_rule {
    VU_SIZE_EXACT,        /* size == min */
    VU_SIZE_RANGE,        /* min <= size <= max */
    VU_SIZE_MEM_TABLE,    /* 8 + nregions * 32, 1 <= nregions <= 8 */
    VU_SIZE_CONFIG,       /* 12 + config.size, config.size <= 256 */
    VU_SIZE_CONFIG_REPLY, /* as the request's, or 0 (the spec's error reply) */
};

struct vu_size_spec {
    enum vu_size_rule rule;
    uint16_t min;
    uint16_t max;
};

/* How many fds may ride with a message. */
enum vu_fd_rule {
    VU_FDS_NONE,            /* exactly 0 */
    VU_FDS_ONE,             /* exactly 1 */
    VU_FDS_ONE_UNLESS_NOFD, /* 1, or 0 when bit 8 of the leading u64 is set */
    VU_FDS_PER_REGION,      /* one per memory-table region */
    VU_FDS_ZERO_OR_ONE,     /* either (e.g. a reply that carries an fd on success) */
    VU_FDS_DISCARD,         /* none expected; one tolerated and closed unused
                             (REM_MEM_REG: the spec allows this for old peers) */
};

/* What kind of file each of a message's fds must be (lib/proto/validate.c probes
 * it with peer_fd_kind). Rows that carry no fd say VU_FDK_NONE; a row that
 * may carry fds never does. */
enum vu_fd_kind {
    VU_FDK_NONE = 0, /* no fd rides with this message */
    VU_FDK_ANY,      /* not checked: real peers pass kinds the shim only hands
                         on (a pipe, a userfaultfd, a dma-buf, a VFIO device) */
    VU_FDK_EVENTFD,  /* kick, call, err, config-call, log */
    VU_FDK_MEMORY,   /* mappable: a regular file (memfd, hugetlbfs, tmpfs, disk)
                         or a character device (device-DAX, Xen's gntdev and
                         privcmd); never O_PATH */
    VU_FDK_SOCKET,   /* a channel */
};

/* Where a ring index lives in the payload, if anywhere. */
enum vu_ring_rule {
    VU_RING_NONE,
    VU_RING_STATE, /* vring state .index */
    VU_RING_ADDR,  /* vring addr .index */
    VU_RING_U64,   /* bits 0-7 of the leading u64 */
};

/* When the receiver answers. */
enum vu_reply_rule {
    VU_REPLY_ACK,        /* only a REPLY_ACK, when NEED_REPLY is set and
                             REPLY_ACK was negotiated */
    VU_REPLY_ALWAYS,     /* an explicit reply, whatever the flags */
    VU_REPLY_NEED_REPLY, /* a u64 reply whenever NEED_REPLY is set, even
                             without REPLY_ACK (IOTLB_MSG as QEMU sends it) */
};

/* Row flags. */
#define VU_DESC_NEEDS_PROTOCOL_FEATURES 0x01u /* needs VIRTIO bit 30 offered */
#define VU_DESC_FORBIDDEN_UNDER_VDPA    0x02u /* refused once F_VDPA is negotiated */
#define VU_DESC_VDPA_ONLY               0x04u /* exists only under F_VDPA */
#define VU_DESC_DEPRECATED              0x08u
/* For a back-end restart under a live front-end (shim/replay.c): */
#define VU_DESC_STATE                                                                              \
    0x10u /* sets state a new back-end must be given again
                                        (the latest per ring, or per config offset) */
#define VU_DESC_CLEARS_STATE                                                                       \
    0x20u /* forgets that state: the ring's for a per-ring
                                        request (GET_VRING_BASE stops it), else the device's */
#define VU_DESC_NOT_REPLAYABLE                                                                     \
    0x40u /* state no replay can rebuild (dirty log, IOTLB,
                                        crypto sessions, postcopy, state transfer): a
                                        back-end lost after it ends the session */
/* For check= (shim/check.c): */
#define VU_DESC_ONCE_PER_DEVICE                                                                    \
    0x80u /* a legacy front-end asks once per device, when it
                                         creates it (QEMU reads GET_CONFIG at realize), not on
                                         every connection: not owed by a session that resumes
                                         a running device (QEMU's reconnect=) */

#define VU_GATE_NONE (-1)

struct vu_msg_desc {
    const char *name; /* spec name without the VHOST_USER_ prefix */
    uint32_t request;
    enum vu_channel channel;
    struct vu_size_spec size; /* request payload */
    enum vu_fd_rule fds;      /* request fds */
    enum vu_fd_kind fd_kind;  /* and their kind */
    enum vu_ring_rule ring;
    int8_t gate;   /* protocol feature that must be negotiated */
    uint8_t flags; /* VU_DESC_* */
    enum vu_reply_rule reply;
    struct vu_size_spec reply_size;
    enum vu_fd_rule reply_fds;
    enum vu_fd_kind reply_fd_kind;
    const char *summary; /* one line for --help, the trace and docs */
};

/* Looks a request up; NULL when it is not in the table. */
const struct vu_msg_desc *vu_msg_desc_lookup(enum vu_channel channel, uint32_t request);

/* The request's name, or "UNKNOWN" for requests not in the table. */
const char *vu_request_name(enum vu_channel channel, uint32_t request);

/* Iteration over every row of a channel, in request order. */
size_t vu_msg_desc_count(enum vu_channel channel);
const struct vu_msg_desc *vu_msg_desc_at(enum vu_channel channel, size_t i);

/* Protocol feature names ("REPLY_ACK", "VDPA", ...); NULL for unknown bits. */
const char *vu_protocol_feature_name(unsigned bit);

#endif
