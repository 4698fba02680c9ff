#!/usr/bin/env python3
"""gpu_fe.py SOCKET: QEMU's vhost-user-gpu front-end up to the display
socket, against SOCKET (a shim's front-end socket or the back-end itself).

Does what QEMU 7.2's vhost-user-gpu-pci does before the guest driver
matters: GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES
(REPLY_ACK and CONFIG, as offered), SET_OWNER, then, as at DRIVER_OK
(hw/display/vhost-user-gpu.c, vhost_user_gpu_do_set_socket), makes a
socketpair and sends one end with VHOST_USER_GPU_SET_SOCKET (no reply
asked). QEMU's vhost-user-gpu back-end (contrib/vhost-user-gpu) then
speaks the display protocol (docs/interop/vhost-user-gpu.rst) on that
socket at once: VHOST_USER_GPU_GET_PROTOCOL_FEATURES, which this script
answers (no features), and VHOST_USER_GPU_SET_PROTOCOL_FEATURES.

Prints "gpu_get_protocol_features=ok gpu_set_protocol_features=0x..." and
exits 0 when both arrived on the kept end within TIMEOUT_S; prints the
reason and exits 1 otherwise. Every read is bounded.
"""
import array
import socket
import struct
import sys

GET_FEATURES, SET_OWNER = 1, 3
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES = 15, 16
GPU_SET_SOCKET = 33
VERSION, REPLY, NEED_REPLY = 0x1, 0x4, 0x8
PF_REPLY_ACK, PF_CONFIG = 3, 9
F_PROTOCOL_FEATURES = 30
# The display protocol's requests (docs/interop/vhost-user-gpu.rst).
GPU_GET_PROTOCOL_FEATURES, GPU_SET_PROTOCOL_FEATURES = 1, 2
GPU_FLAG_REPLY = 0x4
HDR = 12
TIMEOUT_S = 5


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_msg(s):
    req, flags, size = struct.unpack("<III", recv_exact(s, HDR))
    return req, flags, recv_exact(s, size) if size else b""


def send_msg(s, req, flags, payload=b"", fds=()):
    data = struct.pack("<III", req, flags, len(payload)) + payload
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    s.sendmsg([data], anc)


def call(s, req, flags, payload=b""):
    """A request whose reply is a u64 (a value, or an ack with NEED_REPLY)."""
    send_msg(s, req, flags, payload)
    rreq, rflags, body = recv_msg(s)
    if rreq != req or not rflags & REPLY or len(body) != 8:
        raise ValueError(f"bad reply to {req}: request={rreq} flags={rflags:#x} size={len(body)}")
    return struct.unpack("<Q", body)[0]


def main():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT_S)
    try:
        s.connect(sys.argv[1])
        features = call(s, GET_FEATURES, VERSION)
        if not features >> F_PROTOCOL_FEATURES & 1:
            print(f"no PROTOCOL_FEATURES in {features:#x}")
            return 1
        offered = call(s, GET_PROTOCOL_FEATURES, VERSION)
        want = (1 << PF_REPLY_ACK) | (1 << PF_CONFIG)
        if offered & want != want:
            print(f"protocol features {offered:#x} lack REPLY_ACK or CONFIG")
            return 1
        for req, payload in ((SET_PROTOCOL_FEATURES, struct.pack("<Q", want)), (SET_OWNER, b"")):
            ack = call(s, req, VERSION | NEED_REPLY, payload)
            if ack:
                print(f"request {req} refused: {ack}")
                return 1
        kept, sent = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        kept.settimeout(TIMEOUT_S)
        send_msg(s, GPU_SET_SOCKET, VERSION, fds=(sent.fileno(),))
        sent.close()
        req, flags, body = recv_msg(kept)
        if req != GPU_GET_PROTOCOL_FEATURES or flags & GPU_FLAG_REPLY or body:
            print(f"display socket: expected GET_PROTOCOL_FEATURES, got request={req} flags={flags:#x}")
            return 1
        send_msg(kept, GPU_GET_PROTOCOL_FEATURES, GPU_FLAG_REPLY, struct.pack("<Q", 0))
        req, flags, body = recv_msg(kept)
        if req != GPU_SET_PROTOCOL_FEATURES or len(body) != 8:
            print(f"display socket: expected SET_PROTOCOL_FEATURES, got request={req} size={len(body)}")
            return 1
        print(f"gpu_get_protocol_features=ok gpu_set_protocol_features={struct.unpack('<Q', body)[0]:#x}")
        return 0
    except (OSError, EOFError, ValueError) as e:
        print(f"gpu_fe: {type(e).__name__}: {e}")
        return 1
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
