/* SPDX-License-Identifier: MIT */
/*
 * The declarative device models of down-conversion (lib/proto/model*.c): which
 * features a vdpa-user front-end is offered, what the legacy back-end is
 * told, the config space rendered byte by byte, and which config bytes a
 * front-end may provision or write.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ctrl_net.h"
#include "cli.h"
#include "devmodel.h"
#include "virtio.h"

#define B(n) (UINT64_C(1) << (n))
/* A DPDK-like legacy net back-end's offer. */
#define DPDK_NET                                                                                   \
    (B(32) | B(30) | B(VIRTIO_NET_F_MRG_RXBUF) | B(VIRTIO_NET_F_GUEST_ANNOUNCE) |                  \
     B(VIRTIO_NET_F_MQ) | B(VIRTIO_F_INDIRECT_DESC) | B(VIRTIO_F_RING_PACKED) |                    \
     B(VIRTIO_F_RING_RESET) | B(35) /* IN_ORDER */)

static struct vs_device_config cfg_of(const char *type)
{
    struct vs_device_config c;

    memset(&c, 0, sizeof(c));
    c.type = vs_device_type_find(type);
    return c;
}

static struct vs_model_input input(const struct vs_device_config *c, uint32_t queues)
{
    struct vs_model_input in = { .speed_set = c->speed_set,
                                 .speed = c->speed,
                                 .duplex = c->duplex,
                                 .tag = c->tag,
                                 .capacity = c->capacity,
                                 .mac = { 0x52, 0x54, 0, 1, 2, 3 },
                                 .mtu = c->mtu,
                                 .backend_queues = queues,
                                 .link_up = true };
    return in;
}

static void net_offer(void **state)
{
    const struct vs_device_model *m = vs_model_find("net");
    struct vs_device_config c = cfg_of("net");
    struct vs_model_input in = input(&c, 4);
    uint64_t offer;

    (void)state;
    offer = vs_model_offer(m, &in, DPDK_NET);
    /* the VMM's part, from the shim */
    assert_true(offer & B(VIRTIO_NET_F_MAC) && offer & B(VIRTIO_NET_F_STATUS));
    assert_true(offer & B(VIRTIO_NET_F_CTRL_VQ) && offer & B(VIRTIO_NET_F_CTRL_RX));
    assert_true(offer & B(VIRTIO_NET_F_CTRL_VLAN) && offer & B(VIRTIO_NET_F_CTRL_MAC_ADDR));
    /* the back-end's own, passed on */
    assert_true(offer & B(VIRTIO_NET_F_MRG_RXBUF) && offer & B(VIRTIO_NET_F_MQ) && offer & B(35));
    assert_true(offer & B(32) && offer & B(30) && offer & B(VIRTIO_F_INDIRECT_DESC));
    /* what the shim cannot carry */
    assert_false(offer & B(VIRTIO_NET_F_GUEST_ANNOUNCE));
    assert_false(offer & B(VIRTIO_F_RING_PACKED) || offer & B(VIRTIO_F_RING_RESET));
    /* no mtu, no speed known: not offered */
    assert_false(offer & B(VIRTIO_NET_F_MTU) || offer & B(63));
    c.mtu = 9000;
    c.speed_set = true;
    c.speed = 25000;
    in = input(&c, 4);
    offer = vs_model_offer(m, &in, DPDK_NET);
    assert_true(offer & B(VIRTIO_NET_F_MTU) && offer & B(63));
    /* the back-end hears only what it offered and the shim does not provide */
    assert_int_equal(vs_model_backend_features(m, offer, DPDK_NET),
                     offer & DPDK_NET &
                         ~(B(VIRTIO_NET_F_MAC) | B(VIRTIO_NET_F_STATUS) | B(VIRTIO_NET_F_CTRL_VQ) |
                           B(VIRTIO_NET_F_CTRL_RX) | B(VIRTIO_NET_F_CTRL_VLAN) |
                           B(VIRTIO_NET_F_CTRL_MAC_ADDR) | B(63)));
    assert_int_equal(vs_model_vqs_count(m, 4), 5);
}

