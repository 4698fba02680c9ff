#!/usr/bin/env bash
# A Linux guest's virtio-gpu (DRM) through the shim in pass-through:
# QEMU 10.0 from the Debian 13 root (vhost-user-gpu-pci,
# max_outputs=GPU_SCANOUTS; TCG) -> vdpa-shim (pass-through) -> QEMU 10.0's
# vhost-user-gpu (2D, from the same root; gpu_prepare and gpu_be,
# tests/guest/lib_gpu.sh: QEMU 7.2 refuses the device without KVM, and KVM
# does not boot the guest here). A missing root skips (make peer-roots).
# The full guest (virtio_gpu)
# must bind the device, see one DRM connector per scanout and paint its
# framebuffer; QEMU's display (QMP screendump) must show the guest's colours,
# which reach QEMU over the socket GPU_SET_SOCKET handed through the shim
# (gpu_guest, tests/guest/lib_gpu.sh; scenario tests/guest/scenarios/gpu.sh).
# The shim runs with check=compat-matrix: a `: check: ` line in its log fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_gpu.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-gpu-passthrough.XXXXXX)
trap 'gpu_cleanup "$w"' EXIT

gpu_prepare
gpu_be "$w"
gpu_shims "$w" pass
gpu_guest "$w" g
gpu_socket_check "$w" pass
types_end "$w" pass
echo "PASS: guest virtio-gpu -> QEMU $(guest_qemu_version | grep -o "version [0-9.]*" | cut -d" " -f2) ($GUEST_ACCEL) -> shim (pass-through) -> vhost-user-gpu: $GPU_SCANOUTS scanouts, the framebuffer in QEMU's display"
