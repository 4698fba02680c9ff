/* SPDX-License-Identifier: MIT */
/*
 * The vdpa-user device model's rings (docs/vdpa-user.md): which rings run
 * (section 5.2), starting and stopping them, processing and completing
 * chains, DEVICE_NEEDS_RESET (5.5) and config-change notification
 * (section 7). device.c's handlers call device_rings_update() after every
 * change of status, suspension, enable bit or config-call fd.
 */
#include <errno.h>
#include <stdio.h>

#include "vdpa-backend/backend.h"
#include "virtio/virtio_status.h"

static bool deliverable(const struct backend *b)
{
    return (b->status & VIRTIO_STATUS_DRIVER_OK) && !(b->status & VIRTIO_STATUS_OVERLAY) &&
           !b->suspended;
}

bool device_ring_running(const struct backend *b, unsigned i)
{
    /* 5.2 and SET_VRING_ENABLE: only DRIVER_OK starts rings, never a kick;
     * suspension, FAILED and NEEDS_RESET stop them; disabled rings are not
     * touched at all. */
    return deliverable(b) && b->rings[i].enabled && b->type->ring_in_use(b, i);
}

static void ring_stop(struct ring *r)
{
    if (!r->started)
        return;
    /* Requests are completed synchronously, so the position is exact. */
    r->base = r->vq.last_avail;
    r->started = false;
}

static int ring_attach(struct backend *b, struct ring *r, struct vq_device *vq)
{
    if (r->num == 0 || !r->has_addr)
        return VQ_ERR_RING_ADDR;
    return vq_device_attach(vq, &b->mem, r->num, r->addr.desc_user_addr, r->addr.avail_user_addr,
                            r->addr.used_user_addr, r->base);
}

/* Brings the set of started rings in line with the device state: stops the
 * ones that must not run, then starts the ones that should, all or none
 * (5.2: "If any check fails ... starts no ring"). Starting checks the ring
 * addresses, and device_run_rings() looks for buffers right away, not on
 * the next kick. */
void device_rings_update(struct backend *b)
{
    for (unsigned i = 0; i < b->nrings; i++)
        if (!device_ring_running(b, i))
            ring_stop(&b->rings[i]);
    for (unsigned i = 0; i < b->nrings; i++) {
        struct ring *r = &b->rings[i];
        struct vq_device probe;
        int rc;
        if (r->started || !device_ring_running(b, i))
            continue;
        rc = ring_attach(b, r, &probe);
        if (rc) {
            char why[128];
            snprintf(why, sizeof(why), "cannot start ring %u: %s", i,
                     r->num == 0    ? "SET_VRING_NUM missing"
                     : !r->has_addr ? "SET_VRING_ADDR missing"
                                    : vq_strerror(rc));
            device_needs_reset(b, (int)i, why);
            return;
        }
    }
    for (unsigned i = 0; i < b->nrings; i++) {
        struct ring *r = &b->rings[i];
        if (r->started || !device_ring_running(b, i))
            continue;
        ring_attach(b, r, &r->vq); /* checked above */
        r->started = true;
        vs_debug("ring %u started: size %u, base %u", i, r->num, r->base);
    }
}

void device_deliver_config_change(struct backend *b)
{
    if (b->config_pending && deliverable(b) && b->config_call_fd >= 0) {
        b->config_pending = false;
        vq_eventfd_signal(b->config_call_fd);
    }
}

void device_config_changed(struct backend *b)
{
    /* Section 7: signal now if the driver can act on it, else hold it back
     * until DRIVER_OK, RESUME or a new config-call fd. */
    b->config_pending = true;
    device_deliver_config_change(b);
}

void device_needs_reset(struct backend *b, int index, const char *why)
{
    /* 5.5: in status 0 there is nothing to fail; once set, only reset
     * clears it. */
    if (!virtio_status_needs_reset(b->status, &b->status))
        return;
    vs_warn("DEVICE_NEEDS_RESET: %s", why);
    b->stats.device_needs_reset++;
    device_rings_update(b); /* stops every ring */
    if (index >= 0 && (unsigned)index < b->nrings)
        vq_eventfd_signal(b->rings[index].err_fd);
    /* Immediately, suspended or not (section 7, rule 1). */
    vq_eventfd_signal(b->config_call_fd);
}

int device_pop(struct backend *b, unsigned index, struct vq_chain *chain)
{
    int rc = vq_device_pop(&b->rings[index].vq, chain);

    if (rc < 0)
        b->fault_ring = (int)index;
    return rc;
}

void device_complete(struct backend *b, unsigned index, uint16_t head, uint32_t len)
{
    struct ring *r = &b->rings[index];

    vq_device_push(&r->vq, head, len);
    if (vq_device_should_notify(&r->vq))
        vq_eventfd_signal(r->call_fd);
}

bool device_run_rings(struct backend *b)
{
    bool more = false;

    for (unsigned i = 0; i < b->nrings; i++) {
        int rc;
        if (!b->rings[i].started)
            continue;
        b->fault_ring = (int)i; /* unless device_pop() names another ring */
        rc = b->type->process(b, i);
        if (rc < 0) {
            char why[128];
            snprintf(why, sizeof(why), "ring %d: %s", b->fault_ring,
                     rc == -EPROTO ? "malformed request" : vq_strerror(rc));
            device_needs_reset(b, b->fault_ring, why);
            return false;
        }
        more |= rc > 0;
    }
    return more;
}
