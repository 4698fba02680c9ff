/* SPDX-License-Identifier: MIT */
/*
 * Boundary validation: every rule, good and bad, mostly table-driven. Each
 * message under test carries real fds of the kind its row wants (eventfds,
 * memfds, sockets; eventfds and memfds in turn where any kind goes): a
 * refused message must leave every one of them closed and the message empty;
 * an accepted one keeps exactly its own (REM_MEM_REG's tolerated fd aside).
 * Every fd-carrying row is also sent every wrong kind of fd.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "fdcount.h"
#include "validate.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Every protocol feature the project knows, bits 0..19 (not F_VDPA). */
#define PF_ALL_KNOWN (VU_BIT(VU_PF_COUNT_KNOWN) - 1)
#define PF_VDPA      VU_BIT(VU_PF_VDPA)
#define F_PROTOCOL   VU_BIT(VU_F_PROTOCOL_FEATURES)

static struct vu_session_limits limits(uint64_t protocol_features)
{
    struct vu_session_limits l = {
        .offered_features = F_PROTOCOL | VU_BIT(32),
        .features_known = true,
        .protocol_features = protocol_features,
        .max_queues = 4,
        .config_size = 24,
    };
    return l;
}

/* ---- messages and fds --------------------------------------------------- */

static void fresh(struct vu_msg *m, uint32_t request, uint32_t flags)
{
    memset(m, 0, sizeof(*m));
    vu_msg_init(m, request, flags);
}

static int socket_fd(void)
{
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[1]);
    return sv[0];
}

/* A real fd of the kind a row wants; eventfds and memfds in turn where any
 * kind goes. */
static int new_fd(unsigned i, enum vu_fd_kind kind)
{
    int fd;

    switch (kind) {
    case VU_FDK_EVENTFD:
        fd = eventfd(0, EFD_CLOEXEC);
        break;
    case VU_FDK_MEMORY:
        fd = memfd_create("validate-test", MFD_CLOEXEC);
        break;
    case VU_FDK_SOCKET:
        fd = socket_fd();
        break;
    default:
        fd = i % 2 ? memfd_create("validate-test", MFD_CLOEXEC) : eventfd(0, EFD_CLOEXEC);
        break;
    }
    assert_true(fd >= 0);
    return fd;
}

/* An fd of another kind in one slot of the next message (fd_kinds_* tests). */
static struct {
    int slot; /* -1: none */
    int (*make)(void);
} forced = { -1, NULL };

static void attach_fds(struct vu_msg *m, int *fds, unsigned n, enum vu_fd_kind kind)
{
    assert_true(n <= VU_MAX_FDS);
    for (unsigned i = 0; i < n; i++) {
        fds[i] = (int)i == forced.slot ? forced.make() : new_fd(i, kind);
        assert_true(fds[i] >= 0);
        assert_int_equal(vu_msg_add_fd(m, fds[i]), 0);
    }
}

/* The fate of a validated message's fds. On failure: all closed, the message
 * holds none. On success: all still open and in their slots, unless the
 * request's rule is to discard them. Then the fd count is as before. */
static void check_fd_fate(const char *file, int line, const char *what, int rc, struct vu_msg *m,
                          const int *fds, unsigned n, bool discarded, int fds_before)
{
    bool ok = true;

    if (rc != 0 || discarded) {
        for (unsigned i = 0; i < n; i++) {
            if (!fd_is_closed(fds[i])) {
                fprintf(stderr, "%s:%d: %s: fd %d (#%u of %u) left open\n", file, line, what,
                        fds[i], i, n);
                ok = false;
            }
        }
        for (unsigned i = 0; i < VU_MAX_FDS; i++)
            ok = ok && m->fds[i] == -1;
        ok = ok && m->nfds == 0;
    } else {
        for (unsigned i = 0; i < n; i++)
            ok = ok && fd_is_open(fds[i]) && m->fds[i] == fds[i];
        ok = ok && m->nfds == n;
        vu_msg_close_fds(m);
    }
    if (!ok) {
        fprintf(stderr, "%s:%d: %s: fds not as expected (rc %d, nfds %u)\n", file, line, what, rc,
                m->nfds);
        _fail(file, line);
    }
    if (fdcount() != fds_before) {
        fdcount_dump(what);
        fprintf(stderr, "%s:%d: %s: %d fds open, %d before\n", file, line, what, fdcount(),
                fds_before);
        _fail(file, line);
    }
}

/* The error text of the last expect_request. */
static struct vu_error last_error;

/* Validates a request carrying nfds fresh fds; checks the result, desc_out,
 * the error text and the fds' fate. */
static void expect_request_at(const char *file, int line, const char *what,
                              const struct vu_session_limits *l, enum vu_channel ch,
                              struct vu_msg *m, unsigned nfds, int want)
{
    const struct vu_msg_desc *row = vu_msg_desc_lookup(ch, m->hdr.request);
    const struct vu_msg_desc *d = (const void *)&d; /* not a row: must be overwritten */
    struct vu_error err;
    int before = fdcount(), fds[VU_MAX_FDS], rc;

    memset(err.text, 'x', sizeof(err.text) - 1);
    err.text[sizeof(err.text) - 1] = '\0';
    attach_fds(m, fds, nfds, row ? row->fd_kind : VU_FDK_ANY);
    rc = vu_validate_request(l, ch, m, &d, &err);
    last_error = err;
    if (rc != want) {
        fprintf(stderr, "%s:%d: %s: %s request %s (%u) with %u fds: got %d (%s), want %d\n", file,
                line, what, ch == VU_CHAN_FRONTEND ? "front-end" : "back-end",
                vu_request_name(ch, m->hdr.request), m->hdr.request, nfds, rc, err.text, want);
        vu_msg_close_fds(m);
        _fail(file, line);
    }
    if (d != row) {
        fprintf(stderr, "%s:%d: %s: desc_out is not the table row\n", file, line, what);
        _fail(file, line);
    }
    if (rc) {
        /* a clear error naming the request, not an empty or stale one */
        if (err.text[0] == '\0' || err.text[0] == 'x' || (row && !strstr(err.text, row->name))) {
            fprintf(stderr, "%s:%d: %s: error text \"%s\"\n", file, line, what, err.text);
            _fail(file, line);
        }
    } else if (err.text[0] != '\0') {
        fprintf(stderr, "%s:%d: %s: error text \"%s\" on success\n", file, line, what, err.text);
        _fail(file, line);
    }
    check_fd_fate(file, line, what, rc, m, fds, nfds, rc == 0 && row && row->fds == VU_FDS_DISCARD,
                  before);
}

#define expect_request(what, l, ch, m, nfds, want)                                                 \
    expect_request_at(__FILE__, __LINE__, what, l, ch, m, nfds, want)

/* ---- message shapes for the tables ---------------------------------------- */

enum shape {
    P_NONE,   /* no payload */
    P_SIZE,   /* a zero payload of a bytes */
    P_U64,    /* u64 a */
    P_STATE,  /* vring state: index a, num b */
    P_ADDR,   /* vring addr: index a */
    P_CONFIG, /* config access: offset a, size b, flags c */
    P_AREA,   /* vring area: u64 a */
    P_MEM,    /* memory table of a sane regions */
    P_SINGLE, /* one sane region */
};

struct req_case {
    const char *what;
    enum vu_channel ch;
    uint32_t request;
    enum shape shape;
    uint64_t a, b, c;
    unsigned nfds;
    int want;
};

#define FE VU_CHAN_FRONTEND
#define BE VU_CHAN_BACKEND

static struct vu_mem_region sane_region(unsigned i)
{
    struct vu_mem_region r = {
        .guest_phys_addr = 0x40000000ull * i,
        .memory_size = 0x40000000ull,
        .userspace_addr = 0x7f0000000000ull + 0x40000000ull * i,
        .mmap_offset = 0,
    };
    return r;
}

static void build(struct vu_msg *m, uint32_t request, uint32_t flags, enum shape shape, uint64_t a,
                  uint64_t b, uint64_t c)
{
    struct vu_mem_region r[VU_MAX_MEM_REGIONS];
    struct vu_vring_addr addr = { 0, 0, 0x1000, 0x2000, 0x3000, 0 };
    struct vu_vring_area area = { a, 0x1000, 0 };

    fresh(m, request, flags);
    switch (shape) {
    case P_NONE:
        break;
    case P_SIZE:
        m->hdr.size = (uint32_t)a;
        break;
    case P_U64:
        vu_msg_set_u64(m, a);
        break;
    case P_STATE:
        vu_msg_set_state(m, (uint32_t)a, (uint32_t)b);
        break;
    case P_ADDR:
        addr.index = (uint32_t)a;
        vu_msg_set_addr(m, &addr);
        break;
    case P_CONFIG:
        assert_int_equal(vu_msg_set_config(m, (uint32_t)a, (uint32_t)b, (uint32_t)c, NULL), 0);
        break;
    case P_AREA:
        assert_int_equal(vu_msg_set_payload(m, &area, sizeof(area)), 0);
        break;
    case P_MEM:
        for (unsigned i = 0; i < VU_MAX_MEM_REGIONS; i++)
            r[i] = sane_region(i);
        assert_int_equal(vu_msg_set_mem_table(m, r, (uint32_t)a), 0);
        break;
    case P_SINGLE:
        m->payload.mem_single.region = sane_region(1);
        m->hdr.size = sizeof(struct vu_mem_single);
        break;
    }
}

static void run_cases_at(const char *file, int line, const struct vu_session_limits *l,
                         const struct req_case *cases, size_t n)
{
    struct vu_msg m;

    for (size_t i = 0; i < n; i++) {
        const struct req_case *c = &cases[i];
        build(&m, c->request, 0, c->shape, c->a, c->b, c->c);
        expect_request_at(file, line, c->what, l, c->ch, &m, c->nfds, c->want);
    }
}

#define run_cases(l, cases) run_cases_at(__FILE__, __LINE__, l, cases, ARRAY_SIZE(cases))

/* ---- header and request number ------------------------------------------- */

static void unknown_requests(void **state)
{
    struct vu_session_limits l = limits(PF_ALL_KNOWN | PF_VDPA);
    static const struct req_case cases[] = {
        { "request 0", FE, 0, P_NONE, 0, 0, 0, 2, -EOPNOTSUPP },
        { "one past CHECK_DEVICE_STATE", FE, 44, P_NONE, 0, 0, 0, 1, -EOPNOTSUPP },
        { "reserved vdpa id 0x171", FE, 0x171, P_NONE, 0, 0, 0, 1, -EOPNOTSUPP },
        { "reserved vdpa id 0x17A", FE, 0x17A, P_U64, 0, 0, 0, 1, -EOPNOTSUPP },
        { "reserved vdpa id 0x17F", FE, 0x17F, P_NONE, 0, 0, 0, 0, -EOPNOTSUPP },
        { "reserved vdpa id 0x181", FE, 0x181, P_NONE, 0, 0, 0, 8, -EOPNOTSUPP },
        { "all ones", FE, UINT32_MAX, P_NONE, 0, 0, 0, 3, -EOPNOTSUPP },
        { "back-end 0", BE, 0, P_NONE, 0, 0, 0, 1, -EOPNOTSUPP },
        { "back-end 9", BE, 9, P_NONE, 0, 0, 0, 2, -EOPNOTSUPP },
        { "a front-end number on the back-end channel", BE, VU_REQ_GET_CONFIG, P_NONE, 0, 0, 0, 1,
          -EOPNOTSUPP },
    };
    const struct vu_msg_desc *d = (const void *)&d;
    struct vu_msg m;

    (void)state;
    run_cases(&l, cases);
    /* err may be NULL; desc_out is still set (to NULL here) */
    fresh(&m, 0x1ff, 0);
    assert_int_equal(vu_validate_request(&l, FE, &m, &d, NULL), -EOPNOTSUPP);
    assert_null(d);
}

