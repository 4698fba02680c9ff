# shellcheck shell=bash
# lib_sound.sh - the virtio-sound guest tests: QEMU 10.0's vhost-user-snd-pci
# (from the Debian 13 root: no QEMU before 8.2 has it; docs/guests.md, "QEMU
# 10.0 from the Debian 13 root") -> the shim in pass-through or in the up+down
# chain -> rust-vmm's vhost-device-sound with the null audio back-end
# (docs/peers.md). The guest is the trixie flavour (Debian 13's kernel: the
# only Debian one with CONFIG_SND_VIRTIO). Sourced after
# tests/e2e/lib/common.sh and tests/guest/lib.sh.
#
#   sound_prepare             the root's QEMU (or a loud skip: make
#                             peer-roots), TCG (GUEST_ACCEL), the trixie guest
#   sound_be W                vhost-device-sound --backend null on W/be.sock
#   sound_shims W pass|chain  shim #1 on W/fe.sock (trace W/trace.txt) and in
#                             a chain shim #2 (guest_down_shim: W/mid.sock,
#                             W/trace-down.txt), each with check=compat-matrix
#   sound_guest W NAME        scenario sound (tests/guest/scenarios/sound.sh):
#                             the card, and its playback and capture
#                             substreams against the config space's streams
#   types_end W MODE          (tests/guest/lib_types.sh) sessions ended, modes as expected, shims stopped
#                             cleanly with no `: check: ` line in their logs
#   sound_cleanup W           the EXIT trap
#
# vhost-device-sound's streams (f44737d, src/device.rs, VhostUserSoundBackend::
# new): two, stream 0 output (playback) and stream 1 input (capture), both
# 1-2 channels; its config space says jacks=0 streams=2 chmaps=1. The host
# reads streams from the back-end's own GET_CONFIG reply in the trace (shim
# #2's in a chain: the one the real back-end sent) and the split from
# SOUND_PLAYBACK and SOUND_CAPTURE (1 and 1, the source's defaults).

[[ -n $(declare -F types_end) ]] || . "$E2E_ROOT/tests/guest/lib_types.sh" # types_end
[[ -n $(declare -F rustvmm_bin) ]] || . "$E2E_ROOT/tests/e2e/lib/rustvmm.sh"
SOUND_QEMU_RELEASE=${SOUND_QEMU_RELEASE-trixie}
SOUND_PLAYBACK=${SOUND_PLAYBACK:-1} SOUND_CAPTURE=${SOUND_CAPTURE:-1}
SOUND_BE_PID=""
SOUND_BE_MAX_QUEUE=${SOUND_BE_MAX_QUEUE:-64}

# sound_prepare: QEMU from the root of SOUND_QEMU_RELEASE (skips when the
# root is not built), the accelerator (GUEST_ACCEL, default tcg: the KVM
# verdict guest_prepare caches is the host QEMU's) and the trixie guest.
sound_prepare() {
    GUEST_ACCEL=${GUEST_ACCEL:-tcg}
    guest_qemu_root_prepare "$SOUND_QEMU_RELEASE"
    guest_prepare trixie
    echo "QEMU: $(guest_qemu_version)"
}

# sound_be W: vhost-device-sound on W/be.sock (the path as given); skips
# when it is not built or does not start. SOUND_BE (default sound-q1024:
# make peers' build whose only change is rings of up to 1024 entries, which
# QEMU 10.0 needs; `sound` is the stock one, which it cannot run).
SOUND_BE=${SOUND_BE:-sound-q1024}
sound_be() {
    local bin rc=0
    bin=$(rustvmm_bin "$SOUND_BE") || rc=$?
    (( rc == 0 )) || { (( rc == 77 )) && exit 77; fail "rustvmm_bin $SOUND_BE failed (exit $rc)"; }
    "$bin" --socket "$1/be.sock" --backend null >"$1/be.log" 2>&1 &
    SOUND_BE_PID=$!
    wait_for 10 test -S "$1/be.sock" || skip "vhost-device-sound did not start: $(tail -n 3 "$1/be.log")"
    echo "back-end: $bin --backend null (pid $SOUND_BE_PID) on $1/be.sock"
}

