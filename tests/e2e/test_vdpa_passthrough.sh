#!/usr/bin/env bash
# vdpa-user pass-through with real programs on both sides:
#   vdpa-driver (the reference vdpa-user front-end) -> vdpa-shim
#   -> vdpa-backend (the reference vdpa-user back-end)
# First net (loopback: every frame sent must come back), then blk on a 64 MiB
# image (the 4 KiB pattern the driver writes must be in the image file).
# The trace must show the driver's F_VDPA acknowledgement and the vdpa-user
# requests going through unchanged; the shim must exit 0 on SIGTERM and no
# process may be left behind.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"

build=$E2E_ROOT/${BUILD:-build}
backend_bin=$build/vdpa-backend
driver_bin=$build/vdpa-driver
[[ -x $backend_bin ]] || fail "$backend_bin is missing (run make first)"
[[ -x $driver_bin ]] || fail "$driver_bin is missing (run make first)"

w=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-passthrough.XXXXXX")
BACKEND_PID=""
cleanup() {
    shim_kill
    [[ -z $BACKEND_PID ]] || kill -KILL "$BACKEND_PID" 2>/dev/null || true
    rm -rf "$w"
}
trap cleanup EXIT

# backend_stop: SIGTERM, exit status 0, no sanitizer report.
backend_stop() {
    local pid=$BACKEND_PID status=0
    BACKEND_PID=""
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || status=$?
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1"; then
        fail "the back-end's log has a sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error' "$1")"
    fi
    (( status == 0 )) || fail "vdpa-backend exited with status $status on SIGTERM"
}

# run_device TYPE BACKEND_ARGS... -- DRIVER_ARGS...: back-end on be.sock, the
# shim in pass-through between fe.sock and be.sock, the driver on fe.sock.
run_device() {
    local type=$1; shift
    local be_args=() drv_args=()
    while [[ $1 != -- ]]; do be_args+=("$1"); shift; done
    shift
    drv_args=("$@")
    rm -f "$w/be.sock" "$w/fe.sock" "$w/trace.txt"

    "$backend_bin" --socket "$w/be.sock" --type "$type" "${be_args[@]}" 2>"$w/backend-$type.log" &
    BACKEND_PID=$!
    wait_for 5 test -S "$w/be.sock" || fail "vdpa-backend did not start: $(tail -n 3 "$w/backend-$type.log")"
    shim_start "$w/shim-$type.log" --device "type=$type,id=${type}0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" \
        --trace "$w/trace.txt"
    wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

    local rc=0
    timeout 60 "$driver_bin" --socket "$w/fe.sock" --type "$type" "${drv_args[@]}" \
        >"$w/driver-$type.out" 2>"$w/driver-$type.log" || rc=$?
    cat "$w/driver-$type.out"
    if (( rc != 0 )); then
        echo "--- driver log:"; cat "$w/driver-$type.log"
        echo "--- back-end log:"; tail -n 20 "$w/backend-$type.log"
        echo "--- trace tail:"; tail -n 20 "$w/trace.txt"
        fail "vdpa-driver ($type) exited with status $rc"
    fi
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$w/driver-$type.log"; then
        fail "the driver's log has a sanitizer report"
    fi

    # Pass-through, not up-conversion: the driver's own F_VDPA acknowledgement
    # and the vdpa-user requests reach the back-end.
    local t=$w/trace.txt
    grep -q 'up-conversion begins' "$t" && fail "the shim up-converted a vdpa-user front-end"
    grep -qE 'fe->be SET_PROTOCOL_FEATURES .*protocol_features=0x8[0-9a-f]{15}' "$t" ||
        fail "no SET_PROTOCOL_FEATURES with bit 63 forwarded: $(grep -m1 'SET_PROTOCOL_FEATURES' "$t")"
    grep -q 'be->fe SET_PROTOCOL_FEATURES reply ack=0' "$t" || fail "F_VDPA acknowledgement not acked"
    local req
    for req in VDPA_GET_DEVICE_ID VDPA_GET_VQS_COUNT VDPA_GET_VRING_NUM VDPA_GET_CONFIG_SIZE \
               VDPA_SET_CONFIG_CALL VDPA_SUSPEND VDPA_RESUME; do
        grep -q "fe->be $req" "$t" || fail "$req not in the trace"
        grep -q "be->fe $req reply" "$t" || fail "no reply to $req in the trace"
    done
    grep -q 'fe->be SET_STATUS need_reply status=0xf' "$t" || fail "DRIVER_OK not in the trace"

    wait_for 10 grep -q "session ended" "$w/shim-$type.log" || fail "the shim's session did not end"
    shim_stop
    backend_stop "$w/backend-$type.log"
}

# ---- net: 1000 frames through the loopback back-end -----------------------------
run_device net --net-mode loopback -- --count 1000 --expect-mac 52:54:00:12:34:56
grep -q '^vdpa-driver: net: sent 1000, received 1000$' "$w/driver-net.out" ||
    fail "net summary: $(tail -n 1 "$w/driver-net.out")"
net_summary=$(tail -n 1 "$w/driver-net.out")

# ---- blk: 4 KiB pattern at sector 8 of a 64 MiB image ------------------------------
sector=8
truncate -s 64M "$w/disk.img"
run_device blk --disk "$w/disk.img" -- --pattern-sector "$sector"
grep -q "^vdpa-driver: blk: wrote+read 4096 bytes at sector $sector: match$" "$w/driver-blk.out" ||
    fail "blk summary: $(tail -n 1 "$w/driver-blk.out")"
# The pattern is byte i = (i * 31 + 7 + sector) & 0xff (peers/vdpa-driver/blk.c).
python3 -c 'import sys; s = int(sys.argv[1]); sys.stdout.buffer.write(bytes((i * 31 + 7 + s) & 0xff for i in range(4096)))' \
    "$sector" >"$w/pattern.bin"
dd if="$w/disk.img" of="$w/readback.bin" bs=512 skip="$sector" count=8 status=none
cmp -s "$w/pattern.bin" "$w/readback.bin" || fail "the pattern is not at sector $sector of the image"
cmp -s <(head -c $((sector * 512)) "$w/disk.img") <(head -c $((sector * 512)) /dev/zero) ||
    fail "the sectors before $sector were written"
blk_summary=$(tail -n 1 "$w/driver-blk.out")

# ---- Nothing left running ------------------------------------------------------------
left=$(pgrep -f -- "$w/" || true)
[[ -z $left ]] || fail "processes left behind: $(ps -o pid,args -p "${left//$'\n'/,}" | tail -n +2)"

echo "PASS: vdpa-driver -> shim (pass-through) -> vdpa-backend: ${net_summary#vdpa-driver: }; ${blk_summary#vdpa-driver: }"
