/* SPDX-License-Identifier: MIT */
/*
 * virtio-scmi of the reference driver (VIRTIO 1.2, 5.17).
 *
 * No config space; ring 0 is the command queue (cmdq), ring 1 the event
 * queue, which exists only with VIRTIO_SCMI_F_P2A_CHANNELS (not asked for).
 * A command is one chain: the device-readable SCMI message (a 32-bit
 * header, then the parameters) and a device-writable buffer for the
 * response (the same header, a 32-bit signed status, the return values).
 *
 * SCMI (Arm DEN0056, "System Control and Management Interface"): header
 * bits 7:0 message id, 9:8 message type (0 = command), 17:10 protocol id,
 * 27:18 token. We send three commands of the Base protocol (0x10), which
 * every SCMI platform implements: PROTOCOL_VERSION (0x0: major in bits
 * 31:16, minor in 15:0), PROTOCOL_ATTRIBUTES (0x1: protocols other than
 * Base in bits 7:0, agents in 15:8) and DISCOVER_VENDOR (0x3: a 16-byte
 * NUL-terminated name), and check that each response echoes its header
 * with status SUCCESS (0). rust-vmm's vhost-device-scmi (f44737d,
 * src/scmi.rs make_base_handlers) answers version 0x20000 (2.0), the
 * protocols it has handlers for and the vendor "rust-vmm"; it wants the
 * request buffer exactly 4 bytes long for commands without parameters.
 */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define SCMI_DEVICE_ID     32u
#define CMD_RING           0u
#define BASE_PROTOCOL      0x10u
#define BASE_VERSION       0x0u
#define BASE_ATTRIBUTES    0x1u
#define BASE_VENDOR        0x3u
#define HDR_PROTOCOL_SHIFT 10
#define HDR_TOKEN_SHIFT    18
#define SCMI_SUCCESS       0
#define VENDOR_LEN         16u
#define RESP_ROOM          64u /* header, status and up to 56 bytes of return values */

static uint64_t scmi_features(const struct options *o)
{
    (void)o;
    return 0; /* no P2A_CHANNELS: no event queue */
}

static int scmi_configure(struct driver *d)
{
    printf("vdpa-driver: config: none (config size %llu)\n", (unsigned long long)d->config_size);
    return drv_use_ring(d, CMD_RING);
}

/* One Base protocol command without parameters; on success the return
 * values (after header and status) are copied to out (len bytes, the
 * response must hold them). 0, or -1 logged. */
static int scmi_command(struct driver *d, unsigned message, unsigned token, uint8_t *out,
                        uint32_t len)
{
    uint32_t *req = drv_alloc(d, sizeof(*req), 4);
    uint8_t *resp = drv_alloc(d, RESP_ROOM, 4);
    uint32_t header = message | BASE_PROTOCOL << HDR_PROTOCOL_SHIFT | token << HDR_TOKEN_SHIFT;
    struct vq_buf b[2];
    uint32_t used;
    int32_t status;
    char what[40];

    if (!req || !resp)
        return -1;
    *req = htole32(header);
    memset(resp, 0xff, RESP_ROOM);
    b[0] = (struct vq_buf){ dma_gpa(&d->mem, req), sizeof(*req), false };
    b[1] = (struct vq_buf){ dma_gpa(&d->mem, resp), RESP_ROOM, true };
    snprintf(what, sizeof(what), "SCMI Base message 0x%x", message);
    if (drv_exchange(d, CMD_RING, b, 2, &used, what))
        return -1;
    if (used < 2 * sizeof(uint32_t) || used > RESP_ROOM) {
        vs_err("%s: used length %u cannot hold a header and a status", what, used);
        return -1;
    }
    if (cfg_le32(resp) != header) {
        vs_err("%s: the response header is 0x%08x, not the command's 0x%08x", what, cfg_le32(resp),
               header);
        return -1;
    }
    status = (int32_t)cfg_le32(resp + sizeof(uint32_t));
    if (status != SCMI_SUCCESS) {
        vs_err("%s: status %d", what, status);
        return -1;
    }
    if (used < 2 * sizeof(uint32_t) + len) {
        vs_err("%s: %u bytes of response, expected %zu", what, used, 2 * sizeof(uint32_t) + len);
        return -1;
    }
    memcpy(out, resp + 2 * sizeof(uint32_t), len);
    return 0;
}

static int scmi_run(struct driver *d)
{
    uint8_t version[4], attributes[4], vendor[VENDOR_LEN + 1] = { 0 };
    uint32_t v, a;

    if (scmi_command(d, BASE_VERSION, 1, version, sizeof(version)) ||
        scmi_command(d, BASE_ATTRIBUTES, 2, attributes, sizeof(attributes)) ||
        scmi_command(d, BASE_VENDOR, 3, vendor, VENDOR_LEN))
        return -1;
    v = cfg_le32(version);
    a = cfg_le32(attributes);
    for (uint8_t *p = vendor; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
    printf("vdpa-driver: scmi: Base protocol %u.%u, %u protocol(s) besides Base, %u agent(s), "
           "vendor \"%s\"\n",
           v >> 16, v & 0xffff, a & 0xff, (a >> 8) & 0xff, (char *)vendor);
    snprintf(d->summary, sizeof(d->summary), "scmi: Base protocol version %u.%u, vendor \"%s\"",
             v >> 16, v & 0xffff, (char *)vendor);
    return 0;
}

const struct drv_type drv_type_scmi = {
    .name = "scmi",
    .device_id = SCMI_DEVICE_ID,
    .features = scmi_features,
    .configure = scmi_configure,
    .run = scmi_run,
};