static void header_flags(void **state)
{
    struct vu_session_limits l = limits(PF_ALL_KNOWN);
    static const struct {
        uint32_t flags;
        int want;
    } cases[] = {
        { VU_VERSION, 0 },
        { VU_VERSION | VU_FLAG_NEED_REPLY, 0 },
        { 0, -EPROTO }, /* version 0 */
        { 2, -EPROTO }, /* version 2 */
        { 3, -EPROTO }, /* version 3 */
        { 2 | VU_FLAG_NEED_REPLY, -EPROTO },
        { VU_VERSION | VU_FLAG_REPLY, -EPROTO }, /* a reply is no request */
        { VU_VERSION | VU_FLAG_REPLY | VU_FLAG_NEED_REPLY, -EPROTO },
        { VU_VERSION | 0x10, -EPROTO }, /* unknown bits */
        { VU_VERSION | 0x20, -EPROTO },
        { VU_VERSION | VU_FLAG_NEED_REPLY | 0x100, -EPROTO },
        { VU_VERSION | 0x80000000u, -EPROTO },
    };
    struct vu_msg m;
    char what[64];

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        snprintf(what, sizeof(what), "flags 0x%x", cases[i].flags);
        /* GET_FEATURES takes no fds: the flags are checked before the fd
         * count, so a refused one still has its fds closed. */
        fresh(&m, VU_REQ_GET_FEATURES, 0);
        m.hdr.flags = cases[i].flags;
        expect_request(what, &l, FE, &m, cases[i].want ? 2 : 0, cases[i].want);
        fresh(&m, VU_REQ_SET_VRING_CALL, 0);
        vu_msg_set_u64(&m, 1);
        m.hdr.flags = cases[i].flags;
        expect_request(what, &l, FE, &m, 1, cases[i].want);
        fresh(&m, VU_BREQ_VRING_CALL, 0);
        vu_msg_set_state(&m, 1, 0);
        m.hdr.flags = cases[i].flags;
        expect_request(what, &l, BE, &m, cases[i].want ? 1 : 0, cases[i].want);
    }

    assert_true(vu_header_flags_ok(VU_VERSION, false));
    assert_true(vu_header_flags_ok(VU_VERSION | VU_FLAG_NEED_REPLY, false));
    assert_false(vu_header_flags_ok(VU_VERSION | VU_FLAG_REPLY, false));
    assert_true(vu_header_flags_ok(VU_VERSION | VU_FLAG_REPLY, true));
    assert_false(vu_header_flags_ok(VU_VERSION, true));
    assert_false(vu_header_flags_ok(VU_VERSION | VU_FLAG_REPLY | VU_FLAG_NEED_REPLY, true));
    assert_false(vu_header_flags_ok(2 | VU_FLAG_REPLY, true));
    assert_false(vu_header_flags_ok(VU_VERSION | VU_FLAG_REPLY | 0x10, true));
}

/* ---- payload sizes ------------------------------------------------------- */

static void payload_sizes(void **state)
{
    struct vu_session_limits l = limits(PF_ALL_KNOWN);
    static const struct req_case cases[] = {
        /* EXACT 0 */
        { "no payload", FE, VU_REQ_GET_FEATURES, P_SIZE, 0, 0, 0, 0, 0 },
        { "no payload, 1 byte", FE, VU_REQ_GET_FEATURES, P_SIZE, 1, 0, 0, 0, -EBADMSG },
        { "no payload, 8 bytes", FE, VU_REQ_GET_FEATURES, P_SIZE, 8, 0, 0, 0, -EBADMSG },
        /* EXACT 8: u64 */
        { "u64", FE, VU_REQ_SET_FEATURES, P_SIZE, 8, 0, 0, 0, 0 },
        { "u64, 0 bytes", FE, VU_REQ_SET_FEATURES, P_SIZE, 0, 0, 0, 0, -EBADMSG },
        { "u64, 4 bytes", FE, VU_REQ_SET_FEATURES, P_SIZE, 4, 0, 0, 0, -EBADMSG },
        { "u64, 7 bytes", FE, VU_REQ_SET_FEATURES, P_SIZE, 7, 0, 0, 0, -EBADMSG },
        { "u64, 9 bytes", FE, VU_REQ_SET_FEATURES, P_SIZE, 9, 0, 0, 0, -EBADMSG },
        { "u64 with an fd, 16 bytes", FE, VU_REQ_SET_VRING_KICK, P_SIZE, 16, 0, 0, 1, -EBADMSG },
        /* EXACT 8: vring state */
        { "state", FE, VU_REQ_SET_VRING_NUM, P_SIZE, 8, 0, 0, 0, 0 },
        { "state, 4 bytes", FE, VU_REQ_SET_VRING_NUM, P_SIZE, 4, 0, 0, 0, -EBADMSG },
        { "state, 12 bytes", FE, VU_REQ_SET_VRING_NUM, P_SIZE, 12, 0, 0, 0, -EBADMSG },
        /* EXACT 40: vring addr */
        { "addr", FE, VU_REQ_SET_VRING_ADDR, P_SIZE, 40, 0, 0, 0, 0 },
        { "addr, 32 bytes", FE, VU_REQ_SET_VRING_ADDR, P_SIZE, 32, 0, 0, 0, -EBADMSG },
        { "addr, 48 bytes", FE, VU_REQ_SET_VRING_ADDR, P_SIZE, 48, 0, 0, 0, -EBADMSG },
        /* EXACT, other layouts */
        { "log", FE, VU_REQ_SET_LOG_BASE, P_SIZE, 16, 0, 0, 1, 0 },
        { "log, 8 bytes", FE, VU_REQ_SET_LOG_BASE, P_SIZE, 8, 0, 0, 1, -EBADMSG },
        { "iotlb", FE, VU_REQ_IOTLB_MSG, P_SIZE, 32, 0, 0, 0, 0 },
        { "iotlb, 31 bytes", FE, VU_REQ_IOTLB_MSG, P_SIZE, 31, 0, 0, 0, -EBADMSG },
        { "iotlb, 33 bytes", FE, VU_REQ_IOTLB_MSG, P_SIZE, 33, 0, 0, 0, -EBADMSG },
        { "inflight", FE, VU_REQ_SET_INFLIGHT_FD, P_SIZE, 24, 0, 0, 1, 0 },
        { "inflight, 16 bytes", FE, VU_REQ_SET_INFLIGHT_FD, P_SIZE, 16, 0, 0, 1, -EBADMSG },
        { "single region, 32 bytes", FE, VU_REQ_ADD_MEM_REG, P_SIZE, 32, 0, 0, 1, -EBADMSG },
        { "device state", FE, VU_REQ_SET_DEVICE_STATE_FD, P_SIZE, 8, 0, 0, 1, 0 },
        { "device state, 16 bytes", FE, VU_REQ_SET_DEVICE_STATE_FD, P_SIZE, 16, 0, 0, 1, -EBADMSG },
        { "shared object", FE, VU_REQ_GET_SHARED_OBJECT, P_SIZE, 16, 0, 0, 0, 0 },
        { "shared object, 15 bytes", FE, VU_REQ_GET_SHARED_OBJECT, P_SIZE, 15, 0, 0, 0, -EBADMSG },
        { "vring area", BE, VU_BREQ_VRING_HOST_NOTIFIER_MSG, P_SIZE, 24, 0, 0, 1, 0 },
        { "vring area, 16 bytes", BE, VU_BREQ_VRING_HOST_NOTIFIER_MSG, P_SIZE, 16, 0, 0, 1,
          -EBADMSG },
        /* RANGE 0..8: SET_LOG_FD */
        { "log fd, 0 bytes", FE, VU_REQ_SET_LOG_FD, P_SIZE, 0, 0, 0, 1, 0 },
        { "log fd, 4 bytes", FE, VU_REQ_SET_LOG_FD, P_SIZE, 4, 0, 0, 1, 0 },
        { "log fd, 8 bytes", FE, VU_REQ_SET_LOG_FD, P_SIZE, 8, 0, 0, 1, 0 },
        { "log fd, 9 bytes", FE, VU_REQ_SET_LOG_FD, P_SIZE, 9, 0, 0, 1, -EBADMSG },
        /* RANGE 8..4096: crypto sessions */
        { "crypto, 8 bytes", FE, VU_REQ_CREATE_CRYPTO_SESSION, P_SIZE, 8, 0, 0, 0, 0 },
        { "crypto, 4096 bytes", FE, VU_REQ_CREATE_CRYPTO_SESSION, P_SIZE, 4096, 0, 0, 0, 0 },
        { "crypto, 7 bytes", FE, VU_REQ_CREATE_CRYPTO_SESSION, P_SIZE, 7, 0, 0, 0, -EBADMSG },
        { "crypto, 4097 bytes", FE, VU_REQ_CREATE_CRYPTO_SESSION, P_SIZE, 4097, 0, 0, 0, -EBADMSG },
    };

    (void)state;
    run_cases(&l, cases);
}

/* ---- every row of the table: a valid message, then each way to break it -- */

/* Protocol features under which every request of row d is allowed. */
static uint64_t features_for(const struct vu_msg_desc *d)
{
    if (d->flags & VU_DESC_VDPA_ONLY)
        return PF_ALL_KNOWN | PF_VDPA;
    return PF_ALL_KNOWN;
}

/* A valid request for row d; returns how many fds it must carry. */
static unsigned build_valid(struct vu_msg *m, const struct vu_msg_desc *d, uint32_t flags)
{
    unsigned nfds = 0;

    fresh(m, d->request, flags);
    switch (d->size.rule) {
    case VU_SIZE_EXACT:
    case VU_SIZE_RANGE:
        m->hdr.size = d->size.min;
        break;
    case VU_SIZE_MEM_TABLE:
        build(m, d->request, flags, P_MEM, 1, 0, 0);
        break;
    case VU_SIZE_CONFIG:
        build(m, d->request, flags, P_CONFIG, 0, 1, 0);
        break;
    case VU_SIZE_CONFIG_REPLY:
        fail_msg("%s: a reply size rule for a request", d->name);
    }
    if (m->hdr.size == sizeof(struct vu_mem_single) && d->channel == VU_CHAN_FRONTEND &&
        (d->request == VU_REQ_ADD_MEM_REG || d->request == VU_REQ_REM_MEM_REG))
        m->payload.mem_single.region = sane_region(2);
    switch (d->fds) {
    case VU_FDS_NONE:
    case VU_FDS_ZERO_OR_ONE:
    case VU_FDS_DISCARD:
        nfds = 0;
        break;
    case VU_FDS_ONE:
    case VU_FDS_ONE_UNLESS_NOFD: /* the u64 is 0: no NOFD bit */
        nfds = 1;
        break;
    case VU_FDS_PER_REGION:
        nfds = m->payload.mem.nregions;
        break;
    }
    return nfds;
}

