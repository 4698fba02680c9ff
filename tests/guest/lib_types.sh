# shellcheck shell=bash
# lib_types.sh - the guest tests of the device types served by rust-vmm's
# vhost-device back-ends (rng, vsock, scsi; /work/shared/rust-vmm-peers):
# the back-ends, the shims in pass-through or in the up+down chain, the
# scenarios' QEMU devices and host-side checks. Sourced after
# tests/e2e/lib/common.sh and tests/guest/lib.sh.
#
#   types_bin NAME                 TYPES_BIN=the back-end binary, or skip
#   types_rng_be W                 vhost-device-rng   (TYPES_BE_SOCK)
#   types_vsock_be W CID           vhost-device-vsock, hybrid (TYPES_BE_SOCK,
#                                  TYPES_VSOCK_UDS)
#   types_scsi_be W IMAGE          vhost-device-scsi serving IMAGE
#   types_shims W TYPE pass|chain  shim (#1 on W/fe.sock, trace W/trace.txt)
#                                  and in a chain shim #2 (W/mid.sock,
#                                  W/trace-down.txt), both with check=
#   types_guest_rng|vsock|scsi W NAME ...   the scenario and its host checks
#   types_end W pass|chain         the sessions ended, the modes the traces
#                                  show, every shim stopped cleanly with no
#                                  `: check: ` line in its log
#   types_cleanup W                the EXIT trap
#
# The back-end binaries: tests/e2e/lib/rustvmm.sh's rustvmm_bin when that
# file exists, else RUSTVMM_OUT (the peers' build output) here; a missing
# binary skips the test loudly.

RUSTVMM_OUT=${RUSTVMM_OUT:-/var/cache/vdpa-shim/peers/trixie-rust/out}
[[ ! -f $E2E_ROOT/tests/e2e/lib/rustvmm.sh ]] || . "$E2E_ROOT/tests/e2e/lib/rustvmm.sh"
TYPES_W="" TYPES_QEMU=() TYPES_BE_PID="" TYPES_BE_SOCK="" TYPES_BIN="" TYPES_HOST_PID="" TYPES_VSOCK_UDS=""

# types_bin NAME: TYPES_BIN = the path of the rust-vmm back-end
# vhost-device-NAME (rng, vsock, scsi); skips the test when it is not built.
types_bin() {
    local out rc=0
    if declare -F rustvmm_bin >/dev/null; then
        # rustvmm_bin prints its SKIP line on stderr and exits 77
        out=$(rustvmm_bin "$1") || rc=$?
        (( rc == 0 )) || { (( rc == 77 )) && exit 77; fail "rustvmm_bin $1 failed (exit $rc)"; }
        TYPES_BIN=$out
        return 0
    fi
    TYPES_BIN=$RUSTVMM_OUT/vhost-device-$1
    [[ -x $TYPES_BIN ]] ||
        skip "the rust-vmm back-end vhost-device-$1 is not built: $TYPES_BIN is missing (/work/shared/rust-vmm-peers/build.sh builds it)"
}

# _types_be_start W SOCK NAME ARGS...: vhost-device-NAME with ARGS, log in
# W/be.log; it must create SOCK within 10 s, else the test skips.
_types_be_start() {
    local w=$1 sock=$2 name=$3
    shift 3
    types_bin "$name"
    "$TYPES_BIN" "$@" >"$w/be.log" 2>&1 &
    TYPES_BE_PID=$!
    TYPES_BE_SOCK=$sock
    wait_for 10 test -S "$sock" || skip "vhost-device-$name did not start: $(tail -n 3 "$w/be.log")"
    echo "back-end: vhost-device-$name (pid $TYPES_BE_PID) on $sock"
}

# types_rng_be W: vhost-device-rng (from /dev/urandom); --socket-path X
# listens on X0.
types_rng_be() { _types_be_start "$1" "$1/be.sock0" rng --socket-path "$1/be.sock"; }

