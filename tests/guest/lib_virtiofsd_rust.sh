# shellcheck shell=bash
# lib_virtiofsd_rust.sh - the Rust virtiofsd (Debian 13's package virtiofsd,
# 1.13; rust-vmm's vhost-user-backend) as a test peer. It needs Debian 13's
# glibc, so it runs inside the Debian 13 root through tests/peers/run
# (docs/peers.md, "Debian root environments"), the test's work directory W
# bound at its own path (the socket and the shared directory are in it).
# Sourced by the tests after tests/e2e/lib/common.sh (no guest needed).
#
#   vfsr_prepare              the root is built and the binary starts in it;
#                             else the test skips (exit 77) with the reason
#   vfsr_start W NONCE [ARG...]  W/share (made here, host.txt saying
#                             "host-file nonce=NONCE") served on W/be.sock
#                             (--sandbox chroot --cache never); ARGs are
#                             virtiofsd's own (--tag=T); its log in VFSR_LOG
#   vfsr_wait_exit [S]        the front-end went: virtiofsd must exit within S
#                             seconds (10); its status in VFSR_STATUS
#   vfsr_stop                 SIGKILL (trap-friendly)
#   vfsr_offer TRACE ID       what the back-end offered, from a shim's trace:
#                             its GET_FEATURES and GET_PROTOCOL_FEATURES replies
#   vfsr_be_protocol TRACE ID the back-end's own protocol features (hex)
#   vfsr_fe_protocol TRACE ID the protocol features the front-end was shown
#   vfsr_offers_config TRACE ID [fe]  the back-end offered PROTOCOL_F_CONFIG
#                             (with fe: the front-end was shown it)
#   VU_PF_CONFIG_BIT          PROTOCOL_F_CONFIG's bit (9)
#
#   VFSR_RELEASE   the root (trixie)
#   VFSR_BIN       the binary inside it (/usr/libexec/virtiofsd)
# Facts (virtiofsd 1.13.2): it serves one front-end and exits when it
# disconnects; --tag makes it offer PROTOCOL_F_CONFIG (QEMU 7.1-8.0 crash on
# that offer, its --help says: never give --tag to QEMU 7.2 directly).

# shellcheck source=../peers/lib.sh
. "$E2E_ROOT/tests/peers/lib.sh"
VFSR_RELEASE=${VFSR_RELEASE:-trixie}
VFSR_BIN=${VFSR_BIN:-/usr/libexec/virtiofsd}
VU_PF_CONFIG_BIT=9
VFSR_PID="" VFSR_LOG="" VFSR_STATUS="" VFSR_VERSION="" _VFSR_N=0

vfsr_prepare() {
    local why v
    why=$(peer_root_ready "$VFSR_RELEASE") || skip "$why"
    [[ -x $(peer_root_dir "$VFSR_RELEASE")$VFSR_BIN ]] ||
        skip "the Rust virtiofsd is not in the Debian $VFSR_RELEASE root: no $(peer_root_dir "$VFSR_RELEASE")$VFSR_BIN (package virtiofsd in tests/peers/roots.list; make peer-roots)"
    v=$("$E2E_ROOT/tests/peers/run" "$VFSR_RELEASE" "$VFSR_BIN" --version 2>&1) ||
        skip "the Rust virtiofsd does not start in the Debian $VFSR_RELEASE root: $v"
    VFSR_VERSION=${v##* }
    echo "virtiofsd $VFSR_VERSION (Rust) from the Debian $VFSR_RELEASE root ($(peer_root_dir "$VFSR_RELEASE"))"
}

vfsr_start() {
    local w=$1 nonce=$2
    shift 2
    mkdir -p "$w/share"
    echo "host-file nonce=$nonce" > "$w/share/host.txt"
    rm -f "$w/be.sock"
    _VFSR_N=$((_VFSR_N + 1))
    VFSR_LOG=$w/virtiofsd-rust.$_VFSR_N.log
    VFSR_STATUS=""
    "$E2E_ROOT/tests/peers/run" --bind "$w" "$VFSR_RELEASE" "$VFSR_BIN" \
        --socket-path="$w/be.sock" --shared-dir="$w/share" --sandbox=chroot --cache=never \
        --log-level=debug "$@" </dev/null >"$VFSR_LOG" 2>&1 &
    VFSR_PID=$!
    wait_for 10 test -S "$w/be.sock" ||
        skip "the Rust virtiofsd did not start: $(tail -n 3 "$VFSR_LOG")"
}

_vfsr_gone() { ! kill -0 "$1" 2>/dev/null; }

vfsr_wait_exit() {
    local pid=$VFSR_PID
    [[ -n $pid ]] || fail "vfsr_wait_exit: no virtiofsd running"
    wait_for "${1:-10}" _vfsr_gone "$pid" ||
        fail "the Rust virtiofsd did not exit within ${1:-10} s after its front-end went: $(tail -n 3 "$VFSR_LOG")"
    VFSR_STATUS=0
    # shellcheck disable=SC2034 # read by the tests
    wait "$pid" 2>/dev/null || VFSR_STATUS=$?
    VFSR_PID=""
}

vfsr_stop() {
    [[ -z $VFSR_PID ]] || { kill -KILL "$VFSR_PID" 2>/dev/null || true; wait "$VFSR_PID" 2>/dev/null || true; }
    VFSR_PID=""
}

# vfsr_offer TRACE ID: the back-end's first GET_FEATURES and
# GET_PROTOCOL_FEATURES replies in a shim's trace (pass-through: be->fe;
# conversions: the shim's own requests, be->shim).
vfsr_offer() {
    local f p
    f=$(grep -m1 -E "^[^ ]+ $2 be->(fe|shim) GET_FEATURES reply" "$1" | sed 's/.* reply //') || true
    p=$(grep -m1 -E "^[^ ]+ $2 be->(fe|shim) GET_PROTOCOL_FEATURES reply" "$1" | sed 's/.* reply //') || true
    echo "$f; $p"
}

# vfsr_be_protocol TRACE ID: the back-end's protocol features as it sent them
# (a converting shim's trace names them "(back-end 0x...)" after its offer).
vfsr_be_protocol() {
    local l
    l=$(grep -m1 -E "^[^ ]+ $2 be->(fe|shim) GET_PROTOCOL_FEATURES reply" "$1") || return 1
    if [[ $l == *"(back-end 0x"* ]]; then
        l=${l##*(back-end }; echo "${l%%)*}"
    else
        l=${l#*protocol_features=}; echo "${l%% *}"
    fi
}

# vfsr_fe_protocol TRACE ID: the protocol features in the reply the front-end
# got (a converting shim's offer, or the back-end's in pass-through).
vfsr_fe_protocol() {
    local l
    l=$(grep -m1 -E "^[^ ]+ $2 be->fe GET_PROTOCOL_FEATURES reply" "$1") || return 1
    l=${l#*protocol_features=}; echo "${l%% *}"
}

vfsr_offers_config() {
    local p
    if [[ ${3:-} == fe ]]; then p=$(vfsr_fe_protocol "$1" "$2") || return 1
    else p=$(vfsr_be_protocol "$1" "$2") || return 1; fi
    (( (p >> VU_PF_CONFIG_BIT) & 1 ))
}
