/* SPDX-License-Identifier: MIT */
/*
 * virtio-net traffic of the reference driver (VIRTIO 1.2, 5.1).
 *
 * Ring 0 is receiveq1, ring 1 transmitq1. Every buffer on either ring starts
 * with the 12-byte virtio_net_hdr_v1 (VERSION_1: always with num_buffers).
 * We send --count 64-byte Ethernet frames, each carrying a sequence number,
 * keep the receive ring full, and count the frames that come back. Against a
 * back-end in loopback mode every frame must come back exactly once.
 */
#include <endian.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define RX_RING 0u
#define TX_RING 1u
#define HDR_LEN sizeof(struct virtio_net_hdr_v1)
#define FRAME_LEN 64u              /* minimum Ethernet frame, without FCS */
#define RX_BUF_LEN 2048u           /* header + a 1514-byte frame fits */
#define ETHERTYPE_TEST 0x88B5u     /* IEEE 802 "local experimental" */

static const uint8_t src_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const char magic[] = "vdpa-driver";

uint64_t net_driver_features(void)
{
    /* What this driver reads (MAC, link status, MTU). No MQ/CTRL_VQ: it uses
     * only the first queue pair; no MRG_RXBUF: one buffer per frame. */
    return VU_BIT(VIRTIO_NET_F_MAC) | VU_BIT(VIRTIO_NET_F_STATUS) | VU_BIT(VIRTIO_NET_F_MTU);
}

int net_show_config(struct driver *d)
{
    const uint8_t *c = d->config;
    bool has_mac = vu_has_bit(d->features, VIRTIO_NET_F_MAC);

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
           !vu_has_bit(d->features, VIRTIO_NET_F_STATUS) ? " (STATUS not negotiated)"
           : cfg_le16(c + VIRTIO_NET_CFG_STATUS) & VIRTIO_NET_S_LINK_UP ? " (link up)"
           : " (link down)",
           cfg_le16(c + VIRTIO_NET_CFG_MAX_VQP), cfg_le16(c + VIRTIO_NET_CFG_MTU),
           vu_has_bit(d->features, VIRTIO_NET_F_MTU) ? "" : " (MTU not negotiated)");
    if (d->opt.expect_mac) {
        if (!has_mac) {
            vs_err("--expect-mac given, but the device does not offer VIRTIO_NET_F_MAC");
            return -1;
        }
        if (memcmp(c, d->opt.mac, 6) != 0) {
            vs_err("the device's MAC is %02x:%02x:%02x:%02x:%02x:%02x, expected "
                   "%02x:%02x:%02x:%02x:%02x:%02x", c[0], c[1], c[2], c[3], c[4], c[5],
                   d->opt.mac[0], d->opt.mac[1], d->opt.mac[2], d->opt.mac[3],
                   d->opt.mac[4], d->opt.mac[5]);
            return -1;
        }
    }
    return 0;
}

/* Header (all zero: no offloads) and frame: dst = the device's MAC (or
 * broadcast), src, ethertype, magic, sequence number (big-endian), filler. */
static void build_frame(const struct driver *d, uint8_t *buf, uint32_t seq)
{
    uint8_t *f = buf + HDR_LEN;

    memset(buf, 0, HDR_LEN + FRAME_LEN);
    if (vu_has_bit(d->features, VIRTIO_NET_F_MAC))
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
    uint8_t expect[HDR_LEN + FRAME_LEN];
    uint32_t seq;

    if (len != HDR_LEN + FRAME_LEN)
        return -1;
    memcpy(&seq, buf + HDR_LEN + 14 + sizeof(magic), 4);
    seq = be32toh(seq);
    build_frame(d, expect, seq);
    /* The header the device wrote is not compared (num_buffers is its own). */
    if (memcmp(buf + HDR_LEN, expect + HDR_LEN, FRAME_LEN) != 0)
        return -1;
    return (long)seq;
}

static int post_rx(struct driver *d, uint8_t *buf)
{
    struct vq_buf b = { dma_gpa(&d->mem, buf), RX_BUF_LEN, true };

    return vq_driver_add(&d->vq[RX_RING], &b, 1, buf);
}

