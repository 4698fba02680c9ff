#!/usr/bin/env bash
# make peers (tests/build-rustvmm-peers.sh, docs/peers.md): the rust-vmm
# back-ends built from ../shared/rust-vmm-peers. Asserted:
#   - without the shared directory, make peers says so and succeeds, and
#     rustvmm_bin skips (77) with the reason on stderr
#   - with the back-ends built, make peers is idempotent: a second run says
#     "up to date" within PEERS_UP_TO_DATE_S seconds and builds nothing
#   - the stamp is checked: a changed tarball or a missing binary is "out
#     of date" (--check, which builds nothing)
#   - every binary build.sh builds is there and runs --help (exit 0, a
#     usage text)
# Skips where the shared directory is absent or the back-ends are not built
# yet (building them takes minutes: make peers, run by make deps).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/rustvmm.sh"
PEERS_UP_TO_DATE_S=${PEERS_UP_TO_DATE_S:-5}
script=$E2E_ROOT/tests/build-rustvmm-peers.sh
w=$(mktemp -d /tmp/vdpa-shim-peers.XXXXXX)
trap 'rm -rf "$w"' EXIT

# No shared directory: make peers succeeds and says so; rustvmm_bin skips.
out=$(PEERS_SRC=$w/none make -s -C "$E2E_ROOT" --no-print-directory peers 2>&1) ||
    fail "make peers failed without the shared directory: $out"
grep -q "no $w/none/build.sh" <<< "$out" || fail "make peers did not say the shared directory is absent: $out"
echo "without the shared directory: $(head -n 1 <<< "$out")"
rc=0
err=$( (RUSTVMM_BIN_DIR=$w PATH=/usr/bin:/bin rustvmm_bin nosuch) 2>&1 >/dev/null) || rc=$?
(( rc == 77 )) || fail "rustvmm_bin of a missing back-end exited $rc, not 77"
grep -q '^SKIP: vhost-device-nosuch is not built: .*make peers.*commit f44737d2b4bb9f8840526b142afb6489d9686c20' <<< "$err" ||
    fail "rustvmm_bin's skip reason is not on stderr or lacks the remedy: $err"
echo "rustvmm_bin without the binary: $err"

rc=0
"$script" --check || rc=$?
case $rc in
    0) ;;
    2) skip "no shared directory ($E2E_ROOT/../shared/rust-vmm-peers): the rust-vmm back-ends cannot be built here (docs/peers.md)";;
    *) skip "the rust-vmm back-ends are not built (or out of date): run make peers (minutes; make deps does it)";;
esac
dir=$(rustvmm_dir)
src=$(cd "$E2E_ROOT/../shared/rust-vmm-peers" && pwd)

# Idempotent: a second run is quick and builds nothing.
before=$(stat -c %Y "$dir/.stamp")
start=$(date +%s%N)
out=$(timeout 60 make -s -C "$E2E_ROOT" --no-print-directory peers 2>&1) || fail "make peers failed when up to date: $out"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q 'up to date' <<< "$out" || fail "a second make peers did not say up to date: $out"
(( ms < PEERS_UP_TO_DATE_S * 1000 )) || fail "make peers took ${ms} ms when up to date (bound ${PEERS_UP_TO_DATE_S} s)"
[[ $(stat -c %Y "$dir/.stamp") == "$before" ]] || fail "make peers rewrote its stamp when up to date"
echo "second make peers: ${ms} ms: $out"

# The stamp is checked: a changed tarball, a missing binary.
mkdir -p "$w/src" "$w/out"
cp "$src"/* "$w/src/"
chmod u+w "$w/src"/*
PEERS_SRC=$w/src "$script" --check || fail "a copy of the shared directory is not up to date"
tarballs=("$w"/src/*.tar.gz)
echo "changed" >> "${tarballs[0]}"
rc=0; PEERS_SRC=$w/src "$script" --check || rc=$?
(( rc == 1 )) || fail "a changed tarball is not out of date (--check exit $rc)"
for b in "$dir"/vhost-device-*; do ln -s "$b" "$w/out/"; done
cp "$dir/.stamp" "$w/out/.stamp"
PEERS_OUT=$w/out "$script" --check || fail "a copy of the output is not up to date"
rm "$w/out/vhost-device-rng"
rc=0; PEERS_OUT=$w/out "$script" --check || rc=$?
(( rc == 1 )) || fail "a missing vhost-device-rng is not out of date (--check exit $rc)"
echo "stamp: a changed tarball and a missing binary are both out of date"

# Every back-end build.sh builds runs --help.
names=$(sed -n '/^BUILDS="/,/"$/p' "$src/build.sh" | sed 's/^BUILDS="//' | cut -d'|' -f1)
n=0
for name in $names; do
    b=$dir/vhost-device-$name
    [[ -x $b ]] || fail "vhost-device-$name is missing from $dir though make peers is up to date"
    rc=0; help=$(timeout 10 "$b" --help 2>&1) || rc=$?
    (( rc == 0 )) || fail "vhost-device-$name --help exited $rc: $(head -n 3 <<< "$help")"
    grep -qi '^usage:' <<< "$help" || fail "vhost-device-$name --help printed no usage: $(head -n 3 <<< "$help")"
    [[ $(rustvmm_bin "$name") == "$b" ]] || fail "rustvmm_bin $name is not $b"
    n=$((n + 1))
done
(( n > 0 )) || fail "no back-end listed in $src/build.sh"
echo "PASS: make peers up to date in ${ms} ms; $n back-ends run --help: $(tr '\n' ' ' <<< "$names")"
