/* SPDX-License-Identifier: MIT */
/*
 * Down-conversion's config space: rendered by the device model (devmodel.h)
 * from the device keys and, where the back-end has one (F_CONFIG), the
 * back-end's config space, read live; provisioning (mac, mtu) before
 * FEATURES_OK; driver writes passed on to the back-end (whole, for input's
 * select/subsel) or served by the shim (gpu events_clear clears events_read,
 * scsi sense_size/cdb_size keep their value). Config changes reach the
 * front-end through its config-call eventfd: the back-end's
 * CONFIG_CHANGE_MSG on the channel the shim keeps (for gpu also an event in
 * events_read), and DEVICE_NEEDS_RESET.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "down_int.h"
#include "log.h"
#include "peer_fd.h"

/* VIRTIO 5.1.4.1: a provisioned mtu is at least 68 (IPv4's minimum). */
#define DOWN_NET_MIN_MTU 68u

/* ---- the config-call eventfd ------------------------------------------------- */

void down_signal_config_call(struct vs_relay *r, const char *why)
{
    struct vs_down *dn = r->down;
    int rc;

    if (dn->config_call_fd < 0 || dn->peer_failed)
        return;
    vs_debug("%s: config-call: %s", r->cfg.id, why);
    rc = peer_fd_signal(dn->config_call_fd);
    if (rc < 0)
        down_peer_fd_failed(r, "config-call eventfd", rc);
}

/* A device-initiated config change (spec 7): now, or held back. */
static void config_changed(struct vs_relay *r, const char *why)
{
    struct vs_down *dn = r->down;

    if (down_deliverable(dn)) {
        dn->config_pending = false;
        down_signal_config_call(r, why);
    } else {
        dn->config_pending = true;
    }
}

void down_deliver_pending_config(struct vs_relay *r)
{
    if (r->down->config_pending && down_deliverable(r->down))
        config_changed(r, "held-back change");
}

int down_h_set_config_call(struct vs_relay *r, struct down_req *q)
{
    int rc = vs_keep_fd_copy(&r->down->config_call_fd, q->m);

    vu_msg_close_fds(q->m);
    if (rc < 0) {
        q->why = "cannot keep a copy of the config-call eventfd";
        return rc;
    }
    down_deliver_pending_config(r);
    return DOWN_ACK;
}

/* ---- the back-end's channel -------------------------------------------------- */

static void on_backend_channel_close(struct vs_conn *c, int reason)
{
    struct vs_relay *r = c->owner;

    (void)reason;
    if (c == r->be_chan)
        r->be_chan = NULL;
}

static void on_backend_channel_msg(struct vs_conn *c, struct vu_msg *m)
{
    struct vs_relay *r = c->owner;
    const struct vu_msg_desc *d;
    struct vu_error err;
    uint32_t req = m->hdr.request;
    bool need_reply = (m->hdr.flags & VU_FLAG_NEED_REPLY) != 0;
    int rc = vu_validate_request(&r->be_limits, VU_CHAN_BACKEND, m, &d, &err);

    if (rc) {
        vs_warn("%s: back-end channel: %s; closing it", r->cfg.id, err.text);
        vs_conn_close(c, 0);
        return;
    }
    vs_trace_dir(r, "be->shim", VU_CHAN_BACKEND, m, NULL);
    vu_msg_close_fds(m);
    if (req == VU_BREQ_CONFIG_CHANGE_MSG && r->down) {
        /* gpu: the change is an event the driver reads in events_read */
        r->down->in.events |= r->down->model->change_events;
        config_changed(r, "the back-end's CONFIG_CHANGE_MSG");
    }
    if (need_reply) {
        struct vu_msg ack;
        vu_msg_init(&ack, req, VU_FLAG_REPLY);
        vu_msg_set_u64(&ack, req == VU_BREQ_CONFIG_CHANGE_MSG ? 0 : EOPNOTSUPP);
        vs_trace_dir(r, "shim->be", VU_CHAN_BACKEND, &ack, NULL);
        vs_conn_send(c, &ack);
    }
}