static void every_row_valid_and_each_rule_enforced(void **state)
{
    struct vu_msg m;
    char what[96];

    (void)state;
    for (int ch = FE; ch <= BE; ch++) {
        for (size_t i = 0; i < vu_msg_desc_count(ch); i++) {
            const struct vu_msg_desc *d = vu_msg_desc_at(ch, i);
            struct vu_session_limits l = limits(features_for(d));
            unsigned nfds;

            l.max_queues = 0;
            l.config_size = 0;
            snprintf(what, sizeof(what), "%s: valid", d->name);
            nfds = build_valid(&m, d, 0);
            expect_request(what, &l, ch, &m, nfds, 0);
            snprintf(what, sizeof(what), "%s: valid, NEED_REPLY", d->name);
            nfds = build_valid(&m, d, VU_FLAG_NEED_REPLY);
            expect_request(what, &l, ch, &m, nfds, 0);

            /* payload one byte too long, and one too short */
            snprintf(what, sizeof(what), "%s: payload too long", d->name);
            nfds = build_valid(&m, d, 0);
            m.hdr.size = (d->size.rule == VU_SIZE_RANGE ? d->size.max : m.hdr.size) + 1u;
            expect_request(what, &l, ch, &m, nfds, -EBADMSG);
            if (d->size.min > 0) {
                snprintf(what, sizeof(what), "%s: payload too short", d->name);
                nfds = build_valid(&m, d, 0);
                m.hdr.size = d->size.min - 1u;
                expect_request(what, &l, ch, &m, nfds, -EBADMSG);
            }

            /* one fd too many, one too few */
            snprintf(what, sizeof(what), "%s: an fd too many", d->name);
            nfds = build_valid(&m, d, 0);
            expect_request(what, &l, ch, &m, nfds + (d->fds == VU_FDS_DISCARD ? 2 : 1), -EBADF);
            if (nfds > 0) {
                snprintf(what, sizeof(what), "%s: an fd too few", d->name);
                nfds = build_valid(&m, d, 0);
                expect_request(what, &l, ch, &m, nfds - 1, -EBADF);
            }

            /* a REPLY bit on a request */
            snprintf(what, sizeof(what), "%s: REPLY flag", d->name);
            nfds = build_valid(&m, d, VU_FLAG_REPLY);
            expect_request(what, &l, ch, &m, nfds, -EPROTO);

            /* the protocol feature that gates it */
            if (d->gate != VU_GATE_NONE) {
                struct vu_session_limits nogate = l;
                nogate.protocol_features &= ~VU_BIT((unsigned)d->gate);
                snprintf(what, sizeof(what), "%s: without %s", d->name,
                         vu_protocol_feature_name((unsigned)d->gate));
                nfds = build_valid(&m, d, 0);
                expect_request(what, &nogate, ch, &m, nfds, -EPERM);
            }
            /* VHOST_USER_F_PROTOCOL_FEATURES, where needed */
            if (d->flags & VU_DESC_NEEDS_PROTOCOL_FEATURES) {
                struct vu_session_limits nopf = l;
                nopf.offered_features &= ~F_PROTOCOL;
                snprintf(what, sizeof(what), "%s: bit 30 not offered", d->name);
                nfds = build_valid(&m, d, 0);
                expect_request(what, &nopf, ch, &m, nfds, -EPERM);
            }
            /* F_VDPA, where it forbids */
            if (d->flags & VU_DESC_FORBIDDEN_UNDER_VDPA) {
                struct vu_session_limits vdpa = l;
                vdpa.protocol_features |= PF_VDPA;
                snprintf(what, sizeof(what), "%s: under F_VDPA", d->name);
                nfds = build_valid(&m, d, 0);
                expect_request(what, &vdpa, ch, &m, nfds, -EPERM);
            }
            /* the back-end channel needs BACKEND_REQ */
            if (ch == BE) {
                struct vu_session_limits nochan = l;
                nochan.protocol_features &= ~VU_BIT(VU_PF_BACKEND_REQ);
                snprintf(what, sizeof(what), "%s: without BACKEND_REQ", d->name);
                nfds = build_valid(&m, d, 0);
                expect_request(what, &nochan, ch, &m, nfds, -EPERM);
            }
        }
    }
}

/* ---- memory tables -------------------------------------------------------- */

static void mem_table_counts(void **state)
{
    struct vu_session_limits l = limits(PF_ALL_KNOWN);
    struct vu_msg m;

    (void)state;
    for (uint32_t n = 1; n <= VU_MAX_MEM_REGIONS; n++) {
        build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, n, 0, 0);
        expect_request("n regions, n fds", &l, FE, &m, n, 0);
        build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, n, 0, 0);
        expect_request("n regions, n-1 fds", &l, FE, &m, n - 1, -EBADF);
        if (n < VU_MAX_MEM_REGIONS) {
            build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, n, 0, 0);
            expect_request("n regions, n+1 fds", &l, FE, &m, n + 1, -EBADF);
        }
    }
    build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, 0, 0, 0);
    expect_request("no region", &l, FE, &m, 0, -EBADMSG);
    build(&m, VU_REQ_SET_MEM_TABLE, 0, P_SIZE, 4, 0, 0);
    expect_request("no room for the count", &l, FE, &m, 1, -EBADMSG);

    /* nine regions, with a size that matches them */
    build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, 8, 0, 0);
    m.payload.mem.nregions = 9;
    m.hdr.size = VU_MEM_TABLE_HDR_SIZE + 9 * sizeof(struct vu_mem_region);
    expect_request("nine regions", &l, FE, &m, 8, -E2BIG);
    build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, 8, 0, 0);
    m.payload.mem.nregions = UINT32_MAX;
    expect_request("2^32-1 regions", &l, FE, &m, 8, -E2BIG);

    /* size and count disagree */
    build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, 2, 0, 0);
    m.payload.mem.nregions = 3;
    expect_request("3 regions in the size of 2", &l, FE, &m, 3, -EBADMSG);
    build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, 2, 0, 0);
    m.hdr.size += 4;
    expect_request("2 regions and 4 bytes", &l, FE, &m, 2, -EBADMSG);
    build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, 2, 0, 0);
    m.hdr.size -= 1;
    expect_request("2 regions less a byte", &l, FE, &m, 2, -EBADMSG);
}

/* Which region field to break, and how. */
struct region_case {
    const char *what;
    size_t field; /* offsetof in struct vu_mem_region */
    uint64_t value;
    int want;
};

static const struct region_case region_cases[] = {
    { "empty region", offsetof(struct vu_mem_region, memory_size), 0, -EINVAL },
    { "guest address wraps", offsetof(struct vu_mem_region, guest_phys_addr), UINT64_MAX - 0x1000,
      -EINVAL },
    { "user address wraps", offsetof(struct vu_mem_region, userspace_addr), UINT64_MAX, -EINVAL },
    { "mmap offset wraps", offsetof(struct vu_mem_region, mmap_offset), UINT64_MAX - 0x3fffffffull,
      -EINVAL },
    /* sane regions (sizes are 0x40000000): right up to the top, no wrap */
    { "guest address ends at 2^64-1", offsetof(struct vu_mem_region, guest_phys_addr),
      UINT64_MAX - 0x40000000ull, 0 },
    { "mmap offset ends at 2^64-1", offsetof(struct vu_mem_region, mmap_offset),
      UINT64_MAX - 0x40000000ull, 0 },
    { "one byte", offsetof(struct vu_mem_region, memory_size), 1, 0 },
};

static void set_field(struct vu_mem_region *r, size_t field, uint64_t value)
{
    memcpy((uint8_t *)r + field, &value, sizeof(value));
}

static void mem_regions_sane(void **state)
{
    struct vu_session_limits l = limits(PF_ALL_KNOWN);
    struct vu_msg m;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(region_cases); i++) {
        const struct region_case *c = &region_cases[i];

        /* a table of one region */
        build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, 1, 0, 0);
        set_field(&m.payload.mem.regions[0], c->field, c->value);
        expect_request(c->what, &l, FE, &m, 1, c->want);
        /* the sixth of eight regions: every region is checked */
        build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, 8, 0, 0);
        set_field(&m.payload.mem.regions[5], c->field, c->value);
        expect_request(c->what, &l, FE, &m, 8, c->want);
        /* the last of eight */
        build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, 8, 0, 0);
        set_field(&m.payload.mem.regions[7], c->field, c->value);
        expect_request(c->what, &l, FE, &m, 8, c->want);
        /* ADD_MEM_REG: the same rule for its single region */
        build(&m, VU_REQ_ADD_MEM_REG, 0, P_SINGLE, 0, 0, 0);
        set_field(&m.payload.mem_single.region, c->field, c->value);
        expect_request(c->what, &l, FE, &m, 1, c->want);
    }
}

static void rem_mem_reg_fd_discarded(void **state)
{
    struct vu_session_limits l = limits(PF_ALL_KNOWN);
    const struct vu_msg_desc *d;
    struct vu_msg m;
    int before = fdcount(), fd;

    (void)state;
    build(&m, VU_REQ_REM_MEM_REG, 0, P_SINGLE, 0, 0, 0);
    expect_request("no fd", &l, FE, &m, 0, 0);
    build(&m, VU_REQ_REM_MEM_REG, 0, P_SINGLE, 0, 0, 0);
    expect_request("one fd, discarded", &l, FE, &m, 1, 0); /* checks it was closed */
    build(&m, VU_REQ_REM_MEM_REG, 0, P_SINGLE, 0, 0, 0);
    expect_request("two fds", &l, FE, &m, 2, -EBADF);

    /* the same, spelled out */
    build(&m, VU_REQ_REM_MEM_REG, 0, P_SINGLE, 0, 0, 0);
    fd = new_fd(1, VU_FDK_ANY);
    assert_int_equal(vu_msg_add_fd(&m, fd), 0);
    assert_int_equal(vu_validate_request(&l, FE, &m, &d, NULL), 0);
    assert_non_null(d);
    assert_int_equal(d->request, VU_REQ_REM_MEM_REG);
    assert_true(fd_is_closed(fd));
    assert_int_equal(m.nfds, 0);
    assert_int_equal(m.fds[0], -1);
    assert_int_equal(fdcount(), before);
}

/* ---- fd counts -------------------------------------------------------------- */

