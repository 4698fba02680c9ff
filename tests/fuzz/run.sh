#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined)
# and runs each for SECONDS (default 60) from its committed seed corpus
# (tests/fuzz/corpus/<target>; new inputs go to a scratch copy, not the repo).
# A crash leaves its input in build-fuzz/<target>.crash-* and fails the run;
# turn it into a regression test by adding it to the corpus (every corpus
# file is replayed by `run.sh` before fuzzing starts).
# FUZZ_TARGETS="fuzz_session ..." runs only those.
# FUZZ_JOBS=N (default 1) runs N fuzzing processes (libFuzzer's -fork=N; the
# executions counted are those of all of them). FUZZ_KEEP_CORPUS=1 goes on
# from the scratch corpus an earlier run left (the seeds added again)
# instead of the seeds alone: runs made one after the other then add up to
# one long run.
#
# Executions are counted: each target's line says how many it ran, and the
# run is appended to tests/fuzz/executions.tsv (date, commit, target,
# seconds, executions; the commit gets "-dirty" when the tree differs from
# it), so the totals across runs committed with the file are known; the run
# ends with each target's total. FUZZ_RECORD=0 leaves the file alone (CI and
# `make check-all`: a throw-away clone, 10 s runs).
# Prints one line per target, the totals, and "fuzz: N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
seconds=${1:-${FUZZ_SECONDS:-60}}
out=${FUZZ_BUILD:-build-fuzz}
mkdir -p "$out"
cc=${FUZZ_CC:-clang}
flags=(-std=c11 -D_GNU_SOURCE -g -O2 -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -Wall -Wextra -Werror -Wno-missing-field-initializers
       -Ilib -Ilib/base -Ilib/proto -Ishim -Ipeers)
# fuzz_session runs the whole relay: every shim module but main.c, and libuv.
shim_lib=$(ls shim/*.c lib/proto/*.c lib/base/*.c | grep -v '^shim/main\.c$' | tr '\n' ' ')
declare -A sources=(
    [fuzz_message]="lib/proto/wire.c lib/proto/msg_table.c lib/proto/validate.c lib/proto/regfile.c $(ls shim/trace.c shim/trace_decode.c 2>/dev/null | tr '\n' ' ')lib/proto/log.c lib/base/peer_fd.c"
    [fuzz_ctrl_net]="shim/ctrl_net.c"
    [fuzz_virtqueue]="lib/virtio/virtqueue.c lib/virtio/guest_mem.c lib/base/peer_fd.c"
    [fuzz_session]="$shim_lib $(ls lib/virtio/*.c | tr '\n' ' ')"
)
declare -A libs=(
    [fuzz_session]="$(pkg-config --libs libuv 2>/dev/null || echo -luv)"
)
record=${FUZZ_RECORD:-1}
ledger=tests/fuzz/executions.tsv
commit=$(git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
targets=${FUZZ_TARGETS:-fuzz_message fuzz_ctrl_net fuzz_virtqueue fuzz_session}

# The executions a run made: with -fork, the last status line of the
# parent ("#N: ...", the sum over its jobs; a crashed job's own final stats
# are copied into the log and count that job only); otherwise libFuzzer's
# final stats (printed on a crash too) or else its last status line ("#N ...").
executions() {
    local n
    n=$(grep -oE '^#[0-9]+:' "$1" | tail -n 1 | tr -d '#:')
    [[ -z $n ]] && n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1" | tail -n 1)
    [[ -z $n ]] && n=$(grep -oE '^#[0-9]+' "$1" | tail -n 1 | tr -d '#')
    echo "${n:-0}"
}

record_run() { # TARGET EXECUTIONS
    (( record )) || return 0
    [[ -f $ledger ]] || printf '# date\tcommit\ttarget\tseconds\texecutions\n' >"$ledger"
    printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" "$1" \
        "$seconds" "$2" >>"$ledger"
}

passed=0 failed=0
for target in $targets; do
    # shellcheck disable=SC2086
    if ! "$cc" "${flags[@]}" -o "$out/$target" "tests/fuzz/$target.c" ${sources[$target]} \
            ${libs[$target]:-} 2>"$out/$target.build.log"; then
        echo "FAIL $target: does not build: $(head -n 3 "$out/$target.build.log")"
        failed=$((failed + 1))
        continue
    fi
    if [[ ${FUZZ_KEEP_CORPUS:-0} != 1 ]]; then
        rm -rf "$out/$target.corpus"
    fi
    mkdir -p "$out/$target.corpus"
    cp tests/fuzz/corpus/"$target"/* "$out/$target.corpus/" 2>/dev/null || true
    seeds=$(ls tests/fuzz/corpus/"$target" 2>/dev/null | wc -l)
    fork=()
    (( ${FUZZ_JOBS:-1} > 1 )) && fork=(-fork="$FUZZ_JOBS")
    "$out/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$out/$target." -print_final_stats=1 "${fork[@]}" \
        "$out/$target.corpus" >"$out/$target.log" 2>&1
    rc=$?
    runs=$(executions "$out/$target.log")
    record_run "$target" "$runs"
    if (( rc == 0 )); then
        echo "PASS $target: $runs executions in ${seconds}s ($((runs / (seconds > 0 ? seconds : 1)))/s) from $seeds seeds, no crash"
        passed=$((passed + 1))
    else
        echo "FAIL $target: $(grep -m1 -E 'ERROR|runtime error|abort|leak' "$out/$target.log")"
        echo "      input: $(ls "$out/$target".crash-* "$out/$target".leak-* "$out/$target".timeout-* 2>/dev/null | head -n 1)"
        echo "      ($runs executions before it)"
        failed=$((failed + 1))
    fi
done
if [[ -f $ledger ]]; then
    for target in $targets; do
        awk -F'\t' -v t="$target" '!/^#/ && $3 == t { n += $5; r++ }
            END { printf "total %s: %d executions in %d recorded runs (issue 14 asks 100000000)\n", t, n, r }' "$ledger"
    done
fi
(( record )) || echo "(not recorded: FUZZ_RECORD=0)"
echo "fuzz: $passed passed, $failed failed"
(( failed == 0 ))
