/* SPDX-License-Identifier: MIT */
/*
 * Up-conversion: a legacy vhost-user front-end drives a vdpa-user back-end.
 *
 * The legacy life cycle (SET_FEATURES, rings configured, rings enabled,
 * GET_VRING_BASE to stop, reconfigure to restart) is mapped onto the VIRTIO
 * device model the back-end implements (docs/vdpa-user.md):
 *
 *   protocol features set   -> reset, ACKNOWLEDGE|DRIVER, read ID, VQ count,
 *                              config; hand the back-end a config-call eventfd
 *   SET_FEATURES            -> SET_FEATURES, FEATURES_OK, GET_STATUS check
 *   rings complete+enabled  -> ring set-up, DRIVER_OK, GET_STATUS check
 *   GET_VRING_BASE          -> SUSPEND, then GET_VRING_BASE (exact index)
 *   restart after a stop    -> reset and replay of the cached state
 *   SET_STATUS(0) (a stop)  -> SUSPEND, as GET_VRING_BASE
 *   RESET_OWNER/RESET_DEVICE-> SET_STATUS(0)
 *   GET_QUEUE_NUM           -> answered from VDPA_GET_VQS_COUNT
 *   NET_SET_MTU             -> checked against the config space's mtu
 *   SET_CONFIG (driver)     -> narrowed to the bytes the device model says a
 *                              driver may write now (up_config.c)
 *   config-call eventfd     -> CONFIG_CHANGE_MSG on the front-end's channel
 *
 * Ring state and every fd needed to replay it (memory regions, kick, call,
 * err) are cached with the shim's own duplicates.
 *
 * This file: the mode table, the set-up, and the two dispatch tables: a
 * front-end request goes to its handler (handler_of), the back-end's reply
 * to a request of the shim's to its step (step_of); the chores every
 * request or reply shares are done once, here. The rings are in
 * up_rings.c, the config space in up_config.c, the control queue in
 * up_ctrl.c; their shared state is up_int.h.
 *
 * Every request the shim makes carries NEED_REPLY; while any reply is owed the
 * front-end is not read (holds_while_owed, mode.h), so each step sees the
 * state the previous one left and replies reach the front-end in order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fd_util.h"
#include "log.h"
#include "up_int.h"

/* Protocol features a legacy front-end can use over a vdpa-user back-end:
 * translated (CONFIG, BACKEND_REQ for CONFIG_CHANGE_MSG, NET_MTU,
 * RESET_DEVICE, STATUS: the shim keeps the front-end's view) or forwarded as
 * they are (MQ, REPLY_ACK, LOG_SHMFD, RARP, negotiated with the back-end in
 * vs_up_begin). Nothing else: a bit the back-end offers beyond these (e.g.
 * CONFIGURE_MEM_SLOTS) is not negotiated with it, so it is not shown. */
#define UP_FORWARDED                                                                               \
    (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_RARP))
#define UP_TRANSLATED                                                                              \
    (VU_BIT(VU_PF_CONFIG) | VU_BIT(VU_PF_BACKEND_REQ) | VU_BIT(VU_PF_RESET_DEVICE) |               \
     VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_STATUS))
/* What the back-end always gets: vdpa-user with its companions. */
#define UP_BACKEND_PF                                                                              \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) | VU_BIT(VU_PF_STATUS))
/* What the back-end gets where the front-end acked it: the same meaning on
 * both sides. */
#define UP_PASSED_PF (VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_RARP))

/* Whether a legacy VMM keeps the type's config space itself, so that CONFIG
 * is not shown to it: QEMU 7.2's vhost-user net, fs and scsi devices have no
 * config handler and warn "vhost-user backend supports
 * VHOST_USER_PROTOCOL_F_CONFIG but QEMU does not" when it is offered
 * (hw/virtio/vhost-user.c, vhost_user_backend_init), as do its devices for
 * types without a config space (rng, i2c). Its blk, gpio, gpu, input and
 * vsock devices read config from the back-end (blk refuses a back-end
 * without CONFIG). A vdpa-user front-end has CONFIG anyway: F_VDPA implies
 * it (docs/vdpa-user.md 2.2). */
