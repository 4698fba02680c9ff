/* SPDX-License-Identifier: MIT */
/*
 * virtio-gpu (2D) of the reference driver (VIRTIO 1.2, 5.7; the layouts are
 * Linux include/uapi/linux/virtio_gpu.h), with the VMM's display side of a
 * vhost-user-gpu back-end (QEMU docs/interop/vhost-user-gpu.rst).
 *
 * Rings: 0 controlq, 1 cursorq; controlq is used. Config space (16 bytes):
 * events_read, events_clear, num_scanouts, num_capsets (le32 each). No
 * feature is asked for (no VIRGL, no EDID: a vhost-user-gpu back-end given
 * EDID asks the display side for EDID blobs this driver does not serve).
 *
 * The display socket: as QEMU's vhost-user-gpu-pci does at DRIVER_OK, the
 * driver makes a socketpair and sends one end with VHOST_USER_GPU_SET_SOCKET
 * (through the shim, which hands it on). The back-end speaks the display
 * protocol on it: header { u32 request, u32 flags, u32 size }, native byte
 * order, replies with flag bit 2. The driver serves it while it waits for
 * the control queue, in the same poll loop (the back-end holds the control
 * queue while it waits for a reply):
 *
 *   GET_PROTOCOL_FEATURES (1)  -> reply u64 0 (no protocol feature)
 *   SET_PROTOCOL_FEATURES (2)  recorded, no reply
 *   GET_DISPLAY_INFO (3)       -> reply virtio_gpu_resp_display_info:
 *                              DISPLAY_SCANOUTS enabled scanouts of
 *                              SCANOUT_W x SCANOUT_H
 *   CURSOR_POS/_HIDE/_UPDATE (4-6)  counted
 *   SCANOUT (7) { scanout_id, w, h }   recorded
 *   UPDATE (8) { scanout_id, x, y, w, h, x8r8g8b8 pixels }  recorded, the
 *                              pixels compared with what the driver wrote
 *   DMABUF_SCANOUT (9)         counted, its fd closed
 *   DMABUF_UPDATE (10)         -> empty reply (no pixels to compare)
 *
 * The control queue, each command a device-readable request and a
 * device-writable response whose virtio_gpu_ctrl_hdr { type, flags,
 * le64 fence_id, ctx_id, ring_idx, padding[3] } (24 bytes) must say
 * RESP_OK_NODATA: GET_DISPLAY_INFO (RESP_OK_DISPLAY_INFO; the enabled
 * scanouts must be the display side's), RESOURCE_CREATE_2D (B8G8R8X8),
 * RESOURCE_ATTACH_BACKING (one entry: guest memory the driver owns, filled
 * with a pattern), SET_SCANOUT (scanout 0, the whole resource: the display
 * side must get SCANOUT with its size), TRANSFER_TO_HOST_2D, RESOURCE_FLUSH
 * of a sub-rectangle (the display side must get an UPDATE of exactly that
 * rectangle with the pattern's pixels), RESOURCE_UNREF (the scanout is
 * disabled: SCANOUT 0x0).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd_util.h"
#include "vdpa-driver/driver.h"

#define GPU_DEVICE_ID 16u
#define CTRL_RING     0u
#define CFG_EVENTS    0
#define CFG_SCANOUTS  8
#define CFG_CAPSETS   12
#define CFG_SIZE      16u
#define MAX_SCANOUTS  16u /* VIRTIO_GPU_MAX_SCANOUTS */

/* Control commands and responses. */
#define CMD_GET_DISPLAY_INFO        0x0100u
#define CMD_RESOURCE_CREATE_2D      0x0101u
#define CMD_RESOURCE_UNREF          0x0102u
#define CMD_SET_SCANOUT             0x0103u
#define CMD_RESOURCE_FLUSH          0x0104u
#define CMD_TRANSFER_TO_HOST_2D     0x0105u
#define CMD_RESOURCE_ATTACH_BACKING 0x0106u
#define RESP_OK_NODATA              0x1100u
#define RESP_OK_DISPLAY_INFO        0x1101u
#define FORMAT_B8G8R8X8             2u
#define HDR_WORDS                   6u /* virtio_gpu_ctrl_hdr: 24 bytes */
#define HDR_SIZE                    (HDR_WORDS * 4u)
#define PMODE_WORDS                 6u /* rect { x, y, width, height }, enabled, flags */
#define PM_WIDTH                    2u
#define PM_HEIGHT                   3u
#define PM_ENABLED                  4u
#define DISPLAY_INFO_SIZE           (HDR_SIZE + MAX_SCANOUTS * PMODE_WORDS * 4u)
#define CMD_WORDS_MAX               16u
#define POLL_MS                     10 /* bounds a lost call signal */