/* The back-end's channel ends at the shim: CONFIG_CHANGE_MSG becomes the
 * config-call eventfd, which is all vdpa-user allows (spec 4). */
void down_give_backend_channel(struct vs_relay *r)
{
    int end = vs_backend_channel_new(r, on_backend_channel_msg, on_backend_channel_close);
    struct vu_msg m;

    if (end < 0) {
        vs_warn("%s: no back-end channel (%s); config changes will not be seen", r->cfg.id,
                strerror(-end));
        return;
    }
    vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, 0);
    vu_msg_add_fd(&m, end);
    vs_send_internal(r, &m, DOWN_STEP_CHECK, 0, "the shim keeps the back-end channel");
}

/* ---- reads ------------------------------------------------------------------- */

bool down_backend_config_used(const struct vs_relay *r)
{
    const struct vs_down *dn = r->down;

    return vu_has_bit(r->be_limits.protocol_features, VU_PF_CONFIG) &&
           r->cfg.type->config_size > 0 && vs_model_reads_backend(dn->model);
}

static void read_config(struct vs_relay *r, const struct vu_msg *req)
{
    struct vs_down *dn = r->down;
    uint8_t config[VU_MAX_CONFIG_SIZE];
    struct vu_msg reply;
    const struct vu_config *want = &req->payload.config;

    dn->in.link_up = !dn->backend_lost;
    vs_model_render(dn->model, &dn->in, dn->offered, config, r->cfg.type->config_size);
    vu_msg_make_reply(&reply, req);
    vu_msg_set_config(&reply, want->offset, want->size, want->flags, config + want->offset);
    vs_trace_dir(r, "shim->fe", VU_CHAN_FRONTEND, &reply, "device model");
    vs_conn_send(r->fe, &reply);
}

int down_h_get_config(struct vs_relay *r, struct down_req *q)
{
    struct vs_down *dn = r->down;
    const struct vu_config *c = &q->m->payload.config;

    if (dn->status == 0 || c->flags != 0) {
        q->why = "GET_CONFIG in status 0 or with flags";
        return -EINVAL;
    }
    if (down_backend_config_used(r) && !dn->backend_lost) {
        /* live: capacity and writeback can change under the device */
        struct vu_msg get;
        vu_msg_init(&get, VU_REQ_GET_CONFIG, 0);
        vu_msg_set_config(&get, 0, dn->in.backend_config_size, 0, NULL);
        vs_send_internal(r, &get, DOWN_STEP_CONFIG_READ, down_config_arg(c->offset, c->size), NULL);
        return DOWN_ANSWERED;
    }
    read_config(r, q->m);
    return DOWN_ANSWERED;
}

void down_step_config_read(struct vs_relay *r, const struct vs_owed *o, struct vu_msg *m)
{
    struct vs_down *dn = r->down;
    struct vu_msg req;

    if (m->hdr.size >= VU_CONFIG_HDR_SIZE && m->payload.config.size == dn->in.backend_config_size)
        memcpy(dn->backend_config, m->payload.config.data, dn->in.backend_config_size);
    vu_msg_init(&req, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&req, (uint32_t)(o->arg >> DOWN_CONFIG_ARG_SHIFT),
                      (uint32_t)(o->arg & DOWN_CONFIG_ARG_MASK), 0, NULL);
    read_config(r, &req);
}

/* ---- writes ------------------------------------------------------------------ */

