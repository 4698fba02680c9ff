# shellcheck shell=bash
# lib_gpu.sh - the virtio-gpu guest tests: QEMU's own vhost-user-gpu
# back-end (/usr/lib/qemu/vhost-user-gpu, package qemu-system-gui; 2D, no
# --virgl) behind QEMU's vhost-user-gpu-pci, through the shim in
# pass-through or in the up+down chain. Sourced after tests/e2e/lib/common.sh
# and tests/guest/lib.sh; the guest is the full flavour (virtio_gpu DRM).
# QEMU is 10.0 from the Debian 13 root (GPU_QEMU_RELEASE, default trixie;
# docs/guests.md, "QEMU 10.0 from the Debian 13 root"): QEMU 7.2 refuses
# vhost-user-gpu-pci without KVM (below), and KVM does not boot the guest
# here. The back-end is the root's vhost-user-gpu 10.0 too (GPU_BE_RELEASE,
# default GPU_QEMU_RELEASE; empty: the host's 7.2): Debian ships the two
# together (qemu-system-gui), and the display protocol they speak over the
# socket GPU_SET_SOCKET hands on is between these two alone.
#
#   gpu_prepare               the root's QEMU (or a loud skip: make
#                             peer-roots), TCG (GUEST_ACCEL), the full guest
#   gpu_be W                  vhost-user-gpu listening on W/be.sock
#   gpu_shims W pass|chain    shim #1 on W/fe.sock (trace W/trace.txt) and in a
#                             chain shim #2 (guest_down_shim: W/mid.sock), each
#                             with check=compat-matrix
#   gpu_guest W NAME          scenario gpu (tests/guest/scenarios/gpu.sh): the
#                             driver binds, one DRM connector per scanout, the
#                             framebuffer painted; then QMP screendump shows
#                             the guest's two colours in QEMU's display
#   gpu_fe W                  no guest: tests/guest/gpu_fe.py does what QEMU
#                             does up to GPU_SET_SOCKET on W/fe.sock; the
#                             back-end must speak the display protocol on
#                             the socket it got (the fd went through)
#   gpu_socket_check W MODE   each shim handed GPU_SET_SOCKET on (traces)
#   types_end W MODE          (tests/guest/lib_types.sh) sessions ended, modes as expected, shims stopped
#                             cleanly with no `: check: ` line in their logs
#   gpu_cleanup W             the EXIT trap
#
# How QEMU wires the display: at DRIVER_OK, vhost-user-gpu-pci makes a
# socketpair and sends one end to the back-end with VHOST_USER_GPU_SET_SOCKET
# (no reply asked); the back-end then speaks the vhost-user-gpu protocol
# (QEMU docs/interop/vhost-user-gpu.rst: GET_PROTOCOL_FEATURES,
# GET_DISPLAY_INFO, SCANOUT, UPDATE with the pixels) to QEMU over it, peer to
# peer. The config space's num_scanouts is QEMU's own (max_outputs=): QEMU
# reads the back-end's config and overrides events_read, events_clear and
# num_scanouts (hw/display/vhost-user-gpu.c, vhost_user_gpu_get_config).

# GPU_SELF_TEST=1: gpu_guest gives the guest QEMU's built-in virtio-gpu-pci
# instead (no back-end, no shim), which runs under TCG: a check of the
# scenario, drm_fb and the screendump check themselves.
[[ -n $(declare -F types_end) ]] || . "$E2E_ROOT/tests/guest/lib_types.sh" # types_end
GPU_BE_BIN=${GPU_BE_BIN:-/usr/lib/qemu/vhost-user-gpu}
GPU_SCANOUTS=${GPU_SCANOUTS:-2}
GPU_QEMU_RELEASE=${GPU_QEMU_RELEASE-trixie}
GPU_BE_RELEASE=${GPU_BE_RELEASE-$GPU_QEMU_RELEASE}
GPU_BE_PID=""
# GPU_QUEUE_RESET=off (default): the device gets queue_reset=off. QEMU 10.0's
# vhost-user-gpu-pci (backends/vhost-user.c, vhost_user_backend_start) acks
# to the back-end every feature the guest acked, transport bits QEMU itself
# offered included: virtio-pci's queue_reset (VIRTIO_F_RING_RESET, bit 40,
# on by default), which the back-end never offered. The shim refuses that
# SET_FEATURES ("acks 0x10170000002, which includes 0x10000000000 the
# back-end did not offer") and disconnects both sides; the guest then paints
# a framebuffer nobody shows. GPU_QUEUE_RESET=on shows it.
GPU_QUEUE_RESET=${GPU_QUEUE_RESET:-off}
gpu_pci_opts() { [[ $GPU_QUEUE_RESET == on ]] || echo ",queue_reset=off"; }

# gpu_prepare: QEMU from the root of GPU_QEMU_RELEASE (skips when the root is
# not built), the accelerator (GUEST_ACCEL, default tcg: guest_prepare's
# cached verdict is the host QEMU's) and the full guest.
gpu_prepare() {
    GUEST_ACCEL=${GUEST_ACCEL:-tcg}
    [[ -z $GPU_QEMU_RELEASE ]] || guest_qemu_root_prepare "$GPU_QEMU_RELEASE"
    guest_prepare full
    echo "QEMU: $(guest_qemu_version)"
}

