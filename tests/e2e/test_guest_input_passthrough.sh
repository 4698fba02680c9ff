#!/usr/bin/env bash
# A Linux guest's virtio-input driver through two shims, the second one in
# pass-through: QEMU 10.0 from the Debian 13 root (vhost-user-input-pci;
# TCG) -> shim #1 (W/fe.sock -> W/mid.sock) -> shim #2 (W/mid.sock ->
# W/be.sock) -> the reference vdpa-user input back-end (peers/vdpa-backend
# --type input), each shim with check=compat-matrix. A missing root skips
# (make peer-roots).
# Which shim does what follows from the mode table (docs/architecture.md,
# "Modes"): until its front-end's SET_PROTOCOL_FEATURES, shim #2 relays the
# back-end's offer, F_VDPA included, so shim #1 sees a vdpa-user back-end
# and up-converts for QEMU, and shim #2, with vdpa-user on both sides,
# relays in pass-through. (No shim presents a legacy back-end here: a
# QEMU -> shim (pass-through) -> shim (up) chain does not arise.) The test
# asserts both modes, the guest's checks of tests/e2e/test_guest_input_upconv.sh,
# and that the early select/subsel writes crossed shim #2 as vdpa-user
# SET_CONFIG before FEATURES_OK.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_vdpa_types.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-input-pass.XXXXXX)
trap 'vdpa_types_cleanup "$w"' EXIT

vdpa_input_prepare
vdpa_input_backend "$w"
vdpa_types_shim2 "$w" input
vdpa_types_shim "$w" input "$w/mid.sock"
vdpa_guest_input "$w" g
grep -q 'vdpa-user on both sides: relaying in pass-through' "$w/shim2.log" ||
    guest_fail "$w" g "shim #2 did not relay in pass-through: $(grep -m1 -E 'conversion|pass-through' "$w/shim2.log")"
vdpa_input_early_config "$w/trace2.txt" 'fe->be'
vdpa_types_shim2_stop "$w"
vdpa_types_end "$w"
events=$(vdpa_types_stat "$w" input_events)
(( ${events:-0} > 0 )) || fail "the back-end's statistics show no delivered event: $(cat "$w/backend.stats" 2>/dev/null)"
echo "QEMU's vhost-user-input: $(vdpa_input_qemu_summary "$w/trace.txt")"
echo "PASS: guest virtio-input -> QEMU $(guest_qemu_version | grep -o 'version [0-9.]*' | cut -d' ' -f2) ($GUEST_ACCEL) -> shim #1 (up) -> shim #2 (pass-through, vdpa-user) -> vdpa-user input back-end: name, serial, ids, key bits and $events injected events; $VDPA_INPUT_EARLY of $VDPA_INPUT_SETCFG select/subsel writes crossed shim #2 before FEATURES_OK"
