#!/usr/bin/env bash
# The shim as a service, with real peers: started by socket activation
# (systemd-socket-activate binds the front-end socket and execs the shim when
# DPDK virtio-user first connects), devices from --config, readiness and
# reload reported by sd_notify, a JSON trace. SIGHUP adds, rejects (a bad
# file, with its line), removes and restarts devices while the unchanged
# device's live virtio-user <-> net_vhost session keeps passing packets; the
# restarted device serves on the same inherited socket; no fd leaks across
# reloads; SIGTERM exits 0, removes the sockets the shim made and leaves the
# inherited one. Exit codes 1 and 2 checked too.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
NOTIFY_PID=""
trap 'shim_kill; [[ -z $NOTIFY_PID ]] || kill "$NOTIFY_PID" 2>/dev/null; dpdk_stop_all' EXIT

command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate is missing (make deps)"
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR
conf=$w/shim.conf

# ---- exit codes first (no peers needed) ---------------------------------------
printf '[device a]\ntype = toaster\n' >"$w/bad.conf"
rc=0; "$SHIM_BIN" --config "$w/bad.conf" 2>"$w/bad.log" || rc=$?
(( rc == 2 )) || fail "a bad config file: exit $rc, not 2"
grep -q "^vdpa-shim: $w/bad.conf:2: \[device a\]: type=toaster: unknown device type; known: net" \
    "$w/bad.log" || fail "bad config message: $(cat "$w/bad.log")"
rc=0; "$SHIM_BIN" --device "type=net,frontend=$w/x.sock,backend=$w/y.sock" \
    --trace "$w/no/such/dir/t" 2>"$w/bad.log" || rc=$?
(( rc == 1 )) || fail "an unwritable trace: exit $rc, not 1"
grep -q "cannot open the trace file $w/no/such/dir/t: No such file or directory" "$w/bad.log" ||
    fail "trace message: $(cat "$w/bad.log")"
[[ ! -e $w/x.sock ]] || fail "a failed start left its socket"
rc=0; "$SHIM_BIN" --device "type=net,frontend=$w/no/dir/x.sock,backend=$w/y.sock" 2>"$w/bad.log" || rc=$?
(( rc == 1 )) || fail "a socket that cannot be created: exit $rc, not 1"
grep -q "cannot listen on $w/no/dir/x.sock: .*; the directory must exist" "$w/bad.log" ||
    fail "listen message: $(cat "$w/bad.log")"
"$SHIM_BIN" --version | grep -qx "vdpa-shim $(cat "$E2E_ROOT/VERSION") (vdpa-user protocol v1)" ||
    fail "--version: $("$SHIM_BIN" --version)"

# ---- sd_notify listener ------------------------------------------------------------
python3 - "$w/notify" "$w/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode() + "\n")
PY
NOTIFY_PID=$!
wait_for 5 test -S "$w/notify" || fail "notify listener did not start"
notified() { grep -c -x "$1" "$w/notify.log" || true; }
notified_at_least() { (( $(notified "$1") >= $2 )); }

# vu_get_features SOCK: a scripted front-end's GET_FEATURES; prints the
# features (hex) or fails after 5 s. vu_poke SOCK: connect, send it, close.
vu_get_features() {
    python3 - "$1" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(struct.pack("<III", 1, 1, 0))
data = b""
while len(data) < 20:
    chunk = s.recv(20 - len(data))
    if not chunk: sys.exit("closed")
    data += chunk
req, flags, size = struct.unpack("<III", data[:12])
assert req == 1 and flags & 4 and size == 8, (req, flags, size)
print(hex(struct.unpack("<Q", data[12:20])[0]))
PY
}
vu_poke() {
    python3 - "$1" <<'PY'
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(struct.pack("<III", 1, 1, 0)); time.sleep(0.5); s.close()
PY
}

