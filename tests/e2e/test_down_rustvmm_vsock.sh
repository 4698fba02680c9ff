#!/usr/bin/env bash
# Down-conversion to rust-vmm's vhost-device-vsock in hybrid mode: the
# reference vdpa-user driver -> vdpa-shim -> vhost-device-vsock
# (guest-cid=4, uds-path=$w/vm.vsock). The back-end has F_CONFIG (the shim
# forwards guest_cid) but no REPLY_ACK. The driver opens a stream
# connection to the host (CID 2) on port 1234, which the back-end connects
# to the unix socket $w/vm.vsock_1234 where this script listens; the host
# side reads the driver's text, checks it byte for byte and answers in upper
# case, which the driver must receive exactly.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/down_rustvmm.sh"
down_setup vsock
be_bin=$(down_backend_bin vsock) || exit

cid=4 port=1234
text="vdpa-driver vsock test $$"
reply=${text^^}
# The host side: listen where the back-end connects for port $port.
python3 - "$w/vm.vsock_$port" "${#text}" "$w/host.in" "$reply" >"$w/host.log" 2>&1 <<'PY' &
import socket, sys
path, n, out, reply = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
srv.settimeout(60)
c, _ = srv.accept()
c.settimeout(30)
got = b""
while len(got) < n:
    chunk = c.recv(n - len(got))
    if not chunk:
        break
    got += chunk
open(out, "wb").write(got)
c.sendall(reply.encode())
c.recv(1)  # until the driver shuts the connection down
PY
down_track $!
wait_for 10 test -S "$w/vm.vsock_$port" || fail "the host side did not listen: $(cat "$w/host.log")"

down_backend_start "$be_bin" --vm "guest-cid=$cid,socket=$w/be.sock,uds-path=$w/vm.vsock"
wait_for 10 test -S "$w/be.sock" || skip "vhost-device-vsock did not start: $(tail -n 3 "$w/be.log")"
down_shim_start "type=vsock,id=vsock0,backend=$w/be.sock"

down_run_driver --type vsock --vsock-port "$port" --send "$text" --expect "$reply"
[[ -f $w/host.in ]] || fail "the host side got nothing: $(cat "$w/host.log")"
[[ "$(cat "$w/host.in")" == "$text" ]] || fail "the host side read \"$(cat "$w/host.in")\", the driver sent \"$text\""
grep -q "^vdpa-driver: config: guest_cid $cid\$" "$w/driver.out" || fail "config: $(grep 'config:' "$w/driver.out")"
grep -q "^vdpa-driver: vsock: sent ${#text} bytes to the host, received ${#reply}: match\$" "$w/driver.out" ||
    fail "vsock summary: $(tail -n 1 "$w/driver.out")"
down_check_trace vsock0 0 1
grep -q 'vsock0 be->shim GET_CONFIG reply offset=0 size=8' "$w/trace.txt" || fail "the config space was not read from the back-end"
down_finish
echo "PASS: vdpa-driver -> shim (down) -> vhost-device-vsock (hybrid): \"$text\" to host port $port, \"$reply\" back, byte for byte"