static void net_config(void **state)
{
    const struct vs_device_model *m = vs_model_find("net");
    struct vs_device_config c = cfg_of("net");
    struct vs_model_input in;
    uint8_t cfg[24];
    static const uint8_t want[24] = {
        0x52, 0x54, 0, 1, 2, 3,    /* mac */
        1,    0,                   /* status: LINK_UP */
        3,    0,                   /* max_virtqueue_pairs */
        0xdc, 0x05,                /* mtu 1500 */
        0x10, 0x27, 0, 0,          /* speed 10000 */
        1,                         /* duplex full */
        0,    0,    0, 0, 0, 0, 0, /* RSS: not offered */
    };

    (void)state;
    c.mtu = 1500;
    c.speed_set = true;
    c.speed = 10000;
    c.duplex = 1;
    in = input(&c, 6);
    vs_model_render(m, &in, vs_model_offer(m, &in, DPDK_NET), cfg, sizeof(cfg));
    assert_memory_equal(cfg, want, sizeof(want));
    /* a field whose gate is not offered reads zero (spec 6.1) */
    vs_model_render(m, &in, B(32), cfg, sizeof(cfg));
    for (unsigned i = 0; i < sizeof(cfg); i++)
        assert_int_equal(cfg[i], 0);
    /* link down shows in status */
    in.link_up = false;
    vs_model_render(m, &in, vs_model_offer(m, &in, DPDK_NET), cfg, sizeof(cfg));
    assert_int_equal(cfg[6], 0);
    assert_null(vs_model_missing(m, &in));
}

static void net_consistency(void **state)
{
    const struct vs_device_model *m = vs_model_find("net");

    (void)state;
    assert_true(
        vs_model_features_consistent(m, B(32) | B(VIRTIO_NET_F_CTRL_VQ) | B(VIRTIO_NET_F_MQ)));
    assert_false(vs_model_features_consistent(m, B(32) | B(VIRTIO_NET_F_MQ)));
    assert_false(vs_model_features_consistent(m, B(VIRTIO_NET_F_CTRL_RX)));
    assert_false(vs_model_features_consistent(m, B(VIRTIO_NET_F_GUEST_TSO4)));
    assert_true(
        vs_model_features_consistent(m, B(VIRTIO_NET_F_GUEST_TSO4) | B(VIRTIO_NET_F_GUEST_CSUM)));
    assert_false(vs_model_features_consistent(m, B(VIRTIO_NET_F_HOST_TSO6)));
    assert_true(vs_model_features_consistent(m, B(VIRTIO_NET_F_HOST_TSO6) | B(VIRTIO_NET_F_CSUM)));
}

/* issue 15 #2: DPDK 22.11 net_vhost without tso=1 offers HOST_ECN (13)
 * without HOST_TSO4/6 (11/12); the offer loses ECN (and only ECN), and the
 * loss cascades (GUEST_ECN without GUEST_TSO4/6 once those went). */
static void net_offer_sanitized(void **state)
{
    const struct vs_device_model *m = vs_model_find("net");
    const uint64_t dpdk = B(32) | B(VIRTIO_NET_F_CSUM) | B(13) | B(VIRTIO_NET_F_MRG_RXBUF);
    (void)state;
    assert_int_equal(vs_model_sanitize(m, dpdk), dpdk & ~B(13));
    assert_true(vs_model_features_consistent(m, vs_model_sanitize(m, dpdk)));
    /* GUEST_TSO4 without GUEST_CSUM goes, then GUEST_ECN that needed it */
    assert_int_equal(vs_model_sanitize(m, B(VIRTIO_NET_F_GUEST_TSO4) | B(9)), 0);
    /* a consistent offer is left as it is */
    assert_int_equal(vs_model_sanitize(m, dpdk | B(VIRTIO_NET_F_HOST_TSO4)),
                     dpdk | B(VIRTIO_NET_F_HOST_TSO4));
}

