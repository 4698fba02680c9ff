#!/usr/bin/env bash
# tests/interop/net_grid.sh [--results FILE] - the DPDK net version grid of
# issue 18 (`make interop`; docs/interop.md is made from its results by
# tests/interop/report.py). Three DPDK generations, named by their Debian
# release: bullseye (DPDK 20.11, bullseye root), bookworm (22.11, this
# machine), trixie (24.11, trixie root). Cells, one at a time:
#   passthrough FE BE  virtio-user FE -> shim (pass-through) -> net_vhost BE
#   chain FE BE        virtio-user FE -> shim (up) -> shim (down) -> net_vhost BE
#   down BE            peers/vdpa-driver -> shim (down) -> net_vhost BE
#   up FE              virtio-user FE -> shim (up) -> peers/vdpa-backend
# Every cell checks packets both ways on the counters of both ends (> 0, and
# no side received more than the other sent) and, through a shim mode, that
# the shim's trace shows that mode. A version that cannot run here is a loud,
# counted SKIP with the reason, never a pass.
# Prints per cell "CELL net MODE FE BE PASS|FAIL|SKIP reason" (FE/BE e.g.
# dpdk-22.11, vdpa-driver, vdpa-backend), the "FEAT net ..." lines the cells
# measured, the time of each cell, and "interop net: N passed, M failed, K
# skipped"; with --results FILE the CELL and FEAT lines also go to FILE.
# Exit 1 if a cell FAILed.
#   INTEROP_RELEASES  the releases (default "bullseye bookworm trixie")
#   INTEROP_ONLY      cells to run, "MODE:FE:BE" bash patterns over release
#                     names (e.g. "chain:bookworm:bookworm"; down's FE and
#                     up's BE are "-"); default all
#   INTEROP_CELL_TIMEOUT_S  per cell (default 240)
#   INTEROP_KEEP=1    keep every cell's work directory (a FAIL's always is)
# --cell MODE FE BE runs one cell (used by the grid itself).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/interop/lib_net.sh
. "$here/lib_net.sh"

cell_passthrough() {
    local fe=$1 be=$2 fe_bin be_bin w
    need_dpdk "$fe" fe_bin; need_dpdk "$be" be_bin
    w=$_W
    DPDK_TESTPMD=$be_bin dpdk_start_vhost_backend be "$w/be.sock" 1 || cell_fail "net_vhost did not start"
    start_shim net0 "$w/fe.sock" "$w/be.sock" "$w/trace.txt" "$w/shim.log" _UP_PID
    DPDK_TESTPMD=$fe_bin dpdk_start_virtio_user fe "$w/fe.sock" 1 || cell_fail "virtio-user did not start"
    links
    no_conversion "$w/trace.txt"
    traffic fe be
    feat net_vhost "$(interop_label "$be")" features "$w/trace.txt" 'be->fe GET_FEATURES reply'
    feat net_vhost "$(interop_label "$be")" protocol_features "$w/trace.txt" 'be->fe GET_PROTOCOL_FEATURES reply'
    feat net_vhost "$(interop_label "$be")" queue_num "$w/trace.txt" 'be->fe GET_QUEUE_NUM reply'
    dpdk_stop fe
    wait_for 10 grep -q 'session ended' "$w/shim.log" || cell_fail "the session did not end after virtio-user quit"
    stop_shim _UP_PID "$w/shim.log"
    verdict PASS "packets both ways, counters consistent; relayed unchanged$(check_notes "$w/shim.log")"
}

cell_chain() {
    local fe=$1 be=$2 fe_bin be_bin w
    need_dpdk "$fe" fe_bin; need_dpdk "$be" be_bin
    w=$_W
    DPDK_TESTPMD=$be_bin dpdk_start_vhost_backend be "$w/be.sock" 1 || cell_fail "net_vhost did not start"
    start_shim down0 "$w/mid.sock" "$w/be.sock" "$w/trace-down.txt" "$w/shim-down.log" _DOWN_PID
    start_shim up0 "$w/fe.sock" "$w/mid.sock" "$w/trace-up.txt" "$w/shim-up.log" _UP_PID
    DPDK_TESTPMD=$fe_bin dpdk_start_virtio_user fe "$w/fe.sock" 1 || cell_fail "virtio-user did not start"
    links
    grep -q 'up-conversion begins' "$w/trace-up.txt" || cell_fail "shim #1 did not up-convert (it fell back to pass-through)"
    grep -q 'down-conversion begins' "$w/trace-down.txt" || cell_fail "shim #2 did not down-convert (it fell back to pass-through)"
    wait_for 10 grep -q 'up0 shim->be SET_STATUS need_reply status=0xf' "$w/trace-up.txt" ||
        cell_fail "shim #1 never set DRIVER_OK"
    wait_for 10 grep -q 'down0 shim->be SET_VRING_ENABLE need_reply index=1 num=1' "$w/trace-down.txt" ||
        cell_fail "shim #2 never started net_vhost's rings"
    traffic fe be
    dpdk_stop fe
    wait_for 10 grep -q 'session ended' "$w/shim-up.log" || cell_fail "shim #1's session did not end"
    wait_for 10 grep -q 'session ended' "$w/shim-down.log" || cell_fail "shim #2's session did not end"
    stop_shim _UP_PID "$w/shim-up.log"
    stop_shim _DOWN_PID "$w/shim-down.log"
    verdict PASS "packets both ways, counters consistent; up-converted, then down-converted$(check_notes "$w/shim-up.log" "$w/shim-down.log")"
}

