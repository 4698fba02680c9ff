/* SPDX-License-Identifier: MIT */
/*
 * What the shim offers a front-end, and the protocol features it accepts
 * back (docs/architecture.md, "What the shim offers").
 *
 * One GET_PROTOCOL_FEATURES reply is read by every kind of front-end, and
 * the front-end's SET_PROTOCOL_FEATURES decides the mode afterwards. So a
 * bit is shown only when it works in every mode a front-end that acks it
 * can reach: a front-end without F_VDPA ends in up-conversion (vdpa-user
 * back-end) or pass-through (legacy back-end); one with F_VDPA in
 * pass-through (vdpa-user back-end) or down-conversion (legacy back-end).
 * Working means: the shim serves the bit's requests itself, or it has
 * negotiated the bit with the back-end.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "devmodel.h"
#include "log.h"
#include "offer.h"

/* A legacy back-end over which down-conversion offers nothing: said once
 * per session, so that a chain that cannot translate says why. */
static void explain_no_vdpa(struct vs_relay *r, uint64_t backend_pf)
{
    const char *why;

    if (r->offer_explained)
        return;
    r->offer_explained = true;
    why = vs_mode_down.unoffered ? vs_mode_down.unoffered(r, backend_pf) : NULL;
    vs_log(vs_refusal_quiet(r) ? VS_LOG_DEBUG : VS_LOG_INFO,
           "%s: F_VDPA not offered over this legacy back-end: %s; a vdpa-user front-end "
           "cannot use this %s device (a vhost-user one is relayed in pass-through)",
           r->cfg.id, why ? why : "down-conversion cannot serve it", r->cfg.type->name);
}

uint64_t vs_offer_protocol_features(struct vs_relay *r, uint64_t backend_pf)
{
    uint64_t down;

    /* Up-conversion serves exactly vs_up_offer; a vdpa-user front-end
     * (pass-through) gets the part of it the back-end has (vs_offer_vdpa_allowed). */
    if (vu_has_bit(backend_pf, VU_PF_VDPA))
        return VU_BIT(VU_PF_VDPA) | vs_mode_up.offer(r, backend_pf);
    /* A legacy back-end: its own bits for a legacy front-end, plus what
     * down-conversion adds. MQ and STATUS a legacy front-end may ack are
     * answered by the shim in pass-through (pass.c, answer_shim_offered);
     * REPLY_ACK the back-end lacks is emulated in every mode by a
     * GET_FEATURES barrier (session.c, vs_forward_to_backend). */
    down = vs_mode_down.offer(r, backend_pf);
    if (!vu_has_bit(down, VU_PF_VDPA))
        explain_no_vdpa(r, backend_pf);
    return vs_mode_pass.offer(r, backend_pf) | down;
}

/* The bits a front-end that acks F_VDPA may ack with it: CONFIG, which
 * F_VDPA implies, even where it is not shown (docs/vdpa-user.md 2.2). */
static uint64_t vdpa_allowed(const struct vs_relay *r)
{
    if (vu_has_bit(r->backend_pf, VU_PF_VDPA)) /* pass-through: the back-end's own */
        return vu_pf_in_effect(r->offered_pf & r->backend_pf);
    return vu_pf_in_effect(vs_mode_down.offer(r, r->backend_pf));
}

int vs_offer_check_vdpa_ack(const struct vs_relay *r, uint64_t v, char *text, size_t len)
{
    uint64_t extra;

    if (!vu_has_bit(v, VU_PF_VDPA))
        return 0;
    extra = v & ~vdpa_allowed(r);
    if (!extra)
        return 0;
    snprintf(text, len,
             "SET_PROTOCOL_FEATURES acks F_VDPA with 0x%" PRIx64 ", offered for vhost-user "
             "front-ends only (with F_VDPA this device serves 0x%" PRIx64 ")",
             extra, vdpa_allowed(r));
    return -EINVAL;
}

int vs_offer_protocol_features_again(struct vs_relay *r, struct vu_msg *m, char *text, size_t len)
{
    uint64_t v = m->payload.u64, had = r->fe_limits.protocol_features;

    /* docs/vdpa-user.md 2.2.5: the F_VDPA decision holds for the connection */
    if (vu_has_bit(had, VU_PF_VDPA)) {
        snprintf(text, len,
                 "SET_PROTOCOL_FEATURES again after F_VDPA was negotiated "
                 "(vdpa-user 2.2.5: the decision holds for the connection)");
        return -EINVAL;
    }
    if (v != had) {
        snprintf(text, len,
                 "SET_PROTOCOL_FEATURES again with 0x%" PRIx64 " after 0x%" PRIx64
                 ": the protocol features of a connection are settled once (only the same "
                 "value may be sent again, as QEMU does for each queue pair)",
                 v, had);
        return -EINVAL;
    }
    /* QEMU's virtio-net: one vhost device per queue pair on one socket,
     * each negotiating again (hw/virtio/vhost-user.c vhost_user_backend_init). */
    if (r->ops == &vs_mode_pass) {
        m->payload.u64 = r->be_limits.protocol_features;
        return 1; /* the back-end sees what QEMU sends it directly */
    }
    vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, m,
                 "the same protocol features again "
                 "(another queue pair): already in effect");
    if ((m->hdr.flags & VU_FLAG_NEED_REPLY) && vu_has_bit(had, VU_PF_REPLY_ACK))
        vs_reply_frontend_ack(r, VU_REQ_SET_PROTOCOL_FEATURES, 0);
    return 0;
}
