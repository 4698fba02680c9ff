# shellcheck shell=bash
# tests/peers/lib.sh - the Debian root environments (docs/peers.md, "Debian
# root environments"): where a release's root is, what goes in it, whether it
# is ready. Sourced by tests/peers/build-root.sh, tests/peers/run and
# tests/guest/lib_roots.sh.
#   PEER_ROOTS_DIR   the cache of roots (default /var/cache/vdpa-shim/peers);
#                    a release's root is PEER_ROOTS_DIR/RELEASE
#   PEER_ROOTS_LIST  the package lists (default tests/peers/roots.list)
# The rust-vmm build root (PEER_ROOTS_DIR/trixie-rust, tests/build-rustvmm-peers.sh)
# is another root, made and used by that script only.

PEER_ROOTS_DIR=${PEER_ROOTS_DIR:-/var/cache/vdpa-shim/peers}
PEER_ROOTS_LIST=${PEER_ROOTS_LIST:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/roots.list}
# The recipe's version: changing how a root is made (not only its packages)
# bumps it, so every root is made again.
PEER_ROOT_RECIPE=1
# In a root: the stamp (line 1 the key below, then the installed versions) and
# the mark that debootstrap completed.
PEER_ROOT_STAMP=.vdpa-shim-root
PEER_ROOT_BOOTSTRAPPED=.vdpa-shim-debootstrap

peer_root_dir() { echo "$PEER_ROOTS_DIR/$1"; }

# peer_root_packages RELEASE: its packages from PEER_ROOTS_LIST; 1 if it has none.
peer_root_packages() {
    local p
    p=$(awk -v r="$1:" '$1 == r { $1 = ""; print; exit }' "$PEER_ROOTS_LIST")
    p=$(tr ' ' '\n' <<< "$p" | sed '/^$/d' | sort | tr '\n' ' ')
    [[ -n $p ]] || return 1
    echo "${p% }"
}

# peer_root_key RELEASE: what the root's stamp must say for it to be reused.
peer_root_key() {
    local p
    p=$(peer_root_packages "$1") || return 1
    echo "vdpa-shim root release=$1 recipe=$PEER_ROOT_RECIPE packages=$p"
}

# peer_root_ready RELEASE: 0 when the root is built for the current list;
# else 1 with the reason on stdout.
peer_root_ready() {
    local r key
    r=$(peer_root_dir "$1")
    key=$(peer_root_key "$1") || { echo "no release '$1' in $PEER_ROOTS_LIST"; return 1; }
    if [[ ! -f $r/$PEER_ROOT_STAMP ]]; then
        echo "the Debian $1 root is not built: no $r/$PEER_ROOT_STAMP (make peer-roots PEER_ROOTS_RELEASES=$1)"
        return 1
    fi
    if [[ $(head -n 1 "$r/$PEER_ROOT_STAMP") != "$key" ]]; then
        echo "the Debian $1 root in $r is out of date: its package list changed (make peer-roots PEER_ROOTS_RELEASES=$1)"
        return 1
    fi
}

# peer_root_mounts DIR: the mount points at DIR or below it in this mount
# namespace, deepest first (/proc/self/mountinfo field 5, octal escapes kept
# as the kernel writes them: a root's path has no space).
peer_root_mounts() {
    awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
