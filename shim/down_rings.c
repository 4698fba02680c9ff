/* SPDX-License-Identifier: MIT */
/*
 * Down-conversion's rings: the layout the front-end sets (SET_VRING_*), kept
 * by the shim, and the legacy back-end's rings, started and stopped the way
 * QEMU starts and stops them:
 *
 *   start  SET_VRING_NUM, _BASE, _ADDR, _KICK, _CALL, _ERR, _ENABLE 1
 *   stop   GET_VRING_BASE, whose reply is the exact next index
 *
 * Net's control queue is the shim's (down_ctrl.c), never the back-end's.
 */
#include <errno.h>
#include <stdlib.h>

#include "down_int.h"
#include "log.h"
#include "peer_fd.h"

/* ---- ring roles ------------------------------------------------------------- */

uint32_t down_data_rings(const struct vs_down *dn)
{
    if (down_is_net(dn) && !down_negotiated(dn, VIRTIO_NET_F_MQ))
        return DOWN_NET_ONE_PAIR_RINGS;
    return dn->in.backend_queues;
}

bool down_is_ctrl_ring(const struct vs_down *dn, uint32_t i)
{
    return down_is_net(dn) && down_negotiated(dn, VIRTIO_NET_F_CTRL_VQ) && i == dn->ctrl_index;
}

/* Whether ring i runs when enabled: net pairs beyond the active count wait
 * for VQ_PAIRS_SET (VIRTIO 5.1.6.5.5). */
static bool ring_wanted(const struct vs_down *dn, uint32_t i)
{
    if (!dn->rings[i].st.enabled)
        return false;
    if (down_is_ctrl_ring(dn, i))
        return true;
    if (i >= down_data_rings(dn))
        return false;
    return !down_is_net(dn) || i / DOWN_RINGS_PER_PAIR < dn->curr_pairs;
}

/* ---- the back-end's rings ------------------------------------------------------- */

/* A ring's eventfd for the back-end; a duplicate that fails fails the step. */
static void send_ring_fd(struct vs_relay *r, uint32_t req, uint32_t i, int fd)
{
    if (vs_send_fd_u64(r, req, i, fd, DOWN_STEP_CHECK, NULL) < 0)
        r->down->sequence_failed = true;
}

static void start_backend_ring(struct vs_relay *r, uint32_t i)
{
    struct down_ring *dr = &r->down->rings[i];
    const struct vs_ring *g = &dr->st;
    uint64_t held = 0;
    struct vu_msg m;

    /* The driver may notify as soon as it set DRIVER_OK (or enabled the
     * ring), and behind a shim the ring reaches the back-end later than
     * from QEMU. rust-vmm's vhost-user-backend 0.17 mishandles a count
     * already in the kick eventfd: before SET_VRING_ENABLE it reads and
     * drops it (event_loop.rs); after it, it may process the ring before
     * marking it ready, fail with QueueNotReady and end its worker thread
     * for good (handler.rs registers the kick first). Measured behind the
     * scsi chain: the guest's first request lost, 1 boot in 3. So the
     * count is taken out of the eventfd here (never blocking: peer_fd.h),
     * the ring is enabled before its kick fd is given, and for a ring the
     * driver submits requests on the notification is signalled again once
     * the back-end acknowledged the start (down_release_held_kicks). On an
     * event or receive queue a notification only announces buffers, and is
     * not repeated: QEMU's own start leaves a count in every kick eventfd,
     * which these back-ends drop, and vhost-device-sound spins on its event
     * queue when made to look at it (device.rs: process_event takes no
     * buffer while EVENT_IDX says there are some). Both orders are valid
     * vhost-user: a ring runs once it is started and enabled. */
    dr->kick_held = peer_fd_drain(g->kick_fd, &held) == 0 && held > 0 &&
                    !vs_device_type_event_ring(r->cfg.type, i);
    vs_send_state(r, VU_REQ_SET_VRING_NUM, i, g->num, DOWN_STEP_CHECK, 0, NULL);
    vs_send_state(r, VU_REQ_SET_VRING_BASE, i, g->base, DOWN_STEP_CHECK, 0, NULL);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &g->addr);
    vs_send_internal(r, &m, DOWN_STEP_CHECK, 0, NULL);
    send_ring_fd(r, VU_REQ_SET_VRING_CALL, i, g->call_fd);
    if (g->err_fd >= 0)
        send_ring_fd(r, VU_REQ_SET_VRING_ERR, i, g->err_fd);
    vs_send_state(r, VU_REQ_SET_VRING_ENABLE, i, 1, DOWN_STEP_CHECK, 0, NULL);
    send_ring_fd(r, VU_REQ_SET_VRING_KICK, i, g->kick_fd);
    dr->in_backend = true;
}

