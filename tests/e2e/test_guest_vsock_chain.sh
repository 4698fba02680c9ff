#!/usr/bin/env bash
# A Linux guest's virtio-vsock driver through the up+down chain:
# QEMU -> vdpa-shim #1 (up) -> vdpa-shim #2 (down) -> vhost-device-vsock (hybrid)
# (vhost-user-vsock-pci; rust-vmm back-end, /work/shared/rust-vmm-peers).
# The guest has the back-end's CID (4, its config space) and exchanges 256 KiB
# with a host unix-socket listener (vsock_host.py) over CID 2: what the guest
# sent is checked by the host, what came back (each byte XOR 0xa5) by the
# guest (types_guest_vsock, tests/guest/scenarios/vsock.sh, vsock_xfer.c).
# Shim #1 must up-convert and shim #2 down-convert (their traces say so);
# a chain that falls back to pass-through fails.
# Every shim runs with check=compat-matrix: a `: check: ` line in a log fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_types.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-vsock-chain.XXXXXX)
trap 'types_cleanup "$w"' EXIT

guest_prepare
types_vsock_be "$w" 4
types_shims "$w" vsock chain
types_guest_vsock "$w" g 4
types_end "$w" chain
echo "PASS: guest virtio-vsock -> QEMU ($GUEST_ACCEL) -> shim (up) -> shim (down) -> vhost-device-vsock: CID 4, 256 KiB both ways checked byte for byte"
