# virtio-vsock (sourced by /init; uses its result/finish/fail/param/wait_until).
#
# scenario_vsock: vsock_xfer (tests/guest/vsock_xfer.c) connects to CID
# `cid` (2, the host) port `port` (5000), sends `bytes` (262144) bytes of the
# pattern seeded by `seed` while reading the host's answer, which must be
# each byte XOR 0xa5 (the host checks what it got, the guest what came
# back). vsock_xfer prints the guest's own CID (the device's config space)
# and the counts:
#   RESULT vsock_local_cid=4
#   RESULT vsock_sent=N vsock_received=N vsock_bad=0 vsock_first_bad=-1
vsock_dev_ready() {
    [ -c /dev/vsock ] || return 1
    for d in /sys/bus/virtio/drivers/vmw_vsock_virtio_transport/virtio*; do [ -e "$d" ] && return 0; done
    return 1
}
scenario_vsock() {
    cid=$(param cid 2) port=$(param port 5000) bytes=$(param bytes 262144) seed=$(param seed 1)
    wait_until 10 vsock_dev_ready || { fail "no virtio-vsock device bound to vmw_vsock_virtio_transport"; return; }
    vsock_xfer "$cid" "$port" "$bytes" "$seed" "$(param timeout_ms 20000)" > /tmp/vsock.out 2>/tmp/vsock.err
    rc=$?
    while read -r l; do result "$l"; done < /tmp/vsock.out
    [ $rc = 0 ] || { fail "vsock_xfer exit $rc: $(tail -n 1 /tmp/vsock.err)"; return; }
    finish pass "every byte went to the host and came back as expected"
}
