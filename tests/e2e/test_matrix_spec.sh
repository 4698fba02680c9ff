#!/usr/bin/env bash
# The committed compatibility matrix is what the code says: the spec columns,
# device and config records of every compat-matrix/<type>.tsv equal
# `vdpa-probe --spec <type>` (derived from the message-descriptor table and
# lib/proto/matrix.c); compat-matrix/live.tsv fills every (type, mode) cell
# of every device type vdpa-probe knows with a test that exists in tests/e2e
# or a reason (n/a, pending); and docs/compat-matrix.md is the rendering of
# the files. (The measured columns are checked against the live peers by
# test_matrix_probes.sh.)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
probe=$E2E_ROOT/${BUILD:-build}/vdpa-probe
[[ -x $probe ]] || fail "$probe is missing (run make first)"
w=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-matrix-spec.XXXXXX")
trap 'rm -rf "$w"' EXIT
cd "$E2E_ROOT"

types=0
for f in compat-matrix/*.tsv; do
    [[ $f == compat-matrix/live.tsv ]] && continue
    type=$(awk -F'\t' '$1 == "device" { print $2 }' "$f")
    [[ -n $type ]] || fail "$f has no device record"
    "$probe" --spec "$type" | grep -v '^#' >"$w/want"
    grep -v '^#' "$f" | awk -F'\t' '$1 == "device" || $1 == "config" || ($1 == "msg" && $2 ~ /^spec:/)' >"$w/have"
    if ! diff -u "$w/want" "$w/have" >"$w/diff"; then
        head -n 40 "$w/diff"
        fail "$f: the spec records differ from vdpa-probe --spec $type (run make matrix)"
    fi
    types=$((types + 1))
done
(( types >= 11 )) || fail "only $types device types in compat-matrix/ (net, blk, scsi, fs, vsock, gpio, i2c, rng, input, gpu, sound at least)"

# The live table: every cell filled, every named test present.
python3 compat-matrix/matrix.py check-live "$probe" >"$w/live.txt" ||
    fail "compat-matrix/live.tsv: $(cat "$w/live.txt")"
cat "$w/live.txt"

# The rendered document is up to date.
cp -r compat-matrix docs "$w/"
(cd "$w" && python3 compat-matrix/matrix.py render)
diff -q "$w/docs/compat-matrix.md" docs/compat-matrix.md >/dev/null ||
    fail "docs/compat-matrix.md is not the rendering of compat-matrix/*.tsv (run make matrix)"
echo "PASS: $types device types: spec columns match the message table and rules; every live cell filled; docs/compat-matrix.md up to date"
