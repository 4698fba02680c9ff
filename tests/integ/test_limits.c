/* SPDX-License-Identifier: MIT */
/*
 * Floods: a peer that sends as fast as it can while the other side does not
 * read, or does not answer, must not make the shim use unbounded memory.
 * Through the real vdpa-shim binary with scripted peers; the shim's resident
 * memory (VmRSS) is sampled during each flood and its growth bounded, the
 * shim must stay up, and once the peers are gone its fds are back to idle.
 *
 * Where the bounds come from: a connection queues at most VS_CONN_TX_MAX
 * (256 KiB) for a peer that does not read, a peer may be owed at most
 * VS_MAX_PENDING (64) replies, and a message is at most 4 KiB. The flood
 * sends far more than that (tens of MiB unless the shim stops it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "scripted.h"

#define REQ           VU_VERSION
#define FLOOD_SECONDS 2
/* Resident-memory growth allowed during a flood. ASan keeps freed memory in
 * quarantine (up to 256 MiB), so under it the figure is reported, not bounded. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#define RSS_GROWTH_MAX_KIB (8 * 1024)

struct limits_test {
    struct scripted s;
    int fds_idle;
    long rss_idle_kib;
};

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The wire bytes of one small request (header + payload). */
static size_t encode(uint32_t req, const void *payload, uint32_t size, uint8_t *out)
{
    struct vu_hdr h = { .request = req, .flags = REQ, .size = size };

    vu_hdr_encode(&h, out);
    if (size)
        memcpy(out + VU_HDR_SIZE, payload, size);
    return VU_HDR_SIZE + size;
}

/* Writes `msg` back to back on fd (non-blocking) for FLOOD_SECONDS or until
 * the shim hangs up, sampling the shim's RSS; returns the peak growth in KiB
 * and the bytes written. */
static long flood(struct limits_test *t, int fd, const uint8_t *msg, size_t len, size_t *written)
{
    uint8_t burst[64 * 1024];
    size_t per = sizeof(burst) / len, off = 0;
    double end = now_s() + FLOOD_SECONDS, next_sample = 0;
    long peak = 0;

    for (size_t i = 0; i < per; i++)
        memcpy(burst + i * len, msg, len);
    *written = 0;
    vu_set_nonblocking(fd, true);
    while (now_s() < end) {
        ssize_t n = send(fd, burst + off, per * len - off, MSG_NOSIGNAL);
        if (n > 0) {
            *written += (size_t)n;
            off = (off + (size_t)n) % (per * len);
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            break; /* the shim hung up on the flood */
        } else {
            usleep(1000);
        }
        if (now_s() >= next_sample) {
            long rss = rss_kib(t->s.shim);
            if (rss - t->rss_idle_kib > peak)
                peak = rss - t->rss_idle_kib;
            next_sample = now_s() + 0.05;
        }
    }
    return peak;
}

static void check_growth(const char *what, long growth_kib, size_t written)
{
    fprintf(stderr, "%s: %zu bytes sent, shim RSS grew by at most %ld KiB\n", what, written,
            growth_kib);
#ifdef UNDER_ASAN
    fprintf(stderr, "  (not bounded under ASan: its quarantine keeps freed memory)\n");
#else
    if (growth_kib > RSS_GROWTH_MAX_KIB)
        fail_msg("%s: the shim's RSS grew by %ld KiB (bound %d KiB)", what, growth_kib,
                 RSS_GROWTH_MAX_KIB);
#endif
}

static void expect_alive_and_idle(struct limits_test *t)
{
    int n = -1;

    assert_int_equal(kill(t->s.shim, 0), 0);
    if (t->s.fe >= 0)
        close(t->s.fe);
    if (t->s.be >= 0)
        close(t->s.be);
    t->s.fe = t->s.be = -1;
    for (int i = 0; i < 150 && n != t->fds_idle; i++) {
        n = fdcount_of(t->s.shim);
        if (n != t->fds_idle)
            usleep(20000);
    }
    if (n != t->fds_idle) {
        scripted_dump(&t->s);
        fail_msg("the shim holds %d fds after the flood, %d when idle", n, t->fds_idle);
    }
    /* and it serves the next session */
    assert_int_equal(scripted_connect(&t->s), 0);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_FEATURES, REQ), 0);
    {
        struct vu_msg m;
        assert_int_equal(expect_msg(t->s.be, VU_REQ_GET_FEATURES, &m), 0);
        assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, 1), 0);
        assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_FEATURES, &m), 0);
    }
}

