# shellcheck shell=bash
# lib_gpio_i2c.sh - the virtio-gpio and virtio-i2c guest tests: rust-vmm's
# vhost-device-gpio (simulated chip) and vhost-device-i2c (the fake adapter
# of the peers' build) behind QEMU 7.2's vhost-user-gpio-pci and
# vhost-user-i2c-pci, through the shim in pass-through or in the up+down
# chain; the guest is the full flavour (gpio_virtio, i2c_virtio, i2c_dev).
# Sourced after tests/e2e/lib/common.sh, tests/guest/lib.sh and
# tests/guest/lib_types.sh (types_bin, types_end).
#
#   gi_be W gpio|i2c             the back-end (GI_BE_SOCK: W/be.sock0; its log
#                                W/be.log, RUST_LOG=info)
#   gi_shims W TYPE pass|chain [KEYS]
#                                shim #1 on W/fe.sock (trace W/trace.txt) and in
#                                a chain shim #2 (W/mid.sock, W/trace-down.txt,
#                                with the device keys KEYS), each with
#                                check=compat-matrix
#   gi_guest_gpio W NAME         scenario gpio (tests/guest/scenarios/gpio.sh)
#                                and its host checks, the back-end's log included
#   gi_guest_i2c W NAME          scenario i2c (tests/guest/scenarios/i2c.sh) and
#                                its host checks
#   gi_frontend_report W TYPE    what QEMU sent shim #1 (for the matrix)
#   gi_end W MODE                types_end: sessions ended, modes as expected,
#                                every shim stopped cleanly, no `: check: `
#   gi_cleanup W                 the EXIT trap
#
# The back-ends (/work/shared/rust-vmm-peers/README.md): `--socket-path X`
# listens on X0. vhost-device-gpio -l s8: one simulated chip of 8 lines named
# dummy0..dummy7 (src/mock_gpio.rs), which logs every value and direction it
# is set to at RUST_LOG=info; its rings hold at most 256 entries
# (QUEUE_SIZE, src/vhu_gpio.rs), so a chain's shim #2 gets queue-size=256.
# vhost-device-i2c -l 1:32 with VHOST_I2C_FAKE=1: adapter 1 with one client
# at address 32 (decimal: 0x20); reads return zeros, a transfer to any other
# address fails (I2cMap::transfer: ClientAddressInvalid, VIRTIO_I2C_MSG_ERR).
# QEMU 7.2's vhost-user-gpio-pci and vhost-user-i2c-pci have no `vectors`
# property (QEMU's -device ...,help), so guest_vhost_pci_opts is not used.

GI_GPIO_LINES=8 GI_GPIO_LINE=5 GI_I2C_ADDR=0x20 GI_I2C_ABSENT=0x21 GI_I2C_LEN=8
GI_BE_PID="" GI_BE_SOCK="" GI_W="" GI_QEMU=()

# gi_be W TYPE: vhost-device-TYPE on W/be.sock0; skips when it is not built
# or does not start.
gi_be() {
    local w=$1 env=(RUST_LOG=info) args
    types_bin "$2"
    case $2 in
        gpio) args=(-l "s$GI_GPIO_LINES");;
        i2c) env+=(VHOST_I2C_FAKE=1); args=(-l "1:$((GI_I2C_ADDR))");;
        *) fail "gi_be: no back-end for $2";;
    esac
    env "${env[@]}" "$TYPES_BIN" --socket-path "$w/be.sock" "${args[@]}" >"$w/be.log" 2>&1 &
    GI_BE_PID=$! GI_BE_SOCK=$w/be.sock0
    wait_for 10 test -S "$GI_BE_SOCK" || skip "vhost-device-$2 did not start: $(tail -n 3 "$w/be.log")"
    echo "back-end: vhost-device-$2 ${args[*]} (pid $GI_BE_PID) on $GI_BE_SOCK"
}

