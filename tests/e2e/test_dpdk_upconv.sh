#!/usr/bin/env bash
# Up-conversion with real programs: DPDK virtio-user (an unchanged legacy
# vhost-user front-end) -> vdpa-shim -> the reference vdpa-user back-end
# (peers/vdpa-backend, net, loopback: what the guest sends comes back).
# testpmd's counters must show packets both ways, and the trace must show the
# shim driving the VIRTIO device model (status register, DRIVER_OK).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
BACKEND_PID=""
trap 'shim_kill; dpdk_stop_all; [[ -z $BACKEND_PID ]] || kill -KILL "$BACKEND_PID" 2>/dev/null || true' EXIT

backend_bin=$E2E_ROOT/${BUILD:-build}/vdpa-backend
[[ -x $backend_bin ]] || fail "$backend_bin is missing (run make first)"
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR

"$backend_bin" --socket "$w/be.sock" --type net --net-mode loopback --stats "$w/backend.stats" \
    2>"$w/backend.log" &
BACKEND_PID=$!
wait_for 5 test -S "$w/be.sock" || fail "vdpa-backend did not start: $(tail -n 3 "$w/backend.log")"
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

dpdk_start_virtio_user fe "$w/fe.sock" 1 || fail "virtio-user did not start"
dpdk_wait_link fe 15 || fail "virtio-user link down"
grep -q 'up-conversion begins' "$w/trace.txt" || fail "the shim did not up-convert"
wait_for 10 grep -q 'shim->be SET_STATUS need_reply status=0xf' "$w/trace.txt" ||
    fail "the shim never set DRIVER_OK on the back-end"

# One port, io forwarding: the back-end loops every frame back, testpmd
# forwards it out again, so both directions count.
dpdk_cmd fe "set fwd io"
dpdk_cmd fe "start tx_first 4"
sleep 2
dpdk_cmd fe "stop"
read -r rx tx < <(dpdk_port_stats fe)
echo "virtio-user port 0: RX $rx TX $tx"
(( rx > 0 && tx > 0 )) || fail "no packets both ways through the up-converted device (RX $rx TX $tx)"

dpdk_stop fe
wait_for 10 grep -q "session ended" "$w/shim.log" || fail "session did not end after virtio-user quit"
shim_stop
kill -TERM "$BACKEND_PID"; wait "$BACKEND_PID" 2>/dev/null || true; BACKEND_PID=""
echo "back-end counters: $(tr '\n' ' ' < "$w/backend.stats")"
echo "PASS: DPDK virtio-user -> shim (up) -> vdpa-user net back-end: RX $rx TX $tx"
