/* SPDX-License-Identifier: MIT */
/*
 * Down-conversion's state, shared by its files:
 *   downconv.c     the mode table: set-up, the back-end's replies to the
 *                  shim's steps (one row per continuation), loss, end
 *   down_request.c the front-end's requests (one row per request): those
 *                  the shim answers, the memory table, what the back-end does
 *   down_status.c  the status register, the feature selection, suspension
 *   down_rings.c   the rings: their layout (SET_VRING_*), starting and
 *                  stopping them on the legacy back-end
 *   down_config.c  the config space, the config-call eventfd and the
 *                  back-end's channel (CONFIG_CHANGE_MSG)
 *   down_ctrl.c    the net control queue served from guest memory, and what
 *                  happens when a front-end fd misbehaves
 * Private to those files; the rest of the shim sees mode.h.
 */
#ifndef VDPA_SHIM_DOWN_INT_H
#define VDPA_SHIM_DOWN_INT_H

#include "devmodel.h"
#include "mode.h"
#include "ring_state.h"
#include "virtio/guest_mem.h"
#include "virtio/virtqueue.h"
#include "virtio/virtio_status.h"

/* VHOST_F_LOG_ALL: dirty logging, a transport bit beside the device's. */
#define F_LOG_ALL      26
#define TRANSPORT_BITS (VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(F_LOG_ALL))
/* A net queue pair: a receive and a transmit ring. */
#define DOWN_RINGS_PER_PAIR 2u
/* A net device without MQ has one pair, rings 0 and 1; the control queue is
 * the ring after it. */
#define DOWN_NET_ONE_PAIR_RINGS DOWN_RINGS_PER_PAIR

/* The continuation of one of the shim's own requests to the back-end: what
 * its reply means (vs_owed.action; vs_owed.arg as noted). downconv.c has one
 * row per step. */
enum down_step {
    DOWN_STEP_CHECK,        /* a step of a sequence: a refusal fails the sequence */
    DOWN_STEP_SETUP_QUEUES, /* set-up: GET_QUEUE_NUM, the back-end's queue count */
    DOWN_STEP_SETUP_CONFIG, /* set-up: GET_CONFIG, the back-end's config space;
                                 arg: the size asked */
    DOWN_STEP_SETUP_DONE,   /* set-up's last step: GET_FEATURES, the back-end's features */
    DOWN_STEP_SAVE_BASE,    /* GET_VRING_BASE (a legacy stop); arg: the ring */
    DOWN_STEP_CONFIG_READ,  /* GET_CONFIG for the front-end's read; arg: down_config_arg() */
    /* Barriers (GET_FEATURES at a sequence's end); arg: the front-end request
     * to answer, 0 for none. */
    DOWN_STEP_ANSWER,      /* answer 0, or EIO if a step failed */
    DOWN_STEP_FEATURES_OK, /* FEATURES_OK is set if no step failed; answer 0 */
    DOWN_STEP_STARTED,     /* a failed step sets DEVICE_NEEDS_RESET; answer 0 */
    DOWN_STEP_CTRL_DONE,   /* a control-queue command applied */
    DOWN_STEPS
};

/* DOWN_STEP_CONFIG_READ's arg: the front-end's GET_CONFIG window. */
#define DOWN_CONFIG_ARG_SHIFT 16
#define DOWN_CONFIG_ARG_MASK  0xffffu
static inline uint32_t down_config_arg(uint32_t offset, uint32_t size)
{
    return offset << DOWN_CONFIG_ARG_SHIFT | size;
}

struct down_ring {
    struct vs_ring st; /* as the front-end set it (ring_state.h); st.base
                                       is also the index the last legacy stop returned */
    bool in_backend;   /* the back-end runs it (legacy started) */
    bool kick_held;    /* the driver notified before the back-end had the
                          ring: drained at the start, re-signalled once the
                          back-end acknowledged it (down_rings.c) */
};

struct down_ctrl_watch; /* down_ctrl.c: the kick fd's poll handle */
struct down_ctrl_yield; /* down_ctrl.c: the idle handle that resumes a budgeted queue */

struct vs_down {
    const struct vs_device_model *model;
    struct vs_model_input in;
    uint8_t backend_config[VU_MAX_CONFIG_SIZE];
    uint64_t backend_features;
    uint64_t offered;         /* GET_FEATURES for the front-end */
    uint64_t driver_features; /* the selection (SET_FEATURES) */
    uint64_t features;        /* fixed at FEATURES_OK */
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
    bool ctrl_irq; /* used entries written, not yet signalled */
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
           !(dn->status & VIRTIO_STATUS_OVERLAY);
}

/* ---- the front-end's requests ------------------------------------------------ */

#define DOWN_TEXT 200

