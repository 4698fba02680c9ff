/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vhost_user.h"

static int errorf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int errorf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int parse_uint(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    /* Decimal digits only: strtoul would read "01500" as octal and skip
     * blanks and signs. */
    if (!isdigit((unsigned char)*text))
        return -EINVAL;
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_path(const char *v, char *dst, char *err, size_t errlen, const char *key)
{
    size_t len = strlen(v);

    if (len == 0)
        return errorf(err, errlen, "%s= needs a socket path", key);
    if (len >= VS_PATH_MAX)
        return errorf(err, errlen, "%s=%s: path is %zu bytes, a unix socket path holds at most %zu",
                      key, v, len, VS_PATH_MAX - 1);
    memcpy(dst, v, len + 1);
    return 0;
}

static int parse_mode(const char *v, enum vs_side_mode *mode, const char *key, char *err,
                      size_t errlen)
{
    if (strcmp(v, "listen") == 0)
        *mode = VS_MODE_LISTEN;
    else if (strcmp(v, "connect") == 0)
        *mode = VS_MODE_CONNECT;
    else
        return errorf(err, errlen, "%s=%s: expected listen or connect", key, v);
    return 0;
}

static int hex_digit(char c)
{
    return isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10;
}

/* Exactly xx:xx:xx:xx:xx:xx with hex digits (sscanf's %x would take signs,
 * blanks and 0x prefixes). */
static int parse_mac(const char *v, uint8_t mac[6])
{
    if (strlen(v) != 17)
        return -EINVAL;
    for (int i = 0; i < 17; i++)
        if (i % 3 == 2 ? v[i] != ':' : !isxdigit((unsigned char)v[i]))
            return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)(hex_digit(v[i * 3]) << 4 | hex_digit(v[i * 3 + 1]));
    return 0;
}

/* Keys a --device takes; the one list --help prints. */
static const struct {
    const char *key;
    const char *help;
} device_keys[] = {
    { "type", "device type (required): see the list below" },
    { "id", "a name for logs and the trace (default dev<N>)" },
    { "frontend", "socket path the VMM (front-end) side uses (required)" },
    { "frontend-mode", "listen (default: the VMM connects) or connect (the VMM listens)" },
    { "backend", "socket path of the back-end (required)" },
    { "backend-mode", "connect (default: the back-end listens) or listen" },
    { "socket-mode", "octal permissions of sockets the shim creates (default 0600)" },
    { "mac", "net: MAC address, xx:xx:xx:xx:xx:xx" },
    { "mtu", "net: MTU, 68..65535" },
    { "queue-pairs", "net: queue pairs, 1..127" },
    { "num-queues", "other types: virtqueues, 1..256" },
    { "queue-size", "virtqueue size, a power of two 1..32768" },
    { "speed", "net: link speed in Mbit/s shown to a vdpa-user front-end" },
    { "duplex", "net: half or full (default full; with speed=)" },
    { "tag", "fs: mount tag shown to a vdpa-user front-end, 1..36 bytes" },
    { "capacity", "blk: size in bytes (a multiple of 512) for a back-end without config space" },
    { "check", "compat-matrix file or directory: report requests the matrix says a peer "
               "never sends, must handle or must send" },
    { "peer-uid", "refuse a front-end or back-end process not running as this uid (SO_PEERCRED)" },
};

