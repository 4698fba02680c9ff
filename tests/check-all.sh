#!/usr/bin/env bash
# The full suite, as CI runs it:
#   0. the layering check and its self-test (tests/check-layers.py), the
#      formatter (make check-format) and the static analyser (make
#      check-analyze: scan-build, zero findings)
#   1. gcc build, unit and integration tests (cmocka) and end-to-end tests
#      with real peers (E2E_JOBS=nproc tests at once: tests/run-e2e.sh)
#   1b. the version grid (make interop: DPDK 20.11 / 22.11 / 24.11, QEMU 5.2 /
#      7.2 / 10.0, three guest kernels, every mode; the Debian roots made by
#      make deps), then docs/interop.md compared with the committed one: the
#      run must reproduce it byte for byte (not compared when a cell skipped:
#      the skips are counted and said)
#   2. clang build of everything, warning-free (-Werror)
#   3. unit, integration and end-to-end tests again with ASan+UBSan (the shim
#      under test too; the per-type guest tests only in step 1, below)
#   4. unit and integration tests under valgrind (leaks, fd leaks)
#   5. every libFuzzer target for a short bounded time (make fuzz FUZZ_SECONDS=10;
#      FUZZ_RECORD=0: not counted in tests/fuzz/executions.tsv)
# Ends with one line: "all: N passed, M failed, K skipped".
set -u
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
passed=0 failed=0 skipped=0 step_failed=0
summaries=()

tally() { # reads "...: N passed, M failed[, K skipped]" lines from a log
    local line p f s
    while IFS= read -r line; do
        summaries+=("$1 $line")
        p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
        f=$(sed -E 's/.*, ([0-9]+) failed.*/\1/' <<<"$line")
        s=0; [[ $line == *skipped* ]] && s=$(sed -E 's/.*, ([0-9]+) skipped.*/\1/' <<<"$line")
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    done < <(grep -E '^(unit|e2e|fuzz|interop): [0-9]+ passed, [0-9]+ failed' "$2")
}

step() { # step NAME CMD...
    local name=$1 log; shift
    log=$(mktemp)
    echo "=== $name: $*"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    tally "$name" "$log"
    rm -f "$log"
    if (( rc != 0 )); then
        echo "=== $name FAILED (exit $rc)"
        step_failed=$((step_failed + 1))
    fi
}

step layers python3 tests/check-layers.py --self-test
step format make check-format
step analyze make -j"$jobs" check-analyze
export E2E_JOBS=${E2E_JOBS:-$jobs}
step gcc make -j"$jobs" check
# interop_reproduced: make interop, then its docs/interop.md must be the
# committed one, byte for byte, unless a cell skipped (said, not compared)
interop_reproduced() {
    local log rc=0
    log=$(mktemp)
    make -j"$jobs" interop INTEROP_JOBS="$jobs" 2>&1 | tee "$log"
    (( PIPESTATUS[0] == 0 )) || rc=1
    if grep -qE '^interop: [0-9]+ passed, [0-9]+ failed, [1-9]' "$log"; then
        echo "interop: cells skipped (above): docs/interop.md not compared with the committed one"
    elif git diff --quiet -- docs/interop.md; then
        echo "interop: docs/interop.md reproduced byte for byte"
    else
        echo "interop: docs/interop.md differs from the committed one:"
        git --no-pager diff --stat -- docs/interop.md
        git --no-pager diff -- docs/interop.md | head -n 40
        rc=1
    fi
    rm -f "$log"
    return "$rc"
}
step interop interop_reproduced
step clang make -j"$jobs" CC=clang BUILD=build-clang all build-clang/libshim.a \
    $(ls tests/unit/test_*.c | sed 's|tests/unit/|build-clang/tests/|; s|\.c$||') \
    $(ls tests/integ/test_*.c | sed 's|tests/integ/|build-clang/tests/integ/|; s|\.c$||')
# The per-type guest tests of issue 17 run in the gcc pass only (about 20
# guests, ~7 minutes a pass under TCG, would take CI past its budget); under
# ASan their shim paths run in the integration tests and in the non-guest
# down-conversion tests over the same real back-ends (test_down_*).
asan_exclude='^test_guest_(rng|vsock|scsi|gpio|i2c|gpu|sound|input|fs_rust|full_kernel|qemu10)'
step asan env E2E_EXCLUDE="$asan_exclude" make -j"$jobs" check SAN=1
step valgrind make -j"$jobs" check-valgrind
step fuzz make fuzz FUZZ_SECONDS="${CI_FUZZ_SECONDS:-10}" FUZZ_RECORD=0

echo "=== summary"
printf '  %s\n' "${summaries[@]}"
(( step_failed )) && echo "  $step_failed step(s) failed to build or run"
(( step_failed && failed == 0 )) && failed=1
echo "all: $passed passed, $failed failed, $skipped skipped"
(( failed == 0 && step_failed == 0 ))
