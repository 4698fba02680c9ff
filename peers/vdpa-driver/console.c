/* SPDX-License-Identifier: MIT */
/*
 * virtio-console of the reference driver (VIRTIO 1.2, 5.3).
 *
 * Without VIRTIO_CONSOLE_F_MULTIPORT there is one port: ring 0 is its
 * receiveq, ring 1 its transmitq, and no control queue. Config space (12
 * bytes): cols, rows (le16, with F_SIZE), max_nr_ports (le32, with
 * F_MULTIPORT), emerg_wr (le32, with F_EMERG_WRITE).
 *
 * The exchange: --send TEXT goes out on transmitq0 in one buffer; whatever
 * the host side of the port writes comes back on receiveq0 and must equal
 * --expect TEXT (default: the text sent), byte for byte.
 *
 * Receive buffers are one byte each and posted without a kick. That is for
 * rust-vmm's vhost-device-console (f44737d, src/vhu_console.rs): its
 * process_rx_requests() adds a used entry per byte written (add_used inside
 * the byte loop), so a longer buffer would come back once per byte; and a
 * receiveq kick while no host data is pending pops every available buffer
 * and returns none, losing them. It reads the receiveq when its host side
 * has data (BACKEND_RX_EFD), so the buffers are used without a kick. It also
 * drops host data until the driver's first transmit (ready_to_write) and
 * decodes what is transmitted as UTF-8 (it panics otherwise), so --send must
 * be UTF-8 and is sent before anything is expected back.
 */
#include <stdio.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define CONSOLE_DEVICE_ID        3u
#define CONSOLE_F_SIZE           0
#define CONSOLE_F_MULTIPORT      1
#define CONSOLE_CFG_COLS         0
#define CONSOLE_CFG_ROWS         2
#define CONSOLE_CFG_MAX_NR_PORTS 4
#define CONSOLE_CFG_SIZE         8  /* up to max_nr_ports; emerg_wr is write-only */
#define RX_RING                  0u /* receiveq0 */
#define TX_RING                  1u /* transmitq0 */

static uint64_t console_features(const struct options *o)
{
    /* One port, no control queue: no MULTIPORT. SIZE only to print it. */
    (void)o;
    return VU_BIT(CONSOLE_F_SIZE);
}

static int console_configure(struct driver *d)
{
    const uint8_t *c = d->config;

    if (d->config_size < CONSOLE_CFG_SIZE) {
        vs_err("virtio-console config space is %llu bytes, expected at least %u",
               (unsigned long long)d->config_size, CONSOLE_CFG_SIZE);
        return -1;
    }
    printf("vdpa-driver: config: cols %u, rows %u%s, max_nr_ports %u%s\n",
           cfg_le16(c + CONSOLE_CFG_COLS), cfg_le16(c + CONSOLE_CFG_ROWS),
           vu_has_bit(d->features, CONSOLE_F_SIZE) ? "" : " (F_SIZE not negotiated)",
           cfg_le32(c + CONSOLE_CFG_MAX_NR_PORTS),
           vu_has_bit(d->offered_features, CONSOLE_F_MULTIPORT) ? " (F_MULTIPORT offered, not used)"
                                                                : "");
    return drv_use_ring(d, RX_RING) || drv_use_ring(d, TX_RING) ? -1 : 0;
}

/* Posts one one-byte receive buffer per byte expected, without a kick (see
 * the top of the file); the token of buffer i is i + 1. */
static int post_rx(struct driver *d, uint8_t *rx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct vq_buf b = { dma_gpa(&d->mem, rx + i), 1, true };

        if (vq_driver_add(&d->vq[RX_RING], &b, 1, (void *)(uintptr_t)(i + 1))) {
            vs_err("cannot post receive buffer %zu of %zu (ring of %u entries)", i + 1, n,
                   d->queue_size);
            return -1;
        }
    }
    return 0;
}

/* Waits until the n receive buffers are used, each with one byte. */
static int collect_rx(struct driver *d, size_t n)
{
    for (size_t got = 0; got < n; got++) {
        void *token;
        uint32_t len;
        int rc = drv_wait_used(d, RX_RING, &token, &len, DRV_IO_TIMEOUT_MS);

        if (rc == 0)
            vs_err("console: received %zu of %zu bytes, then nothing for %d s", got, n,
                   DRV_IO_TIMEOUT_MS / 1000);
        if (rc != 1)
            return -1;
        if ((uintptr_t)token < 1 || (uintptr_t)token > n || len != 1) {
            vs_err("console: receive buffer %zu came back with %u bytes", (size_t)(uintptr_t)token,
                   len);
            return -1;
        }
    }
    return 0;
}

static int console_run(struct driver *d)
{
    const char *send = d->opt.send_text, *expect = d->opt.expect_text ? d->opt.expect_text : send;
    size_t n_send = strlen(send), n_expect = strlen(expect);
    uint8_t *tx = drv_alloc(d, n_send, 1), *rx = drv_alloc(d, n_expect + 1, 1);
    struct vq_buf b;
    uint32_t used;

    if (!tx || !rx)
        return -1;
    if (n_expect > d->queue_size) {
        vs_err("--expect: %zu bytes need as many one-byte receive buffers; the ring has %u",
               n_expect, d->queue_size);
        return -1;
    }
    memcpy(tx, send, n_send);
    if (post_rx(d, rx, n_expect))
        return -1;
    b = (struct vq_buf){ dma_gpa(&d->mem, tx), (uint32_t)n_send, false };
    if (drv_exchange(d, TX_RING, &b, 1, &used, "console transmit"))
        return -1;
    printf("vdpa-driver: console: sent %zu bytes on port 0\n", n_send);
    if (collect_rx(d, n_expect))
        return -1;
    rx[n_expect] = '\0';
    if (memcmp(rx, expect, n_expect) != 0) {
        vs_err("console: received \"%s\", expected \"%s\"", (char *)rx, expect);
        snprintf(d->summary, sizeof(d->summary), "console: sent %zu, received %zu: MISMATCH",
                 n_send, n_expect);
        return -1;
    }
    snprintf(d->summary, sizeof(d->summary), "console: sent %zu bytes, received %zu: match", n_send,
             n_expect);
    return 0;
}

const struct drv_type drv_type_console = {
    .name = "console",
    .device_id = CONSOLE_DEVICE_ID,
    .features = console_features,
    .configure = console_configure,
    .run = console_run,
};
