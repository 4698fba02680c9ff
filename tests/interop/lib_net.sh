# shellcheck shell=bash
# tests/interop/lib_net.sh - one cell of the DPDK net version grid (issue 18;
# tests/interop/net_grid.sh runs them, docs/interop.md shows them).
#
# A DPDK generation is named by its Debian release: bullseye (DPDK 20.11, in
# the bullseye root), bookworm (DPDK 22.11, the machine itself: run directly)
# and trixie (DPDK 24.11, in the trixie root). testpmd in a root runs through
# tests/peers/run, bound to the cell's work directory only, with
# tests/e2e/lib/dpdk.sh driving it as in the e2e tests (DPDK_TESTPMD is a
# small wrapper written in the work directory).
#
# A cell prints "FEAT ..." lines (what the peers offered, from the shim's
# traces) and ends with one "RESULT PASS|FAIL|SKIP reason" line; its exit
# status is 0, 1 or 77. Reasons hold no counts, paths or times: the report
# made from them must be the same on every run with the same results.

INTEROP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$INTEROP_ROOT/tests/e2e/lib/common.sh"
. "$INTEROP_ROOT/tests/e2e/lib/dpdk.sh"
. "$INTEROP_ROOT/tests/peers/lib.sh"

# The releases, in grid order, and what each one is.
INTEROP_RELEASES_ALL="bullseye bookworm trixie"
INTEROP_HOST_RELEASE=bookworm
INTEROP_TRAFFIC_S=${INTEROP_TRAFFIC_S:-2}
INTEROP_LINK_S=${INTEROP_LINK_S:-20}
INTEROP_DRIVER_FRAMES=${INTEROP_DRIVER_FRAMES:-1000}

interop_dpdk_version() {
    case $1 in
        bullseye) echo 20.11 ;;
        bookworm) echo 22.11 ;;
        trixie) echo 24.11 ;;
        *) return 1 ;;
    esac
}

# interop_label RELEASE: the name a version has in the CELL lines.
interop_label() { echo "dpdk-$(interop_dpdk_version "$1")"; }

_W="" _UP_PID="" _DOWN_PID="" _BACKEND_PID=""

# verdict PASS|FAIL|SKIP REASON: the cell's last line, and its exit.
verdict() {
    echo "RESULT $1 $2"
    case $1 in
        PASS) exit 0 ;;
        SKIP) exit 77 ;;
        *) exit 1 ;;
    esac
}
cell_fail() {
    [[ -z $_W ]] || { echo "--- logs kept in $_W"; INTEROP_KEEP=1; }
    verdict FAIL "$1"
}

_cell_cleanup() {
    local p r
    for p in "$_UP_PID" "$_DOWN_PID" "$_BACKEND_PID"; do
        [[ -z $p ]] || kill -KILL "$p" 2>/dev/null || true
    done
    dpdk_stop_all
    sweep_runtime_dirs
    if [[ -n $_W && ${INTEROP_KEEP:-0} != 1 ]]; then rm -rf "$_W"; fi
    return 0
}

