#!/usr/bin/env bash
# e2e: serial (rust-vmm vhost-user-backend 0.17 loses a kick that comes before SET_VRING_ENABLE, docs/peers.md; pass-through relays the timing as it is, and a neighbour test widens that window: a gpio guest hung so in CI)
# A Linux guest's virtio-i2c driver through the shim in pass-through:
# QEMU -> vdpa-shim (pass-through) -> vhost-device-i2c
# with the fake adapter (VHOST_I2C_FAKE=1, -l 1:32: one client at 0x20)
# (vhost-user-i2c-pci; rust-vmm back-end, /work/shared/rust-vmm-peers), on
# the full guest (Debian 12's generic kernel; i2c-virtio built out of tree).
# The guest's i2c_virtio adapter (/dev/i2c-N from i2c_dev) reads 8 bytes at
# 0x20, plain and after a register write (I2C_RDWR), and gets the fake
# adapter's zeros; a read at 0x21, which nobody serves, must fail
# (gi_guest_i2c, tests/guest/scenarios/i2c.sh).
# Every shim runs with check=compat-matrix: a `: check: ` line in a log fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_types.sh"
. "$here/../guest/lib_gpio_i2c.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-i2c-passthrough.XXXXXX)
trap 'gi_cleanup "$w"' EXIT

guest_prepare full
gi_be "$w" i2c
gi_shims "$w" i2c pass
gi_guest_i2c "$w" g
gi_frontend_report "$w" i2c
gi_end "$w" pass
echo "PASS: guest virtio-i2c -> QEMU ($GUEST_ACCEL) -> shim (pass-through) -> vhost-device-i2c: zeros read at 0x20 (plain and register read), the read at 0x21 refused"