static int setup(void **state)
{
    struct limits_test *t = calloc(1, sizeof(*t));

    if (!t || scripted_start(&t->s, "net", NULL))
        return -1;
    t->fds_idle = fdcount_of(t->s.shim);
    if (scripted_connect(&t->s))
        return -1;
    t->rss_idle_kib = rss_kib(t->s.shim);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct limits_test *t = *state;
    int status = scripted_stop(&t->s);

    free(t);
    return status == 0 ? 0 : -1;
}

/* Requests that need no reply, to a back-end that never reads. */
static void frontend_floods_a_backend_that_does_not_read(void **state)
{
    struct limits_test *t = *state;
    struct vu_vring_state st = { .index = 0, .num = 256 };
    uint8_t msg[64];
    size_t len = encode(VU_REQ_SET_VRING_NUM, &st, sizeof(st), msg), written;
    long growth = flood(t, t->s.fe, msg, len, &written);

    check_growth("front-end flood, back-end not reading", growth, written);
    /* the back-end that does not read is dropped, and the session with it */
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(written < 4 * 1024 * 1024);
    expect_alive_and_idle(t);
}

/* Requests that need a reply, to a back-end that reads but never answers:
 * after VS_MAX_PENDING the shim disconnects. */
static void frontend_floods_replies_never_given(void **state)
{
    struct limits_test *t = *state;
    uint8_t msg[64], sink[65536];
    size_t len = encode(VU_REQ_GET_FEATURES, NULL, 0, msg), written = 0;
    long growth;

    /* the back-end drains its socket in a child, never answering */
    pid_t drain = fork();
    assert_true(drain >= 0);
    if (drain == 0) {
        while (read(t->s.be, sink, sizeof(sink)) > 0)
            ;
        _exit(0);
    }
    growth = flood(t, t->s.fe, msg, len, &written);
    kill(drain, SIGKILL);
    waitpid(drain, NULL, 0);
    check_growth("front-end flood of GET_FEATURES, never answered", growth, written);
    assert_true(closed_within(t->s.fe, SCRIPT_TIMEOUT_MS));
    assert_true(written < 1024 * 1024); /* stopped early, not after megabytes */
    expect_alive_and_idle(t);
}

/* Back-end channel requests to a front-end that never reads its channel. */
static void backend_floods_the_channel(void **state)
{
    struct limits_test *t = *state;
    struct vu_iotlb iotlb = { 0 };
    struct vu_msg m;
    uint8_t msg[64];
    size_t len = encode(VU_BREQ_IOTLB_MSG, &iotlb, sizeof(iotlb), msg), written;
    int chan[2], be_chan;
    long growth;

    /* negotiate BACKEND_REQ and hand over the channel */
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_FEATURES, REQ), 0);
    assert_int_equal(expect_msg(t->s.be, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_FEATURES, VU_BIT(VU_F_PROTOCOL_FEATURES)), 0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(send_empty(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, REQ), 0);
    assert_int_equal(expect_msg(t->s.be, VU_REQ_GET_PROTOCOL_FEATURES, &m), 0);
    assert_int_equal(reply_u64(t->s.be, VU_REQ_GET_PROTOCOL_FEATURES, VU_BIT(VU_PF_BACKEND_REQ)),
                     0);
    assert_int_equal(expect_msg(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, &m), 0);
    assert_int_equal(
        send_u64_req(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, REQ, VU_BIT(VU_PF_BACKEND_REQ), -1), 0);
    assert_int_equal(expect_msg(t->s.be, VU_REQ_SET_PROTOCOL_FEATURES, &m), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan), 0);
    {
        struct vu_msg req;
        vu_msg_init(&req, VU_REQ_SET_BACKEND_REQ_FD, REQ);
        vu_msg_add_fd(&req, chan[1]);
        assert_int_equal(vu_send_blocking(t->s.fe, &req), 0);
    }
    assert_int_equal(expect_msg(t->s.be, VU_REQ_SET_BACKEND_REQ_FD, &m), 0);
    assert_int_equal(m.nfds, 1);
    be_chan = m.fds[0];

    growth = flood(t, be_chan, msg, len, &written);
    check_growth("back-end channel flood, front-end not reading", growth, written);
    close(be_chan);
    close(chan[0]);
    expect_alive_and_idle(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(frontend_floods_a_backend_that_does_not_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(frontend_floods_replies_never_given, setup, teardown),
        cmocka_unit_test_setup_teardown(backend_floods_the_channel, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
