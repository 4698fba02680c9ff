/* SPDX-License-Identifier: MIT */
/*
 * vdpa-driver: the reference vdpa-user front-end (docs/reference-driver.md).
 *
 * What a VMM does with a vdpa-user device, in one straight line:
 *
 *   connect -> negotiate (docs/vdpa-user.md section 8, steps 1-15)
 *   -> decode the config space, choose the rings -> start (steps 16-31)
 *   -> traffic (net: control queue commands, loopback frames over every
 *      queue pair; blk: write, read back, flush, GET_ID; fs: FUSE_INIT;
 *      console: bytes both ways; rng: random bytes; gpio: a line set and
 *      read back; i2c: one read; scmi: BASE protocol queries; scsi: INQUIRY
 *      and a READ(10) of a known pattern; sound: stream info, silence
 *      played; gpu: display info, a 2D resource flushed to the display socket)
 *   -> suspend, read ring bases, resume -> reset -> close
 *
 * Exit status: 0 when every step succeeded and the data matched, 1 on any
 * failure (the reason is logged), 2 for bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdpa-driver/driver.h"

#define DEFAULT_SEND       "hello from vdpa-driver"
#define DEFAULT_I2C_ADDR   0x20u
#define I2C_ADDR_MAX       0x7fu /* 7-bit addressing */
#define GPIO_LINE_MAX      0xffffu
#define DEFAULT_VSOCK_PORT 1234u

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vdpa-driver --socket PATH --type TYPE [--count N] [--queue-pairs N]\n"
            "                   [--ctrl] [--pattern-sector S] [--mem-mb M] [--queue-size Q]\n"
            "                   [--expect-mac XX:XX:XX:XX:XX:XX] [--expect-tag TAG]\n"
            "                   [--send TEXT] [--expect TEXT] [--gpio-line L] [--i2c-addr A]\n"
            "                   [--vsock-port P]\n"
            "                   [--log-level error|warn|info|debug] [--help]\n"
            "A vdpa-user (VHOST_USER_PROTOCOL_F_VDPA) front-end: brings the device up, runs\n"
            "traffic through it, suspends, resumes and resets it.\n"
            "  --type            the device type expected (checked with VDPA_GET_DEVICE_ID):\n"
            "                    net, blk, fs, console, rng, gpio, i2c, scmi, scsi, vsock,\n"
            "                    sound or gpu\n"
            "  --count N         net: frames to send (default 1000); the back-end must loop\n"
            "                    them back (on any receive queue); rng: bytes to read\n"
            "  --queue-pairs N   net: queue pairs to use, 1..%u (default 1); above 1 needs\n"
            "                    VIRTIO_NET_F_MQ and the control queue; frames are sent\n"
            "                    round-robin over the transmit queues\n"
            "  --ctrl            net: use the control queue even with one queue pair\n"
            "  --pattern-sector  blk: where to write and read back 4 KiB (default 8); scsi:\n"
            "                    the block whose 4 KiB must hold the pattern\n"
            "  --mem-mb M        guest memory in MiB (default 16)\n"
            "  --queue-size Q    ring size, a power of two (default: 256 or the device's\n"
            "                    maximum if smaller)\n"
            "  --expect-mac      net: fail unless the config space has this MAC\n"
            "  --expect-tag TAG  fs: fail unless the config space has this mount tag\n"
            "  --send TEXT       console, vsock: UTF-8 bytes to send (default \"%s\")\n"
            "  --expect TEXT     console, vsock: bytes the host side must send back (default:\n"
            "                    TEXT)\n"
            "  --vsock-port P    vsock: the host (CID 2) port to connect to (default 1234)\n"
            "  --gpio-line L     gpio: the line set as output, written and read back (0)\n"
            "  --i2c-addr A      i2c: the 7-bit target address of the read transfer (0x20)\n"
            "  --log-level       debug logs every request and reply\n",
            DRV_MAX_PAIRS, DEFAULT_SEND);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno || end == s || *end || *s == '-' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static const struct drv_type *const types[] = {
    &drv_type_net,  &drv_type_blk,   &drv_type_fs,    &drv_type_console,
    &drv_type_rng,  &drv_type_gpio,  &drv_type_i2c,   &drv_type_scmi,
    &drv_type_scsi, &drv_type_vsock, &drv_type_sound, &drv_type_gpu,
};

