/* SPDX-License-Identifier: MIT */
/* Boundary validation: every rule, good and bad. Every refused message must
 * leave all of its fds closed; every accepted one keeps exactly its own. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "validate.h"

#define ALL_PF (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_LOG_SHMFD) | VU_BIT(VU_PF_REPLY_ACK) | \
                VU_BIT(VU_PF_BACKEND_REQ) | VU_BIT(VU_PF_CONFIG) | VU_BIT(VU_PF_STATUS) | \
                VU_BIT(VU_PF_CONFIGURE_MEM_SLOTS) | VU_BIT(VU_PF_INFLIGHT_SHMFD) | \
                VU_BIT(VU_PF_RESET_DEVICE) | VU_BIT(VU_PF_NET_MTU) | VU_BIT(VU_PF_HOST_NOTIFIER) | \
                VU_BIT(VU_PF_DEVICE_STATE) | VU_BIT(VU_PF_SHARED_OBJECT) | VU_BIT(VU_PF_RARP))

static struct vu_session_limits lim(uint64_t pf)
{
    struct vu_session_limits l = {
        .offered_features = VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(32),
        .features_known = true,
        .protocol_features = pf,
        .max_queues = 4,
        .config_size = 24,
    };
    return l;
}

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/* Adds n fresh eventfds to m, remembering them in fds[]. */
static void add_fds(struct vu_msg *m, int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        fds[i] = eventfd(0, EFD_CLOEXEC);
        assert_true(fds[i] >= 0);
        assert_int_equal(vu_msg_add_fd(m, fds[i]), 0);
    }
}

/* Validates a front-end request; checks the result and the fds' fate. */
static void check(const struct vu_session_limits *l, struct vu_msg *m, unsigned nfds, int want)
{
    const struct vu_msg_desc *d;
    struct vu_error err = { { 0 } };
    int fds[VU_MAX_FDS];

    add_fds(m, fds, nfds);
    assert_int_equal(vu_validate_request(l, VU_CHAN_FRONTEND, m, &d, &err), want);
    for (unsigned i = 0; i < nfds; i++) {
        if (want == 0) {
            assert_true(is_open(fds[i]));
        } else {
            assert_false(is_open(fds[i]));
            assert_int_equal(m->fds[i], -1);
        }
    }
    if (want) {
        assert_int_equal(m->nfds, 0);
        assert_true(strlen(err.text) > 10); /* a clear error, not an empty one */
    }
    vu_msg_close_fds(m);
}

static void msg_u64(struct vu_msg *m, uint32_t req, uint64_t v)
{
    vu_msg_init(m, req, 0);
    vu_msg_set_u64(m, v);
}

static void unknown_and_flags(void **state)
{
    struct vu_session_limits l = lim(ALL_PF);
    const struct vu_msg_desc *d;
    struct vu_msg m;

    (void)state;
    vu_msg_init(&m, 44, 0);
    check(&l, &m, 1, -EOPNOTSUPP);
    vu_msg_init(&m, 0x1ff, 0);
    assert_int_equal(vu_validate_request(&l, VU_CHAN_FRONTEND, &m, &d, NULL), -EOPNOTSUPP);
    assert_null(d);
    vu_msg_init(&m, 9, 0);
    assert_int_equal(vu_validate_request(&l, VU_CHAN_BACKEND, &m, &d, NULL), -EOPNOTSUPP);

    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    check(&l, &m, 0, 0);
    vu_msg_init(&m, VU_REQ_GET_FEATURES, VU_FLAG_NEED_REPLY);
    check(&l, &m, 0, 0);
    const uint32_t bad[] = { 0, 2, 3, VU_VERSION | VU_FLAG_REPLY, VU_VERSION | 0x10,
                             VU_VERSION | 0x80000000u };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
        m.hdr.flags = bad[i];
        check(&l, &m, 1, -EPROTO);
    }
    assert_true(vu_header_flags_ok(VU_VERSION | VU_FLAG_REPLY, true));
    assert_false(vu_header_flags_ok(VU_VERSION | VU_FLAG_REPLY | VU_FLAG_NEED_REPLY, true));
    assert_false(vu_header_flags_ok(VU_VERSION, true));
}

