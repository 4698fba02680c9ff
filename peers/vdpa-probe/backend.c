/* SPDX-License-Identifier: MIT */
/*
 * --listen: the probe is a permissive legacy vhost-user back-end of one
 * device type for one live front-end connection, and records every request
 * the front-end sends (which, and the order of first use).
 *
 * Permissive: it offers what a typical back-end of the type offers, answers
 * every query with a plausible value, acknowledges everything (NEED_REPLY:
 * u64 0) and never touches guest memory; received fds are closed at once.
 * It ends when the front-end disconnects or stays silent for --idle-ms.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "transport.h"
#include "virtio.h"
#include "vdpa-probe/probe.h"

#define VHOST_F_LOG_ALL      26
#define BLK_CAPACITY_SECTORS ((64u << 20) / VIRTIO_BLK_SECTOR_SIZE)
#define MAX_MEM_SLOTS        8u

struct be_state {
    const struct vs_device_type *t;
    uint64_t features;          /* offered */
    uint64_t protocol_features; /* offered */
    uint64_t status;            /* the last SET_STATUS */
    uint8_t config[VU_MAX_CONFIG_SIZE];
    uint64_t acked_pf; /* what the front-end's SET_PROTOCOL_FEATURES acked */
    const struct probe_opts *opts;
    unsigned raw_seq;
};

static bool is_type(const struct vs_device_type *t, const char *name)
{
    return strcmp(t->name, name) == 0;
}

static uint64_t type_features(const struct vs_device_type *t)
{
    uint64_t f = VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VU_F_PROTOCOL_FEATURES) |
                 VU_BIT(VIRTIO_F_INDIRECT_DESC) | VU_BIT(VIRTIO_F_EVENT_IDX) |
                 VU_BIT(VHOST_F_LOG_ALL);

    if (is_type(t, "net"))
        f |= VU_BIT(VIRTIO_NET_F_CSUM) | VU_BIT(VIRTIO_NET_F_GUEST_CSUM) |
             VU_BIT(VIRTIO_NET_F_GUEST_TSO4) | VU_BIT(VIRTIO_NET_F_GUEST_TSO6) |
             VU_BIT(VIRTIO_NET_F_HOST_TSO4) | VU_BIT(VIRTIO_NET_F_HOST_TSO6) |
             VU_BIT(VIRTIO_NET_F_MRG_RXBUF) | VU_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE);
    else if (is_type(t, "blk"))
        f |= VU_BIT(VIRTIO_BLK_F_SIZE_MAX) | VU_BIT(VIRTIO_BLK_F_SEG_MAX) |
             VU_BIT(VIRTIO_BLK_F_BLK_SIZE) | VU_BIT(VIRTIO_BLK_F_FLUSH) | VU_BIT(VIRTIO_BLK_F_MQ);
    return f;
}

/* The protocol features a back-end of the type has a use for: config space
 * only where the VMM reads it from the back-end (QEMU 7.2's blk, gpio, gpu,
 * input and vsock front-ends and QEMU 10.0's sound front-end refuse a
 * back-end without it), in-flight tracking only for blk. */
static uint64_t type_protocol_features(const struct vs_device_type *t)
{
    uint64_t pf = VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_REPLY_ACK) |
                  VU_BIT(VU_PF_BACKEND_REQ) | VU_BIT(VU_PF_CONFIGURE_MEM_SLOTS) |
                  VU_BIT(VU_PF_STATUS);

    if (is_type(t, "blk"))
        pf |= VU_BIT(VU_PF_CONFIG) | VU_BIT(VU_PF_INFLIGHT_SHMFD);
    else if (is_type(t, "gpio") || is_type(t, "gpu") || is_type(t, "input") ||
             is_type(t, "sound") || is_type(t, "vsock"))
        pf |= VU_BIT(VU_PF_CONFIG);
    return pf;
}

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void be_init(struct be_state *st, const struct vs_device_type *t)
{
    memset(st, 0, sizeof(*st));
    st->t = t;
    st->features = type_features(t);
    st->protocol_features = type_protocol_features(t);
    if (is_type(t, "blk")) {
        put_le(st->config + VIRTIO_BLK_CFG_CAPACITY, BLK_CAPACITY_SECTORS, 8);
        put_le(st->config + 8, 65536, 4); /* size_max */
        put_le(st->config + VIRTIO_BLK_CFG_SEG_MAX, 126, 4);
        put_le(st->config + VIRTIO_BLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR_SIZE, 4);
        put_le(st->config + VIRTIO_BLK_CFG_NUM_QUEUES, 1, 2);
    }
}

