/* SPDX-License-Identifier: MIT */
/*
 * The measured columns of the compatibility matrix (compat-matrix/README.md):
 * what `vdpa-probe` recorded of a real program, `<program>-<version>:frontend`
 * or `:backend`. Loaded for check= (shim/check.c), which identifies the live
 * peers' columns here: a back-end by what it offers, a front-end by the
 * order of its first requests. Pure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "matrix.h"

_Static_assert(VS_MX_MAX_COLUMNS <= 64, "a vs_mx_set has a bit per column");
_Static_assert(VS_MX_ROWS <= VS_MX_NO_ROW, "a row fits in a uint8_t below VS_MX_NO_ROW");

static const char *const offer_names[VS_MX_OFFER_KINDS] = {
    [VS_MX_OFFER_FEATURES] = "features",
    [VS_MX_OFFER_PROTOCOL] = "protocol-features",
    [VS_MX_OFFER_QUEUE_NUM] = "queue-num",
    [VS_MX_OFFER_CONFIG_SIZE] = "config-size",
};

#define FRONTEND_SUFFIX ":frontend"
#define BACKEND_SUFFIX  ":backend"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n > k && strcmp(s + n - k, suffix) == 0;
}

/* The row of a request name on a channel, or -1. */
static int row_named(enum vu_channel ch, const char *name)
{
    for (size_t i = 0; i < vu_msg_desc_count(ch) && i < VS_MX_ROWS; i++)
        if (strcmp(vu_msg_desc_at(ch, i)->name, name) == 0)
            return (int)i;
    return -1;
}

/* The column named `name`, added when new; NULL when the name is not a
 * measured column's (*bad set) or the file has more than VS_MX_MAX_COLUMNS
 * (the record is counted in m->dropped). */
static struct vs_mx_column *column(struct vs_matrix *m, const char *name, bool *bad)
{
    struct vs_mx_column *c;

    *bad = false;
    for (unsigned i = 0; i < m->ncols; i++)
        if (strcmp(m->col[i].name, name) == 0)
            return &m->col[i];
    if (strlen(name) >= VS_MX_NAME_MAX ||
        !(ends_with(name, FRONTEND_SUFFIX) || ends_with(name, BACKEND_SUFFIX))) {
        *bad = true;
        return NULL;
    }
    if (m->ncols == VS_MX_MAX_COLUMNS) {
        m->dropped++;
        return NULL;
    }
    c = &m->col[m->ncols++];
    memset(c, 0, sizeof(*c));
    memcpy(c->name, name, strlen(name) + 1);
    c->side = ends_with(name, BACKEND_SUFFIX) ? VS_MX_SIDE_BACKEND : VS_MX_SIDE_FRONTEND;
    memset(c->order, VS_MX_NO_ROW, sizeof(c->order));
    return c;
}

/* msg COLUMN fe|be REQUEST VALUE SOURCE */
static int load_msg(struct vs_mx_column *c, char **fld, int n)
{
    enum vu_channel ch = VU_CHAN_FRONTEND;
    enum vs_mx_value v;
    int row;

    if (n < 5 || (strcmp(fld[2], "fe") != 0 && strcmp(fld[2], "be") != 0))
        return -EINVAL;
    if (strcmp(fld[2], "be") == 0)
        ch = VU_CHAN_BACKEND;
    row = row_named(ch, fld[3]);
    v = vs_mx_value_parse(fld[4]);
    if (row < 0 || v == VS_MX_NONE)
        return -EINVAL;
    if (c)
        c->v[ch][row] = (uint8_t)v;
    return 0;
}

/* offer COLUMN WHAT VALUE SOURCE; `status` and other kinds are not kept */
static int load_offer(struct vs_mx_column *c, char **fld, int n)
{
    char *end;
    uint64_t v;

    if (n < 4)
        return -EINVAL;
    for (int k = 0; k < VS_MX_OFFER_KINDS; k++) {
        if (strcmp(fld[2], offer_names[k]) != 0)
            continue;
        errno = 0;
        v = strtoull(fld[3], &end, 0); /* hex with 0x, or decimal */
        if (errno || end == fld[3] || *end)
            return -EINVAL;
        if (c) {
            c->offers.v[k] = v;
            c->offers.known |= 1u << k;
        }
        return 0;
    }
    return 0;
}

/* order COLUMN N REQUEST SOURCE; N from 1, only the first VS_MX_ROWS kept */
static int load_order(struct vs_mx_column *c, char **fld, int n)
{
    char *end;
    unsigned long pos;
    int row;

    if (n < 4)
        return -EINVAL;
    pos = strtoul(fld[2], &end, 10);
    row = row_named(VU_CHAN_FRONTEND, fld[3]);
    if (end == fld[2] || *end || pos == 0 || row < 0)
        return -EINVAL;
    if (c && pos <= VS_MX_ROWS) {
        c->order[pos - 1] = (uint8_t)row;
        if (pos > c->norder)
            c->norder = (unsigned)pos;
    }
    return 0;
}

