# shellcheck shell=bash
# Sourced by tests/guest/lib.sh: disturbing a running guest (live migration,
# back-end and shim restarts) on top of the blk-rounds and net scenarios.

# ---- Disturbing a running guest: live migration, restarts (blk-rounds) ----

# The blk-rounds scenario (tests/guest/init) writes round K's 4 KiB at
# GUEST_ROUNDS_BASE_MB MiB + 4 KiB * (K - 1) and goes on until it finds the
# host's marker at GUEST_ROUNDS_MARKER_MB MiB (guest_blk_marker).
GUEST_ROUNDS_BASE_MB=8 GUEST_ROUNDS_MARKER_MB=4
guest_blk_rounds_params() {
    echo "nonce=$1 base_mb=$GUEST_ROUNDS_BASE_MB marker_mb=$GUEST_ROUNDS_MARKER_MB ${2:-}"
}
guest_blk_round_pattern() {
    { printf 'VSTEST-ROUND round=%s nonce=%s\n' "$1" "$2"; head -c 4096 /dev/zero; } | head -c 4096
}
# guest_blk_marker IMAGE NONCE: the marker the guest's rounds wait for.
guest_blk_marker() {
    { printf 'VSTEST-MARKER nonce=%s\n' "$2"; head -c 4096 /dev/zero; } | head -c 4096 |
        dd of="$1" bs=4096 seek=$((GUEST_ROUNDS_MARKER_MB * 256)) count=1 conv=notrunc 2>/dev/null
}
# guest_round_count W NAME: how many "RESULT round=" lines NAME's console has.
guest_round_count() { tr -d '\r' < "$1/$2.console" 2>/dev/null | grep -c '^RESULT round=' || true; }
guest_round_at_least() { (( $(guest_round_count "$1" "$2") >= $3 )); }

# guest_blk_rounds_check W NAME IMAGE NONCE ROUNDS: every round's block in IMAGE.
guest_blk_rounds_check() {
    local w=$1 name=$2 img=$3 nonce=$4 n=$5 k
    (( n >= 1 )) || guest_fail "$w" "$name" "no rounds to check"
    for (( k = 1; k <= n; k++ )); do
        cmp -s <(guest_blk_round_pattern "$k" "$nonce") \
            <(dd if="$img" bs=4096 skip=$((GUEST_ROUNDS_BASE_MB * 256 + k - 1)) count=1 2>/dev/null) ||
            guest_fail "$w" "$name" "the image lacks round $k's block"
    done
    echo "guest: the blocks of all $n rounds are in $img"
}

# guest_free_port: a TCP port on 127.0.0.1 nobody listens on now.
guest_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# guest_qmp_status W NAME: QEMU's run state (query-status), e.g. inmigrate.
guest_qmp_status() { guest_qmp "$1" "$2" query-status 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])'; }
_guest_status_is() { [[ $(guest_qmp_status "$1" "$2") == "$3" ]]; }

