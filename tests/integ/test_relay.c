/* SPDX-License-Identifier: MIT */
/*
 * The pass-through relay, tested through the real vdpa-shim binary
 * ($BUILD/vdpa-shim) with two scripted peers around it: a back-end that
 * listens where the shim connects, and a front-end that connects to the
 * shim's socket. Messages and fds go through unchanged after validation;
 * protocol features the relay cannot honour are hidden; bad input gets a
 * REPLY_ACK failure or a clean disconnect of both sides; nothing leaks; the
 * shim exits 0 on SIGTERM and removes its socket.
 *
 * Every wait has a time-out, so a hang fails a test instead of blocking the
 * run. When a test fails, the shim's log and trace are printed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <ftw.h>
#include <inttypes.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/un.h>
#include <cmocka.h>

#include "scripted.h"

#define TIMEOUT_MS   SCRIPT_TIMEOUT_MS /* any single wait for a message or EOF */
#define QUIET_MS     300               /* "nothing arrives" */
#define EXIT_WAIT_MS 5000              /* SIGTERM to exit (slower under ASan) */

/* VERSION_1 (32), PROTOCOL_FEATURES (30), MAC (5), CSUM (0). */
#define FEATURES        (VU_BIT(32) | VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(5) | VU_BIT(0))
#define REQ             VU_VERSION /* header flags of a plain request */
#define REQ_NEED        (VU_VERSION | VU_FLAG_NEED_REPLY)
#define REPLY           (VU_VERSION | VU_FLAG_REPLY)
#define NET_CONFIG_SIZE 24u

struct relay_test {
    struct scripted s;
    int fds_idle; /* the shim's open fds right after start, before any peer */
    bool done;    /* the test body ran to its end (else: dump the logs) */
};

/* ---- small helpers -------------------------------------------------------- */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void dump_file(const char *title, const char *path)
{
    char *text = scripted_slurp(path);

    fprintf(stderr, "----- %s (%s) -----\n%s%s", title, path, text ? text : "(unreadable)\n",
            text && *text && text[strlen(text) - 1] != '\n' ? "\n" : "");
    free(text);
}

static void dump_logs(const struct scripted *s)
{
    dump_file("shim log", s->log_path);
    dump_file("shim trace", s->trace_path);
    fprintf(stderr, "----- end -----\n");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

static void rm_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static const char *req_name(enum vu_channel ch, uint32_t req)
{
    return vu_request_name(ch, req);
}

/* ---- the scripted peers ---------------------------------------------------- */

static void send_msg(int fd, struct vu_msg *m)
{
    int rc = vu_send_blocking(fd, m);

    if (rc)
        fail_msg("sending %s: %s", req_name(VU_CHAN_FRONTEND, m->hdr.request), strerror(-rc));
}

static void send_req(int fd, uint32_t req, uint32_t flags)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    send_msg(fd, &m);
}

/* A u64 request; passfd (when >= 0) is duplicated and the copy sent. */
static void send_u64(int fd, uint32_t req, uint32_t flags, uint64_t v, int passfd)
{
    struct vu_msg m;

    vu_msg_init(&m, req, flags);
    vu_msg_set_u64(&m, v);
    if (passfd >= 0)
        assert_int_equal(vu_msg_add_fd(&m, fcntl(passfd, F_DUPFD_CLOEXEC, 3)), 0);
    send_msg(fd, &m);
}

static void send_reply_u64(int fd, uint32_t req, uint64_t v)
{
    send_u64(fd, req, VU_FLAG_REPLY, v, -1);
}

/* Receives one message on fd within the time-out and checks every header
 * field and the fd count. The caller owns m's fds. */
static void expect(int fd, const char *who, enum vu_channel ch, uint32_t req, uint32_t flags,
                   uint32_t size, unsigned nfds, struct vu_msg *m)
{
    int rc = vu_recv_blocking(fd, m, TIMEOUT_MS);

    if (rc)
        fail_msg("%s: waiting for %s: %s", who, req_name(ch, req),
                 rc == -ECONNRESET ? "disconnected" : strerror(-rc));
    if (m->hdr.request != req || m->hdr.flags != flags || m->hdr.size != size || m->nfds != nfds) {
        vu_msg_close_fds(m);
        fail_msg("%s: expected %s flags=0x%" PRIx32 " size=%" PRIu32
                 " with %u fds; got %s (%" PRIu32 ") flags=0x%" PRIx32 " size=%" PRIu32
                 " with %u fds",
                 who, req_name(ch, req), flags, size, nfds, req_name(ch, m->hdr.request),
                 m->hdr.request, m->hdr.flags, m->hdr.size, m->nfds);
    }
}

/* The peer must close fd (EOF) within the time-out, with no message first. */
static void expect_eof(int fd, const char *who)
{
    struct vu_msg m;
    int rc = vu_recv_blocking(fd, &m, TIMEOUT_MS);

    if (rc == 0) {
        vu_msg_close_fds(&m);
        fail_msg("%s: expected a disconnect, got %s (%" PRIu32 ") flags=0x%" PRIx32, who,
                 req_name(VU_CHAN_FRONTEND, m.hdr.request), m.hdr.request, m.hdr.flags);
    }
    if (rc != -ECONNRESET)
        fail_msg("%s: expected a disconnect within %d ms: %s", who, TIMEOUT_MS, strerror(-rc));
}

/* Nothing may arrive on fd (no message, no EOF) for ms. */
static void expect_quiet(int fd, const char *who, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    struct vu_msg m;
    int rc;

    if (poll(&p, 1, ms) == 0)
        return;
    rc = vu_recv_blocking(fd, &m, 0);
    if (rc == 0) {
        vu_msg_close_fds(&m);
        fail_msg("%s: expected nothing, got %s (%" PRIu32 ")", who,
                 req_name(VU_CHAN_FRONTEND, m.hdr.request), m.hdr.request);
    }
    fail_msg("%s: expected nothing, got %s", who,
             rc == -ECONNRESET ? "a disconnect" : strerror(-rc));
}

/* The front-end asks `req` (no payload); the back-end must see it unchanged
 * and answers `be_value`; returns what the front-end gets. */
static uint64_t roundtrip_u64(struct relay_test *t, uint32_t req, uint64_t be_value)
{
    struct vu_msg m;

    send_req(t->s.fe, req, 0);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, req, REQ, 0, 0, &m);
    send_reply_u64(t->s.be, req, be_value);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, req, REPLY, 8, 0, &m);
    return m.payload.u64;
}

/* F_VDPA implies CONFIG (docs/vdpa-user.md 2.2): not shown, so that a
 * legacy QEMU reading the same offer does not warn about it. */
#define DOWN_OFFER                                                                                 \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS))

/* The protocol features a front-end sees for a back-end offering pf: all of
 * them, plus vdpa-user by down-conversion over a legacy (net) back-end, with
 * or without REPLY_ACK (the shim emulates it with GET_FEATURES barriers). */
