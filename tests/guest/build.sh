#!/usr/bin/env bash
# build.sh OUT - builds the test guest into OUT (make guest: $(BUILD)/guest)
# from Debian packages only, in one of four flavours (GUEST_FLAVOUR):
#   cloud (default)  the Debian 12 cloud kernel (linux-image-cloud-amd64):
#                    virtio net, blk, fs, console, rng, scsi, vsock, input
#   full             the Debian 12 generic kernel (linux-image-amd64): the
#                    cloud flavour's drivers plus virtio-gpu (DRM) and
#                    i2c-dev, and gpio-virtio and i2c-virtio, which that
#                    kernel lacks, built out of tree from linux-source-X.Y
#                    against linux-headers-<abi> of the very same version
#                    (make -C headers M=dir modules, with the host's gcc)
#   trixie           the Debian 13 generic kernel (linux-image-amd64, 6.12)
#                    and busybox-static of Debian 13, downloaded inside the
#                    Debian 13 root (make peer-roots; tests/peers/run) with
#                    package lists of their own in OUT/apt: the cloud
#                    flavour's drivers plus virtio_snd (CONFIG_SND_VIRTIO,
#                    which no Debian 12 kernel has) and virtio_gpu; its
#                    modules are .ko.xz, unpacked (xz -d) into the initramfs
#   bullseye         the Debian 11 generic kernel (linux-image-amd64, 5.10)
#                    and this host's busybox-static (Debian 11's 1.30 has no dd oflag=direct), the kernel downloaded inside the
#                    Debian 11 root as trixie's are: the cloud flavour's
#                    drivers (issue 18: three generations of guest kernels)
# Every package is downloaded with apt-get download and unpacked with
# dpkg-deb -x: nothing is installed on this host.
#   OUT/vmlinuz      the kernel
#   OUT/initrd.img   busybox-static, the modules of the flavour's drivers
#                    (with their dependencies, in load order), the static
#                    helpers of tests/guest/*.c, tests/guest/init and the
#                    scenarios of tests/guest/scenarios
#   OUT/stamp        what the build is keyed by: package versions and a hash
#                    of the guest's sources; an unchanged key is not rebuilt
#   OUT/oot/         (full) the drivers built out of tree, cached by the
#                    kernel's version and their recipe (OUT/oot/stamp)
# Exit 0 built or up to date, 77 the packages cannot be downloaded here (the
# reason is in OUT/unavailable and on stdout), 1 any other failure.
# Environment: GUEST_FLAVOUR (cloud, full, trixie or bullseye), GUEST_KERNEL_PKG (default
# linux-image-cloud-amd64 or linux-image-amd64, a metapackage whose Depends
# names the real image), GUEST_CC (default cc; the static helpers),
# GUEST_KMOD_CC (default gcc-12 where installed, else gcc: the out-of-tree
# drivers, with the compiler the kernel was built with), GUEST_APT_MAX_AGE_S
# (trixie, bullseye: package lists older than this are fetched again; 86400).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The unpacked packages never outlive the build, even a failed one (the
# Makefile includes every *.d file under the build directory).
trap 'rm -rf "$out/pkg" "$out/kbuild"' EXIT
flavour=${GUEST_FLAVOUR:-cloud}
cc=${GUEST_CC:-cc}
# The drivers the scenarios use; their dependencies come from modules.dep.
# ext4: the blk scenario's file system (built into the cloud kernels, a
# module of the generic ones: trixie, bullseye). crc32c_generic: their ext4
# asks the crypto API for crc32c at mount ("Cannot load crc32c driver"), a
# dependency modules.dep does not list; where a kernel has no such module
# (soft_modules) it is said and skipped.
modules=(virtio_pci virtio_net virtio_blk virtiofs virtio_console virtio_rng
         virtio_scsi sd_mod vmw_vsock_virtio_transport virtio_input evdev ext4
         crc32c_generic)
