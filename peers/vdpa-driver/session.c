/* SPDX-License-Identifier: MIT */
/*
 * The vdpa-user control plane of the reference driver: the requests, the
 * bring-up of docs/vdpa-user.md section 8 step by step, and the tear-down.
 *
 * Rules this file follows (spec 3.1 and the front-end checklist of 10.1):
 *  - every request without a reply payload of its own carries NEED_REPLY,
 *    and its u64 ack must be 0;
 *  - a reply must carry the request's id, the REPLY flag, the expected
 *    size and no fds; anything else ends the session;
 *  - a failed request with a reply payload comes back with size 0.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "device_types.h"
#include "fd_util.h"
#include "msg_table.h"
#include "transport.h"
#include "vdpa-driver/driver.h"

static const char *req_name(uint32_t request)
{
    return vu_request_name(VU_CHAN_FRONTEND, request);
}

int drv_connect(struct driver *d)
{
    d->sock = vu_connect_unix(d->opt.socket_path);
    if (d->sock < 0) {
        vs_err("cannot connect to %s: %s", d->opt.socket_path, strerror(-d->sock));
        return -1;
    }
    return 0;
}

/* ---- Requests --------------------------------------------------------------------- */

static int send_request(struct driver *d, struct vu_msg *msg)
{
    int rc;

    vs_debug("-> %s flags=0x%x size=%u fds=%u", req_name(msg->hdr.request), msg->hdr.flags,
             msg->hdr.size, msg->nfds);
    rc = vu_send_blocking(d->sock, msg); /* closes the message's fds once sent */
    if (rc < 0) {
        vs_err("cannot send %s: %s", req_name(msg->hdr.request), strerror(-rc));
        return -1;
    }
    return 0;
}

/* Receives the reply to `request` and checks its header. `size` is the
 * payload size a successful reply has. */
static int recv_reply(struct driver *d, uint32_t request, struct vu_msg *reply, uint32_t size)
{
    int rc = vu_recv_blocking(d->sock, reply, DRV_REPLY_TIMEOUT_MS);

    if (rc < 0) {
        vs_err("no reply to %s: %s", req_name(request),
               rc == -ECONNRESET ? "the back-end closed the connection" : strerror(-rc));
        return -1;
    }
    if (reply->nfds) {
        vu_msg_close_fds(reply);
        vs_err("the reply to %s carries file descriptors", req_name(request));
        return -1;
    }
    if (reply->hdr.request != request || reply->hdr.flags != (VU_VERSION | VU_FLAG_REPLY)) {
        vs_err("expected a reply to %s, got %s with flags 0x%x", req_name(request),
               req_name(reply->hdr.request), reply->hdr.flags);
        return -1;
    }
    if (reply->hdr.size == 0 && size != 0) {
        vs_err("the back-end rejected %s (reply of size 0)", req_name(request));
        return -1;
    }
    if (reply->hdr.size != size && request != VU_REQ_GET_CONFIG) {
        vs_err("the reply to %s has %u bytes, expected %u", req_name(request), reply->hdr.size,
               size);
        return -1;
    }
    vs_debug("<- %s size=%u", req_name(request), reply->hdr.size);
    return 0;
}

int drv_get_u64(struct driver *d, uint32_t request, uint64_t *value)
{
    struct vu_msg m;

    vu_msg_init(&m, request, 0);
    if (send_request(d, &m) || recv_reply(d, request, &m, 8))
        return -1;
    *value = m.payload.u64;
    return 0;
}

int drv_ack(struct driver *d, struct vu_msg *msg)
{
    uint32_t request = msg->hdr.request;

    msg->hdr.flags |= VU_FLAG_NEED_REPLY;
    if (send_request(d, msg) || recv_reply(d, request, msg, 8))
        return -1;
    if (msg->payload.u64 != 0) {
        vs_err("the back-end refused %s: error %llu (%s)", req_name(request),
               (unsigned long long)msg->payload.u64,
               msg->payload.u64 < 4096 ? strerror((int)msg->payload.u64) : "?");
        return -1;
    }
    return 0;
}

static int ack_u64(struct driver *d, uint32_t request, uint64_t value, int fd)
{
    struct vu_msg m;

    vu_msg_init(&m, request, 0);
    vu_msg_set_u64(&m, value);
    if (fd >= 0) {
        /* The message owns (and closes) what it carries: send a duplicate. */
        int dup = fd_dup_cloexec(fd);
        if (dup < 0) {
            vs_err("dup: %s", strerror(-dup));
            return -1;
        }
        vu_msg_add_fd(&m, dup);
    }
    return drv_ack(d, &m);
}

