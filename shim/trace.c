/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fd_util.h"
#include "log.h"
#include "trace.h"

#define DATA_SHOWN 32      /* bytes of config or unknown payload dumped */
#define NAME_SHOWN 64      /* characters of an fd's name (memfd name, file path) */
#define NOTE_SHOWN 512     /* characters of a note */

struct vs_trace {
    int fd;                /* -1 while off (or a reopen failed) */
    bool owned;            /* a file (not stdout): closed, reopened, rotated */
    char *path;
    enum vs_trace_format format;
    uint64_t max_bytes;    /* 0: no limit */
    uint64_t written;      /* bytes in the current file */
    unsigned long rotations;
    uint64_t quiet_ns;     /* least time between two warnings of one kind */
    /* write errors: the first is logged at once, then one line per quiet_ns */
    bool write_failed;
    bool cut;              /* the last line went out in part (ended first) */
    uint64_t lost;         /* lines lost since the first failure */
    uint64_t lost_logged;  /* of which the last warning counted */
    uint64_t next_write_warn;
    /* rotation that cannot rename: retried (and logged) once per quiet_ns */
    uint64_t next_rotate;
};

#define NS_PER_MS      UINT64_C(1000000)
#define NS_PER_S       (1000 * NS_PER_MS)
#define WARN_QUIET_MS  UINT64_C(60000) /* a repeated trace warning: once a minute */
#define TRACE_MODE     0600            /* a new trace file: the shim's user only */

/* ---- the file ---------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static const char *kind_name(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFDIR:  return "a directory";
    case S_IFIFO:  return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFCHR:  return "a character device";
    case S_IFBLK:  return "a block device";
    default:       return "not a regular file";
    }
}

/* Why open(2) refused t->path, said once in words (the caller logs the
 * errno too). A FIFO or socket with no reader is ENXIO: lstat tells which. */
static void explain_open_error(const struct vs_trace *t, int err)
{
    struct stat st;

    if (err == ELOOP)
        vs_warn("trace %s is a symbolic link; the shim does not follow one there (rotation and "
                "appending would reach a file it was not given): give the file's own path",
                t->path);
    else if (err == ENXIO && lstat(t->path, &st) == 0 && !S_ISREG(st.st_mode))
        vs_warn("trace %s is %s, not a regular file; give a file's path, or --trace=- for "
                "standard output", t->path, kind_name(st.st_mode));
}

/* The fd of a regular file at path, created (mode 0600) if missing, opened
 * for appending: never through a symbolic link (O_NOFOLLOW), never blocking
 * (O_NONBLOCK until fstat shows a regular file), never truncated. excl:
 * only a file this call creates (rotation). -errno after logging why. */
static int open_trace_fd(struct vs_trace *t, bool excl, uint64_t *size)
{
    int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
    struct stat st;
    int fd, rc;

    fd = open(t->path, flags | (excl ? O_EXCL : 0), TRACE_MODE);
    if (fd < 0) {
        rc = -errno;
        explain_open_error(t, -rc);
        return rc;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
    } else if (!S_ISREG(st.st_mode)) {
        vs_warn("trace %s is %s, not a regular file; give a file's path, or --trace=- for "
                "standard output", t->path, kind_name(st.st_mode));
        rc = -EINVAL;
    } else if ((rc = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, rc & ~O_NONBLOCK) < 0) {
        rc = -errno; /* (O_NONBLOCK means nothing to a regular file; off all the same) */
    } else {
        *size = (uint64_t)st.st_size;
        return fd;
    }
    close(fd);
    return rc;
}

static int open_file(struct vs_trace *t)
{
    int fd = open_trace_fd(t, false, &t->written);

    if (fd < 0)
        return fd;
    t->fd = fd;
    t->cut = false;
    return 0;
}

struct vs_trace *vs_trace_new(void)
{
    struct vs_trace *t = calloc(1, sizeof(struct vs_trace));

    if (t) {
        t->fd = -1;
        t->quiet_ns = WARN_QUIET_MS * NS_PER_MS;
    }
    return t;
}

void vs_trace_set_warn_interval(struct vs_trace *t, unsigned ms)
{
    t->quiet_ns = (uint64_t)ms * NS_PER_MS;
}

