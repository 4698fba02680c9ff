#!/usr/bin/env bash
# Down-conversion to rust-vmm's vhost-device-sound (no x86 QEMU 7.2
# front-end exists for it): the reference vdpa-user driver -> vdpa-shim ->
# vhost-device-sound --backend null. The back-end has F_CONFIG (the shim
# forwards jacks, streams and chmaps from its config space). The driver asks
# VIRTIO_SND_R_PCM_INFO for every stream, CHMAP_INFO for every channel map,
# and checks each status is VIRTIO_SND_S_OK and each stream sane; then it
# plays silence on the first output stream: SET_PARAMS, PREPARE, START,
# periods on the tx queue, STOP, RELEASE, every status OK.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/down_rustvmm.sh"
down_setup sound
be_bin=$(down_backend_bin sound) || exit

# The back-end listens on the path as given (no suffix).
down_backend_start "$be_bin" --socket "$w/be.sock" --backend null
wait_for 10 test -S "$w/be.sock" || skip "vhost-device-sound did not start: $(tail -n 3 "$w/be.log")"

# No queue-size=: the shim shows sound's ring limit (64, lib/proto/device_types.c),
# vhost-device-sound's max_queue_size() (src/device.rs); a larger
# SET_VRING_NUM fails there.
down_shim_start "type=sound,id=snd0,backend=$w/be.sock"

down_run_driver --type sound
# The back-end's config (src/device.rs VhostUserSoundBackend::new): no jacks,
# two streams (0 output, 1 input), one channel map announced.
grep -q '^vdpa-driver: config: jacks 0, streams 2, chmaps 1$' "$w/driver.out" ||
    fail "config space not the back-end's: $(grep 'config:' "$w/driver.out")"
if ! grep -q '^vdpa-driver: sound: stream 0: output, ' "$w/driver.out" ||
    ! grep -q '^vdpa-driver: sound: stream 1: input, ' "$w/driver.out"; then
    fail "streams not output + input: $(grep 'stream [0-9]:' "$w/driver.out")"
fi
grep -q '^vdpa-driver: sound: stream 0: format 5, rate 7, 1 channels: 4 periods of 512 bytes played$' "$w/driver.out" ||
    fail "no S16/48 kHz playback on stream 0: $(grep 'played' "$w/driver.out")"
grep -q '^vdpa-driver: sound: 2 streams, 1 chmaps, 0 jacks described; stream 0 played 4 periods: all status OK$' "$w/driver.out" ||
    fail "sound summary: $(tail -n 1 "$w/driver.out")"

down_check_trace snd0 0 2
grep -q 'snd0 be->shim GET_CONFIG reply offset=0 size=12' "$w/trace.txt" || fail "the config space was not read from the back-end"
grep -qE 'snd0 shim->be SET_VRING_NUM .*num=64' "$w/trace.txt" || fail "the rings are not 64 entries: $(grep -m1 'SET_VRING_NUM' "$w/trace.txt")"
down_finish
echo "PASS: vdpa-driver -> shim (down) -> vhost-device-sound (null): 2 streams described, silence played on stream 0, every status VIRTIO_SND_S_OK"
