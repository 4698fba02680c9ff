/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "validate.h"
#include "peer_fd.h"

static int fail(struct vu_msg *msg, struct vu_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct vu_msg *msg, struct vu_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof(err->text), fmt, ap);
        va_end(ap);
    }
    vu_msg_close_fds(msg);
    return code;
}

bool vu_header_flags_ok(uint32_t flags, bool is_reply)
{
    uint32_t allowed = VU_FLAG_VERSION_MASK | (is_reply ? VU_FLAG_REPLY : VU_FLAG_NEED_REPLY);

    if ((flags & VU_FLAG_VERSION_MASK) != VU_VERSION)
        return false;
    if (flags & ~allowed)
        return false;
    return is_reply == ((flags & VU_FLAG_REPLY) != 0);
}

static int check_size(const struct vu_size_spec *spec, const struct vu_msg *msg,
                      uint32_t request_config_size, struct vu_error *err, const char *name)
{
    uint32_t size = msg->hdr.size;

    switch (spec->rule) {
    case VU_SIZE_EXACT:
        if (size == spec->min)
            return 0;
        snprintf(err->text, sizeof(err->text), "%s: payload is %" PRIu32 " bytes, expected %u",
                 name, size, spec->min);
        return -EBADMSG;
    case VU_SIZE_RANGE:
        if (size >= spec->min && size <= spec->max)
            return 0;
        snprintf(err->text, sizeof(err->text), "%s: payload is %" PRIu32 " bytes, expected %u..%u",
                 name, size, spec->min, spec->max);
        return -EBADMSG;
    case VU_SIZE_MEM_TABLE: {
        uint32_t n;
        if (size < VU_MEM_TABLE_HDR_SIZE) {
            snprintf(err->text, sizeof(err->text),
                     "%s: payload of %" PRIu32 " bytes has no region count", name, size);
            return -EBADMSG;
        }
        n = msg->payload.mem.nregions;
        if (n > VU_MAX_MEM_REGIONS) {
            snprintf(err->text, sizeof(err->text), "%s: %" PRIu32 " memory regions, at most %u",
                     name, n, VU_MAX_MEM_REGIONS);
            return -E2BIG;
        }
        if (n == 0) {
            snprintf(err->text, sizeof(err->text), "%s: a memory table with no region", name);
            return -EBADMSG;
        }
        if (size != VU_MEM_TABLE_HDR_SIZE + n * sizeof(struct vu_mem_region)) {
            snprintf(err->text, sizeof(err->text),
                     "%s: payload is %" PRIu32 " bytes, %" PRIu32 " regions need %zu", name, size,
                     n, VU_MEM_TABLE_HDR_SIZE + n * sizeof(struct vu_mem_region));
            return -EBADMSG;
        }
        return 0;
    }
    case VU_SIZE_CONFIG:
    case VU_SIZE_CONFIG_REPLY:
        if (spec->rule == VU_SIZE_CONFIG_REPLY && size == 0)
            return 0; /* the spec's way of saying "failed" */
        if (size < VU_CONFIG_HDR_SIZE || msg->payload.config.size > VU_MAX_CONFIG_SIZE ||
            size != VU_CONFIG_HDR_SIZE + msg->payload.config.size) {
            snprintf(err->text, sizeof(err->text),
                     "%s: payload of %" PRIu32 " bytes does not hold a config access "
                     "(12-byte header + size <= %u)",
                     name, size, VU_MAX_CONFIG_SIZE);
            return -EBADMSG;
        }
        if (spec->rule == VU_SIZE_CONFIG_REPLY && msg->payload.config.size != request_config_size) {
            snprintf(err->text, sizeof(err->text),
                     "%s: reply has %" PRIu32 " config bytes, %" PRIu32 " were asked for", name,
                     msg->payload.config.size, request_config_size);
            return -EBADMSG;
        }
        return 0;
    }
    snprintf(err->text, sizeof(err->text), "%s: bad size rule", name);
    return -EBADMSG;
}

