/* SPDX-License-Identifier: MIT */
/*
 * Command line: `vdpa-shim --device KEY=VALUE[,KEY=VALUE...] [--device ...]
 * [--trace FILE|-] [--log-level LEVEL] [--help] [--version]`.
 * Pure parsing and validation; nothing is opened here.
 */
#ifndef VDPA_SHIM_CLI_H
#define VDPA_SHIM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/un.h>

#include "device_types.h"
#include "log.h"

#define VS_MAX_DEVICES 4096
#define VS_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

enum vs_side_mode { VS_MODE_LISTEN, VS_MODE_CONNECT };

struct vs_device_config {
    char id[32];                          /* id= or "dev<N>" */
    const struct vs_device_type *type;
    char frontend[VS_PATH_MAX];
    enum vs_side_mode frontend_mode;      /* default listen */
    char backend[VS_PATH_MAX];
    enum vs_side_mode backend_mode;       /* default connect */
    unsigned socket_mode;                 /* permissions of sockets we create */
    bool has_mac;
    uint8_t mac[6];
    uint16_t mtu;                         /* 0: not set */
    uint16_t queue_pairs;                 /* net; 0: not set */
    uint16_t num_queues;                  /* other types; 0: not set */
    uint16_t queue_size;                  /* 0: not set */
    bool speed_set;                       /* net speed=/duplex= (down-conversion config) */
    uint32_t speed;                       /* Mbit/s */
    uint8_t duplex;                       /* 0 half, 1 full */
    char tag[37];                         /* fs: mount tag, up to 36 bytes */
    uint64_t capacity;                    /* blk: bytes, when the back-end has no config */
    char check[VS_PATH_MAX];              /* compat-matrix file or directory, "" = none */
    bool peer_uid_set;                    /* peer-uid=: both peers must run as this user */
    uint32_t peer_uid;
};

struct vs_options {
    struct vs_device_config *devices;     /* owned; free with vs_options_free */
    size_t ndevices;
    const char *trace_path;               /* NULL: no trace; "-": stdout */
    enum vs_log_level log_level;
    bool help;
    bool version;
};

/* Parses argv. 0, or -EINVAL with a one-line reason in err. */
int vs_cli_parse(int argc, char **argv, struct vs_options *opts, char *err, size_t errlen);
void vs_options_free(struct vs_options *opts);

/* Parses one --device value into dev (defaults applied). index names it. */
int vs_device_parse(const char *spec, size_t index, struct vs_device_config *dev, char *err,
                    size_t errlen);

/* Number of rings a device may use, from its keys; 0 when the back-end decides. */
uint32_t vs_device_max_rings(const struct vs_device_config *dev);

void vs_cli_usage(FILE *out);

#endif
