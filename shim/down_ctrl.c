/* SPDX-License-Identifier: MIT */
/*
 * Down-conversion's virtio-net control queue, served by the shim from guest
 * memory (the legacy back-end never sees it), and the failure of a
 * front-end eventfd.
 *
 * Everything here runs on the shared event loop, beside every other device,
 * and every input is the front-end's or the guest's:
 *  - the kick eventfd is watched with a poll handle; every libuv call's
 *    result is checked, and a watch that cannot be set up stops the queue
 *    (DEVICE_NEEDS_RESET), never the shim;
 *  - eventfd I/O goes through peer_fd (never blocks, whatever the front-end
 *    does to the shared file description); a saturated or wrong-kind fd ends
 *    the session;
 *  - at most CTRL_BUDGET chains are served per wake-up: a guest that keeps
 *    the queue full gets the rest on the loop's next turns (an idle handle),
 *    between the other devices' I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_net.h"
#include "down_int.h"
#include "log.h"
#include "peer_fd.h"

#define CTRL_MAX_COMMAND 4096u
/* Chains served per wake-up before the queue yields to the loop. A chain
 * costs about a microsecond (parse, used entry; one interrupt per pass), so a
 * budget is a fraction of a millisecond of another device's wait. */
#define CTRL_BUDGET 64u
#define ERR_TEXT    160

/* The control queue's watched kick fd. Freed by libuv's close callback. */
struct down_ctrl_watch {
    uv_poll_t poll;
    struct vs_relay *relay;
    int fd; /* the ring's kick_fd slot's fd (owned there) */
};

/* Resumes a queue that used its budget. Freed by libuv's close callback. */
struct down_ctrl_yield {
    uv_idle_t idle;
    struct vs_relay *relay;
};

/* Guest memory is touched only through guest_mem_guarded: a front-end that
 * shrinks the file behind a region makes the access fail, not the shim. */
#define CTRL_MEMORY_GONE "the control queue's guest memory is gone (the file behind it shrank)"

static void handle_free(uv_handle_t *h)
{
    free(h->data);
}

/* ---- a front-end fd that misbehaves ---------------------------------------- */

void down_peer_fd_failed(struct vs_relay *r, const char *role, int rc)
{
    struct vs_down *dn = r->down;

    if (!dn || dn->peer_failed)
        return;
    dn->peer_failed = true;
    down_ctrl_stop(dn);
    /* Not now: the caller may be in the middle of a sequence. */
    vs_session_fail(r, -EPROTO, "the front-end's %s %s; the front-end misbehaves", role,
                    rc == -EAGAIN   ? "is saturated (its counter is full)"
                    : rc == -EINVAL ? "is not an eventfd"
                                    : strerror(-rc));
}

/* The queue cannot go on: DEVICE_NEEDS_RESET, and it is stopped even if the
 * device already needed a reset, so that nothing ever serves it again (a
 * malformed queue is never looked at twice). */
static void ctrl_broken(struct vs_relay *r, const char *why)
{
    down_needs_reset(r, why);
    if (r->down)
        down_ctrl_stop(r->down);
}

/* ---- the kick watch --------------------------------------------------------- */

void down_ctrl_unwatch(struct vs_down *dn)
{
    if (!dn->ctrl_watch)
        return;
    /* only an initialised handle is stored here */
    uv_close((uv_handle_t *)&dn->ctrl_watch->poll, handle_free);
    dn->ctrl_watch = NULL;
}

static void on_ctrl_kick(uv_poll_t *h, int status, int events)
{
    struct down_ctrl_watch *w = h->data;
    struct vs_relay *r = w->relay;
    uint64_t count;
    int rc;

    (void)events;
    if (!r->down)
        return;
    if (status < 0) {
        char why[ERR_TEXT];
        snprintf(why, sizeof(why), "the control queue's kick fd cannot be watched: %s",
                 uv_strerror(status));
        ctrl_broken(r, why);
        return;
    }
    rc = peer_fd_drain(w->fd, &count);
    if (rc < 0) {
        down_peer_fd_failed(r, "control-queue kick fd", rc);
        return;
    }
    /* count 0: the front-end shares the eventfd and consumed it first (a
     * spurious wake-up). The queue is looked at anyway: no kick is lost. */
    down_ctrl_process(r);
}

int down_ctrl_watch(struct vs_relay *r)
{
    struct vs_down *dn = r->down;
    struct down_ctrl_watch *w;
    int fd = dn->rings[dn->ctrl_index].st.kick_fd;
    int rc;

    down_ctrl_unwatch(dn);
    if (fd < 0 || !dn->ctrl_running)
        return 0; /* no kick fd: served when sequences end */
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->relay = r;
    w->fd = fd;
    rc = uv_poll_init(r->loop, &w->poll, fd);
    if (rc < 0) {
        /* never initialised: not the loop's, so not uv_close'd */
        free(w);
        vs_warn("%s: cannot watch the control queue's kick fd: %s", r->cfg.id, uv_strerror(rc));
        return rc;
    }
    w->poll.data = w;
    dn->ctrl_watch = w;
    rc = uv_poll_start(&w->poll, UV_READABLE, on_ctrl_kick);
    if (rc < 0) {
        down_ctrl_unwatch(dn); /* initialised: closed, and freed by libuv */
        vs_warn("%s: cannot watch the control queue's kick fd: %s", r->cfg.id, uv_strerror(rc));
        return rc;
    }
    return 0;
}

