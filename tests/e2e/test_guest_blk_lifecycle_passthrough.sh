#!/usr/bin/env bash
# A Linux guest's virtio-blk device life cycle through the shim in
# pass-through (QEMU -> vdpa-shim -> qemu-storage-daemon): the blk scenario
# (O_DIRECT pattern, ext4), the driver unbound and rebound, the scenario
# again, a guest reboot, QEMU quitting during a boot, QMP system_reset
# (guest_lifecycle in tests/guest/lib.sh); the host checks the image after
# each part and the shim returns to its idle fds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-blk-lc.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_qsd_stop; guest_cleanup_dir "$w"' EXIT

guest_prepare
guest_qsd "$w"
shim_start "$w/shim.log" --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
fds_idle=$(fd_count "$_SHIM_PID")

guest_blk_lifecycle "$w" "$w/disk.img"
guest_lifecycle_idle "$w" "$fds_idle"
shim_stop
echo "PASS: guest virtio-blk life cycle (rebind, reboot, quit, system_reset) through the shim (pass-through)"