# guest_migrate W SRC DST PORT [TIMEOUT]: waits (bounded) for DST to be
# waiting for the migration, migrates SRC to tcp:127.0.0.1:PORT and polls
# query-migrate until "completed" (0) or "failed"/"cancelled"/the bound (1,
# the reason on stdout). GUEST_MIGRATE_ERROR is QMP's error when the migrate
# command itself is refused (QEMU's migration blockers).
GUEST_MIGRATE_ERROR=""
guest_migrate() {
    local w=$1 src=$2 dst=$3 port=$4 limit=${5:-60} start=$SECONDS st info
    GUEST_MIGRATE_ERROR=""
    wait_for 20 _guest_status_is "$w" "$dst" inmigrate ||
        { echo "the destination QEMU is not waiting for a migration: $(tail -n 3 "$w/$dst.qemu.log")"; return 1; }
    if ! GUEST_MIGRATE_ERROR=$(guest_qmp "$w" "$src" migrate "{\"uri\": \"tcp:127.0.0.1:$port\"}" 2>&1 >/dev/null); then
        echo "QMP migrate refused: $GUEST_MIGRATE_ERROR"; return 1
    fi
    GUEST_MIGRATE_ERROR=""
    while :; do
        if ! info=$(guest_qmp "$w" "$src" query-migrate 2>&1); then
            if ! kill -0 "${_GUEST_PID[$src]:-0}" 2>/dev/null; then
                local rc=0; wait "${_GUEST_PID[$src]}" 2>/dev/null || rc=$?
                unset "_GUEST_PID[$src]"
                (( rc > 128 )) && rc="$rc (signal $((rc - 128)))"
                echo "the source QEMU died during the migration (status $rc): $(tail -n 4 "$w/$src.qemu.log" | tr '\n' '|')"
            else
                echo "query-migrate failed: $(tail -n 1 <<< "$info")"
            fi
            return 1
        fi
        st=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get("status", "none"))' "$info")
        case $st in
            completed) echo "migration completed after $((SECONDS - start))s: $info"; return 0;;
            failed|cancelled) echo "migration $st: $info"; return 1;;
        esac
        (( SECONDS - start < limit )) || { echo "migration not completed within ${limit}s: $info"; return 1; }
        sleep 0.2
    done
}

# guest_blk_migration W IMAGE SRC-SOCK DST-SOCK: the blk-rounds scenario on a
# source QEMU (vhost-user-blk on SRC-SOCK) live-migrated to a destination
# QEMU (-incoming, DST-SOCK) once the guest did 3 rounds; after "completed"
# the host writes the marker, the guest finishes on the destination (it must
# not boot again there) and the host finds every round's block in IMAGE.
# The source QEMU is left paused (postmigrate) for the caller to quit.
# With GUEST_MIGRATE_EXPECT=refused the migrate command must instead be
# refused (a QEMU migration blocker, in GUEST_MIGRATE_ERROR): the guest
# finishes on the source, the destination QEMU is quit.
# Sets GUEST_MIG_SRC_ROUNDS, GUEST_MIG_DST_ROUNDS, GUEST_MIG_TOTAL.
guest_blk_migration() {
    local w=$1 img=$2 nonce=$RANDOM port params dev out fin=dst
    port=$(guest_free_port)
    params=$(guest_blk_rounds_params "$nonce" "extra_rounds=3 delay_ms=150")
    dev="vhost-user-blk-pci,chardev=c0,id=blk0$(guest_vhost_pci_opts)"
    guest_boot "$w" src blk-rounds "$params" -chardev "socket,id=c0,path=$3" -device "$dev"
    guest_boot "$w" dst blk-rounds "$params" -chardev "socket,id=c0,path=$4" -device "$dev" \
        -incoming "tcp:127.0.0.1:$port"
    wait_for 60 guest_round_at_least "$w" src 3 || guest_fail "$w" src "the guest did not do 3 rounds on the source"
    echo "guest: $(guest_round_count "$w" src) rounds on the source; migrating to port $port"
    if [[ ${GUEST_MIGRATE_EXPECT:-completed} == refused ]]; then
        ! guest_migrate "$w" src dst "$port" 90 >"$w/migrate.out" || guest_fail "$w" src "the migration was not refused: $(cat "$w/migrate.out")"
        out=$(cat "$w/migrate.out")
        [[ -n $GUEST_MIGRATE_ERROR ]] || guest_fail "$w" src "the migration failed, but not at the migrate command: $out"
        echo "QEMU refused the migration before it started: $GUEST_MIGRATE_ERROR"
        [[ $(guest_qmp_status "$w" src) == running ]] || guest_fail "$w" src "the source is $(guest_qmp_status "$w" src) after the refusal"
        guest_quit "$w" dst || guest_fail "$w" dst "the destination QEMU did not quit"
        fin=src
    else
        guest_migrate "$w" src dst "$port" 90 >"$w/migrate.out" || guest_fail "$w" src "$(cat "$w/migrate.out")"
        cut -c 1-160 "$w/migrate.out"
    fi
    GUEST_MIG_SRC_ROUNDS=$(guest_round_count "$w" src)
    guest_blk_marker "$img" "$nonce"
    out=$(guest_wait "$w" "$fin" 120) || guest_fail "$w" "$fin" "$out"
    echo "$out"
    guest_results "$w" "$fin" | grep -v '^RESULT round=' || true
    [[ $(guest_result "$w" "$fin" status) == pass ]] || guest_fail "$w" "$fin" "guest: $(guest_result "$w" "$fin" reason)"
    GUEST_MIG_TOTAL=$(guest_result "$w" "$fin" verified) GUEST_MIG_DST_ROUNDS=0
    if [[ $fin == dst ]]; then
        ! tr -d '\r' < "$w/dst.console" | grep -q '^RESULT boot ' ||
            guest_fail "$w" dst "the guest booted again on the destination instead of running on"
        GUEST_MIG_DST_ROUNDS=$(guest_round_count "$w" dst)
        (( GUEST_MIG_DST_ROUNDS >= 3 )) || guest_fail "$w" dst "only $GUEST_MIG_DST_ROUNDS rounds on the destination"
    fi
    guest_blk_rounds_check "$w" "$fin" "$img" "$nonce" "$GUEST_MIG_TOTAL"
    echo "guest: $GUEST_MIG_SRC_ROUNDS rounds on the source, $GUEST_MIG_DST_ROUNDS on the destination, $GUEST_MIG_TOTAL verified by the guest"
}

