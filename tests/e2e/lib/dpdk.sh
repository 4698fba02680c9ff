# shellcheck shell=bash
#
# dpdk.sh - drive DPDK dpdk-testpmd instances as vhost-user peers from bash tests.
#
# Source this file from a test script:
#
#     . "$(dirname "$0")/lib/dpdk.sh"
#     trap dpdk_stop_all EXIT            # never leave testpmd processes behind
#     dpdk_available || exit 77          # prints the reason to stderr
#     dpdk_init_workdir                  # sets DPDK_WORKDIR (mktemp -d) if unset
#     dpdk_start_vhost_backend be "$DPDK_WORKDIR/be.sock"
#     dpdk_start_virtio_user   fe "$DPDK_WORKDIR/be.sock"
#     dpdk_wait_link be 10 && dpdk_wait_link fe 10
#     dpdk_traffic_check fe be 2
#
# Every instance is an interactive testpmd (`-i`) whose stdin is a FIFO held
# open by this shell; commands are written to the FIFO and stdout/stderr go to
# $DPDK_WORKDIR/NAME.log (line-buffered via stdbuf, so the log can be parsed
# while testpmd runs).  Command output is delimited by sending a "# marker"
# comment line after the command: testpmd's cmdline echoes it and ignores it,
# so everything in the log between the command and the echoed marker is the
# command's output.
#
# Findings on DPDK 22.11 (Debian), 2 CPUs, no hugepages, no PCI:
#  * EAL args: --no-huge -m 512 --no-pci --file-prefix UNIQUE; testpmd args:
#    -i --total-num-mbufs=16384 (keeps the mbuf pool small inside -m 512).
#  * stdout to a file/pipe is block-buffered: without stdbuf -oL, command
#    output only shows up in the log when testpmd exits.
#  * With --no-huge, 22.11 backs memory by a memfd, so net_vhost can mmap the
#    frontend's memory; --single-file-segments is harmless and is passed to the
#    virtio-user side (one region in VHOST_USER_SET_MEM_TABLE).
#  * CPU placement matters a lot: if both processes poll on the same CPU
#    (e.g. both `-l 0-1`, forwarding lcore 1 on CPU 1) traffic still flows but
#    only ~4k pkt/s (the two pollers time-slice).  We give each process its
#    forwarding lcore on a different CPU (--lcores 0@0,1@1 and 0@1,1@0); the
#    main lcore just blocks reading stdin.  Override with DPDK_LCORES=...
#  * virtio-user whose socket is missing/not listening does NOT make testpmd
#    exit: it prints "No probed ethernet devices" and shows a prompt with zero
#    ports.  We detect that, and retry (the peer may be a relay that comes up
#    a little later).
#  * virtio-user with server=1 blocks inside EAL init ("waiting for client
#    connection...") until the peer connects: no prompt until then.
#  * A stale socket file makes net_vhost fail ("failed to bind: Address
#    already in use", "Start ports failed") but testpmd still shows a prompt;
#    the backend start removes a stale socket and checks for that failure.
#  * Quit frontends before backends, otherwise virtio-user logs
#    "get_vring_base failed" on shutdown (harmless, but noisy).
#  * testpmd leaves /var/run/dpdk/PREFIX/{config,fbarray_*} behind; removed
#    by dpdk_stop.
#
# Tunables (environment):
#   DPDK_TESTPMD        testpmd binary            (default: dpdk-testpmd in PATH)
#   DPDK_WORKDIR        logs/FIFOs/sockets dir    (default: mktemp -d, removed by
#                                                  dpdk_stop_all unless DPDK_KEEP_LOGS=1)
#   DPDK_MEM_MB         -m value                  (default 512)
#   DPDK_HUGEPAGES      1: back memory by 2 MiB hugepages (--in-memory: a
#                       hugetlb memfd, which virtio-user can share and which
#                       leaves no files behind) instead of --no-huge; needs
#                       DPDK_MEM_MB worth of free pages (vm.nr_hugepages)
#   DPDK_NB_MBUFS       --total-num-mbufs         (default 16384)
#   DPDK_LCORES         --lcores value for the next start (default: auto)
#   DPDK_EAL_EXTRA      extra EAL args (word-split)
#   DPDK_TESTPMD_EXTRA  extra testpmd args after `--` (word-split)
#   DPDK_START_TIMEOUT  seconds to wait for the prompt        (default 20)
#   DPDK_SOCK_TIMEOUT   seconds the frontend waits/retries for its socket (default 15)
#   DPDK_CMD_TIMEOUT    seconds to wait for a command's output (default 10)
#   DPDK_TRAFFIC_MODE   io (default) | flowgen | txrx   (see dpdk_traffic_check)
#
# Caveat: call the dpdk_start_* functions in the main shell, not inside $(...)
# or a pipeline, since instance state lives in shell variables.

