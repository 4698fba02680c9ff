#!/usr/bin/env bash
# tests/bench/run.sh - `make bench`: the benchmark suite of issue 7.
#
#   1. control plane: bring-up latency (first message to DRIVER_OK's ack) of
#      a 1- and an 8-queue-pair virtio-net device and a virtio-blk device,
#      direct versus through the shim, alternately, against real back-ends
#      (DPDK net_vhost, qemu-storage-daemon), with the unix-socket round-trip
#      floor measured in the same run (build/bench/bringup);
#   2. data plane: DPDK testpmd virtio-user -> net_vhost direct, through the
#      shim (pass-through) and through the up+down chain of two shims, in
#      rotating order over several rounds, Mpps from testpmd's own counters;
#   3. scale: one shim with 1,000 devices (scripted peers), bring-up of all,
#      resident memory per device, CPU while idle, and the relay rate of
#      small messages on one core (build/bench/scale).
#
# Prints a table and writes docs/performance.md plus the machine-readable
# results tests/bench/results.txt (so a later run can be diffed against
# them). BENCH_QUICK=1: a short run whose report stays in $BUILD/bench-out.
# Logs of every run: $BUILD/bench-out/logs.
#
# Tunables: BENCH_ONLY=cp|dp|scale (one part; for development), BENCH_REPS
# (bring-ups per case), BENCH_DP_ROUNDS, BENCH_DP_EPOCHS, BENCH_DP_WINDOW
# (seconds per data-plane sample), BENCH_DEVICES, BENCH_IDLE_S, BENCH_FLOOD_S,
# BENCH_CP_CPU (the CPU of the pinned control-plane run), BENCH_HUGEPAGES
# (auto: the data plane's testpmd processes use 2 MiB hugepages when enough
# are free, else 4 KiB pages (--no-huge); 1: require them; 0: never).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
QUICK=${BENCH_QUICK:-0}
SHIM=$root/$BUILD/vdpa-shim
BRINGUP=$root/$BUILD/bench/bringup
SCALE=$root/$BUILD/bench/scale
for b in "$SHIM" "$BRINGUP" "$SCALE"; do
    [[ -x $b ]] || { echo "bench: $b is missing (make first)" >&2; exit 1; }
done

if [[ $QUICK == 1 ]]; then
    REPS=${BENCH_REPS:-30} DP_ROUNDS=${BENCH_DP_ROUNDS:-2} DP_WINDOW=${BENCH_DP_WINDOW:-2}
    DP_EPOCHS=${BENCH_DP_EPOCHS:-1}
    DEVICES=${BENCH_DEVICES:-1000} IDLE_S=${BENCH_IDLE_S:-3} FLOOD_S=${BENCH_FLOOD_S:-2}
else
    # many short epochs rather than a few long ones: fresh processes are
    # where the data plane's variance is (see notes.md)
    REPS=${BENCH_REPS:-200} DP_ROUNDS=${BENCH_DP_ROUNDS:-16} DP_WINDOW=${BENCH_DP_WINDOW:-2}
    DP_EPOCHS=${BENCH_DP_EPOCHS:-8}
    DEVICES=${BENCH_DEVICES:-1000} IDLE_S=${BENCH_IDLE_S:-10} FLOOD_S=${BENCH_FLOOD_S:-5}
fi
DP_WARM=1   # seconds of traffic before a sample starts
ONLY=${BENCH_ONLY:-}
want() { [[ -z $ONLY || $ONLY == "$1" ]]; }

outdir=$root/$BUILD/bench-out
mkdir -p "$outdir"
rm -rf "$outdir/logs"
logs=$outdir/logs
mkdir -p "$logs"
w=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-bench.XXXXXX")
results=$outdir/results.txt
: > "$results"
cmds=$outdir/commands.txt
: > "$cmds"

. "$root/tests/e2e/lib/dpdk.sh"
export DPDK_WORKDIR=$w/dpdk
mkdir -p "$DPDK_WORKDIR"

