# shellcheck shell=bash disable=SC2154  # $root, $w, $out, $probe: probe-all.sh's
# probe-roots.sh: sourced by probe-all.sh (it uses its $w, $root, peer_skip,
# wanted, major_minor, probe_qsd, probe_cvfsd, probe_dpdk and probe-rustvmm.sh's
# rv_measure). Measures the back-ends of the Debian roots (docs/peers.md,
# "Debian root environments"), each run through tests/peers/run with the work
# directory bound, the same way as the host's program of the same name:
#
#   RB_PEERS, one "RELEASE PROGRAM PEER-NAME" line each (PEER-NAME: what
#   PROBE_ONLY matches and SKIP lines say; the column's version is read from
#   the program in the root, never from this table):
#     qsd             qemu-storage-daemon (qemu-utils), as probe_qsd
#     virtiofsd       /usr/libexec/virtiofsd, else /usr/lib/qemu/virtiofsd: the
#                     Rust one (its --help has --shared-dir) through rv_measure
#                     (--sandbox none, no --tag: docs/peers.md), the C one as
#                     probe_cvfsd; column virtiofsd-<major.minor>:backend, the
#                     version its --version prints, else its package's
#     vhost-user-gpu  /usr/lib/qemu/vhost-user-gpu, through rv_measure,
#                     version of its package (qemu-system-gui)
#     dpdk            dpdk-testpmd (Debian's dpdk-dev), as probe_dpdk: --no-huge,
#                     --no-shconf (no runtime files left in the root)
# A root that is not built, or a program not in it, is one
# "SKIP PEER-NAME: <reason>" line.

