#!/usr/bin/env bash
# A Linux guest's virtio-net driver through the shim up-converting:
# QEMU (vhost-user netdev, a legacy front-end) -> vdpa-shim -> the reference
# vdpa-user back-end (peers/vdpa-backend --type net --net-mode loopback: every
# frame the guest sends comes back). The guest (scenario net-l2) counts the
# intact frames; the back-end's MAC (--mac) is not what the guest sees: QEMU's
# mac= is (the guest's MAC comes from QEMU's own config space).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-net-up.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_backend_stop; guest_cleanup_dir "$w"' EXIT
frames=${GUEST_FRAMES:-200}

guest_prepare
guest_vdpa_backend "$w" --type net --net-mode loopback
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

guest_net_l2 "$w" g "$frames" 52:54:00:5e:00:02
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "the shim did not up-convert"
grep -q 'shim->be SET_STATUS need_reply status=0xf' "$w/trace.txt" ||
    guest_fail "$w" g "the shim never set DRIVER_OK on the back-end"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
shim_stop
guest_backend_stop
echo "back-end counters: $(tr '\n' ' ' < "$w/backend.stats" 2>/dev/null)"
echo "PASS: guest virtio-net -> QEMU ($GUEST_ACCEL) -> shim (up) -> vdpa-user net back-end: $GUEST_NET_RX/$frames frames intact"