# types_vsock_be W CID: vhost-device-vsock in hybrid mode for a guest with
# CID: a guest's connection to CID 2 port P reaches the unix socket
# TYPES_VSOCK_UDS_P on the host.
types_vsock_be() {
    TYPES_VSOCK_UDS=$1/vsock.sock
    _types_be_start "$1" "$1/be.sock" vsock --vm "guest-cid=$2,socket=$1/be.sock,uds-path=$TYPES_VSOCK_UDS"
}

# types_scsi_be W IMAGE: vhost-device-scsi serving IMAGE as LUN 0 (it exits
# when its front-end disconnects).
types_scsi_be() { _types_be_start "$1" "$1/be.sock" scsi --socket-path "$1/be.sock" "$2"; }

# types_shims W TYPE MODE: MODE pass: one shim, W/fe.sock to the back-end;
# MODE chain: shim #2 (down) from W/mid.sock to the back-end, shim #1 (up)
# from W/fe.sock to W/mid.sock. Every shim runs with check=compat-matrix.
types_shims() {
    local w=$1 type=$2 mode=$3 be=$TYPES_BE_SOCK check=check=$E2E_ROOT/compat-matrix
    if [[ $mode == chain ]]; then
        # shellcheck disable=SC2034 # lib.sh's guest_down_shim_stop/_tail and guest_fail read these
        GUEST_DOWN_DIR=$w
        "$SHIM_BIN" --device "type=$type,id=down0,frontend=$w/mid.sock,backend=$be,$check" \
            --trace "$w/trace-down.txt" 2>"$w/shim-down.log" &
        GUEST_DOWN_PID=$!
        wait_for 5 test -S "$w/mid.sock" || fail "shim #2 did not create its socket: $(tail -n 3 "$w/shim-down.log")"
        be=$w/mid.sock
    fi
    TYPES_W=$w
    # shellcheck disable=SC2034 # guest_fail (lib.sh) calls it
    GUEST_FAIL_HOOK=_types_fail_hook
    shim_start "$w/shim.log" --device "type=$type,id=${type}0,frontend=$w/fe.sock,backend=$be,$check" --trace "$w/trace.txt"
    wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket: $(tail -n 3 "$w/shim.log")"
}

# types_end W MODE: the session ended after the guest powered off; in a
# chain shim #1 up-converted and shim #2 down-converted; every shim exits 0
# on SIGTERM and its compatibility check reported nothing (shim_stop,
# guest_down_shim_stop).
types_end() {
    local w=$1
    wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "the session did not end after the guest powered off"
    if [[ $2 == chain ]]; then
        grep -q 'up-conversion begins' "$w/trace.txt" ||
            guest_fail "$w" g "shim #1 did not up-convert (shim #2 offered: $(_types_offer "$w/trace.txt"))"
        grep -q 'down-conversion begins' "$w/trace-down.txt" ||
            guest_fail "$w" g "shim #2 did not down-convert (the back-end offered: $(_types_offer "$w/trace-down.txt"))"
        wait_for 10 grep -q "session ended" "$w/shim-down.log" || guest_fail "$w" g "shim #2's session did not end"
    fi
    shim_stop
    guest_down_shim_stop
}

# _types_fail_hook: on a failure, shim #2's tails (a chain), and a note when
# the guest never got to Linux's /init (nothing on its console): SeaBIOS
# drives a virtio-scsi (and virtio-blk) disk before the kernel boots, with
# one request queue only, so a device that never starts hangs the firmware.
_types_fail_hook() {
    [[ -z ${GUEST_DOWN_PID:-} ]] || guest_down_shim_tail
    [[ -n $TYPES_W && ! -s $TYPES_W/g.console ]] || return 0
    echo "NOTE: the guest printed nothing: it never reached Linux's /init. SeaBIOS drives virtio-scsi and virtio-blk disks first (one request queue set up, every ring enabled); shim #1's trace above shows whether the device was ever started (DRIVER_OK)."
}

