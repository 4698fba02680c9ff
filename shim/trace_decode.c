/* SPDX-License-Identifier: MIT */
/*
 * The trace's decoder (trace.h): one message as a line of text or JSON,
 * bounded by the output buffer. trace.c writes the lines to the file.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"

#define DATA_SHOWN 32  /* bytes of config or unknown payload dumped */
#define NAME_SHOWN 64  /* characters of an fd's name (memfd name, file path) */
#define NOTE_SHOWN 512 /* characters of a note */

/* ---- the line builder -------------------------------------------------------- */

/* A bounded output buffer; `over` once something did not fit. Payload
 * fields are written as name=value (text) or "name":value (JSON). */
struct out {
    char *buf;
    size_t len, used;
    bool json, over;
    unsigned fields; /* fields in the current object (JSON commas) */
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
    [24] = "NOTIFY_ON_EMPTY",    [26] = "LOG_ALL",           [27] = "ANY_LAYOUT",
    [28] = "RING_INDIRECT_DESC", [29] = "RING_EVENT_IDX",    [30] = "PROTOCOL_FEATURES",
    [32] = "VERSION_1",          [33] = "ACCESS_PLATFORM",   [34] = "RING_PACKED",
    [35] = "IN_ORDER",           [36] = "ORDER_PLATFORM",    [37] = "SR_IOV",
    [38] = "NOTIFICATION_DATA",  [39] = "NOTIF_CONFIG_DATA", [40] = "RING_RESET",
    [41] = "ADMIN_VQ",
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
        { VIRTIO_STATUS_ACKNOWLEDGE, "ACKNOWLEDGE" },
        { VIRTIO_STATUS_DRIVER, "DRIVER" },
        { VIRTIO_STATUS_FEATURES_OK, "FEATURES_OK" },
        { VIRTIO_STATUS_DRIVER_OK, "DRIVER_OK" },
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

/* The one-u64 payloads decoded by request rather than by table: a
 * REPLY_ACK-style answer, features, protocol features and status. Whether
 * msg was one of them (and is now written). */
static bool decode_word(struct out *o, enum vu_channel channel, const struct vu_msg_desc *d,
                        const struct vu_msg *msg)
{
    bool reply = (msg->hdr.flags & VU_FLAG_REPLY) != 0;
    bool word = channel == VU_CHAN_FRONTEND && msg->hdr.size == 8;
    uint32_t req = msg->hdr.request;

    /* A REPLY_ACK-style answer to a request without its own reply. */
    if (reply && d && d->reply != VU_REPLY_ALWAYS && msg->hdr.size == 8) {
        f_uint(o, "ack", msg->payload.u64);
        if (o->json)
            put(o, ",\"ack_result\":\"%s\"", msg->payload.u64 ? "failure" : "success");
        else
            put(o, msg->payload.u64 ? " (failure)" : " (success)");
        return true;
    }
    if (word && (req == VU_REQ_GET_PROTOCOL_FEATURES || req == VU_REQ_SET_PROTOCOL_FEATURES)) {
        f_hex(o, "protocol_features", msg->payload.u64, 0);
        put_protocol_features(o, msg->payload.u64);
        return true;
    }
    if (word && (req == VU_REQ_GET_FEATURES || req == VU_REQ_SET_FEATURES)) {
        f_hex(o, "features", msg->payload.u64, 16);
        put_features(o, msg->payload.u64);
        return true;
    }
    if (word && (req == VU_REQ_SET_STATUS || req == VU_REQ_GET_STATUS)) {
        put_status(o, msg->payload.u64);
        return true;
    }
    return false;
}

static void put_mem_table(struct out *o, const struct vu_msg *msg, uint32_t avail)
{
    uint32_t n = msg->payload.mem.nregions;

    f_uint(o, "nregions", n);
    if (o->json)
        put(o, ",\"regions\":[");
    unsigned outer = o->fields;
    o->fields = 0;
    for (uint32_t i = 0; i < n && i < VU_MAX_MEM_REGIONS &&
                         VU_MEM_TABLE_HDR_SIZE + (i + 1) * sizeof(struct vu_mem_region) <= avail;
         i++)
        put_region(o, &msg->payload.mem.regions[i], true);
    o->fields = outer + 1;
    if (o->json)
        put(o, "]");
}

/* The payloads the message table describes by ring rule or size rule (ring
 * index words, vring state and addresses, the memory table, config space).
 * Whether msg was one of them (and is now written). */
static bool decode_by_rule(struct out *o, const struct vu_msg_desc *d, const struct vu_msg *msg,
                           uint32_t avail)
{
    bool reply = (msg->hdr.flags & VU_FLAG_REPLY) != 0;
    uint32_t size = msg->hdr.size;
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
               (ring == VU_RING_STATE || (reply && msg->hdr.request == VU_REQ_GET_VRING_BASE))) {
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
        put_mem_table(o, msg, avail);
    } else if ((rule->rule == VU_SIZE_CONFIG || rule->rule == VU_SIZE_CONFIG_REPLY) &&
               size >= VU_CONFIG_HDR_SIZE) {
        const struct vu_config *c = &msg->payload.config;
        f_uint(o, "offset", c->offset);
        f_uint(o, "size", c->size);
        f_hex(o, "flags", c->flags, 0);
        if (avail > VU_CONFIG_HDR_SIZE)
            f_data(o, "data", c->data, avail - VU_CONFIG_HDR_SIZE);
    } else {
        return false;
    }
    return true;
}

/* The payloads known by request and exact size; else a u64, else raw bytes. */
static void decode_by_request(struct out *o, const struct vu_msg *msg, uint32_t avail)
{
    uint32_t size = msg->hdr.size;
    uint32_t req = msg->hdr.request;

    if (size == sizeof(struct vu_mem_single) &&
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

static void decode(struct out *o, enum vu_channel channel, const struct vu_msg *msg)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(channel, msg->hdr.request);
    uint32_t size = msg->hdr.size;
    uint32_t avail = size < VU_MAX_PAYLOAD ? size : VU_MAX_PAYLOAD;

    if (size == 0 || decode_word(o, channel, d, msg))
        return;
    if (!d) {
        f_uint(o, "bytes", size);
        f_data(o, "data", msg->payload.bytes, avail);
        return;
    }
    if (!decode_by_rule(o, d, msg, avail))
        decode_by_request(o, msg, avail);
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
    put(o, "%02d:%02d:%02d.%06ld %s %s %s", tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000,
        device, dir, channel == VU_CHAN_BACKEND ? "backend-channel " : "");
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

static void json_head(struct out *o, const struct timespec *ts, const char *device, const char *dir,
                      enum vu_channel channel, const struct vu_msg *msg)
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
    put(o,
        ",\"flags\":{\"value\":%" PRIu32 ",\"version\":%" PRIu32 ",\"reply\":%s,\"need_reply\":%s}",
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
