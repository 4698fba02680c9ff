# shellcheck shell=sh
# virtio-i2c (sourced by /init; uses its result/finish/fail/param/wait_until/
# virtio_dev_of).
# Needs the full guest (GUEST_FLAVOUR=full: i2c_virtio, built out of tree, and
# i2c_dev).
#
# scenario_i2c: i2c_virtio binds a virtio device and registers an adapter
# (/sys/bus/i2c/devices/i2c-N under that virtio device, its name, and
# /dev/i2c-N from i2c_dev); i2cxfer (tests/guest/i2cxfer.c, I2C_RDWR) reads
# `len` (8) bytes from `addr` (0x20), then writes the register byte `reg`
# (0x10) and reads `len` bytes in one transfer, both at `addr`; then reads
# from `absent` (0x21), an address the back-end does not serve, which must
# fail. The guest only reports; the host judges the bytes:
#   RESULT i2c_driver=virtio0 i2c_features=BITS i2c_adapter=i2c-0 i2c_name=...
#   RESULT i2c_addr=0x20 i2c_funcs=0x... i2c_msgs=1 i2c_rc=0 i2c_done=1 i2c_bytes=00,00,...
#   RESULT i2c_addr=0x20 i2c_funcs=0x... i2c_msgs=2 i2c_rc=0 i2c_done=2 i2c_bytes=00,00,...
#   RESULT i2c_addr=0x21 i2c_funcs=0x... i2c_msgs=1 i2c_rc=-1 i2c_done=0   (or i2c_errno=E)
# Passes when both transfers at `addr` succeeded and the one at `absent`
# failed (see tests/guest/i2cxfer.c).

# i2c_adapter: the i2c-N adapter whose device sits under a virtio device.
i2c_adapter() {
    for d in /sys/bus/i2c/devices/i2c-*; do
        [ -e "$d" ] || continue
        case $(readlink -f "$d") in */virtio[0-9]*) basename "$d"; return 0;; esac
    done
    return 1
}
i2c_bound() { virtio_dev_of i2c_virtio >/dev/null; }

# i2c_xfer ARGS...: i2cxfer ARGS, its line as a result; sets rc.
i2c_xfer() {
    i2cxfer "$@" > /tmp/i2c.out 2>/tmp/i2c.err
    rc=$?
    while read -r l; do result "$l"; done < /tmp/i2c.out
    return $rc
}

scenario_i2c() {
    addr=$(param addr 0x20) absent=$(param absent 0x21) len=$(param len 8) reg=$(param reg 0x10)
    wait_until 10 i2c_bound || { fail "no virtio device bound to i2c_virtio"; return; }
    wait_until 10 i2c_adapter >/dev/null || { fail "i2c_virtio bound, but no i2c adapter under a virtio device"; return; }
    ad=$(i2c_adapter)
    vdev=$(virtio_dev_of i2c_virtio)
    result "i2c_driver=$vdev i2c_features=$(cat "/sys/bus/virtio/devices/$vdev/features")" \
        "i2c_adapter=$ad i2c_name=$(tr ' =' '__' < "/sys/bus/i2c/devices/$ad/name")"
    wait_until 5 test -c "/dev/$ad" || { fail "no /dev/$ad (i2c_dev not loaded?)"; return; }
    i2c_xfer "/dev/$ad" "$addr" "$len" || { fail "read of $len bytes at $addr failed (i2cxfer exit $rc): $(cat /tmp/i2c.out /tmp/i2c.err)"; return; }
    i2c_xfer "/dev/$ad" "$addr" "$len" "$reg" ||
        { fail "register $reg read at $addr failed (i2cxfer exit $rc): $(cat /tmp/i2c.out /tmp/i2c.err)"; return; }
    i2c_xfer "/dev/$ad" "$absent" "$len"
    case $rc in
        0) fail "a read at $absent, which nobody serves, succeeded";;
        1) finish pass "reads at $addr done, the read at $absent refused";;
        *) fail "i2cxfer at $absent exit $rc: $(cat /tmp/i2c.err)";;
    esac
}
