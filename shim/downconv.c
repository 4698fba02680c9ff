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
 * continuation, so the front-end's answer reflects every step's outcome;
 * while a reply is owed the front-end is not read (relay.c).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "down_int.h"
#include "log.h"
#include "peer_fd.h"
#include "virtio/virtio_status.h"

#define F_LOG_ALL 26
#define TRANSPORT_BITS (VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(F_LOG_ALL))
#define DOWN_DEFAULT_QUEUE_SIZE 1024u /* QEMU's and libvhost-user's limit */

/* ---- helpers --------------------------------------------------------------- */

static void reply_u64(struct vs_relay *r, const struct vu_msg *req, uint64_t v, const char *note)
{
    struct vu_msg reply;

    vu_msg_make_reply(&reply, req);
    vu_msg_set_u64(&reply, v);
    vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, note);
    vs_conn_send(r->fe, &reply);
}

static void vs_down_internal_reply(struct vs_relay *r, const struct vs_owed *o,
                                   struct vu_msg *m);

/* The end of a sequence: GET_FEATURES has a reply in every state and no
 * effect, so its reply arrives after every step before it. */
void down_barrier(struct vs_relay *r, enum down_action action, uint32_t arg)
{
    struct vu_msg m;

    if (r->down->backend_lost) {
        /* no back-end to ask: the sequence ends here, each step failed */
        struct vs_owed o = { .p = { .request = VU_REQ_GET_FEATURES }, .origin = VS_FROM_SHIM,
                             .action = action, .arg = arg };
        r->down->sequence_failed = true;
        vu_msg_init(&m, VU_REQ_GET_FEATURES, VU_FLAG_REPLY);
        vu_msg_set_u64(&m, 0);
        vs_down_internal_reply(r, &o, &m);
        return;
    }
    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    vs_send_internal(r, &m, action, arg, "end of sequence");
}

static void signal_config_call(struct vs_relay *r, const char *why)
{
    struct vs_down *dn = r->down;

    int rc;

    if (dn->config_call_fd < 0 || dn->peer_failed)
        return;
    vs_debug("%s: config-call: %s", r->cfg.id, why);
    rc = peer_fd_signal(dn->config_call_fd);
    if (rc < 0)
        down_peer_fd_failed(r, "config-call eventfd", rc);
}

/* A device-initiated config change (spec 7): now, or held back. */
static void config_changed(struct vs_relay *r, const char *why)
{
    struct vs_down *dn = r->down;

    if (down_deliverable(dn)) {
        dn->config_pending = false;
        signal_config_call(r, why);
    } else {
        dn->config_pending = true;
    }
}

static void deliver_pending_config(struct vs_relay *r)
{
    if (r->down->config_pending && down_deliverable(r->down))
        config_changed(r, "held-back change");
}

/* ---- ring roles ------------------------------------------------------------------ */

/* Rings the back-end serves: net's data queues, every queue otherwise. */
static uint32_t data_rings(const struct vs_down *dn)
{
    if (down_is_net(dn) && !down_negotiated(dn, VIRTIO_NET_F_MQ))
        return 2; /* one pair; the control queue is ring 2 */
    return dn->in.backend_queues;
}

static bool is_ctrl_ring(const struct vs_down *dn, uint32_t i)
{
    return down_is_net(dn) && down_negotiated(dn, VIRTIO_NET_F_CTRL_VQ) && i == dn->ctrl_index;
}

/* Whether ring i runs when enabled: net pairs beyond the active count wait
 * for VQ_PAIRS_SET (VIRTIO 5.1.6.5.5). */
static bool ring_wanted(const struct vs_down *dn, uint32_t i)
{
    if (!dn->rings[i].enabled)
        return false;
    if (is_ctrl_ring(dn, i))
        return true;
    if (i >= data_rings(dn))
        return false;
    return !down_is_net(dn) || i / 2 < dn->curr_pairs;
}

static void stop_backend_ring(struct vs_relay *r, uint32_t i);
/* A ring's eventfd for the back-end; a duplicate that fails fails the step. */
static void send_ring_fd(struct vs_relay *r, uint32_t req, uint32_t i, int fd)
{
    if (vs_send_fd_u64(r, req, i, fd, DNA_CHECK, NULL) < 0)
        r->down->sequence_failed = true;
}

static void start_backend_ring(struct vs_relay *r, uint32_t i);

/* VQ_PAIRS_SET: start and stop the back-end's ring pairs. True when the
 * back-end was asked to change anything (the answer waits for it). */
bool down_set_active_pairs(struct vs_relay *r, uint16_t pairs)
{
    struct vs_down *dn = r->down;
    bool changed = false;

    dn->curr_pairs = pairs;
    if (!down_deliverable(dn))
        return false;
    for (uint32_t i = 0; i < data_rings(dn); i++) {
        bool want = ring_wanted(dn, i);
        if (want && !dn->rings[i].in_backend) {
            start_backend_ring(r, i);
            changed = true;
        } else if (!want && dn->rings[i].in_backend) {
            stop_backend_ring(r, i);
            changed = true;
        }
    }
    return changed;
}

/* ---- the back-end's rings ------------------------------------------------------- */

static void start_backend_ring(struct vs_relay *r, uint32_t i)
{
    struct down_ring *g = &r->down->rings[i];
    struct vu_msg m;

    /* QEMU's order (vhost_virtqueue_start), the one back-ends are tested
     * with: size, base, addresses, kick, call, enable */
    vs_send_state(r, VU_REQ_SET_VRING_NUM, i, g->num, DNA_CHECK, 0, NULL);
    vs_send_state(r, VU_REQ_SET_VRING_BASE, i, g->base, DNA_CHECK, 0, NULL);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &g->addr);
    vs_send_internal(r, &m, DNA_CHECK, 0, NULL);
    send_ring_fd(r, VU_REQ_SET_VRING_KICK, i, g->kick_fd);
    send_ring_fd(r, VU_REQ_SET_VRING_CALL, i, g->call_fd);
    if (g->err_fd >= 0)
        send_ring_fd(r, VU_REQ_SET_VRING_ERR, i, g->err_fd);
    vs_send_state(r, VU_REQ_SET_VRING_ENABLE, i, 1, DNA_CHECK, 0, NULL);
    g->in_backend = true;
}

