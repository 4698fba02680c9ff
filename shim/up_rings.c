/* SPDX-License-Identifier: MIT */
/*
 * Up-conversion: the rings. The front-end's SET_VRING_* are cached with the
 * shim's own duplicates of their fds (struct vs_ring, ring_state.h); the
 * device starts (DRIVER_OK) once every enabled ring is complete, and a
 * restart after a stop resets the back-end and replays all it had.
 * GET_VRING_BASE is a SUSPEND, then the back-end's exact index. The queue
 * pairs the front-end enables become VQ_PAIRS_SET on the back-end's control
 * queue where the shim drives it (up_ctrl.c).
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fd_util.h"
#include "log.h"
#include "up_int.h"

/* ---- ring state ---------------------------------------------------------------- */

struct vs_ring *up_ring_of(struct vs_relay *r, uint32_t index)
{
    return r->up->rings && index < r->up->nrings ? &r->up->rings[index] : NULL;
}

int up_rings_alloc(struct vs_up *up, uint32_t n)
{
    up->nrings = n;
    up->rings = calloc(n, sizeof(*up->rings));
    if (!up->rings)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        vs_ring_init(&up->rings[i]);
    return 0;
}

void up_rings_free(struct vs_up *up)
{
    for (uint32_t i = 0; up->rings && i < up->nrings; i++)
        vs_ring_release(&up->rings[i]);
    free(up->rings);
    up->rings = NULL;
}

void up_rings_forget(struct vs_up *up)
{
    for (uint32_t i = 0; up->rings && i < up->nrings; i++)
        vs_ring_reset(&up->rings[i]);
}

static bool ring_configured(const struct vs_ring *g)
{
    return vs_ring_has_layout(g) && g->kick_set;
}

/* ---- the back-end's control queue (up_ctrl.c) ------------------------------ */

uint64_t up_backend_features(const struct vs_up *up)
{
    return up->features | (up->ctrl_on ? VU_BIT(VIRTIO_NET_F_CTRL_VQ) : 0);
}

/* QEMU acks MQ but never CTRL_VQ (the guest's control queue is its own),
 * and a VIRTIO device refuses MQ without CTRL_VQ (VIRTIO 1.2 5.1.3.1): the
 * shim drives the back-end's control queue then. */
int up_ctrl_decide(struct vs_relay *r, uint64_t v, char *text, size_t len)
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
        snprintf(text, len,
                 "MQ without CTRL_VQ, and the back-end offers no control queue "
                 "for the shim to drive (VIRTIO 1.2 5.1.3.1: MQ requires CTRL_VQ)");
        return EINVAL;
    }
    if (up->has_config && up->config_size >= VIRTIO_NET_CFG_MAX_VQP + sizeof(max_pairs))
        memcpy(&max_pairs, up->config + VIRTIO_NET_CFG_MAX_VQP, sizeof(max_pairs));
    max_pairs = le16toh(max_pairs);
    if (max_pairs == 0 || UP_NET_RINGS_PER_PAIR * max_pairs >= up->nrings) {
        snprintf(text, len,
                 "MQ: the back-end's max_virtqueue_pairs %u does not fit its %u "
                 "virtqueues (the control queue is ring 2 * max_virtqueue_pairs)",
                 max_pairs, up->nrings);
        return EINVAL;
    }
    if (!up->ctrl && (rc = up_ctrl_create(r, &up->ctrl)) < 0) {
        snprintf(text, len, "cannot make the shim's control queue: %s", strerror(-rc));
        return -rc;
    }
    up->ctrl_on = true;
    up->ctrl_ring = UP_NET_RINGS_PER_PAIR * max_pairs;
    return 0;
}

/* Pairs the front-end runs: up to the highest pair with an enabled ring. */
static uint16_t enabled_pairs(const struct vs_up *up)
{
    uint16_t n = 1;

    for (uint32_t i = 0; up->rings && i < up->ctrl_ring && i < up->nrings; i++)
        if (up->rings[i].enabled)
            n = (uint16_t)(i / UP_NET_RINGS_PER_PAIR + 1);
    return n;
}

