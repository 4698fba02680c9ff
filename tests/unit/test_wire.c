/* SPDX-License-Identifier: MIT */
/* Wire format: round trips of every payload type, fd slots, and the
 * message-descriptor table's own consistency. */
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

#include "msg_table.h"
#include "vhost_user.h"

/* Encodes msg to bytes and decodes them into a fresh message, as the
 * transport does on either side of a socket. */
static void round_trip(const struct vu_msg *in, struct vu_msg *out)
{
    uint8_t bytes[VU_HDR_SIZE + VU_MAX_PAYLOAD];

    vu_hdr_encode(&in->hdr, bytes);
    memcpy(bytes + VU_HDR_SIZE, in->payload.bytes, in->hdr.size);
    memset(out, 0xa5, sizeof(*out));
    vu_hdr_decode(bytes, &out->hdr);
    memcpy(out->payload.bytes, bytes + VU_HDR_SIZE, out->hdr.size);
    assert_int_equal(vu_msg_wire_size(in), VU_HDR_SIZE + in->hdr.size);
    assert_int_equal(out->hdr.request, in->hdr.request);
    assert_int_equal(out->hdr.flags, in->hdr.flags);
    assert_int_equal(out->hdr.size, in->hdr.size);
}

static void header_layout(void **state)
{
    struct vu_hdr h = { 0x01020304, VU_VERSION | VU_FLAG_NEED_REPLY, 0x10 }, back;
    uint8_t bytes[VU_HDR_SIZE];
    uint32_t word;

    (void)state;
    vu_hdr_encode(&h, bytes);
    memcpy(&word, bytes, 4); /* request first, then flags, then size */
    assert_int_equal(word, 0x01020304);
    memcpy(&word, bytes + 4, 4);
    assert_int_equal(word, 0x9);
    memcpy(&word, bytes + 8, 4);
    assert_int_equal(word, 0x10);
    vu_hdr_decode(bytes, &back);
    assert_memory_equal(&h, &back, sizeof(h));
}

static void init_sets_version_and_clears(void **state)
{
    struct vu_msg m;

    (void)state;
    memset(&m, 0x55, sizeof(m));
    vu_msg_init(&m, VU_REQ_GET_FEATURES, VU_FLAG_NEED_REPLY | 0x3);
    assert_int_equal(m.hdr.flags, VU_VERSION | VU_FLAG_NEED_REPLY);
    assert_int_equal(m.hdr.size, 0);
    assert_int_equal(m.nfds, 0);
    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        assert_int_equal(m.fds[i], -1);
}

static void u64_state_addr(void **state)
{
    struct vu_msg in, out;
    struct vu_vring_state st;
    struct vu_vring_addr a = { 3, VU_VRING_F_LOG, 0x1000, 0x2000, 0x3000, 0x4000 }, ab;
    uint64_t v;

    (void)state;
    vu_msg_init(&in, VU_REQ_SET_FEATURES, 0);
    vu_msg_set_u64(&in, 0x123456789abcdef0);
    round_trip(&in, &out);
    assert_int_equal(vu_msg_get_u64(&out, &v), 0);
    assert_int_equal(v, 0x123456789abcdef0);

    vu_msg_init(&in, VU_REQ_SET_VRING_NUM, 0);
    vu_msg_set_state(&in, 7, 256);
    round_trip(&in, &out);
    assert_int_equal(out.hdr.size, 8);
    assert_int_equal(vu_msg_get_state(&out, &st), 0);
    assert_int_equal(st.index, 7);
    assert_int_equal(st.num, 256);
    assert_int_equal(vu_msg_get_u64(&out, &v), 0); /* same size, other view */

    vu_msg_init(&in, VU_REQ_SET_VRING_ADDR, 0);
    vu_msg_set_addr(&in, &a);
    round_trip(&in, &out);
    assert_int_equal(out.hdr.size, 40);
    assert_int_equal(vu_msg_get_addr(&out, &ab), 0);
    assert_memory_equal(&a, &ab, sizeof(a));
    assert_int_equal(vu_msg_get_state(&out, &st), -EBADMSG);
}