static void fd_counts(void **state)
{
    struct vu_session_limits l = limits(PF_ALL_KNOWN);
    struct vu_session_limits vdpa = limits(PF_ALL_KNOWN | PF_VDPA);
    static const struct req_case cases[] = {
        { "KICK with an fd", FE, VU_REQ_SET_VRING_KICK, P_U64, 1, 0, 0, 1, 0 },
        { "KICK without an fd", FE, VU_REQ_SET_VRING_KICK, P_U64, 1, 0, 0, 0, -EBADF },
        { "KICK with two fds", FE, VU_REQ_SET_VRING_KICK, P_U64, 1, 0, 0, 2, -EBADF },
        { "KICK, NOFD, no fd", FE, VU_REQ_SET_VRING_KICK, P_U64, 0x101, 0, 0, 0, 0 },
        { "KICK, NOFD, an fd", FE, VU_REQ_SET_VRING_KICK, P_U64, 0x101, 0, 0, 1, -EBADF },
        { "CALL with an fd", FE, VU_REQ_SET_VRING_CALL, P_U64, 2, 0, 0, 1, 0 },
        { "CALL without an fd", FE, VU_REQ_SET_VRING_CALL, P_U64, 2, 0, 0, 0, -EBADF },
        { "CALL, NOFD, no fd", FE, VU_REQ_SET_VRING_CALL, P_U64, 0x102, 0, 0, 0, 0 },
        { "CALL, NOFD, an fd", FE, VU_REQ_SET_VRING_CALL, P_U64, 0x102, 0, 0, 1, -EBADF },
        { "ERR with an fd", FE, VU_REQ_SET_VRING_ERR, P_U64, 3, 0, 0, 1, 0 },
        { "ERR without an fd", FE, VU_REQ_SET_VRING_ERR, P_U64, 3, 0, 0, 0, -EBADF },
        { "ERR, NOFD, no fd", FE, VU_REQ_SET_VRING_ERR, P_U64, 0x103, 0, 0, 0, 0 },
        { "ERR, NOFD, an fd", FE, VU_REQ_SET_VRING_ERR, P_U64, 0x103, 0, 0, 1, -EBADF },
        { "BACKEND_REQ_FD with one", FE, VU_REQ_SET_BACKEND_REQ_FD, P_NONE, 0, 0, 0, 1, 0 },
        { "BACKEND_REQ_FD with none", FE, VU_REQ_SET_BACKEND_REQ_FD, P_NONE, 0, 0, 0, 0, -EBADF },
        { "BACKEND_REQ_FD with two", FE, VU_REQ_SET_BACKEND_REQ_FD, P_NONE, 0, 0, 0, 2, -EBADF },
        { "GET_FEATURES with one", FE, VU_REQ_GET_FEATURES, P_NONE, 0, 0, 0, 1, -EBADF },
        { "GET_FEATURES with eight", FE, VU_REQ_GET_FEATURES, P_NONE, 0, 0, 0, 8, -EBADF },
        { "LOG_BASE without", FE, VU_REQ_SET_LOG_BASE, P_SIZE, 16, 0, 0, 0, -EBADF },
        { "ADD_MEM_REG without", FE, VU_REQ_ADD_MEM_REG, P_SINGLE, 0, 0, 0, 0, -EBADF },
        { "host notifier with an fd", BE, VU_BREQ_VRING_HOST_NOTIFIER_MSG, P_AREA, 1, 0, 0, 1, 0 },
        { "host notifier without", BE, VU_BREQ_VRING_HOST_NOTIFIER_MSG, P_AREA, 1, 0, 0, 0,
          -EBADF },
        { "host notifier, NOFD", BE, VU_BREQ_VRING_HOST_NOTIFIER_MSG, P_AREA, 0x101, 0, 0, 0, 0 },
        { "host notifier, NOFD, an fd", BE, VU_BREQ_VRING_HOST_NOTIFIER_MSG, P_AREA, 0x101, 0, 0, 1,
          -EBADF },
        { "back-end VRING_CALL with one", BE, VU_BREQ_VRING_CALL, P_STATE, 0, 0, 0, 1, -EBADF },
    };
    static const struct req_case vdpa_cases[] = {
        { "config call with an fd", FE, VU_REQ_VDPA_SET_CONFIG_CALL, P_U64, 0, 0, 0, 1, 0 },
        { "config call without", FE, VU_REQ_VDPA_SET_CONFIG_CALL, P_U64, 0, 0, 0, 0, -EBADF },
        { "config call, NOFD", FE, VU_REQ_VDPA_SET_CONFIG_CALL, P_U64, 0x100, 0, 0, 0, 0 },
        { "config call, NOFD, an fd", FE, VU_REQ_VDPA_SET_CONFIG_CALL, P_U64, 0x100, 0, 0, 1,
          -EBADF },
        { "SUSPEND with an fd", FE, VU_REQ_VDPA_SUSPEND, P_NONE, 0, 0, 0, 1, -EBADF },
    };

    (void)state;
    run_cases(&l, cases);
    run_cases(&vdpa, vdpa_cases);
}

/* ---- ring indices ----------------------------------------------------------- */

static void ring_indices(void **state)
{
    struct vu_session_limits l = limits(PF_ALL_KNOWN); /* max_queues 4 */
    static const struct req_case cases[] = {
        /* VU_RING_STATE */
        { "SET_VRING_NUM 3", FE, VU_REQ_SET_VRING_NUM, P_STATE, 3, 256, 0, 0, 0 },
        { "SET_VRING_NUM 4", FE, VU_REQ_SET_VRING_NUM, P_STATE, 4, 256, 0, 0, -ERANGE },
        { "SET_VRING_NUM 2^32-1", FE, VU_REQ_SET_VRING_NUM, P_STATE, UINT32_MAX, 256, 0, 0,
          -ERANGE },
        { "SET_VRING_BASE 4", FE, VU_REQ_SET_VRING_BASE, P_STATE, 4, 0, 0, 0, -ERANGE },
        { "GET_VRING_BASE 3", FE, VU_REQ_GET_VRING_BASE, P_STATE, 3, 0, 0, 0, 0 },
        { "GET_VRING_BASE 4", FE, VU_REQ_GET_VRING_BASE, P_STATE, 4, 0, 0, 0, -ERANGE },
        { "SET_VRING_ENABLE 4", FE, VU_REQ_SET_VRING_ENABLE, P_STATE, 4, 1, 0, 0, -ERANGE },
        { "SET_VRING_ENDIAN 4", FE, VU_REQ_SET_VRING_ENDIAN, P_STATE, 4, 0, 0, 0, -ERANGE },
        { "VRING_KICK 4", FE, VU_REQ_VRING_KICK, P_STATE, 4, 0, 0, 0, -ERANGE },
        { "back-end VRING_CALL 3", BE, VU_BREQ_VRING_CALL, P_STATE, 3, 0, 0, 0, 0 },
        { "back-end VRING_CALL 4", BE, VU_BREQ_VRING_CALL, P_STATE, 4, 0, 0, 0, -ERANGE },
        { "back-end VRING_ERR 4", BE, VU_BREQ_VRING_ERR, P_STATE, 4, 0, 0, 0, -ERANGE },
        /* VU_RING_ADDR */
        { "SET_VRING_ADDR 3", FE, VU_REQ_SET_VRING_ADDR, P_ADDR, 3, 0, 0, 0, 0 },
        { "SET_VRING_ADDR 4", FE, VU_REQ_SET_VRING_ADDR, P_ADDR, 4, 0, 0, 0, -ERANGE },
        { "SET_VRING_ADDR 2^32-1", FE, VU_REQ_SET_VRING_ADDR, P_ADDR, UINT32_MAX, 0, 0, 0,
          -ERANGE },
        /* VU_RING_U64: bits 0-7, with or without NOFD */
        { "KICK 3", FE, VU_REQ_SET_VRING_KICK, P_U64, 3, 0, 0, 1, 0 },
        { "KICK 4", FE, VU_REQ_SET_VRING_KICK, P_U64, 4, 0, 0, 1, -ERANGE },
        { "CALL 4", FE, VU_REQ_SET_VRING_CALL, P_U64, 4, 0, 0, 1, -ERANGE },
        { "ERR 255", FE, VU_REQ_SET_VRING_ERR, P_U64, 255, 0, 0, 1, -ERANGE },
        { "CALL 4, NOFD", FE, VU_REQ_SET_VRING_CALL, P_U64, 0x104, 0, 0, 0, -ERANGE },
        { "CALL 3, NOFD", FE, VU_REQ_SET_VRING_CALL, P_U64, 0x103, 0, 0, 0, 0 },
        { "host notifier 3", BE, VU_BREQ_VRING_HOST_NOTIFIER_MSG, P_AREA, 3, 0, 0, 1, 0 },
        { "host notifier 4", BE, VU_BREQ_VRING_HOST_NOTIFIER_MSG, P_AREA, 4, 0, 0, 1, -ERANGE },
        /* no ring in the payload: nothing to check */
        { "SET_FEATURES 200", FE, VU_REQ_SET_FEATURES, P_U64, 200, 0, 0, 0, 0 },
    };
    static const struct req_case unknown_count[] = {
        { "state 255", FE, VU_REQ_GET_VRING_BASE, P_STATE, 255, 0, 0, 0, 0 },
        { "state 256", FE, VU_REQ_GET_VRING_BASE, P_STATE, 256, 0, 0, 0, -ERANGE },
        { "addr 255", FE, VU_REQ_SET_VRING_ADDR, P_ADDR, 255, 0, 0, 0, 0 },
        { "addr 256", FE, VU_REQ_SET_VRING_ADDR, P_ADDR, 256, 0, 0, 0, -ERANGE },
        { "u64 255", FE, VU_REQ_SET_VRING_CALL, P_U64, 255, 0, 0, 1, 0 },
    };
    static const struct req_case one_ring[] = {
        { "state 0", FE, VU_REQ_SET_VRING_NUM, P_STATE, 0, 8, 0, 0, 0 },
        { "state 1", FE, VU_REQ_SET_VRING_NUM, P_STATE, 1, 8, 0, 0, -ERANGE },
        { "u64 1", FE, VU_REQ_SET_VRING_KICK, P_U64, 1, 0, 0, 1, -ERANGE },
    };

    (void)state;
    run_cases(&l, cases);
    l.max_queues = 0; /* not known yet: the 8-bit limit */
    run_cases(&l, unknown_count);
    l.max_queues = 1;
    run_cases(&l, one_ring);
}

/* ---- config space ------------------------------------------------------------ */

