#!/usr/bin/env bash
# MTU and MAC as a Linux guest sees them in pass-through: QEMU (mac=,
# host_mtu=) -> vdpa-shim -> DPDK testpmd net_vhost, which offers
# VIRTIO_NET_F_MTU and VHOST_USER_PROTOCOL_F_NET_MTU. The guest sees QEMU's
# MAC and host_mtu (QEMU's own config space); QEMU hands the MTU to the
# back-end with NET_SET_MTU, relayed as it is.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
. "$here/../guest/lib.sh"
trap 'guest_stop_all; shim_kill; dpdk_stop_all' EXIT
frames=${GUEST_FRAMES:-50} mtu=4000 qemu_mac=52:54:00:5e:00:0a

guest_prepare
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR

guest_testpmd_be "$w" 1
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

guest_net_l2 "$w" g "$frames" "$qemu_mac" "" ",host_mtu=$mtu"
guest_net_expect_mtu "$w" g "$mtu" "net0 fe->be NET_SET_MTU .*u64=$mtu"
dpdk_cmd_output be "show port info 0" | grep -i mtu | head -n 2 || true
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
shim_stop
echo "PASS: pass-through: the guest sees QEMU's MAC $qemu_mac and MTU $mtu (host_mtu, NET_SET_MTU relayed to net_vhost)"
