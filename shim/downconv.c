/* SPDX-License-Identifier: MIT */
/*
 * Down-conversion: a vdpa-user front-end drives a legacy vhost-user back-end.
 *
 * The front-end sees the whole VIRTIO device model of docs/vdpa-user.md; the
 * shim keeps it (status register, feature selection, ring layout, config
 * space, suspension) and drives the back-end the legacy way:
 *
 *   set-up (F_VDPA acked)   -> SET_PROTOCOL_FEATURES (legacy bits), SET_OWNER,
 *                              the shim's own back-end channel, GET_QUEUE_NUM,
 *                              GET_CONFIG (back-ends with F_CONFIG), GET_FEATURES
 *   SET_VRING_CALL / _ERR   -> at once for the back-end's rings, as QEMU sends
 *                              them at set-up; layouts and kicks are kept
 *   SET_STATUS(FEATURES_OK) -> SET_FEATURES (+ NET_SET_MTU); a refusal leaves
 *                              FEATURES_OK clear
 *   SET_STATUS(DRIVER_OK),  -> every enabled ring: NUM, BASE, ADDR, KICK, CALL,
 *   RESUME, enable            ERR, ENABLE 1; a refusal sets DEVICE_NEEDS_RESET
 *   SUSPEND, SET_STATUS(0), -> GET_VRING_BASE on every ring the back-end runs
 *   FAILED, disable            (the legacy stop), which gives exact indices;
 *                              reset adds RESET_DEVICE where offered
 *   VDPA_GET_*, GET_STATUS  -> answered by the shim
 *   GET_CONFIG / SET_CONFIG -> the device model (devmodel.h): synthesized, or
 *                              the back-end's config space
 *   control queue (net)     -> served from guest memory (down_ctrl.c); VQ_PAIRS_SET
 *                              starts and stops the back-end's ring pairs
 *   CONFIG_CHANGE_MSG, loss -> config-call eventfd (DEVICE_NEEDS_RESET on loss)
 *
 * Every sequence ends with a GET_FEATURES "barrier" whose reply carries the
 * continuation (enum down_step), so the front-end's answer reflects every
 * step's outcome; while a reply is owed the front-end is not read
 * (holds_while_owed). The files: down_int.h.
 *
 * This file: the set-up, the back-end's replies to the shim's steps (one
 * row per step), the back-end's loss, the end, and the mode table.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fd_util.h"
#include "down_int.h"
#include "log.h"

/* DPDK 22.11 reports its library's maximum queue count, not the queues it
 * polls: more than this many is worth a warning. */
#define DOWN_SUSPICIOUS_QUEUES 16u
/* DPDK offers F_MTU without a way to ask its value: its default, which every
 * driver accepts. */
#define DOWN_NET_DEFAULT_MTU 1500u
/* A back-end built on older VIRTIO headers knows a shorter config structure
 * (QEMU 7.2's virtio-blk: 60 bytes); the shim asks for that much, then half,
 * down to the smallest config worth asking for. */
#define DOWN_OLD_CONFIG_SIZE 60u
#define DOWN_MIN_CONFIG_SIZE 8u
/* A MAC made up from the device id: QEMU's locally administered prefix
 * 52:54:00 and 24 bits of the id's FNV-1a hash. */
#define FNV1A_OFFSET 2166136261u
#define FNV1A_PRIME  16777619u
static const uint8_t DOWN_MAC_PREFIX[] = { 0x52, 0x54, 0x00 };

/* ---- helpers --------------------------------------------------------------- */

void down_reply_u64(struct vs_relay *r, const struct vu_msg *req, uint64_t v, const char *note)
{
    vs_reply_frontend_u64(r, req->hdr.request, v, note);
}

static void vs_down_internal_reply(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m);

/* The end of a sequence: GET_FEATURES has a reply in every state and no
 * effect, so its reply arrives after every step before it. */
void down_barrier(struct vs_relay *r, enum down_step step, uint32_t arg)
{
    struct vu_msg m;

    if (r->down->backend_lost) {
        /* no back-end to ask: the sequence ends here, each step failed */
        struct vs_owed o = { .p = { .request = VU_REQ_GET_FEATURES },
                             .origin = VS_FROM_SHIM,
                             .action = step,
                             .arg = arg };
        r->down->sequence_failed = true;
        vu_msg_init(&m, VU_REQ_GET_FEATURES, VU_FLAG_REPLY);
        vu_msg_set_u64(&m, 0);
        vs_down_internal_reply(r, &o, &m);
        return;
    }
    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    vs_send_internal(r, &m, step, arg, "end of sequence");
}

