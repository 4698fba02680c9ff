/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the virtio-net control-queue command parser
 * (shim/ctrl_net.c) on bytes a driver controls. Input: negotiated features
 * (le64), max queue pairs (le16), then the command.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_net.h"
#include "virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vs_ctrl_result r;
    uint64_t features;
    uint16_t max_pairs;

    if (size < 10)
        return 0;
    memcpy(&features, data, 8);
    memcpy(&max_pairs, data + 8, 2);
    vs_ctrl_net_parse(data + 10, size - 10, features, max_pairs, &r);
    /* what the shim acts on must be what the spec allows */
    if (r.ack != VIRTIO_NET_OK && r.ack != VIRTIO_NET_ERR)
        abort();
    if (r.action == VS_CTRL_SET_PAIRS &&
        (r.ack != VIRTIO_NET_OK || r.pairs < 1 || r.pairs > max_pairs))
        abort();
    if (r.action != VS_CTRL_DONE && r.ack != VIRTIO_NET_OK)
        abort();
    return 0;
}