/* The legacy stop: the reply is the exact next index. */
static void stop_backend_ring(struct vs_relay *r, uint32_t i)
{
    r->down->rings[i].in_backend = false;
    vs_send_state(r, VU_REQ_GET_VRING_BASE, i, 0, DNA_SAVE_BASE, i, NULL);
}

static void start_rings(struct vs_relay *r)
{
    struct vs_down *dn = r->down;

    for (uint32_t i = 0; i < dn->nrings; i++) {
        struct down_ring *g = &dn->rings[i];
        if (!ring_wanted(dn, i))
            continue;
        if (!g->has_num || !g->has_addr) {
            vs_warn("%s: ring %u is enabled but its %s was never set", r->cfg.id, i,
                    g->has_num ? "address" : "size");
            dn->sequence_failed = true;
            continue;
        }
        if (is_ctrl_ring(dn, i)) {
            if (down_ctrl_start(r, i))
                dn->sequence_failed = true;
        } else if (!dn->backend_lost) {
            start_backend_ring(r, i);
        }
    }
}

static void stop_rings(struct vs_relay *r)
{
    struct vs_down *dn = r->down;

    down_ctrl_stop(dn);
    for (uint32_t i = 0; i < dn->nrings; i++)
        if (dn->rings[i].in_backend && !dn->backend_lost)
            stop_backend_ring(r, i);
}

/* Spec 5.5: the device stops, the front-end hears of it through the
 * config-call eventfd and GET_STATUS. */
void down_needs_reset(struct vs_relay *r, const char *why)
{
    struct vs_down *dn = r->down;

    if (!virtio_status_needs_reset(dn->status, &dn->status))
        return;
    vs_err("%s: DEVICE_NEEDS_RESET: %s", r->cfg.id, why);
    stop_rings(r);
    signal_config_call(r, "DEVICE_NEEDS_RESET");
    if (r->fe && r->main_pending.count)
        vs_conn_pause(r->fe, true); /* the stops complete before the next request */
}

/* ---- set-up ------------------------------------------------------------------------- */

#define DOWN_BACKEND_PF (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_NET_MTU) | \
                         VU_BIT(VU_PF_BACKEND_REQ) | VU_BIT(VU_PF_CONFIG) | \
                         VU_BIT(VU_PF_RESET_DEVICE))

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

static uint64_t vs_down_offer(const struct vs_relay *r, uint64_t backend_pf)
{
    /* The shim's own steps need REPLY_ACK to learn each one's outcome. */
    if (!vu_has_bit(backend_pf, VU_PF_REPLY_ACK) || !model_for(r, backend_pf))
        return 0;
    /* spec 2.2.2: F_VDPA comes with MQ, REPLY_ACK and STATUS, and implies
     * CONFIG, which is not shown: a legacy VMM reads this offer too, and
     * QEMU warns about CONFIG for devices whose config it keeps itself. */
    return VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) |
           VU_BIT(VU_PF_STATUS) | (backend_pf & (VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_RARP)));
}

static bool backend_config_used(const struct vs_relay *r)
{
    const struct vs_down *dn = r->down;

    return vu_has_bit(r->be_limits.protocol_features, VU_PF_CONFIG) &&
           r->cfg.type->config_size > 0 && (dn->model->nfields == 0 ||
                                            dn->model->fields[0].from_backend);
}

static void on_backend_channel_close(struct vs_conn *c, int reason)
{
    struct vs_relay *r = c->owner;

    (void)reason;
    if (c == r->be_chan)
        r->be_chan = NULL;
}

static void on_backend_channel_msg(struct vs_conn *c, struct vu_msg *m);

/* The back-end's channel ends at the shim: CONFIG_CHANGE_MSG becomes the
 * config-call eventfd, which is all vdpa-user allows (spec 4). */
