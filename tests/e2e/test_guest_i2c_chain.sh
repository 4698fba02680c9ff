#!/usr/bin/env bash
# A Linux guest's virtio-i2c driver through the up+down chain:
# QEMU -> vdpa-shim #1 (up) -> vdpa-shim #2 (down) -> vhost-device-i2c
# with the fake adapter (VHOST_I2C_FAKE=1, -l 1:32: one client at 0x20)
# (vhost-user-i2c-pci; rust-vmm back-end, /work/shared/rust-vmm-peers), on
# the full guest (Debian 12's generic kernel; i2c-virtio built out of tree).
# The guest's i2c_virtio adapter (/dev/i2c-N from i2c_dev) reads 8 bytes at
# 0x20, plain and after a register write (I2C_RDWR), and gets the fake
# adapter's zeros; a read at 0x21, which nobody serves, must fail
# (gi_guest_i2c, tests/guest/scenarios/i2c.sh).
# Shim #1 must up-convert and shim #2 down-convert (their traces say so);
# a chain that falls back to pass-through fails.
# Every shim runs with check=compat-matrix: a `: check: ` line in a log fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_types.sh"
. "$here/../guest/lib_gpio_i2c.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-i2c-chain.XXXXXX)
trap 'gi_cleanup "$w"' EXIT

guest_prepare full
gi_be "$w" i2c
gi_shims "$w" i2c chain
gi_guest_i2c "$w" g
gi_frontend_report "$w" i2c
gi_end "$w" chain
echo "PASS: guest virtio-i2c -> QEMU ($GUEST_ACCEL) -> shim (up) -> shim (down) -> vhost-device-i2c: zeros read at 0x20 (plain and register read), the read at 0x21 refused"
