#!/usr/bin/env bash
# e2e: serial (rust-vmm vhost-user-backend 0.17 loses a kick that comes before SET_VRING_ENABLE, docs/peers.md; pass-through relays the timing as it is, and a neighbour test widens that window: a gpio guest hung so in CI)
# A Linux guest's virtio-sound through the shim in pass-through:
# QEMU 10.0 from the Debian 13 root (vhost-user-snd-pci; TCG) -> vdpa-shim
# (pass-through) -> rust-vmm's vhost-device-sound (--backend null). The
# trixie guest (Debian 13's kernel, virtio_snd) must bind the device and
# show an ALSA card whose playback and capture substreams are the streams
# the back-end's config space announces (sound_guest,
# tests/guest/lib_sound.sh; scenario tests/guest/scenarios/sound.sh).
# The shim runs with check=compat-matrix: a `: check: ` line in its log fails.
# Skips (77) when the root is not built (make peer-roots), the back-end is
# not built (make peers) or the guest cannot be built.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_sound.sh"
sound_retry_once "${BASH_SOURCE[0]}"
w=$(mktemp -d /tmp/vdpa-shim-guest-sound-passthrough.XXXXXX)
trap 'sound_cleanup "$w"' EXIT

sound_prepare
sound_be "$w"
sound_shims "$w" pass
sound_guest "$w" g
types_end "$w" pass
echo "PASS: guest virtio-sound -> QEMU 10.0 ($GUEST_ACCEL) -> shim (pass-through) -> vhost-device-sound: the card and its $SOUND_PLAYBACK playback + $SOUND_CAPTURE capture streams"
