#!/usr/bin/env bash
# A Linux guest's virtio-input driver through the shim up-converting:
# QEMU 10.0 from the Debian 13 root (vhost-user-input-pci, a legacy
# front-end that reads and writes the config space through GET_CONFIG and
# SET_CONFIG; TCG) -> vdpa-shim (up, check=compat-matrix) -> the reference
# vdpa-user back-end serving a virtio-input keyboard (peers/vdpa-backend
# --type input). QEMU 7.2 refuses the device without KVM ("vhost
# initialization failed: requires kvm") and KVM does not boot the guest
# here; a missing root skips (make peer-roots). VDPA_INPUT_QEMU_RELEASE=""
# runs the host's QEMU 7.2 (tests/guest/lib_vdpa_types.sh).
# The cloud guest finds the device by the back-end's ID_NAME, sees its
# ID_SERIAL, ID_DEVIDS and EV_KEY bitmap, and reads the key sequence the
# back-end injects from /dev/input/eventN (tests/guest/scenarios/input.sh,
# tests/guest/evread.c). The guest driver's select/subsel writes, which QEMU
# sends before the device starts, must reach the back-end as 2-byte
# SET_CONFIG before FEATURES_OK (docs/vdpa-user.md, "Early-writable fields").
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_vdpa_types.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-input-up.XXXXXX)
trap 'vdpa_types_cleanup "$w"' EXIT

vdpa_input_prepare
vdpa_input_backend "$w"
vdpa_types_shim "$w" input
vdpa_guest_input "$w" g
vdpa_input_early_config "$w/trace.txt" 'shim->be'
vdpa_types_end "$w"
events=$(vdpa_types_stat "$w" input_events)
(( ${events:-0} > 0 )) || fail "the back-end's statistics show no delivered event: $(cat "$w/backend.stats" 2>/dev/null)"
echo "QEMU's vhost-user-input: $(vdpa_input_qemu_summary "$w/trace.txt")"
echo "PASS: guest virtio-input -> QEMU $(guest_qemu_version | grep -o 'version [0-9.]*' | cut -d' ' -f2) ($GUEST_ACCEL) -> shim (up) -> vdpa-user input back-end: name, serial, ids, key bits and $events injected events; $VDPA_INPUT_EARLY of $VDPA_INPUT_SETCFG select/subsel writes before FEATURES_OK"
