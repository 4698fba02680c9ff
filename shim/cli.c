/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
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
    { "backend-uid", "refuse a back-end process not running as this uid (SO_PEERCRED); "
                     "advised with backend-mode=listen" },
    { "reply-timeout", "end the session when a peer owes a reply (or leaves a message half "
                       "sent) this long: 500ms, 60s, 60 (seconds); 0 = no bound (default 120s, "
                       "or --reply-timeout)" },
};

/* Keys that bound what a peer can do: peer-uid=, backend-uid=, reply-timeout=. */
static int apply_guard_key(struct vs_device_config *dev, const char *key, const char *v, char *err,
                           size_t errlen)
{
    unsigned long n;

    if (strcmp(key, "peer-uid") == 0) {
        if (parse_uint(v, 0, UINT32_MAX - 1, &n))
            return errorf(err, errlen, "peer-uid=%s: expected a numeric user id", v);
        dev->peer_uid = (uint32_t)n;
        dev->peer_uid_set = true;
        return 0;
    }
    if (strcmp(key, "backend-uid") == 0) {
        if (parse_uint(v, 0, UINT32_MAX - 1, &n))
            return errorf(err, errlen, "backend-uid=%s: expected a numeric user id", v);
        dev->backend_uid = (uint32_t)n;
        dev->backend_uid_set = true;
        return 0;
    }
    if (vs_duration_parse(v, &dev->reply_timeout_ms))
        return errorf(err, errlen,
                      "reply-timeout=%s: expected a duration such as 500ms, 60s "
                      "or 60 (seconds), at most 24h; 0 = no bound",
                      v);
    dev->reply_timeout_set = true;
    return 0;
}

/* net speed= and duplex=. */
static int apply_link_key(struct vs_device_config *dev, const char *key, const char *v, char *err,
                          size_t errlen)
{
    unsigned long n;

    if (strcmp(key, "speed") == 0) {
        if (parse_uint(v, 0, UINT32_MAX, &n))
            return errorf(err, errlen, "speed=%s: expected Mbit/s, 0..4294967295", v);
        dev->speed = (uint32_t)n;
        dev->speed_set = true;
        return 0;
    }
    if (strcmp(v, "half") != 0 && strcmp(v, "full") != 0)
        return errorf(err, errlen, "duplex=%s: expected half or full", v);
    dev->duplex = strcmp(v, "full") == 0;
    return 0;
}

/* blk capacity=: bytes, a positive multiple of 512. */
static int apply_capacity(struct vs_device_config *dev, const char *v, char *err, size_t errlen)
{
    unsigned long long bytes;
    char *end;

    errno = 0;
    bytes = strtoull(v, &end, 10);
    if (!isdigit((unsigned char)*v) || *end || errno || bytes == 0 || bytes % 512)
        return errorf(err, errlen, "capacity=%s: expected bytes, a positive multiple of 512", v);
    dev->capacity = bytes;
    return 0;
}

/* A device model's key (lib/proto/model_keys.c): decimal, in its range. */
static int apply_model_key(struct vs_device_config *dev, unsigned k, const char *v, char *err,
                           size_t errlen)
{
    const struct vs_model_key_desc *d = vs_model_key_desc(k);
    unsigned long long n;
    char *end;

    errno = 0;
    n = strtoull(v, &end, 10);
    if (!isdigit((unsigned char)*v) || *end || errno || n < d->min || n > d->max)
        return errorf(err, errlen, "%s=%s: expected %" PRIu64 "..%" PRIu64 " (%s)", d->name, v,
                      d->min, d->max, d->type);
    dev->model_key[k] = n;
    dev->model_keys_set |= UINT32_C(1) << k;
    return 0;
}