static void give_backend_channel(struct vs_relay *r)
{
    int end = vs_backend_channel_new(r, on_backend_channel_msg, on_backend_channel_close);
    struct vu_msg m;

    if (end < 0) {
        vs_warn("%s: no back-end channel (%s); config changes will not be seen", r->cfg.id,
                strerror(-end));
        return;
    }
    vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, 0);
    vu_msg_add_fd(&m, end);
    vs_send_internal(r, &m, DNA_CHECK, 0, "the shim keeps the back-end channel");
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
    dn->in.speed_set = r->cfg.speed_set;
    dn->in.speed = r->cfg.speed;
    dn->in.duplex = r->cfg.duplex;
    dn->in.tag = r->cfg.tag;
    dn->in.capacity = r->cfg.capacity;
    dn->in.link_up = true;
    dn->in.mtu = r->cfg.mtu;
    if (r->cfg.has_mac) {
        memcpy(dn->in.mac, r->cfg.mac, 6);
    } else {
        /* A stable, locally administered address, as QEMU's 52:54:00:... */
        uint32_t h = 2166136261u;
        for (const char *p = r->cfg.id; *p; p++)
            h = (h ^ (uint8_t)*p) * 16777619u;
        uint8_t mac[6] = { 0x52, 0x54, 0x00, (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h };
        memcpy(dn->in.mac, mac, 6);
    }
    dn->queue_size_max = r->cfg.queue_size ? r->cfg.queue_size : DOWN_DEFAULT_QUEUE_SIZE;
    guest_mem_init(&dn->mem);
    dn->begin_ack = (set_pf->hdr.flags & VU_FLAG_NEED_REPLY) != 0;
    vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, set_pf, "down-conversion begins");

    be_pf = r->backend_pf & (DOWN_BACKEND_PF | (set_pf->payload.u64 & (VU_BIT(VU_PF_LOG_SHMFD) |
                                                                     VU_BIT(VU_PF_RARP))));
    /* Sent as QEMU sends it, without NEED_REPLY; every later step asks. */
    r->be_limits.protocol_features = 0;
    vs_send_u64(r, VU_REQ_SET_PROTOCOL_FEATURES, be_pf, DNA_CHECK, 0, "legacy back-end");
    r->be_limits.protocol_features = be_pf;
    if (r->owner_deferred) {
        struct vu_msg owner;
        r->owner_deferred = false;
        dn->owner_sent = true;
        vu_msg_init(&owner, VU_REQ_SET_OWNER, 0);
        vs_send_internal(r, &owner, DNA_CHECK, 0, "deferred SET_OWNER");
    }
    if (vu_has_bit(be_pf, VU_PF_BACKEND_REQ))
        give_backend_channel(r);
    if (vu_has_bit(be_pf, VU_PF_MQ)) {
        struct vu_msg q;
        vu_msg_init(&q, VU_REQ_GET_QUEUE_NUM, 0);
        vs_send_internal(r, &q, DNA_BE_QUEUES, 0, NULL);
    }
    if (backend_config_used(r)) {
        struct vu_msg get;
        vu_msg_init(&get, VU_REQ_GET_CONFIG, 0);
        vu_msg_set_config(&get, 0, r->cfg.type->config_size, 0, NULL);
        vs_send_internal(r, &get, DNA_BE_CONFIG, r->cfg.type->config_size, NULL);
        return 0; /* its reply sends the last step */
    }
    down_barrier(r, DNA_BEGIN_DONE, 0);
    return 0;
}

static void fail_session(struct vs_relay *r, const char *what)
{
    vs_err("%s: %s; disconnecting the front-end", r->cfg.id, what);
    vs_end_session(r, what);
}

/* The back-end answered everything the device model needs. */
static void begin_done(struct vs_relay *r, uint64_t backend_features)
{
    struct vs_down *dn = r->down;
    const char *missing;
    uint32_t want;

    dn->backend_features = backend_features;
    if (!dn->in.backend_queues)
        dn->in.backend_queues = r->cfg.type->default_queues;
    /* queue-pairs= / num-queues= may offer fewer queues than the back-end has */
    want = r->cfg.queue_pairs ? 2u * r->cfg.queue_pairs : r->cfg.num_queues;
    if (!want && down_is_net(dn) && dn->in.backend_queues > 16)
        vs_warn("%s: the back-end reports %u queue pairs (DPDK 22.11 reports its library's "
                "maximum, not the queues it polls); give queue-pairs= the number it serves, "
                "or a driver that uses more pairs sees no traffic on them", r->cfg.id,
                dn->in.backend_queues / 2);
    if (want && want < dn->in.backend_queues)
        dn->in.backend_queues = want;
    else if (want > dn->in.backend_queues)
        vs_warn("%s: the back-end serves %u virtqueues, fewer than the device keys ask (%u)",
                r->cfg.id, dn->in.backend_queues, want);
    if (down_is_net(dn)) {
        /* whole pairs, and the control queue's index must fit in 8 bits */
        dn->in.backend_queues &= ~1u;
        if (dn->in.backend_queues < 2)
            dn->in.backend_queues = 2;
        if (dn->in.backend_queues > VU_MAX_QUEUES - 2)
            dn->in.backend_queues = VU_MAX_QUEUES - 2;
        /* DPDK offers F_MTU without a way to ask its value; 1500 is its
         * default and every driver accepts it */
        if (!dn->in.mtu && vu_has_bit(backend_features, VIRTIO_NET_F_MTU))
            dn->in.mtu = 1500;
    }
    missing = vs_model_missing(dn->model, &dn->in);
    if (missing) {
        char text[200];
        snprintf(text, sizeof(text), "cannot present a %s device: the back-end has no config "
                 "space and no device key gives '%s'%s", r->cfg.type->name, missing,
                 strcmp(missing, "tag") == 0 ? " (add tag=)" :
                 strcmp(missing, "capacity") == 0 ? " (add capacity=)" : "");
        fail_session(r, text);
        return;
    }
    if (!vu_has_bit(backend_features, VIRTIO_F_VERSION_1)) {
        fail_session(r, "the back-end does not offer VIRTIO_F_VERSION_1, which vdpa-user needs");
        return;
    }
    dn->offered = vs_features_sanitize(r, vs_model_offer(dn->model, &dn->in,
                                                                backend_features));
    dn->nrings = vs_model_vqs_count(dn->model, dn->in.backend_queues);
    dn->rings = calloc(dn->nrings, sizeof(*dn->rings));
    if (!dn->rings) {
        fail_session(r, "out of memory");
        return;
    }
    for (uint32_t i = 0; i < dn->nrings; i++)
        dn->rings[i].kick_fd = dn->rings[i].call_fd = dn->rings[i].err_fd = -1;
    r->fe_limits.max_queues = dn->nrings;
    r->fe_limits.config_size = r->cfg.type->config_size;
    r->fe_limits.offered_features = dn->offered;
    r->fe_limits.features_known = true;
    r->be_limits.max_queues = dn->in.backend_queues;
    vs_info("%s: down-converting: %s device, %u virtqueues (%u on the back-end), features 0x%"
            PRIx64 " (back-end 0x%" PRIx64 ")", r->cfg.id, r->cfg.type->name, dn->nrings,
            dn->in.backend_queues, dn->offered, backend_features);
    if (dn->begin_ack)
        vs_reply_frontend_ack(r, VU_REQ_SET_PROTOCOL_FEATURES, 0);
}

