# shellcheck shell=bash disable=SC2154  # $root, $w, $out, $probe: probe-all.sh's
# probe-qemu-root.sh: sourced by probe-all.sh (it uses its $w, $out, $root,
# $probe, pids, peer_skip, wanted, save, major_minor, qemu_args). Measures the
# front-ends of the QEMU in each Debian root (docs/peers.md, "Debian root
# environments"), the QEMU the live guest tests run:
#
#   QR_RELEASES, "RELEASE:PEER-NAME" words (default "trixie:qemu-10
#   bullseye:qemu-5"): QEMU 10.0 of the trixie root, QEMU 5.2 of the bullseye
#   root. Every vhost-user front-end type that the root's QEMU lists in
#   `-device help` (vhost-user-<type>-pci; sound is vhost-user-snd-pci) or, for
#   net, `-netdev help` (-netdev vhost-user), of the types vdpa-probe knows;
#   column qemu-<major.minor>:frontend, the version read from the program
#   (`tests/peers/run RELEASE qemu-system-x86_64 --version`). A type the
#   root's QEMU has no front-end for is a "SKIP PEER-NAME-<type>: ..." line.
#
# Measured like the host's QEMU (probe-all.sh, qemu_blk and qemu_realize):
# blk without -S (SeaBIOS starts the disk; SIGTERM once the debug console
# says "Booting from Hard Disk"), the others -S, no guest, the requests of
# device realize, then silence (the probe ends after QR_IDLE_MS). QEMU runs
# through tests/peers/run with the work directory (the probe's socket) bound,
# under TCG, as the guest tests run it; a device that QEMU refuses under TCG
# ("requires kvm": QEMU 5.2's input and gpu) is measured again under KVM
# when /dev/kvm is usable, its column noting needs-kvm yes. QR_PARALLEL devices are
# measured at once, each with its own probe and QEMU.
# Peer names (PROBE_ONLY): PEER-NAME-<type> (qemu-10-sound, qemu-5-net, ...).
# When a root is not built (or this is not root), one "SKIP PEER-NAME: <reason>".
#
# Notes appended to each column but blk's (compat-matrix/README.md):
#   needs-kvm             no: QEMU joined the probe under TCG (yes when its
#                         log says "requires kvm", as QEMU 7.2's does)
#   aborts-on-disconnect  yes when QEMU dies by SIGABRT within QR_ABORT_WAIT_S
#                         after the probe closed the connection (QEMU 10.0's
#                         snd, input, rng, gpio, i2c: "memory_region_del_eventfd:
#                         Assertion `i != mr->ioeventfd_nb' failed"), else no

QR_RELEASES=${QR_RELEASES:-trixie:qemu-10 bullseye:qemu-5}
QR_TYPES="net blk fs rng vsock scsi gpio i2c sound input gpu"
QR_IDLE_MS=2000        # realize sends its requests in one burst
QR_BLK_IDLE_MS=30000   # blk: the probe ends when QEMU, stopped, disconnects
QR_ACCEPT_MS=15000     # QEMU not joining at all (it refused the device) ends the probe
QR_BOOT_WAIT_S=60      # blk: how long SeaBIOS may take to reach the disk
QR_ABORT_WAIT_S=2      # how long QEMU may take to die after the probe left
QR_SIGABRT_STATUS=134  # 128 + SIGABRT: the status `wait` gives for an abort
QR_PARALLEL=${QR_PARALLEL:-4}  # devices measured at once (2 CPUs, TCG)

# qr_device TYPE: QEMU's vhost-user PCI device of TYPE.
qr_device() { if [[ $1 == sound ]]; then echo vhost-user-snd-pci; else echo "vhost-user-$1-pci"; fi; }

# qr_has REL TYPE: true when the root's QEMU has a vhost-user front-end of
# TYPE ($w/qr-REL.devices: its -device and -netdev lists).
qr_has() {
    if [[ $2 == net ]]; then grep -qx 'vhost-user' "$w/qr-$1.devices"
    else grep -q "\"$(qr_device "$2")\"" "$w/qr-$1.devices"; fi
}