/* A key not in device_keys: the error names the known ones. */
static int unknown_key(const char *key, char *err, size_t errlen)
{
    size_t used = 0;
    char known[768];

    known[0] = '\0';
    for (size_t i = 0; i < sizeof(device_keys) / sizeof(device_keys[0]); i++)
        used += (size_t)snprintf(known + used, used < sizeof(known) ? sizeof(known) - used : 0,
                                 "%s%s", i ? ", " : "", device_keys[i].key);
    for (unsigned k = 0; k < VS_MODEL_KEYS; k++)
        used += (size_t)snprintf(known + used, used < sizeof(known) ? sizeof(known) - used : 0,
                                 ", %s", vs_model_key_desc(k)->name);
    return errorf(err, errlen, "unknown device key '%s'; known keys: %s", key, known);
}

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
            return errorf(err, errlen, "socket-mode=%s: expected octal permissions such as 0600",
                          v);
        dev->socket_mode = (unsigned)n;
    } else if (strcmp(key, "mac") == 0) {
        if (parse_mac(v, dev->mac))
            return errorf(err, errlen, "mac=%s: expected six hex bytes such as 52:54:00:12:34:56",
                          v);
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
    } else if (strcmp(key, "speed") == 0 || strcmp(key, "duplex") == 0) {
        return apply_link_key(dev, key, v, err, errlen);
    } else if (strcmp(key, "tag") == 0) {
        if (!*v || strlen(v) >= sizeof(dev->tag))
            return errorf(err, errlen, "tag=%s: 1..%zu bytes", v, sizeof(dev->tag) - 1);
        strcpy(dev->tag, v);
    } else if (strcmp(key, "peer-uid") == 0 || strcmp(key, "backend-uid") == 0 ||
               strcmp(key, "reply-timeout") == 0) {
        return apply_guard_key(dev, key, v, err, errlen);
    } else if (strcmp(key, "check") == 0) {
        return parse_path(v, dev->check, err, errlen, key);
    } else if (strcmp(key, "capacity") == 0) {
        return apply_capacity(dev, v, err, errlen);
    } else if (vs_model_key_find(key) >= 0) {
        return apply_model_key(dev, (unsigned)vs_model_key_find(key), v, err, errlen);
    } else {
        return unknown_key(key, err, errlen);
    }
    return 0;
}

void vs_device_begin(struct vs_device_config *dev, size_t index, struct vs_device_seen *seen)
{
    memset(dev, 0, sizeof(*dev));
    memset(seen, 0, sizeof(*seen));
    snprintf(dev->id, sizeof(dev->id), "dev%zu", index);
    dev->frontend_mode = VS_MODE_LISTEN;
    dev->backend_mode = VS_MODE_CONNECT;
    dev->socket_mode = 0600;
    dev->duplex = 1;
    dev->reply_timeout_ms = VS_REPLY_TIMEOUT_DEFAULT_MS;
}

#define NDEVICE_KEYS (sizeof(device_keys) / sizeof(device_keys[0]))
_Static_assert(NDEVICE_KEYS + VS_MODEL_KEYS <= VS_DEVICE_KEYS_MAX, "raise VS_DEVICE_KEYS_MAX");

/* A key's number (device_keys, then the model keys), or -1. */
static int key_index(const char *key)
{
    for (size_t k = 0; k < NDEVICE_KEYS; k++)
        if (strcmp(device_keys[k].key, key) == 0)
            return (int)k;
    return vs_model_key_find(key) >= 0 ? (int)NDEVICE_KEYS + vs_model_key_find(key) : -1;
}

int vs_device_set(struct vs_device_config *dev, struct vs_device_seen *seen, const char *key,
                  const char *value, char *err, size_t errlen)
{
    int k = key_index(key);

    if (k >= 0) {
        if (seen->key[k])
            return errorf(err, errlen, "key '%s' given twice", key);
        seen->key[k] = 1;
    }
    return apply_key(dev, key, value, err, errlen);
}

bool vs_device_key_known(const char *key)
{
    return key_index(key) >= 0;
}

