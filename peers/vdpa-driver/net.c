/* SPDX-License-Identifier: MIT */
/*
 * virtio-net of the reference driver (VIRTIO 1.2, 5.1).
 *
 * Rings: receiveq i = 2i, transmitq i = 2i + 1 for the --queue-pairs pairs
 * used, and, with VIRTIO_NET_F_CTRL_VQ, the control queue at
 * 2 * max_virtqueue_pairs when MQ is negotiated, else at 2 (VIRTIO 5.1.2;
 * max_virtqueue_pairs is the device's maximum, not the pairs used). Rings
 * of unused pairs are left disabled.
 *
 * After DRIVER_OK the control queue gets the commands of the negotiated
 * features: RX PROMISC on (VIRTIO_NET_CTRL_RX), MAC_ADDR_SET with the config MAC
 * (CTRL_MAC_ADDR), VQ_PAIRS_SET (MQ). Each is one chain: class, command and
 * data device-readable, then one device-writable ack byte that must come
 * back VIRTIO_NET_OK.
 *
 * Traffic: every buffer on a receive or transmit queue starts with the
 * 12-byte virtio_net_hdr_v1 (VERSION_1: always with num_buffers). We send
 * --count 64-byte Ethernet frames, each carrying a sequence number,
 * round-robin over the transmit queues, keep every receive queue full, and
 * count the frames that come back on any receive queue. Each received frame
 * is matched byte for byte against the frame sent with its sequence number,
 * so the order and the queue it arrives on do not matter. Against a
 * back-end in loopback mode every frame must come back exactly once.
 */
#include <endian.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define HDR_LEN        sizeof(struct virtio_net_hdr_v1)
#define FRAME_LEN      64u /* minimum Ethernet frame, without FCS */
#define TX_LEN         (HDR_LEN + FRAME_LEN)
#define RX_BUF_LEN     2048u   /* header + a 1514-byte frame fits */
#define ETHERTYPE_TEST 0x88B5u /* IEEE 802 "local experimental" */
#define IDLE_POLL_MS   10      /* traffic without progress: wait for a call this long */

static const uint8_t src_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const char magic[] = "vdpa-driver";

static unsigned rx_ring(unsigned pair)
{
    return 2 * pair;
}
static unsigned tx_ring(unsigned pair)
{
    return 2 * pair + 1;
}

static bool wants_ctrl(const struct options *o)
{
    return o->ctrl || o->queue_pairs > 1;
}

static bool negotiated(const struct driver *d, unsigned bit)
{
    return vu_has_bit(d->features, bit);
}

static uint64_t net_features(const struct options *o)
{
    /* What this driver reads (MAC, link status, MTU). No MRG_RXBUF: one
     * buffer per frame. The control queue and what it serves when asked
     * for; session.c keeps only what the device offers, and
     * choose_rings() then checks that what is needed is there. */
    uint64_t f = VU_BIT(VIRTIO_NET_F_MAC) | VU_BIT(VIRTIO_NET_F_STATUS) | VU_BIT(VIRTIO_NET_F_MTU);

    if (wants_ctrl(o))
        f |= VU_BIT(VIRTIO_NET_F_CTRL_VQ) | VU_BIT(VIRTIO_NET_F_CTRL_RX) |
             VU_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR);
    if (o->queue_pairs > 1)
        f |= VU_BIT(VIRTIO_NET_F_MQ);
    return f;
}

/* The rings for --queue-pairs and --ctrl, after checking that the device
 * negotiated what they need. */