static uint64_t shown_pf(uint64_t pf)
{
    if (!(pf & VU_BIT(VU_PF_VDPA)))
        return pf | DOWN_OFFER;
    return pf;
}

/* GET_FEATURES (with bit 30), GET_PROTOCOL_FEATURES offering pf (which the
 * relay passes on, vdpa-user added) and SET_PROTOCOL_FEATURES acking pf. */
static void negotiate(struct relay_test *t, uint64_t pf)
{
    struct vu_msg m;

    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_PROTOCOL_FEATURES, pf), shown_pf(pf));
    send_u64(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, pf, -1);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_SET_PROTOCOL_FEATURES, REQ, 8, 0, &m);
    assert_int_equal(m.payload.u64, pf);
}

/* Accepts the shim's connection to the scripted back-end within ms. */
static int accept_backend(struct relay_test *t, int ms)
{
    struct pollfd p = { .fd = t->s.be_listen, .events = POLLIN };
    int fd;

    if (poll(&p, 1, ms) != 1)
        fail_msg("the shim did not connect to the back-end within %d ms", ms);
    fd = vu_accept(t->s.be_listen);
    if (fd < 0)
        fail_msg("accepting the shim's back-end connection: %s", strerror(-fd));
    return fd;
}

/* A new session: a new front-end connection and the shim's new back-end one. */
static void connect_session(struct relay_test *t)
{
    close_fd(&t->s.fe);
    close_fd(&t->s.be);
    t->s.fe = vu_connect_unix(t->s.fe_path);
    if (t->s.fe < 0)
        fail_msg("connecting to %s: %s", t->s.fe_path, strerror(-t->s.fe));
    t->s.be = accept_backend(t, TIMEOUT_MS);
}

/* The shim's open-fd count: the same as when it was idle after start,
 * once it has settled (up to 2 s). */
static void expect_fds_idle(struct relay_test *t)
{
    int n = -1;

    for (int i = 0; i < 100; i++) {
        n = fdcount_of(t->s.shim);
        if (n == t->fds_idle)
            return;
        usleep(20000);
    }
    fprintf(stderr, "the shim has %d fds open, %d when idle:\n", n, t->fds_idle);
    scripted_print_fds(t->s.shim);
    fail_msg("fd leak in the shim: %d open, %d expected", n, t->fds_idle);
}

/* Sends a GET_FEATURES header carrying nfds eventfds in one sendmsg (more
 * than vu_send_blocking allows). */
static void send_with_many_fds(int sock, unsigned nfds)
{
    uint8_t hdr_bytes[VU_HDR_SIZE];
    struct vu_hdr hdr = { VU_REQ_GET_FEATURES, VU_VERSION, 0 };
    int fds[16];
    union {
        char buf[CMSG_SPACE(sizeof(fds))];
        struct cmsghdr align;
    } control;
    struct iovec iov = { .iov_base = hdr_bytes, .iov_len = sizeof(hdr_bytes) };
    struct msghdr mh = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen = CMSG_SPACE(sizeof(int) * nfds),
    };
    struct cmsghdr *c;
    ssize_t n;

    assert_true(nfds <= 16);
    vu_hdr_encode(&hdr, hdr_bytes);
    memset(&control, 0, sizeof(control));
    for (unsigned i = 0; i < nfds; i++) {
        fds[i] = eventfd(0, EFD_CLOEXEC);
        assert_true(fds[i] >= 0);
    }
    c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    assert_int_equal(n, (ssize_t)sizeof(hdr_bytes));
}

/* ---- fixtures ----------------------------------------------------------------- */

static struct relay_test the_test; /* static: a setup that fails half-way leaks nothing */
static const char *setup_extra;    /* device keys for the next setup (then reset) */
static rlim_t setup_nofile;        /* the shim's open-file limit for the next setup, 0: as is */