static int ack_state(struct driver *d, uint32_t request, uint32_t index, uint32_t num)
{
    struct vu_msg m;

    vu_msg_init(&m, request, 0);
    vu_msg_set_state(&m, index, num);
    return drv_ack(d, &m);
}

int drv_set_status(struct driver *d, uint8_t status)
{
    return ack_u64(d, VU_REQ_SET_STATUS, status, -1);
}

int drv_get_status(struct driver *d, uint8_t *status)
{
    uint64_t v;

    if (drv_get_u64(d, VU_REQ_GET_STATUS, &v))
        return -1;
    if (v > 0xff) {
        vs_err("GET_STATUS returned 0x%llx: bits 8-63 must be zero", (unsigned long long)v);
        return -1;
    }
    *status = (uint8_t)v;
    return 0;
}

int drv_get_config(struct driver *d, uint32_t offset, uint32_t size, uint8_t *out)
{
    struct vu_msg m;
    struct vu_config c;

    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    if (vu_msg_set_config(&m, offset, size, 0, NULL) || send_request(d, &m) ||
        recv_reply(d, VU_REQ_GET_CONFIG, &m, VU_CONFIG_HDR_SIZE + size))
        return -1;
    if (vu_msg_get_config(&m, &c) || c.offset != offset || c.size != size || c.flags != 0) {
        vs_err("malformed GET_CONFIG reply");
        return -1;
    }
    memcpy(out, c.data, size);
    return 0;
}

static int get_vring_base(struct driver *d, unsigned index, uint32_t *base)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_GET_VRING_BASE, 0);
    vu_msg_set_state(&m, index, 0);
    if (send_request(d, &m) || recv_reply(d, VU_REQ_GET_VRING_BASE, &m, 8))
        return -1;
    if (m.payload.state.index != index) {
        vs_err("GET_VRING_BASE for ring %u answered for ring %u", index, m.payload.state.index);
        return -1;
    }
    *base = m.payload.state.num;
    return 0;
}

/* SUSPEND and RESUME are always answered with a u64 (spec 3.2). */
static int suspend_resume(struct driver *d, uint32_t request)
{
    uint64_t v;

    if (drv_get_u64(d, request, &v))
        return -1;
    if (v != 0) {
        vs_err("%s failed: error %llu", req_name(request), (unsigned long long)v);
        return -1;
    }
    return 0;
}

static int new_eventfd(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    if (fd < 0)
        vs_err("eventfd: %s", strerror(errno));
    return fd;
}

/* ---- Bring-up (spec section 8) ----------------------------------------------------- */

static const char *device_name(uint64_t id)
{
    const struct vs_device_type *t = id <= UINT32_MAX ? vs_device_type_by_id((uint32_t)id) : NULL;

    return t ? t->name : "unknown";
}

/* Steps 1-4: features, protocol features, ownership. */
static int negotiate(struct driver *d)
{
    const uint64_t required = VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS);
    uint64_t offered;
    struct vu_msg m;

    if (drv_get_u64(d, VU_REQ_GET_FEATURES, &d->offered_features))
        return -1;
    if (!vu_has_bit(d->offered_features, VU_F_PROTOCOL_FEATURES)) {
        vs_err("the back-end does not offer VHOST_USER_F_PROTOCOL_FEATURES (bit 30): "
               "not a vdpa-user back-end");
        return -1;
    }
    if (drv_get_u64(d, VU_REQ_GET_PROTOCOL_FEATURES, &offered))
        return -1;
    if ((offered & required) != required) {
        vs_err("the back-end offers protocol features 0x%llx; vdpa-user needs VDPA (63), "
               "REPLY_ACK (3) and STATUS (16)",
               (unsigned long long)offered);
        return -1;
    }
    /* 2.2.3: bit 63 together with 3 and 16; CONFIG (9), implied by 63, and
     * MQ where shown; nothing else (in particular not NET_MTU or
     * RESET_DEVICE, 2.4). REPLY_ACK is in the written value, so the
     * back-end answers this very message (2.2.6). */
    d->protocol_features = (offered & (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_CONFIG))) | required;
    vu_msg_init(&m, VU_REQ_SET_PROTOCOL_FEATURES, 0);
    vu_msg_set_u64(&m, d->protocol_features);
    if (drv_ack(d, &m))
        return -1;
    /* 2.2.7: the device's features under vdpa-user may differ from the
     * legacy view read above (a vdpa-shim adds the VMM's part): read again. */
    if (drv_get_u64(d, VU_REQ_GET_FEATURES, &d->offered_features))
        return -1;
    vu_msg_init(&m, VU_REQ_SET_OWNER, 0);
    return drv_ack(d, &m);
}