static void free_rings(struct vs_down *dn)
{
    for (uint32_t i = 0; dn->rings && i < dn->nrings; i++) {
        vs_close_fd(&dn->rings[i].kick_fd);
        vs_close_fd(&dn->rings[i].call_fd);
        vs_close_fd(&dn->rings[i].err_fd);
    }
    free(dn->rings);
    dn->rings = NULL;
}

static void vs_down_end(struct vs_relay *r)
{
    struct vs_down *dn = r->down;

    if (!dn)
        return;
    r->down = NULL;
    down_ctrl_end(dn);
    free_rings(dn);
    vs_close_fd(&dn->config_call_fd);
    guest_mem_unmap(&dn->mem);
    free(dn->chain);
    free(dn);
}

/* ---- status ------------------------------------------------------------------------- */

static void reset_device(struct vs_relay *r, const struct vu_msg *req, uint32_t ack)
{
    struct vs_down *dn = r->down;

    stop_rings(r);
    if (!dn->backend_lost && vu_has_bit(r->be_limits.protocol_features, VU_PF_RESET_DEVICE))
        vs_send_u64(r, VU_REQ_RESET_DEVICE, 0, DNA_CHECK, 0, NULL);
    /* spec 5.3: cleared, except fds, memory table and provisioned values */
    for (uint32_t i = 0; i < dn->nrings; i++) {
        struct down_ring *g = &dn->rings[i];
        g->num = g->base = 0;
        g->has_num = g->has_addr = g->enabled = g->in_backend = false;
    }
    dn->status = 0;
    dn->suspended = dn->config_pending = false;
    dn->driver_features = dn->features = 0;
    dn->curr_pairs = 1;
    if (dn->backend_lost) {
        if (ack)
            reply_u64(r, req, 0, "reset");
        fail_session(r, "the back-end is gone and the front-end reset the device");
        return;
    }
    if (r->main_pending.count)
        down_barrier(r, DNA_ACK, ack);
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
        stop_rings(r);
        down_barrier(r, DNA_ACK, ack);
        return;
    case VIRTIO_STATUS_ACT_FEATURES_ACCEPT:
        /* the status becomes out.status when the back-end has taken them */
        vs_send_u64(r, VU_REQ_SET_FEATURES,
                 vs_model_backend_features(dn->model, dn->driver_features, dn->backend_features) |
                     VU_BIT(VU_F_PROTOCOL_FEATURES) | (dn->driver_features & VU_BIT(F_LOG_ALL)),
                 DNA_CHECK, 0, "the front-end's selection, less what the shim provides");
        if (down_is_net(dn) && vu_has_bit(dn->driver_features, VIRTIO_NET_F_MTU) && dn->in.mtu &&
            vu_has_bit(r->be_limits.protocol_features, VU_PF_NET_MTU))
            vs_send_u64(r, VU_REQ_NET_SET_MTU, dn->in.mtu, DNA_CHECK, 0, "from the config space");
        down_barrier(r, DNA_FEATURES_OK, ack);
        return;
    case VIRTIO_STATUS_ACT_FEATURES_REFUSED:
        /* acked 0: FEATURES_OK stays clear (spec 5.2) */
        vs_warn("%s: FEATURES_OK refused for features 0x%" PRIx64 ": %s", r->cfg.id,
                dn->driver_features, refusal);
        break;
    case VIRTIO_STATUS_ACT_START:
        dn->status = out.status;
        dn->ctrl_index = down_negotiated(dn, VIRTIO_NET_F_MQ) ? dn->in.backend_queues : 2;
        start_rings(r);
        down_barrier(r, DNA_STARTED, ack);
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

/* ---- front-end requests ---------------------------------------------------------------- */

static bool layout_writable(const struct vs_down *dn)
{
    if (dn->status & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_DEVICE_NEEDS_RESET))
        return false;
    if (dn->status & VIRTIO_STATUS_DRIVER_OK)
        return dn->suspended;
    return (dn->status & VIRTIO_STATUS_FEATURES_OK) != 0;
}

static void read_config(struct vs_relay *r, const struct vu_msg *req)
{
    struct vs_down *dn = r->down;
    uint8_t config[VU_MAX_CONFIG_SIZE];
    struct vu_msg reply;
    const struct vu_config *want = &req->payload.config;

    dn->in.link_up = !dn->backend_lost;
    vs_model_render(dn->model, &dn->in, dn->offered, config, r->cfg.type->config_size);
    vu_msg_make_reply(&reply, req);
    vu_msg_set_config(&reply, want->offset, want->size, want->flags, config + want->offset);
    vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "device model");
    vs_conn_send(r->fe, &reply);
}

static void set_config(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m,
                       uint32_t ack)
{
    struct vs_down *dn = r->down;
    const struct vu_config *c = &m->payload.config;

    if (c->flags == VU_CONFIG_F_MIGRATION) {
        /* provisioning (spec 3.3): mac and mtu, in status ACKNOWLEDGE|DRIVER */
        if ((dn->status & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) != 0x03 ||
            !vs_model_range_provisionable(dn->model, c->offset, c->size, dn->offered)) {
            vs_refuse_frontend(r, &m->hdr, d, -EINVAL, "provisioning outside offered mac/mtu "
                               "or outside status ACKNOWLEDGE|DRIVER");
            return;
        }
        uint8_t config[VU_MAX_CONFIG_SIZE];
        vs_model_render(dn->model, &dn->in, ~UINT64_C(0), config, r->cfg.type->config_size);
        memcpy(config + c->offset, c->data, c->size);
        uint16_t mtu;
        memcpy(&mtu, config + 10, 2);
        mtu = le16toh(mtu);
        if (c->offset + c->size > 10 && c->offset < 12 && mtu < 68) {
            vs_refuse_frontend(r, &m->hdr, d, -EINVAL, "provisioned mtu below 68");
            return;
        }
        memcpy(dn->in.mac, config, 6);
        dn->in.mtu = mtu;
        if (ack)
            vs_reply_frontend_ack(r, ack, 0);
        return;
    }
    if (c->flags != 0 || !(dn->status & VIRTIO_STATUS_FEATURES_OK) || dn->suspended ||
        (dn->status & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) ||
        !vs_model_range_writable(dn->model, c->offset, c->size, dn->features) ||
        !backend_config_used(r) || dn->backend_lost) {
        vs_refuse_frontend(r, &m->hdr, d, -EINVAL, "no driver-writable field there");
        return;
    }
    vs_send_internal(r, m, DNA_CHECK, 0, "driver write");
    down_barrier(r, DNA_ACK, ack);
}