static bool vmm_keeps_config(const struct vs_device_type *t)
{
    static const char *const types[] = { "net", "fs", "scsi" };

    if (t->config_size == 0)
        return true;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(t->name, types[i]) == 0)
            return true;
    return false;
}

static uint64_t vs_up_offer(const struct vs_relay *r, uint64_t backend_pf)
{
    uint64_t offer = (backend_pf & UP_FORWARDED) | UP_TRANSLATED;

    if (strcmp(r->cfg.type->name, "net") == 0)
        offer |= VU_BIT(VU_PF_NET_MTU);
    if (vmm_keeps_config(r->cfg.type))
        offer &= ~VU_BIT(VU_PF_CONFIG);
    return offer;
}

static bool fe_wants_ack(const struct vs_relay *r, const struct vu_hdr *hdr)
{
    return (hdr->flags & VU_FLAG_NEED_REPLY) &&
           vu_has_bit(r->fe_limits.protocol_features, VU_PF_REPLY_ACK);
}

void up_set_status(struct vs_relay *r, uint8_t status, const char *note)
{
    vs_send_u64(r, VU_REQ_SET_STATUS, status, UP_STEP_CHECK_ACK, 0, note);
}

void up_fail_session(struct vs_relay *r, const char *what)
{
    vs_err("%s: %s; disconnecting the front-end so that it can reconnect", r->cfg.id, what);
    vs_end_session(r, what);
}

/* ---- set-up and end ---------------------------------------------------------- */

/* The set-up's requests: the back-end's identity and sizes, a reset to
 * ACKNOWLEDGE|DRIVER, provisioning and the config-call eventfd. */
static void send_setup(struct vs_relay *r)
{
    if (r->owner_deferred) {
        r->owner_deferred = false;
        vs_send_none(r, VU_REQ_SET_OWNER, UP_STEP_CHECK_ACK, 0, "deferred SET_OWNER");
    }
    vs_send_none(r, VU_REQ_VDPA_GET_DEVICE_ID, UP_STEP_DEVICE_ID, 0, NULL);
    vs_send_none(r, VU_REQ_VDPA_GET_VQS_COUNT, UP_STEP_VQS_COUNT, 0, NULL);
    /* vdpa-user: a ring size above this is rejected, so ask before any
     * SET_VRING_NUM (a legacy front-end never asks). */
    vs_send_none(r, VU_REQ_VDPA_GET_VRING_NUM, UP_STEP_VRING_MAX, 0, NULL);
    up_set_status(r, UP_ST_RESET, "reset");
    up_set_status(r, UP_ST_NEGOTIATING, "ACKNOWLEDGE|DRIVER");
    up_provision(r);
    vs_send_fd_u64(r, VU_REQ_VDPA_SET_CONFIG_CALL, 0, r->up->config_call_fd, UP_STEP_CHECK_ACK,
                   "config changes -> shim");
    /* The config size comes back before the steps above are answered; the
     * config read it triggers is the last step of the set-up. */
    vs_send_none(r, VU_REQ_VDPA_GET_CONFIG_SIZE, UP_STEP_CONFIG_SIZE, 0, NULL);
}

static int vs_up_begin(struct vs_relay *r, const struct vu_msg *set_pf)
{
    struct vs_up *up = calloc(1, sizeof(*up));
    uint64_t fe_pf = set_pf->payload.u64;
    uint64_t be_pf;
    int rc;

    if (!up)
        return -ENOMEM;
    r->up = up;
    for (unsigned i = 0; i < VU_MAX_MEM_REGIONS; i++)
        up->mem_fds[i] = -1;
    rc = up_config_call_watch(r);
    if (rc < 0) {
        /* without it the device's config changes and resets go unseen;
         * the relay ends the session */
        vs_err("%s: cannot watch the config-call eventfd: %s", r->cfg.id, strerror(-rc));
        return rc;
    }
    up->begin_ack = fe_wants_ack(r, &set_pf->hdr);

    /* The back-end gets vdpa-user with its companions, plus what the
     * front-end acked that passes through unchanged. */
    be_pf = UP_BACKEND_PF | (r->backend_pf & VU_BIT(VU_PF_MQ)) |
            (fe_pf & r->backend_pf & UP_PASSED_PF);
    be_pf &= r->backend_pf;
    r->be_limits.protocol_features = be_pf;
    vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, set_pf, "up-conversion begins");

    vs_send_u64(r, VU_REQ_SET_PROTOCOL_FEATURES, be_pf, UP_STEP_CHECK_ACK, 0, "vdpa-user");
    send_setup(r);
    return 0;
}