static void payload_sizes(void **state)
{
    struct vu_session_limits l = lim(ALL_PF);
    struct vu_msg m;

    (void)state;
    /* EXACT: no payload, u64, vring state, vring addr */
    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    m.hdr.size = 8;
    check(&l, &m, 0, -EBADMSG);
    msg_u64(&m, VU_REQ_SET_FEATURES, 1);
    check(&l, &m, 0, 0);
    msg_u64(&m, VU_REQ_SET_FEATURES, 1);
    m.hdr.size = 4;
    check(&l, &m, 0, -EBADMSG);
    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 0);
    vu_msg_set_state(&m, 0, 256);
    m.hdr.size = 12;
    check(&l, &m, 0, -EBADMSG);
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    m.hdr.size = 32;
    check(&l, &m, 0, -EBADMSG);
    /* RANGE: SET_LOG_FD takes 0..8 bytes */
    vu_msg_init(&m, VU_REQ_SET_LOG_FD, 0);
    check(&l, &m, 1, 0);
    vu_msg_init(&m, VU_REQ_SET_LOG_FD, 0);
    m.hdr.size = 9;
    check(&l, &m, 1, -EBADMSG);
}

static void memory_tables(void **state)
{
    struct vu_session_limits l = lim(ALL_PF);
    struct vu_mem_region r[VU_MAX_MEM_REGIONS];
    struct vu_msg m;

    (void)state;
    for (unsigned i = 0; i < VU_MAX_MEM_REGIONS; i++)
        r[i] = (struct vu_mem_region){ i * 0x1000000ull, 0x100000, 0x7f0000000000 + i * 0x1000000ull, 0 };
    for (uint32_t n = 1; n <= VU_MAX_MEM_REGIONS; n++) {
        vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
        vu_msg_set_mem_table(&m, r, n);
        check(&l, &m, n, 0);           /* one fd per region */
    }
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&m, r, 2);
    check(&l, &m, 1, -EBADF);          /* fds != regions */
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&m, r, 2);
    check(&l, &m, 3, -EBADF);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&m, r, 0);
    check(&l, &m, 0, -EBADMSG);        /* no region at all */
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&m, r, 8);
    m.payload.mem.nregions = 9;
    check(&l, &m, 8, -E2BIG);          /* over the limit */
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&m, r, 2);
    m.hdr.size -= 4;
    check(&l, &m, 2, -EBADMSG);        /* size disagrees with the count */
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&m, r, 1);
    m.payload.mem.regions[0].memory_size = 0;
    check(&l, &m, 1, -EINVAL);         /* empty region */
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&m, r, 1);
    m.payload.mem.regions[0].userspace_addr = UINT64_MAX - 10;
    check(&l, &m, 1, -EINVAL);         /* wraps around */

    vu_msg_init(&m, VU_REQ_ADD_MEM_REG, 0);
    m.payload.mem_single.region = r[0];
    m.hdr.size = sizeof(struct vu_mem_single);
    check(&l, &m, 1, 0);
    vu_msg_init(&m, VU_REQ_ADD_MEM_REG, 0);
    m.payload.mem_single.region = r[0];
    m.payload.mem_single.region.guest_phys_addr = UINT64_MAX;
    m.hdr.size = sizeof(struct vu_mem_single);
    check(&l, &m, 1, -EINVAL);
}

