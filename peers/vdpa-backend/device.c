/* SPDX-License-Identifier: MIT */
/*
 * The vdpa-user device model (docs/vdpa-user.md), independent of the device
 * type: negotiation, one handler per request, the status state machine
 * (section 5), reset and suspend/resume. Ring start/stop, DEVICE_NEEDS_RESET
 * and config-change notification (section 7) are in rings.c.
 *
 * Every request is handled completely before the next is read (3.1): the
 * back-end is single-threaded and processes rings only between requests, so
 * there is never a request "in flight" on a ring when a handler runs. That
 * makes SUSPEND, reset and GET_VRING_BASE exact without any extra machinery.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "devmodel.h"
#include "fd_util.h"
#include "transport.h"
#include "vdpa-backend/backend.h"
#include "virtio/virtio_status.h"

#define ST_ACK     VIRTIO_STATUS_ACKNOWLEDGE
#define ST_DRIVER  VIRTIO_STATUS_DRIVER
#define ST_FEAT_OK VIRTIO_STATUS_FEATURES_OK
#define ST_DRV_OK  VIRTIO_STATUS_DRIVER_OK
#define ST_FAILED  VIRTIO_STATUS_FAILED
#define ST_OVERLAY VIRTIO_STATUS_OVERLAY

/* What F_VDPA requires the front-end to acknowledge with it (2.2); CONFIG
 * is implied by F_VDPA, acked or not. */
#define PF_VDPA_REQUIRED (VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS))

/* A handler's result besides 0 (success) and a positive errno (rejected). */
#define CLOSE_SESSION (-1)

uint64_t device_offered_features(const struct backend *b)
{
    return b->type->features(b) | VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VU_F_PROTOCOL_FEATURES);
}

uint64_t device_offered_protocol_features(const struct backend *b)
{
    (void)b;
    /* F_VDPA and what 2.2 says must come with it; BACKEND_REQ is accepted
     * and held (we never send back-end requests, see docs). No
     * CONFIGURE_MEM_SLOTS (SET_MEM_TABLE only), no LOG_SHMFD (no dirty
     * logging), no INBAND_NOTIFICATIONS. */
    return VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |
           VU_BIT(VU_PF_STATUS) | VU_BIT(VU_PF_BACKEND_REQ);
}

/* Takes the one fd of a message out of it (the handler now owns it). */
static int take_fd(struct vu_msg *msg)
{
    msg->nfds = 0;
    return fd_take(&msg->fds[0]);
}

static void refresh_limits(struct backend *b)
{
    /* We are the back-end: what we offer is known from the start. The
     * validator uses these to check ring indices and config ranges. */
    b->limits.offered_features = device_offered_features(b);
    b->limits.features_known = true;
    b->limits.protocol_features = b->protocol_features;
    b->limits.max_queues = b->nrings;
    b->limits.config_size = b->type->config_size;
}

void device_init(struct backend *b)
{
    b->sock = -1;
    b->config_call_fd = -1;
    b->backend_req_fd = -1;
    guest_mem_init(&b->mem);
    b->nrings = b->type->vqs_count(b);
    for (unsigned i = 0; i < BK_MAX_RINGS; i++) {
        memset(&b->rings[i], 0, sizeof(b->rings[i]));
        b->rings[i].kick_fd = b->rings[i].call_fd = b->rings[i].err_fd = -1;
    }
    refresh_limits(b);
}

/* 5.3: clear what the device model owns; keep transport resources (memory
 * table, eventfds, protocol features, ownership). */
static void device_reset(struct backend *b)
{
    for (unsigned i = 0; i < b->nrings; i++) {
        struct ring *r = &b->rings[i];
        /* Stopped without writing used entries: nothing is in flight. */
        r->started = false;
        r->num = 0;
        memset(&r->addr, 0, sizeof(r->addr));
        r->has_addr = false;
        r->base = 0;
        r->enabled = false;
    }
    b->status = 0;
    b->suspended = false;
    b->config_pending = false;
    b->driver_features = 0;
    b->features = 0;
    b->type->reset(b);
}