/* The model keys given apply to the device's type; cols= and rows= come
 * together (VIRTIO_CONSOLE_F_SIZE shows both). */
static int model_keys_check(const struct vs_device_config *dev, char *err, size_t errlen)
{
    const uint32_t size_keys = UINT32_C(1) << VS_KEY_COLS | UINT32_C(1) << VS_KEY_ROWS;

    for (unsigned k = 0; k < VS_MODEL_KEYS; k++) {
        const struct vs_model_key_desc *d = vs_model_key_desc(k);
        if ((dev->model_keys_set & (UINT32_C(1) << k)) && strcmp(dev->type->name, d->type) != 0)
            return errorf(err, errlen, "device %s: %s= applies to type=%s only", dev->id, d->name,
                          d->type);
    }
    if ((dev->model_keys_set & size_keys) && (dev->model_keys_set & size_keys) != size_keys)
        return errorf(err, errlen, "device %s: cols= and rows= go together", dev->id);
    return 0;
}

int vs_device_finish(const struct vs_device_config *dev, char *err, size_t errlen)
{
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
        return errorf(err, errlen,
                      "device %s: num-queues= does not apply to type=net; use "
                      "queue-pairs=",
                      dev->id);
    if (strcmp(dev->type->name, "net") != 0 && dev->speed_set)
        return errorf(err, errlen, "device %s: speed= and duplex= apply to type=net only", dev->id);
    if (strcmp(dev->type->name, "fs") != 0 && dev->tag[0])
        return errorf(err, errlen, "device %s: tag= applies to type=fs only", dev->id);
    if (strcmp(dev->type->name, "blk") != 0 && dev->capacity)
        return errorf(err, errlen, "device %s: capacity= applies to type=blk only", dev->id);
    if (dev->has_mac && (dev->mac[0] & 1))
        return errorf(err, errlen, "device %s: mac is a multicast address", dev->id);
    return model_keys_check(dev, err, errlen);
}

int vs_device_parse(const char *spec, size_t index, struct vs_device_config *dev, char *err,
                    size_t errlen)
{
    struct vs_device_seen seen;
    char *buf = malloc(strlen(spec) + 1);
    const char *p = spec;
    int rc = 0;

    if (!buf)
        return -ENOMEM;
    vs_device_begin(dev, index, &seen);

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
        rc = vs_device_set(dev, &seen, buf, eq + 1, err, errlen);
    }
    free(buf);
    if (rc)
        return rc;
    return vs_device_finish(dev, err, errlen);
}

bool vs_device_config_equal(const struct vs_device_config *a, const struct vs_device_config *b)
{
    /* Every config starts zeroed (vs_device_begin) and is copied whole, so
     * the bytes compare, up to the fields main sets. */
    return memcmp(a, b, offsetof(struct vs_device_config, frontend_fd_given)) == 0;
}

uint32_t vs_device_max_rings(const struct vs_device_config *dev)
{
    if (dev->queue_pairs)
        return 2u * dev->queue_pairs + 1; /* with the control queue */
    if (dev->num_queues)
        return dev->num_queues;
    return 0;
}

int vs_size_parse(const char *text, uint64_t *bytes)
{
    unsigned long long v;
    unsigned shift = 0;
    char *end;

    if (!isdigit((unsigned char)*text))
        return -EINVAL;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno)
        return -EINVAL;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        break;
    }
    if (shift && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
        end += strlen(end);
    if (*end || v > (VS_SIZE_MAX >> shift))
        return -EINVAL;
    *bytes = (uint64_t)v << shift;
    return 0;
}

int vs_duration_parse(const char *text, uint32_t *ms)
{
    unsigned long long v;
    unsigned long long scale = 1000;
    char *end;

    if (!isdigit((unsigned char)*text))
        return -EINVAL;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno)
        return -EINVAL;
    if (strcmp(end, "ms") == 0)
        scale = 1;
    else if (*end && strcmp(end, "s") != 0)
        return -EINVAL;
    if (v > VS_REPLY_TIMEOUT_MAX_MS / scale)
        return -EINVAL;
    *ms = (uint32_t)(v * scale);
    return 0;
}