# qr_start REL NAME TYPE COLUMN: a probe listening on $w/qr-NAME.sock, then
# the QEMU of root REL joining it; their pids in $w/qr-NAME.{probe,qemu}pid.
# 1 when the probe did not listen.
qr_start() {
    local rel=$1 name=$2 type=$3 column=$4 sock=$w/qr-$2.sock p idle=$QR_IDLE_MS dev
    # shellcheck disable=SC2054  # the commas are in QEMU option values
    case $type in
    net) dev=(-S -netdev vhost-user,id=n0,chardev=c0 -device virtio-net-pci,netdev=n0) ;;
    fs)  dev=(-S -device vhost-user-fs-pci,chardev=c0,tag=share0) ;;
    blk) dev=(-device vhost-user-blk-pci,chardev=c0,id=blk0,bootindex=1
              -chardev "file,id=dbg,path=$w/qr-$name.debugcon" -device isa-debugcon,iobase=0x402,chardev=dbg)
         idle=$QR_BLK_IDLE_MS ;;
    *)   dev=(-S -device "$(qr_device "$type"),chardev=c0") ;;
    esac
    rm -f "$sock"
    timeout 120 "$probe" --listen "$sock" --type "$type" --column "$column" \
        --idle-ms "$idle" --accept-ms "$QR_ACCEPT_MS" --output "$w/qr-$name.tsv" \
        ${RAW_DIR:+--raw-dir "$RAW_DIR"} 2>"$w/qr-$name.probe.log" &
    p=$!; pids+=("$p"); echo "$p" >"$w/qr-$name.probepid"
    if ! wait_for 5 test -S "$sock"; then
        peer_skip "$name" "vdpa-probe did not listen: $(tail -n 2 "$w/qr-$name.probe.log" | tr '\n' ' ')"
        return 1
    fi
    # no core file for the abort measured below
    # shellcheck disable=SC2046  # qemu_args is words
    (ulimit -c 0; exec "$root/tests/peers/run" --bind "$w" "$rel" qemu-system-x86_64 \
        $(qemu_args "$QR_ACCEL") -chardev "socket,id=c0,path=$sock" "${dev[@]}") \
        >"$w/qr-$name.qemu.log" 2>&1 &
    p=$!; pids+=("$p"); echo "$p" >"$w/qr-$name.qemupid"
    return 0
}

# qr_wait_probe NAME TYPE: waits for the probe (for blk, first stops QEMU
# once SeaBIOS reached the disk); its status in QR_RC.
qr_wait_probe() {
    local name=$1 type=$2 ppid qpid
    ppid=$(cat "$w/qr-$name.probepid") qpid=$(cat "$w/qr-$name.qemupid")
    QR_RC=0
    if [[ $type == blk ]]; then
        if ! wait_for "$QR_BOOT_WAIT_S" grep -q "Booting from Hard Disk" "$w/qr-$name.debugcon"; then
            echo "SeaBIOS did not reach the disk within $QR_BOOT_WAIT_S s" >>"$w/qr-$name.probe.log"
            kill "$ppid" 2>/dev/null
        fi
        stop_pid "$qpid"
    fi
    wait "$ppid" || QR_RC=$?
}

# qr_finish NAME TYPE COLUMN RC: measures the notes, stops QEMU, saves the
# column (the probe has ended with status RC).
qr_finish() {
    local name=$1 type=$2 column=$3 rc=$4 qpid qrc=0 kvm aborts=no
    qpid=$(cat "$w/qr-$name.qemupid")
    # (bash's "Aborted" notice for the expected abort goes to /dev/null)
    if ! kill -0 "$qpid" 2>/dev/null; then
        { wait "$qpid" || qrc=$?; } 2>/dev/null
        (( qrc == QR_SIGABRT_STATUS )) && aborts=yes
    else
        stop_pid "$qpid"
    fi
    if (( rc != 0 )); then
        peer_skip "$name" "vdpa-probe exited with status $rc: $(tail -n 2 "$w/qr-$name.probe.log" | tr '\n' ' ') QEMU: $(tail -n 2 "$w/qr-$name.qemu.log" | tr '\n' ' ')"
        return 1
    fi
    if [[ $type != blk ]]; then
        kvm=no
        grep -q 'requires kvm' "$w/qr-$name.qemu.log" && kvm=yes
        [[ -f $w/qr-$name.needs-kvm ]] && kvm=yes
        if [[ $kvm == yes && $QR_ACCEL == tcg && $(qemu_accel) == kvm ]]; then
            touch "$w/qr-$name.needs-kvm"   # measured again under KVM
            QR_RETRY+=("$type")
            return 0
        fi
        {
            printf 'note\t%s\taborts-on-disconnect\t%s\tprobe\n' "$column" "$aborts"
            printf 'note\t%s\tneeds-kvm\t%s\tprobe\n' "$column" "$kvm"
        } >>"$w/qr-$name.tsv"
    fi
    save "$type" "$column" "$w/qr-$name.tsv"
}

