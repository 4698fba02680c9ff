/* SPDX-License-Identifier: MIT */
/*
 * Back-end restart under a live front-end (replay.c): the pass-through
 * mode's journal. Used by pass.c only.
 */
#ifndef VDPA_SHIM_REPLAY_H
#define VDPA_SHIM_REPLAY_H

#include "session.h"

/* A front-end request on its way to the back-end in a pass-through session:
 * kept (with duplicates of its fds) when it sets state a new back-end needs. */
void vs_replay_record(struct vs_relay *r, const struct vu_msg_desc *d, const struct vu_msg *m);
/* The back-end went: true when the session is kept (the front-end must be
 * held) and replayed to the next back-end; false when it must end. */
bool vs_replay_backend_lost(struct vs_relay *r);
/* True between the loss of a back-end and the end of the replay. */
bool vs_replay_restoring(const struct vs_relay *r);
/* A new back-end is connected to a session being restored: replays it. */
void vs_replay_begin(struct vs_relay *r);
/* The reply to a replayed request (origin VS_FROM_SHIM in a pass-through session). */
void vs_replay_internal_reply(struct vs_relay *r, const struct vs_owed *owed, struct vu_msg *m);
/* Releases the journal (session end). */
void vs_replay_end(struct vs_relay *r);

#endif
