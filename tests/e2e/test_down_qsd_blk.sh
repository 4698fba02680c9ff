#!/usr/bin/env bash
# Down-conversion to a real legacy vhost-user-blk back-end: the reference
# vdpa-user driver -> vdpa-shim -> qemu-storage-daemon (QEMU 7.2). The shim
# reads the config space from the back-end (F_CONFIG; QEMU 7.2 knows 60 of
# the 72 bytes) and presents the status register, suspend and reset that
# vhost-user-blk never had. Checked: the driver's 4 KiB pattern is in the
# image file at the right sector and nothing else was written; the capacity
# the driver read equals the image size; GET_ID came back from the daemon.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
w=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-down-blk.XXXXXX")
QSD_PID=""
cleanup() {
    shim_kill
    [[ -z $QSD_PID ]] || kill -KILL "$QSD_PID" 2>/dev/null || true
    rm -rf "$w"
}
trap cleanup EXIT

driver_bin=$E2E_ROOT/${BUILD:-build}/vdpa-driver
[[ -x $driver_bin ]] || fail "$driver_bin is missing (run make first)"
command -v qemu-storage-daemon >/dev/null || skip "qemu-storage-daemon is not installed"

size_mib=48
sector=24
truncate -s ${size_mib}M "$w/disk.img"
qemu-storage-daemon --blockdev "driver=file,node-name=file0,filename=$w/disk.img" \
    --export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$w/be.sock,writable=on" \
    >"$w/qsd.log" 2>&1 &
QSD_PID=$!
wait_for 10 test -S "$w/be.sock" || skip "qemu-storage-daemon did not start: $(tail -n 3 "$w/qsd.log")"

shim_start "$w/shim.log" --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

rc=0
timeout 60 "$driver_bin" --socket "$w/fe.sock" --type blk --pattern-sector "$sector" \
    >"$w/driver.out" 2>"$w/driver.log" || rc=$?
cat "$w/driver.out"
if (( rc != 0 )); then
    echo "--- driver log:"; tail -n 20 "$w/driver.log"
    echo "--- shim log:"; tail -n 20 "$w/shim.log"
    echo "--- trace tail:"; tail -n 30 "$w/trace.txt"
    fail "vdpa-driver exited with status $rc"
fi

sectors=$(( size_mib * 1024 * 1024 / 512 ))
grep -q "^vdpa-driver: config: capacity $sectors sectors ($size_mib MiB)" "$w/driver.out" ||
    fail "capacity read through the shim is not the image size ($sectors sectors): $(grep 'config:' "$w/driver.out")"
grep -q '^vdpa-driver: device ID string "' "$w/driver.out" || fail "no GET_ID answer from the daemon"
grep -q "^vdpa-driver: blk: wrote+read 4096 bytes at sector $sector: match\$" "$w/driver.out" ||
    fail "blk summary: $(tail -n 1 "$w/driver.out")"
python3 -c 'import sys; s = int(sys.argv[1]); sys.stdout.buffer.write(bytes((i * 31 + 7 + s) & 0xff for i in range(4096)))' \
    "$sector" >"$w/pattern.bin"
dd if="$w/disk.img" of="$w/readback.bin" bs=512 skip="$sector" count=8 status=none
cmp -s "$w/pattern.bin" "$w/readback.bin" || fail "the pattern is not at sector $sector of the image"
cmp -s <(head -c $((sector * 512)) "$w/disk.img") <(head -c $((sector * 512)) /dev/zero) ||
    fail "sectors before $sector were written"

t=$w/trace.txt
grep -q 'blk0 fe->shim SET_PROTOCOL_FEATURES .*VDPA.* -- down-conversion begins' "$t" || fail "no down-conversion in the trace"
grep -qE 'blk0 shim->be (SET_STATUS|GET_STATUS|VDPA_)' "$t" && fail "a vdpa-user request reached qemu-storage-daemon"
grep -q 'blk0 be->shim GET_CONFIG reply offset=0 size=' "$t" || fail "the config space was not read from the daemon"
grep -q 'blk0 shim->fe GET_CONFIG reply offset=0 size=72' "$t" || fail "the driver did not get the 72-byte config space"

wait_for 10 grep -q "session ended" "$w/shim.log" || fail "the session did not end after the driver left"
shim_stop
kill -TERM "$QSD_PID"; wait "$QSD_PID" 2>/dev/null || true; QSD_PID=""
echo "PASS: vdpa-driver -> shim (down) -> qemu-storage-daemon: capacity $sectors sectors = ${size_mib} MiB image; 4 KiB pattern found at sector $sector"
