/* SPDX-License-Identifier: MIT */
/*
 * Up-conversion: the back-end's config space and its config-call eventfd.
 *
 * The shim reads the config space at the set-up (cached for NET_SET_MTU,
 * the control queue's pair count and the mac=/mtu= check) and again each
 * time the back-end signals the shim's config-call eventfd; a signal
 * becomes CONFIG_CHANGE_MSG on the front-end's channel, or the end of the
 * session when the back-end reports DEVICE_NEEDS_RESET. mac= and mtu= are
 * written into it as provisioning (SET_CONFIG flags 1).
 *
 * A legacy front-end's driver write (SET_CONFIG flags 0) is narrowed with
 * the device model to the bytes a driver may write in the back-end's status
 * (QEMU's vhost-user-input sends the whole 136-byte structure for every
 * select or subsel write, before SET_FEATURES); the other bytes must be
 * what they read or what the front-end wrote there last, else the write is
 * refused with the byte named. The config space is read again after each
 * write the back-end took (input: select changes size and u).
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "devmodel.h"
#include "fd_util.h"
#include "log.h"
#include "up_int.h"
#include "peer_fd.h"

/* A signal storm from the back-end: the next config-call sequence waits this
 * long after the last one ended. The front-end is not read while the shim's
 * requests are owed, so back-to-back sequences would starve it; config
 * changes are rare (link, MTU), and a coalesced follow-up loses nothing by
 * waiting. */
#define CONFIG_EVENT_GAP_MS 10

/* Where the config space's mac and mtu end (the config size must reach it). */
#define NET_CFG_MAC_LEN (VIRTIO_NET_CFG_STATUS - VIRTIO_NET_CFG_MAC)
#define NET_CFG_MAC_END (VIRTIO_NET_CFG_MAC + NET_CFG_MAC_LEN)
#define NET_CFG_MTU_END (VIRTIO_NET_CFG_MTU + sizeof(uint16_t))

_Static_assert(sizeof(((struct vs_device_config *)0)->mac) == NET_CFG_MAC_LEN, "mac= length");

struct up_gap {
    uv_timer_t timer;
    struct vs_relay *relay;
};

/* The mtu field of the cached config space (the caller checks its size). */
static uint16_t config_mtu(const struct vs_up *up)
{
    uint16_t mtu;

    memcpy(&mtu, up->config + VIRTIO_NET_CFG_MTU, sizeof(mtu));
    return le16toh(mtu); /* VIRTIO config space is little-endian */
}

/* ---- the config-call eventfd ------------------------------------------------- */

/* A config-call sequence: GET_STATUS (DEVICE_NEEDS_RESET ends the session),
 * then GET_CONFIG and CONFIG_CHANGE_MSG for the front-end. */
static void config_event_start(struct vs_relay *r)
{
    r->up->config_event_busy = true;
    r->up->config_event_again = false;
    vs_send_none(r, VU_REQ_GET_STATUS, UP_STEP_CONFIG_EVENT, 0, "config-call fired: read status");
    if (r->fe && r->main_pending.count)
        vs_conn_pause(r->fe, true);
}

/* The back-end misbehaves with the config-call eventfd: no more wake-ups,
 * and the session ends from the loop (vs_session_fail). */
static void config_call_failed(struct vs_relay *r, const char *what)
{
    if (r->up->config_poll_open)
        (void)uv_poll_stop(&r->up->config_poll); /* always 0; no more wake-ups */
    vs_session_fail(r, -EPROTO, "the back-end's config-call eventfd: %s", what);
}

static void on_config_gap(uv_timer_t *h)
{
    struct up_gap *gap = h->data;

    if (gap->relay->up)
        config_event_start(gap->relay);
}

/* A config-call sequence ended: the next, if signals came meanwhile, after
 * the gap (busy stays set through it, so that they are coalesced too). */