void down_fail_session(struct vs_relay *r, const char *what)
{
    vs_err("%s: %s; disconnecting the front-end", r->cfg.id, what);
    vs_end_session(r, what);
}

/* ---- set-up ------------------------------------------------------------------------- */

#define DOWN_BACKEND_PF                                                                            \
    (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_NET_MTU) |                          \
     VU_BIT(VU_PF_BACKEND_REQ) | VU_BIT(VU_PF_CONFIG) | VU_BIT(VU_PF_RESET_DEVICE))

static const struct vs_device_model *model_for(const struct vs_relay *r, uint64_t backend_pf)
{
    const struct vs_device_model *m = vs_model_find(r->cfg.type->name);

    if (m)
        return m;
    /* Other types: only with the back-end's own config space (or none). */
    if (vu_has_bit(backend_pf, VU_PF_CONFIG) || r->cfg.type->config_size == 0)
        return vs_model_generic();
    return NULL;
}

/* Why a vdpa-user front-end cannot be served over this back-end, or NULL.
 * A back-end without REPLY_ACK is served: each step's ack comes from a
 * GET_FEATURES barrier (vs_send_internal), as QEMU drives such back-ends. */
static const char *vs_down_unoffered(const struct vs_relay *r, uint64_t backend_pf)
{
    if (!model_for(r, backend_pf))
        return "the shim has no device model for this type, and the back-end offers no "
               "F_CONFIG to read the config space from";
    return NULL;
}

static uint64_t vs_down_offer(const struct vs_relay *r, uint64_t backend_pf)
{
    if (vs_down_unoffered(r, backend_pf))
        return 0;
    /* spec 2.2.2: F_VDPA comes with MQ, REPLY_ACK and STATUS (the shim's
     * own, whatever the back-end has), and implies CONFIG, which is not
     * shown: a legacy VMM reads this offer too, and QEMU warns about CONFIG
     * for devices whose config it keeps itself. */
    return VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS) |
           (backend_pf & (VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_RARP)));
}

/* The device keys (cfg) as the device model's input. */
static void model_input_init(struct vs_model_input *in, const struct vs_device_config *cfg)
{
    in->speed_set = cfg->speed_set;
    in->speed = cfg->speed;
    in->duplex = cfg->duplex;
    in->tag = cfg->tag;
    in->capacity = cfg->capacity;
    memcpy(in->key, cfg->model_key, sizeof(in->key));
    in->keys_set = cfg->model_keys_set;
    in->events = 0;
    in->link_up = true;
    in->mtu = cfg->mtu;
    if (cfg->has_mac) {
        memcpy(in->mac, cfg->mac, sizeof(in->mac));
    } else {
        /* A stable, locally administered address, as QEMU's 52:54:00:... */
        uint32_t h = FNV1A_OFFSET;
        for (const char *p = cfg->id; *p; p++)
            h = (h ^ (uint8_t)*p) * FNV1A_PRIME;
        uint8_t mac[] = { DOWN_MAC_PREFIX[0], DOWN_MAC_PREFIX[1], DOWN_MAC_PREFIX[2],
                          (uint8_t)(h >> 16), (uint8_t)(h >> 8),  (uint8_t)h };
        _Static_assert(sizeof(mac) == sizeof(in->mac), "a MAC is six bytes");
        memcpy(in->mac, mac, sizeof(in->mac));
    }
}

