#!/usr/bin/env bash
# e2e: serial (source and destination guests under TCG; beside a third guest a destination once stalled after the switch-over, CI of 2026-12-03)
# Live migration on one host of a Linux guest whose virtio-net device goes
# through the shim in pass-through: a source and a destination QEMU
# (-incoming tcp:127.0.0.1:PORT), each with its own shim in front of its own
# net_vhost port of one DPDK testpmd (two ports, each looped back to itself,
# macswap). The guest sends rounds of frames before, during and after the
# migration (scenario net-l2 rounds=N); it must run on on the destination
# (no new boot there) and its last rounds must get every frame back. The
# source shim's trace must show the dirty log relayed (LOG_SHMFD, LOG_ALL,
# SET_LOG_BASE), and the destination's testpmd port must have carried the
# frames sent after the migration.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
. "$here/../guest/lib.sh"
DST_SHIM_PID=""
trap 'guest_stop_all; shim_kill; _guest_kill_pid "$DST_SHIM_PID"; dpdk_stop_all' EXIT
rounds=${GUEST_ROUNDS:-24}

guest_prepare
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR
dst_tail() {
    echo "--- source QEMU log tail:"; tail -n 5 "$w/src.qemu.log"
    echo "--- destination shim trace tail:"; tail -n 20 "$w/trace-dst.txt"; echo "--- destination shim log tail:"; tail -n 10 "$w/shim-dst.log"
    # The shim's message table wants 8 bytes in the back-end's SET_LOG_BASE
    # reply; DPDK's vhost library replies with none (and QEMU reads the reply
    # without looking at its size).
    ! grep -q 'back-end sent a bad message: SET_LOG_BASE: payload is 0 bytes' "$w/shim.log" ||
        echo "SHIM BUG: the source shim refused DPDK's empty SET_LOG_BASE reply and cut the session during the migration: $(grep -m1 'SET_LOG_BASE' "$w/shim.log")"
}
GUEST_FAIL_HOOK=dst_tail

DPDK_EAL_EXTRA="--vdev net_vhost1,iface=$w/be-dst.sock,queues=1" DPDK_TESTPMD_EXTRA="--port-topology=loop" \
    dpdk_start_vhost_backend be "$w/be-src.sock" 1 || fail "net_vhost did not start"
dpdk_cmd_output be "set fwd macswap" >/dev/null || fail "testpmd: set fwd macswap"
dpdk_cmd_output be "start" >/dev/null || fail "testpmd: start"
wait_for 5 test -S "$w/be-dst.sock" || fail "testpmd's second net_vhost port has no socket"

matrix=$E2E_ROOT/compat-matrix
shim_start "$w/shim.log" --device "type=net,id=src0,frontend=$w/fe-src.sock,backend=$w/be-src.sock,check=$matrix" --trace "$w/trace.txt"
"$SHIM_BIN" --device "type=net,id=dst0,frontend=$w/fe-dst.sock,backend=$w/be-dst.sock,check=$matrix" \
    --trace "$w/trace-dst.txt" 2>"$w/shim-dst.log" &
DST_SHIM_PID=$!
wait_for 5 test -S "$w/fe-src.sock" || fail "the source shim did not create its socket"
wait_for 5 test -S "$w/fe-dst.sock" || fail "the destination shim did not create its socket: $(tail -n 3 "$w/shim-dst.log")"

port=$(guest_free_port)
params="frames=50 size=256 timeout_ms=1500 rounds=$rounds round_delay_ms=300"
dev="virtio-net-pci,netdev=n0,id=net0,mac=52:54:00:5e:00:0a$(guest_vhost_pci_opts)"
guest_boot "$w" src net-l2 "$params" -chardev "socket,id=c0,path=$w/fe-src.sock" \
    -netdev vhost-user,id=n0,chardev=c0 -device "$dev"
guest_boot "$w" dst net-l2 "$params" -chardev "socket,id=c0,path=$w/fe-dst.sock" \
    -netdev vhost-user,id=n0,chardev=c0 -device "$dev" -incoming "tcp:127.0.0.1:$port"
round_ok() { tr -d '\r' < "$w/src.console" | grep -q "^RESULT round=$1 ok=1"; }
wait_for 90 round_ok 2 || guest_fail "$w" src "no intact round on the source"
echo "guest: $(guest_round_count "$w" src) rounds on the source; migrating to port $port"
guest_migrate "$w" src dst "$port" 90 >"$w/migrate.out" || guest_fail "$w" src "$(cat "$w/migrate.out")"
cut -c 1-160 "$w/migrate.out"
src_rounds=$(guest_round_count "$w" src)
out=$(guest_wait "$w" dst 150) || guest_fail "$w" dst "$out"
echo "$out"
! tr -d '\r' < "$w/dst.console" | grep -q '^RESULT boot ' ||
    guest_fail "$w" dst "the guest booted again on the destination instead of running on"
echo "rounds (1 = every frame back): source $(guest_results_all "$w" src ok | tr '\n' ' '), destination $(guest_results_all "$w" dst ok | tr '\n' ' ')"
[[ $(guest_result "$w" dst status) == pass ]] || guest_fail "$w" dst "guest: $(guest_result "$w" dst reason)"
dst_ok=$(guest_results_all "$w" dst ok | grep -c '^1$' || true)
(( dst_ok >= 3 )) || guest_fail "$w" dst "only $dst_ok intact rounds on the destination"
lost=$(( $(guest_results_all "$w" src ok | grep -c '^0$' || true) + $(guest_results_all "$w" dst ok | grep -c '^0$' || true) ))
guest_dirty_log_relayed "$w" src "$w/trace.txt" "the source shim"
grep -q 'SEND_RARP\|GET_VRING_BASE' "$w/trace.txt" || true

guest_quit "$w" src || guest_fail "$w" src "the source QEMU did not quit"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" src "the source shim's session did not end"
wait_for 10 grep -q "session ended" "$w/shim-dst.log" || guest_fail "$w" dst "the destination shim's session did not end"
shim_stop
kill -TERM "$DST_SHIM_PID"; st=0; wait "$DST_SHIM_PID" || st=$?; DST_SHIM_PID=""
(( st == 0 )) || fail "the destination shim exited with status $st on SIGTERM"
! grep -q ': check: ' "$w/shim-dst.log" || fail "the destination shim's check reported: $(grep -m3 ': check: ' "$w/shim-dst.log")"
echo "PASS: guest virtio-net live-migrated through two shims (pass-through, testpmd, $GUEST_ACCEL): $src_rounds rounds on the source, $dst_ok intact on the destination, $lost round(s) lost; dirty log relayed"
