/* SPDX-License-Identifier: MIT */
/*
 * Command line: `vdpa-shim --device KEY=VALUE[,KEY=VALUE...] [--device ...]
 * [--config FILE] [--trace FILE|-] [--trace-format text|json] [--trace-max SIZE]
 * [--log-level LEVEL] [--help] [--version]`.
 * Pure parsing and validation; nothing is opened here (the config file is
 * read by config_file.c, with the same device-key handling).
 */
#ifndef VDPA_SHIM_CLI_H
#define VDPA_SHIM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/un.h>

#include "device_types.h"
#include "devmodel.h"
#include "log.h"
#include "trace.h"

#define VS_MAX_DEVICES 4096
#define VS_PATH_MAX    sizeof(((struct sockaddr_un *)0)->sun_path)

enum vs_side_mode {
    VS_MODE_LISTEN,
    VS_MODE_CONNECT
};

struct vs_device_config {
    char id[32]; /* id= or "dev<N>" */
    const struct vs_device_type *type;
    char frontend[VS_PATH_MAX];
    enum vs_side_mode frontend_mode; /* default listen */
    char backend[VS_PATH_MAX];
    enum vs_side_mode backend_mode; /* default connect */
    unsigned socket_mode;           /* permissions of sockets we create */
    bool has_mac;
    uint8_t mac[6];
    uint16_t mtu;         /* 0: not set */
    uint16_t queue_pairs; /* net; 0: not set */
    uint16_t num_queues;  /* other types; 0: not set */
    uint16_t queue_size;  /* 0: not set */
    bool speed_set;       /* net speed=/duplex= (down-conversion config) */
    uint32_t speed;       /* Mbit/s */
    uint8_t duplex;       /* 0 half, 1 full */
    char tag[37];         /* fs: mount tag, up to 36 bytes */
    uint64_t capacity;    /* blk: bytes, when the back-end has no config */
    /* guest-cid=, ngpio=, cols=, rows=, ports=, streams=, jacks=, chmaps=,
     * scanouts=, max-target=, max-lun= (lib/proto/model_keys.c): the
     * device model's values for a back-end without a config space */
    uint64_t model_key[VS_MODEL_KEYS];
    uint32_t model_keys_set; /* bit k: model_key[k] given */
    char check[VS_PATH_MAX]; /* compat-matrix file or directory, "" = none */
    bool peer_uid_set;       /* peer-uid=: both peers must run as this user */
    uint32_t peer_uid;
    bool backend_uid_set; /* backend-uid=: the back-end must run as this user */
    uint32_t backend_uid;
    bool reply_timeout_set;    /* reply-timeout= given for this device */
    uint32_t reply_timeout_ms; /* a reply owed longer ends the session; 0: no bound */
    /* Not keys: set by main for socket activation (and not compared on
     * reload). A listening socket passed in, used (and closed at the end)
     * instead of creating the socket at the path; the path is never removed. */
    bool frontend_fd_given, backend_fd_given;
    int frontend_fd, backend_fd;
};

struct vs_options {
    struct vs_device_config *devices; /* owned; free with vs_options_free */
    size_t ndevices;
    size_t ncli_devices;               /* the first ones, from --device */
    const char *config_path;           /* --config, or NULL */
    const char *trace_path;            /* NULL: no trace; "-": stdout */
    char *trace_path_owned;            /* trace_path when it came from the file */
    enum vs_trace_format trace_format; /* default text */
    uint64_t trace_max;                /* bytes before rotation; 0: no limit */
    enum vs_log_level log_level;
    uint32_t reply_timeout_ms; /* reply-timeout for devices without the key */
    /* set explicitly (the command line wins over the config file's [global]) */
    bool trace_set, trace_format_set, trace_max_set, log_level_set, reply_timeout_set;
    bool help;
    bool version;
};

/* Sizes: digits with an optional K, M or G suffix (KiB, MiB, GiB; "KiB" and
 * "KB" are read the same); at most VS_SIZE_MAX. 0 or -EINVAL. */