# sound_shims W MODE: pass: one shim from W/fe.sock to W/be.sock; chain:
# shim #2 (down) from W/mid.sock to W/be.sock, shim #1 (up) from W/fe.sock to
# W/mid.sock.
sound_shims() {
    local w=$1 be=$1/be.sock check=check=$E2E_ROOT/compat-matrix
    if [[ $2 == chain ]]; then
        # queue-size=: the down shim shows sound's usual ring limit (64, what
        # the stock vhost-device-sound takes) unless told; the back-end here
        # takes QEMU 10.0's 1024 (sound-q1024), and the stock one never runs
        # with QEMU 10.0 (above).
        local qs=""
        [[ $SOUND_BE == sound-q1024 ]] && qs=",queue-size=1024"
        guest_down_shim "$w" "type=sound$qs"
        # shellcheck disable=SC2034 # read by guest_fail (tests/guest/lib.sh)
        GUEST_FAIL_HOOK=guest_down_shim_tail
        be=$w/mid.sock
    fi
    shim_start "$w/shim.log" --device "type=sound,id=snd0,frontend=$w/fe.sock,backend=$be,$check" \
        --trace "$w/trace.txt"
    wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket: $(tail -n 3 "$w/shim.log")"
}

# sound_config TRACE FIELD: jacks, streams or chmaps (le32 at 0, 4, 8) from
# the back-end's first GET_CONFIG reply in TRACE (be->fe relayed, or be->shim
# when shim #2 asks it for its model).
sound_config() {
    local data off
    data=$(grep -m1 -oE 'be->(fe|shim) GET_CONFIG reply .*' "$1" | grep -o 'data=[0-9a-f]*' | cut -d= -f2)
    case $2 in jacks) off=0;; streams) off=8;; chmaps) off=16;; *) return 1;; esac
    (( ${#data} >= off + 8 )) || return 1
    # little-endian: the bytes reversed
    echo $(( 16#${data:off+6:2}${data:off+4:2}${data:off+2:2}${data:off:2} ))
}

# sound_retry_once TEST: runs TEST (the calling test script) once more in
# a child, fresh back-end, shim and guest, when its first run failed with
# virtio_snd's first control request never answered: vhost-device-sound can
# spin on its event queue (docs/peers.md: EVENT_IDX and a process_event that
# takes no buffer), and its worker then answers nothing, the driver's
# rebind included; measured in pass-through too. Loud (a NOTE line), once;
# any other failure, and a second one, fail the test. Call it first.
sound_retry_once() {
    [[ -z ${SOUND_ATTEMPT:-} ]] || return 0
    local out rc=0
    out=$(SOUND_ATTEMPT=1 bash "$1" 2>&1) || rc=$?
    if (( rc != 0 && rc != 77 )) && grep -q 'virtio_snd virtio0: control message (0x00000100) timeout' <<< "$out"; then
        printf '%s\n' "$out" | tail -n 12
        echo "NOTE: first attempt failed: virtio_snd's first control request was never answered (vhost-device-sound's event-queue spin, docs/peers.md); once more with a fresh back-end, shim and guest"
        rc=0
        SOUND_ATTEMPT=2 bash "$1" || rc=$?
        exit "$rc"
    fi
    printf '%s\n' "$out"
    exit "$rc"
}

# sound_guest W NAME: the sound scenario on vhost-user-snd-pci; the card must
# be virtio-snd's, and its substreams as many as the back-end's streams
# (SOUND_PLAYBACK playback, SOUND_CAPTURE capture).
sound_guest() {
    local w=$1 name=$2 be_trace=$1/trace.txt streams ps cs out
    [[ ! -f $w/trace-down.txt ]] || be_trace=$w/trace-down.txt
    # vhost-user-snd-pci has no "vectors" property (guest_vhost_pci_opts): it
    # keeps MSI-X under TCG, which QEMU 10.0 survives here.
    guest_boot "$w" "$name" sound "" -chardev "socket,id=c0,path=$w/fe.sock" -device "vhost-user-snd-pci,chardev=c0"
    # the results, or the back-end's death (the shim then holds the guest)
    wait_for "${GUEST_TIMEOUT:-60}" _sound_settled "$w" "$name" || true
    if ! kill -0 "$SOUND_BE_PID" 2>/dev/null; then
        guest_stop "$name"
        _sound_skip_queue_size "$w" "$be_trace"
        guest_fail "$w" "$name" "vhost-device-sound exited during the guest's run: $(grep -m1 -E 'panicked|Error|error' "$w/be.log")"
    fi
    out=$(guest_wait "$w" "$name") || guest_fail "$w" "$name" "$out"
    guest_results "$w" "$name"
    [[ $(guest_result "$w" "$name" status) == pass ]] ||
        guest_fail "$w" "$name" "guest: $(guest_result "$w" "$name" reason)"
    local retried
    retried=$(guest_result "$w" "$name" snd_probe_retry)
    [[ -z $retried ]] || echo "NOTE: virtio_snd's probe was retried $retried time(s): its first control request was not answered (vhost-user-backend 0.17 drops a kick that comes before SET_VRING_ENABLE, docs/peers.md)"
    [[ $(guest_result "$w" "$name" driver) == virtio-snd ]] ||
        guest_fail "$w" "$name" "card 0's driver is '$(guest_result "$w" "$name" driver)', not virtio-snd"
    streams=$(sound_config "$be_trace" streams) ||
        guest_fail "$w" "$name" "no GET_CONFIG reply from the back-end in $(basename "$be_trace")"
    ps=$(guest_result "$w" "$name" playback_subs) cs=$(guest_result "$w" "$name" capture_subs)
    (( ps + cs == streams )) ||
        guest_fail "$w" "$name" "the guest has $ps playback + $cs capture substreams, the back-end's config $streams streams"
    (( ps == SOUND_PLAYBACK && cs == SOUND_CAPTURE )) ||
        guest_fail "$w" "$name" "the guest has $ps playback and $cs capture substreams, vhost-device-sound $SOUND_PLAYBACK and $SOUND_CAPTURE"
    echo "guest: card $(guest_result "$w" "$name" name) ($(guest_result "$w" "$name" driver)): $ps playback + $cs capture substreams = the back-end's streams=$streams (jacks=$(sound_config "$be_trace" jacks) chmaps=$(sound_config "$be_trace" chmaps))"
}

_sound_settled() { _guest_done "$1/$2.console" || ! kill -0 "$SOUND_BE_PID"; }

# _sound_skip_queue_size W TRACE: vhost-device-sound (f44737d) takes rings
# of at most 64 entries (src/device.rs, max_queue_size: "`64` is a good
# enough value"); a larger SET_VRING_NUM fails in vhost-user-backend
# (InvalidParam) and its main thread unwraps the error and panics
# (src/lib.rs:358). QEMU 10.0's vhost-user-snd-pci sets 1024 (TRACE, the
# shim next to the back-end) and has no property to lower it: the same
# happens with no shim at all (QEMU then aborts too, measured). The test
# skips, naming both lines; a back-end built with a larger max_queue_size
# (SOUND_BE=sound-q1024, the default) runs it.
_sound_skip_queue_size() {
    local panic num
    panic=$(grep -m1 -o 'HandleRequest(InvalidParam)' "$1/be.log") || return 0
    num=$(grep -m1 -oE '(fe|shim)->be SET_VRING_NUM index=[0-9]* num=[0-9]*' "$2") || return 0
    (( ${num##*num=} > SOUND_BE_MAX_QUEUE )) || return 0
    skip "vhost-device-sound takes rings of at most $SOUND_BE_MAX_QUEUE entries (src/device.rs max_queue_size) and QEMU 10.0's vhost-user-snd-pci sends '$num' ($(basename "$2")): the back-end panicked ($panic, src/lib.rs:358), with or without the shim; SOUND_BE=sound-q1024 (built by make peers with only that limit raised) runs this test"
}

sound_cleanup() {
    guest_stop_all; shim_kill
    _guest_kill_pid "${GUEST_DOWN_PID:-}"; _guest_kill_pid "$SOUND_BE_PID"
    guest_cleanup_dir "$1"
}