static int choose_rings(struct driver *d)
{
    const unsigned pairs = d->opt.queue_pairs;
    const unsigned max_pairs = cfg_le16(d->config + VIRTIO_NET_CFG_MAX_VQP);

    d->net_pairs = pairs;
    d->net_ctrl_ring = -1;
    if (wants_ctrl(&d->opt) && !negotiated(d, VIRTIO_NET_F_CTRL_VQ)) {
        vs_err("%s needs the control queue, but the device does not offer "
               "VIRTIO_NET_F_CTRL_VQ (17)",
               pairs > 1 ? "--queue-pairs above 1" : "--ctrl");
        return -1;
    }
    if (pairs > 1 && !negotiated(d, VIRTIO_NET_F_MQ)) {
        vs_err("--queue-pairs %u needs VIRTIO_NET_F_MQ (22), which the device does not offer",
               pairs);
        return -1;
    }
    if (pairs > 1 && max_pairs < pairs) {
        vs_err("--queue-pairs %u: the device has only max_virtqueue_pairs %u", pairs, max_pairs);
        return -1;
    }
    for (unsigned p = 0; p < pairs; p++)
        if (drv_use_ring(d, rx_ring(p)) || drv_use_ring(d, tx_ring(p)))
            return -1;
    if (!negotiated(d, VIRTIO_NET_F_CTRL_VQ))
        return 0;
    if (negotiated(d, VIRTIO_NET_F_MQ)) {
        if (max_pairs > DRV_MAX_PAIRS) {
            vs_err("max_virtqueue_pairs %u puts the control queue at ring %u, beyond the "
                   "vhost-user ring index limit %u",
                   max_pairs, 2 * max_pairs, DRV_MAX_RINGS - 1);
            return -1;
        }
        d->net_ctrl_ring = (int)(2 * max_pairs);
    } else {
        d->net_ctrl_ring = 2;
    }
    return drv_use_ring(d, (unsigned)d->net_ctrl_ring);
}

static int net_configure(struct driver *d)
{
    const uint8_t *c = d->config;
    bool has_mac = negotiated(d, VIRTIO_NET_F_MAC);

    if (d->config_size < VIRTIO_NET_CFG_SIZE) {
        vs_err("virtio-net config space is %llu bytes, expected %u",
               (unsigned long long)d->config_size, VIRTIO_NET_CFG_SIZE);
        return -1;
    }
    /* Fields whose feature was not negotiated are ignored (VIRTIO 5.1.4). */
    printf("vdpa-driver: config: mac %02x:%02x:%02x:%02x:%02x:%02x%s, status 0x%x%s, "
           "max_virtqueue_pairs %u, mtu %u%s\n",
           c[0], c[1], c[2], c[3], c[4], c[5], has_mac ? "" : " (MAC not negotiated)",
           cfg_le16(c + VIRTIO_NET_CFG_STATUS),
           !negotiated(d, VIRTIO_NET_F_STATUS)                          ? " (STATUS not negotiated)"
           : cfg_le16(c + VIRTIO_NET_CFG_STATUS) & VIRTIO_NET_S_LINK_UP ? " (link up)"
                                                                        : " (link down)",
           cfg_le16(c + VIRTIO_NET_CFG_MAX_VQP), cfg_le16(c + VIRTIO_NET_CFG_MTU),
           negotiated(d, VIRTIO_NET_F_MTU) ? "" : " (MTU not negotiated)");
    if (d->opt.expect_mac) {
        if (!has_mac) {
            vs_err("--expect-mac given, but the device does not offer VIRTIO_NET_F_MAC");
            return -1;
        }
        if (memcmp(c, d->opt.mac, 6) != 0) {
            vs_err("the device's MAC is %02x:%02x:%02x:%02x:%02x:%02x, expected "
                   "%02x:%02x:%02x:%02x:%02x:%02x",
                   c[0], c[1], c[2], c[3], c[4], c[5], d->opt.mac[0], d->opt.mac[1], d->opt.mac[2],
                   d->opt.mac[3], d->opt.mac[4], d->opt.mac[5]);
            return -1;
        }
    }
    return choose_rings(d);
}

/* ---- Control queue ------------------------------------------------------------------ */

/* One command, waited for: 0 when the device answered VIRTIO_NET_OK. */
static int ctrl_command(struct driver *d, const char *name, uint8_t cls, uint8_t cmd,
                        const void *data, uint32_t len)
{
    const unsigned ring = (unsigned)d->net_ctrl_ring;
    uint8_t *out = dma_alloc(&d->mem, 2 + len, 8);
    uint8_t *ack = dma_alloc(&d->mem, 1, 1);
    struct vq_buf b[2];
    void *token;
    uint32_t used_len;
    int rc;

    if (!out || !ack) {
        vs_err("out of guest memory (try a larger --mem-mb)");
        return -1;
    }
    out[0] = cls;
    out[1] = cmd;
    memcpy(out + 2, data, len);
    *ack = 0xff; /* neither OK nor ERR: shows whether the device wrote it */
    b[0] = (struct vq_buf){ dma_gpa(&d->mem, out), 2 + len, false };
    b[1] = (struct vq_buf){ dma_gpa(&d->mem, ack), 1, true };
    if (vq_driver_add(&d->vq[ring], b, 2, out)) {
        vs_err("control queue: cannot add %s to the ring", name);
        return -1;
    }
    vq_driver_kick(d->kick[ring]);
    rc = drv_wait_used(d, ring, &token, &used_len, DRV_IO_TIMEOUT_MS);
    if (rc == 0)
        vs_err("control queue: no answer to %s within %d s", name, DRV_IO_TIMEOUT_MS / 1000);
    if (rc != 1)
        return -1;
    if (token != out) {
        vs_err("control queue: the device completed a different command than %s", name);
        return -1;
    }
    if (used_len != 1) {
        vs_err("control queue: %s: used length %u, expected 1 (the ack byte)", name, used_len);
        return -1;
    }
    if (*ack != VIRTIO_NET_OK) {
        vs_err("control queue: %s answered %s (ack %u)", name,
               *ack == VIRTIO_NET_ERR ? "VIRTIO_NET_ERR" : "with an invalid value", *ack);
        return -1;
    }
    return 0;
}