static void vs_up_end(struct vs_relay *r)
{
    struct vs_up *up = r->up;

    if (!up)
        return;
    r->up = NULL;
    for (unsigned i = 0; i < VU_MAX_MEM_REGIONS; i++)
        fd_close(&up->mem_fds[i]);
    up_rings_free(up);
    up_ctrl_destroy(up->ctrl);
    up_config_call_close(up); /* frees up */
}

/* ---- front-end requests ------------------------------------------------------- */

static void h_set_features(struct vs_relay *r, struct up_req *q)
{
    struct vs_up *up = r->up;
    struct vu_msg *m = q->m;
    uint64_t v = m->payload.u64;
    uint32_t ack = q->ack_fe ? VU_REQ_SET_FEATURES : 0;
    char text[256];
    int err;

    if (up->features_set && v == up->features) {
        vu_msg_close_fds(m);
        if (ack)
            vs_reply_frontend_ack(r, ack, 0); /* QEMU repeats it per queue pair */
        return;
    }
    err = up_ctrl_decide(r, v, text, sizeof(text));
    if (err) {
        vu_msg_close_fds(m);
        vs_warn("%s: SET_FEATURES 0x%" PRIx64 " refused: %s", r->cfg.id, v, text);
        if (ack)
            vs_reply_frontend_ack(r, ack, (uint64_t)err);
        else
            up_fail_session(r, text);
        return;
    }
    if (up->state != UP_NEGOTIATING) {
        if (up->features_set && (v ^ up->features) == VU_BIT(UP_F_LOG_ALL)) {
            up->features = v;
            m->payload.u64 = up_backend_features(up);
            vs_send_internal(r, m, UP_STEP_ACK_FRONTEND, ack, "dirty logging toggled");
            return;
        }
        /* Different features: back to the start of negotiation. */
        up_set_status(r, UP_ST_RESET, "features changed: reset");
        up_set_status(r, UP_ST_NEGOTIATING, NULL);
        up->state = UP_NEGOTIATING;
    }
    up->features = v;
    up->features_set = false;
    m->payload.u64 = up_backend_features(up);
    vs_send_internal(r, m, UP_STEP_CHECK_ACK, 0,
                     up->ctrl_on ? "+CTRL_VQ: the shim drives the "
                                   "back-end's control queue"
                                 : NULL);
    up_set_status(r, UP_ST_FEATURES_OK, "FEATURES_OK");
    vs_send_none(r, VU_REQ_GET_STATUS, UP_STEP_CHECK_FEATURES_OK, ack, "check FEATURES_OK");
}

/* SET_MEM_TABLE refused (rc -errno): a failed ack, or the session ends. */
static void refuse_mem_table(struct vs_relay *r, const struct up_req *q, const char *why, int rc)
{
    vs_warn("%s: SET_MEM_TABLE refused: %s", r->cfg.id, why);
    if (q->ack_fe)
        vs_reply_frontend_ack(r, VU_REQ_SET_MEM_TABLE, (uint64_t)-rc);
    else
        up_fail_session(r, why);
}

/* Cached with the shim's duplicates, and forwarded with the shim's
 * control-queue region added where it drives that queue. */
