/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fd_budget.h"
#include "validate.h"

/* Fds held per device without a session: its listening sockets. */
#define VS_FDS_PER_DEVICE_IDLE 2u
#define VS_SLOTS_MIN           16u

static uint64_t budget_total = UINT64_MAX; /* fds all sessions may hold */
static unsigned session_cap = UINT32_MAX;
static uint64_t total_held;

void vs_fd_budget_configure(uint64_t nofile, size_t ndevices)
{
    uint64_t fixed = VS_FD_RESERVE + (uint64_t)ndevices * VS_FDS_PER_DEVICE_IDLE;
    uint64_t share;

    if (nofile == (uint64_t)RLIM_INFINITY) {
        budget_total = UINT64_MAX;
        session_cap = UINT32_MAX;
        return;
    }
    budget_total = nofile > fixed ? nofile - fixed : 0;
    share = budget_total / (ndevices ? ndevices : 1);
    if (share < VS_FD_SESSION_FLOOR)
        share = VS_FD_SESSION_FLOOR;
    session_cap = share > UINT32_MAX ? UINT32_MAX : (unsigned)share;
}

uint64_t vs_fd_budget_wanted(size_t ndevices)
{
    /* vs_fd_budget_configure's share reaches the floor from this limit on */
    return VS_FD_RESERVE + (uint64_t)ndevices * VS_FDS_PER_DEVICE_IDLE +
           (uint64_t)(ndevices ? ndevices : 1) * VS_FD_SESSION_FLOOR;
}

unsigned vs_fd_budget_session_cap(void)
{
    return session_cap;
}

uint64_t vs_fd_budget_total(void)
{
    return budget_total;
}

/* Whether `more` fds can be added to b; else why. */
static int room(const struct vs_fd_budget *b, unsigned more, char *why, size_t len)
{
    if ((uint64_t)b->held + more > session_cap) {
        snprintf(why, len,
                 "the session would hold %u fds, more than its share of the open-file "
                 "limit (%u a session; raise LimitNOFILE= or ulimit -n, or serve fewer devices "
                 "or rings)",
                 b->held + more, session_cap);
        return -EMFILE;
    }
    if (total_held + more > budget_total) {
        snprintf(why, len,
                 "the sessions together would hold %" PRIu64 " fds, more than the "
                 "open-file limit leaves them (%" PRIu64 "; raise LimitNOFILE= or ulimit -n)",
                 total_held + more, budget_total);
        return -EMFILE;
    }
    return 0;
}

int vs_fd_budget_open(struct vs_fd_budget *b, char *why, size_t len)
{
    int rc;

    vs_fd_budget_close(b);
    rc = room(b, VS_FD_SESSION_BASE, why, len);
    if (rc)
        return rc;
    b->held = VS_FD_SESSION_BASE;
    total_held += b->held;
    return 0;
}

/* The slot a request's fds are kept under (as the journal keys them). */
static uint64_t slot_key(const struct vu_msg_desc *d, const struct vu_msg *m)
{
    uint32_t index;

    if (vu_ring_index_of(d->ring, m, &index))
        return index;
    if (m->hdr.request == VU_REQ_ADD_MEM_REG || m->hdr.request == VU_REQ_REM_MEM_REG)
        return m->payload.mem_single.region.guest_phys_addr;
    return 0;
}

static struct vs_fd_slot *find(struct vs_fd_budget *b, uint32_t request, uint64_t key)
{
    for (unsigned i = 0; i < b->n; i++)
        if (b->slots[i].request == request && b->slots[i].key == key)
            return &b->slots[i];
    return NULL;
}

/* Fds the slots of `request` hold in all (SET_MEM_TABLE drops added regions). */
static unsigned held_by(const struct vs_fd_budget *b, uint32_t request)
{
    unsigned n = 0;

    for (unsigned i = 0; i < b->n; i++)
        if (b->slots[i].request == request)
            n += b->slots[i].nfds;
    return n;
}

static void drop_request(struct vs_fd_budget *b, uint32_t request)
{
    for (unsigned i = 0; i < b->n;)
        if (b->slots[i].request == request)
            b->slots[i] = b->slots[--b->n];
        else
            i++;
}

static int add_slot(struct vs_fd_budget *b, uint32_t request, uint64_t key, unsigned nfds)
{
    if (b->n == b->cap) {
        unsigned cap = b->cap ? 2 * b->cap : VS_SLOTS_MIN;
        struct vs_fd_slot *s = realloc(b->slots, cap * sizeof(*s));
        if (!s)
            return -ENOMEM;
        b->slots = s;
        b->cap = cap;
    }
    b->slots[b->n++] = (struct vs_fd_slot){ .request = request, .key = key, .nfds = nfds };
    return 0;
}

int vs_fd_budget_charge(struct vs_fd_budget *b, const struct vu_msg_desc *d, const struct vu_msg *m,
                        char *why, size_t len)
{
    uint32_t req = m->hdr.request == VU_REQ_REM_MEM_REG ? VU_REQ_ADD_MEM_REG : m->hdr.request;
    uint64_t key = slot_key(d, m);
    unsigned nfds = m->hdr.request == VU_REQ_REM_MEM_REG ? 0 : m->nfds;
    struct vs_fd_slot *s = find(b, req, key);
    unsigned old = s ? s->nfds : 0;
    int rc;

    if (m->hdr.request == VU_REQ_SET_MEM_TABLE)
        old += held_by(b, VU_REQ_ADD_MEM_REG);
    if (nfds > old && (rc = room(b, nfds - old, why, len)) != 0)
        return rc;
    if (!s && nfds && (rc = add_slot(b, req, key, nfds)) != 0)
        return rc;
    if (s)
        s->nfds = nfds;
    if (m->hdr.request == VU_REQ_SET_MEM_TABLE)
        drop_request(b, VU_REQ_ADD_MEM_REG);
    b->held = b->held - old + nfds;
    total_held = total_held - old + nfds;
    return 0;
}

void vs_fd_budget_close(struct vs_fd_budget *b)
{
    total_held -= b->held;
    free(b->slots);
    memset(b, 0, sizeof(*b));
}