void device_session_start(struct backend *b, int sock)
{
    b->sock = sock;
    b->vdpa = false;
    b->owner = false;
    b->protocol_features = 0;
    b->stats.sessions++;
    device_reset(b);
    refresh_limits(b);
}

void device_session_end(struct backend *b)
{
    /* 3.1 "Connection loss": reset, then drop everything. */
    device_reset(b);
    for (unsigned i = 0; i < b->nrings; i++) {
        fd_close(&b->rings[i].kick_fd);
        fd_close(&b->rings[i].call_fd);
        fd_close(&b->rings[i].err_fd);
    }
    fd_close(&b->config_call_fd);
    fd_close(&b->backend_req_fd);
    fd_close(&b->sock);
    guest_mem_unmap(&b->mem);
    b->vdpa = false;
    b->owner = false;
    b->protocol_features = 0;
    refresh_limits(b);
}

/* ---- Request handlers --------------------------------------------------------- */
/* Each returns 0 (done; `reply` filled if the request has a reply payload), a
 * positive errno (rejected, with no effect), or CLOSE_SESSION. */

typedef int handler_fn(struct backend *b, struct vu_msg *msg, struct vu_msg *reply);

static int h_get_features(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    (void)msg;
    vu_msg_set_u64(reply, device_offered_features(b));
    return 0;
}

static int h_set_features(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    uint64_t v = msg->payload.u64 & ~VU_BIT(VU_F_PROTOCOL_FEATURES); /* bit 30 is ignored */
    uint64_t offered = device_offered_features(b);

    (void)reply;
    if (b->status & ST_FEAT_OK) {
        /* 3.3 exception: after FEATURES_OK only the dirty-log switch may
         * change. We offer no VHOST_F_LOG_ALL, so only a repeat of the
         * negotiated set is accepted (and does nothing). */
        return v == b->features ? 0 : EBUSY;
    }
    if (b->status != (ST_ACK | ST_DRIVER))
        return EBUSY;
    if (v & ~offered) {
        vs_info("SET_FEATURES 0x%" PRIx64 " has bits that were not offered (0x%" PRIx64 ")", v,
                v & ~offered);
        return EINVAL;
    }
    /* Only stored: checked as a whole at FEATURES_OK. */
    b->driver_features = v;
    return 0;
}

static int h_set_owner(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    (void)msg;
    (void)reply;
    if (b->owner)
        return EBUSY;
    b->owner = true;
    return 0;
}

static int h_get_protocol_features(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    (void)msg;
    vu_msg_set_u64(reply, device_offered_protocol_features(b));
    return 0;
}

static int h_set_protocol_features(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    uint64_t v = msg->payload.u64;

    (void)reply;
    if (b->vdpa)
        return EBUSY; /* 2.2.5: the F_VDPA decision holds for the connection */
    /* 2.2: CONFIG may be acked with F_VDPA whether or not it is shown */
    if (v & ~(vu_has_bit(v, VU_PF_VDPA) ? vu_pf_in_effect(device_offered_protocol_features(b))
                                        : device_offered_protocol_features(b)))
        return EINVAL;
    if (vu_has_bit(v, VU_PF_VDPA) && (v & PF_VDPA_REQUIRED) != PF_VDPA_REQUIRED)
        return EINVAL; /* 2.2.4 */
    b->protocol_features = v;
    b->vdpa = vu_has_bit(v, VU_PF_VDPA);
    if (b->vdpa)
        vs_info("vdpa-user negotiated (protocol features 0x%" PRIx64 ")", v);
    return 0;
}

static bool features_acceptable(const struct backend *b, uint64_t f)
{
    if (!vu_has_bit(f, VIRTIO_F_VERSION_1))
        return false;
    if (f & ~device_offered_features(b))
        return false;
    return b->type->features_ok(b, f);
}

/* 5.2, decided by virtio_status_transition() (lib/virtio/virtio_status.h),
 * the one copy the shim's down-conversion uses too; carried out here. */
