# shellcheck shell=bash disable=SC2154  # $root, $w, $out, $probe: probe-all.sh's
# probe-rustvmm.sh: sourced by probe-all.sh (it uses its $w, $out, $root,
# $probe, pids, peer_skip, wanted, probe_backend, major_minor). Measures the
# back-ends that are started as one command line and may exit at any time:
#
#   rust-vmm vhost-device-{rng,vsock,scsi,gpio,i2c,sound,console,scmi}
#       column rust-vmm-vhost-device-<commit>:backend, <commit> the short
#       commit of rust-vmm/vhost-device they were built from (the binaries do
#       not say it, and their --version is a per-crate version that scsi does
#       not even print): RUSTVMM_COMMIT, else the name of the pinned source
#       tarball ../shared/rust-vmm-peers/vhost-device-<commit>.tar.gz that
#       build.sh builds them from. Binaries: `rustvmm_bin NAME` of
#       tests/e2e/lib/rustvmm.sh when it exists, else
#       $RUSTVMM_OUT/vhost-device-NAME (default the build.sh output directory).
#   QEMU's vhost-user-gpu (package qemu-system-gui), column
#       qemu-vhost-user-gpu-<major.minor>:backend.
#
# Each runs in a loop that restarts it whenever it exits (scsi and
# vhost-user-gpu serve one front-end per process; rng exits on a request it
# does not know), so that every connection vdpa-probe makes finds it. Before
# the probe, the facts a user would trip over are measured and appended to the
# column as `note` records (compat-matrix/README.md):
#   socket-name               as-given, or suffix-0: told PATH, it listens on PATH0
#   exits-on-disconnect       yes/no: after a front-end's GET_FEATURES and close
#   exits-on-unknown-request  yes/no: after a request it does not know
#                             (VDPA_GET_DEVICE_ID), when it survives a close
#   command                   how it was started (source `setup`)

RUSTVMM_OUT=${RUSTVMM_OUT:-/var/cache/vdpa-shim/peers/trixie-rust/out}
RV_VDPA_GET_DEVICE_ID=0x170   # lib/proto/vhost_user.h: a request legacy back-ends do not know
RV_EXIT_WAIT_S=2              # how long a back-end may take to exit after the front-end left
RV_MAX_STARTS=100             # a back-end that keeps exiting at once is not restarted for ever
RV_STOP_WAIT_S=5              # how long a back-end may take to stop on SIGTERM