/* The display protocol. */
#define VG_GET_PROTOCOL_FEATURES 1u
#define VG_SET_PROTOCOL_FEATURES 2u
#define VG_GET_DISPLAY_INFO      3u
#define VG_CURSOR_POS            4u
#define VG_CURSOR_POS_HIDE       5u
#define VG_CURSOR_UPDATE         6u
#define VG_SCANOUT               7u
#define VG_UPDATE                8u
#define VG_DMABUF_SCANOUT        9u
#define VG_DMABUF_UPDATE         10u
#define VG_FLAG_REPLY            (1u << 2)
#define VG_HDR                   12u
#define VG_UPDATE_HDR            20u /* scanout_id, x, y, w, h */
#define VG_BUF                   (64u * 1024u)

/* What this driver shows. */
#define DISPLAY_SCANOUTS 2u
#define SCANOUT_W        1024u
#define SCANOUT_H        768u
#define RES_ID           1u
#define RES_W            64u
#define RES_H            48u
#define FLUSH_X          8u
#define FLUSH_Y          4u
#define FLUSH_W          32u
#define FLUSH_H          24u
#define RGB_MASK         0x00ffffffu /* x8r8g8b8: the X byte is undefined */
_Static_assert(VG_HDR + VG_UPDATE_HDR + RES_W * RES_H * 4u <= VG_BUF, "a whole update fits");

/* The display side: the kept end of the socketpair and what came on it. */
struct display {
    int fd;
    uint8_t buf[VG_BUF];
    size_t len;
    bool features_set;
    unsigned display_info, cursor, dmabuf, scanouts, updates;
    uint32_t scanout[3];    /* the last SCANOUT: id, w, h */
    uint32_t update[5];     /* the last UPDATE: id, x, y, w, h */
    const uint32_t *pixels; /* the resource's backing (RES_W wide), NULL before */
    unsigned checked, mismatches;
};

static struct display disp = { .fd = -1 };

static uint64_t gpu_features(const struct options *o)
{
    (void)o;
    return 0;
}

static int gpu_configure(struct driver *d)
{
    const uint8_t *c = d->config;
    uint32_t scanouts = cfg_le32(c + CFG_SCANOUTS);

    if (d->config_size < CFG_SIZE) {
        vs_err("virtio-gpu config space is %llu bytes, expected %u",
               (unsigned long long)d->config_size, CFG_SIZE);
        return -1;
    }
    printf("vdpa-driver: config: events_read 0x%x, num_scanouts %u, num_capsets %u\n",
           cfg_le32(c + CFG_EVENTS), scanouts, cfg_le32(c + CFG_CAPSETS));
    if (scanouts < 1 || scanouts > MAX_SCANOUTS) {
        /* Linux's virtio_gpu refuses such a device too ("num_scanouts is zero") */
        vs_err("virtio-gpu: num_scanouts %u is outside 1..%u (VIRTIO 1.2 5.7.4; a vhost-user-gpu "
               "back-end leaves it to the VMM, as QEMU's vhost-user-gpu-pci writes max_outputs)",
               scanouts, MAX_SCANOUTS);
        return -1;
    }
    return drv_use_ring(d, CTRL_RING);
}

/* ---- The display side ------------------------------------------------------------- */

