/* SPDX-License-Identifier: MIT */
/*
 * The reference vdpa-user back-end: shared state and the interfaces between
 * its modules.
 *
 *   main.c    command line, sockets, the poll() loop, signals, statistics
 *   device.c  the vdpa-user device model: one handler per request, the
 *             status state machine, reset, suspend/resume.
 *   rings.c   the device model's rings: start/stop, processing,
 *             DEVICE_NEEDS_RESET, config-change notification.
 *             device.c and rings.c know nothing of networking or disks.
 *   net.c     virtio-net: features, config space, TX/RX (loopback or UDP),
 *             control queue
 *   blk.c     virtio-blk: features, config space, requests on a disk file
 *   input.c   virtio-input: the select/subsel config space, injected key
 *             events on the event queue, the status queue consumed
 *   rng.c     virtio-rng: the request queue filled with random bytes
 *   log.c     leveled logging to stderr
 *
 * A new device type is one more `struct device_type` (see net.c and blk.c)
 * and a line in main.c; device.c and rings.c do not change (device.c calls
 * the type's write_config for driver writes of its config space).
 */
#ifndef VDPA_BACKEND_H
#define VDPA_BACKEND_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "validate.h"
#include "log.h"
#include "vhost_user.h"
#include "virtio/guest_mem.h"
#include "virtio/virtqueue.h"

#define BK_MAX_RINGS      64u   /* net: 31 queue pairs + control queue */
#define BK_MAX_QUEUE_SIZE 1024u /* so that any chain fits VQ_MAX_IOV */
#define BK_MAX_PACKET     (65536u + 14u)
#define BK_INPUT_MAX_KEYS 32u /* --inject-keys */
/* A key's press, SYN_REPORT, release, SYN_REPORT (input.c). */
#define BK_INPUT_EVENTS_PER_KEY 4u
#define BK_INPUT_MAX_EVENTS     (BK_INPUT_MAX_KEYS * BK_INPUT_EVENTS_PER_KEY)

/* ---- Logging: the shim's logger (lib/proto/log.h), prefixed "vdpa-backend". */

/* ---- Command line ------------------------------------------------------------- */
enum net_mode {
    NET_LOOPBACK,
    NET_UDP
};

struct options {
    const char *socket_path;
    bool connect;     /* --connect: we connect, the front-end listens */
    const char *type; /* "net", "blk", "input" or "rng" */
    const char *disk;
    bool read_only;
    enum net_mode net_mode;
    struct sockaddr_in udp_bind, udp_peer;
    uint8_t mac[6];
    unsigned mtu;         /* 0: VIRTIO_NET_F_MTU not offered */
    unsigned queue_pairs; /* net: queue pairs; blk: queues */
    unsigned queue_size;  /* VDPA_GET_VRING_NUM */
    bool once;
    const char *stats_path;
    /* input: ID_NAME and ID_SERIAL, the key codes injected (in order) once
     * the driver is ready, and the period of the repetition (0: once). */
    const char *input_name;
    const char *input_serial;
    uint16_t inject_keys[BK_INPUT_MAX_KEYS];
    unsigned n_inject_keys;
    unsigned inject_every_ms;
};

/* ---- Counters (--stats) --------------------------------------------------------- */
struct stats {
    uint64_t sessions;
    uint64_t requests;
    uint64_t requests_refused;
    uint64_t device_needs_reset;
    uint64_t net_tx_packets, net_tx_bytes, net_tx_dropped;
    uint64_t net_rx_packets, net_rx_bytes, net_rx_dropped;
    uint64_t net_ctrl_commands;
    uint64_t blk_reads, blk_writes, blk_flushes, blk_get_ids;
    uint64_t blk_read_bytes, blk_written_bytes;
    uint64_t blk_errors, blk_unsupported;
    uint64_t rng_requests, rng_bytes;
    uint64_t input_events, input_sequences, input_sequences_skipped, input_status_events;
};

