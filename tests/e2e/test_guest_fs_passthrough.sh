#!/usr/bin/env bash
# A Linux guest's virtiofs driver through the shim in pass-through:
# QEMU (vhost-user-fs-pci) -> vdpa-shim -> virtiofsd (QEMU 7.2's C one). The
# guest (scenario fs) mounts the share by its tag, reads a file the host put
# there and writes one that the host then reads.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-fs.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_virtiofsd_stop; guest_cleanup_dir "$w"' EXIT
nonce=$RANDOM

guest_prepare
guest_virtiofsd "$w" "$nonce"
shim_start "$w/shim.log" --device "type=fs,id=fs0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

guest_run_ok "$w" g fs "tag=share0 nonce=$nonce" \
    -chardev "socket,id=c0,path=$w/fe.sock" -device "vhost-user-fs-pci,chardev=c0,tag=share0$(guest_vhost_pci_opts)"
[[ $(guest_result "$w" g host_file) == "host-file_nonce=$nonce" ]] ||
    guest_fail "$w" g "the guest read '$(guest_result "$w" g host_file)' from host.txt"
guest_fs_host_check "$w" g "$w/share" "$nonce"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
shim_stop
echo "PASS: guest virtiofs -> QEMU ($GUEST_ACCEL) -> shim (pass-through) -> virtiofsd: host file read, guest file written"
