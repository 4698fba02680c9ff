#!/usr/bin/env bash
# MTU and MAC as a Linux guest sees them, up-converting: QEMU (mac=, host_mtu=)
# -> vdpa-shim (mac=, mtu= device keys) -> the reference vdpa-user back-end
# (--mtu 1500, so it offers VIRTIO_NET_F_MTU). The shim provisions its keys
# into the back-end's config space (SET_CONFIG flags=1); QEMU keeps its own
# virtio-net config space, so the guest sees QEMU's MAC and QEMU's host_mtu,
# which QEMU sends as NET_SET_MTU and the shim checks against the back-end's
# (provisioned) MTU. The back-end's MAC is the shim's key, not QEMU's.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-mtu-up.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_backend_stop; guest_cleanup_dir "$w"' EXIT
frames=${GUEST_FRAMES:-50} mtu=4000 qemu_mac=52:54:00:5e:00:09 shim_mac=52:54:00:aa:00:09

guest_prepare
guest_vdpa_backend "$w" --type net --net-mode loopback --mtu 1500
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$w/fe.sock,backend=$w/be.sock,mac=$shim_mac,mtu=$mtu,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

guest_net_l2 "$w" g "$frames" "$qemu_mac" "" ",host_mtu=$mtu"
guest_net_expect_mtu "$w" g "$mtu" "net0 fe->shim NET_SET_MTU"
grep -q "shim->be SET_CONFIG .*data=${shim_mac//:/} -- provision mac=" "$w/trace.txt" ||
    guest_fail "$w" g "the shim did not provision its mac= into the back-end's config"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
shim_stop
echo "PASS: up: the guest sees QEMU's MAC $qemu_mac and MTU $mtu (host_mtu, checked against the shim's mtu= in the back-end)"