static void net_config_ranges(void **state)
{
    const struct vs_device_model *m = vs_model_find("net");
    uint64_t all = ~UINT64_C(0);

    (void)state;
    assert_true(vs_model_range_provisionable(m, 0, 6, all));  /* mac */
    assert_true(vs_model_range_provisionable(m, 10, 2, all)); /* mtu */
    assert_false(vs_model_range_provisionable(m, 0, 7, all)); /* into status */
    assert_false(vs_model_range_provisionable(m, 10, 2, all & ~B(VIRTIO_NET_F_MTU)));
    assert_false(vs_model_range_provisionable(m, 0, 0, all));
    for (uint32_t off = 0; off < 24; off++)
        assert_false(vs_model_range_writable(m, off, 1, all)); /* nothing driver-writable */
    assert_string_equal(vs_model_field_at(m, 9)->name, "max_virtqueue_pairs");
    assert_null(vs_model_field_at(m, 24));
}

static void blk_from_backend(void **state)
{
    const struct vs_device_model *m = vs_model_find("blk");
    struct vs_device_config c = cfg_of("blk");
    struct vs_model_input in = input(&c, 1);
    uint8_t be[60], cfg[72];
    const uint64_t be_features = B(32) | B(30) | B(VIRTIO_BLK_F_SEG_MAX) |
                                 B(VIRTIO_BLK_F_BLK_SIZE) | B(VIRTIO_BLK_F_CONFIG_WCE) |
                                 B(16) /* SECURE_ERASE */ | B(VIRTIO_BLK_F_ZONED);
    uint64_t offer;

    (void)state;
    for (unsigned i = 0; i < sizeof(be); i++)
        be[i] = (uint8_t)(i + 1);
    in.backend_config = be;
    in.backend_config_size = sizeof(be);
    offer = vs_model_offer(m, &in, be_features);
    /* fields the back-end's 60 bytes do not hold: their feature is hidden */
    assert_false(offer & B(16));
    assert_false(offer & B(VIRTIO_BLK_F_ZONED));
    assert_true(offer & B(VIRTIO_BLK_F_SEG_MAX) && offer & B(VIRTIO_BLK_F_CONFIG_WCE));
    vs_model_render(m, &in, offer, cfg, sizeof(cfg));
    assert_memory_equal(cfg, be, 8);           /* capacity */
    assert_memory_equal(cfg + 12, be + 12, 4); /* seg_max */
    assert_memory_equal(cfg + 20, be + 20, 4); /* blk_size */
    assert_int_equal(cfg[32], be[32]);         /* writeback */
    assert_int_equal(cfg[8], 0);               /* size_max: not offered */
    for (unsigned i = 60; i < 72; i++)
        assert_int_equal(cfg[i], 0);
    /* writeback is the only driver-writable byte, with CONFIG_WCE */
    assert_true(vs_model_range_writable(m, 32, 1, B(VIRTIO_BLK_F_CONFIG_WCE)));
    assert_false(vs_model_range_writable(m, 32, 1, 0));
    assert_false(vs_model_range_writable(m, 32, 2, B(VIRTIO_BLK_F_CONFIG_WCE)));
    assert_false(vs_model_range_provisionable(m, 0, 8, ~UINT64_C(0)));
}

static void blk_synthesized(void **state)
{
    const struct vs_device_model *m = vs_model_find("blk");
    struct vs_device_config c = cfg_of("blk");
    struct vs_model_input in = input(&c, 4);
    const uint64_t be_features = B(32) | B(VIRTIO_BLK_F_SEG_MAX) | B(VIRTIO_BLK_F_BLK_SIZE) |
                                 B(VIRTIO_BLK_F_MQ) | B(VIRTIO_BLK_F_FLUSH);
    uint8_t cfg[72];
    uint64_t offer;

    (void)state;
    /* no config space and no capacity=: the device cannot be presented */
    assert_string_equal(vs_model_missing(m, &in), "capacity");
    c.capacity = 1 << 20;
    in = input(&c, 4);
    assert_null(vs_model_missing(m, &in));
    offer = vs_model_offer(m, &in, be_features);
    assert_false(offer & B(VIRTIO_BLK_F_SEG_MAX)); /* its value is unknown */
    assert_true(offer & B(VIRTIO_BLK_F_BLK_SIZE) && offer & B(VIRTIO_BLK_F_MQ));
    assert_true(offer & B(VIRTIO_BLK_F_FLUSH)); /* no config field */
    vs_model_render(m, &in, offer, cfg, sizeof(cfg));
    assert_int_equal(cfg[0] | cfg[1] << 8, 2048); /* 1 MiB in sectors */
    assert_int_equal(cfg[20] | cfg[21] << 8, 512);
    assert_int_equal(cfg[34], 4); /* num_queues */
}

