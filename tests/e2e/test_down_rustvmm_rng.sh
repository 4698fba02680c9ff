#!/usr/bin/env bash
# Down-conversion to rust-vmm's vhost-device-rng: the reference vdpa-user
# driver -> vdpa-shim -> vhost-device-rng. The back-end offers no REPLY_ACK
# (protocol features MQ only) and no config space; the driver reads 64 KiB
# from the request queue and checks the byte count and that the bytes are
# not all equal. Needs down-conversion over back-ends without REPLY_ACK
# (issue 17): without it the shim offers no F_VDPA over this back-end and
# the test fails at the driver's protocol-feature check.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/down_rustvmm.sh"
down_setup rng
be_bin=$(down_backend_bin rng) || exit

down_backend_start "$be_bin" --socket-path "$w/be.sock"
# The back-end appends 0 to the socket name.
wait_for 10 test -S "$w/be.sock0" || skip "vhost-device-rng did not start: $(tail -n 3 "$w/be.log")"
down_shim_start "type=rng,id=rng0,backend=$w/be.sock0"

bytes=65536
down_run_driver --type rng --count "$bytes"
grep -qE "^vdpa-driver: rng: read $bytes bytes in [0-9]+ requests, not all equal\$" "$w/driver.out" ||
    fail "rng summary: $(tail -n 1 "$w/driver.out")"
down_check_trace rng0 0
grep -qE 'rng0 shim->be GET_CONFIG' "$w/trace.txt" && fail "the shim asked a back-end without F_CONFIG for its config"
down_finish
echo "PASS: vdpa-driver -> shim (down) -> vhost-device-rng: $(tail -n 1 "$w/driver.out" | sed 's/^vdpa-driver: //')"
