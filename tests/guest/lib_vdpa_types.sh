# shellcheck shell=bash
# lib_vdpa_types.sh - guest tests of the device types the reference
# vdpa-user back-end serves besides net and blk (input, rng; peers/vdpa-backend
# input.c, rng.c): QEMU 7.2's vhost-user front-end -> the shim up-converting
# -> the reference back-end. Sourced after tests/e2e/lib/common.sh and
# tests/guest/lib.sh.
#
#   vdpa_types_shim W TYPE         the shim on W/fe.sock -> W/be.sock with
#                                  check=compat-matrix, trace W/trace.txt
#   vdpa_types_qemu_dev TYPE W     VDPA_TYPES_QEMU=the QEMU device arguments
#   vdpa_guest_input W NAME        scenario input and its host checks
#   vdpa_guest_rng W NAME          scenario rng (tests/guest/scenarios/rng.sh)
#                                  and its host checks
#   vdpa_types_end W               the session ended, the shim up-converted and
#                                  stopped cleanly with no `: check: ` line
#   vdpa_types_cleanup W           the EXIT trap
#
# QEMU 7.2's vhost-user-input and vhost-user-rng start the back-end with the
# guest's features unfiltered (hw/virtio/vhost-user-rng.c vu_rng_start and
# backends/vhost-user.c vhost_user_backend_start set acked_features to
# vdev->guest_features), and virtio-pci offers the guest INDIRECT_DESC and
# EVENT_IDX whatever the back-end has; the reference back-end offers
# neither, so the devices get indirect_desc=off,event_idx=off
# (VDPA_TYPES_QEMU_OPTS; without them the shim refuses SET_FEATURES).

VDPA_TYPES_QEMU_OPTS=${VDPA_TYPES_QEMU_OPTS-indirect_desc=off,event_idx=off}
VDPA_TYPES_QEMU=()

vdpa_types_shim() {
    local w=$1 type=$2
    shim_start "$w/shim.log" --device "type=$type,id=${type}0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" \
        --trace "$w/trace.txt"
    wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket: $(tail -n 3 "$w/shim.log")"
}

# vdpa_types_qemu_dev TYPE W: a vhost-user TYPE PCI device on W/fe.sock.
vdpa_types_qemu_dev() {
    VDPA_TYPES_QEMU=(-chardev "socket,id=c0,path=$2/fe.sock"
        -device "vhost-user-$1-pci,chardev=c0${VDPA_TYPES_QEMU_OPTS:+,$VDPA_TYPES_QEMU_OPTS}$(guest_vhost_pci_opts)")
}

# vdpa_types_stat W NAME: a counter of the back-end's statistics (written on
# SIGTERM, so after guest_backend_stop).
vdpa_types_stat() { awk -v k="$2" '$1 == k { print $2 }' "$1/backend.stats" 2>/dev/null; }

# ---- input -----------------------------------------------------------------------

# The back-end's options for the input test: a name with spaces, a serial,
# a key sequence (h e l l o: KEY_H 35, KEY_E 18, KEY_L 38, KEY_L, KEY_O 24)
# injected again every 200 ms.
VDPA_INPUT_NAME="vdpa-shim e2e keyboard" VDPA_INPUT_SERIAL=e2e-issue17
VDPA_INPUT_KEYS=h,e,l,l,o VDPA_INPUT_CODES=35,18,38,38,24 VDPA_INPUT_EVERY_MS=200
# Key codes the capabilities must have (the letters A..Z and the sequence)
# and must not have (ESC, ENTER, SPACE).
VDPA_INPUT_CAPS=16,25,30,38,44,50 VDPA_INPUT_ABSENT=1,28,57
vdpa_input_backend() {
    guest_vdpa_backend "$1" --type input --input-name "$VDPA_INPUT_NAME" --input-serial "$VDPA_INPUT_SERIAL" \
        --inject-keys "$VDPA_INPUT_KEYS" --inject-every-ms "$VDPA_INPUT_EVERY_MS"
}

# _vdpa_input_needs_kvm W NAME: QEMU 7.2 creates a vhost-user-input device
# only under KVM: vhost_user_backend_dev_init (backends/vhost-user.c, also
# behind vhost-user-gpu) refuses without ioeventfds, "vhost initialization
# failed: requires kvm"; and the test guest does not boot under KVM on every
# machine (docs/guests.md). That is a loud skip with QEMU's words.
_vdpa_input_needs_kvm() {
    local why
    why=$(grep -m1 'requires kvm' "$1/$2.qemu.log" 2>/dev/null) || return 0
    shim_stop
    skip "QEMU's vhost-user-input cannot be created under $GUEST_ACCEL: ${why#*: }"
}

# _vdpa_has_run LIST SEQ: the comma-separated LIST has SEQ as a contiguous run.
_vdpa_has_run() { [[ ",$1," == *",$2,"* ]]; }

