#!/usr/bin/env bash
# A Linux guest's virtiofs driver through the up+down chain to the Rust
# virtiofsd: QEMU 7.2 (vhost-user-fs-pci) -> vdpa-shim #1 (up) -> vdpa-shim #2
# (down) -> virtiofsd 1.13 (Debian 13's, in the Debian 13 root:
# tests/guest/lib_virtiofsd_rust.sh). Same scenario and checks as
# test_guest_fs_chain.sh (the C virtiofsd), both translations required, in
# two set-ups (each with new shims and a new virtiofsd, which exits when its
# front-end goes):
#   no-tag  virtiofsd without --tag (no config space): shim #2 presents the
#           tag given by tag=;
#   tag     virtiofsd --tag=rustfs0 offers PROTOCOL_F_CONFIG: shim #2 has no
#           tag= and reads its config space from virtiofsd. QEMU 7.2 crashes
#           on a CONFIG offer from a vhost-user-fs back-end, but QEMU talks to
#           shim #1, which must not show CONFIG to it (QEMU keeps the fs config
#           space itself: the guest mounts QEMU's tag=share0).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
. "$here/../guest/lib_virtiofsd_rust.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-fs-rust-chain.XXXXXX)
cleanup() {
    guest_stop_all; shim_kill
    [[ -z $GUEST_DOWN_PID ]] || kill -KILL "$GUEST_DOWN_PID" 2>/dev/null || true
    vfsr_stop
    wait 2>/dev/null
    guest_cleanup_dir "$w"
}
trap cleanup EXIT

guest_prepare
vfsr_prepare
chain_fail() { guest_down_shim_tail; echo "--- virtiofsd log tail:"; tail -n 10 "$VFSR_LOG"; }
export GUEST_FAIL_HOOK=chain_fail

# setup NAME SHIM2-KEYS VIRTIOFSD-ARGS...: one guest through new shims to a
# new virtiofsd, in W/NAME.
setup() {
    local name=$1 keys=$2 v=$w/$1 nonce=$RANDOM
    shift 2
    mkdir "$v"
    vfsr_start "$v" "$nonce" "$@"
    guest_down_shim "$v" "type=fs$keys"
    shim_start "$v/shim.log" --device "type=fs,id=up0,frontend=$v/fe.sock,backend=$v/mid.sock,check=$E2E_ROOT/compat-matrix" \
        --trace "$v/trace.txt"
    wait_for 5 test -S "$v/fe.sock" || fail "$name: shim #1 did not create its socket"
    guest_run_ok "$v" g fs "tag=share0 nonce=$nonce" \
        -chardev "socket,id=c0,path=$v/fe.sock" -device "vhost-user-fs-pci,chardev=c0,tag=share0$(guest_vhost_pci_opts)"
    [[ $(guest_result "$v" g host_file) == "host-file_nonce=$nonce" ]] ||
        guest_fail "$v" g "$name: the guest read '$(guest_result "$v" g host_file)' from host.txt"
    guest_fs_host_check "$v" g "$v/share" "$nonce"
    wait_for 10 grep -q "session ended" "$v/shim.log" || guest_fail "$v" g "$name: session did not end after the guest powered off"
    grep -q 'up-conversion begins' "$v/trace.txt" || guest_fail "$v" g "$name: shim #1 did not up-convert"
    grep -q 'down-conversion begins' "$v/trace-down.txt" || guest_fail "$v" g "$name: shim #2 did not down-convert"
    vfsr_fe_protocol "$v/trace.txt" up0 >/dev/null || guest_fail "$v" g "$name: no GET_PROTOCOL_FEATURES reply to QEMU in shim #1's trace"
    vfsr_offers_config "$v/trace.txt" up0 fe &&
        guest_fail "$v" g "$name: shim #1 showed CONFIG to QEMU 7.2 ($(vfsr_fe_protocol "$v/trace.txt" up0))"
    vfsr_wait_exit
    echo "$name: virtiofsd offered $(vfsr_offer "$v/trace-down.txt" down0)"
    echo "$name: shim #1 showed QEMU protocol features $(vfsr_fe_protocol "$v/trace.txt" up0); QEMU acked $(grep -m1 'up0 fe->shim SET_PROTOCOL_FEATURES' "$v/trace.txt" | sed 's/.*protocol_features=//; s/ -- .*//')"
    echo "$name: virtiofsd exited with status $VFSR_STATUS when shim #2's session ended"
    shim_stop
    guest_down_shim_stop
}

setup no-tag ",tag=share0"
vfsr_offers_config "$w/no-tag/trace-down.txt" down0 && fail "no-tag: virtiofsd without --tag offered CONFIG"
setup tag "" --tag=rustfs0
vfsr_offers_config "$w/tag/trace-down.txt" down0 || fail "tag: virtiofsd with --tag did not offer CONFIG"
grep -q 'down0 be->shim GET_CONFIG reply .*data=7275737466733000' "$w/tag/trace-down.txt" ||
    fail "tag: shim #2 did not read the tag rustfs0 from virtiofsd's config space"
echo "PASS: guest virtiofs -> QEMU ($GUEST_ACCEL) -> shim (up) -> shim (down) -> Rust virtiofsd $VFSR_VERSION, without and with --tag: host file read, guest file written"