/* ---- start and stop ------------------------------------------------------------ */

struct ctrl_attach {
    struct vs_down *dn;
    const struct vs_ring *g;
    int rc;
};

static void ctrl_attach(void *arg)
{
    struct ctrl_attach *a = arg;

    a->rc = vq_device_attach(&a->dn->ctrl, &a->dn->mem, a->g->num, a->g->addr.desc_user_addr,
                             a->g->addr.avail_user_addr, a->g->addr.used_user_addr,
                             (uint16_t)a->g->base);
}

int down_ctrl_start(struct vs_relay *r, uint32_t i)
{
    struct vs_down *dn = r->down;
    struct ctrl_attach a = { .dn = dn, .g = &dn->rings[i].st };
    int rc;

    if (dn->peer_failed)
        return -EPROTO;
    if (!dn->chain && !(dn->chain = malloc(sizeof(*dn->chain))))
        return -ENOMEM;
    rc = guest_mem_guarded(ctrl_attach, &a);
    if (rc || a.rc) {
        vs_warn("%s: control queue (ring %u) cannot start: %s", r->cfg.id, i,
                rc ? CTRL_MEMORY_GONE : vq_strerror(a.rc));
        return -EINVAL;
    }
    dn->ctrl.indirect_ok = down_negotiated(dn, VIRTIO_F_INDIRECT_DESC);
    dn->ctrl_running = true;
    rc = down_ctrl_watch(r);
    if (rc < 0) {
        dn->ctrl_running = false; /* nothing was popped: the base stays */
        return rc;
    }
    return 0;
}

static void ctrl_unyield(struct vs_down *dn)
{
    if (dn->ctrl_yield)
        (void)uv_idle_stop(&dn->ctrl_yield->idle); /* always 0 */
}

void down_ctrl_stop(struct vs_down *dn)
{
    if (!dn->ctrl_running)
        return;
    dn->rings[dn->ctrl_index].st.base = dn->ctrl.last_avail;
    dn->ctrl_running = false;
    dn->ctrl_busy = false;
    down_ctrl_unwatch(dn);
    ctrl_unyield(dn);
}

void down_ctrl_end(struct vs_down *dn)
{
    down_ctrl_unwatch(dn);
    if (dn->ctrl_yield) {
        /* initialised when stored; uv_close stops it */
        uv_close((uv_handle_t *)&dn->ctrl_yield->idle, handle_free);
        dn->ctrl_yield = NULL;
    }
}

/* ---- serving ------------------------------------------------------------------------ */

static void on_ctrl_yield(uv_idle_t *h)
{
    struct down_ctrl_yield *y = h->data;

    (void)uv_idle_stop(h); /* always 0; started again if work remains */
    if (y->relay->down)
        down_ctrl_process(y->relay);
}

/* The budget is spent and chains remain: the loop's next turn serves the next
 * budget. Every turn also polls every other device's fds (an active idle
 * handle makes that poll return at once), so they are served in between.
 * 0 or a libuv error. */
static int ctrl_yield(struct vs_relay *r)
{
    struct vs_down *dn = r->down;
    struct down_ctrl_yield *y = dn->ctrl_yield;
    int rc;

    if (!y) {
        y = calloc(1, sizeof(*y));
        if (!y)
            return UV_ENOMEM;
        rc = uv_idle_init(r->loop, &y->idle);
        if (rc < 0) {
            free(y); /* never initialised: not uv_close'd */
            return rc;
        }
        y->idle.data = y;
        y->relay = r;
        dn->ctrl_yield = y;
    }
    return uv_idle_start(&y->idle, on_ctrl_yield);
}

static void ctrl_complete(struct vs_relay *r, uint16_t head, uint8_t *ack_byte, uint8_t ack)
{
    struct vs_down *dn = r->down;

    *ack_byte = ack;
    vq_device_push(&dn->ctrl, head, 1);
    dn->ctrl_irq = true;
}

/* One interrupt for every command completed since the last (a spare one is
 * harmless; the driver polls when it has no call eventfd). */
static void ctrl_interrupt(struct vs_relay *r)
{
    struct vs_down *dn = r->down;
    int call, rc;

    if (!dn || !dn->ctrl_irq || dn->peer_failed)
        return;
    dn->ctrl_irq = false;
    call = dn->rings[dn->ctrl_index].st.call_fd;
    if (call < 0)
        return;
    rc = peer_fd_signal(call);
    if (rc < 0)
        down_peer_fd_failed(r, "control-queue call eventfd", rc);
}

