#!/usr/bin/env bash
# The shim restarted under a guest's virtiofs device (pass-through: QEMU
# vhost-user-fs-pci -> vdpa-shim -> virtiofsd, QEMU 7.2's C one): what QEMU
# 7.2 does, asserted exactly, because its vhost-user-fs has no reconnection
# (hw/virtio/vhost-user-fs.c registers no chardev event handler, unlike
# vhost-user-blk's vhost_user_blk_event and the vhost-user netdev's
# net_vhost_user_event, and its realize does not wait for the connection):
#  1. a vhost-user-fs-pci device on a chardev with reconnect=1 (the only way
#     QEMU reconnects) cannot even be created: reconnect= makes the first
#     connection asynchronous, realize sends SET_OWNER on a chardev that is
#     not connected yet, and QEMU exits with "Failed to set msg fds." and
#     "vhost_backend_init failed: Protocol error"; the shim sees a front-end
#     connect and go without a message. The same happens without the shim
#     (QEMU straight to virtiofsd), checked here too.
#  2. hot-plugged (device_add while QEMU is stopped by -S) once the chardev
#     is connected, the device works (the fs scenario passes); the shim is
#     SIGKILLed (virtiofsd, losing its front-end, exits: a new one is
#     started) and started again: QEMU's chardev reconnects, but the device
#     sends nothing on the new connection. At the next device stop (QMP
#     system_reset) QEMU sends SET_VRING_ENABLE on that connection as if it
#     were still set up (no SET_OWNER, no feature negotiation): the shim
#     refuses it and disconnects both sides, QEMU reports ring restore
#     failures, and the guest's next boot never finishes its fs scenario.
# So "the shim restarted under a guest" cannot exist for fs with QEMU 7.2 in
# any mode (docs/guests.md). If a QEMU reconnects vhost-user-fs, this test
# fails and says which step changed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-fs-restart.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_virtiofsd_stop; guest_cleanup_dir "$w"' EXIT
nonce=$RANDOM
shim_args=(--device "type=fs,id=fs0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix")
expect_realize_failure() { # NAME WHO: QEMU exited with 7.2's realize errors
    local out
    ! guest_wait "$w" "$1" 30 >"$w/$1.wait" || guest_fail "$w" "$1" "$2: QEMU started a vhost-user-fs device on a reconnect=1 chardev (QEMU reconnects vhost-user-fs now?)"
    out=$(cat "$w/$1.wait")
    [[ $out == *"exited with status 1 before the results"* ]] || guest_fail "$w" "$1" "$2: $out"
    grep -q 'vhost-user-fs-pci.*Failed to set msg fds\.' "$w/$1.qemu.log" &&
        grep -q 'vhost-user-fs-pci.*vhost_backend_init failed: Protocol error' "$w/$1.qemu.log" ||
        guest_fail "$w" "$1" "$2: QEMU failed otherwise: $(tail -n 3 "$w/$1.qemu.log")"
    echo "$2: QEMU exits at realize: $(tr '\n' ' ' < "$w/$1.qemu.log" | cut -c 1-220)"
}

# vfs_fresh: a new virtiofsd (QEMU 7.2's serves one front-end, and one that
# never got a connection would not exit by itself).
vfs_fresh() { guest_virtiofsd_stop; rm -f "$w/be.sock"; guest_virtiofsd "$w" "$nonce"; }

guest_prepare
fs_dev="vhost-user-fs-pci,chardev=c0,tag=share0$(guest_vhost_pci_opts)"

# 1a. Without the shim: QEMU straight to virtiofsd, reconnect=1.
guest_virtiofsd "$w" "$nonce"
guest_boot "$w" direct fs "tag=share0 nonce=$nonce" -chardev "socket,id=c0,path=$w/be.sock,reconnect=1" -device "$fs_dev"
expect_realize_failure direct "QEMU -> virtiofsd (no shim)"
vfs_fresh

# 1b. The same through the shim.
shim_start "$w/shim1.log" "${shim_args[@]}" --trace "$w/trace1.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
guest_boot "$w" cold fs "tag=share0 nonce=$nonce" -chardev "socket,id=c0,path=$w/fe.sock,reconnect=1" -device "$fs_dev"
expect_realize_failure cold "QEMU -> shim -> virtiofsd"
# (QEMU may exit before its asynchronous connection is made.)
! wait_for 2 grep -q 'front-end connected' "$w/shim1.log" || wait_for 10 grep -q 'session ended' "$w/shim1.log" ||
    guest_fail "$w" cold "the shim's session did not end when QEMU exited"
! grep -q 'fe->' "$w/trace1.txt" || guest_fail "$w" cold "QEMU sent the shim a message: $(grep -m1 'fe->' "$w/trace1.txt")"
vfs_fresh

