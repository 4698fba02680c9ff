/* SPDX-License-Identifier: MIT */
/*
 * virtio-gpio of the reference driver (VIRTIO 1.2, 5.18).
 *
 * Config space (8 bytes): ngpio (le16), padding, gpio_names_size (le32).
 * Ring 0 is the request queue; the event queue (ring 1) exists only with
 * VIRTIO_GPIO_F_IRQ, which we do not ask for. Every request is one chain:
 * a device-readable 8-byte request (type, gpio, value) and a
 * device-writable response: status and one value byte, or for
 * GET_LINE_NAMES status and gpio_names_size bytes of NUL-terminated names.
 *
 * The exchange on line --gpio-line: GET_LINE_NAMES, GET_DIRECTION,
 * SET_VALUE 1 then SET_DIRECTION out (the order Linux's gpio-virtio uses:
 * a line gets its value before it drives it; rust-vmm's vhost-device-gpio
 * refuses an output without a value), GET_DIRECTION (must be out),
 * GET_VALUE (must be 1), SET_VALUE 0, GET_VALUE (must be 0).
 */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define GPIO_DEVICE_ID      41u
#define REQ_RING            0u
#define GPIO_CFG_NGPIO      0
#define GPIO_CFG_NAMES_SIZE 4
#define GPIO_CFG_SIZE       8
#define GPIO_NAMES_MAX      65536u /* what we accept of gpio_names_size */
#define GPIO_NAME_SHOWN     64u

#define MSG_GET_LINE_NAMES 1
#define MSG_GET_DIRECTION  2
#define MSG_SET_DIRECTION  3
#define MSG_GET_VALUE      4
#define MSG_SET_VALUE      5
#define STATUS_OK          0
#define DIRECTION_OUT      1
#define DIRECTION_IN       2

struct gpio_request {
    uint16_t type;
    uint16_t gpio;
    uint32_t value;
};
_Static_assert(sizeof(struct gpio_request) == 8, "virtio_gpio_request layout");

static uint64_t gpio_features(const struct options *o)
{
    (void)o;
    return 0; /* no VIRTIO_GPIO_F_IRQ: no event queue */
}

static int gpio_configure(struct driver *d)
{
    const uint8_t *c = d->config;
    unsigned ngpio;

    if (d->config_size < GPIO_CFG_SIZE) {
        vs_err("virtio-gpio config space is %llu bytes, expected %u",
               (unsigned long long)d->config_size, GPIO_CFG_SIZE);
        return -1;
    }
    ngpio = cfg_le16(c + GPIO_CFG_NGPIO);
    printf("vdpa-driver: config: ngpio %u, gpio_names_size %u\n", ngpio,
           cfg_le32(c + GPIO_CFG_NAMES_SIZE));
    if (d->opt.gpio_line >= ngpio) {
        vs_err("--gpio-line %u: the device has %u lines", d->opt.gpio_line, ngpio);
        return -1;
    }
    return drv_use_ring(d, REQ_RING);
}

/* One request; the response (resp_len bytes, status first) is left in
 * *resp. Returns the status, or -1 when the device did not answer. */
static int gpio_request(struct driver *d, uint16_t type, uint32_t value, uint8_t *resp,
                        uint32_t resp_len)
{
    struct gpio_request *q = drv_alloc(d, sizeof(*q), 8);
    struct vq_buf b[2];
    uint32_t used;
    char what[32];

    if (!q)
        return -1;
    q->type = htole16(type);
    q->gpio = htole16((uint16_t)d->opt.gpio_line);
    q->value = htole32(value);
    memset(resp, 0xff, resp_len); /* not a status: shows whether the device wrote it */
    b[0] = (struct vq_buf){ dma_gpa(&d->mem, q), sizeof(*q), false };
    b[1] = (struct vq_buf){ dma_gpa(&d->mem, resp), resp_len, true };
    snprintf(what, sizeof(what), "gpio request type %u", type);
    if (drv_exchange(d, REQ_RING, b, 2, &used, what))
        return -1;
    if (used < 1 || used > resp_len) {
        vs_err("%s: used length %u, the response buffer has %u bytes", what, used, resp_len);
        return -1;
    }
    if (resp[0] != STATUS_OK)
        vs_err("%s (line %u, value %u): status %u", what, d->opt.gpio_line, value, resp[0]);
    return resp[0];
}

/* GET_LINE_NAMES: prints the name of our line. */
static int gpio_names(struct driver *d)
{
    uint32_t size = cfg_le32(d->config + GPIO_CFG_NAMES_SIZE), line = 0, at = 1;
    uint8_t *resp;
    char name[GPIO_NAME_SHOWN + 1];

    if (size == 0) {
        printf("vdpa-driver: gpio: the device has no line names\n");
        return 0;
    }
    if (size > GPIO_NAMES_MAX || !(resp = drv_alloc(d, size + 1, 1)))
        return vs_err("gpio_names_size %u is too large", size), -1;
    if (gpio_request(d, MSG_GET_LINE_NAMES, 0, resp, size + 1) != STATUS_OK)
        return -1;
    /* Names are NUL-terminated, one per line in order (5.18.6). */
    while (line < d->opt.gpio_line && at <= size)
        line += resp[at++] == '\0';
    if (at > size || memchr(resp + at, '\0', size + 1 - at) == NULL)
        return vs_err("gpio: the names do not reach line %u", d->opt.gpio_line), -1;
    snprintf(name, sizeof(name), "%s", (const char *)resp + at);
    for (char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    printf("vdpa-driver: gpio: line %u is \"%s\"\n", d->opt.gpio_line, name);
    return 0;
}

/* A request whose response is status + one byte that must equal `want`
 * (want < 0: any). */
static int gpio_expect(struct driver *d, uint16_t type, uint32_t value, int want, uint8_t *got)
{
    uint8_t *resp = drv_alloc(d, 2, 1);

    if (!resp || gpio_request(d, type, value, resp, 2) != STATUS_OK)
        return -1;
    if (want >= 0 && resp[1] != want) {
        vs_err("gpio request type %u on line %u: value %u, expected %d", type, d->opt.gpio_line,
               resp[1], want);
        return -1;
    }
    if (got)
        *got = resp[1];
    return 0;
}

static int gpio_run(struct driver *d)
{
    static const char *const dir_name[] = { "none", "out", "in" };
    uint8_t dir;

    if (gpio_names(d) || gpio_expect(d, MSG_GET_DIRECTION, 0, -1, &dir))
        return -1;
    printf("vdpa-driver: gpio: line %u direction %s\n", d->opt.gpio_line,
           dir <= DIRECTION_IN ? dir_name[dir] : "invalid");
    if (gpio_expect(d, MSG_SET_VALUE, 1, -1, NULL) ||
        gpio_expect(d, MSG_SET_DIRECTION, DIRECTION_OUT, -1, NULL) ||
        gpio_expect(d, MSG_GET_DIRECTION, 0, DIRECTION_OUT, NULL) ||
        gpio_expect(d, MSG_GET_VALUE, 0, 1, NULL) || gpio_expect(d, MSG_SET_VALUE, 0, -1, NULL) ||
        gpio_expect(d, MSG_GET_VALUE, 0, 0, NULL))
        return -1;
    snprintf(d->summary, sizeof(d->summary),
             "gpio: line %u set out, value 1 then 0 read back: match", d->opt.gpio_line);
    return 0;
}

const struct drv_type drv_type_gpio = {
    .name = "gpio",
    .device_id = GPIO_DEVICE_ID,
    .features = gpio_features,
    .configure = gpio_configure,
    .run = gpio_run,
};