static int vs_down_begin(struct vs_relay *r, const struct vu_msg *set_pf)
{
    struct vs_down *dn = calloc(1, sizeof(*dn));
    uint64_t be_pf;

    if (!dn)
        return -ENOMEM;
    r->down = dn;
    dn->model = model_for(r, r->backend_pf);
    dn->config_call_fd = -1;
    dn->curr_pairs = 1;
    model_input_init(&dn->in, &r->cfg);
    dn->queue_size_max = r->cfg.queue_size ? r->cfg.queue_size : r->cfg.type->ring_size_max;
    guest_mem_init(&dn->mem);
    dn->begin_ack = (set_pf->hdr.flags & VU_FLAG_NEED_REPLY) != 0;
    vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, set_pf, "down-conversion begins");

    be_pf = r->backend_pf & (DOWN_BACKEND_PF | (set_pf->payload.u64 &
                                                (VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_RARP))));
    /* Sent as QEMU sends it, without NEED_REPLY; every later step asks. */
    r->be_limits.protocol_features = 0;
    vs_send_u64(r, VU_REQ_SET_PROTOCOL_FEATURES, be_pf, DOWN_STEP_CHECK, 0, "legacy back-end");
    r->be_limits.protocol_features = be_pf;
    if (r->owner_deferred) {
        struct vu_msg owner;
        r->owner_deferred = false;
        dn->owner_sent = true;
        vu_msg_init(&owner, VU_REQ_SET_OWNER, 0);
        vs_send_internal(r, &owner, DOWN_STEP_CHECK, 0, "deferred SET_OWNER");
    }
    if (vu_has_bit(be_pf, VU_PF_BACKEND_REQ))
        down_give_backend_channel(r);
    if (vu_has_bit(be_pf, VU_PF_MQ)) {
        struct vu_msg q;
        vu_msg_init(&q, VU_REQ_GET_QUEUE_NUM, 0);
        vs_send_internal(r, &q, DOWN_STEP_SETUP_QUEUES, 0, NULL);
    }
    if (down_backend_config_used(r)) {
        struct vu_msg get;
        vu_msg_init(&get, VU_REQ_GET_CONFIG, 0);
        vu_msg_set_config(&get, 0, r->cfg.type->config_size, 0, NULL);
        vs_send_internal(r, &get, DOWN_STEP_SETUP_CONFIG, r->cfg.type->config_size, NULL);
        return 0; /* its reply sends the last step */
    }
    down_barrier(r, DOWN_STEP_SETUP_DONE, 0);
    return 0;
}

/* The back-end's queue count, cut to what the device keys ask and to what
 * the device type allows. */
static void fit_backend_queues(struct vs_relay *r, uint64_t backend_features)
{
    struct vs_down *dn = r->down;
    uint32_t want;

    if (!dn->in.backend_queues)
        dn->in.backend_queues = r->cfg.type->default_queues;
    /* queue-pairs= / num-queues= may offer fewer queues than the back-end has */
    want = r->cfg.queue_pairs ? DOWN_RINGS_PER_PAIR * r->cfg.queue_pairs : r->cfg.num_queues;
    if (!want && down_is_net(dn) && dn->in.backend_queues > DOWN_SUSPICIOUS_QUEUES)
        vs_warn("%s: the back-end reports %u queue pairs (DPDK 22.11 reports its library's "
                "maximum, not the queues it polls); give queue-pairs= the number it serves, "
                "or a driver that uses more pairs sees no traffic on them",
                r->cfg.id, dn->in.backend_queues / DOWN_RINGS_PER_PAIR);
    if (want && want < dn->in.backend_queues)
        dn->in.backend_queues = want;
    else if (want > dn->in.backend_queues)
        vs_warn("%s: the back-end serves %u virtqueues, fewer than the device keys ask (%u)",
                r->cfg.id, dn->in.backend_queues, want);
    if (down_is_net(dn)) {
        /* whole pairs, and the control queue's index must fit in 8 bits */
        dn->in.backend_queues &= ~1u;
        if (dn->in.backend_queues < DOWN_NET_ONE_PAIR_RINGS)
            dn->in.backend_queues = DOWN_NET_ONE_PAIR_RINGS;
        if (dn->in.backend_queues > VU_MAX_QUEUES - DOWN_RINGS_PER_PAIR)
            dn->in.backend_queues = VU_MAX_QUEUES - DOWN_RINGS_PER_PAIR;
        if (!dn->in.mtu && vu_has_bit(backend_features, VIRTIO_NET_F_MTU))
            dn->in.mtu = DOWN_NET_DEFAULT_MTU;
    }
}

/* Why the device cannot be presented (a text in buf), or NULL. */
static const char *cannot_present(struct vs_relay *r, uint64_t backend_features, char *buf,
                                  size_t len)
{
    const char *missing = vs_model_missing(r->down->model, &r->down->in);
    const char *key = vs_model_missing_key(r->down->model, &r->down->in);

    if (missing) {
        snprintf(buf, len,
                 "cannot present a %s device: the back-end has no config "
                 "space and no device key gives '%s' (%s%s%s)",
                 r->cfg.type->name, missing,
                 key ? "add " : "only the back-end's config space has it", key ? key : "",
                 key ? "=" : "");
        return buf;
    }
    if (!vu_has_bit(backend_features, VIRTIO_F_VERSION_1))
        return "the back-end does not offer VIRTIO_F_VERSION_1, which vdpa-user needs";
    return NULL;
}