static int display_send(struct display *dp, uint32_t request, const void *payload, uint32_t size)
{
    uint8_t msg[VG_HDR + DISPLAY_INFO_SIZE];
    uint32_t hdr[3] = { request, VG_FLAG_REPLY, size };
    ssize_t n;

    if (size > DISPLAY_INFO_SIZE)
        return -1;
    memcpy(msg, hdr, VG_HDR);
    if (size)
        memcpy(msg + VG_HDR, payload, size);
    n = send(dp->fd, msg, VG_HDR + size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n != (ssize_t)(VG_HDR + size)) {
        vs_err("display socket: cannot reply to request %u: %s", request,
               n < 0 ? strerror(errno) : "short write");
        return -1;
    }
    return 0;
}

static int answer_display_info(struct display *dp)
{
    uint32_t info[DISPLAY_INFO_SIZE / 4] = { htole32(RESP_OK_DISPLAY_INFO) };

    for (unsigned i = 0; i < DISPLAY_SCANOUTS; i++) {
        uint32_t *m = info + HDR_WORDS + i * PMODE_WORDS;

        m[PM_WIDTH] = htole32(SCANOUT_W);
        m[PM_HEIGHT] = htole32(SCANOUT_H);
        m[PM_ENABLED] = htole32(1);
    }
    dp->display_info++;
    return display_send(dp, VG_GET_DISPLAY_INFO, info, sizeof(info));
}

/* An UPDATE: its rectangle, and its pixels against the resource's. */
static int take_update(struct display *dp, const uint8_t *p, uint32_t size)
{
    uint32_t *u = dp->update;

    if (size < VG_UPDATE_HDR) {
        vs_err("display socket: UPDATE of %u bytes", size);
        return -1;
    }
    memcpy(u, p, VG_UPDATE_HDR);
    dp->updates++;
    if (size != VG_UPDATE_HDR + (uint64_t)u[3] * u[4] * 4u || !dp->pixels ||
        u[1] + (uint64_t)u[3] > RES_W || u[2] + (uint64_t)u[4] > RES_H)
        return 0; /* not the flush this driver checks: gpu_run fails on its rectangle */
    for (uint32_t y = 0; y < u[4]; y++) {
        for (uint32_t x = 0; x < u[3]; x++) {
            uint32_t got, want = dp->pixels[(u[2] + y) * RES_W + u[1] + x];

            memcpy(&got, p + VG_UPDATE_HDR + ((size_t)y * u[3] + x) * 4u, 4);
            dp->checked++;
            if ((got & RGB_MASK) != (le32toh(want) & RGB_MASK) && dp->mismatches++ == 0)
                vs_err("display: pixel %u,%u is 0x%06x, the driver wrote 0x%06x", u[1] + x,
                       u[2] + y, got & RGB_MASK, le32toh(want) & RGB_MASK);
        }
    }
    return 0;
}

/* One whole message from the back-end. */
static int display_message(struct display *dp, uint32_t request, const uint8_t *p, uint32_t size)
{
    uint64_t none = 0;

    vs_debug("display socket: request %u, %u bytes", request, size);
    switch (request) {
    case VG_GET_PROTOCOL_FEATURES:
        return display_send(dp, request, &none, sizeof(none));
    case VG_SET_PROTOCOL_FEATURES:
        dp->features_set = true;
        return 0;
    case VG_GET_DISPLAY_INFO:
        return answer_display_info(dp);
    case VG_CURSOR_POS:
    case VG_CURSOR_POS_HIDE:
    case VG_CURSOR_UPDATE:
        dp->cursor++;
        return 0;
    case VG_SCANOUT:
        if (size != sizeof(dp->scanout))
            return vs_err("display socket: SCANOUT of %u bytes", size), -1;
        memcpy(dp->scanout, p, sizeof(dp->scanout));
        dp->scanouts++;
        return 0;
    case VG_UPDATE:
        return take_update(dp, p, size);
    case VG_DMABUF_SCANOUT:
        dp->dmabuf++;
        return 0;
    case VG_DMABUF_UPDATE:
        dp->dmabuf++;
        return display_send(dp, request, NULL, 0);
    default:
        vs_err("display socket: unknown request %u (%u bytes)", request, size);
        return -1;
    }
}

/* Reads what the back-end has sent (never blocks) and handles every whole
 * message; fds that come along (DMABUF_SCANOUT) are closed. */
