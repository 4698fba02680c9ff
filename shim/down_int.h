/* SPDX-License-Identifier: MIT */
/*
 * Down-conversion's state, shared by downconv.c (the device model, the
 * legacy back-end's rings) and down_ctrl.c (the net control queue served
 * from guest memory, and what happens when a front-end fd misbehaves).
 * Private to those two files; the rest of the shim sees session.h.
 */
#ifndef VDPA_SHIM_DOWN_INT_H
#define VDPA_SHIM_DOWN_INT_H

#include "devmodel.h"
#include "mode.h"
#include "virtio/guest_mem.h"
#include "virtio/virtqueue.h"

enum down_action {
    DNA_CHECK,        /* a step: a failure fails the sequence */
    DNA_BE_QUEUES,    /* set-up: GET_QUEUE_NUM */
    DNA_BE_CONFIG,    /* set-up: GET_CONFIG; arg: size asked */
    DNA_BEGIN_DONE,   /* set-up: the back-end's features; the last step */
    DNA_SAVE_BASE,    /* GET_VRING_BASE (a legacy stop); arg: ring */
    DNA_CONFIG_READ,  /* GET_CONFIG for the front-end; arg: offset << 16 | size */
    /* Barriers (GET_FEATURES at a sequence's end); arg: the front-end request
     * to answer, 0 for none. */
    DNA_ACK,          /* answer 0, or EIO if a step failed */
    DNA_FEATURES_OK,  /* FEATURES_OK is set if no step failed; answer 0 */
    DNA_STARTED,      /* a failed step sets DEVICE_NEEDS_RESET; answer 0 */
    DNA_CTRL_DONE,    /* a control-queue command applied */
};

struct down_ring {
    uint32_t num, base;
    struct vu_vring_addr addr;
    int kick_fd, call_fd, err_fd;   /* the front-end's, duplicated; -1: none */
    bool has_num, has_addr, enabled;
    bool in_backend;                /* the back-end runs it (legacy started) */
};

struct down_ctrl_watch;  /* down_ctrl.c: the kick fd's poll handle */
struct down_ctrl_yield;  /* down_ctrl.c: the idle handle that resumes a budgeted queue */

struct vs_down {
    const struct vs_device_model *model;
    struct vs_model_input in;
    uint8_t backend_config[VU_MAX_CONFIG_SIZE];
    uint64_t backend_features;
    uint64_t offered;                /* GET_FEATURES for the front-end */
    uint64_t driver_features;        /* the selection (SET_FEATURES) */
    uint64_t features;               /* fixed at FEATURES_OK */
    uint8_t status;
    bool suspended, config_pending, owner_sent, begin_ack, sequence_failed, backend_lost;
    /* One of the front-end's eventfds misbehaved (saturated, not an eventfd):
     * logged once, the front-end's connection is failed and the session ends
     * on the loop's next poll of it; nothing more is signalled or served. */
    bool peer_failed;
    uint32_t nrings, queue_size_max;
    struct down_ring *rings;
    int config_call_fd;

    /* The control queue (net), served from guest memory. */
    struct guest_mem mem;
    struct vq_device ctrl;
    struct vq_chain *chain;
    struct down_ctrl_watch *ctrl_watch;
    struct down_ctrl_yield *ctrl_yield;
    bool ctrl_running, ctrl_busy;
    bool ctrl_irq;                   /* used entries written, not yet signalled */
    uint32_t ctrl_index;
    uint16_t ctrl_head;
    uint8_t *ctrl_ack;
    uint16_t curr_pairs;
};

static inline bool down_is_net(const struct vs_down *dn)
{
    return dn->model->has_ctrl_queue;
}

static inline bool down_negotiated(const struct vs_down *dn, unsigned bit)
{
    return vu_has_bit(dn->features, bit);
}

/* Whether the device runs: DRIVER_OK, not suspended, failed or needing a reset. */
static inline bool down_deliverable(const struct vs_down *dn)
{
    return (dn->status & VIRTIO_STATUS_DRIVER_OK) && !dn->suspended &&
           !(dn->status & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_DEVICE_NEEDS_RESET));
}

/* ---- downconv.c ------------------------------------------------------------ */

/* Spec 5.5: DEVICE_NEEDS_RESET, the rings stopped, the config-call signalled. */
void down_needs_reset(struct vs_relay *r, const char *why);
/* Ends one of the shim's sequences (a GET_FEATURES whose reply carries `action`). */
void down_barrier(struct vs_relay *r, enum down_action action, uint32_t arg);
/* VQ_PAIRS_SET: true when the back-end was asked to start or stop rings. */
bool down_set_active_pairs(struct vs_relay *r, uint16_t pairs);

/* ---- down_ctrl.c ----------------------------------------------------------- */

/* Starts serving ring i as the control queue (attach, watch its kick fd).
 * 0, or -errno after logging why (the caller fails the step). */
int down_ctrl_start(struct vs_relay *r, uint32_t i);
void down_ctrl_stop(struct vs_down *dn);
/* Stops watching the control queue's kick fd. Before that fd is closed: the
 * front-end holds the same open file, and epoll forgets a watch only when
 * every fd of the file is closed, so a watch closed after its fd would keep
 * firing for a number the shim may reuse. */
void down_ctrl_unwatch(struct vs_down *dn);
/* Watches the control queue's kick fd (after a change while it runs, too).
 * 0, or -errno after logging why (the caller sets DEVICE_NEEDS_RESET). */
int down_ctrl_watch(struct vs_relay *r);
/* Serves what the control queue holds, at most a budget per call. */
void down_ctrl_process(struct vs_relay *r);
/* DNA_CTRL_DONE: the command the back-end acted on gets its ack. */
void down_ctrl_done(struct vs_relay *r);
/* Session end: the control queue's handles are closed (libuv frees them). */
void down_ctrl_end(struct vs_down *dn);
/* One of the front-end's fds (`role`) failed with rc from peer_fd_*: logs it
 * once and ends the session on the loop's next turn; never waits. */
void down_peer_fd_failed(struct vs_relay *r, const char *role, int rc);

#endif