static void config_bounds(void **state)
{
    struct vu_session_limits l = limits(PF_ALL_KNOWN); /* config_size 24 */
    static const struct req_case cases[] = {
        { "all of it", FE, VU_REQ_GET_CONFIG, P_CONFIG, 0, 24, 0, 0, 0 },
        { "the last 4 bytes", FE, VU_REQ_GET_CONFIG, P_CONFIG, 20, 4, 0, 0, 0 },
        { "the last byte", FE, VU_REQ_GET_CONFIG, P_CONFIG, 23, 1, 0, 0, 0 },
        { "one byte too many", FE, VU_REQ_GET_CONFIG, P_CONFIG, 0, 25, 0, 0, -ERANGE },
        { "offset + size beyond", FE, VU_REQ_GET_CONFIG, P_CONFIG, 20, 5, 0, 0, -ERANGE },
        { "offset at the end", FE, VU_REQ_GET_CONFIG, P_CONFIG, 24, 1, 0, 0, -ERANGE },
        { "offset alone beyond", FE, VU_REQ_GET_CONFIG, P_CONFIG, 25, 1, 0, 0, -ERANGE },
        { "offset far beyond", FE, VU_REQ_GET_CONFIG, P_CONFIG, 1000, 4, 0, 0, -ERANGE },
        { "offset + size wraps", FE, VU_REQ_GET_CONFIG, P_CONFIG, UINT32_MAX, 2, 0, 0, -ERANGE },
        { "offset + size wraps exactly", FE, VU_REQ_SET_CONFIG, P_CONFIG, UINT32_MAX - 3, 4, 0, 0,
          -ERANGE },
        { "a 0-byte access", FE, VU_REQ_GET_CONFIG, P_CONFIG, 0, 0, 0, 0, -EBADMSG },
        { "flags: migration", FE, VU_REQ_SET_CONFIG, P_CONFIG, 0, 6, VU_CONFIG_F_MIGRATION, 0, 0 },
        { "flags: 2", FE, VU_REQ_SET_CONFIG, P_CONFIG, 0, 6, 2, 0, -EINVAL },
        { "flags: 3", FE, VU_REQ_SET_CONFIG, P_CONFIG, 0, 6, 3, 0, -EINVAL },
        { "flags: top bit", FE, VU_REQ_GET_CONFIG, P_CONFIG, 0, 6, 0x80000000u, 0, -EINVAL },
        { "SET_CONFIG beyond", FE, VU_REQ_SET_CONFIG, P_CONFIG, 10, 15, 0, 0, -ERANGE },
        { "SET_CONFIG offset beyond", FE, VU_REQ_SET_CONFIG, P_CONFIG, 30, 1, 0, 0, -ERANGE },
        { "with an fd", FE, VU_REQ_SET_CONFIG, P_CONFIG, 0, 6, 0, 1, -EBADF },
    };
    static const struct req_case unknown_size[] = {
        { "256 bytes", FE, VU_REQ_GET_CONFIG, P_CONFIG, 0, 256, 0, 0, 0 },
        { "256 bytes from 1", FE, VU_REQ_GET_CONFIG, P_CONFIG, 1, 256, 0, 0, -ERANGE },
        { "offset 256", FE, VU_REQ_GET_CONFIG, P_CONFIG, 256, 1, 0, 0, -ERANGE },
        { "the last byte", FE, VU_REQ_SET_CONFIG, P_CONFIG, 255, 1, 0, 0, 0 },
    };
    static const struct req_case blk[] = {
        { "blk: last 12", FE, VU_REQ_GET_CONFIG, P_CONFIG, 60, 12, 0, 0, 0 },
        { "blk: 4 beyond", FE, VU_REQ_GET_CONFIG, P_CONFIG, 64, 12, 0, 0, -ERANGE },
    };
    struct vu_msg m;

    (void)state;
    run_cases(&l, cases);

    /* the config header's size disagrees with the payload */
    build(&m, VU_REQ_SET_CONFIG, 0, P_CONFIG, 0, 6, 0);
    m.payload.config.size = 7;
    expect_request("size 7 in a 6-byte access", &l, FE, &m, 0, -EBADMSG);
    build(&m, VU_REQ_SET_CONFIG, 0, P_CONFIG, 0, 6, 0);
    m.payload.config.size = 257;
    m.hdr.size = VU_CONFIG_HDR_SIZE + 257;
    expect_request("257 bytes", &l, FE, &m, 0, -EBADMSG);
    build(&m, VU_REQ_GET_CONFIG, 0, P_SIZE, VU_CONFIG_HDR_SIZE - 1, 0, 0);
    expect_request("no config header", &l, FE, &m, 0, -EBADMSG);

    l.config_size = 0; /* not known: up to 256 */
    run_cases(&l, unknown_size);
    l.config_size = 72;
    run_cases(&l, blk);
}

/* ---- feature gates ------------------------------------------------------------ */

static void gate_config(void **state)
{
    struct vu_session_limits l = limits(PF_ALL_KNOWN & ~VU_BIT(VU_PF_CONFIG));
    struct vu_msg m;

    (void)state;
    build(&m, VU_REQ_GET_CONFIG, 0, P_CONFIG, 0, 6, 0);
    expect_request("GET_CONFIG without CONFIG", &l, FE, &m, 0, -EPERM);
    build(&m, VU_REQ_SET_CONFIG, 0, P_CONFIG, 0, 6, 0);
    expect_request("SET_CONFIG without CONFIG", &l, FE, &m, 0, -EPERM);
    /* refused for the gate whatever else is wrong with it: fds closed */
    build(&m, VU_REQ_GET_CONFIG, 0, P_CONFIG, 0, 6, 0);
    expect_request("GET_CONFIG without CONFIG, fds", &l, FE, &m, 2, -EPERM);
    l.protocol_features = VU_BIT(VU_PF_CONFIG);
    build(&m, VU_REQ_GET_CONFIG, 0, P_CONFIG, 0, 6, 0);
    expect_request("GET_CONFIG with CONFIG", &l, FE, &m, 0, 0);
    build(&m, VU_REQ_SET_CONFIG, 0, P_CONFIG, 0, 6, 0);
    expect_request("SET_CONFIG with CONFIG", &l, FE, &m, 0, 0);
}

/* docs/vdpa-user.md 2.2: F_VDPA implies CONFIG, acked or not. */
static void gate_config_implied_by_vdpa(void **state)
{
    struct vu_session_limits l = limits(VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_REPLY_ACK) |
                                        VU_BIT(VU_PF_STATUS));
    struct vu_msg m;

    (void)state;
    build(&m, VU_REQ_GET_CONFIG, 0, P_CONFIG, 0, 6, 0);
    expect_request("GET_CONFIG under F_VDPA without CONFIG", &l, FE, &m, 0, 0);
    build(&m, VU_REQ_SET_CONFIG, 0, P_CONFIG, 0, 6, 0);
    expect_request("SET_CONFIG under F_VDPA without CONFIG", &l, FE, &m, 0, 0);
    /* F_VDPA implies CONFIG only: other gates stay closed */
    build(&m, VU_REQ_GET_MAX_MEM_SLOTS, 0, P_NONE, 0, 0, 0);
    expect_request("GET_MAX_MEM_SLOTS under F_VDPA", &l, FE, &m, 0, -EPERM);
    /* CONFIG_CHANGE_MSG: the gate opens, the F_VDPA rule still forbids it */
    l.protocol_features |= VU_BIT(VU_PF_BACKEND_REQ);
    build(&m, VU_BREQ_CONFIG_CHANGE_MSG, 0, P_NONE, 0, 0, 0);
    expect_request("CONFIG_CHANGE_MSG under F_VDPA", &l, BE, &m, 0, -EPERM);
    /* and without F_VDPA nothing is implied */
    l.protocol_features = VU_BIT(VU_PF_REPLY_ACK);
    build(&m, VU_REQ_GET_CONFIG, 0, P_CONFIG, 0, 6, 0);
    expect_request("GET_CONFIG without CONFIG or F_VDPA", &l, FE, &m, 0, -EPERM);
}

static void gate_protocol_features_bit(void **state)
{
    struct vu_session_limits l = limits(0);
    static const struct req_case cases[] = {
        { "SET_VRING_ENABLE", FE, VU_REQ_SET_VRING_ENABLE, P_STATE, 0, 1, 0, 0, 0 },
        { "GET_PROTOCOL_FEATURES", FE, VU_REQ_GET_PROTOCOL_FEATURES, P_NONE, 0, 0, 0, 0, 0 },
        { "SET_PROTOCOL_FEATURES", FE, VU_REQ_SET_PROTOCOL_FEATURES, P_U64, 0, 0, 0, 0, 0 },
    };
    static const struct req_case refused[] = {
        { "SET_VRING_ENABLE", FE, VU_REQ_SET_VRING_ENABLE, P_STATE, 0, 1, 0, 0, -EPERM },
        { "GET_PROTOCOL_FEATURES", FE, VU_REQ_GET_PROTOCOL_FEATURES, P_NONE, 0, 0, 0, 1, -EPERM },
        { "SET_PROTOCOL_FEATURES", FE, VU_REQ_SET_PROTOCOL_FEATURES, P_U64, 0, 0, 0, 0, -EPERM },
        /* requests without the row flag do not care */
        { "SET_VRING_NUM", FE, VU_REQ_SET_VRING_NUM, P_STATE, 0, 256, 0, 0, 0 },
        { "GET_FEATURES", FE, VU_REQ_GET_FEATURES, P_NONE, 0, 0, 0, 0, 0 },
    };

    (void)state;
    run_cases(&l, cases);
    l.offered_features = VU_BIT(32) | VU_BIT(29) | VU_BIT(31); /* all but bit 30 */
    run_cases(&l, refused);
    l.offered_features = F_PROTOCOL;
    l.features_known = false; /* no GET_FEATURES reply seen yet */
    run_cases(&l, refused);
}

static void vdpa_forbids_legacy(void **state)
{
    static const struct {
        const char *what;
        uint32_t request;
        enum shape shape;
        int gate;
    } legacy[] = {
        { "RESET_OWNER", VU_REQ_RESET_OWNER, P_NONE, VU_GATE_NONE },
        { "GET_QUEUE_NUM", VU_REQ_GET_QUEUE_NUM, P_NONE, VU_PF_MQ },
        { "NET_SET_MTU", VU_REQ_NET_SET_MTU, P_U64, VU_PF_NET_MTU },
        { "RESET_DEVICE", VU_REQ_RESET_DEVICE, P_NONE, VU_PF_RESET_DEVICE },
    };
    struct vu_msg m;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(legacy); i++) {
        uint64_t own = legacy[i].gate == VU_GATE_NONE ? 0 : VU_BIT((unsigned)legacy[i].gate);
        struct vu_session_limits with_gate = limits(own | VU_BIT(VU_PF_REPLY_ACK));
        struct vu_session_limits without_gate = limits(VU_BIT(VU_PF_REPLY_ACK));
        struct vu_session_limits vdpa = limits(own | PF_VDPA | VU_BIT(VU_PF_REPLY_ACK));

        build(&m, legacy[i].request, 0, legacy[i].shape, 1500, 0, 0);
        expect_request(legacy[i].what, &with_gate, FE, &m, 0, 0);
        build(&m, legacy[i].request, 0, legacy[i].shape, 1500, 0, 0);
        expect_request(legacy[i].what, &without_gate, FE, &m, 0,
                       legacy[i].gate == VU_GATE_NONE ? 0 : -EPERM);
        build(&m, legacy[i].request, VU_FLAG_NEED_REPLY, legacy[i].shape, 1500, 0, 0);
        expect_request(legacy[i].what, &vdpa, FE, &m, 0, -EPERM);
        build(&m, legacy[i].request, 0, legacy[i].shape, 1500, 0, 0);
        expect_request(legacy[i].what, &vdpa, FE, &m, 1, -EPERM); /* fd closed too */
        /* everything else negotiated does not help */
        vdpa.protocol_features |= PF_ALL_KNOWN;
        build(&m, legacy[i].request, 0, legacy[i].shape, 1500, 0, 0);
        expect_request(legacy[i].what, &vdpa, FE, &m, 0, -EPERM);
    }
}

static void vdpa_requests_need_vdpa(void **state)
{
    static const struct req_case cases[] = {
        { "GET_DEVICE_ID", FE, VU_REQ_VDPA_GET_DEVICE_ID, P_NONE, 0, 0, 0, 0, 0 },
        { "GET_VRING_NUM", FE, VU_REQ_VDPA_GET_VRING_NUM, P_NONE, 0, 0, 0, 0, 0 },
        { "SET_CONFIG_CALL", FE, VU_REQ_VDPA_SET_CONFIG_CALL, P_U64, 0, 0, 0, 1, 0 },
        { "GET_IOVA_RANGE", FE, VU_REQ_VDPA_GET_IOVA_RANGE, P_NONE, 0, 0, 0, 0, 0 },
        { "GET_CONFIG_SIZE", FE, VU_REQ_VDPA_GET_CONFIG_SIZE, P_NONE, 0, 0, 0, 0, 0 },
        { "SUSPEND", FE, VU_REQ_VDPA_SUSPEND, P_NONE, 0, 0, 0, 0, 0 },
        { "RESUME", FE, VU_REQ_VDPA_RESUME, P_NONE, 0, 0, 0, 0, 0 },
        { "GET_VQS_COUNT", FE, VU_REQ_VDPA_GET_VQS_COUNT, P_NONE, 0, 0, 0, 0, 0 },
    };
    struct req_case refused[ARRAY_SIZE(cases)];
    struct vu_session_limits legacy = limits(PF_ALL_KNOWN);
    struct vu_session_limits vdpa = limits(PF_VDPA);

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        refused[i] = cases[i];
        refused[i].want = -EPERM;
    }
    run_cases(&vdpa, cases);
    run_cases(&legacy, refused);
}

