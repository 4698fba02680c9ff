#!/usr/bin/env bash
# The Debian root environments (make peer-roots, tests/peers/; docs/peers.md,
# "Debian root environments"), with the trixie root built:
#  * build-root.sh --check says up to date, and build-root.sh reuses the root
#    (says "up to date" within 10 s, the stamp untouched);
#  * tests/peers/run trixie qemu-system-x86_64 --version is QEMU 10.0;
#  * a bound directory is the same directory inside (a file written inside is
#    read outside), the working directory follows;
#  * the pid `run ... &` gives is the program's (its comm, its root is the
#    root's) and SIGTERM reaches it (status 143);
#  * a fake test in its own process group runs a program that forks, inside
#    the root; its mounts are in the program's namespace only, never in the
#    host's /proc/mounts; the process group is SIGKILLed; afterwards no process
#    is left in that mount namespace, no mount is under the root in
#    /proc/mounts, and the bind's mount point (in the private /tmp) is gone;
#  * a root that is not built or whose package list changed: run exits 127
#    with the reason, build-root.sh --check exits 1.
# Skips (77) when the root is not built (make peer-roots) or without root.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$E2E_ROOT/tests/peers/lib.sh"
run=$E2E_ROOT/tests/peers/run
build=$E2E_ROOT/tests/peers/build-root.sh
release=trixie
(( EUID == 0 )) || skip "the Debian roots need root (mount namespaces, chroot)"
why=$(peer_root_ready "$release") || skip "$why"
root=$(peer_root_dir "$release")
w=$(mktemp -d /tmp/vdpa-shim-peer-roots.XXXXXX)
pids=()
cleanup() {
    local p
    for p in ${pids[@]+"${pids[@]}"}; do kill -KILL -- "$p" 2>/dev/null || true; done
    rm -rf "$w"
}
trap cleanup EXIT
root_mounts() { awk -v d="$root" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts; }
[[ -z $(root_mounts) ]] || fail "mounts under $root before the test: $(root_mounts | tr '\n' ' ')"

# Reuse.
"$build" --check "$release" >"$w/check.out" || fail "build-root.sh --check: $(cat "$w/check.out")"
before=$(stat -c %Y "$root/$PEER_ROOT_STAMP")
t0=$SECONDS
timeout 60 "$build" "$release" >"$w/build.out" 2>&1 || fail "build-root.sh failed: $(cat "$w/build.out")"
grep -q "$release: up to date" "$w/build.out" || fail "build-root.sh did not reuse the root: $(cat "$w/build.out")"
(( SECONDS - t0 <= 10 )) || fail "build-root.sh took $((SECONDS - t0))s to say up to date"
[[ $(stat -c %Y "$root/$PEER_ROOT_STAMP") == "$before" ]] || fail "build-root.sh touched the stamp"
cat "$w/build.out"

# QEMU 10.0.
v=$("$run" "$release" qemu-system-x86_64 --version | sed -n 1p) || fail "qemu-system-x86_64 --version failed in the root: $v"
[[ $v == *"version 10.0."* ]] || fail "QEMU in the $release root is not 10.0: $v"
echo "in the root: $v"

# Binds and the working directory.
(cd "$w" && "$run" --bind "$w" "$release" sh -c 'pwd > cwd; grep PRETTY_NAME /etc/os-release > os') ||
    fail "a program writing in the bound directory failed"
[[ $(cat "$w/cwd") == "$w" ]] || fail "working directory inside: $(cat "$w/cwd"), not $w"
grep -q 'Debian GNU/Linux 13' "$w/os" || fail "not the Debian 13 root inside: $(cat "$w/os")"

# The pid is the program's; SIGTERM reaches it.
"$run" --bind "$w" "$release" sleep 300 &
pid=$!
pids+=("$pid")
in_root() { [[ $(readlink "/proc/$1/root") == "$root" && $(cat "/proc/$1/comm") == "$2" ]]; }
wait_for 5 in_root "$pid" sleep || fail "pid $pid is not sleep inside $root: $(cat "/proc/$pid/comm" 2>/dev/null)"
kill -TERM "$pid"
st=0; wait "$pid" || st=$?
(( st == 143 )) || fail "sleep exited with $st after SIGTERM, not 143"
echo "run: pid $pid is the program (sleep, root $root); SIGTERM -> status $st"

