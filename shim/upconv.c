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
 *   config-call eventfd     -> CONFIG_CHANGE_MSG on the front-end's channel
 *
 * Ring state and every fd needed to replay it (memory regions, kick, call,
 * err) are cached here with the shim's own duplicates.
 *
 * Every request the shim makes carries NEED_REPLY; while any reply is owed the
 * front-end is not read (relay.c), so each step sees the state the previous
 * one left and replies reach the front-end in order.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "mode.h"
#include "up_ctrl.h"
#include "peer_fd.h"
#include "virtio.h"

enum up_state {
    UP_NEGOTIATING,   /* ACKNOWLEDGE|DRIVER: features not yet accepted */
    UP_FEATURES_OK,   /* features accepted, rings not running */
    UP_RUNNING,       /* DRIVER_OK */
    UP_STOPPED,       /* suspended because the front-end stopped rings */
};

/* Continuations for replies to the shim's own requests. */
enum up_action {
    UPA_CHECK_ACK,       /* a step of a sequence: a failure fails the sequence */
    UPA_DEVICE_ID,
    UPA_VQS_COUNT,
    UPA_VRING_MAX,       /* VDPA_GET_VRING_NUM: the largest ring the back-end takes */
    UPA_CONFIG_SIZE,
    UPA_CONFIG,          /* cache the config space; arg: enum up_config_read */
    /* For the next three, arg is the front-end request to acknowledge when
     * the step completes, or 0 when the front-end wants no ack. */
    UPA_FEATURES_STATUS, /* GET_STATUS after FEATURES_OK */
    UPA_START_STATUS,    /* GET_STATUS after DRIVER_OK */
    UPA_FE_ACK,          /* last step of a translated request */
    UPA_VRING_BASE,      /* GET_VRING_BASE for the front-end's stop; arg: ring */
    UPA_CONFIG_EVENT,    /* GET_STATUS after the config-call eventfd fired */
    UPA_PROVISION,       /* SET_CONFIG flags=1 of a device key; arg: config offset */
    UPA_PAIRS,           /* an enable while running; then VQ_PAIRS_SET if the pairs
                            changed; arg: the front-end request to ack, or 0 */
};

/* Why the shim reads the back-end's config space (UPA_CONFIG's arg). */
enum up_config_read {
    UP_CONFIG_SETUP = 1, /* the last step of the set-up */
    UP_CONFIG_EVENT,     /* the end of a config-call sequence */
};

struct up_ring {
    uint32_t num, base;
    struct vu_vring_addr addr;
    int kick_fd, call_fd, err_fd;   /* the shim's duplicates, -1 if none */
    bool has_num, has_addr, kick_set, call_set, err_set, enabled;
};

struct vs_up {
    enum up_state state;
    bool ever_started;
    bool sequence_failed;          /* a step of the current sequence failed */
    bool begin_ack;                /* the front-end wants SET_PROTOCOL_FEATURES acked */
    uint64_t features;
    bool features_set;
    uint8_t fe_status;             /* the status a STATUS-aware legacy front-end wrote */
    struct vu_mem_table mem;       /* last memory table */
    int mem_fds[VU_MAX_MEM_REGIONS];
    bool has_mem;
    uint32_t device_id, nrings, config_size;
    uint32_t vring_max;            /* VDPA_GET_VRING_NUM (0 until known) */
    uint8_t config[VU_MAX_CONFIG_SIZE];
    bool has_config;
    struct up_ring *rings;         /* nrings of them */
    int config_call_fd;            /* eventfd the back-end signals */
    uv_poll_t config_poll;
    bool config_poll_open;         /* config_poll initialised (closed with the state) */
    /* A config-call storm costs one GET_STATUS/GET_CONFIG sequence at a time:
     * a signal while one runs (or in the gap after it) asks for one more,
     * which starts CONFIG_EVENT_GAP_MS after the last ended. */
    bool config_event_busy, config_event_again;
    struct up_gap *config_gap;     /* initialised with the poll; closed with the state */
    /* The back-end's control queue, driven by the shim for a front-end that
     * acked MQ without CTRL_VQ (up_ctrl.c). */
    struct up_ctrl *ctrl;          /* made at the first such SET_FEATURES */
    bool ctrl_on;                  /* the back-end gets CTRL_VQ and the shim's queue */
    bool mem_has_ctrl;             /* the last memory table sent holds the shim's region */
    uint32_t ctrl_ring;            /* 2 * max_virtqueue_pairs */
    uint16_t be_pairs;             /* pairs the back-end runs (1 after a start) */
    uint16_t pairs_sent;           /* VQ_PAIRS_SET in flight */
    uint32_t ctrl_ack;             /* the front-end request acked when it ends, or 0 */
};

/* A signal storm from the back-end: the next config-call sequence waits this
 * long after the last one ended. The front-end is not read while the shim's
 * requests are owed, so back-to-back sequences would starve it; config
 * changes are rare (link, MTU), and a coalesced follow-up loses nothing by
 * waiting. */
#define CONFIG_EVENT_GAP_MS 10

struct up_gap {
    uv_timer_t timer;
    struct vs_relay *relay;
};

/* Protocol features a legacy front-end can use over a vdpa-user back-end:
 * translated (CONFIG, BACKEND_REQ for CONFIG_CHANGE_MSG, NET_MTU,
 * RESET_DEVICE, STATUS: the shim keeps the front-end's view) or forwarded as
 * they are (MQ, REPLY_ACK, LOG_SHMFD, RARP, negotiated with the back-end in
 * vs_up_begin). Nothing else: a bit the back-end offers beyond these (e.g.
 * CONFIGURE_MEM_SLOTS) is not negotiated with it, so it is not shown. */
#define UP_FORWARDED (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_LOG_SHMFD) | \
                      VU_BIT(VU_PF_RARP))
#define UP_TRANSLATED (VU_BIT(VU_PF_CONFIG) | VU_BIT(VU_PF_BACKEND_REQ) | \
                       VU_BIT(VU_PF_RESET_DEVICE) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_MQ) | \
                       VU_BIT(VU_PF_STATUS))

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

