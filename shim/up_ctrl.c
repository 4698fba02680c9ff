/* SPDX-License-Identifier: MIT */
/*
 * Up-conversion: the shim drives a vdpa-user net back-end's control queue.
 *
 * QEMU's vhost-user net acks the back-end's MQ but never CTRL_VQ: the
 * guest's control queue is QEMU's own, and VQ_PAIRS_SET becomes
 * SET_VRING_ENABLE of the pair's rings. A vdpa-user device, like any VIRTIO
 * device, refuses MQ without CTRL_VQ (VIRTIO 1.2 5.1.3.1) and runs only its
 * first pair until VQ_PAIRS_SET arrives on its control queue (5.1.6.5.5).
 * So the shim acks CTRL_VQ itself and is that queue's driver: the ring and
 * one command buffer live in a memfd of the shim's own, appended to the
 * memory table the back-end gets, with eventfds of the shim's own.
 *
 * One command at a time. The back-end writes the used ring and the ack byte
 * and could write anything there: each value is checked, never followed
 * (the chain is the shim's two descriptors, rewritten for every command).
 * The memfd is sealed against shrinking, so the back-end cannot make a
 * shim access fault.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fd_util.h"
#include "log.h"
#include "up_ctrl.h"
#include "peer_fd.h"
#include "virtio.h"

#define CTRL_NUM           8u    /* ring entries; one command is in flight at a time */
#define CTRL_DESC_OFF      0u    /* the descriptor table (16 * CTRL_NUM bytes) */
#define CTRL_AVAIL_OFF     256u  /* the available ring */
#define CTRL_USED_OFF      512u  /* the used ring */
#define CTRL_CMD_OFF       1024u /* class, command, data */
#define CTRL_ACK_OFF       1088u /* the device-writable ack byte */
#define CTRL_SIZE          4096u /* the memfd: one page */
#define CTRL_ACK_UNSET     0xffu /* neither VIRTIO_NET_OK nor ERR: not written */
#define CTRL_PAIRS_CMD_LEN 4u    /* class, command, le16 pairs */
/* The region goes this far above the front-end's highest guest-physical and
 * user address (rounded up), clear of a region the front-end adds later
 * next to its own. */
#define CTRL_PLACE_ALIGN (UINT64_C(1) << 30)

_Static_assert(CTRL_AVAIL_OFF >= CTRL_DESC_OFF + 16u * CTRL_NUM, "descriptor table room");
_Static_assert(CTRL_USED_OFF >= CTRL_AVAIL_OFF + 6u + 2u * CTRL_NUM, "avail ring room");
_Static_assert(CTRL_CMD_OFF >= CTRL_USED_OFF + 6u + 8u * CTRL_NUM, "used ring room");
_Static_assert(CTRL_ACK_OFF + 1u <= CTRL_SIZE, "ack byte room");

struct up_ctrl {
    struct vs_relay *r;
    int memfd, kick_fd, call_fd; /* the shim's own; -1 if none */
    uint8_t *base;               /* the shim's mapping of memfd, or NULL */
    uint64_t gpa, uva;           /* where the back-end sees the region */
    bool placed;                 /* gpa/uva chosen */
    uint16_t avail_idx, last_used;
    bool busy;
    uv_poll_t poll;
    uv_timer_t timer;
    unsigned handles; /* libuv handles initialised and not yet released */
};

static struct vq_desc *ctrl_desc(const struct up_ctrl *c)
{
    return (struct vq_desc *)(void *)(c->base + CTRL_DESC_OFF);
}

static struct vq_avail *ctrl_avail(const struct up_ctrl *c)
{
    return (struct vq_avail *)(void *)(c->base + CTRL_AVAIL_OFF);
}

static struct vq_used *ctrl_used(const struct up_ctrl *c)
{
    return (struct vq_used *)(void *)(c->base + CTRL_USED_OFF);
}

bool up_ctrl_busy(const struct up_ctrl *c)
{
    return c && c->busy;
}

static void command_end(struct up_ctrl *c, int rc)
{
    c->busy = false;
    if (c->handles)
        (void)uv_timer_stop(&c->timer); /* always 0 */
    vs_up_ctrl_done(c->r, rc);
}

/* The used ring moved (or a spurious wake-up): check the one chain. */
static void collect(struct up_ctrl *c)
{
    uint16_t used_idx = __atomic_load_n(&ctrl_used(c)->idx, __ATOMIC_ACQUIRE);
    struct vq_used_elem e;
    uint8_t ack;

    used_idx = le16toh(used_idx);
    if (!c->busy || used_idx == c->last_used)
        return;
    e = ctrl_used(c)->ring[c->last_used % CTRL_NUM];
    ack = __atomic_load_n(c->base + CTRL_ACK_OFF, __ATOMIC_ACQUIRE);
    c->last_used = used_idx;
    if (le32toh(e.id) != 0 || (uint16_t)(used_idx - c->avail_idx) != 0) {
        vs_warn("%s: control queue: the back-end returned a chain the shim never posted "
                "(id %u, used index %u)",
                c->r->cfg.id, le32toh(e.id), used_idx);
        command_end(c, -EIO);
        return;
    }
    if (ack != VIRTIO_NET_OK) {
        vs_warn("%s: control queue: the back-end answered VQ_PAIRS_SET with %s (%u)", c->r->cfg.id,
                ack == VIRTIO_NET_ERR ? "VIRTIO_NET_ERR" : "no valid ack", ack);
        command_end(c, -EIO);
        return;
    }
    command_end(c, 0);
}