void vs_options_apply_defaults(struct vs_options *opts)
{
    for (size_t i = 0; i < opts->ndevices; i++)
        if (!opts->devices[i].reply_timeout_set)
            opts->devices[i].reply_timeout_ms = opts->reply_timeout_ms;
}

int vs_option_set(struct vs_options *opts, const char *name, const char *value, bool override,
                  char *err, size_t errlen)
{
    if (strcmp(name, "trace") == 0) {
        if (!*value)
            return errorf(err, errlen, "trace needs a file name or -");
        if (opts->trace_set && !override)
            return 0;
        if (override) {
            opts->trace_path = value;
        } else {
            char *copy = strdup(value);
            if (!copy)
                return -ENOMEM;
            free(opts->trace_path_owned);
            opts->trace_path = opts->trace_path_owned = copy;
        }
        opts->trace_set = true;
    } else if (strcmp(name, "trace-format") == 0) {
        enum vs_trace_format f;
        if (strcmp(value, "text") == 0)
            f = VS_TRACE_TEXT;
        else if (strcmp(value, "json") == 0)
            f = VS_TRACE_JSON;
        else
            return errorf(err, errlen, "trace-format %s: expected text or json", value);
        if (!opts->trace_format_set || override)
            opts->trace_format = f;
        opts->trace_format_set = true;
    } else if (strcmp(name, "trace-max") == 0) {
        uint64_t n;
        if (vs_size_parse(value, &n) || (n && n < VS_TRACE_MAX_MIN))
            return errorf(err, errlen,
                          "trace-max %s: expected a size such as 64M, 512K or 1G "
                          "(at least %uK; 0 = no limit)",
                          value, VS_TRACE_MAX_MIN >> 10);
        if (!opts->trace_max_set || override)
            opts->trace_max = n;
        opts->trace_max_set = true;
    } else if (strcmp(name, "log-level") == 0) {
        enum vs_log_level l;
        if (vs_log_level_parse(value, &l))
            return errorf(err, errlen, "log-level %s: expected error, warn, info or debug", value);
        if (!opts->log_level_set || override)
            opts->log_level = l;
        opts->log_level_set = true;
    } else if (strcmp(name, "reply-timeout") == 0) {
        uint32_t ms;
        if (vs_duration_parse(value, &ms))
            return errorf(err, errlen,
                          "reply-timeout %s: expected a duration such as 500ms, 60s "
                          "or 60 (seconds), at most 24h; 0 = no bound",
                          value);
        if (!opts->reply_timeout_set || override)
            opts->reply_timeout_ms = ms;
        opts->reply_timeout_set = true;
    } else {
        return errorf(err, errlen,
                      "unknown setting '%s'; known: trace, trace-format, trace-max, "
                      "log-level, reply-timeout",
                      name);
    }
    return 0;
}

int vs_options_add_device(struct vs_options *opts, const struct vs_device_config *dev, char *err,
                          size_t errlen)
{
    struct vs_device_config *d;

    if (opts->ndevices >= VS_MAX_DEVICES)
        return errorf(err, errlen, "more than %d devices", VS_MAX_DEVICES);
    d = realloc(opts->devices, (opts->ndevices + 1) * sizeof(*opts->devices));
    if (!d)
        return errorf(err, errlen, "out of memory");
    opts->devices = d;
    memcpy(&d[opts->ndevices++], dev, sizeof(*dev));
    return 0;
}

