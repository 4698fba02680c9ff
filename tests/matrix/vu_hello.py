#!/usr/bin/env python3
"""vu_hello.py SOCKET [REQUEST]: one short vhost-user front-end conversation.

Connects to the back-end listening on SOCKET, sends GET_FEATURES and reads
its reply; with REQUEST (a request number), then sends that request with
NEED_REPLY and waits up to 2 s for a reply or the end of the connection;
then closes. tests/matrix/probe-rustvmm.sh uses it to see whether a back-end
process survives a front-end that leaves (or a request it does not know).

Prints what happened; exit status 0 when GET_FEATURES was answered, 1 when
it was not, 2 for bad usage.
"""
import socket
import struct
import sys

GET_FEATURES = 1
FLAG_VERSION = 0x1
FLAG_REPLY = 0x4
FLAG_NEED_REPLY = 0x8
HDR = struct.Struct("<III")
TIMEOUT_S = 2.0


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT_S)
    try:
        s.connect(argv[1])
        s.sendall(HDR.pack(GET_FEATURES, FLAG_VERSION, 0))
        hdr = recv_exact(s, HDR.size)
        if hdr is None:
            print("GET_FEATURES: the back-end closed the connection")
            return 1
        request, flags, size = HDR.unpack(hdr)
        payload = recv_exact(s, size) if size else b""
        if request != GET_FEATURES or not flags & FLAG_REPLY or payload is None:
            print(f"GET_FEATURES: unexpected reply (request {request}, flags {flags:#x})")
            return 1
        print(f"GET_FEATURES: answered {payload.hex()}")
        if len(argv) == 3:
            req = int(argv[2], 0)
            s.sendall(HDR.pack(req, FLAG_VERSION | FLAG_NEED_REPLY, 0))
            try:
                hdr = recv_exact(s, HDR.size)
                print(f"request {req:#x}: " + ("connection closed" if hdr is None else "replied"))
            except socket.timeout:
                print(f"request {req:#x}: no reply within {TIMEOUT_S} s")
            except ConnectionResetError:
                print(f"request {req:#x}: connection reset")
    except (OSError, socket.timeout) as e:
        print(f"GET_FEATURES: {e}")
        return 1
    finally:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