/* Stops the shim (SIGTERM), checks how it went, removes the temp dir. */
static int stop_and_check(struct relay_test *t)
{
    struct scripted *s = &t->s;
    int status = 0;
    bool exited = s->shim <= 0, removed, sanitizer;

    close_fd(&s->fe);
    close_fd(&s->be);
    close_fd(&s->be_listen);
    if (s->shim > 0) {
        kill(s->shim, SIGTERM);
        for (int waited = 0; waited < EXIT_WAIT_MS; waited += 10) {
            if (waitpid(s->shim, &status, WNOHANG) == s->shim) {
                exited = true;
                break;
            }
            usleep(10000);
        }
        if (!exited) {
            kill(s->shim, SIGKILL);
            waitpid(s->shim, &status, 0);
        }
        s->shim = 0;
    }
    removed = s->fe_path[0] && access(s->fe_path, F_OK) < 0 && errno == ENOENT;
    sanitizer = scripted_file_contains(s->log_path, "ERROR: AddressSanitizer") ||
                scripted_file_contains(s->log_path, "ERROR: LeakSanitizer") ||
                scripted_file_contains(s->log_path, "runtime error:");
    if (!t->done || !exited || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !removed ||
        sanitizer)
        dump_logs(s);
    rm_tree(s->dir);
    s->dir[0] = '\0';

    if (sanitizer)
        fail_msg("sanitizer report in the shim's log (printed above)");
    if (!exited)
        fail_msg("the shim did not exit within %d ms of SIGTERM", EXIT_WAIT_MS);
    if (WIFSIGNALED(status))
        fail_msg("the shim died of signal %d", WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("the shim exited %d on SIGTERM, expected 0", WEXITSTATUS(status));
    if (!removed)
        fail_msg("the shim left its front-end socket %s behind", s->fe_path);
    return 0;
}

/* Starts the shim with a scripted back-end listening; no peer connected. */
static int setup_idle(void **state)
{
    struct relay_test *t = &the_test;
    int rc, prev = -2;

    memset(t, 0, sizeof(*t));
    t->s.fe = t->s.be = t->s.be_listen = -1;
    *state = t;
    rc = scripted_start_limited(&t->s, "net", setup_extra, setup_nofile);
    setup_extra = NULL;
    setup_nofile = 0;
    if (rc) {
        if (t->s.shim <= 0 && t->s.be_listen == 0)
            t->s.be_listen = -1; /* failed before the listener existed */
        fprintf(stderr, "starting %s/vdpa-shim: %s\n", scripted_build_dir(), strerror(-rc));
        stop_and_check(t);
        return -1;
    }
    /* The idle fd count, once it holds still. */
    for (int i = 0; i < 20; i++) {
        t->fds_idle = fdcount_of(t->s.shim);
        if (t->fds_idle == prev)
            break;
        prev = t->fds_idle;
        usleep(20000);
    }
    if (t->fds_idle <= 0) {
        fprintf(stderr, "cannot count the shim's fds\n");
        stop_and_check(t);
        return -1;
    }
    return 0;
}

/* As setup_idle, and a session: front-end connected, back-end accepted. */
static int setup(void **state)
{
    struct relay_test *t;
    int rc;

    if (setup_idle(state))
        return -1;
    t = *state;
    rc = scripted_connect(&t->s);
    if (rc) {
        fprintf(stderr, "connecting the scripted peers: %s\n", strerror(-rc));
        stop_and_check(t);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    return stop_and_check(*state);
}

static int group_setup(void **state)
{
    char path[512];

    (void)state;
    snprintf(path, sizeof(path), "%s/vdpa-shim", scripted_build_dir());
    if (access(path, X_OK) < 0) {
        fprintf(stderr, "%s: %s (set BUILD to the build directory, run from the repo root)\n", path,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- 1. forwarding, replies and protocol-feature masking --------------------- */

static void forwarding_and_masking(void **state)
{
    struct relay_test *t = *state;
    uint64_t kept = VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |
                    VU_BIT(VU_PF_STATUS);
    uint64_t hidden = VU_BIT(VU_PF_PAGEFAULT) | VU_BIT(VU_PF_XEN_MMAP);
    struct vu_msg m;

    /* GET_FEATURES reaches the back-end unchanged; the reply comes back. */
    send_req(t->s.fe, VU_REQ_GET_FEATURES, 0);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_GET_FEATURES, REQ, 0, 0, &m);
    send_reply_u64(t->s.be, VU_REQ_GET_FEATURES, FEATURES);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_GET_FEATURES, REPLY, 8, 0, &m);
    assert_int_equal(m.payload.u64, UINT64_C(0x140000021));

    /* PAGEFAULT and XEN_MMAP need more than forwarding: hidden; the rest kept. */
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_PROTOCOL_FEATURES, kept | hidden), shown_pf(kept));
    assert_true(scripted_file_contains(t->s.trace_path,
                                       "be->fe GET_FEATURES reply features=0x0000000140000021"));

    /* Acking a hidden bit without NEED_REPLY: both sides are disconnected,
     * and the back-end never sees the request. */
    send_u64(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, kept | VU_BIT(VU_PF_PAGEFAULT), -1);
    expect_eof(t->s.fe, "front-end");
    expect_eof(t->s.be, "back-end");
    t->done = true;
}

/* ---- 2. fds go peer to peer ------------------------------------------------------ */

#define MEM_SIZE    65536u
#define PATTERN_AT  4096u
#define PATTERN_LEN 256u

static void fds_peer_to_peer(void **state)
{
    struct relay_test *t = *state;
    struct vu_mem_region region = {
        .guest_phys_addr = 0x100000,
        .memory_size = MEM_SIZE,
        .userspace_addr = 0x7f1234560000,
        .mmap_offset = 0,
    };
    uint8_t pattern[PATTERN_LEN];
    int mem = memfd_create("guest-ram", MFD_CLOEXEC);
    int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct stat mem_st, got_st;
    struct pollfd p;
    uint64_t v = 0, one = 1;
    struct vu_msg m;
    void *map;

    assert_true(mem >= 0);
    assert_true(kick >= 0);
    negotiate(t, VU_BIT(VU_PF_REPLY_ACK));

    /* SET_MEM_TABLE: one region, its memfd holds a known pattern. */
    for (unsigned i = 0; i < PATTERN_LEN; i++)
        pattern[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(ftruncate(mem, MEM_SIZE), 0);
    assert_int_equal(pwrite(mem, pattern, PATTERN_LEN, PATTERN_AT), PATTERN_LEN);
    assert_int_equal(fstat(mem, &mem_st), 0);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, VU_FLAG_NEED_REPLY);
    assert_int_equal(vu_msg_set_mem_table(&m, &region, 1), 0);
    assert_int_equal(vu_msg_add_fd(&m, fcntl(mem, F_DUPFD_CLOEXEC, 3)), 0);
    send_msg(t->s.fe, &m);

    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_SET_MEM_TABLE, REQ_NEED,
           VU_MEM_TABLE_HDR_SIZE + sizeof(struct vu_mem_region), 1, &m);
    assert_int_equal(m.payload.mem.nregions, 1);
    assert_int_equal(m.payload.mem.regions[0].guest_phys_addr, region.guest_phys_addr);
    assert_int_equal(m.payload.mem.regions[0].memory_size, region.memory_size);
    assert_int_equal(m.payload.mem.regions[0].userspace_addr, region.userspace_addr);
    assert_int_equal(m.payload.mem.regions[0].mmap_offset, region.mmap_offset);
    /* The very same memory: same inode, and the pattern is there. */
    assert_int_equal(fstat(m.fds[0], &got_st), 0);
    assert_int_equal(got_st.st_ino, mem_st.st_ino);
    map = mmap(NULL, MEM_SIZE, PROT_READ, MAP_SHARED, m.fds[0], 0);
    assert_true(map != MAP_FAILED);
    assert_memory_equal((uint8_t *)map + PATTERN_AT, pattern, PATTERN_LEN);
    munmap(map, MEM_SIZE);
    vu_msg_close_fds(&m);
    send_reply_u64(t->s.be, VU_REQ_SET_MEM_TABLE, 0);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_SET_MEM_TABLE, REPLY, 8, 0, &m);
    assert_int_equal(m.payload.u64, 0);

    /* SET_VRING_KICK: the back-end's fd is the front-end's eventfd. */
    send_u64(t->s.fe, VU_REQ_SET_VRING_KICK, 0, 0, kick);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_SET_VRING_KICK, REQ, 8, 1, &m);
    assert_int_equal(m.payload.u64, 0);
    assert_int_equal(write(m.fds[0], &one, sizeof(one)), sizeof(one));
    vu_msg_close_fds(&m);
    p = (struct pollfd){ .fd = kick, .events = POLLIN };
    assert_int_equal(poll(&p, 1, TIMEOUT_MS), 1);
    assert_int_equal(read(kick, &v, sizeof(v)), sizeof(v));
    assert_int_equal(v, 1);

    /* SET_VRING_CALL with NOFD: no fd on either side. */
    send_u64(t->s.fe, VU_REQ_SET_VRING_CALL, 0, 1 | VU_VRING_NOFD_MASK, -1);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_SET_VRING_CALL, REQ, 8, 0, &m);
    assert_int_equal(m.payload.u64, 1 | VU_VRING_NOFD_MASK);

    /* The front-end goes: the back-end is disconnected, nothing leaks. */
    close_fd(&t->s.fe);
    expect_eof(t->s.be, "back-end");
    close_fd(&t->s.be);
    expect_fds_idle(t);
    close(mem);
    close(kick);
    t->done = true;
}

/* ---- 3. a refused request answered with a REPLY_ACK failure ------------------ */