/* ---- building the shim's own requests ------------------------------------ */

static void set_status(struct vs_relay *r, uint8_t status, const char *note)
{
    vs_send_u64(r, VU_REQ_SET_STATUS, status, UPA_CHECK_ACK, 0, note);
}

#define ST_NEGOTIATING (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define ST_FEATURES_OK (ST_NEGOTIATING | VIRTIO_STATUS_FEATURES_OK)
#define ST_DRIVER_OK (ST_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

/* ---- set-up ---------------------------------------------------------------- */

/* A config-call sequence: GET_STATUS (DEVICE_NEEDS_RESET ends the session),
 * then GET_CONFIG and CONFIG_CHANGE_MSG for the front-end. */
static void config_event_start(struct vs_relay *r)
{
    r->up->config_event_busy = true;
    r->up->config_event_again = false;
    vs_send_none(r, VU_REQ_GET_STATUS, UPA_CONFIG_EVENT, 0, "config-call fired: read status");
    if (r->fe && r->main_pending.count)
        vs_conn_pause(r->fe, true);
}

/* The back-end misbehaves with the config-call eventfd: logged once, and the
 * session ends on the loop's next poll of the back-end (never now: the
 * caller's state stays valid). */
static void config_call_failed(struct vs_relay *r, const char *what)
{
    if (r->up->config_poll_open)
        (void)uv_poll_stop(&r->up->config_poll); /* always 0; no more wake-ups */
    vs_err("%s: the back-end's config-call eventfd: %s; ending the session", r->cfg.id, what);
    vs_conn_fail(r->be ? r->be : r->fe, -EPROTO);
}

static void on_config_gap(uv_timer_t *h)
{
    struct up_gap *gap = h->data;

    if (gap->relay->up)
        config_event_start(gap->relay);
}

/* A config-call sequence ended: the next, if signals came meanwhile, after
 * the gap (busy stays set through it, so that they are coalesced too). */
static void config_event_done(struct vs_relay *r)
{
    struct vs_up *up = r->up;
    int rc;

    if (!up->config_event_again) {
        up->config_event_busy = false;
        return;
    }
    rc = uv_timer_start(&up->config_gap->timer, on_config_gap, CONFIG_EVENT_GAP_MS, 0);
    if (rc < 0)
        config_call_failed(r, uv_strerror(rc));
}

/* The config-call eventfd is the shim's own, but the back-end holds it too:
 * it may drain it first (a wake-up that finds 0) or clear O_NONBLOCK on the
 * shared file description; peer_fd_drain never blocks whatever it does. */
static void on_config_call(uv_poll_t *h, int status, int events)
{
    struct vs_relay *r = h->data;
    uint64_t count = 0;
    int rc;

    (void)events;
    if (!r->up)
        return;
    if (status < 0) {
        config_call_failed(r, uv_strerror(status));
        return;
    }
    rc = peer_fd_drain(r->up->config_call_fd, &count);
    if (rc < 0) {
        config_call_failed(r, strerror(-rc));
        return;
    }
    if (count == 0)
        return; /* the back-end consumed it first: nothing to report */
    if (r->up->config_event_busy) {
        r->up->config_event_again = true; /* coalesced into one more sequence */
        return;
    }
    config_event_start(r);
}

/* The shim's config-call eventfd, watched. 0 or -errno; the handle is
 * closed with the state once initialised (config_poll_open). */
static int config_call_watch(struct vs_relay *r)
{
    struct vs_up *up = r->up;
    struct up_gap *gap;
    int rc;

    up->config_call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (up->config_call_fd < 0)
        return -errno;
    rc = uv_poll_init(r->loop, &up->config_poll, up->config_call_fd);
    if (rc < 0)
        return rc; /* never initialised: not closed */
    up->config_poll.data = r;
    up->config_poll_open = true;
    gap = calloc(1, sizeof(*gap));
    if (!gap)
        return -ENOMEM;
    rc = uv_timer_init(r->loop, &gap->timer);
    if (rc < 0) {
        free(gap); /* never initialised: not closed */
        return rc;
    }
    gap->timer.data = gap;
    gap->relay = r;
    up->config_gap = gap;
    return uv_poll_start(&up->config_poll, UV_READABLE, on_config_call);
}

/* mac= and mtu= go into the back-end's config space as a management tool's
 * `vdpa dev add mac .. mtu ..` would (docs/vdpa-user.md, SET_CONFIG flags 1). */
static void provision(struct vs_relay *r)
{
    struct vu_msg m;

    if (strcmp(r->cfg.type->name, "net") != 0)
        return;
    if (r->cfg.has_mac) {
        vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
        vu_msg_set_config(&m, 0, 6, VU_CONFIG_F_MIGRATION, r->cfg.mac);
        vs_send_internal(r, &m, UPA_PROVISION, 0, "provision mac=");
    }
    if (r->cfg.mtu) {
        uint16_t mtu = htole16(r->cfg.mtu);
        vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
        vu_msg_set_config(&m, 10, 2, VU_CONFIG_F_MIGRATION, &mtu);
        vs_send_internal(r, &m, UPA_PROVISION, 10, "provision mtu=");
    }
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
    rc = config_call_watch(r);
    if (rc < 0) {
        /* without it the device's config changes and resets go unseen;
         * the relay ends the session */
        vs_err("%s: cannot watch the config-call eventfd: %s", r->cfg.id, strerror(-rc));
        return rc;
    }
    up->begin_ack = fe_wants_ack(r, &set_pf->hdr);

    /* The back-end gets vdpa-user with its companions, plus what the
     * front-end acked that passes through unchanged. */
    be_pf = VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |
            VU_BIT(VU_PF_STATUS) | (r->backend_pf & VU_BIT(VU_PF_MQ)) |
            (fe_pf & r->backend_pf & (VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_RARP)));
    be_pf &= r->backend_pf;
    r->be_limits.protocol_features = be_pf;
    vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, set_pf, "up-conversion begins");

    vs_send_u64(r, VU_REQ_SET_PROTOCOL_FEATURES, be_pf, UPA_CHECK_ACK, 0, "vdpa-user");
    if (r->owner_deferred) {
        r->owner_deferred = false;
        vs_send_none(r, VU_REQ_SET_OWNER, UPA_CHECK_ACK, 0, "deferred SET_OWNER");
    }
    vs_send_none(r, VU_REQ_VDPA_GET_DEVICE_ID, UPA_DEVICE_ID, 0, NULL);
    vs_send_none(r, VU_REQ_VDPA_GET_VQS_COUNT, UPA_VQS_COUNT, 0, NULL);
    /* vdpa-user: a ring size above this is rejected, so ask before any
     * SET_VRING_NUM (a legacy front-end never asks). */
    vs_send_none(r, VU_REQ_VDPA_GET_VRING_NUM, UPA_VRING_MAX, 0, NULL);
    set_status(r, 0, "reset");
    set_status(r, ST_NEGOTIATING, "ACKNOWLEDGE|DRIVER");
    provision(r);
    vs_send_fd_u64(r, VU_REQ_VDPA_SET_CONFIG_CALL, 0, up->config_call_fd, UPA_CHECK_ACK,
                   "config changes -> shim");
    /* The config size comes back before the steps above are answered; the
     * config read it triggers is the last step of the set-up. */
    vs_send_none(r, VU_REQ_VDPA_GET_CONFIG_SIZE, UPA_CONFIG_SIZE, 0, NULL);
    return 0;
}