static uint32_t vring_base_now(const struct vs_down *dn, uint32_t i)
{
    const struct down_ring *g = &dn->rings[i];

    if (dn->status == 0 || !g->has_num)
        return 0;
    if (dn->ctrl_running && is_ctrl_ring(dn, i))
        return dn->ctrl.last_avail;
    /* the value set, or the exact index the last legacy stop returned; while
     * the back-end runs the ring this is stale, as spec 3.3 allows */
    return g->base;
}

static void set_vring_enable(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m,
                             uint32_t ack)
{
    struct vs_down *dn = r->down;
    uint32_t i = m->payload.state.index;
    struct down_ring *g = &dn->rings[i];
    bool running = down_deliverable(dn);

    if (m->payload.state.num > 1 || !(dn->status & VIRTIO_STATUS_FEATURES_OK) ||
        (dn->status & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_DEVICE_NEEDS_RESET))) {
        vs_refuse_frontend(r, &m->hdr, d, m->payload.state.num > 1 ? -EINVAL : -EBUSY,
                           "SET_VRING_ENABLE not valid here");
        return;
    }
    g->enabled = m->payload.state.num == 1;
    if (running && is_ctrl_ring(dn, i)) {
        if (g->enabled && !dn->ctrl_running && down_ctrl_start(r, i))
            down_needs_reset(r, "the control queue cannot start");
        else if (!g->enabled)
            down_ctrl_stop(dn);
    } else if (running && ring_wanted(dn, i) && !g->in_backend) {
        if (!g->has_num || !g->has_addr) {
            down_needs_reset(r, "a ring without size or address was enabled");
        } else {
            start_backend_ring(r, i);
            down_barrier(r, DNA_STARTED, ack);
            return;
        }
    } else if (running && !g->enabled && g->in_backend) {
        stop_backend_ring(r, i);
        down_barrier(r, DNA_ACK, ack);
        return;
    }
    if (ack)
        vs_reply_frontend_ack(r, ack, 0);
}

static void suspend(struct vs_relay *r, const struct vu_msg *m)
{
    struct vs_down *dn = r->down;

    if (!(dn->status & VIRTIO_STATUS_DRIVER_OK) || (dn->status & VIRTIO_STATUS_FAILED)) {
        vs_reply_frontend_ack(r, m->hdr.request, EBUSY);
        return;
    }
    if (dn->suspended) {
        vs_reply_frontend_ack(r, m->hdr.request, 0);
        return;
    }
    dn->suspended = true;
    stop_rings(r);
    if (r->main_pending.count)
        down_barrier(r, DNA_ACK, m->hdr.request);
    else
        vs_reply_frontend_ack(r, m->hdr.request, 0);
}

static void resume(struct vs_relay *r, const struct vu_msg *m)
{
    struct vs_down *dn = r->down;

    if (!(dn->status & VIRTIO_STATUS_DRIVER_OK) ||
        (dn->status & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_DEVICE_NEEDS_RESET))) {
        vs_reply_frontend_ack(r, m->hdr.request, EBUSY);
        return;
    }
    if (!dn->suspended) {
        vs_reply_frontend_ack(r, m->hdr.request, 0);
        return;
    }
    dn->suspended = false;
    start_rings(r);
    down_barrier(r, DNA_STARTED, m->hdr.request);
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
        return true;
    default:
        return false;
    }
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
static void set_mem_table(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m,
                          uint32_t ack)
{
    struct vs_down *dn = r->down;

    if (down_is_net(dn)) {
        int rc = guest_mem_map(&dn->mem, m->payload.mem.regions, m->payload.mem.nregions, m->fds);
        if (rc) {
            char why[160];
            snprintf(why, sizeof(why), "a memory table the shim cannot map (%s): the control "
                     "queue, and the back-end, could not use it", strerror(-rc));
            vu_msg_close_fds(m);
            vs_refuse_frontend(r, &m->hdr, d, rc, why);
            return;
        }
        if (dn->ctrl_running) {
            struct down_ring *c = &dn->rings[dn->ctrl_index];
            if (vq_device_remap(&dn->ctrl, &dn->mem, c->addr.desc_user_addr,
                                c->addr.avail_user_addr, c->addr.used_user_addr))
                down_needs_reset(r, "the control queue left guest memory");
        }
    }
    vs_send_internal(r, m, DNA_CHECK, 0, NULL);
    down_barrier(r, DNA_ACK, ack);
}

/* GET_FEATURES: the device model's offer, with what its rules dropped. */
static void reply_features(struct vs_relay *r, const struct vu_msg *m)
{
    char note[128];
    const char *dropped = vs_features_dropped_note(r, note, sizeof(note));

    reply_u64(r, m, r->down->offered, dropped ? dropped : "device model");
}