/* Stdout (not owned) stays open; only a file the trace opened is closed. */
static void close_fd(struct vs_trace *t)
{
    if (t->owned)
        fd_close(&t->fd);
    t->fd = -1;
}

static void close_output(struct vs_trace *t)
{
    close_fd(t);
    t->owned = false;
    free(t->path);
    t->path = NULL;
}

int vs_trace_configure(struct vs_trace *t, const char *path, enum vs_trace_format format,
                       uint64_t max_bytes)
{
    char *copy = NULL;
    int rc;

    if (path && !(copy = strdup(path)))
        return -ENOMEM;
    close_output(t);
    t->format = format;
    t->max_bytes = max_bytes;
    t->written = 0;
    t->write_failed = t->cut = false;
    t->lost = t->lost_logged = 0;
    t->next_rotate = 0;
    t->path = copy;
    if (!path)
        return 0;
    if (strcmp(path, "-") == 0) {
        fflush(stdout); /* lines go out with write(2) from now on */
        t->fd = STDOUT_FILENO;
        return 0;
    }
    t->owned = true;
    rc = open_file(t);
    if (rc)
        t->owned = false;
    return rc;
}

struct vs_trace *vs_trace_open_ex(const char *path, enum vs_trace_format format,
                                  uint64_t max_bytes)
{
    struct vs_trace *t = vs_trace_new();
    int rc;

    if (!t)
        return NULL;
    rc = vs_trace_configure(t, path, format, max_bytes);
    if (rc) {
        vs_trace_close(t);
        errno = -rc;
        return NULL;
    }
    return t;
}

struct vs_trace *vs_trace_open(const char *path)
{
    return vs_trace_open_ex(path, VS_TRACE_TEXT, VS_TRACE_MAX_DEFAULT);
}

int vs_trace_reopen(struct vs_trace *t)
{
    if (!t || !t->path || strcmp(t->path, "-") == 0)
        return 0;
    t->owned = true;
    close_fd(t);
    t->next_rotate = 0;
    return open_file(t);
}

void vs_trace_close(struct vs_trace *t)
{
    if (!t)
        return;
    close_output(t);
    free(t);
}

bool vs_trace_same(const struct vs_trace *t, const char *path, enum vs_trace_format format,
                   uint64_t max_bytes)
{
    const char *cur = t ? t->path : NULL;

    if (!cur || !path)
        return !cur && !path;
    return strcmp(cur, path) == 0 && t->format == format && t->max_bytes == max_bytes;
}

unsigned long vs_trace_rotations(const struct vs_trace *t)
{
    return t ? t->rotations : 0;
}

/* FILE is renamed FILE.1 (replacing the previous FILE.1) and a new FILE
 * created. Nothing is ever truncated: when FILE cannot be renamed the lines
 * go on into it (past the limit) and the rename is tried again quiet_ns
 * later; when the new FILE cannot be made (something took its place) the
 * trace stops until SIGHUP. */
static void rotate(struct vs_trace *t)
{
    size_t n = strlen(t->path) + 3;
    char *old = malloc(n);
    uint64_t now = now_ns(), size = 0;
    int fd;

    if (!old || (snprintf(old, n, "%s.1", t->path), rename(t->path, old) < 0)) {
        int err = old ? errno : ENOMEM;
        t->next_rotate = now + t->quiet_ns;
        char when[32];
        if (t->quiet_ns >= NS_PER_S)
            snprintf(when, sizeof(when), "%" PRIu64 " s", t->quiet_ns / NS_PER_S);
        else
            snprintf(when, sizeof(when), "%" PRIu64 " ms", t->quiet_ns / NS_PER_MS);
        vs_warn("trace %s: cannot move it to %s.1 (%s); it grows past --trace-max until that "
                "works (tried again in %s)", t->path, t->path, strerror(err), when);
        free(old);
        return;
    }
    free(old);
    t->next_rotate = 0;
    t->rotations++;
    fd = open_trace_fd(t, true, &size);
    close_fd(t);
    if (fd < 0) {
        vs_warn("trace %s: cannot create it again after moving it to %s.1 (%s); tracing stops "
                "until SIGHUP", t->path, t->path, strerror(-fd));
        return;
    }
    t->fd = fd;
    t->written = size;
    t->cut = false;
    vs_info("trace %s reached its limit of %" PRIu64 " bytes (--trace-max); the previous "
            "part is %s.1", t->path, t->max_bytes, t->path);
}

