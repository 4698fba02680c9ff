/* SPDX-License-Identifier: MIT */
/* Shared parts of the benchmark harness; see bench.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "fd_util.h"
#include "msg_table.h"

/* VIRTIO feature bits the scripted front-end acks when offered. */
#define F_NET_MRG_RXBUF 15
#define F_NET_MQ        22
#define F_BLK_SEG_MAX   2
#define F_BLK_BLK_SIZE  6
#define F_BLK_FLUSH     9
#define F_VERSION_1     32

/* What the scripted back-end offers: DPDK 22.11 net_vhost's protocol
 * features (compat-matrix/net.tsv), and a plain virtio-net feature set. */
#define BE_FEATURES                                                                                \
    (VU_BIT(F_VERSION_1) | VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(F_NET_MRG_RXBUF) |              \
     VU_BIT(F_NET_MQ))
#define BE_PROTOCOL_FEATURES UINT64_C(0x10cbf)
#define BE_QUEUE_PAIRS       8u

/* ---- resources ----------------------------------------------------------------------- */

int bench_res_init(struct bench_res *r)
{
    r->mem_fd = memfd_create("vdpa-bench", MFD_CLOEXEC);
    r->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->mem_fd < 0 || r->kick_fd < 0 || r->call_fd < 0 ||
        ftruncate(r->mem_fd, BENCH_MEM_SIZE) < 0) {
        int rc = -errno;
        bench_res_close(r);
        return rc;
    }
    return 0;
}

void bench_res_close(struct bench_res *r)
{
    fd_close(&r->mem_fd);
    fd_close(&r->kick_fd);
    fd_close(&r->call_fd);
}

/* ---- the scripted front-end -------------------------------------------------------- */

enum {
    ST_GET_F,
    ST_GET_PF,
    ST_SET_PF,
    ST_OWNER,
    ST_QNUM,
    ST_BREQ,
    ST_CONFIG,
    ST_SET_F,
    ST_MEM,
    ST_RING,
    ST_ENABLE,
    ST_STATUS,
    ST_DONE
};

uint64_t bench_fe_default_pf(enum bench_kind kind)
{
    uint64_t pf = VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_BACKEND_REQ);

    /* QEMU reads blk config space; DPDK's net_vhost knows DRIVER_OK. */
    return pf | (kind == BENCH_BLK ? VU_BIT(VU_PF_CONFIG) : VU_BIT(VU_PF_STATUS));
}

void bench_fe_init(struct bench_fe *f, enum bench_kind kind, unsigned rings,
                   const struct bench_res *res)
{
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->rings = rings;
    f->want_pf = bench_fe_default_pf(kind);
    f->res = res;
    f->chan_fd = -1;
}

void bench_fe_reset(struct bench_fe *f)
{
    fd_close(&f->chan_fd);
    f->step = f->ring = f->sub = 0;
    f->features = f->pf_offered = f->pf_acked = 0;
    f->last_req = 0;
    f->sent = f->round_trips = 0;
    f->error[0] = '\0';
}

static uint64_t wanted_features(const struct bench_fe *f)
{
    uint64_t w = VU_BIT(F_VERSION_1) | VU_BIT(VU_F_PROTOCOL_FEATURES);

    if (f->kind == BENCH_NET)
        w |= VU_BIT(F_NET_MRG_RXBUF) | (f->rings > 2 ? VU_BIT(F_NET_MQ) : 0);
    else
        w |= VU_BIT(F_BLK_SEG_MAX) | VU_BIT(F_BLK_BLK_SIZE) | VU_BIT(F_BLK_FLUSH);
    return w;
}

static int dup_into(struct vu_msg *m, int fd)
{
    int copy = fd_dup_cloexec(fd);

    if (copy < 0)
        return fd < 0 ? -EBADF : copy;
    vu_msg_add_fd(m, copy);
    return 0;
}

/* Whether a step applies, from what the back-end has answered so far. */
static bool applies(const struct bench_fe *f, unsigned step)
{
    switch (step) {
    case ST_GET_PF:
    case ST_SET_PF:
        return vu_has_bit(f->features, VU_F_PROTOCOL_FEATURES);
    case ST_QNUM:
        return vu_has_bit(f->pf_acked, VU_PF_MQ);
    case ST_BREQ:
        return vu_has_bit(f->pf_acked, VU_PF_BACKEND_REQ);
    case ST_CONFIG:
        return f->kind == BENCH_BLK && vu_has_bit(f->pf_acked, VU_PF_CONFIG);
    case ST_ENABLE:
        return vu_has_bit(f->features, VU_F_PROTOCOL_FEATURES);
    case ST_STATUS:
        return vu_has_bit(f->pf_acked, VU_PF_STATUS);
    default:
        return true;
    }
}