static int apply_key(struct vs_device_config *dev, const char *key, const char *v, char *err,
                     size_t errlen)
{
    unsigned long n;

    if (strcmp(key, "type") == 0) {
        dev->type = vs_device_type_find(v);
        if (!dev->type)
            return errorf(err, errlen, "type=%s: unknown device type; known: %s", v,
                          vs_device_type_names());
    } else if (strcmp(key, "id") == 0) {
        if (!*v || strlen(v) >= sizeof(dev->id) || strpbrk(v, " \t\n=,"))
            return errorf(err, errlen, "id=%s: 1..%zu characters without blanks, '=' or ','", v,
                          sizeof(dev->id) - 1);
        strcpy(dev->id, v);
    } else if (strcmp(key, "frontend") == 0) {
        return parse_path(v, dev->frontend, err, errlen, key);
    } else if (strcmp(key, "backend") == 0) {
        return parse_path(v, dev->backend, err, errlen, key);
    } else if (strcmp(key, "frontend-mode") == 0) {
        return parse_mode(v, &dev->frontend_mode, key, err, errlen);
    } else if (strcmp(key, "backend-mode") == 0) {
        return parse_mode(v, &dev->backend_mode, key, err, errlen);
    } else if (strcmp(key, "socket-mode") == 0) {
        char *end;
        errno = 0;
        n = strtoul(v, &end, 8);
        if (!*v || strspn(v, "01234567") != strlen(v) || *end || errno || n > 0777)
            return errorf(err, errlen, "socket-mode=%s: expected octal permissions such as 0600", v);
        dev->socket_mode = (unsigned)n;
    } else if (strcmp(key, "mac") == 0) {
        if (parse_mac(v, dev->mac))
            return errorf(err, errlen, "mac=%s: expected six hex bytes such as 52:54:00:12:34:56", v);
        dev->has_mac = true;
    } else if (strcmp(key, "mtu") == 0) {
        if (parse_uint(v, 68, 65535, &n))
            return errorf(err, errlen, "mtu=%s: expected 68..65535", v);
        dev->mtu = (uint16_t)n;
    } else if (strcmp(key, "queue-pairs") == 0) {
        /* 2 * 127 + control queue stays within the 8-bit ring index */
        if (parse_uint(v, 1, 127, &n))
            return errorf(err, errlen, "queue-pairs=%s: expected 1..127", v);
        dev->queue_pairs = (uint16_t)n;
    } else if (strcmp(key, "num-queues") == 0) {
        if (parse_uint(v, 1, VU_MAX_QUEUES, &n))
            return errorf(err, errlen, "num-queues=%s: expected 1..256", v);
        dev->num_queues = (uint16_t)n;
    } else if (strcmp(key, "queue-size") == 0) {
        if (parse_uint(v, 1, 32768, &n) || (n & (n - 1)))
            return errorf(err, errlen, "queue-size=%s: expected a power of two, 1..32768", v);
        dev->queue_size = (uint16_t)n;
    } else if (strcmp(key, "speed") == 0) {
        if (parse_uint(v, 0, UINT32_MAX, &n))
            return errorf(err, errlen, "speed=%s: expected Mbit/s, 0..4294967295", v);
        dev->speed = (uint32_t)n;
        dev->speed_set = true;
    } else if (strcmp(key, "duplex") == 0) {
        if (strcmp(v, "half") != 0 && strcmp(v, "full") != 0)
            return errorf(err, errlen, "duplex=%s: expected half or full", v);
        dev->duplex = strcmp(v, "full") == 0;
    } else if (strcmp(key, "tag") == 0) {
        if (!*v || strlen(v) >= sizeof(dev->tag))
            return errorf(err, errlen, "tag=%s: 1..%zu bytes", v, sizeof(dev->tag) - 1);
        strcpy(dev->tag, v);
    } else if (strcmp(key, "peer-uid") == 0) {
        if (parse_uint(v, 0, UINT32_MAX - 1, &n))
            return errorf(err, errlen, "peer-uid=%s: expected a numeric user id", v);
        dev->peer_uid = (uint32_t)n;
        dev->peer_uid_set = true;
    } else if (strcmp(key, "check") == 0) {
        return parse_path(v, dev->check, err, errlen, key);
    } else if (strcmp(key, "capacity") == 0) {
        unsigned long long bytes;
        char *end;
        errno = 0;
        bytes = strtoull(v, &end, 10);
        if (!isdigit((unsigned char)*v) || *end || errno || bytes == 0 || bytes % 512)
            return errorf(err, errlen, "capacity=%s: expected bytes, a positive multiple of 512", v);
        dev->capacity = bytes;
    } else {
        size_t used = 0;
        char known[512];
        known[0] = '\0';
        for (size_t i = 0; i < sizeof(device_keys) / sizeof(device_keys[0]); i++)
            used += (size_t)snprintf(known + used, used < sizeof(known) ? sizeof(known) - used : 0,
                                     "%s%s", i ? ", " : "", device_keys[i].key);
        return errorf(err, errlen, "unknown device key '%s'; known keys: %s", key, known);
    }
    return 0;
}

