#!/usr/bin/env bash
# QEMU (vhost-user-blk-pci, legacy front-end) -> vdpa-shim (pass-through) ->
# qemu-storage-daemon (legacy vhost-user-blk back-end).
# No guest kernel is needed: SeaBIOS drives virtio-blk itself. The disk's boot
# sector copies itself to sector 2 with INT 13h and prints 'O' on the debug
# console; the test then finds the copy in the image file, so guest I/O went
# through a ring the shim helped set up, and the data plane ran peer to peer.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
w=$(mktemp -d /tmp/vdpa-shim-qemu.XXXXXX)
QEMU_PID=""; QSD_PID=""
cleanup() {
    [[ -z $QEMU_PID ]] || kill -KILL "$QEMU_PID" 2>/dev/null || true
    shim_kill
    [[ -z $QSD_PID ]] || kill -TERM "$QSD_PID" 2>/dev/null || true
    wait 2>/dev/null
    rm -rf "$w"
}
trap cleanup EXIT

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
command -v qemu-storage-daemon >/dev/null || skip "qemu-storage-daemon is not installed"

make_boot_disk "$w/disk.img"

qemu-storage-daemon --blockdev "driver=file,node-name=file0,filename=$w/disk.img" \
    --export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$w/be.sock,writable=on" \
    >"$w/qsd.log" 2>&1 &
QSD_PID=$!
wait_for 10 test -S "$w/be.sock" || skip "qemu-storage-daemon did not start: $(tail -n 3 "$w/qsd.log")"

shim_start "$w/shim.log" --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

qemu_boot_blk "$w"

# CONFIGURE_MEM_SLOTS is negotiated with qemu-storage-daemon, so QEMU sends
# its memory as ADD_MEM_REG messages rather than one SET_MEM_TABLE.
grep -q 'blk0 fe->be ADD_MEM_REG .*fds=\[memfd' "$w/trace.txt" || fail "trace lacks ADD_MEM_REG with a memfd"
for req in GET_CONFIG SET_VRING_ADDR SET_VRING_KICK SET_VRING_CALL; do
    grep -q "blk0 fe->be $req" "$w/trace.txt" || fail "trace lacks $req"
done
grep -q 'blk0 be->fe GET_CONFIG reply offset=0' "$w/trace.txt" || fail "no GET_CONFIG reply relayed"

kill -TERM "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null || true; QEMU_PID=""
wait_for 10 grep -q "session ended" "$w/shim.log" || fail "session did not end after QEMU quit"
shim_stop
echo "PASS: QEMU ($(qemu_accel)) <-> shim <-> qemu-storage-daemon: guest write landed in the image"
