/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock of the reference driver (VIRTIO 1.2, 5.10).
 *
 * Config space: guest_cid (le64). Rings: 0 rx, 1 tx, 2 event (not used:
 * it carries only transport resets). Every packet is a 44-byte
 * virtio_vsock_hdr, then len bytes of payload; we put header and payload
 * in one descriptor both ways (VIRTIO's message framing: a device must not
 * depend on how a message is split into descriptors; rust-vmm's
 * virtio-vsock crate 0.8 reads both layouts).
 *
 * The exchange, a stream connection from our guest CID to the host (CID 2)
 * on --vsock-port: REQUEST, the device's RESPONSE, one RW with --send TEXT,
 * then RW packets until --expect TEXT (default: the text sent) has come
 * back, byte for byte; then SHUTDOWN. rust-vmm's vhost-device-vsock in its
 * hybrid mode connects such a request to the unix socket
 * "<uds-path>_<port>" (src/thread_backend.rs handle_new_guest_conn), where
 * the test's host program answers.
 */
#include <stdio.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define VSOCK_DEVICE_ID 19u
#define RX_RING         0u
#define TX_RING         1u
#define HOST_CID        2u
#define GUEST_PORT      0x10000u /* our end of the connection */
#define HDR_LEN         44u
#define RX_PAYLOAD      4096u
#define RX_BUFS         16u
#define BUF_ALLOC       (RX_BUFS * RX_PAYLOAD) /* what we can take in flight */
#define TYPE_STREAM     1
#define OP_REQUEST      1
#define OP_RESPONSE     2
#define OP_RST          3
#define OP_SHUTDOWN     4
#define OP_RW           5
#define SHUTDOWN_BOTH   3u /* VIRTIO_VSOCK_SHUTDOWN_RCV | _SEND */
#define MAX_PACKETS     1000u

/* Header field offsets (the structure is packed). */
enum {
    H_SRC_CID = 0,
    H_DST_CID = 8,
    H_SRC_PORT = 16,
    H_DST_PORT = 20,
    H_LEN = 24,
    H_TYPE = 28,
    H_OP = 30,
    H_FLAGS = 32,
    H_BUF_ALLOC = 36,
    H_FWD_CNT = 40
};

struct vsock_state {
    uint64_t guest_cid;
    uint32_t fwd_cnt; /* payload bytes we received (VIRTIO 1.2 5.10.6.3) */
    uint8_t *rx[RX_BUFS];
};

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t vsock_features(const struct options *o)
{
    (void)o;
    return 0; /* stream sockets only: no SEQPACKET */
}

static int vsock_configure(struct driver *d)
{
    if (d->config_size < sizeof(uint64_t)) {
        vs_err("virtio-vsock config space is %llu bytes, expected 8",
               (unsigned long long)d->config_size);
        return -1;
    }
    printf("vdpa-driver: config: guest_cid %llu\n", (unsigned long long)cfg_le64(d->config));
    return drv_use_ring(d, RX_RING) || drv_use_ring(d, TX_RING) ? -1 : 0;
}

/* Posts receive buffer i (token i + 1). */
static int post_rx(struct driver *d, struct vsock_state *s, unsigned i)
{
    struct vq_buf b = { dma_gpa(&d->mem, s->rx[i]), HDR_LEN + RX_PAYLOAD, true };

    if (vq_driver_add(&d->vq[RX_RING], &b, 1, (void *)(uintptr_t)(i + 1))) {
        vs_err("vsock: cannot post receive buffer %u", i);
        return -1;
    }
    return 0;
}

/* Sends one packet of our connection with `len` bytes of payload. */
static int vsock_send(struct driver *d, struct vsock_state *s, uint16_t op, uint32_t flags,
                      const char *payload, uint32_t len)
{
    uint8_t *p = drv_alloc(d, HDR_LEN + len, 8);
    struct vq_buf b;
    uint32_t used;

    if (!p)
        return -1;
    put_le(p + H_SRC_CID, s->guest_cid, 8);
    put_le(p + H_DST_CID, HOST_CID, 8);
    put_le(p + H_SRC_PORT, GUEST_PORT, 4);
    put_le(p + H_DST_PORT, d->opt.vsock_port, 4);
    put_le(p + H_LEN, len, 4);
    put_le(p + H_TYPE, TYPE_STREAM, 2);
    put_le(p + H_OP, op, 2);
    put_le(p + H_FLAGS, flags, 4);
    put_le(p + H_BUF_ALLOC, BUF_ALLOC, 4);
    put_le(p + H_FWD_CNT, s->fwd_cnt, 4);
    if (len)
        memcpy(p + HDR_LEN, payload, len);
    b = (struct vq_buf){ dma_gpa(&d->mem, p), HDR_LEN + len, false };
    return drv_exchange(d, TX_RING, &b, 1, &used, "vsock transmit");
}

