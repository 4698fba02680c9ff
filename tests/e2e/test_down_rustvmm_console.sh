#!/usr/bin/env bash
# Down-conversion to rust-vmm's vhost-device-console (no x86 QEMU 7.2
# front-end exists for it): the reference vdpa-user driver -> vdpa-shim ->
# vhost-device-console -b network. The back-end has F_CONFIG and REPLY_ACK,
# so the shim forwards its 12-byte config space. The driver sends a line on
# port 0's transmitq; this script, connected to the back-end's TCP port as
# the console's host side, reads it, checks it byte for byte and writes back
# its upper-case form, which the driver must receive on receiveq0 exactly.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/down_rustvmm.sh"
down_setup console
be_bin=$(down_backend_bin console) || exit

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
down_backend_start "$be_bin" --socket-path "$w/be.sock" -b network -p "$port"
# The back-end appends 0 to the socket name (one socket per guest).
wait_for 10 test -S "$w/be.sock0" || skip "vhost-device-console did not start: $(tail -n 3 "$w/be.log")"

# No queue-size=: the shim shows console's ring limit (128, lib/proto/device_types.c),
# which vhost-device-console needs (it fails a larger SET_VRING_NUM).
down_shim_start "type=console,id=con0,backend=$w/be.sock0"

# The console's host side: connect, read what the driver sends, answer in
# upper case. The text carries this run's pid so that nothing stale matches.
text="vdpa-driver console test $$"
reply=${text^^}
python3 - "$port" "${#text}" "$w/host.in" "$reply" >"$w/host.log" 2>&1 <<'PY' &
import socket, sys, time
port, n, out, reply = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
deadline = time.monotonic() + 30
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("cannot connect to the console's TCP port")
        time.sleep(0.1)
s.settimeout(30)
got = b""
while len(got) < n:
    chunk = s.recv(n - len(got))
    if not chunk:
        break
    got += chunk
open(out, "wb").write(got)
s.sendall(reply.encode())
time.sleep(5)  # keep the connection until the driver has read the reply
PY
down_track $!

down_run_driver --type console --send "$text" --expect "$reply"
[[ -f $w/host.in ]] || fail "the host side got nothing: $(cat "$w/host.log")"
[[ "$(cat "$w/host.in")" == "$text" ]] || fail "the host side read \"$(cat "$w/host.in")\", the driver sent \"$text\""
# The back-end's config (src/console.rs ConsoleController::new): 20x20 and
# one port, but it offers neither F_SIZE nor F_EMERG_WRITE, so only
# max_nr_ports (F_MULTIPORT, offered) is valid (VIRTIO 1.2 5.3.4).
grep -q '^vdpa-driver: config: .*, max_nr_ports 1 (F_MULTIPORT offered' "$w/driver.out" ||
    fail "config space not the back-end's (max_nr_ports 1): $(grep 'config:' "$w/driver.out")"
grep -q "^vdpa-driver: console: sent ${#text} bytes, received ${#reply}: match\$" "$w/driver.out" ||
    fail "console summary: $(tail -n 1 "$w/driver.out")"

down_check_trace con0 0 1
grep -q 'con0 be->shim GET_CONFIG reply offset=0 size=12' "$w/trace.txt" || fail "the config space was not read from the back-end"
down_finish
echo "PASS: vdpa-driver -> shim (down) -> vhost-device-console: \"$text\" out through port 0, \"$reply\" back, byte for byte"
