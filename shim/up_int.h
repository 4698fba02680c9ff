/* SPDX-License-Identifier: MIT */
/*
 * Up-conversion's state and what its files share: upconv.c (the mode table,
 * set-up, the two dispatch tables), up_rings.c (ring state, SET_VRING_*,
 * the device start and stop, the control queue's pairs), up_config.c (the
 * config space, the config-call eventfd, provisioning) and up_ctrl.c (the
 * control queue itself). Private to those files.
 */
#ifndef VDPA_SHIM_UP_INT_H
#define VDPA_SHIM_UP_INT_H

#include "mode.h"
#include "ring_state.h"
#include "up_ctrl.h"
#include "virtio.h"

enum up_state {
    UP_NEGOTIATING, /* ACKNOWLEDGE|DRIVER: features not yet accepted */
    UP_FEATURES_OK, /* features accepted, rings not running */
    UP_RUNNING,     /* DRIVER_OK */
    UP_STOPPED,     /* suspended because the front-end stopped rings */
};

/* What to do with the back-end's reply to a request the shim made (the
 * request's continuation, vs_owed.action). One row each in step_of
 * (upconv.c). */
enum up_step {
    UP_STEP_CHECK_ACK,    /* a step of a sequence: a failure fails the sequence */
    UP_STEP_DEVICE_ID,    /* VDPA_GET_DEVICE_ID: must be the VIRTIO id of type= */
    UP_STEP_VQS_COUNT,    /* VDPA_GET_VQS_COUNT: the rings are made */
    UP_STEP_VRING_MAX,    /* VDPA_GET_VRING_NUM: the largest ring the back-end takes */
    UP_STEP_CONFIG_SIZE,  /* VDPA_GET_CONFIG_SIZE: then the config space is read */
    UP_STEP_CACHE_CONFIG, /* GET_CONFIG: cache it; arg: enum up_config_read */
    /* For the next three, arg is the front-end request to acknowledge when
     * the step completes, or 0 when the front-end wants no ack. */
    UP_STEP_CHECK_FEATURES_OK, /* GET_STATUS after FEATURES_OK */
    UP_STEP_CHECK_DRIVER_OK,   /* GET_STATUS after DRIVER_OK: the device runs */
    UP_STEP_ACK_FRONTEND,      /* last step of a translated request */
    UP_STEP_ANSWER_VRING_BASE, /* GET_VRING_BASE for the front-end's stop; arg: ring */
    UP_STEP_CONFIG_EVENT,      /* GET_STATUS after the config-call eventfd fired */
    UP_STEP_PROVISION,         /* SET_CONFIG flags=1 of a device key; arg: config offset */
    UP_STEP_SYNC_PAIRS,        /* an enable while running; then VQ_PAIRS_SET if the pairs
                                  changed; arg: the front-end request to ack, or 0 */
    UP_STEP_CONFIG_WRITE,      /* a front-end's SET_CONFIG narrowed to its writable bytes;
                                  arg: the front-end request to ack, or 0 */
};

/* Why the shim reads the back-end's config space (UP_STEP_CACHE_CONFIG's arg). */
enum up_config_read {
    UP_CONFIG_SETUP = 1, /* the last step of the set-up */
    UP_CONFIG_EVENT,     /* the end of a config-call sequence */
    UP_CONFIG_WRITE,     /* after a driver write (input: select changes size and u) */
};

/* The status values the shim writes to the back-end (0: a device reset). */
#define UP_ST_RESET       0u
#define UP_ST_NEGOTIATING (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define UP_ST_FEATURES_OK (UP_ST_NEGOTIATING | VIRTIO_STATUS_FEATURES_OK)
#define UP_ST_DRIVER_OK   (UP_ST_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

/* VHOST_F_LOG_ALL: the transport feature that turns dirty logging on
 * (vhost-user; not a VIRTIO bit, so not in virtio.h). A name for it in
 * vhost_user.h would serve downconv.c (F_LOG_ALL) too. */
#define UP_F_LOG_ALL 26
/* A virtio-net queue pair is a receive and a transmit ring; the control
 * queue is the ring after the last pair (VIRTIO 1.2 5.1.2). */
#define UP_NET_RINGS_PER_PAIR 2u

struct up_gap;

