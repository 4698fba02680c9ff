/* SPDX-License-Identifier: MIT */
/*
 * What the front-end is offered (offer.c): above the modes, since the offer
 * is made before the mode is decided and must hold in every mode a
 * front-end can reach.
 */
#ifndef VDPA_SHIM_OFFER_H
#define VDPA_SHIM_OFFER_H

#include "mode.h"

/* ---- offer.c: what the front-end is offered -------------------------------- */

/* The GET_PROTOCOL_FEATURES reply for a back-end offer: every bit works in
 * every mode a front-end that acks it can reach. Over a legacy back-end
 * where F_VDPA cannot be offered, logs why (once per session). */
uint64_t vs_offer_protocol_features(struct vs_relay *r, uint64_t backend_pf);
/* A front-end's F_VDPA ack with bits shown for legacy front-ends only:
 * -EINVAL with the reason in text; 0 when acceptable (or no F_VDPA). */
int vs_offer_check_vdpa_ack(const struct vs_relay *r, uint64_t v, char *text, size_t len);
/* SET_PROTOCOL_FEATURES once the mode is decided (QEMU sends it for each
 * queue pair): 1 forward m (pass-through), 0 answered by the shim, -errno
 * refused with the reason in text. */
int vs_offer_protocol_features_again(struct vs_relay *r, struct vu_msg *m, char *text, size_t len);
#endif
