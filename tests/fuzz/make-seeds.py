#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz_ctrl_net and fuzz_virtqueue (the seeds
of fuzz_message are real conversations: RAW_DIR=... tests/matrix/probe-all.sh).
Run from the repository root."""
import os
import struct

CTRL_VQ, CTRL_RX, CTRL_VLAN, MQ, CTRL_MAC_ADDR = 17, 18, 19, 22, 23
features = sum(1 << b for b in (CTRL_VQ, CTRL_RX, CTRL_VLAN, MQ, CTRL_MAC_ADDR, 32))


def write(target, name, data):
    d = os.path.join("tests/fuzz/corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


head = struct.pack("<QH", features, 4)
write("fuzz_ctrl_net", "promisc", head + bytes([0, 0, 1]))
write("fuzz_ctrl_net", "mac-addr-set", head + bytes([1, 1, 2, 0, 0, 0, 0, 9]))
write("fuzz_ctrl_net", "mac-table-set", head + bytes([1, 0]) + struct.pack("<I", 1) + bytes(6) +
      struct.pack("<I", 0))
write("fuzz_ctrl_net", "vlan-add", head + bytes([2, 0, 5, 0]))
write("fuzz_ctrl_net", "vq-pairs-set", head + bytes([4, 0]) + struct.pack("<H", 2))

# A 4-entry split ring at the start of guest memory (desc, avail, used as
# fuzz_virtqueue.c lays them out), guest-physical 0 = the image's first byte.
num = 4
desc_off, avail_off = 0, 16 * num
used_off = (avail_off + 6 + 2 * num + 3) & ~3
mem = bytearray(4096)


def desc(i, addr, length, flags, nxt):
    struct.pack_into("<QIHH", mem, desc_off + 16 * i, addr, length, flags, nxt)


NEXT, WRITE, INDIRECT = 1, 2, 4
desc(0, 0x400, 2, NEXT, 1)          # command header (readable)
desc(1, 0x402, 1, WRITE, 0)         # ack (writable)
desc(2, 0x800, 32, INDIRECT, 0)     # an indirect table of two descriptors
struct.pack_into("<QIHH", mem, 0x800, 0x400, 2, NEXT, 1)
struct.pack_into("<QIHH", mem, 0x810, 0x402, 1, WRITE, 0)
struct.pack_into("<HH", mem, avail_off, 0, 2)      # flags, idx = 2 chains
struct.pack_into("<HH", mem, avail_off + 4, 0, 2)  # ring[0] = 0, ring[1] = 2
write("fuzz_virtqueue", "two-chains-one-indirect", bytes([2, 1]) + struct.pack("<H", 0) + mem)