static void config_event_done(struct vs_relay *r)
{
    struct vs_up *up = r->up;
    int rc;

    if (!up->config_event_again) {
        up->config_event_busy = false;
        return;
    }
    rc = uv_timer_start(&up->config_gap->timer, on_config_gap, CONFIG_EVENT_GAP_MS, 0);
    if (rc < 0)
        config_call_failed(r, uv_strerror(rc));
}

/* The config-call eventfd is the shim's own, but the back-end holds it too:
 * it may drain it first (a wake-up that finds 0) or clear O_NONBLOCK on the
 * shared file description; peer_fd_drain never blocks whatever it does. */
static void on_config_call(uv_poll_t *h, int status, int events)
{
    struct vs_relay *r = h->data;
    uint64_t count = 0;
    int rc;

    (void)events;
    if (!r->up)
        return;
    if (status < 0) {
        config_call_failed(r, uv_strerror(status));
        return;
    }
    rc = peer_fd_drain(r->up->config_call_fd, &count);
    if (rc < 0) {
        config_call_failed(r, strerror(-rc));
        return;
    }
    if (count == 0)
        return; /* the back-end consumed it first: nothing to report */
    if (r->up->config_event_busy) {
        r->up->config_event_again = true; /* coalesced into one more sequence */
        return;
    }
    config_event_start(r);
}

/* The handle is closed with the state once initialised (config_poll_open). */
int up_config_call_watch(struct vs_relay *r)
{
    struct vs_up *up = r->up;
    struct up_gap *gap;
    int rc;

    up->config_call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (up->config_call_fd < 0)
        return -errno;
    rc = uv_poll_init(r->loop, &up->config_poll, up->config_call_fd);
    if (rc < 0)
        return rc; /* never initialised: not closed */
    up->config_poll.data = r;
    up->config_poll_open = true;
    gap = calloc(1, sizeof(*gap));
    if (!gap)
        return -ENOMEM;
    rc = uv_timer_init(r->loop, &gap->timer);
    if (rc < 0) {
        free(gap); /* never initialised: not closed */
        return rc;
    }
    gap->timer.data = gap;
    gap->relay = r;
    up->config_gap = gap;
    return uv_poll_start(&up->config_poll, UV_READABLE, on_config_call);
}

static void free_data(uv_handle_t *h)
{
    free(h->data);
}

void up_config_call_close(struct vs_up *up)
{
    if (up->config_gap)
        uv_close((uv_handle_t *)&up->config_gap->timer, free_data); /* stops it */
    if (up->config_poll_open) {
        /* Closed before its fd: the back-end holds the same eventfd, and epoll
         * forgets a watch only when every fd of the file is closed. libuv
         * releases the handle later; the state goes with it. */
        up->config_poll.data = up;
        uv_close((uv_handle_t *)&up->config_poll, free_data);
        fd_close(&up->config_call_fd);
    } else {
        fd_close(&up->config_call_fd);
        free(up);
    }
}

/* ---- provisioning ------------------------------------------------------------- */

/* mac= and mtu= go into the back-end's config space as a management tool's
 * `vdpa dev add mac .. mtu ..` would (docs/vdpa-user.md, SET_CONFIG flags 1). */
void up_provision(struct vs_relay *r)
{
    struct vu_msg m;

    if (strcmp(r->cfg.type->name, "net") != 0)
        return;
    if (r->cfg.has_mac) {
        vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
        vu_msg_set_config(&m, VIRTIO_NET_CFG_MAC, NET_CFG_MAC_LEN, VU_CONFIG_F_MIGRATION,
                          r->cfg.mac);
        vs_send_internal(r, &m, UP_STEP_PROVISION, VIRTIO_NET_CFG_MAC, "provision mac=");
    }
    if (r->cfg.mtu) {
        uint16_t mtu = htole16(r->cfg.mtu);
        vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
        vu_msg_set_config(&m, VIRTIO_NET_CFG_MTU, sizeof(mtu), VU_CONFIG_F_MIGRATION, &mtu);
        vs_send_internal(r, &m, UP_STEP_PROVISION, VIRTIO_NET_CFG_MTU, "provision mtu=");
    }
}