static int h_set_status(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    struct virtio_status_ctx ctx = {
        .suspended = b->suspended,
        .features_acceptable = features_acceptable(b, b->driver_features),
    };
    struct virtio_status_outcome out;

    (void)reply;
    if (virtio_status_transition(b->status, msg->payload.u64, &ctx, &out) < 0) {
        vs_debug("SET_STATUS 0x%" PRIx64 " refused (row %u): %s", msg->payload.u64, out.row,
                 out.why);
        return -out.err;
    }
    switch (out.action) {
    case VIRTIO_STATUS_ACT_RESET:
        device_reset(b);
        vs_debug("reset");
        break;
    case VIRTIO_STATUS_ACT_FAIL:
        b->status = out.status;
        device_rings_update(b); /* stops every ring */
        break;
    case VIRTIO_STATUS_ACT_FEATURES_ACCEPT:
        b->features = b->driver_features;
        b->status = out.status;
        vs_info("features accepted: 0x%" PRIx64, b->features);
        break;
    case VIRTIO_STATUS_ACT_FEATURES_REFUSED:
        /* Acked 0 all the same (10.2.6); GET_STATUS shows the refusal. */
        vs_info("FEATURES_OK refused for features 0x%" PRIx64, b->driver_features);
        break;
    case VIRTIO_STATUS_ACT_START:
        b->status = out.status;
        device_rings_update(b); /* may set DEVICE_NEEDS_RESET; still acked 0 */
        device_deliver_config_change(b);
        vs_info("DRIVER_OK: device live");
        break;
    case VIRTIO_STATUS_ACT_RECORD:
        b->status = out.status;
        break;
    case VIRTIO_STATUS_ACT_ACCEPT:
    case VIRTIO_STATUS_ACT_REFUSE:
        break;
    }
    return 0;
}

static int h_get_status(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    (void)msg;
    vu_msg_set_u64(reply, b->status);
    return 0;
}

static int h_get_device_id(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    (void)msg;
    vu_msg_set_u64(reply, b->type->device_id);
    return 0;
}

static int h_get_vring_num(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    (void)msg;
    vu_msg_set_u64(reply, b->opt.queue_size);
    return 0;
}

static int h_get_config_size(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    (void)msg;
    vu_msg_set_u64(reply, b->type->config_size);
    return 0;
}

static int h_get_vqs_count(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    (void)msg;
    vu_msg_set_u64(reply, b->nrings);
    return 0;
}

static int h_get_iova_range(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    /* No restriction: every address the memory table covers is usable. */
    struct vu_iova_range range = { .first = 0, .last = UINT64_MAX };

    (void)b;
    (void)msg;
    vu_msg_set_payload(reply, &range, sizeof(range));
    return 0;
}

static int h_set_config_call(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    uint64_t v = msg->payload.u64;

    (void)reply;
    /* The validator matched fds against bit 8; all other bits are reserved. */
    if (v & ~(uint64_t)VU_VRING_NOFD_MASK)
        return EINVAL;
    fd_replace(&b->config_call_fd, v & VU_VRING_NOFD_MASK ? -1 : take_fd(msg));
    device_deliver_config_change(b);
    return 0;
}

static int h_suspend(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    (void)msg;
    /* Valid with DRIVER_OK and FAILED clear; also with NEEDS_RESET (5.4). */
    if (!(b->status & ST_DRV_OK) || (b->status & ST_FAILED))
        return EBUSY;
    /* Every fetched request is already complete (single-threaded, each
     * chain is finished before the next is popped), so stopping the rings
     * is all there is to do: used index == next avail index. */
    b->suspended = true;
    device_rings_update(b);
    vu_msg_set_u64(reply, 0);
    return 0;
}

static int h_resume(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    (void)msg;
    if (!(b->status & ST_DRV_OK) || (b->status & ST_OVERLAY))
        return EBUSY;
    b->suspended = false;
    device_rings_update(b); /* failure sets NEEDS_RESET; the reply stays 0 */
    device_deliver_config_change(b);
    vu_msg_set_u64(reply, 0);
    return 0;
}

