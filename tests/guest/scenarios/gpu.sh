# virtio-gpu (sourced by /init; uses its result/finish/fail/param/wait_until).
# Needs the full guest (GUEST_FLAVOUR=full: the virtio_gpu DRM driver).
#
# scenario_gpu: the virtio_gpu driver binds a virtio device, its DRM card
# has one connector per scanout (`scanouts`, default 1: the config space's
# num_scanouts), each /sys/class/drm/card0-Virtual-N reports its status and
# first mode, then drm_fb (tests/guest/drm_fb.c) paints /dev/fb0 (the fbdev
# emulation) with colour `top` above the middle and `bottom` below it
# (RRGGBB, hex); the host checks that the VMM's display got them
# (screendump). QEMU's built-in virtio-gpu-pci runs it under TCG too
# (GPU_SELF_TEST=1, tests/guest/lib_gpu.sh).
# Run with vstest.after=wait so that the machine is still up for the check.
#   RESULT gpu_driver=virtio0
#   RESULT drm_connectors=N drm_crtcs=N drm_encoders=N
#   RESULT connector=card0-Virtual-1 status=connected mode=1280x800
#   RESULT fb_xres=X fb_yres=Y fb_bpp=32 fb_line=BYTES
#   RESULT fb_written=BYTES
#   RESULT after_paint=card0-Virtual-1 enabled=enabled dpms=On
gpu_bound() { ls /sys/bus/virtio/drivers/virtio_gpu/ 2>/dev/null | grep -q '^virtio'; }
gpu_ready() { [ -c /dev/dri/card0 ] && [ -c /dev/fb0 ]; }
scenario_gpu() {
    want=$(param scanouts 1) top=$(param top 3c8d2f) bottom=$(param bottom d0306a)
    wait_until 10 gpu_bound || { fail "no virtio device bound to virtio_gpu"; return; }
    result "gpu_driver=$(ls /sys/bus/virtio/drivers/virtio_gpu/ | grep '^virtio' | tr '\n' ',' | sed 's/,$//')"
    wait_until 10 gpu_ready || { fail "no /dev/dri/card0 or /dev/fb0: $(ls /dev/dri /dev/fb* 2>&1 | tr '\n' ' ')"; return; }
    n=0
    for c in /sys/class/drm/card0-Virtual-*; do
        [ -d "$c" ] || continue
        n=$((n + 1))
        mode=$(head -n 1 "$c/modes" 2>/dev/null)
        result "connector=$(basename "$c") status=$(cat "$c/status") mode=${mode:-none}"
    done
    drm_fb /dev/dri/card0 /dev/fb0 "$top" "$bottom" > /tmp/gpu.out 2>/tmp/gpu.err
    rc=$?
    while read -r l; do result "$l"; done < /tmp/gpu.out
    for c in /sys/class/drm/card0-Virtual-*; do
        [ -d "$c" ] && result "after_paint=$(basename "$c") enabled=$(cat "$c/enabled") dpms=$(cat "$c/dpms")"
    done
    [ $rc = 0 ] || { fail "drm_fb exit $rc: $(tail -n 1 /tmp/gpu.err)"; return; }
    [ "$n" = "$want" ] || { fail "$n Virtual connectors in sysfs, $want scanouts expected"; return; }
    # let the flush msync() started reach the device and the VMM
    sleep 1
    finish pass "the framebuffer is painted"
}
