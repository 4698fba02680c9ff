#!/usr/bin/env python3
"""vsock_host.py PATH BYTES SEED TIMEOUT_S - the host side of scenario vsock.

vhost-device-vsock in hybrid mode turns a guest's connection to CID 2 port P
into a connection to the unix socket UDS_P (UDS being its uds-path). This
listens on PATH (= UDS_P), accepts one connection, and for each byte the
guest sends checks it against the pattern of SEED (the same 32-bit LCG as
tests/guest/vsock_xfer.c) and sends it back XOR 0xa5, in order. After BYTES
bytes it closes the connection (vhost-device-vsock does not pass a guest's
SHUT_WR on, so the end is the byte count). Prints one line:
    host_received=N host_sent=N host_bad=N host_first_bad=OFF
Exit 0 when BYTES bytes came, all as expected, and all went back; 1 otherwise
(also: nobody connected, or the exchange took longer than TIMEOUT_S).
"""
import os
import select
import socket
import sys
import time

ECHO_XOR = 0xA5


def pattern(seed, n):
    out = bytearray(n)
    st = seed & 0xFFFFFFFF
    for i in range(n):
        st = (st * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = st >> 24
    return bytes(out)


def main():
    path, total, seed, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0), float(sys.argv[4])
    want = pattern(seed, total)
    xor = bytes(b ^ ECHO_XOR for b in range(256))
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(1)
    deadline = time.monotonic() + timeout
    ls.settimeout(timeout)
    received = sent = bad = 0
    first_bad = -1
    try:
        conn, _ = ls.accept()
    except socket.timeout:
        print("host_received=0 host_sent=0 host_bad=0 host_first_bad=-1 error=nobody_connected", flush=True)
        return 1
    conn.setblocking(False)
    pending = b""
    while (received < total or pending) and time.monotonic() < deadline:
        wr = [conn] if pending else []
        rd, wa, _ = select.select([conn] if received < total else [], wr, [], 0.2)
        if rd:
            data = conn.recv(65536)
            if not data:
                break
            if data != want[received:received + len(data)]:
                for i, b in enumerate(data):
                    off = received + i
                    if off >= total or b != want[off]:
                        bad += 1
                        if first_bad < 0:
                            first_bad = off
            received += len(data)
            pending += data.translate(xor)
        if wa and pending:
            try:
                n = conn.send(pending)
            except BlockingIOError:
                n = 0
            sent += n
            pending = pending[n:]
    conn.close()
    ls.close()
    print(f"host_received={received} host_sent={sent} host_bad={bad} host_first_bad={first_bad}", flush=True)
    return 0 if received == total and sent == total and bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