static void backend_channel_gates(void **state)
{
    struct vu_session_limits l = limits(PF_ALL_KNOWN);
    static const struct req_case ok[] = {
        { "IOTLB_MSG", BE, VU_BREQ_IOTLB_MSG, P_SIZE, 32, 0, 0, 0, 0 },
        { "CONFIG_CHANGE_MSG", BE, VU_BREQ_CONFIG_CHANGE_MSG, P_NONE, 0, 0, 0, 0, 0 },
        { "HOST_NOTIFIER_MSG", BE, VU_BREQ_VRING_HOST_NOTIFIER_MSG, P_AREA, 0, 0, 0, 1, 0 },
        { "VRING_CALL", BE, VU_BREQ_VRING_CALL, P_STATE, 0, 0, 0, 0, 0 },
        { "VRING_ERR", BE, VU_BREQ_VRING_ERR, P_STATE, 0, 0, 0, 0, 0 },
        { "SHARED_OBJECT_ADD", BE, VU_BREQ_SHARED_OBJECT_ADD, P_SIZE, 16, 0, 0, 0, 0 },
        { "SHARED_OBJECT_REMOVE", BE, VU_BREQ_SHARED_OBJECT_REMOVE, P_SIZE, 16, 0, 0, 0, 0 },
        { "SHARED_OBJECT_LOOKUP", BE, VU_BREQ_SHARED_OBJECT_LOOKUP, P_SIZE, 16, 0, 0, 0, 0 },
    };
    struct req_case refused[ARRAY_SIZE(ok)];
    struct vu_msg m;

    (void)state;
    run_cases(&l, ok);
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        refused[i] = ok[i];
        refused[i].nfds = ok[i].nfds + 1; /* whatever it carries is closed */
        refused[i].want = -EPERM;
    }
    l.protocol_features = PF_ALL_KNOWN & ~VU_BIT(VU_PF_BACKEND_REQ);
    run_cases(&l, refused);

    /* CONFIG_CHANGE_MSG: forbidden under F_VDPA (docs/vdpa-user.md 4) */
    l.protocol_features = PF_ALL_KNOWN | PF_VDPA;
    build(&m, VU_BREQ_CONFIG_CHANGE_MSG, VU_FLAG_NEED_REPLY, P_NONE, 0, 0, 0);
    expect_request("CONFIG_CHANGE_MSG under F_VDPA", &l, BE, &m, 0, -EPERM);
    build(&m, VU_BREQ_CONFIG_CHANGE_MSG, 0, P_NONE, 0, 0, 0);
    expect_request("CONFIG_CHANGE_MSG under F_VDPA, fd", &l, BE, &m, 1, -EPERM);
    /* the other back-end requests stay available under F_VDPA */
    build(&m, VU_BREQ_IOTLB_MSG, 0, P_SIZE, 32, 0, 0);
    expect_request("IOTLB_MSG under F_VDPA", &l, BE, &m, 0, 0);
    build(&m, VU_BREQ_VRING_HOST_NOTIFIER_MSG, 0, P_AREA, 1, 0, 0);
    expect_request("HOST_NOTIFIER_MSG under F_VDPA", &l, BE, &m, 1, 0);
    /* and CONFIG_CHANGE_MSG is gated by CONFIG like its front-end cousins */
    l.protocol_features = VU_BIT(VU_PF_BACKEND_REQ);
    build(&m, VU_BREQ_CONFIG_CHANGE_MSG, 0, P_NONE, 0, 0, 0);
    expect_request("CONFIG_CHANGE_MSG without CONFIG", &l, BE, &m, 0, -EPERM);
}

/* ---- replies owed ------------------------------------------------------------- */

static bool expects(const struct vu_session_limits *l, enum vu_channel ch, const struct vu_msg *m,
                    struct vu_pending *p)
{
    const struct vu_msg_desc *d = vu_msg_desc_lookup(ch, m->hdr.request);

    assert_non_null(d);
    memset(p, 0xee, sizeof(*p));
    return vu_request_expects_reply(l, d, m, p);
}

static void expected_replies(void **state)
{
    struct vu_session_limits none = limits(0);
    struct vu_session_limits ack = limits(VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG));
    struct vu_pending p;
    struct vu_msg m;

    (void)state;
    /* GET_FEATURES: an explicit reply, always */
    build(&m, VU_REQ_GET_FEATURES, 0, P_NONE, 0, 0, 0);
    assert_true(expects(&none, FE, &m, &p));
    assert_int_equal(p.kind, VU_PENDING_EXPLICIT);
    assert_int_equal(p.request, VU_REQ_GET_FEATURES);
    assert_int_equal(p.config_size, 0);
    build(&m, VU_REQ_GET_FEATURES, VU_FLAG_NEED_REPLY, P_NONE, 0, 0, 0);
    assert_true(expects(&ack, FE, &m, &p));
    assert_int_equal(p.kind, VU_PENDING_EXPLICIT);

    /* SET_FEATURES: an ack only with NEED_REPLY and REPLY_ACK */
    build(&m, VU_REQ_SET_FEATURES, VU_FLAG_NEED_REPLY, P_U64, 1, 0, 0);
    assert_false(expects(&none, FE, &m, &p));
    assert_true(expects(&ack, FE, &m, &p));
    assert_int_equal(p.kind, VU_PENDING_ACK);
    assert_int_equal(p.request, VU_REQ_SET_FEATURES);
    build(&m, VU_REQ_SET_FEATURES, 0, P_U64, 1, 0, 0);
    assert_false(expects(&ack, FE, &m, &p));
    assert_false(expects(&none, FE, &m, &p));

    /* IOTLB_MSG: a u64 whenever NEED_REPLY is set, REPLY_ACK or not */
    build(&m, VU_REQ_IOTLB_MSG, VU_FLAG_NEED_REPLY, P_SIZE, 32, 0, 0);
    assert_true(expects(&none, FE, &m, &p));
    assert_int_equal(p.kind, VU_PENDING_ACK);
    assert_int_equal(p.request, VU_REQ_IOTLB_MSG);
    assert_true(expects(&ack, FE, &m, &p));
    build(&m, VU_REQ_IOTLB_MSG, 0, P_SIZE, 32, 0, 0);
    assert_false(expects(&none, FE, &m, &p));
    assert_false(expects(&ack, FE, &m, &p));

    /* GET_CONFIG: remembers how many bytes were asked for */
    build(&m, VU_REQ_GET_CONFIG, 0, P_CONFIG, 4, 6, 0);
    assert_true(expects(&ack, FE, &m, &p));
    assert_int_equal(p.kind, VU_PENDING_EXPLICIT);
    assert_int_equal(p.config_size, 6);
    build(&m, VU_REQ_GET_CONFIG, 0, P_CONFIG, 0, 256, 0);
    assert_true(expects(&ack, FE, &m, &p));
    assert_int_equal(p.config_size, 256);
    /* SET_CONFIG is acked, and records no size */
    build(&m, VU_REQ_SET_CONFIG, VU_FLAG_NEED_REPLY, P_CONFIG, 0, 6, 0);
    assert_true(expects(&ack, FE, &m, &p));
    assert_int_equal(p.kind, VU_PENDING_ACK);
    assert_int_equal(p.config_size, 0);

    /* vdpa-user: SUSPEND is always answered */
    build(&m, VU_REQ_VDPA_SUSPEND, 0, P_NONE, 0, 0, 0);
    assert_true(expects(&none, FE, &m, &p));
    assert_int_equal(p.kind, VU_PENDING_EXPLICIT);
    /* back-end channel: the same rules */
    build(&m, VU_BREQ_SHARED_OBJECT_LOOKUP, 0, P_SIZE, 16, 0, 0);
    assert_true(expects(&none, BE, &m, &p));
    assert_int_equal(p.request, VU_BREQ_SHARED_OBJECT_LOOKUP);
    build(&m, VU_BREQ_IOTLB_MSG, VU_FLAG_NEED_REPLY, P_SIZE, 32, 0, 0);
    assert_false(expects(&none, BE, &m, &p));
    assert_true(expects(&ack, BE, &m, &p));
}

/* Every row, all four combinations of NEED_REPLY and REPLY_ACK. */
static void expected_replies_every_row(void **state)
{
    struct vu_pending p;
    struct vu_msg m;

    (void)state;
    for (int ch = FE; ch <= BE; ch++) {
        for (size_t i = 0; i < vu_msg_desc_count(ch); i++) {
            const struct vu_msg_desc *d = vu_msg_desc_at(ch, i);
            for (int need = 0; need <= 1; need++) {
                for (int acked = 0; acked <= 1; acked++) {
                    struct vu_session_limits l = limits(acked ? VU_BIT(VU_PF_REPLY_ACK) : 0);
                    bool want;
                    build_valid(&m, d, need ? VU_FLAG_NEED_REPLY : 0);
                    switch (d->reply) {
                    case VU_REPLY_ALWAYS:
                        want = true;
                        break;
                    case VU_REPLY_NEED_REPLY:
                        want = need;
                        break;
                    default:
                        want = need && acked;
                        break;
                    }
                    if (expects(&l, ch, &m, &p) != want)
                        fail_msg("%s: NEED_REPLY %d, REPLY_ACK %d: expects a reply is not %d",
                                 d->name, need, acked, want);
                    if (want) {
                        assert_int_equal(p.request, d->request);
                        assert_int_equal(p.kind, d->reply == VU_REPLY_ALWAYS ? VU_PENDING_EXPLICIT
                                                                             : VU_PENDING_ACK);
                    }
                }
            }
        }
    }
}

/* ---- replies ---------------------------------------------------------------------- */

struct reply_case {
    const char *what;
    enum vu_channel ch;
    struct vu_pending pending;
    uint32_t request; /* of the reply */
    uint32_t flags;   /* the reply's header flags, as they are on the wire */
    enum shape shape;
    uint64_t a, b, c;
    unsigned nfds;
    int want;
};

#define RF (VU_VERSION | VU_FLAG_REPLY)
/* clang-format off: a braced initializer, not a block */
#define EXPLICIT(r)                                                                                \
    {                                                                                              \
        .request = (r), .kind = VU_PENDING_EXPLICIT                                                \
    }
#define ACKED(r)                                                                                   \
    {                                                                                              \
        .request = (r), .kind = VU_PENDING_ACK                                                     \
    }
/* clang-format on */
#define CONFIG_ASKED(n)                                                                            \
    {                                                                                              \
        .request = VU_REQ_GET_CONFIG, .kind = VU_PENDING_EXPLICIT, .config_size = (n)              \
    }

