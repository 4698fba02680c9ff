/* SPDX-License-Identifier: MIT */
/*
 * A blocking vhost-user front-end connection for measuring: one request,
 * one outcome. The outcome is what the wire said, nothing else:
 *   answered    the request's own reply, or an ack of 0, or (for a request
 *               that gets no reply) the peer answered the GET_FEATURES sent
 *               right after it, so it took the request and is still there;
 *   refused     an empty reply, a non-zero ack, or the GET_FEATURES reply
 *               came first (the request was ignored);
 *   disconnect  the peer closed the connection (also right after replying,
 *               when the request was followed by GET_FEATURES);
 *   broken      no reply in time, or one that does not fit the request
 *               (recorded as refused; the connection is closed).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fd_util.h"
#include "transport.h"
#include "vdpa-probe/probe.h"

enum vs_mx_value outcome_value(enum outcome o)
{
    switch (o) {
    case OUT_ANSWERED:
        return VS_MX_ANSWERED;
    case OUT_DISCONNECT:
        return VS_MX_DISCONNECT;
    default:
        return VS_MX_REFUSED;
    }
}

const char *outcome_name(enum outcome o)
{
    static const char *const names[] = { "answered", "refused", "disconnect", "no usable reply" };
    return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

static const char *req_name(uint32_t request)
{
    return vu_request_name(VU_CHAN_FRONTEND, request);
}

void fe_init(struct fe_conn *c, const char *path)
{
    memset(c, 0, sizeof(*c));
    c->path = path;
    c->sock = -1;
}

int fe_open(struct fe_conn *c)
{
    fe_close(c);
    c->features = c->pf_offered = c->pf_acked = 0;
    /* A peer that serves one connection per process may be restarting
     * (tests/matrix/probe-all.sh restarts virtiofsd): retry a little. */
    for (int waited = 0;; waited += PROBE_CONNECT_RETRY_STEP_MS) {
        int fd = vu_connect_unix(c->path); /* fd or -errno: the slot holds only an fd */
        if (fd >= 0) {
            c->sock = fd;
            return 0;
        }
        if ((fd != -ECONNREFUSED && fd != -ENOENT) || waited >= PROBE_CONNECT_RETRY_MS)
            return fd;
        usleep(PROBE_CONNECT_RETRY_STEP_MS * 1000);
    }
}

void fe_close(struct fe_conn *c)
{
    fd_close(&c->sock);
}

bool fe_is_open(const struct fe_conn *c)
{
    return c->sock >= 0;
}

/* Whether an explicit reply has the size the table gives for it. */
static bool reply_size_ok(const struct vu_msg_desc *d, uint32_t size, uint32_t config_size)
{
    switch (d->reply_size.rule) {
    case VU_SIZE_EXACT:
        return size == d->reply_size.min;
    case VU_SIZE_RANGE:
        return size >= d->reply_size.min && size <= d->reply_size.max;
    case VU_SIZE_CONFIG_REPLY:
        return size == VU_CONFIG_HDR_SIZE + config_size;
    default:
        return false;
    }
}

static bool reply_header_ok(const struct vu_msg *m)
{
    return (m->hdr.flags & VU_FLAG_VERSION_MASK) == VU_VERSION && (m->hdr.flags & VU_FLAG_REPLY);
}

static enum outcome lost(struct fe_conn *c, enum outcome o, uint32_t request, const char *why)
{
    vs_debug("%s: %s (%s)", req_name(request), outcome_name(o), why);
    fe_close(c);
    return o;
}

/* Receives one reply; OUT_ANSWERED when one arrived. */
static enum outcome receive(struct fe_conn *c, struct vu_msg *reply, uint32_t request)
{
    int rc = vu_recv_blocking(c->sock, reply, PROBE_REPLY_TIMEOUT_MS);

    if (rc == -ECONNRESET)
        return lost(c, OUT_DISCONNECT, request, "the peer closed the connection");
    if (rc < 0)
        return lost(c, OUT_BROKEN, request, strerror(-rc));
    vu_msg_close_fds(reply); /* no reply this probe asks for carries one it uses */
    if (!reply_header_ok(reply))
        return lost(c, OUT_BROKEN, request, "a reply without the REPLY flag");
    return OUT_ANSWERED;
}