soft_modules=" crc32c_generic "
# Per flavour: the metapackage, more drivers, and the source files (in
# linux-source-X.Y) of drivers the kernel lacks, built out of tree.
oot_sources=() root_rel="" busybox_from_host=0
case $flavour in
    cloud) meta=${GUEST_KERNEL_PKG:-linux-image-cloud-amd64};;
    full)  meta=${GUEST_KERNEL_PKG:-linux-image-amd64}
           modules+=(virtio_gpu i2c_dev gpio_virtio i2c_virtio)
           oot_sources=(drivers/gpio/gpio-virtio.c drivers/i2c/busses/i2c-virtio.c);;
    trixie) meta=${GUEST_KERNEL_PKG:-linux-image-amd64} root_rel=trixie
           modules+=(virtio_snd virtio_gpu);;
    # Debian 11's busybox-static (1.30) has no dd oflag=direct, which the blk
    # scenario writes with: the host's serves (the flavour is its kernel).
    bullseye) meta=${GUEST_KERNEL_PKG:-linux-image-amd64} root_rel=bullseye busybox_from_host=1;;
    *)     echo "guest: unknown GUEST_FLAVOUR=$flavour (cloud, full, trixie or bullseye)" >&2; exit 1;;
esac

say() { echo "guest: $*"; }
unavailable() {
    echo "$*" > "$out/unavailable"
    say "UNAVAILABLE: $*"
    exit 77
}

# apt_in TOOL ARGS...: the host's apt-get/apt-cache; for a flavour of
# another release (root_rel), the one of that release's root, run by
# tests/peers/run with OUT bound and package lists and caches in OUT/apt (the
# root's own stay empty and untouched).
apt_in() { "$@"; }
if [[ -n $root_rel ]]; then
    # shellcheck source=../peers/lib.sh
    . "$here/../peers/lib.sh"
    why=$(peer_root_ready "$root_rel") || unavailable "$why"
    mkdir -p "$out/apt/lists/partial" "$out/apt/cache/archives/partial"
    apt_opts=(-o "Dir::State::Lists=$out/apt/lists" -o "Dir::Cache=$out/apt/cache"
              -o Dir::Cache::srcpkgcache= -o Acquire::Languages=none -o APT::Sandbox::User=root)
    apt_in() { local tool=$1; shift; PEER_BIND=$out "$here/../peers/run" "$root_rel" "$tool" "${apt_opts[@]}" "$@"; }
fi

# candidate PKG: the version apt would download.
candidate() { apt_in apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }'; }

