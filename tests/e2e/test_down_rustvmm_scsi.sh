#!/usr/bin/env bash
# Down-conversion to rust-vmm's vhost-device-scsi: the reference vdpa-user
# driver -> vdpa-shim -> vhost-device-scsi serving one image (target 0,
# LUN 0). The back-end has F_CONFIG (the shim forwards its 36-byte config
# space) but no REPLY_ACK, and exits when its front-end goes. The driver
# sends TEST UNIT READY, INQUIRY, READ CAPACITY(10) and a READ(10) of 4 KiB
# at a block where this script wrote the driver's pattern into the image:
# the capacity must be the image's and the data the pattern, byte for byte.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/common.sh"
. "$here/lib/down_rustvmm.sh"
down_setup scsi
be_bin=$(down_backend_bin scsi) || exit

size_mib=16
block=24
truncate -s ${size_mib}M "$w/disk.img"
python3 -c 'import sys; s = int(sys.argv[1]); sys.stdout.buffer.write(bytes((i * 31 + 7 + s) & 0xff for i in range(4096)))' \
    "$block" | dd of="$w/disk.img" bs=512 seek="$block" conv=notrunc status=none
down_backend_start "$be_bin" --socket-path "$w/be.sock" "$w/disk.img"
wait_for 10 test -S "$w/be.sock" || skip "vhost-device-scsi did not start: $(tail -n 3 "$w/be.log")"

# No queue-size=: the shim shows scsi's ring limit (128, lib/proto/device_types.c),
# which vhost-device-scsi needs (it fails a larger SET_VRING_NUM).
down_shim_start "type=scsi,id=scsi0,backend=$w/be.sock"

down_run_driver --type scsi --pattern-sector "$block"
blocks=$(( size_mib * 1024 * 1024 / 512 ))
grep -q '^vdpa-driver: config: sense_size 96, cdb_size 32, max_target 255' "$w/driver.out" ||
    fail "config space not the back-end's: $(grep 'config:' "$w/driver.out")"
grep -q '^vdpa-driver: scsi: INQUIRY: peripheral type 0x00, ' "$w/driver.out" ||
    fail "INQUIRY: not a direct-access block device: $(grep 'INQUIRY' "$w/driver.out")"
grep -q "^vdpa-driver: scsi: READ CAPACITY: $blocks blocks of 512 bytes\$" "$w/driver.out" ||
    fail "capacity is not the image's $blocks blocks: $(grep 'CAPACITY' "$w/driver.out")"
grep -q "^vdpa-driver: scsi: read 4096 bytes at block $block: pattern matches\$" "$w/driver.out" ||
    fail "scsi summary: $(tail -n 1 "$w/driver.out")"
down_check_trace scsi0 2
grep -q 'scsi0 be->shim GET_CONFIG reply offset=0 size=36' "$w/trace.txt" || fail "the config space was not read from the back-end"
down_finish
echo "PASS: vdpa-driver -> shim (down) -> vhost-device-scsi: INQUIRY, capacity $blocks blocks, 4 KiB pattern read at block $block"