int vs_device_clash(const struct vs_device_config *a, const struct vs_device_config *b,
                    const char **path)
{
    const char *pa[2] = { a->frontend, a->backend }, *pb[2] = { b->frontend, b->backend };

    if (strcmp(a->id, b->id) == 0)
        return VS_CLASH_ID;
    for (int x = 0; x < 2; x++)
        for (int y = 0; y < 2; y++)
            if (strcmp(pa[x], pb[y]) == 0) {
                *path = pa[x];
                return VS_CLASH_SOCKET;
            }
    return 0;
}

int vs_options_check(const struct vs_options *opts, char *err, size_t errlen)
{
    for (size_t i = 0; i < opts->ndevices; i++) {
        for (size_t j = i + 1; j < opts->ndevices; j++) {
            const struct vs_device_config *a = &opts->devices[i], *b = &opts->devices[j];
            const char *path;
            switch (vs_device_clash(a, b, &path)) {
            case VS_CLASH_ID:
                return errorf(err, errlen, "two devices are named %s", a->id);
            case VS_CLASH_SOCKET:
                return errorf(err, errlen, "devices %s and %s both use socket %s", a->id, b->id,
                              path);
            }
        }
    }
    return 0;
}

int vs_cli_parse(int argc, char **argv, struct vs_options *opts, char *err, size_t errlen)
{
    int rc = 0;

    memset(opts, 0, sizeof(*opts));
    opts->log_level = VS_LOG_INFO;
    opts->trace_format = VS_TRACE_TEXT;
    opts->trace_max = VS_TRACE_MAX_DEFAULT;
    opts->reply_timeout_ms = VS_REPLY_TIMEOUT_DEFAULT_MS;

    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        size_t nlen = strcspn(a, "=");
        bool has_inline = a[nlen] == '=';

#define IS(opt) (strncmp(a, opt, nlen) == 0 && strlen(opt) == nlen)
        if (IS("--help") || IS("-h") || IS("--version") || IS("-V")) {
            if (has_inline) {
                rc = errorf(err, errlen, "option '%.*s' takes no value", (int)nlen, a);
                break;
            }
            if (a[1] == 'h' || a[2] == 'h')
                opts->help = true;
            else
                opts->version = true;
            continue;
        }
        if (!(IS("--device") || IS("--trace") || IS("--log-level") || IS("--config") ||
              IS("--trace-format") || IS("--trace-max") || IS("--reply-timeout"))) {
            rc = errorf(err, errlen, "unknown option '%s' (see --help)", a);
            break;
        }
        if (has_inline)
            val = a + nlen + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            rc = errorf(err, errlen, "option '%s' needs a value", a);
            break;
        }
        if (IS("--device")) {
            struct vs_device_config dev;
            rc = vs_device_parse(val, opts->ndevices, &dev, err, errlen);
            if (rc == 0)
                rc = vs_options_add_device(opts, &dev, err, errlen);
        } else if (IS("--config")) {
            if (!*val)
                rc = errorf(err, errlen, "--config needs a file name");
            else if (opts->config_path)
                rc = errorf(err, errlen, "--config given twice");
            else
                opts->config_path = val;
        } else {
            /* the setting's name without "--" and without "=VALUE" */
            char name[sizeof("reply-timeout")];
            snprintf(name, sizeof(name), "%.*s", (int)(nlen - 2), a + 2);
            rc = vs_option_set(opts, name, val, true, err, errlen);
            if (rc && strncmp(err, name, strlen(name)) == 0 && strlen(err) + 3 < errlen) {
                /* name the option as it was given: "--trace-max ..." */
                memmove(err + 2, err, strlen(err) + 1);
                memcpy(err, "--", 2);
            }
        }
#undef IS
    }
    vs_options_apply_defaults(opts); /* again once a config file has added devices */
    if (rc == 0 && !opts->help && !opts->version) {
        if (opts->ndevices == 0 && !opts->config_path)
            rc = errorf(err, errlen, "no --device or --config given (see --help)");
        else
            rc = vs_options_check(opts, err, errlen);
    }
    if (rc)
        vs_options_free(opts);
    opts->ncli_devices = opts->ndevices;
    return rc;
}

