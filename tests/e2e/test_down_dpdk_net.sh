#!/usr/bin/env bash
# Down-conversion with a real legacy back-end: the reference vdpa-user driver
# (peers/vdpa-driver) -> vdpa-shim -> DPDK net_vhost (testpmd, io forwarding:
# every frame comes back). The shim presents the VIRTIO device model net_vhost
# never had: config space (mac=, LINK_UP, max_virtqueue_pairs, mtu), the
# status register, suspend/resume and reset. Checked: the driver's frames
# come back byte for byte, testpmd's counters show them, the config the
# driver read is the synthesized one, and the trace shows the legacy set-up.
# Then multiqueue: 2 queue pairs, the control queue served by the shim
# (VQ_PAIRS_SET starts net_vhost's second pair), traffic on both pairs.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/dpdk.sh"
trap 'shim_kill; dpdk_stop_all' EXIT

driver_bin=$E2E_ROOT/${BUILD:-build}/vdpa-driver
[[ -x $driver_bin ]] || fail "$driver_bin is missing (run make first)"
dpdk_available 2>/dev/null || skip "DPDK testpmd cannot start here (${_DPDK_UNAVAILABLE_REASON:-unknown})"
dpdk_init_workdir
w=$DPDK_WORKDIR
count=1000
mac=52:54:00:aa:bb:cc

dpdk_start_vhost_backend be "$w/be.sock" 1 || fail "net_vhost did not start"
shim_start "$w/shim.log" --device "type=net,id=net0,frontend=$w/fe.sock,backend=$w/be.sock,mac=$mac,mtu=1400,speed=10000,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
dpdk_cmd be "set fwd io"
dpdk_cmd be "start"

rc=0
timeout 60 "$driver_bin" --socket "$w/fe.sock" --type net --count "$count" --expect-mac "$mac" \
    >"$w/driver.out" 2>"$w/driver.log" || rc=$?
cat "$w/driver.out"
if (( rc != 0 )); then
    echo "--- driver log:"; tail -n 20 "$w/driver.log"
    echo "--- shim log:"; tail -n 20 "$w/shim.log"
    echo "--- trace tail:"; tail -n 30 "$w/trace.txt"
    fail "vdpa-driver exited with status $rc"
fi
dpdk_cmd be "stop"
read -r rx tx < <(dpdk_port_stats be)
echo "net_vhost port 0: RX $rx TX $tx"

grep -q "^vdpa-driver: net: sent $count, received $count\$" "$w/driver.out" ||
    fail "net summary: $(tail -n 1 "$w/driver.out")"
(( rx >= count && tx >= count )) || fail "testpmd counted RX $rx TX $tx, fewer than $count each way"
grep -q "^vdpa-driver: config: mac $mac, status 0x1 (link up), .*mtu 1400" "$w/driver.out" ||
    fail "the driver did not read the synthesized config: $(grep config: "$w/driver.out")"

t=$w/trace.txt
grep -q 'net0 fe->shim SET_PROTOCOL_FEATURES .*VDPA.* -- down-conversion begins' "$t" || fail "no down-conversion in the trace"
# net_vhost hears only legacy vhost-user: no status register, no vdpa-user ids.
grep -qE 'net0 shim->be (SET_STATUS|GET_STATUS|VDPA_)' "$t" && fail "a vdpa-user request reached net_vhost"
grep -q 'net0 shim->be SET_PROTOCOL_FEATURES protocol_features=0x[0-9a-f]* ' "$t" || fail "no legacy SET_PROTOCOL_FEATURES"
grep -q 'net0 shim->be NET_SET_MTU need_reply u64=1400' "$t" || fail "mtu= not sent with NET_SET_MTU"
for req in SET_VRING_NUM SET_VRING_ADDR SET_VRING_BASE SET_VRING_KICK SET_VRING_CALL SET_VRING_ENABLE GET_VRING_BASE; do
    grep -q "net0 shim->be $req" "$t" || fail "the shim never sent $req to net_vhost"
done
# The driver's VDPA_SUSPEND became the legacy stop, its RESUME a new start.
grep -q 'net0 fe->shim VDPA_SUSPEND' "$t" || fail "no VDPA_SUSPEND from the driver"
grep -q 'net0 fe->shim VDPA_RESUME' "$t" || fail "no VDPA_RESUME from the driver"
(( $(grep -c 'net0 shim->be SET_VRING_ENABLE need_reply index=0 num=1' "$t") >= 2 )) ||
    fail "RESUME did not restart the rings in net_vhost"

wait_for 10 grep -q "session ended" "$w/shim.log" || fail "the session did not end after the driver left"
shim_stop
summary1="$(tail -n 1 "$w/driver.out" | sed 's/^vdpa-driver: //'), testpmd RX $rx TX $tx"

# ---- multiqueue through the control queue the shim serves ------------------------
dpdk_stop be
DPDK_TESTPMD_EXTRA="--rxq=2 --txq=2" dpdk_start_vhost_backend be "$w/be2.sock" 2 ||
    fail "net_vhost (2 queues) did not start"
shim_start "$w/shim2.log" --device "type=net,id=mq0,frontend=$w/fe2.sock,backend=$w/be2.sock,queue-pairs=2,check=$E2E_ROOT/compat-matrix" \
    --trace "$w/trace2.txt"
wait_for 5 test -S "$w/fe2.sock" || fail "the shim did not create its socket"
dpdk_cmd be "set fwd io"
dpdk_cmd be "start"
rc=0
timeout 60 "$driver_bin" --socket "$w/fe2.sock" --type net --count "$count" --queue-pairs 2 \
    >"$w/driver2.out" 2>"$w/driver2.log" || rc=$?
cat "$w/driver2.out"
if (( rc != 0 )); then
    echo "--- driver log:"; tail -n 20 "$w/driver2.log"
    echo "--- trace tail:"; tail -n 30 "$w/trace2.txt"
    fail "vdpa-driver (2 queue pairs) exited with status $rc"
fi
dpdk_cmd be "stop"
grep -q '^vdpa-driver: net: control queue: .*VQ_PAIRS_SET 2 ok' "$w/driver2.out" ||
    fail "the control queue did not take VQ_PAIRS_SET 2"
grep -q "^vdpa-driver: net: sent $count, received $count\$" "$w/driver2.out" ||
    fail "multiqueue summary: $(tail -n 1 "$w/driver2.out")"
read -r _ p0 p1 < <(sed -n 's/^vdpa-driver: net: received per queue pair: \([0-9]*\) \([0-9]*\)$/x \1 \2/p' "$w/driver2.out")
(( ${p0:-0} > 0 && ${p1:-0} > 0 )) || fail "traffic did not use both queue pairs (${p0:-?} / ${p1:-?})"
t=$w/trace2.txt
# Pair 2 starts only when the driver asks for it on the control queue, and
# the control queue itself never reaches net_vhost.
grep -q 'mq0 shim->be SET_VRING_ENABLE need_reply index=3 num=1' "$t" || fail "pair 2 never started in net_vhost"
grep -qE 'mq0 shim->be SET_VRING_[A-Z]+ .*index=4' "$t" && fail "the control queue was sent to net_vhost"
wait_for 10 grep -q "session ended" "$w/shim2.log" || fail "the session did not end after the driver left"
shim_stop
echo "PASS: vdpa-driver -> shim (down) -> DPDK net_vhost: $summary1; 2 queue pairs via the shim's control queue: $p0 + $p1 frames"