# sweep_runtime_dirs: EAL's runtime files of the testpmds that ran in a root
# stay in the root's /run (dpdk_stop removes the host's only): those of this
# cell, and of any dpdk.sh user (dpdksh-PID-NAME) whose PID is gone.
sweep_runtime_dirs() {
    local r d pid
    for r in $INTEROP_RELEASES_ALL; do
        [[ $r == "$INTEROP_HOST_RELEASE" ]] && continue
        for d in "$(peer_root_dir "$r")"/run/dpdk/dpdksh-*; do
            [[ -d $d ]] || continue
            pid=${d##*/dpdksh-}; pid=${pid%%-*}
            if [[ $pid == "$$" ]] || ! kill -0 "$pid" 2>/dev/null; then rm -rf "$d"; fi
        done
    done
}

# cell_init: the work directory (bound into the roots), the clean-up trap.
cell_init() {
    _W=$(mktemp -d "${TMPDIR:-/tmp}/interop-net.XXXXXX")
    DPDK_WORKDIR=$_W
    export DPDK_WORKDIR
    trap _cell_cleanup EXIT
    [[ -x $SHIM_BIN ]] || cell_fail "the shim binary is missing (make BUILD=${BUILD:-build})"
}

# testpmd_for RELEASE: prints the testpmd to run for RELEASE (a wrapper that
# runs the root's), or prints why it cannot and returns 1.
testpmd_for() {
    local rel=$1 ver root wrapper
    ver=$(interop_dpdk_version "$rel")
    if [[ $rel == "$INTEROP_HOST_RELEASE" ]]; then
        [[ -x /usr/bin/dpdk-testpmd ]] || {
            echo "DPDK $ver is not on this machine (no /usr/bin/dpdk-testpmd: Debian 12's dpdk-dev has it)"; return 1; }
        echo /usr/bin/dpdk-testpmd
        return 0
    fi
    root=$(peer_root_dir "$rel")
    # (No path in a reason: docs/interop.md shows it.)
    if [[ ! -f $root/$PEER_ROOT_STAMP ]]; then
        echo "DPDK $ver is not in the $rel root (it is not built: make peer-roots PEER_ROOTS_RELEASES=$rel)"; return 1
    fi
    if ! peer_root_ready "$rel" >/dev/null; then
        echo "DPDK $ver is not in the $rel root (its package list changed since it was built: make peer-roots PEER_ROOTS_RELEASES=$rel)"
        return 1
    fi
    [[ -x $root/usr/bin/dpdk-testpmd ]] || {
        echo "DPDK $ver is not in the $rel root (no /usr/bin/dpdk-testpmd: dpdk-dev, the package that has it, is not on its line in tests/peers/roots.list)"
        return 1; }
    (( EUID == 0 )) || { echo "DPDK $ver in the $rel root needs root to run (tests/peers/run)"; return 1; }
    wrapper=$_W/testpmd-$rel
    # stdbuf's library is the root's own: the host's LD_PRELOAD is dropped.
    cat > "$wrapper" <<EOF
#!/bin/sh
unset LD_PRELOAD
exec "$INTEROP_ROOT/tests/peers/run" --bind "$_W" $rel stdbuf -oL -eL /usr/bin/dpdk-testpmd "\$@"
EOF
    chmod +x "$wrapper"
    echo "$wrapper"
}

# need_dpdk RELEASE VAR: sets VAR to RELEASE's testpmd after a start probe
# (net_vhost, as dpdk_available does); the cell is a SKIP when it cannot run.
need_dpdk() {
    local rel=$1 bin
    bin=$(testpmd_for "$rel") || verdict SKIP "$bin"
    _DPDK_AVAILABLE=""
    DPDK_TESTPMD=$bin TMPDIR=$_W dpdk_available 2>/dev/null ||
        verdict SKIP "DPDK $(interop_dpdk_version "$rel") ($rel) cannot start here: ${_DPDK_UNAVAILABLE_REASON:-unknown}"
    _DPDK_AVAILABLE=""
    printf -v "$2" '%s' "$bin"
}

# start_shim ID FRONT BACK TRACE LOG [PIDVAR]: one shim in the background.
start_shim() {
    local id=$1 fe=$2 be=$3 trace=$4 log=$5
    "$SHIM_BIN" --device "type=net,id=$id,frontend=$fe,backend=$be,check=$INTEROP_ROOT/compat-matrix" \
        --trace "$trace" 2>"$log" &
    printf -v "$6" '%s' "$!"
    wait_for 5 test -S "$fe" || cell_fail "the shim ($id) did not create its socket: $(tail -n 1 "$log")"
}

# stop_shim PIDVAR LOG: SIGTERM; fails the cell on a bad exit or a sanitizer
# report. The compatibility check's findings are kept for the reason.
stop_shim() {
    local pid=${!1} log=$2 status=0
    [[ -n $pid ]] || return 0
    printf -v "$1" '%s' ""
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || status=$?
    grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" && cell_fail "the shim's log has a sanitizer report"
    (( status == 0 )) || cell_fail "the shim exited with status $status on SIGTERM"
    return 0
}

# check_notes LOG...: " (compat check: N findings, first: ...)" or nothing.
check_notes() {
    local n first
    n=$(cat "$@" | grep -c ': check: ' || true)
    (( n > 0 )) || return 0
    first=$(cat "$@" | grep -m1 ': check: ' | sed 's/^.*: check: //')
    echo " (compat check: $n finding(s), first: $first)"
}

# feat ROLE LABEL KEY TRACE PATTERN: a FEAT line from the first trace line
# matching PATTERN (its value: the part from "KEY=" on, time and id dropped).
feat() {
    local role=$1 label=$2 key=$3 trace=$4 pat=$5 line
    line=$(grep -m1 -E "$pat" "$trace") || return 0
    line=${line#*"$key="}
    line=${line%% -- *}
    echo "FEAT net $role $label $key $line"
}

# feat_requests ROLE LABEL TRACE: the requests the front-end sent (sorted).
feat_requests() {
    local list
    list=$(awk '$3 ~ /^fe->/ && $5 != "reply" { print $4 }' "$3" | sort -u | tr '\n' ' ')
    echo "FEAT net $1 $2 requests ${list% }"
}

# testpmd_cmds NAME CMD...: each command, waiting for its output.
testpmd_cmds() {
    local name=$1 c
    shift
    for c in "$@"; do
        dpdk_cmd_output "$name" "$c" >/dev/null || cell_fail "testpmd did not take '$c'"
    done
}

# traffic FE BE: io forwarding on both testpmds, FE injects bursts; prints
# the counters and checks both ways > 0 and consistent (what a side
# received the other side sent).
traffic() {
    local fe_rx fe_tx be_rx be_tx
    testpmd_cmds "$2" "set fwd io" "start"
    testpmd_cmds "$1" "set fwd io" "start tx_first 4"
    sleep "$INTEROP_TRAFFIC_S"
    dpdk_cmd_output "$1" "stop" >/dev/null || true
    dpdk_cmd_output "$2" "stop" >/dev/null || true
    read -r fe_rx fe_tx < <(dpdk_port_stats "$1") || cell_fail "no counters from virtio-user"
    read -r be_rx be_tx < <(dpdk_port_stats "$2") || cell_fail "no counters from net_vhost"
    echo "counters: virtio-user RX $fe_rx TX $fe_tx; net_vhost RX $be_rx TX $be_tx"
    (( fe_tx > 0 && be_rx > 0 && be_tx > 0 && fe_rx > 0 )) ||
        cell_fail "packets did not flow both ways (a counter stayed 0)"
    (( be_rx <= fe_tx && fe_rx <= be_tx )) ||
        cell_fail "inconsistent counters: a side received more than the other sent"
}

# links: both testpmds' ports up.
links() {
    dpdk_wait_link fe "$INTEROP_LINK_S" || cell_fail "virtio-user's link stayed down"
    dpdk_wait_link be "$INTEROP_LINK_S" || cell_fail "net_vhost's link stayed down"
}

# no_conversion TRACE: a pass-through session (no mode change in the trace).
no_conversion() {
    grep -qE '(up|down)-conversion begins' "$1" && cell_fail "the shim converted in a pass-through session"
    grep -q 'fe->be SET_MEM_TABLE' "$1" || cell_fail "no SET_MEM_TABLE relayed front-end to back-end"
}
