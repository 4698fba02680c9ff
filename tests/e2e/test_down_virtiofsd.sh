#!/usr/bin/env bash
# Down-conversion to virtiofsd (QEMU 7.2's C virtiofsd, a legacy
# vhost-user-fs back-end): the reference vdpa-user driver -> vdpa-shim ->
# virtiofsd. virtiofsd has no config space: the shim synthesizes it (tag=,
# num_request_queues from the back-end's queues). Beyond the handshake, the
# driver sends FUSE_INIT on the request queue, and virtiofsd's answer comes
# back through guest memory: the rings the shim started the legacy way work.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
w=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-down-fs.XXXXXX")
VFS_PID=""
cleanup() {
    shim_kill
    [[ -z $VFS_PID ]] || kill -KILL "$VFS_PID" 2>/dev/null || true
    wait 2>/dev/null
    rm -rf "$w"
}
trap cleanup EXIT

driver_bin=$E2E_ROOT/${BUILD:-build}/vdpa-driver
[[ -x $driver_bin ]] || fail "$driver_bin is missing (run make first)"
virtiofsd=/usr/lib/qemu/virtiofsd
[[ -x $virtiofsd ]] || skip "$virtiofsd is not installed (qemu-system-common)"
mkdir "$w/share"
"$virtiofsd" --socket-path="$w/be.sock" -o source="$w/share" -o cache=none -o sandbox=chroot \
    >"$w/virtiofsd.log" 2>&1 &
VFS_PID=$!
wait_for 10 test -S "$w/be.sock" || skip "virtiofsd did not start: $(tail -n 3 "$w/virtiofsd.log")"

tag=share0
shim_start "$w/shim.log" --device "type=fs,id=fs0,frontend=$w/fe.sock,backend=$w/be.sock,tag=$tag,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

rc=0
timeout 60 "$driver_bin" --socket "$w/fe.sock" --type fs --expect-tag "$tag" \
    >"$w/driver.out" 2>"$w/driver.log" || rc=$?
cat "$w/driver.out"
if (( rc != 0 )); then
    echo "--- driver log:"; tail -n 20 "$w/driver.log"
    echo "--- shim log:"; tail -n 20 "$w/shim.log"
    echo "--- virtiofsd log:"; tail -n 10 "$w/virtiofsd.log"
    fail "vdpa-driver exited with status $rc"
fi
grep -q "^vdpa-driver: config: tag \"$tag\", num_request_queues 1\$" "$w/driver.out" ||
    fail "synthesized config: $(grep 'config:' "$w/driver.out")"
grep -q '^vdpa-driver: fs: FUSE_INIT answered, protocol 7\.[0-9]*$' "$w/driver.out" ||
    fail "fs summary: $(tail -n 1 "$w/driver.out")"

t=$w/trace.txt
grep -q 'fs0 fe->shim SET_PROTOCOL_FEATURES .*VDPA.* -- down-conversion begins' "$t" || fail "no down-conversion in the trace"
grep -qE 'fs0 shim->be (SET_STATUS|GET_STATUS|GET_CONFIG|VDPA_)' "$t" && fail "virtiofsd got a request it never offered"
grep -q 'fs0 shim->fe GET_CONFIG reply offset=0 size=40' "$t" || fail "no synthesized 40-byte config space"
for i in 0 1; do
    grep -q "fs0 shim->be SET_VRING_ENABLE need_reply index=$i num=1" "$t" || fail "ring $i never started in virtiofsd"
done

wait_for 10 grep -q "session ended" "$w/shim.log" || fail "the session did not end after the driver left"
shim_stop
echo "PASS: vdpa-driver -> shim (down) -> virtiofsd: tag \"$tag\" synthesized; $(tail -n 1 "$w/driver.out" | sed 's/^vdpa-driver: //')"
