#!/usr/bin/env bash
# tests/bench/compare.sh COMMIT - control-plane bring-up latency of this tree's
# shim against COMMIT's, side by side in one run (make bench-compare
# BASE=COMMIT).
#
# COMMIT is built from `git archive` in $BUILD/bench-base (gcc, the same
# flags). Each shim serves a net device with 1 and 8 queue pairs in front of
# the scripted back-end of tests/bench (the same one for both), and
# build/bench/bringup brings the devices up alternately through COMMIT's shim
# (its "direct" path) and this tree's (its "shim" path): the difference of the
# medians is what the change costs per bring-up, measured under one load.
# Prints one line per case and ends with "compare: ok" or "compare: slower",
# slower meaning this tree's median is more than BENCH_COMPARE_TOLERANCE
# percent (default 10) above COMMIT's. Everything runs on CPU BENCH_CP_CPU
# (default: the last), so that both shims see the same core.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
base=${1:?usage: $0 COMMIT}
reps=${BENCH_REPS:-200}
tolerance=${BENCH_COMPARE_TOLERANCE:-10}
# every process of the run on one CPU, as make bench's control plane
cpu=${BENCH_CP_CPU:-$(( $(nproc) - 1 ))}
pin=(taskset -c "$cpu")
new_shim=$root/$BUILD/vdpa-shim
bringup=$root/$BUILD/bench/bringup
for b in "$new_shim" "$bringup"; do
    [[ -x $b ]] || { echo "compare: $b is missing (make first)" >&2; exit 1; }
done

src=$root/$BUILD/bench-base
rm -rf "$src" && mkdir -p "$src"
git archive "$base" | tar -x -C "$src" || { echo "compare: cannot export $base" >&2; exit 1; }
make -C "$src" -s -j"$(nproc)" BUILD=b b/vdpa-shim >"$src/build.log" 2>&1 ||
    { echo "compare: $base does not build: $(tail -n 3 "$src/build.log")" >&2; exit 1; }
old_shim=$src/b/vdpa-shim

w=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-compare.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$w"
}
trap cleanup EXIT

start_shim() { # BINARY TAG
    "${pin[@]}" "$1" --log-level warn --device "type=net,id=$2,frontend=$w/$2.sock,backend=$w/be.sock" \
        >"$w/$2.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do [[ -S $w/$2.sock ]] && return 0; sleep 0.05; done
    echo "compare: the $2 shim did not start: $(tail -n 3 "$w/$2.log")" >&2
    exit 1
}
start_shim "$old_shim" base
start_shim "$new_shim" tree

out=$("${pin[@]}" "$bringup" --scripted-backend "$w/be.sock" \
    --case "net-1qp,net,2,$w/base.sock,$w/tree.sock" \
    --case "net-8qp,net,16,$w/base.sock,$w/tree.sock" \
    --reps "$reps" --warmup 5 --settle-ms 10 --floor 50 2>"$w/bringup.err") ||
    { echo "compare: bringup failed: $(tail -n 3 "$w/bringup.err")" >&2; exit 1; }

kv() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<< "$1" | head -n 1; }
verdict=ok
echo "compare: $reps bring-ups per case and shim, alternating, on CPU $cpu; base $(git rev-parse --short "$base"), tree $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- shim lib || echo '+changes')"
printf '%-8s %12s %12s %8s\n' case "base_us" "tree_us" "change"
while read -r line; do
    name=$(kv "$line" name) b=$(kv "$line" direct_us) t=$(kv "$line" shim_us)
    change=$(awk -v b="$b" -v t="$t" 'BEGIN { printf "%+.1f%%", (t - b) * 100 / b }')
    printf '%-8s %12s %12s %8s\n' "$name" "$b" "$t" "$change"
    awk -v b="$b" -v t="$t" -v tol="$tolerance" 'BEGIN { exit !(t > b * (1 + tol / 100)) }' &&
        verdict=slower
done < <(grep '^case ' <<< "$out")
echo "compare: $verdict"
[[ $verdict == ok ]]
