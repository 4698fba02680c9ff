#!/usr/bin/env bash
# A Linux guest's virtio-gpu (DRM) through the up+down chain:
# QEMU 10.0 from the Debian 13 root (vhost-user-gpu-pci,
# max_outputs=GPU_SCANOUTS; TCG) -> vdpa-shim #1 (up) -> vdpa-shim #2 (down)
# -> QEMU 10.0's vhost-user-gpu (2D, from the same root; gpu_prepare and
# gpu_be, tests/guest/lib_gpu.sh). A missing root skips (make peer-roots).
# The full guest
# (virtio_gpu) must bind the device, see one DRM connector per scanout and
# paint its framebuffer; QEMU's display (QMP screendump) must show the
# guest's colours, which reach QEMU over the socket GPU_SET_SOCKET handed
# through both shims (each trace notes it: no vDPA ioctl overlaps it).
# Shim #1 must up-convert and shim #2 down-convert (their traces say so).
# Every shim runs with check=compat-matrix: a `: check: ` line in a log fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_gpu.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-gpu-chain.XXXXXX)
trap 'gpu_cleanup "$w"' EXIT

gpu_prepare
gpu_be "$w"
gpu_shims "$w" chain
gpu_guest "$w" g
gpu_socket_check "$w" chain
types_end "$w" chain
echo "PASS: guest virtio-gpu -> QEMU $(guest_qemu_version | grep -o "version [0-9.]*" | cut -d" " -f2) ($GUEST_ACCEL) -> shim (up) -> shim (down) -> vhost-user-gpu: $GPU_SCANOUTS scanouts, the framebuffer in QEMU's display"
