/* SPDX-License-Identifier: MIT */
/*
 * One ring as the front-end set it up, shared by the translators
 * (ring_state.h).
 */
#include <errno.h>
#include <string.h>

#include "fd_util.h"
#include "ring_state.h"
#include "session.h"

void vs_ring_init(struct vs_ring *g)
{
    memset(g, 0, sizeof(*g));
    g->kick_fd = g->call_fd = g->err_fd = -1;
}

void vs_ring_release(struct vs_ring *g)
{
    fd_close(&g->kick_fd);
    fd_close(&g->call_fd);
    fd_close(&g->err_fd);
    vs_ring_init(g);
}

void vs_ring_reset(struct vs_ring *g)
{
    g->num = g->base = 0;
    g->has_num = g->has_addr = g->has_base = false;
    g->kick_set = g->enabled = false;
}

/* An fd request: a duplicate in *slot, *set once it is there. */
static int note_fd(int *slot, bool *set, const struct vu_msg *m)
{
    int rc = vs_keep_fd_copy(slot, m);

    if (rc < 0)
        return rc;
    *set = true;
    return 0;
}

int vs_ring_note(struct vs_ring *g, const struct vu_msg *m)
{
    switch (m->hdr.request) {
    case VU_REQ_SET_VRING_NUM:
        g->num = m->payload.state.num;
        g->has_num = true;
        return 0;
    case VU_REQ_SET_VRING_ADDR:
        g->addr = m->payload.addr;
        g->has_addr = true;
        return 0;
    case VU_REQ_SET_VRING_BASE:
        g->base = m->payload.state.num;
        g->has_base = true;
        return 0;
    case VU_REQ_SET_VRING_ENABLE:
        g->enabled = m->payload.state.num != 0;
        return 0;
    case VU_REQ_SET_VRING_KICK:
        return note_fd(&g->kick_fd, &g->kick_set, m);
    case VU_REQ_SET_VRING_CALL:
        return note_fd(&g->call_fd, &g->call_set, m);
    case VU_REQ_SET_VRING_ERR:
        return note_fd(&g->err_fd, &g->err_set, m);
    default:
        return -EINVAL;
    }
}
