/* SPDX-License-Identifier: MIT */
#include <endian.h>
#include <string.h>

#include "ctrl_net.h"
#include "vhost_user.h"
#include "virtio.h"

/* MAC_TABLE_SET: two tables, each a le32 count and count * 6 bytes. */
static bool mac_tables_well_formed(const uint8_t *data, size_t n)
{
    size_t at = 0;

    for (int t = 0; t < 2; t++) {
        uint32_t entries;
        if (n - at < 4)
            return false;
        memcpy(&entries, data + at, 4);
        entries = le32toh(entries);
        at += 4;
        if ((n - at) / 6 < entries)
            return false;
        at += (size_t)entries * 6;
    }
    return at == n;
}

void vs_ctrl_net_parse(const uint8_t *cmd, size_t len, uint64_t features, uint16_t max_pairs,
                       struct vs_ctrl_result *out)
{
    const uint8_t *data = cmd + 2;
    size_t n = len >= 2 ? len - 2 : 0;
    uint8_t cls = len >= 2 ? cmd[0] : 0xff, code = len >= 2 ? cmd[1] : 0xff;
    bool ok = false;

    memset(out, 0, sizeof(*out));
    switch (cls) {
    case VIRTIO_NET_CTRL_RX:
        /* The back-end cannot filter; as a VMM in front of vhost-user does,
         * the mode is accepted (promiscuous is what the back-end does). */
        ok = vu_has_bit(features, VIRTIO_NET_F_CTRL_RX) && code <= VIRTIO_NET_CTRL_RX_ALLMULTI &&
             n == 1;
        break;
    case VIRTIO_NET_CTRL_MAC:
        if (code == VIRTIO_NET_CTRL_MAC_ADDR_SET && n == 6 &&
            vu_has_bit(features, VIRTIO_NET_F_CTRL_MAC_ADDR)) {
            memcpy(out->mac, data, 6);
            out->action = VS_CTRL_SET_MAC;
            ok = true;
        } else if (code == VIRTIO_NET_CTRL_MAC_TABLE_SET) {
            ok = vu_has_bit(features, VIRTIO_NET_F_CTRL_RX) && mac_tables_well_formed(data, n);
        }
        break;
    case VIRTIO_NET_CTRL_VLAN:
        ok = vu_has_bit(features, VIRTIO_NET_F_CTRL_VLAN) && code <= 1 && n == 2;
        break;
    case VIRTIO_NET_CTRL_MQ:
        if (code == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET && n == 2 &&
            vu_has_bit(features, VIRTIO_NET_F_MQ)) {
            uint16_t pairs;
            memcpy(&pairs, data, 2);
            pairs = le16toh(pairs);
            if (pairs >= VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN && pairs <= max_pairs) {
                out->pairs = pairs;
                out->action = VS_CTRL_SET_PAIRS;
                ok = true;
            }
        }
        break;
    default:
        break;
    }
    out->ack = ok ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
    if (!ok)
        out->action = VS_CTRL_DONE;
}
