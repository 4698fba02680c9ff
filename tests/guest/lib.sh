# shellcheck shell=bash
# lib.sh - boot the test guest (tests/guest, built by `make guest`) under
# QEMU with a list of devices and a scenario, and read its results. Sourced
# by tests/e2e/test_guest_*.sh after tests/e2e/lib/common.sh.
#
#   guest_prepare [FLAVOUR]            build (cached) and pick KVM or TCG;
#                                      skips the test (exit 77) with the reason
#                                      when the guest cannot be built or booted.
#                                      FLAVOUR (or GUEST_FLAVOUR): cloud (the
#                                      default) or full (docs/guests.md)
#   guest_boot W NAME SCENARIO "K=V ..." QEMU-ARGS...
#                                      QEMU in the background; console in
#                                      W/NAME.console, QMP on W/NAME.qmp
#   guest_wait W NAME [TIMEOUT]        waits for "RESULT done" and QEMU's exit
#   guest_run W NAME SCENARIO "K=V ..." QEMU-ARGS...   boot + wait
#   guest_results W NAME               the RESULT lines
#   guest_result W NAME KEY            the last value of KEY in them
#   guest_wait_done W NAME N [TIMEOUT] N results in all (after=reboot|wait)
#   guest_qmp W NAME CMD [ARGS]        one QMP command; guest_quit W NAME
#   guest_results_all W NAME KEY       every value of KEY
#   guest_stop NAME / guest_stop_all   kill QEMU (trap-friendly)
#   guest_vhost_pci_opts               ",vectors=0" under TCG (see below)
#   guest_net_l2, guest_net_mq, guest_blk, guest_lifecycle and its
#   net/blk/fs forms: scenario drivers with their host-side checks
#
# Facts found on this machine (QEMU 7.2, nested KVM, 2 CPUs):
#  * Under KVM the Debian kernel hangs right after "Probing EDD" with every
#    CPU model tried (default, host, max, qemu64, kvm64, Nehalem; edd=off
#    and nokaslr change nothing): guest_prepare boots the probe scenario once
#    under KVM with a bound, caches the verdict and falls back to TCG.
#  * Under TCG the guest boots to its devices in about 3 s and powers off in
#    about 4 s (probe scenario).
#  * QEMU 7.2 TCG segfaults in msix_set_vector_notifiers <- vhost_net_start
#    when the guest starts a vhost-user device with MSI-X (no shim needed):
#    vhost-user PCI devices get vectors=0 under TCG (guest_vhost_pci_opts).
# Every wait is bounded: GUEST_TIMEOUT (default 60 s) for the results,
# GUEST_EXIT_TIMEOUT (10 s) for QEMU to exit after them, GUEST_KVM_PROBE_S
# (10 s for the cloud guest, 30 s for the others) for the accelerator probe.
# GUEST_ACCEL=kvm|tcg forces the accelerator.
# GUEST_KEEP=1: tests keep their work directory (console, QEMU log, trace).

# GUEST_FLAVOUR: cloud or full (tests/guest/build.sh). GUEST_DIR: where the
# guest is built; by default $BUILD/guest for cloud, $BUILD/guest-FLAVOUR else.
GUEST_FLAVOUR=${GUEST_FLAVOUR:-cloud}
_GUEST_DIR_GIVEN=${GUEST_DIR:+1}
GUEST_DIR=${GUEST_DIR:-$E2E_ROOT/${BUILD:-build}/guest}
GUEST_ACCEL=${GUEST_ACCEL:-}
GUEST_MEM_MB=${GUEST_MEM_MB:-256}
declare -gA _GUEST_PID=()
. "$E2E_ROOT/tests/guest/lib_roots.sh"  # GUEST_QEMU_RELEASE: QEMU from a Debian root
. "$E2E_ROOT/tests/guest/lib_disturb.sh" # migration and restarts of a running guest

# guest_dir_of FLAVOUR: the default build directory of a flavour.
guest_dir_of() {
    local d=$E2E_ROOT/${BUILD:-build}/guest
    [[ $1 == cloud ]] && echo "$d" || echo "$d-$1"
}