static void vs_down_frontend_request(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m)
{
    struct vs_down *dn = r->down;
    uint32_t req = m->hdr.request;
    /* under vdpa-user REPLY_ACK is always negotiated (spec 2.2) */
    uint32_t ack = (m->hdr.flags & VU_FLAG_NEED_REPLY) ? req : 0;
    struct down_ring *g = NULL;
    struct vu_msg reply;

    vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, m, NULL);
    dn->sequence_failed = false;
    if (!dn->rings) {
        /* unreachable while the set-up runs (the front-end is held) */
        vu_msg_close_fds(m);
        vs_refuse_frontend(r, &m->hdr, d, -EIO, "the device set-up has not completed");
        return;
    }
    if (d->ring == VU_RING_STATE)
        g = &dn->rings[m->payload.state.index];
    else if (d->ring == VU_RING_ADDR)
        g = &dn->rings[m->payload.addr.index];
    else if (d->ring == VU_RING_U64)
        g = &dn->rings[m->payload.u64 & VU_VRING_IDX_MASK];
    if (dn->backend_lost && needs_backend(req)) {
        vu_msg_close_fds(m);
        vs_refuse_frontend(r, &m->hdr, d, -EIO, "the back-end is gone (DEVICE_NEEDS_RESET)");
        return;
    }
    /* NEED_REPLY stays on m: a refusal answers it. Requests passed on are
     * re-flagged by vs_send_internal, and their answer is the shim's. */
    switch (req) {
    case VU_REQ_GET_FEATURES:
        reply_features(r, m);
        return;
    case VU_REQ_GET_PROTOCOL_FEATURES:
        reply_u64(r, m, r->offered_pf, NULL);
        return;
    case VU_REQ_SET_OWNER:
        if (dn->owner_sent) {
            vs_refuse_frontend(r, &m->hdr, d, -EBUSY, "SET_OWNER again");
            return;
        }
        dn->owner_sent = true;
        vs_send_internal(r, m, DNA_CHECK, 0, NULL);
        down_barrier(r, DNA_ACK, ack);
        return;
    case VU_REQ_SET_FEATURES: {
        uint64_t v = m->payload.u64;
        uint8_t s = dn->status & (uint8_t)~VIRTIO_STATUS_DEVICE_NEEDS_RESET;
        if (s == 0x03 && !(v & ~(dn->offered | TRANSPORT_BITS))) {
            dn->driver_features = v;
            if (ack)
                vs_reply_frontend_ack(r, ack, 0);
            return;
        }
        if ((dn->status & VIRTIO_STATUS_FEATURES_OK) &&
            ((v ^ dn->features) & ~TRANSPORT_BITS) == 0 && !dn->backend_lost) {
            /* the dirty-logging switch (spec 3.3) */
            dn->features = (dn->features & ~VU_BIT(F_LOG_ALL)) | (v & VU_BIT(F_LOG_ALL));
            vs_send_u64(r, VU_REQ_SET_FEATURES,
                     vs_model_backend_features(dn->model, dn->features, dn->backend_features) |
                         VU_BIT(VU_F_PROTOCOL_FEATURES) | (v & VU_BIT(F_LOG_ALL)),
                     DNA_CHECK, 0, "dirty logging");
            down_barrier(r, DNA_ACK, ack);
            return;
        }
        vs_refuse_frontend(r, &m->hdr, d, s == 0x03 ? -EINVAL : -EBUSY,
                           s == 0x03 ? "SET_FEATURES selects features the device does not offer"
                                     : "SET_FEATURES outside status ACKNOWLEDGE|DRIVER");
        return;
    }
    case VU_REQ_SET_STATUS:
        set_status(r, m, d, ack);
        return;
    case VU_REQ_GET_STATUS:
        reply_u64(r, m, dn->status, NULL);
        return;
    case VU_REQ_VDPA_GET_DEVICE_ID:
        reply_u64(r, m, r->cfg.type->virtio_id, "device model");
        return;
    case VU_REQ_VDPA_GET_VRING_NUM:
        reply_u64(r, m, dn->queue_size_max, "device model");
        return;
    case VU_REQ_VDPA_GET_CONFIG_SIZE:
        reply_u64(r, m, r->cfg.type->config_size, "device model");
        return;
    case VU_REQ_VDPA_GET_VQS_COUNT:
        reply_u64(r, m, dn->nrings, "device model");
        return;
    case VU_REQ_VDPA_GET_IOVA_RANGE: {
        /* a legacy back-end translates through the memory table: no limit */
        struct vu_iova_range range = { .first = 0, .last = UINT64_MAX };
        vu_msg_make_reply(&reply, m);
        vu_msg_set_payload(&reply, &range, sizeof(range));
        vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "device model");
        vs_conn_send(r->fe, &reply);
        return;
    }
    case VU_REQ_VDPA_SET_CONFIG_CALL:
        vs_replace_fd(&dn->config_call_fd, m);
        vu_msg_close_fds(m);
        deliver_pending_config(r);
        if (ack)
            vs_reply_frontend_ack(r, ack, 0);
        return;
    case VU_REQ_GET_CONFIG:
        if (dn->status == 0 || m->payload.config.flags != 0) {
            vs_refuse_frontend(r, &m->hdr, d, -EINVAL, "GET_CONFIG in status 0 or with flags");
            return;
        }
        if (backend_config_used(r) && !dn->backend_lost) {
            /* live: capacity and writeback can change under the device */
            struct vu_msg get;
            vu_msg_init(&get, VU_REQ_GET_CONFIG, 0);
            vu_msg_set_config(&get, 0, dn->in.backend_config_size, 0, NULL);
            vs_send_internal(r, &get, DNA_CONFIG_READ,
                             m->payload.config.offset << 16 | m->payload.config.size, NULL);
            return;
        }
        read_config(r, m);
        return;
    case VU_REQ_SET_CONFIG:
        set_config(r, d, m, ack);
        return;
    case VU_REQ_SET_VRING_NUM:
    case VU_REQ_SET_VRING_ADDR:
    case VU_REQ_SET_VRING_BASE:
        if (!layout_writable(dn)) {
            vs_refuse_frontend(r, &m->hdr, d, -EBUSY, "ring layout is fixed in this state");
            return;
        }
        if (req == VU_REQ_SET_VRING_NUM) {
            uint32_t n = m->payload.state.num;
            bool packed = down_negotiated(dn, VIRTIO_F_RING_PACKED);
            if (n == 0 || n > dn->queue_size_max || (!packed && (n & (n - 1)))) {
                vs_refuse_frontend(r, &m->hdr, d, -EINVAL, "ring size 0, too large or not a "
                                   "power of two");
                return;
            }
            g->num = n;
            g->has_num = true;
        } else if (req == VU_REQ_SET_VRING_ADDR) {
            g->addr = m->payload.addr;
            g->has_addr = true;
        } else {
            g->base = m->payload.state.num;
        }
        if (ack)
            vs_reply_frontend_ack(r, ack, 0);
        return;
    case VU_REQ_SET_VRING_ENABLE:
        set_vring_enable(r, d, m, ack);
        return;
    case VU_REQ_GET_VRING_BASE:
        vu_msg_make_reply(&reply, m);
        vu_msg_set_state(&reply, m->payload.state.index,
                         vring_base_now(dn, m->payload.state.index));
        vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "device model");
        vs_conn_send(r->fe, &reply);
        return;
    case VU_REQ_SET_VRING_KICK:
    case VU_REQ_SET_VRING_CALL:
    case VU_REQ_SET_VRING_ERR: {
        uint32_t i = (uint32_t)(g - dn->rings);
        bool rewatch = req == VU_REQ_SET_VRING_KICK && dn->ctrl_running && is_ctrl_ring(dn, i);
        if (rewatch)
            down_ctrl_unwatch(dn); /* before the old fd closes */
        vs_replace_fd(req == VU_REQ_SET_VRING_KICK   ? &g->kick_fd
                   : req == VU_REQ_SET_VRING_CALL ? &g->call_fd
                                                  : &g->err_fd, m);
        if (rewatch && down_ctrl_watch(r) < 0)
            down_needs_reset(r, "the control queue's new kick fd cannot be watched");
        /* A running ring's back-end swaps the fd live, as VMMs re-route
         * interrupts. Where the back-end signals (call, err) it hears at once
         * for every ring known to be its own, running or not: QEMU and DPDK
         * virtio-user send those at set-up, before the memory table, and
         * back-ends are built and tested with that order (the ring's start
         * sends it again, as QEMU's does). */
        bool to_backend = g->in_backend || (req != VU_REQ_SET_VRING_KICK && i < data_rings(dn));
        if (to_backend && !dn->backend_lost && r->be) {
            vs_send_internal(r, m, DNA_CHECK, 0, NULL);
            down_barrier(r, DNA_ACK, ack);
            return;
        }
        vu_msg_close_fds(m);
        if (ack)
            vs_reply_frontend_ack(r, ack, 0);
        return;
    }
    case VU_REQ_SET_MEM_TABLE:
        set_mem_table(r, d, m, ack);
        return;
    case VU_REQ_SET_LOG_BASE:
    case VU_REQ_SET_LOG_FD:
    case VU_REQ_SEND_RARP:
        m->hdr.flags |= ack ? VU_FLAG_NEED_REPLY : 0;
        vs_forward_to_backend(r, d, m, NULL);
        return;
    case VU_REQ_VDPA_SUSPEND:
        suspend(r, m);
        return;
    case VU_REQ_VDPA_RESUME:
        resume(r, m);
        return;
    default:
        vu_msg_close_fds(m);
        vs_refuse_frontend(r, &m->hdr, d, -EOPNOTSUPP, "not available in down-conversion");
        return;
    }
}

