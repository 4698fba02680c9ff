/* SPDX-License-Identifier: MIT */
/*
 * virtio-net over a legacy vhost-user back-end (DPDK vhost, ...). The back-end
 * moves packets; everything a VMM used to do is here: the config space
 * (docs/vdpa-user.md 6.2) and the control queue (ctrl_net.c, served by
 * downconv.c).
 */
#include "devmodel.h"
#include "virtio.h"

#define NET_F_CTRL_GUEST_OFFLOADS 2
#define NET_F_GUEST_ECN           9
#define NET_F_GUEST_UFO           10
#define NET_F_HOST_ECN            13
#define NET_F_HOST_UFO            14
#define NET_F_CTRL_RX_EXTRA       20
#define NET_F_HASH_REPORT         57
#define NET_F_SPEED_DUPLEX        63

static const struct vs_config_field net_fields[] = {
    { "mac", 0, 6, VIRTIO_NET_F_MAC, VS_SRC_MAC, .provisionable = true },
    { "status", 6, 2, VIRTIO_NET_F_STATUS, VS_SRC_LINK_STATUS },
    { "max_virtqueue_pairs", 8, 2, VIRTIO_NET_F_MQ, VS_SRC_QUEUE_PAIRS },
    { "mtu", 10, 2, VIRTIO_NET_F_MTU, VS_SRC_MTU, .provisionable = true, .shim_offers = true },
    { "speed", 12, 4, NET_F_SPEED_DUPLEX, VS_SRC_SPEED },
    { "duplex", 16, 1, NET_F_SPEED_DUPLEX, VS_SRC_DUPLEX },
    { "rss_max_key_size", 17, 1, VIRTIO_NET_F_RSS, VS_SRC_ZERO },
    { "rss_max_indirection_table_length", 18, 2, VIRTIO_NET_F_RSS, VS_SRC_ZERO },
    { "supported_hash_types", 20, 4, NET_F_HASH_REPORT, VS_SRC_ZERO },
};

#define CTRL        VU_BIT(VIRTIO_NET_F_CTRL_VQ)
#define TSO46       (VU_BIT(VIRTIO_NET_F_HOST_TSO4) | VU_BIT(VIRTIO_NET_F_HOST_TSO6))
#define GUEST_TSO46 (VU_BIT(VIRTIO_NET_F_GUEST_TSO4) | VU_BIT(VIRTIO_NET_F_GUEST_TSO6))

/* VIRTIO 1.2 5.1.3.1: a feature and the features it requires (any one of
 * them). A device must not offer a feature without them, and a driver must
 * not accept one without them. */
static const struct vs_feature_rule net_rules[] = {
    { VIRTIO_NET_F_GUEST_TSO4, VU_BIT(VIRTIO_NET_F_GUEST_CSUM) },
    { VIRTIO_NET_F_GUEST_TSO6, VU_BIT(VIRTIO_NET_F_GUEST_CSUM) },
    { NET_F_GUEST_ECN, GUEST_TSO46 },
    { NET_F_GUEST_UFO, VU_BIT(VIRTIO_NET_F_GUEST_CSUM) },
    { VIRTIO_NET_F_HOST_TSO4, VU_BIT(VIRTIO_NET_F_CSUM) },
    { VIRTIO_NET_F_HOST_TSO6, VU_BIT(VIRTIO_NET_F_CSUM) },
    { NET_F_HOST_ECN, TSO46 },
    { NET_F_HOST_UFO, VU_BIT(VIRTIO_NET_F_CSUM) },
    { VIRTIO_NET_F_CTRL_RX, CTRL },
    { VIRTIO_NET_F_CTRL_VLAN, CTRL },
    { VIRTIO_NET_F_GUEST_ANNOUNCE, CTRL },
    { VIRTIO_NET_F_MQ, CTRL },
    { VIRTIO_NET_F_CTRL_MAC_ADDR, CTRL },
    { NET_F_CTRL_RX_EXTRA, CTRL },
    { NET_F_CTRL_GUEST_OFFLOADS, CTRL },
};

const struct vs_device_model vs_model_net = {
    .type = "net",
    .fields = net_fields,
    .nfields = sizeof(net_fields) / sizeof(net_fields[0]),
    /* The VMM's part of virtio-net: config fields and the control queue. */
    .shim_features = VU_BIT(VIRTIO_NET_F_MAC) | VU_BIT(VIRTIO_NET_F_STATUS) |
                     VU_BIT(VIRTIO_NET_F_CTRL_VQ) | VU_BIT(VIRTIO_NET_F_CTRL_RX) |
                     VU_BIT(VIRTIO_NET_F_CTRL_VLAN) | VU_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR) |
                     VU_BIT(NET_F_SPEED_DUPLEX),
    /* Not carried: announce, offload and RSS commands would need the
     * back-end's help; the control queue is parsed as a split ring; no
     * IOTLB; no ring reset. */
    .hidden_features = VU_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE) | VU_BIT(NET_F_CTRL_GUEST_OFFLOADS) |
                       VU_BIT(NET_F_CTRL_RX_EXTRA) | VU_BIT(VIRTIO_NET_F_RSS) |
                       VU_BIT(NET_F_HASH_REPORT) | VU_BIT(VIRTIO_F_RING_PACKED) |
                       VU_BIT(VIRTIO_F_ACCESS_PLATFORM) | VU_BIT(VIRTIO_F_RING_RESET),
    .rules = net_rules,
    .nrules = sizeof(net_rules) / sizeof(net_rules[0]),
    .has_ctrl_queue = true,
};