static int h_get_config(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    const struct vu_config *c = &msg->payload.config;
    uint8_t config[VU_MAX_CONFIG_SIZE] = { 0 };

    if (b->status == 0)
        return EBUSY; /* 10.2.12: readable from ACKNOWLEDGE on */
    if (c->flags != 0 || c->size == 0)
        return EINVAL; /* offset + size was checked by the validator */
    b->type->read_config(b, config);
    vu_msg_set_config(reply, c->offset, c->size, 0, config + c->offset);
    return 0;
}

/* A driver write (SET_CONFIG flags 0), all or nothing: every byte must be
 * one the device model (lib/proto, the shim's own) lets a driver write in
 * this status. Once FEATURES_OK is set, the driver-writable fields with
 * their gates negotiated (virtio-input's select and subsel; net and blk have
 * none here: blk writeback needs CONFIG_WCE, which we do not offer); from
 * ACKNOWLEDGE|DRIVER on, the early-writable ones alone (select and subsel,
 * which QEMU's vhost-user-input passes on before SET_FEATURES;
 * docs/vdpa-user.md SET_CONFIG). Anything else before FEATURES_OK is
 * EBUSY, as every driver write was. */
static int driver_write(struct backend *b, const struct vu_config *c)
{
    const struct vs_device_model *m = vs_model_find(b->type->name);
    bool features_ok = b->status & ST_FEAT_OK;
    uint32_t off = 0, size = 0, bad;
    const struct vs_config_field *f;

    if (!m || !b->type->write_config || c->size == 0)
        return features_ok ? EINVAL : EBUSY;
    if (vs_model_write_span(m, c->offset, c->size, b->status, b->features,
                            device_offered_features(b), &off, &size) < 0) {
        vs_info("config write of [%u, %u) refused: its writable bytes are not one range", c->offset,
                c->offset + c->size);
        return features_ok ? EINVAL : EBUSY;
    }
    if (off == c->offset && size == c->size)
        return b->type->write_config(b, c->offset, c->size, c->data);
    bad = size == 0 || off > c->offset ? c->offset : off + size; /* the first byte refused */
    f = vs_model_field_at(m, bad);
    vs_info("config write of [%u, %u) in status 0x%02x refused: byte %u (%s) is %s", c->offset,
            c->offset + c->size, b->status, bad, f ? f->name : "no field",
            features_ok ? "not driver-writable" : "not writable before FEATURES_OK");
    return features_ok ? EINVAL : EBUSY;
}

static int h_set_config(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    const struct vu_config *c = &msg->payload.config;

    (void)reply;
    if (c->flags == VU_CONFIG_F_MIGRATION) {
        /* Provisioning: status exactly ACKNOWLEDGE|DRIVER. */
        if (b->status != (ST_ACK | ST_DRIVER))
            return EBUSY;
        if (!b->type->provision || c->size == 0)
            return b->type->provision ? EINVAL : EOPNOTSUPP;
        return b->type->provision(b, c->offset, c->size, c->data);
    }
    if ((b->status & ST_OVERLAY) || b->suspended)
        return EBUSY;
    return driver_write(b, c);
}

static int h_set_vring_enable(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    struct ring *r = &b->rings[msg->payload.state.index];

    (void)reply;
    if (!(b->status & ST_FEAT_OK) || (b->status & ST_OVERLAY))
        return EBUSY;
    if (msg->payload.state.num > 1)
        return EINVAL;
    r->enabled = msg->payload.state.num == 1;
    /* While running this starts or stops the ring at once; while suspended
     * only the bit changes (rings_update() starts nothing then). */
    device_rings_update(b);
    return 0;
}

/* SET_VRING_NUM/ADDR/BASE: after FEATURES_OK and before DRIVER_OK, or while
 * suspended; never with FAILED or NEEDS_RESET (5.4). */
static bool ring_layout_writable(const struct backend *b)
{
    if (!(b->status & ST_FEAT_OK) || (b->status & ST_OVERLAY))
        return false;
    return !(b->status & ST_DRV_OK) || b->suspended;
}