/* Steps 5-9: identity and limits, instead of assumptions. */
static int query_device(struct driver *d)
{
    uint64_t id;
    struct vu_msg m;

    if (drv_get_u64(d, VU_REQ_VDPA_GET_DEVICE_ID, &id))
        return -1;
    if (id != d->opt.device_id) {
        vs_err("the device is %s (VIRTIO device ID %llu), not %s", device_name(id),
               (unsigned long long)id, d->opt.type);
        return -1;
    }
    if (drv_get_u64(d, VU_REQ_VDPA_GET_VQS_COUNT, &d->vqs_count) ||
        drv_get_u64(d, VU_REQ_VDPA_GET_CONFIG_SIZE, &d->config_size) ||
        drv_get_u64(d, VU_REQ_VDPA_GET_VRING_NUM, &d->max_ring_size))
        return -1;
    vu_msg_init(&m, VU_REQ_VDPA_GET_IOVA_RANGE, 0);
    if (send_request(d, &m) ||
        recv_reply(d, VU_REQ_VDPA_GET_IOVA_RANGE, &m, sizeof(struct vu_iova_range)))
        return -1;
    d->iova = m.payload.iova_range;
    printf("vdpa-driver: device: %s, %llu virtqueues, max ring size %llu, config size %llu, "
           "IOVA range 0x%llx-0x%llx\n",
           device_name(id), (unsigned long long)d->vqs_count, (unsigned long long)d->max_ring_size,
           (unsigned long long)d->config_size, (unsigned long long)d->iova.first,
           (unsigned long long)d->iova.last);

    /* 0 is a device type without config space (rng, i2c, scmi). */
    if (d->config_size > VU_MAX_CONFIG_SIZE) {
        vs_err("config size %llu is out of range", (unsigned long long)d->config_size);
        return -1;
    }
    if (d->max_ring_size == 0 || d->max_ring_size > VQ_MAX_SIZE) {
        vs_err("max ring size %llu is out of range", (unsigned long long)d->max_ring_size);
        return -1;
    }
    /* The queue size: --queue-size, else 256, never above the maximum; a
     * split ring needs a power of two. */
    if (d->opt.queue_size) {
        if (d->opt.queue_size > d->max_ring_size) {
            vs_err("--queue-size %u is above the device's maximum %llu", d->opt.queue_size,
                   (unsigned long long)d->max_ring_size);
            return -1;
        }
        d->queue_size = d->opt.queue_size;
    } else {
        d->queue_size = 256;
        while (d->queue_size > d->max_ring_size)
            d->queue_size /= 2;
    }
    /* Guest memory is [0, mem size): it must be usable by the device. */
    if (d->iova.first > 0 || d->iova.last < d->mem.size - 1) {
        vs_err("guest memory 0x0-0x%llx is outside the device's IOVA range",
               (unsigned long long)(d->mem.size - 1));
        return -1;
    }
    return 0;
}