/* Classifies the reply to `request`. */
static enum outcome classify(const struct vu_msg_desc *d, bool ack, const struct vu_msg *reply,
                             uint32_t config_size)
{
    if (ack) {
        if (reply->hdr.size != sizeof(uint64_t))
            return OUT_BROKEN;
        return reply->payload.u64 == 0 ? OUT_ANSWERED : OUT_REFUSED;
    }
    if (reply->hdr.size == 0)
        return OUT_REFUSED;
    if (!d || !reply_size_ok(d, reply->hdr.size, config_size))
        return OUT_BROKEN;
    return OUT_ANSWERED;
}

static enum outcome exchange(struct fe_conn *c, struct vu_msg *msg, struct vu_msg *reply, bool sync,
                             bool force_ack)
{
    const uint32_t request = msg->hdr.request;
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, request);
    const bool explicit_reply = d && d->reply == VU_REPLY_ALWAYS && !force_ack;
    const uint32_t config_size = request == VU_REQ_GET_CONFIG ? msg->payload.config.size : 0;
    bool ack = false, sync_tried = false, synced = false;
    struct vu_msg own, s;
    enum outcome o;
    int rc;

    if (!reply)
        reply = &own;
    if (c->sock < 0) {
        vu_msg_close_fds(msg);
        return OUT_DISCONNECT;
    }
    if (force_ack || (!explicit_reply && vu_has_bit(c->pf_acked, VU_PF_REPLY_ACK))) {
        msg->hdr.flags |= VU_FLAG_NEED_REPLY;
        ack = true;
    }
    vs_debug("-> %s flags 0x%x size %u fds %u", req_name(request), msg->hdr.flags, msg->hdr.size,
             msg->nfds);
    rc = vu_send_blocking(c->sock, msg); /* sends and closes the message's fds */
    if (rc < 0)
        return lost(c, rc == -EPIPE || rc == -ECONNRESET ? OUT_DISCONNECT : OUT_BROKEN, request,
                    strerror(-rc));
    if ((!explicit_reply && !ack) || sync) {
        /* A peer that closed may still have answered first: read on. */
        vu_msg_init(&s, VU_REQ_GET_FEATURES, 0);
        sync_tried = true;
        synced = vu_send_blocking(c->sock, &s) == 0;
    }
    o = receive(c, reply, request);
    if (o != OUT_ANSWERED)
        return o;
    if (reply->hdr.request == request && (explicit_reply || ack)) {
        o = classify(d, ack, reply, config_size);
        if (o == OUT_BROKEN)
            return lost(c, o, request, "the reply does not fit the request");
        if (sync_tried) {
            /* A peer that replies and then closes instead of answering the
             * next request dropped the session because of this one (seen
             * either when sending the next request or when reading). */
            enum outcome next = synced ? receive(c, &s, VU_REQ_GET_FEATURES) : OUT_DISCONNECT;
            if (next == OUT_DISCONNECT) {
                o = OUT_DISCONNECT;
                fe_close(c);
            } else if (next == OUT_ANSWERED && s.hdr.request != VU_REQ_GET_FEATURES) {
                fe_close(c); /* out of step */
            }
        }
        vs_debug("<- %s: %s", req_name(request), outcome_name(o));
        return o;
    }
    if (synced && reply->hdr.request == VU_REQ_GET_FEATURES) {
        /* The peer went on to the next request: it took this one silently
         * (no reply owed), or ignored one that needed a reply. */
        o = explicit_reply || ack ? OUT_REFUSED : OUT_ANSWERED;
        vs_debug("<- %s: %s (the next request was answered)", req_name(request), outcome_name(o));
        return o;
    }
    return lost(c, OUT_BROKEN, request, "a reply to another request");
}

enum outcome fe_request(struct fe_conn *c, struct vu_msg *msg, struct vu_msg *reply, bool sync)
{
    return exchange(c, msg, reply, sync, false);
}

enum outcome fe_request_ack(struct fe_conn *c, struct vu_msg *msg)
{
    return exchange(c, msg, NULL, true, true);
}

enum outcome fe_none(struct fe_conn *c, uint32_t request, struct vu_msg *reply, bool sync)
{
    struct vu_msg m;

    vu_msg_init(&m, request, 0);
    return fe_request(c, &m, reply, sync);
}

enum outcome fe_u64(struct fe_conn *c, uint32_t request, uint64_t value, int fd, bool sync)
{
    struct vu_msg m;

    vu_msg_init(&m, request, 0);
    vu_msg_set_u64(&m, value);
    if (fd >= 0) {
        /* The message closes what it carries: send a duplicate. */
        int dup = fd_dup_cloexec(fd);
        if (dup < 0)
            return OUT_BROKEN;
        vu_msg_add_fd(&m, dup);
    }
    return fe_request(c, &m, NULL, sync);
}