static void advance(struct bench_fe *f)
{
    f->ring = f->sub = 0;
    f->step++;
}

static int ring_request(struct bench_fe *f, struct vu_msg *m)
{
    unsigned i = f->ring;
    uint64_t base = BENCH_MEM_UADDR + BENCH_RING_BASE + (uint64_t)BENCH_RING_SPAN * i;
    struct vu_vring_addr a = {
        .index = i,
        .desc_user_addr = base,
        .avail_user_addr = base + 0x1000,
        .used_user_addr = base + 0x2000,
    };
    int rc = 0;

    switch (f->sub) {
    case 0:
        vu_msg_init(m, VU_REQ_SET_VRING_NUM, 0);
        vu_msg_set_state(m, i, BENCH_RING_SIZE);
        break;
    case 1:
        vu_msg_init(m, VU_REQ_SET_VRING_BASE, 0);
        vu_msg_set_state(m, i, 0);
        break;
    case 2:
        vu_msg_init(m, VU_REQ_SET_VRING_ADDR, 0);
        vu_msg_set_addr(m, &a);
        break;
    case 3:
        vu_msg_init(m, VU_REQ_SET_VRING_KICK, 0);
        vu_msg_set_u64(m, i);
        rc = dup_into(m, f->res->kick_fd);
        break;
    default:
        vu_msg_init(m, VU_REQ_SET_VRING_CALL, 0);
        vu_msg_set_u64(m, i);
        rc = dup_into(m, f->res->call_fd);
        break;
    }
    if (++f->sub == 5) {
        f->sub = 0;
        if (++f->ring == f->rings)
            advance(f);
    }
    return rc;
}

int bench_fe_next(struct bench_fe *f, struct vu_msg *m, bool *reply)
{
    struct vu_mem_region region = {
        .guest_phys_addr = 0,
        .memory_size = BENCH_MEM_SIZE,
        .userspace_addr = BENCH_MEM_UADDR,
    };
    const struct vu_msg_desc *d;
    unsigned step;
    int sv[2], rc = 0;

    if (f->rings == 0 || f->rings > BENCH_MAX_RINGS) {
        snprintf(f->error, sizeof(f->error), "%u rings: 1..%u", f->rings, BENCH_MAX_RINGS);
        return -EINVAL;
    }
    /* steps are skipped only now: whether they apply depends on replies */
    while (f->step < ST_DONE && !applies(f, f->step))
        advance(f);
    step = f->step;
    switch (step) {
    case ST_GET_F:
        vu_msg_init(m, VU_REQ_GET_FEATURES, 0);
        break;
    case ST_GET_PF:
        vu_msg_init(m, VU_REQ_GET_PROTOCOL_FEATURES, 0);
        break;
    case ST_SET_PF:
        /* REPLY_ACK is required: without it a step's end cannot be seen. */
        if (!vu_has_bit(f->pf_offered, VU_PF_REPLY_ACK)) {
            snprintf(f->error, sizeof(f->error), "the back-end lacks REPLY_ACK (offers 0x%llx)",
                     (unsigned long long)f->pf_offered);
            return -EPROTO;
        }
        f->pf_acked = f->pf_offered & f->want_pf;
        vu_msg_init(m, VU_REQ_SET_PROTOCOL_FEATURES, 0);
        vu_msg_set_u64(m, f->pf_acked);
        break;
    case ST_OWNER:
        vu_msg_init(m, VU_REQ_SET_OWNER, 0);
        break;
    case ST_QNUM:
        vu_msg_init(m, VU_REQ_GET_QUEUE_NUM, 0);
        break;
    case ST_BREQ:
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            return -errno;
        fd_replace(&f->chan_fd, sv[0]);
        vu_msg_init(m, VU_REQ_SET_BACKEND_REQ_FD, 0);
        vu_msg_add_fd(m, sv[1]);
        break;
    case ST_CONFIG:
        vu_msg_init(m, VU_REQ_GET_CONFIG, 0);
        vu_msg_set_config(m, 0, BENCH_BLK_CONFIG_SIZE, 0, NULL);
        break;
    case ST_SET_F:
        vu_msg_init(m, VU_REQ_SET_FEATURES, 0);
        vu_msg_set_u64(m, f->features & wanted_features(f));
        break;
    case ST_MEM:
        vu_msg_init(m, VU_REQ_SET_MEM_TABLE, 0);
        vu_msg_set_mem_table(m, &region, 1);
        rc = dup_into(m, f->res->mem_fd);
        break;
    case ST_RING:
        rc = ring_request(f, m);
        break;
    case ST_ENABLE:
        vu_msg_init(m, VU_REQ_SET_VRING_ENABLE, 0);
        vu_msg_set_state(m, f->ring, 1);
        if (++f->ring == f->rings)
            advance(f);
        break;
    case ST_STATUS:
        vu_msg_init(m, VU_REQ_SET_STATUS, 0);
        vu_msg_set_u64(m, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                              VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
        break;
    default:
        return 0;
    }
    if (rc) {
        vu_msg_close_fds(m);
        snprintf(f->error, sizeof(f->error), "cannot duplicate an fd: %s", strerror(-rc));
        return rc;
    }
    if (step != ST_RING && step != ST_ENABLE)
        advance(f);
    d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m->hdr.request);
    *reply = d && d->reply == VU_REPLY_ALWAYS;
    /* Every acked step carries NEED_REPLY once REPLY_ACK is on (not the
     * message that turns it on, as a legacy front-end does). */
    if (d && d->reply == VU_REPLY_ACK && step != ST_SET_PF &&
        vu_has_bit(f->pf_acked, VU_PF_REPLY_ACK)) {
        m->hdr.flags |= VU_FLAG_NEED_REPLY;
        *reply = true;
    }
    f->last_req = m->hdr.request;
    f->sent++;
    f->round_trips += *reply;
    return 1;
}

