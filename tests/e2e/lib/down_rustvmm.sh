# shellcheck shell=bash
# down_rustvmm.sh - the steps tests/e2e/test_down_rustvmm_*.sh share
# (sourced after common.sh): the reference vdpa-user driver -> vdpa-shim
# (down-conversion, check=compat-matrix) -> a rust-vmm vhost-device-*
# back-end (../shared/rust-vmm-peers).
#
#   down_setup TAG             work directory $w, removed on exit (KEEP=1 keeps it)
#   down_backend_bin NAME      vhost-device-NAME's path, or a loud skip if it is not built
#   down_backend_start CMD...  starts the back-end (BE_PID), output in $w/be.log
#   down_shim_start KEYS       the shim with type=...,id=... KEYS and --trace
#   down_run_driver ARGS...    vdpa-driver on the shim's socket; fails with the logs
#   down_check_trace ID RING...  down-conversion began, no vdpa-user request
#                              reached the back-end, each RING was started in it
#   down_finish                the session ends; the shim stops cleanly, with no
#                              `: check: ` line in its log (shim_stop)

# shellcheck source=tests/e2e/lib/rustvmm.sh
. "$E2E_ROOT/tests/e2e/lib/rustvmm.sh"

BE_PID="" _DOWN_PIDS=()
_down_cleanup() {
    shim_kill
    [[ -z $BE_PID ]] || kill -KILL "$BE_PID" 2>/dev/null || true
    local p
    for p in "${_DOWN_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null
    [[ -n ${KEEP:-} ]] || rm -rf "$w"
}

down_setup() {
    w=$(mktemp -d "${TMPDIR:-/tmp}/vdpa-down-$1.XXXXXX")
    trap _down_cleanup EXIT
    DRIVER_BIN=$E2E_ROOT/${BUILD:-build}/vdpa-driver
    [[ -x $DRIVER_BIN ]] || fail "$DRIVER_BIN is missing (run make first)"
}

# down_track PID: a helper process killed at exit.
down_track() { _DOWN_PIDS+=("$1"); disown "$1"; }

# down_backend_bin NAME: vhost-device-NAME (rustvmm.sh), or the test is
# skipped with the reason (exit 77 from inside $(...): `|| exit`).
down_backend_bin() {
    rustvmm_bin "$1"
}

down_backend_start() {
    "$@" >"$w/be.log" 2>&1 &
    BE_PID=$!
}

down_shim_start() {
    shim_start "$w/shim.log" --device "$1,frontend=$w/fe.sock,check=$E2E_ROOT/compat-matrix" \
        --trace "$w/trace.txt"
    wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
}

down_run_driver() {
    local rc=0
    timeout 60 "$DRIVER_BIN" --socket "$w/fe.sock" "$@" >"$w/driver.out" 2>"$w/driver.log" || rc=$?
    cat "$w/driver.out"
    if (( rc != 0 )); then
        echo "--- driver log:"; tail -n 20 "$w/driver.log"
        echo "--- back-end log:"; tail -n 10 "$w/be.log"
        echo "--- trace tail:"; tail -n 30 "$w/trace.txt"
        fail "vdpa-driver exited with status $rc"
    fi
}

down_check_trace() {
    local id=$1 t=$w/trace.txt ring
    shift
    grep -q "$id fe->shim SET_PROTOCOL_FEATURES .*VDPA.* -- down-conversion begins" "$t" ||
        fail "no down-conversion in the trace: $(grep -m2 'PROTOCOL_FEATURES' "$t")"
    grep -qE "$id shim->be (SET_STATUS|GET_STATUS|VDPA_)" "$t" && fail "a vdpa-user request reached the back-end"
    for ring in "$@"; do
        grep -qE "$id shim->be SET_VRING_ENABLE (need_reply )?index=$ring num=1" "$t" ||
            fail "ring $ring never started in the back-end"
    done
}

down_finish() {
    wait_for 10 grep -q "session ended" "$w/shim.log" || fail "the session did not end after the driver left"
    shim_stop
}