# Guard against double sourcing (keeps the state of running instances).
if [[ -n "${_DPDK_SH_LOADED:-}" ]]; then return 0; fi
_DPDK_SH_LOADED=1

declare -gA _DPDK_PID=() _DPDK_FD=() _DPDK_LOG=() _DPDK_FIFO=() _DPDK_PREFIX=() _DPDK_ROLE=()
declare -g _DPDK_SEQ=0            # instance counter (CPU placement)
declare -g _DPDK_MARK=0           # marker counter for dpdk_cmd_output
declare -g _DPDK_AVAILABLE=""     # cached result of dpdk_available: "", 0 or 1
declare -g _DPDK_UNAVAILABLE_REASON=""
declare -g _DPDK_OWN_WORKDIR=""   # set when we created DPDK_WORKDIR ourselves

_dpdk_log() { echo "dpdk.sh: $*" >&2; }

_dpdk_testpmd() { echo "${DPDK_TESTPMD:-$(command -v dpdk-testpmd || echo /usr/bin/dpdk-testpmd)}"; }

# dpdk_init_workdir - create $DPDK_WORKDIR if unset (done lazily by the start
# functions; call it first if you need the path for socket names).
dpdk_init_workdir() {
    if [[ -z "${DPDK_WORKDIR:-}" ]]; then
        DPDK_WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/dpdk-e2e.XXXXXX") || return 1
        _DPDK_OWN_WORKDIR=$DPDK_WORKDIR
        export DPDK_WORKDIR
    fi
    mkdir -p "$DPDK_WORKDIR"
}

# Where EAL keeps its runtime files for a file prefix.
_dpdk_runtime_dir() {
    if [[ $(id -u) == 0 ]]; then echo "/var/run/dpdk/$1"
    else echo "${XDG_RUNTIME_DIR:-/tmp}/dpdk/$1"; fi
}

# Auto --lcores: instance k gets its forwarding lcore (lcore 1) on CPU
# (n-1-k) mod n and its (mostly idle) main lcore on the next CPU, so two
# instances on a 2-CPU box poll on different CPUs: 0@0,1@1 and 0@1,1@0.
_dpdk_lcores() {
    local k=$1 n fwd main
    n=$(nproc 2>/dev/null || echo 1)
    fwd=$(( (n - 1 - k % n + n) % n ))
    main=$(( (fwd + 1) % n ))
    echo "0@${main},1@${fwd}"
}

_dpdk_alive() { [[ -n "${_DPDK_PID[$1]:-}" ]] && kill -0 "${_DPDK_PID[$1]}" 2>/dev/null; }

