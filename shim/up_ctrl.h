/* SPDX-License-Identifier: MIT */
/*
 * Up-conversion's own virtio-net control queue (shim/up_ctrl.c): the shim as
 * the DRIVER of a vdpa-user net back-end's control queue, for a legacy VMM
 * that keeps its guest's control queue to itself (QEMU acks MQ but never
 * CTRL_VQ, and turns queue pairs on with SET_VRING_ENABLE).
 *
 * Internal to up-conversion (upconv.c, up_rings.c, up_config.c, up_ctrl.c).
 */
#ifndef VDPA_SHIM_UP_CTRL_H
#define VDPA_SHIM_UP_CTRL_H

#include <stdint.h>

#include "session.h"

struct up_ctrl;

/* The memfd (sealed against shrinking), the ring and command buffer in it,
 * and the queue's kick and call eventfds (the call one watched). 0 or
 * -errno; *out NULL on failure. */
int up_ctrl_create(struct vs_relay *r, struct up_ctrl **out);
/* Closes everything; the state is freed once libuv has released its handles. */
void up_ctrl_destroy(struct up_ctrl *c);

/* Appends the shim's region to a memory table going to the back-end: the
 * front-end's regions in `m` (n of them, at most VU_MAX_MEM_REGIONS - 1)
 * stay as they are; the shim's region goes above them in both the
 * guest-physical and the user address space. 0 or -errno (-E2BIG: no slot
 * left). */
int up_ctrl_compose_mem(struct up_ctrl *c, struct vu_msg *m);

/* The ring's set-up for the back-end: NUM, ADDR, BASE 0, KICK, CALL,
 * ENABLE 1 of ring `index`, each with `action` as its continuation. The ring
 * starts empty: call it at every device start (a reset empties it). */
void up_ctrl_send_ring(struct vs_relay *r, struct up_ctrl *c, uint32_t index, uint16_t action);

/* Posts VQ_PAIRS_SET(pairs) and kicks. The outcome comes to
 * vs_up_ctrl_done() once the back-end has used the chain (or the bound on
 * the wait passed). 0, -EBUSY (a command is in flight) or -errno. */
int up_ctrl_pairs_set(struct up_ctrl *c, uint16_t pairs);
/* A command is in flight. */
bool up_ctrl_busy(const struct up_ctrl *c);

/* up_rings.c: a command ended; rc 0 (VIRTIO_NET_OK) or -errno (-EIO: the
 * back-end answered VIRTIO_NET_ERR or broke the ring, -ETIMEDOUT). */
void vs_up_ctrl_done(struct vs_relay *r, int rc);

#endif
