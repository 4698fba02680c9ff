#!/usr/bin/env bash
# Fault injection in down-conversion, with real programs:
#   vdpa-driver -> [fault proxy] -> vdpa-shim -> [fault proxy] -> qemu-storage-daemon
# A clean run first counts the messages on each link. Then, for every
# position N on each link, the proxy cuts the connection at the N-th
# message (as if that peer died there). Every time: the shim survives, the
# other side gets a defined outcome (the driver fails with an error and does
# not hang; qemu-storage-daemon's connection is closed), the shim's session
# ends and its open fds are back to the idle count. At the end a clean run
# still writes its pattern through the same shim and daemon.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
w=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-faults-down.XXXXXX")
QSD_PID=""; PROXY_PID=""
cleanup() {
    shim_kill
    [[ -z $PROXY_PID ]] || kill -KILL "$PROXY_PID" 2>/dev/null || true
    [[ -z $QSD_PID ]] || kill -KILL "$QSD_PID" 2>/dev/null || true
    wait 2>/dev/null
    rm -rf "$w"
}
trap cleanup EXIT

driver_bin=$E2E_ROOT/${BUILD:-build}/vdpa-driver
proxy=$here/lib/faultproxy.py
[[ -x $driver_bin ]] || fail "$driver_bin is missing (run make first)"
command -v qemu-storage-daemon >/dev/null || skip "qemu-storage-daemon is not installed"

truncate -s 16M "$w/disk.img"
qemu-storage-daemon --blockdev "driver=file,node-name=file0,filename=$w/disk.img" \
    --export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$w/qsd.sock,writable=on" \
    >"$w/qsd.log" 2>&1 &
QSD_PID=$!
wait_for 10 test -S "$w/qsd.sock" || skip "qemu-storage-daemon did not start: $(tail -n 3 "$w/qsd.log")"

# The shim's back-end is the proxy's socket; the proxy goes on to the daemon.
shim_start "$w/shim.log" --device "type=blk,id=blk0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
idle_fds=$(fd_count "$_SHIM_PID")
sessions=0

# run SIDE CUT: one driver run with the proxy on SIDE (be: shim->daemon,
# fe: driver->shim) cutting at message CUT (0: never). Leaves the proxy's
# output in $w/proxy.out and the driver's exit status in $rc.
run() {
    local side=$1 cut=$2 target=$w/fe.sock
    rm -f "$w/proxy.sock"
    if [[ $side == be ]]; then
        python3 "$proxy" "$w/be.sock" "$w/qsd.sock" "$cut" >"$w/proxy.out" 2>&1 &
        PROXY_PID=$!
        wait_for 5 test -S "$w/be.sock" || fail "the fault proxy did not start"
    else
        # the shim reaches the daemon directly
        ln -sf "$w/qsd.sock" "$w/be.sock"
        python3 "$proxy" "$w/proxy.sock" "$w/fe.sock" "$cut" >"$w/proxy.out" 2>&1 &
        PROXY_PID=$!
        wait_for 5 test -S "$w/proxy.sock" || fail "the fault proxy did not start"
        target=$w/proxy.sock
    fi
    rc=0
    timeout 30 "$driver_bin" --socket "$target" --type blk --pattern-sector 8 \
        >"$w/driver.out" 2>"$w/driver.log" || rc=$?
    (( rc != 124 )) || fail "$side cut at $cut: the driver hung (no outcome in 30 s)"
    wait "$PROXY_PID" 2>/dev/null || true
    PROXY_PID=""
    rm -f "$w/be.sock"
    sessions=$((sessions + 1))
    wait_for 10 count_at_least "$w/shim.log" 'session ended' "$sessions" ||
        fail "$side cut at $cut: the shim's session did not end"
    kill -0 "$_SHIM_PID" 2>/dev/null || fail "$side cut at $cut: the shim died: $(tail -n 5 "$w/shim.log")"
    wait_for 5 fds_are "$_SHIM_PID" "$idle_fds" ||
        fail "$side cut at $cut: the shim holds $(fd_count "$_SHIM_PID") fds, $idle_fds when idle"
}

faults=0
for side in be fe; do
    run "$side" 0
    (( rc == 0 )) || fail "the clean run ($side) failed: $(tail -n 3 "$w/driver.log")"
    total=$(sed -n 's/^messages: //p' "$w/proxy.out")
    [[ -n $total && $total -gt 10 ]] || fail "the proxy counted '$total' messages"
    for cut in $(seq 1 "$total"); do
        run "$side" "$cut"
        grep -q "^cut at $cut" "$w/proxy.out" || fail "$side: the proxy did not cut at $cut"
        (( rc != 0 )) || fail "$side cut at $cut: the driver reported success on a broken device"
        faults=$((faults + 1))
    done
    echo "$side link: $total messages, a fault at each: the shim survived every one, fds back to $idle_fds"
done

# The same shim and daemon still work.
run be 0
(( rc == 0 )) || fail "the final clean run failed: $(tail -n 3 "$w/driver.log")"
grep -q 'match$' "$w/driver.out" || fail "the final run did not read back its pattern"
shim_stop
echo "PASS: down-conversion: $faults faults injected (every message on both links); the shim survived all, no fd left, the driver always got an outcome"