int vs_device_parse(const char *spec, size_t index, struct vs_device_config *dev, char *err,
                    size_t errlen)
{
    char seen[sizeof(device_keys) / sizeof(device_keys[0])] = { 0 };
    char *buf = malloc(strlen(spec) + 1);
    const char *p = spec;
    int rc = 0;

    if (!buf)
        return -ENOMEM;
    memset(dev, 0, sizeof(*dev));
    snprintf(dev->id, sizeof(dev->id), "dev%zu", index);
    dev->frontend_mode = VS_MODE_LISTEN;
    dev->backend_mode = VS_MODE_CONNECT;
    dev->socket_mode = 0600;
    dev->duplex = 1;

    while (*p && rc == 0) {
        /* One KEY=VALUE item; ",," stands for a literal comma, as in QEMU. */
        size_t n = 0;
        for (; *p; p++) {
            if (*p == ',') {
                if (p[1] == ',') {
                    buf[n++] = ',';
                    p++;
                    continue;
                }
                p++;
                break;
            }
            buf[n++] = *p;
        }
        buf[n] = '\0';
        char *eq = strchr(buf, '=');
        if (!eq) {
            rc = errorf(err, errlen, "'%s': expected KEY=VALUE", buf);
            break;
        }
        *eq = '\0';
        size_t k;
        for (k = 0; k < sizeof(device_keys) / sizeof(device_keys[0]); k++)
            if (strcmp(device_keys[k].key, buf) == 0)
                break;
        if (k < sizeof(seen) && seen[k]) {
            rc = errorf(err, errlen, "key '%s' given twice", buf);
            break;
        }
        if (k < sizeof(seen))
            seen[k] = 1;
        rc = apply_key(dev, buf, eq + 1, err, errlen);
    }
    free(buf);
    if (rc)
        return rc;

    if (!dev->type)
        return errorf(err, errlen, "device %s: type= is required (one of %s)", dev->id,
                      vs_device_type_names());
    if (!dev->frontend[0] || !dev->backend[0])
        return errorf(err, errlen, "device %s: frontend= and backend= are both required", dev->id);
    if (strcmp(dev->frontend, dev->backend) == 0)
        return errorf(err, errlen, "device %s: frontend and backend are the same path %s", dev->id,
                      dev->frontend);
    if (strcmp(dev->type->name, "net") != 0 && (dev->has_mac || dev->mtu || dev->queue_pairs))
        return errorf(err, errlen, "device %s: mac=, mtu= and queue-pairs= apply to type=net only",
                      dev->id);
    if (strcmp(dev->type->name, "net") == 0 && dev->num_queues)
        return errorf(err, errlen, "device %s: num-queues= does not apply to type=net; use "
                      "queue-pairs=", dev->id);
    if (strcmp(dev->type->name, "net") != 0 && dev->speed_set)
        return errorf(err, errlen, "device %s: speed= and duplex= apply to type=net only", dev->id);
    if (strcmp(dev->type->name, "fs") != 0 && dev->tag[0])
        return errorf(err, errlen, "device %s: tag= applies to type=fs only", dev->id);
    if (strcmp(dev->type->name, "blk") != 0 && dev->capacity)
        return errorf(err, errlen, "device %s: capacity= applies to type=blk only", dev->id);
    if (dev->has_mac && (dev->mac[0] & 1))
        return errorf(err, errlen, "device %s: mac is a multicast address", dev->id);
    return 0;
}

uint32_t vs_device_max_rings(const struct vs_device_config *dev)
{
    if (dev->queue_pairs)
        return 2u * dev->queue_pairs + 1; /* with the control queue */
    if (dev->num_queues)
        return dev->num_queues;
    return 0;
}