static void fs_config(void **state)
{
    const struct vs_device_model *m = vs_model_find("fs");
    struct vs_device_config c = cfg_of("fs");
    struct vs_model_input in = input(&c, 3);
    uint8_t cfg[40];

    (void)state;
    assert_string_equal(vs_model_missing(m, &in), "tag");
    strcpy(c.tag, "a-36-byte-tag-fills-the-whole-field!");
    assert_int_equal(strlen(c.tag), 36);
    in = input(&c, 3);
    assert_null(vs_model_missing(m, &in));
    vs_model_render(m, &in, vs_model_offer(m, &in, B(32)), cfg, sizeof(cfg));
    assert_memory_equal(cfg, c.tag, 36); /* no NUL when it is full */
    assert_int_equal(cfg[36], 2);        /* request queues: all but hiprio */
    assert_int_equal(vs_model_vqs_count(m, 3), 3);
    assert_false(vs_model_offer(m, &in, B(32) | B(0)) & B(0)); /* notification queue hidden */
}

static void generic_model(void **state)
{
    const struct vs_device_model *m = vs_model_generic();
    struct vs_device_config c = cfg_of("gpio");
    struct vs_model_input in = input(&c, 2);
    uint8_t be[8] = { 8, 0, 0, 0, 0x40, 0, 0, 0 }, cfg[8];

    (void)state;
    assert_null(vs_model_find("no-such-type")); /* every known type has a model */
    in.backend_config = be;
    in.backend_config_size = sizeof(be);
    vs_model_render(m, &in, B(32), cfg, sizeof(cfg));
    assert_memory_equal(cfg, be, sizeof(be));
    assert_int_equal(vs_model_offer(m, &in, B(32) | B(33) | B(40)), B(32));
    assert_int_equal(vs_model_vqs_count(m, 2), 2);
}

/* The control-queue command parser reads guest memory: every malformed or
 * unsupported command is VIRTIO_NET_ERR, never more. */