void down_release_held_kicks(struct vs_relay *r)
{
    struct vs_down *dn = r->down;

    for (uint32_t i = 0; i < dn->nrings; i++) {
        struct down_ring *g = &dn->rings[i];
        /* a saturated counter already holds a notification; never blocks */
        if (g->kick_held && g->in_backend && g->st.kick_fd >= 0)
            (void)peer_fd_signal(g->st.kick_fd);
        g->kick_held = false;
    }
}

/* The legacy stop: the reply is the exact next index. */
static void stop_backend_ring(struct vs_relay *r, uint32_t i)
{
    r->down->rings[i].in_backend = false;
    vs_send_state(r, VU_REQ_GET_VRING_BASE, i, 0, DOWN_STEP_SAVE_BASE, i, NULL);
}

void down_step_save_base(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    struct vs_down *dn = r->down;

    if (o->arg < dn->nrings && m->hdr.size && !dn->backend_lost)
        dn->rings[o->arg].st.base = m->payload.state.num;
}

/* VQ_PAIRS_SET: start and stop the back-end's ring pairs. True when the
 * back-end was asked to change anything (the answer waits for it). */
bool down_set_active_pairs(struct vs_relay *r, uint16_t pairs)
{
    struct vs_down *dn = r->down;
    bool changed = false;

    dn->curr_pairs = pairs;
    if (!down_deliverable(dn))
        return false;
    for (uint32_t i = 0; i < down_data_rings(dn); i++) {
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

void down_start_rings(struct vs_relay *r)
{
    struct vs_down *dn = r->down;

    for (uint32_t i = 0; i < dn->nrings; i++) {
        const struct vs_ring *g = &dn->rings[i].st;
        if (!ring_wanted(dn, i))
            continue;
        if (!vs_ring_has_layout(g)) {
            vs_warn("%s: ring %u is enabled but its %s was never set", r->cfg.id, i,
                    g->has_num ? "address" : "size");
            dn->sequence_failed = true;
            continue;
        }
        if (down_is_ctrl_ring(dn, i)) {
            if (down_ctrl_start(r, i))
                dn->sequence_failed = true;
        } else if (!dn->backend_lost) {
            start_backend_ring(r, i);
        }
    }
}

void down_stop_rings(struct vs_relay *r)
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
    down_stop_rings(r);
    down_signal_config_call(r, "DEVICE_NEEDS_RESET");
    if (r->fe && r->main_pending.count)
        vs_conn_pause(r->fe, true); /* the stops complete before the next request */
}

void down_free_rings(struct vs_down *dn)
{
    for (uint32_t i = 0; dn->rings && i < dn->nrings; i++)
        vs_ring_release(&dn->rings[i].st);
    free(dn->rings);
    dn->rings = NULL;
}

/* ---- the front-end's ring requests ---------------------------------------------- */

static bool layout_writable(const struct vs_down *dn)
{
    if (dn->status & VIRTIO_STATUS_OVERLAY)
        return false;
    if (dn->status & VIRTIO_STATUS_DRIVER_OK)
        return dn->suspended;
    return (dn->status & VIRTIO_STATUS_FEATURES_OK) != 0;
}

/* SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE: kept for the ring's start. */
int down_h_set_vring_layout(struct vs_relay *r, struct down_req *q)
{
    struct vs_down *dn = r->down;
    const struct vu_msg *m = q->m;

    if (!layout_writable(dn)) {
        q->why = "ring layout is fixed in this state";
        return -EBUSY;
    }
    if (m->hdr.request == VU_REQ_SET_VRING_NUM) {
        uint32_t n = m->payload.state.num;
        bool packed = down_negotiated(dn, VIRTIO_F_RING_PACKED);
        if (n == 0 || n > dn->queue_size_max || (!packed && (n & (n - 1)))) {
            q->why = "ring size 0, too large or not a power of two";
            return -EINVAL;
        }
    } else if (m->hdr.request == VU_REQ_SET_VRING_BASE &&
               virtio_vring_base_check(dn->features, m->payload.state.num) < 0) {
        /* as the reference back-end and Linux vhost: a split ring's index
         * is 16 bits (a legacy back-end would get it truncated) */
        q->why = "ring base beyond a split ring's 16-bit index";
        return -EINVAL;
    }
    vs_ring_note(&q->g->st, m); /* no fd: cannot fail */
    return DOWN_ACK;
}

static uint32_t vring_base_now(const struct vs_down *dn, uint32_t i)
{
    const struct vs_ring *g = &dn->rings[i].st;

    if (dn->status == 0 || !g->has_num)
        return 0;
    if (dn->ctrl_running && down_is_ctrl_ring(dn, i))
        return dn->ctrl.last_avail;
    /* the value set, or the exact index the last legacy stop returned; while
     * the back-end runs the ring this is stale, as spec 3.3 allows */
    return g->base;
}

int down_h_get_vring_base(struct vs_relay *r, struct down_req *q)
{
    struct vu_msg reply;

    vu_msg_make_reply(&reply, q->m);
    vu_msg_set_state(&reply, q->m->payload.state.index,
                     vring_base_now(r->down, q->m->payload.state.index));
    vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "device model");
    vs_conn_send(r->fe, &reply);
    return DOWN_ANSWERED;
}

/* SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR: kept (a duplicate), and
 * passed on where the back-end needs it now. */
int down_h_set_vring_fd(struct vs_relay *r, struct down_req *q)
{
    struct vs_down *dn = r->down;
    struct down_ring *g = q->g;
    uint32_t req = q->m->hdr.request;
    uint32_t i = (uint32_t)(g - dn->rings);
    bool rewatch = req == VU_REQ_SET_VRING_KICK && dn->ctrl_running && down_is_ctrl_ring(dn, i);
    int rc;

    if (rewatch)
        down_ctrl_unwatch(dn); /* before the old fd closes */
    rc = vs_ring_note(&g->st, q->m);
    if (rc < 0) {
        q->why = "cannot keep a copy of the ring's fd";
        return rc;
    }
    if (rewatch && down_ctrl_watch(r) < 0)
        down_needs_reset(r, "the control queue's new kick fd cannot be watched");
    /* A running ring's back-end swaps the fd live, as VMMs re-route
     * interrupts. Where the back-end signals (call, err) it hears at once
     * for every ring known to be its own, running or not: QEMU and DPDK
     * virtio-user send those at set-up, before the memory table, and
     * back-ends are built and tested with that order (the ring's start
     * sends it again, as QEMU's does). */
    bool to_backend = g->in_backend || (req != VU_REQ_SET_VRING_KICK && i < down_data_rings(dn));
    if (to_backend && !dn->backend_lost && r->be) {
        vs_send_internal(r, q->m, DOWN_STEP_CHECK, 0, NULL);
        down_barrier(r, DOWN_STEP_ANSWER, q->ack);
        return DOWN_ANSWERED;
    }
    return DOWN_ACK;
}

int down_h_set_vring_enable(struct vs_relay *r, struct down_req *q)
{
    struct vs_down *dn = r->down;
    uint32_t i = q->m->payload.state.index;
    uint32_t num = q->m->payload.state.num;
    struct down_ring *g = q->g;
    bool running = down_deliverable(dn);

    if (num > 1 || !(dn->status & VIRTIO_STATUS_FEATURES_OK) ||
        (dn->status & VIRTIO_STATUS_OVERLAY)) {
        q->why = "SET_VRING_ENABLE not valid here";
        return num > 1 ? -EINVAL : -EBUSY;
    }
    vs_ring_note(&g->st, q->m); /* no fd: cannot fail */
    if (running && down_is_ctrl_ring(dn, i)) {
        if (g->st.enabled && !dn->ctrl_running && down_ctrl_start(r, i))
            down_needs_reset(r, "the control queue cannot start");
        else if (!g->st.enabled)
            down_ctrl_stop(dn);
    } else if (running && ring_wanted(dn, i) && !g->in_backend) {
        if (!vs_ring_has_layout(&g->st)) {
            down_needs_reset(r, "a ring without size or address was enabled");
        } else {
            start_backend_ring(r, i);
            down_barrier(r, DOWN_STEP_STARTED, q->ack);
            return DOWN_ANSWERED;
        }
    } else if (running && !g->st.enabled && g->in_backend) {
        stop_backend_ring(r, i);
        down_barrier(r, DOWN_STEP_ANSWER, q->ack);
        return DOWN_ANSWERED;
    }
    return DOWN_ACK;
}