/* One command: VIRTIO_NET_OK/ERR, or -1 when the back-end must act first. */
static int ctrl_command(struct vs_relay *r, const uint8_t *cmd, size_t len)
{
    struct vs_down *dn = r->down;
    struct vs_ctrl_result res;

    vs_ctrl_net_parse(cmd, len, dn->features, (uint16_t)(dn->in.backend_queues / 2), &res);
    switch (res.action) {
    case VS_CTRL_SET_MAC:
        memcpy(dn->in.mac, res.mac, sizeof(dn->in.mac));
        break;
    case VS_CTRL_SET_PAIRS:
        vs_info("%s: the driver uses %u queue pair(s)", r->cfg.id, res.pairs);
        if (down_set_active_pairs(r, res.pairs))
            return -1;
        break;
    case VS_CTRL_DONE:
        break;
    }
    return res.ack;
}

static bool ctrl_may_serve(const struct vs_relay *r)
{
    const struct vs_down *dn = r->down;

    return dn->ctrl_running && !dn->ctrl_busy && !dn->peer_failed && r->main_pending.count == 0 &&
           down_deliverable(dn);
}

/* One chain popped: served now (0), or waiting for the back-end (1). */
static int ctrl_one(struct vs_relay *r, struct vq_chain *c)
{
    struct vs_down *dn = r->down;
    uint8_t cmd[CTRL_MAX_COMMAND];
    uint8_t *ack_byte;
    size_t len;
    int rc;

    /* class, command, data (device-readable); ack (one writable byte) */
    if (c->out_len < 2 || c->out_len > sizeof(cmd) || c->n_in == 0 ||
        c->iov[c->n_out].iov_len < 1) {
        ctrl_broken(r, "a malformed control-queue command");
        return -EINVAL;
    }
    len = vq_chain_copy_from(c, 0, cmd, (size_t)c->out_len);
    ack_byte = c->iov[c->n_out].iov_base;
    rc = ctrl_command(r, cmd, len);
    if (rc >= 0) {
        ctrl_complete(r, c->head, ack_byte, (uint8_t)rc);
        return 0;
    }
    dn->ctrl_busy = true;
    dn->ctrl_head = c->head;
    dn->ctrl_ack = ack_byte;
    down_barrier(r, DOWN_STEP_CTRL_DONE, 0);
    if (r->fe)
        vs_conn_pause(r->fe, true);
    return 1;
}

/* Serves the control queue until it is empty, a command waits for the
 * back-end, or CTRL_BUDGET chains were served (then the loop's next turn
 * goes on). Runs only between sequences, so that a command's back-end steps
 * are its own. A broken queue sets DEVICE_NEEDS_RESET, which stops it: it
 * is never looked at again until the driver resets the device. */
static void ctrl_serve(void *arg)
{
    struct vs_relay *r = arg;
    struct vs_down *dn = r->down;

    for (unsigned served = 0; ctrl_may_serve(r); served++) {
        int rc;

        if (served == CTRL_BUDGET) {
            if (vq_device_has_pending(&dn->ctrl) && (rc = ctrl_yield(r)) < 0) {
                char why[ERR_TEXT];
                snprintf(why, sizeof(why), "the control queue cannot yield to the loop: %s",
                         uv_strerror(rc));
                ctrl_broken(r, why);
            }
            return;
        }
        rc = vq_device_pop(&dn->ctrl, dn->chain);
        if (rc == 0)
            return;
        if (rc < 0) {
            char why[ERR_TEXT];
            snprintf(why, sizeof(why), "the control queue is broken: %s", vq_strerror(rc));
            ctrl_broken(r, why);
            return;
        }
        if (ctrl_one(r, dn->chain) != 0)
            return;
    }
}

void down_ctrl_process(struct vs_relay *r)
{
    if (guest_mem_guarded(ctrl_serve, r))
        ctrl_broken(r, CTRL_MEMORY_GONE);
    ctrl_interrupt(r);
}

/* A command the back-end had to act on: its ack, now. */
struct ctrl_done {
    struct vs_relay *r;
    uint8_t ack;
};

static void ctrl_done(void *arg)
{
    struct ctrl_done *d = arg;
    struct vs_down *dn = d->r->down;

    ctrl_complete(d->r, dn->ctrl_head, dn->ctrl_ack, d->ack);
}

void down_ctrl_done(struct vs_relay *r)
{
    struct vs_down *dn = r->down;

    if (dn->ctrl_busy && dn->ctrl_running && !dn->peer_failed) {
        struct ctrl_done done = { r, dn->sequence_failed ? VIRTIO_NET_ERR : VIRTIO_NET_OK };
        dn->ctrl_busy = false;
        if (guest_mem_guarded(ctrl_done, &done))
            ctrl_broken(r, CTRL_MEMORY_GONE);
        ctrl_interrupt(r);
    }
    dn->ctrl_busy = false;
}
