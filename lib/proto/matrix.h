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

/* A matrix file loaded for one column pair: the values the check uses. */
struct vs_matrix {
    const struct vs_device_type *type;
    /* [role][channel][row index in vu_msg_desc_at order] */
    enum vs_mx_value v[VS_MX_ROLES][2][64];
};

/* Loads the spec columns of `path` (a compat-matrix/<type>.tsv). The file's
 * device record must name type t. 0, or -errno with a reason naming the file
 * and line in err. */
int vs_mx_load(const char *path, const struct vs_device_type *t, struct vs_matrix *m, char *err,
               size_t errlen);
/* The row of a request in vu_msg_desc_at order (the matrix's index), or -1. */
int vs_mx_row(enum vu_channel ch, uint32_t request);
/* The value of a request for a role, from a loaded matrix. */
enum vs_mx_value vs_mx_get(const struct vs_matrix *m, enum vs_mx_role role, enum vu_channel ch,
                           uint32_t request);

#endif
