#!/usr/bin/env bash
# QEMU (vhost-user-fs-pci) -> vdpa-shim (pass-through) -> virtiofsd (QEMU 7.2's
# C virtiofsd, a vhost-user-fs back-end). No guest: QEMU holds the CPUs (-S)
# and the test checks the control-plane handshake QEMU makes at device
# realize, including the back-end channel the shim splices in.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
w=$(mktemp -d /tmp/vdpa-shim-fs.XXXXXX)
QEMU_PID=""; VFS_PID=""
cleanup() {
    [[ -z $QEMU_PID ]] || kill -KILL "$QEMU_PID" 2>/dev/null || true
    shim_kill
    [[ -z $VFS_PID ]] || kill -KILL "$VFS_PID" 2>/dev/null || true
    wait 2>/dev/null
    rm -rf "$w"
}
trap cleanup EXIT

virtiofsd=/usr/lib/qemu/virtiofsd
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
[[ -x $virtiofsd ]] || skip "$virtiofsd is not installed (qemu-system-common)"
mkdir "$w/share"
"$virtiofsd" --socket-path="$w/be.sock" -o source="$w/share" -o cache=none -o sandbox=chroot \
    >"$w/virtiofsd.log" 2>&1 &
VFS_PID=$!
wait_for 10 test -S "$w/be.sock" || skip "virtiofsd did not start: $(tail -n 3 "$w/virtiofsd.log")"

shim_start "$w/shim.log" --device "type=fs,id=fs0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

# shellcheck disable=SC2046
qemu-system-x86_64 $(qemu_args "$(qemu_accel)") -S \
    -chardev "socket,id=c0,path=$w/fe.sock" -device vhost-user-fs-pci,chardev=c0,tag=share0 \
    >"$w/qemu.log" 2>&1 &
QEMU_PID=$!

handshake_done() { grep -q 'fs0 fe->be SET_VRING_ERR index=1' "$w/trace.txt"; }
wait_for 20 handshake_done || fail "no complete handshake: $(tail -n 3 "$w/qemu.log")"
kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited: $(tail -n 3 "$w/qemu.log")"
grep -q 'fs0 be->fe GET_QUEUE_NUM reply u64=' "$w/trace.txt" || fail "GET_QUEUE_NUM not answered"
grep -q 'fs0 be->fe SET_BACKEND_REQ_FD reply ack=0' "$w/trace.txt" || fail "back-end channel not accepted"
grep -q 'fs0 fe->be SET_VRING_CALL index=0 fds=\[eventfd\]' "$w/trace.txt" || fail "no call eventfd relayed"
# Pass-through is invisible: F_VDPA implies CONFIG (docs/vdpa-user.md 2.2),
# so the shim offers F_VDPA without CONFIG and QEMU 7.2, which has no config
# handler for vhost-user-fs, does not warn (issue 15 item 4).
grep -q 'VHOST_USER_PROTOCOL_F_CONFIG but QEMU does not' "$w/qemu.log" &&
    fail "QEMU warns about F_CONFIG: the offer is not invisible"
if grep -i 'vhost' "$w/qemu.log" | grep -q .; then
    fail "QEMU complains: $(grep -i vhost "$w/qemu.log" | head -n 3)"
fi

kill -TERM "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null || true; QEMU_PID=""
wait_for 10 grep -q "session ended" "$w/shim.log" || fail "session did not end after QEMU quit"
shim_stop
echo "PASS: QEMU <-> shim <-> virtiofsd: $(grep -c . "$w/trace.txt") messages relayed"
