#!/usr/bin/env bash
# Issue 15 item 1: QEMU 7.2 multiqueue virtio-net (queues=2, mq=on) ->
# vdpa-shim (pass-through) -> DPDK net_vhost queues=2. QEMU brings each
# queue pair up as its own vhost device on the same socket
# (hw/virtio/vhost-user.c vhost_user_backend_init for vq_index 0 and 2), so
# pair 1 sends GET_FEATURES, GET_PROTOCOL_FEATURES and SET_PROTOCOL_FEATURES
# again. On 44c4f61 the shim refused the second SET_PROTOCOL_FEATURES (with
# an empty reason) and QEMU reconnected at once, forever. No guest: QEMU
# connects at realize and holds the CPUs (-S).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
QEMU_PID=""
cleanup() {
    [[ -z $QEMU_PID ]] || kill -KILL "$QEMU_PID" 2>/dev/null || true
    shim_kill
    dpdk_stop_all
}
trap cleanup EXIT
STAY_S=3   # QEMU must stay connected this long after pair 1's set-up

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR
be="$w/be.sock"; fe="$w/fe.sock"

dpdk_start_vhost_backend be "$be" 2 || fail "net_vhost queues=2 did not start"
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$fe,backend=$be,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$fe" || fail "the shim did not create $fe"

# shellcheck disable=SC2046
qemu-system-x86_64 $(qemu_args "$(qemu_accel)") -S \
    -chardev "socket,id=c0,path=$fe" -netdev vhost-user,chardev=c0,id=n0,queues=2 \
    -device virtio-net-pci,netdev=n0,mq=on >"$w/qemu.log" 2>&1 &
QEMU_PID=$!

second_pair() { (( $(grep -c 'net0 fe->be SET_PROTOCOL_FEATURES' "$w/trace.txt") >= 2 )); }
wait_for 20 second_pair || fail "QEMU's second queue pair never negotiated: $(tail -n 3 "$w/qemu.log")"
grep -q 'net0 fe->be SET_PROTOCOL_FEATURES .*the same value again' "$w/trace.txt" ||
    fail "the second SET_PROTOCOL_FEATURES was not relayed as the same value"
sleep "$STAY_S"
kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited: $(tail -n 3 "$w/qemu.log")"
sessions=$(grep -c 'front-end connected' "$w/shim.log" || true)
(( sessions == 1 )) || fail "$sessions front-end sessions (a reconnect loop): $(grep -m3 -E 'warn|ended' "$w/shim.log")"
grep -q 'session ended' "$w/shim.log" && fail "the session ended: $(grep -m3 -E 'warn|ended' "$w/shim.log")"
grep -q 'bad' "$w/shim.log" && fail "the shim refused a message: $(grep -m1 bad "$w/shim.log")"
# QEMU's own complaints about the back-end, none tolerated: pass-through is
# invisible. F_VDPA implies CONFIG (docs/vdpa-user.md 2.2), so the shim
# offers F_VDPA without CONFIG and QEMU 7.2 does not print "vhost-user
# backend supports VHOST_USER_PROTOCOL_F_CONFIG but QEMU does not"
# (issue 15 item 4).
grep -q 'VHOST_USER_PROTOCOL_F_CONFIG but QEMU does not' "$w/qemu.log" &&
    fail "QEMU warns about F_CONFIG: the offer is not invisible"
if grep -i 'vhost' "$w/qemu.log" | grep -q .; then
    fail "QEMU complains: $(grep -i vhost "$w/qemu.log" | head -n 3)"
fi

kill -TERM "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null || true; QEMU_PID=""
wait_for 10 grep -q "session ended" "$w/shim.log" || fail "session did not end after QEMU quit"
shim_stop
echo "PASS: QEMU mq=on (2 pairs) <-> shim <-> net_vhost queues=2: one session, $(grep -c 'fe->be SET_PROTOCOL_FEATURES' "$w/trace.txt") SET_PROTOCOL_FEATURES relayed"