static void free_up(uv_handle_t *h)
{
    free(h->data);
}

static void free_gap(uv_handle_t *h)
{
    free(h->data);
}

static void vs_up_end(struct vs_relay *r)
{
    struct vs_up *up = r->up;

    if (!up)
        return;
    r->up = NULL;
    for (unsigned i = 0; i < VU_MAX_MEM_REGIONS; i++)
        vs_close_fd(&up->mem_fds[i]);
    for (uint32_t i = 0; up->rings && i < up->nrings; i++) {
        vs_close_fd(&up->rings[i].kick_fd);
        vs_close_fd(&up->rings[i].call_fd);
        vs_close_fd(&up->rings[i].err_fd);
    }
    free(up->rings);
    up_ctrl_destroy(up->ctrl);
    if (up->config_gap)
        uv_close((uv_handle_t *)&up->config_gap->timer, free_gap); /* stops it */
    if (up->config_poll_open) {
        /* Closed before its fd: the back-end holds the same eventfd, and epoll
         * forgets a watch only when every fd of the file is closed. libuv
         * releases the handle later; the state goes with it. */
        up->config_poll.data = up;
        uv_close((uv_handle_t *)&up->config_poll, free_up);
        vs_close_fd(&up->config_call_fd);
    } else {
        vs_close_fd(&up->config_call_fd);
        free(up);
    }
}

/* ---- the back-end's control queue (up_ctrl.c) ------------------------------ */

static uint64_t backend_features(const struct vs_up *up)
{
    return up->features | (up->ctrl_on ? VU_BIT(VIRTIO_NET_F_CTRL_VQ) : 0);
}

/* Whether features v need the shim's control queue: QEMU acks MQ but never
 * CTRL_VQ (the guest's control queue is its own), and a VIRTIO device
 * refuses MQ without CTRL_VQ (VIRTIO 1.2 5.1.3.1). 0 (ctrl_on says which),
 * or a positive errno with the reason in text (ctrl_on unchanged: the
 * features in effect stay). */
static int ctrl_decide(struct vs_relay *r, uint64_t v, char *text, size_t len)
{
    struct vs_up *up = r->up;
    uint16_t max_pairs = 0;
    int rc;

    if (strcmp(r->cfg.type->name, "net") != 0 || !vu_has_bit(v, VIRTIO_NET_F_MQ) ||
        vu_has_bit(v, VIRTIO_NET_F_CTRL_VQ)) {
        up->ctrl_on = false;
        return 0;
    }
    if (!vu_has_bit(r->be_limits.offered_features, VIRTIO_NET_F_CTRL_VQ)) {
        snprintf(text, len, "MQ without CTRL_VQ, and the back-end offers no control queue "
                 "for the shim to drive (VIRTIO 1.2 5.1.3.1: MQ requires CTRL_VQ)");
        return EINVAL;
    }
    if (up->has_config && up->config_size >= VIRTIO_NET_CFG_MAX_VQP + sizeof(max_pairs))
        memcpy(&max_pairs, up->config + VIRTIO_NET_CFG_MAX_VQP, sizeof(max_pairs));
    max_pairs = le16toh(max_pairs);
    if (max_pairs == 0 || 2u * max_pairs >= up->nrings) {
        snprintf(text, len, "MQ: the back-end's max_virtqueue_pairs %u does not fit its %u "
                 "virtqueues (the control queue is ring 2 * max_virtqueue_pairs)", max_pairs,
                 up->nrings);
        return EINVAL;
    }
    if (!up->ctrl && (rc = up_ctrl_create(r, &up->ctrl)) < 0) {
        snprintf(text, len, "cannot make the shim's control queue: %s", strerror(-rc));
        return -rc;
    }
    up->ctrl_on = true;
    up->ctrl_ring = 2u * max_pairs;
    return 0;
}

/* Pairs the front-end runs: up to the highest pair with an enabled ring. */
static uint16_t enabled_pairs(const struct vs_up *up)
{
    uint16_t n = 1;

    for (uint32_t i = 0; up->rings && i < up->ctrl_ring && i < up->nrings; i++)
        if (up->rings[i].enabled)
            n = (uint16_t)(i / 2 + 1);
    return n;
}

/* The control queue failed: the session ends on the loop's next poll of
 * the back-end (never now: the caller's state stays valid). */
static void ctrl_failed(struct vs_relay *r, const char *what)
{
    vs_err("%s: the back-end's control queue: %s; ending the session", r->cfg.id, what);
    vs_conn_fail(r->be ? r->be : r->fe, -EPROTO);
}

