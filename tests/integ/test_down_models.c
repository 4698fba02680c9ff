/* SPDX-License-Identifier: MIT */
/*
 * Down-conversion of the device types whose config space the shim
 * synthesizes from device keys (lib/proto/model_*.c), with the real
 * vdpa-shim binary between a scripted vdpa-user front-end and a scripted
 * legacy back-end without F_CONFIG: vsock's guest_cid from guest-cid=, and
 * the refusal that names the key when it is missing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "scripted.h"
#include "testutil.h"

#define NEED VU_FLAG_NEED_REPLY
#define F_V1 (UINT64_C(1) << 32)
#define F_PF (UINT64_C(1) << 30)
/* vhost-device-vsock's offer less F_CONFIG: VERSION_1, STREAM, SEQPACKET */
#define BE_VSOCK_FEATURES (F_V1 | F_PF | UINT64_C(1) | UINT64_C(2))
#define BE_PF             (VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK))
#define FE_PF                                                                                      \
    (VU_BIT(VU_PF_VDPA) | VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_STATUS))
#define ST_DRIVER    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define VSOCK_QUEUES 3 /* rx, tx, event */

static struct scripted storage;

static void be_recv(struct scripted *s, uint32_t req, struct vu_msg *m)
{
    assert_int_equal(expect_msg(s->be, req, m), 0);
}

static uint64_t fe_get_u64(struct scripted *s, uint32_t req)
{
    struct vu_msg m;

    assert_int_equal(send_empty(s->fe, req, 0), 0);
    assert_int_equal(expect_msg(s->fe, req, &m), 0);
    assert_int_equal(m.hdr.size, 8);
    return m.payload.u64;
}

/* From connect to F_VDPA acked (or to the shim's refusal, when `refused`):
 * the legacy set-up the back-end sees. */
static void negotiate(struct scripted *s, bool refused)
{
    struct vu_msg m;

    assert_int_equal(send_empty(s->fe, VU_REQ_GET_FEATURES, 0), 0);
    be_recv(s, VU_REQ_GET_FEATURES, &m);
    assert_int_equal(reply_u64(s->be, VU_REQ_GET_FEATURES, BE_VSOCK_FEATURES), 0);
    assert_int_equal(expect_msg(s->fe, VU_REQ_GET_FEATURES, &m), 0);
    assert_int_equal(send_empty(s->fe, VU_REQ_GET_PROTOCOL_FEATURES, 0), 0);
    be_recv(s, VU_REQ_GET_PROTOCOL_FEATURES, &m);
    assert_int_equal(reply_u64(s->be, VU_REQ_GET_PROTOCOL_FEATURES, BE_PF), 0);
    assert_int_equal(expect_msg(s->fe, VU_REQ_GET_PROTOCOL_FEATURES, &m), 0);
    assert_int_equal(m.payload.u64 & FE_PF, FE_PF); /* down-conversion is offered */
    assert_int_equal(send_u64_req(s->fe, VU_REQ_SET_PROTOCOL_FEATURES, NEED, FE_PF, -1), 0);
    be_recv(s, VU_REQ_SET_PROTOCOL_FEATURES, &m);
    assert_int_equal(m.payload.u64, BE_PF);
    be_recv(s, VU_REQ_GET_QUEUE_NUM, &m);
    assert_int_equal(reply_u64(s->be, VU_REQ_GET_QUEUE_NUM, VSOCK_QUEUES), 0);
    /* no GET_CONFIG: the back-end has no F_CONFIG; the set-up's barrier */
    be_recv(s, VU_REQ_GET_FEATURES, &m);
    assert_int_equal(reply_u64(s->be, VU_REQ_GET_FEATURES, BE_VSOCK_FEATURES), 0);
    if (refused)
        return;
    assert_int_equal(expect_msg(s->fe, VU_REQ_SET_PROTOCOL_FEATURES, &m), 0);
    assert_int_equal(m.payload.u64, 0);
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(scripted_stop(&storage), 0);
    return 0;
}

/* guest-cid= becomes guest_cid, read with GET_CONFIG under F_VDPA; the
 * back-end never hears of the config space. */
static void vsock_guest_cid(void **state)
{
    struct scripted *s = &storage;
    struct vu_msg m;

    *state = s;
    assert_int_equal(scripted_start(s, "vsock", "guest-cid=4294967294"), 0);
    assert_int_equal(scripted_connect(s), 0);
    negotiate(s, false);
    assert_int_equal(fe_get_u64(s, VU_REQ_VDPA_GET_DEVICE_ID), 19);
    assert_int_equal(fe_get_u64(s, VU_REQ_VDPA_GET_VQS_COUNT), VSOCK_QUEUES);
    assert_int_equal(fe_get_u64(s, VU_REQ_VDPA_GET_CONFIG_SIZE), 8);
    assert_int_equal(fe_get_u64(s, VU_REQ_GET_FEATURES), BE_VSOCK_FEATURES);
    assert_int_equal(send_u64_req(s->fe, VU_REQ_SET_STATUS, NEED, ST_DRIVER, -1), 0);
    assert_int_equal(expect_msg(s->fe, VU_REQ_SET_STATUS, &m), 0);
    assert_int_equal(m.payload.u64, 0);

    vu_msg_init(&m, VU_REQ_GET_CONFIG, 0);
    vu_msg_set_config(&m, 0, 8, 0, NULL);
    assert_int_equal(vu_send_blocking(s->fe, &m), 0);
    assert_int_equal(expect_msg(s->fe, VU_REQ_GET_CONFIG, &m), 0);
    assert_int_equal(m.payload.config.size, 8);
    static const uint8_t cid[8] = { 0xfe, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
    assert_memory_equal(m.payload.config.data, cid, sizeof(cid));
    /* guest_cid is read-only */
    vu_msg_init(&m, VU_REQ_SET_CONFIG, NEED);
    vu_msg_set_config(&m, 0, 8, 0, cid);
    assert_int_equal(vu_send_blocking(s->fe, &m), 0);
    assert_int_equal(expect_msg(s->fe, VU_REQ_SET_CONFIG, &m), 0);
    assert_int_not_equal(m.payload.u64, 0);
    assert_true(quiet_for(s->be, 100)); /* nothing reached the back-end */
}

/* Without guest-cid= (and without the back-end's config space) the device
 * cannot be presented: the session ends with a log line naming the key. */
static void vsock_without_guest_cid(void **state)
{
    struct scripted *s = &storage;

    *state = s;
    assert_int_equal(scripted_start(s, "vsock", NULL), 0);
    assert_int_equal(scripted_connect(s), 0);
    negotiate(s, true);
    assert_true(closed_within(s->fe, SCRIPT_TIMEOUT_MS));
    assert_true(
        scripted_file_contains(s->log_path, "no device key gives 'guest_cid' (add guest-cid=)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(vsock_guest_cid, teardown),
        cmocka_unit_test_teardown(vsock_without_guest_cid, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