# guest_prepare [FLAVOUR]: builds the guest of FLAVOUR (default
# GUEST_FLAVOUR; cached) and chooses the accelerator.
guest_prepare() {
    local rc=0
    GUEST_FLAVOUR=${1:-$GUEST_FLAVOUR}
    [[ -n $_GUEST_DIR_GIVEN ]] || GUEST_DIR=$(guest_dir_of "$GUEST_FLAVOUR")
    command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
    mkdir -p "$(dirname "$GUEST_DIR")"
    # tests that run at once (run-e2e.sh E2E_JOBS) build and probe the guest
    # one at a time; the others then find it built and the verdict cached
    exec {_guest_lock}>"$GUEST_DIR.lock"
    flock -w 600 "$_guest_lock" || fail "the guest $GUEST_DIR is locked by another test for over 600 s"
    GUEST_FLAVOUR=$GUEST_FLAVOUR "$E2E_ROOT/tests/guest/build.sh" "$GUEST_DIR" >"$GUEST_DIR.build.log" 2>&1 || rc=$?
    if (( rc == 77 )); then
        skip "the test guest ($GUEST_FLAVOUR) cannot be built: $(cat "$GUEST_DIR/unavailable")"
    elif (( rc != 0 )); then
        fail "make guest failed: $(tail -n 5 "$GUEST_DIR.build.log")"
    fi
    # GUEST_QEMU_RELEASE from the environment: that root's QEMU, or a skip
    [[ -z $GUEST_QEMU_RELEASE ]] || guest_qemu_root_prepare "$GUEST_QEMU_RELEASE"
    [[ -n $GUEST_ACCEL ]] || _guest_pick_accel
    exec {_guest_lock}>&-
    [[ $GUEST_ACCEL == kvm || $GUEST_ACCEL == tcg ]] ||
        skip "neither KVM nor TCG boots the test guest here: $GUEST_ACCEL"
    echo "guest ($GUEST_FLAVOUR): $(cat "$GUEST_DIR/stamp"), accel=$GUEST_ACCEL"
}

# _guest_probe_bound: seconds the probe may take: 10 for the cloud guest;
# 30 for the others (a generic kernel and more modules: the full guest
# under TCG on a loaded machine took more than 10 s in CI).
_guest_probe_bound() { if [[ $GUEST_FLAVOUR == cloud ]]; then echo 10; else echo 30; fi; }

# _guest_pick_accel: sets GUEST_ACCEL to kvm if /dev/kvm boots the probe
# scenario within the bound, else tcg if TCG does; the verdict is cached
# next to the build.
_guest_pick_accel() {
    local cache=$GUEST_DIR/accel key w a
    key="$(cut -d' ' -f1 "$GUEST_DIR/stamp") $(qemu-system-x86_64 --version | head -n 1)"
    if [[ -f $cache && $(head -n 1 "$cache") == "$key" ]]; then
        GUEST_ACCEL=$(tail -n 1 "$cache"); return 0
    fi
    w=$(mktemp -d /tmp/vdpa-shim-guest-probe.XXXXXX)
    for a in kvm tcg; do
        [[ $a == kvm && ! ( -r /dev/kvm && -w /dev/kvm ) ]] && continue
        GUEST_ACCEL=$a
        if GUEST_TIMEOUT=${GUEST_KVM_PROBE_S:-$(_guest_probe_bound)} guest_run "$w" "probe-$a" probe "" >/dev/null 2>&1 &&
                [[ $(guest_result "$w" "probe-$a" status) == pass ]]; then
            printf '%s\n%s\n' "$key" "$a" > "$cache"
            rm -rf "$w"; return 0
        fi
        echo "guest: the probe did not boot under $a within its bound: $(tail -n 2 "$w/probe-$a.console" 2>/dev/null | tr -d '\r' | tr '\n' ' ')"
    done
    rm -rf "$w"
    GUEST_ACCEL="none (KVM and TCG both failed to boot the probe)"
}

# guest_vhost_pci_opts: extra -device options for a vhost-user virtio-pci
# device: MSI-X off under TCG (QEMU 7.2 TCG crashes in vhost_net_start).
# GUEST_MSIX=1 keeps MSI-X (to check whether the crash is still there).
guest_vhost_pci_opts() { [[ $GUEST_ACCEL == tcg && ${GUEST_MSIX:-0} != 1 ]] && echo ",vectors=0"; return 0; }

# guest_boot W NAME SCENARIO PARAMS QEMU-ARGS...: starts QEMU with the guest;
# PARAMS is "key=value ..." for the scenario (vstest.key=value).
guest_boot() {
    local w=$1 name=$2 scenario=$3 params=$4 p append cpu=()
    shift 4
    append="console=ttyS0 panic=-1 quiet vstest.scenario=$scenario"
    for p in $params; do append+=" vstest.$p"; done
    [[ $GUEST_ACCEL == kvm ]] && cpu=(-cpu "${GUEST_KVM_CPU:-host}")
    # after=reboot|wait: the machine must survive a reset (no -no-reboot).
    local reboot=(-no-reboot)
    [[ " $params" == *" after=reboot"* || " $params" == *" after=wait"* ]] && reboot=()
    rm -f "$w/$name.console" "$w/$name.qmp"; guest_qemu_cmd "$w"
    "${GUEST_QEMU_CMD[@]}" -machine "q35,accel=$GUEST_ACCEL" "${cpu[@]}" -nodefaults -display none \
        -m "$GUEST_MEM_MB" -object "memory-backend-memfd,id=mem,size=${GUEST_MEM_MB}M,share=on" \
        -numa node,memdev=mem ${reboot[@]+"${reboot[@]}"} \
        -kernel "$GUEST_DIR/vmlinuz" -initrd "$GUEST_DIR/initrd.img" -append "$append" \
        -chardev "file,id=con,path=$w/$name.console" -serial chardev:con \
        -qmp "unix:$w/$name.qmp,server=on,wait=off" \
        "$@" >"$w/$name.qemu.log" 2>&1 &
    _GUEST_PID[$name]=$!
    echo "guest: $name booting ($GUEST_ACCEL): scenario $scenario $params"
}

