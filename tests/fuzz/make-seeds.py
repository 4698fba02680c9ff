#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz_ctrl_net and fuzz_virtqueue (the seeds
of fuzz_message are real conversations: RAW_DIR=... tests/matrix/probe-all.sh).
Run from the repository root."""
import glob
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


# ---- fuzz_session: whole sessions (tests/fuzz/session_harness.h) -----------
# Header: device byte, the back-end persona (features, protocol features,
# GET_QUEUE_NUM, device id, VQS_COUNT, config size); then ops.
FE, BE, FE_CHAN, BE_CHAN = 0, 1, 2, 3
ANSWER_ALL = bytes([5])
REPLY, NEED = 0x4, 0x8
(GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE, SET_VRING_NUM, SET_VRING_ADDR,
 SET_VRING_BASE, GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL, GET_PROTOCOL_FEATURES,
 SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE, SET_BACKEND_REQ_FD, GET_CONFIG,
 SET_CONFIG, SET_STATUS, GET_STATUS) = (1, 2, 3, 5, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 21,
                                        24, 25, 39, 40)
VDPA_GET_DEVICE_ID, VDPA_SET_CONFIG_CALL, VDPA_GET_CONFIG_SIZE = 0x170, 0x177, 0x179
VDPA_SUSPEND, VDPA_RESUME, VDPA_GET_VQS_COUNT = 0x17D, 0x17E, 0x180
PF = dict(MQ=0, LOG_SHMFD=1, RARP=2, REPLY_ACK=3, NET_MTU=4, BACKEND_REQ=5, CONFIG=9,
          RESET_DEVICE=13, CONFIGURE_MEM_SLOTS=15, STATUS=16, VDPA=63)
F_V1, F_PF = 1 << 32, 1 << 30
NET_MTU, NET_MAC, MRG_RXBUF, NET_STATUS = 1 << 3, 1 << 5, 1 << 15, 1 << 16
NET_CTRL_VQ, NET_CTRL_RX, NET_MQ, NET_CTRL_MAC_ADDR = 1 << 17, 1 << 18, 1 << 22, 1 << 23
UVA = 0x7f0000000000
GUEST = 64 * 1024          # device byte bits 5-6 = 2


def pf(*names):
    return sum(1 << PF[n] for n in names)


def header(device, features, protocol_features, queues, device_id, vqs, config_size):
    return bytes([device]) + struct.pack("<QQBBBB", features, protocol_features, queues,
                                         device_id, vqs, config_size)


# What an input puts in an fd slot (enum fz_kind): the fd byte's high nibble.
(RIGHT, EVENTFD, EVENTFD_FULL, MEMFD, FILE, PIPE_R, PIPE_W, PIPE_W_FULL, PIPE_R_FULL,
 SOCKETPAIR, OWN_SOCKET, DIRECTORY, OPATH, DEVNULL, SHIM_CONN, MIXED) = range(16)
# Ops 13-15: flip an fd shared with the shim, let time pass, raw bytes.
FLIP, TIME, RAW = 13, 14, 15
BLOCKING, NONBLOCKING, SATURATE, DRAIN = range(4)                     # enum fz_flip
T_KICK, T_CALL, T_CONFIG_CALL, T_LAST_SENT, T_CHANNEL, T_BE_GOT, T_BE_CHANNEL, T_ALL = range(8)
STEP_1MS, STEP_6MS = 0, 3   # FZ_STEP_MS: a quarter of reply-timeout (5 ms), past it


def msg(side, req, flags=1, payload=b"", nfds=0, kind=RIGHT):
    """kind: one for every fd, or a list (one kind per fd: MIXED)."""
    if isinstance(kind, list):
        fdb = bytes([len(kind) | MIXED << 4]) + bytes(kind)
    else:
        fdb = bytes([nfds | kind << 4])
    return bytes([side]) + fdb + struct.pack("<III", req, flags, len(payload)) + payload


def fe(req, payload=b"", flags=1 | NEED, nfds=0, kind=RIGHT):
    """A front-end request, and the back-end answering whatever the shim asks."""
    return msg(FE, req, flags, payload, nfds, kind) + ANSWER_ALL


def flip(what, target, ring=0):
    return bytes([FLIP, what | target << 2, ring])


def time_passes(step):
    return bytes([TIME, step])


def raw(side, data):
    return bytes([RAW, side, len(data)]) + data


def u64(v):
    return struct.pack("<Q", v)


def state(i, n):
    return struct.pack("<II", i, n)


def addr(i, desc, used, avail):
    return struct.pack("<IIQQQQ", i, 0, desc, used, avail, 0)


def mem_table():
    return struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, GUEST, UVA, 0)


def config(offset, size, flags=0, data=b""):
    return struct.pack("<III", offset, size, flags) + data.ljust(size, b"\0")


def guest_write(off, data):
    out = b""
    for i in range(0, len(data), 255):
        chunk = data[i:i + 255]
        out += bytes([7]) + struct.pack("<HB", off + i, len(chunk)) + chunk
    return out


def ring(i, num, base_gpa, kick=True):
    """A ring's layout as a driver writes it: NUM, ADDR, KICK, CALL, ENABLE."""
    desc, avail = base_gpa, base_gpa + 16 * num
    used = base_gpa + ((16 * num + 6 + 2 * num + 4095) & ~4095)
    out = fe(SET_VRING_NUM, state(i, num)) + fe(SET_VRING_BASE, state(i, 0))
    out += fe(SET_VRING_ADDR, addr(i, UVA + desc, UVA + used, UVA + avail))
    if kick:
        out += fe(SET_VRING_KICK, u64(i), nfds=1)
    out += fe(SET_VRING_CALL, u64(i), nfds=1)
    return out