/* One front-end request being served; down_request.c's dispatcher fills it. */
struct down_req {
    const struct vu_msg_desc *d;
    struct vu_msg *m;
    struct down_ring *g;  /* the ring the request names, or NULL */
    uint32_t ack;         /* the request to ack (NEED_REPLY asked), or 0 */
    const char *why;      /* a refusal's text */
    char text[DOWN_TEXT]; /* room for a refusal's text made up on the spot */
};

/* What a handler leaves to the dispatcher, which first closes any fd left in
 * the message:
 *   DOWN_ACK       done: the front-end gets ack 0 where it asked for one
 *   DOWN_ANSWERED  answered or refused already, or a barrier will answer
 *   -errno         refused with q->why */
#define DOWN_ACK      0
#define DOWN_ANSWERED 1
typedef int down_handler(struct vs_relay *r, struct down_req *q);

/* down_status.c */
down_handler down_h_set_status;
down_handler down_h_get_status;
down_handler down_h_set_features;
down_handler down_h_suspend; /* VDPA_SUSPEND */
down_handler down_h_resume;  /* VDPA_RESUME */
/* down_rings.c */
down_handler down_h_set_vring_layout; /* SET_VRING_NUM, _ADDR, _BASE */
down_handler down_h_get_vring_base;
down_handler down_h_set_vring_fd; /* SET_VRING_KICK, _CALL, _ERR */
down_handler down_h_set_vring_enable;
/* down_config.c */
down_handler down_h_get_config;
down_handler down_h_set_config;
down_handler down_h_set_config_call; /* VDPA_SET_CONFIG_CALL */

/* ---- downconv.c ------------------------------------------------------------ */

/* Ends one of the shim's sequences (a GET_FEATURES whose reply carries `step`). */
void down_barrier(struct vs_relay *r, enum down_step step, uint32_t arg);
/* The session cannot go on: logged, and the front-end is disconnected. */
void down_fail_session(struct vs_relay *r, const char *what);
/* Answers the front-end's request with a u64 at once. */
void down_reply_u64(struct vs_relay *r, const struct vu_msg *req, uint64_t v, const char *note);

/* ---- down_request.c -------------------------------------------------------- */

/* The mode's frontend_request: a validated front-end request. Takes m's fds. */
void down_frontend_request(struct vs_relay *r, const struct vu_msg_desc *d, struct vu_msg *m);

/* ---- down_rings.c ---------------------------------------------------------- */

/* Rings the back-end serves: net's data queues, every queue otherwise. */
uint32_t down_data_rings(const struct vs_down *dn);
/* Whether ring i is net's control queue (served by the shim). */
bool down_is_ctrl_ring(const struct vs_down *dn, uint32_t i);
/* Starts every ring that should run (DRIVER_OK, RESUME); a failure fails the sequence. */
void down_start_rings(struct vs_relay *r);
/* Signals the kick eventfd of each ring whose start held a notification the
 * driver made before the back-end had the ring (kick_held), once the
 * back-end acknowledged the start: the driver's notification, delivered
 * late, never one the driver did not make. */
void down_release_held_kicks(struct vs_relay *r);
/* Stops every ring: the control queue here, the back-end's with the legacy stop. */
void down_stop_rings(struct vs_relay *r);
/* Spec 5.5: DEVICE_NEEDS_RESET, the rings stopped, the config-call signalled. */
void down_needs_reset(struct vs_relay *r, const char *why);
/* VQ_PAIRS_SET: true when the back-end was asked to start or stop rings. */
bool down_set_active_pairs(struct vs_relay *r, uint16_t pairs);
/* DOWN_STEP_SAVE_BASE: the exact index the legacy stop returned. */
void down_step_save_base(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m);
/* Closes the rings' fds and frees them. */
void down_free_rings(struct vs_down *dn);

/* ---- down_config.c --------------------------------------------------------- */

/* Whether the config space is the back-end's (read live with GET_CONFIG). */
bool down_backend_config_used(const struct vs_relay *r);
/* A config change held back while the device did not run is signalled now. */
void down_deliver_pending_config(struct vs_relay *r);
/* Signals the config-call eventfd, if the front-end gave one. */
void down_signal_config_call(struct vs_relay *r, const char *why);
/* The shim keeps the back-end's channel (with VU_PF_BACKEND_REQ). */
void down_give_backend_channel(struct vs_relay *r);
/* DOWN_STEP_CONFIG_READ: the back-end's config space, then the front-end's read. */
void down_step_config_read(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m);

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
/* DOWN_STEP_CTRL_DONE: the command the back-end acted on gets its ack. */
void down_ctrl_done(struct vs_relay *r);
/* Session end: the control queue's handles are closed (libuv frees them). */
void down_ctrl_end(struct vs_down *dn);
/* One of the front-end's fds (`role`) failed with rc from peer_fd_*: logs it
 * once and ends the session on the loop's next turn; never waits. */
void down_peer_fd_failed(struct vs_relay *r, const char *role, int rc);

#endif
