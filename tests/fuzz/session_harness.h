/* SPDX-License-Identifier: MIT */
/*
 * A whole session of the shim, driven by bytes: the relay (shim/relay.c) on
 * its own libuv loop in this process, a front-end and a back-end played by
 * the harness over real sockets, with real fds (a guest-memory memfd the
 * input fills, eventfds for kicks and calls, socketpairs for the back-end
 * channel). Whatever the input, the session goes through the same code as
 * in the shim: validation, pass-through, up-conversion (a legacy front-end
 * and a vdpa-user back-end), down-conversion (a vdpa-user front-end and a
 * legacy back-end, with the virtio-net control queue served from the guest
 * memory the input writes).
 *
 * Used by tests/fuzz/fuzz_session.c (libFuzzer) and by the regression tests
 * (tests/unit/test_regressions.c) that replay what it found, in the normal
 * build. Header-only, static functions, so each binary stays one file.
 *
 * Input:
 *   byte 0      device: bits 0-1 type (net, blk, fs, net), bit 2 mac= and
 *               mtu=, bit 3 queue-pairs=2 / num-queues=2, bit 4 blk
 *               capacity= / fs tag=, bits 5-6 guest memory 16 KiB << n
 *   bytes 1-20  the back-end's persona, for op 5: features (le64),
 *               protocol features (le64), GET_QUEUE_NUM, VDPA_GET_DEVICE_ID,
 *               VDPA_GET_VQS_COUNT, VDPA_GET_CONFIG_SIZE (a byte each)
 *   then ops, at most FZ_MAX_OPS, each an op byte (taken modulo 13):
 *     0-3  a message from the front-end (main socket), the back-end (main),
 *          the front-end's end of the back-end channel, the back-end's end:
 *          fd count (a byte, modulo 11), the 12-byte header, the payload
 *          (header.size bytes, or what is left of the input). The fds are
 *          the guest memfd for memory requests, a socketpair end for
 *          SET_BACKEND_REQ_FD (the harness keeps the other as the channel),
 *          an eventfd otherwise (a kick's is kept for op 8).
 *     4    the back-end answers the oldest request it owes an answer with a
 *          value (le64), in the shape the table gives the reply
 *     5    the back-end answers everything it owes, as its persona would,
 *          until the shim asks nothing more
 *     6    the front-end answers the oldest back-end-channel request it owes
 *          an answer (a byte: the ack value)
 *     7    writes guest memory: offset (le16, modulo the size), length (a
 *          byte), the bytes
 *     8    kicks the ring (a byte) through the kick eventfd the front-end gave
 *     9    the back-end signals the config-call eventfd the shim gave it
 *    10    closes a peer's socket (a byte, modulo 4: as ops 0-3)
 *    11    a front-end connects again (after the session ended)
 *    12    the front-end resizes its guest memory file (a byte: the new size
 *          in 4 KiB pages, modulo the pages it had plus one), as a hostile
 *          front-end may after the shim mapped it
 *   Between ops the loop runs until nothing moves, and whatever the shim
 *   sent to either peer is read (a request owing an answer is noted).
 *
 * At the end every socket is closed, the relay destroyed and the loop run
 * until it has no handle left; then the process must hold exactly the fds it
 * held before the input. fz_session_run returns 0, or -1 after printing what
 * was left behind (the fuzzer aborts on it, a regression test fails).
 */
#ifndef VDPA_SHIM_FUZZ_SESSION_HARNESS_H
#define VDPA_SHIM_FUZZ_SESSION_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "../unit/fdcount.h"
#include "cli.h"
#include "log.h"
#include "msg_table.h"
#include "relay.h"
#include "transport.h"

#define FZ_HEADER 21
#define FZ_MAX_OPS 256
#define FZ_MAX_OWED 128
#define FZ_SEND_FDS 10

enum { FZ_FE, FZ_BE, FZ_FE_CHAN, FZ_BE_CHAN, FZ_SIDES };

struct fz_owed {
    uint32_t request, index, cfg_offset, cfg_size;
};

struct fz_persona {
    uint64_t features, protocol_features;
    uint8_t queues, device_id, vqs, config_size;
};