static int check_fds(enum vu_fd_rule rule, const struct vu_msg *msg, struct vu_error *err,
                     const char *name)
{
    unsigned want_min = 0, want_max = 0;

    switch (rule) {
    case VU_FDS_NONE:
        break;
    case VU_FDS_ONE:
        want_min = want_max = 1;
        break;
    case VU_FDS_ONE_UNLESS_NOFD:
        /* size was checked first, so the leading u64 is there */
        want_min = want_max = (msg->payload.u64 & VU_VRING_NOFD_MASK) ? 0 : 1;
        break;
    case VU_FDS_PER_REGION:
        want_min = want_max = msg->payload.mem.nregions;
        break;
    case VU_FDS_ZERO_OR_ONE:
    case VU_FDS_DISCARD:
        want_max = 1;
        break;
    }
    if (msg->nfds < want_min || msg->nfds > want_max) {
        if (want_min == want_max)
            snprintf(err->text, sizeof(err->text), "%s: carries %u fds, expected %u", name,
                     msg->nfds, want_min);
        else
            snprintf(err->text, sizeof(err->text), "%s: carries %u fds, expected %u..%u", name,
                     msg->nfds, want_min, want_max);
        return -EBADF;
    }
    return 0;
}

/* Whether an fd of kind `got` may ride where the table says `want`. */
static bool fd_kind_ok(enum vu_fd_kind want, enum peer_fd_kind got)
{
    switch (want) {
    case VU_FDK_NONE:
    case VU_FDK_ANY:
        return true;
    case VU_FDK_EVENTFD:
        return got == PEER_FD_EVENTFD;
    case VU_FDK_MEMORY: /* O_PATH is a kind of its own: no mmap */
        return got == PEER_FD_MEMORY || got == PEER_FD_CHARDEV;
    case VU_FDK_SOCKET:
        return got == PEER_FD_SOCKET;
    }
    return false;
}

static const char *fd_kind_wanted(enum vu_fd_kind want)
{
    switch (want) {
    case VU_FDK_EVENTFD:
        return "an eventfd";
    case VU_FDK_MEMORY:
        return "a mappable file (regular file, memfd or character device)";
    case VU_FDK_SOCKET:
        return "a socket";
    case VU_FDK_NONE:
    case VU_FDK_ANY:
        break;
    }
    return "any fd";
}

/* The fd count, then the kind of every fd (probed without I/O). */
static int check_fd_rules(enum vu_fd_rule rule, enum vu_fd_kind want, const struct vu_msg *msg,
                          struct vu_error *err, const char *name)
{
    int rc = check_fds(rule, msg, err, name);

    for (unsigned i = 0; !rc && i < msg->nfds; i++) {
        enum peer_fd_kind got = peer_fd_kind(msg->fds[i]);
        if (!fd_kind_ok(want, got)) {
            snprintf(err->text, sizeof(err->text), "%s: fd %u is %s, expected %s", name, i,
                     peer_fd_kind_name(got), fd_kind_wanted(want));
            rc = -EBADFD;
        }
    }
    return rc;
}

int vu_ring_index_of(enum vu_ring_rule rule, const struct vu_msg *msg, uint32_t *index)
{
    switch (rule) {
    case VU_RING_NONE:
        return 0;
    case VU_RING_STATE:
        *index = msg->payload.state.index;
        return 1;
    case VU_RING_ADDR:
        *index = msg->payload.addr.index;
        return 1;
    case VU_RING_U64:
        *index = (uint32_t)(msg->payload.u64 & VU_VRING_IDX_MASK);
        return 1;
    }
    return 0;
}

static bool regions_sane(const struct vu_mem_region *r, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (r[i].memory_size == 0 ||
            r[i].guest_phys_addr + r[i].memory_size < r[i].guest_phys_addr ||
            r[i].userspace_addr + r[i].memory_size < r[i].userspace_addr ||
            r[i].mmap_offset + r[i].memory_size < r[i].mmap_offset)
            return false;
    }
    return true;
}