RB_PEERS=${RB_PEERS:-"trixie qsd qemu-storage-daemon-10
trixie virtiofsd virtiofsd-1.13
trixie vhost-user-gpu vhost-user-gpu-10
trixie dpdk dpdk-24.11
bullseye qsd qemu-storage-daemon-5
bullseye virtiofsd virtiofsd-5.2
bullseye vhost-user-gpu vhost-user-gpu-5
bullseye dpdk dpdk-20.11"}

# rb_run REL CMD...: CMD in root REL, the work directory bound.
rb_run() { local rel=$1; shift; "$root/tests/peers/run" --bind "$w" "$rel" "$@"; }

# rb_pkg_version REL PATH: major.minor of the package owning PATH in root REL.
rb_pkg_version() {
    # shellcheck disable=SC2016  # expanded inside the root
    rb_run "$1" sh -c 'p=$(dpkg -S "$(readlink -f "$1")" | cut -d: -f1) &&
        dpkg-query -W -f "\${Version}\n" "$p"' sh "$2" 2>/dev/null | sed 's/^[0-9]*://' | major_minor
}

# rb_which REL PATH-OR-NAME...: the path of the first program found in root REL, or nothing.
rb_which() {
    # shellcheck disable=SC2016  # expanded inside the root
    rb_run "$1" sh -c 'for p; do command -v "$p" && exit 0; done; exit 1' sh "${@:2}" 2>/dev/null
}

rb_qsd() {
    local rel=$1 name=$2 ver
    [[ -n $(rb_which "$rel" qemu-storage-daemon) ]] ||
        { peer_skip "$name" "qemu-storage-daemon is not in the $rel root"; return 0; }
    ver=$(rb_run "$rel" qemu-storage-daemon --version 2>/dev/null | major_minor)
    [[ -n $ver ]] || { peer_skip "$name" "cannot tell its version"; return 0; }
    probe_qsd "$name" "$ver" "$root/tests/peers/run" --bind "$w" "$rel"
}

rb_virtiofsd() {
    local rel=$1 name=$2 bin ver
    bin=$(rb_which "$rel" /usr/libexec/virtiofsd /usr/lib/qemu/virtiofsd)
    [[ -n $bin ]] || { peer_skip "$name" "no virtiofsd in the $rel root"; return 0; }
    # "virtiofsd 1.13.2", "virtiofsd version 7.2.22 ..."; QEMU 5.2's prints
    # only its FUSE interface version: then its package's (qemu-system-common)
    ver=$(rb_run "$rel" "$bin" --version 2>&1 | grep -i '^virtiofsd' | major_minor)
    [[ -n $ver ]] || ver=$(rb_pkg_version "$rel" "$bin")
    [[ -n $ver ]] || { peer_skip "$name" "cannot tell the version of $bin"; return 0; }
    if rb_run "$rel" "$bin" --help 2>&1 | grep -q -- '--shared-dir'; then
        mkdir -p "$w/$name.share"
        rv_measure "$name" fs "virtiofsd-$ver:backend" "$w/$name.sock" \
            "virtiofsd --socket-path=PATH --shared-dir=DIR --sandbox none --cache never (Rust)" \
            "$root/tests/peers/run" --bind "$w" "$rel" "$bin" --socket-path="$w/$name.sock" \
            --shared-dir="$w/$name.share" --sandbox none --cache never
    else
        probe_cvfsd "$name" "$ver" "$bin" "$root/tests/peers/run" --bind "$w" "$rel"
    fi
}

rb_gpu() {
    local rel=$1 name=$2 bin=/usr/lib/qemu/vhost-user-gpu ver
    [[ -n $(rb_which "$rel" "$bin") ]] || { peer_skip "$name" "$bin is not in the $rel root"; return 0; }
    ver=$(rb_pkg_version "$rel" "$bin")
    [[ -n $ver ]] || { peer_skip "$name" "cannot tell its version (no package owns $bin)"; return 0; }
    rv_measure "$name" gpu "qemu-vhost-user-gpu-$ver:backend" "$w/$name.sock" \
        "vhost-user-gpu --socket-path PATH (2D, no virgl)" \
        "$root/tests/peers/run" --bind "$w" "$rel" "$bin" --socket-path "$w/$name.sock"
}

rb_dpdk() {
    local rel=$1 name=$2 bin ver wrapper=$w/$2-testpmd
    local saved_testpmd=${DPDK_TESTPMD-} saved_extra=${DPDK_EAL_EXTRA-}
    bin=$(rb_which "$rel" dpdk-testpmd)
    [[ -n $bin ]] || { peer_skip "$name" "not in the $rel root (no dpdk-testpmd: Debian ships it in dpdk-dev)"; return 0; }
    ver=$(rb_pkg_version "$rel" "$bin")
    [[ -n $ver ]] || { peer_skip "$name" "cannot tell the DPDK version of $bin"; return 0; }
    # stdbuf inside the root: the host's libstdbuf is not at the root's path
    printf '#!/bin/sh\nunset LD_PRELOAD\nexec %q --bind %q %q stdbuf -oL -eL %q "$@"\n' \
        "$root/tests/peers/run" "$w" "$rel" "$bin" >"$wrapper"
    chmod +x "$wrapper"
    DPDK_TESTPMD=$wrapper DPDK_EAL_EXTRA="${saved_extra:+$saved_extra }--no-shconf"
    _DPDK_AVAILABLE=""     # dpdk.sh caches the answer for the previous testpmd
    if dpdk_available 2>"$w/$name-avail.log"; then
        probe_dpdk "$name" "$ver"
    else
        peer_skip "$name" "${_DPDK_UNAVAILABLE_REASON:-testpmd cannot start}"
    fi
    DPDK_TESTPMD=$saved_testpmd DPDK_EAL_EXTRA=$saved_extra _DPDK_AVAILABLE=""
    [[ -n $saved_testpmd ]] || unset DPDK_TESTPMD
    return 0
}

rb_probe_all() {
    local rel prog name why
    while read -r rel prog name; do
        { [[ -n $rel ]] && wanted "$name"; } || continue
        if ! why=$("$root/tests/peers/run" "$rel" true 2>&1); then
            peer_skip "$name" "${why#peers/run: }"
            continue
        fi
        case $prog in
        qsd)            rb_qsd "$rel" "$name" ;;
        virtiofsd)      rb_virtiofsd "$rel" "$name" ;;
        vhost-user-gpu) rb_gpu "$rel" "$name" ;;
        dpdk)           rb_dpdk "$rel" "$name" ;;
        *)              peer_skip "$name" "probe-roots.sh does not know program $prog" ;;
        esac
    done <<<"$RB_PEERS"
}
