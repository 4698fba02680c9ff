#!/usr/bin/env bash
# DPDK virtio-user (legacy front-end) -> vdpa-shim (pass-through) -> DPDK
# net_vhost (legacy back-end). Packets must flow both ways, peer to peer,
# while the shim relays and validates the control plane; the decoded trace
# must show the bring-up; the shim must leak no fd and exit cleanly.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
trap 'shim_kill; dpdk_stop_all' EXIT

dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR
be="$w/be.sock"; fe="$w/fe.sock"

dpdk_start_vhost_backend be "$be" 1 || fail "net_vhost did not start"
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$fe,backend=$be,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$fe" || fail "the shim did not create $fe"
fds_idle=$(fd_count "$_SHIM_PID")

dpdk_start_virtio_user fe "$fe" 1 || fail "virtio-user did not start"
dpdk_wait_link fe 15 || fail "virtio-user link down"
dpdk_wait_link be 15 || fail "net_vhost link down"
dpdk_traffic_check fe be 2 || fail "packets did not flow both ways through the shim"

# The control plane went through the shim: the whole bring-up is in the trace.
for req in GET_FEATURES SET_FEATURES SET_MEM_TABLE SET_VRING_ADDR SET_VRING_KICK SET_VRING_CALL; do
    grep -q "net0 fe->be $req" "$w/trace.txt" || fail "trace lacks $req"
done
grep -q 'SET_MEM_TABLE .*fds=\[memfd' "$w/trace.txt" || fail "memory table fd not a memfd in the trace"
grep -q 'SET_VRING_KICK .*fds=\[eventfd\]' "$w/trace.txt" || fail "kick fd not an eventfd in the trace"

# The front-end goes: the session ends, the back-end is released, no fd leaks.
dpdk_stop fe
wait_for 10 grep -q "session ended" "$w/shim.log" || fail "session did not end after virtio-user quit"
wait_for 5 fds_are "$_SHIM_PID" "$fds_idle" ||
    fail "shim holds $(fd_count "$_SHIM_PID") fds after the session, $fds_idle before"

# SIGTERM under a live session: the back-end's connection is closed (which
# resets its device), the shim exits 0 and removes its socket.
dpdk_start_virtio_user fe2 "$fe" 1 || fail "a second virtio-user did not start"
dpdk_wait_link fe2 15 || fail "the second virtio-user's link is down"
closed_before=$(grep -c "vhost peer closed" "${_DPDK_LOG[be]}" || true)
shim_stop
wait_for 5 count_at_least "${_DPDK_LOG[be]}" "vhost peer closed" $((closed_before + 1)) ||
    fail "net_vhost's session was not closed when the shim was told to stop"
[[ ! -e $fe ]] || fail "the shim left its socket $fe behind"
echo "PASS: DPDK virtio-user <-> shim <-> net_vhost: $(grep -c . "$w/trace.txt") messages relayed"
