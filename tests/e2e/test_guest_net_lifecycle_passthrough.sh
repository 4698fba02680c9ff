#!/usr/bin/env bash
# A Linux guest's virtio-net device life cycle through the shim in
# pass-through (QEMU -> vdpa-shim -> testpmd net_vhost, macswap): traffic, the
# driver unbound and rebound, a guest reboot, QEMU quitting during a boot,
# QMP system_reset; traffic must flow intact after every step
# (guest_net_lifecycle in tests/guest/lib.sh), and the shim must end each
# session and return to its idle fds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
. "$here/../guest/lib.sh"
trap 'guest_stop_all; shim_kill; dpdk_stop_all' EXIT
frames=${GUEST_FRAMES:-100}

guest_prepare
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR

dpdk_start_vhost_backend be "$w/be.sock" 1 || fail "net_vhost did not start"
dpdk_cmd_output be "set fwd macswap" >/dev/null || fail "testpmd: set fwd macswap"
dpdk_cmd_output be "start" >/dev/null || fail "testpmd: start"
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
fds_idle=$(fd_count "$_SHIM_PID")

guest_net_lifecycle "$w" "$frames" 52:54:00:5e:00:04
wait_for 10 count_at_least "$w/shim.log" "session ended" 2 || guest_fail "$w" lc2 "the shim did not end both sessions"
wait_for 5 fds_are "$_SHIM_PID" "$fds_idle" ||
    guest_fail "$w" lc2 "shim holds $(fd_count "$_SHIM_PID") fds after the guests, $fds_idle before"
shim_stop
echo "PASS: guest virtio-net life cycle (rebind, reboot, quit, system_reset) through the shim (pass-through)"