def session(name, data):
    write("fuzz_session", name, data)


# Up-conversion, a legacy net front-end as QEMU 7.2 drives it, over a
# vdpa-user back-end (the reference vdpa-backend's answers): set-up,
# features, memory, two rings started on enable, a config change from the
# back-end to the front-end's channel, a stop (GET_VRING_BASE), a restart
# (rings configured again: reset and replay), RESET_OWNER.
up_pf = pf("VDPA", "MQ", "REPLY_ACK", "CONFIG", "STATUS", "LOG_SHMFD", "BACKEND_REQ",
           "CONFIGURE_MEM_SLOTS")
up_features = F_V1 | F_PF | NET_MAC | NET_MTU | NET_STATUS | MRG_RXBUF
fe_legacy_pf = pf("MQ", "REPLY_ACK", "CONFIG", "NET_MTU", "RESET_DEVICE", "BACKEND_REQ")
s = fe(SET_OWNER, flags=1) + fe(GET_FEATURES, flags=1) + fe(GET_PROTOCOL_FEATURES, flags=1)
s += fe(SET_PROTOCOL_FEATURES, u64(fe_legacy_pf))
s += fe(GET_QUEUE_NUM, flags=1) + fe(SET_BACKEND_REQ_FD, nfds=1)
s += fe(GET_CONFIG, config(0, 12), flags=1)
s += fe(SET_FEATURES, u64(up_features))
s += fe(SET_MEM_TABLE, mem_table(), nfds=1)
s += ring(0, 256, 0x1000) + ring(1, 256, 0x4000)
s += fe(SET_VRING_ENABLE, state(0, 1)) + fe(SET_VRING_ENABLE, state(1, 1))
s += bytes([9]) + ANSWER_ALL + bytes([6, 0])   # config-call -> CONFIG_CHANGE_MSG, acked
s += fe(GET_VRING_BASE, state(0, 0), flags=1) + fe(GET_VRING_BASE, state(1, 0), flags=1)
s += ring(0, 256, 0x1000) + fe(SET_VRING_ENABLE, state(0, 1))
s += fe(20, u64(1400))                        # NET_SET_MTU
s += fe(4, flags=1)                           # RESET_OWNER
legacy_net = s
session("up-net-qemu-bringup", header(0x04 | 0x40, up_features, up_pf, 1, 1, 2, 24) + legacy_net)

# Up-conversion of blk: config space read from the back-end.
s = header(0x01 | 0x40, F_V1 | F_PF | (1 << 6) | (1 << 9), up_pf, 1, 2, 1, 60)
s += fe(GET_FEATURES, flags=1) + fe(GET_PROTOCOL_FEATURES, flags=1)
s += fe(SET_PROTOCOL_FEATURES, u64(pf("MQ", "REPLY_ACK", "CONFIG", "BACKEND_REQ")))
s += fe(SET_BACKEND_REQ_FD, nfds=1) + fe(GET_CONFIG, config(0, 60), flags=1)
s += fe(SET_FEATURES, u64(F_V1 | F_PF | (1 << 6)))
s += fe(SET_MEM_TABLE, mem_table(), nfds=1) + ring(0, 128, 0x1000)
s += fe(SET_VRING_ENABLE, state(0, 1)) + fe(GET_VRING_BASE, state(0, 0), flags=1)
session("up-blk-bringup", s)

