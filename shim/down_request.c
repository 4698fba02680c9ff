/* SPDX-License-Identifier: MIT */
/*
 * Down-conversion's front-end requests, dispatched by table: handler_of()
 * has one row per request, and the dispatcher does the chores every request
 * shares once: the trace, a new sequence, the ring the request names, the
 * refusals that do not depend on the request, closing the fds a handler
 * left, the ack and the refusal a handler returns (down_int.h).
 *
 *   VDPA_GET_*, GET_STATUS  -> answered by the shim (the device model)
 *   SET_STATUS, SET_FEATURES, SUSPEND, RESUME -> down_status.c
 *   SET_VRING_*, GET_VRING_BASE               -> down_rings.c
 *   GET_CONFIG, SET_CONFIG, VDPA_SET_CONFIG_CALL -> down_config.c
 *   SET_MEM_TABLE, SET_OWNER, logging, RARP   -> the back-end, then a barrier
 *   GPU_SET_SOCKET                            -> the back-end, as it is
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "down_int.h"
#include "log.h"

/* ---- answered by the shim -------------------------------------------------------- */

/* GET_FEATURES: the device model's offer, with what its rules dropped. */
static int h_get_features(struct vs_relay *r, struct down_req *q)
{
    char note[128];
    const char *dropped = vs_features_dropped_note(r, note, sizeof(note));

    down_reply_u64(r, q->m, r->down->offered, dropped ? dropped : "device model");
    return DOWN_ANSWERED;
}

static int h_get_protocol_features(struct vs_relay *r, struct down_req *q)
{
    down_reply_u64(r, q->m, r->offered_pf, NULL);
    return DOWN_ANSWERED;
}

static int h_get_device_id(struct vs_relay *r, struct down_req *q)
{
    down_reply_u64(r, q->m, r->cfg.type->virtio_id, "device model");
    return DOWN_ANSWERED;
}

static int h_get_vring_num(struct vs_relay *r, struct down_req *q)
{
    down_reply_u64(r, q->m, r->down->queue_size_max, "device model");
    return DOWN_ANSWERED;
}

static int h_get_config_size(struct vs_relay *r, struct down_req *q)
{
    down_reply_u64(r, q->m, r->cfg.type->config_size, "device model");
    return DOWN_ANSWERED;
}

static int h_get_vqs_count(struct vs_relay *r, struct down_req *q)
{
    down_reply_u64(r, q->m, r->down->nrings, "device model");
    return DOWN_ANSWERED;
}

static int h_get_iova_range(struct vs_relay *r, struct down_req *q)
{
    /* a legacy back-end translates through the memory table: no limit */
    struct vu_iova_range range = { .first = 0, .last = UINT64_MAX };
    struct vu_msg reply;

    vu_msg_make_reply(&reply, q->m);
    vu_msg_set_payload(&reply, &range, sizeof(range));
    vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "device model");
    vs_conn_send(r->fe, &reply);
    return DOWN_ANSWERED;
}

/* ---- carried out by the back-end -------------------------------------------------- */

static int h_set_owner(struct vs_relay *r, struct down_req *q)
{
    struct vs_down *dn = r->down;

    if (dn->owner_sent) {
        q->why = "SET_OWNER again";
        return -EBUSY;
    }
    dn->owner_sent = true;
    vs_send_internal(r, q->m, DOWN_STEP_CHECK, 0, NULL);
    down_barrier(r, DOWN_STEP_ANSWER, q->ack);
    return DOWN_ANSWERED;
}

/* The memory table goes to the back-end; a net device's is also mapped
 * here, for the control queue. A table the shim cannot map (a directory,
 * O_PATH or socket fd, a region past its file's end) is refused, not
 * forwarded: the shim must map guest memory to serve the control queue, and
 * a table it cannot map is one the back-end, which maps the same fds the
 * same way, cannot use either; forwarding it would answer the front-end a
 * success that leaves the control queue, or the whole device, without
 * memory. The device keeps the table it had (guest_mem_map is all or
 * nothing). */
static int h_set_mem_table(struct vs_relay *r, struct down_req *q)
{
    struct vs_down *dn = r->down;
    struct vu_msg *m = q->m;

    if (down_is_net(dn)) {
        int rc = guest_mem_map(&dn->mem, m->payload.mem.regions, m->payload.mem.nregions, m->fds);
        if (rc) {
            snprintf(q->text, sizeof(q->text),
                     "a memory table the shim cannot map (%s): the "
                     "control queue, and the back-end, could not use it",
                     strerror(-rc));
            q->why = q->text;
            return rc;
        }
        if (dn->ctrl_running) {
            const struct vs_ring *c = &dn->rings[dn->ctrl_index].st;
            if (vq_device_remap(&dn->ctrl, &dn->mem, c->addr.desc_user_addr,
                                c->addr.avail_user_addr, c->addr.used_user_addr))
                down_needs_reset(r, "the control queue left guest memory");
        }
    }
    vs_send_internal(r, m, DOWN_STEP_CHECK, 0, NULL);
    down_barrier(r, DOWN_STEP_ANSWER, q->ack);
    return DOWN_ANSWERED;
}

/* SET_LOG_BASE, SET_LOG_FD, SEND_RARP: the back-end's reply is the answer. */
static int h_forward(struct vs_relay *r, struct down_req *q)
{
    q->m->hdr.flags |= q->ack ? VU_FLAG_NEED_REPLY : 0;
    vs_forward_to_backend(r, q->d, q->m, NULL);
    return DOWN_ANSWERED;
}

