#!/usr/bin/env bash
# guest_grid.sh - the guest part of issue 18's version grid (make interop):
# a Linux guest's driver through QEMU of each Debian generation (5.2 of the
# bullseye root, 7.2 of this host, 10.0 of the trixie root) and the shim in
# each mode, against back-ends of each generation, and guest kernels of each
# generation (5.10, 6.1, 6.12) through up-conversion and the chain.
#
# Every cell runs one of the existing guest tests (tests/e2e/test_guest_*.sh)
# with the versions chosen by environment (tests/guest/lib.sh and
# lib_roots.sh): GUEST_QEMU_RELEASE (QEMU), GUEST_FLAVOUR (the guest
# kernel), GUEST_QSD_RELEASE (qemu-storage-daemon: 5.2 of bullseye, 7.2 of
# this host, 10.0 of trixie), GUEST_VIRTIOFSD_RELEASE (the C virtiofsd).
# The test decides PASS, FAIL or SKIP (exit 77, with its reason); a cell is
# never decided here.
#
# Output, one line per cell (the format of tests/interop/report.py):
#   CELL DEVICE MODE FRONT-END BACK-END PASS|FAIL|SKIP one-line reason
# where FRONT-END is qemu-X.Y (kernel K for the kernel cells: qemu-7.2/linux-K)
# and BACK-END the program and version. Timings go to stderr only.
# GUEST_GRID_ONLY=TEXT runs the cells whose "DEVICE MODE FE BE" holds TEXT.
# Exit 0 when no cell failed, 1 otherwise.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export E2E_ROOT=$root
# shellcheck source=tests/peers/lib.sh
. "$root/tests/peers/lib.sh"
failed=0

# qemu_version RELEASE: "qemu-X.Y" of the host (RELEASE "host") or a root;
# empty when that QEMU does not run.
qemu_version() {
    local v
    if [[ $1 == host ]]; then
        v=$(qemu-system-x86_64 --version 2>/dev/null | sed -n 1p)
    else
        peer_root_ready "$1" >/dev/null || return 0
        v=$("$root/tests/peers/run" "$1" qemu-system-x86_64 --version 2>/dev/null | sed -n 1p)
    fi
    [[ $v =~ version\ ([0-9]+)\.([0-9]+) ]] && echo "qemu-${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
}
# qsd_version RELEASE, virtiofsd_version RELEASE: the same for the back-ends.
qsd_version() {
    local v
    if [[ $1 == host ]]; then v=$(qemu-storage-daemon --version 2>/dev/null | sed -n 1p)
    else peer_root_ready "$1" >/dev/null && v=$("$root/tests/peers/run" "$1" qemu-storage-daemon --version 2>/dev/null | sed -n 1p); fi
    [[ ${v:-} =~ version\ ([0-9]+)\.([0-9]+) ]] && echo "qemu-storage-daemon-${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
}
# dpdk_version: "dpdk-X.Y" of this host's testpmd (dpdk-dev's version).
dpdk_version() {
    local v
    v=$(dpkg-query -W -f '${Version}' dpdk-dev 2>/dev/null)
    [[ $v =~ ^([0-9]+)\.([0-9]+) ]] && echo "dpdk-${BASH_REMATCH[1]}.${BASH_REMATCH[2]}-net_vhost"
}
# The C virtiofsd is QEMU's (qemu-system-common): its version is QEMU's.
virtiofsd_version() { local q; q=$(qemu_version "$1"); [[ -n $q ]] && echo "virtiofsd-${q#qemu-}"; }

# expected VAR=VALUE: the line the test prints when it used that version
# (lib_roots.sh, lib.sh); nothing for the host's programs.
expected() {
    local var=${1%%=*} val=${1#*=}
    [[ -n $val ]] || return 0
    case $var in
        GUEST_QEMU_RELEASE) echo "QEMU from the Debian $val root";;
        GUEST_QSD_RELEASE) echo "qemu-storage-daemon of the Debian $val root";;
        GUEST_VIRTIOFSD_RELEASE) echo "virtiofsd of the Debian $val root";;
        GUEST_FLAVOUR) echo "guest ($val)";;
    esac
}

# INTEROP_JOBS=N runs up to N cells at once (each test has its own work
# directory and sockets; the guest images are built under a lock); their
# CELL lines are printed in grid order at the end, their logs as they end.
njobs=${INTEROP_JOBS:-1}
[[ $njobs =~ ^[1-9][0-9]*$ ]] || { echo "guest_grid: INTEROP_JOBS must be a positive number" >&2; exit 2; }
cells_dir=$(mktemp -d /tmp/vdpa-shim-guest-grid.XXXXXX)
trap 'rm -rf "$cells_dir"' EXIT
ncell=0

# cell DEVICE MODE FE BE TEST [VAR=VALUE...]: runs TEST with the variables
# (in the background when INTEROP_JOBS > 1); a test that passed without
# using the versions asked for fails the cell.
cell() {
    [[ -z ${GUEST_GRID_ONLY:-} || "$1 $2 $3 $4" == *"$GUEST_GRID_ONLY"* ]] || return 0
    ncell=$((ncell + 1))
    printf '%s\n' "$*" >"$cells_dir/$ncell.args"
    if (( njobs == 1 )); then
        cell_run "$@" >"$cells_dir/$ncell"
        return 0
    fi
    while (( $(jobs -rp | wc -l) >= njobs )); do wait -n; done
    cell_run "$@" >"$cells_dir/$ncell" &
}

