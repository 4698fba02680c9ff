# virtio-sound (sourced by /init; uses its result/finish/fail/param/wait_until).
# Needs the trixie guest (GUEST_FLAVOUR=trixie: Debian 13's kernel, the only
# Debian one with CONFIG_SND_VIRTIO).
#
# scenario_sound: the virtio_snd driver binds a virtio device and ALSA has a
# card for it (/proc/asound/cards names the virtio-snd driver); then the
# PCM devices and their substreams, one substream per virtio-snd stream:
# /proc/asound/card0/pcmNp/subK (playback, output streams) and pcmNc/subK
# (capture, input streams). The guest only reports; the host compares the
# counts with the streams the device's config space announced.
#   RESULT snd_driver=virtio0
#   RESULT card=0 id=SoundCard driver=virtio-snd name=VirtIO_SoundCard
#   RESULT pcm=pcm0p subs=1 / pcm=pcm0c subs=1
#   RESULT playback_pcms=N playback_subs=N capture_pcms=N capture_subs=N
snd_bound() { ls /sys/bus/virtio/drivers/virtio_snd/ 2>/dev/null | grep -q '^virtio'; }
snd_card() { grep -q 'virtio' /proc/asound/cards 2>/dev/null; }
# snd_count DIR-GLOB: sets pcms and subs for the PCM directories of GLOB.
snd_count() {
    pcms=0 subs=0
    for d in /proc/asound/card0/$1; do
        [ -d "$d" ] || continue
        k=$(ls -d "$d"/sub* 2>/dev/null | wc -l)
        result "pcm=$(basename "$d") subs=$k"
        pcms=$((pcms + 1)) subs=$((subs + k))
    done
}
# snd_dev: the virtio device of type 25 (sound), or nothing.
snd_dev() {
    for d in /sys/bus/virtio/devices/virtio*; do
        [ "$(cat "$d/device" 2>/dev/null)" = 0x0019 ] && { basename "$d"; return 0; }
    done
    return 1
}
# snd_bind_retried: a probe that failed because the device never answered
# its first control request is tried again, at most twice, and said
# (RESULT snd_probe_retry=N): rust-vmm's vhost-user-backend 0.17 drops a
# kick that arrives before SET_VRING_ENABLE (docs/peers.md), which a guest
# right after DRIVER_OK can hit; a second probe resets and restarts the
# device.
snd_bind_retried() {
    tries=0
    while ! wait_until 10 snd_bound; do
        tries=$((tries + 1))
        dev=$(snd_dev) || return 1
        [ $tries -le 2 ] || return 1
        result "snd_probe_retry=$tries dev=$dev"
        echo "$dev" > /sys/bus/virtio/drivers/virtio_snd/bind 2>/dev/null
    done
}
scenario_sound() {
    snd_bind_retried || { fail "no virtio device bound to virtio_snd"; return; }
    result "snd_driver=$(ls /sys/bus/virtio/drivers/virtio_snd/ | grep '^virtio' | tr '\n' ',' | sed 's/,$//')"
    wait_until 10 snd_card || { fail "no virtio card in /proc/asound/cards: $(cat /proc/asound/cards 2>&1 | tr '\n' ' ')"; return; }
    # " 0 [SoundCard      ]: virtio-snd - VirtIO SoundCard"
    line=$(grep -m1 'virtio' /proc/asound/cards)
    num=$(echo "$line" | sed 's/^ *\([0-9]*\) .*/\1/')
    id=$(echo "$line" | sed 's/^[^[]*\[\([^] ]*\) *\].*/\1/')
    drv=$(echo "$line" | sed 's/^[^:]*: *\([^ ]*\) - .*/\1/')
    name=$(echo "$line" | sed 's/^[^:]*: *[^ ]* - //' | tr ' ' '_')
    result "card=$num id=$id driver=$drv name=$name"
    [ "$num" = 0 ] || { fail "the virtio card is card $num, not card 0"; return; }
    snd_count 'pcm*p'; pp=$pcms ps=$subs
    snd_count 'pcm*c'; cp=$pcms cs=$subs
    result "playback_pcms=$pp playback_subs=$ps capture_pcms=$cp capture_subs=$cs"
    [ $((ps + cs)) -gt 0 ] || { fail "the card has no PCM substream"; return; }
    finish pass "the virtio sound card has $ps playback and $cs capture substreams"
}
