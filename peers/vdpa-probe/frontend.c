/* SPDX-License-Identifier: MIT */
/*
 * --connect: the probe is a vhost-user front-end and measures a live
 * back-end in four passes, each on its own connection:
 *
 *  1. legacy: the handshake, the feature-gated queries, then one ring set up
 *     and stopped, the way a legacy front-end does it; when a request closes
 *     the connection, the pass reconnects (handshake again, unrecorded) and
 *     goes on with the next request; then the largest config size GET_CONFIG
 *     answers, when the type's full size was refused;
 *  2. each vdpa-user-only request on a fresh legacy session;
 *  3. each request forbidden under vdpa-user whose gate is offered (and that
 *     pass 1 did not measure), on a fresh legacy session;
 *  4. when F_VDPA is offered: the bring-up of docs/vdpa-user.md section 8,
 *     suspend, resume, reset, and the forbidden requests (which must be
 *     refused); its results replace those of passes 1-3, since such a
 *     back-end is measured as what it is, a vdpa-user back-end.
 *
 * Everything sent is fixed (addresses, sizes, values), so one back-end gives
 * the same records every run.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd_util.h"
#include "virtio.h"
#include "vdpa-probe/probe.h"

#define MEM_SIZE        (1u << 20)
#define MEM_UADDR       UINT64_C(0x7f0000000000)
#define RING_SPAN       0x10000u /* each ring: desc, avail + 0x1000, used + 0x2000 */
#define RING_SIZE       256u
#define MAX_RINGS       8u /* rings in the vdpa pass (1 MiB / RING_SPAN - 1) */
#define VHOST_F_LOG_ALL 26
#define PROBE_MTU       1500u

/* What a pass works with: one connection, the records, fds it sends. */
struct pass {
    struct fe_conn c;
    struct records *r;
    const struct vs_device_type *t;
    int mem_fd;     /* the memfd behind the memory table */
    int kick, call; /* eventfds sent (duplicated) for every ring */
    bool vdpa;      /* reconnects use the vdpa handshake */
};

static int pass_init(struct pass *p, const struct probe_opts *o, struct records *r)
{
    memset(p, 0, sizeof(*p));
    fe_init(&p->c, o->connect_path);
    p->r = r;
    p->t = o->type;
    p->mem_fd = memfd_create("vdpa-probe", MFD_CLOEXEC);
    p->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    p->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->mem_fd < 0 || p->kick < 0 || p->call < 0 || ftruncate(p->mem_fd, MEM_SIZE) < 0) {
        int rc = -errno;
        vs_err("cannot make the probe's memory and eventfds: %s", strerror(errno));
        return rc;
    }
    return 0;
}

static void pass_end(struct pass *p)
{
    fe_close(&p->c);
    fd_close(&p->mem_fd);
    fd_close(&p->kick);
    fd_close(&p->call);
}

/* Records an outcome; true while the connection is still usable. */
static bool note(struct pass *p, uint32_t request, enum outcome o)
{
    rec_msg(p->r, request, outcome_value(o));
    vs_info("%s: %s", vu_request_name(VU_CHAN_FRONTEND, request), outcome_name(o));
    return fe_is_open(&p->c);
}

/* A fresh connection with the pass's handshake (unrecorded). A back-end
 * that exits after a request and is restarted (tests/matrix/probe-rustvmm.sh)
 * may still accept into its dying listener: a failed handshake is tried
 * again, PROBE_RECONNECT_TRIES times in all. */
static bool reconnect(struct pass *p)
{
    for (int i = 0; i < PROBE_RECONNECT_TRIES; i++) {
        if (i)
            usleep(PROBE_RECONNECT_PAUSE_MS * 1000);
        if (fe_open(&p->c))
            return false;
        if ((p->vdpa ? fe_handshake_vdpa(&p->c, NULL) : fe_handshake_legacy(&p->c, NULL)) == 0)
            return true;
        fe_close(&p->c);
    }
    return false;
}

static bool ensure(struct pass *p)
{
    return fe_is_open(&p->c) || reconnect(p);
}

static bool acked(const struct pass *p, unsigned bit)
{
    return vu_has_bit(p->c.pf_acked, bit);
}