int bench_fe_reply(struct bench_fe *f, struct vu_msg *m)
{
    const char *name = vu_request_name(VU_CHAN_FRONTEND, f->last_req);
    uint64_t v = m->payload.u64;
    uint32_t pairs;

    vu_msg_close_fds(m);
    if (m->hdr.request != f->last_req || !(m->hdr.flags & VU_FLAG_REPLY)) {
        snprintf(f->error, sizeof(f->error), "expected the answer to %s, got request %u flags 0x%x",
                 name, m->hdr.request, m->hdr.flags);
        return -EPROTO;
    }
    switch (f->last_req) {
    case VU_REQ_GET_CONFIG:
        if (m->hdr.size != VU_CONFIG_HDR_SIZE + BENCH_BLK_CONFIG_SIZE) {
            snprintf(f->error, sizeof(f->error), "GET_CONFIG refused (reply of %u bytes)",
                     m->hdr.size);
            return -EPROTO;
        }
        return 0;
    default:
        break;
    }
    if (m->hdr.size != sizeof(uint64_t)) {
        snprintf(f->error, sizeof(f->error), "%s: reply of %u bytes", name, m->hdr.size);
        return -EPROTO;
    }
    switch (f->last_req) {
    case VU_REQ_GET_FEATURES:
        f->features = v;
        return 0;
    case VU_REQ_GET_PROTOCOL_FEATURES:
        f->pf_offered = v;
        return 0;
    case VU_REQ_GET_QUEUE_NUM:
        pairs = f->kind == BENCH_NET ? (f->rings + 1) / 2 : f->rings;
        if (v < pairs) {
            snprintf(f->error, sizeof(f->error), "the back-end serves %llu queue(s), %u needed",
                     (unsigned long long)v, pairs);
            return -ERANGE;
        }
        return 0;
    default:
        if (v != 0) {
            snprintf(f->error, sizeof(f->error), "%s refused (%llu)", name, (unsigned long long)v);
            return -EPROTO;
        }
        return 0;
    }
}

/* ---- the scripted back-end ----------------------------------------------------------- */

void bench_be_init(struct bench_be *b)
{
    memset(b, 0, sizeof(*b));
    b->chan_fd = -1;
}

void bench_be_close(struct bench_be *b)
{
    fd_close(&b->chan_fd);
    b->pf_acked = 0;
}