/* All of line into fd: 0, or the errno of the write that failed. */
static int write_all(int fd, const char *line, size_t n, uint64_t *done)
{
    while (n > 0) {
        ssize_t w = write(fd, line, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        if (w == 0)
            return EIO;
        line += w;
        n -= (size_t)w;
        *done += (uint64_t)w;
    }
    return 0;
}

/* A line was lost to err: the first loss is logged at once with its reason,
 * later ones at most once per quiet_ns, with how many were lost. */
static void write_failed(struct vs_trace *t, int err)
{
    uint64_t now = now_ns();

    t->lost++;
    if (!t->write_failed) {
        t->write_failed = true;
        t->lost_logged = t->lost;
        t->next_write_warn = now + t->quiet_ns;
        vs_warn("trace %s: write failed (%s); trace lines are being lost (check the disk)",
                t->path, strerror(err));
    } else if (now >= t->next_write_warn) {
        vs_warn("trace %s: writes still fail (%s); %" PRIu64 " more lines lost (%" PRIu64
                " in all)", t->path, strerror(err), t->lost - t->lost_logged, t->lost);
        t->lost_logged = t->lost;
        t->next_write_warn = now + t->quiet_ns;
    }
}

static void write_line(struct vs_trace *t, const char *line, size_t n)
{
    uint64_t before;
    int err = 0;

    if (t->fd >= 0 && t->owned && t->max_bytes && t->written > 0 &&
        t->written + n > t->max_bytes && (!t->next_rotate || now_ns() >= t->next_rotate))
        rotate(t);
    if (t->fd < 0)
        return;
    if (t->cut && (err = write_all(t->fd, "\n", 1, &t->written)) == 0)
        t->cut = false;
    before = t->written;
    if (!err)
        err = write_all(t->fd, line, n, &t->written);
    if (err) {
        t->cut = t->cut || t->written != before;
        write_failed(t, err);
        return;
    }
    if (t->write_failed) {
        vs_warn("trace %s: writing again; %" PRIu64 " lines were lost", t->path, t->lost);
        t->write_failed = false;
        t->lost = t->lost_logged = 0;
    }
}

/* ---- the line builder -------------------------------------------------------- */

/* A bounded output buffer; `over` once something did not fit. Payload
 * fields are written as name=value (text) or "name":value (JSON). */
struct out {
    char *buf;
    size_t len, used;
    bool json, over;
    unsigned fields;       /* fields in the current object (JSON commas) */
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->used + 1 >= o->len) {
        o->over = true;
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= o->len - o->used) {
        o->over = true;
        o->used = o->len - 1;
        o->buf[o->used] = '\0';
        return;
    }
    o->used += (size_t)n;
}

/* Starts a field: the separator and the name. */
static void field(struct out *o, const char *name)
{
    if (o->json)
        put(o, "%s\"%s\":", o->fields++ ? "," : "", name);
    else
        put(o, "%s%s=", o->used ? " " : "", name);
}

static void f_uint(struct out *o, const char *name, uint64_t v)
{
    field(o, name);
    put(o, "%" PRIu64, v);
}

/* Hex: a string in JSON (a u64 does not fit a JSON number exactly). */
static void f_hex(struct out *o, const char *name, uint64_t v, int width)
{
    field(o, name);
    put(o, o->json ? "\"0x%0*" PRIx64 "\"" : "0x%0*" PRIx64, width, v);
}

/* A word: " nofd" in text, "nofd":true in JSON. */
static void f_flag(struct out *o, const char *name)
{
    if (o->json)
        put(o, "%s\"%s\":true", o->fields++ ? "," : "", name);
    else
        put(o, " %s", name);
}

/* Names of set bits: " (A|B)" after the value in text, "name":["A","B"] in JSON. */
struct names {
    struct out *o;
    unsigned n;
};