static int h_set_vring_num(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    uint32_t num = msg->payload.state.num;

    (void)reply;
    if (!ring_layout_writable(b))
        return EBUSY;
    if (num == 0 || num > b->opt.queue_size || (num & (num - 1)))
        return EINVAL;
    b->rings[msg->payload.state.index].num = num;
    return 0;
}

static int h_set_vring_addr(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    struct ring *r = &b->rings[msg->payload.addr.index];

    (void)reply;
    if (!ring_layout_writable(b))
        return EBUSY;
    /* VU_VRING_F_LOG asks for used-ring dirty logging, which needs
     * VHOST_F_LOG_ALL; we offer no logging. Addresses are checked when the
     * ring starts, not here (3.3). */
    if (msg->payload.addr.flags != 0)
        return EINVAL;
    r->addr = msg->payload.addr;
    r->has_addr = true;
    return 0;
}

static int h_set_vring_base(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    (void)reply;
    if (!ring_layout_writable(b))
        return EBUSY;
    if (virtio_vring_base_check(b->features, msg->payload.state.num) < 0)
        return EINVAL; /* a split ring's index is 16 bits */
    b->rings[msg->payload.state.index].base = (uint16_t)msg->payload.state.num;
    return 0;
}

static int h_get_vring_base(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    uint32_t index = msg->payload.state.index;
    const struct ring *r = &b->rings[index];

    /* No side effect (3.3): a snapshot while running, exact otherwise. */
    vu_msg_set_state(reply, index, r->started ? r->vq.last_avail : r->base);
    return 0;
}

/* SET_VRING_KICK / _CALL / _ERR: which fd of the ring the request sets. */
static int *ring_fd_slot(struct ring *r, uint32_t request)
{
    switch (request) {
    case VU_REQ_SET_VRING_KICK:
        return &r->kick_fd;
    case VU_REQ_SET_VRING_CALL:
        return &r->call_fd;
    default:
        return &r->err_fd;
    }
}

static int h_set_vring_fd(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    uint64_t v = msg->payload.u64;
    struct ring *r = &b->rings[v & VU_VRING_IDX_MASK]; /* index < nrings: validated */
    int *slot = ring_fd_slot(r, msg->hdr.request);

    (void)reply;
    if (v & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD_MASK))
        return EINVAL;
    /* Any state, including while running (3.3): the loop polls whatever
     * kick fd is installed, and a call fd is looked up at every completion. */
    fd_replace(slot, v & VU_VRING_NOFD_MASK ? -1 : take_fd(msg));
    return 0;
}

static int h_set_mem_table(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    const struct vu_mem_table *t = &msg->payload.mem;
    int rc;

    (void)reply;
    rc = guest_mem_map(&b->mem, t->regions, t->nregions, msg->fds);
    if (rc) {
        vs_warn("SET_MEM_TABLE: cannot map the regions (%s); keeping the old table", strerror(-rc));
        return EINVAL;
    }
    /* The mappings stay valid after the fds close (the caller closes them).
     * Running rings switch to the new table before we reply (3.3); a ring
     * whose memory went away makes the device fail (5.5). */
    for (unsigned i = 0; i < b->nrings; i++) {
        struct ring *r = &b->rings[i];
        if (r->started && vq_device_remap(&r->vq, &b->mem, r->addr.desc_user_addr,
                                          r->addr.avail_user_addr, r->addr.used_user_addr)) {
            char why[96];
            snprintf(why, sizeof(why), "ring %u is not in the new memory table", i);
            device_needs_reset(b, (int)i, why);
            break;
        }
    }
    vs_debug("memory table: %u region(s)", t->nregions);
    return 0;
}

static int h_set_backend_req_fd(struct backend *b, struct vu_msg *msg, struct vu_msg *reply)
{
    (void)reply;
    fd_replace(&b->backend_req_fd, take_fd(msg));
    return 0;
}