# Down-conversion, a vdpa-user net driver (peers/vdpa-driver's order) over a
# legacy DPDK-like back-end with two queue pairs: set-up, FEATURES_OK with
# the control queue and MQ, memory, four data rings and the control queue,
# DRIVER_OK; then control-queue commands in guest memory (VQ_PAIRS_SET 2,
# MAC_ADDR_SET, RX promisc) kicked, GET_CONFIG, SUSPEND/RESUME, the back-end
# dies (DEVICE_NEEDS_RESET), reset, and a new front-end connects.
down_be_pf = pf("MQ", "REPLY_ACK", "NET_MTU", "BACKEND_REQ", "CONFIG")
down_features = F_V1 | F_PF | MRG_RXBUF | NET_MQ | NET_MTU
fe_vdpa_pf = pf("VDPA", "MQ", "REPLY_ACK", "CONFIG", "STATUS")
drv_features = F_V1 | NET_CTRL_VQ | NET_MQ | NET_CTRL_MAC_ADDR | NET_MAC | NET_CTRL_RX | NET_STATUS
CTRL, CTRL_NUM, CTRL_GPA = 4, 16, 0x8000
# the control queue: desc table, avail and used rings in guest memory
desc_gpa, avail_gpa, used_gpa = CTRL_GPA, CTRL_GPA + 16 * CTRL_NUM, CTRL_GPA + 0x400
CMD = CTRL_GPA + 0x800
commands = [bytes([4, 0]) + struct.pack("<H", 2),               # MQ VQ_PAIRS_SET 2
            bytes([1, 1, 2, 0x11, 0x22, 0x33, 0x44, 0x55]),     # MAC_ADDR_SET
            bytes([0, 0, 1]),                                     # RX PROMISC on
            bytes([4, 0]) + struct.pack("<H", 1)]                 # VQ_PAIRS_SET 1


def down_net_running(config_call=RIGHT, ctrl_kick=RIGHT, ctrl_call=RIGHT):
    """The bring-up up to DRIVER_OK, with the commands written in guest
    memory (not yet made available); the fd kinds of the config-call and of
    the control queue's kick and call as given."""
    s = header(0x40, down_features, down_be_pf, 2, 0, 0, 0)
    s += fe(SET_OWNER, flags=1)                           # first, as DPDK: held
    s += fe(GET_FEATURES, flags=1) + fe(GET_PROTOCOL_FEATURES, flags=1)
    s += fe(SET_PROTOCOL_FEATURES, u64(fe_vdpa_pf))
    s += fe(VDPA_GET_DEVICE_ID, flags=1) + fe(VDPA_GET_VQS_COUNT, flags=1)
    s += fe(VDPA_GET_CONFIG_SIZE, flags=1) + fe(GET_FEATURES, flags=1)
    s += fe(VDPA_SET_CONFIG_CALL, u64(0), nfds=1, kind=config_call)
    s += fe(SET_STATUS, u64(3)) + fe(GET_CONFIG, config(0, 24), flags=1)
    s += fe(SET_FEATURES, u64(drv_features | NET_MTU))
    s += fe(SET_CONFIG, config(0, 6, 1, bytes([2, 0, 0, 1, 2, 3])))   # provisioning mac
    s += fe(SET_CONFIG, config(10, 2, 1, struct.pack("<H", 9000)))     # and mtu
    s += fe(SET_STATUS, u64(0x0B))
    s += fe(GET_STATUS, flags=1) + fe(SET_MEM_TABLE, mem_table(), nfds=1)
    for i in range(4):
        base = 0x2000 * i
        s += fe(SET_VRING_NUM, state(i, 64))
        s += fe(SET_VRING_ADDR, addr(i, UVA + base, UVA + base + 0x1000, UVA + base + 0x400))
        s += fe(SET_VRING_KICK, u64(i), nfds=1) + fe(SET_VRING_CALL, u64(i), nfds=1)
        s += fe(14, u64(i), nfds=1) if i == 0 else b""     # SET_VRING_ERR
        s += fe(SET_VRING_ENABLE, state(i, 1))
    s += fe(SET_VRING_NUM, state(CTRL, CTRL_NUM))
    s += fe(SET_VRING_ADDR, addr(CTRL, UVA + desc_gpa, UVA + used_gpa, UVA + avail_gpa))
    s += fe(SET_VRING_KICK, u64(CTRL), nfds=1, kind=ctrl_kick)
    s += fe(SET_VRING_CALL, u64(CTRL), nfds=1, kind=ctrl_call)
    s += fe(SET_VRING_ENABLE, state(CTRL, 1))
    s += fe(SET_STATUS, u64(0x0F))
    descs = b""
    for n, c in enumerate(commands):
        cmd, ack = CMD + 0x40 * n, CMD + 0x40 * n + 0x20
        descs += struct.pack("<QIHH", cmd, len(c), 1, 2 * n + 1)        # readable, NEXT
        descs += struct.pack("<QIHH", ack, 1, 2, 0)                     # writable ack
        s += guest_write(cmd, c)
    s += guest_write(desc_gpa, descs)
    return s