PIDS=()           # shims and qemu-storage-daemon started here
cleanup() {
    dpdk_stop_all >/dev/null 2>&1
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    PIDS=()
    rm -rf "$w"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "bench: $*" >&2; }
# record "what" CMD...: notes the command line for the report.
record() {
    local what=$1 line; shift
    line="$*"; line=${line//$w/W}; line=${line//$root\//}
    printf '%s\t%s\n' "$what" "$line" >> "$cmds"
}
cmdline() { tr '\0' ' ' < "/proc/$1/cmdline" | sed 's/ $//'; }
# kv LINE KEY: the value of KEY=VALUE in LINE.
kv() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<< "$1" | head -n 1; }
wait_sock() { local i; for ((i = 0; i < 100; i++)); do [[ -S $1 ]] && return 0; sleep 0.1; done; return 1; }

# start_shim NAME ARGS...: a shim in the background; sets SHIM_PID.
start_shim() {
    local name=$1; shift
    $SHIM --log-level warn "$@" 2>"$logs/shim-$name.log" &
    SHIM_PID=$!
    PIDS+=("$SHIM_PID")
    record "shim ($name)" "${SHIM//$root\/$BUILD\//} --log-level warn $*"
}

t_begin=$SECONDS
load_begin=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the machine ----------------------------------------------------------------
dpdk_ver=$(dpkg-query -W -f='${Version}' dpdk 2>/dev/null || echo unknown)
qemu_ver=$(qemu-storage-daemon --version 2>/dev/null | head -n 1 | sed 's/.*version //' || echo unknown)
cc_ver=$(${CC:-cc} --version 2>/dev/null | head -n 1)
{
    echo "machine date=$(date -u +%Y-%m-%dT%H:%M:%SZ) quick=$QUICK"
    echo "machine nproc=$(nproc) mem_mib=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)"
    echo "machine kernel=$(uname -r)"
    echo "machine commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- shim include peers 2>/dev/null || echo +dirty)"
} >> "$results"
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)

dpdk_ok=0
if dpdk_available 2>/dev/null; then dpdk_ok=1; else say "DPDK unavailable: $_DPDK_UNAVAILABLE_REASON"; fi
qsd_ok=0
command -v qemu-storage-daemon >/dev/null && qsd_ok=1

