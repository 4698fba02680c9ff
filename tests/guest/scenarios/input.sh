# virtio-input (sourced by /init; uses its result/finish/fail/param/wait_until).
#
# scenario_input: the input device whose name (/sys/class/input/inputN/name)
# is vstest.input_name ('_' read as a space: the kernel command line has no
# spaces in a value) must appear; its key capabilities must have every code
# of vstest.caps (comma-separated) and none of vstest.absent; then evread
# reads vstest.count key presses (default 10) from its /dev/input/eventN
# within vstest.timeout_ms (10000). The guest reports, the host judges:
#   RESULT input_dev=input3 event=event2 serial=... bustype=0006 vendor=1af4 product=0bad
#   RESULT caps_key=7fffff... caps_missing=none caps_present_absent=none
#   RESULT codes=35,18,38,38,24,... releases=R syns=S others=O
# The back-end injects its key sequence again and again (the guest opens the
# device some time after the driver bound, and evdev keeps nothing for a
# reader that was not there), so the host looks for the sequence in order
# among the codes.

# input_dev NAME: the /sys/class/input/inputN directory whose name is NAME.
input_dev() {
    for d in /sys/class/input/input*; do
        [ "$(cat "$d/name" 2>/dev/null)" = "$1" ] && { echo "$d"; return 0; }
    done
    return 1
}

# cap_has FILE BIT: the sysfs capability bitmap FILE (hex words of 64 bits,
# the most significant first, leading zero words left out) has BIT set.
cap_has() {
    awk -v bit="$2" '{
        w = NF - int(bit / 64); if (w < 1) exit 1
        hex = $w; i = int((bit % 64) / 4); if (i >= length(hex)) exit 1
        c = index("0123456789abcdef", substr(hex, length(hex) - i, 1)) - 1
        p = substr("1248", bit % 4 + 1, 1) + 0
        exit (int(c / p) % 2) ? 0 : 1 }' "$1"
}

# input_caps FILE WANTED ABSENT: "missing=LIST present_absent=LIST" ("none"
# when empty) for the comma-separated codes.
input_caps() {
    miss="" extra=""
    for k in $(echo "$2" | tr ',' ' '); do cap_has "$1" "$k" || miss="$miss,$k"; done
    for k in $(echo "$3" | tr ',' ' '); do cap_has "$1" "$k" && extra="$extra,$k"; done
    echo "caps_missing=${miss#,} caps_present_absent=${extra#,}" | sed 's/=$/=none/; s/= /=none /'
}

scenario_input() {
    name=$(param input_name vdpa-shim_test_keyboard | tr '_' ' ')
    count=$(param count 10) tmo=$(param timeout_ms 10000)
    wait_until 10 input_dev "$name" ||
        { fail "no input device named '$name' (have: $(cat /sys/class/input/input*/name 2>/dev/null | tr ' \n' '_;'))"; return; }
    d=$(input_dev "$name")
    ev=$(basename "$(ls -d "$d"/event* 2>/dev/null | head -n 1)")
    result "input_dev=$(basename "$d") event=$ev serial=$(cat "$d/uniq") bustype=$(cat "$d/id/bustype")" \
        "vendor=$(cat "$d/id/vendor") product=$(cat "$d/id/product")"
    result "caps_key=$(tr ' ' '_' < "$d/capabilities/key") $(input_caps "$d/capabilities/key" "$(param caps '')" "$(param absent '')")"
    [ -n "$ev" ] || { fail "$(basename "$d") has no evdev node (evdev module missing?)"; return; }
    wait_until 5 test -c "/dev/input/$ev" || { fail "no /dev/input/$ev"; return; }
    evread "/dev/input/$ev" "$count" "$tmo" > /tmp/evread.out
    rc=$?
    result "$(cat /tmp/evread.out)"
    [ $rc = 0 ] || { fail "evread got fewer than $count key presses (exit $rc)"; return; }
    finish pass "read $count key presses from /dev/input/$ev"
}
