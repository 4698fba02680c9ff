/* SPDX-License-Identifier: MIT */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fd_util.h"
#include "virtio/virtqueue.h"
#include "peer_fd.h"

/* Ring fields are shared with another process that changes them while we
 * read: load each with an atomic access (one read, never torn) and order
 * them explicitly. acquire on avail->idx makes the ring entries and
 * descriptors the driver wrote before it visible; release on used->idx
 * publishes our used entries before the index. */
static uint16_t load16(const uint16_t *p, int order)
{
    return le16toh(__atomic_load_n(p, order));
}

static void store16(uint16_t *p, uint16_t v, int order)
{
    __atomic_store_n(p, htole16(v), order);
}

const char *vq_strerror(int err)
{
    switch (err) {
    case VQ_OK:
        return "no error";
    case VQ_ERR_RING_ADDR:
        return "ring address not in guest memory or misaligned";
    case VQ_ERR_AVAIL_IDX:
        return "available index moved by more than the queue size";
    case VQ_ERR_HEAD:
        return "chain head index out of range";
    case VQ_ERR_NEXT:
        return "descriptor next index out of range";
    case VQ_ERR_LOOP:
        return "descriptor chain longer than the queue (loop)";
    case VQ_ERR_BUF_ADDR:
        return "buffer address not in guest memory";
    case VQ_ERR_ORDER:
        return "device-readable descriptor after a device-writable one";
    case VQ_ERR_INDIRECT:
        return "indirect descriptor not negotiated, nested, chained or of a bad size";
    case VQ_ERR_TOO_BIG:
        return "chain has too many segments";
    }
    return "unknown virtqueue error";
}

static void *ring_part(const struct guest_mem *mem, uint64_t uva, uint64_t size, uint64_t align)
{
    void *p;

    if (uva & (align - 1))
        return NULL;
    p = guest_mem_uva_to_ptr(mem, uva, size);
    /* The local address must be aligned too (atomic 16-bit accesses), which
     * an odd mmap offset could prevent. */
    if (!p || ((uintptr_t)p & (align - 1)))
        return NULL;
    return p;
}

int vq_device_remap(struct vq_device *vq, const struct guest_mem *mem, uint64_t desc_uva,
                    uint64_t avail_uva, uint64_t used_uva)
{
    void *d = ring_part(mem, desc_uva, vq_desc_size(vq->num), VQ_DESC_ALIGN);
    void *a = ring_part(mem, avail_uva, vq_avail_size(vq->num), VQ_AVAIL_ALIGN);
    void *u = ring_part(mem, used_uva, vq_used_size(vq->num), VQ_USED_ALIGN);

    if (!d || !a || !u)
        return VQ_ERR_RING_ADDR;
    vq->desc = d;
    vq->avail = a;
    vq->used = u;
    vq->mem = mem;
    return VQ_OK;
}

int vq_device_attach(struct vq_device *vq, const struct guest_mem *mem, unsigned num,
                     uint64_t desc_uva, uint64_t avail_uva, uint64_t used_uva, uint16_t base)
{
    int rc;

    memset(vq, 0, sizeof(*vq));
    if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)))
        return VQ_ERR_RING_ADDR;
    vq->num = (uint16_t)num; /* 32768 fits */
    rc = vq_device_remap(vq, mem, desc_uva, avail_uva, used_uva);
    if (rc)
        return rc;
    vq->last_avail = base;
    vq->used_idx = load16(&vq->used->idx, __ATOMIC_ACQUIRE);
    return VQ_OK;
}

