#!/usr/bin/env python3
"""vu_probe.py SOCKET: does a vhost-user (or vdpa-user) back-end listening on
SOCKET accept a new connection and answer GET_FEATURES within 5 s?

Prints "features=0x..." and exits 0 if so; prints the reason and exits 1
otherwise. The connection is closed right after the reply. Used by
tests/guest/lib.sh (guest_vu_probe) to show that a back-end survived the
end of the previous session.
"""
import socket
import struct
import sys

GET_FEATURES = 1
VERSION = 0x1
REPLY = 0x4
HDR = 12
U64 = 8
TIMEOUT_S = 5


def main():
    path = sys.argv[1]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT_S)
    buf = b""
    try:
        s.connect(path)
        s.sendall(struct.pack("<III", GET_FEATURES, VERSION, 0))
        while len(buf) < HDR + U64:
            chunk = s.recv(HDR + U64 - len(buf))
            if not chunk:
                break
            buf += chunk
    except OSError as e:
        print(f"probe of {path}: {e}")
        return 1
    finally:
        s.close()
    if len(buf) < HDR + U64:
        print(f"probe of {path}: {len(buf)} bytes of the GET_FEATURES reply")
        return 1
    req, flags, size = struct.unpack("<III", buf[:HDR])
    if req != GET_FEATURES or not flags & REPLY or size != U64:
        print(f"probe of {path}: bad reply request={req} flags={flags:#x} size={size}")
        return 1
    print(f"features={struct.unpack('<Q', buf[HDR:])[0]:#x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
