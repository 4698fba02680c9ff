/* SPDX-License-Identifier: MIT */
/*
 * Boundary validation: every message from a peer passes through here before
 * any handler sees it. Checks header flags, that the request is known, payload
 * size, fd count, ring index, feature gates, config bounds and memory region
 * counts, the kind of every fd, all driven by the message-descriptor table.
 *
 * Fd ownership: the validators take the message's fds into account. On
 * failure they close every fd the message carried (so a rejected message
 * loses nothing and leaks nothing). On success they close fds the table says
 * to discard (REM_MEM_REG's tolerated fd) and leave the rest in the message.
 */
#ifndef VDPA_SHIM_VALIDATE_H
#define VDPA_SHIM_VALIDATE_H

#include <stdbool.h>

#include "msg_table.h"

/* What the validator must know of one vhost-user session. */
struct vu_session_limits {
    uint64_t offered_features;  /* VIRTIO features the back-end side offered */
    bool features_known;        /* a GET_FEATURES reply has been seen */
    uint64_t protocol_features; /* negotiated (acked by SET_PROTOCOL_FEATURES) */
    uint32_t max_queues;        /* ring index limit; 0 means VU_MAX_QUEUES */
    uint32_t config_size;       /* config space size; 0 means VU_MAX_CONFIG_SIZE */
};

struct vu_error {
    char text[192];
};

/* A reply the receiver of a request owes the sender. */
enum vu_pending_kind {
    VU_PENDING_EXPLICIT, /* the request's own reply (GET_FEATURES, ...) */
    VU_PENDING_ACK,      /* a REPLY_ACK u64 */
};

struct vu_pending {
    uint32_t request;
    enum vu_pending_kind kind;
    uint32_t config_size; /* GET_CONFIG: the size asked for */
    bool empty_ok;        /* under F_VDPA, an empty reply is a refusal
                                    (docs/vdpa-user.md 3.1) */
};

/* Checks a request arriving on `channel`. Returns 0 or a negative errno:
 *   -EPROTO   bad header flags (version, REPLY bit on a request, unknown bits)
 *   -EOPNOTSUPP unknown request
 *   -EBADMSG  payload size out of range for the request
 *   -EBADF    wrong number of fds
 *   -EBADFD   an fd of the wrong kind (the table's fd-kind column, probed
 *             with peer_fd_kind: e.g. a socket where an eventfd belongs)
 *   -ERANGE   ring index or config offset/size out of range
 *   -E2BIG    too many memory regions
 *   -EPERM    request not allowed by the negotiated features
 * *desc_out is set to the table row (NULL for unknown requests) either way. */
int vu_validate_request(const struct vu_session_limits *limits, enum vu_channel channel,
                        struct vu_msg *msg, const struct vu_msg_desc **desc_out,
                        struct vu_error *err);

/* Whether a (valid) request obliges the receiver to reply, and with what. */
bool vu_request_expects_reply(const struct vu_session_limits *limits,
                              const struct vu_msg_desc *desc, const struct vu_msg *msg,
                              struct vu_pending *pending);

/* Checks a reply against the request it answers; same error codes. */
int vu_validate_reply(const struct vu_pending *pending, enum vu_channel channel, struct vu_msg *msg,
                      struct vu_error *err);

/* Whether the header's version and flag bits are acceptable. */
bool vu_header_flags_ok(uint32_t flags, bool is_reply);

/* The ring index a message names under the table's ring rule: 1 with
 * *index set, 0 when the rule names none (VU_RING_NONE). */
int vu_ring_index_of(enum vu_ring_rule rule, const struct vu_msg *msg, uint32_t *index);

#endif