static int display_drain(struct display *dp)
{
    for (;;) {
        union {
            struct cmsghdr align;
            char space[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
        } ctl;
        struct iovec iov = { dp->buf + dp->len, sizeof(dp->buf) - dp->len };
        struct msghdr mh = { .msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.space,
                             .msg_controllen = sizeof(ctl.space) };
        ssize_t n = recvmsg(dp->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        size_t at = 0;

        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        if (n == 0) {
            vs_err("display socket: the back-end closed it");
            return -1;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++)
                    close(((int *)(void *)CMSG_DATA(c))[k]);
        dp->len += (size_t)n;
        while (dp->len - at >= VG_HDR) {
            uint32_t h[3];

            memcpy(h, dp->buf + at, VG_HDR);
            if (h[2] > sizeof(dp->buf) - VG_HDR) {
                vs_err("display socket: request %u of %u bytes is too large", h[0], h[2]);
                return -1;
            }
            if (dp->len - at < VG_HDR + h[2])
                break;
            if (display_message(dp, h[0], dp->buf + at + VG_HDR, h[2]))
                return -1;
            at += VG_HDR + h[2];
        }
        memmove(dp->buf, dp->buf + at, dp->len - at);
        dp->len -= at;
    }
}

/* ---- The control queue -------------------------------------------------------------- */

/* drv_exchange with the display side served while waiting. */
static int gpu_exchange(struct driver *d, const struct vq_buf *b, unsigned n, const char *what)
{
    void *token = (void *)(uintptr_t)(b[0].gpa + 1), *got;
    uint32_t len;

    if (vq_driver_add(&d->vq[CTRL_RING], b, n, token))
        return vs_err("%s: cannot add the request to the control queue", what), -1;
    vq_driver_kick(d->kick[CTRL_RING]);
    for (int waited = 0;; waited += POLL_MS) {
        struct pollfd p[2] = { { d->call[CTRL_RING], POLLIN, 0 }, { disp.fd, POLLIN, 0 } };
        int rc = vq_driver_get_used(&d->vq[CTRL_RING], &got, &len);

        if (rc < 0)
            return vs_err("%s: the device returned a descriptor we never gave it", what), -1;
        if (rc == 1 && got != token)
            return vs_err("%s: the device completed a different request", what), -1;
        if (rc == 1)
            return display_drain(&disp); /* what the back-end sent before it answered */
        if (waited >= DRV_IO_TIMEOUT_MS)
            return vs_err("%s: no answer within %d s", what, DRV_IO_TIMEOUT_MS / 1000), -1;
        if (poll(p, 2, POLL_MS) > 0 && p[1].revents && display_drain(&disp))
            return vs_err("%s: the display socket failed", what), -1;
        vq_eventfd_drain(d->call[CTRL_RING]);
    }
}

/* One command: HDR_WORDS header words (type first) and nbody body words, all
 * le32, then a response of resp_size bytes whose type must be want. */
static int gpu_cmd(struct driver *d, uint32_t type, const uint32_t *body, unsigned nbody,
                   uint8_t *resp, uint32_t resp_size, uint32_t want, const char *what)
{
    uint32_t *req = drv_alloc(d, (HDR_WORDS + CMD_WORDS_MAX) * 4u, 8);
    struct vq_buf b[2];

    if (!req || nbody > CMD_WORDS_MAX)
        return -1;
    req[0] = htole32(type);
    for (unsigned i = 0; i < nbody; i++)
        req[HDR_WORDS + i] = htole32(body[i]);
    memset(resp, 0xff, resp_size);
    b[0] = (struct vq_buf){ dma_gpa(&d->mem, req), (HDR_WORDS + nbody) * 4u, false };
    b[1] = (struct vq_buf){ dma_gpa(&d->mem, resp), resp_size, true };
    if (gpu_exchange(d, b, 2, what))
        return -1;
    if (cfg_le32(resp) != want) {
        vs_err("gpu: %s: response 0x%x, expected 0x%x", what, cfg_le32(resp), want);
        return -1;
    }
    return 0;
}

static int nodata(struct driver *d, uint32_t type, const uint32_t *body, unsigned nbody,
                  const char *what)
{
    uint8_t *resp = drv_alloc(d, HDR_SIZE, 8);

    return resp ? gpu_cmd(d, type, body, nbody, resp, HDR_SIZE, RESP_OK_NODATA, what) : -1;
}

/* GET_DISPLAY_INFO: the enabled scanouts are the display side's. */
static int display_info(struct driver *d)
{
    uint8_t *r = drv_alloc(d, DISPLAY_INFO_SIZE, 8);
    unsigned enabled = 0;

    if (!r || gpu_cmd(d, CMD_GET_DISPLAY_INFO, NULL, 0, r, DISPLAY_INFO_SIZE, RESP_OK_DISPLAY_INFO,
                      "GET_DISPLAY_INFO"))
        return -1;
    for (unsigned i = 0; i < MAX_SCANOUTS; i++) {
        const uint8_t *m = r + HDR_SIZE + i * PMODE_WORDS * 4u;
        uint32_t w = cfg_le32(m + PM_WIDTH * 4u), h = cfg_le32(m + PM_HEIGHT * 4u);

        if (!cfg_le32(m + PM_ENABLED * 4u))
            continue;
        printf("vdpa-driver: gpu: scanout %u enabled, %ux%u\n", i, w, h);
        if (i >= DISPLAY_SCANOUTS || w != SCANOUT_W || h != SCANOUT_H) {
            vs_err("gpu: scanout %u (%ux%u) is not one the display side gave (%u of %ux%u)", i, w,
                   h, DISPLAY_SCANOUTS, SCANOUT_W, SCANOUT_H);
            return -1;
        }
        enabled++;
    }
    if (enabled != DISPLAY_SCANOUTS || disp.display_info != 1) {
        vs_err("gpu: %u scanouts enabled, the display side gave %u (asked %u times)", enabled,
               DISPLAY_SCANOUTS, disp.display_info);
        return -1;
    }
    return 0;
}

/* The resource's pixel x,y (B8G8R8X8 in memory: 0x00RRGGBB as le32), no
 * two neighbours alike, none black. */
static uint32_t pattern(uint32_t x, uint32_t y)
{
    uint32_t r = (x * 4u + 1u) & 0xffu, g = (y * 5u + 1u) & 0xffu, b = ((x ^ y) * 3u) & 0xffu;

    return r << 16 | g << 8 | b;
}

/* The resource: created, backed by guest memory holding the pattern, shown
 * on scanout 0, transferred, a sub-rectangle flushed. */
static int show_resource(struct driver *d)
{
    uint32_t *px = drv_alloc(d, RES_W * RES_H * 4u, 4096);
    uint64_t gpa;

    if (!px)
        return -1;
    for (uint32_t y = 0; y < RES_H; y++)
        for (uint32_t x = 0; x < RES_W; x++)
            px[y * RES_W + x] = htole32(pattern(x, y));
    gpa = dma_gpa(&d->mem, px);
    disp.pixels = px;
    const uint32_t create[] = { RES_ID, FORMAT_B8G8R8X8, RES_W, RES_H };
    const uint32_t attach[] = { RES_ID, 1, (uint32_t)gpa, (uint32_t)(gpa >> 32), RES_W * RES_H * 4u,
                                0 };
    const uint32_t scanout[] = { 0, 0, RES_W, RES_H, 0, RES_ID };
    const uint32_t transfer[] = { 0, 0, RES_W, RES_H, 0, 0, RES_ID, 0 };
    const uint32_t flush[] = { FLUSH_X, FLUSH_Y, FLUSH_W, FLUSH_H, RES_ID, 0 };

    if (nodata(d, CMD_RESOURCE_CREATE_2D, create, 4, "RESOURCE_CREATE_2D") ||
        nodata(d, CMD_RESOURCE_ATTACH_BACKING, attach, 6, "RESOURCE_ATTACH_BACKING") ||
        nodata(d, CMD_SET_SCANOUT, scanout, 6, "SET_SCANOUT"))
        return -1;
    if (!disp.scanouts || disp.scanout[0] != 0 || disp.scanout[1] != RES_W ||
        disp.scanout[2] != RES_H) {
        vs_err("gpu: after SET_SCANOUT the display side has %u SCANOUT (last: scanout %u, "
               "%ux%u), expected scanout 0, %ux%u",
               disp.scanouts, disp.scanout[0], disp.scanout[1], disp.scanout[2], RES_W, RES_H);
        return -1;
    }
    printf("vdpa-driver: gpu: display: SCANOUT scanout 0, %ux%u\n", RES_W, RES_H);
    return nodata(d, CMD_TRANSFER_TO_HOST_2D, transfer, 8, "TRANSFER_TO_HOST_2D") ||
                   nodata(d, CMD_RESOURCE_FLUSH, flush, 6, "RESOURCE_FLUSH")
               ? -1
               : 0;
}

/* The UPDATE the flush gave: exactly the flushed rectangle, every pixel the
 * driver's. */
static int check_update(void)
{
    const uint32_t *u = disp.update;

    if (!disp.updates) {
        vs_err("gpu: no UPDATE on the display socket after RESOURCE_FLUSH (%u DMABUF messages)",
               disp.dmabuf);
        return -1;
    }
    if (u[0] != 0 || u[1] != FLUSH_X || u[2] != FLUSH_Y || u[3] != FLUSH_W || u[4] != FLUSH_H ||
        disp.checked != FLUSH_W * FLUSH_H || disp.mismatches) {
        vs_err("gpu: UPDATE scanout %u %u,%u %ux%u (%u pixels compared, %u differ); flushed "
               "scanout 0 %u,%u %ux%u",
               u[0], u[1], u[2], u[3], u[4], disp.checked, disp.mismatches, FLUSH_X, FLUSH_Y,
               FLUSH_W, FLUSH_H);
        return -1;
    }
    printf("vdpa-driver: gpu: display: UPDATE scanout 0, %u,%u %ux%u, %u pixels as written\n",
           FLUSH_X, FLUSH_Y, FLUSH_W, FLUSH_H, disp.checked);
    return 0;
}

/* GPU_SET_SOCKET with one end of a socketpair; the other is disp.fd. */
static int set_socket(struct driver *d)
{
    int sv[2], fl;
    struct vu_msg m;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
        return vs_err("socketpair: %s", strerror(errno)), -1;
    disp.fd = sv[0];
    /* the back-end's end blocks, as QEMU gives it */
    fl = fcntl(sv[1], F_GETFL);
    if (fl < 0 || fcntl(sv[1], F_SETFL, fl & ~O_NONBLOCK)) {
        vs_err("fcntl: %s", strerror(errno));
        close(sv[1]);
        return -1;
    }
    vu_msg_init(&m, VU_REQ_GPU_SET_SOCKET, 0);
    vu_msg_add_fd(&m, sv[1]); /* the message owns it now */
    return drv_ack(d, &m);
}

static int gpu_run(struct driver *d)
{
    const uint32_t unref[] = { RES_ID, 0 };
    int rc = -1;

    if (set_socket(d) || display_info(d) || show_resource(d) || check_update() ||
        nodata(d, CMD_RESOURCE_UNREF, unref, 2, "RESOURCE_UNREF"))
        goto out;
    if (disp.scanout[1] || disp.scanout[2]) {
        vs_err("gpu: after RESOURCE_UNREF scanout %u is %ux%u, not disabled (0x0)", disp.scanout[0],
               disp.scanout[1], disp.scanout[2]);
        goto out;
    }
    snprintf(d->summary, sizeof(d->summary),
             "gpu: %u scanouts; resource %ux%u shown, %ux%u flushed: UPDATE with %u pixels as "
             "written; display socket: %u SCANOUT, %u UPDATE, protocol features %s",
             DISPLAY_SCANOUTS, RES_W, RES_H, FLUSH_W, FLUSH_H, disp.checked, disp.scanouts,
             disp.updates, disp.features_set ? "set" : "never set");
    rc = disp.features_set ? 0 : (vs_err("gpu: SET_PROTOCOL_FEATURES never came"), -1);
out:
    if (disp.fd >= 0)
        close(fd_take(&disp.fd));
    return rc;
}

const struct drv_type drv_type_gpu = {
    .name = "gpu",
    .device_id = GPU_DEVICE_ID,
    .features = gpu_features,
    .configure = gpu_configure,
    .run = gpu_run,
};
