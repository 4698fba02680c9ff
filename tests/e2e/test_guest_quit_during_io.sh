#!/usr/bin/env bash
# QEMU quits (QMP quit) while a Linux guest's virtio-blk I/O runs through the
# shim, in three sub-cases run one after the other, each with its own shims
# and back-end:
#   pass-through  QEMU -> vdpa-shim -> qemu-storage-daemon
#   up            QEMU -> vdpa-shim -> the reference vdpa-user back-end
#   chain         QEMU -> vdpa-shim #1 (up) -> vdpa-shim #2 (down) -> qemu-storage-daemon
# The guest runs blk-rounds (a 4 KiB O_DIRECT write + read back every
# ~100-150 ms, no marker, so it never stops by itself); after 3 rounds the
# host quits QEMU. Asserted: QEMU exits within GUEST_EXIT_TIMEOUT; every shim
# logs "session ended (front-end gone)" and holds the fds it held before the
# guest started; the back-end saw a clean end (its ring stopped by
# GET_VRING_BASE before the close, still running, accepts a new connection
# and answers GET_FEATURES, no error in its log); the image holds
# every block the guest reported written; check= reported nothing and every
# shim exits 0 on SIGTERM. A sub-case whose back-end is missing is skipped
# loudly and counted; the test is skipped only when all three are.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
top=$(mktemp -d /tmp/vdpa-shim-guest-quit-io.XXXXXX)
trap 'guest_stop_all; shim_kill; _guest_kill_pid "$GUEST_DOWN_PID"; guest_qsd_stop; guest_backend_stop; guest_cleanup_dir "$top"' EXIT

ROUNDS_BEFORE_QUIT=3 DELAY_MS=100 MATRIX=$E2E_ROOT/compat-matrix
skipped=0 summary=()

# quit_boot W NONCE: the guest doing blk-rounds on W/fe.sock, quit by QMP
# after ROUNDS_BEFORE_QUIT rounds. Sets QUIT_MS and QUIT_ROUNDS.
quit_boot() {
    local w=$1 t0
    guest_boot "$w" g blk-rounds "$(guest_blk_rounds_params "$2" "delay_ms=$DELAY_MS")" \
        -chardev "socket,id=c0,path=$w/fe.sock" \
        -device "vhost-user-blk-pci,chardev=c0$(guest_vhost_pci_opts)"
    wait_for 60 guest_round_at_least "$w" g "$ROUNDS_BEFORE_QUIT" ||
        guest_fail "$w" g "the guest did not do $ROUNDS_BEFORE_QUIT rounds"
    t0=$(date +%s%N)
    guest_quit "$w" g || guest_fail "$w" g "QEMU did not exit within ${GUEST_EXIT_TIMEOUT:-10}s of QMP quit"
    QUIT_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
    QUIT_ROUNDS=$(guest_round_count "$w" g)
    echo "QEMU quit after round $QUIT_ROUNDS, exited ${QUIT_MS} ms after the quit"
    echo "QEMU's log: $(tr '\n' '|' < "$w/g.qemu.log")"
    ! grep -q '^RESULT done ' <(tr -d '\r' < "$w/g.console") ||
        guest_fail "$w" g "the guest finished by itself: its I/O was not running at the quit"
}

# shim_idle_again W LOG PID FDS WHO: LOG has the front-end's session end (and
# no back-end loss) and PID holds FDS fds again.
shim_idle_again() {
    wait_for 10 count_at_least "$2" "session ended (front-end gone)" 1 ||
        guest_fail "$1" g "$5 did not log the session end (front-end gone): $(tail -n 3 "$2")"
    ! grep -q 'session ended (back-end gone)' "$2" || guest_fail "$1" g "$5 lost its back-end"
    wait_for 5 fds_are "$3" "$4" ||
        guest_fail "$1" g "$5 holds $(fd_count "$3") fds after the quit, $4 before the guest"
    echo "$5: session ended (front-end gone), back to its $4 idle fds"
}

# backend_clean W PID LOG WHO TRACE: the back-end's ring was stopped before
# the connection closed (its GET_VRING_BASE reply in TRACE, the trace of the
# shim in front of it), it is still running, accepts a new connection on
# W/be.sock and its log has no error.
backend_clean() {
    local out
    grep -qE 'be->(fe|shim) GET_VRING_BASE reply' "$5" ||
        guest_fail "$1" g "$4's ring was not stopped before the end (no GET_VRING_BASE reply in $5)"
    kill -0 "$2" 2>/dev/null || guest_fail "$1" g "$4 exited after the quit: $(tail -n 3 "$3")"
    out=$(guest_vu_probe "$1/be.sock") || guest_fail "$1" g "$4 does not accept a new connection: $out"
    ! grep -qiE 'error|fail|abort' "$3" || guest_fail "$1" g "$4's log: $(grep -m3 -iE 'error|fail|abort' "$3")"
    echo "$4: ring stopped ($(grep -E 'be->(fe|shim) GET_VRING_BASE reply' "$5" | tail -n 1 | cut -d' ' -f5-)), still running, a new connection got GET_FEATURES $out, no error in its log"
}

