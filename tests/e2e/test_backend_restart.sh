#!/usr/bin/env bash
# Back-end restart under traffic: DPDK virtio-user -> vdpa-shim (pass-through,
# backend-mode=connect) -> DPDK net_vhost. While virtio-user generates
# packets, net_vhost is killed (SIGKILL) and a new one started on the same
# socket. The shim holds virtio-user (which keeps its connection and never
# learns of it), reconnects with backoff, replays the session (features,
# memory table, rings with the used index read from guest memory) and
# packets flow again between the same virtio-user and the new net_vhost.
# Then a second restart, to show that the replayed session is itself
# journalled. Nothing leaks once virtio-user quits.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
trap 'shim_kill; dpdk_stop_all' EXIT

dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR
be="$w/be.sock"; fe="$w/fe.sock"

# fe_rx: packets virtio-user has received so far.
fe_rx() { local rx tx; read -r rx tx < <(dpdk_port_stats fe) && echo "$rx"; }
# rx_grows SECONDS: virtio-user receives packets within SECONDS.
rx_grows() {
    local before after deadline=$((SECONDS + $1))
    before=$(fe_rx) || return 1
    while (( SECONDS < deadline )); do
        sleep 0.5
        after=$(fe_rx) || return 1
        (( after > before + 1000 )) && { echo "$((after - before))"; return 0; }
    done
    return 1
}
# kill_backend NAME: SIGKILL, as a crash; start_backend NAME: a new one on
# the same socket, given the session by the shim, forwarding again.
kill_backend() {
    local name=$1 pid=${_DPDK_PID[$1]}
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    dpdk_stop "$name"
}
restored() { grep -c 'session restored on the new back-end' "$w/shim.log" || true; }
restored_more_than() { (( $(restored) > $1 )); }
held_more_than() { (( $(grep -c "back-end $be gone; the front-end is held" "$w/shim.log") > $1 )); }
fds_back_to() { fds_are "$_SHIM_PID" "$1"; }
start_backend() {
    local name=$1 before
    before=$(restored)
    dpdk_start_vhost_backend "$name" "$be" 1 || fail "net_vhost $name did not start"
    wait_for 20 restored_more_than "$before" || fail "the shim did not restore the session on $name"
    dpdk_wait_link "$name" 15 || fail "$name: link down after the replay"
    dpdk_cmd_output "$name" "set fwd io" >/dev/null && dpdk_cmd_output "$name" "start" >/dev/null ||
        fail "$name: cannot start forwarding"
}

dpdk_start_vhost_backend be1 "$be" 1 || fail "net_vhost did not start"
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$fe,backend=$be,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace.txt"
wait_for 5 test -S "$fe" || fail "the shim did not create $fe"
fds_idle=$(fd_count "$_SHIM_PID")

dpdk_start_virtio_user fe "$fe" 1 || fail "virtio-user did not start"
dpdk_wait_link fe 15 || fail "virtio-user link down"
dpdk_wait_link be1 15 || fail "net_vhost link down"
# virtio-user generates packets the whole time; net_vhost echoes them.
dpdk_cmd_output be1 "set fwd io" >/dev/null && dpdk_cmd_output be1 "start" >/dev/null
dpdk_cmd_output fe "set fwd flowgen" >/dev/null && dpdk_cmd_output fe "start" >/dev/null
n=$(rx_grows 10) || fail "no traffic before the restart"
echo "before: virtio-user received $n packets in a moment"

for name in be2 be3; do
    kill_backend "$([[ $name == be2 ]] && echo be1 || echo be2)"
    wait_for 5 held_more_than "$(restored)" || fail "the shim did not hold the front-end"
    # the back-end is gone: virtio-user stays connected and up, its RX stalls
    dpdk_wait_link fe 2 || fail "virtio-user lost its link while the back-end was away"
    sleep 1 # the shim retries with backoff while nothing listens
    start_backend "$name"
    n=$(rx_grows 10) || fail "no traffic after $name took over"
    echo "after the restart on $name: virtio-user received $n more packets"
done

grep -q 'net0 shim->be SET_MEM_TABLE.*replayed' "$w/trace.txt" || fail "trace lacks the replayed memory table"
grep -q 'net0 shim->be SET_VRING_BASE.*replayed' "$w/trace.txt" || fail "trace lacks the replayed ring base"
! grep -q 'session ended' "$w/shim.log" || fail "the session ended during a restart: $(grep 'session ended' "$w/shim.log")"
# virtio-user never saw its back-end go
! grep -qiE 'disconnect|failed' "$w/fe.log" || fail "virtio-user noticed: $(grep -iE 'disconnect|failed' "$w/fe.log" | head -3)"

dpdk_cmd_output fe "stop" >/dev/null || true
dpdk_stop fe
wait_for 10 grep -q "session ended" "$w/shim.log" || fail "session did not end after virtio-user quit"
wait_for 5 fds_back_to "$fds_idle" ||
    fail "shim holds $(fd_count "$_SHIM_PID") fds after the session, $fds_idle before"
shim_stop
echo "PASS: net_vhost killed and restarted twice under traffic; virtio-user kept running and its packets flow through the new back-end"