static void h_set_mem_table(struct vs_relay *r, struct up_req *q)
{
    struct vs_up *up = r->up;
    struct vu_msg *m = q->m;
    char why[160];
    int rc;

    for (unsigned i = 0; i < VU_MAX_MEM_REGIONS; i++)
        fd_close(&up->mem_fds[i]);
    up->mem = m->payload.mem;
    for (unsigned i = 0; i < m->nfds; i++) {
        rc = fd_dup_cloexec(m->fds[i]);
        if (rc < 0) {
            /* without the copies a replay could not give the memory again */
            vu_msg_close_fds(m);
            for (unsigned j = 0; j < i; j++)
                fd_close(&up->mem_fds[j]);
            snprintf(why, sizeof(why), "cannot keep a copy of a guest-memory fd (%s)",
                     strerror(-rc));
            refuse_mem_table(r, q, why, rc);
            return;
        }
        up->mem_fds[i] = rc;
    }
    up->has_mem = true;
    up->mem_has_ctrl = false;
    if (up->ctrl_on) {
        rc = up_ctrl_compose_mem(up->ctrl, m);
        if (rc < 0) {
            vu_msg_close_fds(m);
            up->has_mem = false;
            snprintf(why, sizeof(why),
                     "no memory-table slot left for the shim's "
                     "control-queue region (%s)",
                     strerror(-rc));
            refuse_mem_table(r, q, why, rc);
            return;
        }
        up->mem_has_ctrl = true;
    }
    up_forward_then_maybe_start(r, m, q->ack_fe);
}

/* RESET_OWNER, RESET_DEVICE: the device back to ACKNOWLEDGE|DRIVER, and
 * everything the front-end configured forgotten. */
static void h_reset_device(struct vs_relay *r, struct up_req *q)
{
    struct vs_up *up = r->up;
    uint32_t request = q->m->hdr.request;

    up->state = UP_NEGOTIATING;
    up->features_set = false;
    up->ever_started = false;
    up_rings_forget(up);
    up->fe_status = 0;
    up_set_status(r, UP_ST_RESET, vu_request_name(VU_CHAN_FRONTEND, request));
    vs_send_u64(r, VU_REQ_SET_STATUS, UP_ST_NEGOTIATING, UP_STEP_ACK_FRONTEND,
                q->ack_fe ? request : 0, NULL);
}

/* A legacy front-end that negotiated STATUS (QEMU, DPDK virtio-user) writes
 * its own view; the shim owns the back-end's register, so the view is kept
 * here. In vhost-user, SET_STATUS(0) is how QEMU announces a stop, before
 * it reads each ring's index with GET_VRING_BASE: that is a SUSPEND, not a
 * reset, or the indices would be lost. The next start resets and replays. */
static void h_set_status(struct vs_relay *r, struct up_req *q)
{
    struct vs_up *up = r->up;
    uint32_t request = q->m->hdr.request;

    up->fe_status = (uint8_t)q->m->payload.u64;
    if (up->fe_status == 0 && up->state == UP_RUNNING) {
        vs_send_none(r, VU_REQ_VDPA_SUSPEND, UP_STEP_ACK_FRONTEND, q->ack_fe ? request : 0,
                     "legacy stop");
        up->state = UP_STOPPED;
        return;
    }
    up_maybe_start(r, q->ack_fe, request);
}

static void reply_u64(struct vs_relay *r, const struct vu_msg *m, uint64_t v, const char *note)
{
    vs_reply_frontend_u64(r, m->hdr.request, v, note);
}

static void h_get_status(struct vs_relay *r, struct up_req *q)
{
    uint8_t st = r->up->fe_status;

    if (!r->up->features_set)
        st &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK; /* refused features show here */
    reply_u64(r, q->m, st, "the front-end's status view");
}

static void h_get_queue_num(struct vs_relay *r, struct up_req *q)
{
    uint32_t n = r->up->nrings;

    reply_u64(r, q->m, r->cfg.type->queue_num_is_pairs ? n / UP_NET_RINGS_PER_PAIR : n,
              "from VDPA_GET_VQS_COUNT");
}

/* GET_FEATURES, SET_OWNER, GET_CONFIG, SET_CONFIG flags 1, SEND_RARP,
 * logging: the same meaning on both sides. */
static void h_forward(struct vs_relay *r, struct up_req *q)
{
    q->m->hdr.flags |= q->ack_fe ? VU_FLAG_NEED_REPLY : 0;
    vs_forward_to_backend(r, q->d, q->m, NULL);
}

/* GPU_SET_SOCKET: QEMU's end of the vhost-user-gpu socket, over which the
 * back-end and QEMU speak the display protocol peer to peer. vdpa-user
 * forbids only the legacy requests that overlap a vDPA ioctl
 * (docs/vdpa-user.md 4) and this one overlaps none: handed on as it is (the
 * fd's kind, a socket, was checked at the boundary). */