/* ---- requests with a payload ----------------------------------------------------- */

static enum outcome get_config(struct pass *p, uint32_t size)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 0, size, 0, NULL);
    return fe_request(&p->c, &m, NULL, false);
}

static enum outcome set_mem_table(struct pass *p)
{
    struct vu_mem_region region = {
        .guest_phys_addr = 0,
        .memory_size = MEM_SIZE,
        .userspace_addr = MEM_UADDR,
        .mmap_offset = 0,
    };
    struct vu_msg m;
    int fd = fd_dup_cloexec(p->mem_fd);

    if (fd < 0)
        return OUT_BROKEN;
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&m, &region, 1);
    vu_msg_add_fd(&m, fd);
    return fe_request(&p->c, &m, NULL, false);
}

static enum outcome set_vring_addr(struct pass *p, unsigned i)
{
    uint64_t base = MEM_UADDR + (uint64_t)RING_SPAN * (i + 1);
    struct vu_vring_addr a = {
        .index = i,
        .desc_user_addr = base,
        .avail_user_addr = base + 0x1000,
        .used_user_addr = base + 0x2000,
    };
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &a);
    return fe_request(&p->c, &m, NULL, false);
}

static enum outcome set_backend_req_fd(struct pass *p, int *keep)
{
    int sv[2];
    struct vu_msg m;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return OUT_BROKEN;
    *keep = sv[0]; /* our end stays open while the pass runs */
    vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, 0);
    vu_msg_add_fd(&m, sv[1]);
    return fe_request(&p->c, &m, NULL, false);
}

/* NUM, ADDR, BASE, KICK, CALL of one ring; false when the connection went. */
static bool setup_ring(struct pass *p, unsigned i, uint32_t size)
{
    return note(p, VU_REQ_SET_VRING_NUM, fe_state(&p->c, VU_REQ_SET_VRING_NUM, i, size, NULL)) &&
           note(p, VU_REQ_SET_VRING_ADDR, set_vring_addr(p, i)) &&
           note(p, VU_REQ_SET_VRING_BASE, fe_state(&p->c, VU_REQ_SET_VRING_BASE, i, 0, NULL)) &&
           note(p, VU_REQ_SET_VRING_KICK,
                fe_u64(&p->c, VU_REQ_SET_VRING_KICK, i, p->kick, false)) &&
           note(p, VU_REQ_SET_VRING_CALL, fe_u64(&p->c, VU_REQ_SET_VRING_CALL, i, p->call, false));
}

/* ---- pass 1: legacy -------------------------------------------------------------------- */

/* The largest GET_CONFIG size the back-end answers, from the type's own
 * size down (from one below when the full size was already refused), on a
 * fresh connection. */
static void search_config_size(struct pass *p)
{
    bool tried = rec_get(p->r, VU_REQ_GET_CONFIG) != VS_MX_NONE;

    for (uint32_t size = p->t->config_size - (tried ? 1 : 0); size > 0; size--) {
        enum outcome o;
        if (!ensure(p))
            return;
        o = get_config(p, size);
        if (!tried || o == OUT_ANSWERED)
            rec_msg(p->r, VU_REQ_GET_CONFIG, outcome_value(o));
        tried = true;
        if (o == OUT_ANSWERED) {
            rec_offer(p->r, OFFER_CONFIG_SIZE, size);
            return;
        }
    }
    rec_offer(p->r, OFFER_CONFIG_SIZE, 0);
}

