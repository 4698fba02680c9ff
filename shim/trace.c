/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"

struct vs_trace {
    FILE *out;
    bool owned;
};

struct vs_trace *vs_trace_open(const char *path)
{
    struct vs_trace *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    if (strcmp(path, "-") == 0) {
        t->out = stdout;
    } else {
        t->out = fopen(path, "ae");
        if (!t->out) {
            free(t);
            return NULL;
        }
        t->owned = true;
    }
    setvbuf(t->out, NULL, _IOLBF, 0);
    return t;
}

void vs_trace_close(struct vs_trace *t)
{
    if (!t)
        return;
    if (t->owned)
        fclose(t->out);
    else
        fflush(t->out);
    free(t);
}

/* Appends to buf at *used, never overflowing. */
static void put(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*used >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t)n < len ? *used + (size_t)n : len - 1;
}

static void put_protocol_features(char *buf, size_t len, size_t *used, uint64_t f)
{
    const char *sep = "";

    put(buf, len, used, " (");
    for (unsigned bit = 0; bit < 64; bit++) {
        if (!(f & VU_BIT(bit)))
            continue;
        const char *name = vu_protocol_feature_name(bit);
        if (name)
            put(buf, len, used, "%s%s", sep, name);
        else
            put(buf, len, used, "%sbit%u", sep, bit);
        sep = "|";
    }
    put(buf, len, used, ")");
}

static void put_status(char *buf, size_t len, size_t *used, uint64_t s)
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
    const char *sep = "";

    put(buf, len, used, "status=0x%" PRIx64 " (", s);
    if (s == 0)
        put(buf, len, used, "reset");
    for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
        if (s & bits[i].bit) {
            put(buf, len, used, "%s%s", sep, bits[i].name);
            sep = "|";
        }
    }
    put(buf, len, used, ")");
}

