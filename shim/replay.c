/* SPDX-License-Identifier: MIT */
/*
 * Back-end restart under a live front-end, for a session that speaks legacy
 * vhost-user on both sides (pass-through).
 *
 * While the session runs, every front-end request the message table marks as
 * state (VU_DESC_STATE) is kept in a journal: the latest per ring, per config
 * offset or per added memory region, with duplicates of its fds. When the
 * back-end goes, the front-end keeps its connection and is not read; when a
 * back-end is there again (reconnected with backoff, or connecting to the
 * shim's socket), the shim gives it the session again in the order a VMM
 * would: owner, features checked against what the front-end negotiated,
 * protocol features, channel, memory, device settings, then each ring with
 * its base read from the used index in guest memory (what QEMU does when a
 * dead back-end cannot answer GET_VRING_BASE), and the status last. Then the
 * front-end is read again and never learns the back-end changed.
 *
 * Anything that cannot be rebuilt (dirty logging, IOTLB entries, crypto
 * sessions, packed rings, a reply the front-end was still owed) ends the
 * session instead, as before: the front-end reconnects.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd_util.h"
#include "log.h"
#include "replay.h"
#include "virtio/guest_mem.h"
#include "virtio.h"

/* Bounds what a front-end can make the journal hold (entries are replaced
 * per key, so only ADD_MEM_REG without REM_MEM_REG grows it). */
#define VS_JOURNAL_MAX 4096u

/* Continuations of the shim's own replay requests. */
enum {
    RP_FEATURES = 1,
    RP_PROTOCOL_FEATURES,
    RP_STEP
};

struct vs_journal_entry {
    uint32_t request;
    uint32_t key; /* ring index, config offset, region number, else 0 */
    uint32_t size;
    uint8_t *payload;    /* size bytes, owned */
    int fds[VU_MAX_FDS]; /* owned duplicates; -1 in unused slots */
    unsigned nfds;
};

struct vs_replay {
    struct vs_journal_entry *e;
    unsigned n, cap;
    uint32_t next_region; /* key of the next ADD_MEM_REG */
    const char *blocked;  /* why the session can no longer be replayed, or NULL */
    bool restoring;       /* the back-end went; replay when one is back */
    bool sent_all;        /* every replay request is out */
    unsigned sent;        /* requests replayed (for the log) */
    unsigned rings;       /* rings restarted (for the log) */
};

/* Requests that set up a connection rather than the device: a reset keeps them. */
static bool connection_state(uint32_t request)
{
    return request == VU_REQ_SET_OWNER || request == VU_REQ_SET_PROTOCOL_FEATURES ||
           request == VU_REQ_SET_BACKEND_REQ_FD || request == VU_REQ_SET_MEM_TABLE ||
           request == VU_REQ_ADD_MEM_REG;
}

static void entry_free(struct vs_journal_entry *e)
{
    for (unsigned i = 0; i < e->nfds; i++)
        fd_close(&e->fds[i]);
    free(e->payload);
    memset(e, 0, sizeof(*e));
}

static void remove_at(struct vs_replay *rp, unsigned i)
{
    entry_free(&rp->e[i]);
    rp->e[i] = rp->e[--rp->n];
}

/* Removes the entries drop() selects. */
static void forget(struct vs_replay *rp, bool (*drop)(const struct vs_journal_entry *, uint32_t),
                   uint32_t arg)
{
    for (unsigned i = 0; i < rp->n;)
        if (drop(&rp->e[i], arg))
            remove_at(rp, i);
        else
            i++;
}

static bool is_device_state(const struct vs_journal_entry *e, uint32_t unused)
{
    (void)unused;
    return !connection_state(e->request);
}

static bool is_ring_state(const struct vs_journal_entry *e, uint32_t ring)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, e->request);
    return d && d->ring != VU_RING_NONE && e->key == ring;
}

static bool is_added_region(const struct vs_journal_entry *e, uint32_t unused)
{
    (void)unused;
    return e->request == VU_REQ_ADD_MEM_REG;
}

