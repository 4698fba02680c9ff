/* SPDX-License-Identifier: MIT */
/*
 * The measured facts of one column and their records (compat-matrix/README.md):
 * `msg` by request number, then `offer` (features, protocol-features,
 * queue-num, config-size, status), then `order` by n. Only facts: no time,
 * no process ids, nothing that changes between two runs against one peer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vdpa-probe/probe.h"

static const char *const offer_names[OFFER_COUNT] = {
    [OFFER_FEATURES] = "features",   [OFFER_PROTOCOL_FEATURES] = "protocol-features",
    [OFFER_QUEUE_NUM] = "queue-num", [OFFER_CONFIG_SIZE] = "config-size",
    [OFFER_STATUS] = "status",
};

void rec_init(struct records *r, const struct vs_device_type *type, const char *column)
{
    memset(r, 0, sizeof(*r));
    r->type = type;
    r->column = column;
}

int rec_row(uint32_t request)
{
    size_t n = vu_msg_desc_count(VU_CHAN_FRONTEND);

    for (size_t i = 0; i < n && i < PROBE_MAX_ROWS; i++)
        if (vu_msg_desc_at(VU_CHAN_FRONTEND, i)->request == request)
            return (int)i;
    return -1;
}

void rec_msg(struct records *r, uint32_t request, enum vs_mx_value v)
{
    int row = rec_row(request);

    if (row >= 0)
        r->fe[row] = v;
}

enum vs_mx_value rec_get(const struct records *r, uint32_t request)
{
    int row = rec_row(request);

    return row >= 0 ? r->fe[row] : VS_MX_NONE;
}

void rec_offer(struct records *r, enum probe_offer what, uint64_t value)
{
    r->have[what] = true;
    r->offer[what] = value;
}

void rec_sent(struct records *r, uint32_t request)
{
    int row = rec_row(request);

    if (row < 0 || r->fe[row] == VS_MX_SENT)
        return;
    r->fe[row] = VS_MX_SENT;
    r->order[r->norder++] = (unsigned)row;
}

static void write_offer(FILE *out, const struct records *r, enum probe_offer what)
{
    uint64_t v = r->offer[what];

    fprintf(out, "offer\t%s\t%s\t", r->column, offer_names[what]);
    switch (what) {
    case OFFER_FEATURES:
    case OFFER_PROTOCOL_FEATURES:
        fprintf(out, "0x%" PRIx64, v);
        break;
    case OFFER_STATUS:
        fputs(vs_mx_value_name((enum vs_mx_value)v), out);
        break;
    default:
        fprintf(out, "%" PRIu64, v);
        break;
    }
    fputs("\tprobe\n", out);
}

int rec_write(FILE *out, const struct records *r)
{
    for (size_t i = 0; i < vu_msg_desc_count(VU_CHAN_FRONTEND) && i < PROBE_MAX_ROWS; i++) {
        if (r->fe[i] == VS_MX_NONE)
            continue;
        fprintf(out, "msg\t%s\tfe\t%s\t%s\tprobe\n", r->column,
                vu_msg_desc_at(VU_CHAN_FRONTEND, i)->name, vs_mx_value_name(r->fe[i]));
    }
    for (int w = 0; w < OFFER_COUNT; w++)
        if (r->have[w])
            write_offer(out, r, (enum probe_offer)w);
    for (unsigned n = 0; n < r->norder; n++)
        fprintf(out, "order\t%s\t%u\t%s\tprobe\n", r->column, n + 1,
                vu_msg_desc_at(VU_CHAN_FRONTEND, r->order[n])->name);
    return ferror(out) ? -EIO : 0;
}

/* ---- --expect ------------------------------------------------------------------------ */

struct lines {
    char **v;
    bool *matched;
    size_t n, cap;
};

static int lines_add(struct lines *l, const char *text, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        bool *m = realloc(l->matched, cap * sizeof(*m));
        if (!m)
            return -ENOMEM;
        l->matched = m;
        l->cap = cap;
    }
    l->v[l->n] = strndup(text, len);
    if (!l->v[l->n])
        return -ENOMEM;
    l->matched[l->n++] = false;
    return 0;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l->matched);
    memset(l, 0, sizeof(*l));
}

/* Whether a record line is a msg/offer/order record of `column`. */
static bool of_column(const char *line, const char *column)
{
    static const char *const kinds[] = { "msg\t", "offer\t", "order\t" };
    size_t clen = strlen(column);

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t klen = strlen(kinds[i]);
        if (strncmp(line, kinds[i], klen) == 0)
            return strncmp(line + klen, column, clen) == 0 && line[klen + clen] == '\t';
    }
    return false;
}

/* Adds the lines of text (NUL-terminated) that belong to the column. */
static int add_column_lines(struct lines *l, const char *text, const char *column)
{
    while (*text) {
        size_t len = strcspn(text, "\n");
        size_t keep = len;
        if (keep && text[keep - 1] == '\r')
            keep--;
        if (of_column(text, column)) {
            int rc = lines_add(l, text, keep);
            if (rc)
                return rc;
        }
        text += len + (text[len] == '\n');
    }
    return 0;
}

static int read_file(const char *path, char **text)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;

    if (!f)
        return -errno;
    for (;;) {
        if (cap - len < 4096) {
            char *b = realloc(buf, cap + 65536);
            if (!b) {
                rc = -ENOMEM;
                break;
            }
            buf = b;
            cap += 65536;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            if (ferror(f))
                rc = -EIO;
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *text = buf;
    return 0;
}

/* Marks the lines of a that are in b (as a multiset, each line of b used once). */
static void match(struct lines *a, struct lines *b)
{
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < b->n; j++)
            if (!b->matched[j] && strcmp(a->v[i], b->v[j]) == 0) {
                a->matched[i] = b->matched[j] = true;
                break;
            }
}

int rec_compare(const struct records *r, const char *path, FILE *diff)
{
    struct lines expected = { 0 }, measured = { 0 };
    char *file = NULL, *mine = NULL;
    size_t mine_len = 0;
    FILE *mem;
    int rc = read_file(path, &file);

    if (rc)
        return rc;
    mem = open_memstream(&mine, &mine_len);
    if (!mem) {
        free(file);
        return -ENOMEM;
    }
    rc = rec_write(mem, r);
    if (fclose(mem) && !rc)
        rc = -EIO;
    if (!rc)
        rc = add_column_lines(&expected, file, r->column);
    if (!rc)
        rc = add_column_lines(&measured, mine, r->column);
    if (!rc) {
        match(&expected, &measured);
        for (size_t i = 0; i < expected.n; i++)
            if (!expected.matched[i]) {
                fprintf(diff, "- %s\n", expected.v[i]);
                rc = 1;
            }
        for (size_t i = 0; i < measured.n; i++)
            if (!measured.matched[i]) {
                fprintf(diff, "+ %s\n", measured.v[i]);
                rc = 1;
            }
    }
    lines_free(&expected);
    lines_free(&measured);
    free(file);
    free(mine);
    return rc;
}
