#!/usr/bin/env bash
# A Linux guest's virtio-net driver through the shim in pass-through:
# QEMU (vhost-user netdev) -> vdpa-shim -> DPDK testpmd net_vhost, which
# swaps the MACs and sends every frame back (--forward-mode=macswap). The
# guest (tests/guest, scenario net-l2) brings the link up, sends frames with
# known payloads on a raw socket and counts the intact ones that come back.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
. "$here/../guest/lib.sh"
trap 'guest_stop_all; shim_kill; dpdk_stop_all' EXIT
frames=${GUEST_FRAMES:-200}

guest_prepare
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR

dpdk_start_vhost_backend be "$w/be.sock" 1 || fail "net_vhost did not start"
dpdk_cmd_output be "set fwd macswap" >/dev/null || fail "testpmd: set fwd macswap"
dpdk_cmd_output be "start" >/dev/null || fail "testpmd: start"
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

guest_net_l2 "$w" g "$frames" 52:54:00:5e:00:01
rx=$GUEST_NET_RX
read -r be_rx be_tx < <(dpdk_port_stats be)
(( be_rx >= frames && be_tx >= frames )) || guest_fail "$w" g "testpmd counted RX $be_rx TX $be_tx, expected >= $frames"
for req in SET_FEATURES SET_MEM_TABLE SET_VRING_ADDR SET_VRING_KICK; do
    grep -q "net0 fe->be $req" "$w/trace.txt" || guest_fail "$w" g "trace lacks $req"
done

wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
shim_stop
echo "PASS: guest virtio-net -> QEMU ($GUEST_ACCEL) -> shim (pass-through) -> net_vhost: $rx/$frames frames intact"
