#!/usr/bin/env bash
# A Linux guest's multiqueue virtio-net through the shim in pass-through:
# QEMU (-netdev vhost-user,queues=4, -device virtio-net-pci,mq=on) ->
# vdpa-shim -> DPDK testpmd net_vhost queues=4 (--rxq=4 --txq=4, macswap).
# QEMU brings each pair up as its own vhost device on the same socket; the
# guest (one CPU, so its driver enables one pair by itself) enables all four
# through its control queue (ETHTOOL_SCHANNELS -> VQ_PAIRS_SET, served by
# QEMU, which enables the back-end's rings) and sends frames on each pair's
# transmit queue; each pair's counters in the guest and each testpmd stream
# must show them.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
. "$here/../guest/lib.sh"
trap 'guest_stop_all; shim_kill; dpdk_stop_all' EXIT
frames=${GUEST_FRAMES:-50} pairs=4

guest_prepare
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR

guest_testpmd_be "$w" "$pairs"
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

guest_net_mq "$w" g "$frames" 52:54:00:5e:00:06 "$pairs"
streams=$(guest_testpmd_streams "$frames")
(( streams == pairs )) || guest_fail "$w" g "$streams of testpmd's $pairs streams forwarded >= $frames frames"
for (( r = 0; r < 2 * pairs; r++ )); do
    grep -q "net0 fe->be SET_VRING_ENABLE index=$r num=1" "$w/trace.txt" || guest_fail "$w" g "ring $r was never enabled"
done
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
shim_stop
echo "PASS: guest virtio-net mq=on -> QEMU ($GUEST_ACCEL) -> shim (pass-through) -> net_vhost queues=$pairs: every pair carried $frames frames both ways"
