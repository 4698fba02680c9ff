#!/usr/bin/env bash
# A Linux guest's virtio-blk driver through the shim up-converting:
# QEMU (vhost-user-blk-pci, a legacy front-end) -> vdpa-shim -> the reference
# vdpa-user back-end (peers/vdpa-backend --type blk). Same scenario and host
# checks as test_guest_blk_passthrough.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-blk-up.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_backend_stop; guest_cleanup_dir "$w"' EXIT

guest_prepare
truncate -s 64M "$w/disk.img"
guest_vdpa_backend "$w" --type blk --disk "$w/disk.img"
shim_start "$w/shim.log" --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

guest_blk "$w" g "$w/disk.img"
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "the shim did not up-convert"
grep -q 'shim->be SET_STATUS need_reply status=0xf' "$w/trace.txt" ||
    guest_fail "$w" g "the shim never set DRIVER_OK on the back-end"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
shim_stop
echo "PASS: guest virtio-blk -> QEMU ($GUEST_ACCEL) -> shim (up) -> vdpa-user blk back-end: O_DIRECT pattern and ext4 checked on the host"