static void fd_rules(void **state)
{
    struct vu_session_limits l = lim(ALL_PF);
    const struct vu_msg_desc *d;
    struct vu_msg m;
    int fd;

    (void)state;
    for (uint32_t req = VU_REQ_SET_VRING_KICK; req <= VU_REQ_SET_VRING_ERR; req++) {
        msg_u64(&m, req, 1);
        check(&l, &m, 1, 0);
        msg_u64(&m, req, 1);
        check(&l, &m, 0, -EBADF);
        msg_u64(&m, req, 1 | VU_VRING_NOFD_MASK);
        check(&l, &m, 0, 0);                   /* polling: no fd */
        msg_u64(&m, req, 1 | VU_VRING_NOFD_MASK);
        check(&l, &m, 1, -EBADF);
    }
    vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, 0);
    check(&l, &m, 1, 0);
    vu_msg_init(&m, VU_REQ_SET_BACKEND_REQ_FD, 0);
    check(&l, &m, 2, -EBADF);
    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    check(&l, &m, 1, -EBADF);                  /* fds where none belong */

    /* REM_MEM_REG: one fd tolerated (old front-ends) and closed unused. */
    vu_msg_init(&m, VU_REQ_REM_MEM_REG, 0);
    m.payload.mem_single.region = (struct vu_mem_region){ 0, 0x1000, 0x7f0000000000, 0 };
    m.hdr.size = sizeof(struct vu_mem_single);
    fd = eventfd(0, EFD_CLOEXEC);
    vu_msg_add_fd(&m, fd);
    assert_int_equal(vu_validate_request(&l, VU_CHAN_FRONTEND, &m, &d, NULL), 0);
    assert_false(is_open(fd));
    assert_int_equal(m.nfds, 0);
}

static void ring_indices(void **state)
{
    struct vu_session_limits l = lim(ALL_PF);
    struct vu_vring_addr a = { 0 };
    struct vu_msg m;

    (void)state;
    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 0);
    vu_msg_set_state(&m, 3, 256);
    check(&l, &m, 0, 0);
    vu_msg_init(&m, VU_REQ_SET_VRING_NUM, 0);
    vu_msg_set_state(&m, 4, 256);             /* max_queues is 4 */
    check(&l, &m, 0, -ERANGE);
    a.index = 4;
    vu_msg_init(&m, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&m, &a);
    check(&l, &m, 0, -ERANGE);
    msg_u64(&m, VU_REQ_SET_VRING_CALL, 4);
    check(&l, &m, 1, -ERANGE);
    msg_u64(&m, VU_REQ_SET_VRING_CALL, 0x103); /* index 3 with NOFD */
    check(&l, &m, 0, 0);
    l.max_queues = 0;                          /* unknown: the 8-bit limit */
    vu_msg_init(&m, VU_REQ_GET_VRING_BASE, 0);
    vu_msg_set_state(&m, 255, 0);
    check(&l, &m, 0, 0);
    vu_msg_init(&m, VU_REQ_GET_VRING_BASE, 0);
    vu_msg_set_state(&m, 256, 0);
    check(&l, &m, 0, -ERANGE);
}

static void config_bounds(void **state)
{
    struct vu_session_limits l = lim(ALL_PF);
    struct vu_msg m;

    (void)state;
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 0, 24, 0, NULL);
    check(&l, &m, 0, 0);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 20, 8, 0, NULL);     /* 28 > 24 */
    check(&l, &m, 0, -ERANGE);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 25, 1, 0, NULL);     /* offset alone beyond */
    check(&l, &m, 0, -ERANGE);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, UINT32_MAX, 2, 0, NULL); /* no wrap-around */
    check(&l, &m, 0, -ERANGE);
    vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
    vu_msg_set_config(&m, 0, 0, 0, NULL);
    check(&l, &m, 0, -EBADMSG);                /* an access of 0 bytes */
    vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
    vu_msg_set_config(&m, 0, 6, 2, NULL);
    check(&l, &m, 0, -EINVAL);                 /* unknown flags */
    vu_msg_init(&m, VU_REQ_SET_CONFIG, 0);
    vu_msg_set_config(&m, 0, 6, 0, NULL);
    m.payload.config.size = 300;
    check(&l, &m, 0, -EBADMSG);
    l.config_size = 0;                         /* unknown: up to 256 */
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 0, 256, 0, NULL);
    check(&l, &m, 0, 0);
}