struct vs_up {
    enum up_state state;
    bool ever_started;
    bool sequence_failed; /* a step of the current sequence failed */
    bool begin_ack;       /* the front-end wants SET_PROTOCOL_FEATURES acked */
    uint64_t features;
    bool features_set;
    uint8_t fe_status;       /* the status a STATUS-aware legacy front-end wrote */
    struct vu_mem_table mem; /* last memory table */
    int mem_fds[VU_MAX_MEM_REGIONS];
    bool has_mem;
    uint32_t device_id, nrings, config_size;
    uint32_t vring_max;                 /* VDPA_GET_VRING_NUM (0 until known) */
    uint8_t config[VU_MAX_CONFIG_SIZE]; /* read again after every event and driver write */
    bool has_config;
    /* The bytes the front-end last wrote (the set-up's read before that):
     * QEMU writes back its whole copy of the config space, which is the last
     * read with the guest's write applied (up_config.c, driver writes). */
    uint8_t fe_view[VU_MAX_CONFIG_SIZE];
    struct vs_ring *rings; /* nrings of them, as the front-end set them */
    int config_call_fd;    /* eventfd the back-end signals */
    uv_poll_t config_poll;
    bool config_poll_open; /* config_poll initialised (closed with the state) */
    /* A config-call storm costs one GET_STATUS/GET_CONFIG sequence at a time:
     * a signal while one runs (or in the gap after it) asks for one more,
     * which starts CONFIG_EVENT_GAP_MS (up_config.c) after the last ended. */
    bool config_event_busy, config_event_again;
    struct up_gap *config_gap; /* initialised with the poll; closed with the state */
    /* The back-end's control queue, driven by the shim for a front-end that
     * acked MQ without CTRL_VQ (up_ctrl.c). */
    struct up_ctrl *ctrl; /* made at the first such SET_FEATURES */
    bool ctrl_on;         /* the back-end gets CTRL_VQ and the shim's queue */
    bool mem_has_ctrl;    /* the last memory table sent holds the shim's region */
    uint32_t ctrl_ring;   /* UP_NET_RINGS_PER_PAIR * max_virtqueue_pairs */
    uint16_t be_pairs;    /* pairs the back-end runs (1 after a start) */
    uint16_t pairs_sent;  /* VQ_PAIRS_SET in flight */
    uint32_t ctrl_ack;    /* the front-end request acked when it ends, or 0 */
};

/* A validated front-end request as its handler gets it. The dispatcher has
 * traced it, started a new sequence, found its ring and cleared NEED_REPLY
 * (the shim answers the front-end itself). */
struct up_req {
    const struct vu_msg_desc *d;
    struct vu_msg *m;     /* the handler takes its fds */
    struct vu_hdr hdr;    /* the header as the front-end sent it */
    struct vs_ring *ring; /* the ring the request names, or NULL */
    bool ack_fe;          /* the front-end wants an ack (REPLY_ACK) */
};
typedef void up_request_fn(struct vs_relay *r, struct up_req *q);

/* The back-end's reply to a request of the shim's, as a step gets it: not
 * empty, fds closed, r->up set. */
typedef void up_step_fn(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m);

/* ---- upconv.c --------------------------------------------------------------- */

/* SET_STATUS of the shim's own, a step of the current sequence. */
void up_set_status(struct vs_relay *r, uint8_t status, const char *note);
/* The session ends (logged as an error): the front-end can reconnect. */
void up_fail_session(struct vs_relay *r, const char *what);

/* ---- up_rings.c --------------------------------------------------------------- */

/* Ring `index`, or NULL beyond the back-end's VQ count (or before it is known). */
struct vs_ring *up_ring_of(struct vs_relay *r, uint32_t index);
/* The rings, all fd slots -1. 0 or -ENOMEM. */
int up_rings_alloc(struct vs_up *up, uint32_t n);
/* Closes the rings' fds and frees them. */
void up_rings_free(struct vs_up *up);
/* Every ring unconfigured (a device reset). */
void up_rings_forget(struct vs_up *up);
/* The features the back-end gets: the front-end's, plus CTRL_VQ where the
 * shim drives the control queue. */
uint64_t up_backend_features(const struct vs_up *up);
/* Whether features v need the shim's control queue. 0 (ctrl_on says which),
 * or a positive errno with the reason in text (ctrl_on unchanged). */
int up_ctrl_decide(struct vs_relay *r, uint64_t v, char *text, size_t len);
/* VQ_PAIRS_SET when the pairs the front-end enabled changed; the ack of
 * request `ack` (0: none) after it. */
void up_ctrl_sync(struct vs_relay *r, uint32_t ack);
bool up_holds_frontend(const struct vs_relay *r);
/* After caching a request that also goes to the back-end now (m, whose fds
 * it takes): the front-end's ack reflects the back-end's answer, or the
 * start's outcome. */
void up_forward_then_maybe_start(struct vs_relay *r, struct vu_msg *m, bool ack_fe);
/* After a request the shim kept to itself (ring numbers, addresses, enables
 * before the start, the front-end's status): start the device if that
 * completed it, else answer. */
void up_maybe_start(struct vs_relay *r, bool ack_fe, uint32_t request);

up_request_fn up_h_set_vring_layout; /* SET_VRING_NUM, _ADDR, _BASE */
up_request_fn up_h_set_vring_fd;     /* SET_VRING_KICK, _CALL, _ERR */
up_request_fn up_h_set_vring_enable;
up_request_fn up_h_get_vring_base;

up_step_fn up_step_check_driver_ok;
up_step_fn up_step_answer_vring_base;
up_step_fn up_step_sync_pairs;

/* ---- up_config.c -------------------------------------------------------------- */

/* The shim's config-call eventfd, watched. 0 or -errno; what was made is
 * released by up_config_call_close. */
int up_config_call_watch(struct vs_relay *r);
/* Closes the watch and the eventfd; frees up, now or once libuv has
 * released the handle. */
void up_config_call_close(struct vs_up *up);
/* mac= and mtu= written into the back-end's config space. */
void up_provision(struct vs_relay *r);

up_request_fn up_h_net_set_mtu;
up_request_fn up_h_set_config; /* a driver write narrowed to its writable bytes */

up_step_fn up_step_config_size;
up_step_fn up_step_cache_config;
up_step_fn up_step_config_event;
up_step_fn up_step_provision;
up_step_fn up_step_config_write;

#endif
