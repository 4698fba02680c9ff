# shellcheck shell=bash
# lib_roots.sh - the guest harness's QEMU from a Debian root environment
# (tests/peers/run; docs/peers.md, "Debian root environments"). Sourced by
# tests/guest/lib.sh.
#   GUEST_QEMU_RELEASE   empty (the default): guest_boot runs the host's
#                        qemu-system-x86_64 (QEMU 7.2). A release (trixie):
#                        the root's, through tests/peers/run, with the work
#                        directory W, GUEST_DIR (kernel, initramfs) and
#                        GUEST_QEMU_BIND bound at their own paths
#   GUEST_QEMU_BIND      more paths QEMU's arguments name (colon-separated):
#                        disk images, sockets outside W
#
#   guest_qemu_root_prepare RELEASE   sets GUEST_QEMU_RELEASE, or skips the
#                                     test (exit 77) when the root is not built
#   guest_qemu_cmd W                  sets GUEST_QEMU_CMD (guest_boot's hook)
#   guest_qemu_version                the first line of its --version

# shellcheck source=../peers/lib.sh
. "$E2E_ROOT/tests/peers/lib.sh"
GUEST_QEMU_RELEASE=${GUEST_QEMU_RELEASE:-}
GUEST_QEMU_CMD=(qemu-system-x86_64)

# guest_qemu_root_prepare RELEASE: the root must be built for its current
# package list and QEMU must start in it; else the test skips with the reason.
guest_qemu_root_prepare() {
    local why v
    why=$(peer_root_ready "$1") || skip "$why"
    v=$("$E2E_ROOT/tests/peers/run" "$1" qemu-system-x86_64 --version 2>&1 | sed -n 1p) ||
        skip "QEMU does not start in the Debian $1 root: $v"
    GUEST_QEMU_RELEASE=$1
    echo "guest: QEMU from the Debian $1 root ($(peer_root_dir "$1")): $v"
}

# guest_qemu_cmd W: GUEST_QEMU_CMD, the command guest_boot starts QEMU with.
guest_qemu_cmd() {
    GUEST_QEMU_CMD=(qemu-system-x86_64)
    [[ -n $GUEST_QEMU_RELEASE ]] || return 0
    GUEST_QEMU_CMD=(env "PEER_BIND=$1:$GUEST_DIR${GUEST_QEMU_BIND:+:$GUEST_QEMU_BIND}"
        "$E2E_ROOT/tests/peers/run" "$GUEST_QEMU_RELEASE" qemu-system-x86_64)
}

guest_qemu_version() {
    if [[ -n $GUEST_QEMU_RELEASE ]]; then
        "$E2E_ROOT/tests/peers/run" "$GUEST_QEMU_RELEASE" qemu-system-x86_64 --version | sed -n 1p
    else
        qemu-system-x86_64 --version | sed -n 1p
    fi
}