static void feature_gates(void **state)
{
    struct vu_session_limits l = lim(0);
    struct vu_msg m;

    (void)state;
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 0, 6, 0, NULL);
    check(&l, &m, 0, -EPERM);                  /* CONFIG not negotiated */
    l.protocol_features = VU_BIT(VU_PF_CONFIG);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 0, 6, 0, NULL);
    check(&l, &m, 0, 0);

    vu_msg_init(&m, VU_REQ_SET_VRING_ENABLE, 0);
    vu_msg_set_state(&m, 0, 1);
    check(&l, &m, 0, 0);
    l.offered_features = VU_BIT(32);           /* no F_PROTOCOL_FEATURES */
    vu_msg_init(&m, VU_REQ_SET_VRING_ENABLE, 0);
    vu_msg_set_state(&m, 0, 1);
    check(&l, &m, 0, -EPERM);
    vu_msg_init(&m, VU_REQ_GET_PROTOCOL_FEATURES, 0);
    check(&l, &m, 0, -EPERM);
    l.offered_features = VU_BIT(VU_F_PROTOCOL_FEATURES);
    l.features_known = false;                  /* no GET_FEATURES answer yet */
    vu_msg_init(&m, VU_REQ_GET_PROTOCOL_FEATURES, 0);
    check(&l, &m, 0, -EPERM);
}

static void vdpa_rules(void **state)
{
    struct vu_session_limits legacy = lim(ALL_PF);
    struct vu_session_limits vdpa = lim(ALL_PF | VU_BIT(VU_PF_VDPA));
    const uint32_t forbidden[] = { VU_REQ_RESET_OWNER, VU_REQ_GET_QUEUE_NUM, VU_REQ_RESET_DEVICE };
    const uint32_t vdpa_only[] = { VU_REQ_VDPA_GET_DEVICE_ID, VU_REQ_VDPA_GET_VRING_NUM,
                                   VU_REQ_VDPA_GET_IOVA_RANGE, VU_REQ_VDPA_GET_CONFIG_SIZE,
                                   VU_REQ_VDPA_SUSPEND, VU_REQ_VDPA_RESUME,
                                   VU_REQ_VDPA_GET_VQS_COUNT };
    struct vu_msg m;

    (void)state;
    for (unsigned i = 0; i < 3; i++) {
        vu_msg_init(&m, forbidden[i], 0);
        check(&legacy, &m, 0, 0);
        vu_msg_init(&m, forbidden[i], 0);
        check(&vdpa, &m, 0, -EPERM);
    }
    msg_u64(&m, VU_REQ_NET_SET_MTU, 1500);
    check(&legacy, &m, 0, 0);
    msg_u64(&m, VU_REQ_NET_SET_MTU, 1500);
    check(&vdpa, &m, 0, -EPERM);
    for (unsigned i = 0; i < sizeof(vdpa_only) / sizeof(vdpa_only[0]); i++) {
        vu_msg_init(&m, vdpa_only[i], 0);
        check(&legacy, &m, 0, -EPERM);
        vu_msg_init(&m, vdpa_only[i], 0);
        check(&vdpa, &m, 0, 0);
    }
    msg_u64(&m, VU_REQ_VDPA_SET_CONFIG_CALL, 0);
    check(&vdpa, &m, 1, 0);
    msg_u64(&m, VU_REQ_VDPA_SET_CONFIG_CALL, VU_VRING_NOFD_MASK);
    check(&vdpa, &m, 0, 0);
    msg_u64(&m, VU_REQ_VDPA_SET_CONFIG_CALL, 0);
    check(&vdpa, &m, 0, -EBADF);
}