int vu_validate_request(const struct vu_session_limits *limits, enum vu_channel channel,
                        struct vu_msg *msg, const struct vu_msg_desc **desc_out,
                        struct vu_error *err)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(channel, msg->hdr.request);
    struct vu_error scratch;
    uint32_t index, max_queues, config_size;
    int rc;

    if (!err)
        err = &scratch;
    *desc_out = d;
    if (!d)
        return fail(msg, err, -EOPNOTSUPP, "unknown %s request %" PRIu32,
                    channel == VU_CHAN_FRONTEND ? "front-end" : "back-end-channel",
                    msg->hdr.request);
    if (!vu_header_flags_ok(msg->hdr.flags, false))
        return fail(msg, err, -EPROTO, "%s: bad header flags 0x%" PRIx32 " for a request", d->name,
                    msg->hdr.flags);

    /* Feature gates first: a request the session never enabled is refused
     * whatever its payload looks like. A gate is open when its bit is
     * negotiated or implied by F_VDPA (CONFIG: docs/vdpa-user.md 2.2). */
    if ((d->flags & VU_DESC_NEEDS_PROTOCOL_FEATURES) &&
        !(limits->features_known && vu_has_bit(limits->offered_features, VU_F_PROTOCOL_FEATURES)))
        return fail(msg, err, -EPERM,
                    "%s: needs VHOST_USER_F_PROTOCOL_FEATURES, which was not offered", d->name);
    if (d->gate != VU_GATE_NONE &&
        !vu_has_bit(vu_pf_in_effect(limits->protocol_features), (unsigned)d->gate))
        return fail(msg, err, -EPERM, "%s: needs protocol feature %s, which was not negotiated",
                    d->name, vu_protocol_feature_name((unsigned)d->gate));
    if ((d->flags & VU_DESC_FORBIDDEN_UNDER_VDPA) &&
        vu_has_bit(limits->protocol_features, VU_PF_VDPA))
        return fail(msg, err, -EPERM, "%s: forbidden once VHOST_USER_PROTOCOL_F_VDPA is negotiated",
                    d->name);
    if (channel == VU_CHAN_BACKEND && !vu_has_bit(limits->protocol_features, VU_PF_BACKEND_REQ))
        return fail(msg, err, -EPERM, "%s: back-end channel used without BACKEND_REQ", d->name);

    rc = check_size(&d->size, msg, 0, err, d->name);
    if (rc)
        return fail(msg, NULL, rc, "%s", "");
    rc = check_fd_rules(d->fds, d->fd_kind, msg, err, d->name);
    if (rc)
        return fail(msg, NULL, rc, "%s", "");

    max_queues = limits->max_queues ? limits->max_queues : VU_MAX_QUEUES;
    if (vu_ring_index_of(d->ring, msg, &index) && index >= max_queues)
        return fail(msg, err, -ERANGE,
                    "%s: ring index %" PRIu32 " out of range (device has %" PRIu32 " rings)",
                    d->name, index, max_queues);

    if (d->size.rule == VU_SIZE_CONFIG) {
        const struct vu_config *c = &msg->payload.config;
        config_size = limits->config_size ? limits->config_size : VU_MAX_CONFIG_SIZE;
        if (c->size == 0) /* docs/vdpa-user.md: 1..256 bytes; 0 is no access at all */
            return fail(msg, err, -EBADMSG, "%s: a config access of 0 bytes", d->name);
        if (c->offset > config_size || c->size > config_size - c->offset)
            return fail(msg, err, -ERANGE,
                        "%s: offset %" PRIu32 " + size %" PRIu32 " is beyond the %" PRIu32
                        "-byte config space",
                        d->name, c->offset, c->size, config_size);
        if (c->flags > VU_CONFIG_F_MIGRATION)
            return fail(msg, err, -EINVAL, "%s: unknown config flags 0x%" PRIx32, d->name,
                        c->flags);
    }
    if (d->size.rule == VU_SIZE_MEM_TABLE &&
        !regions_sane(msg->payload.mem.regions, msg->payload.mem.nregions))
        return fail(msg, err, -EINVAL, "%s: a memory region is empty or wraps around", d->name);
    if (msg->hdr.request == VU_REQ_ADD_MEM_REG && channel == VU_CHAN_FRONTEND &&
        !regions_sane(&msg->payload.mem_single.region, 1))
        return fail(msg, err, -EINVAL, "%s: the memory region is empty or wraps around", d->name);

    if (d->fds == VU_FDS_DISCARD && msg->nfds)
        vu_msg_close_fds(msg); /* tolerated, never used or forwarded */
    err->text[0] = '\0';
    return 0;
}