static void refused_with_reply_ack(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;

    negotiate(t, VU_BIT(VU_PF_REPLY_ACK));
    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, VU_FLAG_NEED_REPLY);
    vu_msg_set_state(&m, 300, 256); /* no such ring */
    send_msg(t->s.fe, &m);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_SET_VRING_NUM, REPLY, 8, 0, &m);
    assert_int_not_equal(m.payload.u64, 0);
    expect_quiet(t->s.be, "back-end", QUIET_MS);

    /* The session goes on, and its reply accounting is intact. */
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, VU_FLAG_NEED_REPLY);
    vu_msg_set_state(&m, 1, 256);
    send_msg(t->s.fe, &m);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_SET_VRING_NUM, REQ_NEED, 8, 0, &m);
    assert_int_equal(m.payload.state.index, 1);
    assert_int_equal(m.payload.state.num, 256);
    send_reply_u64(t->s.be, VU_REQ_SET_VRING_NUM, 0);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_SET_VRING_NUM, REPLY, 8, 0, &m);
    assert_int_equal(m.payload.u64, 0);
    t->done = true;
}

/* ---- 3b. the shim's own answers keep the order of the requests -------------- */

/* Replies on a vhost-user socket carry no request id: the front-end matches
 * them to its requests by order. A refusal the shim answers itself must not
 * overtake the reply to an earlier request still owed by the back-end.
 * (Once a bug: the refusal went out at once and the front-end read ERANGE
 * as the answer to ring 0. The shim now queues its own answers in order.) */
static void refusal_keeps_reply_order(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;

    negotiate(t, VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG));
    /* Pipelined: a good SET_VRING_NUM, then a bad one, both NEED_REPLY. */
    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, VU_FLAG_NEED_REPLY);
    vu_msg_set_state(&m, 0, 256);
    send_msg(t->s.fe, &m);
    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, VU_FLAG_NEED_REPLY);
    vu_msg_set_state(&m, 300, 256);
    send_msg(t->s.fe, &m);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_SET_VRING_NUM, REQ_NEED, 8, 0, &m);
    assert_int_equal(m.payload.state.index, 0);
    expect_quiet(t->s.be, "back-end", QUIET_MS);
    send_reply_u64(t->s.be, VU_REQ_SET_VRING_NUM, 0);
    /* First the back-end's success for ring 0, then the refusal of ring 300. */
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_SET_VRING_NUM, REPLY, 8, 0, &m);
    if (m.payload.u64 != 0)
        fail_msg("first SET_VRING_NUM reply is %" PRIu64 ", not the back-end's 0: the shim's "
                 "refusal of ring 300 overtook the reply owed for ring 0",
                 m.payload.u64);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_SET_VRING_NUM, REPLY, 8, 0, &m);
    assert_int_not_equal(m.payload.u64, 0);

    /* The same for GET_CONFIG's empty reply behind a pending GET_FEATURES. */
    send_req(t->s.fe, VU_REQ_GET_FEATURES, 0);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    assert_int_equal(vu_msg_set_config(&m, 20, 8, 0, NULL), 0);
    send_msg(t->s.fe, &m);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_GET_FEATURES, REQ, 0, 0, &m);
    expect_quiet(t->s.fe, "front-end (reply overtaking GET_FEATURES)", QUIET_MS);
    send_reply_u64(t->s.be, VU_REQ_GET_FEATURES, FEATURES);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_GET_FEATURES, REPLY, 8, 0, &m);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_GET_CONFIG, REPLY, 0, 0, &m);
    t->done = true;
}

/* ---- 4. a refused request without NEED_REPLY: disconnect, then a new session - */

static void refused_disconnects_then_new_session(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;

    negotiate(t, VU_BIT(VU_PF_REPLY_ACK));
    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 0);
    vu_msg_set_state(&m, 0, 256);
    m.hdr.size = 4; /* half a vring state */
    send_msg(t->s.fe, &m);
    expect_eof(t->s.fe, "front-end");
    expect_eof(t->s.be, "back-end");

    /* A new front-end connection gets a new back-end connection. */
    connect_session(t);
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_PROTOCOL_FEATURES, VU_BIT(VU_PF_MQ)),
                     shown_pf(VU_BIT(VU_PF_MQ)));
    t->done = true;
}

/* A legacy front-end acks STATUS and MQ, which the shim offered for
 * vdpa-user although the back-end has neither: the shim answers them, the
 * back-end never sees a request it did not agree to. */
static void shim_offered_features_in_pass_mode(void **state)
{
    struct relay_test *t = *state;
    const uint64_t be_pf = VU_BIT(VU_PF_REPLY_ACK);
    const uint64_t fe_pf = VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS) | VU_BIT(VU_PF_MQ);
    struct vu_msg m;

    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_PROTOCOL_FEATURES, be_pf), shown_pf(be_pf));
    send_u64(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, fe_pf, -1);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_SET_PROTOCOL_FEATURES, REQ, 8, 0, &m);
    assert_int_equal(m.payload.u64, be_pf); /* only what the back-end offered */

    send_u64(t->s.fe, VU_REQ_SET_STATUS, VU_FLAG_NEED_REPLY, 0x0f, -1);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_SET_STATUS, REPLY, 8, 0, &m);
    assert_int_equal(m.payload.u64, 0);
    send_req(t->s.fe, VU_REQ_GET_STATUS, 0);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_GET_STATUS, REPLY, 8, 0, &m);
    assert_int_equal(m.payload.u64, 0x0f);
    /* without MQ on the back-end: one queue pair */
    send_req(t->s.fe, VU_REQ_GET_QUEUE_NUM, 0);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_GET_QUEUE_NUM, REPLY, 8, 0, &m);
    assert_int_equal(m.payload.u64, 1);
    /* and ordinary requests still pass */
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    t->done = true;
}

/* Pass-through stays invisible to a legacy VMM: over a legacy back-end
 * without CONFIG the shim offers F_VDPA without CONFIG (F_VDPA implies it),
 * so a legacy front-end that acks CONFIG anyway acks a bit never shown and
 * is refused; the back-end sees nothing. */
static void legacy_ack_of_unshown_config_refused(void **state)
{
    struct relay_test *t = *state;
    const uint64_t be_pf = VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_MQ);
    uint64_t shown;

    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    shown = roundtrip_u64(t, VU_REQ_GET_PROTOCOL_FEATURES, be_pf);
    assert_true(shown & VU_BIT(VU_PF_VDPA));
    assert_false(shown & VU_BIT(VU_PF_CONFIG));
    send_u64(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, be_pf | VU_BIT(VU_PF_CONFIG), -1);
    expect_eof(t->s.fe, "front-end");
    expect_eof(t->s.be, "back-end");
    t->done = true;
}

/* vdpa-user pass-through, the back-end's own offer be_pf; the front-end acks
 * fe_pf and the back-end must be given be_ack. Then GET_CONFIG goes through
 * whether or not CONFIG was acked: F_VDPA implies it (docs/vdpa-user.md 2.2). */
