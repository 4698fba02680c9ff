#!/usr/bin/env bash
# probe-all.sh OUTDIR: starts every real vhost-user peer that starts on this
# machine, measures it with vdpa-probe and writes OUTDIR/<type>.<column>.tsv
# (the msg/offer/order records of compat-matrix/README.md).
#
#   back-ends (vdpa-probe --connect):  vdpa-backend (every type it serves),
#                                      DPDK net_vhost, qemu-storage-daemon,
#                                      virtiofsd, and in probe-rustvmm.sh
#                                      rust-vmm vhost-device-{rng,vsock,scsi,
#                                      gpio,i2c,sound,console,scmi} and QEMU's
#                                      vhost-user-gpu; in probe-roots.sh the
#                                      same programs of the Debian roots
#                                      (qemu-storage-daemon, virtiofsd, vhost-
#                                      user-gpu, DPDK of trixie and bullseye)
#   front-ends (vdpa-probe --listen):  DPDK virtio-user, QEMU (blk, fs, net,
#                                      rng, vsock, scsi, gpio, i2c, input, gpu)
#                                      and in probe-qemu-root.sh the QEMU of
#                                      each Debian root (10.0 of trixie, 5.2
#                                      of bullseye), every type it has
#
# Column names carry the program's major.minor version, read from the
# program (or its package). A peer that cannot start is reported on stderr as
# "SKIP <peer>: <reason>" and the others are still measured. The last line
# on stdout is a summary. Exit status: 0, or 2 for bad usage.
#
# How each front-end is driven, so that its request sequence is the same on
# every run:
#  - DPDK virtio-user: testpmd brings the port up at start; `quit` stops it
#    (GET_VRING_BASE) and closes the connection, which ends the probe.
#  - QEMU blk: no -S; SeaBIOS initialises the disk (DRIVER_OK: the vhost
#    start) and then waits for ever for the first sector, which the probe
#    never serves; once the debug console shows "Booting from Hard Disk",
#    SIGTERM makes QEMU stop the device and close the connection.
#  - QEMU fs, net, rng, vsock, scsi, gpio, i2c, input and gpu: -S, no guest:
#    the requests of device realize, then silence (the probe ends after
#    --idle-ms). input and gpu need KVM (QEMU 7.2 refuses them under TCG:
#    "vhost initialization failed: requires kvm"), which is measured and
#    recorded as a `needs-kvm` note of the column.
#  - The QEMU of a root (probe-qemu-root.sh): the same, through
#    tests/peers/run, under TCG (QEMU 10.0's input and gpu accept it).
#
# Environment: BUILD (build directory, default build), PROBE_ONLY (run only
# the peers whose name contains this text), DPDK_* (see tests/e2e/lib/dpdk.sh),
# RUSTVMM_OUT, RUSTVMM_COMMIT, VHOST_USER_GPU (see probe-rustvmm.sh), QR_RELEASES,
# QR_PARALLEL (see probe-qemu-root.sh), RB_PEERS (see probe-roots.sh).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)

build=$root/${BUILD:-build}
probe=$build/vdpa-probe
# shellcheck source=tests/e2e/lib/common.sh
. "$root/tests/e2e/lib/common.sh"
# shellcheck source=tests/e2e/lib/dpdk.sh
. "$root/tests/e2e/lib/dpdk.sh"
# shellcheck source=tests/matrix/probe-rustvmm.sh
. "$root/tests/matrix/probe-rustvmm.sh"
# shellcheck source=tests/matrix/probe-qemu-root.sh
. "$root/tests/matrix/probe-qemu-root.sh"
# shellcheck source=tests/matrix/probe-roots.sh
. "$root/tests/matrix/probe-roots.sh"

w=$(mktemp -d "${TMPDIR:-/tmp}/probe-all.XXXXXX")
DPDK_WORKDIR=$w/dpdk
export DPDK_WORKDIR
mkdir -p "$DPDK_WORKDIR"
measured=()
skipped=()
pids=()            # background processes this script started

# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local pid f
    rm -f "$w"/*.run
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for f in "$w"/*.peerpid "$w"/*.vfspid; do [[ -f $f ]] && kill -KILL "$(cat "$f")" 2>/dev/null; done
    dpdk_stop_all
    wait 2>/dev/null
    rm -rf "$w"
}
trap cleanup EXIT

peer_skip() { skipped+=("$1"); echo "SKIP $1: $2" >&2; }
wanted() { [[ -z ${PROBE_ONLY:-} || $1 == *"$PROBE_ONLY"* ]]; }

# major.minor of the first "N.N" in the text on stdin
major_minor() { grep -oE '[0-9]+\.[0-9]+' | head -n 1; }

# stop_pid PID: SIGTERM, then reap.
stop_pid() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; return 0; }

# save TYPE COLUMN TMPFILE: the measured records become OUTDIR/<type>.<column>.tsv
save() {
    mv "$3" "$out/$1.$2.tsv"
    measured+=("$1.$2")
    echo "measured $1 $2: $(grep -c . "$out/$1.$2.tsv") records" >&2
}

# probe_backend NAME TYPE COLUMN SOCKET: vdpa-probe --connect.
probe_backend() {
    local name=$1 type=$2 column=$3 sock=$4 rc=0 tmp
    tmp=$w/$name.tsv
    timeout 120 "$probe" --connect "$sock" --type "$type" --column "$column" --output "$tmp" \
        2>"$w/$name.probe.log" || rc=$?
    if (( rc != 0 )); then
        peer_skip "$name" "vdpa-probe exited with status $rc: $(tail -n 2 "$w/$name.probe.log" | tr '\n' ' ')"
        return 1
    fi
    save "$type" "$column" "$tmp"
}

# probe_listen_start NAME TYPE COLUMN SOCKET IDLE_MS: vdpa-probe --listen in
# the background (PROBE_PID); probe_listen_finish NAME TYPE COLUMN saves.
probe_listen_start() {
    local name=$1 type=$2 column=$3 sock=$4 idle=$5
    rm -f "$sock"
    # RAW_DIR=dir: also keep every request as a fuzz seed (tests/fuzz/fuzz_message.c)
    timeout 120 "$probe" --listen "$sock" --type "$type" --column "$column" --idle-ms "$idle" \
        --output "$w/$name.tsv" ${RAW_DIR:+--raw-dir "$RAW_DIR"} 2>"$w/$name.probe.log" &
    PROBE_PID=$!
    pids+=("$PROBE_PID")
    wait_for 5 test -S "$sock"
}

probe_listen_finish() {
    local name=$1 type=$2 column=$3 rc=0
    wait "$PROBE_PID" || rc=$?
    if (( rc != 0 )); then
        peer_skip "$name" "vdpa-probe exited with status $rc: $(tail -n 2 "$w/$name.probe.log" | tr '\n' ' ')"
        return 1
    fi
    save "$type" "$column" "$w/$name.tsv"
}

[[ -x $probe ]] || { echo "probe-all: $probe is missing (run make first)" >&2; exit 2; }

# ---- the reference back-end: every type its --help names ----------------------------------
vb_types=$("$build/vdpa-backend" --help 2>&1 | grep -oE -- '--type [a-z|]+' | head -n 1 | cut -d' ' -f2 | tr '|' ' ')
for type in $vb_types; do
    wanted "vdpa-backend-$type" || continue
    args=(--socket "$w/vb-$type.sock" --type "$type")
    if [[ $type == blk ]]; then truncate -s 64M "$w/vb.img"; args+=(--disk "$w/vb.img"); fi
    "$build/vdpa-backend" "${args[@]}" 2>"$w/vb-$type.log" &
    pid=$!; pids+=("$pid")
    if wait_for 5 test -S "$w/vb-$type.sock"; then
        probe_backend "vdpa-backend-$type" "$type" "vdpa-backend:backend" "$w/vb-$type.sock"
    else
        peer_skip "vdpa-backend-$type" "did not start: $(tail -n 2 "$w/vb-$type.log" | tr '\n' ' ')"
    fi
    stop_pid "$pid"
done

# ---- DPDK -----------------------------------------------------------------------------------
# probe_dpdk NAME VERSION: net_vhost (back-end) and virtio-user (front-end) of
# the dpdk-testpmd dpdk.sh runs (DPDK_TESTPMD), peers NAME-net_vhost and
# NAME-virtio-user, columns dpdk-VERSION-{net_vhost:backend,virtio-user:frontend}.
probe_dpdk() {
    local name=$1 ver=$2
    if dpdk_start_vhost_backend be "$w/$name-be.sock" 1 2>"$w/$name-be.err"; then
        probe_backend "$name-net_vhost" net "dpdk-$ver-net_vhost:backend" "$w/$name-be.sock"
        dpdk_stop be
    else
        peer_skip "$name-net_vhost" "net_vhost did not start: $(tail -n 2 "$w/$name-be.err" | tr '\n' ' ')"
    fi
    probe_listen_start "$name-virtio-user" net "dpdk-$ver-virtio-user:frontend" "$w/$name-fe.sock" 20000
    if dpdk_start_virtio_user fe "$w/$name-fe.sock" 1 2>"$w/$name-fe.err"; then
        dpdk_stop fe     # quit: the port stops, the connection closes
        probe_listen_finish "$name-virtio-user" net "dpdk-$ver-virtio-user:frontend"
    else
        kill "$PROBE_PID" 2>/dev/null; wait "$PROBE_PID" 2>/dev/null
        peer_skip "$name-virtio-user" "virtio-user did not start: $(tail -n 2 "$w/$name-fe.err" | tr '\n' ' ')"
    fi
}

if wanted dpdk; then
    if ! dpdk_available 2>"$w/dpdk-avail.log"; then
        peer_skip "dpdk-net_vhost" "${_DPDK_UNAVAILABLE_REASON:-testpmd cannot start}"
        peer_skip "dpdk-virtio-user" "${_DPDK_UNAVAILABLE_REASON:-testpmd cannot start}"
    else
        bin=$(_dpdk_testpmd)
        pkg=$(dpkg -S "$(readlink -f "$bin")" 2>/dev/null | cut -d: -f1)
        ver=$( { [[ -n $pkg ]] && dpkg-query -W -f '${Version}\n' "$pkg" 2>/dev/null; } | major_minor)
        [[ -n $ver ]] || ver=$(pkg-config --modversion libdpdk 2>/dev/null | major_minor)
        if [[ -z $ver ]]; then
            peer_skip "dpdk" "cannot tell the DPDK version of $bin"
        else
            probe_dpdk dpdk "$ver"
        fi
    fi
fi

# ---- qemu-storage-daemon ---------------------------------------------------------------------
# probe_qsd NAME VERSION [RUN...]: `RUN qemu-storage-daemon` (RUN: nothing, or
# tests/peers/run of a root) exporting a 64 MiB file.
probe_qsd() {
    local name=$1 ver=$2 pid
    shift 2
    truncate -s 64M "$w/$name.img"
    "$@" qemu-storage-daemon --blockdev "driver=file,node-name=file0,filename=$w/$name.img" \
        --export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$w/$name.sock,writable=on" \
        >"$w/$name.log" 2>&1 &
    pid=$!; pids+=("$pid")
    if wait_for 10 test -S "$w/$name.sock"; then
        probe_backend "$name" blk "qemu-storage-daemon-$ver:backend" "$w/$name.sock"
    else
        peer_skip "$name" "did not start: $(tail -n 2 "$w/$name.log" | tr '\n' ' ')"
    fi
    stop_pid "$pid"
}

if wanted qemu-storage-daemon; then
    if ! command -v qemu-storage-daemon >/dev/null; then
        peer_skip "qemu-storage-daemon" "not installed"
    else
        ver=$(qemu-storage-daemon --version 2>/dev/null | major_minor)
        if [[ -z $ver ]]; then
            peer_skip "qemu-storage-daemon" "cannot tell its version"
        else
            probe_qsd qemu-storage-daemon "$ver"
        fi
    fi
fi

# ---- virtiofsd (QEMU's C daemon: one connection per process) ---------------------------------
# probe_cvfsd NAME VERSION BIN [RUN...]: `RUN BIN`, restarted for each
# connection the probe makes (it serves one front-end and exits).
probe_cvfsd() {
    local name=$1 ver=$2 bin=$3 pid
    shift 3
    mkdir -p "$w/$name.share"
    touch "$w/$name.run"
    (
        while [[ -e $w/$name.run ]]; do
            "$@" "$bin" --socket-path="$w/$name.sock" -o source="$w/$name.share" -o cache=none \
                -o sandbox=chroot >>"$w/$name.log" 2>&1 &
            echo $! >"$w/$name.vfspid"
            wait $!
        done
    ) &
    pid=$!; pids+=("$pid")
    if wait_for 10 test -S "$w/$name.sock"; then
        probe_backend "$name" fs "virtiofsd-$ver:backend" "$w/$name.sock"
    else
        peer_skip "$name" "did not start: $(tail -n 2 "$w/$name.log" | tr '\n' ' ')"
    fi
    rm -f "$w/$name.run"
    kill -TERM "$(cat "$w/$name.vfspid" 2>/dev/null)" 2>/dev/null
    stop_pid "$pid"
}

virtiofsd=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
if wanted virtiofsd; then
    if [[ ! -x $virtiofsd ]]; then
        peer_skip "virtiofsd" "$virtiofsd is not installed"
    else
        ver=$("$virtiofsd" --version 2>/dev/null | major_minor)
        if [[ -z $ver ]]; then
            peer_skip "virtiofsd" "cannot tell its version"
        else
            probe_cvfsd virtiofsd "$ver" "$virtiofsd"
        fi
    fi
fi

# ---- QEMU as front-end --------------------------------------------------------------------------
# qemu_blk COLUMN: SeaBIOS drives the disk (the vhost start); SIGTERM stops it.
qemu_blk() {
    local column=$1 qpid
    probe_listen_start qemu-blk blk "$column" "$w/qemu-blk.sock" 30000
    # shellcheck disable=SC2046
    qemu-system-x86_64 $(qemu_args "$(qemu_accel)") \
        -chardev "socket,id=c0,path=$w/qemu-blk.sock" \
        -device vhost-user-blk-pci,chardev=c0,id=blk0,bootindex=1 \
        -chardev "file,id=dbg,path=$w/debugcon.log" -device isa-debugcon,iobase=0x402,chardev=dbg \
        >"$w/qemu-blk.log" 2>&1 &
    qpid=$!; pids+=("$qpid")
    if wait_for 60 grep -q "Booting from Hard Disk" "$w/debugcon.log"; then
        stop_pid "$qpid"
        probe_listen_finish qemu-blk blk "$column"
    else
        stop_pid "$qpid"; kill "$PROBE_PID" 2>/dev/null; wait "$PROBE_PID" 2>/dev/null
        peer_skip "qemu-blk" "SeaBIOS did not reach the disk within 60 s: $(tail -n 2 "$w/qemu-blk.log" | tr '\n' ' ')"
    fi
}

# qemu_realize TYPE COLUMN: -S, no guest: the requests of device realize.
qemu_realize() {
    local type=$1 column=$2 qpid dev
    # shellcheck disable=SC2054  # the commas are in QEMU option values
    case $type in
    fs)  dev=(-chardev "socket,id=c0,path=$w/qemu-$type.sock"
              -device vhost-user-fs-pci,chardev=c0,tag=share0) ;;
    net) dev=(-chardev "socket,id=c0,path=$w/qemu-$type.sock"
              -netdev vhost-user,id=n0,chardev=c0 -device virtio-net-pci,netdev=n0) ;;
    *)   dev=(-chardev "socket,id=c0,path=$w/qemu-$type.sock"
              -device "vhost-user-$type-pci,chardev=c0") ;;
    esac
    if [[ $type == input || $type == gpu ]] && [[ $(qemu_accel) != kvm ]]; then
        peer_skip "qemu-$type" "QEMU's vhost-user-$type-pci needs KVM (\"requires kvm\" under TCG) and /dev/kvm is not usable"
        return 1
    fi
    probe_listen_start "qemu-$type" "$type" "$column" "$w/qemu-$type.sock" 3000
    # shellcheck disable=SC2046
    qemu-system-x86_64 $(qemu_args "$(qemu_accel)") -S "${dev[@]}" >"$w/qemu-$type.log" 2>&1 &
    qpid=$!; pids+=("$qpid")
    probe_listen_finish "qemu-$type" "$type" "$column" || { stop_pid "$qpid"; return 1; }
    stop_pid "$qpid"
    if [[ $type == input || $type == gpu ]]; then
        qemu_needs_kvm "$type" && printf 'note\t%s\tneeds-kvm\tyes\tprobe\n' "$column" >>"$out/$type.$column.tsv"
    fi
    return 0
}

# qemu_needs_kvm TYPE: true when QEMU refuses the device under TCG (it says
# so at realize, before it connects: a listening chardev nobody joins).
qemu_needs_kvm() {
    # shellcheck disable=SC2046
    timeout 20 qemu-system-x86_64 $(qemu_args tcg) -S \
        -chardev "socket,id=c0,path=$w/nk-$1.sock,server=on,wait=off" \
        -device "vhost-user-$1-pci,chardev=c0" >"$w/nk-$1.log" 2>&1
    grep -q 'requires kvm' "$w/nk-$1.log"
}

qemu_realize_types="fs net rng vsock scsi gpio i2c input gpu"
qemu_wanted=0
for type in blk $qemu_realize_types; do wanted "qemu-$type" && qemu_wanted=1; done
if (( qemu_wanted )); then
    if ! command -v qemu-system-x86_64 >/dev/null; then
        peer_skip "qemu-system-x86_64" "not installed"
    else
        ver=$(qemu-system-x86_64 --version 2>/dev/null | major_minor)
        if [[ -z $ver ]]; then
            peer_skip "qemu-system-x86_64" "cannot tell its version"
        else
            wanted qemu-blk && qemu_blk "qemu-$ver:frontend"
            for type in $qemu_realize_types; do
                wanted "qemu-$type" && qemu_realize "$type" "qemu-$ver:frontend"
            done
        fi
    fi
fi

# ---- the QEMU of a Debian root as front-end (probe-qemu-root.sh) ------------------------------
qr_probe_all

# ---- back-ends started as one command line (probe-rustvmm.sh) -------------------------------
rv_probe_all
rv_probe_qemu_gpu

# ---- the back-ends of the Debian roots (probe-roots.sh) -----------------------------------------
rb_probe_all

echo "probe-all: ${#measured[@]} columns measured${measured[*]:+ (${measured[*]})}, ${#skipped[@]} peers skipped${skipped[*]:+ (${skipped[*]})}"
exit 0