/* The commands of the negotiated control features, in VIRTIO's order. */
static int net_control(struct driver *d)
{
    char line[128] = "";
    size_t n = 0;

    if (negotiated(d, VIRTIO_NET_F_CTRL_RX)) {
        const uint8_t on = 1;

        if (ctrl_command(d, "PROMISC", VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1))
            return -1;
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%sPROMISC ok", n ? ", " : "");
    }
    if (negotiated(d, VIRTIO_NET_F_CTRL_MAC_ADDR)) {
        /* The config MAC means nothing without VIRTIO_NET_F_MAC. */
        if (!negotiated(d, VIRTIO_NET_F_MAC)) {
            n += (size_t)snprintf(line + n, sizeof(line) - n, "%sMAC_ADDR_SET skipped (no MAC)",
                                  n ? ", " : "");
        } else {
            if (ctrl_command(d, "MAC_ADDR_SET", VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET,
                             d->config + VIRTIO_NET_CFG_MAC, 6))
                return -1;
            n += (size_t)snprintf(line + n, sizeof(line) - n, "%sMAC_ADDR_SET ok", n ? ", " : "");
        }
    }
    if (negotiated(d, VIRTIO_NET_F_MQ)) {
        uint16_t pairs = htole16((uint16_t)d->net_pairs);

        if (ctrl_command(d, "VQ_PAIRS_SET", VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
                         &pairs, sizeof(pairs)))
            return -1;
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%sVQ_PAIRS_SET %u ok", n ? ", " : "",
                              d->net_pairs);
    }
    printf("vdpa-driver: net: control queue: %s\n",
           n ? line : "nothing to send (CTRL_RX, CTRL_MAC_ADDR and MQ not negotiated)");
    return 0;
}

/* ---- Frames ------------------------------------------------------------------------- */

/* Header (all zero: no offloads) and frame: dst = the device's MAC (or
 * broadcast), src, ethertype, magic, sequence number (big-endian), filler. */
static void build_frame(const struct driver *d, uint8_t *buf, uint32_t seq)
{
    uint8_t *f = buf + HDR_LEN;

    memset(buf, 0, TX_LEN);
    if (negotiated(d, VIRTIO_NET_F_MAC))
        memcpy(f, d->config + VIRTIO_NET_CFG_MAC, 6);
    else
        memset(f, 0xff, 6);
    memcpy(f + 6, src_mac, 6);
    f[12] = ETHERTYPE_TEST >> 8;
    f[13] = ETHERTYPE_TEST & 0xff;
    memcpy(f + 14, magic, sizeof(magic));
    seq = htobe32(seq);
    memcpy(f + 14 + sizeof(magic), &seq, 4);
    for (unsigned i = 14 + sizeof(magic) + 4; i < FRAME_LEN; i++)
        f[i] = (uint8_t)i;
}

/* The sequence number of a received buffer, or -1 if it is not one of ours. */
static long parse_frame(const struct driver *d, const uint8_t *buf, uint32_t len)
{
    uint8_t expect[TX_LEN];
    uint32_t seq;

    if (len != TX_LEN)
        return -1;
    memcpy(&seq, buf + HDR_LEN + 14 + sizeof(magic), 4);
    seq = be32toh(seq);
    build_frame(d, expect, seq);
    /* The header the device wrote is not compared (num_buffers is its own). */
    if (memcmp(buf + HDR_LEN, expect + HDR_LEN, FRAME_LEN) != 0)
        return -1;
    return (long)seq;
}

/* ---- Traffic ------------------------------------------------------------------------ */