static void vdpa_pass_config(struct relay_test *t, uint64_t be_pf, uint64_t fe_pf, uint64_t be_ack)
{
    const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    struct vu_msg m;
    uint64_t shown;

    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    shown = roundtrip_u64(t, VU_REQ_GET_PROTOCOL_FEATURES, be_pf);
    assert_true(shown & VU_BIT(VU_PF_VDPA));
    assert_false(shown & VU_BIT(VU_PF_CONFIG)); /* net: QEMU keeps its config */
    send_u64(t->s.fe, VU_REQ_SET_PROTOCOL_FEATURES, 0, fe_pf, -1);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_SET_PROTOCOL_FEATURES, REQ, 8, 0, &m);
    assert_int_equal(m.payload.u64, be_ack);

    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    assert_int_equal(vu_msg_set_config(&m, 0, 6, 0, NULL), 0);
    send_msg(t->s.fe, &m);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_GET_CONFIG, REQ, VU_CONFIG_HDR_SIZE + 6, 0,
           &m);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    assert_int_equal(vu_msg_set_config(&m, 0, 6, 0, mac), 0);
    send_msg(t->s.be, &m);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_GET_CONFIG, REPLY, VU_CONFIG_HDR_SIZE + 6,
           0, &m);
    assert_memory_equal(m.payload.config.data, mac, sizeof(mac));
    t->done = true;
}

#define VDPA_ACK (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS))

/* A front-end acks F_VDPA without CONFIG; the back-end does not show it. */
static void vdpa_pass_config_implied(void **state)
{
    vdpa_pass_config(*state, VDPA_ACK | VU_BIT(VU_PF_MQ), VDPA_ACK, VDPA_ACK);
}

/* A revision-1 front-end acks CONFIG with F_VDPA although nothing shows it:
 * accepted (implied); the back-end, which did not show it, is not given it. */
static void vdpa_pass_config_acked_unshown(void **state)
{
    vdpa_pass_config(*state, VDPA_ACK, VDPA_ACK | VU_BIT(VU_PF_CONFIG), VDPA_ACK);
}

/* A revision-1 back-end shows CONFIG and wants it acked with F_VDPA: the
 * shim, which hid it from the front-end, acks it on the front-end's behalf. */
static void vdpa_pass_config_for_rev1_backend(void **state)
{
    vdpa_pass_config(*state, VDPA_ACK | VU_BIT(VU_PF_CONFIG), VDPA_ACK,
                     VDPA_ACK | VU_BIT(VU_PF_CONFIG));
}

/* ---- 5. GET_CONFIG bounds ---------------------------------------------------------- */

static void get_config_bounds(void **state)
{
    struct relay_test *t = *state;
    const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    const uint8_t tail[6] = { 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02 };
    struct vu_msg m;

    negotiate(t, VU_BIT(VU_PF_CONFIG));

    /* 20 + 8 > 24: the spec's failure reply (size 0), the back-end sees nothing. */
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    assert_int_equal(vu_msg_set_config(&m, 20, 8, 0, NULL), 0);
    send_msg(t->s.fe, &m);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_GET_CONFIG, REPLY, 0, 0, &m);
    expect_quiet(t->s.be, "back-end", QUIET_MS);

    /* In bounds: forwarded, the back-end's reply comes back. */
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    assert_int_equal(vu_msg_set_config(&m, 0, 6, 0, NULL), 0);
    send_msg(t->s.fe, &m);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_GET_CONFIG, REQ, VU_CONFIG_HDR_SIZE + 6, 0,
           &m);
    assert_int_equal(m.payload.config.offset, 0);
    assert_int_equal(m.payload.config.size, 6);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    assert_int_equal(vu_msg_set_config(&m, 0, 6, 0, mac), 0);
    send_msg(t->s.be, &m);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_GET_CONFIG, REPLY, VU_CONFIG_HDR_SIZE + 6,
           0, &m);
    assert_int_equal(m.payload.config.offset, 0);
    assert_int_equal(m.payload.config.size, 6);
    assert_memory_equal(m.payload.config.data, mac, sizeof(mac));

    /* Exactly up to the end of config space (18 + 6 = 24) is in bounds. */
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    assert_int_equal(vu_msg_set_config(&m, NET_CONFIG_SIZE - 6, 6, 0, NULL), 0);
    send_msg(t->s.fe, &m);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_GET_CONFIG, REQ, VU_CONFIG_HDR_SIZE + 6, 0,
           &m);
    assert_int_equal(m.payload.config.offset, NET_CONFIG_SIZE - 6);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    assert_int_equal(vu_msg_set_config(&m, NET_CONFIG_SIZE - 6, 6, 0, tail), 0);
    send_msg(t->s.be, &m);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_GET_CONFIG, REPLY, VU_CONFIG_HDR_SIZE + 6,
           0, &m);
    assert_memory_equal(m.payload.config.data, tail, sizeof(tail));
    t->done = true;
}

/* ---- 6. a back-end message nobody asked for ------------------------------------ */

static void unsolicited_backend_reply(void **state)
{
    struct relay_test *t = *state;

    send_reply_u64(t->s.be, VU_REQ_GET_FEATURES, FEATURES);
    expect_eof(t->s.fe, "front-end"); /* and not the stray reply */
    expect_eof(t->s.be, "back-end");
    t->done = true;
}

/* ---- 7. the back-end channel, spliced by the shim ------------------------------ */

