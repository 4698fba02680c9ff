/* SPDX-License-Identifier: MIT */
/*
 * vdpa-probe: measures what a real vhost-user peer does and writes it as
 * compatibility-matrix records (compat-matrix/README.md).
 *
 *   main.c      command line, exit codes, --spec
 *   records.c   the measured facts of one column, written in file order,
 *               and the comparison with a matrix file (--expect)
 *   client.c    a blocking front-end connection: one request, one outcome
 *               (answered, refused, disconnect), the two handshakes
 *   frontend.c  --connect: the passes run against a live back-end
 *   backend.c   --listen: a permissive back-end that records what a live
 *               front-end sends
 *
 * Single-threaded and synchronous. Every receive has a time-out; nothing the
 * peer sends is trusted (sizes and ids are checked, fds are closed).
 */
#ifndef VDPA_PROBE_H
#define VDPA_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "device_types.h"
#include "log.h"
#include "matrix.h"
#include "msg_table.h"
#include "vhost_user.h"

/* Rows of the front-end request table the records can hold. */
#define PROBE_MAX_ROWS 64
/* A peer that does not answer a request within this time is not answering. */
#define PROBE_REPLY_TIMEOUT_MS 3000
/* Connecting again to a peer that is not listening (yet) is retried this long. */
#define PROBE_CONNECT_RETRY_MS      2000
#define PROBE_CONNECT_RETRY_STEP_MS 20
#define PROBE_RECONNECT_TRIES       3   /* handshakes on a fresh connection */
#define PROBE_RECONNECT_PAUSE_MS    200 /* between them */
#define PROBE_IDLE_MS_DEFAULT       3000
#define PROBE_ACCEPT_MS_DEFAULT     30000

/* Exit codes. */
enum {
    PROBE_EXIT_OK = 0,
    PROBE_EXIT_DIFFER = 1,
    PROBE_EXIT_USAGE = 2,
    PROBE_EXIT_UNREACHABLE = 3,
    PROBE_EXIT_ERROR = 4,
};

struct probe_opts {
    const char *connect_path; /* --connect */
    const char *listen_path;  /* --listen */
    const struct vs_device_type *type;
    const char *column;
    const char *expect_path; /* --expect */
    const char *output_path; /* --output */
    const char *raw_dir;     /* --listen --raw-dir: each request as a fuzz seed */
    int idle_ms;             /* --listen: end after this long without a request */
    int accept_ms;           /* --listen: wait this long for the front-end */
};

/* ---- records.c ------------------------------------------------------------------ */

/* The offers a back-end makes, in the order the records are written. */
enum probe_offer {
    OFFER_FEATURES,
    OFFER_PROTOCOL_FEATURES,
    OFFER_QUEUE_NUM,
    OFFER_CONFIG_SIZE,
    OFFER_STATUS,
    OFFER_COUNT
};

struct records {
    const struct vs_device_type *type;
    const char *column;
    enum vs_mx_value fe[PROBE_MAX_ROWS]; /* by row of vu_msg_desc_at(FRONTEND) */
    bool have[OFFER_COUNT];
    uint64_t offer[OFFER_COUNT];    /* OFFER_STATUS: an enum vs_mx_value */
    unsigned order[PROBE_MAX_ROWS]; /* rows, in first-sent order */
    unsigned norder;
};

void rec_init(struct records *r, const struct vs_device_type *type, const char *column);
/* The row of a front-end request, or -1 when it is not in the table. */
int rec_row(uint32_t request);
/* Sets (or replaces) the measured value of a request. */
void rec_msg(struct records *r, uint32_t request, enum vs_mx_value v);
enum vs_mx_value rec_get(const struct records *r, uint32_t request);
void rec_offer(struct records *r, enum probe_offer what, uint64_t value);
/* --listen: the front-end sent this request (first time: it gets an order). */
void rec_sent(struct records *r, uint32_t request);
/* Writes the msg, offer and order records. 0 or -errno. */
int rec_write(FILE *out, const struct records *r);
/* Compares the records with the same column's msg/offer/order records of a
 * matrix file; writes "- <expected>" and "+ <measured>" lines to diff.
 * 0 equal, 1 different, -errno when the file cannot be read. */
