#!/usr/bin/env bash
# A Linux guest's virtio-blk driver through the shim in pass-through:
# QEMU (vhost-user-blk-pci) -> vdpa-shim -> qemu-storage-daemon. The guest
# (tests/guest, scenario blk) writes a pattern with O_DIRECT at several
# offsets, flushes, reads it back, then makes an ext4 file system with a file;
# the host finds the pattern in the image, e2fsck -n finds the file system
# clean and debugfs reads the guest's file.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-blk.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_qsd_stop; guest_cleanup_dir "$w"' EXIT

guest_prepare
guest_qsd "$w"
shim_start "$w/shim.log" --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

guest_blk "$w" g "$w/disk.img"
grep -q 'blk0 fe->be SET_VRING_KICK' "$w/trace.txt" || guest_fail "$w" g "trace lacks SET_VRING_KICK"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
shim_stop
echo "PASS: guest virtio-blk -> QEMU ($GUEST_ACCEL) -> shim (pass-through) -> qemu-storage-daemon: O_DIRECT pattern and ext4 checked on the host"