static handler_fn *handler_of(uint32_t request)
{
    switch (request) {
    case VU_REQ_GET_FEATURES:
        return h_get_features;
    case VU_REQ_SET_FEATURES:
        return h_set_features;
    case VU_REQ_SET_OWNER:
        return h_set_owner;
    case VU_REQ_SET_MEM_TABLE:
        return h_set_mem_table;
    case VU_REQ_SET_VRING_NUM:
        return h_set_vring_num;
    case VU_REQ_SET_VRING_ADDR:
        return h_set_vring_addr;
    case VU_REQ_SET_VRING_BASE:
        return h_set_vring_base;
    case VU_REQ_GET_VRING_BASE:
        return h_get_vring_base;
    case VU_REQ_SET_VRING_KICK:
    case VU_REQ_SET_VRING_CALL:
    case VU_REQ_SET_VRING_ERR:
        return h_set_vring_fd;
    case VU_REQ_GET_PROTOCOL_FEATURES:
        return h_get_protocol_features;
    case VU_REQ_SET_PROTOCOL_FEATURES:
        return h_set_protocol_features;
    case VU_REQ_SET_VRING_ENABLE:
        return h_set_vring_enable;
    case VU_REQ_SET_BACKEND_REQ_FD:
        return h_set_backend_req_fd;
    case VU_REQ_GET_CONFIG:
        return h_get_config;
    case VU_REQ_SET_CONFIG:
        return h_set_config;
    case VU_REQ_SET_STATUS:
        return h_set_status;
    case VU_REQ_GET_STATUS:
        return h_get_status;
    case VU_REQ_VDPA_GET_DEVICE_ID:
        return h_get_device_id;
    case VU_REQ_VDPA_GET_VRING_NUM:
        return h_get_vring_num;
    case VU_REQ_VDPA_SET_CONFIG_CALL:
        return h_set_config_call;
    case VU_REQ_VDPA_GET_IOVA_RANGE:
        return h_get_iova_range;
    case VU_REQ_VDPA_GET_CONFIG_SIZE:
        return h_get_config_size;
    case VU_REQ_VDPA_SUSPEND:
        return h_suspend;
    case VU_REQ_VDPA_RESUME:
        return h_resume;
    case VU_REQ_VDPA_GET_VQS_COUNT:
        return h_get_vqs_count;
    default:
        /* Everything else (logging, inflight, postcopy, IOTLB, ...) is a
         * request this back-end does not implement: rejected as unknown. */
        return NULL;
    }
}

/* ---- Replies ------------------------------------------------------------------ */

static int send_u64(struct backend *b, const struct vu_msg *req, uint64_t value)
{
    struct vu_msg reply;

    vu_msg_make_reply(&reply, req);
    vu_msg_set_u64(&reply, value);
    return vu_send_blocking(b->sock, &reply) ? CLOSE_SESSION : 0;
}

/* Whether the front-end gets a REPLY_ACK u64 for this request. 2.2.6: for
 * SET_PROTOCOL_FEATURES what counts is the value being written. */
static bool acks(const struct backend *b, const struct vu_msg *msg)
{
    uint64_t pf = b->protocol_features;

    if (!(msg->hdr.flags & VU_FLAG_NEED_REPLY))
        return false;
    if (msg->hdr.request == VU_REQ_SET_PROTOCOL_FEATURES && !b->vdpa &&
        msg->hdr.size == sizeof(uint64_t))
        pf = msg->payload.u64;
    return vu_has_bit(pf, VU_PF_REPLY_ACK);
}

static bool is_suspend_resume(uint32_t request)
{
    return request == VU_REQ_VDPA_SUSPEND || request == VU_REQ_VDPA_RESUME;
}

