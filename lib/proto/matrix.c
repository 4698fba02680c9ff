/* SPDX-License-Identifier: MIT */
/*
 * The spec columns of the compatibility matrix and its file format
 * (compat-matrix/README.md). The rules: what the message-descriptor table
 * says (gates, forbidden under F_VDPA, vdpa-user only), plus what differs by
 * device type in vhost-user practice (which types' VMMs read config space,
 * which requests exist for net only).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "devmodel.h"
#include "matrix.h"
#include "regfile.h"

static const char *const value_names[] = {
    [VS_MX_NONE] = "-",
    [VS_MX_REQUIRED] = "required",
    [VS_MX_OPTIONAL] = "optional",
    [VS_MX_NEVER] = "never",
    [VS_MX_FORBIDDEN] = "forbidden",
    [VS_MX_SENT] = "sent",
    [VS_MX_ANSWERED] = "answered",
    [VS_MX_REFUSED] = "refused",
    [VS_MX_DISCONNECT] = "disconnect",
};

static const char *const role_columns[VS_MX_ROLES] = {
    "spec:legacy-frontend",
    "spec:legacy-backend",
    "spec:vdpa-frontend",
    "spec:vdpa-backend",
};

const char *vs_mx_value_name(enum vs_mx_value v)
{
    return (unsigned)v < sizeof(value_names) / sizeof(value_names[0]) ? value_names[v] : "?";
}

enum vs_mx_value vs_mx_value_parse(const char *text)
{
    for (unsigned i = 1; i < sizeof(value_names) / sizeof(value_names[0]); i++)
        if (strcmp(text, value_names[i]) == 0)
            return (enum vs_mx_value)i;
    return VS_MX_NONE;
}

const char *vs_mx_role_column(enum vs_mx_role role)
{
    return (unsigned)role < VS_MX_ROLES ? role_columns[role] : "?";
}

/* ---- per-type facts ------------------------------------------------------- */

static bool is_type(const struct vs_device_type *t, const char *name)
{
    return strcmp(t->name, name) == 0;
}

/* Types whose vhost-user VMM device reads the config space from the
 * back-end (QEMU's vhost-user-blk, -gpu, -input, -vsock, -gpio, -snd);
 * for the others the VMM owns it (net, scsi, fs) or there is none. */
static bool legacy_config_from_backend(const struct vs_device_type *t)
{
    static const char *const types[] = { "blk", "gpu", "input", "vsock", "gpio", "sound" };

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (is_type(t, types[i]))
            return true;
    return false;
}

/* Types with a driver-writable config field (blk writeback, scsi sense and
 * CDB sizes, gpu events_clear, input select/subsel). */
static bool config_writable(const struct vs_device_type *t)
{
    return is_type(t, "blk") || is_type(t, "scsi") || is_type(t, "gpu") || is_type(t, "input");
}

/* ---- the rules --------------------------------------------------------------- */

static bool is_req(const struct vu_msg_desc *d, const char *name)
{
    return strcmp(d->name, name) == 0;
}

static enum vs_mx_value legacy_value(const struct vs_device_type *t, const struct vu_msg_desc *d)
{
    /* Not SET_MEM_TABLE: with CONFIGURE_MEM_SLOTS memory arrives as
     * ADD_MEM_REG instead (QEMU 7.2 with qemu-storage-daemon). Not
     * GET_VRING_BASE: a VMM that exits stops the rings by disconnecting. */
    static const char *const core[] = {
        "GET_FEATURES",   "SET_FEATURES",   "SET_OWNER",      "SET_VRING_NUM",
        "SET_VRING_ADDR", "SET_VRING_BASE", "SET_VRING_KICK", "SET_VRING_CALL",
    };

    if (d->flags & VU_DESC_VDPA_ONLY)
        return VS_MX_NEVER;
    for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++)
        if (d->channel == VU_CHAN_FRONTEND && is_req(d, core[i]))
            return VS_MX_REQUIRED;
    if (d->gate == VU_PF_NET_MTU || d->gate == VU_PF_RARP)
        return is_type(t, "net") ? VS_MX_OPTIONAL : VS_MX_NEVER;
    if (d->gate == VU_PF_CRYPTO_SESSION)
        return VS_MX_NEVER; /* crypto devices only */
    if (d->gate == VU_PF_INFLIGHT_SHMFD)
        return is_type(t, "blk") || is_type(t, "scsi") ? VS_MX_OPTIONAL : VS_MX_NEVER;
    if (d->gate == VU_PF_SHARED_OBJECT)
        return is_type(t, "gpu") ? VS_MX_OPTIONAL : VS_MX_NEVER;
    if (d->gate == VU_PF_CONFIG) {
        if (t->config_size == 0)
            return VS_MX_NEVER;
        if (is_req(d, "GET_CONFIG"))
            return legacy_config_from_backend(t) ? VS_MX_REQUIRED : VS_MX_OPTIONAL;
        if (is_req(d, "SET_CONFIG"))
            return config_writable(t) ? VS_MX_OPTIONAL : VS_MX_NEVER;
        return legacy_config_from_backend(t) ? VS_MX_OPTIONAL : VS_MX_NEVER; /* CONFIG_CHANGE_MSG */
    }
    return VS_MX_OPTIONAL; /* gated by a protocol feature or otherwise a choice */
}