# guest_dirty_log_relayed W NAME TRACE WHO: TRACE shows the dirty log going
# to the back-end: LOG_SHMFD in SET_PROTOCOL_FEATURES, SET_FEATURES with
# LOG_ALL, SET_LOG_BASE with the log's memfd and the back-end's reply to it.
guest_dirty_log_relayed() {
    local pat
    for pat in '(fe|shim)->be SET_PROTOCOL_FEATURES.*LOG_SHMFD' '(fe|shim)->be SET_FEATURES.*LOG_ALL' \
            '(fe|shim)->be SET_LOG_BASE mmap_size=[0-9]+ .*fds=\[memfd' 'be->(fe|shim) SET_LOG_BASE reply'; do
        grep -qE "$pat" "$3" || guest_fail "$1" "$2" "$4's trace lacks /$pat/: dirty logging not relayed"
    done
    echo "$4: dirty log relayed: $(grep -m1 -E '>be SET_LOG_BASE' "$3" | cut -d' ' -f2-)"
}

# guest_round_gaps W NAME: the rounds' guest uptimes (t=) in order, and the
# longest gap between two rounds ("max_gap=S after_round=K").
guest_round_gaps() {
    tr -d '\r' < "$1/$2.console" | sed -n 's/^RESULT round=\([0-9]*\) ok=1 t=\([0-9.]*\)$/\1 \2/p' |
        awk 'NR > 1 && $2 - t > g { g = $2 - t; k = r } { r = $1; t = $2 } END { printf "max_gap=%.2f after_round=%s\n", g, k }'
}

