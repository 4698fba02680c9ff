#!/usr/bin/env bash
# GPU_SET_SOCKET through the shim to QEMU's own vhost-user-gpu back-end
# (/usr/lib/qemu/vhost-user-gpu), no guest: tests/guest/gpu_fe.py does what
# QEMU 7.2's vhost-user-gpu-pci does up to DRIVER_OK (negotiation, SET_OWNER,
# a socketpair's end sent with GPU_SET_SOCKET), and the back-end must speak
# the vhost-user-gpu display protocol (GET_PROTOCOL_FEATURES, then
# SET_PROTOCOL_FEATURES) on the end it received: the very socket went
# through. Twice: QEMU -> shim (pass-through) -> vhost-user-gpu, and
# QEMU -> shim #1 (up) -> shim #2 (down) -> vhost-user-gpu, where each trace
# must note the hand-on ("no vDPA ioctl overlaps it"), shim #1 must
# up-convert and shim #2 down-convert. Every shim runs with
# check=compat-matrix: a `: check: ` line in a log fails.
# (The guest tests test_guest_gpu_*.sh need KVM with QEMU 7.2; this one
# runs anywhere the back-end is installed.)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_gpu.sh"
w=$(mktemp -d /tmp/vdpa-shim-gpu-socket.XXXXXX)
trap 'gpu_cleanup "$w"' EXIT

for mode in pass chain; do
    mkdir "$w/$mode"
    gpu_be "$w/$mode"
    gpu_shims "$w/$mode" "$mode"
    gpu_fe "$w/$mode"
    gpu_socket_check "$w/$mode" "$mode"
    types_end "$w/$mode" "$mode"
    wait "$GPU_BE_PID" 2>/dev/null || true
    GPU_BE_PID=""
    echo "ok: $mode"
done
echo "PASS: GPU_SET_SOCKET reached vhost-user-gpu through the shim (pass-through) and the up+down chain; the back-end spoke the display protocol on it"
