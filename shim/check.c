/* SPDX-License-Identifier: MIT */
/*
 * check=: the conversation measured against the compatibility matrix
 * (compat-matrix/<type>.tsv). Against the spec columns: a peer that sends a
 * request its role and device type never send (or vdpa-user forbids), a
 * back-end that refuses a request it must handle, and a front-end that
 * started the device without a request it must send. Against the measured
 * columns of the live peers' own programs and versions, identified by
 * lib/proto/matrix_measured.c (a back-end by its offers, a front-end by
 * the order of its first requests; the union of the candidates, or of
 * every column of the role, when that is not one column): a request the
 * back-end failed when measured, a refusal of a request it answered when
 * measured, and a request the front-end was not seen to send. Reported in
 * the log, warnings as "check:", information as "check=:". Reporting only:
 * validation decides what is refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "matrix.h"
#include "session.h"

#define NAMES_MAX 480 /* a list of column names in a log line */

struct vs_check {
    struct vs_matrix m;
    char path[VS_PATH_MAX + 16];
    uint64_t seen_fe; /* front-end requests seen this session, by table row */
    bool started;     /* the front-end started the device: a legacy kick fd,
                         or vdpa-user's DRIVER_OK */
    bool resumed;     /* a legacy front-end set a ring's base past 0: it
                         resumes a device it had running (reconnect=) */
    /* the measured columns, per session */
    struct vs_mx_offers live;     /* what the back-end offered */
    bool be_decided, fe_decided;  /* the columns below are chosen */
    vs_mx_set be_cols, fe_cols;   /* checked against once chosen */
    uint8_t fe_order[VS_MX_ROWS]; /* the front-end's distinct requests, in order */
    unsigned fe_norder;
    uint64_t be_checked, fe_checked; /* rows already checked against the columns */
    uint64_t refusal_noted;          /* rows whose refusal was reported */
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
    vs_info("%s: checking the conversation against %s (the spec columns and %u measured: "
            "%u front-end, %u back-end)",
            r->cfg.id, c->path, c->m.ncols, vs_mx_count(vs_mx_columns(&c->m, VS_MX_SIDE_FRONTEND)),
            vs_mx_count(vs_mx_columns(&c->m, VS_MX_SIDE_BACKEND)));
    if (c->m.dropped)
        vs_warn("%s: check=: %s has more than %d measured columns: the %u records of the others "
                "are ignored",
                r->cfg.id, c->path, VS_MX_MAX_COLUMNS, c->m.dropped);
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

/* ---- the measured columns --------------------------------------------------- */

#define OFFERS_NEEDED (1u << VS_MX_OFFER_FEATURES | 1u << VS_MX_OFFER_PROTOCOL)
#define FAILED        (1u << VS_MX_REFUSED | 1u << VS_MX_DISCONNECT)

/* "features 0x.. and protocol features 0x..", with the queue number and
 * config size where known. */
static void describe_offers(const struct vs_mx_offers *o, char *buf, size_t len)
{
    char extra[96] = "";
    int n = 0;

    if (o->known & 1u << VS_MX_OFFER_QUEUE_NUM)
        n += snprintf(extra + n, sizeof(extra) - (size_t)n, ", queue-num %" PRIu64,
                      o->v[VS_MX_OFFER_QUEUE_NUM]);
    if (o->known & 1u << VS_MX_OFFER_CONFIG_SIZE)
        snprintf(extra + n, sizeof(extra) - (size_t)n, ", config-size %" PRIu64,
                 o->v[VS_MX_OFFER_CONFIG_SIZE]);
    snprintf(buf, len, "features 0x%" PRIx64 "%s protocol features 0x%" PRIx64 "%s",
             o->v[VS_MX_OFFER_FEATURES], extra[0] ? "," : " and", o->v[VS_MX_OFFER_PROTOCOL],
             extra);
}

/* Chooses the back-end's columns from what it offered so far. */
static void decide_backend(struct vs_relay *r)
{
    struct vs_check *c = r->check;
    vs_mx_set all = vs_mx_columns(&c->m, VS_MX_SIDE_BACKEND);
    vs_mx_set s = vs_mx_match_offers(&c->m, &c->live);
    char offers[200], names[NAMES_MAX];

    c->be_decided = true;
    c->be_cols = s ? s : all;
    if (!all)
        return; /* nothing measured: vs_check_init said so */
    vs_mx_names(&c->m, c->be_cols, true, names, sizeof(names));
    describe_offers(&c->live, offers, sizeof(offers));
    if ((c->live.known & OFFERS_NEEDED) != OFFERS_NEEDED)
        vs_info("%s: check=: back-end not identified (its offers were not seen): checked against "
                "the union of %u measured back-end columns (%s)",
                r->cfg.id, vs_mx_count(all), names);
    else if (vs_mx_count(s) == 1)
        vs_info("%s: check=: back-end identified as %s (offered %s match that column only)",
                r->cfg.id, names, offers);
    else if (s)
        vs_info("%s: check=: back-end is one of %s, indistinguishable by their offers (offered %s "
                "match each of them): checked against their union",
                r->cfg.id, names, offers);
    else
        vs_info("%s: check=: back-end not identified (offered %s match no measured column): "
                "checked against the union of %u measured back-end columns (%s)",
                r->cfg.id, offers, vs_mx_count(all), names);
}

/* Chooses the front-end's columns from the order of its first requests. */
static void decide_frontend(struct vs_relay *r)
{
    struct vs_check *c = r->check;
    vs_mx_set all = vs_mx_columns(&c->m, VS_MX_SIDE_FRONTEND);
    vs_mx_set s = vs_mx_match_order(&c->m, c->fe_order, c->fe_norder);
    char names[NAMES_MAX];

    c->fe_decided = true;
    c->fe_cols = s ? s : all;
    if (!all)
        return;
    if (sender_role(r, VU_CHAN_FRONTEND) == VS_MX_VDPA_FE) {
        vs_info("%s: check=: the front-end speaks vdpa-user: the measured front-end columns are "
                "of legacy VMMs, not compared",
                r->cfg.id);
        return;
    }
    vs_mx_names(&c->m, c->fe_cols, true, names, sizeof(names));
    if (vs_mx_count(s) == 1)
        vs_info("%s: check=: front-end identified as %s (its first %u requests follow that "
                "column's recorded order only)",
                r->cfg.id, names, c->fe_norder);
    else if (s)
        vs_info("%s: check=: front-end is one of %s, indistinguishable by the order of its first "
                "%u requests: checked against their union",
                r->cfg.id, names, c->fe_norder);
    else
        vs_info("%s: check=: front-end not identified (its first %u requests follow no measured "
                "column's order): checked against the union of %u measured front-end columns "
                "(%s)",
                r->cfg.id, c->fe_norder, vs_mx_count(all), names);
}

/* Decided once the front-end sent as many distinct requests as the longest
 * order still consistent with it, or none is. */
static void maybe_decide_frontend(struct vs_relay *r)
{
    struct vs_check *c = r->check;
    vs_mx_set s = vs_mx_match_order(&c->m, c->fe_order, c->fe_norder);

    if (!s || c->fe_norder >= vs_mx_order_max(&c->m, s))
        decide_frontend(r);
}

/* A measured outcome of a request with a ring index was the probe's (ring
 * 0, 256 entries, after its kick): it predicts nothing about another ring
 * or size, so it is information, not a warning. */
static bool per_ring(uint32_t request)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, request);

    return d && d->ring != VU_RING_NONE;
}