static uint64_t queue_num(const struct vs_device_type *t)
{
    return t->queue_num_is_pairs ? 1 : t->default_queues;
}

/* ---- replies ----------------------------------------------------------------------- */

static int reply_u64(int sock, const struct vu_msg *req, uint64_t v)
{
    struct vu_msg reply;

    vu_msg_make_reply(&reply, req);
    vu_msg_set_u64(&reply, v);
    return vu_send_blocking(sock, &reply);
}

static int reply_empty(int sock, const struct vu_msg *req)
{
    struct vu_msg reply;

    vu_msg_make_reply(&reply, req);
    return vu_send_blocking(sock, &reply);
}

static int reply_config(struct be_state *st, int sock, const struct vu_msg *req)
{
    struct vu_msg reply;
    const struct vu_config *c = &req->payload.config;

    if (req->hdr.size < VU_CONFIG_HDR_SIZE || c->size > VU_MAX_CONFIG_SIZE ||
        c->offset > VU_MAX_CONFIG_SIZE - c->size)
        return reply_empty(sock, req); /* the spec's failure reply */
    vu_msg_make_reply(&reply, req);
    vu_msg_set_config(&reply, c->offset, c->size, c->flags, st->config + c->offset);
    return vu_send_blocking(sock, &reply);
}

/* A memfd of the size the request's queues need (16 bytes of header and
 * 16 per descriptor per queue, 64-byte aligned, as libvhost-user lays it). */