static void legacy_queries(struct pass *p, int *backend_end)
{
    struct records *r = p->r;
    uint64_t v;
    enum outcome o;

    if (acked(p, VU_PF_BACKEND_REQ) && ensure(p))
        note(p, VU_REQ_SET_BACKEND_REQ_FD, set_backend_req_fd(p, backend_end));
    if (acked(p, VU_PF_MQ) && ensure(p)) {
        o = fe_get_u64(&p->c, VU_REQ_GET_QUEUE_NUM, &v, false);
        if (o == OUT_ANSWERED)
            rec_offer(r, OFFER_QUEUE_NUM, v);
        note(p, VU_REQ_GET_QUEUE_NUM, o);
    }
    if (acked(p, VU_PF_CONFIGURE_MEM_SLOTS) && ensure(p))
        note(p, VU_REQ_GET_MAX_MEM_SLOTS, fe_get_u64(&p->c, VU_REQ_GET_MAX_MEM_SLOTS, &v, false));
    if (acked(p, VU_PF_CONFIG) && p->t->config_size > 0 && ensure(p)) {
        o = get_config(p, p->t->config_size);
        note(p, VU_REQ_GET_CONFIG, o);
        if (o == OUT_ANSWERED)
            rec_offer(r, OFFER_CONFIG_SIZE, p->t->config_size);
    }
    if (acked(p, VU_PF_STATUS) && ensure(p)) {
        note(p, VU_REQ_SET_STATUS,
             fe_u64(&p->c, VU_REQ_SET_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, -1,
                    false));
        if (ensure(p)) {
            o = fe_get_u64(&p->c, VU_REQ_GET_STATUS, &v, false);
            rec_offer(r, OFFER_STATUS, outcome_value(o));
            note(p, VU_REQ_GET_STATUS, o);
        }
    }
}

/* 0, or -errno when the back-end cannot be reached at all. */
static int legacy_pass(struct pass *p)
{
    struct records *r = p->r;
    int backend_end = -1, rc;
    bool config_offered;
    struct vu_msg reply;

    rc = fe_open(&p->c);
    if (rc)
        return rc;
    fe_handshake_legacy(&p->c, r);
    if (rec_get(r, VU_REQ_GET_FEATURES) == VS_MX_ANSWERED)
        rec_offer(r, OFFER_FEATURES, p->c.features);
    if (rec_get(r, VU_REQ_GET_PROTOCOL_FEATURES) == VS_MX_ANSWERED)
        rec_offer(r, OFFER_PROTOCOL_FEATURES, p->c.pf_offered);
    if (!ensure(p))
        return 0;
    legacy_queries(p, &backend_end);
    if (ensure(p))
        note(p, VU_REQ_SET_FEATURES, fe_u64(&p->c, VU_REQ_SET_FEATURES, p->c.features, -1, false));
    if (ensure(p))
        note(p, VU_REQ_SET_MEM_TABLE, set_mem_table(p));
    if (ensure(p) && setup_ring(p, 0, RING_SIZE) &&
        vu_has_bit(p->c.features, VU_F_PROTOCOL_FEATURES))
        note(p, VU_REQ_SET_VRING_ENABLE, fe_state(&p->c, VU_REQ_SET_VRING_ENABLE, 0, 1, NULL));
    if (ensure(p))
        note(p, VU_REQ_GET_VRING_BASE, fe_state(&p->c, VU_REQ_GET_VRING_BASE, 0, 0, &reply));
    fe_close(&p->c);
    config_offered = r->have[OFFER_PROTOCOL_FEATURES] &&
                     vu_has_bit(r->offer[OFFER_PROTOCOL_FEATURES], VU_PF_CONFIG);
    fd_close(&backend_end);
    if (config_offered && p->t->config_size > 0 && !r->have[OFFER_CONFIG_SIZE])
        search_config_size(p);
    fe_close(&p->c);
    return 0;
}

/* ---- passes 2 and 3: one request per legacy session ------------------------------ */

static void build_request(struct vu_msg *m, uint32_t request)
{
    vu_msg_init(m, request, 0);
    if (request == VU_REQ_NET_SET_MTU)
        vu_msg_set_u64(m, PROBE_MTU);
}

/* A fresh legacy session, then `request` (followed by GET_FEATURES so that
 * a peer ignoring it is seen at once). Not recorded when the session cannot
 * be set up. */
static void single_request(struct pass *p, uint32_t request)
{
    struct vu_msg m;

    if (!reconnect(p)) {
        vs_info("%s: not tried (no legacy session)", vu_request_name(VU_CHAN_FRONTEND, request));
        fe_close(&p->c);
        return;
    }
    build_request(&m, request);
    if (request == VU_REQ_VDPA_SET_CONFIG_CALL) {
        int fd = fd_dup_cloexec(p->call);
        vu_msg_set_u64(&m, 0);
        if (fd >= 0)
            vu_msg_add_fd(&m, fd);
    }
    note(p, request, fe_request(&p->c, &m, NULL, true));
    fe_close(&p->c);
}

