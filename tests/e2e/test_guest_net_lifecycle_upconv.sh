#!/usr/bin/env bash
# A Linux guest's virtio-net device life cycle through the shim
# up-converting (QEMU -> vdpa-shim -> the reference vdpa-user back-end,
# loopback): traffic, the driver unbound and rebound, a guest reboot, QEMU
# quitting during a boot, QMP system_reset; traffic must flow intact after
# every step (guest_net_lifecycle in tests/guest/lib.sh); every reset reaches
# the back-end as a VIRTIO status reset and the shim returns to its idle fds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-lc-up.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_backend_stop; guest_cleanup_dir "$w"' EXIT
frames=${GUEST_FRAMES:-100}

guest_prepare
guest_vdpa_backend "$w" --type net --net-mode loopback
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
fds_idle=$(fd_count "$_SHIM_PID")

guest_net_lifecycle "$w" "$frames" 52:54:00:5e:00:05
resets=$(grep -c 'shim->be SET_STATUS need_reply status=0x0 (reset)' "$w/trace.txt" || true)
(( resets >= 5 )) || guest_fail "$w" lc2 "only $resets device resets reached the back-end (5 boots and 2 rebinds)"
wait_for 10 count_at_least "$w/shim.log" "session ended" 2 || guest_fail "$w" lc2 "the shim did not end both sessions"
wait_for 5 fds_are "$_SHIM_PID" "$fds_idle" ||
    guest_fail "$w" lc2 "shim holds $(fd_count "$_SHIM_PID") fds after the guests, $fds_idle before"
shim_stop
echo "PASS: guest virtio-net life cycle (rebind, reboot, quit, system_reset) through the shim (up), $resets resets"
