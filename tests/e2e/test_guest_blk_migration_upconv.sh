#!/usr/bin/env bash
# e2e: serial (source and destination guests under TCG; beside a third guest a destination once stalled after the switch-over, CI of 2026-12-03)
# Live migration of a Linux guest whose virtio-blk device goes through the
# shim up-converting to the reference vdpa-user back-end (peers/vdpa-backend,
# one per QEMU, both on the same image): the reference back-end has no dirty
# logging (no VHOST_F_LOG_ALL, no LOG_SHMFD: it writes guest memory it cannot
# report), so the shim must not offer either to QEMU, and QEMU must refuse
# the migration before it starts (QEMU 7.2's migration blocker "Migration
# disabled: vhost-user backend lacks VHOST_USER_PROTOCOL_F_LOG_SHMFD
# feature.", or "vhost lacks VHOST_F_LOG_ALL feature.") instead of
# migrating a guest whose memory the back-end changes unseen. The guest
# keeps running on the source, its rounds intact (scenario blk-rounds), and
# the destination QEMU is quit untouched.
# A vdpa-user back-end with dirty logging migrates: see
# test_guest_blk_migration_chain.sh (shim #2 over qemu-storage-daemon).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-blk-mig-up.XXXXXX)
DST_SHIM_PID="" BE_SRC="" BE_DST=""
cleanup() {
    guest_stop_all; shim_kill; _guest_kill_pid "$DST_SHIM_PID"; _guest_kill_pid "$BE_SRC"; _guest_kill_pid "$BE_DST"
    guest_cleanup_dir "$w"
}
trap cleanup EXIT

guest_prepare
bin=$E2E_ROOT/${BUILD:-build}/vdpa-backend
[[ -x $bin ]] || fail "$bin is missing (run make first)"
truncate -s 64M "$w/disk.img"
"$bin" --socket "$w/be-src.sock" --type blk --disk "$w/disk.img" 2>"$w/backend-src.log" &
BE_SRC=$!
"$bin" --socket "$w/be-dst.sock" --type blk --disk "$w/disk.img" 2>"$w/backend-dst.log" &
BE_DST=$!
wait_for 5 test -S "$w/be-src.sock" || fail "vdpa-backend did not start: $(tail -n 3 "$w/backend-src.log")"
wait_for 5 test -S "$w/be-dst.sock" || fail "vdpa-backend did not start: $(tail -n 3 "$w/backend-dst.log")"

matrix=$E2E_ROOT/compat-matrix
shim_start "$w/shim.log" --device "type=blk,id=src0,frontend=$w/fe-src.sock,backend=$w/be-src.sock,check=$matrix" --trace "$w/trace.txt"
"$SHIM_BIN" --device "type=blk,id=dst0,frontend=$w/fe-dst.sock,backend=$w/be-dst.sock,check=$matrix" \
    --trace "$w/trace-dst.txt" 2>"$w/shim-dst.log" &
DST_SHIM_PID=$!
wait_for 5 test -S "$w/fe-src.sock" || fail "the source shim did not create its socket"
wait_for 5 test -S "$w/fe-dst.sock" || fail "the destination shim did not create its socket: $(tail -n 3 "$w/shim-dst.log")"

GUEST_MIGRATE_EXPECT=refused guest_blk_migration "$w" "$w/disk.img" "$w/fe-src.sock" "$w/fe-dst.sock"
[[ $GUEST_MIGRATE_ERROR == *"Migration disabled: vhost"*"LOG_SHMFD"* || $GUEST_MIGRATE_ERROR == *"Migration disabled: vhost"*"LOG_ALL"* ]] ||
    guest_fail "$w" src "QEMU refused the migration for another reason: $GUEST_MIGRATE_ERROR"
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" src "the source shim did not up-convert"
! grep -qE 'be->fe GET_FEATURES reply.*LOG_ALL|be->fe GET_PROTOCOL_FEATURES reply protocol_features=[^ ]* \([^)]*LOG_SHMFD|>be SET_LOG_BASE' "$w/trace.txt" ||
    guest_fail "$w" src "the shim offered LOG_ALL or LOG_SHMFD, or relayed a log, over a back-end without dirty logging"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" src "the source shim's session did not end"
wait_for 10 grep -q "session ended" "$w/shim-dst.log" || guest_fail "$w" dst "the destination shim's session did not end"
shim_stop
kill -TERM "$DST_SHIM_PID"; st=0; wait "$DST_SHIM_PID" || st=$?; DST_SHIM_PID=""
(( st == 0 )) || fail "the destination shim exited with status $st on SIGTERM"
! grep -q ': check: ' "$w/shim-dst.log" || fail "the destination shim's check reported: $(grep -m3 ': check: ' "$w/shim-dst.log")"
echo "PASS: guest virtio-blk through the shim (up, reference back-end without dirty logging, $GUEST_ACCEL): QEMU refused the migration before it started ($GUEST_MIGRATE_ERROR); $GUEST_MIG_TOTAL rounds intact on the source"