static void h_gpu_set_socket(struct vs_relay *r, struct up_req *q)
{
    q->m->hdr.flags |= q->ack_fe ? VU_FLAG_NEED_REPLY : 0;
    vs_forward_to_backend(r, q->d, q->m, "handed on: no vDPA ioctl overlaps it");
}

static up_request_fn *handler_of(uint32_t request)
{
    switch (request) {
    case VU_REQ_SET_FEATURES:
        return h_set_features;
    case VU_REQ_SET_MEM_TABLE:
        return h_set_mem_table;
    case VU_REQ_SET_VRING_NUM:
    case VU_REQ_SET_VRING_ADDR:
    case VU_REQ_SET_VRING_BASE:
        return up_h_set_vring_layout;
    case VU_REQ_SET_VRING_KICK:
    case VU_REQ_SET_VRING_CALL:
    case VU_REQ_SET_VRING_ERR:
        return up_h_set_vring_fd;
    case VU_REQ_SET_VRING_ENABLE:
        return up_h_set_vring_enable;
    case VU_REQ_GET_VRING_BASE:
        return up_h_get_vring_base;
    case VU_REQ_RESET_OWNER:
    case VU_REQ_RESET_DEVICE:
        return h_reset_device;
    case VU_REQ_GET_QUEUE_NUM:
        return h_get_queue_num;
    case VU_REQ_NET_SET_MTU:
        return up_h_net_set_mtu;
    case VU_REQ_SET_STATUS:
        return h_set_status;
    case VU_REQ_GET_STATUS:
        return h_get_status;
    case VU_REQ_GPU_SET_SOCKET:
        return h_gpu_set_socket;
    case VU_REQ_SET_CONFIG:
        return up_h_set_config;
    default:
        return h_forward;
    }
}

static void vs_up_frontend_request(struct vs_relay *r, const struct vu_msg_desc *d,
                                   struct vu_msg *m)
{
    struct up_req q = {
        .d = d, .m = m, .hdr = m->hdr, .ring = NULL, .ack_fe = fe_wants_ack(r, &m->hdr)
    };
    uint32_t index;

    vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, m, NULL);
    /* The front-end is read only when no reply is owed, so a new request
     * starts a new sequence. */
    r->up->sequence_failed = false;
    if (vu_ring_index_of(d->ring, m, &index)) {
        q.ring = up_ring_of(r, index);
        if (!q.ring) {
            vu_msg_close_fds(m);
            vs_refuse_frontend(r, &m->hdr, d, -ERANGE, "ring index beyond the back-end's VQ count");
            return;
        }
    }
    m->hdr.flags &= ~VU_FLAG_NEED_REPLY; /* the shim answers the front-end itself */
    handler_of(m->hdr.request)(r, &q);
}

/* ---- replies to the shim's requests ------------------------------------------ */

static void step_check_ack(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    uint64_t v = m->payload.u64;

    if (v == 0)
        return;
    r->up->sequence_failed = true;
    vs_warn("%s: vdpa-user back-end %s refused %s (%" PRIu64 "); the front-end's "
            "request fails (--trace shows the exchange)",
            r->cfg.id, r->cfg.backend, vu_request_name(VU_CHAN_FRONTEND, o->p.request), v);
}

static void step_device_id(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    uint64_t v = m->payload.u64;
    char text[160];

    (void)o;
    r->up->device_id = (uint32_t)v;
    if (v == r->cfg.type->virtio_id)
        return;
    snprintf(text, sizeof(text),
             "the back-end is VIRTIO device %" PRIu64 ", but type=%s is device %u", v,
             r->cfg.type->name, r->cfg.type->virtio_id);
    up_fail_session(r, text);
}

static void step_vqs_count(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    uint64_t v = m->payload.u64;
    char text[96];

    (void)o;
    if (v == 0 || v > VU_MAX_QUEUES) {
        snprintf(text, sizeof(text), "the back-end reports %" PRIu64 " virtqueues", v);
        up_fail_session(r, text);
        return;
    }
    if (up_rings_alloc(r->up, (uint32_t)v) < 0) {
        up_fail_session(r, "out of memory");
        return;
    }
    if (!vs_device_max_rings(&r->cfg))
        r->fe_limits.max_queues = r->be_limits.max_queues = r->up->nrings;
}