static void names_begin(struct names *nm, struct out *o, const char *json_name)
{
    nm->o = o;
    nm->n = 0;
    if (o->json)
        put(o, "%s\"%s\":[", o->fields++ ? "," : "", json_name);
    else
        put(o, " (");
}

static void names_add(struct names *nm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void names_add(struct names *nm, const char *fmt, ...)
{
    char item[64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(item, sizeof(item), fmt, ap);
    va_end(ap);
    if (nm->o->json)
        put(nm->o, "%s\"%s\"", nm->n ? "," : "", item);
    else
        put(nm->o, "%s%s", nm->n ? "|" : "", item);
    nm->n++;
}

static void names_end(struct names *nm)
{
    put(nm->o, nm->o->json ? "]" : ")");
}

/* Up to DATA_SHOWN bytes in hex; the rest marked. */
static void f_data(struct out *o, const char *name, const uint8_t *p, size_t n)
{
    size_t shown = n < DATA_SHOWN ? n : DATA_SHOWN;

    field(o, name);
    if (o->json)
        put(o, "\"");
    for (size_t i = 0; i < shown; i++)
        put(o, "%02x", p[i]);
    if (o->json) {
        put(o, "\"");
        if (n > shown)
            put(o, ",\"%s_truncated\":true", name);
    } else if (n > shown) {
        put(o, "...");
    }
}

/* ---- payload decoding ------------------------------------------------------------ */

static const char *const transport_features[64] = {
    [24] = "NOTIFY_ON_EMPTY", [26] = "LOG_ALL", [27] = "ANY_LAYOUT",
    [28] = "RING_INDIRECT_DESC", [29] = "RING_EVENT_IDX", [30] = "PROTOCOL_FEATURES",
    [32] = "VERSION_1", [33] = "ACCESS_PLATFORM", [34] = "RING_PACKED", [35] = "IN_ORDER",
    [36] = "ORDER_PLATFORM", [37] = "SR_IOV", [38] = "NOTIFICATION_DATA",
    [39] = "NOTIF_CONFIG_DATA", [40] = "RING_RESET", [41] = "ADMIN_VQ",
};

/* Transport bits by name; the device type's own bits (0-23, 42-63) as one
 * mask, since their names depend on the type. */
static void put_features(struct out *o, uint64_t f)
{
    struct names nm;
    uint64_t device = 0;

    names_begin(&nm, o, "features_names");
    for (unsigned bit = 0; bit < 64; bit++) {
        if (!(f & VU_BIT(bit)))
            continue;
        if (transport_features[bit])
            names_add(&nm, "%s", transport_features[bit]);
        else
            device |= VU_BIT(bit);
    }
    if (device)
        names_add(&nm, "device=0x%" PRIx64, device);
    names_end(&nm);
}

static void put_protocol_features(struct out *o, uint64_t f)
{
    struct names nm;

    names_begin(&nm, o, "protocol_features_names");
    for (unsigned bit = 0; bit < 64; bit++) {
        if (!(f & VU_BIT(bit)))
            continue;
        const char *name = vu_protocol_feature_name(bit);
        if (name)
            names_add(&nm, "%s", name);
        else
            names_add(&nm, "bit%u", bit);
    }
    names_end(&nm);
}

static void put_status(struct out *o, uint64_t s)
{
    static const struct {
        uint8_t bit;
        const char *name;
    } bits[] = {
        { VIRTIO_STATUS_ACKNOWLEDGE, "ACKNOWLEDGE" }, { VIRTIO_STATUS_DRIVER, "DRIVER" },
        { VIRTIO_STATUS_FEATURES_OK, "FEATURES_OK" }, { VIRTIO_STATUS_DRIVER_OK, "DRIVER_OK" },
        { VIRTIO_STATUS_DEVICE_NEEDS_RESET, "DEVICE_NEEDS_RESET" },
        { VIRTIO_STATUS_FAILED, "FAILED" },
    };
    struct names nm;

    f_hex(o, "status", s, 0);
    names_begin(&nm, o, "status_names");
    if (s == 0)
        names_add(&nm, "reset");
    for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
        if (s & bits[i].bit)
            names_add(&nm, "%s", bits[i].name);
    names_end(&nm);
}

static void put_region(struct out *o, const struct vu_mem_region *r, bool bracket)
{
    if (bracket)
        put(o, o->json ? "%s{" : " [", o->fields ? "," : "");
    unsigned outer = o->fields;
    if (bracket)
        o->fields = 0;
    /* in text the bracket's first field has no leading blank */
    if (bracket && !o->json) {
        put(o, "gpa=0x%" PRIx64, r->guest_phys_addr);
        o->fields = 1;
    } else {
        f_hex(o, "gpa", r->guest_phys_addr, 0);
    }
    f_hex(o, "size", r->memory_size, 0);
    f_hex(o, "uva", r->userspace_addr, 0);
    f_hex(o, "off", r->mmap_offset, 0);
    if (bracket) {
        put(o, o->json ? "}" : "]");
        o->fields = outer + 1;
    }
}

static void decode(struct out *o, enum vu_channel channel, const struct vu_msg *msg)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(channel, msg->hdr.request);
    bool reply = (msg->hdr.flags & VU_FLAG_REPLY) != 0;
    uint32_t size = msg->hdr.size;
    uint32_t avail = size < VU_MAX_PAYLOAD ? size : VU_MAX_PAYLOAD;
    uint32_t req = msg->hdr.request;

    if (size == 0)
        return;
    /* A REPLY_ACK-style answer to a request without its own reply. */
    if (reply && d && d->reply != VU_REPLY_ALWAYS && size == 8) {
        f_uint(o, "ack", msg->payload.u64);
        if (o->json)
            put(o, ",\"ack_result\":\"%s\"", msg->payload.u64 ? "failure" : "success");
        else
            put(o, msg->payload.u64 ? " (failure)" : " (success)");
        return;
    }
    if (channel == VU_CHAN_FRONTEND && size == 8 &&
        (req == VU_REQ_GET_PROTOCOL_FEATURES || req == VU_REQ_SET_PROTOCOL_FEATURES)) {
        f_hex(o, "protocol_features", msg->payload.u64, 0);
        put_protocol_features(o, msg->payload.u64);
        return;
    }
    if (channel == VU_CHAN_FRONTEND && size == 8 &&
        (req == VU_REQ_GET_FEATURES || req == VU_REQ_SET_FEATURES)) {
        f_hex(o, "features", msg->payload.u64, 16);
        put_features(o, msg->payload.u64);
        return;
    }
    if (channel == VU_CHAN_FRONTEND && size == 8 &&
        (req == VU_REQ_SET_STATUS || req == VU_REQ_GET_STATUS)) {
        put_status(o, msg->payload.u64);
        return;
    }
    if (!d) {
        f_uint(o, "bytes", size);
        f_data(o, "data", msg->payload.bytes, avail);
        return;
    }
    const struct vu_size_spec *rule = reply ? &d->reply_size : &d->size;
    enum vu_ring_rule ring = reply ? VU_RING_NONE : d->ring;
    if (ring == VU_RING_U64 && size >= 8) {
        f_uint(o, "index", msg->payload.u64 & VU_VRING_IDX_MASK);
        if (msg->payload.u64 & VU_VRING_NOFD_MASK)
            f_flag(o, "nofd");
        if (size == sizeof(struct vu_vring_area)) {
            f_hex(o, "size", msg->payload.area.size, 0);
            f_hex(o, "offset", msg->payload.area.offset, 0);
        }
    } else if (size == sizeof(struct vu_vring_state) &&
               (ring == VU_RING_STATE || (reply && req == VU_REQ_GET_VRING_BASE))) {
        f_uint(o, "index", msg->payload.state.index);
        f_uint(o, "num", msg->payload.state.num);
    } else if (ring == VU_RING_ADDR && size == sizeof(struct vu_vring_addr)) {
        const struct vu_vring_addr *a = &msg->payload.addr;
        f_uint(o, "index", a->index);
        f_hex(o, "flags", a->flags, 0);
        f_hex(o, "desc", a->desc_user_addr, 0);
        f_hex(o, "used", a->used_user_addr, 0);
        f_hex(o, "avail", a->avail_user_addr, 0);
        f_hex(o, "log", a->log_guest_addr, 0);
    } else if (rule->rule == VU_SIZE_MEM_TABLE && size >= VU_MEM_TABLE_HDR_SIZE) {
        uint32_t n = msg->payload.mem.nregions;
        f_uint(o, "nregions", n);
        if (o->json)
            put(o, ",\"regions\":[");
        unsigned outer = o->fields;
        o->fields = 0;
        for (uint32_t i = 0; i < n && i < VU_MAX_MEM_REGIONS &&
                             VU_MEM_TABLE_HDR_SIZE + (i + 1) * 32 <= avail; i++)
            put_region(o, &msg->payload.mem.regions[i], true);
        o->fields = outer + 1;
        if (o->json)
            put(o, "]");
    } else if ((rule->rule == VU_SIZE_CONFIG || rule->rule == VU_SIZE_CONFIG_REPLY) &&
               size >= VU_CONFIG_HDR_SIZE) {
        const struct vu_config *c = &msg->payload.config;
        f_uint(o, "offset", c->offset);
        f_uint(o, "size", c->size);
        f_hex(o, "flags", c->flags, 0);
        if (avail > VU_CONFIG_HDR_SIZE)
            f_data(o, "data", c->data, avail - VU_CONFIG_HDR_SIZE);
    } else if (size == sizeof(struct vu_mem_single) &&
               (req == VU_REQ_ADD_MEM_REG || req == VU_REQ_REM_MEM_REG)) {
        put_region(o, &msg->payload.mem_single.region, false);
    } else if (size == sizeof(struct vu_iotlb) && req == VU_REQ_IOTLB_MSG) {
        const struct vu_iotlb *t = &msg->payload.iotlb;
        f_hex(o, "iova", t->iova, 0);
        f_hex(o, "size", t->size, 0);
        f_hex(o, "uaddr", t->uaddr, 0);
        f_uint(o, "perm", t->perm);
        f_uint(o, "type", t->type);
    } else if (size == sizeof(struct vu_inflight) &&
               (req == VU_REQ_GET_INFLIGHT_FD || req == VU_REQ_SET_INFLIGHT_FD)) {
        const struct vu_inflight *f = &msg->payload.inflight;
        f_uint(o, "mmap_size", f->mmap_size);
        f_uint(o, "mmap_offset", f->mmap_offset);
        f_uint(o, "num_queues", f->num_queues);
        f_uint(o, "queue_size", f->queue_size);
    } else if (size == sizeof(struct vu_log) && req == VU_REQ_SET_LOG_BASE) {
        f_uint(o, "mmap_size", msg->payload.log.mmap_size);
        f_uint(o, "mmap_offset", msg->payload.log.mmap_offset);
    } else if (size == sizeof(struct vu_iova_range) && req == VU_REQ_VDPA_GET_IOVA_RANGE) {
        f_hex(o, "first", msg->payload.iova_range.first, 0);
        f_hex(o, "last", msg->payload.iova_range.last, 0);
    } else if (size == 8) {
        f_uint(o, "u64", msg->payload.u64);
    } else {
        f_uint(o, "bytes", size);
        f_data(o, "data", msg->payload.bytes, avail);
    }
}

size_t vs_decode_payload(enum vu_channel channel, const struct vu_msg *msg, char *buf, size_t len)
{
    struct out o = { .buf = buf, .len = len };

    if (len == 0)
        return 0;
    buf[0] = '\0';
    decode(&o, channel, msg);
    return o.used;
}

/* ---- JSON strings ------------------------------------------------------------------ */

/* Length of a valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates and beyond U+10FFFF */
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return n;
}

