# virtio-rng (sourced by /init; uses its result/finish/fail/param/wait_until).
#
# scenario_rng: the hw_random core must have picked the virtio device
# (/sys/class/misc/hw_random/rng_current names virtio_rng.N); then `bytes`
# (65536) are read from /dev/hwrng. The guest only reports what it read:
#   RESULT rng_current=virtio_rng.0 rng_available=...
#   RESULT rng_stalled=K after=Ss     (a read that stalled, K-th time)
#   RESULT rng_bytes=N rng_distinct=D rng_top=C rng_stalls=K
# (N bytes read, D distinct byte values among them, C the count of the most
# frequent value, K reads that stalled); the host judges whether that looks
# random.
rng_current_is_virtio() {
    case $(cat /sys/class/misc/hw_random/rng_current 2>/dev/null) in virtio_rng*) return 0;; esac
    return 1
}
# rng_read: /tmp/rng filled from /dev/hwrng ($want bytes); 0 done, 1 dd
# failed, 2 stalled (no data within $stall seconds: dd killed).
rng_read() {
    rm -f /tmp/rng
    # /dev/hwrng may return short reads: iflag=fullblock asks until each block is full
    dd if=/dev/hwrng of=/tmp/rng bs=4096 count=$((want / 4096)) iflag=fullblock 2>/tmp/rng.err &
    pid=$! i=0
    while kill -0 $pid 2>/dev/null; do
        [ $i -ge $((stall * 10)) ] && { kill -9 $pid; wait $pid; return 2; }
        usleep 100000; i=$((i + 1))
    done
    wait $pid || return 1
}
scenario_rng() {
    want=$(param bytes 65536) stall=$(param stall_s 10) retries=$(param retries 2) stalls=0
    wait_until 10 rng_current_is_virtio ||
        { fail "hw_random has no virtio device: rng_current=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"; return; }
    # shellcheck disable=SC2046 # echo joins rng_available's names with one space
    result "rng_current=$(cat /sys/class/misc/hw_random/rng_current)" \
        "rng_available=$(echo $(cat /sys/class/misc/hw_random/rng_available) | tr ' ' '+')"
    [ -c /dev/hwrng ] || { fail "no /dev/hwrng"; return; }
    # A read that stalls (the device never answered: see rng_stalls in
    # tests/guest/lib_types.sh) is counted, the driver unbound and bound
    # again (a device reset and a new start) and the read tried again, at
    # most `retries` times.
    while :; do
        rng_read; rc=$?
        [ $rc = 2 ] || break
        stalls=$((stalls + 1))
        result "rng_stalled=$stalls after=${stall}s"
        [ $stalls -le "$retries" ] || { fail "/dev/hwrng gave no data within ${stall}s, $stalls times"; return; }
        virtio_rebind virtio_rng "$(virtio_dev_of virtio_rng)" || return
        wait_until 10 rng_current_is_virtio || { fail "no virtio rng after the rebind"; return; }
    done
    [ $rc = 0 ] || { fail "reading /dev/hwrng failed: $(tail -n 1 /tmp/rng.err)"; return; }
    n=$(wc -c < /tmp/rng)
    # one line per byte value present: "COUNT VALUE"
    od -An -v -tu1 /tmp/rng | tr -s ' ' '\n' | grep -v '^$' | sort -n | uniq -c | sort -rn > /tmp/rng.hist
    result "rng_bytes=$n rng_distinct=$(wc -l < /tmp/rng.hist) rng_top=$(head -n 1 /tmp/rng.hist | awk '{ print $1 }') rng_stalls=$stalls"
    [ "$n" = "$want" ] || { fail "read $n of $want bytes from /dev/hwrng"; return; }
    finish pass "read $n bytes from the virtio rng"
}
