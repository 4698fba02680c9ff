#!/usr/bin/env bash
# Runs the cmocka unit-test binaries given as arguments (VALGRIND=1: each under
# valgrind, leaks fatal; fd leaks are checked by the tests themselves), shows
# their output, and ends with
# "unit: N passed, M failed". Exits non-zero if any binary or test failed.
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
passed=0 failed=0 broken=0
vg=()
if [[ ${VALGRIND:-0} == 1 ]]; then
    vg=(valgrind -q --error-exitcode=101 --leak-check=full --errors-for-leak-kinds=definite
        --child-silent-after-fork=yes)
fi
for bin in "$@"; do
    log=$(mktemp)
    "${vg[@]}" "$bin" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) test.*/\1/p' "$log" | tail -n 1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if (( rc != 0 )) && [[ -z ${f:-} ]]; then
        # Crashed, or valgrind found errors, without a cmocka failure count.
        echo "!!! $bin exited with status $rc"
        broken=$((broken + 1))
    fi
    rm -f "$log"
done
failed=$((failed + broken))
echo "unit: $passed passed, $failed failed"
(( failed == 0 ))
