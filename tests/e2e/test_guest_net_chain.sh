#!/usr/bin/env bash
# A Linux guest's virtio-net driver through the up+down chain:
# QEMU (legacy vhost-user) -> vdpa-shim #1 (up) -> vdpa-shim #2 (down)
# -> DPDK testpmd net_vhost (macswap: every frame goes back). net_vhost runs
# without tso=1, so it offers HOST_ECN without HOST_TSO4/6 (issue 15, bug 2):
# the shims must not pass that offer on. The guest (scenario net-l2) counts
# the intact frames that come back.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
. "$here/../guest/lib.sh"
DOWN_PID=""
trap 'guest_stop_all; shim_kill; [[ -z $DOWN_PID ]] || kill -KILL "$DOWN_PID" 2>/dev/null || true; dpdk_stop_all' EXIT
frames=${GUEST_FRAMES:-200}

guest_prepare
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR

dpdk_start_vhost_backend be "$w/be.sock" 1 || fail "net_vhost did not start"
dpdk_cmd_output be "set fwd macswap" >/dev/null || fail "testpmd: set fwd macswap"
dpdk_cmd_output be "start" >/dev/null || fail "testpmd: start"
"$SHIM_BIN" --device "type=net,id=down0,frontend=$w/mid.sock,backend=$w/be.sock,queue-pairs=1,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace-down.txt" 2>"$w/shim-down.log" &
DOWN_PID=$!
wait_for 5 test -S "$w/mid.sock" || fail "shim #2 did not create its socket: $(tail -n 3 "$w/shim-down.log")"
shim_start "$w/shim.log" --device "type=net,id=up0,frontend=$w/fe.sock,backend=$w/mid.sock,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "shim #1 did not create its socket"

down_fail() { echo "--- shim #2 trace tail:"; tail -n 20 "$w/trace-down.txt"; echo "--- shim #2 log tail:"; tail -n 10 "$w/shim-down.log"; }
GUEST_FAIL_HOOK=down_fail guest_net_l2 "$w" g "$frames" 52:54:00:5e:00:03
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "shim #1 did not up-convert"
grep -q 'down-conversion begins' "$w/trace-down.txt" || guest_fail "$w" g "shim #2 did not down-convert"
read -r be_rx be_tx < <(dpdk_port_stats be)
(( be_rx >= frames && be_tx >= frames )) || guest_fail "$w" g "testpmd counted RX $be_rx TX $be_tx, expected >= $frames"

wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "shim #1's session did not end after the guest powered off"
shim_stop
kill -TERM "$DOWN_PID"; st=0; wait "$DOWN_PID" || st=$?; DOWN_PID=""
(( st == 0 )) || fail "shim #2 exited with status $st on SIGTERM"
! grep -q ': check: ' "$w/shim-down.log" || fail "shim #2's compatibility check reported: $(grep -m3 ': check: ' "$w/shim-down.log")"
echo "PASS: guest virtio-net -> QEMU ($GUEST_ACCEL) -> shim (up) -> shim (down) -> net_vhost: $GUEST_NET_RX/$frames frames intact"
