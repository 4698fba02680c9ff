# shellcheck shell=bash disable=SC2154  # $root, $w, $out, $probe: probe-all.sh's
# probe-qemu-root.sh: sourced by probe-all.sh (it uses its $w, $out, $root,
# $probe, pids, peer_skip, wanted, save, major_minor, qemu_args). Measures the
# front-ends of the QEMU in a Debian root (docs/peers.md, "Debian root
# environments"), the QEMU the live guest tests run:
#
#   QEMU 10.0 of the trixie root (QR_RELEASE): vhost-user-snd-pci (QEMU 7.2
#   has no sound front-end), vhost-user-input-pci and vhost-user-gpu-pci;
#   column qemu-<major.minor>:frontend, the version read from the program
#   (`tests/peers/run trixie qemu-system-x86_64 --version`).
#
# Measured like QEMU 7.2's (probe-all.sh, qemu_realize): -S, no guest, the
# requests of device realize, then silence (the probe ends after
# QR_IDLE_MS). QEMU runs through tests/peers/run with the work directory
# (the probe's socket) bound, always under TCG, as the guest tests run it.
# The three devices are measured at once: each has its own probe and QEMU.
# Peer names (PROBE_ONLY): qemu-10-sound, qemu-10-input, qemu-10-gpu. When
# the root is not built (or this is not root), one "SKIP qemu-10: <reason>".
#
# Notes appended to each column (compat-matrix/README.md):
#   needs-kvm             no: QEMU joined the probe under TCG (yes when its
#                         log says "requires kvm", as QEMU 7.2's does)
#   aborts-on-disconnect  yes when QEMU dies by SIGABRT within QR_ABORT_WAIT_S
#                         after the probe closed the connection (QEMU 10.0's
#                         snd and input: "memory_region_del_eventfd:
#                         Assertion `i != mr->ioeventfd_nb' failed"), else no

QR_RELEASE=${QR_RELEASE:-trixie}
QR_TYPES="sound input gpu"
QR_IDLE_MS=2000        # realize sends its requests in one burst
QR_ACCEPT_MS=15000     # QEMU not joining at all (it refused the device) ends the probe
QR_ABORT_WAIT_S=2      # how long QEMU may take to die after the probe left
QR_SIGABRT_STATUS=134  # 128 + SIGABRT: the status `wait` gives for an abort

# qr_device TYPE: QEMU's vhost-user PCI device of TYPE.
qr_device() { if [[ $1 == sound ]]; then echo vhost-user-snd-pci; else echo "vhost-user-$1-pci"; fi; }

# qr_start TYPE COLUMN: a probe listening on $w/qr-TYPE.sock, then QEMU of the
# root joining it; their pids in $w/qr-TYPE.{probe,qemu}pid. 1 when the probe
# did not listen.
qr_start() {
    local type=$1 column=$2 sock=$w/qr-$1.sock p
    rm -f "$sock"
    timeout 60 "$probe" --listen "$sock" --type "$type" --column "$column" \
        --idle-ms "$QR_IDLE_MS" --accept-ms "$QR_ACCEPT_MS" --output "$w/qr-$type.tsv" \
        ${RAW_DIR:+--raw-dir "$RAW_DIR"} 2>"$w/qr-$type.probe.log" &
    p=$!; pids+=("$p"); echo "$p" >"$w/qr-$type.probepid"
    if ! wait_for 5 test -S "$sock"; then
        peer_skip "qemu-10-$type" "vdpa-probe did not listen: $(tail -n 2 "$w/qr-$type.probe.log" | tr '\n' ' ')"
        return 1
    fi
    # no core file for the abort measured below
    # shellcheck disable=SC2046  # qemu_args is words
    (ulimit -c 0; exec "$root/tests/peers/run" --bind "$w" "$QR_RELEASE" qemu-system-x86_64 \
        $(qemu_args tcg) -S -chardev "socket,id=c0,path=$sock" \
        -device "$(qr_device "$type"),chardev=c0") >"$w/qr-$type.qemu.log" 2>&1 &
    p=$!; pids+=("$p"); echo "$p" >"$w/qr-$type.qemupid"
    return 0
}

# qr_finish TYPE COLUMN: waits for the probe, measures the notes, stops QEMU,
# saves the column.
qr_finish() {
    local type=$1 column=$2 ppid qpid rc=0 qrc=0 kvm aborts=no
    ppid=$(cat "$w/qr-$type.probepid") qpid=$(cat "$w/qr-$type.qemupid")
    wait "$ppid" || rc=$?
    # (bash's "Aborted" notice for the expected abort goes to /dev/null)
    if wait_for "$QR_ABORT_WAIT_S" eval "! kill -0 $qpid 2>/dev/null" 2>/dev/null; then
        { wait "$qpid" || qrc=$?; } 2>/dev/null
        (( qrc == QR_SIGABRT_STATUS )) && aborts=yes
    else
        stop_pid "$qpid"
    fi
    if (( rc != 0 )); then
        peer_skip "qemu-10-$type" "vdpa-probe exited with status $rc: $(tail -n 2 "$w/qr-$type.probe.log" | tr '\n' ' ') QEMU: $(tail -n 2 "$w/qr-$type.qemu.log" | tr '\n' ' ')"
        return 1
    fi
    kvm=no
    grep -q 'requires kvm' "$w/qr-$type.qemu.log" && kvm=yes
    {
        printf 'note\t%s\taborts-on-disconnect\t%s\tprobe\n' "$column" "$aborts"
        printf 'note\t%s\tneeds-kvm\t%s\tprobe\n' "$column" "$kvm"
    } >>"$w/qr-$type.tsv"
    save "$type" "$column" "$w/qr-$type.tsv"
}

qr_probe_all() {
    local type ver why started=()
    for type in $QR_TYPES; do wanted "qemu-10-$type" && started+=("$type"); done
    (( ${#started[@]} > 0 )) || return 0
    if ! ver=$("$root/tests/peers/run" "$QR_RELEASE" qemu-system-x86_64 --version 2>"$w/qr-version.err"); then
        why=$(tail -n 1 "$w/qr-version.err")
        peer_skip "qemu-10" "QEMU of the $QR_RELEASE root does not run: ${why:-no reason given}"
        return 0
    fi
    ver=$(major_minor <<<"$ver")
    if [[ -z $ver ]]; then
        peer_skip "qemu-10" "cannot tell the version of the $QR_RELEASE root's QEMU"
        return 0
    fi
    local ok=()
    for type in "${started[@]}"; do
        qr_start "$type" "qemu-$ver:frontend" && ok+=("$type")
    done
    for type in "${ok[@]}"; do qr_finish "$type" "qemu-$ver:frontend"; done
    return 0
}
