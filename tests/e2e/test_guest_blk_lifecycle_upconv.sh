#!/usr/bin/env bash
# A Linux guest's virtio-blk device life cycle through the shim
# up-converting (QEMU -> vdpa-shim -> the reference vdpa-user blk back-end):
# as test_guest_blk_lifecycle_passthrough.sh; every reset reaches the
# back-end as a VIRTIO status reset.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-blk-lc-up.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_backend_stop; guest_cleanup_dir "$w"' EXIT

guest_prepare
truncate -s 64M "$w/disk.img"
guest_vdpa_backend "$w" --type blk --disk "$w/disk.img"
shim_start "$w/shim.log" --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
fds_idle=$(fd_count "$_SHIM_PID")

guest_blk_lifecycle "$w" "$w/disk.img"
resets=$(grep -c 'shim->be SET_STATUS need_reply status=0x0 (reset)' "$w/trace.txt" || true)
(( resets >= 5 )) || guest_fail "$w" lc2 "only $resets device resets reached the back-end (5 boots and 2 rebinds)"
guest_lifecycle_idle "$w" "$fds_idle"
shim_stop
echo "PASS: guest virtio-blk life cycle (rebind, reboot, quit, system_reset) through the shim (up), $resets resets"
