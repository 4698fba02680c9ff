# shellcheck shell=bash
# lib.sh - boot the test guest (tests/guest, built by `make guest`) under
# QEMU with a list of devices and a scenario, and read its results. Sourced
# by tests/e2e/test_guest_*.sh after tests/e2e/lib/common.sh.
#
#   guest_prepare                      build (cached) and pick KVM or TCG;
#                                      skips the test (exit 77) with the reason
#                                      when the guest cannot be built or booted
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
# (10 s) for the KVM probe. GUEST_ACCEL=kvm|tcg forces the accelerator.
# GUEST_KEEP=1: tests keep their work directory (console, QEMU log, trace).

GUEST_DIR=${GUEST_DIR:-$E2E_ROOT/${BUILD:-build}/guest}
GUEST_ACCEL=${GUEST_ACCEL:-}
GUEST_MEM_MB=${GUEST_MEM_MB:-256}
declare -gA _GUEST_PID=()

# guest_prepare: builds the guest (cached) and chooses the accelerator.
guest_prepare() {
    local rc=0
    command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
    "$E2E_ROOT/tests/guest/build.sh" "$GUEST_DIR" >"$GUEST_DIR.build.log" 2>&1 || rc=$?
    if (( rc == 77 )); then
        skip "the test guest cannot be built: $(cat "$GUEST_DIR/unavailable")"
    elif (( rc != 0 )); then
        fail "make guest failed: $(tail -n 5 "$GUEST_DIR.build.log")"
    fi
    [[ -n $GUEST_ACCEL ]] || _guest_pick_accel
    [[ $GUEST_ACCEL == kvm || $GUEST_ACCEL == tcg ]] ||
        skip "neither KVM nor TCG boots the test guest here: $GUEST_ACCEL"
    echo "guest: $(cat "$GUEST_DIR/stamp"), accel=$GUEST_ACCEL"
}

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
        if GUEST_TIMEOUT=${GUEST_KVM_PROBE_S:-10} guest_run "$w" "probe-$a" probe "" >/dev/null 2>&1 &&
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
    rm -f "$w/$name.console" "$w/$name.qmp"
    qemu-system-x86_64 -machine "q35,accel=$GUEST_ACCEL" "${cpu[@]}" -nodefaults -display none \
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

# guest_net_l2 W NAME FRAMES MAC [NETDEV-OPTS]: the net-l2 scenario on a
# vhost-user netdev whose socket is W/fe.sock (the shim's front-end); the
# back-end must send every frame back. Sets GUEST_NET_RX.
guest_net_l2() {
    local w=$1 name=$2 frames=$3 mac=$4 ndopts=${5:-}
    guest_run_ok "$w" "$name" net-l2 "frames=$frames size=256" \
        -chardev "socket,id=c0,path=$w/fe.sock" -netdev "vhost-user,id=n0,chardev=c0$ndopts" \
        -device "virtio-net-pci,netdev=n0,mac=$mac$(guest_vhost_pci_opts)"
    GUEST_NET_RX=$(guest_result "$w" "$name" frames_rx)
    (( GUEST_NET_RX == frames )) || guest_fail "$w" "$name" "guest got $GUEST_NET_RX of $frames frames back"
    [[ $(guest_result "$w" "$name" mac) == "$mac" ]] ||
        guest_fail "$w" "$name" "guest MAC $(guest_result "$w" "$name" mac), QEMU set $mac"
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
guest_blk() {
    local w=$1 name=$2 img=$3 nonce=$RANDOM offsets=40,48,56,63 o
    guest_run_ok "$w" "$name" blk "offsets=$offsets fs_mb=32 nonce=$nonce" \
        -chardev "socket,id=c0,path=$w/fe.sock" \
        -device "vhost-user-blk-pci,chardev=c0$(guest_vhost_pci_opts)"
    for o in ${offsets//,/ }; do
        cmp -s <(guest_blk_pattern "$o" "$nonce") <(dd if="$img" bs=1M skip="$o" count=1 2>/dev/null | head -c 4096) ||
            guest_fail "$w" "$name" "the image lacks the guest's pattern at $o MiB"
    done
    command -v e2fsck >/dev/null || { echo "guest: e2fsck missing (e2fsprogs): file system not checked"; return 0; }
    e2fsck -n -f "$img" >"$w/$name.e2fsck" 2>&1 || guest_fail "$w" "$name" "e2fsck -n: $(tail -n 3 "$w/$name.e2fsck")"
    [[ $(debugfs -R "cat /guest.txt" "$img" 2>/dev/null) == "VSTEST-FS nonce=$nonce" ]] ||
        guest_fail "$w" "$name" "debugfs does not find the guest's file in the image"
    echo "guest: pattern at ${offsets} MiB and a clean file system with the guest's file in $img"
}

# _guest_all_pass W NAME N FRAMES: N results, every one status=pass, and
# every frames_rx equal to FRAMES (at least N of them).
_guest_all_pass() {
    local w=$1 name=$2 n=$3 frames=$4 v count=0
    ! guest_results_all "$w" "$name" status | grep -qv '^pass$' ||
        guest_fail "$w" "$name" "a boot failed: $(guest_results_all "$w" "$name" reason | tr '\n' ' ')"
    for v in $(guest_results_all "$w" "$name" frames_rx); do
        (( v == frames )) || guest_fail "$w" "$name" "a run got $v of $frames frames back"
        count=$((count + 1))
    done
    (( count >= n )) || guest_fail "$w" "$name" "$count traffic runs, expected $n"
}

# guest_net_lifecycle W FRAMES MAC: the device's life cycle through whatever
# serves W/fe.sock, on a back-end that sends every frame back:
#   1. traffic; the driver unbound and bound again (a device reset and a new
#      initialisation); traffic; the guest reboots (reboot -f, QEMU restarts
#      the machine) and does it all again; QEMU quits (QMP) while the third
#      boot brings the device up (whatever it is doing then).
#   2. traffic; QEMU system_reset (QMP); traffic again in the next boot; quit.
guest_net_lifecycle() {
    local w=$1 frames=$2 mac=$3 out dev
    # shellcheck disable=SC2054 # QEMU option values have commas
    dev=(-chardev "socket,id=c0,path=$w/fe.sock" -netdev vhost-user,id=n0,chardev=c0
         -device "virtio-net-pci,netdev=n0,mac=$mac$(guest_vhost_pci_opts)")
    guest_boot "$w" lc1 net-l2 "frames=$frames size=256 rebind=1 after=reboot" "${dev[@]}"
    out=$(guest_wait_done "$w" lc1 2) || guest_fail "$w" lc1 "$out"
    echo "$out"
    guest_quit "$w" lc1 || guest_fail "$w" lc1 "QEMU did not quit"
    _guest_all_pass "$w" lc1 4 "$frames"
    echo "guest: 2 boots, each with traffic, a driver rebind and traffic again; QEMU quit in the third"
    guest_boot "$w" lc2 net-l2 "frames=$frames size=256 after=wait" "${dev[@]}"
    out=$(guest_wait_done "$w" lc2 1) || guest_fail "$w" lc2 "$out"
    guest_qmp "$w" lc2 system_reset >/dev/null || guest_fail "$w" lc2 "QMP system_reset failed"
    out=$(guest_wait_done "$w" lc2 2) || guest_fail "$w" lc2 "$out"
    echo "$out"
    guest_quit "$w" lc2 || guest_fail "$w" lc2 "QEMU did not quit"
    _guest_all_pass "$w" lc2 2 "$frames"
    echo "guest: traffic, QMP system_reset, traffic in the next boot"
}