struct fz_session {
    uv_loop_t loop;
    bool loop_open;
    struct vs_relay *relay;
    struct vs_device_config cfg;
    int sock[FZ_SIDES];               /* the harness's ends, -1 when closed */
    struct vu_rx rx[FZ_SIDES];
    int guest;                        /* guest memory (memfd) */
    size_t guest_size;
    int kick[VU_MAX_QUEUES];          /* the front-end's kick eventfds */
    int config_call;                  /* the eventfd the shim gave the back-end */
    struct fz_owed be_owed[FZ_MAX_OWED];  /* requests the back-end must answer */
    unsigned be_head, be_count;
    uint32_t chan_owed[FZ_MAX_OWED];  /* back-end-channel requests the front-end must answer */
    unsigned chan_head, chan_count;
    uint8_t be_status;                /* what the shim last wrote to SET_STATUS */
    uint64_t fe_status;               /* the last GET_STATUS answer the front-end got */
    struct fz_persona persona;
};

/* Per process: a directory for the sockets and the back-end's listening
 * socket (the relay connects to it). */
static char fz_dir[64];
static int fz_be_listen = -1;

static void fz_cleanup_dir(void)
{
    char path[128];

    if (fz_be_listen >= 0)
        close(fz_be_listen);
    fz_be_listen = -1;
    snprintf(path, sizeof(path), "%s/be.sock", fz_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/fe.sock", fz_dir);
    unlink(path);
    rmdir(fz_dir);
}

static int fz_init_once(void)
{
    char path[128];
    const char *level = getenv("FZ_SESSION_LOG");
    enum vs_log_level lv = VS_LOG_ERROR;

    uv_loop_t warm;

    if (fz_be_listen >= 0)
        return 0;
    signal(SIGPIPE, SIG_IGN);
    /* libuv opens a process-wide pipe (signal handling) with the first
     * loop, for good: not the shim's fds */
    if (uv_loop_init(&warm) == 0)
        uv_loop_close(&warm);
    if (level && vs_log_level_parse(level, &lv) == 0)
        vs_log_set_level(lv);
    else
        vs_log_set_level(VS_LOG_ERROR);
    snprintf(fz_dir, sizeof(fz_dir), "/tmp/vdpa-shim-fuzz.XXXXXX");
    if (!mkdtemp(fz_dir))
        return -errno;
    snprintf(path, sizeof(path), "%s/be.sock", fz_dir);
    fz_be_listen = vu_listen_unix(path, 0600);
    if (fz_be_listen < 0) {
        errno = -fz_be_listen;
        rmdir(fz_dir);
        return -errno;
    }
    atexit(fz_cleanup_dir);
    return 0;
}

/* The reference config space the persona answers GET_CONFIG from: a net
 * layout (mac, status, pairs, mtu 1500) that reads as a large blk capacity. */
static uint8_t fz_config_byte(uint32_t i)
{
    static const uint8_t net[] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x01, 0x00,
                                   0x01, 0x00, 0xdc, 0x05 };

    return i < sizeof(net) ? net[i] : (uint8_t)(i * 7);
}

static uint64_t fz_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void fz_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void fz_close_side(struct fz_session *s, int side)
{
    fz_close(&s->sock[side]);
    vu_rx_clear(&s->rx[side]);
    vu_rx_init(&s->rx[side]);
    if (side == FZ_BE)
        s->be_head = s->be_count = 0;
    if (side == FZ_FE_CHAN)
        s->chan_head = s->chan_count = 0;
}

/* A message the shim sent to the back-end: note what it must answer and
 * keep the fds the back-end uses later. */
static void fz_backend_got(struct fz_session *s, struct vu_msg *m)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m->hdr.request);

    switch (m->hdr.request) {
    case VU_REQ_SET_BACKEND_REQ_FD:
        if (m->nfds) {
            fz_close_side(s, FZ_BE_CHAN);
            s->sock[FZ_BE_CHAN] = m->fds[0];
            vu_set_nonblocking(m->fds[0], true);
            m->fds[0] = -1;
        }
        break;
    case VU_REQ_VDPA_SET_CONFIG_CALL:
        if (m->nfds) {
            fz_close(&s->config_call);
            s->config_call = m->fds[0];
            m->fds[0] = -1;
        }
        break;
    case VU_REQ_SET_STATUS:
        s->be_status = (uint8_t)m->payload.u64;
        break;
    default:
        break;
    }
    if (d && (d->reply == VU_REPLY_ALWAYS || (m->hdr.flags & VU_FLAG_NEED_REPLY)) &&
        s->be_count < FZ_MAX_OWED) {
        struct fz_owed *o = &s->be_owed[(s->be_head + s->be_count++) % FZ_MAX_OWED];
        o->request = m->hdr.request;
        o->index = m->payload.state.index;
        o->cfg_offset = m->payload.config.offset;
        o->cfg_size = m->payload.config.size;
    }
}

