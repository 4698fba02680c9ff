#!/usr/bin/env bash
# Runs every tests/e2e/test_*.sh. Exit 77 from a test is a skip: counted and
# shown with its reason, never a silent pass. Prints
# "e2e: N passed, M failed, K skipped" and fails if any test failed.
# E2E_ONLY=TEXT runs the tests whose name holds TEXT; E2E_EXCLUDE=REGEX
# leaves out those whose name matches (said, with the count, at the end).
# E2E_JOBS=N (default 1) runs up to N tests at once. A test whose file has a
# line "# e2e: serial (REASON)" (timing it measures, a machine-wide resource
# it inspects) runs alone, after the others. Every test has its own work
# directory, sockets and DPDK file prefix; what they share is built under a
# lock (tests/guest/lib.sh: the guest images). A result line is printed when
# a test ends, so with N > 1 they come in the order tests end.
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
jobs=${E2E_JOBS:-1}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "run-e2e: E2E_JOBS must be a positive number, not '$jobs'" >&2; exit 2; }
passed=0 failed=0 skipped=0
skips=() excluded=0 parallel=() serial=()
out=$(mktemp -d /tmp/vdpa-shim-e2e.XXXXXX)
trap 'rm -rf "$out"' EXIT

for t in tests/e2e/test_*.sh; do
    [[ -n ${E2E_ONLY:-} && $t != *"$E2E_ONLY"* ]] && continue
    name=$(basename "$t" .sh)
    if [[ -n ${E2E_EXCLUDE:-} && $name =~ $E2E_EXCLUDE ]]; then
        excluded=$((excluded + 1))
        continue
    fi
    if grep -qE '^# e2e: serial' "$t"; then serial+=("$t"); else parallel+=("$t"); fi
done

# run_one TEST: runs it with its log and exit status under $out.
run_one() {
    local t=$1 name start rc
    name=$(basename "$t" .sh)
    start=$SECONDS
    timeout 300 bash "$t" >"$out/$name.log" 2>&1
    rc=$?
    echo "$rc $((SECONDS - start))" >"$out/$name.rc"
}

# report TEST: the result line of a test that ended, and the tally.
report() {
    local name rc dur reason
    name=$(basename "$1" .sh)
    read -r rc dur <"$out/$name.rc"
    case $rc in
        0) passed=$((passed + 1)); echo "[  PASS  ] $name (${dur}s): $(grep -E '^PASS' "$out/$name.log" | tail -n 1)";;
        77) skipped=$((skipped + 1)); reason=$(grep -E '^SKIP' "$out/$name.log" | tail -n 1)
            skips+=("$name: $reason"); echo "[  SKIP  ] $name: $reason";;
        *) failed=$((failed + 1)); echo "[  FAIL  ] $name (exit $rc, ${dur}s)"; sed 's/^/    /' "$out/$name.log";;
    esac
}

# The parallel tests: up to $jobs at once, each reported when it ends.
declare -A running=() # pid -> test
for t in "${parallel[@]}"; do
    while (( ${#running[@]} >= jobs )); do
        wait -n
        for pid in "${!running[@]}"; do
            kill -0 "$pid" 2>/dev/null && continue
            wait "$pid" 2>/dev/null
            report "${running[$pid]}"
            unset "running[$pid]"
        done
    done
    run_one "$t" &
    running[$!]=$t
done
for pid in "${!running[@]}"; do
    wait "$pid" 2>/dev/null
    report "${running[$pid]}"
done
for t in "${serial[@]}"; do
    run_one "$t"
    report "$t"
done

if (( skipped )); then
    echo "!!! $skipped end-to-end test(s) SKIPPED because a peer could not start:"
    printf '!!!   %s\n' "${skips[@]}"
fi
(( excluded )) && echo "e2e: $excluded test(s) not selected in this pass (E2E_EXCLUDE=$E2E_EXCLUDE)"
(( jobs > 1 )) && echo "e2e: up to $jobs tests at once; ${#serial[@]} ran alone (# e2e: serial)"
echo "e2e: $passed passed, $failed failed, $skipped skipped"
(( failed == 0 ))
