#!/usr/bin/env bash
# Down-conversion to rust-vmm's vhost-device-gpio with its simulated chip
# (-l s8: 8 lines): the reference vdpa-user driver -> vdpa-shim ->
# vhost-device-gpio. The back-end has F_CONFIG and REPLY_ACK: the shim
# forwards its config space (ngpio 8, the names' size), which the driver
# reads with GET_CONFIG. On the request queue the driver asks for the line
# names, sets line 5 as an output with value 1, reads direction and value
# back, sets 0 and reads it back (VIRTIO 1.2 5.18); the chip's own log shows
# what reached it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/down_rustvmm.sh"
down_setup gpio
be_bin=$(down_backend_bin gpio) || exit

# RUST_LOG=info: the simulated chip logs each value and direction it is set to.
down_backend_start env RUST_LOG=info "$be_bin" --socket-path "$w/be.sock" -l s8
# The back-end appends 0 to the socket name.
wait_for 10 test -S "$w/be.sock0" || skip "vhost-device-gpio did not start: $(tail -n 3 "$w/be.log")"

# No queue-size=: the shim shows gpio's ring limit (256, lib/proto/device_types.c),
# which vhost-device-gpio needs (it fails a larger SET_VRING_NUM).
down_shim_start "type=gpio,id=gpio0,backend=$w/be.sock0"

line=5
down_run_driver --type gpio --gpio-line "$line"
# The simulated chip names its lines dummy0..dummyN-1 (src/mock_gpio.rs).
grep -q '^vdpa-driver: config: ngpio 8, gpio_names_size 56$' "$w/driver.out" ||
    fail "config space: $(grep 'config:' "$w/driver.out") (expected ngpio 8, 8 names of 7 bytes)"
grep -q "^vdpa-driver: gpio: line $line is \"dummy$line\"\$" "$w/driver.out" || fail "line name: $(grep 'is "' "$w/driver.out")"
grep -q "^vdpa-driver: gpio: line $line set out, value 1 then 0 read back: match\$" "$w/driver.out" ||
    fail "gpio summary: $(tail -n 1 "$w/driver.out")"
# What the back-end's chip did, in order (src/mock_gpio.rs logs it).
grep -o "gpio dummy$line set .*" "$w/be.log" >"$w/be.did" || true
printf 'gpio dummy%s set value to 1\ngpio dummy%s set direction to 1\ngpio dummy%s set value to 0\n' "$line" "$line" "$line" |
    cmp -s - "$w/be.did" || fail "the back-end's chip saw: $(tr '\n' ';' <"$w/be.did")"

down_check_trace gpio0 0
grep -q 'gpio0 be->shim GET_CONFIG reply offset=0 size=8' "$w/trace.txt" || fail "the config space was not read from the back-end"
grep -q 'gpio0 shim->fe GET_CONFIG reply offset=0 size=8' "$w/trace.txt" || fail "the driver did not get the 8-byte config space"
down_finish
echo "PASS: vdpa-driver -> shim (down) -> vhost-device-gpio: ngpio 8 from the back-end's config; line $line set, read back 1 and 0"