def make_available(n):
    """The guest makes command n available and kicks the control queue."""
    return (guest_write(avail_gpa + 4 + 2 * n, struct.pack("<H", 2 * n)) +
            guest_write(avail_gpa, struct.pack("<HH", 0, n + 1)) + bytes([8, CTRL]) + ANSWER_ALL)


running = down_net_running()
s = running
for n in range(len(commands)):
    s += make_available(n)
s += fe(GET_CONFIG, config(0, 24), flags=1)
s += msg(BE_CHAN, 2, 1 | NEED) + ANSWER_ALL           # CONFIG_CHANGE_MSG from the back-end
s += fe(VDPA_SUSPEND) + fe(GET_VRING_BASE, state(CTRL, 0), flags=1) + fe(VDPA_RESUME)
s += bytes([10, BE])                                  # the back-end dies
s += fe(GET_STATUS, flags=1) + fe(GET_CONFIG, config(0, 24), flags=1)
s += fe(SET_STATUS, u64(0x8F))                        # FAILED: no back-end to stop
s += fe(SET_STATUS, u64(0))                           # reset ends the session
s += bytes([11]) + fe(GET_FEATURES, flags=1)          # the next front-end
session("down-net-ctrlq", s)
# The front-end shrinks its guest memory file under the running control
# queue, then kicks it: the shim must not die of SIGBUS (found by
# fuzz_session; tests/unit/test_regressions.c).
s = running + guest_write(avail_gpa + 4, struct.pack("<H", 0))
s += guest_write(avail_gpa, struct.pack("<HH", 0, 1))
s += bytes([12, 0]) + bytes([8, CTRL]) + ANSWER_ALL + fe(GET_STATUS, flags=1)
session("down-net-guest-memory-shrinks", s)

# Down-conversion of blk: a back-end with F_CONFIG (its config space read
# with GET_CONFIG, 72 then 60 bytes) and of fs with tag=.
s = header(0x01 | 0x40, F_V1 | F_PF | (1 << 6) | (1 << 9), pf("MQ", "REPLY_ACK", "CONFIG"),
           1, 0, 0, 0)
s += fe(GET_FEATURES, flags=1) + fe(GET_PROTOCOL_FEATURES, flags=1)
s += fe(SET_PROTOCOL_FEATURES, u64(fe_vdpa_pf)) + fe(SET_STATUS, u64(3))
s += fe(GET_CONFIG, config(0, 8), flags=1)
s += fe(SET_FEATURES, u64(F_V1 | (1 << 6))) + fe(SET_STATUS, u64(0x0B))
s += fe(SET_MEM_TABLE, mem_table(), nfds=1)
s += fe(SET_VRING_NUM, state(0, 128)) + fe(SET_VRING_ADDR, addr(0, UVA, UVA + 0x1000, UVA + 0x800))
s += fe(SET_VRING_KICK, u64(0), nfds=1) + fe(SET_VRING_CALL, u64(0), nfds=1)
s += fe(SET_VRING_ENABLE, state(0, 1)) + fe(SET_STATUS, u64(0x0F))
s += fe(SET_CONFIG, config(32, 1, 0, b"\1"))          # writeback
s += fe(SET_STATUS, u64(0))
session("down-blk-config", s)
s = header(0x02 | 0x10 | 0x40, F_V1 | F_PF, pf("MQ", "REPLY_ACK"), 2, 0, 0, 0)
s += fe(GET_FEATURES, flags=1) + fe(GET_PROTOCOL_FEATURES, flags=1)
s += fe(SET_PROTOCOL_FEATURES, u64(fe_vdpa_pf)) + fe(SET_STATUS, u64(3))
s += fe(GET_CONFIG, config(0, 40), flags=1) + fe(SET_FEATURES, u64(F_V1))
s += fe(SET_STATUS, u64(0x0B)) + fe(SET_STATUS, u64(0x8B))    # FAILED
session("down-fs-tag", s)


