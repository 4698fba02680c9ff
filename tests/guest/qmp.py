#!/usr/bin/env python3
"""qmp.py SOCKET COMMAND [JSON-ARGUMENTS]: one QMP command to a QEMU.

Connects to QEMU's QMP unix socket, negotiates capabilities, runs COMMAND
(e.g. system_reset, quit, query-status) and prints the "return" value as
JSON. Every read is bounded (QMP_TIMEOUT_S); exit 1 on an error reply, a
time-out or a closed socket (after "quit" a closed socket is success).
"""
import json
import socket
import sys

QMP_TIMEOUT_S = 5.0


def read_msg(f):
    """The next QMP message that is not an asynchronous event."""
    while True:
        line = f.readline()
        if not line:
            return None
        msg = json.loads(line)
        if "event" not in msg:
            return msg


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, cmd = sys.argv[1], sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(QMP_TIMEOUT_S)
    s.connect(path)
    f = s.makefile("rw")
    if read_msg(f) is None:                      # the greeting
        return 1
    f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
    f.flush()
    read_msg(f)
    req = {"execute": cmd}
    if args is not None:
        req["arguments"] = args
    f.write(json.dumps(req) + "\n")
    f.flush()
    try:
        reply = read_msg(f)
    except (OSError, ValueError):
        reply = None
    if reply is None:
        return 0 if cmd == "quit" else 1
    if "error" in reply:
        print(json.dumps(reply["error"]), file=sys.stderr)
        return 1
    print(json.dumps(reply.get("return")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
