#!/usr/bin/env bash
# Installs the Debian packages vdpa-shim needs to build and test, when missing.
#   build: gcc, clang, make, pkg-config, libuv1-dev, libcmocka-dev
#   checks: clang-format (make check-format), clang-tools (scan-build: make
#          check-analyze)
#   fuzz:  libclang-rt-dev (clang's libFuzzer and sanitizer runtimes; only
#          recommended by clang, and recommends are not installed here)
#   tests: valgrind, python3, dpdk and dpdk-dev (dpdk-testpmd: net_vhost and
#          net_virtio_user peers), qemu-system-x86 and qemu-system-common
#          (QEMU, qemu-storage-daemon, virtiofsd), qemu-utils, bc, systemd
#          (systemd-socket-activate: socket activation in test_service)
#   guest: cpio (the test guest's initramfs), e2fsprogs (e2fsck/debugfs check
#          the guest's file system); the guest's kernel and busybox-static
#          are downloaded by tests/guest/build.sh (apt-get download) and
#          unpacked in the build tree, never installed here
#          libelf1 (objtool of linux-kbuild, for the full guest's out-of-tree
#          drivers, built against downloaded headers the same way)
#   docs:  scdoc (the man page, docs/vdpa-shim.1.scd -> vdpa-shim.1)
#   peers: debootstrap (make peers: the rust-vmm back-ends are built in a
#          Debian 13 root; docs/peers.md). Then `make peers` itself, where the
#          shared directory is there; a failed peer build is reported loudly
#          but does not fail deps (the tests needing those peers skip).
#          Then `make peer-roots`: the Debian 13 root (QEMU 10.0) made with
#          debootstrap (docs/peers.md, "Debian root environments"); same rule.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
packages=(gcc clang clang-format clang-tools libclang-rt-dev make pkg-config libuv1-dev libcmocka-dev
          valgrind python3
          dpdk dpdk-dev qemu-system-x86 qemu-system-common qemu-utils systemd scdoc
          cpio e2fsprogs libelf1 debootstrap)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} == 0 )); then
    echo "deps: all ${#packages[@]} packages present"
else
    echo "deps: installing ${missing[*]}"
    sudo=""
    (( EUID == 0 )) || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! "${MAKE:-make}" -C "$repo" --no-print-directory peers; then
    echo "deps: WARNING: make peers FAILED (above): the tests that need a rust-vmm back-end will skip"
fi
if ! "${MAKE:-make}" -C "$repo" --no-print-directory peer-roots; then
    echo "deps: WARNING: make peer-roots FAILED (above): the tests that need a Debian root (QEMU 10.0) will skip"
fi