int rec_compare(const struct records *r, const char *path, FILE *diff);

/* ---- client.c ------------------------------------------------------------------- */

enum outcome {
    OUT_ANSWERED,
    OUT_REFUSED,
    OUT_DISCONNECT,
    OUT_BROKEN, /* no reply, or one that does not fit: recorded as refused,
                        and the connection is closed (the stream is out of step) */
};

struct fe_conn {
    const char *path;
    int sock;          /* owned, or -1 */
    uint64_t features; /* offered by the back-end (last GET_FEATURES) */
    uint64_t pf_offered;
    uint64_t pf_acked; /* the SET_PROTOCOL_FEATURES value it took */
};

enum vs_mx_value outcome_value(enum outcome o);
const char *outcome_name(enum outcome o);

void fe_init(struct fe_conn *c, const char *path);
/* Connects (closing any previous connection). 0 or -errno. */
int fe_open(struct fe_conn *c);
void fe_close(struct fe_conn *c);
bool fe_is_open(const struct fe_conn *c);

/* Sends one request and classifies what comes back. NEED_REPLY is added to
 * requests without a reply payload of their own when REPLY_ACK was acked.
 * `sync`: follow the request with GET_FEATURES so that a request the peer
 * ignores is told apart from one it answers (the GET_FEATURES reply comes
 * first: refused) without waiting for a time-out; requests that get no reply
 * at all are always followed by one (answered when the peer is still there).
 * msg's fds are sent and closed; the reply (when `reply` is not NULL) is the
 * request's own reply. Closes the connection on disconnect and on
 * OUT_BROKEN. */
enum outcome fe_request(struct fe_conn *c, struct vu_msg *msg, struct vu_msg *reply, bool sync);

/* Under F_VDPA, a forbidden request: sent with NEED_REPLY, and whatever u64
 * comes back is read as the ack (section 4), even for GET_QUEUE_NUM. */
enum outcome fe_request_ack(struct fe_conn *c, struct vu_msg *msg);

/* Shorthands: an empty request, a u64 request (with an optional fd, which
 * is duplicated), a vring-state request. */
enum outcome fe_none(struct fe_conn *c, uint32_t request, struct vu_msg *reply, bool sync);
enum outcome fe_u64(struct fe_conn *c, uint32_t request, uint64_t value, int fd, bool sync);
enum outcome fe_state(struct fe_conn *c, uint32_t request, uint32_t index, uint32_t num,
                      struct vu_msg *reply);
/* An empty request with a u64 reply: the value, when answered. */
enum outcome fe_get_u64(struct fe_conn *c, uint32_t request, uint64_t *value, bool sync);

/* Protocol features this probe acknowledges in a legacy session: every
 * known bit but PAGEFAULT, XEN_MMAP, INFLIGHT_SHMFD and VDPA. */
uint64_t fe_legacy_protocol_features(void);

/* GET_FEATURES, GET_PROTOCOL_FEATURES and SET_PROTOCOL_FEATURES (when bit 30
 * is offered), SET_OWNER. Each outcome goes into r when r is not NULL.
 * 0 when every step was answered, -1 otherwise. */
int fe_handshake_legacy(struct fe_conn *c, struct records *r);
/* docs/vdpa-user.md section 8 steps 1-4: F_VDPA with REPLY_ACK and STATUS
 * (MQ and CONFIG when offered; F_VDPA implies CONFIG, 2.2), GET_FEATURES
 * again, SET_OWNER. */
int fe_handshake_vdpa(struct fe_conn *c, struct records *r);

/* ---- frontend.c / backend.c -------------------------------------------------- */

/* --connect: measures a back-end. 0, or -errno when it cannot be reached. */
int probe_backend(const struct probe_opts *o, struct records *r);
/* --listen: measures one front-end connection. 0, or -errno when no
 * front-end connected. */
int probe_frontend(const struct probe_opts *o, struct records *r);

#endif
