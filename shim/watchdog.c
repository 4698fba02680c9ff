/* SPDX-License-Identifier: MIT */
/*
 * reply-timeout=: a reply a peer owes (or a message it has half sent) for
 * longer than the time-out ends the session; a warning names the stuck
 * request at a quarter of it (at most VS_REPLY_WARN_MAX_MS).
 *
 * One uv_timer per device, started when a wait begins and stopped when
 * nothing is owed or half read, so idle devices cost nothing. It is not
 * restarted per message: a message from the peer only moves the start of
 * its wait (vs_watch_progress), and the timer, when it fires, looks at the
 * time left and sleeps again for it.
 *
 * Who owes what: the back-end owes the replies in r->main_pending (the
 * front-end's requests and the shim's own, in every mode); the front-end
 * owes those in r->chan_pending (back-end channel requests). Either may
 * have sent part of a message (vs_conn_partial).
 */
#include <inttypes.h>
#include <stdio.h>

#include "log.h"
#include "session.h"

#define VS_WARN_FRACTION 4u

static const char *peer_name(enum vs_peer p)
{
    return p == VS_PEER_BACKEND ? "back-end" : "front-end";
}

/* The head of f is owed by the peer (not an answer of the shim's own). */
static bool owes(const struct vs_owed_fifo *f)
{
    return f->count && f->items[f->head].origin != VS_SHIM_ANSWER;
}

static bool stuck_now(const struct vs_relay *r, enum vs_peer p)
{
    if (p == VS_PEER_BACKEND)
        return (r->be && owes(&r->main_pending)) || vs_conn_partial(r->be) ||
               vs_conn_partial(r->be_chan);
    return (r->fe_chan && owes(&r->chan_pending)) || vs_conn_partial(r->fe) ||
           vs_conn_partial(r->fe_chan);
}

static uint32_t warn_after(const struct vs_relay *r)
{
    uint32_t w = r->cfg.reply_timeout_ms / VS_WARN_FRACTION;
    return w < VS_REPLY_WARN_MAX_MS ? w : VS_REPLY_WARN_MAX_MS;
}

/* What the peer is stuck on, for the log. */
static void describe(const struct vs_relay *r, enum vs_peer p, char *buf, size_t len)
{
    const struct vs_owed_fifo *f = p == VS_PEER_BACKEND ? &r->main_pending : &r->chan_pending;
    bool owed = p == VS_PEER_BACKEND ? r->be && owes(f) : r->fe_chan && owes(f);

    if (owed)
        snprintf(buf, len, "did not answer %s",
                 vu_request_name(p == VS_PEER_BACKEND ? VU_CHAN_FRONTEND : VU_CHAN_BACKEND,
                                 f->items[f->head].p.request));
    else
        snprintf(buf, len, "sent part of a message and not the rest");
}

static void format_ms(uint32_t ms, char *buf, size_t len)
{
    if (ms % 1000 == 0)
        snprintf(buf, len, "%" PRIu32 " s", ms / 1000);
    else
        snprintf(buf, len, "%" PRIu32 " ms", ms);
}

/* When the timer must next look: the earliest warning or time-out due. */
static uint64_t next_due(const struct vs_relay *r)
{
    uint64_t due = UINT64_MAX;

    for (int p = 0; p < VS_PEERS; p++) {
        const struct vs_watch_side *w = &r->watch[p];
        uint64_t at = w->since + (w->warned ? r->cfg.reply_timeout_ms : warn_after(r));
        if (w->stuck && at < due)
            due = at;
    }
    return due;
}

static void on_watch_timer(uv_timer_t *t);

/* Sleeps until the next thing due, or stops when nothing is waited for. */
static void arm(struct vs_relay *r)
{
    uint64_t now = uv_now(r->loop), due = next_due(r);
    int rc;

    if (due == UINT64_MAX)
        rc = uv_timer_stop(&r->watch_timer);
    else
        rc = uv_timer_start(&r->watch_timer, on_watch_timer, due > now ? due - now : 0, 0);
    if (rc < 0)
        vs_err("%s: cannot %s the reply timer: %s; a silent peer is not bounded", r->cfg.id,
               due == UINT64_MAX ? "stop" : "start", uv_strerror(rc));
}

/* One peer's wait: warn once, end the session at the time-out. True when
 * the session was ended. */
static bool check_side(struct vs_relay *r, enum vs_peer p, uint64_t now)
{
    struct vs_watch_side *w = &r->watch[p];
    char what[96], limit[32];

    if (!w->stuck)
        return false;
    describe(r, p, what, sizeof(what));
    if (now - w->since >= r->cfg.reply_timeout_ms) {
        format_ms(r->cfg.reply_timeout_ms, limit, sizeof(limit));
        vs_err("%s: %s %s within %s (reply-timeout=); session ended", r->cfg.id, peer_name(p), what,
               limit);
        vs_end_session(r, "reply time-out");
        return true;
    }
    if (!w->warned && now - w->since >= warn_after(r)) {
        format_ms((uint32_t)(now - w->since), limit, sizeof(limit));
        vs_warn("%s: %s %s for %s; the session ends if it has not at reply-timeout=", r->cfg.id,
                peer_name(p), what, limit);
        w->warned = true;
    }
    return false;
}

static void on_watch_timer(uv_timer_t *t)
{
    struct vs_relay *r = t->data;
    uint64_t now = uv_now(r->loop);

    for (int p = 0; p < VS_PEERS; p++)
        r->watch[p].stuck = r->watch[p].stuck && stuck_now(r, (enum vs_peer)p);
    for (int p = 0; p < VS_PEERS; p++)
        if (check_side(r, (enum vs_peer)p, now))
            return; /* the session end stopped the timer */
    arm(r);
}

int vs_watch_init(struct vs_relay *r)
{
    int rc = uv_timer_init(r->loop, &r->watch_timer);

    r->watch_timer.data = r;
    return rc;
}

void vs_watch_update(struct vs_relay *r)
{
    bool changed = false;

    if (r->cfg.reply_timeout_ms == 0 || r->stopping)
        return;
    for (int p = 0; p < VS_PEERS; p++) {
        struct vs_watch_side *w = &r->watch[p];
        bool now_stuck = stuck_now(r, (enum vs_peer)p);
        if (now_stuck == w->stuck)
            continue;
        changed = true;
        w->stuck = now_stuck;
        w->warned = false;
        w->since = uv_now(r->loop);
    }
    /* A wait that goes on keeps the timer as it is (no restart per message). */
    if (changed)
        arm(r);
}

void vs_watch_progress(struct vs_relay *r, enum vs_peer peer)
{
    struct vs_watch_side *w = &r->watch[peer];

    if (w->stuck) {
        w->since = uv_now(r->loop);
        w->warned = false;
    }
}

void vs_watch_reset(struct vs_relay *r)
{
    int rc = uv_timer_stop(&r->watch_timer);

    if (rc < 0)
        vs_err("%s: cannot stop the reply timer: %s", r->cfg.id, uv_strerror(rc));
    for (int p = 0; p < VS_PEERS; p++)
        r->watch[p] = (struct vs_watch_side){ 0 };
}

void vs_watch_close(struct vs_relay *r, uv_close_cb cb)
{
    uv_close((uv_handle_t *)&r->watch_timer, cb);
}