/* GPU_SET_SOCKET: the front-end's end of the vhost-user-gpu socket, over
 * which the back-end and the VMM speak the display protocol peer to peer.
 * vdpa-user forbids only the legacy requests that overlap a vDPA ioctl
 * (docs/vdpa-user.md 4) and this one overlaps none, so a vdpa-user front-end
 * may send it: handed on as it is (the fd's kind, a socket, was checked at
 * the boundary); the back-end's reply, where one was asked for, is the
 * answer. */
static int h_gpu_set_socket(struct vs_relay *r, struct down_req *q)
{
    q->m->hdr.flags |= q->ack ? VU_FLAG_NEED_REPLY : 0;
    vs_forward_to_backend(r, q->d, q->m, "handed on: no vDPA ioctl overlaps it");
    return DOWN_ANSWERED;
}

/* ---- dispatch ------------------------------------------------------------------- */

static down_handler *handler_of(uint32_t request)
{
    switch (request) {
    case VU_REQ_GET_FEATURES:
        return h_get_features;
    case VU_REQ_GET_PROTOCOL_FEATURES:
        return h_get_protocol_features;
    case VU_REQ_SET_OWNER:
        return h_set_owner;
    case VU_REQ_SET_FEATURES:
        return down_h_set_features;
    case VU_REQ_SET_STATUS:
        return down_h_set_status;
    case VU_REQ_GET_STATUS:
        return down_h_get_status;
    case VU_REQ_VDPA_GET_DEVICE_ID:
        return h_get_device_id;
    case VU_REQ_VDPA_GET_VRING_NUM:
        return h_get_vring_num;
    case VU_REQ_VDPA_GET_CONFIG_SIZE:
        return h_get_config_size;
    case VU_REQ_VDPA_GET_VQS_COUNT:
        return h_get_vqs_count;
    case VU_REQ_VDPA_GET_IOVA_RANGE:
        return h_get_iova_range;
    case VU_REQ_VDPA_SET_CONFIG_CALL:
        return down_h_set_config_call;
    case VU_REQ_GET_CONFIG:
        return down_h_get_config;
    case VU_REQ_SET_CONFIG:
        return down_h_set_config;
    case VU_REQ_SET_VRING_NUM:
    case VU_REQ_SET_VRING_ADDR:
    case VU_REQ_SET_VRING_BASE:
        return down_h_set_vring_layout;
    case VU_REQ_SET_VRING_ENABLE:
        return down_h_set_vring_enable;
    case VU_REQ_GET_VRING_BASE:
        return down_h_get_vring_base;
    case VU_REQ_SET_VRING_KICK:
    case VU_REQ_SET_VRING_CALL:
    case VU_REQ_SET_VRING_ERR:
        return down_h_set_vring_fd;
    case VU_REQ_SET_MEM_TABLE:
        return h_set_mem_table;
    case VU_REQ_SET_LOG_BASE:
    case VU_REQ_SET_LOG_FD:
    case VU_REQ_SEND_RARP:
        return h_forward;
    case VU_REQ_VDPA_SUSPEND:
        return down_h_suspend;
    case VU_REQ_VDPA_RESUME:
        return down_h_resume;
    case VU_REQ_GPU_SET_SOCKET:
        return h_gpu_set_socket;
    default:
        return NULL; /* not available in down-conversion */
    }
}

/* Requests that only the back-end can carry out. */
static bool needs_backend(uint32_t req)
{
    switch (req) {
    case VU_REQ_SET_MEM_TABLE:
    case VU_REQ_SET_LOG_BASE:
    case VU_REQ_SET_LOG_FD:
    case VU_REQ_SEND_RARP:
    case VU_REQ_SET_OWNER:
    case VU_REQ_GPU_SET_SOCKET:
        return true;
    default:
        return false;
    }
}

/* The ring a validated request names (the index is in range), or NULL. */
static struct down_ring *ring_of(struct vs_down *dn, const struct vu_msg_desc *d,
                                 const struct vu_msg *m)
{
    uint32_t index;

    return vu_ring_index_of(d->ring, m, &index) ? &dn->rings[index] : NULL;
}

/* Why the request is refused whatever it is, or NULL. */
static const char *refused_in_any_case(const struct vs_down *dn, uint32_t req)
{
    if (!dn->rings) /* unreachable while the set-up runs (the front-end is held) */
        return "the device set-up has not completed";
    if (dn->backend_lost && needs_backend(req))
        return "the back-end is gone (DEVICE_NEEDS_RESET)";
    return NULL;
}

void down_frontend_request(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m)
{
    struct vs_down *dn = r->down;
    /* under vdpa-user REPLY_ACK is always negotiated (spec 2.2) */
    struct down_req q = { .d = d,
                          .m = m,
                          .ack = (m->hdr.flags & VU_FLAG_NEED_REPLY) ? m->hdr.request : 0 };
    const char *refused;
    down_handler *h;
    int rc;

    vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, m, NULL);
    dn->sequence_failed = false;
    refused = refused_in_any_case(dn, m->hdr.request);
    if (refused) {
        vu_msg_close_fds(m);
        vs_refuse_frontend(r, &m->hdr, d, -EIO, refused);
        return;
    }
    h = handler_of(m->hdr.request);
    if (!h) {
        vu_msg_close_fds(m);
        vs_refuse_frontend(r, &m->hdr, d, -EOPNOTSUPP, "not available in down-conversion");
        return;
    }
    q.g = ring_of(dn, d, m);
    /* NEED_REPLY stays on m: a refusal answers it. Requests passed on are
     * re-flagged by vs_send_internal, and their answer is the shim's. */
    rc = h(r, &q);
    vu_msg_close_fds(m); /* any fd the handler did not take */
    if (rc < 0)
        vs_refuse_frontend(r, &m->hdr, d, rc, q.why);
    else if (rc == DOWN_ACK && q.ack)
        vs_reply_frontend_ack(r, q.ack, 0);
}
