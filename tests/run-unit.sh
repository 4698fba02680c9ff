#!/usr/bin/env bash
# Runs the cmocka unit-test binaries given as arguments, shows each one's
# output, and ends with one line of the form
#     unit: N passed, M failed
# summed over all binaries. Exits non-zero if any test or any binary failed.
#
# Counting, per binary (cmocka 1.1 prints "Running N test(s)", one
# "[       OK ]" line per passing test and "[  PASSED  ] N test(s)." /
# "[  FAILED  ] N test(s)" / "[  SKIPPED ] N test(s)" summaries):
#   passed  the PASSED summaries, or the OK lines if a group never finished
#   failed  the tests that ran but neither passed nor were skipped (this
#           includes cmocka's ERRORs such as a failed teardown, which its
#           FAILED summary leaves out, and tests a crash never reached), at
#           least the FAILED summaries; a binary that exits non-zero with no
#           failed test (valgrind errors, a crash after the last test, no
#           cmocka output at all, a time-out) counts as one failure.
#
# Environment:
#   VALGRIND=1     run each binary under valgrind: memory errors, definite
#                  leaks and fds left open at exit (--track-fds) fail it
#   UNIT_TIMEOUT   seconds one binary may run (default 300, 900 with valgrind)
#   BUILD          passed on to the tests (default: build)
set -u

if (( $# == 0 )); then
    echo "usage: $0 TEST-BINARY..." >&2
    exit 2
fi

# Absolute paths first: the tests run from the top of the tree.
bins=()
for b in "$@"; do
    case $b in
    /*) bins+=("$b") ;;
    *) bins+=("$PWD/$b") ;;
    esac
done
top=$(cd "$(dirname "$0")/.." && pwd) || exit 2
cd "$top" || exit 2
export BUILD=${BUILD:-build}
export CMOCKA_MESSAGE_OUTPUT=STDOUT # the format parsed below, not TAP/XML/subunit

runner=()
timeout_s=${UNIT_TIMEOUT:-300}
if [[ ${VALGRIND:-0} == 1 ]]; then
    if ! command -v valgrind >/dev/null 2>&1; then
        echo "run-unit.sh: VALGRIND=1 but valgrind is not installed" >&2
        echo "unit: 0 passed, ${#bins[@]} failed"
        exit 1
    fi
    # --child-silent-after-fork: tests that fork and exec the shim must not
    # get reports from the half-started child.
    runner=(valgrind -q --fair-sched=yes --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
            --track-fds=yes --child-silent-after-fork=yes)
    timeout_s=${UNIT_TIMEOUT:-900}
    # valgrind runs one thread at a time, 20-50x slower: time bounds in the
    # tests that measure a call's duration scale by this (testutil.h).
    export VS_TEST_TIME_SCALE=${VS_TEST_TIME_SCALE:-20}
fi
wrap=()
if command -v timeout >/dev/null 2>&1; then
    wrap=(timeout -k 10 "$timeout_s")
fi
linebuf=()
if command -v stdbuf >/dev/null 2>&1; then
    linebuf=(stdbuf -oL -eL) # keep cmocka's stdout and stderr lines in order
fi

log=$(mktemp "${TMPDIR:-/tmp}/run-unit.XXXXXX") || exit 2
trap 'rm -f "$log"' EXIT

# sum_of REGEX: the sum of the first group of REGEX over the lines of $log.
sum_of() {
    sed -nE "s/$1/\\1/p" "$log" | awk '{ s += $1 } END { print s + 0 }'
}
lines_of() {
    grep -cE "$1" "$log"
}

# Runs "$@" with nothing but fds 0-2 open (the fds a test counts, and what
# valgrind --track-fds reports, are then the test's own).
run_clean() {
    local f fd
    for f in /proc/"$BASHPID"/fd/*; do
        fd=${f##*/}
        if [[ $fd =~ ^[0-9]+$ ]] && (( fd > 2 )); then
            eval "exec $fd>&-"
        fi
    done
    exec "$@"
}

passed=0 failed=0
for bin in "${bins[@]}"; do
    name=${bin#"$top"/}
    echo "=== $name"
    if [[ ! -f $bin || ! -x $bin ]]; then
        echo "!!! $name: no such executable"
        failed=$((failed + 1))
        continue
    fi
    buf=("${linebuf[@]}")
    # stdbuf works by LD_PRELOAD, and a dynamically linked ASan runtime
    # refuses to start unless it is the first library loaded.
    if grep -qa 'libasan\.so' "$bin"; then
        buf=()
    fi
    (run_clean "${wrap[@]}" "${buf[@]}" "${runner[@]}" "$bin") >"$log" 2>&1 </dev/null
    rc=$?
    cat "$log"

    groups=$(lines_of '^\[=+\] Running [0-9]+ test')
    finished=$(lines_of '^\[  PASSED  \] [0-9]+ test')
    total=$(sum_of '^\[=+\] Running ([0-9]+) test.*')
    skipped=$(sum_of '^\[  SKIPPED \] ([0-9]+) test.*')
    failed_summary=$(sum_of '^\[  FAILED  \] ([0-9]+) test.*')
    if (( finished >= groups && groups > 0 )); then
        p=$(sum_of '^\[  PASSED  \] ([0-9]+) test.*')
    else
        p=$(lines_of '^\[       OK \] ')
    fi
    f=$((total - p - skipped))
    (( f < failed_summary )) && f=$failed_summary
    (( f < 0 )) && f=0

    # valgrind --track-fds: "Open file descriptor 3: ..." / "Open AF_UNIX
    # socket 4: ..." for each fd open at exit (inherited ones were closed)
    open_fds=0
    if (( ${#runner[@]} > 0 )); then
        open_fds=$(lines_of '^==[0-9]+== Open .* [0-9]+:')
    fi

    why=""
    if (( rc == 124 || rc == 137 )) && (( ${#wrap[@]} > 0 )) && [[ ${wrap[0]} == timeout ]]; then
        why="timed out after ${timeout_s}s"
    elif (( rc > 128 )); then
        why="killed by signal $((rc - 128))"
    elif (( groups == 0 )); then
        why="no cmocka output"
    elif (( rc != 0 && f == 0 )); then
        why="exit status $rc with no failed test (valgrind errors?)"
    elif (( open_fds > 0 )); then
        why="$open_fds fd(s) left open at exit (valgrind --track-fds)"
    fi
    if [[ -n $why ]]; then
        echo "!!! $name: $why"
        (( f == 0 )) && f=1
    fi
    note=""
    (( skipped > 0 )) && note=" ($skipped skipped)"
    echo "--- $name: $p passed, $f failed$note"
    passed=$((passed + p))
    failed=$((failed + f))
done

echo "unit: $passed passed, $failed failed"
(( failed == 0 ))
