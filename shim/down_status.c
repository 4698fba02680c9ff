/* SPDX-License-Identifier: MIT */
/*
 * Down-conversion's status register and feature selection (spec 5.2, 5.3),
 * and suspension (VDPA_SUSPEND, VDPA_RESUME): decided by the shim, carried
 * out on the legacy back-end:
 *
 *   SET_STATUS(FEATURES_OK) -> SET_FEATURES (+ NET_SET_MTU); a refusal leaves
 *                              FEATURES_OK clear
 *   SET_STATUS(DRIVER_OK),  -> every enabled ring starts (down_rings.c); a
 *   RESUME                     refusal sets DEVICE_NEEDS_RESET
 *   SUSPEND, SET_STATUS(0), -> every ring the back-end runs stops; reset adds
 *   FAILED                     RESET_DEVICE where offered
 */
#include <errno.h>
#include <inttypes.h>

#include "down_int.h"
#include "log.h"

/* ---- status ------------------------------------------------------------------------- */

static void reset_device(struct vs_relay *r, const struct vu_msg *req, uint32_t ack)
{
    struct vs_down *dn = r->down;

    down_stop_rings(r);
    if (!dn->backend_lost && vu_has_bit(r->be_limits.protocol_features, VU_PF_RESET_DEVICE))
        vs_send_none(r, VU_REQ_RESET_DEVICE, DOWN_STEP_CHECK, 0, NULL);
    /* spec 5.3: cleared, except fds, memory table and provisioned values */
    for (uint32_t i = 0; i < dn->nrings; i++) {
        vs_ring_reset(&dn->rings[i].st);
        dn->rings[i].in_backend = false;
    }
    dn->status = 0;
    dn->suspended = dn->config_pending = false;
    dn->driver_features = dn->features = 0;
    dn->curr_pairs = 1;
    dn->in.events = 0; /* gpu events_read: the shim's own register */
    if (dn->backend_lost) {
        if (ack)
            down_reply_u64(r, req, 0, "reset");
        down_fail_session(r, "the back-end is gone and the front-end reset the device");
        return;
    }
    if (r->main_pending.count)
        down_barrier(r, DOWN_STEP_ANSWER, ack);
    else if (ack)
        vs_reply_frontend_ack(r, ack, 0);
}

/* Why the front-end's selection cannot get FEATURES_OK, or NULL if it can. */
static const char *features_refusal(const struct vs_down *dn, uint64_t f)
{
    if (!vu_has_bit(f, VIRTIO_F_VERSION_1))
        return "the front-end did not select VIRTIO_F_VERSION_1; a vdpa-user device is "
               "VIRTIO 1.x only";
    if (!vs_model_features_consistent(dn->model, f & ~TRANSPORT_BITS))
        return "the selection breaks a VIRTIO dependency (a feature without one it requires)";
    return NULL;
}

/* Spec 5.2, decided by virtio_status_transition() (lib/virtio/virtio_status.h),
 * the one copy the reference back-end uses too; carried out here. */
static void set_status(struct vs_relay *r, const struct vu_msg *m, const struct vu_msg_desc *d,
                       uint32_t ack)
{
    struct vs_down *dn = r->down;
    const char *refusal = features_refusal(dn, dn->driver_features);
    struct virtio_status_ctx ctx = { .suspended = dn->suspended, .features_acceptable = !refusal };
    struct virtio_status_outcome out;

    if (virtio_status_transition(dn->status, m->payload.u64, &ctx, &out) < 0) {
        vs_refuse_frontend(r, &m->hdr, d, out.err, out.why);
        return;
    }
    switch (out.action) {
    case VIRTIO_STATUS_ACT_RESET:
        reset_device(r, m, ack);
        return;
    case VIRTIO_STATUS_ACT_FAIL:
        dn->status = out.status;
        down_stop_rings(r);
        down_barrier(r, DOWN_STEP_ANSWER, ack);
        return;
    case VIRTIO_STATUS_ACT_FEATURES_ACCEPT:
        /* the status becomes out.status when the back-end has taken them */
        vs_send_u64(
            r, VU_REQ_SET_FEATURES,
            vs_model_backend_features(dn->model, dn->driver_features, dn->backend_features) |
                VU_BIT(VU_F_PROTOCOL_FEATURES) | (dn->driver_features & VU_BIT(F_LOG_ALL)),
            DOWN_STEP_CHECK, 0, "the front-end's selection, less what the shim provides");
        if (down_is_net(dn) && vu_has_bit(dn->driver_features, VIRTIO_NET_F_MTU) && dn->in.mtu &&
            vu_has_bit(r->be_limits.protocol_features, VU_PF_NET_MTU))
            vs_send_u64(r, VU_REQ_NET_SET_MTU, dn->in.mtu, DOWN_STEP_CHECK, 0,
                        "from the config space");
        down_barrier(r, DOWN_STEP_FEATURES_OK, ack);
        return;
    case VIRTIO_STATUS_ACT_FEATURES_REFUSED:
        /* acked 0: FEATURES_OK stays clear (spec 5.2) */
        vs_warn("%s: FEATURES_OK refused for features 0x%" PRIx64 ": %s", r->cfg.id,
                dn->driver_features, refusal);
        break;
    case VIRTIO_STATUS_ACT_START:
        dn->status = out.status;
        dn->ctrl_index = down_negotiated(dn, VIRTIO_NET_F_MQ) ? dn->in.backend_queues
                                                              : DOWN_NET_ONE_PAIR_RINGS;
        down_start_rings(r);
        down_barrier(r, DOWN_STEP_STARTED, ack);
        return;
    case VIRTIO_STATUS_ACT_RECORD:
        dn->status = out.status;
        break;
    case VIRTIO_STATUS_ACT_ACCEPT:
    case VIRTIO_STATUS_ACT_REFUSE:
        break;
    }
    if (ack)
        vs_reply_frontend_ack(r, ack, 0);
}