static void put_json_string(struct out *o, const char *s, size_t max_chars)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t chars = 0;

    put(o, "\"");
    while (*p && !o->over) {
        if (chars++ == max_chars) {
            put(o, "...");
            break;
        }
        size_t n = utf8_len(p);
        if (n == 0) {
            put(o, "\\u%04x", *p++);
        } else if (n > 1) {
            put(o, "%.*s", (int)n, (const char *)p);
            p += n;
        } else if (*p == '"' || *p == '\\') {
            put(o, "\\%c", *p++);
        } else if (*p == '\n') {
            put(o, "\\n");
            p++;
        } else if (*p == '\t') {
            put(o, "\\t");
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            put(o, "\\u%04x", *p++);
        } else {
            put(o, "%c", *p++);
        }
    }
    put(o, "\"");
}

size_t vs_json_string(char *buf, size_t len, const char *s, size_t max_chars)
{
    struct out o = { .buf = buf, .len = len, .json = true };

    if (len == 0)
        return 0;
    buf[0] = '\0';
    put_json_string(&o, s, max_chars);
    return o.used;
}

/* Text: a peer-chosen name (a memfd's) must not break the line's syntax. */
static void put_text_word(struct out *o, const char *s, size_t max_chars)
{
    size_t i;

    for (i = 0; s[i] && i < max_chars; i++) {
        unsigned char c = (unsigned char)s[i];
        put(o, "%c", c <= 0x20 || c == 0x7f || c == ',' || c == ']' || c == '[' ? '_' : c);
    }
    if (s[i])
        put(o, "...");
}