/* After a start or an enable while running: VQ_PAIRS_SET when the pairs the
 * front-end enabled changed. The front-end's ack (of request `ack`, or 0
 * for none) waits for the back-end's, and the front-end is not read while
 * the command is in flight. */
static void ctrl_sync(struct vs_relay *r, uint32_t ack)
{
    struct vs_up *up = r->up;
    uint16_t want = enabled_pairs(up);
    int rc;

    if (!up->ctrl_on || up->state != UP_RUNNING || want == up->be_pairs ||
        up_ctrl_busy(up->ctrl)) {
        if (ack)
            vs_reply_frontend_ack(r, ack, 0);
        return;
    }
    rc = up_ctrl_pairs_set(up->ctrl, want);
    if (rc < 0) {
        if (ack)
            vs_reply_frontend_ack(r, ack, EIO);
        ctrl_failed(r, strerror(-rc));
        return;
    }
    up->pairs_sent = want;
    up->ctrl_ack = ack;
    if (r->fe)
        vs_conn_pause(r->fe, true);
}

void vs_up_ctrl_done(struct vs_relay *r, int rc)
{
    struct vs_up *up = r->up;
    uint32_t ack;

    if (!up)
        return;
    ack = up->ctrl_ack;
    up->ctrl_ack = 0;
    if (rc < 0) {
        if (ack)
            vs_reply_frontend_ack(r, ack, EIO);
        ctrl_failed(r, rc == -ETIMEDOUT ? "VQ_PAIRS_SET unanswered" : "VQ_PAIRS_SET failed");
        return;
    }
    up->be_pairs = up->pairs_sent;
    vs_info("%s: %u queue pair(s) active (VQ_PAIRS_SET on the back-end's control queue)",
            r->cfg.id, up->be_pairs);
    ctrl_sync(r, ack); /* the ack, or the next change */
    if (r->fe && !up_ctrl_busy(up->ctrl) && r->main_pending.count == 0)
        vs_conn_pause(r->fe, !r->be);
}

static bool vs_up_holds_frontend(const struct vs_relay *r)
{
    return r->up && up_ctrl_busy(r->up->ctrl);
}

/* ---- the device start ------------------------------------------------------ */

static bool ring_configured(const struct up_ring *g)
{
    return g->has_num && g->has_addr && g->kick_set;
}

/* Rings run when the front-end has enabled at least one ring and every
 * enabled ring is complete; without F_PROTOCOL_FEATURES a ring counts as
 * enabled once configured (the legacy "start on kick"). */
static bool ready_to_start(const struct vs_relay *r)
{
    const struct vs_up *up = r->up;
    bool legacy_enable = !vu_has_bit(r->fe_limits.offered_features, VU_F_PROTOCOL_FEATURES);
    unsigned enabled = 0;

    if ((up->state != UP_FEATURES_OK && up->state != UP_STOPPED) || !up->has_mem || !up->rings)
        return false;
    for (uint32_t i = 0; i < up->nrings; i++) {
        const struct up_ring *g = &up->rings[i];
        bool on = g->enabled || (legacy_enable && ring_configured(g));
        if (!on)
            continue;
        if (!ring_configured(g))
            return false;
        enabled++;
    }
    return enabled > 0;
}

static void send_mem_table(struct vs_relay *r, const char *note)
{
    struct vs_up *up = r->up;
    struct vu_msg m;
    int rc;

    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&m, up->mem.regions, up->mem.nregions);
    for (uint32_t i = 0; i < up->mem.nregions; i++)
        vu_msg_add_fd(&m, vs_dup_fd(up->mem_fds[i]));
    up->mem_has_ctrl = false;
    if (up->ctrl_on) {
        rc = up_ctrl_compose_mem(up->ctrl, &m);
        if (rc < 0)
            vs_warn("%s: no room for the shim's control-queue region in the memory table: %s",
                    r->cfg.id, strerror(-rc));
        up->mem_has_ctrl = rc == 0;
    }
    vs_send_internal(r, &m, UPA_CHECK_ACK, 0, note);
}

static void send_ring(struct vs_relay *r, uint32_t i, bool with_fds)
{
    struct up_ring *g = &r->up->rings[i];
    struct vu_msg m;

    vs_send_state(r, VU_REQ_SET_VRING_NUM, i, g->num, UPA_CHECK_ACK, 0, NULL);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &g->addr);
    vs_send_internal(r, &m, UPA_CHECK_ACK, 0, NULL);
    vs_send_state(r, VU_REQ_SET_VRING_BASE, i, g->base, UPA_CHECK_ACK, 0, NULL);
    if (with_fds) {
        vs_send_fd_u64(r, VU_REQ_SET_VRING_KICK, i, g->kick_fd, UPA_CHECK_ACK, "replay");
        if (g->call_set)
            vs_send_fd_u64(r, VU_REQ_SET_VRING_CALL, i, g->call_fd, UPA_CHECK_ACK, "replay");
        if (g->err_set)
            vs_send_fd_u64(r, VU_REQ_SET_VRING_ERR, i, g->err_fd, UPA_CHECK_ACK, "replay");
    }
    vs_send_state(r, VU_REQ_SET_VRING_ENABLE, i, g->enabled ? 1 : 0, UPA_CHECK_ACK, 0, NULL);
}

/* First start: the rings' fds already went to the back-end as they came.
 * A restart after a stop resets the device and replays all it had. */