static struct vs_journal_entry *find(struct vs_replay *rp, uint32_t request, uint32_t key)
{
    for (unsigned i = 0; i < rp->n; i++)
        if (rp->e[i].request == request && rp->e[i].key == key)
            return &rp->e[i];
    return NULL;
}

/* The key a request's state is kept under. */
static uint32_t key_of(const struct vu_msg_desc *d, const struct vu_msg *m)
{
    uint32_t index;

    if (vu_ring_index_of(d->ring, m, &index))
        return index;
    return m->hdr.request == VU_REQ_SET_CONFIG ? m->payload.config.offset : 0;
}

static void block(struct vs_relay *r, const char *why)
{
    if (!r->replay->blocked)
        vs_debug("%s: a back-end restart will end the session from now on: %s", r->cfg.id, why);
    r->replay->blocked = why;
}

/* Keeps a copy of m (its fds duplicated) under (request, key), replacing an
 * older one. */
static void keep(struct vs_relay *r, const struct vu_msg *m, uint32_t key)
{
    struct vs_replay *rp = r->replay;
    struct vs_journal_entry fresh = { .request = m->hdr.request, .key = key, .size = m->hdr.size };
    struct vs_journal_entry *slot;

    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        fresh.fds[i] = -1;
    if (fresh.size) {
        fresh.payload = malloc(fresh.size);
        if (!fresh.payload) {
            block(r, "out of memory for the journal");
            return;
        }
        memcpy(fresh.payload, m->payload.bytes, fresh.size);
    }
    /* The back-end channel is made anew for each back-end. */
    for (unsigned i = 0; m->hdr.request != VU_REQ_SET_BACKEND_REQ_FD && i < m->nfds; i++) {
        int copy = fd_dup_cloexec(m->fds[i]);
        fresh.fds[i] = copy < 0 ? -1 : copy;
        fresh.nfds = i + 1;
        if (copy < 0) {
            entry_free(&fresh);
            block(r, "cannot duplicate an fd for the journal");
            return;
        }
    }
    slot = find(rp, fresh.request, key);
    if (slot) {
        entry_free(slot);
        *slot = fresh;
        return;
    }
    if (rp->n == rp->cap) {
        unsigned cap = rp->cap ? 2 * rp->cap : 32;
        struct vs_journal_entry *e = rp->n >= VS_JOURNAL_MAX ? NULL
                                                             : realloc(rp->e, cap * sizeof(*e));
        if (!e) {
            entry_free(&fresh);
            block(r, "the journal is full");
            return;
        }
        rp->e = e;
        rp->cap = cap;
    }
    rp->e[rp->n++] = fresh;
}

static bool same_region(const struct vu_mem_region *a, const struct vu_mem_region *b)
{
    return a->guest_phys_addr == b->guest_phys_addr && a->memory_size == b->memory_size &&
           a->userspace_addr == b->userspace_addr;
}

static void remove_region(struct vs_relay *r, const struct vu_msg *m)
{
    struct vs_replay *rp = r->replay;

    for (unsigned i = 0; i < rp->n; i++) {
        struct vu_mem_single kept;
        if (rp->e[i].request != VU_REQ_ADD_MEM_REG)
            continue;
        memcpy(&kept, rp->e[i].payload, sizeof(kept));
        if (same_region(&kept.region, &m->payload.mem_single.region)) {
            remove_at(rp, i);
            return;
        }
    }
    block(r, "REM_MEM_REG of a region not added with ADD_MEM_REG");
}

