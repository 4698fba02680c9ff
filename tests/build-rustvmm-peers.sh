#!/usr/bin/env bash
# build-rustvmm-peers.sh [--check] - `make peers`: the rust-vmm vhost-device-*
# back-ends the per-type live tests run (docs/peers.md), built by the
# project's shared build script (../shared/rust-vmm-peers/build.sh next to
# the clone: pinned upstream tarballs, Debian 13 crates in a trixie root,
# offline) into a cache outside the clone.
#   PEERS_SRC   the shared directory (default: ../shared/rust-vmm-peers
#               beside the repository). Absent (a user's clone): says so and
#               exits 0; the tests that need a peer skip (tests/e2e/lib/rustvmm.sh).
#   PEERS_ROOT  build.sh's ROOT, the trixie root (default
#               /var/cache/vdpa-shim/peers/trixie-rust, about 2.3 GB)
#   PEERS_OUT   build.sh's OUT, where the binaries go (default PEERS_ROOT/out)
#   PEERS_WAIT_S  how long to wait for a build already running (default 3600)
# Up to date, nothing built: every binary build.sh builds is in PEERS_OUT and
# PEERS_OUT/.stamp holds the checksums of build.sh and the tarballs they were
# built from. Otherwise build.sh runs (as root: sudo when not root), its
# output in PEERS_OUT/.build.log; progress (what is built, time, size) here.
# --check: exit 0 when up to date, 1 when a build is needed, 2 when there is
# no shared directory; builds nothing.
# Exit 0 up to date, built, or no shared directory; 1 the build failed.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=${PEERS_SRC:-$repo/../shared/rust-vmm-peers}
root=${PEERS_ROOT:-/var/cache/vdpa-shim/peers/trixie-rust}
out=${PEERS_OUT:-$root/out}
wait_s=${PEERS_WAIT_S:-3600}
heartbeat_s=30
check_only=0
[[ ${1:-} == --check ]] && check_only=1

say() { echo "peers: $*"; }

if [[ ! -f $src/build.sh ]]; then
    (( check_only )) && exit 2
    say "no $src/build.sh (a clone without the project's shared directory): the rust-vmm"
    say "back-ends are not built, and the tests that need one skip. To build them from"
    say "upstream at the pinned commit, see docs/peers.md."
    exit 0
fi
src=$(cd "$src" && pwd)

