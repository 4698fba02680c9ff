#!/usr/bin/env bash
# QEMU 7.2's vhost-user-input config traffic through the shim up-converting,
# without a Linux guest: QEMU (KVM: its vhost-user-input needs ioeventfds)
# boots a multiboot payload (tests/e2e/lib/mb_input_probe.c) that sets
# FEATURES_OK as the virtio core does and then reads ID_NAME, ID_SERIAL and
# the EV_KEY bitmap the way Linux's virtinput_probe() does: a byte write of
# select, one of subsel, then reads. QEMU passes each write on as SET_CONFIG
# offset 0 size 136 before SET_FEATURES (its vhost device starts only at
# DRIVER_OK); the shim must narrow it to select and subsel for the
# reference vdpa-user back-end, so the payload reads the back-end's name and
# serial, and the compatibility check (check=compat-matrix) stays silent.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"

NAME="vdpa-shim e2e keyboard"
SERIAL="e2e-input-1"
BACKEND=$E2E_ROOT/${BUILD:-build}/vdpa-backend

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
[[ -x $BACKEND ]] || fail "$BACKEND is missing (run make first)"
[[ $(qemu_accel) == kvm ]] || skip "no usable /dev/kvm: QEMU 7.2's vhost-user-input needs KVM (\"requires kvm\")"
w=$(mktemp -d /tmp/vdpa-shim-qemu-input.XXXXXX)
BE_PID="" QEMU_PID=""
cleanup() {
    [[ -z $QEMU_PID ]] || kill "$QEMU_PID" 2>/dev/null || true
    [[ -z $BE_PID ]] || kill "$BE_PID" 2>/dev/null || true
    shim_kill
    rm -rf "$w"
}
trap cleanup EXIT

if ! gcc -m32 -ffreestanding -fno-pic -fno-stack-protector -nostdlib -O1 -Wall -Wextra -Werror \
    -c "$here/lib/mb_input_probe.c" -o "$w/probe.o" 2>"$w/cc.log" ||
    ! ld -m elf_i386 -T "$here/lib/multiboot.ld" -o "$w/probe.elf" "$w/probe.o" 2>>"$w/cc.log"; then
    skip "cannot build the 32-bit multiboot payload here: $(head -n 2 "$w/cc.log")"
fi

"$BACKEND" --socket "$w/be.sock" --type input --input-name "$NAME" --input-serial "$SERIAL" \
    2>"$w/backend.log" &
BE_PID=$!
wait_for 5 test -S "$w/be.sock" || fail "vdpa-backend did not create its socket: $(tail -n 3 "$w/backend.log")"
shim_start "$w/shim.log" --device "type=input,id=input0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket: $(tail -n 3 "$w/shim.log")"

# shellcheck disable=SC2046
qemu-system-x86_64 $(qemu_args kvm) -no-reboot \
    -chardev "socket,id=c0,path=$w/fe.sock" -device vhost-user-input-pci,chardev=c0 \
    -chardev "file,id=dbg,path=$w/debugcon.log" -device isa-debugcon,iobase=0x402,chardev=dbg \
    -device isa-debug-exit,iobase=0xf4,iosize=1 -kernel "$w/probe.elf" >"$w/qemu.log" 2>&1 &
QEMU_PID=$!
probe_ended() { grep -qE 'probe: (done|FAIL)' "$w/debugcon.log"; }
if ! wait_for 60 probe_ended; then
    kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited: $(tail -n 5 "$w/qemu.log")"
    fail "the payload did not finish within 60 s: $(tail -n 5 "$w/debugcon.log" 2>/dev/null)"
fi
wait "$QEMU_PID" || true # isa-debug-exit: QEMU's status is the payload's, not ours
QEMU_PID=""
if grep -q 'probe: FAIL' "$w/debugcon.log"; then
    fail "$(grep 'probe: FAIL' "$w/debugcon.log")"
fi
grep -qF "probe: select 1 subsel 0 size ${#NAME} u=$NAME" "$w/debugcon.log" ||
    fail "the guest did not read the back-end's ID_NAME: $(grep 'select 1 ' "$w/debugcon.log")"
grep -qF "probe: select 2 subsel 0 size ${#SERIAL} u=$SERIAL" "$w/debugcon.log" ||
    fail "the guest did not read the back-end's ID_SERIAL: $(grep 'select 2 ' "$w/debugcon.log")"
grep -qE 'probe: select 17 subsel 1 size [1-9]' "$w/debugcon.log" ||
    fail "the guest read no EV_KEY bitmap: $(grep 'select 17 ' "$w/debugcon.log")"
# what crossed the shim: QEMU's whole-structure writes, narrowed for the back-end
grep -q 'fe->shim SET_CONFIG need_reply offset=0 size=136 flags=0x0' "$w/trace.txt" ||
    fail "QEMU sent no whole-structure SET_CONFIG (the trace has: $(grep -m1 SET_CONFIG "$w/trace.txt"))"
! grep -q 'fe->shim SET_FEATURES' "$w/trace.txt" ||
    fail "QEMU sent SET_FEATURES: the writes were not early, which this test is about"
writes=$(grep -c 'shim->be SET_CONFIG need_reply offset=0 size=2 flags=0x0' "$w/trace.txt" || true)
(( writes == 6 )) || fail "expected 6 narrowed writes (select, subsel for 3 reads), saw $writes"
! grep -q 'SET_CONFIG reply ack=[1-9]' "$w/trace.txt" ||
    fail "a SET_CONFIG was refused: $(grep -m1 'SET_CONFIG reply ack=[1-9]' "$w/trace.txt")"
shim_stop
echo "PASS: QEMU 7.2 vhost-user-input (kvm, no Linux guest) -> shim (up) -> vdpa-user input back-end: name, serial and key bits read, $writes narrowed early writes"
