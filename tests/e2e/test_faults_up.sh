#!/usr/bin/env bash
# Fault injection in up-conversion, with real programs:
#   QEMU 7.2 (vhost-user-blk, SeaBIOS boots from it) -> [fault proxy] -> vdpa-shim
#   -> [fault proxy] -> vdpa-backend (the reference vdpa-user back-end)
# A clean boot counts the messages on each link; then every position on each
# link is cut (as if that peer died there). Every time: the shim survives;
# when the back-end goes, QEMU gets a clean disconnect (so its reconnect
# could work); when QEMU goes, the vdpa-user back-end's connection is closed,
# which resets it (vdpa-user 3.1); the session ends and the shim's fds are
# back to the idle count. At the end a clean boot still writes through.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
w=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-faults-up.XXXXXX")
QEMU_PID=""; BACKEND_PID=""; PROXY_PID=""
cleanup() {
    [[ -z $QEMU_PID ]] || kill -KILL "$QEMU_PID" 2>/dev/null || true
    shim_kill
    [[ -z $PROXY_PID ]] || kill -KILL "$PROXY_PID" 2>/dev/null || true
    [[ -z $BACKEND_PID ]] || kill -KILL "$BACKEND_PID" 2>/dev/null || true
    wait 2>/dev/null
    rm -rf "$w"
}
trap cleanup EXIT

backend_bin=$E2E_ROOT/${BUILD:-build}/vdpa-backend
proxy=$here/lib/faultproxy.py
[[ -x $backend_bin ]] || fail "$backend_bin is missing (run make first)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
make_boot_disk "$w/disk.img"

"$backend_bin" --socket "$w/vb.sock" --type blk --disk "$w/disk.img" 2>"$w/backend.log" &
BACKEND_PID=$!
wait_for 5 test -S "$w/vb.sock" || fail "vdpa-backend did not start: $(tail -n 3 "$w/backend.log")"
shim_start "$w/shim.log" --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
idle_fds=$(fd_count "$_SHIM_PID")
sessions=0

proxy_gone() { ! kill -0 "$PROXY_PID" 2>/dev/null; }
backend_idle() {
    (( $(grep -c 'front-end connected' "$w/backend.log") ==
       $(grep -cE 'front-end disconnected|closing the connection' "$w/backend.log") ))
}
cut_or_booted() { proxy_gone || boot_sector_ran "$w/debugcon.log"; }

# boot SIDE CUT: QEMU boots SeaBIOS from the disk through the shim, with the
# proxy on SIDE (be: shim->back-end, fe: QEMU->shim) cutting at message CUT
# (0: never); sets $booted.
boot() {
    local side=$1 cut=$2 sock=$w/fe.sock accel
    rm -f "$w/proxy.sock" "$w/debugcon.log"
    if [[ $side == be ]]; then
        python3 "$proxy" "$w/be.sock" "$w/vb.sock" "$cut" >"$w/proxy.out" 2>&1 &
        PROXY_PID=$!
        wait_for 5 test -S "$w/be.sock" || fail "the fault proxy did not start"
    else
        ln -sf "$w/vb.sock" "$w/be.sock"
        python3 "$proxy" "$w/proxy.sock" "$w/fe.sock" "$cut" >"$w/proxy.out" 2>&1 &
        PROXY_PID=$!
        wait_for 5 test -S "$w/proxy.sock" || fail "the fault proxy did not start"
        sock=$w/proxy.sock
    fi
    accel=$(qemu_accel)
    # shellcheck disable=SC2046
    qemu-system-x86_64 $(qemu_args "$accel") \
        -chardev "socket,id=c0,path=$sock" -device vhost-user-blk-pci,chardev=c0,id=blk0,bootindex=1 \
        -chardev "file,id=dbg,path=$w/debugcon.log" -device isa-debugcon,iobase=0x402,chardev=dbg \
        >"$w/qemu.log" 2>&1 &
    QEMU_PID=$!
    booted=0
    if (( cut == 0 )); then
        wait_for 60 boot_sector_ran "$w/debugcon.log" && booted=1
    else
        # the proxy exits when it cuts (QEMU may then retry or give up); the
        # last positions are in QEMU's stop, after the boot
        wait_for 60 cut_or_booted || fail "$side cut at $cut: neither a cut nor a boot"
    fi
    kill -TERM "$QEMU_PID" 2>/dev/null || true
    wait "$QEMU_PID" 2>/dev/null || true
    QEMU_PID=""
    wait_for 10 proxy_gone || fail "$side cut at $cut: the proxy is still relaying after QEMU quit"
    wait "$PROXY_PID" 2>/dev/null || true
    PROXY_PID=""
    rm -f "$w/be.sock"
    sessions=$((sessions + 1))
    wait_for 10 count_at_least "$w/shim.log" 'session ended' "$sessions" ||
        fail "$side cut at $cut: the shim's session did not end"
    kill -0 "$_SHIM_PID" 2>/dev/null || fail "$side cut at $cut: the shim died: $(tail -n 5 "$w/shim.log")"
    kill -0 "$BACKEND_PID" 2>/dev/null || fail "$side cut at $cut: vdpa-backend died: $(tail -n 5 "$w/backend.log")"
    # every connection the shim made to the back-end is closed again (a
    # vdpa-user back-end resets when its front-end goes, spec 3.1)
    wait_for 5 backend_idle || fail "$side cut at $cut: the shim left a connection to vdpa-backend open"
    wait_for 5 fds_are "$_SHIM_PID" "$idle_fds" ||
        fail "$side cut at $cut: the shim holds $(fd_count "$_SHIM_PID") fds, $idle_fds when idle: $(ls -l /proc/$_SHIM_PID/fd | tail -n +2 | awk '{print $9 $10 $11}' | tr '\n' ' ') $(tail -n 8 "$w/shim.log")"
}

faults=0
for side in be fe; do
    boot "$side" 0
    (( booted )) || fail "the clean boot ($side) failed: $(tail -n 3 "$w/qemu.log")"
    total=$(sed -n 's/^messages: //p' "$w/proxy.out")
    [[ -n $total && $total -gt 10 ]] || fail "the proxy counted '$total' messages"
    for cut in $(seq 1 "$total"); do
        boot "$side" "$cut"
        grep -q "^cut at $cut" "$w/proxy.out" || fail "$side: the proxy did not cut at $cut"
        faults=$((faults + 1))
    done
    # every cut ended a back-end connection: the back-end saw each go
    echo "$side link: $total messages, a fault at each: the shim survived every one, fds back to $idle_fds"
done

boot be 0
(( booted )) || fail "the final clean boot failed"
boot_sector_copied "$w/disk.img" || fail "the final boot did not write through"
shim_stop
echo "PASS: up-conversion: $faults faults injected (every message on both links, QEMU and vdpa-backend); the shim survived all, no fd left"