void vs_replay_record(struct vs_relay *r, const struct vu_msg_desc *d, const struct vu_msg *m)
{
    uint32_t key;

    if (!(d->flags & (VU_DESC_STATE | VU_DESC_CLEARS_STATE | VU_DESC_NOT_REPLAYABLE)))
        return;
    if (!r->replay) {
        r->replay = calloc(1, sizeof(*r->replay));
        if (!r->replay)
            return; /* no journal: a back-end restart ends the session */
    }
    if (r->replay->blocked)
        return;
    if (d->flags & VU_DESC_NOT_REPLAYABLE) {
        block(r, d->name);
        return;
    }
    key = key_of(d, m);
    if (d->flags & VU_DESC_CLEARS_STATE) {
        if (d->ring != VU_RING_NONE)
            forget(r->replay, is_ring_state, key); /* GET_VRING_BASE stopped the ring */
        else
            forget(r->replay, is_device_state, 0); /* a device reset */
        return;
    }
    switch (m->hdr.request) {
    case VU_REQ_SET_STATUS:
        if (m->payload.u64 == 0) {
            forget(r->replay, is_device_state, 0);
            return;
        }
        break;
    case VU_REQ_SET_MEM_TABLE:
        forget(r->replay, is_added_region, 0);
        break;
    case VU_REQ_ADD_MEM_REG:
        key = r->replay->next_region++;
        break;
    case VU_REQ_REM_MEM_REG:
        remove_region(r, m);
        return;
    default:
        break;
    }
    keep(r, m, key);
}

/* ---- replay ----------------------------------------------------------------- */

static uint64_t entry_u64(const struct vs_journal_entry *e)
{
    uint64_t v = 0;

    if (e && e->size >= sizeof(v))
        memcpy(&v, e->payload, sizeof(v));
    return v;
}

static bool rings_started(const struct vs_replay *rp)
{
    for (unsigned i = 0; i < rp->n; i++)
        if (rp->e[i].request == VU_REQ_SET_VRING_KICK)
            return true;
    return false;
}

/* Why the session cannot survive losing its back-end, or NULL. */
static const char *why_not_replayable(const struct vs_relay *r)
{
    const struct vs_replay *rp = r->replay;

    if (vu_has_bit(r->fe_limits.protocol_features, VU_PF_VDPA))
        return "vdpa-user: the front-end sees the device fail and resets it";
    if (!r->fe || r->stopping)
        return "no front-end";
    if (r->main_pending.peer_count)
        return "the front-end was owed a reply";
    if (!rp)
        return NULL; /* nothing sent yet that a new back-end needs */
    if (rp->blocked)
        return rp->blocked;
    if (vu_has_bit(entry_u64(find((struct vs_replay *)rp, VU_REQ_SET_FEATURES, 0)),
                   VIRTIO_F_RING_PACKED) &&
        rings_started(rp))
        return "packed rings (their position is not in guest memory)";
    return NULL;
}

bool vs_replay_backend_lost(struct vs_relay *r)
{
    const char *why = why_not_replayable(r);

    if (why) {
        vs_info("%s: the session cannot move to a new back-end (%s)", r->cfg.id, why);
        return false;
    }
    if (!r->replay && !(r->replay = calloc(1, sizeof(*r->replay))))
        return false;
    /* what the shim itself still waited for went with the old back-end */
    vs_session_drop_owed(r, NULL, NULL);
    r->replay->restoring = true;
    vs_warn("%s: back-end %s gone; the front-end is held and the session is replayed when a "
            "back-end is back",
            r->cfg.id, r->cfg.backend);
    return true;
}

bool vs_replay_restoring(const struct vs_relay *r)
{
    return r->replay && r->replay->restoring;
}

