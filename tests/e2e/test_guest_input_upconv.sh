#!/usr/bin/env bash
# A Linux guest's virtio-input driver through the shim up-converting:
# QEMU 7.2 (vhost-user-input-pci, a legacy front-end that reads and writes
# the config space through GET_CONFIG/SET_CONFIG) -> vdpa-shim (up,
# check=compat-matrix) -> the reference vdpa-user back-end serving a
# virtio-input keyboard (peers/vdpa-backend --type input). The guest finds
# the device by the back-end's ID_NAME, sees its ID_SERIAL, ID_DEVIDS and
# EV_KEY bitmap, and reads the key sequence the back-end injects from
# /dev/input/eventN (tests/guest/scenarios/input.sh, tests/guest/evread.c).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_vdpa_types.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-input-up.XXXXXX)
trap 'vdpa_types_cleanup "$w"' EXIT

guest_prepare
vdpa_input_backend "$w"
vdpa_types_shim "$w" input
vdpa_guest_input "$w" g
grep -q 'shim->be SET_CONFIG' "$w/trace.txt" ||
    guest_fail "$w" g "no driver write of select/subsel reached the back-end"
vdpa_types_end "$w"
events=$(vdpa_types_stat "$w" input_events)
(( ${events:-0} > 0 )) || fail "the back-end's statistics show no delivered event: $(cat "$w/backend.stats" 2>/dev/null)"
echo "PASS: guest virtio-input -> QEMU ($GUEST_ACCEL) -> shim (up) -> vdpa-user input back-end: name, serial, ids, key bits and $events injected events"