# Real conversations (the fuzz_message seeds, recorded from QEMU 7.2 and
# DPDK 22.11 virtio-user) replayed as whole sessions, the back-end answering
# as a legacy back-end (pass-through) or as a vdpa-user one (up-conversion).
def recorded(conv):
    out = b""
    for path in sorted(glob.glob("tests/fuzz/corpus/fuzz_message/%s_frontend-*" % conv)):
        raw = open(path, "rb").read()
        out += bytes([FE, raw[1]]) + raw[12:] + ANSWER_ALL
    return out


legacy_pf = pf("MQ", "LOG_SHMFD", "REPLY_ACK", "NET_MTU", "BACKEND_REQ", "CONFIG",
               "CONFIGURE_MEM_SLOTS", "STATUS", "RESET_DEVICE") | (1 << 12)
for conv, device, features, queues in (
        ("net-qemu-7.2", 0x40, up_features, 1),
        ("net-dpdk-22.11-virtio-user", 0x40, up_features | (1 << 28), 1),
        ("blk-qemu-7.2", 0x41, F_V1 | F_PF | 0x46 | (1 << 9), 1),
        ("fs-qemu-7.2", 0x52, F_V1 | F_PF, 2)):
    msgs = recorded(conv)
    devid = {0x40: 1, 0x41: 2, 0x52: 26}[device]
    session("pass-" + conv, header(device, features, legacy_pf, queues, devid, 2, 24) + msgs)
    session("up-" + conv, header(device, features, up_pf | legacy_pf, queues, devid, 2,
                                  {1: 24, 2: 60, 26: 40}[devid]) + msgs)

# Pass-through of the same legacy bring-up, then the back-end restarts: the
# shim replays the session to the new back-end (ring bases read from the used
# indices in guest memory) while the front-end is held.
s = header(0x40, up_features, legacy_pf, 1, 1, 2, 24) + legacy_net[:legacy_net.index(
    fe(GET_VRING_BASE, state(0, 0), flags=1))]
s += guest_write(0x1000 + 0x1000 + 2, struct.pack("<H", 0x1234))   # ring 0's used idx
s += bytes([10, BE]) + ANSWER_ALL + fe(GET_VRING_BASE, state(0, 0), flags=1)
s += bytes([10, BE]) + ANSWER_ALL + fe(GET_FEATURES, flags=1)
session("pass-net-backend-restart", s)


# ---- issue 14: hostile peers -------------------------------------------------
# Every device of these runs with reply-timeout=5ms (session_harness.h); time
# passes only by op 14. tests/unit/test_regressions.c asserts what each ends in.
pass_head = header(0x40, up_features, legacy_pf, 1, 1, 2, 24)
pass_setup = (fe(SET_OWNER, flags=1) + fe(GET_FEATURES, flags=1) +
              fe(GET_PROTOCOL_FEATURES, flags=1) + fe(SET_PROTOCOL_FEATURES, u64(fe_legacy_pf)))
next_frontend = bytes([11]) + fe(GET_FEATURES, flags=1)

