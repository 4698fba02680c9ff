#!/usr/bin/env python3
"""A vhost-user socket in the middle that fails on purpose (fault injection).

    faultproxy.py LISTEN CONNECT CUT

Accepts one connection on LISTEN (the side that speaks first: a front-end),
connects to CONNECT, and relays messages both ways whole, with their file
descriptors (SCM_RIGHTS). When the CUT-th message from the LISTEN side
arrives (1-based), it closes both connections without forwarding it, prints
`cut at N: <request number>` and exits 0. With CUT = 0 it never cuts, and at
the end prints `messages: N` (how many came from the LISTEN side), so a test
can learn how long a full conversation is.
"""
import array
import os
import select
import socket
import struct
import sys

HDR = struct.Struct("<III")  # request, flags, size


def recv_exact(sock, n, fds):
    data = b""
    while len(data) < n:
        msg, anc, _flags, _addr = sock.recvmsg(n - len(data), socket.CMSG_SPACE(8 * 4))
        if not msg:
            raise EOFError
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                arr = array.array("i")
                arr.frombytes(payload[:len(payload) - len(payload) % arr.itemsize])
                fds.extend(arr)
        data += msg
    return data


def recv_message(sock):
    fds = []
    head = recv_exact(sock, HDR.size, fds)
    request, _flags, size = HDR.unpack(head)
    body = recv_exact(sock, size, fds) if size else b""
    return request, head + body, fds


def send_message(sock, data, fds):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sock.sendmsg([data], anc)
    for fd in fds:
        os.close(fd)


def main():
    listen_path, connect_path, cut = sys.argv[1], sys.argv[2], int(sys.argv[3])
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(listen_path):
        os.unlink(listen_path)
    srv.bind(listen_path + ".tmp")
    srv.listen(1)
    os.rename(listen_path + ".tmp", listen_path)  # visible only once listening
    first, _ = srv.accept()
    srv.close()
    second = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    second.connect(connect_path)
    count = 0
    try:
        while True:
            ready, _, _ = select.select([first, second], [], [])
            for s in ready:
                request, data, fds = recv_message(s)
                if s is first:
                    count += 1
                    if count == cut:
                        for fd in fds:
                            os.close(fd)
                        print(f"cut at {count}: request {request}", flush=True)
                        return
                    send_message(second, data, fds)
                else:
                    send_message(first, data, fds)
    except (EOFError, ConnectionResetError, BrokenPipeError):
        pass
    finally:
        first.close()
        second.close()
    print(f"messages: {count}", flush=True)


if __name__ == "__main__":
    main()
