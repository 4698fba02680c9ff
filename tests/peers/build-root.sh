#!/usr/bin/env bash
# build-root.sh [--check] [RELEASE...] - `make peer-roots`: the Debian root
# environments the version tests run peers in (docs/peers.md, "Debian root
# environments"): for each RELEASE (default PEER_ROOTS_RELEASES, else trixie bullseye)
# a root made once with `debootstrap --variant=minbase RELEASE` from the
# Debian mirror apt is configured with, then its packages of
# tests/peers/roots.list installed with `apt-get install --no-install-recommends`,
# in PEER_ROOTS_DIR/RELEASE (default /var/cache/vdpa-shim/peers/RELEASE,
# outside the clone). tests/peers/run runs a program in it.
#   PEER_ROOTS_DIR       the cache (tests/peers/lib.sh)
#   PEER_ROOTS_MIRROR    the mirror (default: the first Debian URI of apt's sources)
#   PEER_ROOTS_WAIT_S    how long to wait for another build of the same root (3600)
# Up to date (nothing done): the root's stamp holds its release, the recipe's
# version and its package list, unchanged. A changed list makes the root again
# from nothing. An interrupted build resumes: after debootstrap completed (the
# root's .vdpa-shim-debootstrap mark) only the packages are installed; before,
# the partial root is removed. Progress (phase, time, size) every 15 s; the
# tools' output in PEER_ROOTS_DIR/RELEASE.build.log.
# Needs root (sudo otherwise), debootstrap and the mirror. Nothing stays
# mounted: apt runs through tests/peers/run (a private mount namespace).
# --check: exit 0 when every root is up to date, 1 otherwise; builds nothing.
# Exit 0 up to date or built; 1 a root could not be built (the tests that need
# it skip, counted, with the reason).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
wait_s=${PEER_ROOTS_WAIT_S:-3600}
heartbeat_s=15
check_only=0
[[ ${1:-} == --check ]] && { check_only=1; shift; }
releases=("$@")
(( ${#releases[@]} )) || read -r -a releases <<< "${PEER_ROOTS_RELEASES:-trixie bullseye}"

say() { echo "peer-roots: $*"; }
size_of() { du -xsh "$1" 2>/dev/null | cut -f1; }
# versions ROOT: the installed versions its stamp records, "pkg version, ...".
versions() { tail -n +2 "$1/$PEER_ROOT_STAMP" | tr '\t' ' ' | paste -sd, - | sed 's/,/, /g'; }

# progress PID WHAT LOG ROOT T0: waits for PID, every heartbeat_s the time,
# the root's size and the log's last line; returns PID's status.
progress() {
    local pid=$1 what=$2 log=$3 root=$4 t0=$5 beat=$SECONDS rc=0
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        if (( SECONDS - beat >= heartbeat_s )); then
            beat=$SECONDS
            say "  $what: $((SECONDS - t0))s, root $(size_of "$root"): $(tail -n 1 "$log" | cut -c1-90)"
        fi
    done
    wait "$pid" || rc=$?
    return "$rc"
}

mirror() {
    local m=${PEER_ROOTS_MIRROR:-}
    [[ -n $m ]] || m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [[ -n $m ]] || m=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
    echo "$m"
}

# wipe ROOT: removes a root that nothing has mounted anything in.
wipe() {
    local m
    for m in $(peer_root_mounts "$1"); do umount -l "$m" || true; done
    [[ -z $(peer_root_mounts "$1") ]] || { say "mounts remain under $1: not removing it"; return 1; }
    rm -rf --one-file-system "$1"
}

# build RELEASE: makes or finishes the root; 0 built, 1 failed.
build() {
    local rel=$1 r log t0=$SECONDS key pkgs mirror rc=0 stamp
    r=$(peer_root_dir "$rel") log=$(peer_root_dir "$rel").build.log
    key=$(peer_root_key "$rel") || { say "$rel: not in $PEER_ROOTS_LIST"; return 1; }
    pkgs=$(peer_root_packages "$rel")
    stamp=$r/$PEER_ROOT_STAMP
    if [[ -f $stamp && $(head -n 1 "$stamp") != "$key" ]]; then
        say "$rel: the package list changed ($(head -n 1 "$stamp" | sed 's/.*packages=//') -> $pkgs): making the root again"
        wipe "$r" || return 1
    elif [[ -e $r && ! -f $r/$PEER_ROOT_BOOTSTRAPPED ]]; then
        say "$rel: $r is an unfinished debootstrap: removing it"
        wipe "$r" || return 1
    fi
    : > "$log"
    if [[ ! -f $r/$PEER_ROOT_BOOTSTRAPPED ]]; then
        mirror=$(mirror)
        [[ -n $mirror ]] || { say "$rel: no Debian mirror in apt's sources (set PEER_ROOTS_MIRROR)"; return 1; }
        command -v debootstrap >/dev/null || { say "$rel: debootstrap is not installed (make deps)"; return 1; }
        say "$rel: debootstrap --variant=minbase $rel $r $mirror (about 1 minute, 210 MB)"
        mkdir -p "$PEER_ROOTS_DIR"
        nice -n 10 debootstrap --variant=minbase "$rel" "$r" "$mirror" >>"$log" 2>&1 &
        progress $! debootstrap "$log" "$r" "$t0" || rc=$?
        if (( rc != 0 )); then
            say "$rel: debootstrap FAILED (exit $rc) after $((SECONDS - t0))s; last lines of $log:"
            tail -n 8 "$log" | sed 's/^/peer-roots:   /'
            return 1
        fi
        echo "debootstrap --variant=minbase $rel $mirror $(date -u +%FT%TZ)" > "$r/$PEER_ROOT_BOOTSTRAPPED"
        say "$rel: base system in $((SECONDS - t0))s, $(size_of "$r")"
    else
        say "$rel: base system already there ($(cat "$r/$PEER_ROOT_BOOTSTRAPPED"))"
    fi
    say "$rel: apt-get install --no-install-recommends $pkgs"
    # shellcheck disable=SC2086
    PEER_ROOT_UNCHECKED=1 nice -n 10 "$here/run" "$rel" /bin/sh -c \
        'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" && apt-get clean && rm -rf /var/lib/apt/lists/*' \
        sh $pkgs </dev/null >>"$log" 2>&1 &
    progress $! apt-get "$log" "$r" "$t0" || rc=$?
    if (( rc != 0 )); then
        say "$rel: apt-get FAILED (exit $rc) after $((SECONDS - t0))s; last lines of $log:"
        tail -n 8 "$log" | sed 's/^/peer-roots:   /'
        return 1
    fi
    # shellcheck disable=SC2086
    { echo "$key"; chroot "$r" dpkg-query -W $pkgs; } > "$stamp.new" && mv "$stamp.new" "$stamp"
    say "$rel: built in $((SECONDS - t0))s: $r ($(size_of "$r")): $(versions "$r")"
}

# one RELEASE: up to date, or built under a lock (another build waited for).
one() {
    local rel=$1 r why
    r=$(peer_root_dir "$rel")
    if why=$(peer_root_ready "$rel"); then
        (( check_only )) || say "$rel: up to date: $r ($(size_of "$r"); $(versions "$r")), package list unchanged"
        return 0
    fi
    (( check_only )) && { say "$why"; return 1; }
    mkdir -p "$PEER_ROOTS_DIR"
    exec 9>"$PEER_ROOTS_DIR/.$rel.lock"
    if ! flock -n 9; then
        say "$rel: another build of $r is running: waiting for it (at most ${wait_s}s)"
        flock -w "$wait_s" 9 || { say "$rel: still locked after ${wait_s}s"; return 1; }
        if peer_root_ready "$rel" >/dev/null; then say "$rel: up to date (built meanwhile)"; exec 9>&-; return 0; fi
    fi
    say "$rel: $why"
    build "$rel" || { exec 9>&-; return 1; }
    exec 9>&-
}

if (( ! check_only && EUID != 0 )); then
    all_ready=1
    for rel in "${releases[@]}"; do peer_root_ready "$rel" >/dev/null || all_ready=0; done
    if (( ! all_ready )); then
        command -v sudo >/dev/null || { say "building a root needs root (debootstrap, chroot) and there is no sudo"; exit 1; }
        say "building a root needs root (debootstrap, chroot): sudo"
        exec sudo env PEER_ROOTS_DIR="$PEER_ROOTS_DIR" PEER_ROOTS_LIST="$PEER_ROOTS_LIST" \
            PEER_ROOTS_MIRROR="${PEER_ROOTS_MIRROR:-}" PEER_ROOTS_WAIT_S="$wait_s" "$0" "${releases[@]}"
    fi
fi
failed=()
for rel in "${releases[@]}"; do one "$rel" || failed+=("$rel"); done
if (( ${#failed[@]} )); then
    (( check_only )) || say "FAILED: ${failed[*]}: the tests that need these roots skip (counted, with the reason)"
    exit 1
fi