int bench_be_handle(struct bench_be *b, struct vu_msg *m, struct vu_msg *reply)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m->hdr.request);
    uint32_t req = m->hdr.request;

    b->handled++;
    if (req == VU_REQ_SET_BACKEND_REQ_FD && m->nfds == 1) {
        /* a back-end keeps its channel for the session */
        fd_replace(&b->chan_fd, fd_take(&m->fds[0]));
        m->nfds = 0;
    }
    if (req == VU_REQ_SET_PROTOCOL_FEATURES && m->hdr.size == sizeof(uint64_t))
        b->pf_acked = m->payload.u64 & BE_PROTOCOL_FEATURES;
    vu_msg_close_fds(m); /* memfd, eventfds: not used by a scripted back-end */
    vu_msg_init(reply, req, VU_FLAG_REPLY);
    switch (req) {
    case VU_REQ_GET_FEATURES:
        vu_msg_set_u64(reply, BE_FEATURES);
        return 1;
    case VU_REQ_GET_PROTOCOL_FEATURES:
        vu_msg_set_u64(reply, BE_PROTOCOL_FEATURES);
        return 1;
    case VU_REQ_GET_QUEUE_NUM:
        vu_msg_set_u64(reply, BE_QUEUE_PAIRS);
        return 1;
    case VU_REQ_GET_STATUS:
        vu_msg_set_u64(reply, 0xf);
        return 1;
    case VU_REQ_GET_VRING_BASE:
        vu_msg_set_state(reply, m->payload.state.index, 0);
        return 1;
    case VU_REQ_GET_CONFIG:
        vu_msg_set_config(reply, m->payload.config.offset, m->payload.config.size, 0, NULL);
        return 1;
    default:
        break;
    }
    if (d && d->reply == VU_REPLY_ALWAYS) {
        vu_msg_set_u64(reply, 0);
        return 1;
    }
    if (d && d->reply == VU_REPLY_ACK && (m->hdr.flags & VU_FLAG_NEED_REPLY) &&
        vu_has_bit(b->pf_acked, VU_PF_REPLY_ACK)) {
        vu_msg_set_u64(reply, 0);
        return 1;
    }
    return 0;
}

/* ---- the scripted back-end as a server -------------------------------------------- */

#define SERVE_MAX_CONNS 64

static void serve_child(int lfd)
{
    static struct bench_conn conns[SERVE_MAX_CONNS];
    static struct bench_be bes[SERVE_MAX_CONNS];
    struct pollfd p[SERVE_MAX_CONNS + 1];
    unsigned n = 0;

    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        p[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
        for (unsigned i = 0; i < n; i++)
            p[i + 1] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
        if (poll(p, n + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        for (unsigned i = n; i-- > 0;) {
            struct vu_msg m, reply;
            int rc;
            if (!p[i + 1].revents)
                continue;
            while ((rc = vu_recv(conns[i].fd, &conns[i].rx, &m)) == 1) {
                if (bench_be_handle(&bes[i], &m, &reply) == 1 &&
                    (rc = vu_send_blocking(conns[i].fd, &reply)) < 0)
                    break;
            }
            if (rc < 0) {
                /* the peer went: drop its session, keep the slots packed */
                bench_conn_close(&conns[i]);
                bench_be_close(&bes[i]);
                conns[i] = conns[n - 1];
                bes[i] = bes[n - 1];
                n--;
            }
        }
        if (p[0].revents & POLLIN) {
            int fd = vu_accept(lfd);
            if (fd < 0)
                continue;
            if (n == SERVE_MAX_CONNS) { /* accepted non-blocking */
                close(fd);
                continue;
            }
            bench_conn_init(&conns[n], fd);
            bench_be_init(&bes[n]);
            n++;
        }
    }
}

int bench_be_serve_start(const char *path, pid_t *pid)
{
    int lfd = vu_listen_unix(path, 0600);

    if (lfd < 0)
        return lfd;
    *pid = fork();
    if (*pid < 0) {
        int rc = -errno;
        close(lfd);
        unlink(path);
        return rc;
    }
    if (*pid == 0)
        serve_child(lfd);
    close(lfd);
    return 0;
}

void bench_be_serve_stop(pid_t pid, const char *path)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    if (path)
        unlink(path);
}

/* ---- blocking I/O ---------------------------------------------------------------------- */

void bench_conn_init(struct bench_conn *c, int fd)
{
    c->fd = fd;
    vu_rx_init(&c->rx);
}

void bench_conn_close(struct bench_conn *c)
{
    vu_rx_clear(&c->rx);
    fd_close(&c->fd);
}

int bench_recv(struct bench_conn *c, struct vu_msg *m, int timeout_ms)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;

    for (;;) {
        int rc = vu_recv(c->fd, &c->rx, m);
        if (rc == 1)
            return 0;
        if (rc < 0)
            return rc;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        int wait = -1;
        if (timeout_ms >= 0) {
            uint64_t now = bench_now_ns();
            if (now >= deadline)
                return -ETIMEDOUT;
            wait = (int)((deadline - now + 999999) / 1000000);
        }
        if (poll(&p, 1, wait) < 0 && errno != EINTR)
            return -errno;
    }
}