# gi_shims W TYPE MODE [KEYS]: MODE pass: one shim from W/fe.sock to the
# back-end; chain: shim #2 (down, with ",KEYS") from W/mid.sock to the
# back-end, shim #1 (up) from W/fe.sock to W/mid.sock.
gi_shims() {
    local w=$1 type=$2 be=$GI_BE_SOCK check=check=$E2E_ROOT/compat-matrix
    GI_W=$w
    if [[ $3 == chain ]]; then
        # shellcheck disable=SC2034 # lib.sh's guest_down_shim_stop/_tail read them
        GUEST_DOWN_DIR=$w
        "$SHIM_BIN" --device "type=$type,id=down0,frontend=$w/mid.sock,backend=$be,$check${4:+,$4}" \
            --trace "$w/trace-down.txt" 2>"$w/shim-down.log" &
        GUEST_DOWN_PID=$!
        wait_for 5 test -S "$w/mid.sock" || fail "shim #2 did not create its socket: $(tail -n 3 "$w/shim-down.log")"
        be=$w/mid.sock
    fi
    # shellcheck disable=SC2034 # guest_fail (lib.sh) calls it
    GUEST_FAIL_HOOK=_gi_fail_hook
    shim_start "$w/shim.log" --device "type=$type,id=${type}0,frontend=$w/fe.sock,backend=$be,$check" --trace "$w/trace.txt"
    wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket: $(tail -n 3 "$w/shim.log")"
}