static void start_device(struct vs_relay *r, uint32_t ack_request)
{
    struct vs_up *up = r->up;
    bool replay = up->ever_started;
    bool legacy_enable = !vu_has_bit(r->fe_limits.offered_features, VU_F_PROTOCOL_FEATURES);

    if (replay) {
        set_status(r, 0, "restart: reset");
        set_status(r, ST_NEGOTIATING, NULL);
        vs_send_u64(r, VU_REQ_SET_FEATURES, backend_features(up), UPA_CHECK_ACK, 0, "replay");
        set_status(r, ST_FEATURES_OK, NULL);
        send_mem_table(r, "replay");
        vs_send_fd_u64(r, VU_REQ_VDPA_SET_CONFIG_CALL, 0, up->config_call_fd, UPA_CHECK_ACK,
                       "replay");
    }
    for (uint32_t i = 0; i < up->nrings; i++) {
        struct up_ring *g = &up->rings[i];
        if (legacy_enable && ring_configured(g))
            g->enabled = true;
        if (ring_configured(g))
            send_ring(r, i, replay);
    }
    if (up->ctrl_on) {
        if (!up->mem_has_ctrl)
            send_mem_table(r, "with the shim's control-queue region");
        up_ctrl_send_ring(r, up->ctrl, up->ctrl_ring, UPA_CHECK_ACK);
    }
    up->be_pairs = 1; /* a vdpa-user net device starts with one pair (VIRTIO 5.1.6.5.5) */
    set_status(r, ST_DRIVER_OK, "rings complete: DRIVER_OK");
    vs_send_none(r, VU_REQ_GET_STATUS, UPA_START_STATUS, ack_request, NULL);
}

/* After a request the shim kept to itself (ring numbers, addresses, enables
 * before the start): start the device if that completed it, else answer. */
static void maybe_start(struct vs_relay *r, bool ack_fe, uint32_t request)
{
    if (ready_to_start(r))
        start_device(r, ack_fe ? request : 0);
    else if (ack_fe)
        vs_reply_frontend_ack(r, request, 0);
}

/* After caching a request that also goes to the back-end now: the front-end's
 * ack reflects the back-end's answer, or the start's outcome. */
static void forward_then_maybe_start(struct vs_relay *r, struct vu_msg *m, bool ack_fe)
{
    uint32_t request = m->hdr.request;
    bool start = ready_to_start(r);

    vs_send_internal(r, m, start ? UPA_CHECK_ACK : UPA_FE_ACK, !start && ack_fe ? request : 0,
                     NULL);
    if (start)
        start_device(r, ack_fe ? request : 0);
}

/* A ring change while the device runs: suspend, apply, resume. */
static void apply_while_running(struct vs_relay *r, struct vu_msg *m, bool ack_fe)
{
    uint32_t request = m->hdr.request;

    vs_send_none(r, VU_REQ_VDPA_SUSPEND, UPA_CHECK_ACK, 0, "ring change while running");
    vs_send_internal(r, m, UPA_CHECK_ACK, 0, NULL);
    vs_send_none(r, VU_REQ_VDPA_RESUME, UPA_FE_ACK, ack_fe ? request : 0, NULL);
}

/* ---- front-end requests ------------------------------------------------------- */

static struct up_ring *ring_of(struct vs_relay *r, uint32_t index)
{
    return r->up->rings && index < r->up->nrings ? &r->up->rings[index] : NULL;
}

static void fail_session(struct vs_relay *r, const char *what);

static void set_features(struct vs_relay *r, struct vu_msg *m, bool ack_fe)
{
    struct vs_up *up = r->up;
    uint64_t v = m->payload.u64;
    char text[256];
    int err;

    if (up->features_set && v == up->features) {
        vu_msg_close_fds(m);
        if (ack_fe)
            vs_reply_frontend_ack(r, VU_REQ_SET_FEATURES, 0); /* QEMU repeats it per queue pair */
        return;
    }
    err = ctrl_decide(r, v, text, sizeof(text));
    if (err) {
        vu_msg_close_fds(m);
        vs_warn("%s: SET_FEATURES 0x%" PRIx64 " refused: %s", r->cfg.id, v, text);
        if (ack_fe)
            vs_reply_frontend_ack(r, VU_REQ_SET_FEATURES, (uint64_t)err);
        else
            fail_session(r, text);
        return;
    }
    if (up->state != UP_NEGOTIATING) {
        if (up->features_set && (v ^ up->features) == VU_BIT(26 /* VHOST_F_LOG_ALL */)) {
            up->features = v;
            m->payload.u64 = backend_features(up);
            vs_send_internal(r, m, UPA_FE_ACK, ack_fe ? VU_REQ_SET_FEATURES : 0,
                             "dirty logging toggled");
            return;
        }
        /* Different features: back to the start of negotiation. */
        set_status(r, 0, "features changed: reset");
        set_status(r, ST_NEGOTIATING, NULL);
        up->state = UP_NEGOTIATING;
    }
    up->features = v;
    up->features_set = false;
    m->payload.u64 = backend_features(up);
    vs_send_internal(r, m, UPA_CHECK_ACK, 0, up->ctrl_on ? "+CTRL_VQ: the shim drives the "
                     "back-end's control queue" : NULL);
    set_status(r, ST_FEATURES_OK, "FEATURES_OK");
    vs_send_none(r, VU_REQ_GET_STATUS, UPA_FEATURES_STATUS, ack_fe ? VU_REQ_SET_FEATURES : 0,
              "check FEATURES_OK");
}

static void stop_ring(struct vs_relay *r, uint32_t index, bool ack_fe)
{
    struct vs_up *up = r->up;
    struct up_ring *g = ring_of(r, index);
    struct vu_msg reply;

    (void)ack_fe;
    if (up->state == UP_RUNNING) {
        vs_send_none(r, VU_REQ_VDPA_SUSPEND, UPA_CHECK_ACK, 0, "legacy ring stop");
        up->state = UP_STOPPED;
    }
    if (up->state == UP_STOPPED) {
        vs_send_state(r, VU_REQ_GET_VRING_BASE, index, 0, UPA_VRING_BASE, index, NULL);
        return;
    }
    /* Never started: the index is what the front-end set. */
    vu_msg_init(&reply, VU_REQ_GET_VRING_BASE, VU_FLAG_REPLY);
    vu_msg_set_state(&reply, index, g ? g->base : 0);
    vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "ring never started");
    vs_conn_send(r->fe, &reply);
}

static void reset_device(struct vs_relay *r, uint32_t request, bool ack_fe)
{
    struct vs_up *up = r->up;

    up->state = UP_NEGOTIATING;
    up->features_set = false;
    up->ever_started = false;
    for (uint32_t i = 0; up->rings && i < up->nrings; i++) {
        struct up_ring *g = &up->rings[i];
        g->has_num = g->has_addr = g->kick_set = g->enabled = false;
        g->base = 0;
    }
    up->fe_status = 0;
    set_status(r, 0, vu_request_name(VU_CHAN_FRONTEND, request));
    vs_send_u64(r, VU_REQ_SET_STATUS, ST_NEGOTIATING, UPA_FE_ACK, ack_fe ? request : 0, NULL);
}