/* The chosen back-end columns whose value of a front-end request is in
 * `values`, when every chosen column that measured the request has one of
 * them; else 0. */
static vs_mx_set unanimous(const struct vs_check *c, uint32_t request, unsigned values)
{
    vs_mx_set s = vs_mx_with(&c->m, c->be_cols, VU_CHAN_FRONTEND, request, values);

    return s == vs_mx_with(&c->m, c->be_cols, VU_CHAN_FRONTEND, request, VS_MX_RECEIVED) ? s : 0;
}

/* "a:backend (disconnect), b:backend (refused)": each column of s with its
 * value of a front-end request. */
static void outcomes(const struct vs_matrix *m, vs_mx_set s, int row, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (unsigned i = 0; i < m->ncols && used < len; i++) {
        int k;
        if (!(s >> i & 1))
            continue;
        k = snprintf(buf + used, len - used, "%s%s (%s)", used ? ", " : "", m->col[i].name,
                     vs_mx_value_name((enum vs_mx_value)m->col[i].v[VU_CHAN_FRONTEND][row]));
        used += k > 0 ? (size_t)k : 0;
    }
}

/* The front-end asks, relayed as it is, what every back-end column that
 * measured the request failed: a failure predicted. */
static void check_backend_rows(struct vs_relay *r)
{
    struct vs_check *c = r->check;
    uint64_t todo = c->seen_fe & ~c->be_checked;
    char list[NAMES_MAX];

    /* translated: the back-end gets the shim's requests, not these */
    if (!c->be_cols || vu_has_bit(r->fe_limits.protocol_features, VU_PF_VDPA) !=
                           vu_has_bit(r->be_limits.protocol_features, VU_PF_VDPA))
        return;
    c->be_checked |= todo;
    for (int row = 0; todo; row++, todo >>= 1) {
        uint32_t request = vu_msg_desc_at(VU_CHAN_FRONTEND, (size_t)row)->request;
        vs_mx_set failed = unanimous(c, request, FAILED);
        if (!(todo & 1) || !failed)
            continue;
        outcomes(&c->m, failed, row, list, sizeof(list));
        if (per_ring(request))
            vs_info("%s: check=: the front-end sent %s, which failed when measured with the "
                    "probe's own ring values: %s (%s): no prediction for this ring",
                    r->cfg.id, vu_request_name(VU_CHAN_FRONTEND, request), list, c->path);
        else
            vs_warn("%s: check: the front-end sent %s, which the back-end's measured column "
                    "failed: %s (%s): the back-end is likely to fail it",
                    r->cfg.id, vu_request_name(VU_CHAN_FRONTEND, request), list, c->path);
    }
}

