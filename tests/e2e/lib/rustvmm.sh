# shellcheck shell=bash
# rustvmm.sh - the rust-vmm vhost-device-* back-ends (docs/peers.md) for the
# e2e tests (sourced after common.sh).
#
#   bin=$(rustvmm_bin NAME) || exit    the path of vhost-device-NAME (rng,
#                                      vsock, scsi, gpio, i2c, sound, console,
#                                      scmi, spi, template), or the test is
#                                      skipped (exit 77) with the reason
#   rustvmm_dir                        where the binaries are looked for
#
# Looked for in RUSTVMM_BIN_DIR (or RUSTVMM_OUT), else PEERS_OUT, else
# PEERS_ROOT/out (default /var/cache/vdpa-shim/peers/trixie-rust/out: `make
# peers`), then on PATH. NAME is the short name (rng, not vhost-device-rng);
# a skip exits (77), so `rustvmm_bin A || rustvmm_bin B` never tries B.
# A binary that is there but does not run here (`--help` fails: a glibc older
# than 2.34) skips the test too. The SKIP line goes to stderr, so the reason
# reaches the test's log from inside $(...); the exit status is 77.

RUSTVMM_COMMIT=f44737d2b4bb9f8840526b142afb6489d9686c20
RUSTVMM_URL=https://github.com/rust-vmm/vhost-device

rustvmm_dir() {
    echo "${RUSTVMM_BIN_DIR:-${RUSTVMM_OUT:-${PEERS_OUT:-${PEERS_ROOT:-/var/cache/vdpa-shim/peers/trixie-rust}/out}}}"
}

rustvmm_bin() {
    local name=$1 dir bin
    dir=$(rustvmm_dir)
    bin=$dir/vhost-device-$name
    [[ -x $bin ]] || bin=$(command -v "vhost-device-$name" 2>/dev/null) || bin=""
    if [[ -z $bin ]]; then
        skip "vhost-device-$name is not built: not in $dir nor on PATH (make peers, or build from $RUSTVMM_URL at commit $RUSTVMM_COMMIT: docs/peers.md)" >&2
    fi
    if ! timeout 10 "$bin" --help >/dev/null 2>&1; then
        skip "vhost-device-$name does not run here: $bin --help fails: $(timeout 10 "$bin" --help 2>&1 | head -n 1) (docs/peers.md)" >&2
    fi
    echo "$bin"
}
