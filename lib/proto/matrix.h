/* SPDX-License-Identifier: MIT */
/*
 * The compatibility matrix (compat-matrix/README.md): values, the spec
 * columns derived from the message-descriptor table and per-type rules, the
 * config layouts, and the loader the shim's check= uses. Pure except for the
 * FILE * it reads or writes.
 */
#ifndef VDPA_SHIM_MATRIX_H
#define VDPA_SHIM_MATRIX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "device_types.h"
#include "msg_table.h"

enum vs_mx_value {
    VS_MX_NONE = 0, /* no record */
    VS_MX_REQUIRED,
    VS_MX_OPTIONAL,
    VS_MX_NEVER,
    VS_MX_FORBIDDEN,
    VS_MX_SENT,       /* measured */
    VS_MX_ANSWERED,   /* measured */
    VS_MX_REFUSED,    /* measured */
    VS_MX_DISCONNECT, /* measured */
};

/* The four spec columns, in file order. */
enum vs_mx_role {
    VS_MX_LEGACY_FE,
    VS_MX_LEGACY_BE,
    VS_MX_VDPA_FE,
    VS_MX_VDPA_BE,
    VS_MX_ROLES
};

const char *vs_mx_value_name(enum vs_mx_value v);
/* VS_MX_NONE when the text is not a value name. */
enum vs_mx_value vs_mx_value_parse(const char *text);
/* "spec:legacy-frontend", ... */
const char *vs_mx_role_column(enum vs_mx_role role);

/* The spec value of request `d` for a role and a device type. */
enum vs_mx_value vs_mx_spec_value(const struct vs_device_type *t, enum vs_mx_role role,
                                  const struct vu_msg_desc *d);

/* Writes the device record, the config records (where VIRTIO defines a
 * layout) and every spec `msg` record of type t, in file order. 0 or -errno. */
int vs_mx_write_spec(FILE *out, const struct vs_device_type *t);

/* ---- measured columns (matrix_measured.c) ---------------------------------- */

#define VS_MX_ROWS        64   /* requests per channel a matrix holds (table rows) */
#define VS_MX_MAX_COLUMNS 64   /* measured columns kept per file; the rest are counted */
#define VS_MX_NAME_MAX    64   /* a column's name with its NUL */
#define VS_MX_NO_ROW      0xff /* a gap in a recorded order */

/* The side of a measured column, by its name's suffix. */
enum vs_mx_side {
    VS_MX_SIDE_FRONTEND,
    VS_MX_SIDE_BACKEND
};

/* What a measured back-end offered (`offer` records), or what the live one
 * offers: one value per kind, with a bit in `known` per value set. */
enum vs_mx_offer_kind {
    VS_MX_OFFER_FEATURES,
    VS_MX_OFFER_PROTOCOL,    /* protocol-features */
    VS_MX_OFFER_QUEUE_NUM,   /* GET_QUEUE_NUM's answer */
    VS_MX_OFFER_CONFIG_SIZE, /* the config-space size */
    VS_MX_OFFER_KINDS
};

struct vs_mx_offers {
    unsigned known; /* bit (1 << enum vs_mx_offer_kind) per value set */
    uint64_t v[VS_MX_OFFER_KINDS];
};

/* One measured column: `<program>-<version>:frontend` or `:backend`. */
struct vs_mx_column {
    char name[VS_MX_NAME_MAX];
    enum vs_mx_side side;
    uint8_t v[2][VS_MX_ROWS];   /* enum vs_mx_value by channel and table row */
    struct vs_mx_offers offers; /* a back-end's `offer` records */
    uint8_t order[VS_MX_ROWS];  /* a front-end's first requests (fe rows), in order */
    unsigned norder;            /* entries of order[]; 0: no `order` records */
};

/* A set of measured columns of one matrix: bit i is col[i]. */
typedef uint64_t vs_mx_set;

/* A matrix file loaded: the spec values and the measured columns. */
struct vs_matrix {
    const struct vs_device_type *type;
    /* [role][channel][row index in vu_msg_desc_at order] */
    enum vs_mx_value v[VS_MX_ROLES][2][VS_MX_ROWS];
    struct vs_mx_column col[VS_MX_MAX_COLUMNS];
    unsigned ncols;   /* columns in col[] */
    unsigned dropped; /* records of measured columns beyond the first VS_MX_MAX_COLUMNS */
};

/* Loads the spec and measured columns of `path` (a
 * compat-matrix/<type>.tsv). The file's device record must name type t. 0,
 * or -errno with a reason naming the file and line in err. */
int vs_mx_load(const char *path, const struct vs_device_type *t, struct vs_matrix *m, char *err,
               size_t errlen);
/* The row of a request in vu_msg_desc_at order (the matrix's index), or -1. */
int vs_mx_row(enum vu_channel ch, uint32_t request);
/* The value of a request for a role, from a loaded matrix. */
enum vs_mx_value vs_mx_get(const struct vs_matrix *m, enum vs_mx_role role, enum vu_channel ch,
                           uint32_t request);

/* One measured record (`msg` of a column that is not spec:, `offer`,
 * `order`; a `note` is ignored), split into n fields, into m (vs_mx_load's
 * part). 0, or -EINVAL with the reason in why. A record of a column beyond
 * the first VS_MX_MAX_COLUMNS is checked, counted in m->dropped, not kept. */
int vs_mx_load_measured(struct vs_matrix *m, char **fld, int n, char *why, size_t whylen);
/* Every measured column of a side. */
vs_mx_set vs_mx_columns(const struct vs_matrix *m, enum vs_mx_side side);
/* The back-end columns whose recorded offers agree with the live ones:
 * features and protocol features both recorded and equal (0 unless live has
 * both), queue-num and config-size equal where both the column and live
 * have them. */
vs_mx_set vs_mx_match_offers(const struct vs_matrix *m, const struct vs_mx_offers *live);
/* The front-end columns with an order whose first min(n, its length)
 * requests are rows[0..n) (fe rows in order of first use). */
vs_mx_set vs_mx_match_order(const struct vs_matrix *m, const uint8_t *rows, unsigned n);
/* The longest recorded order among the columns of s. */
unsigned vs_mx_order_max(const struct vs_matrix *m, vs_mx_set s);
/* The columns of s whose value for a request is one of `values` (a mask of
 * 1 << enum vs_mx_value). */
vs_mx_set vs_mx_with(const struct vs_matrix *m, vs_mx_set s, enum vu_channel ch, uint32_t request,
                     unsigned values);
/* The mask of a measured outcome of a receiver: answered, refused,
 * disconnect. */
#define VS_MX_RECEIVED (1u << VS_MX_ANSWERED | 1u << VS_MX_REFUSED | 1u << VS_MX_DISCONNECT)
unsigned vs_mx_count(vs_mx_set s);
/* The names of the columns of s, ", "-separated, each without its
 * ":frontend"/":backend" suffix when bare; "..." ends a list cut short. */
void vs_mx_names(const struct vs_matrix *m, vs_mx_set s, bool bare, char *buf, size_t len);

#endif
