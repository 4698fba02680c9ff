/* SPDX-License-Identifier: MIT */
/*
 * One ring as the front-end set it up: the SET_VRING_NUM / _ADDR / _BASE
 * values and duplicates of the SET_VRING_KICK / _CALL / _ERR fds, with
 * which of them came. Both translators keep their rings in it (up_int.h,
 * down_int.h) and fill it with vs_ring_note; what a mode checks before
 * noting a request (ring size limits, the state the layout may change in,
 * the 16-bit base of a split ring) stays in the mode. Session layer: it
 * knows messages, not modes.
 */
#ifndef VDPA_SHIM_RING_STATE_H
#define VDPA_SHIM_RING_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "vhost_user.h"

struct vs_ring {
    uint32_t num;                 /* SET_VRING_NUM */
    uint32_t base;                /* SET_VRING_BASE (or what a mode learnt since) */
    struct vu_vring_addr addr;    /* SET_VRING_ADDR */
    int kick_fd, call_fd, err_fd; /* the shim's duplicates; -1: none (or NOFD) */
    bool has_num, has_addr, has_base;
    bool kick_set, call_set, err_set; /* the request came (with an fd or NOFD) */
    bool enabled;                     /* SET_VRING_ENABLE 1 */
};

/* Nothing set, every fd slot -1. */
void vs_ring_init(struct vs_ring *g);
/* Closes the fds: every slot -1, nothing set. */
void vs_ring_release(struct vs_ring *g);
/* A device reset (RESET_DEVICE, RESET_OWNER, status 0): the layout, the
 * enable and kick_set forgotten. The fds stay, as do call_set and err_set
 * (docs/vdpa-user.md 5.3: a reset keeps transport resources); an
 * up-converter's start waits for a new kick all the same. */
void vs_ring_reset(struct vs_ring *g);
/* Notes a validated SET_VRING_NUM, _ADDR, _BASE, _KICK, _CALL, _ERR or
 * _ENABLE for ring g. An fd request keeps a duplicate of m's fd (m keeps
 * its own). 0; -errno when the duplicate cannot be made (the slot is then
 * -1 and its flag unchanged); -EINVAL for any other request. */
int vs_ring_note(struct vs_ring *g, const struct vu_msg *m);
/* The size and the addresses are known. */
static inline bool vs_ring_has_layout(const struct vs_ring *g)
{
    return g->has_num && g->has_addr;
}

#endif
