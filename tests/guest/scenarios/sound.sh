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
scenario_sound() {
    wait_until 10 snd_bound || { fail "no virtio device bound to virtio_snd"; return; }
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
