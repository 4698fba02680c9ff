#!/usr/bin/env bash
# A Linux guest's virtio-net driver through the up+down chain:
# QEMU (legacy vhost-user) -> vdpa-shim #1 (up) -> vdpa-shim #2 (down)
# -> DPDK testpmd net_vhost (macswap: every frame goes back). net_vhost runs
# without tso=1, so it offers HOST_ECN without HOST_TSO4/6 (issue 15, bug 2):
# the shims must not pass that offer on. The guest (scenario net-l2) counts
# the intact frames that come back. MTU: QEMU's host_mtu= and shim #2's mtu=
# (both 4000) must meet; the guest sees QEMU's MAC and MTU.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
. "$here/../guest/lib.sh"
trap 'guest_stop_all; shim_kill; guest_down_shim_stop; dpdk_stop_all' EXIT
frames=${GUEST_FRAMES:-200} mtu=4000

guest_prepare
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR

guest_testpmd_be "$w" 1
guest_down_shim "$w" "type=net,queue-pairs=1,mtu=$mtu"
shim_start "$w/shim.log" --device "type=net,id=up0,frontend=$w/fe.sock,backend=$w/mid.sock,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "shim #1 did not create its socket"

GUEST_FAIL_HOOK=guest_down_shim_tail guest_net_l2 "$w" g "$frames" 52:54:00:5e:00:03 "" ",host_mtu=$mtu"
# The guest sees QEMU's MAC and host_mtu; shim #1 checks QEMU's NET_SET_MTU
# against the mtu field of shim #2's config space (its mtu= key).
guest_net_expect_mtu "$w" g "$mtu" "up0 shim->fe NET_SET_MTU reply ack=0"
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "shim #1 did not up-convert"
grep -q 'down-conversion begins' "$w/trace-down.txt" || guest_fail "$w" g "shim #2 did not down-convert"
read -r be_rx be_tx < <(dpdk_port_stats be)
(( be_rx >= frames && be_tx >= frames )) || guest_fail "$w" g "testpmd counted RX $be_rx TX $be_tx, expected >= $frames"

wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "shim #1's session did not end after the guest powered off"
shim_stop
guest_down_shim_stop
echo "PASS: guest virtio-net -> QEMU ($GUEST_ACCEL) -> shim (up) -> shim (down) -> net_vhost: $GUEST_NET_RX/$frames frames intact, MTU $mtu"
