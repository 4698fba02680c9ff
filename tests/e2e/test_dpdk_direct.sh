#!/usr/bin/env bash
# dpdk_direct.sh - DPDK testpmd virtio-user (frontend) <-> testpmd net_vhost
# (backend) connected DIRECTLY over one vhost-user socket (no relay), with
# traffic in both directions.  Prints the port counters.
#
# Exit: 0 = traffic flowed both ways, 1 = failure, 77 = SKIP (DPDK cannot run).
# Env: DPDK_TRAFFIC_MODE=io|flowgen|txrx (default io), TRAFFIC_SECONDS (default 2),
#      DPDK_KEEP_LOGS=1 to keep the logs; see lib/dpdk.sh for more.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/dpdk.sh
. "$here/lib/dpdk.sh"

trap dpdk_stop_all EXIT
trap 'exit 130' INT TERM

if ! dpdk_available 2>/dev/null; then
    dpdk_available 2>&1 | sed 's/^/    /' || true
    echo "SKIP: DPDK testpmd cannot start on this machine (${_DPDK_UNAVAILABLE_REASON})"
    exit 77
fi

fail() {
    echo "FAIL: $*"
    for n in be fe; do
        [[ -n ${_DPDK_LOG[$n]:-} ]] && { echo "--- $n log tail:"; tail -n 20 "${_DPDK_LOG[$n]}"; }
    done
    exit 1
}

t0=$SECONDS
dpdk_init_workdir
sock="$DPDK_WORKDIR/vhost.sock"

echo "== starting net_vhost backend on $sock"
dpdk_start_vhost_backend be "$sock" 1 || fail "backend did not start"
echo "== starting virtio-user frontend -> $sock"
dpdk_start_virtio_user fe "$sock" 1 || fail "frontend did not start"
dpdk_wait_link fe 10 || fail "frontend link down"
dpdk_wait_link be 10 || fail "backend link down"
echo "== both links up after $((SECONDS - t0))s"

echo "== traffic (${DPDK_TRAFFIC_MODE:-io}) for ${TRAFFIC_SECONDS:-2}s"
rc=0
dpdk_traffic_check fe be "${TRAFFIC_SECONDS:-2}" || rc=1
echo "== cumulative port 0 stats (RX TX): fe=$(dpdk_port_stats fe) be=$(dpdk_port_stats be)"
(( rc == 0 )) || fail "no bidirectional traffic"
echo "PASS (total $((SECONDS - t0))s)"
