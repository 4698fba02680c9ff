#!/usr/bin/env bash
# e2e: serial (rust-vmm vhost-user-backend 0.17 loses a kick that comes before SET_VRING_ENABLE, docs/peers.md; pass-through relays the timing as it is, and a neighbour test widens that window: a gpio guest hung so in CI)
# A Linux guest's virtio-rng driver through the shim in pass-through:
# QEMU -> vdpa-shim (pass-through) -> vhost-device-rng
# (vhost-user-rng-pci; rust-vmm back-end, /work/shared/rust-vmm-peers).
# The guest's hw_random core must pick the virtio device; 64 KiB read from
# /dev/hwrng must look random (types_guest_rng, tests/guest/scenarios/rng.sh).
# Every shim runs with check=compat-matrix: a `: check: ` line in a log fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_types.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-rng-passthrough.XXXXXX)
trap 'types_cleanup "$w"' EXIT

guest_prepare
types_rng_be "$w"
types_shims "$w" rng pass
types_guest_rng "$w" g
types_end "$w" pass
echo "PASS: guest virtio-rng -> QEMU ($GUEST_ACCEL) -> shim (pass-through) -> vhost-device-rng: 64 KiB from /dev/hwrng, random-looking"
