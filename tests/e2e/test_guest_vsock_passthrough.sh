#!/usr/bin/env bash
# e2e: serial (rust-vmm vhost-user-backend 0.17 loses a kick that comes before SET_VRING_ENABLE, docs/peers.md; pass-through relays the timing as it is, and a neighbour test widens that window: a gpio guest hung so in CI)
# A Linux guest's virtio-vsock driver through the shim in pass-through:
# QEMU -> vdpa-shim (pass-through) -> vhost-device-vsock (hybrid)
# (vhost-user-vsock-pci; rust-vmm back-end, /work/shared/rust-vmm-peers).
# The guest has the back-end's CID (4, its config space) and exchanges 256 KiB
# with a host unix-socket listener (vsock_host.py) over CID 2: what the guest
# sent is checked by the host, what came back (each byte XOR 0xa5) by the
# guest (types_guest_vsock, tests/guest/scenarios/vsock.sh, vsock_xfer.c).
# Every shim runs with check=compat-matrix: a `: check: ` line in a log fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_types.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-vsock-passthrough.XXXXXX)
trap 'types_cleanup "$w"' EXIT

guest_prepare
types_vsock_be "$w" 4
types_shims "$w" vsock pass
types_guest_vsock "$w" g 4
types_end "$w" pass
echo "PASS: guest virtio-vsock -> QEMU ($GUEST_ACCEL) -> shim (pass-through) -> vhost-device-vsock: CID 4, 256 KiB both ways checked byte for byte"
