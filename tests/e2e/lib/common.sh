# shellcheck shell=bash
# common.sh - shared helpers for the end-to-end tests (sourced).
#
# Exit codes every e2e test uses: 0 pass, 1 fail, 77 skip (a peer cannot
# start here; the reason is printed on a "SKIP:" line and counted).

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
SHIM_BIN=${SHIM_BIN:-$E2E_ROOT/${BUILD:-build}/vdpa-shim}
_SHIM_PID=""
_SHIM_LOG=""

skip() { echo "SKIP: $*"; exit 77; }

fail() {
    echo "FAIL: $*"
    if [[ -n $_SHIM_LOG && -f $_SHIM_LOG ]]; then
        echo "--- shim log tail:"; tail -n 30 "$_SHIM_LOG"
    fi
    exit 1
}

# wait_for TIMEOUT_S CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
    local limit=$(( $1 * 10 )); shift
    local i
    for (( i = 0; i < limit; i++ )); do
        "$@" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# shim_start LOG ARGS...: runs the shim in the background, logging to LOG.
shim_start() {
    _SHIM_LOG=$1; shift
    [[ -x $SHIM_BIN ]] || fail "shim binary $SHIM_BIN is missing (run make first)"
    "$SHIM_BIN" "$@" 2>"$_SHIM_LOG" &
    _SHIM_PID=$!
}

# shim_stop: SIGTERM, then checks a clean exit (status 0) and a clean log
# (no sanitizer report).
shim_stop() {
    [[ -n $_SHIM_PID ]] || return 0
    local pid=$_SHIM_PID status=0
    _SHIM_PID=""
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || status=$?
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$_SHIM_LOG"; then
        fail "the shim's log has a sanitizer report"
    fi
    # Tests run with check=compat-matrix: a peer that does what the matrix
    # says its role and type never do is a finding.
    if grep -q ': check: ' "$_SHIM_LOG"; then
        fail "the compatibility check reported: $(grep -m3 ': check: ' "$_SHIM_LOG")"
    fi
    (( status == 0 )) || fail "the shim exited with status $status on SIGTERM"
}

shim_kill() {
    [[ -z $_SHIM_PID ]] || kill -KILL "$_SHIM_PID" 2>/dev/null || true
    _SHIM_PID=""
}

# fd_count PID: open fds of a process.
fd_count() { ls "/proc/$1/fd" | wc -l; }
# fds_are PID N / count_at_least FILE PATTERN N: conditions for wait_for,
# evaluated again on every try (a "$(...)" argument would be evaluated once).
fds_are() { (( $(fd_count "$1") == $2 )); }
count_at_least() { (( $(grep -c -- "$2" "$1") >= $3 )); }

# qemu_accel: kvm where /dev/kvm is usable, else tcg.
qemu_accel() { if [[ -r /dev/kvm && -w /dev/kvm ]]; then echo kvm; else echo tcg; fi; }

# qemu_args ACCEL: a minimal machine whose RAM is a shareable memfd, as
# every vhost-user device needs.
qemu_args() {
    echo "-machine q35,accel=$1 -nodefaults -display none -m 256" \
         "-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem"
}

# make_boot_disk FILE: a 64 MiB disk whose 16-bit boot sector writes itself
# to CHS 0/0/2 (LBA 1) with INT 13h AH=03, prints 'O' (or 'E' on error) on
# the debug console port 0x402, and halts.
make_boot_disk() {
    truncate -s 64M "$1"
    python3 - "$1" <<'PY'
import sys
code = bytes.fromhex("31c08ed88ec0b403b001b500b102b600bb007ccd137204b04feb02b045ba0204eefaf4ebfc")
sec = bytearray(512); sec[:len(code)] = code
sec[440:448] = b"VDPASHIM"; sec[510:512] = b"\x55\xaa"
with open(sys.argv[1], "r+b") as f: f.write(sec)
PY
}

# boot_sector_ran DEBUGCON_LOG: SeaBIOS booted the disk and the sector ran.
boot_sector_ran() {
    grep -q "Booting from Hard Disk" "$1" && tail -c 4 "$1" | grep -q '[OE]'
}

# boot_sector_copied DISK: LBA 1 holds a copy of LBA 0.
boot_sector_copied() {
    cmp -s <(head -c 512 "$1") <(dd if="$1" bs=512 skip=1 count=1 2>/dev/null)
}

# qemu_boot_blk W: boots QEMU with a vhost-user-blk disk on W/fe.sock whose
# image is W/disk.img (made by make_boot_disk); SeaBIOS runs the boot sector,
# which writes through the disk; fails unless the copy is in the image.
# Sets QEMU_PID (the caller stops QEMU).
qemu_boot_blk() {
    local w=$1 accel
    accel=$(qemu_accel)
    # shellcheck disable=SC2046
    qemu-system-x86_64 $(qemu_args "$accel") \
        -chardev "socket,id=c0,path=$w/fe.sock" -device vhost-user-blk-pci,chardev=c0,id=blk0,bootindex=1 \
        -chardev "file,id=dbg,path=$w/debugcon.log" -device isa-debugcon,iobase=0x402,chardev=dbg \
        >"$w/qemu.log" 2>&1 &
    QEMU_PID=$!
    if ! wait_for 60 boot_sector_ran "$w/debugcon.log"; then
        kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited: $(tail -n 5 "$w/qemu.log")"
        fail "SeaBIOS did not boot from the vhost-user-blk disk within 60 s ($accel)"
    fi
    tail -c 4 "$w/debugcon.log" | grep -q 'O' || fail "INT 13h write failed (the guest saw an error)"
    boot_sector_copied "$w/disk.img" || fail "sector 2 of the image does not hold the guest's copy"
}
