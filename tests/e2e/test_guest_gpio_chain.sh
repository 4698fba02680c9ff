#!/usr/bin/env bash
# A Linux guest's virtio-gpio driver through the up+down chain:
# QEMU -> vdpa-shim #1 (up) -> vdpa-shim #2 (down) -> vhost-device-gpio
# with its simulated chip of 8 lines (-l s8)
# (vhost-user-gpio-pci; rust-vmm back-end, /work/shared/rust-vmm-peers), on
# the full guest (Debian 12's generic kernel; gpio-virtio built out of tree).
# The guest's gpio_virtio driver must show the back-end's 8 lines and their
# names (dummy0..dummy7); gpioctl holds line 5 as an output set to 1, then 0,
# each read back; the back-end's log must show the sets (gi_guest_gpio,
# tests/guest/scenarios/gpio.sh).
# Shim #1 must up-convert and shim #2 down-convert (their traces say so);
# a chain that falls back to pass-through fails.
# Shim #2 gets queue-size=256: the back-end's rings hold at most 256 entries
# and vhost-user cannot ask (shim #2 would answer VDPA_GET_VRING_NUM with 1024).
# Every shim runs with check=compat-matrix: a `: check: ` line in a log fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_types.sh"
. "$here/../guest/lib_gpio_i2c.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-gpio-chain.XXXXXX)
trap 'gi_cleanup "$w"' EXIT

guest_prepare full
gi_be "$w" gpio
gi_shims "$w" gpio chain queue-size=256
gi_guest_gpio "$w" g
gi_frontend_report "$w" gpio
gi_end "$w" chain
echo "PASS: guest virtio-gpio -> QEMU ($GUEST_ACCEL) -> shim (up) -> shim (down) -> vhost-device-gpio: 8 lines dummy0..dummy7, line 5 set and read back 1 and 0, the chip saw both"
