#!/usr/bin/env bash
# The shim killed (SIGKILL) and started again under a running guest whose
# virtio-blk device goes through it in pass-through: QEMU
# (vhost-user-blk-pci, chardev reconnect=1) -> vdpa-shim ->
# qemu-storage-daemon. The guest writes and reads a block every round
# (scenario blk-rounds) the whole time; its I/O must resume by itself once
# QEMU reconnected, and every round's block must be intact in the guest and
# in the image (guest_blk_shim_restart in tests/guest/lib.sh). Prints what
# the guest saw (the longest pause between rounds, kernel messages).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-blk-restart.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_qsd_stop; guest_cleanup_dir "$w"' EXIT

guest_prepare
guest_qsd "$w"
guest_blk_shim_restart "$w" "$w/disk.img" \
    --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix"
shim_stop
echo "PASS: shim SIGKILLed and restarted under a guest's virtio-blk I/O (pass-through, reconnect=1): I/O resumed, every block intact; $GUEST_RESTART_GAP s"
