#!/usr/bin/env bash
# build.sh OUT - builds the test guest into OUT (make guest: $(BUILD)/guest)
# from Debian packages only:
#   OUT/vmlinuz      the Debian 12 cloud kernel (linux-image-*-cloud-amd64,
#                    downloaded with apt-get download and unpacked with
#                    dpkg-deb -x: never installed on this host)
#   OUT/initrd.img   busybox-static, the virtio modules that kernel builds as
#                    modules (with their dependencies, in load order), the
#                    static helpers of tests/guest/*.c and tests/guest/init
#   OUT/stamp        what the build is keyed by: package versions and a hash
#                    of the guest's sources; an unchanged key is not rebuilt
# Exit 0 built or up to date, 77 the packages cannot be downloaded here (the
# reason is in OUT/unavailable and on stdout), 1 any other failure.
# Environment: GUEST_KERNEL_PKG (default linux-image-cloud-amd64, a
# metapackage whose Depends names the real image), GUEST_CC (default cc).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)
meta=${GUEST_KERNEL_PKG:-linux-image-cloud-amd64}
cc=${GUEST_CC:-cc}
# The drivers the scenarios use; their dependencies come from modules.dep.
modules=(virtio_pci virtio_net virtio_blk virtiofs virtio_console virtio_rng)

say() { echo "guest: $*"; }
unavailable() {
    echo "$*" > "$out/unavailable"
    say "UNAVAILABLE: $*"
    exit 77
}

# candidate PKG: the version apt would download.
candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }'; }

kernel_pkg() {
    local dep
    dep=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
    [[ -n $dep ]] || return 1
    echo "$dep"
}

# A fresh machine may have no package lists yet: fetch them once (as root).
if ! kernel_pkg >/dev/null && (( EUID == 0 )); then
    say "apt-cache knows no $meta: apt-get update"
    apt-get update -qq >"$out/update.log" 2>&1 || true
fi
kpkg=$(kernel_pkg) || unavailable "apt-cache knows no $meta, even after apt-get update (no Debian mirror, or no such package): $(tail -n 1 "$out/update.log" 2>/dev/null)"
kver=$(candidate "$kpkg"); bver=$(candidate busybox-static)
[[ -n $kver && $kver != "(none)" && -n $bver && $bver != "(none)" ]] ||
    unavailable "no candidate version for $kpkg or busybox-static (apt-get update needed?)"
src_hash=$(cat "$here/build.sh" "$here/init" "$here"/*.c | sha256sum | cut -c1-16)
key="$kpkg=$kver busybox-static=$bver sources=$src_hash"
if [[ -f $out/stamp && $(cat "$out/stamp") == "$key" && -f $out/vmlinuz && -f $out/initrd.img ]]; then
    say "up to date ($key)"
    exit 0
fi
rm -f "$out/stamp" "$out/unavailable"

say "downloading $kpkg $kver and busybox-static $bver (apt-get download)"
mkdir -p "$out/debs"
if ! (cd "$out/debs" && apt-get download -q "$kpkg=$kver" "busybox-static=$bver") \
        >"$out/download.log" 2>&1; then
    unavailable "apt-get download $kpkg busybox-static failed: $(grep -E '^(E|Err):' "$out/download.log" | head -n 2 | tr '\n' ' ')"
fi

say "unpacking with dpkg-deb -x (nothing is installed on this host)"
rm -rf "$out/pkg" "$out/root"
mkdir -p "$out/pkg" "$out/root"/{bin,dev,proc,sys,tmp,mnt,lib/modules}
dpkg-deb -x "$out/debs/${kpkg}_${kver//:/%3a}_amd64.deb" "$out/pkg"
dpkg-deb -x "$out/debs/busybox-static_${bver//:/%3a}_amd64.deb" "$out/pkg"
kdir=$(echo "$out"/pkg/lib/modules/*)
krel=$(basename "$kdir")
cp "$out/pkg/boot/vmlinuz-$krel" "$out/vmlinuz"
# The package has no modules.dep (depmod runs at install): busybox makes it.
"$out/pkg/bin/busybox" depmod -b "$out/pkg" "$krel"

# Modules: each wanted one after its dependencies (modules.dep), once.
declare -A done_mod=()
order=()
add_module() {   # PATH relative to the modules dir
    local p=$1 d
    [[ -n ${done_mod[$p]:-} ]] && return 0
    done_mod[$p]=1
    for d in $(awk -v m="$p:" '$1 == m { $1 = ""; print }' "$kdir/modules.dep"); do add_module "$d"; done
    order+=("$p")
}
for m in "${modules[@]}"; do
    p=$(awk -F: -v n="$m" '{ b = $1; sub(/.*\//, "", b); sub(/\.ko.*/, "", b); gsub(/-/, "_", b)
                              if (b == n) { print $1; exit } }' "$kdir/modules.dep")
    if [[ -z $p ]]; then
        grep -q "/${m//_/[-_]}\.ko" "$kdir/modules.builtin" && { say "$m is built in"; continue; }
        echo "guest: $m is neither a module nor built in $krel" >&2; exit 1
    fi
    add_module "$p"
done
for p in "${order[@]}"; do
    [[ $p == *.ko ]] || { echo "guest: $p is compressed; teach build.sh to unpack it" >&2; exit 1; }
    cp "$kdir/$p" "$out/root/lib/modules/"
    basename "$p" >> "$out/root/lib/modules/load-order"
done
say "kernel $krel, modules: $(cd "$out/root/lib/modules" && tr '\n' ' ' < load-order)"

cp "$out/pkg/bin/busybox" "$out/root/bin/busybox"
for a in $("$out/root/bin/busybox" --list); do
    [[ $a == busybox ]] || ln -s busybox "$out/root/bin/$a"
done
ln -s bin "$out/root/sbin"
install -m 0755 "$here/init" "$out/root/init"
for c in "$here"/*.c; do
    say "compiling $(basename "$c") (static)"
    "$cc" -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -static -o "$out/root/bin/$(basename "$c" .c)" "$c"
done
(cd "$out/root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 > "$out/initrd.img"
# The packages are not needed any more (and the Makefile includes
# every *.d file under the build directory: the kernel package has some).
rm -rf "$out/pkg" "$out/debs"
echo "$key" > "$out/stamp"
say "built $out/vmlinuz and $out/initrd.img ($(du -k "$out/initrd.img" | cut -f1) KiB)"
