# virtio-scsi (sourced by /init; uses its result/finish/fail/param/wait_until
# and the blk scenario's O_DIRECT pattern, blk_io).
#
# scenario_scsi: the first SCSI disk on a virtio-scsi host (sd_mod: /dev/sdX)
# gets the blk scenario's 4 KiB pattern (naming its offset and `nonce`) at
# each of `offsets` (MiB, 40,48,56,63) written with O_DIRECT, flushed
# (SYNCHRONIZE CACHE), read back with O_DIRECT and compared; the host then
# finds the pattern in the back-end's image.
# `wait_s` (15): how long the disk may take to appear (a hot-plug).
#   RESULT scsi_disk=/dev/sda scsi_hctl=0:0:0:0 size_sectors=N vendor=... model=...
#   RESULT features=...        the virtio-scsi driver's accepted features
#   RESULT pattern_offsets=40,48,56,63
scsi_disk() {
    for d in /sys/block/sd*; do
        [ -e "$d/device" ] || continue
        case $(readlink -f "$d/device") in */virtio*) basename "$d"; return 0;; esac
    done
    return 1
}
scenario_scsi() {
    # shellcheck disable=SC2034 # offsets and nonce are blk_io's (init)
    offsets=$(param offsets 40,48,56,63) nonce=$(param nonce 0)
    wait_until "$(param wait_s 15)" scsi_disk >/dev/null || { fail "no SCSI disk on a virtio-scsi host"; return; }
    sd=$(scsi_disk)
    dev=$(readlink -f "/sys/block/$sd/device")
    vdev=$dev
    while [ "$vdev" != / ] && [ ! -e "$vdev/features" ]; do vdev=$(dirname "$vdev"); done
    result "scsi_disk=/dev/$sd scsi_hctl=$(basename "$dev") size_sectors=$(cat "/sys/block/$sd/size")" \
        "vendor=$(tr -d ' ' < "$dev/vendor") model=$(tr -d ' ' < "$dev/model")"
    result "features=$(cat "$vdev/features" 2>/dev/null)"
    blk_io "/dev/$sd" || return
    finish pass "pattern written and read back through virtio-scsi"
}
