#!/usr/bin/env bash
# A Linux guest's virtio-rng driver through the shim up-converting:
# QEMU 7.2 (vhost-user-rng-pci) -> vdpa-shim (up, check=compat-matrix) ->
# the reference vdpa-user back-end serving virtio-rng (peers/vdpa-backend
# --type rng, getrandom). The guest's hw_random must pick the virtio device;
# 64 KiB read from /dev/hwrng must look random (scenario_rng,
# tests/guest/scenarios/rng.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_vdpa_types.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-rng-up.XXXXXX)
trap 'vdpa_types_cleanup "$w"' EXIT

guest_prepare
guest_vdpa_backend "$w" --type rng
vdpa_types_shim "$w" rng
vdpa_guest_rng "$w" g
vdpa_types_end "$w"
bytes=$(vdpa_types_stat "$w" rng_bytes)
(( ${bytes:-0} >= VDPA_RNG_BYTES )) || fail "the back-end's statistics show $bytes random bytes, fewer than the guest read"
echo "PASS: guest virtio-rng -> QEMU ($GUEST_ACCEL) -> shim (up) -> vdpa-user rng back-end: $VDPA_RNG_BYTES bytes from /dev/hwrng, random-looking ($bytes bytes served)"