enum {
    O_SOCKET = 256,
    O_TYPE,
    O_COUNT,
    O_PAIRS,
    O_CTRL,
    O_SECTOR,
    O_MEM,
    O_QS,
    O_MAC,
    O_TAG,
    O_SEND,
    O_EXPECT,
    O_GPIO_LINE,
    O_I2C_ADDR,
    O_VSOCK_PORT,
    O_LOG,
    O_HELP
};

/* The options of the newer device types (set_option's default case). */
static int set_type_option(struct options *o, int c, const char *arg)
{
    uint64_t v;

    switch (c) {
    case O_SEND:
        if (!*arg)
            return fprintf(stderr, "vdpa-driver: --send needs at least one byte\n"), -1;
        o->send_text = arg;
        break;
    case O_EXPECT:
        if (!*arg)
            return fprintf(stderr, "vdpa-driver: --expect needs at least one byte\n"), -1;
        o->expect_text = arg;
        break;
    case O_GPIO_LINE:
        if (parse_u64(arg, 0, GPIO_LINE_MAX, &v))
            return fprintf(stderr, "vdpa-driver: --gpio-line is 0..%u\n", GPIO_LINE_MAX), -1;
        o->gpio_line = (unsigned)v;
        break;
    case O_I2C_ADDR:
        if (parse_u64(arg, 0, I2C_ADDR_MAX, &v))
            return fprintf(stderr, "vdpa-driver: --i2c-addr is 0..0x%x\n", I2C_ADDR_MAX), -1;
        o->i2c_addr = (unsigned)v;
        break;
    case O_VSOCK_PORT:
        if (parse_u64(arg, 0, UINT32_MAX, &v))
            return fprintf(stderr, "vdpa-driver: --vsock-port is 0..%u\n", UINT32_MAX), -1;
        o->vsock_port = (unsigned)v;
        break;
    default:
        return -1;
    }
    return 0;
}

/* One option c with its argument arg (getopt_long's optarg) into o: 0, or
 * -1 after saying what is wrong. */
static int set_option(struct options *o, int c, const char *arg)
{
    enum vs_log_level level;
    unsigned m[6];
    char tail;
    uint64_t v;

    switch (c) {
    case O_SOCKET:
        o->socket_path = arg;
        break;
    case O_TYPE:
        o->type = arg;
        break;
    case O_COUNT:
        if (parse_u64(arg, 0, 100000000, &v))
            return fprintf(stderr, "vdpa-driver: --count is 0..100000000\n"), -1;
        o->count = (unsigned)v;
        break;
    case O_PAIRS:
        if (parse_u64(arg, 1, DRV_MAX_PAIRS, &v))
            return fprintf(stderr, "vdpa-driver: --queue-pairs is 1..%u\n", DRV_MAX_PAIRS), -1;
        o->queue_pairs = (unsigned)v;
        break;
    case O_CTRL:
        o->ctrl = true;
        break;
    case O_SECTOR:
        if (parse_u64(arg, 0, UINT64_MAX / 512, &o->pattern_sector))
            return fprintf(stderr, "vdpa-driver: bad --pattern-sector\n"), -1;
        break;
    case O_MEM:
        if (parse_u64(arg, 1, 4096, &v))
            return fprintf(stderr, "vdpa-driver: --mem-mb is 1..4096\n"), -1;
        o->mem_mb = (unsigned)v;
        break;
    case O_QS:
        if (parse_u64(arg, 1, VQ_MAX_SIZE, &v) || (v & (v - 1)))
            return fprintf(stderr, "vdpa-driver: --queue-size is a power of two <= %u\n",
                           VQ_MAX_SIZE),
                   -1;
        o->queue_size = (unsigned)v;
        break;
    case O_MAC:
        if (sscanf(arg, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5],
                   &tail) != 6)
            return fprintf(stderr, "vdpa-driver: --expect-mac wants xx:xx:xx:xx:xx:xx\n"), -1;
        for (int i = 0; i < 6; i++)
            o->mac[i] = (uint8_t)m[i];
        o->expect_mac = true;
        break;
    case O_TAG:
        if (!*arg || strlen(arg) > FS_TAG_LEN)
            return fprintf(stderr, "vdpa-driver: --expect-tag is 1..%u bytes\n", FS_TAG_LEN), -1;
        o->expect_tag = arg;
        break;
    case O_LOG:
        if (vs_log_level_parse(arg, &level))
            return fprintf(stderr, "vdpa-driver: --log-level is error|warn|info|debug\n"), -1;
        vs_log_set_level(level);
        break;
    case O_HELP:
        usage(stdout);
        exit(0);
    default:
        return set_type_option(o, c, arg);
    }
    return 0;
}

