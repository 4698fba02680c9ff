/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (device ID 1).
 *
 * Ring i: receiveq(i/2) for even i, transmitq(i/2) for odd i; with more than
 * one queue pair the control queue comes last (VIRTIO 5.1.2). Every packet
 * on a ring starts with the 12-byte virtio_net_hdr_v1 (VERSION_1; no
 * MRG_RXBUF, so each received packet uses one chain and num_buffers is 1).
 *
 * Modes:
 *   loopback  a packet sent on transmitq N comes back on receiveq N. A TX
 *             chain is only taken when an RX buffer is waiting, so nothing
 *             is lost while the driver refills (the RX kick restarts TX).
 *   udp       TX payloads (header stripped) go to --udp-peer as datagrams;
 *             datagrams arriving on --udp-bind go to receiveq 0.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd_util.h"
#include "vdpa-backend/backend.h"

#define BUDGET  64 /* chains per ring per loop turn, for fairness */
#define HDR_LEN sizeof(struct virtio_net_hdr_v1)

static bool offered(const struct backend *b, unsigned bit)
{
    return vu_has_bit(b->type->features(b), bit);
}

static bool negotiated(const struct backend *b, unsigned bit)
{
    return vu_has_bit(b->features, bit);
}

static uint64_t net_features(const struct backend *b)
{
    uint64_t f = VU_BIT(VIRTIO_NET_F_MAC) | VU_BIT(VIRTIO_NET_F_STATUS);

    if (b->opt.mtu)
        f |= VU_BIT(VIRTIO_NET_F_MTU);
    /* VIRTIO makes MQ depend on CTRL_VQ (the driver turns extra pairs on
     * with a control command), so both or neither. */
    if (b->opt.queue_pairs > 1)
        f |= VU_BIT(VIRTIO_NET_F_MQ) | VU_BIT(VIRTIO_NET_F_CTRL_VQ);
    return f;
}

static unsigned net_vqs_count(const struct backend *b)
{
    return 2 * b->opt.queue_pairs + (b->opt.queue_pairs > 1 ? 1 : 0);
}

static bool net_features_ok(const struct backend *b, uint64_t f)
{
    static const unsigned need_ctrl[] = { VIRTIO_NET_F_MQ,
                                          VIRTIO_NET_F_CTRL_RX,
                                          VIRTIO_NET_F_CTRL_VLAN,
                                          VIRTIO_NET_F_GUEST_ANNOUNCE,
                                          VIRTIO_NET_F_CTRL_MAC_ADDR,
                                          VIRTIO_NET_F_RSS };
    (void)b;
    for (unsigned i = 0; i < sizeof(need_ctrl) / sizeof(need_ctrl[0]); i++)
        if (vu_has_bit(f, need_ctrl[i]) && !vu_has_bit(f, VIRTIO_NET_F_CTRL_VQ))
            return false;
    if ((vu_has_bit(f, VIRTIO_NET_F_GUEST_TSO4) || vu_has_bit(f, VIRTIO_NET_F_GUEST_TSO6)) &&
        !vu_has_bit(f, VIRTIO_NET_F_GUEST_CSUM))
        return false;
    if ((vu_has_bit(f, VIRTIO_NET_F_HOST_TSO4) || vu_has_bit(f, VIRTIO_NET_F_HOST_TSO6)) &&
        !vu_has_bit(f, VIRTIO_NET_F_CSUM))
        return false;
    return true;
}

/* The control queue's index depends on whether MQ was negotiated. */
static int ctrl_index(const struct backend *b)
{
    if (!negotiated(b, VIRTIO_NET_F_CTRL_VQ))
        return -1;
    return negotiated(b, VIRTIO_NET_F_MQ) ? (int)(2 * b->opt.queue_pairs) : 2;
}