/* ---- fds ------------------------------------------------------------------------------ */

/* The kind of an fd (memfd, eventfd, socket, file, pipe, ...) and, for a
 * memfd or a file, its name. */
static const char *fd_kind(int fd, char *name, size_t len)
{
    char link[64], target[256];
    struct stat st;
    ssize_t n;

    name[0] = '\0';
    if (fstat(fd, &st) < 0)
        return "closed";
    if (S_ISSOCK(st.st_mode))
        return "socket";
    if (S_ISFIFO(st.st_mode))
        return "pipe";
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0)
        return "fd";
    target[n] = '\0';
    if (strstr(target, "[eventfd]"))
        return "eventfd";
    if (strncmp(target, "/memfd:", 7) == 0) {
        char *end = strstr(target, " (deleted)");
        if (end)
            *end = '\0';
        snprintf(name, len, "%s", target + 7);
        return "memfd";
    }
    snprintf(name, len, "%s", target);
    if (S_ISREG(st.st_mode))
        return "file";
    if (S_ISCHR(st.st_mode))
        return "chardev";
    return "fd";
}

static void put_fds(struct out *o, const struct vu_msg *msg)
{
    if (o->json)
        put(o, ",\"fds\":[");
    else if (msg->nfds)
        put(o, " fds=[");
    for (unsigned i = 0; i < msg->nfds && i < VU_MAX_FDS; i++) {
        char name[256];
        const char *kind = fd_kind(msg->fds[i], name, sizeof(name));
        if (o->json) {
            put(o, "%s{\"kind\":\"%s\"", i ? "," : "", kind);
            if (name[0]) {
                put(o, ",\"name\":");
                put_json_string(o, name, NAME_SHOWN);
            }
            put(o, "}");
        } else {
            put(o, "%s%s", i ? "," : "", kind);
            if (name[0]) {
                put(o, ":");
                put_text_word(o, name, NAME_SHOWN);
            }
        }
    }
    if (o->json || msg->nfds)
        put(o, "]");
}