# A killed test leaves no mount: a fake test in its own process group.
# shellcheck disable=SC2016 # the inner shell expands them
# (started from a subshell, so that this shell reports no killed job)
fake=$(setsid bash -c '"$1" --bind "$2" "$3" sh -c "sleep 301 & exec sleep 302" & wait' _ "$run" "$w" "$release" \
    >/dev/null 2>&1 & echo $!)
pids+=("$fake")
pgid() { ps -o pgid= -p "$1" | tr -d ' '; }
wait_for 5 test -n "$(pgid "$fake")" || fail "the fake test did not start"
pg=$(pgid "$fake")
(( pg == fake )) || fail "the fake test is not its own process group ($pg, pid $fake)"
pids+=("-$pg")
group_in_root() { local p; for p in $(pgrep -g "$1"); do in_root "$p" sleep && echo "$p"; done; }
two_in_root() { (( $(group_in_root "$1" | wc -l) == 2 )); }
wait_for 5 two_in_root "$pg" || fail "the fake test's program did not start in the root: $(pgrep -a -g "$pg")"
prog=$(group_in_root "$pg" | sed -n 1p)
ns=$(readlink "/proc/$prog/ns/mnt")
[[ $ns != "$(readlink /proc/self/ns/mnt)" ]] || fail "the program is in the host's mount namespace"
grep -q " $w " "/proc/$prog/mountinfo" || fail "the bind of $w is not in the program's mounts"
[[ -z $(root_mounts) ]] || fail "the program's mounts are visible in the host's /proc/mounts: $(root_mounts | tr '\n' ' ')"
echo "fake test: process group $pg, $(group_in_root "$pg" | wc -l) processes in the root, mount namespace $ns ($(wc -l < "/proc/$prog/mountinfo") mounts), none in the host's"
kill -KILL -- "-$pg"
in_ns() { local f; for f in /proc/[0-9]*/ns/mnt; do [[ $(readlink "$f" 2>/dev/null) == "$ns" ]] && return 0; done; return 1; }
wait_for 5 bash -c '! pgrep -g "$1" >/dev/null' _ "$pg" || fail "processes of group $pg survived SIGKILL: $(pgrep -a -g "$pg")"
wait_for 5 bash -c "$(declare -f in_ns); ns='$ns'; ! in_ns" || fail "a process is still in mount namespace $ns"
[[ -z $(root_mounts) ]] || fail "mounts left under $root after the kill: $(root_mounts | tr '\n' ' ')"
[[ ! -e $root$w ]] || fail "the bind's mount point $root$w is left in the root"
echo "after SIGKILL of the group: no process in $ns, no mount under $root"

# A root that is not built, or out of date.
st=0; PEER_ROOTS_DIR=$w/none "$run" "$release" true 2>"$w/err" || st=$?
(( st == 127 )) && grep -q 'not built' "$w/err" || fail "run without a root: status $st, $(cat "$w/err")"
echo "no root: run exits $st: $(cat "$w/err")"
st=0; PEER_ROOTS_DIR=$w/none "$build" --check "$release" >"$w/err" || st=$?
(( st == 1 )) || fail "build-root.sh --check without a root: status $st"
sed "s/^$release: .*/$release: qemu-system-x86 qemu-utils/" "$PEER_ROOTS_LIST" > "$w/list"
st=0; PEER_ROOTS_LIST=$w/list "$run" "$release" true 2>"$w/err" || st=$?
(( st == 127 )) && grep -q 'out of date' "$w/err" || fail "run with a changed package list: status $st, $(cat "$w/err")"
echo "changed package list: run exits $st: $(cat "$w/err")"
echo "PASS: the $release root is reused, runs $v; binds, pid and signals pass through; a SIGKILLed test left no mount and no namespace"