static void run_reply_cases_at(const char *file, int line, const struct reply_case *cases, size_t n)
{
    struct vu_msg m;

    for (size_t i = 0; i < n; i++) {
        const struct reply_case *c = &cases[i];
        struct vu_error err = { { 0 } };
        int fds[VU_MAX_FDS], before = fdcount(), rc;

        build(&m, c->request, 0, c->shape, c->a, c->b, c->c);
        m.hdr.flags = c->flags;
        const struct vu_msg_desc *row = vu_msg_desc_lookup(c->ch, c->pending.request);
        attach_fds(&m, fds, c->nfds, row ? row->reply_fd_kind : VU_FDK_ANY);
        rc = vu_validate_reply(&c->pending, c->ch, &m, &err);
        last_error = err;
        if (rc != c->want) {
            fprintf(stderr, "%s:%d: reply case \"%s\": got %d (%s), want %d\n", file, line, c->what,
                    rc, err.text, c->want);
            vu_msg_close_fds(&m);
            _fail(file, line);
        }
        check_fd_fate(file, line, c->what, rc, &m, fds, c->nfds, false, before);
    }
}

#define run_reply_cases(cases) run_reply_cases_at(__FILE__, __LINE__, cases, ARRAY_SIZE(cases))

static void replies(void **state)
{
    static const struct reply_case cases[] = {
        /* the header */
        { "GET_FEATURES", FE, EXPLICIT(1), 1, RF, P_U64, 7, 0, 0, 0, 0 },
        { "another request's reply", FE, EXPLICIT(1), 15, RF, P_U64, 7, 0, 0, 1, -EPROTO },
        { "a reply to nothing known", FE, EXPLICIT(1), 0, RF, P_U64, 7, 0, 0, 1, -EPROTO },
        { "no REPLY flag", FE, EXPLICIT(1), 1, VU_VERSION, P_U64, 7, 0, 0, 1, -EPROTO },
        { "REPLY and NEED_REPLY", FE, EXPLICIT(1), 1, RF | VU_FLAG_NEED_REPLY, P_U64, 7, 0, 0, 1,
          -EPROTO },
        { "version 0", FE, EXPLICIT(1), 1, VU_FLAG_REPLY, P_U64, 7, 0, 0, 0, -EPROTO },
        { "version 2", FE, EXPLICIT(1), 1, 2 | VU_FLAG_REPLY, P_U64, 7, 0, 0, 0, -EPROTO },
        { "unknown flag", FE, EXPLICIT(1), 1, RF | 0x10, P_U64, 7, 0, 0, 1, -EPROTO },
        { "pending unknown request", FE, EXPLICIT(999), 999, RF, P_U64, 0, 0, 0, 1, -EOPNOTSUPP },
        /* explicit reply sizes and fds */
        { "GET_FEATURES, no payload", FE, EXPLICIT(1), 1, RF, P_NONE, 0, 0, 0, 0, -EBADMSG },
        { "GET_FEATURES, 16 bytes", FE, EXPLICIT(1), 1, RF, P_SIZE, 16, 0, 0, 0, -EBADMSG },
        { "GET_FEATURES, an fd", FE, EXPLICIT(1), 1, RF, P_U64, 7, 0, 0, 1, -EBADF },
        { "GET_VRING_BASE", FE, EXPLICIT(11), 11, RF, P_STATE, 0, 17, 0, 0, 0 },
        { "GET_VRING_BASE, 16 bytes", FE, EXPLICIT(11), 11, RF, P_SIZE, 16, 0, 0, 0, -EBADMSG },
        { "IOVA range", FE, EXPLICIT(VU_REQ_VDPA_GET_IOVA_RANGE), VU_REQ_VDPA_GET_IOVA_RANGE, RF,
          P_SIZE, 16, 0, 0, 0, 0 },
        { "IOVA range, 8 bytes", FE, EXPLICIT(VU_REQ_VDPA_GET_IOVA_RANGE),
          VU_REQ_VDPA_GET_IOVA_RANGE, RF, P_U64, 0, 0, 0, 0, -EBADMSG },
        { "SUSPEND", FE, EXPLICIT(VU_REQ_VDPA_SUSPEND), VU_REQ_VDPA_SUSPEND, RF, P_U64, 0, 0, 0, 0,
          0 },
        { "POSTCOPY_ADVISE with its fd", FE, EXPLICIT(28), 28, RF, P_NONE, 0, 0, 0, 1, 0 },
        /* acks */
        { "ack", FE, ACKED(5), 5, RF, P_U64, 0, 0, 0, 0, 0 },
        { "ack, failure value", FE, ACKED(5), 5, RF, P_U64, 22, 0, 0, 0, 0 },
        { "ack, no payload", FE, ACKED(5), 5, RF, P_NONE, 0, 0, 0, 0, -EBADMSG },
        { "ack, 4 bytes", FE, ACKED(5), 5, RF, P_SIZE, 4, 0, 0, 0, -EBADMSG },
        { "ack, 16 bytes", FE, ACKED(5), 5, RF, P_SIZE, 16, 0, 0, 0, -EBADMSG },
        { "ack, an fd", FE, ACKED(5), 5, RF, P_U64, 0, 0, 0, 1, -EBADF },
        { "ack of IOTLB_MSG", FE, ACKED(22), 22, RF, P_U64, 0, 0, 0, 0, 0 },
        { "an ack pending for any request", FE, ACKED(1), 1, RF, P_U64, 0, 0, 0, 0, 0 },
        /* GET_CONFIG: as asked, or size 0 */
        { "GET_CONFIG, size 0", FE, CONFIG_ASKED(6), 24, RF, P_NONE, 0, 0, 0, 0, 0 },
        { "GET_CONFIG, as asked", FE, CONFIG_ASKED(6), 24, RF, P_CONFIG, 4, 6, 0, 0, 0 },
        { "GET_CONFIG, 2 more", FE, CONFIG_ASKED(6), 24, RF, P_CONFIG, 4, 8, 0, 0, -EBADMSG },
        { "GET_CONFIG, 1 less", FE, CONFIG_ASKED(6), 24, RF, P_CONFIG, 4, 5, 0, 0, -EBADMSG },
        { "GET_CONFIG, 0 config bytes", FE, CONFIG_ASKED(6), 24, RF, P_CONFIG, 4, 0, 0, 0,
          -EBADMSG },
        { "GET_CONFIG, 256 asked", FE, CONFIG_ASKED(256), 24, RF, P_CONFIG, 0, 256, 0, 0, 0 },
        { "GET_CONFIG, half a header", FE, CONFIG_ASKED(6), 24, RF, P_SIZE, 6, 0, 0, 0, -EBADMSG },
        { "GET_CONFIG, an fd", FE, CONFIG_ASKED(6), 24, RF, P_CONFIG, 4, 6, 0, 1, -EBADF },
        /* GET_INFLIGHT_FD: exactly one fd */
        { "GET_INFLIGHT_FD, one fd", FE, EXPLICIT(31), 31, RF, P_SIZE, 24, 0, 0, 1, 0 },
        { "GET_INFLIGHT_FD, no fd", FE, EXPLICIT(31), 31, RF, P_SIZE, 24, 0, 0, 0, -EBADF },
        { "GET_INFLIGHT_FD, two fds", FE, EXPLICIT(31), 31, RF, P_SIZE, 24, 0, 0, 2, -EBADF },
        { "GET_INFLIGHT_FD, 16 bytes", FE, EXPLICIT(31), 31, RF, P_SIZE, 16, 0, 0, 1, -EBADMSG },
        /* SET_DEVICE_STATE_FD: 0 or 1 fd */
        { "SET_DEVICE_STATE_FD, no fd", FE, EXPLICIT(42), 42, RF, P_U64, 0, 0, 0, 0, 0 },
        { "SET_DEVICE_STATE_FD, one fd", FE, EXPLICIT(42), 42, RF, P_U64, 0, 0, 0, 1, 0 },
        { "SET_DEVICE_STATE_FD, two fds", FE, EXPLICIT(42), 42, RF, P_U64, 0, 0, 0, 2, -EBADF },
        { "GET_SHARED_OBJECT, one fd", FE, EXPLICIT(41), 41, RF, P_U64, 0, 0, 0, 1, 0 },
        /* back-end channel */
        { "SHARED_OBJECT_LOOKUP, one fd", BE, EXPLICIT(8), 8, RF, P_U64, 0, 0, 0, 1, 0 },
        { "SHARED_OBJECT_LOOKUP, three fds", BE, EXPLICIT(8), 8, RF, P_U64, 0, 0, 0, 3, -EBADF },
        { "back-end IOTLB ack", BE, ACKED(1), 1, RF, P_U64, 0, 0, 0, 0, 0 },
        { "back-end ack, wrong request", BE, ACKED(1), 2, RF, P_U64, 0, 0, 0, 1, -EPROTO },
    };

    (void)state;
    run_reply_cases(cases);
}

/* A reply validated with err == NULL, and the expects -> validate chain. */
static void reply_round(void **state)
{
    struct vu_session_limits l = limits(VU_BIT(VU_PF_CONFIG));
    const struct vu_msg_desc *d;
    struct vu_pending p;
    struct vu_msg req, rep;

    (void)state;
    build(&req, VU_REQ_GET_CONFIG, 0, P_CONFIG, 8, 4, 0);
    assert_int_equal(vu_validate_request(&l, FE, &req, &d, NULL), 0);
    assert_true(vu_request_expects_reply(&l, d, &req, &p));
    vu_msg_make_reply(&rep, &req);
    assert_int_equal(vu_msg_set_config(&rep, 8, 4, 0, "abcd"), 0);
    assert_int_equal(vu_validate_reply(&p, FE, &rep, NULL), 0);
    vu_msg_make_reply(&rep, &req);
    assert_int_equal(vu_msg_set_config(&rep, 8, 5, 0, "abcde"), 0);
    assert_int_equal(vu_validate_reply(&p, FE, &rep, NULL), -EBADMSG);
}

/* SET_LOG_BASE's reply is a u64 in the spec, but DPDK 22.11's vhost library
 * answers it with no payload (QEMU checks only the request code). The shim
 * refused that reply and disconnected both sides, so a live migration of a
 * guest on net_vhost aborted the source QEMU (found by
 * tests/e2e/test_guest_net_migration_passthrough.sh). Both shapes pass; a
 * larger one does not. */
static void set_log_base_reply_empty_or_u64(void **state)
{
    struct vu_session_limits l = limits(VU_BIT(VU_PF_LOG_SHMFD));
    const struct vu_msg_desc *d = vu_msg_desc_lookup(FE, VU_REQ_SET_LOG_BASE);
    struct vu_log log = { .mmap_size = 4096, .mmap_offset = 0 };
    struct vu_pending p;
    struct vu_msg req, rep;
    uint8_t big[16] = { 0 };

    (void)state;
    vu_msg_init(&req, VU_REQ_SET_LOG_BASE, 0);
    assert_int_equal(vu_msg_set_payload(&req, &log, sizeof(log)), 0);
    assert_true(vu_request_expects_reply(&l, d, &req, &p));
    vu_msg_make_reply(&rep, &req);
    assert_int_equal(vu_validate_reply(&p, FE, &rep, NULL), 0);
    vu_msg_make_reply(&rep, &req);
    vu_msg_set_u64(&rep, 0);
    assert_int_equal(vu_validate_reply(&p, FE, &rep, NULL), 0);
    vu_msg_make_reply(&rep, &req);
    assert_int_equal(vu_msg_set_payload(&rep, big, sizeof(big)), 0);
    assert_int_equal(vu_validate_reply(&p, FE, &rep, NULL), -EBADMSG);
}