static void vdpa_only_pass(struct pass *p)
{
    for (size_t i = 0; i < vu_msg_desc_count(VU_CHAN_FRONTEND); i++) {
        const struct vu_msg_desc *d = vu_msg_desc_at(VU_CHAN_FRONTEND, i);
        if (d->flags & VU_DESC_VDPA_ONLY)
            single_request(p, d->request);
    }
}

static void forbidden_pass(struct pass *p, uint64_t pf_offered)
{
    for (size_t i = 0; i < vu_msg_desc_count(VU_CHAN_FRONTEND); i++) {
        const struct vu_msg_desc *d = vu_msg_desc_at(VU_CHAN_FRONTEND, i);
        if (!(d->flags & VU_DESC_FORBIDDEN_UNDER_VDPA) || rec_get(p->r, d->request) != VS_MX_NONE)
            continue;
        if (d->gate != VU_GATE_NONE && !vu_has_bit(pf_offered, (unsigned)d->gate))
            continue;
        single_request(p, d->request);
    }
}

/* ---- pass 4: vdpa-user bring-up ------------------------------------------------------- */

struct vdpa_limits {
    uint64_t vqs, config_size, vring_num;
};

/* Steps 5-9: identity and limits. */
static bool vdpa_query(struct pass *p, struct vdpa_limits *l)
{
    uint64_t id;
    struct vu_msg reply;

    return note(p, VU_REQ_VDPA_GET_DEVICE_ID,
                fe_get_u64(&p->c, VU_REQ_VDPA_GET_DEVICE_ID, &id, false)) &&
           note(p, VU_REQ_VDPA_GET_VQS_COUNT,
                fe_get_u64(&p->c, VU_REQ_VDPA_GET_VQS_COUNT, &l->vqs, false)) &&
           note(p, VU_REQ_VDPA_GET_CONFIG_SIZE,
                fe_get_u64(&p->c, VU_REQ_VDPA_GET_CONFIG_SIZE, &l->config_size, false)) &&
           note(p, VU_REQ_VDPA_GET_VRING_NUM,
                fe_get_u64(&p->c, VU_REQ_VDPA_GET_VRING_NUM, &l->vring_num, false)) &&
           note(p, VU_REQ_VDPA_GET_IOVA_RANGE,
                fe_none(&p->c, VU_REQ_VDPA_GET_IOVA_RANGE, &reply, false));
}

static bool set_status(struct pass *p, uint8_t status)
{
    return note(p, VU_REQ_SET_STATUS, fe_u64(&p->c, VU_REQ_SET_STATUS, status, -1, false));
}

static bool get_status(struct pass *p)
{
    uint64_t v;
    enum outcome o = fe_get_u64(&p->c, VU_REQ_GET_STATUS, &v, false);

    rec_offer(p->r, OFFER_STATUS, outcome_value(o));
    return note(p, VU_REQ_GET_STATUS, o);
}

/* Steps 10-15: reset, ACKNOWLEDGE|DRIVER, config, features, FEATURES_OK. */
static bool vdpa_init(struct pass *p, const struct vdpa_limits *l)
{
    const uint8_t ack_driver = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
    uint32_t size = p->t->config_size;
    enum outcome o;

    if (l->config_size < size)
        size = (uint32_t)l->config_size;
    if (!set_status(p, 0) || !set_status(p, ack_driver))
        return false;
    if (size > 0) {
        o = get_config(p, size);
        if (o == OUT_ANSWERED)
            rec_offer(p->r, OFFER_CONFIG_SIZE, size);
        if (!note(p, VU_REQ_GET_CONFIG, o))
            return false;
    }
    return note(p, VU_REQ_SET_FEATURES,
                fe_u64(&p->c, VU_REQ_SET_FEATURES, p->c.features & ~VU_BIT(VHOST_F_LOG_ALL), -1,
                       false)) &&
           set_status(p, ack_driver | VIRTIO_STATUS_FEATURES_OK) && get_status(p);
}