bool vu_request_expects_reply(const struct vu_session_limits *limits,
                              const struct vu_msg_desc *desc, const struct vu_msg *msg,
                              struct vu_pending *pending)
{
    bool need = (msg->hdr.flags & VU_FLAG_NEED_REPLY) != 0;

    pending->request = msg->hdr.request;
    pending->config_size = 0;
    pending->empty_ok = false;
    switch (desc->reply) {
    case VU_REPLY_ALWAYS:
        pending->kind = VU_PENDING_EXPLICIT;
        /* SUSPEND and RESUME always answer with a u64 result. */
        pending->empty_ok = desc->channel == VU_CHAN_FRONTEND &&
                            vu_has_bit(limits->protocol_features, VU_PF_VDPA) &&
                            desc->request != VU_REQ_VDPA_SUSPEND &&
                            desc->request != VU_REQ_VDPA_RESUME;
        if (desc->reply_size.rule == VU_SIZE_CONFIG_REPLY)
            pending->config_size = msg->payload.config.size;
        return true;
    case VU_REPLY_NEED_REPLY:
        pending->kind = VU_PENDING_ACK;
        return need;
    case VU_REPLY_ACK:
        pending->kind = VU_PENDING_ACK;
        return need && vu_has_bit(limits->protocol_features, VU_PF_REPLY_ACK);
    }
    return false;
}

int vu_validate_reply(const struct vu_pending *pending, enum vu_channel channel, struct vu_msg *msg,
                      struct vu_error *err)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(channel, pending->request);
    static const struct vu_size_spec ack_size = { VU_SIZE_EXACT, 8, 8 };
    struct vu_error scratch;
    int rc;

    if (!err)
        err = &scratch;
    if (!d)
        return fail(msg, err, -EOPNOTSUPP, "reply to unknown request %" PRIu32, pending->request);
    if (msg->hdr.request != pending->request)
        return fail(msg, err, -EPROTO, "expected the reply to %s, got %s (%" PRIu32 ")", d->name,
                    vu_request_name(channel, msg->hdr.request), msg->hdr.request);
    if (!vu_header_flags_ok(msg->hdr.flags, true))
        return fail(msg, err, -EPROTO, "%s reply: bad header flags 0x%" PRIx32, d->name,
                    msg->hdr.flags);
    if (pending->kind == VU_PENDING_EXPLICIT && pending->empty_ok && msg->hdr.size == 0 &&
        msg->nfds == 0)
        return 0; /* the back-end refused the request */
    if (pending->kind == VU_PENDING_ACK) {
        rc = check_size(&ack_size, msg, 0, err, d->name);
        if (!rc)
            rc = check_fds(VU_FDS_NONE, msg, err, d->name);
    } else {
        rc = check_size(&d->reply_size, msg, pending->config_size, err, d->name);
        if (!rc)
            rc = check_fd_rules(d->reply_fds, d->reply_fd_kind, msg, err, d->name);
    }
    if (rc)
        return fail(msg, NULL, rc, "%s", "");
    return 0;
}