_guest_done() { [[ -f $1 ]] && grep -q '^RESULT done ' <(tr -d '\r' < "$1"); }

# guest_wait W NAME [TIMEOUT]: 0 once the guest printed its final RESULT and
# QEMU exited; 1 (with the reason on stdout) otherwise. QEMU is killed when
# it outlives its bound.
guest_wait() {
    local w=$1 name=$2 limit=${3:-${GUEST_TIMEOUT:-60}} pid start=$SECONDS
    pid=${_GUEST_PID[$name]:-}
    [[ -n $pid ]] || { echo "guest $name was not started"; return 1; }
    while ! _guest_done "$w/$name.console"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            local st=0
            wait "$pid" 2>/dev/null || st=$?
            unset "_GUEST_PID[$name]"
            (( st > 128 )) && st="$st (signal $((st - 128)))"
            echo "guest $name: QEMU exited with status $st before the results: $(tail -n 3 "$w/$name.qemu.log")"
            return 1
        fi
        if (( SECONDS - start >= limit )); then
            echo "guest $name: no result within ${limit}s; console tail: $(tail -n 5 "$w/$name.console" | tr -d '\r')"
            guest_stop "$name"; return 1
        fi
        sleep 0.2
    done
    echo "guest $name: results after $((SECONDS - start))s"
    if ! wait_for "${GUEST_EXIT_TIMEOUT:-10}" _guest_exited "$pid"; then
        echo "guest $name: QEMU did not exit after the guest powered off"
        guest_stop "$name"; return 1
    fi
    wait "$pid" 2>/dev/null || true
    unset "_GUEST_PID[$name]"
    return 0
}
_guest_exited() { ! kill -0 "$1" 2>/dev/null; }

# guest_done_count W NAME: how many "RESULT done" lines the console has
# (one per boot with after=reboot|wait).
guest_done_count() { [[ -f $1/$2.console ]] || { echo 0; return; }; tr -d '\r' < "$1/$2.console" | grep -c '^RESULT done ' || true; }

# guest_wait_done W NAME N [TIMEOUT]: waits until the guest printed its final
# result N times in all (QEMU keeps running); 1 with the reason otherwise.
guest_wait_done() {
    local w=$1 name=$2 n=$3 limit=${4:-${GUEST_TIMEOUT:-60}} pid start=$SECONDS
    pid=${_GUEST_PID[$name]:-}
    while (( $(guest_done_count "$w" "$name") < n )); do
        if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
            echo "guest $name: QEMU exited after $(guest_done_count "$w" "$name") of $n results: $(tail -n 3 "$w/$name.qemu.log")"
            return 1
        fi
        if (( SECONDS - start >= limit )); then
            echo "guest $name: $(guest_done_count "$w" "$name") of $n results within ${limit}s"
            return 1
        fi
        sleep 0.2
    done
    echo "guest $name: result $n after $((SECONDS - start))s"
}

# guest_qmp W NAME COMMAND [JSON-ARGS]: one QMP command (tests/guest/qmp.py).
guest_qmp() { python3 "$E2E_ROOT/tests/guest/qmp.py" "$1/$2.qmp" "${@:3}"; }

# guest_quit W NAME: QMP quit, then QEMU must exit within GUEST_EXIT_TIMEOUT.
guest_quit() {
    local pid=${_GUEST_PID[$2]:-}
    [[ -n $pid ]] || return 0
    guest_qmp "$1" "$2" quit >/dev/null 2>&1 || true
    if ! wait_for "${GUEST_EXIT_TIMEOUT:-10}" _guest_exited "$pid"; then
        echo "guest $2: QEMU did not quit"; guest_stop "$2"; return 1
    fi
    wait "$pid" 2>/dev/null || true
    unset "_GUEST_PID[$2]"
}

# guest_results_all W NAME KEY: every value of KEY in the RESULT lines, one a line.
guest_results_all() {
    guest_results "$1" "$2" | tr ' ' '\n' | awk -F= -v k="$3" '$1 == k { print substr($0, length(k) + 2) }'
}

# guest_run W NAME SCENARIO PARAMS QEMU-ARGS...: boot, wait, print results.
# Call it in the test's own shell (not in $(...)), so that guest_stop_all in
# the test's trap can still kill QEMU.
guest_run() {
    local w=$1 name=$2
    guest_boot "$@" || return 1
    guest_wait "$w" "$name" || return 1
    guest_results "$w" "$name"
}

# guest_run_ok W NAME SCENARIO PARAMS QEMU-ARGS...: guest_run, and the guest
# must report status=pass; otherwise guest_fail.
guest_run_ok() {
    local w=$1 name=$2
    guest_run "$@" >"$w/$name.run" || guest_fail "$w" "$name" "$(grep -v '^RESULT' "$w/$name.run" | tail -n 2)"
    cat "$w/$name.run"
    [[ $(guest_result "$w" "$name" status) == pass ]] ||
        guest_fail "$w" "$name" "guest: $(guest_result "$w" "$name" reason)"
}