cell_down() {
    local be=$1 be_bin w rc=0 rx tx driver=$INTEROP_ROOT/${BUILD:-build}/vdpa-driver n=$INTEROP_DRIVER_FRAMES
    [[ -x $driver ]] || cell_fail "peers/vdpa-driver is not built (make BUILD=${BUILD:-build})"
    need_dpdk "$be" be_bin
    w=$_W
    DPDK_TESTPMD=$be_bin dpdk_start_vhost_backend be "$w/be.sock" 1 || cell_fail "net_vhost did not start"
    start_shim net0 "$w/fe.sock" "$w/be.sock" "$w/trace.txt" "$w/shim.log" _DOWN_PID
    testpmd_cmds be "set fwd io" "start"
    timeout 60 "$driver" --socket "$w/fe.sock" --type net --count "$n" \
        >"$w/driver.out" 2>"$w/driver.log" || rc=$?
    cat "$w/driver.out"
    (( rc == 0 )) || cell_fail "vdpa-driver exited with status $rc: $(tail -n 1 "$w/driver.log")"
    dpdk_cmd_output be "stop" >/dev/null || true
    read -r rx tx < <(dpdk_port_stats be) || cell_fail "no counters from net_vhost"
    echo "counters: vdpa-driver sent/received $n; net_vhost RX $rx TX $tx"
    grep -q "^vdpa-driver: net: sent $n, received $n\$" "$w/driver.out" ||
        cell_fail "the driver's frames did not all come back: $(tail -n 1 "$w/driver.out")"
    (( rx >= n && tx >= n )) || cell_fail "net_vhost counted fewer frames than the driver sent and received"
    grep -q 'net0 fe->shim SET_PROTOCOL_FEATURES .*-- down-conversion begins' "$w/trace.txt" ||
        cell_fail "the shim did not down-convert"
    grep -qE 'net0 shim->be (SET_STATUS|GET_STATUS|VDPA_)' "$w/trace.txt" && cell_fail "a vdpa-user request reached net_vhost"
    feat shim-to-net_vhost "$(interop_label "$be")" protocol_features "$w/trace.txt" 'net0 shim->be SET_PROTOCOL_FEATURES'
    feat shim-to-net_vhost "$(interop_label "$be")" features "$w/trace.txt" 'net0 shim->be SET_FEATURES'
    wait_for 10 grep -q 'session ended' "$w/shim.log" || cell_fail "the session did not end after the driver left"
    stop_shim _DOWN_PID "$w/shim.log"
    verdict PASS "the driver's frames all came back, net_vhost counted them; down-converted$(check_notes "$w/shim.log")"
}

cell_up() {
    local fe=$1 fe_bin w rx tx brx btx backend=$INTEROP_ROOT/${BUILD:-build}/vdpa-backend
    [[ -x $backend ]] || cell_fail "peers/vdpa-backend is not built (make BUILD=${BUILD:-build})"
    need_dpdk "$fe" fe_bin
    w=$_W
    "$backend" --socket "$w/be.sock" --type net --net-mode loopback --stats "$w/backend.stats" 2>"$w/backend.log" &
    _BACKEND_PID=$!
    wait_for 5 test -S "$w/be.sock" || cell_fail "vdpa-backend did not start: $(tail -n 1 "$w/backend.log")"
    start_shim net0 "$w/fe.sock" "$w/be.sock" "$w/trace.txt" "$w/shim.log" _UP_PID
    DPDK_TESTPMD=$fe_bin dpdk_start_virtio_user fe "$w/fe.sock" 1 || cell_fail "virtio-user did not start"
    dpdk_wait_link fe "$INTEROP_LINK_S" || cell_fail "virtio-user's link stayed down"
    grep -q 'up-conversion begins' "$w/trace.txt" || cell_fail "the shim did not up-convert (it fell back to pass-through)"
    wait_for 10 grep -q 'shim->be SET_STATUS need_reply status=0xf' "$w/trace.txt" ||
        cell_fail "the shim never set DRIVER_OK"
    testpmd_cmds fe "set fwd io" "start tx_first 4"
    sleep "$INTEROP_TRAFFIC_S"
    dpdk_cmd_output fe "stop" >/dev/null || true
    read -r rx tx < <(dpdk_port_stats fe) || cell_fail "no counters from virtio-user"
    local label; label=$(interop_label "$fe")
    feat virtio-user "$label" protocol_features "$w/trace.txt" 'net0 fe->shim SET_PROTOCOL_FEATURES'
    feat virtio-user "$label" features "$w/trace.txt" 'net0 fe->shim SET_FEATURES'
    dpdk_stop fe
    wait_for 10 grep -q 'session ended' "$w/shim.log" || cell_fail "the session did not end after virtio-user quit"
    feat_requests virtio-user "$label" "$w/trace.txt"
    stop_shim _UP_PID "$w/shim.log"
    kill -TERM "$_BACKEND_PID"; wait "$_BACKEND_PID" 2>/dev/null || true; _BACKEND_PID=""
    brx=$(awk '$1 == "net_rx_packets" { print $2 }' "$w/backend.stats" 2>/dev/null)
    btx=$(awk '$1 == "net_tx_packets" { print $2 }' "$w/backend.stats" 2>/dev/null)
    echo "counters: virtio-user RX $rx TX $tx; vdpa-backend to the driver ${brx:-?}, from it ${btx:-?}"
    [[ -n $brx && -n $btx ]] || cell_fail "vdpa-backend wrote no counters"
    (( rx > 0 && tx > 0 && brx > 0 && btx > 0 )) || cell_fail "packets did not flow both ways (a counter stayed 0)"
    (( btx <= tx && rx <= brx )) || cell_fail "inconsistent counters: a side received more than the other sent"
    verdict PASS "packets both ways, counters consistent; up-converted$(check_notes "$w/shim.log")"
}