static void net_set_mtu(struct vs_relay *r, uint64_t mtu, bool ack_fe)
{
    struct vs_up *up = r->up;
    uint16_t have = 0;
    bool known = up->has_config && up->config_size >= 12;

    if (known)
        memcpy(&have, up->config + 10, sizeof(have));
    have = le16toh(have); /* VIRTIO config space is little-endian */
    if (known && have == mtu) {
        if (ack_fe)
            vs_reply_frontend_ack(r, VU_REQ_NET_SET_MTU, 0);
        return;
    }
    vs_warn("%s: the front-end sets MTU %" PRIu64 " but the vdpa-user back-end's config space "
            "says %u; start the back-end with that MTU (or pass mtu=%u to the front-end)",
            r->cfg.id, mtu, have, have);
    if (ack_fe)
        vs_reply_frontend_ack(r, VU_REQ_NET_SET_MTU, EINVAL);
}

/* Cached with the shim's duplicates, and forwarded with the shim's
 * control-queue region added where it drives that queue. */
static void set_mem_table(struct vs_relay *r, struct vu_msg *m, bool ack_fe)
{
    struct vs_up *up = r->up;
    char why[160];
    int rc;

    for (unsigned i = 0; i < VU_MAX_MEM_REGIONS; i++)
        vs_close_fd(&up->mem_fds[i]);
    up->mem = m->payload.mem;
    for (unsigned i = 0; i < m->nfds; i++)
        up->mem_fds[i] = vs_dup_fd(m->fds[i]);
    up->has_mem = true;
    up->mem_has_ctrl = false;
    if (up->ctrl_on) {
        rc = up_ctrl_compose_mem(up->ctrl, m);
        if (rc < 0) {
            vu_msg_close_fds(m);
            up->has_mem = false;
            snprintf(why, sizeof(why), "no memory-table slot left for the shim's "
                     "control-queue region (%s)", strerror(-rc));
            vs_warn("%s: SET_MEM_TABLE refused: %s", r->cfg.id, why);
            if (ack_fe)
                vs_reply_frontend_ack(r, VU_REQ_SET_MEM_TABLE, (uint64_t)-rc);
            else
                fail_session(r, why);
            return;
        }
        up->mem_has_ctrl = true;
    }
    forward_then_maybe_start(r, m, ack_fe);
}

static void vs_up_frontend_request(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m)
{
    struct vs_up *up = r->up;
    bool ack_fe = fe_wants_ack(r, &m->hdr);
    uint32_t req = m->hdr.request;
    struct up_ring *g = NULL;
    struct vu_msg reply;

    vs_trace_dir(r, "fe->shim", VU_CHAN_FRONTEND, m, NULL);
    /* The front-end is read only when no reply is owed, so a new request
     * starts a new sequence. */
    up->sequence_failed = false;
    if (d->ring == VU_RING_STATE)
        g = ring_of(r, m->payload.state.index);
    else if (d->ring == VU_RING_ADDR)
        g = ring_of(r, m->payload.addr.index);
    else if (d->ring == VU_RING_U64)
        g = ring_of(r, (uint32_t)(m->payload.u64 & VU_VRING_IDX_MASK));
    if (d->ring != VU_RING_NONE && !g) {
        vu_msg_close_fds(m);
        vs_refuse_frontend(r, &m->hdr, d, -ERANGE, "ring index beyond the back-end's VQ count");
        return;
    }
    if (req == VU_REQ_SET_VRING_NUM && up->vring_max && m->payload.state.num > up->vring_max) {
        char text[96];
        snprintf(text, sizeof(text), "ring size %u above the back-end's maximum %u "
                 "(VDPA_GET_VRING_NUM)", m->payload.state.num, up->vring_max);
        vs_refuse_frontend(r, &m->hdr, d, -EINVAL, text);
        return;
    }
    m->hdr.flags &= ~VU_FLAG_NEED_REPLY; /* the shim answers the front-end itself */

    switch (req) {
    case VU_REQ_SET_FEATURES:
        set_features(r, m, ack_fe);
        return;
    case VU_REQ_SET_MEM_TABLE:
        set_mem_table(r, m, ack_fe);
        return;
    case VU_REQ_SET_VRING_NUM:
    case VU_REQ_SET_VRING_ADDR:
    case VU_REQ_SET_VRING_BASE:
        if (req == VU_REQ_SET_VRING_NUM) {
            g->num = m->payload.state.num;
            g->has_num = true;
        } else if (req == VU_REQ_SET_VRING_ADDR) {
            g->addr = m->payload.addr;
            g->has_addr = true;
        } else {
            g->base = m->payload.state.num;
        }
        if (up->state == UP_RUNNING) {
            apply_while_running(r, m, ack_fe);
            return;
        }
        maybe_start(r, ack_fe, req);
        return;
    case VU_REQ_SET_VRING_KICK:
    case VU_REQ_SET_VRING_CALL:
    case VU_REQ_SET_VRING_ERR:
        /* Valid in every state under vdpa-user: forwarded now, kept for replay. */
        if (req == VU_REQ_SET_VRING_KICK) {
            vs_replace_fd(&g->kick_fd, m);
            g->kick_set = true;
        } else if (req == VU_REQ_SET_VRING_CALL) {
            vs_replace_fd(&g->call_fd, m);
            g->call_set = true;
        } else {
            vs_replace_fd(&g->err_fd, m);
            g->err_set = true;
        }
        forward_then_maybe_start(r, m, ack_fe);
        return;
    case VU_REQ_SET_VRING_ENABLE:
        g->enabled = m->payload.state.num != 0;
        if (up->state == UP_RUNNING) {
            vs_send_internal(r, m, up->ctrl_on ? UPA_PAIRS : UPA_FE_ACK, ack_fe ? req : 0, NULL);
            return;
        }
        maybe_start(r, ack_fe, req);
        return;
    case VU_REQ_GET_VRING_BASE:
        stop_ring(r, m->payload.state.index, ack_fe);
        return;
    case VU_REQ_RESET_OWNER:
    case VU_REQ_RESET_DEVICE:
        reset_device(r, req, ack_fe);
        return;
    case VU_REQ_GET_QUEUE_NUM:
        vu_msg_make_reply(&reply, m);
        vu_msg_set_u64(&reply, r->cfg.type->queue_num_is_pairs ? up->nrings / 2 : up->nrings);
        vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "from VDPA_GET_VQS_COUNT");
        vs_conn_send(r->fe, &reply);
        return;
    case VU_REQ_NET_SET_MTU:
        net_set_mtu(r, m->payload.u64, ack_fe);
        return;
    case VU_REQ_SET_STATUS:
        /* A legacy front-end that negotiated STATUS (QEMU, DPDK virtio-user)
         * writes its own view; the shim owns the back-end's register, so the
         * view is kept here. In vhost-user, SET_STATUS(0) is how QEMU
         * announces a stop, before it reads each ring's index with
         * GET_VRING_BASE: that is a SUSPEND, not a reset, or the indices
         * would be lost. The next start resets and replays. */
        up->fe_status = (uint8_t)m->payload.u64;
        if (up->fe_status == 0 && up->state == UP_RUNNING) {
            vs_send_none(r, VU_REQ_VDPA_SUSPEND, UPA_FE_ACK, ack_fe ? req : 0, "legacy stop");
            up->state = UP_STOPPED;
            return;
        }
        maybe_start(r, ack_fe, req);
        return;
    case VU_REQ_GET_STATUS: {
        uint8_t st = up->fe_status;
        if (!up->features_set)
            st &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK; /* refused features show here */
        vu_msg_make_reply(&reply, m);
        vu_msg_set_u64(&reply, st);
        vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "the front-end's status view");
        vs_conn_send(r->fe, &reply);
        return;
    }
    default:
        /* GET_FEATURES, SET_OWNER, GET/SET_CONFIG, SEND_RARP, logging: the
         * same meaning on both sides. */
        m->hdr.flags |= ack_fe ? VU_FLAG_NEED_REPLY : 0;
        vs_forward_to_backend(r, d, m, NULL);
        return;
    }
}