guest_results() { tr -d '\r' < "$1/$2.console" | grep '^RESULT '; }

# guest_result W NAME KEY: the value of the last KEY=... in the RESULT lines.
guest_result() {
    guest_results "$1" "$2" | tr ' ' '\n' | awk -F= -v k="$3" '$1 == k { v = substr($0, length(k) + 2) } END { print v }'
}

guest_stop() {
    local pid=${_GUEST_PID[$1]:-}
    [[ -n $pid ]] || return 0
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "_GUEST_PID[$1]"
}

guest_stop_all() {
    local n
    for n in "${!_GUEST_PID[@]}"; do guest_stop "$n"; done
}

# ---- Scenarios shared by the tests (a failure prints the trace's tail) ----

# guest_fail W NAME MSG: fails the test with the shim trace's and the guest
# console's last lines (and whatever the function GUEST_FAIL_HOOK prints).
guest_fail() {
    [[ -z ${GUEST_FAIL_HOOK:-} ]] || "$GUEST_FAIL_HOOK" || true
    echo "--- shim trace tail ($1/trace.txt):"; tail -n "${GUEST_TRACE_TAIL:-25}" "$1/trace.txt" 2>/dev/null || true
    echo "--- guest console tail:"; tail -n 15 "$1/$2.console" 2>/dev/null | tr -d '\r' || true
    fail "$3"
}

# guest_net_l2 W NAME FRAMES MAC [NETDEV-OPTS [DEVICE-OPTS [PARAMS]]]: the
# net-l2 scenario (with PARAMS added) on a vhost-user netdev whose socket is
# W/fe.sock (the shim's front-end); the back-end must send every frame back.
# Sets GUEST_NET_RX.
guest_net_l2() {
    local w=$1 name=$2 frames=$3 mac=$4 ndopts=${5:-} devopts=${6:-} params=${7:-}
    guest_run_ok "$w" "$name" net-l2 "frames=$frames size=256 $params" \
        -chardev "socket,id=c0,path=$w/fe.sock" -netdev "vhost-user,id=n0,chardev=c0$ndopts" \
        -device "virtio-net-pci,netdev=n0,mac=$mac$devopts$(guest_vhost_pci_opts)"
    GUEST_NET_RX=$(guest_result "$w" "$name" frames_rx)
    (( GUEST_NET_RX == frames )) || guest_fail "$w" "$name" "guest got $GUEST_NET_RX of $frames frames back"
    [[ $(guest_result "$w" "$name" mac) == "$mac" ]] ||
        guest_fail "$w" "$name" "guest MAC $(guest_result "$w" "$name" mac), QEMU set $mac"
}

# guest_net_mq W NAME FRAMES MAC PAIRS: net-l2 with PAIRS queue pairs
# (queues= on the netdev, mq=on on the device): the guest enables every pair
# through its control queue and sends FRAMES frames on each pair, which must
# come back on the same pair (the guest's per-queue counters; see net_mq in
# tests/guest/init). The back-end must echo on the pair it received on.
guest_net_mq() {
    local w=$1 name=$2 frames=$3 mac=$4 pairs=$5 q tx rx
    guest_net_l2 "$w" "$name" "$frames" "$mac" ",queues=$pairs" ",mq=on" "pairs=$pairs"
    [[ $(guest_result "$w" "$name" combined) == "$pairs" ]] ||
        guest_fail "$w" "$name" "the guest runs $(guest_result "$w" "$name" combined) pairs, not $pairs"
    for (( q = 0; q < pairs; q++ )); do
        read -r tx rx < <(guest_results "$w" "$name" | sed -n "s/^RESULT pair=$q tx=\([0-9]*\) rx=\([0-9]*\)$/\1 \2/p")
        (( ${tx:-0} >= frames && ${rx:-0} >= frames )) ||
            guest_fail "$w" "$name" "pair $q carried tx=${tx:-none} rx=${rx:-none}, expected >= $frames each"
    done
    echo "guest: $pairs pairs enabled by the guest, each carried $frames frames both ways"
}

# guest_blk_pattern OFFSET_MIB NONCE: the 4 KiB the blk scenario writes there.
guest_blk_pattern() {
    { printf 'VSTEST-BLK offset=%s nonce=%s\n' "$1" "$2"; head -c 4096 /dev/zero; } | head -c 4096
}

# guest_blk W NAME IMAGE: the blk scenario on a vhost-user-blk device whose
# socket is W/fe.sock, IMAGE being the back-end's disk (64 MiB or more): the
# guest writes a pattern with O_DIRECT at several offsets and reads it back,
# then makes an ext4 file system on the first 32 MiB with one file; the host
# finds the pattern in IMAGE, e2fsck -n finds the file system clean and
# debugfs reads the guest's file.
GUEST_BLK_OFFSETS=40,48,56,63
guest_blk() {
    local w=$1 name=$2 img=$3 nonce=$RANDOM
    guest_run_ok "$w" "$name" blk "offsets=$GUEST_BLK_OFFSETS fs_mb=32 nonce=$nonce" \
        -chardev "socket,id=c0,path=$w/fe.sock" \
        -device "vhost-user-blk-pci,chardev=c0$(guest_vhost_pci_opts)"
    guest_blk_image_check "$w" "$name" "$img" "$nonce"
}