if [[ ${1:-} == --cell ]]; then
    [[ $# == 4 ]] || { echo "usage: $0 --cell MODE FE BE" >&2; exit 2; }
    trap 'exit 143' TERM INT
    cell_init
    case $2 in
        passthrough) cell_passthrough "$3" "$4" ;;
        chain) cell_chain "$3" "$4" ;;
        down) cell_down "$4" ;;
        up) cell_up "$3" ;;
        *) echo "unknown mode $2" >&2; exit 2 ;;
    esac
    # shellcheck disable=SC2317 # reached when a cell returns without a verdict
    verdict FAIL "the cell ended without a verdict"
fi

results=""
if [[ ${1:-} == --results ]]; then results=$2; shift 2; : > "$results"; fi
rels=${INTEROP_RELEASES:-$INTEROP_RELEASES_ALL}
cells=()
for mode in passthrough chain; do
    for fe in $rels; do for be in $rels; do cells+=("$mode:$fe:$be"); done; done
done
for be in $rels; do cells+=("down:-:$be"); done
for fe in $rels; do cells+=("up:$fe:-"); done

out() { echo "$1"; [[ -z $results ]] || echo "$1" >> "$results"; }
passed=0 failed=0 skipped=0 skips=() t_all=$SECONDS
for c in "${cells[@]}"; do
    if [[ -n ${INTEROP_ONLY:-} ]]; then
        sel=0
        for p in $INTEROP_ONLY; do
            # shellcheck disable=SC2053 # INTEROP_ONLY holds patterns
            [[ $c == $p ]] && sel=1
        done
        (( sel )) || continue
    fi
    IFS=: read -r mode fe be <<< "$c"
    fel=vdpa-driver bel=vdpa-backend
    [[ $fe == - ]] || fel=$(interop_label "$fe")
    [[ $be == - ]] || bel=$(interop_label "$be")
    log=$(mktemp "${TMPDIR:-/tmp}/interop-cell.XXXXXX")
    t0=$SECONDS rc=0
    timeout -k 10 "${INTEROP_CELL_TIMEOUT_S:-240}" bash "$here/net_grid.sh" --cell "$mode" "$fe" "$be" >"$log" 2>&1 || rc=$?
    line=$(grep '^RESULT ' "$log" | tail -n 1 || true)
    verdict=${line#RESULT }; verdict=${verdict%% *}
    reason=${line#RESULT * }
    if [[ -z $line ]]; then
        verdict=FAIL reason="the cell ended without a verdict (exit $rc)"
        (( rc != 124 )) || reason="the cell timed out (${INTEROP_CELL_TIMEOUT_S:-240} s)"
    fi
    case $verdict in
        PASS) passed=$((passed + 1)) ;;
        SKIP) skipped=$((skipped + 1)); skips+=("$mode $fel $bel: $reason") ;;
        *) failed=$((failed + 1)) ;;
    esac
    out "CELL net $mode $fel $bel $verdict $reason"
    while IFS= read -r f; do out "$f"; done < <(grep '^FEAT ' "$log" || true)
    echo "# $mode $fel $bel: $((SECONDS - t0)) s; $(grep -m1 '^counters: ' "$log" || echo 'no counters')"
    if [[ $verdict == FAIL ]]; then sed 's/^/#   /' "$log" | tail -n 40; fi
    rm -f "$log"
done
sweep_runtime_dirs
if (( skipped )); then
    echo "!!! $skipped interop cell(s) SKIPPED because a peer cannot run here:"
    printf '!!!   %s\n' "${skips[@]}"
fi
echo "# the grid took $((SECONDS - t_all)) s"
echo "interop net: $passed passed, $failed failed, $skipped skipped"
(( failed == 0 ))