static void memory_table(void **state)
{
    struct vu_mem_region r[VU_MAX_MEM_REGIONS + 1];
    struct vu_mem_table t;
    struct vu_msg in, out;

    (void)state;
    for (unsigned i = 0; i <= VU_MAX_MEM_REGIONS; i++)
        r[i] = (struct vu_mem_region){ i * 0x100000, 0x100000, 0x7f0000000000 + i * 0x100000, i };
    for (uint32_t n = 0; n <= VU_MAX_MEM_REGIONS; n++) {
        vu_msg_init(&in, VU_REQ_SET_MEM_TABLE, 0);
        assert_int_equal(vu_msg_set_mem_table(&in, r, n), 0);
        assert_int_equal(in.hdr.size, 8 + 32 * n);
        round_trip(&in, &out);
        assert_int_equal(vu_msg_get_mem_table(&out, &t), 0);
        assert_int_equal(t.nregions, n);
        assert_memory_equal(t.regions, r, n * sizeof(r[0]));
    }
    assert_int_equal(vu_msg_set_mem_table(&in, r, VU_MAX_MEM_REGIONS + 1), -EINVAL);
    /* A count that disagrees with the size is malformed. */
    vu_msg_init(&in, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_set_mem_table(&in, r, 2);
    in.payload.mem.nregions = 3;
    assert_int_equal(vu_msg_get_mem_table(&in, &t), -EBADMSG);
    in.payload.mem.nregions = 9;
    assert_int_equal(vu_msg_get_mem_table(&in, &t), -EBADMSG);
}

static void config_space(void **state)
{
    uint8_t data[VU_MAX_CONFIG_SIZE + 1];
    struct vu_config c;
    struct vu_msg in, out;
    const uint32_t sizes[] = { 0, 1, 6, VU_MAX_CONFIG_SIZE };

    (void)state;
    for (unsigned i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 1);
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        vu_msg_init(&in, VU_REQ_GET_CONFIG, 0);
        assert_int_equal(vu_msg_set_config(&in, 4, sizes[i], VU_CONFIG_F_MIGRATION, data), 0);
        assert_int_equal(in.hdr.size, 12 + sizes[i]);
        round_trip(&in, &out);
        assert_int_equal(vu_msg_get_config(&out, &c), 0);
        assert_int_equal(c.offset, 4);
        assert_int_equal(c.size, sizes[i]);
        assert_int_equal(c.flags, VU_CONFIG_F_MIGRATION);
        if (sizes[i])
            assert_memory_equal(c.data, data, sizes[i]);
    }
    assert_int_equal(vu_msg_set_config(&in, 0, VU_MAX_CONFIG_SIZE + 1, 0, data), -EINVAL);
    vu_msg_init(&in, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&in, 0, 8, 0, NULL);
    in.payload.config.size = 9; /* disagrees with the header */
    assert_int_equal(vu_msg_get_config(&in, &c), -EBADMSG);
}