/* ---- the back-end's side ------------------------------------------------------------------ */

static void on_backend_channel_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;
    const struct vu_msg_desc *d;
    struct vu_error err;
    uint32_t req = m->hdr.request;
    bool need_reply = (m->hdr.flags & VU_FLAG_NEED_REPLY) != 0;
    int rc = vu_validate_request(&r->be_limits, VU_CHAN_BACKEND, m, &d, &err);

    if (rc) {
        vs_warn("%s: back-end channel: %s; closing it", r->cfg.id, err.text);
        vs_conn_close(c, 0);
        return;
    }
    vs_trace_dir(r, "be->shim", VU_CHAN_BACKEND, m, NULL);
    vu_msg_close_fds(m);
    if (req == VU_BREQ_CONFIG_CHANGE_MSG && r->down)
        config_changed(r, "the back-end's CONFIG_CHANGE_MSG");
    if (need_reply) {
        struct vu_msg ack;
        vu_msg_init(&ack, req, VU_FLAG_REPLY);
        vu_msg_set_u64(&ack, req == VU_BREQ_CONFIG_CHANGE_MSG ? 0 : EOPNOTSUPP);
        vs_trace_dir(r, "shim->be", VU_CHAN_BACKEND, &ack, NULL);
        vs_conn_send(c, &ack);
    }
}