# _types_offer TRACE: the protocol features the back-end offered, from TRACE.
_types_offer() { grep -m1 -o 'GET_PROTOCOL_FEATURES reply.*' "$1" | cut -d' ' -f3-; }

types_cleanup() {
    guest_stop_all; shim_kill
    _guest_kill_pid "${GUEST_DOWN_PID:-}"; _guest_kill_pid "$TYPES_BE_PID"; _guest_kill_pid "$TYPES_HOST_PID"
    guest_cleanup_dir "$1"
}

# types_dev TYPE W [OPTS]: TYPES_QEMU=the QEMU arguments of a vhost-user
# TYPE device on W/fe.sock, with ",OPTS" added to -device.
types_dev() { TYPES_QEMU=(-chardev "socket,id=c0,path=$2/fe.sock" -device "vhost-user-$1-pci,chardev=c0${3:+,$3}$(guest_vhost_pci_opts)"); }

# types_guest_rng W NAME: scenario rng; the guest's hw_random uses the
# virtio device, 64 KiB came from it, and they look random: at least 250 of
# the 256 byte values, none more than 4 times as often as the 256 expected
# (a device answering with stale or zeroed buffers fails both).
#
# Stalls (vhost-device-rng, measured: 1 boot in 6 straight from QEMU, 1 in 8
# through the shim): the guest's first read of the device can get no answer
# ever, and the guest's reader waits forever. Read in vhost-user-backend
# 0.17 (src/event_loop.rs, handle_event): a kick that arrives while the ring
# is not yet enabled is read from the eventfd and dropped, and
# SET_VRING_ENABLE (src/handler.rs) does not look at the ring again. The
# guest kicks right after DRIVER_OK (hwrng_register's early randomness), and
# QEMU's SET_VRING_ENABLE, which needs no reply, can still be on its way to
# the back-end's message thread. So the scenario bounds each read
# (stall_s=8), and on a stall rebinds the driver (a device reset and a new
# start through the shim) and reads again, at most TYPES_RNG_RETRIES (2)
# times; every stall is printed here. TYPES_RNG_RETRIES=0 shows the raw
# behaviour (a stall fails the test).
TYPES_RNG_BYTES=65536 TYPES_RNG_RETRIES=${TYPES_RNG_RETRIES:-2}
types_guest_rng() {
    local w=$1 name=$2 distinct top stalls
    types_dev rng "$w"
    guest_run_ok "$w" "$name" rng "bytes=$TYPES_RNG_BYTES stall_s=8 retries=$TYPES_RNG_RETRIES" "${TYPES_QEMU[@]}"
    [[ $(guest_result "$w" "$name" rng_current) == virtio_rng* ]] ||
        guest_fail "$w" "$name" "the guest's hw_random is '$(guest_result "$w" "$name" rng_current)', not the virtio device"
    (( $(guest_result "$w" "$name" rng_bytes) == TYPES_RNG_BYTES )) ||
        guest_fail "$w" "$name" "the guest read $(guest_result "$w" "$name" rng_bytes) of $TYPES_RNG_BYTES bytes"
    distinct=$(guest_result "$w" "$name" rng_distinct) top=$(guest_result "$w" "$name" rng_top)
    (( distinct >= 250 && top <= 4 * TYPES_RNG_BYTES / 256 )) ||
        guest_fail "$w" "$name" "the bytes do not look random: $distinct distinct values, the most frequent $top times"
    stalls=$(guest_result "$w" "$name" rng_stalls)
    (( stalls == 0 )) ||
        echo "NOTE: the guest's read stalled $stalls time(s) and went through after a driver rebind: vhost-device-rng lost the first kick (vhost-user-backend 0.17 drops a kick that comes before SET_VRING_ENABLE; see lib_types.sh)"
    echo "guest: $TYPES_RNG_BYTES bytes from /dev/hwrng ($(guest_result "$w" "$name" rng_current)): $distinct distinct values, the most frequent $top times; $stalls stalled read(s)"
}

