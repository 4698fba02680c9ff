#!/usr/bin/env bash
# A Linux guest's virtiofs driver through the shim in pass-through to the
# Rust virtiofsd: QEMU 7.2 (vhost-user-fs-pci) -> vdpa-shim -> virtiofsd 1.13
# (Debian 13's, run in the Debian 13 root: tests/guest/lib_virtiofsd_rust.sh).
# Same scenario and host checks as test_guest_fs_passthrough.sh (the C
# virtiofsd): the guest mounts the share by its tag, reads the host's file and
# writes one the host then reads. virtiofsd gets no --tag: it would offer
# PROTOCOL_F_CONFIG, which QEMU 7.1-8.0 crash on, and pass-through relays
# the back-end's offer unchanged.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_virtiofsd_rust.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-fs-rust.XXXXXX)
trap 'guest_stop_all; shim_kill; vfsr_stop; guest_cleanup_dir "$w"' EXIT
nonce=$RANDOM

guest_prepare
vfsr_prepare
vfsr_start "$w" "$nonce"
shim_start "$w/shim.log" --device "type=fs,id=fs0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
vfsr_fail() { echo "--- virtiofsd log tail:"; tail -n 10 "$VFSR_LOG"; }
export GUEST_FAIL_HOOK=vfsr_fail

guest_run_ok "$w" g fs "tag=share0 nonce=$nonce" \
    -chardev "socket,id=c0,path=$w/fe.sock" -device "vhost-user-fs-pci,chardev=c0,tag=share0$(guest_vhost_pci_opts)"
[[ $(guest_result "$w" g host_file) == "host-file_nonce=$nonce" ]] ||
    guest_fail "$w" g "the guest read '$(guest_result "$w" g host_file)' from host.txt"
guest_fs_host_check "$w" g "$w/share" "$nonce"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
vfsr_offers_config "$w/trace.txt" fs0 && guest_fail "$w" g "virtiofsd without --tag offered CONFIG ($(vfsr_be_protocol "$w/trace.txt" fs0))"
vfsr_wait_exit
echo "virtiofsd offered $(vfsr_offer "$w/trace.txt" fs0); it exited with status $VFSR_STATUS when the session ended"
shim_stop
echo "PASS: guest virtiofs -> QEMU ($GUEST_ACCEL) -> shim (pass-through) -> Rust virtiofsd $VFSR_VERSION: host file read, guest file written"
