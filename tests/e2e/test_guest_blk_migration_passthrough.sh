#!/usr/bin/env bash
# e2e: serial (source and destination guests under TCG; beside a third guest a destination once stalled after the switch-over, CI of 2026-12-03)
# Live migration on one host of a Linux guest whose virtio-blk device goes
# through the shim in pass-through: a source and a destination QEMU
# (-incoming tcp:127.0.0.1:PORT), each with its own shim in front of its own
# qemu-storage-daemon export of the same image (one daemon, two exports of
# one node: no image locking between them). The guest writes a block every
# round (scenario blk-rounds) before, during and after the migration; once
# query-migrate says "completed" the host writes the marker into the image,
# the guest (now on the destination) does a few more rounds and reads every
# round's block back; the host finds them all in the image. The source
# shim's trace must show the dirty log relayed: LOG_SHMFD negotiated,
# VHOST_F_LOG_ALL switched on, SET_LOG_BASE with its shared memory.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-blk-mig.XXXXXX)
DST_SHIM_PID=""
cleanup() {
    guest_stop_all; shim_kill; _guest_kill_pid "$DST_SHIM_PID"; guest_qsd_stop; guest_cleanup_dir "$w"
}
trap cleanup EXIT
dst_tail() { echo "--- destination shim trace tail:"; tail -n 20 "$w/trace-dst.txt"; echo "--- destination shim log tail:"; tail -n 10 "$w/shim-dst.log"; }
GUEST_FAIL_HOOK=dst_tail

guest_prepare
command -v qemu-storage-daemon >/dev/null || skip "qemu-storage-daemon is not installed"
truncate -s 64M "$w/disk.img"
qemu-storage-daemon --blockdev "driver=file,node-name=file0,filename=$w/disk.img" \
    --export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$w/be-src.sock,writable=on" \
    --export "type=vhost-user-blk,id=exp1,node-name=file0,addr.type=unix,addr.path=$w/be-dst.sock,writable=on" \
    >"$w/qsd.log" 2>&1 &
GUEST_QSD_PID=$!
wait_for 10 test -S "$w/be-dst.sock" || skip "qemu-storage-daemon did not start: $(tail -n 3 "$w/qsd.log")"

matrix=$E2E_ROOT/compat-matrix
shim_start "$w/shim.log" --device "type=blk,id=src0,frontend=$w/fe-src.sock,backend=$w/be-src.sock,check=$matrix" --trace "$w/trace.txt"
"$SHIM_BIN" --device "type=blk,id=dst0,frontend=$w/fe-dst.sock,backend=$w/be-dst.sock,check=$matrix" \
    --trace "$w/trace-dst.txt" 2>"$w/shim-dst.log" &
DST_SHIM_PID=$!
wait_for 5 test -S "$w/fe-src.sock" || fail "the source shim did not create its socket"
wait_for 5 test -S "$w/fe-dst.sock" || fail "the destination shim did not create its socket: $(tail -n 3 "$w/shim-dst.log")"

guest_blk_migration "$w" "$w/disk.img" "$w/fe-src.sock" "$w/fe-dst.sock"
guest_dirty_log_relayed "$w" src "$w/trace.txt" "the source shim"

guest_quit "$w" src || guest_fail "$w" src "the source QEMU did not quit"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" src "the source shim's session did not end"
wait_for 10 grep -q "session ended" "$w/shim-dst.log" || guest_fail "$w" dst "the destination shim's session did not end"
shim_stop
kill -TERM "$DST_SHIM_PID"; st=0; wait "$DST_SHIM_PID" || st=$?; DST_SHIM_PID=""
(( st == 0 )) || fail "the destination shim exited with status $st on SIGTERM"
! grep -q ': check: ' "$w/shim-dst.log" || fail "the destination shim's check reported: $(grep -m3 ': check: ' "$w/shim-dst.log")"
echo "PASS: guest virtio-blk live-migrated through two shims (pass-through, $GUEST_ACCEL): $GUEST_MIG_SRC_ROUNDS rounds before, $GUEST_MIG_DST_ROUNDS after, all $GUEST_MIG_TOTAL blocks intact; dirty log relayed"