/* Provisioning (spec 3.3): mac and mtu, in status ACKNOWLEDGE|DRIVER. */
static int provision(struct vs_down *dn, const struct vs_relay *r, struct down_req *q)
{
    const struct vu_config *c = &q->m->payload.config;
    uint8_t config[VU_MAX_CONFIG_SIZE];
    uint16_t mtu;

    if ((dn->status & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) != VIRTIO_STATUS_BASE_DRIVER ||
        !vs_model_range_provisionable(dn->model, c->offset, c->size, dn->offered)) {
        q->why = "provisioning outside offered mac/mtu or outside status ACKNOWLEDGE|DRIVER";
        return -EINVAL;
    }
    vs_model_render(dn->model, &dn->in, ~UINT64_C(0), config, r->cfg.type->config_size);
    memcpy(config + c->offset, c->data, c->size);
    memcpy(&mtu, config + VIRTIO_NET_CFG_MTU, sizeof(mtu));
    mtu = le16toh(mtu);
    if (c->offset + c->size > VIRTIO_NET_CFG_MTU && c->offset < VIRTIO_NET_CFG_MTU + sizeof(mtu) &&
        mtu < DOWN_NET_MIN_MTU) {
        q->why = "provisioned mtu below 68";
        return -EINVAL;
    }
    memcpy(dn->in.mac, config + VIRTIO_NET_CFG_MAC, sizeof(dn->in.mac));
    dn->in.mtu = mtu;
    return DOWN_ACK;
}

/* A driver write passed on to the back-end; a model that wants the whole
 * structure (input) gets it at offset 0 with the write applied, as QEMU
 * sends it. */
static int write_backend(struct vs_relay *r, struct down_req *q)
{
    struct vs_down *dn = r->down;
    const struct vu_config *c = &q->m->payload.config;
    struct vu_msg whole;

    if (!down_backend_config_used(r) || dn->backend_lost) {
        q->why = "a write for the back-end's config space, which it does not have";
        return -EINVAL;
    }
    if (!dn->model->backend_write_whole) {
        vs_send_internal(r, q->m, DOWN_STEP_CHECK, 0, "driver write");
    } else if (c->offset + c->size > dn->in.backend_config_size) {
        q->why = "a write past the back-end's config space";
        return -EINVAL;
    } else {
        /* the copy is refreshed by every read; the write is kept for the next one */
        memcpy(dn->backend_config + c->offset, c->data, c->size);
        vu_msg_init(&whole, VU_REQ_SET_CONFIG, 0);
        vu_msg_set_config(&whole, 0, dn->in.backend_config_size, 0, dn->backend_config);
        vs_send_internal(r, &whole, DOWN_STEP_CHECK, 0, "driver write, whole structure");
    }
    down_barrier(r, DOWN_STEP_ANSWER, q->ack);
    return DOWN_ANSWERED;
}

/* A driver write (flags=0) after FEATURES_OK (from ACKNOWLEDGE for console
 * emerg_wr): to the back-end, or served by the shim (gpu events_clear,
 * scsi sense_size/cdb_size). */
int down_h_set_config(struct vs_relay *r, struct down_req *q)
{
    struct vs_down *dn = r->down;
    const struct vu_config *c = &q->m->payload.config;
    enum vs_field_write kind;
    bool early;

    if (c->flags == VU_CONFIG_F_MIGRATION)
        return provision(dn, r, q);
    kind = vs_model_write_kind(dn->model, c->offset, c->size, dn->features, dn->offered);
    early = vs_model_range_early(dn->model, c->offset, c->size);
    if (c->flags != 0 || kind == VS_WRITE_NONE ||
        (!early && (!(dn->status & VIRTIO_STATUS_FEATURES_OK) || dn->suspended ||
                    (dn->status & VIRTIO_STATUS_OVERLAY))) ||
        (early && !(dn->status & VIRTIO_STATUS_ACKNOWLEDGE))) {
        q->why = "no driver-writable field there";
        return -EINVAL;
    }
    if (kind == VS_WRITE_BACKEND)
        return write_backend(r, q);
    if (vs_model_apply_write(dn->model, &dn->in, dn->offered, c->offset, c->size, c->data) < 0) {
        q->why = "a write that would change a value this device cannot change";
        return -EINVAL;
    }
    return DOWN_ACK;
}
