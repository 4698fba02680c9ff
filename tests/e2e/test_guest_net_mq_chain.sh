#!/usr/bin/env bash
# A Linux guest's multiqueue virtio-net through the up+down chain:
# QEMU (queues=4, mq=on) -> vdpa-shim #1 (up) -> vdpa-shim #2 (down,
# queue-pairs=4: it models the device and serves its control queue) ->
# DPDK testpmd net_vhost queues=4 (macswap). The guest enables all four
# pairs and sends frames on each (see test_guest_net_mq_passthrough.sh);
# shim #1 must turn QEMU's ring enables into VQ_PAIRS_SET on shim #2's
# control queue.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
. "$here/../guest/lib.sh"
trap 'guest_stop_all; shim_kill; guest_down_shim_stop; dpdk_stop_all' EXIT
frames=${GUEST_FRAMES:-50} pairs=4

guest_prepare
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR

guest_testpmd_be "$w" "$pairs"
guest_down_shim "$w" "type=net,queue-pairs=$pairs"
shim_start "$w/shim.log" --device "type=net,id=up0,frontend=$w/fe.sock,backend=$w/mid.sock,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "shim #1 did not create its socket"

GUEST_FAIL_HOOK=guest_down_shim_tail guest_net_mq "$w" g "$frames" 52:54:00:5e:00:08 "$pairs"
streams=$(guest_testpmd_streams "$frames")
(( streams == pairs )) || guest_fail "$w" g "$streams of testpmd's $pairs streams forwarded >= $frames frames"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "shim #1's session did not end after the guest powered off"
shim_stop
guest_down_shim_stop
echo "PASS: guest virtio-net mq=on -> QEMU ($GUEST_ACCEL) -> shim (up) -> shim (down) -> net_vhost queues=$pairs: every pair carried $frames frames both ways"