/* ---- One virtqueue's state as the front-end configured it ------------------------ */
struct ring {
    uint32_t num;              /* SET_VRING_NUM, 0 = not set */
    struct vu_vring_addr addr; /* SET_VRING_ADDR */
    bool has_addr;
    uint16_t base;                /* SET_VRING_BASE; the live value is vq.last_avail */
    bool enabled;                 /* SET_VRING_ENABLE */
    int kick_fd, call_fd, err_fd; /* owned, -1 when absent; survive reset */
    bool started;                 /* attached to guest memory and being processed */
    struct vq_device vq;          /* valid while started (and after, for the index) */
};

struct backend;

/* What a device type provides. device.c calls these; they never see a
 * vhost-user message. */
struct device_type {
    const char *name;
    uint32_t device_id;   /* VDPA_GET_DEVICE_ID */
    uint32_t config_size; /* VDPA_GET_CONFIG_SIZE */
    /* Called once at start-up (open files, sockets); 0 or -errno. */
    int (*init)(struct backend *b);
    void (*fini)(struct backend *b);
    /* Device-specific offered feature bits (device.c adds VERSION_1 and the
     * vhost-user transport bit). Constant for the process. */
    uint64_t (*features)(const struct backend *b);
    /* Number of virtqueues (VDPA_GET_VQS_COUNT). Constant. */
    unsigned (*vqs_count)(const struct backend *b);
    /* FEATURES_OK: the VIRTIO dependencies between the driver's features.
     * VERSION_1 and "only offered bits" are checked by device.c. */
    bool (*features_ok)(const struct backend *b, uint64_t features);
    /* Whether ring `index` has a role under the negotiated features. Rings
     * without one are never started. */
    bool (*ring_in_use)(const struct backend *b, unsigned index);
    /* The whole config space, little-endian (GET_CONFIG reads a slice). */
    void (*read_config)(const struct backend *b, uint8_t *config);
    /* SET_CONFIG flags=1 (provisioning) of [offset, offset + size): 0 or a
     * positive errno. NULL = provisioning not supported. */
    int (*provision)(struct backend *b, uint32_t offset, uint32_t size, const uint8_t *data);
    /* SET_CONFIG flags=0 (a driver write) of [offset, offset + size) in a
     * state that allows it: 0 or a positive errno, all or nothing. NULL =
     * no driver-writable byte (every write is rejected). */
    int (*write_config)(struct backend *b, uint32_t offset, uint32_t size, const uint8_t *data);
    /* Processes ring `index` (kicked, or just started). Returns 1 when work
     * is left (budget used up), 0 when idle, or a negative enum vq_error /
     * -EPROTO when the ring is broken (the caller sets DEVICE_NEEDS_RESET). */
    int (*process)(struct backend *b, unsigned index);
    /* An extra fd to poll (net's UDP socket) and what to do when it is
     * readable; NULL/-1 when none. want_extra says whether to poll it now. */
    int (*extra_fd)(const struct backend *b, bool *want);
    int (*on_extra)(struct backend *b);
    /* Reset (5.3): device-type state back to defaults. */
    void (*reset)(struct backend *b);
    /* SIGHUP: re-read host resources; true when config space changed. */
    bool (*rescan)(struct backend *b);
};

extern const struct device_type net_device_type;
extern const struct device_type blk_device_type;
extern const struct device_type input_device_type;
extern const struct device_type rng_device_type;

struct net_state {
    int udp_fd;     /* -1 in loopback mode */
    uint8_t mac[6]; /* current (provisioned or --mac) */
    uint16_t mtu;
    unsigned curr_pairs; /* set through the control queue */
    uint8_t *pkt;        /* one packet, BK_MAX_PACKET bytes */
};

struct blk_state {
    int fd;
    uint64_t capacity; /* sectors */
    char id[VIRTIO_BLK_ID_BYTES];
};

/* One virtio_input_event (VIRTIO 1.2 5.8.6), in host order until written. */
struct input_ev {
    uint16_t type, code;
    uint32_t value;
};