write_conf() { # write_conf DEVICE-SECTIONS...: the config with [global] and these devices
    {
        printf '# written by test_service\n[global]\ntrace = %s\ntrace-format = json\n' "$w/trace.json"
        printf '%s\n' "$@"
    } >"$conf.tmp"
    mv "$conf.tmp" "$conf"
}
net0="[device net0]
type = net
frontend = $w/fe0.sock
backend = $w/be0.sock
check = $E2E_ROOT/compat-matrix"
net1="[device net1]
type = net
frontend = $w/fe1.sock
backend = $w/be1.sock"
net2="[device net2]
type = blk
frontend = $w/fe2.sock
backend = $w/be2.sock"
reloads=0
reload() { # reload PATTERN: SIGHUP, then the log line and READY=1 again
    reloads=$((reloads + 1))
    kill -HUP "$_SHIM_PID"
    wait_for 10 grep -qF -- "$1" "$w/shim.log" || fail "after SIGHUP the log lacks '$1'"
    wait_for 5 notified_at_least RELOADING=1 "$reloads" || fail "no RELOADING=1 for reload $reloads"
    wait_for 5 notified_at_least READY=1 $((reloads + 1)) || fail "no READY=1 after reload $reloads"
}
session_ended() { grep -c "net0: session ended" "$w/shim.log" || true; }
# (a function, so that wait_for counts again on every try)
sessions_ended_at_least() { (( $(session_ended) >= $1 )); }

# ---- socket activation: the shim starts when virtio-user connects ---------------------
dpdk_start_vhost_backend be "$w/be0.sock" 1 || fail "net_vhost did not start"
write_conf "$net0"
sa_env=(-E "NOTIFY_SOCKET=$w/notify")
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
    [[ -z ${!v:-} ]] || sa_env+=(-E "$v=${!v}")
done
_SHIM_LOG=$w/shim.log
systemd-socket-activate -l "$w/fe0.sock" --fdname=net0 "${sa_env[@]}" \
    "$SHIM_BIN" --config "$conf" 2>"$_SHIM_LOG" &
_SHIM_PID=$!
wait_for 5 test -S "$w/fe0.sock" || fail "systemd-socket-activate did not bind $w/fe0.sock"
[[ $(notified READY=1) == 0 ]] || fail "READY=1 before anyone connected"

dpdk_start_virtio_user fe "$w/fe0.sock" 1 || fail "virtio-user did not start"
wait_for 10 notified_at_least READY=1 1 || fail "the shim never said READY=1: $(cat "$_SHIM_LOG")"
[[ $(readlink "/proc/$_SHIM_PID/exe") == "$(readlink -f "$SHIM_BIN")" ]] ||
    fail "pid $_SHIM_PID is not the shim (LISTEN_PID would not match)"
grep -q "net0: listening on $w/fe0.sock with the socket passed in (socket activation)" "$_SHIM_LOG" ||
    fail "the shim did not use the inherited socket"
dpdk_wait_link fe 15 || fail "virtio-user link down"
dpdk_wait_link be 15 || fail "net_vhost link down"
dpdk_traffic_check fe be 1 >"$w/traffic0.log" || fail "no traffic through the socket-activated shim: $(cat "$w/traffic0.log")"
fds_session=$(fd_count "$_SHIM_PID")

# ---- SIGHUP: add a device; net0's session is untouched ------------------------------------
write_conf "$net0" "$net1"
reload "reload: $conf: 1 unchanged, 0 restarted, 1 added, 0 removed"
wait_for 5 test -S "$w/fe1.sock" || fail "net1's socket was not created"
# net1 works, and says what to do about its missing back-end
vu_poke "$w/fe1.sock"
wait_for 5 grep -q "net1: back-end $w/be1.sock not reachable (No such file or directory): start the back-end there, or fix backend=" \
    "$_SHIM_LOG" || fail "no actionable message for net1's missing back-end"

# a bad file changes nothing and names its line
write_conf "$net0" "$net1" "[device bad]
type = net
frontend = $w/fe9.sock
backend = $w/be9.sock
mtu = 5"
reload "reload: $conf:18: [device bad]: mtu=5: expected 68..65535; nothing changed: the 2 running device(s) keep running"
[[ -S $w/fe1.sock && ! -e $w/fe9.sock ]] || fail "a bad file changed the devices"

# net1 removed: its socket goes; back to the session's fd count
write_conf "$net0"
reload "reload: $conf: 1 unchanged, 0 restarted, 0 added, 1 removed"
[[ ! -e $w/fe1.sock ]] || fail "the removed device's socket is still there"
wait_for 5 fds_are "$_SHIM_PID" "$fds_session" ||
    fail "the shim holds $(fd_count "$_SHIM_PID") fds after adding and removing net1, $fds_session before"