static void vs_down_internal_reply(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    struct vs_down *dn = r->down;
    uint64_t v = m->payload.u64;

    vu_msg_close_fds(m);
    if (!dn)
        return;
    switch ((enum down_action)o->action) {
    case DNA_CHECK:
        if (v != 0) {
            dn->sequence_failed = true;
            vs_warn("%s: back-end %s refused %s (%" PRIu64 "); the front-end's request fails "
                    "(--trace shows the exchange)", r->cfg.id, r->cfg.backend,
                    vu_request_name(VU_CHAN_FRONTEND, o->p.request), v);
        }
        return;
    case DNA_BE_QUEUES:
        if (v == 0 || v > VU_MAX_QUEUES / 2) {
            fail_session(r, "the back-end reports an unusable queue count");
            return;
        }
        dn->in.backend_queues = (uint32_t)(r->cfg.type->queue_num_is_pairs ? 2 * v : v);
        return;
    case DNA_BE_CONFIG:
        if (m->hdr.size < VU_CONFIG_HDR_SIZE || m->payload.config.size != o->arg) {
            /* Back-ends built on older VIRTIO headers know a shorter
             * structure (QEMU 7.2's virtio-blk: 60 bytes): ask for less. */
            uint32_t shorter = o->arg > 60 ? 60 : o->arg / 2;
            if (shorter >= 8) {
                struct vu_msg get;
                vu_msg_init(&get, VU_REQ_GET_CONFIG, 0);
                vu_msg_set_config(&get, 0, shorter, 0, NULL);
                vs_send_internal(r, &get, DNA_BE_CONFIG, shorter, "a shorter config space");
                return;
            }
            fail_session(r, "the back-end offers F_CONFIG but refuses GET_CONFIG");
            return;
        }
        memcpy(dn->backend_config, m->payload.config.data, o->arg);
        dn->in.backend_config = dn->backend_config;
        dn->in.backend_config_size = o->arg;
        down_barrier(r, DNA_BEGIN_DONE, 0);
        return;
    case DNA_BEGIN_DONE:
        if (dn->sequence_failed) {
            fail_session(r, "the legacy back-end refused the set-up");
            return;
        }
        begin_done(r, v);
        return;
    case DNA_SAVE_BASE:
        if (o->arg < dn->nrings && m->hdr.size && !dn->backend_lost)
            dn->rings[o->arg].base = m->payload.state.num;
        return;
    case DNA_CONFIG_READ: {
        struct vu_msg req;
        if (m->hdr.size >= VU_CONFIG_HDR_SIZE && m->payload.config.size == dn->in.backend_config_size)
            memcpy(dn->backend_config, m->payload.config.data, dn->in.backend_config_size);
        vu_msg_init(&req, VU_REQ_GET_CONFIG, 0);
        vu_msg_set_config(&req, o->arg >> 16, o->arg & 0xffff, 0, NULL);
        read_config(r, &req);
        return;
    }
    case DNA_ACK:
        if (o->arg)
            vs_reply_frontend_ack(r, o->arg, dn->sequence_failed ? EIO : 0);
        break;
    case DNA_FEATURES_OK:
        if (!dn->sequence_failed) {
            dn->features = dn->driver_features;
            dn->status = 0x0B;
        } else {
            vs_warn("%s: back-end %s refused FEATURES_OK for features 0x%" PRIx64 " (what the "
                    "front-end selected); FEATURES_OK stays clear. Compare them with what the "
                    "back-end offered (GET_FEATURES in --trace)", r->cfg.id, r->cfg.backend,
                    dn->driver_features);
        }
        if (o->arg)
            vs_reply_frontend_ack(r, o->arg, 0);
        break;
    case DNA_STARTED:
        if (dn->sequence_failed)
            down_needs_reset(r, "the back-end refused to start a ring");
        if (o->arg)
            vs_reply_frontend_ack(r, o->arg, 0);
        deliver_pending_config(r);
        break;
    case DNA_CTRL_DONE:
        down_ctrl_done(r);
        break;
    }
    /* A sequence ended: the control queue may have work waiting. */
    if (r->main_pending.count == 0)
        down_ctrl_process(r);
}

static bool vs_down_backend_lost(struct vs_relay *r)
{
    struct vs_down *dn = r->down;
    struct vs_owed *owed;
    unsigned n = 0;
    bool forwarded = false;

    if (!dn || !dn->rings || !r->fe || dn->status == 0)
        return false; /* nothing to keep: the front-end reconnects */
    vs_warn("%s: the legacy back-end %s is gone; the front-end sees DEVICE_NEEDS_RESET and link "
            "down. Restart the back-end; the front-end then resets the device", r->cfg.id,
            r->cfg.backend);
    dn->backend_lost = true;
    dn->in.link_up = false;
    for (uint32_t i = 0; i < dn->nrings; i++)
        dn->rings[i].in_backend = false;
    down_needs_reset(r, "the back-end disconnected");
    /* Replies the back-end will never send: each step fails, so the
     * front-end gets the answer a failed step gives. */
    owed = malloc((r->main_pending.count + 1) * sizeof(*owed));
    if (!owed)
        return false;
    while (vs_owed_pop(&r->main_pending, &owed[n]) == 0)
        n++;
    for (unsigned i = 0; i < n && r->down; i++) {
        struct vu_msg failed;
        if (owed[i].origin == VS_FROM_FRONTEND) {
            forwarded = true; /* its reply's shape is the back-end's to give */
            continue;
        }
        if (owed[i].origin == VS_SHIM_ANSWER) {
            vs_reply_frontend_ack(r, owed[i].p.request, owed[i].arg);
            continue;
        }
        vu_msg_init(&failed, owed[i].p.request, VU_FLAG_REPLY);
        vu_msg_set_u64(&failed, EIO);
        vs_down_internal_reply(r, &owed[i], &failed);
    }
    free(owed);
    return !forwarded && r->down;
}

/* The back-end went: the vdpa-user front-end stays and sees
 * DEVICE_NEEDS_RESET where the session allows it. */
static enum vs_loss down_backend_lost(struct vs_relay *r, int reason)
{
    (void)reason;
    return vs_down_backend_lost(r) ? VS_LOSS_KEEP_FRONTEND : VS_LOSS_END;
}

const struct vs_mode_ops vs_mode_down = {
    .name = "down-conversion",
    .holds_while_owed = true,
    .offer = vs_down_offer,
    .begin = vs_down_begin,
    .frontend_request = vs_down_frontend_request,
    .internal_reply = vs_down_internal_reply,
    .backend_lost = down_backend_lost,
    .end = vs_down_end,
};
