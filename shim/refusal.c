/* SPDX-License-Identifier: MIT */
/*
 * A front-end that reconnects at once after each refusal (QEMU with
 * reconnect=, a VMM in a retry loop) would make the shim log and trace a
 * whole session many thousand times a second. After VS_REFUSAL_STREAK
 * sessions in a row ended by a refusal, each less than VS_REFUSAL_WINDOW_MS
 * after the one before, the next front-end is accepted only after a delay
 * that doubles with each further refusal (up to VS_REFUSAL_DELAY_MAX_MS),
 * and the sessions' own log lines go to the debug level: the loop is logged
 * when it is detected, each time the delay doubles (with the count), and
 * when it ends. A session that ends without a refusal, or a quiet window,
 * ends the streak.
 */
#include <inttypes.h>

#include "log.h"
#include "session.h"

#define VS_REFUSAL_STREAK       5
#define VS_REFUSAL_WINDOW_MS    10000
#define VS_REFUSAL_DELAY_MIN_MS 250
#define VS_REFUSAL_DELAY_MAX_MS 8000

void vs_refusal_mark(struct vs_relay *r)
{
    r->refusal.session_refused = true;
}

bool vs_refusal_quiet(const struct vs_relay *r)
{
    return r->refusal.count >= VS_REFUSAL_STREAK;
}

static void streak_over(struct vs_relay *r, const char *why)
{
    if (vs_refusal_quiet(r))
        vs_info("%s: the front-end's refusal loop is over (%s) after %u refused sessions; "
                "connections are accepted at once again",
                r->cfg.id, why, r->refusal.count);
    r->refusal.count = 0;
    r->refusal.delay_ms = 0;
}

static void next_delay(struct vs_relay *r)
{
    unsigned before = r->refusal.delay_ms;

    r->refusal.delay_ms = before ? 2 * before : VS_REFUSAL_DELAY_MIN_MS;
    if (r->refusal.delay_ms > VS_REFUSAL_DELAY_MAX_MS)
        r->refusal.delay_ms = VS_REFUSAL_DELAY_MAX_MS;
    if (r->refusal.delay_ms == before)
        return; /* already at the bound: the count is logged when the loop ends */
    vs_warn("%s: %u front-end sessions in a row ended in a refusal, each within %d s of the "
            "last (the reason is the last warning above; later ones are logged at debug "
            "level): the next front-end is accepted after %u ms, doubling up to %d ms while "
            "this goes on",
            r->cfg.id, r->refusal.count, VS_REFUSAL_WINDOW_MS / 1000, r->refusal.delay_ms,
            VS_REFUSAL_DELAY_MAX_MS);
}

void vs_refusal_session_end(struct vs_relay *r)
{
    uint64_t now = uv_now(r->loop);
    bool refused = r->refusal.session_refused;

    r->refusal.session_refused = false;
    if (!refused) {
        streak_over(r, "a session ended without a refusal");
        return;
    }
    if (r->refusal.count && now - r->refusal.last_ms > VS_REFUSAL_WINDOW_MS)
        streak_over(r, "a quiet window");
    r->refusal.count++;
    r->refusal.last_ms = now;
    if (r->refusal.count >= VS_REFUSAL_STREAK)
        next_delay(r);
}

unsigned vs_refusal_wait_ms(const struct vs_relay *r)
{
    uint64_t now = uv_now(r->loop), until = r->refusal.last_ms + r->refusal.delay_ms;

    if (!r->refusal.delay_ms || now >= until)
        return 0;
    return (unsigned)(until - now);
}