# vdpa_guest_input W NAME: scenario input: the guest finds the device by the
# back-end's name, its identity and key capabilities are the back-end's
# config space, and the injected sequence arrived in order (the guest reads
# two sequences' worth of presses; one whole sequence must be among them).
vdpa_guest_input() {
    local w=$1 name=$2 n codes
    n=$(( 2 * $(tr ',' '\n' <<< "$VDPA_INPUT_CODES" | wc -l) ))
    vdpa_types_qemu_dev input "$w"
    if ! guest_run "$w" "$name" input \
        "input_name=${VDPA_INPUT_NAME// /_} caps=$VDPA_INPUT_CAPS absent=$VDPA_INPUT_ABSENT count=$n timeout_ms=15000" \
        "${VDPA_TYPES_QEMU[@]}" >"$w/$name.run"; then
        _vdpa_input_needs_kvm "$w" "$name"
        guest_fail "$w" "$name" "$(grep -v '^RESULT' "$w/$name.run" | tail -n 2)"
    fi
    cat "$w/$name.run"
    [[ $(guest_result "$w" "$name" status) == pass ]] || guest_fail "$w" "$name" "guest: $(guest_result "$w" "$name" reason)"
    [[ $(guest_result "$w" "$name" serial) == "$VDPA_INPUT_SERIAL" ]] ||
        guest_fail "$w" "$name" "the guest's serial is '$(guest_result "$w" "$name" serial)', the back-end's ID_SERIAL '$VDPA_INPUT_SERIAL'"
    [[ $(guest_result "$w" "$name" bustype) == 0006 && $(guest_result "$w" "$name" vendor) == 1af4 &&
        $(guest_result "$w" "$name" product) == 0bad ]] ||
        guest_fail "$w" "$name" "the guest's ids are not the back-end's ID_DEVIDS (BUS_VIRTUAL, 1af4, 0bad): $(guest_results "$w" "$name" | grep -m1 bustype)"
    [[ $(guest_result "$w" "$name" caps_missing) == none && $(guest_result "$w" "$name" caps_present_absent) == none ]] ||
        guest_fail "$w" "$name" "key capabilities are not the back-end's EV_BITS: missing $(guest_result "$w" "$name" caps_missing), present but not offered $(guest_result "$w" "$name" caps_present_absent)"
    codes=$(guest_result "$w" "$name" codes)
    _vdpa_has_run "$codes" "$VDPA_INPUT_CODES" ||
        guest_fail "$w" "$name" "the guest's key presses $codes do not hold the injected sequence $VDPA_INPUT_CODES"
    echo "guest: $(guest_result "$w" "$name" input_dev) '$VDPA_INPUT_NAME' serial $VDPA_INPUT_SERIAL; presses $codes ($(guest_result "$w" "$name" releases) releases, $(guest_result "$w" "$name" syns) SYN)"
}

# ---- rng -------------------------------------------------------------------------

# vdpa_guest_rng W NAME: scenario rng (scenario_rng of
# tests/guest/scenarios/rng.sh): the guest's hw_random uses the virtio
# device and 64 KiB read from /dev/hwrng look random: at least 250 of the
# 256 byte values, none more than 4 times as often as the 256 expected (a
# device answering with zeroed or stale buffers fails both).
VDPA_RNG_BYTES=65536
vdpa_guest_rng() {
    local w=$1 name=$2 distinct top
    vdpa_types_qemu_dev rng "$w"
    guest_run_ok "$w" "$name" rng "bytes=$VDPA_RNG_BYTES" "${VDPA_TYPES_QEMU[@]}"
    [[ $(guest_result "$w" "$name" rng_current) == virtio_rng* ]] ||
        guest_fail "$w" "$name" "the guest's hw_random is '$(guest_result "$w" "$name" rng_current)', not the virtio device"
    (( $(guest_result "$w" "$name" rng_bytes) == VDPA_RNG_BYTES )) ||
        guest_fail "$w" "$name" "the guest read $(guest_result "$w" "$name" rng_bytes) of $VDPA_RNG_BYTES bytes"
    distinct=$(guest_result "$w" "$name" rng_distinct) top=$(guest_result "$w" "$name" rng_top)
    (( distinct >= 250 && top <= 4 * VDPA_RNG_BYTES / 256 )) ||
        guest_fail "$w" "$name" "the bytes do not look random: $distinct distinct values, the most frequent $top times"
    echo "guest: $VDPA_RNG_BYTES bytes from /dev/hwrng ($(guest_result "$w" "$name" rng_current)): $distinct distinct values, the most frequent $top times"
}

# ---- the end -----------------------------------------------------------------------

# vdpa_types_end W: the shim up-converted and set DRIVER_OK on the back-end,
# the session ended after the guest powered off, the shim exits 0 on SIGTERM
# with no `: check: ` line (shim_stop), and the back-end stops.
vdpa_types_end() {
    local w=$1
    grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "the shim did not up-convert"
    grep -q 'shim->be SET_STATUS need_reply status=0xf' "$w/trace.txt" ||
        guest_fail "$w" g "the shim never set DRIVER_OK on the back-end"
    wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "the session did not end after the guest powered off"
    shim_stop
    guest_backend_stop
}

vdpa_types_cleanup() { guest_stop_all; shim_kill; guest_backend_stop; guest_cleanup_dir "$1"; }
