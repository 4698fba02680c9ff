#!/usr/bin/env bash
# e2e: serial (source and destination guests under TCG; beside a third guest a destination once stalled after the switch-over, CI of 2026-12-03)
# Live migration of a Linux guest whose virtio-net device goes through the
# up+down chain, on each side: QEMU -> vdpa-shim #1 (up) -> vdpa-shim #2
# (down) -> its own net_vhost port of one DPDK testpmd (two ports, each
# looped back to itself, macswap; as test_guest_net_migration_passthrough.sh).
# This is up-conversion over a vdpa-user back-end that has dirty logging
# (shim #2 over net_vhost, which has it): the guest sends rounds of frames
# before, during and after the migration (scenario net-l2 rounds=N), runs on
# on the destination (no new boot there) and its last rounds get every frame
# back; both source shims' traces must show the dirty log relayed (shim #1
# in the vdpa-user form to shim #2, shim #2 to net_vhost, whose
# SET_LOG_BASE reply is empty: DPDK 22.11 answers it with no payload).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
. "$here/../guest/lib.sh"
declare -A PIDS=()
cleanup() {
    local k
    guest_stop_all; shim_kill
    for k in "${!PIDS[@]}"; do _guest_kill_pid "${PIDS[$k]}"; done
    dpdk_stop_all
}
trap cleanup EXIT
rounds=${GUEST_ROUNDS:-24}

guest_prepare
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR
tails() {
    local t
    echo "--- source QEMU log tail:"; tail -n 5 "$w/src.qemu.log" 2>/dev/null
    for t in down-src up-dst down-dst; do
        echo "--- shim $t trace tail:"; tail -n 12 "$w/trace-$t.txt" 2>/dev/null
        echo "--- shim $t log tail:"; tail -n 5 "$w/shim-$t.log" 2>/dev/null
    done
}
GUEST_FAIL_HOOK=tails

DPDK_EAL_EXTRA="--vdev net_vhost1,iface=$w/be-dst.sock,queues=1" DPDK_TESTPMD_EXTRA="--port-topology=loop" \
    dpdk_start_vhost_backend be "$w/be-src.sock" 1 || fail "net_vhost did not start"
dpdk_cmd_output be "set fwd macswap" >/dev/null || fail "testpmd: set fwd macswap"
dpdk_cmd_output be "start" >/dev/null || fail "testpmd: start"
wait_for 5 test -S "$w/be-dst.sock" || fail "testpmd's second net_vhost port has no socket"

# other_shim NAME FRONTEND BACKEND: a shim besides the source's shim #1.
other_shim() {
    "$SHIM_BIN" --device "type=net,id=$1,frontend=$2,backend=$3,queue-pairs=1,check=$E2E_ROOT/compat-matrix" \
        --trace "$w/trace-$1.txt" 2>"$w/shim-$1.log" &
    PIDS[$1]=$!
    wait_for 5 test -S "$2" || fail "shim $1 did not create its socket: $(tail -n 3 "$w/shim-$1.log")"
}
other_shim down-src "$w/mid-src.sock" "$w/be-src.sock"
other_shim down-dst "$w/mid-dst.sock" "$w/be-dst.sock"
other_shim up-dst "$w/fe-dst.sock" "$w/mid-dst.sock"
shim_start "$w/shim.log" --device "type=net,id=up-src,frontend=$w/fe-src.sock,backend=$w/mid-src.sock,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe-src.sock" || fail "the source shim #1 did not create its socket"

guest_net_migration "$w" "$w/fe-src.sock" "$w/fe-dst.sock" "$rounds" 52:54:00:5e:00:0c
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" src "the source shim #1 did not up-convert"
grep -q 'down-conversion begins' "$w/trace-down-src.txt" || guest_fail "$w" src "the source shim #2 did not down-convert"
grep -q 'up-conversion begins' "$w/trace-up-dst.txt" || guest_fail "$w" dst "the destination shim #1 did not up-convert"
grep -q 'down-conversion begins' "$w/trace-down-dst.txt" || guest_fail "$w" dst "the destination shim #2 did not down-convert"
guest_dirty_log_relayed "$w" src "$w/trace.txt" "the source shim #1"
guest_dirty_log_relayed "$w" src "$w/trace-down-src.txt" "the source shim #2"

guest_quit "$w" src || guest_fail "$w" src "the source QEMU did not quit"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" src "the source shim #1's session did not end"
shim_stop
for k in up-dst down-src down-dst; do
    kill -TERM "${PIDS[$k]}"; st=0; wait "${PIDS[$k]}" || st=$?; unset "PIDS[$k]"
    (( st == 0 )) || fail "shim $k exited with status $st on SIGTERM"
    ! grep -q ': check: ' "$w/shim-$k.log" || fail "shim $k's check reported: $(grep -m3 ': check: ' "$w/shim-$k.log")"
done
echo "PASS: guest virtio-net live-migrated through the up+down chain on both sides (testpmd, $GUEST_ACCEL): $GUEST_MIG_SRC_ROUNDS rounds on the source, $GUEST_MIG_DST_OK intact on the destination, $GUEST_MIG_LOST round(s) lost; dirty log relayed by both source shims"