# _dpdk_launch NAME ROLE VDEV [EAL args...]
# Starts testpmd in the background and waits for it (see dpdk_wait_ready).
_dpdk_launch() {
    local name=$1 role=$2 vdev=$3; shift 3
    local bin log fifo prefix lcores fd pid f deadline
    local -a eal_extra=() pmd_extra=()
    [[ $name =~ ^[A-Za-z0-9_-]+$ ]] || { _dpdk_log "bad instance name '$name'"; return 1; }
    if _dpdk_alive "$name"; then _dpdk_log "instance '$name' already running"; return 1; fi
    dpdk_init_workdir || return 1
    bin=$(_dpdk_testpmd)
    log="$DPDK_WORKDIR/$name.log"
    fifo="$DPDK_WORKDIR/$name.fifo"
    prefix="dpdksh-$$-$name"
    lcores=${DPDK_LCORES:-$(_dpdk_lcores "$_DPDK_SEQ")}
    read -ra eal_extra <<< "${DPDK_EAL_EXTRA:-}"
    read -ra pmd_extra <<< "${DPDK_TESTPMD_EXTRA:-}"
    local memory=--no-huge
    [[ ${DPDK_HUGEPAGES:-0} == 1 ]] && memory=--in-memory

    rm -f "$fifo"; mkfifo "$fifo" || return 1
    # Open read-write: never blocks, and keeps the FIFO open so testpmd does
    # not see EOF (EOF on stdin makes interactive testpmd quit).
    exec {fd}<>"$fifo" || return 1
    : > "$log"
    # Subshell closes the FIFO fds of *other* instances (so their EOF works),
    # then execs: $! is testpmd's own PID (stdbuf execs too).
    (
        for f in "${_DPDK_FD[@]}" "$fd"; do eval "exec $f>&-"; done
        exec stdbuf -oL -eL "$bin" --lcores "$lcores" "$memory" -m "${DPDK_MEM_MB:-512}" \
            --no-pci --file-prefix "$prefix" "$@" ${eal_extra[@]+"${eal_extra[@]}"} --vdev "$vdev" \
            -- -i --total-num-mbufs="${DPDK_NB_MBUFS:-16384}" ${pmd_extra[@]+"${pmd_extra[@]}"}
    ) < "$fifo" > "$log" 2>&1 &
    pid=$!
    _DPDK_SEQ=$((_DPDK_SEQ + 1))
    _DPDK_PID[$name]=$pid _DPDK_FD[$name]=$fd _DPDK_LOG[$name]=$log
    _DPDK_FIFO[$name]=$fifo _DPDK_PREFIX[$name]=$prefix _DPDK_ROLE[$name]=$role
    echo "$pid" > "$DPDK_WORKDIR/$name.pid"
    # virtio-user in server mode (server=1) blocks inside EAL init until its
    # peer connects, so there is no prompt yet: only wait for the listen.
    if [[ $role == frontend && $vdev == *server=1* ]]; then
        deadline=$((SECONDS + ${DPDK_START_TIMEOUT:-20}))
        until grep -qE 'waiting for client connection|testpmd> ' "$log"; do
            if ! kill -0 "$pid" 2>/dev/null || (( SECONDS >= deadline )); then
                _dpdk_log "$name: virtio-user server did not start listening; log tail:"
                tail -n 15 "$log" >&2; dpdk_stop "$name"; return 1
            fi
            sleep 0.05
        done
        return 0
    fi
    dpdk_wait_ready "$name" "${DPDK_START_TIMEOUT:-20}"
}

# dpdk_wait_ready NAME [TIMEOUT] - wait for the testpmd prompt and check that
# port 0 was configured.  Done by the start functions, except for a
# virtio-user started with server=1 (call this after its peer connected).
# Returns 0 ok, 2 no port probed (instance left running), 1 failure (stopped).
dpdk_wait_ready() {
    local name=$1 timeout=${2:-${DPDK_START_TIMEOUT:-20}} log pid deadline
    log=${_DPDK_LOG[$name]:-}; pid=${_DPDK_PID[$name]:-}
    [[ -n $pid ]] || { _dpdk_log "instance '$name' is not running"; return 1; }
    deadline=$((SECONDS + timeout))
    while ! grep -q 'testpmd> ' "$log"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            _dpdk_log "$name: testpmd exited during startup; log tail:"; tail -n 15 "$log" >&2
            dpdk_stop "$name"; return 1
        fi
        if (( SECONDS >= deadline )); then
            _dpdk_log "$name: no prompt after ${timeout}s"; tail -n 15 "$log" >&2
            dpdk_stop "$name"; return 1
        fi
        sleep 0.05
    done
    if grep -q 'No probed ethernet devices' "$log"; then
        return 2    # caller decides whether to retry; process still running
    fi
    # e.g. net_vhost "failed to bind: Address already in use" -> testpmd still
    # shows a prompt, with port 0 not started.
    if grep -qE 'Fail to configure port|Start ports failed' "$log"; then
        _dpdk_log "$name: port 0 failed to start; log tail:"; tail -n 15 "$log" >&2
        dpdk_stop "$name"; return 1
    fi
    return 0
}