kernel_pkg() {
    local dep
    dep=$(apt_in apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
    [[ -n $dep ]] || return 1
    echo "$dep"
}

# build_oot: the drivers of oot_sources built as modules into OUT/oot from
# linux-source against the headers of the kernel's ABI (all unpacked in
# OUT/kbuild, removed afterwards); each module's vermagic must name krel.
build_oot() {
    local kb=$out/kbuild p f m names=() t0=$SECONDS
    rm -rf "$kb" "$out/oot"
    mkdir -p "$kb/m" "$kb/src" "$out/oot"
    for p in "${oot_pkgs[@]}"; do dpkg-deb -x "$(deb_of "$p" "$kver")" "$kb"; done
    local hdr=$kb/usr/src/linux-headers-$krel
    # The headers' Makefile includes the common part by its installed path.
    sed -i "s|^include /usr/src/|include $kb/usr/src/|" "$hdr/Makefile"
    say "extracting ${oot_sources[*]} from linux-source-$series"
    tar -xJf "$kb/usr/src/linux-source-$series.tar.xz" -C "$kb/src" --strip-components=1 \
        "${oot_sources[@]/#/linux-source-$series/}"
    for f in "${oot_sources[@]}"; do
        cp "$kb/src/$f" "$kb/m/"
        m=$(basename "$f" .c); names+=("$m.o")
    done
    echo "obj-m := ${names[*]}" > "$kb/m/Kbuild"
    say "building ${names[*]/%.o/.ko} against linux-headers-$krel with $kcc"
    if ! make -C "$hdr" M="$kb/m" CC="$kcc" modules >"$out/oot.log" 2>&1; then
        echo "guest: make modules failed (OUT/oot.log):" >&2; tail -n 15 "$out/oot.log" >&2; exit 1
    fi
    for m in "${names[@]}"; do
        m=${m%.o}.ko
        grep -aq "vermagic=$krel " "$kb/m/$m" ||
            { echo "guest: $m was not built for $krel: $(grep -ao 'vermagic=[^ ]*' "$kb/m/$m")" >&2; exit 1; }
        cp "$kb/m/$m" "$out/oot/"
    done
    rm -rf "$kb"
    echo "$oot_key" > "$out/oot/stamp"
    say "built $(cd "$out/oot" && echo *.ko) in $((SECONDS - t0)) s"
}

# A fresh machine may have no package lists yet: fetch them once (as root).
# The root's lists (OUT/apt) are fetched when missing or older than a day.
if [[ -n $root_rel ]]; then
    lists=$(find "$out/apt/lists" -maxdepth 1 -name '*_Packages' -mmin -$(( ${GUEST_APT_MAX_AGE_S:-86400} / 60 )) | head -n 1)
    if [[ -z $lists ]]; then
        say "apt-get update in the Debian $root_rel root (lists in $out/apt)"
        apt_in apt-get -q update >"$out/update.log" 2>&1 ||
            unavailable "apt-get update in the Debian $root_rel root failed: $(grep -E '^(E|Err|W):' "$out/update.log" | head -n 2 | tr '\n' ' ')"
    fi
elif ! kernel_pkg >/dev/null && (( EUID == 0 )); then
    say "apt-cache knows no $meta: apt-get update"
    apt-get update -qq >"$out/update.log" 2>&1 || true
fi
kpkg=$(kernel_pkg) || unavailable "apt-cache knows no $meta, even after apt-get update (no Debian mirror, or no such package): $(tail -n 1 "$out/update.log" 2>/dev/null)"
kver=$(candidate "$kpkg")
if (( busybox_from_host )); then
    bver=$(apt-cache policy busybox-static 2>/dev/null | awk '/Candidate:/ { print $2 }')
else
    bver=$(candidate busybox-static)
fi
[[ -n $kver && $kver != "(none)" && -n $bver && $bver != "(none)" ]] ||
    unavailable "no candidate version for $kpkg or busybox-static (apt-get update needed?)"
src_hash=$(cat "$here/build.sh" "$here/init" "$here"/*.c "$here"/scenarios/*.sh | sha256sum | cut -c1-16)
key="$kpkg=$kver busybox-static=$bver sources=$src_hash${root_rel:+ root=$root_rel}"

# Out-of-tree drivers (full): the headers, kbuild and source packages of the
# kernel's own version and ABI (linux-image-6.1.0-57-amd64 6.1.192-3 goes
# with linux-headers-6.1.0-57-amd64 6.1.192-3, linux-headers-6.1.0-57-common,
# linux-kbuild-6.1 and linux-source-6.1 of that version).
krel=${kpkg#linux-image-}
oot_pkgs=() oot_ok=1
if (( ${#oot_sources[@]} )); then
    abi=${krel%-*} series=$(cut -d. -f1,2 <<< "$krel")
    oot_pkgs=("linux-headers-$krel" "linux-headers-$abi-common" "linux-kbuild-$series" "linux-source-$series")
    kcc=${GUEST_KMOD_CC:-$(command -v gcc-12 || echo gcc)}
    oot_key="$kpkg=$kver cc=$("$kcc" -dumpfullversion) recipe=$( (declare -f build_oot; echo "${oot_sources[*]}") |
        sha256sum | cut -c1-16)"
    [[ -f $out/oot/stamp && $(cat "$out/oot/stamp") == "$oot_key" ]] || oot_ok=0
    key+=" oot=linux-source-$series=$kver"
fi
if [[ -f $out/stamp && $(cat "$out/stamp") == "$key" && -f $out/vmlinuz && -f $out/initrd.img ]]; then
    say "up to date ($key)"
    exit 0
fi
rm -f "$out/stamp" "$out/unavailable"

get=("$kpkg=$kver")
(( busybox_from_host )) || get+=("busybox-static=$bver")
(( oot_ok )) || for p in "${oot_pkgs[@]}"; do get+=("$p=$kver"); done
say "downloading ${get[*]} (apt-get download)"
rm -rf "$out/debs"
mkdir -p "$out/debs"
t0=$SECONDS
if ! (cd "$out/debs" && apt_in apt-get download -q "${get[@]}") >"$out/download.log" 2>&1; then
    unavailable "apt-get download ${get[*]} failed: $(grep -E '^(E|Err):' "$out/download.log" | head -n 2 | tr '\n' ' ')"
fi
if (( busybox_from_host )) &&
    ! (cd "$out/debs" && apt-get download -q "busybox-static=$bver") >>"$out/download.log" 2>&1; then
    unavailable "apt-get download busybox-static=$bver (this host's) failed: $(grep -E '^(E|Err):' "$out/download.log" | head -n 2 | tr '\n' ' ')"
fi
say "downloaded $(du -sm "$out/debs" | cut -f1) MiB in $((SECONDS - t0)) s"
deb_of() { echo "$out/debs/${1}_${2//:/%3a}_"*.deb; }   # NAME VERSION: the .deb (amd64 or all)

say "unpacking with dpkg-deb -x (nothing is installed on this host)"
rm -rf "$out/pkg" "$out/root"
mkdir -p "$out/pkg" "$out/root"/{bin,dev,proc,sys,tmp,mnt,lib/modules}
dpkg-deb -x "$(deb_of "$kpkg" "$kver")" "$out/pkg"
dpkg-deb -x "$(deb_of busybox-static "$bver")" "$out/pkg"
# Debian 13's packages are merged-/usr (usr/lib/modules, usr/bin/busybox).
if [[ ! -d $out/pkg/lib/modules/$krel && -d $out/pkg/usr/lib/modules/$krel ]]; then
    mkdir -p "$out/pkg/lib"; mv "$out/pkg/usr/lib/modules" "$out/pkg/lib/modules"
fi
[[ -e $out/pkg/bin/busybox ]] || { mkdir -p "$out/pkg/bin"; ln -s ../usr/bin/busybox "$out/pkg/bin/busybox"; }
kdir=$out/pkg/lib/modules/$krel
[[ -d $kdir ]] || { echo "guest: $kpkg has no lib/modules/$krel" >&2; exit 1; }
cp "$out/pkg/boot/vmlinuz-$krel" "$out/vmlinuz"
if (( ${#oot_sources[@]} )); then
    if (( oot_ok )); then say "out-of-tree drivers up to date ($oot_key)"; else build_oot; fi
    mkdir -p "$kdir/extra"
    cp "$out"/oot/*.ko "$kdir/extra/"
fi
# The package has no modules.dep (depmod runs at install): busybox makes it
# (reading compressed modules too: 6.12's .ko.xz, about 25 s).
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
        [[ $soft_modules == *" $m "* ]] && { say "$m is not in $krel: left out"; continue; }
        echo "guest: $m is neither a module nor built in $krel" >&2; exit 1
    fi
    add_module "$p"
done
# Compressed modules (.ko.xz) are unpacked: init loads them with busybox's
# insmod, which is not asked to read compressed ones.
for p in "${order[@]}"; do
    case $p in
        *.ko) cp "$kdir/$p" "$out/root/lib/modules/";;
        *.ko.xz) xz -dc "$kdir/$p" > "$out/root/lib/modules/$(basename "$p" .xz)";;
        *) echo "guest: $p is compressed in a form build.sh does not unpack" >&2; exit 1;;
    esac
    basename "${p%.xz}" >> "$out/root/lib/modules/load-order"
done
say "kernel $krel, modules: $(cd "$out/root/lib/modules" && tr '\n' ' ' < load-order)"

cp "$out/pkg/bin/busybox" "$out/root/bin/busybox"
for a in $("$out/root/bin/busybox" --list); do
    [[ $a == busybox ]] || ln -s busybox "$out/root/bin/$a"
done
ln -s bin "$out/root/sbin"
install -m 0755 "$here/init" "$out/root/init"
mkdir -p "$out/root/lib/scenarios"
cp "$here"/scenarios/*.sh "$out/root/lib/scenarios/"
for c in "$here"/*.c; do
    say "compiling $(basename "$c") (static)"
    "$cc" -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -static -o "$out/root/bin/$(basename "$c" .c)" "$c"
done
(cd "$out/root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 > "$out/initrd.img"
# The packages are not needed any more (and the Makefile includes
# every *.d file under the build directory: the kernel package has some).
rm -rf "$out/pkg" "$out/debs" "$out/kbuild"
echo "$key" > "$out/stamp"
say "built $out/vmlinuz and $out/initrd.img ($(du -k "$out/initrd.img" | cut -f1) KiB)"
