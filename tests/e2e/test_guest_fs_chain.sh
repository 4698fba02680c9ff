#!/usr/bin/env bash
# A Linux guest's virtiofs driver through the up+down chain:
# QEMU (vhost-user-fs-pci) -> vdpa-shim #1 (up) -> vdpa-shim #2 (down)
# -> virtiofsd (QEMU 7.2's C one). Same scenario and checks as
# test_guest_fs_passthrough.sh (issue 15, bug 3: the chain could not start).
# virtiofsd has no config space: shim #2 presents the tag given by tag=.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-fs-chain.XXXXXX)
VFS_PID="" DOWN_PID=""
cleanup() {
    guest_stop_all; shim_kill
    [[ -z $DOWN_PID ]] || kill -KILL "$DOWN_PID" 2>/dev/null || true
    [[ -z $VFS_PID ]] || kill -KILL "$VFS_PID" 2>/dev/null || true
    wait 2>/dev/null
    [[ ${GUEST_KEEP:-0} == 1 ]] && echo "kept $w" || rm -rf "$w"
}
trap cleanup EXIT

guest_prepare
nonce=$RANDOM
guest_virtiofsd "$w" "$nonce" # GUEST_VIRTIOFSD_RELEASE: the host's or a Debian root's
VFS_PID=$GUEST_VFS_PID
"$SHIM_BIN" --device "type=fs,id=down0,frontend=$w/mid.sock,backend=$w/be.sock,tag=share0,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace-down.txt" 2>"$w/shim-down.log" &
DOWN_PID=$!
wait_for 5 test -S "$w/mid.sock" || fail "shim #2 did not create its socket: $(tail -n 3 "$w/shim-down.log")"
shim_start "$w/shim.log" --device "type=fs,id=up0,frontend=$w/fe.sock,backend=$w/mid.sock,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "shim #1 did not create its socket"
down_fail() { echo "--- shim #2 trace tail:"; tail -n 20 "$w/trace-down.txt"; echo "--- shim #2 log tail:"; tail -n 10 "$w/shim-down.log"; }
export GUEST_FAIL_HOOK=down_fail

guest_run_ok "$w" g fs "tag=share0 nonce=$nonce" \
    -chardev "socket,id=c0,path=$w/fe.sock" -device "vhost-user-fs-pci,chardev=c0,tag=share0$(guest_vhost_pci_opts)"
[[ $(guest_result "$w" g host_file) == "host-file_nonce=$nonce" ]] ||
    guest_fail "$w" g "the guest read '$(guest_result "$w" g host_file)' from host.txt"
[[ $(cat "$w/share/guest.txt" 2>/dev/null) == "VSTEST-FS guest nonce=$nonce" ]] ||
    guest_fail "$w" g "the host does not find the guest's file in the share"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "shim #1 did not up-convert"
grep -q 'down-conversion begins' "$w/trace-down.txt" || guest_fail "$w" g "shim #2 did not down-convert"
shim_stop
kill -TERM "$DOWN_PID"; st=0; wait "$DOWN_PID" || st=$?; DOWN_PID=""
(( st == 0 )) || fail "shim #2 exited with status $st on SIGTERM"
! grep -q ': check: ' "$w/shim-down.log" || fail "shim #2's compatibility check reported: $(grep -m3 ': check: ' "$w/shim-down.log")"
echo "PASS: guest virtiofs -> QEMU ($GUEST_ACCEL) -> shim (up) -> shim (down) -> virtiofsd: host file read, guest file written"