/* The call eventfd is the shim's, but the back-end holds it too: drained
 * through peer_fd, which never blocks whatever it does to the file. */
static void on_call(uv_poll_t *h, int status, int events)
{
    struct up_ctrl *c = h->data;
    uint64_t count = 0;
    int rc;

    (void)events;
    rc = status < 0 ? status : peer_fd_drain(c->call_fd, &count);
    if (rc < 0) {
        (void)uv_poll_stop(&c->poll); /* always 0: no more wake-ups */
        vs_err("%s: control queue call eventfd: %s", c->r->cfg.id,
               status < 0 ? uv_strerror(rc) : strerror(-rc));
        command_end(c, -EIO); /* upconv.c ends the session */
        return;
    }
    collect(c);
}

static void on_timeout(uv_timer_t *h)
{
    struct up_ctrl *c = h->data;

    if (!c->busy)
        return;
    vs_warn("%s: control queue: no answer to VQ_PAIRS_SET within %u ms", c->r->cfg.id,
            c->r->cfg.reply_timeout_ms);
    command_end(c, -ETIMEDOUT);
}

static int make_memfd(struct up_ctrl *c)
{
    c->memfd = memfd_create("vdpa-shim-ctrl", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (c->memfd < 0)
        return -errno;
    if (ftruncate(c->memfd, CTRL_SIZE) < 0 ||
        fcntl(c->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        return -errno;
    c->base = mmap(NULL, CTRL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
    if (c->base == MAP_FAILED) {
        c->base = NULL;
        return -errno;
    }
    return 0;
}

static int make_handles(struct up_ctrl *c)
{
    int rc = uv_poll_init(c->r->loop, &c->poll, c->call_fd);

    if (rc < 0)
        return rc;
    c->poll.data = c;
    c->handles++;
    rc = uv_timer_init(c->r->loop, &c->timer);
    if (rc < 0)
        return rc;
    c->timer.data = c;
    c->handles++;
    return uv_poll_start(&c->poll, UV_READABLE, on_call);
}

int up_ctrl_create(struct vs_relay *r, struct up_ctrl **out)
{
    struct up_ctrl *c = calloc(1, sizeof(*c));
    int rc;

    *out = NULL;
    if (!c)
        return -ENOMEM;
    c->r = r;
    c->memfd = -1;
    c->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    rc = c->kick_fd < 0 || c->call_fd < 0 ? -errno : make_memfd(c);
    if (rc == 0)
        rc = make_handles(c);
    if (rc < 0) {
        up_ctrl_destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void handle_closed(uv_handle_t *h)
{
    struct up_ctrl *c = h->data;

    if (--c->handles == 0)
        free(c);
}

void up_ctrl_destroy(struct up_ctrl *c)
{
    unsigned handles;

    if (!c)
        return;
    handles = c->handles;
    if (c->base)
        munmap(c->base, CTRL_SIZE);
    c->base = NULL;
    c->busy = false;
    /* The poll is closed before its fd: the back-end holds the same eventfd,
     * and epoll forgets a watch only when every fd of the file is closed. */
    if (handles >= 1)
        uv_close((uv_handle_t *)&c->poll, handle_closed);
    if (handles >= 2)
        uv_close((uv_handle_t *)&c->timer, handle_closed);
    fd_close(&c->memfd);
    fd_close(&c->kick_fd);
    fd_close(&c->call_fd);
    if (handles == 0)
        free(c);
}

static uint64_t align_up(uint64_t v)
{
    return (v + CTRL_PLACE_ALIGN - 1) & ~(CTRL_PLACE_ALIGN - 1);
}

static bool overlaps(uint64_t a, uint64_t b, uint64_t size)
{
    return a < b + size && b < a + CTRL_SIZE;
}

/* Keeps the region where it is unless the front-end's table now covers it
 * (the ring addresses the back-end has stay valid). 0 or -ERANGE. */
static int place(struct up_ctrl *c, const struct vu_mem_table *t)
{
    uint64_t gpa_end = 0, uva_end = 0;
    bool clash = !c->placed;

    for (uint32_t i = 0; i < t->nregions; i++) {
        const struct vu_mem_region *g = &t->regions[i];
        if (g->guest_phys_addr + g->memory_size > gpa_end)
            gpa_end = g->guest_phys_addr + g->memory_size;
        if (g->userspace_addr + g->memory_size > uva_end)
            uva_end = g->userspace_addr + g->memory_size;
        if (c->placed && (overlaps(c->gpa, g->guest_phys_addr, g->memory_size) ||
                          overlaps(c->uva, g->userspace_addr, g->memory_size)))
            clash = true;
    }
    if (!clash)
        return 0;
    /* the validator refused wrapping regions, so the ends did not wrap */
    if (align_up(gpa_end) < gpa_end || align_up(uva_end) < uva_end ||
        align_up(gpa_end) > UINT64_MAX - CTRL_SIZE || align_up(uva_end) > UINT64_MAX - CTRL_SIZE)
        return -ERANGE;
    if (c->placed)
        vs_warn("%s: the front-end's memory now covers the shim's control-queue region; "
                "moved (the running ring keeps its old addresses until the next start)",
                c->r->cfg.id);
    c->gpa = align_up(gpa_end);
    c->uva = align_up(uva_end);
    c->placed = true;
    return 0;
}

int up_ctrl_compose_mem(struct up_ctrl *c, struct vu_msg *m)
{
    struct vu_mem_region regions[VU_MAX_MEM_REGIONS];
    uint32_t n = m->payload.mem.nregions;
    int fd, rc;

    if (n >= VU_MAX_MEM_REGIONS)
        return -E2BIG;
    rc = place(c, &m->payload.mem);
    if (rc < 0)
        return rc;
    memcpy(regions, m->payload.mem.regions, n * sizeof(regions[0]));
    regions[n] = (struct vu_mem_region){ .guest_phys_addr = c->gpa,
                                         .memory_size = CTRL_SIZE,
                                         .userspace_addr = c->uva,
                                         .mmap_offset = 0 };
    fd = fd_dup_cloexec(c->memfd);
    if (fd < 0)
        return fd;
    vu_msg_set_mem_table(m, regions, n + 1);
    rc = vu_msg_add_fd(m, fd);
    if (rc < 0)
        close(fd);
    return rc < 0 ? rc : 0;
}

void up_ctrl_send_ring(struct vs_relay *r, struct up_ctrl *c, uint32_t index, uint16_t action)
{
    struct vu_vring_addr addr = { .index = index,
                                  .flags = 0,
                                  .desc_user_addr = c->uva + CTRL_DESC_OFF,
                                  .used_user_addr = c->uva + CTRL_USED_OFF,
                                  .avail_user_addr = c->uva + CTRL_AVAIL_OFF,
                                  .log_guest_addr = 0 };
    struct vu_msg m;

    /* A reset emptied the device's view; the shim's starts over too. */
    memset(c->base, 0, CTRL_SIZE);
    c->avail_idx = c->last_used = 0;
    if (c->busy)
        command_end(c, -ECANCELED);
    vs_send_state(r, VU_REQ_SET_VRING_NUM, index, CTRL_NUM, action, 0, "the shim's control queue");
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &addr);
    vs_send_internal(r, &m, action, 0, NULL);
    vs_send_state(r, VU_REQ_SET_VRING_BASE, index, 0, action, 0, NULL);
    vs_send_fd_u64(r, VU_REQ_SET_VRING_KICK, index, c->kick_fd, action, NULL);
    vs_send_fd_u64(r, VU_REQ_SET_VRING_CALL, index, c->call_fd, action, NULL);
    vs_send_state(r, VU_REQ_SET_VRING_ENABLE, index, 1, action, 0, NULL);
}

int up_ctrl_pairs_set(struct up_ctrl *c, uint16_t pairs)
{
    uint8_t *cmd = c->base + CTRL_CMD_OFF;
    uint16_t le_pairs = htole16(pairs);
    struct vq_desc *d = ctrl_desc(c);
    int rc;

    if (c->busy)
        return -EBUSY;
    cmd[0] = VIRTIO_NET_CTRL_MQ;
    cmd[1] = VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET;
    memcpy(cmd + 2, &le_pairs, sizeof(le_pairs));
    c->base[CTRL_ACK_OFF] = CTRL_ACK_UNSET;
    d[0] = (struct vq_desc){ htole64(c->gpa + CTRL_CMD_OFF), htole32(CTRL_PAIRS_CMD_LEN),
                             htole16(VQ_DESC_F_NEXT), htole16(1) };
    d[1] = (struct vq_desc){ htole64(c->gpa + CTRL_ACK_OFF), htole32(1), htole16(VQ_DESC_F_WRITE),
                             0 };
    ctrl_avail(c)->ring[c->avail_idx % CTRL_NUM] = 0;
    c->avail_idx++;
    __atomic_store_n(&ctrl_avail(c)->idx, htole16(c->avail_idx), __ATOMIC_RELEASE);
    rc = peer_fd_signal(c->kick_fd);
    if (rc < 0)
        return rc;
    c->busy = true;
    if (c->r->cfg.reply_timeout_ms) {
        rc = uv_timer_start(&c->timer, on_timeout, c->r->cfg.reply_timeout_ms, 0);
        if (rc < 0) {
            c->busy = false;
            return rc;
        }
    }
    vs_debug("%s: control queue: VQ_PAIRS_SET %u posted", c->r->cfg.id, pairs);
    return 0; /* the back-end's call signal brings the answer */
}
