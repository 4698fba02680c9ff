/* SPDX-License-Identifier: MIT */
/*
 * Request/answer helpers the device types share: guest memory for a
 * buffer, and one chain put on a ring, kicked and waited for.
 */
#include <stdio.h>

#include "vdpa-driver/driver.h"

void *drv_alloc(struct driver *d, uint64_t size, uint64_t align)
{
    void *p = dma_alloc(&d->mem, size, align);

    if (!p)
        vs_err("out of guest memory (try a larger --mem-mb)");
    return p;
}

int drv_exchange(struct driver *d, unsigned ring, const struct vq_buf *b, unsigned n,
                 uint32_t *used_len, const char *what)
{
    /* The first buffer's guest address identifies the chain. */
    void *token = (void *)(uintptr_t)(b[0].gpa + 1);
    void *got;
    int rc;

    if (vq_driver_add(&d->vq[ring], b, n, token)) {
        vs_err("%s: cannot add the request to ring %u", what, ring);
        return -1;
    }
    vq_driver_kick(d->kick[ring]);
    rc = drv_wait_used(d, ring, &got, used_len, DRV_IO_TIMEOUT_MS);
    if (rc == 0)
        vs_err("%s: no answer on ring %u within %d s", what, ring, DRV_IO_TIMEOUT_MS / 1000);
    if (rc != 1)
        return -1;
    if (got != token) {
        vs_err("%s: the device completed a different request", what);
        return -1;
    }
    return 0;
}
