# shellcheck shell=bash
# lib_vdpa_types.sh - guest tests of the device types the reference
# vdpa-user back-end serves besides net and blk (input, rng; peers/vdpa-backend
# input.c, rng.c): QEMU's vhost-user front-end (7.2 for rng, 10.0 from the
# Debian 13 root for input) -> the shim up-converting -> the reference
# back-end. Sourced after tests/e2e/lib/common.sh and tests/guest/lib.sh.
#
#   vdpa_types_shim W TYPE [BE]    the shim on W/fe.sock -> BE (default
#                                  W/be.sock) with check=compat-matrix, trace
#                                  W/trace.txt
#   vdpa_types_shim2 W TYPE        a second shim, W/mid.sock -> W/be.sock,
#                                  trace W/trace2.txt, log W/shim2.log
#   vdpa_types_shim2_stop W        it ended its session and exits 0 on
#                                  SIGTERM with no `: check: ` line
#   vdpa_types_qemu_dev TYPE W     VDPA_TYPES_QEMU=the QEMU device arguments
#   vdpa_input_prepare             QEMU 10.0 from the root (or a loud skip),
#                                  TCG, the cloud guest
#   vdpa_guest_input W NAME        scenario input and its host checks
#   vdpa_input_early_config TRACE DIR   the guest's select/subsel writes went
#                                  out as DIR (shim->be, fe->be) SET_CONFIG of
#                                  2 bytes before any SET_FEATURES, all acked
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

# QEMU 10.0's vhost-user-input (a vhost-user-base device) offers the guest
# the back-end's features only: with QEMU's defaults (indirect_desc,
# event_idx, queue_reset on) it acks 0x140000000 (VERSION_1 and
# PROTOCOL_FEATURES), so the input test gives it no option
# (vdpa_input_prepare) unless VDPA_TYPES_QEMU_OPTS is set.
_VDPA_TYPES_OPTS_GIVEN=${VDPA_TYPES_QEMU_OPTS+1}
VDPA_TYPES_QEMU_OPTS=${VDPA_TYPES_QEMU_OPTS-indirect_desc=off,event_idx=off}
VDPA_TYPES_QEMU=()

vdpa_types_shim() {
    local w=$1 type=$2 be=${3:-$1/be.sock}
    shim_start "$w/shim.log" --device "type=$type,id=${type}0,frontend=$w/fe.sock,backend=$be,check=$E2E_ROOT/compat-matrix" \
        --trace "$w/trace.txt"
    wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket: $(tail -n 3 "$w/shim.log")"
}

# vdpa_types_shim2 W TYPE: shim #2 (id TYPE2), from W/mid.sock to W/be.sock.
VDPA_SHIM2_PID=""
vdpa_types_shim2() {
    local w=$1 type=$2
    "$SHIM_BIN" --device "type=$type,id=${type}2,frontend=$w/mid.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix" \
        --trace "$w/trace2.txt" 2>"$w/shim2.log" &
    VDPA_SHIM2_PID=$!
    wait_for 5 test -S "$w/mid.sock" || fail "shim #2 did not create its socket: $(tail -n 3 "$w/shim2.log")"
}
vdpa_types_shim2_stop() {
    local w=$1 st=0
    [[ -n $VDPA_SHIM2_PID ]] || return 0
    wait_for 10 grep -q "session ended" "$w/shim2.log" || fail "shim #2's session did not end: $(tail -n 3 "$w/shim2.log")"
    kill -TERM "$VDPA_SHIM2_PID" 2>/dev/null || true
    wait "$VDPA_SHIM2_PID" || st=$?
    VDPA_SHIM2_PID=""
    (( st == 0 )) || fail "shim #2 exited with status $st on SIGTERM"
    ! grep -q ': check: ' "$w/shim2.log" ||
        fail "shim #2's compatibility check reported: $(grep -m3 ': check: ' "$w/shim2.log")"
}
_vdpa_types_shim2_kill() { [[ -z $VDPA_SHIM2_PID ]] || { kill -KILL "$VDPA_SHIM2_PID" 2>/dev/null || true; wait "$VDPA_SHIM2_PID" 2>/dev/null || true; }; }

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
# The input test's QEMU: 10.0 from the Debian 13 root (VDPA_INPUT_QEMU_RELEASE,
# default trixie; empty: the host's 7.2, which refuses the device without
# KVM, below). docs/guests.md, "QEMU 10.0 from the Debian 13 root".
VDPA_INPUT_QEMU_RELEASE=${VDPA_INPUT_QEMU_RELEASE-trixie}

