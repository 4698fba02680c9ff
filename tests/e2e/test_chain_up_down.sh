#!/usr/bin/env bash
# The headline test that both translations are right, with unchanged
# programs at both ends:
#   DPDK virtio-user (legacy front-end) -> vdpa-shim #1 (up-conversion)
#   -> vdpa-shim #2 (down-conversion) -> DPDK net_vhost (legacy back-end)
# Between the two shims the protocol is vdpa-user: shim #1 drives the VIRTIO
# device model, shim #2 presents it on behalf of net_vhost. testpmd's
# counters on both ends must show packets both ways, and each shim's trace
# must show its translation.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
DOWN_PID=""
trap 'shim_kill; [[ -z $DOWN_PID ]] || kill -KILL "$DOWN_PID" 2>/dev/null || true; dpdk_stop_all' EXIT

dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR

dpdk_start_vhost_backend be "$w/be.sock" 1 || fail "net_vhost did not start"
# shim #2: vdpa-user on its front side, net_vhost behind it
"$SHIM_BIN" --device "type=net,id=down0,frontend=$w/mid.sock,backend=$w/be.sock,queue-pairs=1,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace-down.txt" 2>"$w/shim-down.log" &
DOWN_PID=$!
wait_for 5 test -S "$w/mid.sock" || fail "shim #2 did not create its socket: $(tail -n 3 "$w/shim-down.log")"
# shim #1: the VMM's legacy vhost-user in front, shim #2 (vdpa-user) behind
shim_start "$w/shim-up.log" --device "type=net,id=up0,frontend=$w/fe.sock,backend=$w/mid.sock,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace-up.txt"
wait_for 5 test -S "$w/fe.sock" || fail "shim #1 did not create its socket"

dpdk_start_virtio_user fe "$w/fe.sock" 1 || fail "virtio-user did not start"
dpdk_wait_link fe 15 || fail "virtio-user link down"
dpdk_wait_link be 15 || fail "net_vhost link down"
grep -q 'up-conversion begins' "$w/trace-up.txt" || fail "shim #1 did not up-convert"
grep -q 'down-conversion begins' "$w/trace-down.txt" || fail "shim #2 did not down-convert"
wait_for 10 grep -q 'up0 shim->be SET_STATUS need_reply status=0xf' "$w/trace-up.txt" ||
    fail "shim #1 never set DRIVER_OK"
wait_for 10 grep -q 'down0 shim->be SET_VRING_ENABLE need_reply index=1 num=1' "$w/trace-down.txt" ||
    fail "shim #2 never started the back-end's rings"

# io forwarding on both ends: frames injected by virtio-user bounce off
# net_vhost and come back, so each port counts both directions.
# cpu_ticks PID: user + system clock ticks the process has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
up_before=$(cpu_ticks "$_SHIM_PID"); down_before=$(cpu_ticks "$DOWN_PID")
dpdk_cmd be "set fwd io"
dpdk_cmd be "start"
dpdk_cmd fe "set fwd io"
dpdk_cmd fe "start tx_first 4"
sleep 2
dpdk_cmd fe "stop"
dpdk_cmd be "stop"
up_ticks=$(( $(cpu_ticks "$_SHIM_PID") - up_before )); down_ticks=$(( $(cpu_ticks "$DOWN_PID") - down_before ))
echo "CPU used during 2 s of traffic: shim #1 $up_ticks ticks, shim #2 $down_ticks ticks (of $(getconf CLK_TCK)/s)"
# The data plane runs peer to peer: the shims wake only for control messages.
(( up_ticks <= 20 && down_ticks <= 20 )) ||
    fail "the shims used CPU while packets flowed (shim #1 $up_ticks, shim #2 $down_ticks ticks)"
read -r fe_rx fe_tx < <(dpdk_port_stats fe)
read -r be_rx be_tx < <(dpdk_port_stats be)
echo "virtio-user: RX $fe_rx TX $fe_tx; net_vhost: RX $be_rx TX $be_tx"
(( fe_rx > 0 && fe_tx > 0 && be_rx > 0 && be_tx > 0 )) ||
    fail "no packets both ways through the chain (virtio-user RX $fe_rx TX $fe_tx, net_vhost RX $be_rx TX $be_tx)"

# Orderly end: the VMM goes, both sessions end, both shims exit 0.
dpdk_stop fe
wait_for 10 grep -q "session ended" "$w/shim-up.log" || fail "shim #1's session did not end"
wait_for 10 grep -q "session ended" "$w/shim-down.log" || fail "shim #2's session did not end"
shim_stop
kill -TERM "$DOWN_PID"; status=0; wait "$DOWN_PID" || status=$?; DOWN_PID=""
(( status == 0 )) || fail "shim #2 exited with status $status"
grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$w/shim-down.log" && fail "shim #2's log has a sanitizer report"
echo "PASS: DPDK virtio-user -> shim (up) -> shim (down) -> DPDK net_vhost: virtio-user RX $fe_rx TX $fe_tx, net_vhost RX $be_rx TX $be_tx; shim CPU during traffic: $up_ticks + $down_ticks ticks"
