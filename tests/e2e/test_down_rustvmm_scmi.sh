#!/usr/bin/env bash
# Down-conversion to rust-vmm's vhost-device-scmi (no x86 QEMU 7.2
# front-end exists for it) with its fake accelerometer (-d fake): the
# reference vdpa-user driver -> vdpa-shim -> vhost-device-scmi. No config
# space; on the command queue the driver sends the SCMI Base protocol's
# PROTOCOL_VERSION, PROTOCOL_ATTRIBUTES and DISCOVER_VENDOR and checks each
# answer (src/scmi.rs make_base_handlers: version 2.0, one protocol besides
# Base (sensor management), vendor "rust-vmm"). The back-end offers no
# REPLY_ACK (protocol features MQ only): this needs down-conversion over
# back-ends without REPLY_ACK (issue 17) and the scmi device type in the
# shim; without them the test fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/down_rustvmm.sh"
down_setup scmi
be_bin=$(down_backend_bin scmi) || exit

# With -d fake its standard output must be a pipe, not a file (README of
# ../shared/rust-vmm-peers): cat copies it to the log, and goes when the
# back-end does. No socket suffix.
"$be_bin" --socket-path "$w/be.sock" -d fake > >(cat >"$w/be.out") 2>"$w/be.log" &
BE_PID=$!
wait_for 10 test -S "$w/be.sock" || skip "vhost-device-scmi did not start: $(tail -n 3 "$w/be.log")"
down_shim_start "type=scmi,id=scmi0,backend=$w/be.sock"

down_run_driver --type scmi
grep -q '^vdpa-driver: scmi: Base protocol 2\.0, 1 protocol(s) besides Base, [0-9]* agent(s), vendor "rust-vmm"$' "$w/driver.out" ||
    fail "SCMI answers: $(grep 'scmi:' "$w/driver.out")"
down_check_trace scmi0 0
down_finish
echo "PASS: vdpa-driver -> shim (down) -> vhost-device-scmi: $(tail -n 1 "$w/driver.out" | sed 's/^vdpa-driver: //')"