# The binaries build.sh builds: the names of its BUILDS list.
names=$(sed -n '/^BUILDS="/,/"$/p' "$src/build.sh" | sed 's/^BUILDS="//' | cut -d'|' -f1)
[[ -n $names ]] || { say "cannot read the list of back-ends from $src/build.sh (BUILDS=...)"; exit 1; }
# Variants the project builds on top of build.sh's back-ends, each named
# for its one-line patch: NAME|CRATE|FILE|SED. vhost-device-sound (f44737d)
# takes rings of at most 64 entries (src/device.rs max_queue_size) and QEMU
# 10.0's vhost-user-snd-pci always uses 1024, so the two cannot run together,
# with or without a shim (the back-end panics); the sound guest tests run
# vhost-device-sound-q1024, whose only change is that limit.
variants=('sound-q1024|sound|src/device.rs|s/^        64$/        1024/')
variant_names() { local v; for v in "${variants[@]}"; do echo "${v%%|*}"; done; }
key() { (cd "$src" && sha256sum build.sh ./*.tar.gz) && printf '%s\n' "${variants[@]}"; }
missing() {
    local n m=()
    for n in $names $(variant_names); do [[ -x $out/vhost-device-$n ]] || m+=("$n"); done
    echo "${m[*]}"
}
# build_variant NAME|CRATE|FILE|SED: the crate build.sh prepared, patched,
# built in the same root (offline) with the crate's cargo arguments from
# build.sh; fails when the patch changes nothing.
build_variant() {
    local name crate file expr args
    IFS='|' read -r name crate file expr <<< "$1"
    # the cargo arguments build.sh gives the crate (sound: --no-default-features)
    args=$(sed -n '/^BUILDS="/,/"$/p' "$src/build.sh" | sed 's/^BUILDS="//; s/"$//' |
        awk -F'|' -v c="$crate" '$1 == c { print $3 }')
    chroot "$root" bash -c "set -e; cd /root/rv/build; rm -rf $name; cp -a $crate $name; cd $name
        sed -i '$expr' $file; ! cmp -s $file ../$crate/$file
        CARGO_TARGET_DIR=/root/rv/target nice -n 19 cargo build --release --offline $args" \
        > "$root/root/rv/log-$name.txt" 2>&1 || return 1
    cp "$root/root/rv/target/release/vhost-device-$crate" "$out/vhost-device-$name"
}
up_to_date() { [[ -f $out/.stamp && $(cat "$out/.stamp") == "$(key)" && -z $(missing) ]]; }
# A build already running (build.sh started by hand or another make peers).
running() { pgrep -f 'rust-vmm-peers/build\.sh' >/dev/null; }

if (( ! check_only )) && running; then
    say "a build.sh is already running (pid $(pgrep -f 'rust-vmm-peers/build\.sh' | tr '\n' ' ')): waiting for it (at most ${wait_s}s)"
    t0=$SECONDS
    while running; do
        (( SECONDS - t0 < wait_s )) || { say "it still runs after ${wait_s}s: giving up"; exit 1; }
        sleep 5
    done
    say "it ended after $((SECONDS - t0))s"
fi
if up_to_date; then
    (( check_only )) || say "up to date: $(wc -w <<< "$names") back-ends in $out ($(du -sh "$out" | cut -f1)), built from $src (checksums unchanged)"
    exit 0
fi
(( check_only )) && exit 1

if (( EUID != 0 )); then
    command -v sudo >/dev/null || { say "building needs root (debootstrap, chroot) and there is no sudo"; exit 1; }
    say "building needs root (debootstrap, chroot): sudo"
    exec sudo env PEERS_SRC="$src" PEERS_ROOT="$root" PEERS_OUT="$out" PEERS_WAIT_S="$wait_s" "$0"
fi

mkdir -p "$out"
exec 9>"$out/.lock"
flock -w "$wait_s" 9 || { say "another make peers holds $out/.lock for over ${wait_s}s"; exit 1; }
if up_to_date; then say "up to date (built meanwhile by another make peers)"; exit 0; fi

if [[ -f $out/.stamp ]]; then why="the sources changed since the last build"
elif [[ -z $(missing) ]]; then why="no record of the sources the binaries were built from"
else why="missing: $(missing)"; fi
say "building $(tr '\n' ' ' <<< "$names")with $src/build.sh ($why)"
say "root $root ($( [[ -x $root/usr/bin/apt-get ]] && echo "reused" || echo "made with debootstrap first: about 5 minutes, 2.3 GB")), binaries to $out, log $out/.build.log"
rm -f "$out/.stamp"
log=$out/.build.log t0=$SECONDS
ROOT=$root OUT=$out bash "$src/build.sh" >"$log" 2>&1 &
pid=$!
shown=0 beat=$SECONDS
while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    # build.sh prints "NAME OK Ns" or "NAME FAILED (...)" per back-end.
    n=$(grep -cE '^[a-z0-9-]+ (OK|FAILED)' "$log" || true)
    if (( n > shown )); then
        grep -E '^[a-z0-9-]+ (OK|FAILED)' "$log" | sed -n "$((shown + 1)),${n}p" | sed 's/^/peers:   /'
        shown=$n
    fi
    if (( SECONDS - beat >= heartbeat_s )); then
        beat=$SECONDS
        say "$((SECONDS - t0))s, $shown of $(wc -w <<< "$names") back-ends, root $(du -xsh "$root" 2>/dev/null | cut -f1): $(tail -n 1 "$log" | cut -c1-100)"
    fi
done
rc=0
wait "$pid" || rc=$?
grep -E '^[a-z0-9-]+ (OK|FAILED)' "$log" | sed -n "$((shown + 1)),\$p" | sed 's/^/peers:   /'
if (( rc == 0 )); then
    grep -q " $root/proc " /proc/mounts || mount -t proc proc "$root/proc"
    for v in "${variants[@]}"; do
        t1=$SECONDS
        if build_variant "$v"; then say "  ${v%%|*} OK $((SECONDS - t1))s (patched: ${v##*|})"
        else say "  ${v%%|*} FAILED (see $root/root/rv/log-${v%%|*}.txt)"; fi
    done
fi
# build.sh mounts proc in its root and leaves it there: unmount what was mounted.
if grep -q " $root/proc " /proc/mounts; then umount "$root/proc" || say "could not unmount $root/proc"; fi
if (( rc != 0 )) || [[ -n $(missing) ]]; then
    say "FAILED after $((SECONDS - t0))s (build.sh exit $rc; missing: $(missing)); last lines of $log:"
    tail -n 15 "$log" | sed 's/^/peers:   /'
    say "each back-end's cargo log: $root/root/rv/log-NAME.txt"
    exit 1
fi
key > "$out/.stamp"
say "built $(wc -w <<< "$names") back-ends in $((SECONDS - t0))s: $out ($(du -sh "$out" | cut -f1)), root $(du -xsh "$root" | cut -f1)"