# gpu_be W: the back-end on W/be.sock (it accepts one connection, then
# closes its listening socket), from the root of GPU_BE_RELEASE (through
# tests/peers/run, W bound: the pid is the back-end's) or the host's; skips
# when it is not installed or does not start.
gpu_be() {
    local cmd=("$GPU_BE_BIN") where="the host"
    if [[ -n $GPU_BE_RELEASE ]]; then
        local why
        why=$(peer_root_ready "$GPU_BE_RELEASE") || skip "$why"
        [[ -x $(peer_root_dir "$GPU_BE_RELEASE")$GPU_BE_BIN ]] ||
            skip "$GPU_BE_BIN is not in the Debian $GPU_BE_RELEASE root (package qemu-system-gui; make peer-roots)"
        cmd=(env "PEER_BIND=$1" "$E2E_ROOT/tests/peers/run" "$GPU_BE_RELEASE" "$GPU_BE_BIN")
        where="the Debian $GPU_BE_RELEASE root"
    else
        [[ -x $GPU_BE_BIN ]] || skip "$GPU_BE_BIN is not installed (package qemu-system-gui)"
    fi
    "${cmd[@]}" -s "$1/be.sock" >"$1/be.log" 2>&1 &
    GPU_BE_PID=$!
    wait_for 10 test -S "$1/be.sock" || skip "vhost-user-gpu did not start: $(tail -n 3 "$1/be.log")"
    echo "back-end: $GPU_BE_BIN from $where (pid $GPU_BE_PID) on $1/be.sock"
}

# gpu_shims W MODE: MODE pass: one shim from W/fe.sock to W/be.sock; chain:
# shim #2 (down) from W/mid.sock to W/be.sock, shim #1 (up) from W/fe.sock to
# W/mid.sock.
gpu_shims() {
    local w=$1 be=$1/be.sock check=check=$E2E_ROOT/compat-matrix
    if [[ $2 == chain ]]; then
        guest_down_shim "$w" "type=gpu"
        # shellcheck disable=SC2034 # read by guest_fail (tests/guest/lib.sh)
        GUEST_FAIL_HOOK=guest_down_shim_tail
        be=$w/mid.sock
    fi
    shim_start "$w/shim.log" --device "type=gpu,id=gpu0,frontend=$w/fe.sock,backend=$be,$check" \
        --trace "$w/trace.txt"
    wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket: $(tail -n 3 "$w/shim.log")"
}

# _gpu_screen_has PPM XY-COLOUR...: the binary PPM (P6, maxval 255) exists
# and each "X,Y=RRGGBB" pixel has that colour; prints what it found.
_gpu_screen_has() {
    python3 - "$@" <<'EOF'
import sys
path, checks = sys.argv[1], sys.argv[2:]
try:
    data = open(path, "rb").read()
except OSError as e:
    print(f"no screendump: {e}"); sys.exit(1)
fields, pos = [], 0
while len(fields) < 4:                       # magic, width, height, maxval
    while data[pos:pos + 1].isspace(): pos += 1
    if data[pos:pos + 1] == b"#":
        pos = data.index(b"\n", pos); continue
    end = pos
    while not data[end:end + 1].isspace(): end += 1
    fields.append(data[pos:end]); pos = end
pos += 1
if fields[0] != b"P6" or fields[3] != b"255":
    print(f"not a P6/255 PPM: {fields}"); sys.exit(1)
w, h, ok = int(fields[1]), int(fields[2]), True
found = [f"{w}x{h}"]
for c in checks:
    xy, want = c.split("=")
    x, y = (int(v) for v in xy.split(","))
    if x >= w or y >= h:
        print(f"{w}x{h}: no pixel {x},{y}"); sys.exit(1)
    o = pos + 3 * (y * w + x)
    got = data[o:o + 3].hex()
    found.append(f"{x},{y}={got}")
    ok = ok and got == want.lower()
print(" ".join(found))
sys.exit(0 if ok else 1)
EOF
}

# _gpu_screendump W NAME PPM PIXELS...: one QMP screendump into PPM, then
# the pixel check (a later display update may still be on its way).
_gpu_screendump() {
    local w=$1 name=$2 ppm=$3
    shift 3
    rm -f "$ppm"
    guest_qmp "$w" "$name" screendump "{\"filename\": \"$ppm\"}" >/dev/null 2>"$w/screendump.err" || return 1
    _gpu_screen_has "$ppm" "$@" >"$w/screen.found" 2>&1
}

# _gpu_skip_without_kvm QEMU-LOG: QEMU 7.2 refuses every vhost-user-backend
# device (vhost-user-gpu-pci, vhost-user-input-pci) unless KVM gives it
# ioeventfds (backends/vhost-user.c, vhost_user_backend_dev_init: "vhost
# initialization failed: requires kvm"; later QEMUs dropped the check), and
# the test guest boots only under TCG on hosts where KVM hangs it
# (guest_prepare): the test skips, naming the line.
_gpu_skip_without_kvm() {
    local line
    line=$(grep -m1 'vhost initialization failed: requires kvm' "$1" 2>/dev/null) || return 0
    skip "QEMU ($(guest_qemu_version)) refuses vhost-user-gpu-pci under $GUEST_ACCEL: $line (backends/vhost-user.c needs KVM ioeventfds; guest_prepare chose $GUEST_ACCEL because KVM does not boot the test guest here)"
}