struct traffic {
    unsigned count, sent, completed, received, bad, dup;
    uint8_t **tx_free; /* transmit buffers not on a ring */
    unsigned n_tx_free;
    uint8_t *seen; /* per sequence number: received */
    unsigned rx_per_pair[DRV_MAX_PAIRS];
    bool tx_kick[DRV_MAX_PAIRS]; /* transmitq got buffers since its last kick */
};

static int post_rx(struct driver *d, unsigned pair, uint8_t *buf)
{
    struct vq_buf b = { dma_gpa(&d->mem, buf), RX_BUF_LEN, true };

    return vq_driver_add(&d->vq[rx_ring(pair)], &b, 1, buf);
}

/* Frame `sent` goes to transmitq (sent mod pairs); stops at the first full
 * ring, so the round-robin order is kept. At most one ring's worth of frames
 * is in flight: a forwarding peer (DPDK testpmd in front of net_vhost) drops
 * what it cannot place in a receive ring at once, so a driver that runs ahead
 * of its own receive buffers loses frames. */
static void transmit(struct driver *d, struct traffic *t)
{
    while (t->sent < t->count && t->n_tx_free > 0 && t->sent - t->received < d->queue_size) {
        unsigned pair = t->sent % d->net_pairs;
        uint8_t *buf = t->tx_free[t->n_tx_free - 1];
        struct vq_buf b = { dma_gpa(&d->mem, buf), TX_LEN, false };

        build_frame(d, buf, t->sent);
        if (vq_driver_add(&d->vq[tx_ring(pair)], &b, 1, buf))
            break;
        t->n_tx_free--;
        t->sent++;
        t->tx_kick[pair] = true;
    }
    for (unsigned p = 0; p < d->net_pairs; p++)
        if (t->tx_kick[p]) {
            vq_driver_kick(d->kick[tx_ring(p)]);
            t->tx_kick[p] = false;
        }
}

/* Transmitted buffers come back to us for reuse. Returns how many, or -1. */
static int collect_tx(struct driver *d, struct traffic *t, unsigned pair)
{
    void *token;
    uint32_t len;
    int got, n = 0;

    while ((got = vq_driver_get_used(&d->vq[tx_ring(pair)], &token, &len)) == 1) {
        t->tx_free[t->n_tx_free++] = token;
        t->completed++;
        n++;
    }
    if (got < 0) {
        vs_err("transmitq %u: the device returned a descriptor we never gave it", pair);
        return -1;
    }
    return n;
}

/* Received frames: check, count, give the buffer back. Returns how many, or -1. */
static int collect_rx(struct driver *d, struct traffic *t, unsigned pair)
{
    void *token;
    uint32_t len;
    int got, n = 0;

    while ((got = vq_driver_get_used(&d->vq[rx_ring(pair)], &token, &len)) == 1) {
        long seq = len <= RX_BUF_LEN ? parse_frame(d, token, len) : -1;

        if (seq < 0 || (unsigned long)seq >= t->sent) {
            t->bad++;
            vs_warn("receiveq %u: a frame that is not ours (%u bytes)", pair, len);
        } else if (t->seen[seq]) {
            t->dup++;
            vs_warn("receiveq %u: frame %ld received twice", pair, seq);
        } else {
            t->seen[seq] = 1;
            t->received++;
            t->rx_per_pair[pair]++;
        }
        if (post_rx(d, pair, token)) {
            vs_err("receiveq %u: cannot re-post a receive buffer", pair);
            return -1;
        }
        n++;
    }
    if (got < 0) {
        vs_err("receiveq %u: the device returned a descriptor we never gave it", pair);
        return -1;
    }
    if (n)
        vq_driver_kick(d->kick[rx_ring(pair)]);
    return n;
}

/* Fills every receive ring (the buffers at rx_bufs), tells the device, and
 * puts each pair's call fds in pfd. 0 or -1 (logged). */
static int fill_rx(struct driver *d, uint8_t *rx_bufs, struct pollfd *pfd)
{
    const unsigned q = d->queue_size;

    for (unsigned p = 0; p < d->net_pairs; p++) {
        for (unsigned i = 0; i < q; i++)
            if (post_rx(d, p, rx_bufs + ((size_t)p * q + i) * RX_BUF_LEN)) {
                vs_err("receiveq %u: cannot post receive buffer %u", p, i);
                return -1;
            }
        vq_driver_kick(d->kick[rx_ring(p)]);
        pfd[2 * p] = (struct pollfd){ .fd = d->call[rx_ring(p)], .events = POLLIN };
        pfd[2 * p + 1] = (struct pollfd){ .fd = d->call[tx_ring(p)], .events = POLLIN };
    }
    return 0;
}

