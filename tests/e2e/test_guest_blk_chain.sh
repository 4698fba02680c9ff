#!/usr/bin/env bash
# A Linux guest's virtio-blk driver through the up+down chain:
# QEMU (vhost-user-blk-pci) -> vdpa-shim #1 (up) -> vdpa-shim #2 (down)
# -> qemu-storage-daemon. Same scenario and host checks as
# test_guest_blk_passthrough.sh (issue 15, bug 3: the chain could not start).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-blk-chain.XXXXXX)
QSD_PID="" DOWN_PID=""
cleanup() {
    guest_stop_all; shim_kill
    [[ -z $DOWN_PID ]] || kill -KILL "$DOWN_PID" 2>/dev/null || true
    [[ -z $QSD_PID ]] || kill -KILL "$QSD_PID" 2>/dev/null || true
    wait 2>/dev/null
    [[ ${GUEST_KEEP:-0} == 1 ]] && echo "kept $w" || rm -rf "$w"
}
trap cleanup EXIT

guest_prepare
guest_qsd "$w" # GUEST_QSD_RELEASE: the host's or a Debian root's
QSD_PID=$GUEST_QSD_PID
"$SHIM_BIN" --device "type=blk,id=down0,frontend=$w/mid.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace-down.txt" 2>"$w/shim-down.log" &
DOWN_PID=$!
wait_for 5 test -S "$w/mid.sock" || fail "shim #2 did not create its socket: $(tail -n 3 "$w/shim-down.log")"
shim_start "$w/shim.log" --device "type=blk,id=up0,frontend=$w/fe.sock,backend=$w/mid.sock,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "shim #1 did not create its socket"

down_fail() { echo "--- shim #2 trace tail:"; tail -n 20 "$w/trace-down.txt"; echo "--- shim #2 log tail:"; tail -n 10 "$w/shim-down.log"; }
GUEST_FAIL_HOOK=down_fail guest_blk "$w" g "$w/disk.img"
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "shim #1 did not up-convert"
grep -q 'down-conversion begins' "$w/trace-down.txt" || guest_fail "$w" g "shim #2 did not down-convert"

wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "shim #1's session did not end after the guest powered off"
shim_stop
kill -TERM "$DOWN_PID"; st=0; wait "$DOWN_PID" || st=$?; DOWN_PID=""
(( st == 0 )) || fail "shim #2 exited with status $st on SIGTERM"
! grep -q ': check: ' "$w/shim-down.log" || fail "shim #2's compatibility check reported: $(grep -m3 ': check: ' "$w/shim-down.log")"
echo "PASS: guest virtio-blk -> QEMU ($GUEST_ACCEL) -> shim (up) -> shim (down) -> qemu-storage-daemon: O_DIRECT pattern and ext4 checked on the host"