/* ---- replies to the shim's requests ------------------------------------------ */

static void fail_session(struct vs_relay *r, const char *what)
{
    vs_err("%s: %s; disconnecting the front-end so that it can reconnect", r->cfg.id, what);
    vs_end_session(r, what);
}

static void vs_up_internal_reply(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    struct vs_up *up = r->up;
    uint64_t v = m->payload.u64;
    char text[320];

    vu_msg_close_fds(m);
    if (!up)
        return;
    if (m->hdr.size == 0) {
        /* vdpa-user's empty reply: the request was refused, and every step
         * that has a reply payload is one the set-up cannot do without. */
        snprintf(text, sizeof(text), "the vdpa-user back-end refused %s",
                 vu_request_name(VU_CHAN_FRONTEND, o->p.request));
        fail_session(r, text);
        return;
    }
    switch ((enum up_action)o->action) {
    case UPA_CHECK_ACK:
        if (v != 0) {
            up->sequence_failed = true;
            vs_warn("%s: vdpa-user back-end %s refused %s (%" PRIu64 "); the front-end's "
                    "request fails (--trace shows the exchange)", r->cfg.id, r->cfg.backend,
                    vu_request_name(VU_CHAN_FRONTEND, o->p.request), v);
        }
        return;
    case UPA_DEVICE_ID:
        up->device_id = (uint32_t)v;
        if (v != r->cfg.type->virtio_id) {
            snprintf(text, sizeof(text), "the back-end is VIRTIO device %" PRIu64
                     ", but type=%s is device %u", v, r->cfg.type->name, r->cfg.type->virtio_id);
            fail_session(r, text);
        }
        return;
    case UPA_VQS_COUNT:
        if (v == 0 || v > VU_MAX_QUEUES) {
            snprintf(text, sizeof(text), "the back-end reports %" PRIu64 " virtqueues", v);
            fail_session(r, text);
            return;
        }
        up->nrings = (uint32_t)v;
        up->rings = calloc(up->nrings, sizeof(*up->rings));
        if (!up->rings) {
            fail_session(r, "out of memory");
            return;
        }
        for (uint32_t i = 0; i < up->nrings; i++)
            up->rings[i].kick_fd = up->rings[i].call_fd = up->rings[i].err_fd = -1;
        if (!vs_device_max_rings(&r->cfg))
            r->fe_limits.max_queues = r->be_limits.max_queues = up->nrings;
        return;
    case UPA_VRING_MAX:
        if (v == 0)
            vs_warn("%s: the back-end reports a maximum ring size of 0; ring sizes are left "
                    "to it to check", r->cfg.id);
        up->vring_max = v > VU_VRING_NUM_MAX ? VU_VRING_NUM_MAX : (uint32_t)v;
        return;
    case UPA_CONFIG_SIZE: {
        struct vu_msg get;
        up->config_size = v < VU_MAX_CONFIG_SIZE ? (uint32_t)v : VU_MAX_CONFIG_SIZE;
        r->fe_limits.config_size = r->be_limits.config_size = up->config_size;
        vu_msg_init(&get, VU_REQ_GET_CONFIG, 0);
        vu_msg_set_config(&get, 0, up->config_size, 0, NULL);
        vs_send_internal(r, &get, UPA_CONFIG, UP_CONFIG_SETUP, "cache the config space");
        return;
    }
    case UPA_CONFIG:
        if (m->hdr.size >= VU_CONFIG_HDR_SIZE && m->payload.config.size == up->config_size) {
            memcpy(up->config, m->payload.config.data, up->config_size);
            up->has_config = true;
        }
        if (o->arg == UP_CONFIG_EVENT && up->config_event_busy)
            config_event_done(r);
        if (o->arg != UP_CONFIG_SETUP)
            return;
        if (up->sequence_failed || !up->rings) {
            fail_session(r, "the vdpa-user back-end refused the device set-up");
            return;
        }
        if (r->cfg.has_mac && up->config_size >= 6 && memcmp(up->config, r->cfg.mac, 6) != 0)
            vs_warn("%s: mac= is %02x:%02x:%02x:%02x:%02x:%02x but the back-end's config space "
                    "has %02x:%02x:%02x:%02x:%02x:%02x; the guest sees the back-end's",
                    r->cfg.id, r->cfg.mac[0], r->cfg.mac[1], r->cfg.mac[2], r->cfg.mac[3],
                    r->cfg.mac[4], r->cfg.mac[5], up->config[0], up->config[1], up->config[2],
                    up->config[3], up->config[4], up->config[5]);
        if (r->cfg.mtu && up->config_size >= 12) {
            uint16_t mtu;
            memcpy(&mtu, up->config + 10, sizeof(mtu));
            mtu = le16toh(mtu);
            if (mtu != r->cfg.mtu)
                vs_warn("%s: mtu= is %u but the back-end's config space has %u", r->cfg.id,
                        r->cfg.mtu, mtu);
        }
        vs_info("%s: vdpa-user back-end ready: device %u, %u virtqueues, %u-byte config",
                r->cfg.id, up->device_id, up->nrings, up->config_size);
        if (up->begin_ack)
            vs_reply_frontend_ack(r, VU_REQ_SET_PROTOCOL_FEATURES, 0);
        return;
    case UPA_FEATURES_STATUS:
        if (!up->sequence_failed && (v & VIRTIO_STATUS_FEATURES_OK)) {
            up->features_set = true;
            up->state = UP_FEATURES_OK;
            if (o->arg)
                vs_reply_frontend_ack(r, VU_REQ_SET_FEATURES, 0);
            return;
        }
        snprintf(text, sizeof(text), "back-end %s refused FEATURES_OK for features 0x%" PRIx64
                 " (status 0x%" PRIx64 "); the front-end asked for them with SET_FEATURES",
                 r->cfg.backend, up->features, v);
        if (o->arg) {
            vs_warn("%s: %s", r->cfg.id, text);
            set_status(r, 0, "back to negotiation");
            set_status(r, ST_NEGOTIATING, NULL);
            vs_reply_frontend_ack(r, VU_REQ_SET_FEATURES, EINVAL);
        } else {
            fail_session(r, text);
        }
        return;
    case UPA_START_STATUS:
        if (up->sequence_failed || !(v & VIRTIO_STATUS_DRIVER_OK) ||
            (v & (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED))) {
            snprintf(text, sizeof(text), "the vdpa-user back-end did not start the rings "
                     "(status 0x%" PRIx64 ")", v);
            if (o->arg)
                vs_reply_frontend_ack(r, o->arg, EIO);
            fail_session(r, text);
            return;
        }
        up->state = UP_RUNNING;
        up->ever_started = true;
        vs_info("%s: device running", r->cfg.id);
        ctrl_sync(r, o->arg); /* the ack, after VQ_PAIRS_SET where pairs are enabled */
        return;
    case UPA_VRING_BASE: {
        struct up_ring *g = ring_of(r, o->arg);
        struct vu_msg reply;
        if (up->sequence_failed) {
            fail_session(r, "the vdpa-user back-end refused SUSPEND");
            return;
        }
        if (g) {
            g->base = m->payload.state.num;
            /* A restart must bring new addresses and a kick, as QEMU and
             * DPDK do; until then the ring stays out of the start check. */
            g->has_addr = g->kick_set = false;
        }
        vu_msg_init(&reply, VU_REQ_GET_VRING_BASE, VU_FLAG_REPLY);
        vu_msg_set_state(&reply, o->arg, m->payload.state.num);
        vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "exact index while suspended");
        vs_conn_send(r->fe, &reply);
        return;
    }
    case UPA_PAIRS:
        if (up->sequence_failed || v) {
            if (o->arg)
                vs_reply_frontend_ack(r, o->arg, EIO);
            return;
        }
        ctrl_sync(r, o->arg);
        return;
    case UPA_FE_ACK:
        if (o->arg)
            vs_reply_frontend_ack(r, o->arg, up->sequence_failed || v ? EIO : 0);
        return;
    case UPA_PROVISION:
        if (v != 0)
            vs_warn("%s: back-end %s refused to provision %s (%" PRIu64 "); the guest sees the "
                    "back-end's own value", r->cfg.id, r->cfg.backend, o->arg ? "mtu=" : "mac=", v);
        return;
    case UPA_CONFIG_EVENT:
        if (v & VIRTIO_STATUS_DEVICE_NEEDS_RESET) {
            fail_session(r, "the vdpa-user back-end needs a reset (DEVICE_NEEDS_RESET)");
            return;
        }
        {
            struct vu_msg get;
            vu_msg_init(&get, VU_REQ_GET_CONFIG, 0);
            vu_msg_set_config(&get, 0, up->config_size, 0, NULL);
            vs_send_internal(r, &get, UPA_CONFIG, UP_CONFIG_EVENT, "refresh the config space");
        }
        if (r->fe_chan && vu_has_bit(r->fe_limits.protocol_features, VU_PF_CONFIG) &&
            vu_has_bit(r->fe_limits.protocol_features, VU_PF_BACKEND_REQ)) {
            struct vu_msg change;
            vu_msg_init(&change, VU_BREQ_CONFIG_CHANGE_MSG, 0);
            vs_send_frontend_channel(r, &change, "from the config-call eventfd");
        }
        return;
    }
}

const struct vs_mode_ops vs_mode_up = {
    .name = "up-conversion",
    .holds_while_owed = true,
    .offer = vs_up_offer,
    .begin = vs_up_begin,
    .frontend_request = vs_up_frontend_request,
    .internal_reply = vs_up_internal_reply,
    .holds_frontend = vs_up_holds_frontend,
    .end = vs_up_end,
};
