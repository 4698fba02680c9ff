#!/usr/bin/env bash
# e2e: serial (source and destination guests under TCG; beside a third guest a destination once stalled after the switch-over, CI of 2026-12-03)
# Live migration of a Linux guest whose virtio-blk device goes through the
# up+down chain, on each side: QEMU -> vdpa-shim (up) -> vdpa-shim (down) ->
# qemu-storage-daemon (one daemon, two exports of one node, as in
# test_guest_blk_migration_passthrough.sh). This is up-conversion with a
# vdpa-user back-end that has dirty logging (shim #2 over a legacy back-end
# that has it): the guest's rounds run across the migration, every block is
# intact, and the dirty log must be visible in both source shims' traces:
# shim #1 relays QEMU's LOG_SHMFD, LOG_ALL and SET_LOG_BASE to shim #2,
# which relays them to qemu-storage-daemon.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-blk-mig-chain.XXXXXX)
declare -A PIDS=()
cleanup() {
    local k
    guest_stop_all; shim_kill
    for k in "${!PIDS[@]}"; do _guest_kill_pid "${PIDS[$k]}"; done
    guest_qsd_stop; guest_cleanup_dir "$w"
}
trap cleanup EXIT
tails() {
    local t
    for t in down-src up-dst down-dst; do
        echo "--- shim $t trace tail:"; tail -n 12 "$w/trace-$t.txt" 2>/dev/null
        echo "--- shim $t log tail:"; tail -n 5 "$w/shim-$t.log" 2>/dev/null
    done
}
GUEST_FAIL_HOOK=tails

guest_prepare
command -v qemu-storage-daemon >/dev/null || skip "qemu-storage-daemon is not installed"
truncate -s 64M "$w/disk.img"
qemu-storage-daemon --blockdev "driver=file,node-name=file0,filename=$w/disk.img" \
    --export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$w/be-src.sock,writable=on" \
    --export "type=vhost-user-blk,id=exp1,node-name=file0,addr.type=unix,addr.path=$w/be-dst.sock,writable=on" \
    >"$w/qsd.log" 2>&1 &
GUEST_QSD_PID=$!
wait_for 10 test -S "$w/be-dst.sock" || skip "qemu-storage-daemon did not start: $(tail -n 3 "$w/qsd.log")"

# other_shim NAME FRONTEND BACKEND: a shim besides the source's shim #1.
other_shim() {
    "$SHIM_BIN" --device "type=blk,id=$1,frontend=$2,backend=$3,check=$E2E_ROOT/compat-matrix" \
        --trace "$w/trace-$1.txt" 2>"$w/shim-$1.log" &
    PIDS[$1]=$!
    wait_for 5 test -S "$2" || fail "shim $1 did not create its socket: $(tail -n 3 "$w/shim-$1.log")"
}
other_shim down-src "$w/mid-src.sock" "$w/be-src.sock"
other_shim down-dst "$w/mid-dst.sock" "$w/be-dst.sock"
other_shim up-dst "$w/fe-dst.sock" "$w/mid-dst.sock"
shim_start "$w/shim.log" --device "type=blk,id=up-src,frontend=$w/fe-src.sock,backend=$w/mid-src.sock,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe-src.sock" || fail "the source shim #1 did not create its socket"

guest_blk_migration "$w" "$w/disk.img" "$w/fe-src.sock" "$w/fe-dst.sock"
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" src "the source shim #1 did not up-convert"
grep -q 'down-conversion begins' "$w/trace-down-src.txt" || guest_fail "$w" src "the source shim #2 did not down-convert"
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
echo "PASS: guest virtio-blk live-migrated through the up+down chain on both sides ($GUEST_ACCEL): $GUEST_MIG_SRC_ROUNDS rounds before, $GUEST_MIG_DST_ROUNDS after, all $GUEST_MIG_TOTAL blocks intact; dirty log relayed by both source shims"