# image_check W IMAGE NONCE: every round the guest reported is in IMAGE.
image_check() { guest_blk_rounds_check "$1" g "$2" "$3" "$QUIT_ROUNDS"; }

case_passthrough() {
    local w=$top/passthrough nonce=$RANDOM fds
    mkdir -p "$w"
    guest_qsd "$w"
    shim_start "$w/shim.log" --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$MATRIX" \
        --trace "$w/trace.txt"
    wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
    fds=$(fd_count "$_SHIM_PID")
    quit_boot "$w" "$nonce"
    shim_idle_again "$w" "$w/shim.log" "$_SHIM_PID" "$fds" "the shim"
    backend_clean "$w" "$GUEST_QSD_PID" "$w/qsd.log" "qemu-storage-daemon" "$w/trace.txt"
    image_check "$w" "$w/disk.img" "$nonce"
    shim_stop
    guest_qsd_stop
}

case_upconv() {
    local w=$top/up nonce=$RANDOM fds
    mkdir -p "$w"
    truncate -s 64M "$w/disk.img"
    guest_vdpa_backend "$w" --type blk --disk "$w/disk.img"
    shim_start "$w/shim.log" --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$MATRIX" \
        --trace "$w/trace.txt"
    wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
    fds=$(fd_count "$_SHIM_PID")
    quit_boot "$w" "$nonce"
    grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "the shim did not up-convert"
    shim_idle_again "$w" "$w/shim.log" "$_SHIM_PID" "$fds" "the shim"
    wait_for 5 grep -q 'front-end disconnected' "$w/backend.log" ||
        guest_fail "$w" g "the reference back-end did not see the shim's session end: $(tail -n 3 "$w/backend.log")"
    backend_clean "$w" "$GUEST_BACKEND_PID" "$w/backend.log" "the reference back-end" "$w/trace.txt"
    image_check "$w" "$w/disk.img" "$nonce"
    shim_stop
    guest_backend_stop
}

case_chain() {
    local w=$top/chain nonce=$RANDOM fds fds_down
    mkdir -p "$w"
    GUEST_FAIL_HOOK=guest_down_shim_tail
    guest_qsd "$w"
    guest_down_shim "$w" "type=blk"
    fds_down=$(fd_count "$GUEST_DOWN_PID")
    shim_start "$w/shim.log" --device "type=blk,id=up0,frontend=$w/fe.sock,backend=$w/mid.sock,check=$MATRIX" \
        --trace "$w/trace.txt"
    wait_for 5 test -S "$w/fe.sock" || fail "shim #1 did not create its socket"
    fds=$(fd_count "$_SHIM_PID")
    quit_boot "$w" "$nonce"
    grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "shim #1 did not up-convert"
    grep -q 'down-conversion begins' "$w/trace-down.txt" || guest_fail "$w" g "shim #2 did not down-convert"
    shim_idle_again "$w" "$w/shim.log" "$_SHIM_PID" "$fds" "shim #1"
    shim_idle_again "$w" "$w/shim-down.log" "$GUEST_DOWN_PID" "$fds_down" "shim #2"
    backend_clean "$w" "$GUEST_QSD_PID" "$w/qsd.log" "qemu-storage-daemon" "$w/trace-down.txt"
    image_check "$w" "$w/disk.img" "$nonce"
    shim_stop
    guest_down_shim_stop
    guest_qsd_stop
    GUEST_FAIL_HOOK=""
}

# run_case NAME NEEDS: runs case_NAME unless the program NEEDS is missing
# (then a loud, counted skip).
run_case() {
    local start=$SECONDS
    if [[ -n $2 ]] && ! command -v "$2" >/dev/null; then
        echo "SKIP (sub-case $1): $2 is not installed"
        skipped=$((skipped + 1)); summary+=("$1: SKIPPED ($2 missing)"); return 0
    fi
    echo "=== sub-case $1"
    "case_$1"
    summary+=("$1: PASS in $((SECONDS - start)) s (quit after round $QUIT_ROUNDS, QEMU gone in $QUIT_MS ms)")
}

guest_prepare
run_case passthrough qemu-storage-daemon
run_case upconv ""
run_case chain qemu-storage-daemon
printf '%s\n' "${summary[@]}"
(( skipped < 3 )) || skip "all three sub-cases were skipped"
(( skipped == 0 )) || echo "WARNING: $skipped of 3 sub-cases SKIPPED"
echo "PASS: QEMU quit during a guest's virtio-blk I/O ($((3 - skipped)) of 3 sub-cases): QEMU exited, every shim ended its session and went back to its idle fds, the back-ends ended cleanly, every reported block is in the image"