void vs_options_free(struct vs_options *opts)
{
    free(opts->devices);
    opts->devices = NULL;
    opts->ndevices = 0;
    opts->ncli_devices = 0;
    if (opts->trace_path && opts->trace_path == opts->trace_path_owned)
        opts->trace_path = NULL;
    free(opts->trace_path_owned);
    opts->trace_path_owned = NULL;
}

void vs_cli_usage(FILE *out)
{
    fprintf(out,
            "usage: vdpa-shim --device KEY=VALUE[,KEY=VALUE...] [--device ...]\n"
            "       vdpa-shim --config FILE [--device ...]\n"
            "                 [--trace FILE|-] [--trace-format text|json] [--trace-max SIZE]\n"
            "                 [--log-level LEVEL] [--reply-timeout TIME] [--help] [--version]\n"
            "\n"
            "A vhost-user socket-in-the-middle: each device joins a VMM-side socket\n"
            "(front-end) to a back-end socket. The protocol of each side (vhost-user or\n"
            "vdpa-user) is found by feature negotiation; fds are handed on, so the data\n"
            "plane runs peer to peer.\n"
            "\n"
            "Device keys (a literal ',' in a value is written ',,'):\n");
    for (size_t i = 0; i < NDEVICE_KEYS; i++)
        fprintf(out, "  %-15s %s\n", device_keys[i].key, device_keys[i].help);
    fprintf(out, "Device keys for down-conversion over a back-end without a config space\n"
                 "(its own values win where it has one):\n");
    for (unsigned k = 0; k < VS_MODEL_KEYS; k++)
        fprintf(out, "  %-15s %s\n", vs_model_key_desc(k)->name, vs_model_key_desc(k)->help);
    fprintf(
        out,
        "\nDevice types: %s\n"
        "\nOptions:\n"
        "  --device SPEC        one device, KEY=VALUE,... (repeatable)\n"
        "  --config FILE        devices from an INI file: [device NAME] sections with the\n"
        "                       same keys (NAME is the id), an optional [global] section\n"
        "                       with trace, trace-format, trace-max, log-level,\n"
        "                       reply-timeout; SIGHUP\n"
        "                       reloads it. May be combined with --device; command-line\n"
        "                       options win over [global]\n"
        "  --trace FILE|-       write every message, decoded, to FILE (- = stdout)\n"
        "  --trace-format FMT   text (default: one readable line a message) or json\n"
        "                       (one JSON object a line)\n"
        "  --trace-max SIZE     when FILE would grow past SIZE (default 64M, 0 = no\n"
        "                       limit) it is renamed FILE.1 (replacing the last one) and\n"
        "                       a new FILE begun; suffixes K, M, G\n"
        "  --log-level LEVEL    error, warn, info (default) or debug\n"
        "  --reply-timeout TIME how long a peer may owe a reply before its session ends\n"
        "                       (default 120s; 500ms, 60s, 0 = no bound); reply-timeout=\n"
        "                       of a device wins\n"
        "  --help, --version\n"
        "\nSignals: SIGHUP reloads --config (devices whose keys did not change keep\n"
        "their sessions) and reopens the trace file; SIGTERM or SIGINT end every\n"
        "session, remove the sockets the shim created and exit 0.\n"
        "Socket activation: listening sockets passed as LISTEN_FDS (systemd) are used\n"
        "for the device whose frontend= path (or id, as FileDescriptorName) matches.\n"
        "\nExample:\n"
        "  vdpa-shim --device type=net,frontend=/run/vm0-net.sock,backend=/run/dpdk-vhost0.sock\n"
        "\nExit status: 0 on a clean shutdown (SIGINT/SIGTERM), 1 on a runtime failure\n"
        "(a socket or the trace file cannot be opened), 2 on bad usage (options or\n"
        "config file).\n",
        vs_device_type_names());
}