static void replay_failed(struct vs_relay *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void replay_failed(struct vs_relay *r, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    vs_err("%s: the new back-end cannot take over the session: %s; disconnecting the front-end "
           "so that it starts again",
           r->cfg.id, why);
    vs_end_session(r, "replay failed");
}

/* A send that failed because the new back-end is gone already (it died, or
 * a restarting service closed it): not a refusal. Its connection closes on
 * the loop's next look, and the shim waits for the next back-end. */
static bool went_away_again(struct vs_relay *r, int rc)
{
    if (rc != -EPIPE && rc != -ECONNRESET)
        return false;
    vs_info("%s: the new back-end went away during the replay; waiting for the next one",
            r->cfg.id);
    return true;
}

/* Sends a journal entry (with duplicates of its fds) as the shim's own request. */
static int send_entry(struct vs_relay *r, const struct vs_journal_entry *e, const void *payload)
{
    struct vu_msg m;

    vu_msg_init(&m, e->request, 0);
    if (vu_msg_set_payload(&m, payload ? payload : e->payload, e->size))
        return -EINVAL;
    for (unsigned i = 0; i < e->nfds; i++) {
        int copy = fd_dup_cloexec(e->fds[i]);
        if (copy < 0) {
            vu_msg_close_fds(&m);
            return copy;
        }
        vu_msg_add_fd(&m, copy);
    }
    r->replay->sent++;
    return vs_send_internal(r, &m, RP_STEP, e->request, "replayed");
}

static int send_kept(struct vs_relay *r, uint32_t request, uint32_t key)
{
    struct vs_journal_entry *e = find(r->replay, request, key);

    return e ? send_entry(r, e, NULL) : 0;
}

/* The region of the journal's memory that holds [uva, uva + len), mapped. */
static int map_guest(struct vs_replay *rp, uint64_t uva, uint64_t len, struct guest_mem *gm)
{
    for (unsigned i = 0; i < rp->n; i++) {
        const struct vs_journal_entry *e = &rp->e[i];
        const struct vu_mem_region *regions;
        unsigned count;

        if (e->request == VU_REQ_SET_MEM_TABLE) {
            struct vu_mem_table t;
            memcpy(&t, e->payload, e->size < sizeof(t) ? e->size : sizeof(t));
            regions = t.regions;
            count = t.nregions < e->nfds ? t.nregions : e->nfds;
            for (unsigned j = 0; j < count; j++)
                if (uva >= regions[j].userspace_addr &&
                    uva - regions[j].userspace_addr + len <= regions[j].memory_size)
                    return guest_mem_map(gm, &regions[j], 1, &e->fds[j]);
        } else if (e->request == VU_REQ_ADD_MEM_REG && e->nfds == 1) {
            struct vu_mem_single s;
            memcpy(&s, e->payload, sizeof(s));
            if (uva >= s.region.userspace_addr &&
                uva - s.region.userspace_addr + len <= s.region.memory_size)
                return guest_mem_map(gm, &s.region, 1, &e->fds[0]);
        }
    }
    return -EFAULT;
}

struct used_read {
    const uint8_t *used;
    uint32_t idx;
};

/* Under guest_mem_guarded: the front-end may have shrunk the file since. */
static void read_used_idx(void *arg)
{
    struct used_read *u = arg;

    u->idx = (uint32_t)u->used[2] | (uint32_t)u->used[3] << 8; /* used->idx, little endian */
}

/* A ring's next available index for the new back-end: the used index the old
 * one left in guest memory (descriptors it took but never completed are
 * offered again, as after a QEMU back-end reconnect). */
static int ring_base(struct vs_relay *r, uint32_t ring, uint32_t *base)
{
    struct vs_journal_entry *addr_e = find(r->replay, VU_REQ_SET_VRING_ADDR, ring);
    struct vu_vring_addr addr;
    struct guest_mem gm;
    const uint8_t *used;
    int rc;

    if (!addr_e || addr_e->size != sizeof(addr))
        return -ENOENT;
    memcpy(&addr, addr_e->payload, sizeof(addr));
    guest_mem_init(&gm);
    rc = map_guest(r->replay, addr.used_user_addr, 4, &gm);
    if (rc)
        return rc;
    used = guest_mem_uva_to_ptr(&gm, addr.used_user_addr, 4);
    if (!used) {
        guest_mem_unmap(&gm);
        return -EFAULT;
    }
    struct used_read u = { .used = used };
    rc = guest_mem_guarded(read_used_idx, &u);
    guest_mem_unmap(&gm);
    if (rc)
        return rc;
    *base = u.idx;
    return 0;
}

/* In the order a VMM sets a device up. */
static const uint32_t device_order[] = {
    VU_REQ_SET_FEATURES,    VU_REQ_SET_MEM_TABLE,  VU_REQ_NET_SET_MTU,
    VU_REQ_SET_INFLIGHT_FD, VU_REQ_GPU_SET_SOCKET,
};
static const uint32_t ring_order[] = {
    VU_REQ_SET_VRING_CALL, VU_REQ_SET_VRING_ERR,    VU_REQ_SET_VRING_NUM,  VU_REQ_SET_VRING_BASE,
    VU_REQ_SET_VRING_ADDR, VU_REQ_SET_VRING_ENDIAN, VU_REQ_SET_VRING_KICK, VU_REQ_SET_VRING_ENABLE,
};

static void finish_if_done(struct vs_relay *r)
{
    struct vs_replay *rp = r->replay;

    if (!rp || !rp->restoring || !rp->sent_all || r->main_pending.count)
        return;
    rp->restoring = false;
    vs_info("%s: session restored on the new back-end (%u requests replayed, %u rings)", r->cfg.id,
            rp->sent, rp->rings);
    if (r->fe)
        vs_conn_pause(r->fe, false);
}

/* Sends ring `ring`'s state, its base taken from guest memory. */
static int replay_ring(struct vs_relay *r, uint32_t ring, char *why, size_t len)
{
    struct vs_replay *rp = r->replay;
    bool any = false;
    int rc = 0;

    for (size_t i = 0; !rc && i < sizeof(ring_order) / sizeof(ring_order[0]); i++) {
        struct vs_journal_entry *e = find(rp, ring_order[i], ring);
        struct vu_vring_state st = { .index = ring };

        if (!e)
            continue;
        any = true;
        if (ring_order[i] != VU_REQ_SET_VRING_BASE) {
            rc = send_entry(r, e, NULL);
            continue;
        }
        rc = ring_base(r, ring, &st.num);
        if (rc == -ENOENT) { /* no addresses yet: the base as the front-end set it */
            rc = send_entry(r, e, NULL);
        } else if (rc) {
            snprintf(why, len, "cannot read ring %u's used index in guest memory: %s", ring,
                     strerror(-rc));
            return rc;
        } else {
            rc = send_entry(r, e, &st);
        }
    }
    rp->rings += any;
    if (rc)
        snprintf(why, len, "a replayed request for ring %u could not be sent (%s)", ring,
                 strerror(-rc));
    return rc;
}

/* After the new back-end's offers were checked: everything else. */
static void replay_session(struct vs_relay *r)
{
    struct vs_replay *rp = r->replay;
    struct vs_journal_entry *e = find(rp, VU_REQ_SET_PROTOCOL_FEATURES, 0);
    char why[160] = "";
    int rc = 0;

    if (e) {
        rc = send_entry(r, e, NULL);
        /* from here the new back-end has what the front-end negotiated */
        r->be_limits.protocol_features = entry_u64(e);
    }
    if (!rc && find(rp, VU_REQ_SET_BACKEND_REQ_FD, 0) && r->fe_chan) {
        struct vu_msg m;
        vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, 0);
        rc = vs_attach_backend_channel(r, &m);
        if (!rc) {
            rp->sent++;
            rc = vs_send_internal(r, &m, RP_STEP, VU_REQ_SET_BACKEND_REQ_FD, "replayed");
        }
    }
    for (size_t i = 0; !rc && i < sizeof(device_order) / sizeof(device_order[0]); i++)
        rc = send_kept(r, device_order[i], 0);
    for (unsigned i = 0; !rc && i < rp->n; i++)
        if (rp->e[i].request == VU_REQ_ADD_MEM_REG || rp->e[i].request == VU_REQ_SET_CONFIG)
            rc = send_entry(r, &rp->e[i], NULL);
    if (rc)
        snprintf(why, sizeof(why), "a replayed request could not be sent (%s)", strerror(-rc));
    for (uint32_t ring = 0; !rc && ring < VU_MAX_QUEUES; ring++)
        rc = replay_ring(r, ring, why, sizeof(why));
    if (!rc) {
        rc = send_kept(r, VU_REQ_SET_STATUS, 0);
        if (rc)
            snprintf(why, sizeof(why), "SET_STATUS could not be sent (%s)", strerror(-rc));
    }
    if (rc) {
        if (!went_away_again(r, rc))
            replay_failed(r, "%s", why);
        return;
    }
    rp->sent_all = true;
    finish_if_done(r);
}