struct input_state {
    uint8_t select, subsel; /* driver-written (5.8.4); 0 after a reset */
    int timer_fd;           /* --inject-every-ms, -1 without */
    bool armed;             /* the first sequence was queued (after DRIVER_OK) */
    struct input_ev pending[BK_INPUT_MAX_EVENTS]; /* events not delivered yet */
    unsigned head, count;                         /* pending[head .. head + count) */
};

/* ---- The back-end ----------------------------------------------------------------- */
struct backend {
    struct options opt;
    const struct device_type *type;
    struct stats stats;
    struct vq_chain *chain; /* scratch for one popped chain */

    /* Connection (session) state; reset when a front-end goes. */
    int sock;   /* -1 when no front-end */
    bool vdpa;  /* F_VDPA negotiated */
    bool owner; /* SET_OWNER seen */
    uint64_t protocol_features;
    struct vu_session_limits limits;
    int config_call_fd;
    int backend_req_fd; /* accepted and held; never used (see docs) */
    struct guest_mem mem;

    /* The VIRTIO device model. */
    uint8_t status;
    bool suspended;
    bool config_pending;      /* a held-back config change (section 7) */
    uint64_t driver_features; /* last SET_FEATURES selection */
    uint64_t features;        /* fixed at FEATURES_OK, 0 before */
    unsigned nrings;
    struct ring rings[BK_MAX_RINGS];
    int fault_ring; /* the ring whose pop failed last (device_pop) */

    union {
        struct net_state net;
        struct blk_state blk;
        struct input_state input;
    } dev;
};

/* ---- input.c ------------------------------------------------------------------------- */
/* --inject-keys LIST: comma-separated letters a-z or key codes (1..KEY_MAX),
 * at most `max`: 0, -EINVAL or -E2BIG. */
int input_parse_keys(const char *list, uint16_t *keys, unsigned max, unsigned *n);

/* ---- device.c ------------------------------------------------------------------------ */
/* Offered VIRTIO features (GET_FEATURES), including transport bit 30. */
uint64_t device_offered_features(const struct backend *b);
uint64_t device_offered_protocol_features(const struct backend *b);
/* One-time set-up of the device state (no session). */
void device_init(struct backend *b);
/* A front-end connected on `sock` (owned from now on). */
void device_session_start(struct backend *b, int sock);
/* The front-end went: reset, then drop every resource of the session. */
void device_session_end(struct backend *b);
/* Handles one received message (owning its fds). 0 = go on, -1 = close
 * the connection (protocol error or a rejection without a reply). */
int device_handle_message(struct backend *b, struct vu_msg *msg);
/* ---- rings.c (the device model's rings) ------------------------------------------- */
/* Brings the started rings in line with the device state (status,
 * suspension, enable bits): stops the ones that must not run, then starts
 * the ones that should, all or none (a ring that cannot start sets
 * DEVICE_NEEDS_RESET). */
void device_rings_update(struct backend *b);
/* Signals a held-back config change if the driver can act on it now. */
void device_deliver_config_change(struct backend *b);
/* Processes every running ring once; true if any has work left. */
bool device_run_rings(struct backend *b);
/* Whether ring i runs now (status, suspension and enable bit allow it). */
bool device_ring_running(const struct backend *b, unsigned i);
/* The device found an unrecoverable error on ring `index` (or -1). */
void device_needs_reset(struct backend *b, int index, const char *why);
/* The device changed its config space on its own (link, capacity, ...). */
void device_config_changed(struct backend *b);
/* Pops a chain from ring `index` (vq_device_pop), remembering the ring if
 * it turns out broken so that its err fd is the one signalled. */
int device_pop(struct backend *b, unsigned index, struct vq_chain *chain);
/* Returns a processed chain and signals the ring's call fd if wanted. */
void device_complete(struct backend *b, unsigned index, uint16_t head, uint32_t len);

#endif
