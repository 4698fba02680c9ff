/* SPDX-License-Identifier: MIT */
/*
 * Shared parts of the benchmark harness (tests/bench/, `make bench`):
 *
 *  - a scripted legacy vhost-user front-end whose bring-up (GET_FEATURES to
 *    DRIVER_OK) is a step machine, so that one program can drive it blocking
 *    (bringup.c, one device at a time) or from an event loop (scale.c, a
 *    thousand devices at once);
 *  - a scripted back-end that answers what that front-end sends;
 *  - the unix-socket round-trip floor: an echo process answering the same
 *    small messages, timed the way a bring-up step is timed;
 *  - clocks, medians, /proc readings.
 *
 * Every request after SET_PROTOCOL_FEATURES that the spec answers with a
 * REPLY_ACK carries NEED_REPLY, so each step is one round trip whose outcome
 * is known: the bring-up time divided by the round trips is a per-message
 * latency, comparable with the floor.
 */
#ifndef VDPA_SHIM_BENCH_H
#define VDPA_SHIM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "transport.h"
#include "vhost_user.h"

/* Guest memory the front-end hands over: one memfd region with the rings. */
#define BENCH_MEM_SIZE        (1u << 20)
#define BENCH_MEM_UADDR       UINT64_C(0x7f0000000000)
#define BENCH_RING_SPAN       0x4000u /* per ring: desc, avail +0x1000, used +0x2000 */
#define BENCH_RING_BASE       0x10000u
#define BENCH_RING_SIZE       256u
#define BENCH_MAX_RINGS       32u
#define BENCH_BLK_CONFIG_SIZE 60u
#define BENCH_MAX_STEPS                                                                            \
    256u /* requests in one bring-up (8 queue pairs: 105) */ /* struct virtio_blk_config as QEMU 7.2 knows it */

enum bench_kind {
    BENCH_NET,
    BENCH_BLK
};

/* What the front-end hands over; shared by every device of a run (each
 * message carries duplicates). */
struct bench_res {
    int mem_fd, kick_fd, call_fd;
};

int bench_res_init(struct bench_res *r);
void bench_res_close(struct bench_res *r);

/* The front-end's bring-up, one request at a time. */
struct bench_fe {
    enum bench_kind kind;
    unsigned rings;   /* virtqueues to set up (net: 2 per pair) */
    uint64_t want_pf; /* protocol features it acks when offered */
    const struct bench_res *res;

    unsigned step, ring, sub; /* position in the script */
    uint64_t features, pf_offered, pf_acked;
    uint32_t last_req;          /* the request whose reply is awaited */
    unsigned sent, round_trips; /* messages sent, replies awaited */
    int chan_fd;                /* our end of the back-end channel, or -1 */
    char error[160];
    /* per request, in order (bench_bringup_blocking): its type and the time
     * from sending it to its answer (or to the next send) */
    uint32_t step_req[BENCH_MAX_STEPS];
    uint64_t step_ns[BENCH_MAX_STEPS];
};

/* The protocol features a VMM of `kind` acks when offered. Fixed per type, so
 * the conversation is the same direct and through the shim (the shim offers
 * STATUS, and F_VDPA, on its own account). */
uint64_t bench_fe_default_pf(enum bench_kind kind);
void bench_fe_init(struct bench_fe *f, enum bench_kind kind, unsigned rings,
                   const struct bench_res *res);
void bench_fe_reset(struct bench_fe *f); /* for the next connection */
/* Builds the next request in *m (with its fds). Returns 1 and sets *reply
 * (whether an answer follows), 0 when DRIVER_OK has been acked (done), or
 * -errno with f->error. */
int bench_fe_next(struct bench_fe *f, struct vu_msg *m, bool *reply);
/* The answer to the last request (closes its fds). 0, or -errno with
 * f->error when it is a refusal or not the answer expected. */
int bench_fe_reply(struct bench_fe *f, struct vu_msg *m);

/* The scripted back-end: answers every request the front-end makes, as a
 * virtio-net back-end with the protocol features of DPDK's net_vhost that
 * the bring-up uses. Per connection. */
struct bench_be {
    uint64_t pf_acked;
    int chan_fd; /* the back-end channel, kept while connected */
    unsigned handled;
};

void bench_be_init(struct bench_be *b);
void bench_be_close(struct bench_be *b);
/* Handles one request (closing or keeping its fds); when an answer is due it
 * is built in *reply and 1 is returned, else 0. */
int bench_be_handle(struct bench_be *b, struct vu_msg *m, struct vu_msg *reply);

/* The scripted back-end as a server: a child process listening on `path`
 * (created before the fork, so it accepts as soon as this returns), serving
 * any number of connections at once, each with its own bench_be, waiting in
 * poll() as a back-end does. 0 and *pid, or -errno. */
int bench_be_serve_start(const char *path, pid_t *pid);
/* Ends the server (SIGTERM, reaped) and removes its socket. */
void bench_be_serve_stop(pid_t pid, const char *path);

/* Blocking connection helpers with a receive state (partial messages). */
struct bench_conn {
    int fd;
    struct vu_rx rx;
};

void bench_conn_init(struct bench_conn *c, int fd);
void bench_conn_close(struct bench_conn *c);
/* Sending is vu_send_blocking (transport.h): it takes m's fds. */
/* Waits up to timeout_ms for one whole message. 0, -ETIMEDOUT, -ECONNRESET, ... */
int bench_recv(struct bench_conn *c, struct vu_msg *m, int timeout_ms);

/* A whole bring-up on a connected socket: returns 0 and the time from the
 * first message to DRIVER_OK's ack in *ns; -errno with f->error. */
int bench_bringup_blocking(int fd, struct bench_fe *f, uint64_t *ns, int timeout_ms);

/* The round-trip floor: a child process answering a 20-byte request
 * (SET_VRING_NUM with NEED_REPLY) with a 20-byte ack, over a connected
 * AF_UNIX stream socket, waiting in poll() as a back-end does. */
struct bench_echo {
    pid_t pid;
    int fd;
    struct bench_conn conn;
};

int bench_echo_start(struct bench_echo *e);
/* n timed round trips appended to out[] (ns each). 0 or -errno. */
int bench_echo_measure(struct bench_echo *e, uint64_t *out, unsigned n);
void bench_echo_stop(struct bench_echo *e);

/* ---- measurement helpers ---------------------------------------------------------- */

uint64_t bench_now_ns(void);
/* Sorts v and returns the median (0 for n == 0). */
double bench_median_u64(uint64_t *v, size_t n);
double bench_median_dbl(double *v, size_t n);
/* The p-th percentile (0..100) of a sorted array. */
double bench_pct_sorted_u64(const uint64_t *v, size_t n, double p);
/* Resident set size of a process in KiB (VmRSS), or -errno. */
long bench_rss_kib(pid_t pid);
/* utime + stime of a process in clock ticks, or -errno. */
long long bench_cpu_ticks(pid_t pid);
/* Raises the soft limit on open files to at least want (up to the hard
 * limit). Returns the new soft limit or -errno. */
long bench_raise_nofile(long want);
/* Pins the calling thread (and what it execs) to one CPU; -errno. */
int bench_pin_cpu(int cpu);

#endif