void up_step_provision(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    uint64_t v = m->payload.u64;

    if (v != 0)
        vs_warn("%s: back-end %s refused to provision %s (%" PRIu64 "); the guest sees the "
                "back-end's own value",
                r->cfg.id, r->cfg.backend, o->arg == VIRTIO_NET_CFG_MTU ? "mtu=" : "mac=", v);
}

/* The config space the set-up read against mac= and mtu=: the guest sees
 * the back-end's values, so a difference is worth a warning. */
static void check_provisioned(struct vs_relay *r)
{
    const struct vs_up *up = r->up;
    const uint8_t *mac = up->config + VIRTIO_NET_CFG_MAC;
    uint16_t mtu;

    if (r->cfg.has_mac && up->config_size >= NET_CFG_MAC_END &&
        memcmp(mac, r->cfg.mac, NET_CFG_MAC_LEN) != 0)
        vs_warn("%s: mac= is %02x:%02x:%02x:%02x:%02x:%02x but the back-end's config space "
                "has %02x:%02x:%02x:%02x:%02x:%02x; the guest sees the back-end's",
                r->cfg.id, r->cfg.mac[0], r->cfg.mac[1], r->cfg.mac[2], r->cfg.mac[3],
                r->cfg.mac[4], r->cfg.mac[5], mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    if (r->cfg.mtu && up->config_size >= NET_CFG_MTU_END) {
        mtu = config_mtu(up);
        if (mtu != r->cfg.mtu)
            vs_warn("%s: mtu= is %u but the back-end's config space has %u", r->cfg.id, r->cfg.mtu,
                    mtu);
    }
}

/* ---- the config space ------------------------------------------------------------ */

static void read_config(struct vs_relay *r, enum up_config_read why, const char *note)
{
    struct vu_msg get;

    if (r->up->config_size == 0) {
        /* rng, i2c, scmi: no config space, and a GET_CONFIG of 0 bytes is
         * refused; GET_STATUS ends the sequence in its place */
        vs_send_none(r, VU_REQ_GET_STATUS, UP_STEP_CACHE_CONFIG, why, "no config space to read");
        return;
    }
    vu_msg_init(&get, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&get, 0, r->up->config_size, 0, NULL);
    vs_send_internal(r, &get, UP_STEP_CACHE_CONFIG, why, note);
}

void up_step_config_size(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    struct vs_up *up = r->up;
    uint64_t v = m->payload.u64;

    (void)o;
    up->config_size = v < VU_MAX_CONFIG_SIZE ? (uint32_t)v : VU_MAX_CONFIG_SIZE;
    r->fe_limits.config_size = r->be_limits.config_size = up->config_size;
    read_config(r, UP_CONFIG_SETUP, "cache the config space");
}

/* The set-up's last reply: the device is ready, or the session ends. */
static void setup_done(struct vs_relay *r)
{
    struct vs_up *up = r->up;

    if (up->sequence_failed || !up->rings) {
        up_fail_session(r, "the vdpa-user back-end refused the device set-up");
        return;
    }
    check_provisioned(r);
    vs_info("%s: vdpa-user back-end ready: device %u, %u virtqueues, %u-byte config", r->cfg.id,
            up->device_id, up->nrings, up->config_size);
    if (up->begin_ack)
        vs_reply_frontend_ack(r, VU_REQ_SET_PROTOCOL_FEATURES, 0);
}

void up_step_cache_config(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    struct vs_up *up = r->up;

    if (m->hdr.size >= VU_CONFIG_HDR_SIZE && m->payload.config.size == up->config_size) {
        memcpy(up->config, m->payload.config.data, up->config_size);
        up->has_config = true;
    }
    if (o->arg == UP_CONFIG_EVENT && up->config_event_busy)
        config_event_done(r);
    if (o->arg == UP_CONFIG_SETUP) {
        memcpy(up->fe_view, up->config, sizeof(up->fe_view)); /* nothing written yet */
        setup_done(r);
    }
}

/* The back-end signalled a config change: its status first (a device that
 * needs a reset ends the session), then the new config space, and the
 * front-end is told where it negotiated CONFIG and the back-end channel. */
void up_step_config_event(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    struct vu_msg change;

    (void)o;
    if (m->payload.u64 & VIRTIO_STATUS_DEVICE_NEEDS_RESET) {
        up_fail_session(r, "the vdpa-user back-end needs a reset (DEVICE_NEEDS_RESET)");
        return;
    }
    read_config(r, UP_CONFIG_EVENT, "refresh the config space");
    if (r->fe_chan && vu_has_bit(r->fe_limits.protocol_features, VU_PF_CONFIG) &&
        vu_has_bit(r->fe_limits.protocol_features, VU_PF_BACKEND_REQ)) {
        vu_msg_init(&change, VU_BREQ_CONFIG_CHANGE_MSG, 0);
        vs_send_frontend_channel(r, &change, "from the config-call eventfd");
    }
}

/* NET_SET_MTU: the back-end's config space decides; the shim only checks
 * that the front-end agrees. */
void up_h_net_set_mtu(struct vs_relay *r, struct up_req *q)
{
    struct vs_up *up = r->up;
    uint64_t mtu = q->m->payload.u64;
    bool known = up->has_config && up->config_size >= NET_CFG_MTU_END;
    uint16_t have = known ? config_mtu(up) : 0;

    if (known && have == mtu) {
        if (q->ack_fe)
            vs_reply_frontend_ack(r, VU_REQ_NET_SET_MTU, 0);
        return;
    }
    vs_warn("%s: the front-end sets MTU %" PRIu64 " but the vdpa-user back-end's config space "
            "says %u; start the back-end with that MTU (or pass mtu=%u to the front-end)",
            r->cfg.id, mtu, have, have);
    if (q->ack_fe)
        vs_reply_frontend_ack(r, VU_REQ_NET_SET_MTU, EINVAL);
}

/* ---- driver writes ------------------------------------------------------------- */

/* The status the shim has put the back-end in. */
static uint8_t backend_status(const struct vs_up *up)
{
    switch (up->state) {
    case UP_NEGOTIATING:
        return UP_ST_NEGOTIATING;
    case UP_FEATURES_OK:
        return UP_ST_FEATURES_OK;
    case UP_RUNNING:
    case UP_STOPPED: /* suspended: the back-end refuses driver writes itself */
        break;
    }
    return UP_ST_DRIVER_OK;
}

/* A rebooted guest probes its input device again while the front-end has
 * the rings stopped (after GET_VRING_BASE the back-end is suspended, and
 * refuses driver writes). The next start resets the back-end and replays
 * everything anyway (up_rings.c), so an early-writable write resets it
 * now, back to negotiation, where it takes such writes; the front-end's
 * next SET_FEATURES then goes to the back-end again. */
static void reset_stopped(struct vs_relay *r, const struct vu_config *c,
                          const struct vs_device_model *m)
{
    struct vs_up *up = r->up;
    uint32_t off, size;

    if (up->state != UP_STOPPED ||
        vs_model_write_span(m, c->offset, c->size, UP_ST_NEGOTIATING, 0,
                            r->be_limits.offered_features, &off, &size) < 0 ||
        size == 0)
        return;
    up_set_status(r, UP_ST_RESET, "a driver write while stopped: reset");
    up_set_status(r, UP_ST_NEGOTIATING, NULL);
    up->state = UP_NEGOTIATING;
    up->features_set = false;
}

static void forward_config(struct vs_relay *r, struct up_req *q, const char *note)
{
    q->m->hdr.flags |= q->ack_fe ? VU_FLAG_NEED_REPLY : 0;
    vs_forward_to_backend(r, q->d, q->m, note);
}

/* A byte outside the writable span is dropped when it is what the field
 * reads now or what the front-end wrote there last (QEMU's copy: its last
 * read with the guest's writes applied). Otherwise the write would change
 * a byte the device does not let a driver change: false, with the reason. */
static bool check_dropped(const struct vs_relay *r, const struct vu_config *c, uint32_t span_off,
                          uint32_t span_size, bool features_ok, char *why, size_t len)
{
    const struct vs_device_model *m = vs_model_find(r->cfg.type->name);
    const struct vs_up *up = r->up;

    for (uint32_t i = 0; i < c->size; i++) {
        uint32_t byte = c->offset + i;
        const struct vs_config_field *f = vs_model_field_at(m, byte);
        if (byte >= span_off && byte < span_off + span_size)
            continue;
        if ((up->has_config && c->data[i] == up->config[byte]) || c->data[i] == up->fe_view[byte])
            continue;
        snprintf(why, len,
                 "byte %u (%s) is %s and the write changes it (0x%02x, the field reads 0x%02x)",
                 byte, f ? f->name : "no field",
                 f && f->write != VS_WRITE_NONE && !features_ok ? "not writable before FEATURES_OK"
                                                                : "not driver-writable",
                 c->data[i], up->config[byte]);
        return false;
    }
    return true;
}

/* SET_CONFIG from a legacy front-end. Provisioning (flags 1) and a type
 * without a model pass through; a driver write goes to the back-end as the
 * writable bytes alone, the front-end's ack after the back-end's. */
void up_h_set_config(struct vs_relay *r, struct up_req *q)
{
    const struct vs_device_model *m = vs_model_find(r->cfg.type->name);
    struct vs_up *up = r->up;
    const struct vu_config *c = &q->m->payload.config;
    uint32_t off = 0, size = 0;
    struct vu_msg w;
    char why[200], note[96];
    uint8_t status;

    if (c->flags != 0 || !m || m->nfields == 0) {
        forward_config(r, q, NULL);
        return;
    }
    reset_stopped(r, c, m);
    status = backend_status(up);
    if (vs_model_write_span(m, c->offset, c->size, status, up->features_set ? up->features : 0,
                            r->be_limits.offered_features, &off, &size) < 0) {
        vs_refuse_frontend(r, &q->hdr, q->d, -EINVAL,
                           "the driver-writable bytes it covers are not one range");
        return;
    }
    if (!check_dropped(r, c, off, size, status & VIRTIO_STATUS_FEATURES_OK, why, sizeof(why))) {
        vs_refuse_frontend(r, &q->hdr, q->d, -EINVAL, why);
        return;
    }
    memcpy(up->fe_view + c->offset, c->data, c->size);
    if (size == 0) {
        /* only bytes that keep their value: nothing for the device to do */
        if (q->ack_fe)
            vs_reply_frontend_u64(r, VU_REQ_SET_CONFIG, 0,
                                  "no driver-writable byte: the rest reads as written");
        return;
    }
    vu_msg_init(&w, VU_REQ_SET_CONFIG, 0);
    vu_msg_set_config(&w, off, size, 0, c->data + (off - c->offset));
    snprintf(note, sizeof(note), "the writable bytes [%u, %u) of [%u, %u)", off, off + size,
             c->offset, c->offset + c->size);
    vs_send_internal(r, &w, UP_STEP_CONFIG_WRITE, q->ack_fe ? VU_REQ_SET_CONFIG : 0, note);
}

/* The back-end's answer to a narrowed write: the front-end's ack follows a
 * fresh read of the config space (a write can change other fields), so
 * that what it compares the next write with is current. */
void up_step_config_write(struct vs_relay *r, const struct vs_owed *o, const struct vu_msg *m)
{
    uint64_t v = m->payload.u64;

    if (v != 0) {
        vs_warn("%s: vdpa-user back-end %s refused the driver's config write (%" PRIu64
                "); the front-end's SET_CONFIG fails (--trace shows it)",
                r->cfg.id, r->cfg.backend, v);
        if (o->arg)
            vs_reply_frontend_ack(r, o->arg, v);
        return;
    }
    read_config(r, UP_CONFIG_WRITE, "after a driver write");
    if (o->arg)
        vs_reply_frontend_ack(r, o->arg, 0); /* sent once that read is answered */
}