static void backend_channel(void **state)
{
    struct vu_session_limits l = lim(ALL_PF);
    const struct vu_msg_desc *d;
    struct vu_msg m;
    struct vu_vring_area area = { 1, 0x1000, 0 };
    int fd;

    (void)state;
    vu_msg_init(&m, VU_BREQ_CONFIG_CHANGE_MSG, VU_FLAG_NEED_REPLY);
    assert_int_equal(vu_validate_request(&l, VU_CHAN_BACKEND, &m, &d, NULL), 0);
    l.protocol_features |= VU_BIT(VU_PF_VDPA);
    assert_int_equal(vu_validate_request(&l, VU_CHAN_BACKEND, &m, &d, NULL), -EPERM);
    l.protocol_features = ALL_PF & ~VU_BIT(VU_PF_BACKEND_REQ);
    assert_int_equal(vu_validate_request(&l, VU_CHAN_BACKEND, &m, &d, NULL), -EPERM);

    /* A host notifier fd may go to the front-end only when negotiated. */
    l.protocol_features = ALL_PF & ~VU_BIT(VU_PF_HOST_NOTIFIER);
    vu_msg_init(&m, VU_BREQ_VRING_HOST_NOTIFIER_MSG, 0);
    vu_msg_set_payload(&m, &area, sizeof(area));
    fd = eventfd(0, EFD_CLOEXEC);
    vu_msg_add_fd(&m, fd);
    assert_int_equal(vu_validate_request(&l, VU_CHAN_BACKEND, &m, &d, NULL), -EPERM);
    assert_false(is_open(fd));
    l.protocol_features = ALL_PF;
    vu_msg_init(&m, VU_BREQ_VRING_HOST_NOTIFIER_MSG, 0);
    vu_msg_set_payload(&m, &area, sizeof(area));
    fd = eventfd(0, EFD_CLOEXEC);
    vu_msg_add_fd(&m, fd);
    assert_int_equal(vu_validate_request(&l, VU_CHAN_BACKEND, &m, &d, NULL), 0);
    assert_true(is_open(fd));
    vu_msg_close_fds(&m);
}

static void expected_replies(void **state)
{
    struct vu_session_limits l = lim(0);
    const struct vu_msg_desc *d;
    struct vu_pending p;
    struct vu_msg m;

    (void)state;
    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m.hdr.request);
    assert_true(vu_request_expects_reply(&l, d, &m, &p));
    assert_int_equal(p.kind, VU_PENDING_EXPLICIT);

    msg_u64(&m, VU_REQ_SET_FEATURES, 0);
    m.hdr.flags |= VU_FLAG_NEED_REPLY;
    d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m.hdr.request);
    assert_false(vu_request_expects_reply(&l, d, &m, &p)); /* no REPLY_ACK yet */
    l.protocol_features = VU_BIT(VU_PF_REPLY_ACK);
    assert_true(vu_request_expects_reply(&l, d, &m, &p));
    assert_int_equal(p.kind, VU_PENDING_ACK);
    m.hdr.flags &= ~VU_FLAG_NEED_REPLY;
    assert_false(vu_request_expects_reply(&l, d, &m, &p));

    l.protocol_features = 0;
    vu_msg_init(&m, VU_REQ_IOTLB_MSG, VU_FLAG_NEED_REPLY);
    m.hdr.size = sizeof(struct vu_iotlb);
    d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m.hdr.request);
    assert_true(vu_request_expects_reply(&l, d, &m, &p)); /* as QEMU sends it */

    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 4, 6, 0, NULL);
    d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, m.hdr.request);
    assert_true(vu_request_expects_reply(&l, d, &m, &p));
    assert_int_equal(p.config_size, 6);
}

/* Validates a reply to `pending`; checks result and fd fate. */
static void check_reply(struct vu_pending *p, struct vu_msg *m, unsigned nfds, int want)
{
    int fds[VU_MAX_FDS];

    add_fds(m, fds, nfds);
    assert_int_equal(vu_validate_reply(p, VU_CHAN_FRONTEND, m, NULL), want);
    for (unsigned i = 0; i < nfds; i++)
        assert_int_equal(is_open(fds[i]), want == 0);
    vu_msg_close_fds(m);
}