/* Every fixed-size payload: set, round trip, read back, wrong size refused. */
static void fixed_payloads(void **state)
{
    struct vu_mem_single single = { 0, { 0x1000, 0x2000, 0x3000, 0x40 } };
    struct vu_log log = { 0x10000, 0x200 };
    struct vu_iotlb iotlb = { 0x1000, 0x2000, 0x7f00, 3, 2, { 0 } };
    struct vu_vring_area area = { 5 | VU_VRING_NOFD_MASK, 0x1000, 0x2000 };
    struct vu_inflight inflight = { 0x4000, 0x80, 4, 256, 0 };
    struct vu_device_state ds = { 1, 0 };
    struct vu_shared_object obj = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 } };
    struct vu_iova_range range = { 0x1000, UINT64_MAX };
    struct {
        uint32_t req;
        const void *payload;
        size_t size;
    } cases[] = {
        { VU_REQ_ADD_MEM_REG, &single, sizeof(single) },
        { VU_REQ_SET_LOG_BASE, &log, sizeof(log) },
        { VU_REQ_IOTLB_MSG, &iotlb, sizeof(iotlb) },
        { VU_BREQ_VRING_HOST_NOTIFIER_MSG, &area, sizeof(area) },
        { VU_REQ_GET_INFLIGHT_FD, &inflight, sizeof(inflight) },
        { VU_REQ_SET_DEVICE_STATE_FD, &ds, sizeof(ds) },
        { VU_REQ_GET_SHARED_OBJECT, &obj, sizeof(obj) },
        { VU_REQ_VDPA_GET_IOVA_RANGE, &range, sizeof(range) },
    };
    uint8_t back[64];
    struct vu_msg in, out;

    (void)state;
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vu_msg_init(&in, cases[i].req, 0);
        assert_int_equal(vu_msg_set_payload(&in, cases[i].payload, cases[i].size), 0);
        round_trip(&in, &out);
        assert_int_equal(vu_msg_get_payload(&out, back, cases[i].size), 0);
        assert_memory_equal(back, cases[i].payload, cases[i].size);
        assert_int_equal(vu_msg_get_payload(&out, back, cases[i].size - 1), -EBADMSG);
    }
    assert_int_equal(vu_msg_set_payload(&in, back, VU_MAX_PAYLOAD + 1), -EINVAL);
    /* Field placement of two layouts a C compiler could get wrong. */
    assert_int_equal(offsetof(struct vu_iotlb, perm), 24);
    assert_int_equal(offsetof(struct vu_inflight, queue_size), 18);
}

static bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

static void fd_slots(void **state)
{
    struct vu_msg a, b;
    int fds[VU_MAX_FDS + 1];

    (void)state;
    vu_msg_init(&a, VU_REQ_SET_MEM_TABLE, 0);
    for (unsigned i = 0; i <= VU_MAX_FDS; i++)
        fds[i] = eventfd(0, EFD_CLOEXEC);
    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        assert_int_equal(vu_msg_add_fd(&a, fds[i]), 0);
    assert_int_equal(vu_msg_add_fd(&a, fds[VU_MAX_FDS]), -E2BIG);
    close(fds[VU_MAX_FDS]);
    assert_int_equal(a.nfds, VU_MAX_FDS);

    vu_msg_init(&b, VU_REQ_SET_MEM_TABLE, 0);
    vu_msg_move_fds(&b, &a);
    assert_int_equal(a.nfds, 0);
    assert_int_equal(b.nfds, VU_MAX_FDS);
    for (unsigned i = 0; i < VU_MAX_FDS; i++) {
        assert_int_equal(a.fds[i], -1);
        assert_int_equal(b.fds[i], fds[i]);
    }
    vu_msg_close_fds(&a); /* nothing to close: must not touch b's fds */
    for (unsigned i = 0; i < VU_MAX_FDS; i++)
        assert_true(fd_is_open(fds[i]));
    vu_msg_close_fds(&b);
    assert_int_equal(b.nfds, 0);
    for (unsigned i = 0; i < VU_MAX_FDS; i++) {
        assert_false(fd_is_open(fds[i]));
        assert_int_equal(b.fds[i], -1);
    }
}

static void reply_header(void **state)
{
    struct vu_msg req, rep;

    (void)state;
    vu_msg_init(&req, VU_REQ_GET_VRING_BASE, VU_FLAG_NEED_REPLY);
    vu_msg_set_state(&req, 1, 0);
    vu_msg_make_reply(&rep, &req);
    assert_int_equal(rep.hdr.request, VU_REQ_GET_VRING_BASE);
    assert_int_equal(rep.hdr.flags, VU_VERSION | VU_FLAG_REPLY);
    assert_int_equal(rep.hdr.size, 0);
}