/* Reads what the shim sent to every peer; true when anything came. */
static bool fz_drain(struct fz_session *s)
{
    bool any = false;

    if (s->sock[FZ_BE] < 0) {
        int fd = accept4(fz_be_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            fz_close_side(s, FZ_BE);
            s->sock[FZ_BE] = fd;
            any = true;
        }
    }
    for (int side = 0; side < FZ_SIDES; side++) {
        for (int n = 0; s->sock[side] >= 0 && n < 256; n++) {
            struct vu_msg m;
            int rc = vu_recv(s->sock[side], &s->rx[side], &m);

            if (rc == 0)
                break;
            any = true;
            if (rc < 0) {
                fz_close_side(s, side);
                break;
            }
            if (side == FZ_BE)
                fz_backend_got(s, &m);
            else if (side == FZ_FE && m.hdr.request == VU_REQ_GET_STATUS && m.hdr.size == 8)
                s->fe_status = m.payload.u64;
            else if (side == FZ_FE_CHAN && (m.hdr.flags & VU_FLAG_NEED_REPLY) &&
                     s->chan_count < FZ_MAX_OWED)
                s->chan_owed[(s->chan_head + s->chan_count++) % FZ_MAX_OWED] = m.hdr.request;
            vu_msg_close_fds(&m);
        }
    }
    return any;
}

/* Runs the loop until neither the shim nor the harness has anything to do. */
static void fz_pump(struct fz_session *s)
{
    int idle = 0;

    for (int i = 0; i < 64 && idle < 2; i++) {
        uv_run(&s->loop, UV_RUN_NOWAIT);
        idle = fz_drain(s) ? 0 : idle + 1;
    }
}

/* Writes buf on a peer's socket with fds on its first byte; waits for the
 * shim (running the loop) while the socket is full, then gives up. */
static void fz_send(struct fz_session *s, int side, const uint8_t *buf, size_t len,
                    const int *fds, unsigned nfds)
{
    size_t off = 0;
    int tries = 0;

    while (off < len && s->sock[side] >= 0) {
        struct iovec iov = { .iov_base = (void *)(buf + off), .iov_len = len - off };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        union {
            char buf[CMSG_SPACE(sizeof(int) * FZ_SEND_FDS)];
            struct cmsghdr align;
        } u;
        ssize_t n;

        if (off == 0 && nfds) {
            struct cmsghdr *c;
            memset(&u, 0, sizeof(u));
            mh.msg_control = u.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
        }
        n = sendmsg(s->sock[side], &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && tries++ < 4) {
            fz_pump(s);
        } else {
            return;
        }
    }
}

/* Ops 0-3: one message as the input spells it, with real fds. */
static size_t fz_op_message(struct fz_session *s, int side, const uint8_t *p, size_t left)
{
    struct vu_hdr hdr;
    unsigned nfds;
    size_t len;
    int fds[FZ_SEND_FDS], fd = -1, pair[2] = { -1, -1 };

    if (left < 1 + VU_HDR_SIZE)
        return left;
    nfds = p[0] % (FZ_SEND_FDS + 1);
    vu_hdr_decode(p + 1, &hdr);
    len = VU_HDR_SIZE + (hdr.size < left - 1 - VU_HDR_SIZE ? hdr.size : left - 1 - VU_HDR_SIZE);
    if (nfds) {
        uint32_t req = hdr.request;
        if (side == FZ_FE && req == VU_REQ_SET_BACKEND_REQ_FD &&
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0) {
            fz_close_side(s, FZ_FE_CHAN);
            s->sock[FZ_FE_CHAN] = pair[0];
            vu_set_nonblocking(pair[0], true);
            fd = pair[1];
        } else if (side == FZ_FE &&
                   (req == VU_REQ_SET_MEM_TABLE || req == VU_REQ_ADD_MEM_REG ||
                    req == VU_REQ_REM_MEM_REG || req == VU_REQ_SET_LOG_BASE ||
                    req == VU_REQ_SET_INFLIGHT_FD)) {
            fd = fcntl(s->guest, F_DUPFD_CLOEXEC, 3);
        } else {
            fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        }
        if (fd < 0)
            nfds = 0;
        for (unsigned i = 0; i < nfds; i++)
            fds[i] = fd;
        if (side == FZ_FE && req == VU_REQ_SET_VRING_KICK && fd >= 0 && len >= VU_HDR_SIZE + 8) {
            unsigned ring = p[1 + VU_HDR_SIZE];
            fz_close(&s->kick[ring]);
            s->kick[ring] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        }
    }
    fz_send(s, side, p + 1, len, fds, nfds);
    fz_close(&fd);
    return 1 + len;
}