/* ---- lines ----------------------------------------------------------------------------- */

static const char *channel_name(enum vu_channel ch)
{
    return ch == VU_CHAN_BACKEND ? "backend" : "frontend";
}

static size_t text_line(struct out *o, const struct timespec *ts, const char *device,
                        const char *dir, enum vu_channel channel, const struct vu_msg *msg,
                        const char *note)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(channel, msg->hdr.request);
    uint32_t flags = msg->hdr.flags;
    struct tm tm;
    char payload[1024];

    localtime_r(&ts->tv_sec, &tm);
    put(o, "%02d:%02d:%02d.%06ld %s %s %s", tm.tm_hour, tm.tm_min, tm.tm_sec,
        ts->tv_nsec / 1000, device, dir, channel == VU_CHAN_BACKEND ? "backend-channel " : "");
    if (d)
        put(o, "%s", d->name);
    else
        put(o, "UNKNOWN(%" PRIu32 ")", msg->hdr.request);
    put(o, "%s%s", (flags & VU_FLAG_REPLY) ? " reply" : "",
        (flags & VU_FLAG_NEED_REPLY) ? " need_reply" : "");
    /* Anything but version 1 and the two flags above is unusual: shown raw. */
    if ((flags & ~(VU_FLAG_REPLY | VU_FLAG_NEED_REPLY)) != 1)
        put(o, " flags=0x%" PRIx32, flags);
    vs_decode_payload(channel, msg, payload, sizeof(payload));
    if (payload[0])
        put(o, " %s", payload);
    put_fds(o, msg);
    if (note) {
        put(o, " -- ");
        /* notes are the shim's own words: only line breaks are replaced */
        for (size_t i = 0; note[i] && i < NOTE_SHOWN; i++)
            put(o, "%c", note[i] == '\n' || note[i] == '\r' ? ' ' : note[i]);
    }
    if (o->over) {
        /* cut, but still one line */
        o->used = o->len > 5 ? o->len - 5 : 0;
        o->over = false;
        put(o, "...");
    }
    put(o, "\n");
    return o->used;
}

