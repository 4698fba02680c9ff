#!/usr/bin/env bash
# Shim #1 of the up+down chain killed (SIGKILL) and started again under a
# running guest: QEMU (vhost-user-blk-pci, chardev reconnect=1) -> vdpa-shim
# #1 (up) -> vdpa-shim #2 (down) -> qemu-storage-daemon. Shim #2 sees its
# front-end go (a vdpa-user session end: it stops qemu-storage-daemon's
# ring) and the restarted shim #1 set the device up again. As
# test_guest_blk_restart_passthrough.sh: the guest's I/O resumes by itself
# and every round's block is intact in the guest and in the image.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-blk-restart-chain.XXXXXX)
trap 'guest_stop_all; shim_kill; _guest_kill_pid "$GUEST_DOWN_PID"; guest_qsd_stop; guest_cleanup_dir "$w"' EXIT
GUEST_FAIL_HOOK=guest_down_shim_tail

guest_prepare
guest_qsd "$w"
guest_down_shim "$w" "type=blk"
guest_blk_shim_restart "$w" "$w/disk.img" \
    --device "type=blk,id=up0,frontend=$w/fe.sock,backend=$w/mid.sock,check=$E2E_ROOT/compat-matrix"
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "the restarted shim #1 did not up-convert"
(( $(grep -c 'down-conversion begins' "$w/trace-down.txt") >= 2 )) ||
    guest_fail "$w" g "shim #2 did not see a second session from the restarted shim #1"
shim_stop
guest_down_shim_stop
echo "PASS: shim #1 of the chain SIGKILLed and restarted under a guest's virtio-blk I/O (reconnect=1): I/O resumed, every block intact; $GUEST_RESTART_GAP s"
