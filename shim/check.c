/* SPDX-License-Identifier: MIT */
/*
 * check=: the conversation measured against the compatibility matrix
 * (compat-matrix/<type>.tsv, spec columns). A peer that sends a request its
 * role and device type never send (or vdpa-user forbids), a back-end that
 * refuses a request it must handle, and a front-end that started the device
 * without a request it must send are reported as log warnings. Reporting
 * only: validation decides what is refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "matrix.h"
#include "session.h"

struct vs_check {
    struct vs_matrix m;
    char path[VS_PATH_MAX + 16];
    uint64_t seen_fe; /* front-end requests seen this session, by table row */
    bool started;     /* the front-end started the device: a legacy kick fd,
                                    or vdpa-user's DRIVER_OK */
    bool resumed;     /* a legacy front-end set a ring's base past 0: it
                                    resumes a device it had running (reconnect=) */
};

int vs_check_init(struct vs_relay *r)
{
    struct vs_check *c;
    struct stat st;
    char err[400];
    int rc;

    if (!r->cfg.check[0])
        return 0;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    /* a directory holds one file per type */
    if (stat(r->cfg.check, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(c->path, sizeof(c->path), "%s/%s.tsv", r->cfg.check, r->cfg.type->name);
    else
        snprintf(c->path, sizeof(c->path), "%s", r->cfg.check);
    rc = vs_mx_load(c->path, r->cfg.type, &c->m, err, sizeof(err));
    if (rc) {
        vs_err("%s: check=: %s", r->cfg.id, err);
        free(c);
        return rc;
    }
    r->check = c;
    vs_info("%s: checking the conversation against %s", r->cfg.id, c->path);
    return 0;
}

void vs_check_free(struct vs_relay *r)
{
    free(r->check);
    r->check = NULL;
}

/* The role of the peer that sends on `ch`, by the protocol it speaks. */
static enum vs_mx_role sender_role(const struct vs_relay *r, enum vu_channel ch)
{
    if (ch == VU_CHAN_FRONTEND)
        return vu_has_bit(r->fe_limits.protocol_features, VU_PF_VDPA) ? VS_MX_VDPA_FE
                                                                      : VS_MX_LEGACY_FE;
    return vu_has_bit(r->be_limits.protocol_features, VU_PF_VDPA) ? VS_MX_VDPA_BE : VS_MX_LEGACY_BE;
}

void vs_check_request(struct vs_relay *r, enum vu_channel ch, const struct vu_msg *m)
{
    struct vs_check *c = r->check;
    uint32_t request = m->hdr.request;
    enum vs_mx_role role;
    enum vs_mx_value v;
    int row;

    if (!c || (row = vs_mx_row(ch, request)) < 0)
        return; /* unknown requests are the validator's */
    role = sender_role(r, ch);
    v = vs_mx_get(&c->m, role, ch, request);
    if (ch == VU_CHAN_FRONTEND) {
        c->seen_fe |= UINT64_C(1) << row;
        if (role == VS_MX_LEGACY_FE && request == VU_REQ_SET_VRING_BASE &&
            m->hdr.size >= sizeof(struct vu_vring_state) && m->payload.state.num != 0)
            c->resumed = true;
        if (role == VS_MX_LEGACY_FE ? request == VU_REQ_SET_VRING_KICK
                                    : request == VU_REQ_SET_STATUS && m->hdr.size >= 8 &&
                                          (m->payload.u64 & VIRTIO_STATUS_DRIVER_OK))
            c->started = true;
    }
    if (v == VS_MX_NEVER || v == VS_MX_FORBIDDEN)
        vs_warn("%s: check: the %s sent %s, which %s %s %s (%s: %s)", r->cfg.id,
                ch == VU_CHAN_FRONTEND ? "front-end" : "back-end", vu_request_name(ch, request),
                v == VS_MX_NEVER ? "a" : "vdpa-user",
                v == VS_MX_NEVER ? r->cfg.type->name : "forbids",
                v == VS_MX_NEVER
                    ? (ch == VU_CHAN_FRONTEND ? "front-end never sends" : "back-end never sends")
                    : (ch == VU_CHAN_FRONTEND ? "to front-ends" : "to back-ends"),
                c->path, vs_mx_role_column(role));
}

void vs_check_refusal(struct vs_relay *r, uint32_t request)
{
    struct vs_check *c = r->check;
    enum vs_mx_role role = vu_has_bit(r->be_limits.protocol_features, VU_PF_VDPA) ? VS_MX_VDPA_BE
                                                                                  : VS_MX_LEGACY_BE;

    if (c && vs_mx_get(&c->m, role, VU_CHAN_FRONTEND, request) == VS_MX_REQUIRED)
        vs_warn("%s: check: the back-end refused %s, which a %s back-end must handle (%s: %s)",
                r->cfg.id, vu_request_name(VU_CHAN_FRONTEND, request), r->cfg.type->name, c->path,
                vs_mx_role_column(role));
}

void vs_check_session_end(struct vs_relay *r)
{
    struct vs_check *c = r->check;
    enum vs_mx_role role;

    if (!c)
        return;
    role = sender_role(r, VU_CHAN_FRONTEND);
    /* a session that never started the device was a probe, or was cut
     * short: the rest of the set-up is not owed */
    for (size_t i = 0; c->started && i < vu_msg_desc_count(VU_CHAN_FRONTEND) && i < 64; i++) {
        const struct vu_msg_desc *d = vu_msg_desc_at(VU_CHAN_FRONTEND, i);
        bool owed = !(c->resumed && role == VS_MX_LEGACY_FE &&
                      (d->flags & VU_DESC_ONCE_PER_DEVICE));
        if (owed && c->m.v[role][VU_CHAN_FRONTEND][i] == VS_MX_REQUIRED && !(c->seen_fe >> i & 1))
            vs_warn("%s: check: the front-end started the device without sending %s, which a "
                    "%s front-end must send (%s: %s)",
                    r->cfg.id, d->name, r->cfg.type->name, c->path, vs_mx_role_column(role));
    }
    c->seen_fe = 0;
    c->started = c->resumed = false;
}