static void replies(void **state)
{
    struct vu_pending feat = { VU_REQ_GET_FEATURES, VU_PENDING_EXPLICIT, 0 };
    struct vu_pending ack = { VU_REQ_SET_MEM_TABLE, VU_PENDING_ACK, 0 };
    struct vu_pending cfg = { VU_REQ_GET_CONFIG, VU_PENDING_EXPLICIT, 6 };
    struct vu_pending infl = { VU_REQ_GET_INFLIGHT_FD, VU_PENDING_EXPLICIT, 0 };
    struct vu_pending dev = { VU_REQ_SET_DEVICE_STATE_FD, VU_PENDING_EXPLICIT, 0 };
    struct vu_msg m;

    (void)state;
    vu_msg_init(&m, VU_REQ_GET_FEATURES, VU_FLAG_REPLY);
    vu_msg_set_u64(&m, 1);
    check_reply(&feat, &m, 0, 0);
    vu_msg_init(&m, VU_REQ_GET_PROTOCOL_FEATURES, VU_FLAG_REPLY);
    vu_msg_set_u64(&m, 1);
    check_reply(&feat, &m, 0, -EPROTO);       /* answers something else */
    vu_msg_init(&m, VU_REQ_GET_FEATURES, 0);
    vu_msg_set_u64(&m, 1);
    check_reply(&feat, &m, 0, -EPROTO);       /* no REPLY flag */
    vu_msg_init(&m, VU_REQ_GET_FEATURES, VU_FLAG_REPLY);
    check_reply(&feat, &m, 0, -EBADMSG);      /* no payload */
    vu_msg_init(&m, VU_REQ_GET_FEATURES, VU_FLAG_REPLY);
    vu_msg_set_u64(&m, 1);
    check_reply(&feat, &m, 1, -EBADF);        /* an fd it may not carry */

    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, VU_FLAG_REPLY);
    vu_msg_set_u64(&m, 0);
    check_reply(&ack, &m, 0, 0);
    vu_msg_init(&m, VU_REQ_SET_MEM_TABLE, VU_FLAG_REPLY);
    vu_msg_set_state(&m, 0, 0);
    m.hdr.size = 4;
    check_reply(&ack, &m, 0, -EBADMSG);

    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    check_reply(&cfg, &m, 0, 0);              /* size 0: the spec's failure */
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    vu_msg_set_config(&m, 4, 6, 0, NULL);
    check_reply(&cfg, &m, 0, 0);
    vu_msg_init(&m, VU_REQ_GET_CONFIG, VU_FLAG_REPLY);
    vu_msg_set_config(&m, 4, 8, 0, NULL);
    check_reply(&cfg, &m, 0, -EBADMSG);       /* not the size asked for */

    vu_msg_init(&m, VU_REQ_GET_INFLIGHT_FD, VU_FLAG_REPLY);
    m.hdr.size = sizeof(struct vu_inflight);
    check_reply(&infl, &m, 1, 0);
    vu_msg_init(&m, VU_REQ_GET_INFLIGHT_FD, VU_FLAG_REPLY);
    m.hdr.size = sizeof(struct vu_inflight);
    check_reply(&infl, &m, 0, -EBADF);

    for (unsigned n = 0; n <= 2; n++) {
        vu_msg_init(&m, VU_REQ_SET_DEVICE_STATE_FD, VU_FLAG_REPLY);
        vu_msg_set_u64(&m, 0);
        check_reply(&dev, &m, n, n <= 1 ? 0 : -EBADF);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_and_flags),
        cmocka_unit_test(payload_sizes),
        cmocka_unit_test(memory_tables),
        cmocka_unit_test(fd_rules),
        cmocka_unit_test(ring_indices),
        cmocka_unit_test(config_bounds),
        cmocka_unit_test(feature_gates),
        cmocka_unit_test(vdpa_rules),
        cmocka_unit_test(backend_channel),
        cmocka_unit_test(expected_replies),
        cmocka_unit_test(replies),
    };

    return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