# 2. Hot-plugged once the reconnecting chardev is connected (QMP
# query-chardev: c0's filename loses its "disconnected:" prefix).
chardev_connected() {
    guest_qmp "$w" g query-chardev 2>/dev/null | python3 -c '
import json, sys
print(next(c["filename"] for c in json.load(sys.stdin) if c["label"] == "c0"))' | grep -q '^unix:'
}
guest_boot "$w" g fs "tag=share0 nonce=$nonce after=wait wait_s=120" -S \
    -chardev "socket,id=c0,path=$w/fe.sock,reconnect=1" -device pcie-root-port,id=rp1,slot=1
wait_for 15 chardev_connected || guest_fail "$w" g "QEMU's chardev did not connect to the shim: $(guest_qmp "$w" g query-chardev 2>&1 | tail -n 1)"
guest_qmp "$w" g device_add "{\"driver\": \"vhost-user-fs-pci\", \"id\": \"fs0\", \"chardev\": \"c0\", \"tag\": \"share0\", \"bus\": \"rp1\"$([[ -n $(guest_vhost_pci_opts) ]] && echo ', "vectors": 0')}" >/dev/null ||
    guest_fail "$w" g "device_add vhost-user-fs-pci failed: $(tail -n 2 "$w/g.qemu.log")"
guest_qmp "$w" g cont >/dev/null || guest_fail "$w" g "QMP cont failed"
out=$(guest_wait_done "$w" g 1 60) || { cp "$w/trace1.txt" "$w/trace.txt"; guest_fail "$w" g "$out"; }
[[ $(guest_result "$w" g status) == pass && $(guest_result "$w" g host_file) == "host-file_nonce=$nonce" ]] ||
    { cp "$w/trace1.txt" "$w/trace.txt"; guest_fail "$w" g "the hot-plugged device did not work before the restart: $(guest_result "$w" g reason)"; }
guest_fs_host_check "$w" g "$w/share" "$nonce"
echo "hot-plugged vhost-user-fs on a reconnect=1 chardev: the fs scenario passed; SIGKILLing the shim"
shim_kill
vfs_fresh
shim_start "$w/shim.log" "${shim_args[@]}" --trace "$w/trace.txt"
wait_for 15 grep -q 'front-end connected' "$w/shim.log" ||
    guest_fail "$w" g "QEMU's chardev did not reconnect to the restarted shim: $(tail -n 3 "$w/shim.log")"
sleep 3
! grep -q 'fe->' "$w/trace.txt" ||
    guest_fail "$w" g "QEMU set the device up on the new connection (vhost-user-fs reconnects now?): $(grep -m1 'fe->' "$w/trace.txt")"
echo "QEMU's chardev reconnected; in 3 s the device sent nothing on the new connection"
guest_qmp "$w" g system_reset >/dev/null || guest_fail "$w" g "QMP system_reset failed"
wait_for 15 grep -q 'fe->' "$w/trace.txt" || guest_fail "$w" g "the device stop at system_reset sent nothing"
first=$(grep -m1 'fe->' "$w/trace.txt")
[[ $first == *"fe->shim SET_VRING_ENABLE"*"needs VHOST_USER_F_PROTOCOL_FEATURES"* ]] ||
    guest_fail "$w" g "QEMU's first request on the new connection was not the un-negotiated SET_VRING_ENABLE the shim refuses: $first"
wait_for 10 grep -q 'vhost VQ 0 ring restore failed' "$w/g.qemu.log" ||
    guest_fail "$w" g "QEMU did not report the failed ring stop: $(tail -n 3 "$w/g.qemu.log")"
echo "at system_reset: ${first#* }; QEMU: $(grep -m1 'ring restore failed' "$w/g.qemu.log")"
out=$(guest_wait_done "$w" g 2 15) &&
    guest_fail "$w" g "the guest's fs scenario passed again after the shim restart (vhost-user-fs recovers now?)"
(( $(guest_done_count "$w" g) == 1 )) && tr -d '\r' < "$w/g.console" | grep -c '^RESULT boot ' | grep -qx 2 ||
    guest_fail "$w" g "expected a second boot without a result: $out"
echo "the guest's next boot did not finish its fs scenario within 15 s: $out"
guest_stop g
wait_for 10 count_at_least "$w/shim.log" 'session ended' 2 || guest_fail "$w" g "the shim's sessions did not end after QEMU went"
shim_stop
echo "PASS: QEMU 7.2's vhost-user-fs does not reconnect: with reconnect=1 it cannot be created (with or without the shim); hot-plugged, it ignores the reconnection and the next device stop is refused as un-negotiated; the shim stays clean"