/* Waits for the next packet of our connection: its op, with the payload
 * appended to out[*got .. room) (more is an error); -1 when none came or it
 * was malformed. The buffer goes back on the ring. */
static int vsock_recv(struct driver *d, struct vsock_state *s, char *out, size_t *got, size_t room)
{
    void *token;
    uint32_t used, len;
    unsigned i;
    const uint8_t *p;
    int rc = drv_wait_used(d, RX_RING, &token, &used, DRV_IO_TIMEOUT_MS);

    if (rc == 0)
        vs_err("vsock: nothing received for %d s", DRV_IO_TIMEOUT_MS / 1000);
    if (rc != 1)
        return -1;
    i = (unsigned)(uintptr_t)token - 1;
    p = s->rx[i];
    len = cfg_le32(p + H_LEN);
    if (used < HDR_LEN || len > used - HDR_LEN || cfg_le64(p + H_SRC_CID) != HOST_CID ||
        cfg_le64(p + H_DST_CID) != s->guest_cid || cfg_le32(p + H_SRC_PORT) != d->opt.vsock_port ||
        cfg_le32(p + H_DST_PORT) != GUEST_PORT) {
        vs_err("vsock: a packet (used length %u, len %u) not of our connection", used, len);
        return -1;
    }
    if (cfg_le16(p + H_OP) == OP_RW) {
        if (len > room - *got) {
            vs_err("vsock: received more than the %zu bytes expected", room);
            return -1;
        }
        if (len) /* a caller expecting no data passes out NULL, room 0 */
            memcpy(out + *got, p + HDR_LEN, len);
        *got += len;
        s->fwd_cnt += len;
    }
    rc = cfg_le16(p + H_OP);
    if (post_rx(d, s, i))
        return -1;
    vq_driver_kick(d->kick[RX_RING]);
    return rc;
}

/* REQUEST, then the RESPONSE (or RST: nobody listens on the host port). */
static int vsock_connect(struct driver *d, struct vsock_state *s)
{
    size_t none = 0;
    int op;

    if (vsock_send(d, s, OP_REQUEST, 0, NULL, 0))
        return -1;
    op = vsock_recv(d, s, NULL, &none, 0);
    if (op == OP_RST)
        vs_err("vsock: the host reset the connection to port %u (nobody listening?)",
               d->opt.vsock_port);
    else if (op >= 0 && op != OP_RESPONSE)
        vs_err("vsock: answer op %d to REQUEST, expected RESPONSE", op);
    return op == OP_RESPONSE ? 0 : -1;
}

static int vsock_run(struct driver *d)
{
    static struct vsock_state st;
    struct vsock_state *s = &st;
    const char *send = d->opt.send_text, *expect = d->opt.expect_text ? d->opt.expect_text : send;
    size_t n_expect = strlen(expect), got = 0;
    char *in = drv_alloc(d, n_expect + 1, 1);

    s->guest_cid = cfg_le64(d->config);
    for (unsigned i = 0; i < RX_BUFS; i++)
        if (!(s->rx[i] = drv_alloc(d, HDR_LEN + RX_PAYLOAD, 8)) || post_rx(d, s, i))
            return -1;
    vq_driver_kick(d->kick[RX_RING]);
    if (!in || vsock_connect(d, s) || vsock_send(d, s, OP_RW, 0, send, (uint32_t)strlen(send)))
        return -1;
    printf("vdpa-driver: vsock: connected to %u:%u, sent %zu bytes\n", HOST_CID, d->opt.vsock_port,
           strlen(send));
    for (unsigned n = 0; got < n_expect; n++) {
        int op = vsock_recv(d, s, in, &got, n_expect);

        if (op == OP_RST || op == OP_SHUTDOWN)
            vs_err("vsock: the host closed the connection after %zu of %zu bytes", got, n_expect);
        if (op < 0 || op == OP_RST || op == OP_SHUTDOWN || n >= MAX_PACKETS)
            return -1;
    }
    if (memcmp(in, expect, n_expect) != 0) {
        vs_err("vsock: received \"%.*s\", expected \"%s\"", (int)n_expect, in, expect);
        snprintf(d->summary, sizeof(d->summary), "vsock: received %zu bytes: MISMATCH", got);
        return -1;
    }
    if (vsock_send(d, s, OP_SHUTDOWN, SHUTDOWN_BOTH, NULL, 0))
        return -1;
    snprintf(d->summary, sizeof(d->summary),
             "vsock: sent %zu bytes to the host, received %zu: match", strlen(send), n_expect);
    return 0;
}

const struct drv_type drv_type_vsock = {
    .name = "vsock",
    .device_id = VSOCK_DEVICE_ID,
    .features = vsock_features,
    .configure = vsock_configure,
    .run = vsock_run,
};
