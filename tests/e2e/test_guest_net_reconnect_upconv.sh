#!/usr/bin/env bash
# The shim killed (SIGKILL) and started again under a running guest,
# up-converting: QEMU (vhost-user netdev, chardev reconnect=1) -> vdpa-shim
# -> the reference vdpa-user back-end (loopback). The guest sends rounds of frames the whole
# time (scenario net-l2 rounds=N); rounds during the outage lose frames, and
# traffic must come back intact without the guest doing anything: the last
# rounds get every frame back.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/../guest/lib.sh"
w=$(mktemp -d /tmp/vdpa-shim-guest-reconnect-up.XXXXXX)
trap 'guest_stop_all; shim_kill; guest_backend_stop; guest_cleanup_dir "$w"' EXIT
rounds=${GUEST_ROUNDS:-14}

guest_prepare
guest_vdpa_backend "$w" --type net --net-mode loopback
shim_args=(--device "type=net,id=net0,frontend=$w/fe.sock,backend=$w/be.sock,check=$E2E_ROOT/compat-matrix")
shim_start "$w/shim1.log" "${shim_args[@]}" --trace "$w/trace1.txt"
wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"

guest_boot "$w" g net-l2 "frames=50 size=256 timeout_ms=1500 rounds=$rounds" \
    -chardev "socket,id=c0,path=$w/fe.sock,reconnect=1" -netdev vhost-user,id=n0,chardev=c0 \
    -device "virtio-net-pci,netdev=n0,mac=52:54:00:5e:00:07$(guest_vhost_pci_opts)"
round_ok() { tr -d '\r' < "$w/g.console" | grep -q "^RESULT round=$1 ok=1"; }
wait_for 60 round_ok 2 || { cp "$w/trace1.txt" "$w/trace.txt"; guest_fail "$w" g "no intact round before the restart"; }

shim_kill
killed_at=$(grep -c '^RESULT round=' <(tr -d '\r' < "$w/g.console"))
echo "shim killed after round $killed_at; starting it again"
shim_start "$w/shim.log" "${shim_args[@]}" --trace "$w/trace.txt"
wait_for 10 grep -q 'front-end connected' "$w/shim.log" ||
    guest_fail "$w" g "QEMU did not reconnect to the restarted shim: $(tail -n 3 "$w/shim.log")"
out=$(guest_wait "$w" g 90) || guest_fail "$w" g "$out"
echo "rounds (1 = every frame back): $(guest_results_all "$w" g ok | tr '\n' ' ')"
grep -q 'up-conversion begins' "$w/trace.txt" || guest_fail "$w" g "the restarted shim did not up-convert"
[[ $(guest_result "$w" g status) == pass ]] || guest_fail "$w" g "guest: $(guest_result "$w" g reason)"
lost=$(guest_results_all "$w" g ok | grep -c '^0$' || true)
echo "rounds that lost frames around the restart: $lost of $rounds (about 1.5-2.5 s each)"
wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "session did not end after the guest powered off"
shim_stop
echo "PASS: shim SIGKILLed and restarted under a guest (up, reconnect=1): traffic resumed, $lost round(s) lost"