enum outcome fe_state(struct fe_conn *c, uint32_t request, uint32_t index, uint32_t num,
                      struct vu_msg *reply)
{
    struct vu_msg m;

    vu_msg_init(&m, request, 0);
    vu_msg_set_state(&m, index, num);
    return fe_request(c, &m, reply, false);
}

enum outcome fe_get_u64(struct fe_conn *c, uint32_t request, uint64_t *value, bool sync)
{
    struct vu_msg reply;
    enum outcome o = fe_none(c, request, &reply, sync);

    if (o == OUT_ANSWERED)
        *value = reply.payload.u64;
    return o;
}

uint64_t fe_legacy_protocol_features(void)
{
    /* not acked: what the probe does not carry out. PAGEFAULT needs
     * postcopy, XEN_MMAP Xen; INFLIGHT_SHMFD obliges the front-end to hand
     * an inflight region (GET/SET_INFLIGHT_FD) before the kicks, as QEMU
     * does: acked without it, qemu-storage-daemon 5.2 closes the
     * connection at the first kick ("Failed to check inflights") */
    return (VU_BIT(VU_PF_COUNT_KNOWN) - 1) &
           ~(VU_BIT(VU_PF_PAGEFAULT) | VU_BIT(VU_PF_XEN_MMAP) | VU_BIT(VU_PF_INFLIGHT_SHMFD));
}

static enum outcome note(struct records *r, uint32_t request, enum outcome o)
{
    if (r)
        rec_msg(r, request, outcome_value(o));
    return o;
}

int fe_handshake_legacy(struct fe_conn *c, struct records *r)
{
    uint64_t pf;

    if (note(r, VU_REQ_GET_FEATURES, fe_get_u64(c, VU_REQ_GET_FEATURES, &c->features, false)) !=
        OUT_ANSWERED)
        return -1;
    if (vu_has_bit(c->features, VU_F_PROTOCOL_FEATURES)) {
        if (note(r, VU_REQ_GET_PROTOCOL_FEATURES,
                 fe_get_u64(c, VU_REQ_GET_PROTOCOL_FEATURES, &c->pf_offered, false)) !=
            OUT_ANSWERED)
            return -1;
        /* As a legacy front-end does: no NEED_REPLY on the message that
         * enables REPLY_ACK (the GET_FEATURES after it tells the outcome). */
        pf = c->pf_offered & fe_legacy_protocol_features();
        if (note(r, VU_REQ_SET_PROTOCOL_FEATURES,
                 fe_u64(c, VU_REQ_SET_PROTOCOL_FEATURES, pf, -1, false)) != OUT_ANSWERED)
            return -1;
        c->pf_acked = pf;
    }
    return note(r, VU_REQ_SET_OWNER, fe_none(c, VU_REQ_SET_OWNER, NULL, false)) == OUT_ANSWERED
               ? 0
               : -1;
}

int fe_handshake_vdpa(struct fe_conn *c, struct records *r)
{
    /* 2.2: CONFIG is implied by F_VDPA, acked where shown */
    const uint64_t required = VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS);

    if (note(r, VU_REQ_GET_FEATURES, fe_get_u64(c, VU_REQ_GET_FEATURES, &c->features, false)) !=
            OUT_ANSWERED ||
        !vu_has_bit(c->features, VU_F_PROTOCOL_FEATURES))
        return -1;
    if (note(r, VU_REQ_GET_PROTOCOL_FEATURES,
             fe_get_u64(c, VU_REQ_GET_PROTOCOL_FEATURES, &c->pf_offered, false)) != OUT_ANSWERED ||
        (c->pf_offered & required) != required)
        return -1;
    /* 2.2.6: REPLY_ACK is in effect for the very message that enables it. */
    c->pf_acked = required | (c->pf_offered & (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_CONFIG)));
    if (note(r, VU_REQ_SET_PROTOCOL_FEATURES,
             fe_u64(c, VU_REQ_SET_PROTOCOL_FEATURES, c->pf_acked, -1, false)) != OUT_ANSWERED) {
        c->pf_acked = 0;
        return -1;
    }
    /* 2.2.7: the features under vdpa-user are read again. */
    if (note(r, VU_REQ_GET_FEATURES, fe_get_u64(c, VU_REQ_GET_FEATURES, &c->features, false)) !=
        OUT_ANSWERED)
        return -1;
    return note(r, VU_REQ_SET_OWNER, fe_none(c, VU_REQ_SET_OWNER, NULL, false)) == OUT_ANSWERED
               ? 0
               : -1;
}
