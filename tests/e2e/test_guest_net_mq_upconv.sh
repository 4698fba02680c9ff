#!/usr/bin/env bash
# A Linux guest's multiqueue virtio-net through the shim up-converting:
# QEMU (-netdev vhost-user,queues=4, -device virtio-net-pci,mq=on) ->
# vdpa-shim -> the reference vdpa-user back-end (--queue-pairs 4, loopback:
# a frame comes back on the pair it was sent on). QEMU serves the guest's
# control queue and enables the back-end's rings with SET_VRING_ENABLE; the
# back-end has a control queue of its own and runs only one pair until
# VQ_PAIRS_SET on it, which the shim must send. The guest enables all four
# pairs and sends frames on each (see test_guest_net_mq_passthrough.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-mq-up.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_backend_stop; guest_cleanup_dir "$w"' EXIT
frames=${GUEST_FRAMES:-50} pairs=4

guest_prepare
guest_vdpa_backend "$w" --type net --net-mode loopback --queue-pairs "$pairs"
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

guest_net_mq "$w" g "$frames" 52:54:00:5e:00:07 "$pairs"
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "the shim did not up-convert"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
shim_stop
guest_backend_stop
echo "back-end counters: $(tr '\n' ' ' < "$w/backend.stats" 2>/dev/null)"
echo "PASS: guest virtio-net mq=on -> QEMU ($GUEST_ACCEL) -> shim (up) -> vdpa-user net back-end, $pairs pairs: every pair carried $frames frames both ways"