# ---- 1. control plane --------------------------------------------------------------
# cp_phase TAG CPUS: every process of the phase (back-ends, shim, bringup and
# its echo floor) on CPUS. "pinned" (one CPU) is the figure the target is
# judged on: on this kind of VM a wake-up of a process on the other, idle
# vCPU costs 100-400 µs, so with free placement the scheduler's choice, not
# the relay, dominates; "free" (both CPUs) is reported beside it.
cp_rc=0 sc_rc=0
net_backend="" blk_backend=""
cp_phase() {
    local tag=$1 cpus=$2 lcores net_be scripted_arg=() cases=() out rc qsd_args
    say "control plane ($tag, CPUs $cpus): $REPS bring-ups per case and path"
    net_backend=""
    lcores=0@0,1@1
    [[ $cpus == *-* || $cpus == *,* ]] || lcores="0@$cpus,1@$cpus"
    if (( dpdk_ok )); then
        DPDK_LCORES=$lcores DPDK_EAL_EXTRA="" dpdk_start_vhost_backend "bench-cp-$tag-be" "$w/cp-be.sock" 8 \
            >/dev/null 2>&1 && net_backend="DPDK net_vhost (testpmd, queues=8)"
        if [[ -n $net_backend ]]; then
            taskset -a -p -c "$cpus" "${_DPDK_PID[bench-cp-$tag-be]}" >/dev/null
            record "net back-end ($tag)" "taskset -a -p -c $cpus PID_OF: $(cmdline "${_DPDK_PID[bench-cp-$tag-be]}")"
        fi
    fi
    net_be=$w/cp-be.sock
    if [[ -z $net_backend ]]; then
        # no DPDK here: the scripted back-end (bench.h) serves the net cases
        net_backend="scripted back-end (tests/bench, DPDK unavailable)"
        net_be=$w/cp-scripted.sock
        scripted_arg=(--scripted-backend "$net_be")
    fi
    SHIM="taskset -c $cpus $SHIM" start_shim "cp-$tag" \
        --device "type=net,id=cpnet,frontend=$w/cp-net.sock,backend=$net_be" \
        --device "type=blk,id=cpblk,frontend=$w/cp-blk.sock,backend=$w/cp-qsd.sock"
    cases+=(--case "net-1qp,net,2,$net_be,$w/cp-net.sock" --case "net-8qp,net,16,$net_be,$w/cp-net.sock")
    blk_backend="none (qemu-storage-daemon not installed)"
    if (( qsd_ok )); then
        truncate -s 64M "$w/disk.img"
        qsd_args=(--blockdev "driver=file,node-name=file0,filename=$w/disk.img"
                  --export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$w/cp-qsd.sock,writable=on,num-queues=1")
        taskset -c "$cpus" qemu-storage-daemon "${qsd_args[@]}" >"$logs/qsd-$tag.log" 2>&1 &
        PIDS+=($!)
        record "blk back-end ($tag)" "taskset -c $cpus qemu-storage-daemon ${qsd_args[*]}"
        if wait_sock "$w/cp-qsd.sock"; then
            blk_backend="qemu-storage-daemon $qemu_ver (vhost-user-blk, num-queues=1)"
            cases+=(--case "blk,blk,1,$w/cp-qsd.sock,$w/cp-blk.sock")
        else
            blk_backend="none (qemu-storage-daemon did not start: $(tail -n 1 "$logs/qsd-$tag.log"))"
        fi
    fi
    if wait_sock "$w/cp-net.sock"; then
        local cmd=(taskset -c "$cpus" "$BRINGUP" "${scripted_arg[@]}" "${cases[@]}" --reps "$REPS" --warmup 5
                   --settle-ms 10 --floor 50 --raw "$outdir/bringup-$tag-samples.tsv"
                   --steps "$outdir/bringup-$tag-steps.txt")
        record "control plane ($tag)" "${cmd[*]}"
        out=$("${cmd[@]}" 2>"$logs/bringup-$tag.err"); rc=$?
        (( rc == 0 )) || say "bringup ($tag) exited with $rc: $(tail -n 3 "$logs/bringup-$tag.err")"
        sed "s/^case /case place=$tag /; s/^floor /floor place=$tag /" <<< "$out" >> "$results"
        sed "s/^step /step place=$tag /" "$outdir/bringup-$tag-steps.txt" >> "$results" 2>/dev/null
    else
        say "the control-plane shim did not start: $(tail -n 3 "$logs/shim-cp-$tag.log")"
        rc=1
    fi
    (( rc == 0 )) || cp_rc=1
    dpdk_stop_all >/dev/null 2>&1
    cp "$DPDK_WORKDIR/bench-cp-$tag-be.log" "$logs/" 2>/dev/null
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    PIDS=()
    rm -f "$w/cp-be.sock" "$w/cp-qsd.sock"
}
if want cp; then
    cp_phase pinned "${BENCH_CP_CPU:-0}"
    cp_phase free 0-$(( $(nproc) - 1 ))
fi

# ---- 2. data plane -----------------------------------------------------------------
# Four testpmd pairs at once (direct, pass, chain, direct2: a second direct
# pair, the A/A control); one forwards at a time. The rounds are split into
# epochs; every epoch starts fresh processes, in a rotated order, so that
# what one process happens to get (its memory's physical pages, ...) does
# not stay with one configuration for the whole run.
declare -A MPPS_LIST=() SHIM_TICKS=() SHIM_PIDS=()
CFGS=(direct pass chain direct2)
# Memory of the data plane's testpmd processes. 4 KiB pages make the copy
# in net_vhost TLB-bound; hugepages are what DPDK is deployed with, but they
# must be reserved by the operator (vm.nr_hugepages), so use them if there.
dp_pages_needed=$(( 2 * ${#CFGS[@]} * ${DPDK_MEM_MB:-512} * 11 / 10 / 2 ))   # two processes a pair, 10 % spare, 2 MiB pages
dp_pages_free=$(awk '/^HugePages_Free:/ { f = $2 } /^Hugepagesize:/ { s = $2 } END { print (s == 2048 ? f : 0) }' /proc/meminfo)
case ${BENCH_HUGEPAGES:-auto} in
    0) dp_hugepages=0 ;;
    1) dp_hugepages=1
       if want dp && (( dpdk_ok && dp_pages_free < dp_pages_needed )); then
           say "BENCH_HUGEPAGES=1 but only $dp_pages_free 2 MiB hugepages are free ($dp_pages_needed needed: echo $dp_pages_needed > /proc/sys/vm/nr_hugepages)"
           exit 1
       fi ;;
    *) dp_hugepages=$(( dp_pages_free >= dp_pages_needed )) ;;
esac
if (( dp_hugepages )); then
    dp_memory="2 MiB hugepages ($dp_pages_free free at the start; testpmd --in-memory)"
else
    dp_memory="4 KiB pages (testpmd --no-huge; 2 MiB hugepages free: $dp_pages_free, needed: $dp_pages_needed)"
fi
dp_ok=0 round=0

# rx_pps NAME: net_vhost's Rx-pps since its previous 'show port stats 0'.
rx_pps() {
    dpdk_cmd_output "$1" "show port stats 0" 2>/dev/null | awk '/Rx-pps:/ { print $2; exit }'
}

# shim_ticks CFG: sets TICKS, the CPU ticks the configuration's shims have
# used. Bash built-ins only: both CPUs are busy polling, so a process the
# harness starts takes its time from a poller, and doing that for some
# configurations and not others biased them (see notes.md).
shim_ticks() {
    local pid line
    TICKS=0
    for pid in ${SHIM_PIDS[$1]:-}; do
        read -r line < "/proc/$pid/stat" || continue
        line=${line##*) }
        set -- $line
        TICKS=$(( TICKS + ${12} + ${13} ))
    done
}

# sample CFG: one window of traffic; sets MPPS (empty on failure). Inside the
# window the harness only sleeps and then sends the stats command that closes
# it, the same for every configuration.
sample() {
    local c=$1 fe="bench-$1-fe" be="bench-$1-be" pps t0
    MPPS=""
    dpdk_cmd_output "$be" "start" >/dev/null && dpdk_cmd_output "$fe" "start" >/dev/null || return 1
    sleep "$DP_WARM"
    shim_ticks "$c"; t0=$TICKS
    rx_pps "$be" >/dev/null                      # the window starts here
    sleep "$DP_WINDOW"
    pps=$(rx_pps "$be")                          # and ends here
    shim_ticks "$c"
    dpdk_cmd_output "$fe" "stop" >/dev/null; dpdk_cmd_output "$be" "stop" >/dev/null
    SHIM_TICKS[$c]=$(( ${SHIM_TICKS[$c]:-0} + TICKS - t0 ))
    [[ $pps =~ ^[0-9]+$ ]] || return 1
    MPPS=$(awk -v p="$pps" 'BEGIN { printf "%.4f", p / 1e6 }')
}

# dp_epoch E ROUNDS: start the four pairs (and the shims), run ROUNDS rounds, stop.
dp_epoch() {
    local e=$1 rounds=$2 c k r line ok=1 order=()
    for ((k = 0; k < ${#CFGS[@]}; k++)); do order+=("${CFGS[$(( (k + e) % ${#CFGS[@]} ))]}"); done
    # each pair polls on both CPUs the same way: net_vhost on CPU 1,
    # virtio-user on CPU 0 (their main lcores sleep on stdin)
    for c in "${order[@]}"; do
        DPDK_HUGEPAGES=$dp_hugepages DPDK_LCORES=0@0,1@1 dpdk_start_vhost_backend "bench-$c-be" "$w/$c-be.sock" 1 >/dev/null 2>&1 ||
            { say "net_vhost ($c) did not start"; ok=0; break; }
    done
    if (( ok )); then
        (( e == 0 )) && record "data plane net_vhost (each)" "$(cmdline "${_DPDK_PID[bench-direct-be]}")"
        start_shim "pass-$e" --device "type=net,id=pass,frontend=$w/pass-fe.sock,backend=$w/pass-be.sock"
        SHIM_PIDS[pass]=$SHIM_PID
        start_shim "down-$e" --device "type=net,id=down,frontend=$w/chain-mid.sock,backend=$w/chain-be.sock,queue-pairs=1"
        SHIM_PIDS[chain]=$SHIM_PID
        wait_sock "$w/chain-mid.sock"
        start_shim "up-$e" --device "type=net,id=up,frontend=$w/chain-fe.sock,backend=$w/chain-mid.sock"
        SHIM_PIDS[chain]+=" $SHIM_PID"
        wait_sock "$w/pass-fe.sock" && wait_sock "$w/chain-fe.sock" || { say "a data-plane shim did not start"; ok=0; }
    fi
    if (( ok )); then
        declare -A fe_sock=([direct]=$w/direct-be.sock [pass]=$w/pass-fe.sock [chain]=$w/chain-fe.sock
                            [direct2]=$w/direct2-be.sock)
        for c in "${order[@]}"; do
            DPDK_HUGEPAGES=$dp_hugepages DPDK_LCORES=0@1,1@0 dpdk_start_virtio_user "bench-$c-fe" "${fe_sock[$c]}" 1 >/dev/null 2>&1 ||
                { say "virtio-user ($c) did not start"; ok=0; break; }
            { dpdk_wait_link "bench-$c-fe" 20 && dpdk_wait_link "bench-$c-be" 20; } 2>/dev/null ||
                { say "$c: link did not come up"; ok=0; break; }
            dpdk_cmd_output "bench-$c-fe" "set fwd txonly" >/dev/null
            dpdk_cmd_output "bench-$c-be" "set fwd rxonly" >/dev/null
        done
    fi
    if (( ok )); then
        (( e == 0 )) && record "data plane virtio-user (each)" "$(cmdline "${_DPDK_PID[bench-direct-fe]}")"
        # what each back-end negotiated: the same, whatever sits between
        for c in "${CFGS[@]}"; do
            echo "dp_features epoch=$e cfg=$c virtio=$(grep -m1 -o 'negotiated Virtio features: 0x[0-9a-f]*' "${_DPDK_LOG[bench-$c-be]}" | awk '{ print $NF }') protocol=$(grep -m1 -o 'negotiated Vhost-user protocol features: 0x[0-9a-f]*' "${_DPDK_LOG[bench-$c-be]}" | awk '{ print $NF }')" >> "$results"
        done
        for ((r = 0; r < rounds; r++, round++)); do
            line="round $round (epoch $e):"
            for ((k = 0; k < ${#CFGS[@]}; k++)); do
                # rotate, so that each configuration takes each place in a round in turn
                # (the cyclic order stays: the chain always follows pass-through)
                c=${CFGS[$(( (round + k) % ${#CFGS[@]} ))]}
                if sample "$c"; then
                    MPPS_LIST[$c]+="$MPPS "
                    line+=" $c $MPPS"
                else
                    line+=" $c FAILED"
                fi
            done
            line+=" load $(cut -d' ' -f1 /proc/loadavg)"   # the 1-minute load average after the round
            say "$line (Mpps)"
            echo "dp_round $line" >> "$results"
        done
    fi
    dpdk_stop_all >/dev/null 2>&1
    for c in "${CFGS[@]}"; do
        for k in be fe; do cp "$DPDK_WORKDIR/bench-$c-$k.log" "$logs/bench-$c-$k-epoch$e.log" 2>/dev/null; done
    done
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    PIDS=()
    return $(( !ok ))
}

if (( dpdk_ok )) && want dp; then
    say "data plane: $DP_ROUNDS rounds x ${DP_WINDOW}s per configuration, in $DP_EPOCHS epochs; memory: $dp_memory"
    echo "dp_memory hugepages=$dp_hugepages free_2m=$dp_pages_free needed_2m=$dp_pages_needed" >> "$results"
    record "data plane traffic" "virtio-user: set fwd txonly; start / net_vhost: set fwd rxonly; start; ${DP_WARM}s, then Rx-pps of net_vhost's 'show port stats 0' over ${DP_WINDOW}s"
    dp_ok=1
    for ((e = 0; e < DP_EPOCHS; e++)); do
        dp_epoch "$e" $(( (DP_ROUNDS + e) / DP_EPOCHS )) || { dp_ok=0; break; }
    done
fi
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s..%s", lo, hi }'; }
if (( dp_ok )); then
    for c in "${CFGS[@]}"; do
        echo "dp cfg=$c samples=$(wc -w <<< "${MPPS_LIST[$c]:-}") mpps=$(median <<< "${MPPS_LIST[$c]:-}") range=$(minmax <<< "${MPPS_LIST[$c]:-}") shim_ticks=${SHIM_TICKS[$c]:-0}" >> "$results"
    done
fi

# ---- 3. scale and relay rate ----------------------------------------------------------
if want scale; then
say "scale: $DEVICES devices in one shim"
mkdir -p "$w/scale"
scale_cmd=("$SCALE" --shim "$SHIM" --dir "$w/scale" --devices "$DEVICES" --idle-s "$IDLE_S"
           --flood-s "$FLOOD_S" --flood-devices 16 --window 32 --shim-cpu 1)
record "scale" "${scale_cmd[*]}"
sc_out=$("${scale_cmd[@]}" 2>"$logs/scale.err"); sc_rc=$?
cp "$w/scale/shim.log" "$logs/shim-scale.log" 2>/dev/null
echo "$sc_out" >> "$results"
(( sc_rc == 0 )) || say "scale exited with $sc_rc: $(tail -n 3 "$logs/scale.err")"
fi

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo "machine load_begin=\"$load_begin\" load_end=\"$load_end\" seconds=$((SECONDS - t_begin))" >> "$results"

# ---- the report ------------------------------------------------------------------------
report=$outdir/performance.md
BUILD=$BUILD QUICK=$QUICK CPU_MODEL=$cpu_model DPDK_VER=$dpdk_ver QEMU_VER=$qemu_ver CC_VER=$cc_ver \
NET_BACKEND=$net_backend BLK_BACKEND=$blk_backend REPS=$REPS DP_ROUNDS=$DP_ROUNDS DP_WINDOW=$DP_WINDOW \
DP_WARM=$DP_WARM DP_EPOCHS=$DP_EPOCHS DP_MEMORY=$dp_memory \
    python3 "$here/report.py" "$results" "$cmds" "$report" || { say "report failed"; exit 1; }
if [[ $QUICK != 1 && -z $ONLY ]]; then
    cp "$report" "$root/docs/performance.md"
    cp "$results" "$here/results.txt"
    say "wrote docs/performance.md and tests/bench/results.txt"
else
    say "quick run: report in $report (docs/ untouched)"
fi
sed -n '/^<!-- table -->/,/^<!-- end table -->/p' "$report" | grep -v '^<!--'
say "done in $((SECONDS - t_begin)) s"
status=0
(( cp_rc == 0 && sc_rc == 0 )) || status=1
if want dp && (( dpdk_ok && ! dp_ok )); then status=1; fi
exit $status