int bench_bringup_blocking(int fd, struct bench_fe *f, uint64_t *ns, int timeout_ms)
{
    struct bench_conn c;
    struct vu_msg m;
    uint64_t t0 = bench_now_ns();
    bool reply;
    int rc;

    bench_conn_init(&c, fd);
    while ((rc = bench_fe_next(f, &m, &reply)) == 1) {
        unsigned k = f->sent - 1;
        uint64_t ts = bench_now_ns();
        rc = vu_send_blocking(fd, &m);
        if (rc == 0 && reply) {
            rc = bench_recv(&c, &m, timeout_ms);
            if (rc == 0)
                rc = bench_fe_reply(f, &m);
            else
                snprintf(f->error, sizeof(f->error), "no answer to %s: %s",
                         vu_request_name(VU_CHAN_FRONTEND, f->last_req), strerror(-rc));
        } else if (rc) {
            snprintf(f->error, sizeof(f->error), "sending %s: %s",
                     vu_request_name(VU_CHAN_FRONTEND, f->last_req), strerror(-rc));
        }
        if (k < BENCH_MAX_STEPS) {
            f->step_req[k] = f->last_req;
            f->step_ns[k] = bench_now_ns() - ts;
        }
        if (rc)
            break;
    }
    *ns = bench_now_ns() - t0;
    vu_rx_clear(&c.rx); /* the socket stays the caller's */
    return rc;
}

/* ---- the round-trip floor ---------------------------------------------------------- */

static void echo_child(int fd)
{
    struct bench_conn c;
    struct vu_msg m, ack;

    bench_conn_init(&c, fd);
    while (bench_recv(&c, &m, -1) == 0) {
        vu_msg_close_fds(&m);
        vu_msg_init(&ack, m.hdr.request, VU_FLAG_REPLY);
        vu_msg_set_u64(&ack, 0);
        if (vu_send_blocking(fd, &ack))
            break;
    }
    _exit(0);
}

int bench_echo_start(struct bench_echo *e)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    e->pid = fork();
    if (e->pid < 0) {
        int rc = -errno;
        close(sv[0]);
        close(sv[1]);
        return rc;
    }
    if (e->pid == 0) {
        close(sv[0]);
        echo_child(sv[1]);
    }
    close(sv[1]);
    e->fd = sv[0];
    bench_conn_init(&e->conn, sv[0]);
    return 0;
}

int bench_echo_measure(struct bench_echo *e, uint64_t *out, unsigned n)
{
    struct vu_msg m;

    for (unsigned i = 0; i < n; i++) {
        uint64_t t0 = bench_now_ns();
        int rc;
        vu_msg_init(&m, VU_REQ_SET_VRING_NUM, VU_FLAG_NEED_REPLY);
        vu_msg_set_state(&m, 0, BENCH_RING_SIZE);
        rc = vu_send_blocking(e->fd, &m);
        if (rc == 0)
            rc = bench_recv(&e->conn, &m, 1000);
        if (rc)
            return rc;
        out[i] = bench_now_ns() - t0;
    }
    return 0;
}

void bench_echo_stop(struct bench_echo *e)
{
    bench_conn_close(&e->conn);
    if (e->pid > 0) {
        waitpid(e->pid, NULL, 0); /* EOF ends the child */
        e->pid = 0;
    }
}

/* ---- measurement helpers ---------------------------------------------------------- */

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median_u64(uint64_t *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_u64);
    return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

double bench_median_dbl(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_dbl);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double bench_pct_sorted_u64(const uint64_t *v, size_t n, double p)
{
    size_t i;

    if (n == 0)
        return 0;
    i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return (double)v[i < n ? i : n - 1];
}

long bench_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -ENOENT;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

long long bench_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long ut, st;
    const char *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    /* fields after the command name, which may hold spaces: state is 3 */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -EIO;
    return (long long)(ut + st);
}

long bench_raise_nofile(long want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    if ((long)rl.rlim_cur < want) {
        rl.rlim_cur = (rlim_t)want;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
            rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return -errno;
    }
    return (long)rl.rlim_cur;
}

int bench_pin_cpu(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}