static void backend_channel_spliced(void **state)
{
    struct relay_test *t = *state;
    struct vu_vring_area area = { .u64 = 0, .size = 4096, .offset = 0 };
    struct stat fe_end, fe_other, be_end;
    int chan[2], be_chan;
    struct vu_msg m;

    negotiate(t, VU_BIT(VU_PF_BACKEND_REQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan), 0);
    assert_int_equal(fstat(chan[0], &fe_other), 0);
    assert_int_equal(fstat(chan[1], &fe_end), 0);
    vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, 0);
    assert_int_equal(vu_msg_add_fd(&m, chan[1]), 0); /* sent, then closed here */
    send_msg(t->s.fe, &m);

    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_SET_BACKEND_REQ_FD, REQ, 0, 1, &m);
    be_chan = m.fds[0];
    assert_int_equal(fstat(be_chan, &be_end), 0);
    assert_true(S_ISSOCK(be_end.st_mode));
    /* Not the front-end's socket (nor its peer): the shim's own. */
    assert_int_not_equal(be_end.st_ino, fe_end.st_ino);
    assert_int_not_equal(be_end.st_ino, fe_other.st_ino);

    /* CONFIG_CHANGE_MSG goes to the front-end; its ack comes back. */
    send_req(be_chan, VU_BREQ_CONFIG_CHANGE_MSG, VU_FLAG_NEED_REPLY);
    expect(chan[0], "front-end channel", VU_CHAN_BACKEND, VU_BREQ_CONFIG_CHANGE_MSG, REQ_NEED, 0, 0,
           &m);
    send_reply_u64(chan[0], VU_BREQ_CONFIG_CHANGE_MSG, 0);
    expect(be_chan, "back-end channel", VU_CHAN_BACKEND, VU_BREQ_CONFIG_CHANGE_MSG, REPLY, 8, 0,
           &m);
    assert_int_equal(m.payload.u64, 0);
    /* A failure answer passes unchanged too. */
    send_req(be_chan, VU_BREQ_CONFIG_CHANGE_MSG, VU_FLAG_NEED_REPLY);
    expect(chan[0], "front-end channel", VU_CHAN_BACKEND, VU_BREQ_CONFIG_CHANGE_MSG, REQ_NEED, 0, 0,
           &m);
    send_reply_u64(chan[0], VU_BREQ_CONFIG_CHANGE_MSG, 7);
    expect(be_chan, "back-end channel", VU_CHAN_BACKEND, VU_BREQ_CONFIG_CHANGE_MSG, REPLY, 8, 0,
           &m);
    assert_int_equal(m.payload.u64, 7);

    /* HOST_NOTIFIER was never negotiated: refused, never forwarded, and
     * without NEED_REPLY everything is disconnected. */
    vu_msg_init(&m, VU_BREQ_VRING_HOST_NOTIFIER_MSG, 0);
    assert_int_equal(vu_msg_set_payload(&m, &area, sizeof(area)), 0);
    assert_int_equal(vu_msg_add_fd(&m, eventfd(0, EFD_CLOEXEC)), 0);
    send_msg(be_chan, &m);
    expect_eof(t->s.fe, "front-end");
    expect_eof(t->s.be, "back-end");
    expect_eof(chan[0], "front-end channel");
    expect_eof(be_chan, "back-end channel");

    close_fd(&t->s.fe);
    close_fd(&t->s.be);
    close(be_chan);
    close(chan[0]);
    expect_fds_idle(t);
    t->done = true;
}

/* ---- 8. fds where none belong, too many fds; no fd leak ---------------------- */

static void unexpected_fds(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;

    /* One eventfd with GET_FEATURES, which carries none. */
    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    assert_int_equal(vu_msg_add_fd(&m, eventfd(0, EFD_CLOEXEC)), 0);
    send_msg(t->s.fe, &m);
    expect_eof(t->s.fe, "front-end");
    expect_eof(t->s.be, "back-end");
    close_fd(&t->s.fe);
    close_fd(&t->s.be);
    expect_fds_idle(t);

    /* Nine fds: more than any message may carry. */
    connect_session(t);
    send_with_many_fds(t->s.fe, VU_MAX_FDS + 1);
    expect_eof(t->s.fe, "front-end");
    expect_eof(t->s.be, "back-end");
    close_fd(&t->s.fe);
    close_fd(&t->s.be);
    expect_fds_idle(t);

    /* And the shim still serves. */
    connect_session(t);
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    t->done = true;
}

/* ---- 9. one front-end at a time ---------------------------------------------------- */

static void second_frontend_refused(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;
    int second = vu_connect_unix(t->s.fe_path);
    int rc;

    assert_true(second >= 0);
    rc = vu_recv_blocking(second, &m, 2000);
    if (rc == 0)
        vu_msg_close_fds(&m);
    close(second);
    assert_int_equal(rc, -ECONNRESET);
    expect_quiet(t->s.be_listen, "back-end listener (a second back-end connection)", QUIET_MS);
    /* The first session is unaffected. */
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    t->done = true;
}

/* ---- 10. the back-end is not there yet --------------------------------------------- */

static void backend_appears_later(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;

    /* Nothing listens at the back-end path. */
    close_fd(&t->s.be_listen);
    assert_int_equal(unlink(t->s.be_path), 0);

    t->s.fe = vu_connect_unix(t->s.fe_path);
    assert_true(t->s.fe >= 0);
    send_req(t->s.fe, VU_REQ_GET_FEATURES, 0);
    /* The request is held (no answer, no disconnect) while the shim retries. */
    expect_quiet(t->s.fe, "front-end", 500);

    t->s.be_listen = vu_listen_unix(t->s.be_path, 0600);
    assert_true(t->s.be_listen >= 0);
    t->s.be = accept_backend(t, 2 * TIMEOUT_MS);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_GET_FEATURES, REQ, 0, 0, &m);
    send_reply_u64(t->s.be, VU_REQ_GET_FEATURES, FEATURES);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_GET_FEATURES, REPLY, 8, 0, &m);
    assert_int_equal(m.payload.u64, FEATURES);
    t->done = true;
}

/* ---- 10b. a back-end slow to accept does not freeze the shim ----------------- */

/* (Once a bug: a blocking connect() to a back-end whose accept queue was
 * full froze the whole event loop, SIGTERM included. The shim now connects
 * without blocking and retries on EAGAIN.) */

/* A listening socket at path whose accept queue holds one connection. */
static int listen_backlog0(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 0), 0);
    return fd;
}

static void backend_accept_queue_full(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;
    int filler, second, rc;

    close_fd(&t->s.be_listen);
    assert_int_equal(unlink(t->s.be_path), 0);
    t->s.be_listen = listen_backlog0(t->s.be_path);
    filler = vu_connect_unix(t->s.be_path); /* the accept queue is full now */
    assert_true(filler >= 0);

    t->s.fe = vu_connect_unix(t->s.fe_path);
    assert_true(t->s.fe >= 0);
    send_req(t->s.fe, VU_REQ_GET_FEATURES, 0);
    usleep(200000);
    /* The shim still serves its sockets: a second front-end is refused. */
    second = vu_connect_unix(t->s.fe_path);
    assert_true(second >= 0);
    rc = vu_recv_blocking(second, &m, 2000);
    if (rc == 0)
        vu_msg_close_fds(&m);
    close(second);
    if (rc == -ETIMEDOUT)
        fail_msg("the shim did not refuse a second front-end within 2 s: its event loop is "
                 "stuck (in connect() to the back-end, whose accept queue is full)");
    assert_int_equal(rc, -ECONNRESET);

    /* Room in the queue: the shim's connection arrives and the request with it. */
    close(accept_backend(t, TIMEOUT_MS));
    close(filler);
    t->s.be = accept_backend(t, 2 * TIMEOUT_MS);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_GET_FEATURES, REQ, 0, 0, &m);
    send_reply_u64(t->s.be, VU_REQ_GET_FEATURES, FEATURES);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_GET_FEATURES, REPLY, 8, 0, &m);
    assert_int_equal(m.payload.u64, FEATURES);
    t->done = true;
}

/* ---- 11. command-line errors ---------------------------------------------------------- */

/* Runs the binary with args (NULL-terminated); stdout and stderr land in out
 * and err. Returns the exit status, or -1 if it did not exit within 5 s. */