/* Op 4 (persona false: the value as given) and op 5: the back-end answers
 * its oldest owed request in the shape the table gives the reply. */
static void fz_backend_answer(struct fz_session *s, uint64_t v, bool persona)
{
    struct fz_owed o = s->be_owed[s->be_head];
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, o.request);
    struct vu_msg m;
    uint8_t wire[VU_HDR_SIZE + VU_MAX_PAYLOAD];
    int fd = -1;

    s->be_head = (s->be_head + 1) % FZ_MAX_OWED;
    s->be_count--;
    if (persona) {
        switch (o.request) {
        case VU_REQ_GET_FEATURES: v = s->persona.features; break;
        case VU_REQ_GET_PROTOCOL_FEATURES: v = s->persona.protocol_features; break;
        case VU_REQ_GET_QUEUE_NUM: v = s->persona.queues; break;
        case VU_REQ_VDPA_GET_DEVICE_ID: v = s->persona.device_id; break;
        case VU_REQ_VDPA_GET_VQS_COUNT: v = s->persona.vqs; break;
        case VU_REQ_VDPA_GET_CONFIG_SIZE: v = s->persona.config_size; break;
        case VU_REQ_VDPA_GET_VRING_NUM: v = 256; break;
        case VU_REQ_GET_MAX_MEM_SLOTS: v = VU_MAX_MEM_REGIONS; break;
        case VU_REQ_GET_STATUS: v = s->be_status; break;
        default: v = 0; break;
        }
    }
    vu_msg_init(&m, o.request, VU_FLAG_REPLY);
    if (d && d->reply == VU_REPLY_ALWAYS) {
        switch (o.request) {
        case VU_REQ_GET_VRING_BASE:
            vu_msg_set_state(&m, o.index, (uint32_t)v);
            break;
        case VU_REQ_GET_CONFIG: {
            /* a value with bit 63 answers with another size (bits 0-8) */
            uint32_t size = !persona && (v >> 63) ? (uint32_t)(v & 0x1ff) : o.cfg_size;
            struct vu_config *c = &m.payload.config;
            if (size > VU_MAX_CONFIG_SIZE)
                size = VU_MAX_CONFIG_SIZE;
            c->offset = o.cfg_offset;
            c->size = size;
            c->flags = 0;
            for (uint32_t i = 0; i < size; i++)
                c->data[i] = fz_config_byte(o.cfg_offset + i) ^ (persona ? 0 : (uint8_t)v);
            m.hdr.size = VU_CONFIG_HDR_SIZE + size;
            break;
        }
        default:
            m.hdr.size = d->reply_size.min;
            memset(m.payload.bytes, 0, m.hdr.size);
            memcpy(m.payload.bytes, &v, m.hdr.size < 8 ? m.hdr.size : 8);
            if (d->reply_fds == VU_FDS_ONE) {
                fd = o.request == VU_REQ_GET_INFLIGHT_FD ? fcntl(s->guest, F_DUPFD_CLOEXEC, 3)
                                                         : eventfd(0, EFD_CLOEXEC);
                if (fd >= 0)
                    vu_msg_add_fd(&m, fd);
            }
            break;
        }
    } else {
        vu_msg_set_u64(&m, v);
    }
    vu_hdr_encode(&m.hdr, wire);
    memcpy(wire + VU_HDR_SIZE, m.payload.bytes, m.hdr.size);
    fz_send(s, FZ_BE, wire, VU_HDR_SIZE + m.hdr.size, m.fds, m.nfds);
    vu_msg_close_fds(&m);
}