/*
 * BUG (lib/proto/validate.c, vu_request_expects_reply / vu_validate_reply):
 * docs/vdpa-user.md 3.1 "Rejection": under F_VDPA a back-end rejects a request
 * that has a reply payload of its own by replying with the REPLY flag and
 * size 0 (VDPA_SUSPEND/RESUME excepted: a non-zero u64), and the reference
 * back-end does exactly that (peers/vdpa-backend/device.c, reject()). The
 * validator accepts a size-0 reply only for GET_CONFIG, so vu_validate_reply
 * returns -EBADMSG (or -EBADF where the reply normally carries an fd) and the
 * relay (shim/relay.c, on_be_msg -> reject) disconnects both peers instead of
 * relaying the rejection -- e.g. a SET_DEVICE_STATE_FD refused because the
 * device is running, or a GET_VRING_BASE for a ring the device lacks.
 * Fails until fixed.
 */
static void vdpa_user_empty_failure_replies(void **state)
{
    struct vu_pending p;
    struct vu_msg req, rep;
    const struct vu_msg_desc *d;
    char what[96];
    int wrong = 0;

    (void)state;
    /* SUSPEND and RESUME are always answered with a u64, even to refuse. */
    for (uint32_t r = VU_REQ_VDPA_SUSPEND; r <= VU_REQ_VDPA_RESUME; r++) {
        struct vu_session_limits l = limits(PF_ALL_KNOWN | PF_VDPA);
        build(&req, r, 0, P_NONE, 0, 0, 0);
        d = vu_msg_desc_lookup(FE, r);
        assert_true(vu_request_expects_reply(&l, d, &req, &p));
        vu_msg_make_reply(&rep, &req);
        assert_int_equal(vu_validate_reply(&p, FE, &rep, NULL), -EBADMSG);
        vu_msg_make_reply(&rep, &req);
        vu_msg_set_u64(&rep, EBUSY);
        assert_int_equal(vu_validate_reply(&p, FE, &rep, NULL), 0);
    }

    for (size_t i = 0; i < vu_msg_desc_count(FE); i++) {
        const struct vu_msg_desc *row = vu_msg_desc_at(FE, i);
        struct vu_session_limits l = limits(PF_ALL_KNOWN | PF_VDPA);
        int before = fdcount(), rc;

        if (row->reply != VU_REPLY_ALWAYS || (row->flags & VU_DESC_FORBIDDEN_UNDER_VDPA) ||
            row->request == VU_REQ_VDPA_SUSPEND || row->request == VU_REQ_VDPA_RESUME)
            continue;
        snprintf(what, sizeof(what), "%s: empty failure reply under F_VDPA", row->name);
        for (unsigned n = build_valid(&req, row, 0); n > 0; n--)
            assert_int_equal(vu_msg_add_fd(&req, new_fd(n, row->fd_kind)), 0);
        assert_int_equal(vu_validate_request(&l, FE, &req, &d, NULL), 0);
        vu_msg_close_fds(&req);
        assert_true(vu_request_expects_reply(&l, d, &req, &p));
        vu_msg_make_reply(&rep, &req); /* REPLY flag, size 0, no fds */
        rc = vu_validate_reply(&p, FE, &rep, NULL);
        if (rc != 0) {
            fprintf(stderr, "  %s: %d (%s), want 0\n", what, rc, strerror(-rc));
            wrong++;
        }
        assert_int_equal(fdcount(), before);
    }
    if (wrong)
        fail_msg("%d requests: a vdpa-user rejection (size-0 reply) is taken for a protocol "
                 "error",
                 wrong);
}

/* ---- fd kinds ----------------------------------------------------------------- */

static int make_eventfd(void)
{
    return eventfd(0, EFD_CLOEXEC);
}
static int make_memfd(void)
{
    return memfd_create("validate-kind", MFD_CLOEXEC);
}
static int make_file(void)
{
    return open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}
static int make_chardev(void)
{
    return open("/dev/null", O_RDWR | O_CLOEXEC);
}
static int make_directory(void)
{
    return open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}
static int make_timerfd(void)
{
    return timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
}
static int make_epoll(void)
{
    return epoll_create1(EPOLL_CLOEXEC);
}

static int make_pipe(void)
{
    int p[2];

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    close(p[1]);
    return p[0];
}

/* An O_PATH fd of a memfd: names memory, but can be neither read nor mapped. */
static int make_opath_memfd(void)
{
    char path[64];
    int mfd = make_memfd(), fd;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
    fd = open(path, O_PATH | O_CLOEXEC);
    close(mfd);
    return fd;
}

/* Every kind of fd a peer could send, and which table kinds take it. */
static const struct fd_maker {
    const char *name;
    int (*make)(void);
    bool eventfd, memory, socket;
} fd_makers[] = {
    { "eventfd", make_eventfd, true, false, false },
    { "memfd", make_memfd, false, true, false },
    { "regular file", make_file, false, true, false },
    { "/dev/null", make_chardev, false, true, false }, /* device-DAX and Xen map chardevs */
    { "socket", socket_fd, false, false, true },
    { "pipe", make_pipe, false, false, false },
    { "directory", make_directory, false, false, false },
    { "O_PATH memfd", make_opath_memfd, false, false, false },
    { "timerfd", make_timerfd, false, false, false },
    { "epoll", make_epoll, false, false, false },
};

static bool maker_fits(const struct fd_maker *mk, enum vu_fd_kind kind)
{
    switch (kind) {
    case VU_FDK_EVENTFD:
        return mk->eventfd;
    case VU_FDK_MEMORY:
        return mk->memory;
    case VU_FDK_SOCKET:
        return mk->socket;
    case VU_FDK_NONE:
    case VU_FDK_ANY:
        break;
    }
    return true;
}

/* A refusal names the fd, what it is and what was expected. */
static void check_kind_text(const char *what, unsigned slot)
{
    char want[32];

    snprintf(want, sizeof(want), "fd %u is ", slot);
    if (!strstr(last_error.text, want) || !strstr(last_error.text, ", expected "))
        fail_msg("%s: error text \"%s\"", what, last_error.text);
}

/* A row that carries fds says what kind; a row that carries none says none. */
static void fd_kind_column_complete(void **state)
{
    (void)state;
    for (int ch = FE; ch <= BE; ch++) {
        for (size_t i = 0; i < vu_msg_desc_count(ch); i++) {
            const struct vu_msg_desc *d = vu_msg_desc_at(ch, i);
            if ((d->fds == VU_FDS_NONE) != (d->fd_kind == VU_FDK_NONE))
                fail_msg("%s: fd rule and fd kind disagree", d->name);
            if ((d->reply_fds == VU_FDS_NONE) != (d->reply_fd_kind == VU_FDK_NONE))
                fail_msg("%s: reply fd rule and fd kind disagree", d->name);
        }
    }
}

/* Every fd-carrying request row, sent every kind of fd in its last slot: the
 * right kinds pass, every other is refused (-EBADFD, all fds closed). */
static void fd_kinds_every_request_row(void **state)
{
    struct vu_msg m;
    char what[128];

    (void)state;
    for (int ch = FE; ch <= BE; ch++) {
        for (size_t i = 0; i < vu_msg_desc_count(ch); i++) {
            const struct vu_msg_desc *d = vu_msg_desc_at(ch, i);
            struct vu_session_limits l = limits(features_for(d));

            if (d->fd_kind == VU_FDK_NONE)
                continue;
            for (size_t k = 0; k < ARRAY_SIZE(fd_makers); k++) {
                const struct fd_maker *mk = &fd_makers[k];
                bool fits = maker_fits(mk, d->fd_kind);
                unsigned nfds = build_valid(&m, d, 0);

                if (nfds == 0)
                    nfds = 1; /* ZERO_OR_ONE, DISCARD: the one allowed */
                snprintf(what, sizeof(what), "%s with a %s", d->name, mk->name);
                forced.slot = (int)nfds - 1;
                forced.make = mk->make;
                expect_request(what, &l, ch, &m, nfds, fits ? 0 : -EBADFD);
                forced.slot = -1;
                if (!fits)
                    check_kind_text(what, nfds - 1);
            }
        }
    }
}

/* A memory table whose middle region's fd is of a wrong kind. */
static void fd_kinds_mem_table_slot(void **state)
{
    struct vu_session_limits l = limits(PF_ALL_KNOWN);
    struct vu_msg m;

    (void)state;
    for (size_t k = 0; k < ARRAY_SIZE(fd_makers); k++) {
        build(&m, VU_REQ_SET_MEM_TABLE, 0, P_MEM, 3, 0, 0);
        forced.slot = 1;
        forced.make = fd_makers[k].make;
        expect_request(fd_makers[k].name, &l, FE, &m, 3, fd_makers[k].memory ? 0 : -EBADFD);
        forced.slot = -1;
        if (!fd_makers[k].memory)
            check_kind_text(fd_makers[k].name, 1);
    }
}

/* Every reply that carries an fd, with every kind of fd. */
static void fd_kinds_every_reply_row(void **state)
{
    char what[128];

    (void)state;
    for (int ch = FE; ch <= BE; ch++) {
        for (size_t i = 0; i < vu_msg_desc_count(ch); i++) {
            const struct vu_msg_desc *d = vu_msg_desc_at(ch, i);

            if (d->reply_fd_kind == VU_FDK_NONE)
                continue;
            for (size_t k = 0; k < ARRAY_SIZE(fd_makers); k++) {
                bool fits = maker_fits(&fd_makers[k], d->reply_fd_kind);
                struct reply_case c = {
                    .what = what,
                    .ch = (enum vu_channel)ch,
                    .pending = { .request = d->request, .kind = VU_PENDING_EXPLICIT },
                    .request = d->request,
                    .flags = RF,
                    .shape = P_SIZE,
                    .a = d->reply_size.rule == VU_SIZE_RANGE ? d->reply_size.max
                                                             : d->reply_size.min,
                    .nfds = 1,
                    .want = fits ? 0 : -EBADFD,
                };
                snprintf(what, sizeof(what), "%s reply with a %s", d->name, fd_makers[k].name);
                forced.slot = 0;
                forced.make = fd_makers[k].make;
                run_reply_cases_at(__FILE__, __LINE__, &c, 1);
                forced.slot = -1;
                if (!fits)
                    check_kind_text(what, 0);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_requests),
        cmocka_unit_test(header_flags),
        cmocka_unit_test(payload_sizes),
        cmocka_unit_test(every_row_valid_and_each_rule_enforced),
        cmocka_unit_test(mem_table_counts),
        cmocka_unit_test(mem_regions_sane),
        cmocka_unit_test(rem_mem_reg_fd_discarded),
        cmocka_unit_test(fd_counts),
        cmocka_unit_test(ring_indices),
        cmocka_unit_test(config_bounds),
        cmocka_unit_test(gate_config),
        cmocka_unit_test(gate_config_implied_by_vdpa),
        cmocka_unit_test(gate_protocol_features_bit),
        cmocka_unit_test(vdpa_forbids_legacy),
        cmocka_unit_test(vdpa_requests_need_vdpa),
        cmocka_unit_test(backend_channel_gates),
        cmocka_unit_test(expected_replies),
        cmocka_unit_test(expected_replies_every_row),
        cmocka_unit_test(replies),
        cmocka_unit_test(reply_round),
        cmocka_unit_test(set_log_base_reply_empty_or_u64),
        cmocka_unit_test(vdpa_user_empty_failure_replies), /* BUG, see above */
        cmocka_unit_test(fd_kind_column_complete),
        cmocka_unit_test(fd_kinds_every_request_row),
        cmocka_unit_test(fd_kinds_mem_table_slot),
        cmocka_unit_test(fd_kinds_every_reply_row),
    };

    return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
