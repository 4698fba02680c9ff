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
QSD_PID=""
cleanup() {
    guest_stop_all; shim_kill
    [[ -z $QSD_PID ]] || kill -KILL "$QSD_PID" 2>/dev/null || true
    wait 2>/dev/null
    [[ ${GUEST_KEEP:-0} == 1 ]] && echo "kept $w" || rm -rf "$w"
}
trap cleanup EXIT

guest_prepare
command -v qemu-storage-daemon >/dev/null || skip "qemu-storage-daemon is not installed"
truncate -s 64M "$w/disk.img"
qemu-storage-daemon --blockdev "driver=file,node-name=file0,filename=$w/disk.img" \
    --export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$w/be.sock,writable=on" \
    >"$w/qsd.log" 2>&1 &
QSD_PID=$!
wait_for 10 test -S "$w/be.sock" || skip "qemu-storage-daemon did not start: $(tail -n 3 "$w/qsd.log")"
shim_start "$w/shim.log" --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

guest_blk "$w" g "$w/disk.img"
grep -q 'blk0 fe->be SET_VRING_KICK' "$w/trace.txt" || guest_fail "$w" g "trace lacks SET_VRING_KICK"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
shim_stop
echo "PASS: guest virtio-blk -> QEMU ($GUEST_ACCEL) -> shim (pass-through) -> qemu-storage-daemon: O_DIRECT pattern and ext4 checked on the host"