bool vq_device_has_pending(const struct vq_device *vq)
{
    return load16(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail;
}

/* One copy of descriptor i of table: checks and use see the same values. */
static void desc_load(const struct vq_desc *table, uint16_t i, struct vq_desc *d)
{
    __atomic_load(&table[i].addr, &d->addr, __ATOMIC_RELAXED);
    __atomic_load(&table[i].len, &d->len, __ATOMIC_RELAXED);
    __atomic_load(&table[i].flags, &d->flags, __ATOMIC_RELAXED);
    __atomic_load(&table[i].next, &d->next, __ATOMIC_RELAXED);
    d->addr = le64toh(d->addr);
    d->len = le32toh(d->len);
    d->flags = le16toh(d->flags);
    d->next = le16toh(d->next);
}

/* The indirect table d points to, into *table and *table_size. nested: the
 * chain is already in an indirect table. VQ_OK or a VQ_ERR_*. */
static int indirect_table(const struct vq_device *vq, const struct vq_desc *d, bool nested,
                          const struct vq_desc **table, unsigned *table_size)
{
    const struct vq_desc *t;

    /* VIRTIO 2.7.5.3: only in the ring's own table, never with
     * NEXT, a whole number of descriptors, at most a queue's worth. */
    if (!vq->indirect_ok || nested || (d->flags & VQ_DESC_F_NEXT) || d->len == 0 ||
        d->len % sizeof(struct vq_desc) || d->len / sizeof(struct vq_desc) > VQ_MAX_SIZE)
        return VQ_ERR_INDIRECT;
    t = guest_mem_gpa_to_ptr(vq->mem, d->addr, d->len);
    if (!t || (uintptr_t)t % VQ_DESC_ALIGN)
        return VQ_ERR_BUF_ADDR;
    *table = t;
    *table_size = d->len / sizeof(struct vq_desc);
    return VQ_OK;
}

/* Appends the buffer of d (not indirect) to c: device-readable ones first,
 * then device-writable ones (*seen_writable once one was). VQ_OK or a
 * VQ_ERR_*. */
static int chain_add(const struct vq_device *vq, struct vq_chain *c, const struct vq_desc *d,
                     bool *seen_writable)
{
    bool writable = (d->flags & VQ_DESC_F_WRITE) != 0;
    unsigned n_before;
    int rc;

    if (!writable && *seen_writable)
        return VQ_ERR_ORDER;
    *seen_writable |= writable;

    n_before = c->n_out + c->n_in;
    rc = guest_mem_gpa_to_iov(vq->mem, d->addr, d->len, c->iov, &n_before, VQ_MAX_IOV);
    if (rc == -E2BIG)
        return VQ_ERR_TOO_BIG;
    if (rc)
        return VQ_ERR_BUF_ADDR;
    if (writable) {
        c->n_in = n_before - c->n_out;
        c->in_len += d->len;
    } else {
        c->n_out = n_before;
        c->out_len += d->len;
    }
    return VQ_OK;
}

int vq_device_pop(struct vq_device *vq, struct vq_chain *c)
{
    uint16_t avail_idx = load16(&vq->avail->idx, __ATOMIC_ACQUIRE);
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    const struct vq_desc *table = vq->desc;
    unsigned table_size = vq->num;
    bool indirect = false;
    uint16_t head, i;
    unsigned count = 0;
    bool seen_writable = false;

    if (pending == 0)
        return 0;
    if (pending > vq->num)
        return VQ_ERR_AVAIL_IDX;
    head = load16(&vq->avail->ring[vq->last_avail & (vq->num - 1)], __ATOMIC_RELAXED);
    if (head >= vq->num)
        return VQ_ERR_HEAD;

    c->head = head;
    c->n_out = c->n_in = 0;
    c->out_len = c->in_len = 0;
    for (i = head;;) {
        struct vq_desc d;
        int rc;

        /* A chain visits each descriptor at most once, so more than the
         * table's size in steps means the guest built a loop. */
        if (++count > table_size)
            return VQ_ERR_LOOP;
        desc_load(table, i, &d);

        if (d.flags & VQ_DESC_F_INDIRECT) {
            rc = indirect_table(vq, &d, indirect, &table, &table_size);
            if (rc)
                return rc;
            indirect = true;
            count = 0;
            i = 0;
            continue;
        }
        rc = chain_add(vq, c, &d, &seen_writable);
        if (rc)
            return rc;
        if (!(d.flags & VQ_DESC_F_NEXT))
            break;
        if (d.next >= table_size)
            return VQ_ERR_NEXT;
        i = d.next;
    }
    vq->last_avail++;
    return 1;
}

void vq_device_unpop(struct vq_device *vq)
{
    vq->last_avail--;
}

void vq_device_push(struct vq_device *vq, uint16_t head, uint32_t len)
{
    struct vq_used_elem *e = &vq->used->ring[vq->used_idx & (vq->num - 1)];

    __atomic_store_n(&e->id, htole32(head), __ATOMIC_RELAXED);
    __atomic_store_n(&e->len, htole32(len), __ATOMIC_RELAXED);
    vq->used_idx++;
    store16(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

bool vq_device_should_notify(const struct vq_device *vq)
{
    /* The used index store must be visible before we read the driver's
     * flags, or we could miss a driver that just re-enabled interrupts. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return !(load16(&vq->avail->flags, __ATOMIC_RELAXED) & VQ_AVAIL_F_NO_INTERRUPT);
}

void vq_eventfd_signal(int fd)
{
    if (fd >= 0)
        peer_fd_signal_eventfd(fd); /* -EAGAIN: the counter is saturated, the peer is signalled */
}

uint64_t vq_eventfd_drain(int fd)
{
    uint64_t v = 0;

    if (fd < 0 || peer_fd_drain_eventfd(fd, &v) < 0)
        return 0;
    return v;
}

size_t vq_chain_copy_from(const struct vq_chain *c, size_t skip, void *buf, size_t len)
{
    size_t done = 0;

    for (unsigned i = 0; i < c->n_out && done < len; i++) {
        size_t seg = c->iov[i].iov_len;
        if (skip >= seg) {
            skip -= seg;
            continue;
        }
        size_t n = seg - skip < len - done ? seg - skip : len - done;
        memcpy((uint8_t *)buf + done, (uint8_t *)c->iov[i].iov_base + skip, n);
        done += n;
        skip = 0;
    }
    return done;
}

size_t vq_chain_copy_to(const struct vq_chain *c, size_t skip, const void *buf, size_t len)
{
    size_t done = 0;

    for (unsigned i = c->n_out; i < c->n_out + c->n_in && done < len; i++) {
        size_t seg = c->iov[i].iov_len;
        if (skip >= seg) {
            skip -= seg;
            continue;
        }
        size_t n = seg - skip < len - done ? seg - skip : len - done;
        memcpy((uint8_t *)c->iov[i].iov_base + skip, (const uint8_t *)buf + done, n);
        done += n;
        skip = 0;
    }
    return done;
}

/* ---- Driver side ---------------------------------------------------------- */

int dma_arena_create(struct dma_arena *a, uint64_t size, uint64_t gpa)
{
    long page = sysconf(_SC_PAGESIZE);
    int rc;

    memset(a, 0, sizeof(*a));
    a->fd = -1;
    size = (size + (uint64_t)page - 1) & ~(uint64_t)(page - 1);
    a->fd = memfd_create("vq-dma", MFD_CLOEXEC);
    if (a->fd < 0)
        return -errno;
    if (ftruncate(a->fd, (off_t)size) < 0)
        goto fail;
    a->base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd, 0);
    if (a->base == MAP_FAILED) {
        a->base = NULL;
        goto fail;
    }
    a->size = size;
    a->gpa = gpa;
    return 0;
fail:
    rc = -errno;
    fd_close(&a->fd);
    return rc;
}

void dma_arena_destroy(struct dma_arena *a)
{
    if (a->base)
        munmap(a->base, (size_t)a->size);
    fd_close(&a->fd);
    memset(a, 0, sizeof(*a));
    a->fd = -1;
}

void *dma_alloc(struct dma_arena *a, uint64_t size, uint64_t align)
{
    uint64_t off = (a->used + align - 1) & ~(align - 1);

    if (off > a->size || size > a->size - off)
        return NULL;
    a->used = off + size;
    memset(a->base + off, 0, (size_t)size);
    return a->base + off;
}

uint64_t dma_gpa(const struct dma_arena *a, const void *p)
{
    return a->gpa + (uint64_t)((const uint8_t *)p - a->base);
}

uint64_t dma_uva(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

struct vu_mem_region dma_region(const struct dma_arena *a)
{
    struct vu_mem_region r = {
        .guest_phys_addr = a->gpa,
        .memory_size = a->size,
        .userspace_addr = dma_uva(a->base),
        .mmap_offset = 0,
    };
    return r;
}

int vq_driver_init(struct vq_driver *vq, struct dma_arena *a, unsigned num)
{
    memset(vq, 0, sizeof(*vq));
    if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)))
        return -EINVAL;
    vq->desc = dma_alloc(a, vq_desc_size(num), VQ_DESC_ALIGN);
    vq->avail = dma_alloc(a, vq_avail_size(num), VQ_AVAIL_ALIGN);
    vq->used = dma_alloc(a, vq_used_size(num), VQ_USED_ALIGN);
    vq->tokens = calloc(num, sizeof(*vq->tokens));
    vq->next = calloc(num, sizeof(*vq->next));
    vq->chain_len = calloc(num, sizeof(*vq->chain_len));
    if (!vq->desc || !vq->avail || !vq->used || !vq->tokens || !vq->next || !vq->chain_len) {
        vq_driver_destroy(vq);
        return -ENOMEM;
    }
    vq->num = (uint16_t)num;
    vq->num_free = (uint16_t)num;
    for (unsigned i = 0; i + 1 < num; i++)
        vq->next[i] = (uint16_t)(i + 1);
    return 0;
}