# gpu_guest W NAME: the scenario with after=wait (the machine stays up),
# then screendumps until QEMU's display shows the guest's colours above and
# below the middle (10 s), then QMP quit.
gpu_guest() {
    local w=$1 name=$2 top bottom xres yres out px
    # each channel of top in 0x20..0x7f, of bottom (its complement) in
    # 0x80..0xdf: neither is black, the display's colour before the guest
    top=$(printf '%06x' $(( ((RANDOM << 9 ^ RANDOM) & 0x7f7f7f) | 0x202020 )))
    bottom=$(printf '%06x' $(( 0xffffff ^ 0x$top )))
    local dev=(-chardev "socket,id=c0,path=$w/fe.sock"
               -device "vhost-user-gpu-pci,chardev=c0,max_outputs=$GPU_SCANOUTS$(guest_vhost_pci_opts)$(gpu_pci_opts)")
    [[ ${GPU_SELF_TEST:-0} != 1 ]] || dev=(-device "virtio-gpu-pci,max_outputs=$GPU_SCANOUTS")
    guest_boot "$w" "$name" gpu "scanouts=$GPU_SCANOUTS top=$top bottom=$bottom after=wait wait_s=60" "${dev[@]}"
    out=$(guest_wait_done "$w" "$name" 1) || { _gpu_skip_without_kvm "$w/$name.qemu.log"; guest_fail "$w" "$name" "$out"; }
    guest_results "$w" "$name"
    [[ $(guest_result "$w" "$name" status) == pass ]] ||
        guest_fail "$w" "$name" "guest: $(guest_result "$w" "$name" reason)"
    (( $(guest_result "$w" "$name" drm_connectors) == GPU_SCANOUTS )) ||
        guest_fail "$w" "$name" "DRM has $(guest_result "$w" "$name" drm_connectors) connectors, the device $GPU_SCANOUTS scanouts"
    (( $(guest_results "$w" "$name" | grep -c 'status=connected') >= 1 )) ||
        guest_fail "$w" "$name" "no connector is connected: $(guest_results "$w" "$name" | grep connector= | tr '\n' ' ')"
    xres=$(guest_result "$w" "$name" fb_xres) yres=$(guest_result "$w" "$name" fb_yres)
    px=("$((xres / 2)),$((yres / 4))=$top" "$((xres / 2)),$((yres * 3 / 4))=$bottom")
    wait_for 10 _gpu_screendump "$w" "$name" "$w/screen.ppm" "${px[@]}" ||
        guest_fail "$w" "$name" "QEMU's display does not show the guest's colours ${px[*]}: $(cat "$w/screen.found" "$w/screendump.err" 2>/dev/null)"
    echo "guest: ${xres}x${yres} framebuffer painted $top/$bottom; QEMU's screendump: $(cat "$w/screen.found")"
    guest_quit "$w" "$name" || guest_fail "$w" "$name" "QEMU did not quit"
}

# gpu_fe W: gpu_fe.py against W/fe.sock (output in W/gpu_fe.out).
gpu_fe() {
    python3 "$E2E_ROOT/tests/guest/gpu_fe.py" "$1/fe.sock" >"$1/gpu_fe.out" 2>&1 ||
        guest_fail "$1" g "the back-end did not speak the display protocol on the socket: $(cat "$1/gpu_fe.out")"
    echo "front-end (gpu_fe.py): $(cat "$1/gpu_fe.out")"
}

# gpu_socket_check W MODE: GPU_SET_SOCKET went through each shim to the
# back-end with its fd (the trace's fe->be line), in a chain with the
# conversions' note.
gpu_socket_check() {
    local w=$1 t
    grep -q 'fe->be GPU_SET_SOCKET' "$w/trace.txt" ||
        guest_fail "$w" g "shim #1 did not hand GPU_SET_SOCKET on: $(grep -m2 GPU_SET_SOCKET "$w/trace.txt")"
    [[ $2 == chain ]] || return 0
    for t in "$w/trace.txt" "$w/trace-down.txt"; do
        grep 'GPU_SET_SOCKET' "$t" | grep -q 'no vDPA ioctl overlaps it' ||
            guest_fail "$w" g "$(basename "$t"): GPU_SET_SOCKET without the hand-on note: $(grep -m2 GPU_SET_SOCKET "$t")"
    done
}

gpu_cleanup() {
    guest_stop_all; shim_kill
    [[ -z ${GUEST_DOWN_PID:-} ]] || kill -KILL "$GUEST_DOWN_PID" 2>/dev/null || true
    [[ -z $GPU_BE_PID ]] || kill -KILL "$GPU_BE_PID" 2>/dev/null || true
    guest_cleanup_dir "$1"
}
