/* SPDX-License-Identifier: MIT */
/*
 * vdpa-driver: the reference vdpa-user front-end (docs/reference-driver.md).
 *
 * What a VMM does with a vdpa-user device, in one straight line:
 *
 *   connect -> negotiate (docs/vdpa-user.md section 8, steps 1-15)
 *   -> decode the config space, choose the rings -> start (steps 16-31)
 *   -> traffic (net: control queue commands, loopback frames over every
 *      queue pair; blk: write, read back, flush, GET_ID; fs: FUSE_INIT)
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

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vdpa-driver --socket PATH --type net|blk|fs [--count N] [--queue-pairs N]\n"
            "                   [--ctrl] [--pattern-sector S] [--mem-mb M] [--queue-size Q]\n"
            "                   [--expect-mac XX:XX:XX:XX:XX:XX] [--expect-tag TAG]\n"
            "                   [--log-level error|warn|info|debug] [--help]\n"
            "A vdpa-user (VHOST_USER_PROTOCOL_F_VDPA) front-end: brings the device up, runs\n"
            "traffic through it, suspends, resumes and resets it.\n"
            "  --type            the device type expected (checked with VDPA_GET_DEVICE_ID)\n"
            "  --count N         net: frames to send (default 1000); the back-end must loop\n"
            "                    them back (on any receive queue)\n"
            "  --queue-pairs N   net: queue pairs to use, 1..%u (default 1); above 1 needs\n"
            "                    VIRTIO_NET_F_MQ and the control queue; frames are sent\n"
            "                    round-robin over the transmit queues\n"
            "  --ctrl            net: use the control queue even with one queue pair\n"
            "  --pattern-sector  blk: where to write and read back 4 KiB (default 8)\n"
            "  --mem-mb M        guest memory in MiB (default 16)\n"
            "  --queue-size Q    ring size, a power of two (default: 256 or the device's\n"
            "                    maximum if smaller)\n"
            "  --expect-mac      net: fail unless the config space has this MAC\n"
            "  --expect-tag TAG  fs: fail unless the config space has this mount tag\n"
            "  --log-level       debug logs every request and reply\n",
            DRV_MAX_PAIRS);
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

static const struct drv_type *const types[] = { &drv_type_net, &drv_type_blk, &drv_type_fs };

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
    O_LOG,
    O_HELP
};

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
        return -1;
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
        return fprintf(stderr, "vdpa-driver: --type is net, blk or fs\n"), -1;
    o->device_id = (*type)->device_id;
    if (o->device_id != VIRTIO_ID_NET && (o->queue_pairs != 1 || o->ctrl || o->expect_mac))
        return fprintf(stderr, "vdpa-driver: --queue-pairs, --ctrl and --expect-mac are for "
                               "--type net\n"),
               -1;
    if (o->device_id != VIRTIO_ID_FS && o->expect_tag)
        return fprintf(stderr, "vdpa-driver: --expect-tag is for --type fs\n"), -1;
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
