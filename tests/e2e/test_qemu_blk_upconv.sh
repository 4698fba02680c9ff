#!/usr/bin/env bash
# Up-conversion with QEMU: an unchanged QEMU (vhost-user-blk-pci, a legacy
# front-end) -> vdpa-shim -> the reference vdpa-user back-end (blk, a disk
# file). SeaBIOS drives the disk; its boot sector copies itself to sector 2
# through INT 13h; the test finds the copy in the disk file. SeaBIOS stops and
# restarts the device on the way, so the shim's reset-and-replay runs too.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
w=$(mktemp -d /tmp/vdpa-shim-qemu-up.XXXXXX)
QEMU_PID=""; BACKEND_PID=""
cleanup() {
    [[ -z $QEMU_PID ]] || kill -KILL "$QEMU_PID" 2>/dev/null || true
    shim_kill
    [[ -z $BACKEND_PID ]] || kill -KILL "$BACKEND_PID" 2>/dev/null || true
    wait 2>/dev/null
    rm -rf "$w"
}
trap cleanup EXIT

backend_bin=$E2E_ROOT/${BUILD:-build}/vdpa-backend
[[ -x $backend_bin ]] || fail "$backend_bin is missing (run make first)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
make_boot_disk "$w/disk.img"

"$backend_bin" --socket "$w/be.sock" --type blk --disk "$w/disk.img" --stats "$w/backend.stats" \
    2>"$w/backend.log" &
BACKEND_PID=$!
wait_for 5 test -S "$w/be.sock" || fail "vdpa-backend did not start: $(tail -n 3 "$w/backend.log")"
shim_start "$w/shim.log" --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

qemu_boot_blk "$w"
grep -q 'up-conversion begins' "$w/trace.txt" || fail "the shim did not up-convert"
grep -q 'shim->be GET_CONFIG' "$w/trace.txt" || fail "no config read"

kill -TERM "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null || true; QEMU_PID=""
wait_for 10 grep -q "session ended" "$w/shim.log" || fail "session did not end after QEMU quit"
shim_stop
echo "PASS: QEMU ($(qemu_accel)) -> shim (up) -> vdpa-user blk back-end: guest write landed in the disk file"
