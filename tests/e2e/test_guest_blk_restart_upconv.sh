#!/usr/bin/env bash
# The shim killed (SIGKILL) and started again under a running guest whose
# virtio-blk device goes through it up-converting: QEMU (vhost-user-blk-pci,
# chardev reconnect=1) -> vdpa-shim -> the reference vdpa-user blk back-end.
# The back-end sees the shim's connection close (a device reset) and the
# restarted shim brings it up again from QEMU's set-up, which resumes the
# ring where the guest left it. As test_guest_blk_restart_passthrough.sh:
# the guest's I/O resumes by itself and every round's block is intact.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-blk-restart-up.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_backend_stop; guest_cleanup_dir "$w"' EXIT

guest_prepare
truncate -s 64M "$w/disk.img"
guest_vdpa_backend "$w" --type blk --disk "$w/disk.img"
guest_blk_shim_restart "$w" "$w/disk.img" \
    --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix"
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "the restarted shim did not up-convert"
shim_stop
echo "PASS: shim SIGKILLed and restarted under a guest's virtio-blk I/O (up, reconnect=1): I/O resumed, every block intact; $GUEST_RESTART_GAP s"
