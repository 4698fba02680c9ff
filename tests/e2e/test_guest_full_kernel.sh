#!/usr/bin/env bash
# The full test guest (GUEST_FLAVOUR=full, docs/guests.md): the Debian 12
# generic kernel with virtio-gpu and i2c-dev from the package and the
# gpio-virtio and i2c-virtio drivers built out of tree at guest-build time.
# The guest boots with no device (scenario probe-full,
# tests/guest/scenarios/probe_full.sh) and reports its modules and the
# drivers registered on the virtio bus. Asserted: every module of the load
# order loaded (the out-of-tree ones too: same vermagic, accepted unsigned),
# and virtio_gpu, gpio_virtio and i2c_virtio are registered drivers; the
# taint an unsigned module sets is reported, not asserted (a kernel that
# enforces signatures would refuse the module, which the first check sees).
# Skips (77) where the packages cannot be downloaded or QEMU cannot boot it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-full.XXXXXX)
trap 'guest_stop_all; guest_cleanup_dir "$w"' EXIT

guest_prepare full
out=$(guest_run "$w" g probe-full "") || guest_fail "$w" g "$out"
echo "$out"
[[ $(guest_result "$w" g kernel) == *-amd64 && $(guest_result "$w" g kernel) != *cloud* ]] ||
    guest_fail "$w" g "not the generic kernel: $(guest_result "$w" g kernel)"
[[ $(guest_result "$w" g modules_missing) == none ]] ||
    guest_fail "$w" g "modules not loaded: $(guest_result "$w" g modules_missing)"
drivers=",$(guest_result "$w" g virtio_drivers),"
for d in virtio_gpu gpio_virtio i2c_virtio; do
    [[ $drivers == *",$d,"* ]] || guest_fail "$w" g "driver $d is not registered on the virtio bus: ${drivers//,/ }"
done
[[ $(guest_result "$w" g status) == pass ]] || guest_fail "$w" g "guest: $(guest_result "$w" g reason)"
echo "PASS: full guest $(guest_result "$w" g kernel): virtio drivers $(guest_result "$w" g virtio_drivers); tainted=$(guest_result "$w" g tainted) (sig_msg=$(guest_result "$w" g sig_msg))"