static int reply_inflight(int sock, const struct vu_msg *req)
{
    struct vu_inflight in;
    struct vu_msg reply;
    uint64_t per_queue, size;
    int fd;

    if (vu_msg_get_payload(req, &in, sizeof(in)) || in.num_queues == 0 || in.queue_size == 0 ||
        in.queue_size > VQ_MAX_SIZE)
        return reply_empty(sock, req);
    per_queue = (16u + 16u * (uint64_t)in.queue_size + 63u) & ~UINT64_C(63);
    size = (per_queue * in.num_queues + 4095u) & ~UINT64_C(4095);
    fd = memfd_create("vdpa-probe-inflight", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        vs_warn("GET_INFLIGHT_FD: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return reply_empty(sock, req);
    }
    in.mmap_size = size;
    in.mmap_offset = 0;
    vu_msg_make_reply(&reply, req);
    vu_msg_set_payload(&reply, &in, sizeof(in));
    vu_msg_add_fd(&reply, fd);
    return vu_send_blocking(sock, &reply);
}

/* The request's own reply, for requests that have one. */
static int answer(struct be_state *st, int sock, const struct vu_msg *m,
                  const struct vu_msg_desc *d)
{
    struct vu_msg reply;

    switch (m->hdr.request) {
    case VU_REQ_GET_FEATURES:
        return reply_u64(sock, m, st->features);
    case VU_REQ_GET_PROTOCOL_FEATURES:
        return reply_u64(sock, m, st->protocol_features);
    case VU_REQ_GET_QUEUE_NUM:
        return reply_u64(sock, m, queue_num(st->t));
    case VU_REQ_GET_MAX_MEM_SLOTS:
        return reply_u64(sock, m, MAX_MEM_SLOTS);
    case VU_REQ_GET_STATUS:
        return reply_u64(sock, m, st->status);
    case VU_REQ_GET_CONFIG:
        return reply_config(st, sock, m);
    case VU_REQ_GET_INFLIGHT_FD:
        return reply_inflight(sock, m);
    case VU_REQ_GET_VRING_BASE:
        vu_msg_make_reply(&reply, m);
        vu_msg_set_state(
            &reply, m->hdr.size == sizeof(struct vu_vring_state) ? m->payload.state.index : 0, 0);
        return vu_send_blocking(sock, &reply);
    default:
        /* Anything else with a reply of its own: success where the reply is
         * a u64 (SET_LOG_BASE, POSTCOPY_END, ...), the empty failure reply
         * where it is a structure this probe does not fill in. */
        if (d->reply_size.rule == VU_SIZE_EXACT && d->reply_size.min == sizeof(uint64_t))
            return reply_u64(sock, m, 0);
        return reply_empty(sock, m);
    }
}

/* --raw-dir: the request as tests/fuzz/fuzz_message.c reads it: channel,
 * fd count, negotiated protocol features (le64), ring limit, config size / 2,
 * then the wire bytes. */
static void write_raw(struct be_state *st, const struct vu_msg *m)
{
    uint8_t buf[12 + VU_HDR_SIZE + VU_MAX_PAYLOAD] = { 0 };
    char path[512], column[128];
    uint64_t pf = htole64(st->acked_pf);
    FILE *f;

    if (!st->opts->raw_dir)
        return;
    snprintf(column, sizeof(column), "%s", st->opts->column);
    for (char *c = column; *c; c++)
        if (*c == ':' || *c == '/')
            *c = '_';
    snprintf(path, sizeof(path), "%s/%s-%s-%03u", st->opts->raw_dir, st->t->name, column,
             st->raw_seq++);
    buf[1] = (uint8_t)m->nfds;
    memcpy(buf + 2, &pf, 8);
    buf[11] = (uint8_t)(st->t->config_size / 2);
    vu_hdr_encode(&m->hdr, buf + 12);
    memcpy(buf + 12 + VU_HDR_SIZE, m->payload.bytes, m->hdr.size);
    f = fopen(path, "we");
    if (!f || fwrite(buf, 1, 12 + VU_HDR_SIZE + m->hdr.size, f) != 12 + VU_HDR_SIZE + m->hdr.size)
        vs_warn("cannot write %s", path);
    if (f)
        fclose(f);
}

/* Handles one request; 0, or -errno when the connection is unusable. */
static int handle(struct be_state *st, struct records *r, int sock, struct vu_msg *m)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m->hdr.request);
    uint64_t v;
    int rc = 0;

    write_raw(st, m);
    if (m->hdr.request == VU_REQ_SET_PROTOCOL_FEATURES)
        vu_msg_get_u64(m, &st->acked_pf);
    vu_msg_close_fds(m); /* nothing here uses memory, eventfds or channels */
    if (!d) {
        vs_warn("the front-end sent unknown request %u; acknowledged, not recorded",
                m->hdr.request);
        return (m->hdr.flags & VU_FLAG_NEED_REPLY) ? reply_u64(sock, m, 0) : 0;
    }
    vs_info("<- %s flags 0x%x size %u", d->name, m->hdr.flags, m->hdr.size);
    rec_sent(r, m->hdr.request);
    if (m->hdr.request == VU_REQ_SET_STATUS && vu_msg_get_u64(m, &v) == 0)
        st->status = v & 0xff;
    if (d->reply == VU_REPLY_ALWAYS)
        return answer(st, sock, m, d);
    if (m->hdr.flags & VU_FLAG_NEED_REPLY)
        rc = reply_u64(sock, m, 0);
    return rc;
}

/* ---- the connection --------------------------------------------------------------- */

static int accept_one(int lfd, int timeout_ms)
{
    struct pollfd p = { .fd = lfd, .events = POLLIN };
    int n;

    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -ETIMEDOUT;
    return vu_accept(lfd);
}

int probe_frontend(const struct probe_opts *o, struct records *r)
{
    struct be_state st;
    struct vu_msg m;
    int lfd, sock, rc;

    be_init(&st, o->type);
    st.opts = o;
    lfd = vu_listen_unix(o->listen_path, 0600);
    if (lfd < 0) {
        vs_err("cannot listen on %s: %s", o->listen_path, strerror(-lfd));
        return lfd == -ENOMEM ? lfd : -EADDRNOTAVAIL;
    }
    sock = accept_one(lfd, o->accept_ms);
    close(lfd);
    unlink(o->listen_path);
    if (sock < 0) {
        vs_err("no front-end connected to %s: %s", o->listen_path, strerror(-sock));
        return sock;
    }
    for (;;) {
        rc = vu_recv_blocking(sock, &m, o->idle_ms);
        if (rc == -ETIMEDOUT) {
            vs_info("no request for %d ms: done", o->idle_ms);
            break;
        }
        if (rc == -ECONNRESET) {
            vs_info("the front-end disconnected");
            break;
        }
        if (rc < 0) {
            vs_warn("receive failed: %s; ending the session", strerror(-rc));
            break;
        }
        if (handle(&st, r, sock, &m)) {
            vs_info("cannot reply: the front-end has gone");
            break;
        }
    }
    close(sock);
    return 0;
}