# rv_commit: the short vhost-device commit, or nothing.
rv_commit() {
    local t
    if [[ -n ${RUSTVMM_COMMIT:-} ]]; then echo "${RUSTVMM_COMMIT:0:7}"; return; fi
    for t in "$root"/../shared/rust-vmm-peers/vhost-device-*.tar.gz; do
        [[ -f $t ]] || continue
        t=${t##*/vhost-device-}
        echo "${t%.tar.gz}"
        return
    done
}

# rv_bin NAME: the path of vhost-device-NAME, or nothing.
rv_bin() {
    local lib=$root/tests/e2e/lib/rustvmm.sh p=""
    if [[ -f $lib ]]; then
        # in a subshell: the library's settings stay there
        # shellcheck source=/dev/null
        p=$( . "$lib" >/dev/null 2>&1; { rustvmm_bin "vhost-device-$1" || rustvmm_bin "$1"; } 2>/dev/null | head -n 1)
    fi
    [[ -n $p && -x $p ]] || p=$RUSTVMM_OUT/vhost-device-$1
    [[ -x $p ]] && echo "$p"
}

# rv_loop_start NAME CMD...: runs CMD again whenever it exits, while
# $w/NAME.run exists; the current process's pid is in $w/NAME.peerpid. Its
# standard output is a pipe (vhost-device-scmi -d fake needs one).
rv_loop_start() {
    local name=$1; shift
    touch "$w/$name.run"
    (
        n=0
        while [[ -e $w/$name.run ]] && (( n++ < RV_MAX_STARTS )); do
            "$@" > >(cat >>"$w/$name.log") 2>>"$w/$name.log" &
            echo $! >"$w/$name.peerpid"
            wait $!
            sleep 0.1
        done
    ) &
    RV_LOOP_PID=$!
    pids+=("$RV_LOOP_PID")
}

# rv_loop_stop NAME: no more restarts; the current process is stopped (again
# and again: the loop may have started a new one just before it saw that it
# must not), then killed if the loop has not ended within RV_STOP_WAIT_S.
rv_loop_stop() {
    local name=$1 i
    rm -f "$w/$name.run"
    for (( i = 0; i < RV_STOP_WAIT_S * 10; i++ )); do
        kill -0 "$RV_LOOP_PID" 2>/dev/null || break
        [[ -f $w/$name.peerpid ]] && kill -TERM "$(cat "$w/$name.peerpid")" 2>/dev/null
        sleep 0.1
    done
    if kill -0 "$RV_LOOP_PID" 2>/dev/null; then
        [[ -f $w/$name.peerpid ]] && kill -KILL "$(cat "$w/$name.peerpid")" 2>/dev/null
    fi
    wait "$RV_LOOP_PID" 2>/dev/null
    rm -f "$w/$name.peerpid"
    return 0
}

# rv_exits_after NAME SOCKET [REQUEST]: yes when the back-end's process
# exits within RV_EXIT_WAIT_S after vu_hello.py's conversation, else no.
rv_exits_after() {
    local name=$1 sock=$2 pid
    pid=$(cat "$w/$name.peerpid" 2>/dev/null) || return 1
    python3 "$root/tests/matrix/vu_hello.py" "$sock" ${3:+"$3"} >>"$w/$name.hello.log" 2>&1 ||
        return 1
    if wait_for "$RV_EXIT_WAIT_S" eval "! kill -0 $pid"; then echo yes; else echo no; fi
}

# rv_measure NAME TYPE COLUMN SOCKET DISPLAY CMD...: starts CMD (which is told
# to listen on SOCKET), measures the notes, probes it, stops it. DISPLAY is
# the command line recorded in the `command` note.
rv_measure() {
    local name=$1 type=$2 column=$3 sock=$4 display=$5 path suffix exits unknown=""
    shift 5
    rm -f "$sock" "${sock}0"
    rv_loop_start "$name" "$@"
    if ! wait_for 10 eval "[[ -S '$sock' || -S '${sock}0' ]]"; then
        rv_loop_stop "$name"
        peer_skip "$name" "did not start: $(tail -n 2 "$w/$name.log" 2>/dev/null | tr '\n' ' ')"
        return 1
    fi
    if [[ -S $sock ]]; then path=$sock suffix=as-given; else path=${sock}0 suffix=suffix-0; fi
    if ! exits=$(rv_exits_after "$name" "$path"); then
        rv_loop_stop "$name"
        peer_skip "$name" "does not answer GET_FEATURES: $(tail -n 1 "$w/$name.hello.log" 2>/dev/null)"
        return 1
    fi
    if [[ $exits == no ]]; then
        unknown=$(rv_exits_after "$name" "$path" "$RV_VDPA_GET_DEVICE_ID") || unknown=""
    fi
    wait_for 10 test -S "$path"
    if probe_backend "$name" "$type" "$column" "$path"; then
        {
            printf 'note\t%s\tcommand\t%s\tsetup\n' "$column" "$display"
            printf 'note\t%s\texits-on-disconnect\t%s\tprobe\n' "$column" "$exits"
            [[ -n $unknown ]] && printf 'note\t%s\texits-on-unknown-request\t%s\tprobe\n' "$column" "$unknown"
            printf 'note\t%s\tsocket-name\t%s\tprobe\n' "$column" "$suffix"
        } >>"$out/$type.$column.tsv"
    fi
    rv_loop_stop "$name"
}

# ---- rust-vmm vhost-device-* --------------------------------------------------------------
rv_probe_all() {
    local commit t bin column s port
    commit=$(rv_commit)
    for t in rng vsock scsi gpio i2c sound console scmi; do
        wanted "rust-vmm-$t" || continue
        # scmi is a device type only once lib/proto/device_types.c has it
        if ! "$probe" --help 2>&1 | grep -- '--type TYPE' | grep -qw "$t"; then
            peer_skip "rust-vmm-$t" "vdpa-probe has no device type $t"
            continue
        fi
        bin=$(rv_bin "$t")
        if [[ -z $bin ]]; then
            peer_skip "rust-vmm-$t" "vhost-device-$t is not built (../shared/rust-vmm-peers/build.sh; looked in $RUSTVMM_OUT)"
            continue
        fi
        if [[ -z $commit ]]; then
            peer_skip "rust-vmm-$t" "cannot tell the vhost-device commit (set RUSTVMM_COMMIT)"
            continue
        fi
        column=rust-vmm-vhost-device-$commit:backend
        s=$w/rv-$t.sock
        case $t in
        rng)  rv_measure "rust-vmm-$t" "$t" "$column" "$s" "vhost-device-rng --socket-path PATH" \
                  "$bin" --socket-path "$s" ;;
        vsock) rv_measure "rust-vmm-$t" "$t" "$column" "$s" \
                  "vhost-device-vsock --vm guest-cid=4,socket=PATH,uds-path=UDS_PATH" \
                  "$bin" --vm "guest-cid=4,socket=$s,uds-path=$w/rv-vsock.uds" ;;
        scsi) truncate -s 16M "$w/rv-scsi.img"
              rv_measure "rust-vmm-$t" "$t" "$column" "$s" "vhost-device-scsi --socket-path PATH IMAGE" \
                  "$bin" --socket-path "$s" "$w/rv-scsi.img" ;;
        gpio) rv_measure "rust-vmm-$t" "$t" "$column" "$s" \
                  "vhost-device-gpio --socket-path PATH -l s8 (8 simulated lines)" \
                  "$bin" --socket-path "$s" -l s8 ;;
        i2c)  rv_measure "rust-vmm-$t" "$t" "$column" "$s" \
                  "VHOST_I2C_FAKE=1 vhost-device-i2c --socket-path PATH -l 1:32 (fake adapter, reads return zeros)" \
                  env VHOST_I2C_FAKE=1 "$bin" --socket-path "$s" -l 1:32 ;;
        sound) rv_measure "rust-vmm-$t" "$t" "$column" "$s" "vhost-device-sound --socket PATH --backend null" \
                  "$bin" --socket "$s" --backend null ;;
        console) port=$((20000 + $$ % 10000))
              rv_measure "rust-vmm-$t" "$t" "$column" "$s" "vhost-device-console --socket-path PATH -b network -p PORT" \
                  "$bin" --socket-path "$s" -b network -p "$port" ;;
        scmi) rv_measure "rust-vmm-$t" "$t" "$column" "$s" \
                  "vhost-device-scmi --socket-path PATH -d fake (standard output a pipe)" \
                  "$bin" --socket-path "$s" -d fake ;;
        esac
    done
}

# ---- QEMU's vhost-user-gpu ------------------------------------------------------------------
rv_probe_qemu_gpu() {
    local bin=${VHOST_USER_GPU:-/usr/lib/qemu/vhost-user-gpu} pkg ver
    wanted vhost-user-gpu || return 0
    if [[ ! -x $bin ]]; then
        peer_skip "vhost-user-gpu" "$bin is not installed (package qemu-system-gui)"
        return 0
    fi
    pkg=$(dpkg -S "$(readlink -f "$bin")" 2>/dev/null | cut -d: -f1)
    ver=$( { [[ -n $pkg ]] && dpkg-query -W -f '${Version}\n' "$pkg" 2>/dev/null; } | sed 's/^[0-9]*://' | major_minor)
    if [[ -z $ver ]]; then
        peer_skip "vhost-user-gpu" "cannot tell its version (no package owns $bin)"
        return 0
    fi
    rv_measure vhost-user-gpu gpu "qemu-vhost-user-gpu-$ver:backend" "$w/vug.sock" \
        "vhost-user-gpu --socket-path PATH (2D, no virgl)" "$bin" --socket-path "$w/vug.sock"
}
