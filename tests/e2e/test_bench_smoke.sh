#!/usr/bin/env bash
# e2e: serial (its sanity bounds on timings need the machine to itself)
# The benchmark harness cannot rot unnoticed: `make bench` is minutes long
# and not part of `make check`, so this runs its programs with tiny
# parameters against the real shim and checks that they still work and
# report sane numbers (not performance targets; docs/performance.md has
# those):
#   - bringup: 3 bring-ups of a 1- and an 8-queue-pair virtio-net device,
#     direct and through the shim, against the scripted back-end; the
#     unix-socket round-trip floor;
#   - scale: one shim with 10 devices brought up at once, its memory, its
#     CPU while idle (no polling: no ticks, no messages), the relay rate;
#   - run.sh parses, and report.py renders a report from those results.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
w=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-bench-smoke.XXXXXX")
trap 'shim_kill; rm -rf "$w"' EXIT

bench=$E2E_ROOT/${BUILD:-build}/bench
for p in bringup scale; do
    [[ -x $bench/$p ]] || fail "$bench/$p is missing (make builds it)"
done
bash -n "$E2E_ROOT/tests/bench/run.sh" || fail "tests/bench/run.sh does not parse"

# kv LINE KEY: the value of KEY=VALUE in LINE.
kv() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<< "$1" | head -n 1; }
# between V LO HI: LO < V < HI (V a decimal number).
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v + 0 > lo && v + 0 < hi) }'; }

# ---- bringup --------------------------------------------------------------
shim_start "$w/shim.log" --log-level warn --device "type=net,id=smoke,frontend=$w/fe.sock,backend=$w/be.sock"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
rc=0
timeout 60 "$bench/bringup" --scripted-backend "$w/be.sock" \
    --case "net1,net,2,$w/be.sock,$w/fe.sock" --case "net8,net,16,$w/be.sock,$w/fe.sock" \
    --reps 3 --warmup 1 --floor 20 --steps "$w/steps.txt" >"$w/bringup.out" 2>"$w/bringup.err" || rc=$?
cat "$w/bringup.out"
(( rc == 0 )) || fail "bringup exited with $rc: $(tail -n 3 "$w/bringup.err")"
for c in net1:21 net8:105; do
    name=${c%%:*} msgs=${c##*:}
    line=$(grep "^case name=$name " "$w/bringup.out") || fail "no result for $name"
    [[ $(kv "$line" reps) == 3 && $(kv "$line" failures) == 0 ]] || fail "$name: not 3 clean bring-ups: $line"
    [[ $(kv "$line" steps_differ) == 0 ]] || fail "$name: the conversation differed between direct and shim"
    # the scripted front-end's script: 5 requests per ring plus the fixed steps
    [[ $(kv "$line" msgs) == "$msgs" ]] || fail "$name: $(kv "$line" msgs) requests, expected $msgs"
    between "$(kv "$line" direct_us)" 0 1000000 || fail "$name: direct time not sane: $line"
    between "$(kv "$line" shim_us)" 0 1000000 || fail "$name: shim time not sane: $line"
done
floor=$(grep '^floor ' "$w/bringup.out") || fail "no floor line"
[[ $(kv "$floor" samples) == 60 ]] || fail "floor: $(kv "$floor" samples) samples, expected 60"
between "$(kv "$floor" rtt_us)" 0 100000 || fail "floor not sane: $floor"
grep -q '^step case=net8 req=SET_VRING_KICK count=16 ' "$w/steps.txt" || fail "per-step report: $(head -n 3 "$w/steps.txt")"
shim_stop
grep -v ': info: ' "$w/shim.log" | grep -q . && fail "the shim logged warnings: $(grep -v ': info: ' "$w/shim.log" | head -n 3)"

# ---- scale ------------------------------------------------------------------
mkdir -p "$w/scale"
rc=0
timeout 60 "$bench/scale" --shim "$SHIM_BIN" --dir "$w/scale" --devices 10 --idle-s 1 --flood-s 1 \
    --flood-devices 4 --window 16 >"$w/scale.out" 2>"$w/scale.err" || rc=$?
cat "$w/scale.out"
(( rc == 0 )) || fail "scale exited with $rc: $(tail -n 3 "$w/scale.err")"
line=$(grep '^scale ' "$w/scale.out") || fail "no scale line"
[[ $(kv "$line" up) == 10 ]] || fail "$(kv "$line" up) of 10 devices came up"
between "$(kv "$line" per_dev_kib)" 0 1024 || fail "memory per device not sane: $line"
between "$(kv "$line" bringup_all_ms)" 0 30000 || fail "bring-up time not sane: $line"
[[ $(kv "$line" idle_events) == 0 ]] || fail "messages reached idle peers: $line"
(( $(kv "$line" idle_ticks) <= 1 )) || fail "the shim used CPU while idle: $line"
for k in 1 4; do
    r=$(grep "^relay devices=$k " "$w/scale.out") || fail "no relay line for $k sessions"
    [[ $r != *error=* ]] || fail "relay on $k sessions failed: $r"
    between "$(kv "$r" msgs_per_s)" 1000 1e9 || fail "relay rate not sane: $r"
done
grep -q '^shim exit=0 log_lines=0' "$w/scale.out" || fail "the scale run's shim: $(grep '^shim ' "$w/scale.out")"

# ---- the report renders ------------------------------------------------------
{
    echo "machine date=smoke nproc=$(nproc) kernel=$(uname -r) commit=smoke"
    sed 's/^case /case place=pinned /; s/^floor /floor place=pinned /' "$w/bringup.out"
    sed 's/^step /step place=pinned /' "$w/steps.txt"
    cat "$w/scale.out"
} >"$w/results.txt"
printf 'smoke\tbringup ...\n' >"$w/commands.txt"
QUICK=1 python3 "$E2E_ROOT/tests/bench/report.py" "$w/results.txt" "$w/commands.txt" "$w/performance.md" ||
    fail "report.py failed"
grep -q '^| control plane, net8: added latency per relayed message' "$w/performance.md" ||
    fail "the report lacks the control-plane summary"
grep -q '^| scale: resident memory per device | ' "$w/performance.md" || fail "the report lacks the scale summary"

echo "PASS: bench harness: bringup (net 1 and 8 queue pairs, floor $(kv "$floor" rtt_us) µs), scale (10 devices, $(kv "$line" per_dev_kib) KiB each, $(kv "$line" idle_ticks) idle ticks), report"