/* What no single option can check: the type exists, the options fit it. */
static int check_options(struct options *o, const struct drv_type **type)
{
    if (!o->socket_path || !o->type)
        return fprintf(stderr, "vdpa-driver: --socket and --type are required\n"), -1;
    for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(o->type, types[i]->name) == 0)
            *type = types[i];
    if (!*type)
        return fprintf(stderr, "vdpa-driver: unknown --type '%s'\n", o->type), -1;
    o->device_id = (*type)->device_id;
    if (o->device_id != VIRTIO_ID_NET && (o->queue_pairs != 1 || o->ctrl || o->expect_mac))
        return fprintf(stderr, "vdpa-driver: --queue-pairs, --ctrl and --expect-mac are for "
                               "--type net\n"),
               -1;
    if (o->device_id != VIRTIO_ID_FS && o->expect_tag)
        return fprintf(stderr, "vdpa-driver: --expect-tag is for --type fs\n"), -1;
    if (*type != &drv_type_console && *type != &drv_type_vsock && (o->send_text || o->expect_text))
        return fprintf(stderr, "vdpa-driver: --send and --expect are for --type console and "
                               "vsock\n"),
               -1;
    if (!o->send_text)
        o->send_text = DEFAULT_SEND;
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o, const struct drv_type **type)
{
    static const struct option longopts[] = {
        { "socket", required_argument, NULL, O_SOCKET },
        { "type", required_argument, NULL, O_TYPE },
        { "count", required_argument, NULL, O_COUNT },
        { "queue-pairs", required_argument, NULL, O_PAIRS },
        { "ctrl", no_argument, NULL, O_CTRL },
        { "pattern-sector", required_argument, NULL, O_SECTOR },
        { "mem-mb", required_argument, NULL, O_MEM },
        { "queue-size", required_argument, NULL, O_QS },
        { "expect-mac", required_argument, NULL, O_MAC },
        { "expect-tag", required_argument, NULL, O_TAG },
        { "send", required_argument, NULL, O_SEND },
        { "expect", required_argument, NULL, O_EXPECT },
        { "gpio-line", required_argument, NULL, O_GPIO_LINE },
        { "i2c-addr", required_argument, NULL, O_I2C_ADDR },
        { "vsock-port", required_argument, NULL, O_VSOCK_PORT },
        { "log-level", required_argument, NULL, O_LOG },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(o, 0, sizeof(*o));
    *type = NULL;
    o->count = 1000;
    o->queue_pairs = 1;
    o->pattern_sector = 8;
    o->mem_mb = 16;
    o->i2c_addr = DEFAULT_I2C_ADDR;
    o->vsock_port = DEFAULT_VSOCK_PORT;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
        if (set_option(o, c, optarg))
            return -1;
    if (optind != argc)
        return fprintf(stderr, "vdpa-driver: unexpected argument '%s'\n", argv[optind]), -1;
    return check_options(o, type);
}

int main(int argc, char **argv)
{
    static struct driver drv; /* large (config buffer, rings): not on the stack */
    struct driver *d = &drv;
    const struct drv_type *type;
    int rc = -1;

    vs_log_set_program("vdpa-driver");
    if (parse_options(argc, argv, &d->opt, &type)) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a back-end that goes away is an error, not a signal */
    setvbuf(stdout, NULL, _IOLBF, 0);
    d->sock = d->config_call = -1;
    for (unsigned i = 0; i < DRV_MAX_RINGS; i++)
        d->kick[i] = d->call[i] = -1;

    if (drv_connect(d) || drv_negotiate(d, type->features(&d->opt)) || type->configure(d) ||
        drv_start(d) || type->run(d))
        goto out;
    if (drv_check_health(d) || drv_shut_down(d))
        goto out;
    rc = 0;
out:
    drv_close(d);
    if (rc == 0) {
        printf("vdpa-driver: %s\n", d->summary);
        return 0;
    }
    if (d->summary[0])
        printf("vdpa-driver: %s\n", d->summary);
    fprintf(stderr, "vdpa-driver: FAILED (see the error above)\n");
    return 1;
}