static void step_vring_max(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    uint64_t v = m->payload.u64;

    (void)o;
    if (v == 0)
        vs_warn("%s: the back-end reports a maximum ring size of 0; ring sizes are left "
                "to it to check",
                r->cfg.id);
    r->up->vring_max = v > VU_VRING_NUM_MAX ? VU_VRING_NUM_MAX : (uint32_t)v;
}

/* The features took (FEATURES_OK stayed set), or the front-end's
 * SET_FEATURES fails: negotiation starts over where it can be told, else
 * the session ends. */
static void step_check_features_ok(struct vs_relay *r, const struct vs_owed *o,
                                   const struct vu_msg *m)
{
    struct vs_up *up = r->up;
    uint64_t v = m->payload.u64;
    char text[320];

    if (!up->sequence_failed && (v & VIRTIO_STATUS_FEATURES_OK)) {
        up->features_set = true;
        up->state = UP_FEATURES_OK;
        if (o->arg)
            vs_reply_frontend_ack(r, VU_REQ_SET_FEATURES, 0);
        return;
    }
    snprintf(text, sizeof(text),
             "back-end %s refused FEATURES_OK for features 0x%" PRIx64 " (status 0x%" PRIx64
             "); the front-end asked for them with SET_FEATURES",
             r->cfg.backend, up->features, v);
    if (!o->arg) {
        up_fail_session(r, text);
        return;
    }
    vs_warn("%s: %s", r->cfg.id, text);
    up_set_status(r, UP_ST_RESET, "back to negotiation");
    up_set_status(r, UP_ST_NEGOTIATING, NULL);
    vs_reply_frontend_ack(r, VU_REQ_SET_FEATURES, EINVAL);
}

static void step_ack_frontend(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    if (o->arg)
        vs_reply_frontend_ack(r, (uint32_t)o->arg,
                              r->up->sequence_failed || m->payload.u64 ? EIO : 0);
}

static up_step_fn *step_of(uint16_t step)
{
    switch ((enum up_step)step) {
    case UP_STEP_CHECK_ACK:
        return step_check_ack;
    case UP_STEP_DEVICE_ID:
        return step_device_id;
    case UP_STEP_VQS_COUNT:
        return step_vqs_count;
    case UP_STEP_VRING_MAX:
        return step_vring_max;
    case UP_STEP_CONFIG_SIZE:
        return up_step_config_size;
    case UP_STEP_CACHE_CONFIG:
        return up_step_cache_config;
    case UP_STEP_CHECK_FEATURES_OK:
        return step_check_features_ok;
    case UP_STEP_CHECK_DRIVER_OK:
        return up_step_check_driver_ok;
    case UP_STEP_ACK_FRONTEND:
        return step_ack_frontend;
    case UP_STEP_ANSWER_VRING_BASE:
        return up_step_answer_vring_base;
    case UP_STEP_CONFIG_EVENT:
        return up_step_config_event;
    case UP_STEP_PROVISION:
        return up_step_provision;
    case UP_STEP_SYNC_PAIRS:
        return up_step_sync_pairs;
    case UP_STEP_CONFIG_WRITE:
        return up_step_config_write;
    }
    return NULL; /* the shim sends no other continuation */
}

static void vs_up_internal_reply(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    up_step_fn *step = step_of(o->action);
    char text[160];

    vu_msg_close_fds(m);
    if (!r->up)
        return;
    if (m->hdr.size == 0) {
        /* vdpa-user's empty reply: the request was refused, and every step
         * that has a reply payload is one the set-up cannot do without. */
        snprintf(text, sizeof(text), "the vdpa-user back-end refused %s",
                 vu_request_name(VU_CHAN_FRONTEND, o->p.request));
        up_fail_session(r, text);
        return;
    }
    if (step)
        step(r, o, m);
}

const struct vs_mode_ops vs_mode_up = {
    .name = "up-conversion",
    .holds_while_owed = true,
    .offer = vs_up_offer,
    .begin = vs_up_begin,
    .frontend_request = vs_up_frontend_request,
    .internal_reply = vs_up_internal_reply,
    .holds_frontend = up_holds_frontend,
    .end = vs_up_end,
};
