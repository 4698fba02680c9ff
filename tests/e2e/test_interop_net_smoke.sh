#!/usr/bin/env bash
# The version grid's runner (tests/interop/net_grid.sh, `make interop`) on one
# cell: DPDK 22.11 (this machine) virtio-user -> shim (up) -> shim (down) ->
# DPDK 22.11 net_vhost. Its CELL line must say PASS, its FEAT lines what the
# trace showed, and tests/interop/report.py must make the same bytes twice
# from them, with the cell in the chain table.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib/common.sh
. "$here/lib/common.sh"
# shellcheck source=tests/e2e/lib/dpdk.sh
. "$here/lib/dpdk.sh"
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT

dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
rc=0
INTEROP_ONLY="chain:bookworm:bookworm" "$E2E_ROOT/tests/interop/net_grid.sh" --results "$w/net.txt" >"$w/out.txt" 2>&1 || rc=$?
cat "$w/out.txt"
line=$(grep '^CELL ' "$w/net.txt" || true)
[[ $(grep -c '^CELL ' "$w/net.txt") == 1 ]] || fail "the runner ran $(grep -c '^CELL ' "$w/net.txt") cells, not 1"
case $line in
    "CELL net chain dpdk-22.11 dpdk-22.11 SKIP "*) skip "${line#CELL net chain dpdk-22.11 dpdk-22.11 SKIP }" ;;
    "CELL net chain dpdk-22.11 dpdk-22.11 PASS "*) ;;
    *) fail "the cell did not pass: $line" ;;
esac
(( rc == 0 )) || fail "the runner exited with status $rc although its cell passed"
grep -q '^interop net: 1 passed, 0 failed, 0 skipped$' "$w/out.txt" || fail "no closing count line"
python3 "$E2E_ROOT/tests/interop/report.py" -o "$w/a.md" "$w/net.txt"
python3 "$E2E_ROOT/tests/interop/report.py" -o "$w/b.md" "$w/net.txt"
cmp -s "$w/a.md" "$w/b.md" || fail "report.py made different bytes from the same results"
grep -qF '| dpdk-22.11 | not run | **PASS**: packets both ways' "$w/a.md" || fail "the chain table lacks the cell"
# A version whose root is not there is a counted SKIP, never a pass.
mkdir "$w/noroots"
rc=0
PEER_ROOTS_DIR=$w/noroots INTEROP_ONLY="up:trixie:-" "$E2E_ROOT/tests/interop/net_grid.sh" --results "$w/skip.txt" >"$w/skip.out" 2>&1 || rc=$?
(( rc == 0 )) || fail "a skipped cell made the runner exit with status $rc"
grep -qx 'CELL net up dpdk-24.11 vdpa-backend SKIP DPDK 24.11 is not in the trixie root (it is not built: make peer-roots PEER_ROOTS_RELEASES=trixie)' "$w/skip.txt" ||
    fail "no SKIP for a missing root: $(cat "$w/skip.txt")"
grep -q '^interop net: 0 passed, 0 failed, 1 skipped$' "$w/skip.out" || fail "the skip was not counted"
echo "PASS: interop runner, one cell: ${line#CELL net }; a missing root is a counted SKIP"
