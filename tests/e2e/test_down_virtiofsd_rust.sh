#!/usr/bin/env bash
# Down-conversion to the Rust virtiofsd (Debian 13's 1.13, rust-vmm's
# vhost-user-backend, run in the Debian 13 root: tests/guest/lib_virtiofsd_rust.sh):
# the reference vdpa-user driver -> vdpa-shim (down) -> virtiofsd, FUSE_INIT
# sent on the request queue and answered through guest memory (as
# test_down_virtiofsd.sh with the C one). Two sessions, virtiofsd started
# for each (it exits when its front-end goes):
#   1. without --tag: virtiofsd has no config space; the shim synthesizes it
#      from tag=;
#   2. with --tag=T: virtiofsd offers PROTOCOL_F_CONFIG and its config space
#      holds T; the shim has no tag=, so the tag the driver reads must be the
#      back-end's (read with GET_CONFIG).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib_virtiofsd_rust.sh"
w=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-down-fs-rust.XXXXXX")
cleanup() {
    shim_kill
    vfsr_stop
    wait 2>/dev/null
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $w"; else rm -rf "$w"; fi
}
trap cleanup EXIT

driver_bin=$E2E_ROOT/${BUILD:-build}/vdpa-driver
[[ -x $driver_bin ]] || fail "$driver_bin is missing (run make first)"
vfsr_prepare

# session NAME TAG SHIM-TAG VIRTIOFSD-ARGS...: one driver session through a
# new shim to a new virtiofsd; the driver must read TAG from config space.
session() {
    local name=$1 tag=$2 shim_tag=$3 rc=0 t
    shift 3
    vfsr_start "$w" "$RANDOM" "$@"
    t=$w/trace.$name.txt
    shim_start "$w/shim.$name.log" \
        --device "type=fs,id=fs0,frontend=$w/fe.sock,backend=$w/be.sock${shim_tag:+,tag=$shim_tag},check=$E2E_ROOT/compat-matrix" \
        --trace "$t"
    wait_for 5 test -S "$w/fe.sock" || fail "$name: the shim did not create its socket"
    timeout 60 "$driver_bin" --socket "$w/fe.sock" --type fs --expect-tag "$tag" \
        >"$w/driver.$name.out" 2>"$w/driver.$name.log" || rc=$?
    sed "s/^/$name: /" "$w/driver.$name.out"
    if (( rc != 0 )); then
        echo "--- driver log:"; tail -n 20 "$w/driver.$name.log"
        echo "--- trace tail:"; tail -n 15 "$t"
        echo "--- virtiofsd log:"; tail -n 10 "$VFSR_LOG"
        fail "$name: vdpa-driver exited with status $rc"
    fi
    grep -q "^vdpa-driver: config: tag \"$tag\", num_request_queues 1\$" "$w/driver.$name.out" ||
        fail "$name: config: $(grep 'config:' "$w/driver.$name.out")"
    grep -q '^vdpa-driver: fs: FUSE_INIT answered, protocol 7\.[0-9]*$' "$w/driver.$name.out" ||
        fail "$name: fs summary: $(tail -n 1 "$w/driver.$name.out")"
    grep -q 'fs0 fe->shim SET_PROTOCOL_FEATURES .*VDPA.* -- down-conversion begins' "$t" ||
        fail "$name: no down-conversion in the trace"
    grep -qE 'fs0 shim->be (SET_STATUS|GET_STATUS|VDPA_)' "$t" && fail "$name: virtiofsd got a request it never offered"
    grep -q 'fs0 shim->fe GET_CONFIG reply offset=0 size=40' "$t" || fail "$name: no 40-byte config space"
    for i in 0 1; do
        grep -q "fs0 shim->be SET_VRING_ENABLE need_reply index=$i num=1" "$t" || fail "$name: ring $i never started in virtiofsd"
    done
    wait_for 10 grep -q "session ended" "$w/shim.$name.log" || fail "$name: the session did not end after the driver left"
    shim_stop
    vfsr_wait_exit
    echo "$name: virtiofsd offered $(vfsr_offer "$t" fs0)"
    echo "$name: virtiofsd exited with status $VFSR_STATUS after the shim's session ended"
}

session no-tag share0 share0
t=$w/trace.no-tag.txt
vfsr_be_protocol "$t" fs0 >/dev/null || fail "no-tag: no GET_PROTOCOL_FEATURES reply from virtiofsd in the trace"
vfsr_offers_config "$t" fs0 && fail "no-tag: virtiofsd without --tag offered CONFIG ($(vfsr_be_protocol "$t" fs0))"
grep -q 'fs0 shim->be GET_CONFIG' "$t" && fail "no-tag: the shim asked virtiofsd for a config space it never offered"

session tag rusttag1 "" --tag=rusttag1
t=$w/trace.tag.txt
vfsr_offers_config "$t" fs0 || fail "tag: virtiofsd with --tag did not offer CONFIG ($(vfsr_be_protocol "$t" fs0))"
grep -q 'fs0 shim->be GET_CONFIG' "$t" || fail "tag: the tag did not come from virtiofsd's config space (no GET_CONFIG to it)"
echo "PASS: vdpa-driver -> shim (down) -> Rust virtiofsd $VFSR_VERSION: FUSE_INIT answered; tag synthesized without --tag, read from virtiofsd's config space with --tag"