int down_h_set_status(struct vs_relay *r, struct down_req *q)
{
    set_status(r, q->m, q->d, q->ack);
    return DOWN_ANSWERED;
}

int down_h_get_status(struct vs_relay *r, struct down_req *q)
{
    down_reply_u64(r, q->m, r->down->status, NULL);
    return DOWN_ANSWERED;
}

/* ---- features ------------------------------------------------------------------------ */

/* SET_FEATURES: the selection (status ACKNOWLEDGE|DRIVER), or after
 * FEATURES_OK the dirty-logging switch (spec 3.3). */
int down_h_set_features(struct vs_relay *r, struct down_req *q)
{
    struct vs_down *dn = r->down;
    uint64_t v = q->m->payload.u64;
    uint8_t s = dn->status & (uint8_t)~VIRTIO_STATUS_DEVICE_NEEDS_RESET;

    if (s == VIRTIO_STATUS_BASE_DRIVER && !(v & ~(dn->offered | TRANSPORT_BITS))) {
        dn->driver_features = v;
        return DOWN_ACK;
    }
    if ((dn->status & VIRTIO_STATUS_FEATURES_OK) && ((v ^ dn->features) & ~TRANSPORT_BITS) == 0 &&
        !dn->backend_lost) {
        /* the dirty-logging switch (spec 3.3) */
        dn->features = (dn->features & ~VU_BIT(F_LOG_ALL)) | (v & VU_BIT(F_LOG_ALL));
        vs_send_u64(r, VU_REQ_SET_FEATURES,
                    vs_model_backend_features(dn->model, dn->features, dn->backend_features) |
                        VU_BIT(VU_F_PROTOCOL_FEATURES) | (v & VU_BIT(F_LOG_ALL)),
                    DOWN_STEP_CHECK, 0, "dirty logging");
        down_barrier(r, DOWN_STEP_ANSWER, q->ack);
        return DOWN_ANSWERED;
    }
    if (s == VIRTIO_STATUS_BASE_DRIVER) {
        q->why = "SET_FEATURES selects features the device does not offer";
        return -EINVAL;
    }
    q->why = "SET_FEATURES outside status ACKNOWLEDGE|DRIVER";
    return -EBUSY;
}

/* ---- suspension ---------------------------------------------------------------------- */

/* VDPA_SUSPEND and VDPA_RESUME always have a u64 reply: EBUSY outside DRIVER_OK. */
int down_h_suspend(struct vs_relay *r, struct down_req *q)
{
    struct vs_down *dn = r->down;
    uint32_t req = q->m->hdr.request;

    if (!(dn->status & VIRTIO_STATUS_DRIVER_OK) || (dn->status & VIRTIO_STATUS_FAILED)) {
        vs_reply_frontend_ack(r, req, EBUSY);
        return DOWN_ANSWERED;
    }
    if (dn->suspended) {
        vs_reply_frontend_ack(r, req, 0);
        return DOWN_ANSWERED;
    }
    dn->suspended = true;
    down_stop_rings(r);
    if (r->main_pending.count)
        down_barrier(r, DOWN_STEP_ANSWER, req);
    else
        vs_reply_frontend_ack(r, req, 0);
    return DOWN_ANSWERED;
}

int down_h_resume(struct vs_relay *r, struct down_req *q)
{
    struct vs_down *dn = r->down;
    uint32_t req = q->m->hdr.request;

    if (!(dn->status & VIRTIO_STATUS_DRIVER_OK) || (dn->status & VIRTIO_STATUS_OVERLAY)) {
        vs_reply_frontend_ack(r, req, EBUSY);
        return DOWN_ANSWERED;
    }
    if (!dn->suspended) {
        vs_reply_frontend_ack(r, req, 0);
        return DOWN_ANSWERED;
    }
    dn->suspended = false;
    down_start_rings(r);
    down_barrier(r, DOWN_STEP_STARTED, req);
    return DOWN_ANSWERED;
}