/* The front-end sent what none of its columns was seen to send: a note
 * (the probe's back-end offered one particular set). */
static void check_frontend_rows(struct vs_relay *r)
{
    struct vs_check *c = r->check;
    uint64_t todo = c->seen_fe & ~c->fe_checked;
    char names[NAMES_MAX];

    c->fe_checked |= todo;
    /* the measured front-ends are legacy VMMs: a vdpa-user front-end (a
     * driver, or the up-converting shim of a chain) is not one of them */
    if (sender_role(r, VU_CHAN_FRONTEND) == VS_MX_VDPA_FE)
        return;
    for (int row = 0; c->fe_cols && todo; row++, todo >>= 1) {
        const struct vu_msg_desc *d = vu_msg_desc_at(VU_CHAN_FRONTEND, (size_t)row);
        if (!(todo & 1) ||
            vs_mx_with(&c->m, c->fe_cols, VU_CHAN_FRONTEND, d->request, 1u << VS_MX_SENT))
            continue;
        vs_mx_names(&c->m, c->fe_cols, false, names, sizeof(names));
        vs_info("%s: check=: the front-end sent %s, not seen when measured (%s, %s)", r->cfg.id,
                d->name, names, c->path);
    }
}

/* Requests that ask what the back-end offers: they come before the back-end
 * is identified, which waits for their answers. */
static bool offer_query(uint32_t request)
{
    return request == VU_REQ_GET_FEATURES || request == VU_REQ_GET_PROTOCOL_FEATURES ||
           request == VU_REQ_SET_PROTOCOL_FEATURES || request == VU_REQ_GET_QUEUE_NUM ||
           request == VU_REQ_SET_OWNER;
}

/* A front-end request, seen for the first time in the session or not. */
static void measured_request(struct vs_relay *r, uint32_t request, bool first)
{
    struct vs_check *c = r->check;

    if (first && !c->fe_decided)
        maybe_decide_frontend(r);
    if (!c->be_decided &&
        (c->started || ((c->live.known & OFFERS_NEEDED) == OFFERS_NEEDED && !offer_query(request))))
        decide_backend(r);
    if (c->started && !c->fe_decided)
        decide_frontend(r);
    if (c->fe_decided)
        check_frontend_rows(r);
    if (c->be_decided)
        check_backend_rows(r);
}