size_t vs_decode_payload(enum vu_channel channel, const struct vu_msg *msg, char *buf, size_t len)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(channel, msg->hdr.request);
    bool reply = (msg->hdr.flags & VU_FLAG_REPLY) != 0;
    uint32_t size = msg->hdr.size;
    uint32_t req = msg->hdr.request;
    size_t used = 0;

    buf[0] = '\0';
    if (size == 0)
        return 0;
    /* A REPLY_ACK-style answer to a request without its own reply. */
    if (reply && d && d->reply != VU_REPLY_ALWAYS && size == 8) {
        put(buf, len, &used, "ack=%" PRIu64 "%s", msg->payload.u64,
            msg->payload.u64 ? " (failure)" : " (success)");
        return used;
    }
    if (channel == VU_CHAN_FRONTEND && size == 8 &&
        (req == VU_REQ_GET_PROTOCOL_FEATURES || req == VU_REQ_SET_PROTOCOL_FEATURES)) {
        put(buf, len, &used, "protocol_features=0x%" PRIx64, msg->payload.u64);
        put_protocol_features(buf, len, &used, msg->payload.u64);
        return used;
    }
    if (channel == VU_CHAN_FRONTEND && size == 8 &&
        (req == VU_REQ_GET_FEATURES || req == VU_REQ_SET_FEATURES)) {
        put(buf, len, &used, "features=0x%016" PRIx64, msg->payload.u64);
        return used;
    }
    if (channel == VU_CHAN_FRONTEND && size == 8 &&
        (req == VU_REQ_SET_STATUS || req == VU_REQ_GET_STATUS)) {
        put_status(buf, len, &used, msg->payload.u64);
        return used;
    }
    if (!d) {
        put(buf, len, &used, "%" PRIu32 " bytes", size);
        return used;
    }
    const struct vu_size_spec *rule = reply ? &d->reply_size : &d->size;
    enum vu_ring_rule ring = reply ? VU_RING_NONE : d->ring;
    if (ring == VU_RING_U64 && size >= 8) {
        put(buf, len, &used, "index=%" PRIu64 "%s", msg->payload.u64 & VU_VRING_IDX_MASK,
            (msg->payload.u64 & VU_VRING_NOFD_MASK) ? " nofd" : "");
        if (size == sizeof(struct vu_vring_area))
            put(buf, len, &used, " size=0x%" PRIx64 " offset=0x%" PRIx64, msg->payload.area.size,
                msg->payload.area.offset);
    } else if (size == sizeof(struct vu_vring_state) &&
               (ring == VU_RING_STATE || (reply && req == VU_REQ_GET_VRING_BASE))) {
        put(buf, len, &used, "index=%" PRIu32 " num=%" PRIu32, msg->payload.state.index,
            msg->payload.state.num);
    } else if (ring == VU_RING_ADDR && size == sizeof(struct vu_vring_addr)) {
        const struct vu_vring_addr *a = &msg->payload.addr;
        put(buf, len, &used,
            "index=%" PRIu32 " flags=0x%" PRIx32 " desc=0x%" PRIx64 " used=0x%" PRIx64
            " avail=0x%" PRIx64 " log=0x%" PRIx64,
            a->index, a->flags, a->desc_user_addr, a->used_user_addr, a->avail_user_addr,
            a->log_guest_addr);
    } else if (rule->rule == VU_SIZE_MEM_TABLE && size >= VU_MEM_TABLE_HDR_SIZE) {
        uint32_t n = msg->payload.mem.nregions;
        put(buf, len, &used, "nregions=%" PRIu32, n);
        for (uint32_t i = 0; i < n && i < VU_MAX_MEM_REGIONS &&
                             VU_MEM_TABLE_HDR_SIZE + (i + 1) * 32 <= size; i++) {
            const struct vu_mem_region *r = &msg->payload.mem.regions[i];
            put(buf, len, &used, " [gpa=0x%" PRIx64 " size=0x%" PRIx64 " uva=0x%" PRIx64
                " off=0x%" PRIx64 "]", r->guest_phys_addr, r->memory_size, r->userspace_addr,
                r->mmap_offset);
        }
    } else if ((rule->rule == VU_SIZE_CONFIG || rule->rule == VU_SIZE_CONFIG_REPLY) &&
               size >= VU_CONFIG_HDR_SIZE) {
        const struct vu_config *c = &msg->payload.config;
        put(buf, len, &used, "offset=%" PRIu32 " size=%" PRIu32 " flags=0x%" PRIx32, c->offset,
            c->size, c->flags);
        uint32_t shown = size - VU_CONFIG_HDR_SIZE;
        if (shown) {
            put(buf, len, &used, " data=");
            for (uint32_t i = 0; i < shown && i < 32; i++)
                put(buf, len, &used, "%02x", c->data[i]);
            if (shown > 32)
                put(buf, len, &used, "...");
        }
    } else if (size == sizeof(struct vu_mem_single) &&
               (req == VU_REQ_ADD_MEM_REG || req == VU_REQ_REM_MEM_REG)) {
        const struct vu_mem_region *r = &msg->payload.mem_single.region;
        put(buf, len, &used, "gpa=0x%" PRIx64 " size=0x%" PRIx64 " uva=0x%" PRIx64 " off=0x%" PRIx64,
            r->guest_phys_addr, r->memory_size, r->userspace_addr, r->mmap_offset);
    } else if (size == sizeof(struct vu_iotlb) && req == VU_REQ_IOTLB_MSG) {
        const struct vu_iotlb *t = &msg->payload.iotlb;
        put(buf, len, &used, "iova=0x%" PRIx64 " size=0x%" PRIx64 " uaddr=0x%" PRIx64
            " perm=%u type=%u", t->iova, t->size, t->uaddr, t->perm, t->type);
    } else if (size == sizeof(struct vu_inflight) &&
               (req == VU_REQ_GET_INFLIGHT_FD || req == VU_REQ_SET_INFLIGHT_FD)) {
        const struct vu_inflight *f = &msg->payload.inflight;
        put(buf, len, &used, "mmap_size=%" PRIu64 " mmap_offset=%" PRIu64 " num_queues=%u queue_size=%u",
            f->mmap_size, f->mmap_offset, f->num_queues, f->queue_size);
    } else if (size == sizeof(struct vu_log) && req == VU_REQ_SET_LOG_BASE) {
        put(buf, len, &used, "mmap_size=%" PRIu64 " mmap_offset=%" PRIu64,
            msg->payload.log.mmap_size, msg->payload.log.mmap_offset);
    } else if (size == sizeof(struct vu_iova_range) && req == VU_REQ_VDPA_GET_IOVA_RANGE) {
        put(buf, len, &used, "first=0x%" PRIx64 " last=0x%" PRIx64, msg->payload.iova_range.first,
            msg->payload.iova_range.last);
    } else if (size == 8) {
        put(buf, len, &used, "u64=%" PRIu64, msg->payload.u64);
    } else {
        put(buf, len, &used, "%" PRIu32 " bytes", size);
    }
    return used;
}

static const char *fd_kind(int fd, char *buf, size_t len)
{
    char link[64], target[80];
    struct stat st;
    ssize_t n;

    if (fstat(fd, &st) < 0)
        return "closed";
    if (S_ISSOCK(st.st_mode))
        return "socket";
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
        snprintf(buf, len, "memfd:%s", target + 7);
        return buf;
    }
    if (S_ISREG(st.st_mode))
        return "file";
    snprintf(buf, len, "%s", target);
    return buf;
}

void vs_trace_msg(struct vs_trace *t, const char *device, const char *dir,
                  enum vu_channel channel, const struct vu_msg *msg, const char *note)
{
    struct timespec ts;
    char payload[1024];
    bool reply = (msg->hdr.flags & VU_FLAG_REPLY) != 0;

    if (!t)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    vs_decode_payload(channel, msg, payload, sizeof(payload));
    fprintf(t->out, "%lld.%06ld %s %s %s%s%s%s", (long long)ts.tv_sec, ts.tv_nsec / 1000, device,
            dir, channel == VU_CHAN_BACKEND ? "backend-channel " : "",
            vu_request_name(channel, msg->hdr.request), reply ? " reply" : "",
            (msg->hdr.flags & VU_FLAG_NEED_REPLY) ? " need_reply" : "");
    if (payload[0])
        fprintf(t->out, " %s", payload);
    if (msg->nfds) {
        fputs(" fds=[", t->out);
        for (unsigned i = 0; i < msg->nfds; i++) {
            char kind[128];
            fprintf(t->out, "%s%s", i ? "," : "", fd_kind(msg->fds[i], kind, sizeof(kind)));
        }
        fputc(']', t->out);
    }
    if (note)
        fprintf(t->out, " -- %s", note);
    fputc('\n', t->out);
}