#define VS_SIZE_MAX (1ull << 40)
int vs_size_parse(const char *text, uint64_t *bytes);

/* reply-timeout: how long a peer may owe a reply (or leave a message half
 * sent) before its session ends. 120 s by default: real back-ends never take
 * that long (QEMU itself has no time-out and blocks; qemu-storage-daemon
 * answers GET_VRING_BASE only once in-flight I/O has drained, which on a
 * failing disk takes the block layer's own time-outs, 30 s a try in the
 * Linux SCSI and NVMe drivers, so a minute or more). The warning that names
 * the stuck request comes at a quarter of it, at most VS_REPLY_WARN_MAX_MS. */
#define VS_REPLY_TIMEOUT_DEFAULT_MS 120000u
#define VS_REPLY_TIMEOUT_MAX_MS     (24u * 3600u * 1000u)
#define VS_REPLY_WARN_MAX_MS        10000u
/* Durations: digits with an optional "ms" or "s" (seconds when bare), at
 * most VS_REPLY_TIMEOUT_MAX_MS; 0 allowed. 0 or -EINVAL. */
int vs_duration_parse(const char *text, uint32_t *ms);
/* Gives the [global]/--reply-timeout default to devices without the key.
 * Called once every source of devices has been read. */
void vs_options_apply_defaults(struct vs_options *opts);

/* One global setting by name ("trace", "trace-format", "trace-max",
 * "log-level", "reply-timeout"), as --NAME VALUE or a [global] line. A value set before is
 * replaced only when override (the command line); it is validated either way.
 * value must outlive opts when override (argv); otherwise it is copied. */
int vs_option_set(struct vs_options *opts, const char *name, const char *value, bool override,
                  char *err, size_t errlen);
/* Appends a copy of dev (at most VS_MAX_DEVICES). */
int vs_options_add_device(struct vs_options *opts, const struct vs_device_config *dev, char *err,
                          size_t errlen);
/* Two devices clash when they share an id (returns VS_CLASH_ID) or a socket
 * path (VS_CLASH_SOCKET, *path set to it); 0 when they do not. */
enum {
    VS_CLASH_ID = 1,
    VS_CLASH_SOCKET
};
int vs_device_clash(const struct vs_device_config *a, const struct vs_device_config *b,
                    const char **path);
/* No two devices clash. 0 or -EINVAL with the reason. */
int vs_options_check(const struct vs_options *opts, char *err, size_t errlen);

/* Parses argv. 0, or -EINVAL with a one-line reason in err. */
int vs_cli_parse(int argc, char **argv, struct vs_options *opts, char *err, size_t errlen);
void vs_options_free(struct vs_options *opts);

/* Parses one --device value into dev (defaults applied). index names it. */
int vs_device_parse(const char *spec, size_t index, struct vs_device_config *dev, char *err,
                    size_t errlen);

/* The same, key by key (the config file): begin (defaults, id "dev<index>"),
 * set each KEY=VALUE (a key given twice is an error), finish (the checks that
 * need every key: required keys, keys that do not apply to the type). Each
 * returns 0 or -EINVAL with a one-line reason in err. */
#define VS_DEVICE_KEYS_MAX 64
struct vs_device_seen {
    unsigned char key[VS_DEVICE_KEYS_MAX];
};
void vs_device_begin(struct vs_device_config *dev, size_t index, struct vs_device_seen *seen);
int vs_device_set(struct vs_device_config *dev, struct vs_device_seen *seen, const char *key,
                  const char *value, char *err, size_t errlen);
int vs_device_finish(const struct vs_device_config *dev, char *err, size_t errlen);
bool vs_device_key_known(const char *key);
/* Same keys, same values (configs made by vs_device_begin/vs_device_parse;
 * the socket-activation fields are not compared). */
bool vs_device_config_equal(const struct vs_device_config *a, const struct vs_device_config *b);

/* Number of rings a device may use, from its keys; 0 when the back-end decides. */
uint32_t vs_device_max_rings(const struct vs_device_config *dev);

void vs_cli_usage(FILE *out);

#endif
