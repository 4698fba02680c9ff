#!/usr/bin/env bash
# Down-conversion to QEMU's own vhost-user-gpu back-end
# (/usr/lib/qemu/vhost-user-gpu, 2D): the reference vdpa-user driver ->
# vdpa-shim -> vhost-user-gpu. The driver is also the VMM's display side: it
# makes a socketpair and sends one end with VHOST_USER_GPU_SET_SOCKET, which
# the shim hands on as it is; on the other end it serves the display
# protocol (QEMU docs/interop/vhost-user-gpu.rst: GET_PROTOCOL_FEATURES,
# SET_PROTOCOL_FEATURES, GET_DISPLAY_INFO answered with 2 scanouts of
# 1024x768, SCANOUT and UPDATE recorded). On the control queue:
# GET_DISPLAY_INFO (the 2 scanouts must come back), RESOURCE_CREATE_2D,
# RESOURCE_ATTACH_BACKING (the driver's guest memory, a pattern in it),
# SET_SCANOUT (the display side must get SCANOUT 64x48), TRANSFER_TO_HOST_2D,
# RESOURCE_FLUSH of a 32x24 rectangle (the display side must get an UPDATE of
# exactly that rectangle, every pixel the pattern's), RESOURCE_UNREF (SCANOUT
# 0x0), each answered RESP_OK_NODATA.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/down_rustvmm.sh"
down_setup gpu
be_bin=${GPU_BE_BIN:-/usr/lib/qemu/vhost-user-gpu}
[[ -x $be_bin ]] || skip "$be_bin is not installed (package qemu-system-gui)"

# It accepts one front-end on the path as given and exits when it goes.
down_backend_start "$be_bin" -s "$w/be.sock"
wait_for 10 test -S "$w/be.sock" || skip "vhost-user-gpu did not start: $(tail -n 3 "$w/be.log")"

# scanouts=2, the scanouts the display side serves: the back-end's config
# space (it has F_CONFIG) says num_scanouts 0, which QEMU's vhost-user-gpu-pci
# replaces with its max_outputs (hw/display/vhost-user-gpu.c,
# vhost_user_gpu_get_config); in down-conversion the shim is that VMM, and
# the driver (like Linux's virtio_gpu) refuses num_scanouts 0.
down_shim_start "type=gpu,id=gpu0,backend=$w/be.sock,scanouts=2"

down_run_driver --type gpu
grep -q '^vdpa-driver: config: events_read 0x0, num_scanouts 2, num_capsets 0$' "$w/driver.out" ||
    fail "config space: $(grep 'config:' "$w/driver.out")"
for s in 0 1; do
    grep -q "^vdpa-driver: gpu: scanout $s enabled, 1024x768\$" "$w/driver.out" ||
        fail "GET_DISPLAY_INFO: scanout $s is not the display side's: $(grep 'scanout' "$w/driver.out")"
done
grep -q '^vdpa-driver: gpu: display: SCANOUT scanout 0, 64x48$' "$w/driver.out" ||
    fail "no SCANOUT on the display socket: $(grep 'display:' "$w/driver.out")"
grep -q '^vdpa-driver: gpu: display: UPDATE scanout 0, 8,4 32x24, 768 pixels as written$' "$w/driver.out" ||
    fail "no UPDATE with the flushed pixels: $(grep 'display:' "$w/driver.out")"
grep -q '^vdpa-driver: gpu: 2 scanouts; .*protocol features set$' "$w/driver.out" ||
    fail "gpu summary: $(tail -n 1 "$w/driver.out")"

down_check_trace gpu0 0
grep 'gpu0 fe->shim GPU_SET_SOCKET' "$w/trace.txt" | grep -q 'fds=\[socket\]' ||
    fail "GPU_SET_SOCKET without its fd: $(grep -m2 'GPU_SET_SOCKET' "$w/trace.txt")"
grep 'GPU_SET_SOCKET' "$w/trace.txt" | grep -q 'no vDPA ioctl overlaps it' ||
    fail "GPU_SET_SOCKET not handed on: $(grep -m2 'GPU_SET_SOCKET' "$w/trace.txt")"
down_finish
echo "PASS: vdpa-driver -> shim (down) -> vhost-user-gpu: display socket served through GPU_SET_SOCKET, 2 scanouts, a 64x48 resource shown and a 32x24 flush seen with its pixels"