# guest_blk_shim_restart W IMAGE SHIM-ARGS...: the blk-rounds scenario on a
# vhost-user-blk device whose chardev reconnects (reconnect=1) to the shim
# on W/fe.sock (started here with SHIM-ARGS, trace in W/trace1.txt, then
# W/trace.txt); after 3 rounds the shim is SIGKILLed and started again; once
# QEMU is back (it set the rings up through the new shim) and the guest did
# 2 more rounds, the host writes the marker; the guest must finish with every
# round's block intact, the host finds them in IMAGE. Prints what the guest
# saw: the longest pause between rounds and its console lines that are not
# results (kernel messages such as I/O errors). Sets GUEST_RESTART_GAP.
guest_blk_shim_restart() {
    local w=$1 img=$2 nonce=$RANDOM out killed_at back_at
    shift 2
    shim_start "$w/shim1.log" "$@" --trace "$w/trace1.txt"
    wait_for 5 test -S "$w/fe.sock" || fail "the shim did not create its socket"
    guest_boot "$w" g blk-rounds "$(guest_blk_rounds_params "$nonce" "extra_rounds=4 delay_ms=150")" \
        -chardev "socket,id=c0,path=$w/fe.sock,reconnect=1" \
        -device "vhost-user-blk-pci,chardev=c0$(guest_vhost_pci_opts)"
    wait_for 60 guest_round_at_least "$w" g 3 ||
        { cp "$w/trace1.txt" "$w/trace.txt"; guest_fail "$w" g "the guest did not do 3 rounds"; }
    shim_kill
    killed_at=$(guest_round_count "$w" g)
    echo "shim SIGKILLed after round $killed_at; starting it again"
    shim_start "$w/shim.log" "$@" --trace "$w/trace.txt"
    wait_for 15 grep -q 'front-end connected' "$w/shim.log" ||
        guest_fail "$w" g "QEMU did not reconnect to the restarted shim: $(tail -n 3 "$w/shim.log")"
    wait_for 15 grep -q 'SET_VRING_KICK' "$w/trace.txt" ||
        guest_fail "$w" g "QEMU reconnected but did not start the rings again"
    back_at=$(guest_round_count "$w" g)
    wait_for 30 guest_round_at_least "$w" g $((back_at + 2)) ||
        guest_fail "$w" g "the guest's I/O did not resume: $(guest_round_count "$w" g) rounds, $back_at at the reconnection"
    guest_blk_marker "$img" "$nonce"
    out=$(guest_wait "$w" g 90) || guest_fail "$w" g "$out"
    echo "$out"
    [[ $(guest_result "$w" g status) == pass ]] || guest_fail "$w" g "guest: $(guest_result "$w" g reason)"
    guest_blk_rounds_check "$w" g "$img" "$nonce" "$(guest_result "$w" g verified)"
    GUEST_RESTART_GAP=$(guest_round_gaps "$w" g)
    echo "guest: $(guest_round_count "$w" g) rounds, $killed_at before the kill, $back_at when QEMU was back; $GUEST_RESTART_GAP"
    echo "guest console lines other than results: $(tr -d '\r' < "$w/g.console" | grep -v '^RESULT ' | head -n 10 | tr '\n' '|')"
    wait_for 10 grep -q "session ended" "$w/shim.log" || guest_fail "$w" g "the session did not end after the guest powered off"
    ! grep -q 'check: the front-end started the device without sending GET_CONFIG' "$w/shim.log" ||
        fail "shim bug: check= flags QEMU's reconnection: QEMU 7.2 reads a vhost-user-blk config once, at realize (vhost_user_blk_realize), and its reconnect path (vhost_user_blk_connect: vhost_dev_init, vhost_user_blk_start) sends no GET_CONFIG, but shim/check.c (vs_check_session_end) requires compat-matrix/blk.tsv's 'spec:legacy-frontend GET_CONFIG required' in every session that starts the device: $(grep -m1 ': check: ' "$w/shim.log")"
}