int vs_mx_load_measured(struct vs_matrix *m, char **fld, int n, char *why, size_t whylen)
{
    struct vs_mx_column *c;
    bool bad;
    int rc;

    if (strcmp(fld[0], "msg") != 0 && strcmp(fld[0], "offer") != 0 && strcmp(fld[0], "order") != 0)
        return 0; /* `note`, `config`: for people and probes */
    c = column(m, fld[1], &bad);
    if (bad) {
        snprintf(why, whylen, "bad %s record: column %.80s is neither spec:... nor ...%s/%s",
                 fld[0], fld[1], FRONTEND_SUFFIX, BACKEND_SUFFIX);
        return -EINVAL;
    }
    if (strcmp(fld[0], "msg") == 0)
        rc = load_msg(c, fld, n);
    else if (strcmp(fld[0], "offer") == 0)
        rc = load_offer(c, fld, n);
    else
        rc = load_order(c, fld, n);
    if (rc)
        snprintf(why, whylen, "bad %s record (column %.80s, %.40s, %.40s)", fld[0], fld[1],
                 n > 2 ? fld[2] : "?", n > 3 ? fld[3] : "?");
    return rc;
}

vs_mx_set vs_mx_columns(const struct vs_matrix *m, enum vs_mx_side side)
{
    vs_mx_set s = 0;

    for (unsigned i = 0; i < m->ncols; i++)
        if (m->col[i].side == side)
            s |= UINT64_C(1) << i;
    return s;
}

#define NEEDED (1u << VS_MX_OFFER_FEATURES | 1u << VS_MX_OFFER_PROTOCOL)

vs_mx_set vs_mx_match_offers(const struct vs_matrix *m, const struct vs_mx_offers *live)
{
    vs_mx_set s = 0;

    if ((live->known & NEEDED) != NEEDED)
        return 0;
    for (unsigned i = 0; i < m->ncols; i++) {
        const struct vs_mx_offers *o = &m->col[i].offers;
        bool match = m->col[i].side == VS_MX_SIDE_BACKEND && (o->known & NEEDED) == NEEDED;
        for (int k = 0; match && k < VS_MX_OFFER_KINDS; k++)
            if (o->known & live->known & 1u << k)
                match = o->v[k] == live->v[k];
        if (match)
            s |= UINT64_C(1) << i;
    }
    return s;
}

vs_mx_set vs_mx_match_order(const struct vs_matrix *m, const uint8_t *rows, unsigned n)
{
    vs_mx_set s = 0;

    for (unsigned i = 0; i < m->ncols; i++) {
        const struct vs_mx_column *c = &m->col[i];
        unsigned len = n < c->norder ? n : c->norder;
        if (c->side != VS_MX_SIDE_FRONTEND || c->norder == 0)
            continue;
        if (memcmp(c->order, rows, len) == 0)
            s |= UINT64_C(1) << i;
    }
    return s;
}

unsigned vs_mx_order_max(const struct vs_matrix *m, vs_mx_set s)
{
    unsigned max = 0;

    for (unsigned i = 0; i < m->ncols; i++)
        if ((s >> i & 1) && m->col[i].norder > max)
            max = m->col[i].norder;
    return max;
}

vs_mx_set vs_mx_with(const struct vs_matrix *m, vs_mx_set s, enum vu_channel ch, uint32_t request,
                     unsigned values)
{
    int row = vs_mx_row(ch, request);
    vs_mx_set out = 0;

    for (unsigned i = 0; row >= 0 && i < m->ncols; i++)
        if ((s >> i & 1) && (values >> m->col[i].v[ch][row] & 1))
            out |= UINT64_C(1) << i;
    return out;
}

unsigned vs_mx_count(vs_mx_set s)
{
    unsigned n = 0;

    for (; s; s &= s - 1)
        n++;
    return n;
}

void vs_mx_names(const struct vs_matrix *m, vs_mx_set s, bool bare, char *buf, size_t len)
{
    static const char more[] = "...";
    size_t used = 0;

    if (len == 0)
        return;
    buf[0] = '\0';
    for (unsigned i = 0; i < m->ncols; i++) {
        const char *name = m->col[i].name, *colon = strrchr(name, ':');
        int w = (int)(bare && colon ? (size_t)(colon - name) : strlen(name));
        int k;
        if (!(s >> i & 1))
            continue;
        k = snprintf(buf + used, len - used, "%s%.*s", used ? ", " : "", w, name);
        if (k < 0 || (size_t)k >= len - used) {
            /* cut short: end with "..." where it fits */
            if (len > sizeof(more))
                memcpy(buf + len - sizeof(more), more, sizeof(more));
            return;
        }
        used += (size_t)k;
    }
}