/* 3.1 "Rejection", with section 4's rule for the forbidden requests. */
static int reject(struct backend *b, const struct vu_msg_desc *d, struct vu_msg *msg, int err)
{
    const char *name = vu_request_name(VU_CHAN_FRONTEND, msg->hdr.request);

    b->stats.requests_refused++;
    vu_msg_close_fds(msg);
    if (is_suspend_resume(msg->hdr.request)) {
        vs_info("%s rejected (%s)", name, strerror(err));
        return send_u64(b, msg, (uint64_t)err);
    }
    if (d && (d->flags & VU_DESC_FORBIDDEN_UNDER_VDPA) && b->vdpa) {
        /* Section 4: a failure u64 with NEED_REPLY, else close, even for
         * GET_QUEUE_NUM, which has a reply payload of its own. */
        vs_info("%s is forbidden under vdpa-user; %s", name,
                (msg->hdr.flags & VU_FLAG_NEED_REPLY) ? "failure ack" : "closing");
        if (msg->hdr.flags & VU_FLAG_NEED_REPLY)
            return send_u64(b, msg, EOPNOTSUPP);
        return CLOSE_SESSION;
    }
    if (d && d->reply == VU_REPLY_ALWAYS) {
        struct vu_msg reply;
        vs_info("%s (%u) rejected (%s): empty reply", name, msg->hdr.request, strerror(err));
        vu_msg_make_reply(&reply, msg); /* size 0: the failure reply */
        return vu_send_blocking(b->sock, &reply) ? CLOSE_SESSION : 0;
    }
    if (acks(b, msg)) {
        vs_info("%s (%u) rejected (%s): failure ack", name, msg->hdr.request, strerror(err));
        return send_u64(b, msg, (uint64_t)err);
    }
    vs_info("%s (%u) rejected (%s) without NEED_REPLY: closing the connection", name,
            msg->hdr.request, strerror(err));
    return CLOSE_SESSION;
}

static bool negotiation_request(uint32_t request)
{
    return request == VU_REQ_GET_FEATURES || request == VU_REQ_GET_PROTOCOL_FEATURES ||
           request == VU_REQ_SET_PROTOCOL_FEATURES;
}

int device_handle_message(struct backend *b, struct vu_msg *msg)
{
    const struct vu_msg_desc *d;
    struct vu_error err;
    struct vu_msg reply;
    handler_fn *h;
    int rc;

    b->stats.requests++;
    refresh_limits(b);
    rc = vu_validate_request(&b->limits, VU_CHAN_FRONTEND, msg, &d, &err);
    vs_debug("<- %s (%u) flags 0x%x size %u fds %u%s%s",
             vu_request_name(VU_CHAN_FRONTEND, msg->hdr.request), msg->hdr.request, msg->hdr.flags,
             msg->hdr.size, msg->nfds, rc ? ": invalid: " : "", rc ? err.text : "");
    if (rc == -EPROTO) {
        vs_warn("bad message header (%s); closing the connection", err.text);
        return CLOSE_SESSION;
    }
    if (!b->vdpa && !negotiation_request(msg->hdr.request)) {
        /* This back-end speaks only vdpa-user (vdpa-user.md 2.3). */
        vs_warn("the front-end sent %s without acknowledging VHOST_USER_PROTOCOL_F_VDPA; this "
                "back-end speaks only vdpa-user: closing the connection (put vdpa-shim in front "
                "of it to serve a plain vhost-user front-end)",
                vu_request_name(VU_CHAN_FRONTEND, msg->hdr.request));
        vu_msg_close_fds(msg);
        return CLOSE_SESSION;
    }
    if (rc) {
        vs_info("invalid request: %s", err.text);
        return reject(b, d, msg, rc == -EOPNOTSUPP || rc == -EPERM ? EOPNOTSUPP : EINVAL);
    }
    h = handler_of(msg->hdr.request);
    if (!h)
        return reject(b, d, msg, EOPNOTSUPP);

    vu_msg_make_reply(&reply, msg);
    rc = h(b, msg, &reply);
    vu_msg_close_fds(msg); /* any fd a handler did not take */
    if (rc == CLOSE_SESSION)
        return rc;
    if (rc)
        return reject(b, d, msg, rc);
    if (d->reply == VU_REPLY_ALWAYS)
        return vu_send_blocking(b->sock, &reply) ? CLOSE_SESSION : 0;
    if (acks(b, msg))
        return send_u64(b, msg, 0);
    return 0;
}