# types_guest_vsock W NAME CID: scenario vsock against vsock_host.py on
# TYPES_VSOCK_UDS_PORT: the guest has CID (the device's config space), and
# its bytes reached the host and the host's came back, each checked byte for
# byte on the side that received them.
TYPES_VSOCK_PORT=5000 TYPES_VSOCK_BYTES=262144
types_guest_vsock() {
    local w=$1 name=$2 cid=$3 seed=$RANDOM host
    host=$w/vsock-host.out
    python3 "$E2E_ROOT/tests/guest/vsock_host.py" "${TYPES_VSOCK_UDS}_$TYPES_VSOCK_PORT" \
        "$TYPES_VSOCK_BYTES" "$seed" 90 >"$host" 2>&1 &
    TYPES_HOST_PID=$!
    wait_for 5 test -S "${TYPES_VSOCK_UDS}_$TYPES_VSOCK_PORT" || fail "vsock_host.py did not listen: $(cat "$host")"
    types_dev vsock "$w"
    guest_run_ok "$w" "$name" vsock "port=$TYPES_VSOCK_PORT bytes=$TYPES_VSOCK_BYTES seed=$seed" "${TYPES_QEMU[@]}"
    wait_for 10 _guest_exited "$TYPES_HOST_PID" || guest_fail "$w" "$name" "vsock_host.py did not finish: $(cat "$host")"
    local st=0; wait "$TYPES_HOST_PID" || st=$?; TYPES_HOST_PID=""
    (( st == 0 )) || guest_fail "$w" "$name" "the host side of the exchange failed: $(cat "$host")"
    [[ $(guest_result "$w" "$name" vsock_local_cid) == "$cid" ]] ||
        guest_fail "$w" "$name" "the guest's CID is $(guest_result "$w" "$name" vsock_local_cid), the back-end's is $cid"
    (( $(guest_result "$w" "$name" vsock_received) == TYPES_VSOCK_BYTES && $(guest_result "$w" "$name" vsock_bad) == 0 )) ||
        guest_fail "$w" "$name" "the guest got $(guest_result "$w" "$name" vsock_received) bytes back, $(guest_result "$w" "$name" vsock_bad) bad"
    echo "guest: CID $cid; $TYPES_VSOCK_BYTES bytes to the host's uds_$TYPES_VSOCK_PORT and back, checked on both sides ($(cat "$host"))"
}

# types_guest_scsi W NAME IMAGE: scenario scsi (the blk scenario's O_DIRECT
# pattern on the LUN), then the host finds the pattern in IMAGE.
# param_change=off: QEMU 7.2's vhost-user-scsi offers the guest
# VIRTIO_SCSI_F_CHANGE (property param_change, on by default) whatever the
# back-end offers, and vhost_scsi_common_start sends the guest's features
# unfiltered in SET_FEATURES; vhost-device-scsi offers HOTPLUG but not CHANGE,
# so the set-up fails: straight to the back-end, vhost-device-scsi refuses
# SET_FEATURES ("invalid parameters"), exits, and the guest hangs in its
# driver's probe; through the shim, the shim refuses it ("SET_FEATURES acks
# 0x170000006, which includes 0x4 the back-end did not offer") and QEMU
# reports "unable to start vhost-user-scsi: Invalid argument". (Measured.)
TYPES_SCSI_QEMU_OPTS=${TYPES_SCSI_QEMU_OPTS-param_change=off}
types_guest_scsi() {
    local w=$1 name=$2 img=$3 nonce=$RANDOM
    types_dev scsi "$w" "$TYPES_SCSI_QEMU_OPTS"
    guest_run_ok "$w" "$name" scsi "offsets=$GUEST_BLK_OFFSETS nonce=$nonce" "${TYPES_QEMU[@]}"
    guest_blk_image_check "$w" "$name" "$img" "$nonce" pattern
    echo "guest: LUN $(guest_result "$w" "$name" scsi_disk) ($(guest_result "$w" "$name" vendor) $(guest_result "$w" "$name" model), $(guest_result "$w" "$name" size_sectors) sectors)"
}
