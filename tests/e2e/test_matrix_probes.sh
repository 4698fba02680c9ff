#!/usr/bin/env bash
# The committed compatibility matrix agrees with the real peers: every peer
# that starts here is measured by tests/matrix/probe-all.sh (vdpa-probe), and
# for each measured column, compat-matrix/<type>.tsv must hold exactly the
# same msg/offer/order/note records of that column. A disagreement fails with the
# difference ("- <committed>" / "+ <measured>"); `make matrix` rewrites the
# files from the probes. Skips (77) only when no peer at all could be probed.
#
# MATRIX_DIR=DIR compares with DIR/<type>.tsv instead of compat-matrix/.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"

probe_bin=$E2E_ROOT/${BUILD:-build}/vdpa-probe
[[ -x $probe_bin ]] || fail "$probe_bin is missing (run make first)"
matrix_dir=${MATRIX_DIR:-$E2E_ROOT/compat-matrix}
w=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-matrix.XXXXXX")
trap 'rm -rf "$w"' EXIT

# column_records FILE COLUMN: the msg/offer/order/note records of COLUMN, sorted.
column_records() {
    awk -F '\t' -v col="$2" '($1 == "msg" || $1 == "offer" || $1 == "order" || $1 == "note") && $2 == col' "$1" |
        LC_ALL=C sort
}

rc=0
"$E2E_ROOT/tests/matrix/probe-all.sh" "$w/measured" >"$w/summary.txt" 2>"$w/probe-all.log" || rc=$?
(( rc == 0 )) || fail "probe-all.sh exited with status $rc: $(tail -n 5 "$w/probe-all.log")"
grep '^SKIP ' "$w/probe-all.log" || true
shopt -s nullglob
files=("$w/measured"/*.tsv)
(( ${#files[@]} > 0 )) || skip "no peer could be probed: $(grep '^SKIP ' "$w/probe-all.log" | tr '\n' ' ')"

bad=0
for f in "${files[@]}"; do
    base=$(basename "$f" .tsv)
    type=${base%%.*}
    column=${base#*.}
    committed=$matrix_dir/$type.tsv
    if [[ ! -f $committed ]]; then
        echo "$type $column: $committed does not exist (run make matrix)"
        bad=$((bad + 1))
        continue
    fi
    LC_ALL=C comm -23 <(column_records "$committed" "$column") <(column_records "$f" "$column") \
        | sed 's/^/- /' >"$w/diff"
    LC_ALL=C comm -13 <(column_records "$committed" "$column") <(column_records "$f" "$column") \
        | sed 's/^/+ /' >>"$w/diff"
    if [[ -s $w/diff ]]; then
        echo "$type $column: $committed differs from what vdpa-probe measured:"
        cat "$w/diff"
        bad=$((bad + 1))
    else
        echo "$type $column: $(grep -c . "$f") records agree"
    fi
done
(( bad == 0 )) || fail "$bad measured column(s) disagree with $matrix_dir (regenerate with make matrix, or fix the peer)"
echo "PASS: $(tail -n 1 "$w/summary.txt"); all agree with $matrix_dir"