static void ctrl_commands(void **state)
{
    const uint64_t all = B(VIRTIO_NET_F_CTRL_RX) | B(VIRTIO_NET_F_CTRL_VLAN) |
                         B(VIRTIO_NET_F_CTRL_MAC_ADDR) | B(VIRTIO_NET_F_MQ);
    struct vs_ctrl_result r;
    static const uint8_t promisc[] = { 0, 0, 1 }, vlan[] = { 2, 0, 5, 0 },
                         mac_set[] = { 1, 1, 2, 0, 0, 0, 0, 9 }, pairs2[] = { 4, 0, 2, 0 },
                         pairs0[] = { 4, 0, 0, 0 }, pairs9[] = { 4, 0, 9, 0 };
    /* MAC_TABLE_SET: 1 unicast entry, 0 multicast */
    static const uint8_t table[] = { 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0 };
    /* a count that would overflow count * 6 */
    static const uint8_t table_huge[] = { 1, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 };

    (void)state;
    vs_ctrl_net_parse(promisc, sizeof(promisc), all, 4, &r);
    assert_int_equal(r.ack, VIRTIO_NET_OK);
    assert_int_equal(r.action, VS_CTRL_DONE);
    vs_ctrl_net_parse(promisc, sizeof(promisc), 0, 4, &r); /* CTRL_RX not negotiated */
    assert_int_equal(r.ack, VIRTIO_NET_ERR);
    vs_ctrl_net_parse(promisc, 2, all, 4, &r); /* data missing */
    assert_int_equal(r.ack, VIRTIO_NET_ERR);
    vs_ctrl_net_parse(vlan, sizeof(vlan), all, 4, &r);
    assert_int_equal(r.ack, VIRTIO_NET_OK);
    vs_ctrl_net_parse(mac_set, sizeof(mac_set), all, 4, &r);
    assert_int_equal(r.ack, VIRTIO_NET_OK);
    assert_int_equal(r.action, VS_CTRL_SET_MAC);
    assert_memory_equal(r.mac, mac_set + 2, 6);
    vs_ctrl_net_parse(mac_set, sizeof(mac_set) - 1, all, 4, &r);
    assert_int_equal(r.ack, VIRTIO_NET_ERR);
    vs_ctrl_net_parse(table, sizeof(table), all, 4, &r);
    assert_int_equal(r.ack, VIRTIO_NET_OK);
    vs_ctrl_net_parse(table, sizeof(table) - 1, all, 4, &r);
    assert_int_equal(r.ack, VIRTIO_NET_ERR);
    vs_ctrl_net_parse(table_huge, sizeof(table_huge), all, 4, &r);
    assert_int_equal(r.ack, VIRTIO_NET_ERR);
    vs_ctrl_net_parse(pairs2, sizeof(pairs2), all, 4, &r);
    assert_int_equal(r.ack, VIRTIO_NET_OK);
    assert_int_equal(r.action, VS_CTRL_SET_PAIRS);
    assert_int_equal(r.pairs, 2);
    vs_ctrl_net_parse(pairs2, sizeof(pairs2), all & ~B(VIRTIO_NET_F_MQ), 4, &r);
    assert_int_equal(r.ack, VIRTIO_NET_ERR);
    vs_ctrl_net_parse(pairs0, sizeof(pairs0), all, 4, &r);
    assert_int_equal(r.ack, VIRTIO_NET_ERR);
    vs_ctrl_net_parse(pairs9, sizeof(pairs9), all, 4, &r);
    assert_int_equal(r.ack, VIRTIO_NET_ERR);
    assert_int_equal(r.action, VS_CTRL_DONE);
    vs_ctrl_net_parse(pairs2, 1, all, 4, &r); /* not even a header */
    assert_int_equal(r.ack, VIRTIO_NET_ERR);
    vs_ctrl_net_parse((const uint8_t *)"\x63\x00", 2, all, 4, &r); /* unknown class */
    assert_int_equal(r.ack, VIRTIO_NET_ERR);
}

/* Event and receive queues: a notification only announces buffers
 * (down-conversion does not repeat one held across a ring's start). */
static void event_rings(void **state)
{
    (void)state;
    const struct vs_device_type *net = vs_device_type_find("net");
    const struct vs_device_type *scsi = vs_device_type_find("scsi");
    const struct vs_device_type *sound = vs_device_type_find("sound");
    const struct vs_device_type *vsock = vs_device_type_find("vsock");
    const struct vs_device_type *blk = vs_device_type_find("blk");

    assert_true(vs_device_type_event_ring(net, 0));    /* receiveq1 */
    assert_false(vs_device_type_event_ring(net, 1));   /* transmitq1 */
    assert_true(vs_device_type_event_ring(net, 40));   /* receiveq21 */
    assert_false(vs_device_type_event_ring(scsi, 0));  /* controlq */
    assert_true(vs_device_type_event_ring(scsi, 1));   /* eventq */
    assert_false(vs_device_type_event_ring(scsi, 2));  /* request */
    assert_true(vs_device_type_event_ring(sound, 1));  /* eventq */
    assert_false(vs_device_type_event_ring(sound, 3)); /* rxq: capture requests */
    assert_true(vs_device_type_event_ring(vsock, 0) && vs_device_type_event_ring(vsock, 2));
    assert_false(vs_device_type_event_ring(vsock, 1));
    for (uint32_t i = 0; i < 64; i++)
        assert_false(vs_device_type_event_ring(blk, i));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(net_offer),         cmocka_unit_test(net_config),
        cmocka_unit_test(net_consistency),   cmocka_unit_test(net_offer_sanitized),
        cmocka_unit_test(net_config_ranges), cmocka_unit_test(blk_from_backend),
        cmocka_unit_test(blk_synthesized),   cmocka_unit_test(fs_config),
        cmocka_unit_test(generic_model),     cmocka_unit_test(ctrl_commands),
        cmocka_unit_test(event_rings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