int net_run(struct driver *d)
{
    const unsigned q = d->queue_size, count = d->opt.count;
    uint8_t *rx_bufs = dma_alloc(&d->mem, (uint64_t)q * RX_BUF_LEN, 64);
    uint8_t *tx_bufs = dma_alloc(&d->mem, (uint64_t)q * (HDR_LEN + FRAME_LEN), 64);
    uint8_t **tx_free = calloc(q, sizeof(*tx_free));
    uint8_t *seen = calloc(count ? count : 1, 1);
    unsigned n_tx_free = 0, sent = 0, completed = 0, received = 0, bad = 0, dup = 0;
    int idle_ms = 0, rc = -1;

    if (!rx_bufs || !tx_bufs || !tx_free || !seen) {
        vs_err("out of memory for %u buffers (try a larger --mem-mb)", q);
        goto out;
    }
    for (unsigned i = 0; i < q; i++)
        tx_free[n_tx_free++] = tx_bufs + (size_t)i * (HDR_LEN + FRAME_LEN);

    /* Fill the receive ring, then tell the device. */
    for (unsigned i = 0; i < q; i++)
        if (post_rx(d, rx_bufs + (size_t)i * RX_BUF_LEN)) {
            vs_err("cannot post receive buffer %u", i);
            goto out;
        }
    vq_driver_kick(d->kick[RX_RING]);

    while (received < count || completed < sent) {
        bool progress = false, rx_refilled = false, tx_added = false;
        void *token;
        uint32_t len;
        int got;

        /* Transmit as much as the ring takes. */
        while (sent < count && n_tx_free > 0) {
            uint8_t *buf = tx_free[n_tx_free - 1];
            struct vq_buf b = { dma_gpa(&d->mem, buf), HDR_LEN + FRAME_LEN, false };

            build_frame(d, buf, sent);
            if (vq_driver_add(&d->vq[TX_RING], &b, 1, buf))
                break;
            n_tx_free--;
            sent++;
            tx_added = true;
        }
        if (tx_added)
            vq_driver_kick(d->kick[TX_RING]);

        /* Transmitted buffers come back to us for reuse. */
        while ((got = vq_driver_get_used(&d->vq[TX_RING], &token, &len)) == 1) {
            tx_free[n_tx_free++] = token;
            completed++;
            progress = true;
        }
        if (got < 0) {
            vs_err("transmit ring: the device returned a descriptor we never gave it");
            goto out;
        }

        /* Received frames: check, count, give the buffer back. */
        while ((got = vq_driver_get_used(&d->vq[RX_RING], &token, &len)) == 1) {
            long seq = len <= RX_BUF_LEN ? parse_frame(d, token, len) : -1;

            if (seq < 0 || (unsigned long)seq >= count) {
                bad++;
                vs_warn("received a frame that is not ours (%u bytes)", len);
            } else if (seen[seq]) {
                dup++;
                vs_warn("frame %ld received twice", seq);
            } else {
                seen[seq] = 1;
                received++;
            }
            if (post_rx(d, token)) {
                vs_err("cannot re-post a receive buffer");
                goto out;
            }
            rx_refilled = progress = true;
        }
        if (got < 0) {
            vs_err("receive ring: the device returned a descriptor we never gave it");
            goto out;
        }
        if (rx_refilled)
            vq_driver_kick(d->kick[RX_RING]);

        if (progress) {
            idle_ms = 0;
            continue;
        }
        if (idle_ms >= DRV_IO_TIMEOUT_MS) {
            vs_err("no progress for %d s: sent %u, transmit completed %u, received %u",
                   DRV_IO_TIMEOUT_MS / 1000, sent, completed, received);
            break;
        }
        /* Nothing to do: sleep until either call eventfd fires. */
        {
            struct pollfd p[2] = { { .fd = d->call[RX_RING], .events = POLLIN },
                                   { .fd = d->call[TX_RING], .events = POLLIN } };
            poll(p, 2, 10);
            vq_eventfd_drain(d->call[RX_RING]);
            vq_eventfd_drain(d->call[TX_RING]);
        }
        idle_ms += 10;
    }

    snprintf(d->summary, sizeof(d->summary), "net: sent %u, received %u", sent, received);
    if (bad || dup)
        vs_err("%u foreign or corrupt frame(s), %u duplicate(s)", bad, dup);
    else if (received == count && sent == count && completed == sent)
        rc = 0;
out:
    free(tx_free);
    free(seen);
    return rc;
}