void vs_replay_begin(struct vs_relay *r)
{
    struct vs_replay *rp = r->replay;
    int rc = 0;

    rp->sent_all = false;
    rp->sent = rp->rings = 0;
    vs_info("%s: a back-end is back; replaying the session", r->cfg.id);
    /* The new connection has negotiated nothing yet. */
    r->be_limits.protocol_features = 0;
    if (find(rp, VU_REQ_SET_OWNER, 0)) {
        rp->sent++;
        rc = vs_send_none(r, VU_REQ_SET_OWNER, RP_STEP, VU_REQ_SET_OWNER, "replayed");
    }
    if (!rc)
        rc = vs_send_none(r, VU_REQ_GET_FEATURES, RP_FEATURES, 0, "replay: check the offer");
    if (!rc && find(rp, VU_REQ_SET_PROTOCOL_FEATURES, 0))
        rc = vs_send_none(r, VU_REQ_GET_PROTOCOL_FEATURES, RP_PROTOCOL_FEATURES, 0,
                          "replay: check the offer");
    if (rc && !went_away_again(r, rc))
        replay_failed(r, "the first requests could not be sent (%s)", strerror(-rc));
}

void vs_replay_internal_reply(struct vs_relay *r, const struct vs_owed *owed, struct vu_msg *m)
{
    struct vs_replay *rp = r->replay;
    uint64_t v = m->payload.u64, wanted;

    vu_msg_close_fds(m);
    if (!rp || !rp->restoring)
        return;
    if (m->hdr.size == 0 && owed->action != RP_STEP) {
        replay_failed(r, "it answered %s with an empty reply",
                      vu_request_name(VU_CHAN_FRONTEND, owed->p.request));
        return;
    }
    switch (owed->action) {
    case RP_FEATURES:
        wanted = entry_u64(find(rp, VU_REQ_SET_FEATURES, 0));
        if (wanted & ~v) {
            replay_failed(r,
                          "it offers features 0x%" PRIx64 ", without 0x%" PRIx64
                          " the front-end negotiated",
                          v, wanted & ~v);
            return;
        }
        if (!find(rp, VU_REQ_SET_PROTOCOL_FEATURES, 0))
            replay_session(r);
        return;
    case RP_PROTOCOL_FEATURES:
        wanted = entry_u64(find(rp, VU_REQ_SET_PROTOCOL_FEATURES, 0));
        if (wanted & ~v) {
            replay_failed(r,
                          "it offers protocol features 0x%" PRIx64 ", without 0x%" PRIx64
                          " the front-end negotiated",
                          v, wanted & ~v);
            return;
        }
        r->backend_pf = v;
        replay_session(r);
        return;
    default:
        if (m->hdr.size == 0 || v != 0) {
            replay_failed(r, "it refused the replayed %s (%" PRIu64 ")",
                          vu_request_name(VU_CHAN_FRONTEND, owed->arg), v);
            return;
        }
        finish_if_done(r);
        return;
    }
}

void vs_replay_end(struct vs_relay *r)
{
    struct vs_replay *rp = r->replay;

    if (!rp)
        return;
    for (unsigned i = 0; i < rp->n; i++)
        entry_free(&rp->e[i]);
    free(rp->e);
    free(rp);
    r->replay = NULL;
}