static void json_head(struct out *o, const struct timespec *ts, const char *device,
                      const char *dir, enum vu_channel channel, const struct vu_msg *msg)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(channel, msg->hdr.request);
    uint32_t flags = msg->hdr.flags;
    struct tm tm;

    gmtime_r(&ts->tv_sec, &tm);
    put(o, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\",\"device\":", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000);
    put_json_string(o, device, 64);
    put(o, ",\"dir\":");
    put_json_string(o, dir, 16);
    put(o, ",\"channel\":\"%s\",\"request\":{\"name\":\"%s\",\"number\":%" PRIu32 "}",
        channel_name(channel), d ? d->name : "UNKNOWN", msg->hdr.request);
    put(o, ",\"flags\":{\"value\":%" PRIu32 ",\"version\":%" PRIu32
        ",\"reply\":%s,\"need_reply\":%s}",
        flags, flags & VU_FLAG_VERSION_MASK, (flags & VU_FLAG_REPLY) ? "true" : "false",
        (flags & VU_FLAG_NEED_REPLY) ? "true" : "false");
    put(o, ",\"size\":%" PRIu32, msg->hdr.size);
}

static size_t json_line(struct out *o, const struct timespec *ts, const char *device,
                        const char *dir, enum vu_channel channel, const struct vu_msg *msg,
                        const char *note)
{
    /* Room kept for the closing part, so that a cut line is still an object. */
    size_t full = o->len;
    o->len = full > 8 ? full - 8 : full;

    json_head(o, ts, device, dir, channel, msg);
    size_t head = o->used;
    put(o, ",\"payload\":{");
    o->fields = 0;
    decode(o, channel, msg);
    put(o, "}");
    put_fds(o, msg);
    put(o, ",\"note\":");
    if (note)
        put_json_string(o, note, NOTE_SHOWN);
    else
        put(o, "null");
    if (o->over) {
        /* Too long (names from a peer, a long note): the header only. */
        o->over = false;
        o->used = head;
        o->fields = 0;
        put(o, ",\"payload\":{},\"fds\":[],\"note\":null,\"truncated\":true");
    }
    o->len = full;
    put(o, "}\n");
    return o->used;
}

size_t vs_trace_format_line(enum vs_trace_format format, const struct timespec *ts,
                            const char *device, const char *dir, enum vu_channel channel,
                            const struct vu_msg *msg, const char *note, char *buf, size_t len)
{
    struct out o = { .buf = buf, .len = len, .json = format == VS_TRACE_JSON };

    if (len < 64) {
        if (len)
            buf[0] = '\0';
        return 0;
    }
    buf[0] = '\0';
    if (o.json)
        return json_line(&o, ts, device, dir, channel, msg, note);
    return text_line(&o, ts, device, dir, channel, msg, note);
}

void vs_trace_msg(struct vs_trace *t, const char *device, const char *dir,
                  enum vu_channel channel, const struct vu_msg *msg, const char *note)
{
    struct timespec ts;
    char line[VS_TRACE_LINE_MAX];
    size_t n;

    if (!t || t->fd < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    n = vs_trace_format_line(t->format, &ts, device, dir, channel, msg, note, line, sizeof(line));
    write_line(t, line, n);
}