/* Steps 10-15: reset, ACKNOWLEDGE|DRIVER, read config, features, FEATURES_OK. */
static int init_device(struct driver *d, uint64_t device_features)
{
    const uint8_t ack_driver = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
    uint8_t status;
    uint32_t cfg_size = (uint32_t)d->config_size;

    if (drv_set_status(d, 0) || drv_set_status(d, ack_driver))
        return -1;
    /* One read of the whole space: an atomic snapshot (3.3). */
    if (cfg_size && drv_get_config(d, 0, cfg_size, d->config))
        return -1;

    if (!vu_has_bit(d->offered_features, VIRTIO_F_VERSION_1)) {
        vs_err("the device does not offer VIRTIO_F_VERSION_1, which vdpa-user requires");
        return -1;
    }
    /* VERSION_1, what we understand of what is offered, and bit 30 (ignored
     * by the device; vhost-user front-ends always set it). */
    d->features = (d->offered_features & (device_features | VU_BIT(VIRTIO_F_VERSION_1))) |
                  VU_BIT(VU_F_PROTOCOL_FEATURES);
    printf("vdpa-driver: features: offered 0x%llx, negotiated 0x%llx\n",
           (unsigned long long)d->offered_features, (unsigned long long)d->features);
    if (ack_u64(d, VU_REQ_SET_FEATURES, d->features, -1) ||
        drv_set_status(d, ack_driver | VIRTIO_STATUS_FEATURES_OK) || drv_get_status(d, &status))
        return -1;
    if (!(status & VIRTIO_STATUS_FEATURES_OK)) {
        /* VIRTIO 3.1.1: the device refused our selection. Give up cleanly. */
        vs_err("the device refused features 0x%llx (status 0x%02x)",
               (unsigned long long)d->features, status);
        drv_set_status(d, ack_driver | VIRTIO_STATUS_FAILED);
        return -1;
    }
    return 0;
}

/* Step 16: one region, guest-physical 0, user address = our mapping. */
static int send_mem_table(struct driver *d)
{
    struct vu_mem_region r = dma_region(&d->mem);
    struct vu_msg m;
    int fd = fd_dup_cloexec(d->mem.fd);

    if (fd < 0) {
        vs_err("dup: %s", strerror(fd == -1 ? EBADF : -fd));
        return -1;
    }
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&m, &r, 1);
    vu_msg_add_fd(&m, fd);
    return drv_ack(d, &m);
}

/* Steps 17-26: per ring NUM, ADDR, BASE, KICK, CALL. */
static int setup_ring(struct driver *d, unsigned i)
{
    struct vu_vring_addr a = { .index = i };
    struct vu_msg m;
    int rc = vq_driver_init(&d->vq[i], &d->mem, d->queue_size);

    if (rc) {
        vs_err("cannot place ring %u (%u entries) in guest memory: %s", i, d->queue_size,
               strerror(-rc));
        return -1;
    }
    d->kick[i] = new_eventfd();
    d->call[i] = new_eventfd();
    if (d->kick[i] < 0 || d->call[i] < 0)
        return -1;
    /* Ring addresses are front-end user addresses (translated through the
     * memory table); buffer addresses are guest-physical. */
    a.desc_user_addr = vq_driver_desc_uva(&d->vq[i]);
    a.avail_user_addr = vq_driver_avail_uva(&d->vq[i]);
    a.used_user_addr = vq_driver_used_uva(&d->vq[i]);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &a);
    if (ack_state(d, VU_REQ_SET_VRING_NUM, i, d->queue_size) || drv_ack(d, &m) ||
        ack_state(d, VU_REQ_SET_VRING_BASE, i, 0) ||
        ack_u64(d, VU_REQ_SET_VRING_KICK, i, d->kick[i]) ||
        ack_u64(d, VU_REQ_SET_VRING_CALL, i, d->call[i]))
        return -1;
    return 0;
}

int drv_use_ring(struct driver *d, unsigned index)
{
    if (index >= d->vqs_count) {
        vs_err("ring %u is needed, but the device has only %llu virtqueues", index,
               (unsigned long long)d->vqs_count);
        return -1;
    }
    if (index >= DRV_MAX_RINGS) {
        vs_err("ring %u is beyond the vhost-user ring index limit %u", index, DRV_MAX_RINGS - 1);
        return -1;
    }
    for (unsigned k = 0; k < d->nrings; k++)
        if (d->ring[k] == index)
            return 0;
    d->ring[d->nrings++] = index;
    return 0;
}

int drv_negotiate(struct driver *d, uint64_t device_features)
{
    int rc = dma_arena_create(&d->mem, (uint64_t)d->opt.mem_mb << 20, 0);

    if (rc) {
        vs_err("cannot create %u MiB of guest memory: %s", d->opt.mem_mb, strerror(-rc));
        return -1;
    }
    d->mem_ok = true;
    return negotiate(d) || query_device(d) || init_device(d, device_features) ? -1 : 0;
}

