/* SPDX-License-Identifier: MIT */
/*
 * virtio-i2c of the reference driver (VIRTIO 1.2, 5.16).
 *
 * No config space; ring 0 is the request queue. A request is one chain:
 * a device-readable virtio_i2c_out_hdr (addr: the 7-bit target address in
 * bits 7:1, padding, flags), the data buffer (device-writable for a read,
 * VIRTIO_I2C_FLAGS_M_RD), and a device-writable one-byte status
 * (VIRTIO_I2C_MSG_OK 0, ERR 1). We do one read of READ_LEN bytes from
 * --i2c-addr and check the status is OK and the used length counts the
 * data and the status; the bytes read are printed (the fake adapter of the
 * rust-vmm build, VHOST_I2C_FAKE=1, answers zeros).
 */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define I2C_DEVICE_ID       34u
#define REQ_RING            0u
#define I2C_F_ZERO_LENGTH   0 /* ZERO_LENGTH_REQUEST: also defines FLAGS_M_RD */
#define I2C_FLAGS_FAIL_NEXT (1u << 0)
#define I2C_FLAGS_M_RD      (1u << 1)
#define I2C_MSG_OK          0
#define READ_LEN            8u
#define UNWRITTEN           0xa5u /* what the buffer holds until the device writes it */

struct i2c_out_hdr {
    uint16_t addr;
    uint16_t padding;
    uint32_t flags;
};
_Static_assert(sizeof(struct i2c_out_hdr) == 8, "virtio_i2c_out_hdr layout");

static uint64_t i2c_features(const struct options *o)
{
    (void)o;
    return VU_BIT(I2C_F_ZERO_LENGTH);
}

static int i2c_configure(struct driver *d)
{
    printf("vdpa-driver: config: none (config size %llu)%s\n", (unsigned long long)d->config_size,
           vu_has_bit(d->features, I2C_F_ZERO_LENGTH) ? ", ZERO_LENGTH_REQUEST" : "");
    return drv_use_ring(d, REQ_RING);
}

static int i2c_run(struct driver *d)
{
    struct i2c_out_hdr *h = drv_alloc(d, sizeof(*h), 8);
    uint8_t *data = drv_alloc(d, READ_LEN, 1), *status = drv_alloc(d, 1, 1);
    struct vq_buf b[3];
    uint32_t used;
    char hex[READ_LEN * 3 + 1] = "";

    if (!h || !data || !status)
        return -1;
    h->addr = htole16((uint16_t)(d->opt.i2c_addr << 1));
    h->flags = htole32(I2C_FLAGS_M_RD); /* one message: FAIL_NEXT clear */
    memset(data, UNWRITTEN, READ_LEN);
    *status = 0xff;
    b[0] = (struct vq_buf){ dma_gpa(&d->mem, h), sizeof(*h), false };
    b[1] = (struct vq_buf){ dma_gpa(&d->mem, data), READ_LEN, true };
    b[2] = (struct vq_buf){ dma_gpa(&d->mem, status), 1, true };
    if (drv_exchange(d, REQ_RING, b, 3, &used, "i2c read"))
        return -1;
    if (*status != I2C_MSG_OK) {
        vs_err("i2c read of %u bytes from 0x%02x: status %u%s", READ_LEN, d->opt.i2c_addr, *status,
               *status == 1 ? " (VIRTIO_I2C_MSG_ERR)" : "");
        return -1;
    }
    if (used != READ_LEN + 1) {
        vs_err("i2c read: used length %u, expected %u (data and status)", used, READ_LEN + 1);
        return -1;
    }
    for (unsigned i = 0; i < READ_LEN; i++)
        snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x%s", data[i], i + 1 < READ_LEN ? " " : "");
    printf("vdpa-driver: i2c: read %u bytes from 0x%02x: %s\n", READ_LEN, d->opt.i2c_addr, hex);
    snprintf(d->summary, sizeof(d->summary), "i2c: read %u bytes from 0x%02x: status OK", READ_LEN,
             d->opt.i2c_addr);
    return 0;
}

const struct drv_type drv_type_i2c = {
    .name = "i2c",
    .device_id = I2C_DEVICE_ID,
    .features = i2c_features,
    .configure = i2c_configure,
    .run = i2c_run,
};
