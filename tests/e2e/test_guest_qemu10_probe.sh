#!/usr/bin/env bash
# The test guest under QEMU 10.0 from the Debian 13 root (make peer-roots;
# docs/peers.md, "Debian root environments"), started by the guest harness
# through tests/peers/run (GUEST_QEMU_RELEASE=trixie, tests/guest/lib_roots.sh),
# under TCG (GUEST_ACCEL, default tcg here: the Debian kernel hangs under this
# machine's nested KVM, docs/guests.md). The default guest's probe scenario
# runs twice, under the host's QEMU 7.2 and under the root's QEMU 10.0, each
# left waiting after its results (after=wait) so that QMP query-version names
# the QEMU that ran it. Asserted for QEMU 10.0: the guest reached
# "RESULT done status=pass", QMP says 10.0.x, the process ran in the root
# (/proc/PID/root) and no mount of the root is left in the host's
# /proc/mounts after it quit; the host run must still say 7.2.x (the default
# is unchanged). Reported: both boot times (start to RESULT done, and the
# guest's own uptime at boot). Skips (77) when the root is not built, the
# guest cannot be built, or TCG cannot boot it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-qemu10.XXXXXX)
trap 'guest_stop_all; guest_cleanup_dir "$w"' EXIT
GUEST_ACCEL=${GUEST_ACCEL:-tcg}
release=trixie
guest_qemu_root_prepare "$release"
root=$(peer_root_dir "$release")
GUEST_QEMU_RELEASE="" guest_prepare

now() { date +%s.%N; }
qmp_version() {
    guest_qmp "$w" "$1" query-version |
        python3 -c 'import json, sys; q = json.load(sys.stdin)["qemu"]; print("%d.%d.%d" % (q["major"], q["minor"], q["micro"]))'
}
_pid_in_root() { [[ $(readlink "/proc/$1/root") == "$root" ]]; }
root_mounts() { awk -v d="$root" '$2 == d || index($2, d "/") == 1' /proc/mounts; }

# probe NAME RELEASE: the probe scenario under the QEMU of RELEASE (empty:
# the host's); sets VERSION (QMP), SECS (start to RESULT done), UPTIME
# (the guest's uptime at "RESULT boot") and IN_ROOT (the process's root).
probe() {
    local name=$1 t0 t1 out pid
    GUEST_QEMU_RELEASE=$2
    t0=$(now)
    guest_boot "$w" "$name" probe "after=wait wait_s=60"
    pid=${_GUEST_PID[$name]}
    # QEMU is in the root once tests/peers/run has exec'ed it (milliseconds).
    if [[ -n $2 ]]; then IN_ROOT=$(wait_for 5 _pid_in_root "$pid" && echo yes || echo no)
    else IN_ROOT=$(_pid_in_root "$pid" && echo yes || echo no); fi
    out=$(guest_wait_done "$w" "$name" 1) || guest_fail "$w" "$name" "$out"
    t1=$(now)
    VERSION=$(qmp_version "$name") || guest_fail "$w" "$name" "QMP query-version failed: $(tail -n 3 "$w/$name.qemu.log")"
    guest_quit "$w" "$name" || guest_fail "$w" "$name" "QEMU did not quit"
    guest_results "$w" "$name"
    [[ $(guest_result "$w" "$name" status) == pass ]] ||
        guest_fail "$w" "$name" "guest: $(guest_result "$w" "$name" reason)"
    SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    UPTIME=$(guest_result "$w" "$name" uptime)
    echo "guest $name: QEMU $VERSION, RESULT done after ${SECS}s (guest uptime at boot ${UPTIME}s), in the root: $IN_ROOT"
}

probe q10 "$release"
v10=$VERSION s10=$SECS u10=$UPTIME
[[ $v10 == 10.0.* ]] || fail "QEMU from the $release root is $v10, not 10.0"
[[ $IN_ROOT == yes ]] || fail "QEMU 10.0 did not run inside $root (its root: $(readlink "/proc/${_GUEST_PID[q10]:-0}/root" 2>/dev/null))"
[[ -z $(root_mounts) ]] || fail "mounts of the root left behind after QEMU quit: $(root_mounts | cut -d' ' -f2 | tr '\n' ' ')"

probe host ""
[[ $VERSION == 7.2.* ]] || fail "the default QEMU is $VERSION, not the host's 7.2"
[[ $IN_ROOT == no ]] || fail "the default QEMU ran inside $root"

echo "PASS: the probe guest reached RESULT done status=pass under QEMU $v10 from the $release root ($GUEST_ACCEL): ${s10}s to the result (guest uptime ${u10}s), host QEMU $VERSION ${SECS}s (uptime ${UPTIME}s)"
