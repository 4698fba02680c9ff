#!/usr/bin/env bash
# A Linux guest's virtiofs device life cycle through the shim in
# pass-through (QEMU -> vdpa-shim -> virtiofsd): mount, read, write, the
# driver unbound and rebound, all again, a guest reboot, QEMU quitting during
# a boot, QMP system_reset (guest_lifecycle in tests/guest/lib.sh); the shim
# returns to its idle fds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-fs-lc.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_virtiofsd_stop; guest_cleanup_dir "$w"' EXIT
nonce=$RANDOM

guest_prepare
guest_virtiofsd "$w" "$nonce"
shim_start "$w/shim.log" --device "type=fs,id=fs0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
fds_idle=$(fd_count "$_SHIM_PID")

# virtiofsd serves one front-end: a new one for the second QEMU.
vfs_again() { guest_virtiofsd_again "$1" "$nonce"; }
GUEST_LC_BETWEEN=vfs_again guest_fs_lifecycle "$w" "$w/share" "$nonce"
guest_lifecycle_idle "$w" "$fds_idle"
shim_stop
echo "PASS: guest virtiofs life cycle (rebind, reboot, quit, system_reset) through the shim (pass-through)"
