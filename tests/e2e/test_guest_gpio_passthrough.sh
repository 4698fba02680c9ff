#!/usr/bin/env bash
# e2e: serial (rust-vmm vhost-user-backend 0.17 loses a kick that comes before SET_VRING_ENABLE, docs/peers.md; pass-through relays the timing as it is, and a neighbour test widens that window: a gpio guest hung so in CI)
# A Linux guest's virtio-gpio driver through the shim in pass-through:
# QEMU -> vdpa-shim (pass-through) -> vhost-device-gpio
# with its simulated chip of 8 lines (-l s8)
# (vhost-user-gpio-pci; rust-vmm back-end, /work/shared/rust-vmm-peers), on
# the full guest (Debian 12's generic kernel; gpio-virtio built out of tree).
# The guest's gpio_virtio driver must show the back-end's 8 lines and their
# names (dummy0..dummy7); gpioctl holds line 5 as an output set to 1, then 0,
# each read back; the back-end's log must show the sets (gi_guest_gpio,
# tests/guest/scenarios/gpio.sh).
# Every shim runs with check=compat-matrix: a `: check: ` line in a log fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_types.sh"
. "$here/../guest/lib_gpio_i2c.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-gpio-passthrough.XXXXXX)
trap 'gi_cleanup "$w"' EXIT

guest_prepare full
gi_be "$w" gpio
gi_shims "$w" gpio pass
gi_guest_gpio "$w" g
gi_frontend_report "$w" gpio
gi_end "$w" pass
echo "PASS: guest virtio-gpio -> QEMU ($GUEST_ACCEL) -> shim (pass-through) -> vhost-device-gpio: 8 lines dummy0..dummy7, line 5 set and read back 1 and 0, the chip saw both"