int drv_start(struct driver *d)
{
    uint8_t status;

    if (d->nrings == 0) {
        vs_err("no ring to set up");
        return -1;
    }
    if (send_mem_table(d))
        return -1;
    for (unsigned k = 0; k < d->nrings; k++)
        if (setup_ring(d, d->ring[k]))
            return -1;
    /* Steps 27-29: enable our rings (any others stay disabled and are not
     * processed, 3.3), install the config-call eventfd. */
    for (unsigned k = 0; k < d->nrings; k++)
        if (ack_state(d, VU_REQ_SET_VRING_ENABLE, d->ring[k], 1))
            return -1;
    d->config_call = new_eventfd();
    if (d->config_call < 0 || ack_u64(d, VU_REQ_VDPA_SET_CONFIG_CALL, 0, d->config_call))
        return -1;
    /* Steps 30-31: DRIVER_OK; the rings run from here on. */
    if (drv_set_status(d, 0x0F) || drv_get_status(d, &status))
        return -1;
    if (status != 0x0F) {
        vs_err("after DRIVER_OK the status is 0x%02x, expected 0x0f%s", status,
               status & VIRTIO_STATUS_DEVICE_NEEDS_RESET ? " (DEVICE_NEEDS_RESET: the device "
                                                           "could not start its rings)"
                                                         : "");
        return -1;
    }
    printf("vdpa-driver: device running: %u ring(s) of %u entries (", d->nrings, d->queue_size);
    for (unsigned k = 0; k < d->nrings; k++)
        printf("%s%u", k ? " " : "", d->ring[k]);
    printf("), %u MiB of guest memory\n", d->opt.mem_mb);
    return 0;
}

int drv_check_health(struct driver *d)
{
    uint8_t status;

    /* Section 7: on a config-call signal read the status first. We also read
     * it without a signal: it is cheap and catches everything. */
    if (vq_eventfd_drain(d->config_call))
        vs_info("config-call eventfd signalled");
    if (drv_get_status(d, &status))
        return -1;
    if (status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) {
        vs_err("the device set DEVICE_NEEDS_RESET (status 0x%02x)", status);
        return -1;
    }
    return 0;
}

/* ---- Traffic helper ------------------------------------------------------------------ */

int drv_wait_used(struct driver *d, unsigned i, void **token, uint32_t *len, int timeout_ms)
{
    for (int waited = 0;;) {
        struct pollfd p = { .fd = d->call[i], .events = POLLIN };
        int rc = vq_driver_get_used(&d->vq[i], token, len);

        if (rc < 0) {
            vs_err("ring %u: the device returned a descriptor we never gave it", i);
            return -1;
        }
        if (rc == 1)
            return 1;
        if (waited >= timeout_ms)
            return 0;
        /* The call eventfd wakes us; the 10 ms cap only bounds a lost signal. */
        poll(&p, 1, 10);
        vq_eventfd_drain(d->call[i]);
        waited += 10;
    }
}

/* ---- Tear-down ------------------------------------------------------------------------ */

int drv_shut_down(struct driver *d)
{
    uint8_t status;

    /* Suspend, then read the exact ring positions (3.3): every fetched
     * request is complete, so each base equals the used index. */
    if (suspend_resume(d, VU_REQ_VDPA_SUSPEND))
        return -1;
    for (unsigned k = 0; k < d->nrings; k++) {
        unsigned i = d->ring[k];
        uint32_t base;
        uint16_t used = le16toh(d->vq[i].used->idx);

        if (get_vring_base(d, i, &base))
            return -1;
        printf("vdpa-driver: suspended: ring %u base %u (avail %u, used %u)\n", i, base,
               d->vq[i].avail_idx, used);
        if (base != used) {
            vs_err("ring %u: base %u after SUSPEND differs from the used index %u", i, base, used);
            return -1;
        }
    }
    if (suspend_resume(d, VU_REQ_VDPA_RESUME))
        return -1;
    /* Reset: rings stop, features are cleared; memory and fds stay (5.3). */
    if (drv_set_status(d, 0) || drv_get_status(d, &status))
        return -1;
    if (status != 0) {
        vs_err("after reset the status is 0x%02x", status);
        return -1;
    }
    return 0;
}

void drv_close(struct driver *d)
{
    fd_close(&d->sock);
    for (unsigned i = 0; i < DRV_MAX_RINGS; i++) {
        vq_driver_destroy(&d->vq[i]);
        fd_close(&d->kick[i]);
        fd_close(&d->call[i]);
    }
    fd_close(&d->config_call);
    if (d->mem_ok)
        dma_arena_destroy(&d->mem);
    d->mem_ok = false;
}
