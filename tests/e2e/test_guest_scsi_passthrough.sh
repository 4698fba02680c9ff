#!/usr/bin/env bash
# e2e: serial (rust-vmm vhost-user-backend 0.17 loses a kick that comes before SET_VRING_ENABLE, docs/peers.md; pass-through relays the timing as it is, and a neighbour test widens that window: a gpio guest hung so in CI)
# A Linux guest's virtio-scsi driver through the shim in pass-through:
# QEMU -> vdpa-shim (pass-through) -> vhost-device-scsi
# (vhost-user-scsi-pci; rust-vmm back-end, /work/shared/rust-vmm-peers).
# The guest finds the LUN (sd_mod: /dev/sdX), writes the blk scenario's
# pattern at four offsets with O_DIRECT, flushes, reads it back; the host
# finds the pattern in the image (types_guest_scsi, scenarios/scsi.sh).
# vhost-device-scsi exits when its front-end disconnects.
# Every shim runs with check=compat-matrix: a `: check: ` line in a log fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_types.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-scsi-passthrough.XXXXXX)
trap 'types_cleanup "$w"' EXIT

guest_prepare
truncate -s 64M "$w/disk.img"
types_scsi_be "$w" "$w/disk.img"
types_shims "$w" scsi pass
types_guest_scsi "$w" g "$w/disk.img"
types_end "$w" pass
echo "PASS: guest virtio-scsi -> QEMU ($GUEST_ACCEL) -> shim (pass-through) -> vhost-device-scsi: LUN found, O_DIRECT pattern checked in the image"