static bool net_ring_in_use(const struct backend *b, unsigned i)
{
    unsigned pairs = negotiated(b, VIRTIO_NET_F_MQ) ? b->opt.queue_pairs : 1;

    return (int)i == ctrl_index(b) || i < 2 * pairs;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void net_read_config(const struct backend *b, uint8_t *c)
{
    /* 6.1: device values whatever was negotiated; zero for unoffered fields. */
    memcpy(c + VIRTIO_NET_CFG_MAC, b->dev.net.mac, 6);
    put16(c + VIRTIO_NET_CFG_STATUS, VIRTIO_NET_S_LINK_UP); /* the link is always up */
    if (offered(b, VIRTIO_NET_F_MQ))
        put16(c + VIRTIO_NET_CFG_MAX_VQP, (uint16_t)b->opt.queue_pairs);
    if (offered(b, VIRTIO_NET_F_MTU))
        put16(c + VIRTIO_NET_CFG_MTU, b->dev.net.mtu);
}

static int net_provision(struct backend *b, uint32_t offset, uint32_t size, const uint8_t *data)
{
    uint8_t c[VIRTIO_NET_CFG_SIZE];

    /* Only mac (0..5) and, when the field exists, mtu (10..11); all or
     * nothing, so check every byte before changing anything. */
    for (uint32_t i = offset; i < offset + size; i++) {
        bool mac = i < 6;
        bool mtu = i >= 10 && i < 12 && offered(b, VIRTIO_NET_F_MTU);
        if (!mac && !mtu)
            return EINVAL;
    }
    memset(c, 0, sizeof(c));
    net_read_config(b, c);
    memcpy(c + offset, data, size);
    uint16_t mtu = (uint16_t)(c[10] | c[11] << 8);
    if (offered(b, VIRTIO_NET_F_MTU) && mtu < 68)
        return EINVAL;
    memcpy(b->dev.net.mac, c, 6);
    if (offered(b, VIRTIO_NET_F_MTU))
        b->dev.net.mtu = mtu;
    return 0;
}

/* Puts one packet into receiveq `rx`. Returns 1 delivered, 0 dropped (no
 * buffer, or too small), or a vq error. */
static int deliver(struct backend *b, unsigned rx, const uint8_t *payload, size_t len)
{
    struct ring *r = &b->rings[rx];
    struct vq_chain *c = b->chain;
    struct virtio_net_hdr_v1 hdr = { .num_buffers = htole16(1) };
    int rc;

    if (!r->started || rx / 2 >= b->dev.net.curr_pairs) {
        b->stats.net_rx_dropped++;
        return 0;
    }
    rc = device_pop(b, rx, c);
    if (rc <= 0) {
        if (rc == 0)
            b->stats.net_rx_dropped++;
        return rc;
    }
    if (c->in_len < HDR_LEN + len) {
        /* Without MRG_RXBUF the driver must post buffers large enough; this
         * one is not. Drop the packet, keep the buffer for the next one. */
        vq_device_unpop(&r->vq);
        b->stats.net_rx_dropped++;
        return 0;
    }
    vq_chain_copy_to(c, 0, &hdr, HDR_LEN);
    vq_chain_copy_to(c, HDR_LEN, payload, len);
    device_complete(b, rx, c->head, (uint32_t)(HDR_LEN + len));
    b->stats.net_rx_packets++;
    b->stats.net_rx_bytes += len;
    return 1;
}

/* Pops one TX chain and copies its packet (header stripped) into pkt.
 * Returns 1 with *len set, 0 when empty, <0 a vq error. A chain too short
 * for the header or too long for a packet is completed and dropped (*len
 * is then SIZE_MAX). */
static int take_tx(struct backend *b, unsigned tx, size_t *len)
{
    struct vq_chain *c = b->chain;
    int rc = device_pop(b, tx, c);

    if (rc <= 0)
        return rc;
    if (c->out_len < HDR_LEN || c->out_len > HDR_LEN + BK_MAX_PACKET) {
        b->stats.net_tx_dropped++;
        *len = SIZE_MAX;
    } else {
        *len = (size_t)c->out_len - HDR_LEN;
        vq_chain_copy_from(c, HDR_LEN, b->dev.net.pkt, *len);
        b->stats.net_tx_packets++;
        b->stats.net_tx_bytes += *len;
    }
    /* TX buffers are only read: used length 0. */
    device_complete(b, tx, c->head, 0);
    return 1;
}

static int loopback_pair(struct backend *b, unsigned pair)
{
    unsigned rx = 2 * pair, tx = 2 * pair + 1;

    for (int n = 0; n < BUDGET; n++) {
        size_t len;
        int rc;
        if (!b->rings[tx].started)
            return 0;
        /* Back-pressure: leave TX chains in the ring until RX can take them
         * (a running RX ring without buffers). */
        if (b->rings[rx].started && !vq_device_has_pending(&b->rings[rx].vq))
            return 0;
        rc = take_tx(b, tx, &len);
        if (rc <= 0)
            return rc;
        if (len != SIZE_MAX) {
            rc = deliver(b, rx, b->dev.net.pkt, len);
            if (rc < 0)
                return rc;
        }
    }
    return 1;
}

static int udp_tx(struct backend *b, unsigned tx)
{
    for (int n = 0; n < BUDGET; n++) {
        size_t len;
        int rc = take_tx(b, tx, &len);
        if (rc <= 0)
            return rc;
        if (len == SIZE_MAX)
            continue;
        if (sendto(b->dev.net.udp_fd, b->dev.net.pkt, len, MSG_DONTWAIT,
                   (const struct sockaddr *)&b->opt.udp_peer, sizeof(b->opt.udp_peer)) < 0)
            b->stats.net_tx_dropped++; /* like a full NIC queue: the packet is lost */
    }
    return 1;
}

static int control(struct backend *b, unsigned index)
{
    struct vq_chain *c = b->chain;

    for (int n = 0; n < BUDGET; n++) {
        uint8_t cmd[2], ack = VIRTIO_NET_ERR;
        uint16_t pairs;
        int rc = device_pop(b, index, c);
        if (rc <= 0)
            return rc;
        /* class, command, data (readable); one ack byte (writable). */
        if (c->out_len < sizeof(cmd) || c->in_len < 1)
            return -EPROTO;
        vq_chain_copy_from(c, 0, cmd, sizeof(cmd));
        b->stats.net_ctrl_commands++;
        if (cmd[0] == VIRTIO_NET_CTRL_MQ && cmd[1] == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET &&
            negotiated(b, VIRTIO_NET_F_MQ) &&
            vq_chain_copy_from(c, sizeof(cmd), &pairs, sizeof(pairs)) == sizeof(pairs)) {
            pairs = le16toh(pairs);
            if (pairs >= VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN && pairs <= b->opt.queue_pairs) {
                b->dev.net.curr_pairs = pairs;
                ack = VIRTIO_NET_OK;
                vs_debug("control queue: %u queue pair(s) active", pairs);
            }
        }
        /* Other classes (RX mode, MAC, VLAN, announce) belong to features we
         * do not offer: VIRTIO_NET_ERR. */
        vq_chain_copy_to(c, 0, &ack, 1);
        device_complete(b, index, c->head, 1);
    }
    return 1;
}

static int net_process(struct backend *b, unsigned index)
{
    if ((int)index == ctrl_index(b))
        return control(b, index);
    /* Receive queues are filled from the transmit side (loopback) or the
     * UDP socket (net_on_extra); an RX kick only wakes the loop so that the
     * pair's transmitq gets another look. */
    if (index % 2 == 0)
        return 0;
    if (b->opt.net_mode == NET_LOOPBACK)
        return loopback_pair(b, index / 2);
    return udp_tx(b, index);
}

static int net_extra_fd(const struct backend *b, bool *want)
{
    const struct ring *rx = &b->rings[0];

    /* Read the socket when receiveq 0 has room, or when nobody would
     * receive (then datagrams are dropped rather than queued for a future
     * session). A running ring without buffers leaves them in the kernel. */
    *want = b->dev.net.udp_fd >= 0 && (!rx->started || vq_device_has_pending(&rx->vq));
    return b->dev.net.udp_fd;
}

static int net_on_extra(struct backend *b)
{
    for (int n = 0; n < BUDGET; n++) {
        ssize_t len = recv(b->dev.net.udp_fd, b->dev.net.pkt, BK_MAX_PACKET, MSG_DONTWAIT);
        int rc;
        if (len < 0)
            return 0;
        rc = deliver(b, 0, b->dev.net.pkt, (size_t)len);
        if (rc < 0)
            return rc;
        if (b->rings[0].started && !vq_device_has_pending(&b->rings[0].vq))
            return 0;
    }
    return 0;
}

static void net_reset(struct backend *b)
{
    /* Device-type state set through virtqueues goes back to defaults (5.3);
     * the provisioned MAC and MTU stay. */
    b->dev.net.curr_pairs = 1;
}

static int net_init(struct backend *b)
{
    struct net_state *n = &b->dev.net;

    n->udp_fd = -1;
    memcpy(n->mac, b->opt.mac, 6);
    n->mtu = (uint16_t)b->opt.mtu;
    n->curr_pairs = 1;
    n->pkt = malloc(BK_MAX_PACKET);
    if (!n->pkt)
        return -ENOMEM;
    if (b->opt.net_mode == NET_UDP) {
        n->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (n->udp_fd < 0)
            return -errno;
        if (bind(n->udp_fd, (const struct sockaddr *)&b->opt.udp_bind, sizeof(b->opt.udp_bind)) < 0)
            return -errno;
    }
    return 0;
}

static void net_fini(struct backend *b)
{
    fd_close(&b->dev.net.udp_fd);
    free(b->dev.net.pkt);
    b->dev.net.pkt = NULL;
}

static bool net_rescan(struct backend *b)
{
    (void)b;
    return false; /* nothing on the host side changes */
}

const struct device_type net_device_type = {
    .name = "net",
    .device_id = VIRTIO_ID_NET,
    .config_size = VIRTIO_NET_CFG_SIZE,
    .init = net_init,
    .fini = net_fini,
    .features = net_features,
    .vqs_count = net_vqs_count,
    .features_ok = net_features_ok,
    .ring_in_use = net_ring_in_use,
    .read_config = net_read_config,
    .provision = net_provision,
    .process = net_process,
    .extra_fd = net_extra_fd,
    .on_extra = net_on_extra,
    .reset = net_reset,
    .rescan = net_rescan,
};