/* vdpa-user requests the front-end must use to drive the device model. */
static bool vdpa_frontend_required(const struct vu_msg_desc *d)
{
    static const char *const names[] = {
        "GET_FEATURES",
        "SET_FEATURES",
        "GET_PROTOCOL_FEATURES",
        "SET_PROTOCOL_FEATURES",
        "SET_OWNER",
        "SET_VRING_NUM",
        "SET_VRING_ADDR",
        "SET_VRING_BASE",
        "SET_VRING_KICK",
        "SET_VRING_CALL",
        "SET_VRING_ENABLE",
        "SET_STATUS",
        "GET_STATUS",
        "VDPA_GET_DEVICE_ID",
        "VDPA_GET_VQS_COUNT",
        "VDPA_GET_CONFIG_SIZE",
        "VDPA_GET_VRING_NUM",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (is_req(d, names[i]))
            return true;
    return false;
}

static enum vs_mx_value vdpa_value(const struct vs_device_type *t, bool backend,
                                   const struct vu_msg_desc *d)
{
    if (d->flags & VU_DESC_FORBIDDEN_UNDER_VDPA)
        return VS_MX_FORBIDDEN;
    if (d->channel == VU_CHAN_FRONTEND && vdpa_frontend_required(d))
        return VS_MX_REQUIRED;
    if (d->flags & VU_DESC_VDPA_ONLY)
        return backend ? VS_MX_REQUIRED : VS_MX_OPTIONAL; /* suspend, IOVA range, config call */
    if (d->gate == VU_PF_CONFIG && d->channel == VU_CHAN_FRONTEND) {
        if (t->config_size == 0)
            return VS_MX_NEVER;
        if (is_req(d, "GET_CONFIG") || backend)
            return VS_MX_REQUIRED; /* the device model has a config space */
        /* SET_CONFIG: driver writes, and net's provisioning of mac/mtu */
        return config_writable(t) || is_type(t, "net") ? VS_MX_OPTIONAL : VS_MX_NEVER;
    }
    if (is_req(d, "GET_VRING_BASE"))
        return backend ? VS_MX_REQUIRED : VS_MX_OPTIONAL; /* no side effect under F_VDPA */
    if (is_req(d, "SET_VRING_ENDIAN"))
        return backend ? VS_MX_OPTIONAL : VS_MX_NEVER; /* VERSION_1 is required */
    return legacy_value(t, d) == VS_MX_NEVER ? VS_MX_NEVER : VS_MX_OPTIONAL;
}

enum vs_mx_value vs_mx_spec_value(const struct vs_device_type *t, enum vs_mx_role role,
                                  const struct vu_msg_desc *d)
{
    switch (role) {
    case VS_MX_LEGACY_FE:
    case VS_MX_LEGACY_BE:
        return legacy_value(t, d);
    case VS_MX_VDPA_FE:
        return vdpa_value(t, false, d);
    case VS_MX_VDPA_BE:
        return vdpa_value(t, true, d);
    default:
        return VS_MX_NONE;
    }
}

/* ---- config layouts --------------------------------------------------------------- */

static void write_gate(FILE *out, int gate)
{
    if (gate < 0)
        fputs("-", out);
    else
        fprintf(out, "%d", gate);
}

/* The config layout of a type: its device model (lib/proto/model_*.c; every
 * type the shim accepts has one). */
static void write_config(FILE *out, const struct vs_device_type *t)
{
    const struct vs_device_model *m = vs_model_find(t->name);

    for (unsigned i = 0; m && i < m->nfields; i++) {
        fprintf(out, "config\t%u\t%u\t%s\t", m->fields[i].offset, m->fields[i].size,
                m->fields[i].name);
        write_gate(out, m->fields[i].gate);
        fputc('\n', out);
    }
}

int vs_mx_write_spec(FILE *out, const struct vs_device_type *t)
{
    fprintf(out, "# vdpa-shim compatibility matrix: virtio-%s (compat-matrix/README.md)\n",
            t->name);
    fprintf(out, "device\t%s\t%u\t%u\t%u\n", t->name, t->virtio_id, t->config_size,
            t->default_queues);
    write_config(out, t);
    for (int role = 0; role < VS_MX_ROLES; role++) {
        for (int ch = VU_CHAN_FRONTEND; ch <= VU_CHAN_BACKEND; ch++) {
            for (size_t i = 0; i < vu_msg_desc_count((enum vu_channel)ch); i++) {
                const struct vu_msg_desc *d = vu_msg_desc_at((enum vu_channel)ch, i);
                fprintf(out, "msg\t%s\t%s\t%s\t%s\tspec\n", role_columns[role],
                        ch == VU_CHAN_FRONTEND ? "fe" : "be", d->name,
                        vs_mx_value_name(vs_mx_spec_value(t, (enum vs_mx_role)role, d)));
            }
        }
    }
    return ferror(out) ? -EIO : 0;
}

/* ---- loading -------------------------------------------------------------------------- */

static int row_of(enum vu_channel ch, const char *name)
{
    for (size_t i = 0; i < vu_msg_desc_count(ch); i++)
        if (strcmp(vu_msg_desc_at(ch, i)->name, name) == 0)
            return (int)i;
    return -1;
}

/* Splits line at TABs into at most max fields; returns the count. */
static int split(char *line, char **field, int max)
{
    int n = 0;

    line[strcspn(line, "\r\n")] = '\0';
    while (n < max) {
        field[n++] = line;
        line = strchr(line, '\t');
        if (!line)
            break;
        *line++ = '\0';
    }
    return n;
}

/* A `msg` record of a spec column into m. 0, or -EINVAL with the reason. */
static int load_spec_msg(struct vs_matrix *m, char **fld, int n, char *why, size_t whylen)
{
    int role = -1, row = -1;
    enum vu_channel ch = VU_CHAN_FRONTEND;
    enum vs_mx_value v = VS_MX_NONE;

    for (int r = 0; r < VS_MX_ROLES; r++)
        if (strcmp(fld[1], role_columns[r]) == 0)
            role = r;
    if (n >= 6) {
        ch = strcmp(fld[2], "be") == 0 ? VU_CHAN_BACKEND : VU_CHAN_FRONTEND;
        row = row_of(ch, fld[3]);
        v = vs_mx_value_parse(fld[4]);
    }
    if (role < 0 || n < 6 || (strcmp(fld[2], "fe") != 0 && strcmp(fld[2], "be") != 0) || row < 0 ||
        row >= VS_MX_ROWS || v == VS_MX_NONE) {
        snprintf(why, whylen, "bad msg record (column %s, channel %s, request %s, value %s)",
                 fld[1], n > 2 ? fld[2] : "?", n > 3 ? fld[3] : "?", n > 4 ? fld[4] : "?");
        return -EINVAL;
    }
    m->v[role][ch][row] = v;
    return 0;
}

/* One record (not a comment) into m. 1 for a device record, 0 for another,
 * or -EINVAL with the reason in why. */
static int load_record(struct vs_matrix *m, char *line, char *why, size_t whylen)
{
    char *fld[8];
    int n = split(line, fld, 8);

    if (strcmp(fld[0], "device") == 0) {
        if (n < 2 || strcmp(fld[1], m->type->name) != 0) {
            snprintf(why, whylen, "the matrix is for type %s, the device is type=%s",
                     n < 2 ? "?" : fld[1], m->type->name);
            return -EINVAL;
        }
        return 1;
    }
    if (n < 2)
        return 0; /* not a record the check reads */
    if (strcmp(fld[0], "msg") == 0 && strncmp(fld[1], "spec:", 5) == 0)
        return load_spec_msg(m, fld, n, why, whylen);
    return vs_mx_load_measured(m, fld, n, why, whylen);
}

int vs_mx_load(const char *path, const struct vs_device_type *t, struct vs_matrix *m, char *err,
               size_t errlen)
{
    FILE *f = vs_fopen_regular(path); /* a FIFO there must not block the loop */
    char line[512], why[300];
    unsigned lineno = 0;
    bool device_seen = false;
    int rc = 0;

    memset(m, 0, sizeof(*m));
    m->type = t;
    if (!f) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, rc == -EINVAL ? "not a regular file" : strerror(-rc));
        return rc;
    }
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        rc = load_record(m, line, why, sizeof(why));
        if (rc < 0) {
            snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
            break;
        }
        device_seen |= rc == 1;
        rc = 0;
    }
    fclose(f);
    if (rc == 0 && !device_seen) {
        snprintf(err, errlen, "%s: no device record", path);
        rc = -EINVAL;
    }
    return rc;
}

int vs_mx_row(enum vu_channel ch, uint32_t request)
{
    for (size_t i = 0; i < vu_msg_desc_count(ch) && i < VS_MX_ROWS; i++)
        if (vu_msg_desc_at(ch, i)->request == request)
            return (int)i;
    return -1;
}

enum vs_mx_value vs_mx_get(const struct vs_matrix *m, enum vs_mx_role role, enum vu_channel ch,
                           uint32_t request)
{
    int row = vs_mx_row(ch, request);

    return row < 0 ? VS_MX_NONE : m->v[role][ch][row];
}