# dpdk_start_vhost_backend NAME SOCKPATH [QUEUES] [extra vdev args...]
# net_vhost listens on SOCKPATH (pass client=1 to make it connect instead).
dpdk_start_vhost_backend() {
    local name=$1 sock=$2 queues=${3:-1} rc; shift $(( $# < 3 ? $# : 3 ))
    local vdev="net_vhost0,iface=$sock,queues=$queues"
    local extra; extra=$(IFS=,; echo "$*"); [[ -n $extra ]] && vdev+=",$extra"
    # A stale socket file from an earlier run makes bind() fail.
    [[ $vdev == *client=1* ]] || { [[ -S $sock ]] && rm -f "$sock"; }
    rc=0; _dpdk_launch "$name" backend "$vdev" || rc=$?    # set -e safe
    if (( rc == 2 )); then
        _dpdk_log "$name: net_vhost probe failed:"; tail -n 15 "${_DPDK_LOG[$name]}" >&2
        dpdk_stop "$name"; return 1
    fi
    return "$rc"
}

# dpdk_start_virtio_user NAME SOCKPATH [QUEUES] [extra vdev args...]
# net_virtio_user connects to SOCKPATH.  With server=1 it listens instead and
# returns as soon as it listens (testpmd blocks in EAL init until the peer
# connects; then call dpdk_wait_ready NAME).  In client mode it waits for SOCKPATH to appear and retries while the peer
# is not accepting yet, for up to DPDK_SOCK_TIMEOUT seconds.
dpdk_start_virtio_user() {
    local name=$1 sock=$2 queues=${3:-1} rc deadline; shift $(( $# < 3 ? $# : 3 ))
    local vdev="net_virtio_user0,path=$sock,queues=$queues,queue_size=256"
    local extra; extra=$(IFS=,; echo "$*"); [[ -n $extra ]] && vdev+=",$extra"
    deadline=$((SECONDS + ${DPDK_SOCK_TIMEOUT:-15}))
    if [[ $vdev != *server=1* ]]; then
        while [[ ! -S $sock ]]; do
            (( SECONDS >= deadline )) && { _dpdk_log "$name: socket $sock did not appear"; return 1; }
            sleep 0.1
        done
    fi
    while :; do
        rc=0; _dpdk_launch "$name" frontend "$vdev" --single-file-segments || rc=$?
        (( rc != 2 )) && return "$rc"
        # Probe failed (peer not accepting yet): keep the log, retry.
        cp "${_DPDK_LOG[$name]}" "$DPDK_WORKDIR/$name.failed-probe.log" 2>/dev/null || true
        dpdk_stop "$name"
        if (( SECONDS >= deadline )); then
            _dpdk_log "$name: virtio-user could not connect to $sock; log tail:"
            tail -n 15 "$DPDK_WORKDIR/$name.failed-probe.log" >&2
            return 1
        fi
        sleep 0.3
    done
}

# dpdk_cmd NAME "command" - send one command line, do not wait.
dpdk_cmd() {
    local name=$1 cmd=$2
    _dpdk_alive "$name" || { _dpdk_log "instance '$name' is not running"; return 1; }
    printf '%s\n' "$cmd" >&"${_DPDK_FD[$name]}"
}

# dpdk_cmd_output NAME "command" [TIMEOUT] - send a command and print its
# output (log text between the command and an echoed marker comment).
dpdk_cmd_output() {
    local name=$1 cmd=$2 timeout=${3:-${DPDK_CMD_TIMEOUT:-10}} log off mark deadline
    _dpdk_alive "$name" || { _dpdk_log "instance '$name' is not running"; return 1; }
    log=${_DPDK_LOG[$name]}
    off=$(stat -c %s "$log")
    _DPDK_MARK=$((_DPDK_MARK + 1)); mark="# dpdk.sh-mark-$$-$_DPDK_MARK"
    dpdk_cmd "$name" "$cmd" && dpdk_cmd "$name" "$mark" || return 1
    deadline=$((SECONDS + timeout))
    # (no grep -q: an early exit could SIGPIPE tail and, under pipefail,
    # make the test fail although the marker was found)
    until tail -c +"$((off + 1))" "$log" | grep -F -- "$mark" >/dev/null; do
        if (( SECONDS >= deadline )) || ! _dpdk_alive "$name"; then
            _dpdk_log "$name: no output for '$cmd' within ${timeout}s"; return 1
        fi
        sleep 0.05
    done
    tail -c +"$((off + 1))" "$log" | sed "/$mark/,\$d"
}

# dpdk_port_stats NAME - print "RX-packets TX-packets" of port 0 (cumulative).
dpdk_port_stats() {
    local out stats
    out=$(dpdk_cmd_output "$1" "show port stats 0") || return 1
    # Block: "#### NIC statistics for port 0 ####" ... "RX-packets: N ..." ...
    # "TX-packets: N ..." ... "#####".  Other threads may interleave lines.
    stats=$(awk '
        /NIC statistics for port 0/ { inblk = 1; next }
        inblk && /^[ \t]*#+[ \t]*$/ { inblk = 0 }
        inblk && match($0, /RX-packets:[ \t]*[0-9]+/) { s = substr($0, RSTART, RLENGTH); sub(/.*:[ \t]*/, "", s); rx = s }
        inblk && match($0, /TX-packets:[ \t]*[0-9]+/) { s = substr($0, RSTART, RLENGTH); sub(/.*:[ \t]*/, "", s); tx = s }
        END { if (rx != "" && tx != "") print rx, tx; else exit 1 }' <<< "$out") || {
        _dpdk_log "$1: could not parse 'show port stats 0' output"; return 1; }
    echo "$stats"
}

# dpdk_wait_link NAME TIMEOUT - wait until port 0 reports "Link status: up".
# (net_vhost reports down until the frontend sets DRIVER_OK; its log then
# says "virtio is now ready for processing." and "Port 0: link state change event".)
dpdk_wait_link() {
    local name=$1 timeout=${2:-10} deadline
    deadline=$((SECONDS + timeout))
    while :; do
        local info
        info=$(dpdk_cmd_output "$name" "show port info 0" 5) || info=""
        [[ $info == *"Link status: up"* ]] && return 0
        if (( SECONDS >= deadline )) || ! _dpdk_alive "$name"; then
            _dpdk_log "$name: link not up after ${timeout}s"; return 1
        fi
        sleep 0.2
    done
}

# dpdk_stop NAME - quit testpmd (quit, then SIGTERM, then SIGKILL), close its
# FIFO and remove its EAL runtime dir.  Safe to call twice / on unknown names.
dpdk_stop() {
    local name=$1 pid fd i
    pid=${_DPDK_PID[$name]:-}; fd=${_DPDK_FD[$name]:-}
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        if [[ -n $fd ]]; then { printf 'quit\n' >&"$fd"; } 2>/dev/null || true; fi
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        if kill -0 "$pid" 2>/dev/null; then
            _dpdk_log "$name: did not quit, sending SIGTERM"; kill -TERM "$pid" 2>/dev/null
            for ((i = 0; i < 40; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
            if kill -0 "$pid" 2>/dev/null; then _dpdk_log "$name: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
        fi
    fi
    [[ -n $pid ]] && { wait "$pid" 2>/dev/null || true; }   # reap; status irrelevant
    [[ -n $fd ]] && eval "exec $fd>&-"
    [[ -n ${_DPDK_FIFO[$name]:-} ]] && rm -f "${_DPDK_FIFO[$name]}"
    [[ -n ${_DPDK_PREFIX[$name]:-} ]] && rm -rf "$(_dpdk_runtime_dir "${_DPDK_PREFIX[$name]}")"
    unset "_DPDK_PID[$name]" "_DPDK_FD[$name]" "_DPDK_FIFO[$name]" "_DPDK_PREFIX[$name]" "_DPDK_ROLE[$name]"
    return 0
}

# dpdk_stop_all - stop every instance (frontends first), then remove the work
# dir if we created it (set DPDK_KEEP_LOGS=1 to keep the logs).  Trap-friendly.
dpdk_stop_all() {
    local name
    for name in "${!_DPDK_ROLE[@]}"; do
        if [[ ${_DPDK_ROLE[$name]} == frontend ]]; then dpdk_stop "$name"; fi
    done
    for name in "${!_DPDK_PID[@]}"; do dpdk_stop "$name"; done
    if [[ -n $_DPDK_OWN_WORKDIR && ${DPDK_KEEP_LOGS:-0} != 1 ]]; then
        rm -rf "$_DPDK_OWN_WORKDIR"; _DPDK_OWN_WORKDIR=""; unset DPDK_WORKDIR
    elif [[ -n $_DPDK_OWN_WORKDIR ]]; then
        _dpdk_log "logs kept in $_DPDK_OWN_WORKDIR"
    fi
    return 0
}

# dpdk_available - 0 if testpmd exists and can start here (cached), else
# prints the reason to stderr and returns 1.
dpdk_available() {
    if [[ -z $_DPDK_AVAILABLE ]]; then
        _DPDK_AVAILABLE=1
        local bin tmp out prefix
        bin=$(_dpdk_testpmd)
        if [[ ! -x $bin ]]; then
            _DPDK_UNAVAILABLE_REASON="dpdk-testpmd not found ($bin)"
        elif ! command -v stdbuf >/dev/null; then
            _DPDK_UNAVAILABLE_REASON="stdbuf (coreutils) not found"
        else
            tmp=$(mktemp -d "${TMPDIR:-/tmp}/dpdk-probe.XXXXXX")
            prefix="dpdksh-$$-probe"
            # Same memory setup as the real instances, with the vhost PMD, one
            # CPU for both lcores; "quit" on stdin.
            out=$(echo quit | timeout 30 "$bin" --lcores "0@0,1@0" --no-huge -m "${DPDK_MEM_MB:-512}" \
                --no-pci --file-prefix "$prefix" --vdev "net_vhost0,iface=$tmp/probe.sock,queues=1" \
                -- -i --total-num-mbufs="${DPDK_NB_MBUFS:-16384}" 2>&1)
            if grep -q '^Bye' <<< "$out" && grep -q 'Configuring Port 0' <<< "$out"; then
                _DPDK_AVAILABLE=0
            else
                _DPDK_UNAVAILABLE_REASON="dpdk-testpmd cannot start: $(grep -E 'EAL: |Error|error|fail|Cannot' <<< "$out" | grep -v -e 'Detected' -e 'IOVA' | tail -n 3 | tr '\n' ' ')"
                [[ $_DPDK_UNAVAILABLE_REASON == *": " ]] && _DPDK_UNAVAILABLE_REASON+=$(tail -n 3 <<< "$out" | tr '\n' ' ')
            fi
            rm -rf "$tmp" "$(_dpdk_runtime_dir "$prefix")"
        fi
    fi
    if [[ $_DPDK_AVAILABLE != 0 ]]; then
        _dpdk_log "DPDK unavailable: $_DPDK_UNAVAILABLE_REASON"
        return 1
    fi
    return 0
}

# _dpdk_set_mode NAME MODE - "set fwd MODE" and wait for it to be processed.
_dpdk_set_mode() { dpdk_cmd_output "$1" "set fwd $2" >/dev/null; }

# dpdk_traffic_check A B SECONDS - run traffic between instances A and B for
# SECONDS, print the per-side RX/TX deltas, return 0 only if packets flowed
# both ways (A TX>0, B RX>0, B TX>0, A RX>0).  DPDK_TRAFFIC_MODE selects:
#   io      (default) both in io mode (echo), A does "start tx_first 4": a few
#           bursts ping-pong between the two processes for SECONDS.  A lossy
#           middle-man can starve it (lost packets are never regenerated).
#   flowgen both in flowgen mode: each side generates packets and discards
#           what it receives - loss-tolerant, both directions at once.
#   txrx    A txonly + B rxonly for SECONDS/2, then swapped.
dpdk_traffic_check() {
    local a=$1 b=$2 secs=${3:-2} mode=${DPDK_TRAFFIC_MODE:-io} half
    local a0 b0 a1 b1 arx atx brx btx a1rx a1tx b1rx b1tx
    a0=$(dpdk_port_stats "$a") && b0=$(dpdk_port_stats "$b") || return 1
    case $mode in
    io)
        _dpdk_set_mode "$a" io && _dpdk_set_mode "$b" io || return 1
        dpdk_cmd_output "$b" "start" >/dev/null &&
        dpdk_cmd_output "$a" "start tx_first 4" >/dev/null || return 1
        sleep "$secs"
        dpdk_cmd_output "$a" "stop" >/dev/null; dpdk_cmd_output "$b" "stop" >/dev/null ;;
    flowgen)
        _dpdk_set_mode "$a" flowgen && _dpdk_set_mode "$b" flowgen || return 1
        dpdk_cmd_output "$b" "start" >/dev/null && dpdk_cmd_output "$a" "start" >/dev/null || return 1
        sleep "$secs"
        dpdk_cmd_output "$a" "stop" >/dev/null; dpdk_cmd_output "$b" "stop" >/dev/null ;;
    txrx)
        half=$(awk -v s="$secs" 'BEGIN { print s / 2 }')
        _dpdk_set_mode "$a" txonly && _dpdk_set_mode "$b" rxonly || return 1
        dpdk_cmd_output "$b" "start" >/dev/null && dpdk_cmd_output "$a" "start" >/dev/null || return 1
        sleep "$half"
        dpdk_cmd_output "$a" "stop" >/dev/null; dpdk_cmd_output "$b" "stop" >/dev/null
        _dpdk_set_mode "$a" rxonly && _dpdk_set_mode "$b" txonly || return 1
        dpdk_cmd_output "$a" "start" >/dev/null && dpdk_cmd_output "$b" "start" >/dev/null || return 1
        sleep "$half"
        dpdk_cmd_output "$b" "stop" >/dev/null; dpdk_cmd_output "$a" "stop" >/dev/null ;;
    *) _dpdk_log "unknown DPDK_TRAFFIC_MODE '$mode'"; return 1 ;;
    esac
    a1=$(dpdk_port_stats "$a") && b1=$(dpdk_port_stats "$b") || return 1
    read -r arx atx <<< "$a0"; read -r brx btx <<< "$b0"
    read -r a1rx a1tx <<< "$a1"; read -r b1rx b1tx <<< "$b1"
    arx=$((a1rx - arx)); atx=$((a1tx - atx)); brx=$((b1rx - brx)); btx=$((b1tx - btx))
    echo "$a: RX-packets=$arx TX-packets=$atx"
    echo "$b: RX-packets=$brx TX-packets=$btx"
    if (( atx > 0 && brx > 0 && btx > 0 && arx > 0 )); then
        echo "traffic ($mode): OK, packets flowed both ways"; return 0
    fi
    echo "traffic ($mode): FAIL, packets did not flow both ways"; return 1
}