# guest_net_migration W SRC-SOCK DST-SOCK ROUNDS MAC: the net-l2 scenario
# with ROUNDS rounds of 50 frames on a source QEMU (vhost-user netdev on
# SRC-SOCK) live-migrated to a destination QEMU (-incoming, DST-SOCK) once a
# round came back intact; the guest must run on on the destination (no new
# boot there) and finish there with at least 3 intact rounds. With
# GUEST_MIGRATE_EXPECT=refused the migrate command must instead be refused
# (a QEMU migration blocker, in GUEST_MIGRATE_ERROR): the destination QEMU
# is quit, the guest finishes on the source and no round may lose a frame.
# The source QEMU is left (postmigrate, or done) for the caller to quit.
# Sets GUEST_MIG_SRC_ROUNDS, GUEST_MIG_DST_OK, GUEST_MIG_LOST.
guest_net_migration() {
    local w=$1 rounds=$4 mac=$5 port params dev out fin=dst
    port=$(guest_free_port)
    params="frames=50 size=256 timeout_ms=1500 rounds=$rounds round_delay_ms=300"
    dev="virtio-net-pci,netdev=n0,id=net0,mac=$mac$(guest_vhost_pci_opts)"
    guest_boot "$w" src net-l2 "$params" -chardev "socket,id=c0,path=$2" \
        -netdev vhost-user,id=n0,chardev=c0 -device "$dev"
    guest_boot "$w" dst net-l2 "$params" -chardev "socket,id=c0,path=$3" \
        -netdev vhost-user,id=n0,chardev=c0 -device "$dev" -incoming "tcp:127.0.0.1:$port"
    wait_for 90 _guest_net_round_ok "$w" src 2 || guest_fail "$w" src "no intact round on the source"
    echo "guest: $(guest_round_count "$w" src) rounds on the source; migrating to port $port"
    if [[ ${GUEST_MIGRATE_EXPECT:-completed} == refused ]]; then
        ! guest_migrate "$w" src dst "$port" 90 >"$w/migrate.out" || guest_fail "$w" src "the migration was not refused: $(cat "$w/migrate.out")"
        [[ -n $GUEST_MIGRATE_ERROR ]] || guest_fail "$w" src "the migration failed, but not at the migrate command: $(cat "$w/migrate.out")"
        echo "QEMU refused the migration before it started: $GUEST_MIGRATE_ERROR"
        [[ $(guest_qmp_status "$w" src) == running ]] || guest_fail "$w" src "the source is $(guest_qmp_status "$w" src) after the refusal"
        guest_quit "$w" dst || guest_fail "$w" dst "the destination QEMU did not quit"
        fin=src
    else
        guest_migrate "$w" src dst "$port" 90 >"$w/migrate.out" || guest_fail "$w" src "$(cat "$w/migrate.out")"
        cut -c 1-160 "$w/migrate.out"
    fi
    out=$(guest_wait "$w" "$fin" 150) || guest_fail "$w" "$fin" "$out"
    echo "$out"
    GUEST_MIG_SRC_ROUNDS=$(guest_round_count "$w" src)
    echo "rounds (1 = every frame back): source $(guest_results_all "$w" src ok | tr '\n' ' '), destination $(guest_results_all "$w" dst ok 2>/dev/null | tr '\n' ' ')"
    [[ $(guest_result "$w" "$fin" status) == pass ]] || guest_fail "$w" "$fin" "guest: $(guest_result "$w" "$fin" reason)"
    GUEST_MIG_LOST=$(guest_results_all "$w" src ok | grep -c '^0$' || true) GUEST_MIG_DST_OK=0
    if [[ $fin == dst ]]; then
        ! tr -d '\r' < "$w/dst.console" | grep -q '^RESULT boot ' ||
            guest_fail "$w" dst "the guest booted again on the destination instead of running on"
        GUEST_MIG_DST_OK=$(guest_results_all "$w" dst ok | grep -c '^1$' || true)
        GUEST_MIG_LOST=$((GUEST_MIG_LOST + $(guest_results_all "$w" dst ok | grep -c '^0$' || true)))
        (( GUEST_MIG_DST_OK >= 3 )) || guest_fail "$w" dst "only $GUEST_MIG_DST_OK intact rounds on the destination"
    else
        (( $(guest_round_count "$w" src) == rounds && GUEST_MIG_LOST == 0 )) ||
            guest_fail "$w" src "$(guest_round_count "$w" src) of $rounds rounds, $GUEST_MIG_LOST lost frames, without a migration"
    fi
}
_guest_net_round_ok() { tr -d '\r' < "$1/$2.console" 2>/dev/null | grep -q "^RESULT round=$3 ok=1"; }