# guest_blk_image_check W NAME IMAGE NONCE [pattern]: the blk scenario's
# pattern with NONCE in IMAGE; unless "pattern" is given, e2fsck -n clean and
# debugfs reads the guest's file.
guest_blk_image_check() {
    local w=$1 name=$2 img=$3 nonce=$4 o
    for o in ${GUEST_BLK_OFFSETS//,/ }; do
        cmp -s <(guest_blk_pattern "$o" "$nonce") <(dd if="$img" bs=1M skip="$o" count=1 2>/dev/null | head -c 4096) ||
            guest_fail "$w" "$name" "the image lacks the guest's pattern at $o MiB"
    done
    [[ ${5:-} != pattern ]] || { echo "guest: pattern at ${GUEST_BLK_OFFSETS} MiB in $img"; return 0; }
    command -v e2fsck >/dev/null || { echo "guest: e2fsck missing (e2fsprogs): file system not checked"; return 0; }
    e2fsck -n -f "$img" >"$w/$name.e2fsck" 2>&1 || guest_fail "$w" "$name" "e2fsck -n: $(tail -n 3 "$w/$name.e2fsck")"
    [[ $(debugfs -R "cat /guest.txt" "$img" 2>/dev/null) == "VSTEST-FS nonce=$nonce" ]] ||
        guest_fail "$w" "$name" "debugfs does not find the guest's file in the image"
    echo "guest: pattern at ${GUEST_BLK_OFFSETS} MiB and a clean file system with the guest's file in $img"
}

# guest_fs_host_check W NAME SHARE NONCE: the fs scenario's file in SHARE.
guest_fs_host_check() {
    [[ $(cat "$3/guest.txt" 2>/dev/null) == "VSTEST-FS guest nonce=$4" ]] ||
        guest_fail "$1" "$2" "the host does not find the guest's file in the share"
}

# _guest_all_pass W NAME N [FRAMES]: every result status=pass; without
# FRAMES at least N of them (boots), with FRAMES at least N frames_rx (runs),
# every one equal to FRAMES.
_guest_all_pass() {
    local w=$1 name=$2 n=$3 frames=${4:-} v count=0
    ! guest_results_all "$w" "$name" status | grep -qv '^pass$' ||
        guest_fail "$w" "$name" "a boot failed: $(guest_results_all "$w" "$name" reason | tr '\n' ' ')"
    if [[ -z $frames ]]; then
        count=$(guest_results_all "$w" "$name" status | wc -l)
        (( count >= n )) || guest_fail "$w" "$name" "$count results, expected $n"
        return 0
    fi
    for v in $(guest_results_all "$w" "$name" frames_rx); do
        (( v == frames )) || guest_fail "$w" "$name" "a run got $v of $frames frames back"
        count=$((count + 1))
    done
    (( count >= n )) || guest_fail "$w" "$name" "$count traffic runs, expected $n"
}

# guest_lifecycle W SCENARIO PARAMS CHECK QEMU-ARGS...: a device's life cycle
# through whatever serves it (SCENARIO must support rebind=1):
#   1. (boot lc1) the scenario, the driver unbound and bound again (a device
#      reset and a new initialisation), the scenario again; the guest
#      reboots (reboot -f, QEMU restarts the machine) and does it all again;
#      QEMU quits (QMP) while the third boot brings the device up.
#   2. (boot lc2) the scenario; QEMU system_reset (QMP); the scenario again
#      in the next boot; quit.
# CHECK W NAME BOOTS is called after each (every boot passed, host checks);
# the function GUEST_LC_BETWEEN, when set, runs between the two (with W).
guest_lifecycle() {
    local w=$1 scenario=$2 params=$3 check=$4 out
    shift 4
    guest_boot "$w" lc1 "$scenario" "$params rebind=1 after=reboot" "$@"
    out=$(guest_wait_done "$w" lc1 2) || guest_fail "$w" lc1 "$out"
    echo "$out"
    guest_quit "$w" lc1 || guest_fail "$w" lc1 "QEMU did not quit"
    "$check" "$w" lc1 2
    echo "guest: 2 boots, each: $scenario, a driver rebind, $scenario again; QEMU quit in the third"
    [[ -z ${GUEST_LC_BETWEEN:-} ]] || "$GUEST_LC_BETWEEN" "$w"
    guest_boot "$w" lc2 "$scenario" "$params after=wait" "$@"
    out=$(guest_wait_done "$w" lc2 1) || guest_fail "$w" lc2 "$out"
    guest_qmp "$w" lc2 system_reset >/dev/null || guest_fail "$w" lc2 "QMP system_reset failed"
    out=$(guest_wait_done "$w" lc2 2) || guest_fail "$w" lc2 "$out"
    echo "$out"
    guest_quit "$w" lc2 || guest_fail "$w" lc2 "QEMU did not quit"
    "$check" "$w" lc2 2
    echo "guest: $scenario, QMP system_reset, $scenario in the next boot"
}

# guest_net_lifecycle W FRAMES MAC: guest_lifecycle of net-l2 on a vhost-user
# netdev whose socket is W/fe.sock; the back-end must send every frame back.
guest_net_lifecycle() {
    local w=$1 mac=$3
    _GUEST_LC_FRAMES=$2
    # shellcheck disable=SC2054 # QEMU option values have commas
    guest_lifecycle "$w" net-l2 "frames=$2 size=256" _guest_net_lc_check \
        -chardev "socket,id=c0,path=$w/fe.sock" -netdev vhost-user,id=n0,chardev=c0 \
        -device "virtio-net-pci,netdev=n0,mac=$mac$(guest_vhost_pci_opts)"
}
# Each lc1 boot runs the frames twice (before and after the rebind).
_guest_net_lc_check() { _guest_all_pass "$1" "$2" "$(_guest_lc_runs "$2" "$3")" "$_GUEST_LC_FRAMES"; }
# _guest_lc_runs NAME BOOTS: scenario runs in BOOTS boots (lc1: two a boot,
# before and after the rebind).
_guest_lc_runs() { if [[ $1 == lc1 ]]; then echo $(( 2 * $2 )); else echo "$2"; fi; }

# guest_blk_lifecycle W IMAGE: guest_lifecycle of the blk scenario on a
# vhost-user-blk device whose socket is W/fe.sock; after each part the host
# finds the last boot's pattern in IMAGE and a clean file system.
guest_blk_lifecycle() {
    local w=$1
    _GUEST_LC_IMG=$2 _GUEST_LC_NONCE=$RANDOM
    guest_lifecycle "$w" blk "offsets=$GUEST_BLK_OFFSETS fs_mb=32 nonce=$_GUEST_LC_NONCE" _guest_blk_lc_check \
        -chardev "socket,id=c0,path=$w/fe.sock" -device "vhost-user-blk-pci,chardev=c0$(guest_vhost_pci_opts)"
}
# After lc1 QEMU quit during a boot that may have been making the file
# system: the pattern (rewritten identically) is checked, the file system
# only after lc2, whose last boot is idle when the host looks.
_guest_blk_lc_check() {
    _guest_all_pass "$1" "$2" "$3"
    guest_blk_image_check "$1" "$2" "$_GUEST_LC_IMG" "$_GUEST_LC_NONCE" "$([[ $2 == lc1 ]] && echo pattern)"
}

# guest_fs_lifecycle W SHARE NONCE: guest_lifecycle of the fs scenario on a
# vhost-user-fs device (tag share0) whose socket is W/fe.sock; SHARE/host.txt
# holds "host-file nonce=NONCE": every mount read it, and the host reads the
# guest's file.
guest_fs_lifecycle() {
    local w=$1
    _GUEST_LC_SHARE=$2 _GUEST_LC_NONCE=$3
    guest_lifecycle "$w" fs "tag=share0 nonce=$3" _guest_fs_lc_check \
        -chardev "socket,id=c0,path=$w/fe.sock" -device "vhost-user-fs-pci,chardev=c0,tag=share0$(guest_vhost_pci_opts)"
}
_guest_fs_lc_check() {
    local v count=0
    _guest_all_pass "$1" "$2" "$3"
    for v in $(guest_results_all "$1" "$2" host_file); do
        [[ $v == "host-file_nonce=$_GUEST_LC_NONCE" ]] || guest_fail "$1" "$2" "a mount read '$v' from host.txt"
        count=$((count + 1))
    done
    local want; want=$(_guest_lc_runs "$2" "$3")
    (( count >= want )) || guest_fail "$1" "$2" "$count mounts read host.txt, expected $want"
    # (lc1's QEMU quit during a boot that may have been rewriting the file)
    [[ $2 == lc1 ]] || guest_fs_host_check "$1" "$2" "$_GUEST_LC_SHARE" "$_GUEST_LC_NONCE"
}

# ---- Back-ends the guest tests share ----

# guest_testpmd_be W QUEUES: DPDK testpmd net_vhost on W/be.sock with QUEUES
# queue pairs (as many rx and tx queues), forwarding with macswap: every
# frame goes back on the queue pair it came in on. Needs tests/e2e/lib/dpdk.sh.
guest_testpmd_be() {
    local w=$1 q=$2
    DPDK_TESTPMD_EXTRA="--rxq=$q --txq=$q" dpdk_start_vhost_backend be "$w/be.sock" "$q" ||
        fail "net_vhost queues=$q did not start"
    dpdk_cmd_output be "set fwd macswap" >/dev/null || fail "testpmd: set fwd macswap"
    dpdk_cmd_output be "start" >/dev/null || fail "testpmd: start"
}

# guest_testpmd_streams FRAMES: how many of testpmd's forwarding streams
# (one per queue pair) received at least FRAMES frames (stops forwarding:
# testpmd prints a stream's statistics at "stop").
guest_testpmd_streams() {
    dpdk_cmd_output be "stop" | awk -v f="$1" '
        /Forward Stats for RX Port=/ { s = 1; next }
        s && match($0, /RX-packets: *[0-9]+/) { v = substr($0, RSTART, RLENGTH); sub(/.*: */, "", v); if (v + 0 >= f) n++; s = 0 }
        END { print n + 0 }'
}

# guest_vdpa_backend W ARGS...: the reference vdpa-user back-end
# (peers/vdpa-backend) on W/be.sock with ARGS, statistics in W/backend.stats;
# guest_backend_stop ends it (SIGTERM: it writes its statistics).
GUEST_BACKEND_PID=""
guest_vdpa_backend() {
    local w=$1 bin=$E2E_ROOT/${BUILD:-build}/vdpa-backend
    shift
    [[ -x $bin ]] || fail "$bin is missing (run make first)"
    "$bin" --socket "$w/be.sock" --stats "$w/backend.stats" "$@" 2>"$w/backend.log" &
    GUEST_BACKEND_PID=$!
    wait_for 5 test -S "$w/be.sock" || fail "vdpa-backend did not start: $(tail -n 3 "$w/backend.log")"
}
guest_backend_stop() {
    [[ -n $GUEST_BACKEND_PID ]] || return 0
    kill -TERM "$GUEST_BACKEND_PID" 2>/dev/null || true
    wait_for 5 _guest_exited "$GUEST_BACKEND_PID" || kill -KILL "$GUEST_BACKEND_PID" 2>/dev/null || true
    wait "$GUEST_BACKEND_PID" 2>/dev/null || true
    GUEST_BACKEND_PID=""
}
# guest_cleanup_dir W: removes a test's work directory unless GUEST_KEEP=1.
guest_cleanup_dir() { if [[ ${GUEST_KEEP:-0} == 1 ]]; then echo "kept $1"; else rm -rf "$1"; fi; }

# guest_down_shim W KEYS: shim #2 of a chain, down-converting from W/mid.sock
# to W/be.sock with the device keys KEYS ("type=net,queue-pairs=4", ...),
# checked against the matrix, its trace in W/trace-down.txt.
GUEST_DOWN_PID="" GUEST_DOWN_DIR=""
guest_down_shim() {
    GUEST_DOWN_DIR=$1
    "$SHIM_BIN" --device "$2,id=down0,frontend=$1/mid.sock,backend=$1/be.sock,check=$E2E_ROOT/compat-matrix" \
        --trace "$1/trace-down.txt" 2>"$1/shim-down.log" &
    GUEST_DOWN_PID=$!
    wait_for 5 test -S "$1/mid.sock" || fail "shim #2 did not create its socket: $(tail -n 3 "$1/shim-down.log")"
}
# guest_down_shim_tail: shim #2's trace and log tails (a GUEST_FAIL_HOOK).
guest_down_shim_tail() {
    echo "--- shim #2 trace tail:"; tail -n 20 "$GUEST_DOWN_DIR/trace-down.txt"
    echo "--- shim #2 log tail:"; tail -n 10 "$GUEST_DOWN_DIR/shim-down.log"
}
# guest_down_shim_stop: SIGTERM; shim #2 must exit 0 and its compatibility
# check must not have reported anything.
guest_down_shim_stop() {
    local st=0
    [[ -n $GUEST_DOWN_PID ]] || return 0
    kill -TERM "$GUEST_DOWN_PID" 2>/dev/null || true
    wait "$GUEST_DOWN_PID" || st=$?
    GUEST_DOWN_PID=""
    (( st == 0 )) || fail "shim #2 exited with status $st on SIGTERM"
    ! grep -q ': check: ' "$GUEST_DOWN_DIR/shim-down.log" ||
        fail "shim #2's compatibility check reported: $(grep -m3 ': check: ' "$GUEST_DOWN_DIR/shim-down.log")"
}

# guest_net_expect_mtu W NAME MTU [TRACE-TEXT]: the guest's interface has MTU
# (and the shim's trace has TRACE-TEXT, e.g. the NET_SET_MTU that set it).
guest_net_expect_mtu() {
    [[ $(guest_result "$1" "$2" mtu) == "$3" ]] ||
        guest_fail "$1" "$2" "the guest's MTU is $(guest_result "$1" "$2" mtu), expected $3"
    [[ -z ${4:-} ]] || grep -q "$4" "$1/trace.txt" || guest_fail "$1" "$2" "trace lacks '$4'"
}

# guest_lifecycle_idle W FDS: after guest_lifecycle, the shim ended both
# sessions and holds FDS fds again (what it held before the guests).
guest_lifecycle_idle() {
    wait_for 10 count_at_least "$1/shim.log" "session ended" 2 || guest_fail "$1" lc2 "the shim did not end both sessions"
    wait_for 5 fds_are "$_SHIM_PID" "$2" ||
        guest_fail "$1" lc2 "shim holds $(fd_count "$_SHIM_PID") fds after the guests, $2 before"
}

# guest_qsd W: qemu-storage-daemon exporting W/disk.img (64 MiB, made here)
# as vhost-user-blk on W/be.sock; skips the test when it is missing.
# GUEST_QSD_RELEASE: empty, the host's (7.2); a release (trixie: 10.0, bullseye: 5.2), the
# one of that Debian root (tests/peers/run, W bound), or a skip when the
# root is not built.
GUEST_QSD_RELEASE=${GUEST_QSD_RELEASE:-}
GUEST_QSD_PID=""
guest_qsd() {
    local qsd=(qemu-storage-daemon) why
    if [[ -n $GUEST_QSD_RELEASE ]]; then
        why=$(peer_root_ready "$GUEST_QSD_RELEASE") || skip "$why"
        qsd=(env "PEER_BIND=$1" "$E2E_ROOT/tests/peers/run" "$GUEST_QSD_RELEASE" qemu-storage-daemon)
        echo "back-end: qemu-storage-daemon of the Debian $GUEST_QSD_RELEASE root: $("${qsd[@]}" --version | sed -n 1p)"
    else
        command -v qemu-storage-daemon >/dev/null || skip "qemu-storage-daemon is not installed"
    fi
    truncate -s 64M "$1/disk.img"
    "${qsd[@]}" --blockdev "driver=file,node-name=file0,filename=$1/disk.img" \
        --export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$1/be.sock,writable=on" \
        >"$1/qsd.log" 2>&1 &
    GUEST_QSD_PID=$!
    wait_for 10 test -S "$1/be.sock" || skip "qemu-storage-daemon did not start: $(tail -n 3 "$1/qsd.log")"
}
guest_qsd_stop() { _guest_kill_pid "$GUEST_QSD_PID"; GUEST_QSD_PID=""; }

# guest_virtiofsd W NONCE: QEMU 7.2's C virtiofsd sharing W/share (made here,
# with host.txt saying "host-file nonce=NONCE") on W/be.sock; skips the test
# when it is missing. GUEST_VIRTIOFSD_RELEASE: empty, the host's; a release
# (bullseye: QEMU 5.2's C virtiofsd), the one of that Debian root, W bound.
GUEST_VIRTIOFSD=${GUEST_VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
GUEST_VIRTIOFSD_RELEASE=${GUEST_VIRTIOFSD_RELEASE:-}
GUEST_VFS_PID=""
guest_virtiofsd() {
    local vfs=("$GUEST_VIRTIOFSD") why
    if [[ -n $GUEST_VIRTIOFSD_RELEASE ]]; then
        why=$(peer_root_ready "$GUEST_VIRTIOFSD_RELEASE") || skip "$why"
        [[ -x $(peer_root_dir "$GUEST_VIRTIOFSD_RELEASE")$GUEST_VIRTIOFSD ]] ||
            skip "the Debian $GUEST_VIRTIOFSD_RELEASE root has no $GUEST_VIRTIOFSD"
        vfs=(env "PEER_BIND=$1" "$E2E_ROOT/tests/peers/run" "$GUEST_VIRTIOFSD_RELEASE" "$GUEST_VIRTIOFSD")
        echo "back-end: the C virtiofsd of the Debian $GUEST_VIRTIOFSD_RELEASE root"
    else
        [[ -x $GUEST_VIRTIOFSD ]] || skip "$GUEST_VIRTIOFSD is not installed (qemu-system-common)"
    fi
    mkdir -p "$1/share"
    echo "host-file nonce=$2" > "$1/share/host.txt"
    "${vfs[@]}" --socket-path="$1/be.sock" -o source="$1/share" -o cache=none -o sandbox=chroot \
        >"$1/virtiofsd.log" 2>&1 &
    GUEST_VFS_PID=$!
    wait_for 10 test -S "$1/be.sock" || skip "virtiofsd did not start: $(tail -n 3 "$1/virtiofsd.log")"
}
guest_virtiofsd_stop() { _guest_kill_pid "$GUEST_VFS_PID"; GUEST_VFS_PID=""; }
# guest_virtiofsd_again W NONCE: QEMU 7.2's virtiofsd serves one front-end
# and exits when it goes: waits for that exit, then starts a new one.
guest_virtiofsd_again() {
    wait_for 10 _guest_exited "$GUEST_VFS_PID" || fail "virtiofsd did not exit after its front-end went"
    wait "$GUEST_VFS_PID" 2>/dev/null || true
    rm -f "$1/be.sock"
    guest_virtiofsd "$1" "$2"
}
_guest_kill_pid() { [[ -z $1 ]] || { kill -KILL "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }; }


# guest_vu_probe SOCK: a back-end on SOCK accepts a new connection and answers
# GET_FEATURES within 5 s (tests/guest/vu_probe.py); the reason on stdout if not.
guest_vu_probe() { python3 "$E2E_ROOT/tests/guest/vu_probe.py" "$1"; }