# vdpa_input_prepare: the root's QEMU (or a loud skip: make peer-roots), the
# accelerator (GUEST_ACCEL, default tcg: guest_prepare's cached verdict is
# the host QEMU's) and the cloud guest (virtio_input, evdev).
vdpa_input_prepare() {
    if [[ -n $VDPA_INPUT_QEMU_RELEASE ]]; then
        GUEST_ACCEL=${GUEST_ACCEL:-tcg}
        guest_qemu_root_prepare "$VDPA_INPUT_QEMU_RELEASE"
        [[ -n $_VDPA_TYPES_OPTS_GIVEN ]] || VDPA_TYPES_QEMU_OPTS=""
    fi
    guest_prepare cloud
    echo "QEMU: $(guest_qemu_version)"
}

# Rings up to VDPA_INPUT_QUEUE_SIZE entries (the back-end's default is 256):
# QEMU 10.0.13's vhost-user-input-pci gives the guest 1024-entry rings
# (SET_VRING_NUM num=1024; the device has no property for it), and the shim
# refuses a ring above the back-end's VDPA_GET_VRING_NUM ("ring size 1024
# above the back-end's maximum 256"; QEMU then aborts in
# memory_region_del_eventfd). QEMU 7.2's virtio-input rings have 64 entries.
VDPA_INPUT_QUEUE_SIZE=${VDPA_INPUT_QUEUE_SIZE:-1024}
vdpa_input_backend() {
    guest_vdpa_backend "$1" --type input --input-name "$VDPA_INPUT_NAME" --input-serial "$VDPA_INPUT_SERIAL" \
        --inject-keys "$VDPA_INPUT_KEYS" --inject-every-ms "$VDPA_INPUT_EVERY_MS" --queue-size "$VDPA_INPUT_QUEUE_SIZE"
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

# vdpa_input_early_config TRACE DIR: the guest driver's select/subsel writes
# (QEMU sends each at once, before the device starts) reached the back-end
# as DIR SET_CONFIG of the 2 early-writable bytes before the first
# SET_FEATURES, and every SET_CONFIG reply in TRACE is a success; sets
# VDPA_INPUT_EARLY (SET_CONFIGs before SET_FEATURES) and VDPA_INPUT_SETCFG (in
# all). Call it in the test's shell: a failure must end the test.
VDPA_INPUT_EARLY="" VDPA_INPUT_SETCFG=""
vdpa_input_early_config() {
    local trace=$1 dir=$2 out
    out=$(awk -v d="$dir" '
        $4 == "SET_FEATURES" && !feat { feat = 1 }
        $3 == d && $4 == "SET_CONFIG" { all++; if (!feat) early++; if ($0 !~ / size=2 /) bad++ }
        $4 == "SET_CONFIG" && / reply / && !/ ack=0 / { failed++ }
        END { if (!early || bad || failed) exit 1; print early + 0, all + 0 }' "$trace") ||
        guest_fail "$(dirname "$trace")" g "$(basename "$trace"): no $dir SET_CONFIG of 2 bytes before SET_FEATURES, or one failed: $(grep -m3 'SET_CONFIG' "$trace" | cut -c1-160)"
    read -r VDPA_INPUT_EARLY VDPA_INPUT_SETCFG <<< "$out"
}

# vdpa_input_qemu_summary TRACE: what the front-end sent in TRACE (a shim's
# trace with QEMU as its front-end): the protocol features and features it
# acked, its ring size, and its GET_CONFIG and SET_CONFIG counts (a message
# the shim relays has an fe->shim line and then an fe->be one: counted once).
vdpa_input_qemu_summary() {
    awk '$3 ~ /^fe->/ {
            if ($3 == "fe->be" && prev == "fe->shim " $4) { prev = ""; next }
            prev = $3 " " $4
            for (i = 5; i <= NF; i++) { split($i, kv, "="); v[$4 "." kv[1]] = kv[2] }
            n[$4]++ }
        END { printf "protocol features %s, features %s, ring size %s, %d GET_CONFIG, %d SET_CONFIG\n",
                  v["SET_PROTOCOL_FEATURES.protocol_features"], v["SET_FEATURES.features"],
                  v["SET_VRING_NUM.num"], n["GET_CONFIG"], n["SET_CONFIG"] }' "$1"
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

vdpa_types_cleanup() { guest_stop_all; shim_kill; _vdpa_types_shim2_kill; guest_backend_stop; guest_cleanup_dir "$1"; }