/* Op 6: the front-end acks the oldest back-end-channel request. */
static void fz_channel_answer(struct fz_session *s, uint8_t v)
{
    struct vu_msg m;
    uint8_t wire[VU_HDR_SIZE + 8];

    vu_msg_init(&m, s->chan_owed[s->chan_head], VU_FLAG_REPLY);
    vu_msg_set_u64(&m, v);
    s->chan_head = (s->chan_head + 1) % FZ_MAX_OWED;
    s->chan_count--;
    vu_hdr_encode(&m.hdr, wire);
    memcpy(wire + VU_HDR_SIZE, m.payload.bytes, 8);
    fz_send(s, FZ_FE_CHAN, wire, sizeof(wire), NULL, 0);
}

static void fz_signal(int fd)
{
    uint64_t one = 1;

    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
        /* a full counter: the shim has not read it, which is fine */
    }
}

static int fz_connect_frontend(struct fz_session *s)
{
    if (s->sock[FZ_FE] >= 0)
        return 0;
    s->sock[FZ_FE] = vu_connect_unix(s->cfg.frontend);
    if (s->sock[FZ_FE] < 0)
        return s->sock[FZ_FE];
    vu_set_nonblocking(s->sock[FZ_FE], true);
    fz_pump(s);
    return 0;
}

static int fz_setup(struct fz_session *s, const uint8_t *h)
{
    static const char *const types[] = { "net", "blk", "fs", "net" };
    const char *type = types[h[0] & 3];
    char spec[512], err[256], keys[128] = "";
    int rc;

    memset(s, 0, sizeof(*s));
    for (int i = 0; i < FZ_SIDES; i++) {
        s->sock[i] = -1;
        vu_rx_init(&s->rx[i]);
    }
    for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
        s->kick[i] = -1;
    s->config_call = -1;
    s->guest = -1;
    s->persona.features = fz_le64(h + 1);
    s->persona.protocol_features = fz_le64(h + 9);
    s->persona.queues = h[17];
    s->persona.device_id = h[18];
    s->persona.vqs = h[19];
    s->persona.config_size = h[20];

    if (h[0] & 4 && strcmp(type, "net") == 0)
        strcat(keys, ",mac=02:00:00:aa:bb:cc,mtu=1400");
    if (h[0] & 8)
        strcat(keys, strcmp(type, "net") == 0 ? ",queue-pairs=2" : ",num-queues=2");
    if (h[0] & 16 && strcmp(type, "blk") == 0)
        strcat(keys, ",capacity=1G");
    if (h[0] & 16 && strcmp(type, "fs") == 0)
        strcat(keys, ",tag=fuzz");
    snprintf(spec, sizeof(spec), "type=%s,frontend=%s/fe.sock,backend=%s/be.sock%s", type,
             fz_dir, fz_dir, keys);
    rc = vs_device_parse(spec, 0, &s->cfg, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "fuzz_session: %s: %s\n", spec, err);
        return rc;
    }

    s->guest_size = (size_t)16384 << ((h[0] >> 5) & 3);
    s->guest = memfd_create("guest", MFD_CLOEXEC);
    if (s->guest < 0 || ftruncate(s->guest, (off_t)s->guest_size) < 0)
        return -errno;
    rc = uv_loop_init(&s->loop);
    if (rc)
        return rc;
    s->loop_open = true;
    s->relay = vs_relay_new(&s->loop, &s->cfg, NULL);
    if (!s->relay)
        return -ENOMEM;
    rc = vs_relay_start(s->relay);
    if (rc)
        return rc;
    return fz_connect_frontend(s);
}

static void fz_count_handle(uv_handle_t *h, void *arg)
{
    (void)h;
    ++*(int *)arg;
}

/* Closes every peer, destroys the relay, runs the loop until it is empty.
 * -1 when a libuv handle outlives the relay. */
/* What a regression test looks at after a session. */
struct fz_outcome {
    struct vs_relay_stats stats;      /* sessions served, messages forwarded and refused */
    uint64_t fe_status;               /* the last GET_STATUS answer the front-end got */
};