cell_run() {
    local dev=$1 mode=$2 fe=$3 be=$4 test=$5 log rc t0=$SECONDS reason res
    shift 5
    log=$(mktemp)
    env "$@" timeout 300 bash "$root/tests/e2e/$test.sh" >"$log" 2>&1
    rc=$?
    local a want
    for a in "$@"; do
        want=$(expected "$a")
        if (( rc == 0 )) && [[ -n $want ]] && ! grep -qF "$want" "$log"; then
            echo "FAIL: the test did not say \"$want\": the cell's versions were not used" >>"$log"
            rc=1
        fi
    done
    case $rc in
        0) res=PASS reason=$(grep -E '^PASS' "$log" | tail -n 1 | sed 's/^PASS: //');;
        77) res=SKIP reason=$(grep -E '^SKIP' "$log" | tail -n 1 | sed 's/^SKIP: //');;
        *) res=FAIL reason=$(grep -E '^FAIL' "$log" | tail -n 1 | sed 's/^FAIL: //')
           [[ -n $reason ]] || reason="$test exited $rc"
           { echo "--- $test ($*), exit $rc:"; tail -n 40 "$log"; } >&2;;
    esac
    echo "CELL $dev $mode $fe $be $res ${reason:-(no reason given)} [$test]"
    echo "  ($dev $mode $fe $be: $((SECONDS - t0)) s)" >&2
    rm -f "$log"
}

# A front-end or back-end whose root is missing still gets its cells: the
# test skips with the reason (tests/guest/lib_roots.sh, lib.sh).
name_or() { [[ -n $1 ]] && echo "$1" || echo "$2"; }

qemu_cells() {
    local rel=$1 fe qsd_rel qsd vfs_rel vfs
    fe=$(name_or "$(qemu_version "$rel")" "qemu-of-$rel")
    local q=(GUEST_QEMU_RELEASE="${rel/host/}") dpdk
    dpdk=$(name_or "$(dpdk_version)" dpdk-net_vhost-of-host)
    cell net pass "$fe" "$dpdk" test_guest_net_passthrough "${q[@]}"
    cell net up "$fe" vdpa-backend test_guest_net_upconv "${q[@]}"
    cell net chain "$fe" "$dpdk" test_guest_net_chain "${q[@]}"
    cell blk up "$fe" vdpa-backend test_guest_blk_upconv "${q[@]}"
    for qsd_rel in bullseye host trixie; do
        qsd=$(name_or "$(qsd_version "$qsd_rel")" "qemu-storage-daemon-of-$qsd_rel")
        cell blk pass "$fe" "$qsd" test_guest_blk_passthrough "${q[@]}" GUEST_QSD_RELEASE="${qsd_rel/host/}"
        cell blk chain "$fe" "$qsd" test_guest_blk_chain "${q[@]}" GUEST_QSD_RELEASE="${qsd_rel/host/}"
    done
    for vfs_rel in bullseye host; do
        vfs=$(name_or "$(virtiofsd_version "$vfs_rel")" "virtiofsd-of-$vfs_rel")
        cell fs pass "$fe" "$vfs" test_guest_fs_passthrough "${q[@]}" GUEST_VIRTIOFSD_RELEASE="${vfs_rel/host/}"
        cell fs chain "$fe" "$vfs" test_guest_fs_chain "${q[@]}" GUEST_VIRTIOFSD_RELEASE="${vfs_rel/host/}"
    done
    cell fs pass "$fe" virtiofsd-rust-1.13 test_guest_fs_rust_passthrough "${q[@]}"
    cell fs chain "$fe" virtiofsd-rust-1.13 test_guest_fs_rust_chain "${q[@]}"
}

kernel_cells() {
    local flavour=$1 kernel=$2 fe dpdk qsd
    fe=$(name_or "$(qemu_version host)" qemu-of-host)/linux-$kernel
    dpdk=$(name_or "$(dpdk_version)" dpdk-net_vhost-of-host)
    qsd=$(name_or "$(qsd_version host)" qemu-storage-daemon-of-host)
    cell net up "$fe" vdpa-backend test_guest_net_upconv GUEST_FLAVOUR="$flavour"
    cell net chain "$fe" "$dpdk" test_guest_net_chain GUEST_FLAVOUR="$flavour"
    cell blk up "$fe" vdpa-backend test_guest_blk_upconv GUEST_FLAVOUR="$flavour"
    cell blk chain "$fe" "$qsd" test_guest_blk_chain GUEST_FLAVOUR="$flavour"
}

for rel in bullseye host trixie; do qemu_cells "$rel"; done
kernel_cells bullseye 5.10
kernel_cells trixie 6.12
wait
for ((i = 1; i <= ncell; i++)); do
    if ! grep -q '^CELL ' "$cells_dir/$i" 2>/dev/null; then
        read -r dev mode fe be test _ <"$cells_dir/$i.args"
        echo "CELL $dev $mode $fe $be FAIL the cell's runner ended without a result [$test]" >"$cells_dir/$i"
    fi
    cat "$cells_dir/$i"
    grep -q '^CELL [^ ]* [^ ]* [^ ]* [^ ]* FAIL ' "$cells_dir/$i" && failed=1
done
exit "$failed"
