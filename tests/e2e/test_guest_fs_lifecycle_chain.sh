#!/usr/bin/env bash
# A Linux guest's virtiofs device life cycle through the up+down chain:
# QEMU (vhost-user-fs-pci) -> vdpa-shim #1 (up) -> vdpa-shim #2 (down,
# tag=share0: virtiofsd has no config space) -> virtiofsd (QEMU 7.2's C
# one). As test_guest_fs_lifecycle_passthrough.sh: mount, read, write, the
# driver unbound and rebound, all again, a guest reboot, QEMU quitting during
# a boot, QMP system_reset (guest_lifecycle in tests/guest/lib.sh). Every
# reset reaches shim #2 as a VIRTIO status reset, which stops virtiofsd's
# rings (GET_VRING_BASE); shim #1 returns to its idle fds and both shims end
# cleanly. virtiofsd serves one front-end (shim #2's session) and exits when
# it goes: the test starts a second one for the second QEMU.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-fs-lc-chain.XXXXXX)
trap 'guest_stop_all; shim_kill; _guest_kill_pid "$GUEST_DOWN_PID"; guest_virtiofsd_stop; guest_cleanup_dir "$w"' EXIT
GUEST_FAIL_HOOK=guest_down_shim_tail
nonce=$RANDOM

guest_prepare
guest_virtiofsd "$w" "$nonce"
guest_down_shim "$w" "type=fs,tag=share0"
shim_start "$w/shim.log" --device "type=fs,id=up0,frontend=$w/fe.sock,backend=$w/mid.sock,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "shim #1 did not create its socket"
fds_idle=$(fd_count "$_SHIM_PID")

# QEMU's quit ends shim #1's session, shim #1 ends shim #2's, and shim #2
# drops virtiofsd, which exits: a new one for the second QEMU.
vfs_again() { guest_virtiofsd_again "$1" "$nonce"; }
GUEST_LC_BETWEEN=vfs_again guest_fs_lifecycle "$w" "$w/share" "$nonce"
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" lc2 "shim #1 did not up-convert"
grep -q 'down-conversion begins' "$w/trace-down.txt" || guest_fail "$w" lc2 "shim #2 did not down-convert"
resets=$(grep -c 'shim->be SET_STATUS need_reply status=0x0 (reset)' "$w/trace.txt" || true)
(( resets >= 5 )) || guest_fail "$w" lc2 "only $resets device resets reached shim #2 (5 boots and 2 rebinds)"
stops=$(grep -c 'shim->be GET_VRING_BASE' "$w/trace-down.txt" || true)
(( stops >= 2 )) || guest_fail "$w" lc2 "shim #2 stopped virtiofsd's rings only $stops times"
guest_lifecycle_idle "$w" "$fds_idle"
shim_stop
guest_down_shim_stop
echo "PASS: guest virtiofs life cycle (rebind, reboot, quit, system_reset) through the up+down chain: $resets resets reached shim #2, $stops ring stops reached virtiofsd"