/* The back-end answered everything the device model needs. */
static void begin_done(struct vs_relay *r, uint64_t backend_features)
{
    struct vs_down *dn = r->down;
    char text[DOWN_TEXT];
    const char *why;

    dn->backend_features = backend_features;
    fit_backend_queues(r, backend_features);
    why = cannot_present(r, backend_features, text, sizeof(text));
    if (why) {
        down_fail_session(r, why);
        return;
    }
    dn->offered = vs_features_sanitize(r, vs_model_offer(dn->model, &dn->in, backend_features));
    dn->nrings = vs_model_vqs_count(dn->model, dn->in.backend_queues);
    dn->rings = calloc(dn->nrings, sizeof(*dn->rings));
    if (!dn->rings) {
        down_fail_session(r, "out of memory");
        return;
    }
    for (uint32_t i = 0; i < dn->nrings; i++)
        vs_ring_init(&dn->rings[i].st);
    r->fe_limits.max_queues = dn->nrings;
    r->fe_limits.config_size = r->cfg.type->config_size;
    r->fe_limits.offered_features = dn->offered;
    r->fe_limits.features_known = true;
    r->be_limits.max_queues = dn->in.backend_queues;
    vs_info(
        "%s: down-converting: %s device, %u virtqueues (%u on the back-end), features 0x%" PRIx64
        " (back-end 0x%" PRIx64 ")",
        r->cfg.id, r->cfg.type->name, dn->nrings, dn->in.backend_queues, dn->offered,
        backend_features);
    if (dn->begin_ack)
        vs_reply_frontend_ack(r, VU_REQ_SET_PROTOCOL_FEATURES, 0);
}

static void vs_down_end(struct vs_relay *r)
{
    struct vs_down *dn = r->down;

    if (!dn)
        return;
    r->down = NULL;
    down_ctrl_end(dn);
    down_free_rings(dn);
    fd_close(&dn->config_call_fd);
    guest_mem_unmap(&dn->mem);
    free(dn->chain);
    free(dn);
}

/* ---- the back-end's replies to the shim's steps ------------------------------------- */

static void step_check(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    uint64_t v = m->payload.u64;

    if (v != 0) {
        r->down->sequence_failed = true;
        vs_warn("%s: back-end %s refused %s (%" PRIu64 "); the front-end's request fails "
                "(--trace shows the exchange)",
                r->cfg.id, r->cfg.backend, vu_request_name(VU_CHAN_FRONTEND, o->p.request), v);
    }
}

static void step_setup_queues(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    uint64_t v = m->payload.u64;

    (void)o;
    if (v == 0 || v > VU_MAX_QUEUES / DOWN_RINGS_PER_PAIR) {
        down_fail_session(r, "the back-end reports an unusable queue count");
        return;
    }
    r->down->in.backend_queues = (uint32_t)(r->cfg.type->queue_num_is_pairs
                                                ? DOWN_RINGS_PER_PAIR * v
                                                : v);
}

static void step_setup_config(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    struct vs_down *dn = r->down;

    if (m->hdr.size < VU_CONFIG_HDR_SIZE || m->payload.config.size != o->arg) {
        /* an older structure: ask for less */
        uint32_t shorter = o->arg > DOWN_OLD_CONFIG_SIZE ? DOWN_OLD_CONFIG_SIZE
                                                         : (uint32_t)(o->arg / 2);
        if (shorter >= DOWN_MIN_CONFIG_SIZE) {
            struct vu_msg get;
            vu_msg_init(&get, VU_REQ_GET_CONFIG, 0);
            vu_msg_set_config(&get, 0, shorter, 0, NULL);
            vs_send_internal(r, &get, DOWN_STEP_SETUP_CONFIG, shorter, "a shorter config space");
            return;
        }
        down_fail_session(r, "the back-end offers F_CONFIG but refuses GET_CONFIG");
        return;
    }
    memcpy(dn->backend_config, m->payload.config.data, o->arg);
    dn->in.backend_config = dn->backend_config;
    dn->in.backend_config_size = (uint32_t)o->arg;
    down_barrier(r, DOWN_STEP_SETUP_DONE, 0);
}

static void step_setup_done(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    (void)o;
    if (r->down->sequence_failed) {
        down_fail_session(r, "the legacy back-end refused the set-up");
        return;
    }
    begin_done(r, m->payload.u64);
}

static void step_answer(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    (void)m;
    if (o->arg)
        vs_reply_frontend_ack(r, (uint32_t)o->arg, r->down->sequence_failed ? EIO : 0);
}

static void step_features_ok(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    struct vs_down *dn = r->down;

    (void)m;
    if (!dn->sequence_failed) {
        dn->features = dn->driver_features;
        dn->status = VIRTIO_STATUS_BASE_FEATURES_OK;
    } else {
        vs_warn("%s: back-end %s refused FEATURES_OK for features 0x%" PRIx64 " (what the "
                "front-end selected); FEATURES_OK stays clear. Compare them with what the "
                "back-end offered (GET_FEATURES in --trace)",
                r->cfg.id, r->cfg.backend, dn->driver_features);
    }
    if (o->arg)
        vs_reply_frontend_ack(r, (uint32_t)o->arg, 0);
}

