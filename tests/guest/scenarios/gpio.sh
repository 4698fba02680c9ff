# shellcheck shell=sh
# virtio-gpio (sourced by /init; uses its result/finish/fail/param/wait_until/
# virtio_dev_of).
# Needs the full guest (GUEST_FLAVOUR=full: gpio_virtio, built out of tree).
#
# scenario_gpio: gpio_virtio binds a virtio device and registers a gpiochip
# (/sys/bus/gpio/devices/gpiochipN under that virtio device, /dev/gpiochipN);
# gpioctl (tests/guest/gpioctl.c, the GPIO character device v2 uAPI) reports
# the chip and its line names, then holds line `line` (5) as an output set
# to each of `values` (1,0) in turn, each read back. The guest only reports;
# the host judges the line count and names (the back-end's):
#   RESULT gpio_driver=virtio0 gpio_dev=gpiochip0 gpio_features=BITS (the driver's)
#   RESULT gpio_chip=gpiochip0 gpio_label=virtio0 gpio_lines=8
#   RESULT gpio_names=dummy0,dummy1,...
#   RESULT gpio_step=1 set=1 read=1          (one per value)
#   RESULT gpio_held=5 used=1 output=1 consumer=vstest
#   RESULT gpio_line=5 gpio_sets=1,0 gpio_reads=1,0
# Passes when every value read back as it was set.

# gpio_chip_dev: the gpiochipN whose device sits under a virtio device.
gpio_chip_dev() {
    for d in /sys/bus/gpio/devices/gpiochip*; do
        [ -e "$d" ] || continue
        case $(readlink -f "$d") in */virtio[0-9]*) basename "$d"; return 0;; esac
    done
    return 1
}
gpio_bound() { virtio_dev_of gpio_virtio >/dev/null; }

# gpio_run OUTFILE ARGS...: gpioctl ARGS, its lines as results; sets rc.
gpio_run() {
    out=$1; shift
    gpioctl "$@" > "$out" 2>/tmp/gpio.err
    rc=$?
    while read -r l; do result "$l"; done < "$out"
    return $rc
}

scenario_gpio() {
    line=$(param line 5) values=$(param values 1,0)
    wait_until 10 gpio_bound || { fail "no virtio device bound to gpio_virtio"; return; }
    wait_until 10 gpio_chip_dev >/dev/null || { fail "gpio_virtio bound, but no gpiochip under a virtio device"; return; }
    chip=$(gpio_chip_dev)
    vdev=$(virtio_dev_of gpio_virtio)
    result "gpio_driver=$vdev gpio_dev=$chip gpio_features=$(cat "/sys/bus/virtio/devices/$vdev/features")"
    wait_until 5 test -c "/dev/$chip" || { fail "no /dev/$chip"; return; }
    gpio_run /tmp/gpio.info "/dev/$chip" info || { fail "gpioctl info exit $rc: $(tail -n 1 /tmp/gpio.err)"; return; }
    # shellcheck disable=SC2046 # the values, one argument each
    gpio_run /tmp/gpio.set "/dev/$chip" set "$line" $(echo "$values" | tr ',' ' ')
    case $rc in
        0) finish pass "line $line set to $values and read back";;
        1) fail "line $line read back differently: $(grep '^gpio_line=' /tmp/gpio.set)";;
        *) fail "gpioctl set exit $rc: $(tail -n 1 /tmp/gpio.err)";;
    esac
}