void vq_driver_destroy(struct vq_driver *vq)
{
    free(vq->tokens);
    free(vq->next);
    free(vq->chain_len);
    memset(vq, 0, sizeof(*vq));
}

uint64_t vq_driver_desc_uva(const struct vq_driver *vq)
{
    return dma_uva(vq->desc);
}
uint64_t vq_driver_avail_uva(const struct vq_driver *vq)
{
    return dma_uva(vq->avail);
}
uint64_t vq_driver_used_uva(const struct vq_driver *vq)
{
    return dma_uva(vq->used);
}

int vq_driver_add(struct vq_driver *vq, const struct vq_buf *bufs, unsigned n, void *token)
{
    uint16_t head = vq->free_head, i = head;
    bool seen_writable = false;

    if (n == 0 || !token)
        return -EINVAL;
    if (n > vq->num_free)
        return -ENOSPC;
    for (unsigned k = 0; k < n; k++) {
        if (!bufs[k].writable && seen_writable)
            return -EINVAL;
        seen_writable |= bufs[k].writable;
    }
    for (unsigned k = 0; k < n; k++) {
        vq->desc[i].addr = htole64(bufs[k].gpa);
        vq->desc[i].len = htole32(bufs[k].len);
        vq->desc[i].flags = htole16((uint16_t)((bufs[k].writable ? VQ_DESC_F_WRITE : 0) |
                                               (k + 1 < n ? VQ_DESC_F_NEXT : 0)));
        vq->desc[i].next = htole16(vq->next[i]);
        i = vq->next[i];
    }
    /* The free list continues after the chain's last descriptor. */
    vq->free_head = i;
    vq->num_free = (uint16_t)(vq->num_free - n);
    vq->chain_len[head] = (uint16_t)n;
    vq->tokens[head] = token;
    vq->avail->ring[vq->avail_idx & (vq->num - 1)] = htole16(head);
    vq->avail_idx++;
    /* Descriptors and ring entry before the index (release). */
    store16(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
    return 0;
}

int vq_driver_get_used(struct vq_driver *vq, void **token, uint32_t *len)
{
    uint16_t used_idx = load16(&vq->used->idx, __ATOMIC_ACQUIRE);
    struct vq_used_elem e;
    uint16_t i, n;

    if (used_idx == vq->last_used)
        return 0;
    e = vq->used->ring[vq->last_used & (vq->num - 1)];
    e.id = le32toh(e.id);
    e.len = le32toh(e.len);
    vq->last_used++;
    if (e.id >= vq->num || !vq->tokens[e.id])
        return -EIO; /* the device returned something we never gave it */
    *token = vq->tokens[e.id];
    *len = e.len;
    vq->tokens[e.id] = NULL;
    /* Put the chain back on the free list, walked in the driver's own
     * links: the device can rewrite the shared descriptors (a loop there
     * would hang us, an index past the table read out of bounds). */
    n = vq->chain_len[e.id];
    i = (uint16_t)e.id;
    for (uint16_t k = 1; k < n; k++)
        i = vq->next[i];
    vq->next[i] = vq->free_head;
    vq->free_head = (uint16_t)e.id;
    vq->num_free = (uint16_t)(vq->num_free + n);
    return 1;
}

void vq_driver_kick(int kick_fd)
{
    vq_eventfd_signal(kick_fd);
}