static void step_started(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    (void)m;
    if (r->down->sequence_failed)
        down_needs_reset(r, "the back-end refused to start a ring");
    else
        down_release_held_kicks(r);
    if (o->arg)
        vs_reply_frontend_ack(r, (uint32_t)o->arg, 0);
    down_deliver_pending_config(r);
}

static void step_ctrl_done(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    (void)o;
    (void)m;
    down_ctrl_done(r);
}

typedef void down_step_fn(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m);

/* One row per continuation. A barrier ends a sequence: afterwards the
 * control queue may have work waiting. */
static const struct {
    down_step_fn *fn;
    bool barrier;
} steps[DOWN_STEPS] = {
    [DOWN_STEP_CHECK] = { step_check, false },
    [DOWN_STEP_SETUP_QUEUES] = { step_setup_queues, false },
    [DOWN_STEP_SETUP_CONFIG] = { step_setup_config, false },
    [DOWN_STEP_SETUP_DONE] = { step_setup_done, false },
    [DOWN_STEP_SAVE_BASE] = { down_step_save_base, false },
    [DOWN_STEP_CONFIG_READ] = { down_step_config_read, false },
    [DOWN_STEP_ANSWER] = { step_answer, true },
    [DOWN_STEP_FEATURES_OK] = { step_features_ok, true },
    [DOWN_STEP_STARTED] = { step_started, true },
    [DOWN_STEP_CTRL_DONE] = { step_ctrl_done, true },
};

static void vs_down_internal_reply(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    vu_msg_close_fds(m);
    if (!r->down || o->action >= DOWN_STEPS)
        return;
    steps[o->action].fn(r, o, m);
    if (steps[o->action].barrier && r->main_pending.count == 0)
        down_ctrl_process(r);
}

/* ---- the back-end's loss ------------------------------------------------------------ */

/* A reply the back-end will never send (vs_session_drop_owed): a step
 * fails, so the front-end gets the answer a failed step gives; a queued
 * answer is given; a forwarded request's reply has a shape only the
 * back-end can give, so it sets *forwarded (ctx) and the session ends.
 * Nothing more once the session has ended. */
static void fail_owed_step(struct vs_relay *r, const struct vs_owed *o, void *ctx)
{
    bool *forwarded = ctx;
    struct vu_msg failed;

    if (!r->down)
        return;
    if (o->origin == VS_FROM_FRONTEND) {
        *forwarded = true;
        return;
    }
    if (o->origin == VS_SHIM_ANSWER) {
        vs_reply_frontend_ack(r, o->p.request, o->arg);
        return;
    }
    vu_msg_init(&failed, o->p.request, VU_FLAG_REPLY);
    vu_msg_set_u64(&failed, EIO);
    vs_down_internal_reply(r, o, &failed);
}

/* The back-end went: the vdpa-user front-end stays and sees
 * DEVICE_NEEDS_RESET where the session allows it. */
static enum vs_loss down_backend_lost(struct vs_relay *r, int reason)
{
    struct vs_down *dn = r->down;
    bool forwarded = false;

    (void)reason;
    if (!dn || !dn->rings || !r->fe || dn->status == 0)
        return VS_LOSS_END; /* nothing to keep: the front-end reconnects */
    vs_warn("%s: the legacy back-end %s is gone; the front-end sees DEVICE_NEEDS_RESET and link "
            "down. Restart the back-end; the front-end then resets the device",
            r->cfg.id, r->cfg.backend);
    dn->backend_lost = true;
    dn->in.link_up = false;
    for (uint32_t i = 0; i < dn->nrings; i++)
        dn->rings[i].in_backend = false;
    down_needs_reset(r, "the back-end disconnected");
    vs_session_drop_owed(r, fail_owed_step, &forwarded);
    return !forwarded && r->down ? VS_LOSS_KEEP_FRONTEND : VS_LOSS_END;
}

const struct vs_mode_ops vs_mode_down = {
    .name = "down-conversion",
    .holds_while_owed = true,
    .offer = vs_down_offer,
    .unoffered = vs_down_unoffered,
    .begin = vs_down_begin,
    .frontend_request = down_frontend_request,
    .internal_reply = vs_down_internal_reply,
    .backend_lost = down_backend_lost,
    .end = vs_down_end,
};