static int run_cli(const char *const *args, char *out, size_t outlen, char *err, size_t errlen)
{
    char shim[512];
    const char *argv[16];
    int fo = memfd_create("stdout", MFD_CLOEXEC), fe = memfd_create("stderr", MFD_CLOEXEC);
    int status = 0, n = 0;
    bool exited = false;
    ssize_t len;
    pid_t pid;

    assert_true(fo >= 0 && fe >= 0);
    snprintf(shim, sizeof(shim), "%s/vdpa-shim", scripted_build_dir());
    argv[n++] = shim;
    while (*args && n < 15)
        argv[n++] = *args++;
    argv[n] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fo, 1);
        dup2(fe, 2);
        execv(shim, (char *const *)argv);
        _exit(127);
    }
    for (int waited = 0; waited < EXIT_WAIT_MS; waited += 10) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            break;
        }
        usleep(10000);
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    len = pread(fo, out, outlen - 1, 0);
    out[len > 0 ? len : 0] = '\0';
    len = pread(fe, err, errlen - 1, 0);
    err[len > 0 ? len : 0] = '\0';
    close(fo);
    close(fe);
    if (!exited || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void expect_cli(const char *const *args, int want_status, const char *want_out,
                       const char *want_err)
{
    char out[16384], err[4096];
    int status = run_cli(args, out, sizeof(out), err, sizeof(err));

    if (status != want_status || (want_out && !strstr(out, want_out)) ||
        (want_err && !strstr(err, want_err)) || (!want_out && out[0]))
        fail_msg("vdpa-shim %s%s%s: exit %d (expected %d)\n--- stdout:\n%s\n--- stderr:\n%s",
                 args[0], args[1] ? " " : "", args[1] ? args[1] : "", status, want_status, out,
                 err);
}

static void cli_errors(void **state)
{
    char dir[] = "/tmp/vdpa-shim-cli.XXXXXX";
    char dev_nobackend[256], dev_foo[256];

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(dev_nobackend, sizeof(dev_nobackend), "type=net,frontend=%s/a", dir);
    snprintf(dev_foo, sizeof(dev_foo), "type=foo,frontend=%s/a,backend=%s/b", dir, dir);
    {
        const char *args[] = { "--device", dev_nobackend, NULL };
        expect_cli(args, 2, NULL, "backend=");
    }
    {
        const char *args[] = { "--device", dev_foo, NULL };
        expect_cli(args, 2, NULL, "type=foo");
    }
    {
        const char *args[] = { "--bogus", NULL };
        expect_cli(args, 2, NULL, "--bogus");
    }
    {
        const char *args[] = { "--help", NULL };
        expect_cli(args, 0, "frontend-mode", NULL);
    }
    {
        const char *args[] = { "--version", NULL };
#ifdef VDPA_SHIM_VERSION
        expect_cli(args, 0, "vdpa-shim " VDPA_SHIM_VERSION, NULL);
#else
        expect_cli(args, 0, "vdpa-shim ", NULL);
#endif
    }
    /* None of them created a socket. */
    assert_int_equal(rmdir(dir), 0);
}

/* ---- 12. isolation: own sockets, reply-timeout=, the fd budget, backend-uid= ------- */

#define ISO_PF         (VU_BIT(VU_PF_BACKEND_REQ) | VU_BIT(VU_PF_REPLY_ACK))
#define ISO_TIMEOUT_MS 500 /* reply-timeout= of the time-out tests */
#define ISO_SLACK_MS   100 /* poll and scheduling slack under the time-out */
#define ISO_NOFILE     128 /* the shim's open-file limit in the budget test */
#define ISO_RINGS      200 /* more rings than that limit allows */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void expect_log(struct relay_test *t, const char *text)
{
    if (!scripted_file_contains(t->s.log_path, text))
        fail_msg("the shim's log does not say \"%s\"", text);
}

/* SET_BACKEND_REQ_FD carrying a duplicate of the front-end's own socket. */
static void send_own_socket_as_channel(struct relay_test *t, uint32_t flags)
{
    struct vu_msg m;

    vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, flags);
    assert_int_equal(vu_msg_add_fd(&m, fcntl(t->s.fe, F_DUPFD_CLOEXEC, 3)), 0);
    send_msg(t->s.fe, &m);
}

/* The front-end's own socket as its back-end channel would keep its
 * connection open after it exits: refused (a failed ack when asked for,
 * else a disconnect); when the front-end goes, the session ends and the
 * next front-end is served. */
static void own_socket_as_channel_refused(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;

    negotiate(t, ISO_PF);
    /* as a ring's call fd (the journal would keep a copy): refused too */
    send_u64(t->s.fe, VU_REQ_SET_VRING_CALL, VU_FLAG_NEED_REPLY, 0, t->s.fe);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_SET_VRING_CALL, REPLY, 8, 0, &m);
    assert_int_not_equal(m.payload.u64, 0);
    expect_quiet(t->s.be, "back-end", QUIET_MS);
    send_own_socket_as_channel(t, VU_FLAG_NEED_REPLY);
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_SET_BACKEND_REQ_FD, REPLY, 8, 0, &m);
    assert_int_equal(m.payload.u64, EPERM);
    expect_quiet(t->s.be, "back-end", QUIET_MS);
    expect_log(t, "connected to the shim itself");
    /* the front-end exits: the back-end is let go, a new front-end served */
    close_fd(&t->s.fe);
    expect_eof(t->s.be, "back-end");
    connect_session(t);
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);

    /* without NEED_REPLY: both disconnected at once */
    negotiate(t, ISO_PF);
    send_own_socket_as_channel(t, 0);
    expect_eof(t->s.fe, "front-end");
    expect_eof(t->s.be, "back-end");
    close_fd(&t->s.fe);
    close_fd(&t->s.be);
    expect_fds_idle(t);
    connect_session(t);
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    t->done = true;
}

static int setup_reply_timeout(void **state)
{
    setup_extra = "reply-timeout=500ms";
    return setup(state);
}

/* Both peers disconnected no sooner than the time-out, and within the
 * test's own time-out; then a new session is served. */
static void expect_timed_out(struct relay_test *t, uint64_t since)
{
    uint64_t took;

    expect_eof(t->s.fe, "front-end");
    took = now_ms() - since;
    if (took + ISO_SLACK_MS < ISO_TIMEOUT_MS)
        fail_msg("the session ended after %" PRIu64 " ms, before reply-timeout=%d ms", took,
                 ISO_TIMEOUT_MS);
    expect_eof(t->s.be, "back-end");
    close_fd(&t->s.fe);
    close_fd(&t->s.be);
    connect_session(t);
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
}

/* A slow back-end that answers within the time-out each time is served; an
 * idle session is never ended; a silent one is, naming the request. */
