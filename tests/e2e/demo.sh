#!/usr/bin/env bash
# The demo: real DPDK peers joined through vdpa-shim.
#   DPDK testpmd net_virtio_user (a VMM-side vhost-user front-end)
#     -> vdpa-shim (validating, tracing pass-through)
#     -> DPDK testpmd net_vhost (a vhost-user back-end)
# Prints the shim's decoded trace of the bring-up and the packet counters of
# both testpmd ports: the packets went peer to peer, never through the shim.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
trap 'shim_kill; dpdk_stop_all' EXIT

dpdk_available 2>/dev/null ||
    { echo "demo: DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"; exit 1; }
dpdk_init_workdir
w=$DPDK_WORKDIR
echo "== 1. DPDK net_vhost back-end listening on $w/be.sock"
dpdk_start_vhost_backend be "$w/be.sock" 1
echo "== 2. vdpa-shim: front-end socket $w/fe.sock -> back-end $w/be.sock"
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$w/fe.sock,backend=$w/be.sock" --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock"
echo "== 3. DPDK virtio-user front-end connecting to the shim"
dpdk_start_virtio_user fe "$w/fe.sock" 1
dpdk_wait_link fe 15 && dpdk_wait_link be 15
echo "== 4. the control plane, as the shim relayed it (--trace):"
sed 's/^/   /' "$w/trace.txt"
echo "== 5. traffic both ways for 2 s"
dpdk_traffic_check fe be 2
echo "== done: the shim relayed $(grep -c . "$w/trace.txt") control messages; packets went peer to peer."
shim_stop