/* Steps 16-31: memory, rings, config call, DRIVER_OK. */
static bool vdpa_start(struct pass *p, unsigned rings, uint32_t ring_size)
{
    if (!note(p, VU_REQ_SET_MEM_TABLE, set_mem_table(p)))
        return false;
    for (unsigned i = 0; i < rings; i++)
        if (!setup_ring(p, i, ring_size))
            return false;
    for (unsigned i = 0; i < rings; i++)
        if (!note(p, VU_REQ_SET_VRING_ENABLE, fe_state(&p->c, VU_REQ_SET_VRING_ENABLE, i, 1, NULL)))
            return false;
    return note(p, VU_REQ_VDPA_SET_CONFIG_CALL,
                fe_u64(&p->c, VU_REQ_VDPA_SET_CONFIG_CALL, 0, p->call, false)) &&
           set_status(p, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                             VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK) &&
           get_status(p);
}

/* Steps 35-41: suspend, ring bases, resume, reset. */
static bool vdpa_stop(struct pass *p, unsigned rings)
{
    struct vu_msg reply;
    uint64_t v;

    if (!note(p, VU_REQ_VDPA_SUSPEND, fe_get_u64(&p->c, VU_REQ_VDPA_SUSPEND, &v, false)))
        return false;
    for (unsigned i = 0; i < rings; i++)
        if (!note(p, VU_REQ_GET_VRING_BASE, fe_state(&p->c, VU_REQ_GET_VRING_BASE, i, 0, &reply)))
            return false;
    return note(p, VU_REQ_VDPA_RESUME, fe_get_u64(&p->c, VU_REQ_VDPA_RESUME, &v, false)) &&
           set_status(p, 0) && get_status(p) &&
           note(p, VU_REQ_GET_VRING_BASE, fe_state(&p->c, VU_REQ_GET_VRING_BASE, 0, 0, &reply));
}

static void vdpa_pass(struct pass *p)
{
    struct vdpa_limits l = { 0 };
    unsigned rings;
    uint32_t ring_size = RING_SIZE;

    p->vdpa = true;
    if (fe_open(&p->c) || fe_handshake_vdpa(&p->c, p->r) || !vdpa_query(p, &l)) {
        fe_close(&p->c);
        return;
    }
    rings = l.vqs < MAX_RINGS ? (unsigned)l.vqs : MAX_RINGS;
    while (ring_size > l.vring_num && ring_size > 1)
        ring_size /= 2;
    if (vdpa_init(p, &l) && vdpa_start(p, rings, ring_size))
        vdpa_stop(p, rings);
    /* Section 4: each forbidden request must be refused (a back-end may
     * close instead; then the next one gets a fresh session). */
    for (size_t i = 0; i < vu_msg_desc_count(VU_CHAN_FRONTEND); i++) {
        const struct vu_msg_desc *d = vu_msg_desc_at(VU_CHAN_FRONTEND, i);
        struct vu_msg m;
        if (!(d->flags & VU_DESC_FORBIDDEN_UNDER_VDPA))
            continue;
        if (!ensure(p))
            break;
        build_request(&m, d->request);
        note(p, d->request, fe_request_ack(&p->c, &m));
    }
    fe_close(&p->c);
}

int probe_backend(const struct probe_opts *o, struct records *r)
{
    struct pass p;
    uint64_t pf_offered;
    int rc = pass_init(&p, o, r);

    if (rc == 0)
        rc = legacy_pass(&p);
    if (rc) {
        if (rc != -ENOMEM)
            vs_err("cannot connect to %s: %s", o->connect_path, strerror(-rc));
        pass_end(&p);
        return rc;
    }
    pf_offered = r->have[OFFER_PROTOCOL_FEATURES] ? r->offer[OFFER_PROTOCOL_FEATURES] : 0;
    if (rec_get(r, VU_REQ_GET_FEATURES) == VS_MX_ANSWERED) {
        vdpa_only_pass(&p);
        forbidden_pass(&p, pf_offered);
        if (vu_has_bit(pf_offered, VU_PF_VDPA))
            vdpa_pass(&p);
    }
    pass_end(&p);
    return 0;
}