static void silent_backend_timed_out(void **state)
{
    struct relay_test *t = *state;
    struct vu_msg m;
    uint64_t since;

    for (int i = 0; i < 3; i++) { /* 3 x 300 ms: longer than the time-out in all */
        send_req(t->s.fe, VU_REQ_GET_FEATURES, 0);
        expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_GET_FEATURES, REQ, 0, 0, &m);
        usleep(3 * ISO_TIMEOUT_MS / 5 * 1000);
        send_reply_u64(t->s.be, VU_REQ_GET_FEATURES, FEATURES);
        expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_GET_FEATURES, REPLY, 8, 0, &m);
    }
    expect_quiet(t->s.fe, "front-end (idle session)", 2 * ISO_TIMEOUT_MS);

    send_req(t->s.fe, VU_REQ_GET_PROTOCOL_FEATURES, 0);
    expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_GET_PROTOCOL_FEATURES, REQ, 0, 0, &m);
    since = now_ms();
    expect_timed_out(t, since);
    expect_log(t, "back-end did not answer GET_PROTOCOL_FEATURES for");
    expect_log(t, "back-end did not answer GET_PROTOCOL_FEATURES within 500 ms");
    t->done = true;
}

/* Half a header from either peer has the same bound. */
static void half_message_timed_out(void **state)
{
    struct relay_test *t = *state;
    static const uint8_t half[VU_HDR_SIZE / 2] = { VU_REQ_GET_FEATURES };
    uint64_t since;

    assert_int_equal(write(t->s.be, half, sizeof(half)), (ssize_t)sizeof(half));
    since = now_ms();
    expect_timed_out(t, since);
    expect_log(t, "back-end sent part of a message and not the rest within 500 ms");

    assert_int_equal(write(t->s.fe, half, sizeof(half)), (ssize_t)sizeof(half));
    since = now_ms();
    expect_timed_out(t, since);
    expect_log(t, "front-end sent part of a message and not the rest within 500 ms");
    t->done = true;
}

static int setup_few_fds(void **state)
{
    setup_nofile = ISO_NOFILE;
    return setup(state);
}

/* One ring's SET_VRING_CALL with NEED_REPLY: 0 when the back-end got it
 * (and acked), else the failure the front-end was answered with. */
static uint64_t set_call(struct relay_test *t, uint32_t ring, int efd)
{
    struct pollfd p[2] = { { .fd = t->s.be, .events = POLLIN },
                           { .fd = t->s.fe, .events = POLLIN } };
    struct vu_msg m;

    send_u64(t->s.fe, VU_REQ_SET_VRING_CALL, VU_FLAG_NEED_REPLY, ring, efd);
    if (poll(p, 2, TIMEOUT_MS) <= 0)
        fail_msg("ring %u: neither peer heard anything", ring);
    if (p[0].revents) {
        expect(t->s.be, "back-end", VU_CHAN_FRONTEND, VU_REQ_SET_VRING_CALL, REQ_NEED, 8, 1, &m);
        vu_msg_close_fds(&m);
        send_reply_u64(t->s.be, VU_REQ_SET_VRING_CALL, 0);
    }
    expect(t->s.fe, "front-end", VU_CHAN_FRONTEND, VU_REQ_SET_VRING_CALL, REPLY, 8, 0, &m);
    return m.payload.u64;
}

/* With a small open-file limit, a session that sets a call fd on ring
 * after ring is refused (EMFILE, the limit named) once it reaches its
 * share, instead of the shim running out of fds; it goes on working, and
 * replacing a ring's fd is still fine. */
static void fd_budget_refusal(void **state)
{
    struct relay_test *t = *state;
    int efd = eventfd(0, EFD_CLOEXEC);
    uint32_t refused_at = 0;
    uint64_t v;

    assert_true(efd >= 0);
    negotiate(t, VU_BIT(VU_PF_REPLY_ACK));
    for (uint32_t ring = 0; ring < ISO_RINGS && !refused_at; ring++) {
        v = set_call(t, ring, efd);
        if (v == 0)
            continue;
        assert_int_equal(v, EMFILE);
        refused_at = ring;
    }
    if (refused_at < VU_MAX_FDS || refused_at >= ISO_NOFILE)
        fail_msg("refused at ring %u", refused_at);
    expect_log(t, "share of the open-file limit");
    assert_int_equal(set_call(t, 0, efd), 0);               /* same slot: no more fds */
    assert_int_equal(set_call(t, refused_at, efd), EMFILE); /* still full */
    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    close(efd);
    t->done = true;
}

static int setup_backend_uid(void **state)
{
    static char extra[64];

    snprintf(extra, sizeof(extra), "backend-uid=%u", (unsigned)getuid() + 4242);
    setup_extra = extra;
    return setup_idle(state);
}

/* backend-uid=: a back-end of another user gets nothing, the front-end is
 * let go; one of the right user is served and logged with its pid. */
static void backend_uid_refused(void **state)
{
    struct relay_test *t = *state;

    t->s.fe = vu_connect_unix(t->s.fe_path);
    assert_true(t->s.fe >= 0);
    t->s.be = accept_backend(t, TIMEOUT_MS);
    expect_eof(t->s.be, "back-end");
    expect_eof(t->s.fe, "front-end");
    expect_log(t, "refused a back-end running as uid");
    expect_log(t, "backend-uid=");
    t->done = true;
}

static int setup_backend_uid_self(void **state)
{
    static char extra[64];

    snprintf(extra, sizeof(extra), "backend-uid=%u", (unsigned)getuid());
    setup_extra = extra;
    return setup(state);
}

static void backend_uid_served(void **state)
{
    struct relay_test *t = *state;

    assert_int_equal(roundtrip_u64(t, VU_REQ_GET_FEATURES, FEATURES), FEATURES);
    expect_log(t, "back-end process pid");
    t->done = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(forwarding_and_masking, setup, teardown),
        cmocka_unit_test_setup_teardown(fds_peer_to_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_with_reply_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(refusal_keeps_reply_order, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_disconnects_then_new_session, setup, teardown),
        cmocka_unit_test_setup_teardown(shim_offered_features_in_pass_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(legacy_ack_of_unshown_config_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(vdpa_pass_config_implied, setup, teardown),
        cmocka_unit_test_setup_teardown(vdpa_pass_config_acked_unshown, setup, teardown),
        cmocka_unit_test_setup_teardown(vdpa_pass_config_for_rev1_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(get_config_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(unsolicited_backend_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(backend_channel_spliced, setup, teardown),
        cmocka_unit_test_setup_teardown(unexpected_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(second_frontend_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(backend_appears_later, setup_idle, teardown),
        cmocka_unit_test_setup_teardown(backend_accept_queue_full, setup_idle, teardown),
        cmocka_unit_test(cli_errors),
        cmocka_unit_test_setup_teardown(own_socket_as_channel_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(silent_backend_timed_out, setup_reply_timeout, teardown),
        cmocka_unit_test_setup_teardown(half_message_timed_out, setup_reply_timeout, teardown),
        cmocka_unit_test_setup_teardown(fd_budget_refusal, setup_few_fds, teardown),
        cmocka_unit_test_setup_teardown(backend_uid_refused, setup_backend_uid, teardown),
        cmocka_unit_test_setup_teardown(backend_uid_served, setup_backend_uid_self, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("relay", tests, group_setup, NULL);
}