int vs_cli_parse(int argc, char **argv, struct vs_options *opts, char *err, size_t errlen)
{
    memset(opts, 0, sizeof(*opts));
    opts->log_level = VS_LOG_INFO;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        size_t nlen = strcspn(a, "=");
        bool has_inline = a[nlen] == '=';

#define IS(opt) (strncmp(a, opt, nlen) == 0 && strlen(opt) == nlen)
        if (IS("--help") || IS("-h") || IS("--version") || IS("-V")) {
            if (has_inline) {
                vs_options_free(opts);
                return errorf(err, errlen, "option '%.*s' takes no value", (int)nlen, a);
            }
            if (a[1] == 'h' || a[2] == 'h')
                opts->help = true;
            else
                opts->version = true;
            continue;
        }
        if (!(IS("--device") || IS("--trace") || IS("--log-level"))) {
            vs_options_free(opts);
            return errorf(err, errlen, "unknown option '%s' (see --help)", a);
        }
        if (has_inline)
            val = a + nlen + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            vs_options_free(opts);
            return errorf(err, errlen, "option '%s' needs a value", a);
        }
        if (IS("--device")) {
            if (opts->ndevices >= VS_MAX_DEVICES) {
                vs_options_free(opts);
                return errorf(err, errlen, "more than %d devices", VS_MAX_DEVICES);
            }
            struct vs_device_config *d =
                realloc(opts->devices, (opts->ndevices + 1) * sizeof(*opts->devices));
            if (!d) {
                vs_options_free(opts);
                return -ENOMEM;
            }
            opts->devices = d;
            int rc = vs_device_parse(val, opts->ndevices, &d[opts->ndevices], err, errlen);
            if (rc) {
                vs_options_free(opts);
                return rc;
            }
            opts->ndevices++;
        } else if (IS("--trace")) {
            if (!*val) {
                vs_options_free(opts);
                return errorf(err, errlen, "--trace needs a file name or -");
            }
            opts->trace_path = val;
        } else {
            if (vs_log_level_parse(val, &opts->log_level)) {
                vs_options_free(opts);
                return errorf(err, errlen, "--log-level %s: expected error, warn, info or debug", val);
            }
        }
#undef IS
    }
    if (opts->help || opts->version)
        return 0;
    if (opts->ndevices == 0)
        return errorf(err, errlen, "no --device given (see --help)");

    /* Two devices must not share a socket path or an id. */
    for (size_t i = 0; i < opts->ndevices; i++) {
        for (size_t j = i + 1; j < opts->ndevices; j++) {
            const struct vs_device_config *a = &opts->devices[i], *b = &opts->devices[j];
            const char *pa[2] = { a->frontend, a->backend }, *pb[2] = { b->frontend, b->backend };
            for (int x = 0; x < 2; x++)
                for (int y = 0; y < 2; y++)
                    if (strcmp(pa[x], pb[y]) == 0) {
                        int rc = errorf(err, errlen, "devices %s and %s both use socket %s", a->id,
                                        b->id, pa[x]);
                        vs_options_free(opts);
                        return rc;
                    }
            if (strcmp(a->id, b->id) == 0) {
                int rc = errorf(err, errlen, "two devices are named %s", a->id);
                vs_options_free(opts);
                return rc;
            }
        }
    }
    return 0;
}

void vs_options_free(struct vs_options *opts)
{
    free(opts->devices);
    opts->devices = NULL;
    opts->ndevices = 0;
}

void vs_cli_usage(FILE *out)
{
    fprintf(out,
            "usage: vdpa-shim --device KEY=VALUE[,KEY=VALUE...] [--device ...]\n"
            "                 [--trace FILE|-] [--log-level LEVEL] [--help] [--version]\n"
            "\n"
            "A vhost-user socket-in-the-middle: each --device joins a VMM-side socket\n"
            "(front-end) to a back-end socket. The protocol of each side (vhost-user or\n"
            "vdpa-user) is found by feature negotiation; fds are handed on, so the data\n"
            "plane runs peer to peer.\n"
            "\n"
            "Device keys (a literal ',' in a value is written ',,'):\n");
    for (size_t i = 0; i < sizeof(device_keys) / sizeof(device_keys[0]); i++)
        fprintf(out, "  %-15s %s\n", device_keys[i].key, device_keys[i].help);
    fprintf(out,
            "\nDevice types: %s\n"
            "\nOptions:\n"
            "  --trace FILE|-     write every message, decoded, to FILE (- = stdout)\n"
            "  --log-level LEVEL  error, warn, info (default) or debug\n"
            "  --help, --version\n"
            "\nExample:\n"
            "  vdpa-shim --device type=net,frontend=/run/vm0-net.sock,backend=/run/dpdk-vhost0.sock\n"
            "\nExit status: 0 on a clean shutdown (SIGINT/SIGTERM), 1 on a runtime failure,\n"
            "2 on bad usage.\n",
            vs_device_type_names());
}
