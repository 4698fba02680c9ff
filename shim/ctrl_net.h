/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net control-queue commands (VIRTIO 1.2, 5.1.6.5) a
 * down-converting shim answers for a legacy back-end: parsed from the bytes
 * a driver put in guest memory, so written for hostile input. Pure.
 */
#ifndef VDPA_SHIM_CTRL_NET_H
#define VDPA_SHIM_CTRL_NET_H

#include <stddef.h>
#include <stdint.h>

enum vs_ctrl_action {
    VS_CTRL_DONE,      /* nothing more to do: answer `ack` */
    VS_CTRL_SET_MAC,   /* the driver's MAC_ADDR_SET: `mac` */
    VS_CTRL_SET_PAIRS, /* MQ VQ_PAIRS_SET: `pairs`, already range-checked */
};

struct vs_ctrl_result {
    uint8_t ack;                /* VIRTIO_NET_OK or VIRTIO_NET_ERR */
    enum vs_ctrl_action action; /* with ack OK only */
    uint16_t pairs;
    uint8_t mac[6];
};

/* Parses one command: class, command, data (len bytes in all) under the
 * negotiated features, for a device with max_pairs queue pairs. Commands
 * the device does not support, or malformed ones, give VIRTIO_NET_ERR. */
void vs_ctrl_net_parse(const uint8_t *cmd, size_t len, uint64_t features, uint16_t max_pairs,
                       struct vs_ctrl_result *out);

#endif