/* The control queue failed: the session ends from the loop (never now: the
 * caller's state stays valid). */
static void ctrl_failed(struct vs_relay *r, const char *what)
{
    vs_session_fail(r, -EPROTO, "the back-end's control queue: %s", what);
}

/* After a start or an enable while running. The front-end's ack waits for
 * the back-end's, and the front-end is not read while the command is in
 * flight. */
void up_ctrl_sync(struct vs_relay *r, uint32_t ack)
{
    struct vs_up *up = r->up;
    uint16_t want = enabled_pairs(up);
    int rc;

    if (!up->ctrl_on || up->state != UP_RUNNING || want == up->be_pairs || up_ctrl_busy(up->ctrl)) {
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
    vs_info("%s: %u queue pair(s) active (VQ_PAIRS_SET on the back-end's control queue)", r->cfg.id,
            up->be_pairs);
    up_ctrl_sync(r, ack); /* the ack, or the next change */
    if (r->fe && !up_ctrl_busy(up->ctrl) && r->main_pending.count == 0)
        vs_conn_pause(r->fe, !r->be);
}

bool up_holds_frontend(const struct vs_relay *r)
{
    return r->up && up_ctrl_busy(r->up->ctrl);
}

/* An enable while running went through: the pairs follow it. */
void up_step_sync_pairs(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    if (r->up->sequence_failed || m->payload.u64) {
        if (o->arg)
            vs_reply_frontend_ack(r, (uint32_t)o->arg, EIO);
        return;
    }
    up_ctrl_sync(r, (uint32_t)o->arg);
}

/* ---- the device start ------------------------------------------------------ */

/* Rings run when the front-end has enabled at least one ring and every
 * enabled ring is complete; without F_PROTOCOL_FEATURES a ring counts as
 * enabled once configured (the legacy "start on kick").
 *
 * QEMU enables rings twice over: early, before it lays them out (virtio-net
 * does at every link change), and at the end of its start, after every ring
 * it starts is laid out. A ring enabled then but never laid out is one its
 * vhost skipped (address 0: SeaBIOS drives only virtio-scsi's request
 * queue), so when the request at hand is a SET_VRING_ENABLE such a ring
 * does not hold the start (and is not sent). Anywhere else it does: the
 * early enables come before the layouts they wait for. */
/* vhost-user: where VHOST_USER_F_PROTOCOL_FEATURES is not negotiated (not
 * offered, or left out of the front-end's SET_FEATURES) a ring starts
 * enabled and no SET_VRING_ENABLE comes. QEMU 5.2's vhost-user-blk leaves
 * the bit out of SET_FEATURES though it was offered and though it uses
 * protocol features (measured: 0x100000040, where QEMU 10.0 sends
 * 0x140000244), and libvhost-user's vu_set_features_exec then enables
 * every ring, as the shim does here. */
static bool rings_start_enabled(const struct vs_relay *r)
{
    return !vu_has_bit(r->fe_limits.offered_features, VU_F_PROTOCOL_FEATURES) ||
           !vu_has_bit(r->up->features, VU_F_PROTOCOL_FEATURES);
}

static bool ready_to_start(const struct vs_relay *r, uint32_t request)
{
    const struct vs_up *up = r->up;
    bool legacy_enable = rings_start_enabled(r);
    bool at_enable = request == VU_REQ_SET_VRING_ENABLE;
    unsigned enabled = 0;

    if ((up->state != UP_FEATURES_OK && up->state != UP_STOPPED) || !up->has_mem || !up->rings)
        return false;
    for (uint32_t i = 0; i < up->nrings; i++) {
        const struct vs_ring *g = &up->rings[i];
        bool on = g->enabled || (legacy_enable && ring_configured(g));
        if (!on || (at_enable && !vs_ring_has_layout(g)))
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
    for (uint32_t i = 0; i < up->mem.nregions; i++) {
        int copy = fd_dup_cloexec(up->mem_fds[i]);
        if (copy < 0) {
            vu_msg_close_fds(&m);
            vs_err("%s: cannot duplicate a guest-memory fd: %s", r->cfg.id, strerror(-copy));
            up_fail_session(r, "cannot send the memory table again");
            return;
        }
        vu_msg_add_fd(&m, copy);
    }
    up->mem_has_ctrl = false;
    if (up->ctrl_on) {
        rc = up_ctrl_compose_mem(up->ctrl, &m);
        if (rc < 0)
            vs_warn("%s: no room for the shim's control-queue region in the memory table: %s",
                    r->cfg.id, strerror(-rc));
        up->mem_has_ctrl = rc == 0;
    }
    vs_send_internal(r, &m, UP_STEP_CHECK_ACK, 0, note);
}

static void send_ring(struct vs_relay *r, uint32_t i, bool with_fds)
{
    struct vs_ring *g = &r->up->rings[i];
    struct vu_msg m;

    vs_send_state(r, VU_REQ_SET_VRING_NUM, i, g->num, UP_STEP_CHECK_ACK, 0, NULL);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &g->addr);
    vs_send_internal(r, &m, UP_STEP_CHECK_ACK, 0, NULL);
    vs_send_state(r, VU_REQ_SET_VRING_BASE, i, g->base, UP_STEP_CHECK_ACK, 0, NULL);
    if (with_fds) {
        vs_send_fd_u64(r, VU_REQ_SET_VRING_KICK, i, g->kick_fd, UP_STEP_CHECK_ACK, "replay");
        if (g->call_set)
            vs_send_fd_u64(r, VU_REQ_SET_VRING_CALL, i, g->call_fd, UP_STEP_CHECK_ACK, "replay");
        if (g->err_set)
            vs_send_fd_u64(r, VU_REQ_SET_VRING_ERR, i, g->err_fd, UP_STEP_CHECK_ACK, "replay");
    }
    vs_send_state(r, VU_REQ_SET_VRING_ENABLE, i, g->enabled ? 1 : 0, UP_STEP_CHECK_ACK, 0, NULL);
}

/* A restart after a stop: reset, then the features, the memory table and
 * the config-call eventfd the back-end had. */
static void replay_setup(struct vs_relay *r)
{
    struct vs_up *up = r->up;

    up_set_status(r, UP_ST_RESET, "restart: reset");
    up_set_status(r, UP_ST_NEGOTIATING, NULL);
    vs_send_u64(r, VU_REQ_SET_FEATURES, up_backend_features(up), UP_STEP_CHECK_ACK, 0, "replay");
    up_set_status(r, UP_ST_FEATURES_OK, NULL);
    send_mem_table(r, "replay");
    vs_send_fd_u64(r, VU_REQ_VDPA_SET_CONFIG_CALL, 0, up->config_call_fd, UP_STEP_CHECK_ACK,
                   "replay");
}

/* First start: the rings' fds already went to the back-end as they came.
 * A restart after a stop resets the device and replays all it had. */
static void start_device(struct vs_relay *r, uint32_t ack_request)
{
    struct vs_up *up = r->up;
    bool replay = up->ever_started;
    bool legacy_enable = rings_start_enabled(r);

    if (replay)
        replay_setup(r);
    for (uint32_t i = 0; i < up->nrings; i++) {
        struct vs_ring *g = &up->rings[i];
        if (legacy_enable && ring_configured(g))
            g->enabled = true;
        if (ring_configured(g))
            send_ring(r, i, replay);
    }
    if (up->ctrl_on) {
        if (!up->mem_has_ctrl)
            send_mem_table(r, "with the shim's control-queue region");
        up_ctrl_send_ring(r, up->ctrl, up->ctrl_ring, UP_STEP_CHECK_ACK);
    }
    up->be_pairs = 1; /* a vdpa-user net device starts with one pair (VIRTIO 5.1.6.5.5) */
    up_set_status(r, UP_ST_DRIVER_OK, "rings complete: DRIVER_OK");
    vs_send_none(r, VU_REQ_GET_STATUS, UP_STEP_CHECK_DRIVER_OK, ack_request, NULL);
}

void up_step_check_driver_ok(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    struct vs_up *up = r->up;
    uint64_t v = m->payload.u64;
    char text[128];

    if (up->sequence_failed || !(v & VIRTIO_STATUS_DRIVER_OK) ||
        (v & (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED))) {
        snprintf(text, sizeof(text),
                 "the vdpa-user back-end did not start the rings "
                 "(status 0x%" PRIx64 ")",
                 v);
        if (o->arg)
            vs_reply_frontend_ack(r, (uint32_t)o->arg, EIO);
        up_fail_session(r, text);
        return;
    }
    up->state = UP_RUNNING;
    up->ever_started = true;
    vs_info("%s: device running", r->cfg.id);
    up_ctrl_sync(r, (uint32_t)o->arg); /* the ack, after VQ_PAIRS_SET where pairs are enabled */
}

void up_maybe_start(struct vs_relay *r, bool ack_fe, uint32_t request)
{
    if (ready_to_start(r, request))
        start_device(r, ack_fe ? request : 0);
    else if (ack_fe)
        vs_reply_frontend_ack(r, request, 0);
}

void up_forward_then_maybe_start(struct vs_relay *r, struct vu_msg *m, bool ack_fe)
{
    uint32_t request = m->hdr.request;
    bool start = ready_to_start(r, request);

    vs_send_internal(r, m, start ? UP_STEP_CHECK_ACK : UP_STEP_ACK_FRONTEND,
                     !start && ack_fe ? request : 0, NULL);
    if (start)
        start_device(r, ack_fe ? request : 0);
}

/* ---- the front-end's SET_VRING_* ---------------------------------------------- */

/* A ring's number, address or base was cached: applied now while the device
 * runs (suspend, apply, resume), else kept for the start. */
static void ring_state_changed(struct vs_relay *r, struct up_req *q)
{
    uint32_t request = q->m->hdr.request;

    if (r->up->state != UP_RUNNING) {
        up_maybe_start(r, q->ack_fe, request);
        return;
    }
    vs_send_none(r, VU_REQ_VDPA_SUSPEND, UP_STEP_CHECK_ACK, 0, "ring change while running");
    vs_send_internal(r, q->m, UP_STEP_CHECK_ACK, 0, NULL);
    vs_send_none(r, VU_REQ_VDPA_RESUME, UP_STEP_ACK_FRONTEND, q->ack_fe ? request : 0, NULL);
}

/* SET_VRING_NUM, _ADDR, _BASE. vdpa-user refuses a ring larger than
 * VDPA_GET_VRING_NUM, so the shim refuses it first (a legacy front-end
 * never asks). */
void up_h_set_vring_layout(struct vs_relay *r, struct up_req *q)
{
    uint32_t num = q->m->payload.state.num;
    char text[96];

    if (q->m->hdr.request == VU_REQ_SET_VRING_NUM && r->up->vring_max && num > r->up->vring_max) {
        snprintf(text, sizeof(text),
                 "ring size %u above the back-end's maximum %u "
                 "(VDPA_GET_VRING_NUM)",
                 num, r->up->vring_max);
        vs_refuse_frontend(r, &q->hdr, q->d, -EINVAL, text);
        return;
    }
    vs_ring_note(q->ring, q->m); /* no fd: cannot fail */
    ring_state_changed(r, q);
}

/* SET_VRING_KICK, _CALL, _ERR: valid in every state under vdpa-user,
 * forwarded now, kept for replay. */
void up_h_set_vring_fd(struct vs_relay *r, struct up_req *q)
{
    uint32_t request = q->m->hdr.request;
    bool was_configured = ring_configured(q->ring);

    if (vs_ring_note(q->ring, q->m) < 0) {
        vu_msg_close_fds(q->m);
        up_fail_session(r, "cannot keep a copy of a ring's fd (the open-file limit)");
        return;
    }
    if (r->up->state == UP_RUNNING && rings_start_enabled(r) && !was_configured &&
        ring_configured(q->ring) && !q->ring->enabled) {
        /* A ring that starts enabled, set up while the device runs: QEMU
         * sets its rings up one after the other, and the first one
         * completed the device. The vdpa-user back-end hears the enable. */
        vs_send_internal(r, q->m, UP_STEP_CHECK_ACK, 0, NULL);
        q->ring->enabled = true;
        vs_send_state(r, VU_REQ_SET_VRING_ENABLE, (uint32_t)(q->ring - r->up->rings), 1,
                      UP_STEP_ACK_FRONTEND, q->ack_fe ? request : 0,
                      "the ring starts enabled (F_PROTOCOL_FEATURES not negotiated)");
        return;
    }
    up_forward_then_maybe_start(r, q->m, q->ack_fe);
}

void up_h_set_vring_enable(struct vs_relay *r, struct up_req *q)
{
    struct vs_up *up = r->up;
    uint32_t request = q->m->hdr.request;

    vs_ring_note(q->ring, q->m); /* no fd: cannot fail */
    if (up->state != UP_RUNNING) {
        up_maybe_start(r, q->ack_fe, request);
        return;
    }
    if (!ring_configured(q->ring)) {
        /* QEMU 7.2's gpio enables its event queue, which it never set up:
         * a vdpa-user device would start the ring at once (and fail it).
         * The back-end never saw this ring; the enable stays noted. */
        if (q->ack_fe)
            vs_reply_frontend_u64(r, request, 0, "ring never set up: noted, not sent");
        return;
    }
    vs_send_internal(r, q->m, up->ctrl_on ? UP_STEP_SYNC_PAIRS : UP_STEP_ACK_FRONTEND,
                     q->ack_fe ? request : 0, NULL);
}

/* ---- the stop --------------------------------------------------------------------- */

/* GET_VRING_BASE: the legacy stop. The device is suspended (once) and the
 * back-end's exact index read; a ring never started has the index the
 * front-end set. */
void up_h_get_vring_base(struct vs_relay *r, struct up_req *q)
{
    struct vs_up *up = r->up;
    uint32_t index = q->m->payload.state.index;
    struct vu_msg reply;

    if (up->state == UP_RUNNING) {
        vs_send_none(r, VU_REQ_VDPA_SUSPEND, UP_STEP_CHECK_ACK, 0, "legacy ring stop");
        up->state = UP_STOPPED;
    }
    if (up->state == UP_STOPPED) {
        vs_send_state(r, VU_REQ_GET_VRING_BASE, index, 0, UP_STEP_ANSWER_VRING_BASE, index, NULL);
        return;
    }
    vu_msg_init(&reply, VU_REQ_GET_VRING_BASE, VU_FLAG_REPLY);
    vu_msg_set_state(&reply, index, q->ring ? q->ring->base : 0);
    vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "ring never started");
    vs_conn_send(r->fe, &reply);
}

void up_step_answer_vring_base(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    struct vs_ring *g = up_ring_of(r, (uint32_t)o->arg);
    struct vu_msg reply;

    if (r->up->sequence_failed) {
        up_fail_session(r, "the vdpa-user back-end refused SUSPEND");
        return;
    }
    if (g) {
        g->base = m->payload.state.num;
        /* A restart must bring new addresses and a kick, as QEMU and
         * DPDK do; until then the ring stays out of the start check. */
        g->has_addr = g->kick_set = false;
    }
    vu_msg_init(&reply, VU_REQ_GET_VRING_BASE, VU_FLAG_REPLY);
    vu_msg_set_state(&reply, (uint32_t)o->arg, m->payload.state.num);
    vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "exact index while suspended");
    vs_conn_send(r->fe, &reply);
}