(( $(session_ended) == 0 )) || fail "net0's session ended during the reloads"
dpdk_traffic_check fe be 1 >"$w/traffic1.log" || fail "net0's session does not pass packets after the reloads: $(cat "$w/traffic1.log")"
dpdk_wait_link fe 5 || fail "virtio-user link went down during the reloads"

# ---- the front-end goes; a changed device restarts on the same inherited socket -------------
dpdk_stop fe
wait_for 10 sessions_ended_at_least 1 || fail "net0's session did not end after virtio-user quit"
# idle: the count the shim settles at once the session's connections closed
fds_idle=$(fd_count "$_SHIM_PID")
for _ in 1 2 3 4 5 6 7 8 9 10; do
    sleep 0.3
    now=$(fd_count "$_SHIM_PID")
    [[ $now == "$fds_idle" ]] && break
    fds_idle=$now
done
(( fds_idle < fds_session )) || fail "the shim holds $fds_idle fds idle, $fds_session in session"
write_conf "${net0/type = net/type = net
mtu = 1500}" "$net2"
reload "reload: $conf: 0 unchanged, 1 restarted, 1 added, 0 removed"
(( $(grep -c "net0: listening on $w/fe0.sock with the socket passed in" "$_SHIM_LOG") == 2 )) ||
    fail "the restarted net0 did not get the inherited socket again"
wait_for 5 test -S "$w/fe2.sock" || fail "net2's socket was not created"
# the restarted net0 serves on the inherited socket: GET_FEATURES answered by net_vhost
feat=$(vu_get_features "$w/fe0.sock") || fail "no GET_FEATURES reply through the restarted net0"
(( feat & (1 << 32) )) || fail "net_vhost's features $feat lack VERSION_1"
wait_for 10 sessions_ended_at_least 2 || fail "the scripted session did not end"
# idle again: the same fds as before the restart, plus net2's listening socket
wait_for 5 fds_are "$_SHIM_PID" $((fds_idle + 1)) ||
    fail "the shim holds $(fd_count "$_SHIM_PID") fds, $((fds_idle + 1)) expected (fd leak across a restart?)"

# ---- SIGTERM ----------------------------------------------------------------------------
shim_stop
wait_for 5 notified_at_least STOPPING=1 1 || fail "no STOPPING=1"
grep -q "Terminated: shutting down: ending 2 device(s)" "$_SHIM_LOG" || fail "no shutdown line"
[[ ! -e $w/fe2.sock ]] || fail "SIGTERM left the shim's own socket $w/fe2.sock"
[[ -S $w/fe0.sock ]] || fail "the shim removed the inherited socket (it belongs to the socket unit)"

# ---- the JSON trace: every line parses; fds named by kind -------------------------------
python3 - "$w/trace.json" <<'PY' || fail "the JSON trace does not check out"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "empty trace"
seen = {}
for n, line in enumerate(lines, 1):
    try:
        o = json.loads(line)
    except ValueError as e:
        sys.exit(f"line {n} is not JSON ({e}): {line[:200]}")
    for k in ("time", "device", "dir", "channel", "request", "flags", "size", "payload", "fds", "note"):
        assert k in o, f"line {n} lacks {k}"
    seen.setdefault((o["device"], o["dir"], o["request"]["name"]), []).append(o)
def kinds(dev, d, req):
    return [[f["kind"] for f in o["fds"]] for o in seen.get((dev, d, req), [])]
assert ["memfd"] in kinds("net0", "fe->be", "SET_MEM_TABLE"), kinds("net0", "fe->be", "SET_MEM_TABLE")
assert ["eventfd"] in kinds("net0", "fe->be", "SET_VRING_KICK")
assert ["eventfd"] in kinds("net0", "fe->be", "SET_VRING_CALL")
feat = seen[("net0", "be->fe", "GET_FEATURES")][0]["payload"]
assert "VERSION_1" in feat["features_names"], feat
print(f"trace: {len(lines)} JSON lines, all parse")
PY
echo "PASS: socket-activated shim, $reloads reloads (add, bad file, remove, restart) with the live DPDK session kept, fds back to idle, SIGTERM exit 0, $(wc -l <"$w/trace.json") JSON trace lines valid"