static int fz_teardown(struct fz_session *s, struct fz_outcome *out)
{
    int rc = 0;

    if (s->relay)
        vs_relay_get_stats(s->relay, &out->stats);
    out->fe_status = s->fe_status;

    for (int i = 0; i < FZ_SIDES; i++)
        fz_close_side(s, i);
    for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
        fz_close(&s->kick[i]);
    fz_close(&s->config_call);
    fz_close(&s->guest);
    if (s->loop_open) {
        uv_run(&s->loop, UV_RUN_NOWAIT);
        vs_relay_destroy(s->relay);
        s->relay = NULL;
        for (int i = 0; i < 100 && uv_loop_alive(&s->loop); i++)
            uv_run(&s->loop, UV_RUN_NOWAIT);
        if (uv_loop_close(&s->loop) != 0) {
            int n = 0;
            uv_walk(&s->loop, fz_count_handle, &n);
            fprintf(stderr, "fuzz_session: %d libuv handle(s) left after the relay was "
                    "destroyed\n", n);
            rc = -1;
        }
    }
    /* connections the relay made that the harness never took */
    for (int fd; (fd = accept4(fz_be_listen, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
        close(fd);
    return rc;
}

/* Runs one input. 0, or -1 when the shim left an fd or a handle behind (or
 * the harness cannot start). out (may be NULL): what the session came to. */
static int fz_session_run(const uint8_t *data, size_t size, struct fz_outcome *out)
{
    struct fz_outcome ignored;
    struct fz_session *s;
    const uint8_t *p = data + FZ_HEADER;
    size_t left;
    int fds_before, fds_after, rc;

    if (!out)
        out = &ignored;
    memset(out, 0, sizeof(*out));
    if (fz_init_once() < 0) {
        fprintf(stderr, "fuzz_session: cannot set up the harness: %s\n", strerror(errno));
        return -1;
    }
    if (size < FZ_HEADER)
        return 0;
    /* the session state is large (receive buffers): not on the stack */
    s = malloc(sizeof(*s));
    if (!s)
        return 0;
    fds_before = fdcount();
    if (fz_setup(s, data) == 0) {
        left = size - FZ_HEADER;
        for (int ops = 0; left > 0 && ops < FZ_MAX_OPS; ops++) {
            unsigned op = p[0] % 13;
            size_t used = 1;

            p++, left--;
            switch (op) {
            case 0: case 1: case 2: case 3:
                used = fz_op_message(s, (int)op, p, left);
                break;
            case 4:
                if (left < 8)
                    used = left;
                else if (s->be_count)
                    fz_backend_answer(s, fz_le64(p), false), used = 8;
                else
                    used = 8;
                break;
            case 5:
                for (int i = 0; i < 64 && s->be_count; i++) {
                    while (s->be_count)
                        fz_backend_answer(s, 0, true);
                    fz_pump(s);
                }
                used = 0;
                break;
            case 6:
                if (left && s->chan_count)
                    fz_channel_answer(s, p[0]);
                used = left ? 1 : 0;
                break;
            case 7: {
                size_t off, len;
                if (left < 3) {
                    used = left;
                    break;
                }
                off = (size_t)(p[0] | p[1] << 8) % s->guest_size;
                len = p[2] < left - 3 ? p[2] : left - 3;
                if (len > s->guest_size - off)
                    len = s->guest_size - off;
                if (pwrite(s->guest, p + 3, len, (off_t)off) < 0) {
                    /* nothing to do: the memory stays as it was */
                }
                used = 3 + (size_t)p[2] < left ? 3 + (size_t)p[2] : left;
                break;
            }
            case 8:
                if (left)
                    fz_signal(s->kick[p[0]]);
                used = left ? 1 : 0;
                break;
            case 9:
                fz_signal(s->config_call);
                used = 0;
                break;
            case 10:
                if (left)
                    fz_close_side(s, p[0] % FZ_SIDES);
                used = left ? 1 : 0;
                break;
            case 11:
                fz_connect_frontend(s);
                used = 0;
                break;
            case 12:
                if (left && ftruncate(s->guest, (off_t)(p[0] % (s->guest_size / 4096 + 1)) * 4096)) {
                    /* the size stays */
                }
                used = left ? 1 : 0;
                break;
            }
            p += used;
            left -= used;
            fz_pump(s);
        }
    }
    rc = fz_teardown(s, out);
    free(s);
    fds_after = fdcount();
    if (fds_after != fds_before) {
        fprintf(stderr, "fuzz_session: %d fds open after the input, %d before\n", fds_after,
                fds_before);
        fdcount_dump("after the input");
        rc = -1;
    }
    return rc;
}

#endif