void vs_check_reply(struct vs_relay *r, uint32_t request, const struct vu_msg *m)
{
    static const struct {
        uint32_t request;
        enum vs_mx_offer_kind kind;
    } offers[] = {
        { VU_REQ_GET_FEATURES, VS_MX_OFFER_FEATURES },
        { VU_REQ_GET_PROTOCOL_FEATURES, VS_MX_OFFER_PROTOCOL },
        { VU_REQ_GET_QUEUE_NUM, VS_MX_OFFER_QUEUE_NUM },
        { VU_REQ_VDPA_GET_CONFIG_SIZE, VS_MX_OFFER_CONFIG_SIZE },
    };
    struct vs_check *c = r->check;

    if (!c || m->hdr.size != sizeof(uint64_t))
        return;
    for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]); i++) {
        unsigned bit = 1u << offers[i].kind;
        if (offers[i].request != request)
            continue;
        if (c->be_decided && (bit & OFFERS_NEEDED) && (c->live.known & bit) &&
            c->live.v[offers[i].kind] != m->payload.u64) {
            /* another back-end (a restart): identified again */
            vs_info("%s: check=: the back-end's offers changed: identifying it again", r->cfg.id);
            c->be_decided = false;
            c->be_checked = c->refusal_noted = 0;
        }
        c->live.v[offers[i].kind] = m->payload.u64;
        c->live.known |= bit;
    }
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
        bool first = !(c->seen_fe >> row & 1);
        c->seen_fe |= UINT64_C(1) << row;
        if (first && c->fe_norder < VS_MX_ROWS)
            c->fe_order[c->fe_norder++] = (uint8_t)row;
        if (role == VS_MX_LEGACY_FE && request == VU_REQ_SET_VRING_BASE &&
            m->hdr.size >= sizeof(struct vu_vring_state) && m->payload.state.num != 0)
            c->resumed = true;
        if (role == VS_MX_LEGACY_FE ? request == VU_REQ_SET_VRING_KICK
                                    : request == VU_REQ_SET_STATUS && m->hdr.size >= 8 &&
                                          (m->payload.u64 & VIRTIO_STATUS_DRIVER_OK))
            c->started = true;
        measured_request(r, request, first);
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

/* The back-end refused what every column of it that measured the request
 * answered: a deviation from the measurement. */
static void measured_refusal(struct vs_relay *r, uint32_t request)
{
    struct vs_check *c = r->check;
    int row = vs_mx_row(VU_CHAN_FRONTEND, request);
    vs_mx_set answered;
    char names[NAMES_MAX];

    if (!c->be_decided)
        decide_backend(r);
    if (row < 0 || (c->refusal_noted >> row & 1))
        return;
    answered = unanimous(c, request, 1u << VS_MX_ANSWERED);
    if (!answered)
        return;
    c->refusal_noted |= UINT64_C(1) << row;
    vs_mx_names(&c->m, answered, false, names, sizeof(names));
    if (per_ring(request))
        vs_info("%s: check=: the back-end refused %s, which %s answered with the probe's own ring "
                "values (%s)",
                r->cfg.id, vu_request_name(VU_CHAN_FRONTEND, request), names, c->path);
    else
        vs_warn("%s: check: the back-end refused %s, which %s answered when measured (%s): a "
                "deviation from the measurement",
                r->cfg.id, vu_request_name(VU_CHAN_FRONTEND, request), names, c->path);
}

void vs_check_refusal(struct vs_relay *r, uint32_t request)
{
    struct vs_check *c = r->check;
    enum vs_mx_role role = vu_has_bit(r->be_limits.protocol_features, VU_PF_VDPA) ? VS_MX_VDPA_BE
                                                                                  : VS_MX_LEGACY_BE;

    if (!c)
        return;
    if (vs_mx_get(&c->m, role, VU_CHAN_FRONTEND, request) == VS_MX_REQUIRED)
        vs_warn("%s: check: the back-end refused %s, which a %s back-end must handle (%s: %s)",
                r->cfg.id, vu_request_name(VU_CHAN_FRONTEND, request), r->cfg.type->name, c->path,
                vs_mx_role_column(role));
    measured_refusal(r, request);
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
    for (size_t i = 0; c->started && i < vu_msg_desc_count(VU_CHAN_FRONTEND) && i < VS_MX_ROWS;
         i++) {
        const struct vu_msg_desc *d = vu_msg_desc_at(VU_CHAN_FRONTEND, i);
        bool owed = !(c->resumed && role == VS_MX_LEGACY_FE &&
                      (d->flags & VU_DESC_ONCE_PER_DEVICE));
        if (owed && c->m.v[role][VU_CHAN_FRONTEND][i] == VS_MX_REQUIRED && !(c->seen_fe >> i & 1))
            vs_warn("%s: check: the front-end started the device without sending %s, which a "
                    "%s front-end must send (%s: %s)",
                    r->cfg.id, d->name, r->cfg.type->name, c->path, vs_mx_role_column(role));
    }
    /* the front-end's notes, when it left before it was identified */
    if (c->seen_fe && !c->fe_decided) {
        decide_frontend(r);
        check_frontend_rows(r);
    }
    c->seen_fe = 0;
    c->started = c->resumed = false;
    memset(&c->live, 0, sizeof(c->live));
    c->be_decided = c->fe_decided = false;
    c->be_cols = c->fe_cols = 0;
    c->fe_norder = 0;
    c->be_checked = c->fe_checked = c->refusal_noted = 0;
}