# qr_batch REL PEER COLUMN TYPE...: measures TYPEs at once.
qr_batch() {
    local rel=$1 peer=$2 column=$3 type ok=() rcs=() i qpid alive
    shift 3
    for type in "$@"; do qr_start "$rel" "$peer-$type" "$type" "$column" && ok+=("$type"); done
    # (bash's "Aborted" notices for the expected aborts go to /dev/null)
    for type in "${ok[@]}"; do qr_wait_probe "$peer-$type" "$type" 2>/dev/null; rcs+=("$QR_RC"); done
    # one shared wait for the QEMUs that die once their probe has left
    for (( i = 0; i < QR_ABORT_WAIT_S * 10; i++ )); do
        alive=0
        for type in "${ok[@]}"; do
            [[ $type == blk ]] && continue
            qpid=$(cat "$w/qr-$peer-$type.qemupid")
            kill -0 "$qpid" 2>/dev/null && alive=1
        done
        (( alive )) || break
        sleep 0.1
    done 2>/dev/null
    for i in "${!ok[@]}"; do qr_finish "$peer-${ok[$i]}" "${ok[$i]}" "$column" "${rcs[$i]}"; done
}

# qr_probe_release REL PEER: every front-end type of the QEMU of root REL.
qr_probe_release() {
    local rel=$1 peer=$2 type ver why started=() batch=() known
    QR_ACCEL=tcg QR_RETRY=()
    for type in $QR_TYPES; do wanted "$peer-$type" && started+=("$type"); done
    (( ${#started[@]} > 0 )) || return 0
    if ! ver=$("$root/tests/peers/run" "$rel" qemu-system-x86_64 --version 2>"$w/qr-$rel.err"); then
        why=$(tail -n 1 "$w/qr-$rel.err")
        peer_skip "$peer" "QEMU of the $rel root does not run: ${why:-no reason given}"
        return 0
    fi
    ver=$(major_minor <<<"$ver")
    if [[ -z $ver ]]; then
        peer_skip "$peer" "cannot tell the version of the $rel root's QEMU"
        return 0
    fi
    { "$root/tests/peers/run" "$rel" qemu-system-x86_64 -device help
      "$root/tests/peers/run" "$rel" qemu-system-x86_64 -netdev help; } >"$w/qr-$rel.devices" 2>&1
    known=$("$probe" --help 2>&1 | grep -- '--type TYPE')
    for type in "${started[@]}"; do
        if ! grep -qw "$type" <<<"$known"; then
            peer_skip "$peer-$type" "vdpa-probe has no device type $type"
        elif ! qr_has "$rel" "$type"; then
            if [[ $type == net ]]; then why="-netdev vhost-user"; else why=$(qr_device "$type"); fi
            peer_skip "$peer-$type" "QEMU $ver of the $rel root has no $why"
        else
            batch+=("$type")
            if (( ${#batch[@]} == QR_PARALLEL )); then
                qr_batch "$rel" "$peer" "qemu-$ver:frontend" "${batch[@]}"; batch=()
            fi
        fi
    done
    (( ${#batch[@]} == 0 )) || qr_batch "$rel" "$peer" "qemu-$ver:frontend" "${batch[@]}"
    if (( ${#QR_RETRY[@]} > 0 )); then
        batch=("${QR_RETRY[@]}")
        QR_ACCEL=kvm QR_RETRY=()
        qr_batch "$rel" "$peer" "qemu-$ver:frontend" "${batch[@]}"
        QR_ACCEL=tcg
    fi
    return 0
}

qr_probe_all() {
    local r
    for r in $QR_RELEASES; do qr_probe_release "${r%%:*}" "${r#*:}"; done
}
