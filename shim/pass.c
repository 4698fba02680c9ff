/* SPDX-License-Identifier: MIT */
/*
 * The pass-through mode: both sides speak the same protocol. Requests go to
 * the back-end as they are, recorded in the journal (replay.c) so that a
 * back-end that restarts gets the session again; the shim answers only what
 * it offered on its own account (STATUS, MQ for a vdpa-user front-end of a
 * legacy back-end). Also the mode of every session until the front-end's
 * SET_PROTOCOL_FEATURES decides.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "log.h"
#include "mode.h"
#include "replay.h"

/* A front-end that acked STATUS or CONFIG because the shim
 * offered them (for vdpa-user) while the back-end has neither: the shim
 * answers, so that the back-end never sees a request it did not agree to.
 * True when the request was answered. */
static bool answer_shim_offered(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m)
{
    bool ack = (m->hdr.flags & VU_FLAG_NEED_REPLY) &&
               vu_has_bit(r->fe_limits.protocol_features, VU_PF_REPLY_ACK);

    if (d->gate == VU_GATE_NONE ||
        vu_has_bit(vu_pf_in_effect(r->be_limits.protocol_features), (unsigned)d->gate) ||
        !vu_has_bit(r->fe_limits.protocol_features, (unsigned)d->gate))
        return false;
    vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, m, "the back-end lacks this feature");
    vu_msg_close_fds(m);
    switch (m->hdr.request) {
    case VU_REQ_SET_STATUS:
        /* a legacy back-end starts on kicks and stops on GET_VRING_BASE */
        r->pass_status = (uint8_t)m->payload.u64;
        if (ack)
            vs_reply_frontend_ack(r, m->hdr.request, 0);
        return true;
    case VU_REQ_GET_STATUS:
        /* in order, behind the replies the back-end still owes */
        vs_reply_frontend_ack(r, m->hdr.request, r->pass_status);
        return true;
    case VU_REQ_GET_QUEUE_NUM:
        /* a back-end without MQ serves the type's default queues */
        vs_reply_frontend_ack(r, m->hdr.request,
                              r->cfg.type->queue_num_is_pairs ? 1 : r->cfg.type->default_queues);
        return true;
    default:
        vs_refuse_frontend(r, &m->hdr, d, -EOPNOTSUPP,
                           "the back-end does not have this protocol feature");
        return true;
    }
}

/* A front-end that sets features it was not offered. True when refused. */
static bool unoffered_features(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m)
{
    const struct vu_session_limits *lim = &r->fe_limits;
    struct vu_hdr hdr = m->hdr;
    char text[256];

    if (hdr.request != VU_REQ_SET_FEATURES || !lim->features_known ||
        !(m->payload.u64 & ~lim->offered_features))
        return false;
    snprintf(text, sizeof(text),
             "SET_FEATURES acks 0x%" PRIx64 ", which includes 0x%" PRIx64
             " the back-end did not offer",
             m->payload.u64, m->payload.u64 & ~lim->offered_features);
    vu_msg_close_fds(m);
    vs_refuse_frontend(r, &hdr, d, -EINVAL, text);
    return true;
}

/* A request that goes on as it is: journaled, then forwarded. */
static void pass_forward(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m,
                         const char *note)
{
    vs_replay_record(r, d, m);
    vs_forward_to_backend(r, d, m, note);
}

static void pass_frontend_request(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m)
{
    if (answer_shim_offered(r, d, m) || unoffered_features(r, d, m))
        return;
    pass_forward(r, d, m, NULL);
}

static uint64_t pass_offer(const struct vs_relay *r, uint64_t backend_pf)
{
    (void)r;
    return backend_pf & VS_RELAY_PROTOCOL_FEATURES;
}

/* A back-end that went away is replaced where the journal allows; one the
 * shim dropped (it did not read, or broke the protocol) ends the session. */
static enum vs_loss pass_backend_lost(struct vs_relay *r, int reason)
{
    if (reason && reason != -ECONNRESET && reason != -EPIPE)
        return VS_LOSS_END;
    return vs_replay_backend_lost(r) ? VS_LOSS_RECONNECT : VS_LOSS_END;
}

static void pass_backend_attached(struct vs_relay *r)
{
    if (vs_replay_restoring(r))
        vs_replay_begin(r); /* the front-end is read again once it is done */
    else if (r->fe)
        vs_conn_pause(r->fe, false);
}

const struct vs_mode_ops vs_mode_pass = {
    .name = "pass-through",
    .holds_while_owed = false,
    .offer = pass_offer,
    .begin = NULL,
    .forward = pass_forward,
    .frontend_request = pass_frontend_request,
    .internal_reply = vs_replay_internal_reply,
    .backend_lost = pass_backend_lost,
    .backend_attached = pass_backend_attached,
    .holds_frontend = NULL,
    .end = vs_replay_end,
};