_gi_fail_hook() {
    [[ -z ${GUEST_DOWN_PID:-} ]] || guest_down_shim_tail
    ! grep -q 'a ring without size or address was enabled' "$GI_W/shim-down.log" 2>/dev/null ||
        echo "NOTE: QEMU 7.2 enabled a ring it never set up (SET_VRING_ENABLE with no SET_VRING_NUM/ADDR/KICK for it: vhost-user-gpio enables all its rings, the event queue too, which the guest does not use without VIRTIO_GPIO_F_IRQ); shim #1 forwarded the enable to shim #2 while running, and shim #2 (vdpa-user: an enabled ring starts at once) set DEVICE_NEEDS_RESET"
    echo "--- back-end log tail:"; tail -n 10 "$GI_W/be.log" 2>/dev/null || true
    echo "--- QEMU log:"; cat "$GI_W"/*.qemu.log 2>/dev/null | tail -n 5 || true
}

# gi_dev TYPE W: GI_QEMU=the QEMU arguments of vhost-user-TYPE-pci on W/fe.sock.
gi_dev() { GI_QEMU=(-chardev "socket,id=c0,path=$2/fe.sock" -device "vhost-user-$1-pci,chardev=c0"); }

# gi_expect W NAME WHAT GOT WANT: fails unless GOT is WANT.
gi_expect() { [[ $4 == "$5" ]] || guest_fail "$1" "$2" "$3: the guest has '$4', expected '$5'"; }

# gi_guest_gpio W NAME: scenario gpio on line GI_GPIO_LINE with 1 then 0.
# The guest must see the back-end's chip: GI_GPIO_LINES lines named
# dummy0..; each value read back as set while the line is held as an output
# by gpioctl; the back-end's chip must have been set to 1 and 0, as an
# output, in that order.
gi_guest_gpio() {
    local w=$1 name=$2 names="" i
    gi_dev gpio "$w"
    guest_run_ok "$w" "$name" gpio "line=$GI_GPIO_LINE values=1,0" "${GI_QEMU[@]}"
    for (( i = 0; i < GI_GPIO_LINES; i++ )); do names+="${names:+,}dummy$i"; done
    gi_expect "$w" "$name" "line count" "$(guest_result "$w" "$name" gpio_lines)" "$GI_GPIO_LINES"
    gi_expect "$w" "$name" "line names" "$(guest_result "$w" "$name" gpio_names)" "$names"
    gi_expect "$w" "$name" "values set" "$(guest_result "$w" "$name" gpio_sets)" "1,0"
    gi_expect "$w" "$name" "values read back" "$(guest_result "$w" "$name" gpio_reads)" "1,0"
    gi_expect "$w" "$name" "line held" "$(guest_results "$w" "$name" | grep -m1 '^RESULT gpio_held=')" \
        "RESULT gpio_held=$GI_GPIO_LINE used=1 output=1 consumer=vstest"
    _gi_gpio_backend_saw "$w" "$name"
    echo "guest: $(guest_result "$w" "$name" gpio_chip) ($(guest_result "$w" "$name" gpio_label)): $GI_GPIO_LINES lines $names; line $GI_GPIO_LINE set 1 and 0, read back 1 and 0"
}

# _gi_gpio_backend_saw W NAME: the simulated chip's log (src/mock_gpio.rs,
# "gpio dummyN set value to V" / "set direction to D", D 1 = out, 0 = none)
# for the line: value 1 and direction out (gpio_virtio's direction_output
# sends the value, then the direction), then value 0, in this order.
_gi_gpio_backend_saw() {
    local w=$1 name=$2 l=dummy$GI_GPIO_LINE did
    did=$(grep -o "gpio $l set .*" "$w/be.log" | tr '\n' ';' || true)
    [[ $did == *"gpio $l set value to 1;gpio $l set direction to 1;"*"gpio $l set value to 0;"* ]] ||
        guest_fail "$w" "$name" "the back-end's chip saw for $l: ${did:-nothing} (expected value 1, direction 1 (out), then value 0)"
    echo "back-end: the simulated chip saw for $l: $did"
}

# gi_guest_i2c W NAME: scenario i2c: the guest's adapter is i2c_virtio's; a
# read of GI_I2C_LEN bytes at GI_I2C_ADDR and a register read there (write
# one byte, read GI_I2C_LEN, one transfer) both succeed with the fake
# adapter's zeros (i2cxfer fills its buffer with 0xa5 first); the read at
# GI_I2C_ABSENT fails.
gi_guest_i2c() {
    local w=$1 name=$2 zeros line
    gi_dev i2c "$w"
    guest_run_ok "$w" "$name" i2c "addr=$GI_I2C_ADDR absent=$GI_I2C_ABSENT len=$GI_I2C_LEN reg=0x10" "${GI_QEMU[@]}"
    [[ $(guest_result "$w" "$name" i2c_name) == i2c_virtio* ]] ||
        guest_fail "$w" "$name" "the adapter's name is '$(guest_result "$w" "$name" i2c_name)', not i2c_virtio's"
    zeros=$(printf '00,%.0s' $(seq "$GI_I2C_LEN")) zeros=${zeros%,}
    for line in "i2c_msgs=1 i2c_rc=0 i2c_done=1 i2c_bytes=$zeros" "i2c_msgs=2 i2c_rc=0 i2c_done=2 i2c_bytes=$zeros"; do
        guest_results "$w" "$name" | grep -qE "^RESULT i2c_addr=$GI_I2C_ADDR i2c_funcs=0x[0-9a-f]+ $line\$" ||
            guest_fail "$w" "$name" "no transfer at $GI_I2C_ADDR with '$line': $(guest_results "$w" "$name" | grep "i2c_addr=$GI_I2C_ADDR" | tr '\n' '|')"
    done
    guest_results "$w" "$name" | grep -qE "^RESULT i2c_addr=$GI_I2C_ABSENT .* i2c_rc=-1 i2c_(errno=[A-Z]+|done=0)\$" ||
        guest_fail "$w" "$name" "the read at $GI_I2C_ABSENT did not fail: $(guest_results "$w" "$name" | grep "i2c_addr=$GI_I2C_ABSENT")"
    echo "guest: $(guest_result "$w" "$name" i2c_adapter) ($(guest_result "$w" "$name" i2c_name)): $GI_I2C_LEN zero bytes read at $GI_I2C_ADDR (plain and after a register write); the read at $GI_I2C_ABSENT failed ($(guest_results "$w" "$name" | grep -o "i2c_addr=$GI_I2C_ABSENT .*" | cut -d' ' -f4-))"
}

# gi_frontend_report W TYPE: what QEMU 7.2's front-end sent shim #1 (its
# trace), for the compatibility matrix: features and protocol features
# acked, config space reads, ring sizes and the messages used.
gi_frontend_report() {
    local t=$1/trace.txt
    echo "QEMU 7.2 vhost-user-$2-pci, from shim #1's trace:"
    _gi_fe_lines "$t" | grep -E '^[^ ]+ (SET_FEATURES|SET_PROTOCOL_FEATURES|GET_CONFIG|SET_CONFIG|SET_VRING_NUM) ' |
        sort | uniq -c | sed 's/^/  /' || true
    echo "  requests: $(_gi_fe_lines "$t" | awk '{ print $2 }' | sort | uniq -c | awk '{ printf "%s%s x%s", s, $2, $1; s = ", " }')"
}
# _gi_fe_lines TRACE: every request the front-end sent, from "fe->shim" and
# "fe->be" lines without their time and device ("DIR REQUEST ..."), except an
# "fe->be R" right after an "fe->shim R" (up-conversion traces what it
# receives, then what it forwards).
_gi_fe_lines() {
    awk '{ d = $3; q = $4 }
         d == "fe->shim" || (d == "fe->be" && !(pd == "fe->shim" && pq == q)) { $1 = $2 = ""; print substr($0, 3) }
         { pd = d; pq = q }' "$1"
}

# gi_end W MODE: types_end (lib_types.sh).
gi_end() { types_end "$@"; }

gi_cleanup() {
    guest_stop_all; shim_kill
    _guest_kill_pid "${GUEST_DOWN_PID:-}"; _guest_kill_pid "$GI_BE_PID"
    guest_cleanup_dir "$1"
}