/* Sends and receives until every frame came back or nothing moved for
 * DRV_IO_TIMEOUT_MS (then 0 too: the counts tell). -1 on a broken ring. */
static int run_traffic(struct driver *d, struct traffic *t, struct pollfd *pfd)
{
    const unsigned pairs = d->net_pairs;
    int idle_ms = 0;

    while (t->received < t->count || t->completed < t->sent) {
        bool progress = false;

        transmit(d, t);
        for (unsigned p = 0; p < pairs; p++) {
            int ntx = collect_tx(d, t, p), nrx = ntx < 0 ? -1 : collect_rx(d, t, p);

            if (ntx < 0 || nrx < 0)
                return -1;
            progress |= ntx > 0 || nrx > 0;
        }
        if (progress) {
            idle_ms = 0;
            continue;
        }
        if (idle_ms >= DRV_IO_TIMEOUT_MS) {
            vs_err("no progress for %d s: sent %u, transmit completed %u, received %u",
                   DRV_IO_TIMEOUT_MS / 1000, t->sent, t->completed, t->received);
            break;
        }
        /* Nothing to do: sleep until a call eventfd fires. */
        poll(pfd, 2 * pairs, IDLE_POLL_MS);
        for (unsigned i = 0; i < 2 * pairs; i++)
            vq_eventfd_drain(pfd[i].fd);
        idle_ms += IDLE_POLL_MS;
    }
    return 0;
}

/* The counts, in the summary and on stdout; 0 when every frame came back
 * once and intact. */
static int net_report(struct driver *d, const struct traffic *t)
{
    if (d->net_pairs > 1) {
        printf("vdpa-driver: net: received per queue pair:");
        for (unsigned p = 0; p < d->net_pairs; p++)
            printf(" %u", t->rx_per_pair[p]);
        printf("\n");
    }
    snprintf(d->summary, sizeof(d->summary), "net: sent %u, received %u", t->sent, t->received);
    if (t->bad || t->dup) {
        vs_err("%u foreign or corrupt frame(s), %u duplicate(s)", t->bad, t->dup);
        return -1;
    }
    if (t->received == t->count && t->sent == t->count && t->completed == t->sent)
        return 0;
    return -1;
}

static int net_run(struct driver *d)
{
    const unsigned q = d->queue_size, pairs = d->net_pairs;
    const uint64_t rx_size = (uint64_t)pairs * q * RX_BUF_LEN;
    static struct traffic tr; /* per-pair arrays: not on the stack */
    struct traffic *t = &tr;
    uint8_t *rx_bufs, *tx_bufs;
    struct pollfd *pfd = calloc(2 * pairs, sizeof(*pfd));
    int rc = -1;

    memset(t, 0, sizeof(*t));
    t->count = d->opt.count;
    t->tx_free = calloc((size_t)pairs * q, sizeof(*t->tx_free));
    t->seen = calloc(t->count ? t->count : 1, 1);
    if (!pfd || !t->tx_free || !t->seen) {
        vs_err("out of memory");
        goto out;
    }
    if (d->net_ctrl_ring >= 0 && net_control(d))
        goto out;

    /* One receive and one transmit buffer per ring entry of every pair. */
    rx_bufs = dma_alloc(&d->mem, rx_size, 64);
    tx_bufs = dma_alloc(&d->mem, (uint64_t)pairs * q * TX_LEN, 64);
    if (!rx_bufs || !tx_bufs) {
        vs_err("%u queue pair(s) of %u entries need about %llu KiB of buffers: try a larger "
               "--mem-mb",
               pairs, q, (unsigned long long)((rx_size + pairs * q * TX_LEN) >> 10));
        goto out;
    }
    for (unsigned i = 0; i < pairs * q; i++)
        t->tx_free[t->n_tx_free++] = tx_bufs + (size_t)i * TX_LEN;

    if (fill_rx(d, rx_bufs, pfd) == 0 && run_traffic(d, t, pfd) == 0)
        rc = net_report(d, t);
out:
    free(pfd);
    free(t->tx_free);
    free(t->seen);
    return rc;
}

const struct drv_type drv_type_net = {
    .name = "net",
    .device_id = VIRTIO_ID_NET,
    .features = net_features,
    .configure = net_configure,
    .run = net_run,
};
