# shellcheck shell=sh
# Sourced by /init (tests/guest/init). The full guest's kernel (GUEST_FLAVOUR=full):
# every module of the load order loaded, and which drivers registered on the
# virtio bus; needs no device.
#   RESULT kernel=RELEASE
#   RESULT modules_missing=NAME,...       modules of the load order not loaded ("none")
#   RESULT virtio_drivers=NAME,...        /sys/bus/virtio/drivers/*
#   RESULT tainted=N unsigned_taint=0|1   /proc/sys/kernel/tainted; bit 13 (E) is
#                                         set by a module without a valid signature
#   RESULT sig_msg=TEXT                   the kernel's line about it ("none")
# Passes when no module is missing.

# module_name FILE.ko: the name the kernel gives the module ('-' read as '_').
module_name() { basename "$1" .ko | tr '-' '_'; }

scenario_probe_full() {
    result "kernel=$(uname -r)"
    missing=""
    while read -r m; do
        [ -d "/sys/module/$(module_name "$m")" ] || missing="$missing,$(module_name "$m")"
    done < /lib/modules/load-order
    missing=${missing#,}
    result "modules_missing=${missing:-none}"
    drivers=""
    for d in /sys/bus/virtio/drivers/*; do [ -d "$d" ] && drivers="$drivers,$(basename "$d")"; done
    result "virtio_drivers=${drivers#,}"
    t=$(cat /proc/sys/kernel/tainted)
    result "tainted=$t unsigned_taint=$(((t >> 13) & 1))"
    msg=$(dmesg | grep -m1 -i 'module verification failed' | sed 's/^\[[^]]*\] *//')
    result "sig_msg=$(echo "${msg:-none}" | tr ' ' '_')"
    if [ -z "$missing" ]; then finish pass "every module loaded"; else fail "modules not loaded: $missing"; fi
}