static void table_sorted_and_complete(void **state)
{
    static const uint32_t vdpa[] = { 0x170, 0x176, 0x177, 0x178, 0x179, 0x17D, 0x17E, 0x180 };

    (void)state;
    for (int ch = VU_CHAN_FRONTEND; ch <= VU_CHAN_BACKEND; ch++) {
        size_t n = vu_msg_desc_count(ch);
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
            const struct vu_msg_desc *d = vu_msg_desc_at(ch, i);
            assert_non_null(d->name);
            assert_true(d->name[0] != '\0');
            assert_int_equal(d->channel, ch);
            assert_ptr_equal(vu_msg_desc_lookup(ch, d->request), d);
            assert_string_equal(vu_request_name(ch, d->request), d->name);
            if (i > 0)
                assert_true(vu_msg_desc_at(ch, i - 1)->request < d->request);
            for (size_t j = 0; j < i; j++)
                assert_string_not_equal(vu_msg_desc_at(ch, j)->name, d->name);
        }
        assert_null(vu_msg_desc_at(ch, n));
    }
    for (uint32_t r = 1; r <= 43; r++)
        assert_non_null(vu_msg_desc_lookup(VU_CHAN_FRONTEND, r));
    for (unsigned i = 0; i < sizeof(vdpa) / sizeof(vdpa[0]); i++) {
        const struct vu_msg_desc *d = vu_msg_desc_lookup(VU_CHAN_FRONTEND, vdpa[i]);
        assert_non_null(d);
        assert_int_equal(d->gate, VU_PF_VDPA);
        assert_true(d->flags & VU_DESC_VDPA_ONLY);
    }
    for (uint32_t r = 1; r <= 8; r++)
        assert_non_null(vu_msg_desc_lookup(VU_CHAN_BACKEND, r));
    assert_null(vu_msg_desc_lookup(VU_CHAN_FRONTEND, 0));
    assert_null(vu_msg_desc_lookup(VU_CHAN_FRONTEND, 44));
    assert_null(vu_msg_desc_lookup(VU_CHAN_BACKEND, 9));
    assert_string_equal(vu_request_name(VU_CHAN_FRONTEND, 0x1234), "UNKNOWN");
    assert_string_equal(vu_request_name(VU_CHAN_BACKEND, VU_BREQ_CONFIG_CHANGE_MSG),
                        "CONFIG_CHANGE_MSG");
    /* The forbidden-under-F_VDPA set is exactly the spec's. */
    const uint32_t forbidden[] = { VU_REQ_RESET_OWNER, VU_REQ_GET_QUEUE_NUM, VU_REQ_NET_SET_MTU,
                                   VU_REQ_RESET_DEVICE };
    size_t count = 0;
    for (size_t i = 0; i < vu_msg_desc_count(VU_CHAN_FRONTEND); i++)
        count += (vu_msg_desc_at(VU_CHAN_FRONTEND, i)->flags & VU_DESC_FORBIDDEN_UNDER_VDPA) != 0;
    assert_int_equal(count, 4);
    for (unsigned i = 0; i < 4; i++)
        assert_true(vu_msg_desc_lookup(VU_CHAN_FRONTEND, forbidden[i])->flags &
                    VU_DESC_FORBIDDEN_UNDER_VDPA);
}

static void protocol_feature_names(void **state)
{
    (void)state;
    for (unsigned b = 0; b < VU_PF_COUNT_KNOWN; b++)
        assert_non_null(vu_protocol_feature_name(b));
    assert_string_equal(vu_protocol_feature_name(VU_PF_REPLY_ACK), "REPLY_ACK");
    assert_string_equal(vu_protocol_feature_name(VU_PF_DEVICE_STATE), "DEVICE_STATE");
    assert_string_equal(vu_protocol_feature_name(VU_PF_VDPA), "VDPA");
    assert_null(vu_protocol_feature_name(VU_PF_COUNT_KNOWN));
    assert_null(vu_protocol_feature_name(62));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_layout),
        cmocka_unit_test(init_sets_version_and_clears),
        cmocka_unit_test(u64_state_addr),
        cmocka_unit_test(memory_table),
        cmocka_unit_test(config_space),
        cmocka_unit_test(fixed_payloads),
        cmocka_unit_test(fd_slots),
        cmocka_unit_test(reply_header),
        cmocka_unit_test(table_sorted_and_complete),
        cmocka_unit_test(protocol_feature_names),
    };

    return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