# A back-end that stops answering: the warning (a quarter of the time-out),
# then the session ends at reply-timeout=; the next front-end is served.
s = pass_head + pass_setup + msg(FE, GET_FEATURES, 1)
s += time_passes(STEP_1MS) + time_passes(STEP_6MS) + next_frontend
session("pass-backend-silent", s)
# A back-end that sends half a reply header and stops; a front-end that
# sends half a request header and stops.
s = pass_head + pass_setup + msg(FE, GET_FEATURES, 1)
s += raw(BE, struct.pack("<II", GET_FEATURES, REPLY | 1)[:6]) + time_passes(STEP_6MS)
session("pass-backend-half-header", s + next_frontend)
s = pass_head + pass_setup + raw(FE, struct.pack("<I", GET_FEATURES) + b"\1")
session("pass-frontend-half-header", s + time_passes(STEP_6MS) + next_frontend)

# A front-end that hands the shim a dup of its own socket (as a call fd, as
# the back-end channel) and exits: its session must end all the same.
s = pass_head + pass_setup + fe(SET_VRING_CALL, u64(0), nfds=1, kind=OWN_SOCKET)
session("pass-call-fd-own-socket", s + bytes([10, FE]) + next_frontend)
s = pass_head + pass_setup + fe(SET_BACKEND_REQ_FD, nfds=1, kind=OWN_SOCKET)
session("pass-backend-req-fd-own-socket", s + bytes([10, FE]) + next_frontend)

# Fds of every kind in the fd slots of a pass-through bring-up: kick, call
# and err, the memory table (one region, then a mix), the log, the channel.
s = pass_head + pass_setup
for kind in range(1, MIXED):
    s += fe(SET_VRING_KICK, u64(0), nfds=1, kind=kind) + fe(SET_VRING_CALL, u64(0), nfds=1, kind=kind)
    s += fe(14, u64(0), nfds=1, kind=kind)            # SET_VRING_ERR
    s += fe(SET_MEM_TABLE, mem_table(), nfds=1, kind=kind)
    s += fe(SET_BACKEND_REQ_FD, nfds=1, kind=kind)
s += fe(SET_MEM_TABLE, mem_table(), kind=[DIRECTORY, OPATH, MEMFD])
s += fe(GET_FEATURES, flags=1)
session("pass-fds-of-every-kind", s)

# Down-conversion: the control queue's kick fd a memfd, a directory, an
# O_PATH fd (the shim crashed on DRIVER_OK: uv_poll_init's failure ignored).
for name, kind in (("memfd", MEMFD), ("directory", DIRECTORY), ("opath", OPATH)):
    session("down-net-ctrl-kick-" + name, down_net_running(ctrl_kick=kind) + make_available(0))
# The config-call eventfd saturated (2^64-2) or a full pipe, then the
# back-end reports a config change the shim must signal; the control queue's
# call eventfd made blocking and saturated, then a command completes. A
# full fd is the front-end's fault: its session ends, the shim never waits.
s = down_net_running(config_call=EVENTFD_FULL) + msg(BE_CHAN, 2, 1 | NEED) + ANSWER_ALL
session("down-net-config-call-saturated", s + next_frontend)
s = down_net_running(config_call=PIPE_W_FULL) + msg(BE_CHAN, 2, 1 | NEED) + ANSWER_ALL
session("down-net-config-call-full-pipe", s + next_frontend)
s = down_net_running() + flip(BLOCKING, T_CALL, CTRL) + flip(SATURATE, T_CALL, CTRL)
session("down-net-ctrl-call-saturated", s + make_available(0) + next_frontend)
# The control queue's kick made blocking (the front-end shares it), kicked,
# and drained by the front-end before the next kick.
s = down_net_running() + flip(BLOCKING, T_KICK, CTRL) + make_available(0)
s += bytes([8, CTRL]) + flip(DRAIN, T_KICK, CTRL) + make_available(1)
session("down-net-ctrl-kick-blocking", s + fe(GET_STATUS, flags=1))

# Up-conversion: the back-end makes the config-call eventfd the shim gave it
# blocking, signals and drains it, then saturates it and signals again.
s = header(0x04 | 0x40, up_features, up_pf, 1, 1, 2, 24) + legacy_net[:legacy_net.index(
    fe(GET_VRING_BASE, state(0, 0), flags=1))]
s += flip(BLOCKING, T_CONFIG_CALL) + bytes([9]) + flip(DRAIN, T_CONFIG_CALL) + bytes([9])
s += ANSWER_ALL + bytes([6, 0]) + flip(SATURATE, T_CONFIG_CALL) + bytes([9]) + ANSWER_ALL
session("up-config-call-blocking", s + fe(GET_FEATURES, flags=1))
