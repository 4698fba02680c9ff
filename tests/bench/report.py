#!/usr/bin/env python3
"""Renders docs/performance.md from a `make bench` run (tests/bench/run.sh).

    report.py RESULTS COMMANDS OUT

RESULTS: lines "KIND key=value ..." written by run.sh and the bench
programs; COMMANDS: "what<TAB>command line"; the environment carries the
machine and the run's parameters. Every figure in the report comes from
RESULTS; nothing is filled in by hand.
"""
import os
import shlex
import sys


def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                words = shlex.split(line)
            except ValueError:
                words = line.split()
            kv = {}
            for w in words[1:]:
                if "=" in w:
                    k, v = w.split("=", 1)
                    kv[k] = v
            rows.append((words[0], kv, line))
    return rows


def num(v, default=None):
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def fmt(v, digits=1):
    return "n/a" if v is None else f"{v:.{digits}f}"


def met(ok):
    if ok is None:
        return "not measured"
    return "**met**" if ok else "**MISSED**"


def main():
    results, commands, out = sys.argv[1:4]
    env = os.environ
    rows = parse(results)
    first = lambda kind: [kv for k, kv, _ in rows if k == kind]
    machine = {}
    for kv in first("machine"):
        machine.update(kv)
    all_cases = first("case")
    floors = {kv.get("place", "pinned"): kv for kv in first("floor")}
    places = [p for p in ("pinned", "free") if p in floors]
    steps = first("step")
    cpinfo = (first("cp") or [{}])[0]
    dp = {kv["cfg"]: kv for kv in first("dp")}
    rounds = [line[len("dp_round "):] for k, _, line in rows if k == "dp_round"]
    scale = (first("scale") or [{}])[0]
    relays = first("relay")
    relay_direct = (first("relay_direct") or [{}])[0]
    shim_exit = (first("shim") or [{}])[0]
    cmds = []
    with open(commands) as f:
        for line in f:
            if "\t" in line:
                what, cmd = line.rstrip("\n").split("\t", 1)
                cmds.append((what, cmd))

    quick = env.get("QUICK") == "1"
    summary = []

    # control plane: judged on the pinned run (all on one CPU); the free one is shown beside it
    def cp_rows_for(place):
        fl = floors.get(place, {})
        rtt = num(fl.get("rtt_us"))
        limit = 2 * rtt if rtt else None
        rows_ = []
        for c in all_cases:
            if c.get("place", "pinned") != place:
                continue
            per_rt = num(c.get("added_per_rt_us"))
            # the unit: a relayed message, requests and replies alike
            relayed = int(c.get("msgs", "0")) + int(c.get("round_trips", "0"))
            added = num(c.get("added_us"))
            per_msg = added / relayed if added is not None and relayed else None
            ok = None if per_msg is None or limit is None or int(c.get("reps", "0")) == 0 else per_msg <= limit
            if c.get("error"):
                ok = False
            rows_.append((c, per_msg, per_rt, relayed, ok))
        return fl, rtt, limit, rows_

    judged = places[0] if places else None
    if judged:
        fl, rtt, limit, rows_ = cp_rows_for(judged)
        for c, per_msg, per_rt, relayed, ok in rows_:
            extra = ""
            if "free" in places and judged != "free":
                _, frtt, _, frows = cp_rows_for("free")
                fr = [r for r in frows if r[0].get("name") == c.get("name")]
                if fr:
                    extra = f"; free placement: {fmt(fr[0][1], 1)} µs vs floor {fmt(frtt, 1)} µs"
            summary.append((f"control plane, {c.get('name')}: added latency per relayed message ({judged})",
                            f"{fmt(per_msg, 1)} µs (floor {fmt(rtt, 1)} µs; per request round trip "
                            f"{fmt(per_rt, 1)} µs = {fmt(per_rt / rtt if per_rt and rtt else None, 2)} x floor){extra}",
                            f"<= 2 x floor = {fmt(limit, 1)} µs", met(ok)))
    else:
        summary.append(("control plane", "not measured", "", met(None)))

    # data plane
    direct = num(dp.get("direct", {}).get("mpps"))
    dp_rows = []
    # paired ratios: each configuration against direct in the same round
    # (adjacent in time), median over rounds; robust to the machine's load
    # changing during the run, which the ratio of medians is not
    paired = {}
    for r in rounds:
        words = r.split(":", 1)[-1].split()
        vals = {words[i]: num(words[i + 1]) for i in range(0, len(words) - 1, 2)}
        base = vals.get("direct")
        for cfg, v in vals.items():
            if cfg in ("direct2", "pass", "chain") and v is not None and base:
                paired.setdefault(cfg, []).append(v / base)

    def median(v):
        v = sorted(v)
        n = len(v)
        return None if n == 0 else (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2)

    def quartiles(v):
        v = sorted(v)
        if not v:
            return None
        q = lambda f: v[min(len(v) - 1, int(round(f * (len(v) - 1))))]
        return f"{q(0.25):.4f}..{q(0.75):.4f}"

    aa = median(paired.get("direct2", []))
    for cfg, label in (("direct", "direct (virtio-user -> net_vhost)"),
                       ("direct2", "direct, a second identical pair (A/A control)"),
                       ("pass", "through the shim (pass-through)"),
                       ("chain", "through the up+down chain (two shims)")):
        d = dp.get(cfg)
        if not d:
            continue
        m = num(d.get("mpps"))
        ratio_m = m / direct if m is not None and direct else None
        ratio = 1.0 if cfg == "direct" else median(paired.get(cfg, []))
        ok = None if cfg.startswith("direct") or ratio is None else ratio >= 0.99
        dp_rows.append((cfg, label, d, m, ratio, ratio_m, ok))
        if cfg == "direct2":
            summary.append(("data plane, A/A control: a second direct pair, Mpps ratio to the first",
                            fmt(ratio, 4), "(the run's noise)", ""))
        elif cfg != "direct":
            note = ""
            if ok is False and aa is not None and abs(1 - ratio) <= abs(1 - aa):
                note = f" (within the A/A control's {fmt(aa, 4)}: noise, not the shim)"
            summary.append((f"data plane, {label}: Mpps ratio to direct", fmt(ratio, 4) + note, ">= 0.99", met(ok)))
    if not dp:
        summary.append(("data plane", "not measured (DPDK testpmd unavailable, or not part of this run)",
                        ">= 0.99", met(None)))

    # scale
    per_dev = num(scale.get("per_dev_kib"))
    idle_ticks = num(scale.get("idle_ticks"))
    up_ok = scale.get("up") == scale.get("devices") and scale.get("devices") is not None
    summary.append((f"scale: devices brought up in one shim", f"{scale.get('up', 'n/a')} of {scale.get('devices', 'n/a')}"
                    f" in {fmt(num(scale.get('bringup_all_ms')), 0)} ms", "all", met(up_ok if scale else None)))
    summary.append(("scale: resident memory per device", f"{fmt(per_dev, 1)} KiB", "<= 64 KiB",
                    met(None if per_dev is None else per_dev <= 64)))
    summary.append((f"scale: shim CPU while idle ({scale.get('idle_s', '?')} s, {scale.get('devices', '?')} live sessions)",
                    f"{fmt(idle_ticks, 0)} ticks", "0 (no polling)",
                    met(None if idle_ticks is None else idle_ticks == 0)))
    best = None
    for r in relays:
        v = num(r.get("msgs_per_cpu_s"))
        if v is not None and (best is None or v > num(best.get("msgs_per_cpu_s"))):
            best = r
    if best:
        summary.append(("relay rate, small messages, one core", f"{fmt(num(best.get('msgs_per_s')), 0)} msgs/s measured "
                        f"(shim at {best.get('shim_cpu_pct')} % of its core); "
                        f"{fmt(num(best.get('msgs_per_cpu_s')), 0)} msgs per shim CPU-second", "(reported)", ""))

    L = []
    a = L.append
    a("# Performance")
    a("")
    a("Generated by `make bench` (tests/bench/run.sh); do not edit by hand, rerun it. "
      "The raw results of the same run are in `tests/bench/results.txt`, so a later run "
      "can be compared with `git diff`.")
    a("")
    a(f"This run: {machine.get('date', '?')}, commit `{machine.get('commit', '?')}`"
      f"{' (BENCH_QUICK=1: a short run)' if quick else ''}, {machine.get('seconds', '?')} s in all. "
      f"Load average at the start {machine.get('load_begin', '?')}, at the end {machine.get('load_end', '?')} "
      f"(on {machine.get('nproc', '?')} CPUs: anything near or above 1 means other work shared the machine, "
      "and every figure below is then noisier, the latencies higher).")
    a("")
    a("## Summary")
    a("")
    a("<!-- table -->")
    a("| measure | result | target | |")
    a("| --- | --- | --- | --- |")
    for s in summary:
        a("| " + " | ".join(s) + " |")
    a("<!-- end table -->")
    a("")
    a("## Machine")
    a("")
    a("| | |")
    a("| --- | --- |")
    a(f"| CPUs (nproc) | {machine.get('nproc', '?')} |")
    a(f"| CPU model | {env.get('CPU_MODEL', '?')} |")
    a(f"| memory | {machine.get('mem_mib', '?')} MiB |")
    a(f"| kernel | {machine.get('kernel', '?')} |")
    a(f"| DPDK (testpmd) | {env.get('DPDK_VER', '?')} |")
    a(f"| QEMU (qemu-storage-daemon) | {env.get('QEMU_VER', '?')} |")
    a(f"| compiler | {env.get('CC_VER', '?')} |")
    a("")

    a("## Control plane: bring-up latency")
    a("")
    a("A scripted legacy vhost-user front-end (`tests/bench/bench_lib.c`, the message sequence of "
      "DPDK virtio-user / QEMU: features, protocol features, owner, queue count, back-end channel, "
      "blk config space, memory table, each ring's NUM/BASE/ADDR/KICK/CALL, ENABLE, SET_STATUS) "
      "brings the device up, from its first message to the acknowledgement of DRIVER_OK, once on the "
      "back-end's own socket (direct) and once on the shim's socket (pass-through relay to the same "
      "back-end), the order alternating every repetition. Every request after SET_PROTOCOL_FEATURES "
      "carries NEED_REPLY, so each is one round trip and the bring-up time divided by the round trips "
      "is a per-request latency. After each repetition, 50 round trips of the same 20-byte request "
      "against an echo process over a unix socketpair measure the floor: one extra unix-socket "
      f"round trip, on the same machine, interleaved with the bring-ups. {env.get('REPS', '?')} "
      "repetitions per case and path; medians.")
    a("")
    a(f"- virtio-net back-end: {env.get('NET_BACKEND', '?')} (it serves 8 queue pairs, so the 8-queue-pair "
      "case runs against it too)")
    a(f"- virtio-blk back-end: {env.get('BLK_BACKEND', '?')}")
    a("")
    place_text = {"pinned": "every process of the phase (back-end, shim, front-end, echo) on one CPU "
                            "(`taskset -c 0`); the target is judged on this run",
                  "free": "the same on both CPUs, placement left to the scheduler"}
    for place in places:
        fl, rtt, limit, rows_ = cp_rows_for(place)
        a(f"### {place}: {place_text.get(place, place)}")
        a("")
        a("| case | requests | round trips | direct (µs) | through shim (µs) | ratio | added per bring-up (µs) "
          "| relayed messages | added per relayed message (µs) | added per round trip (µs) | floor RTT (µs) "
          "| 2 x floor | |")
        a("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for c, per_msg, per_rt, relayed, ok in rows_:
            a(f"| {c.get('name')} ({c.get('type')}, {c.get('rings')} rings) | {c.get('msgs')} | {c.get('round_trips')} "
              f"| {c.get('direct_us')} | {c.get('shim_us')} | {c.get('ratio')} | {c.get('added_us')} "
              f"| {relayed} | {fmt(per_msg, 1)} | {fmt(per_rt, 1)} | {fmt(rtt, 1)} | {fmt(limit, 1)} | {met(ok)} |")
        a("")
        a(f"Floor: {fl.get('samples', '?')} round trips, median {fl.get('rtt_us', '?')} µs "
          f"(10th percentile {fl.get('rtt_p10_us', '?')}, 90th {fl.get('rtt_p90_us', '?')}). 90th percentiles of "
          "the bring-ups: " + ", ".join(f"{c.get('name')} direct {c.get('direct_p90_us')} / shim {c.get('shim_p90_us')} µs"
                                         for c, *_ in rows_) + ".")
        for c, *_ in rows_:
            if c.get("error") or c.get("failures", "0") != "0":
                a("")
                a(f"**{c.get('name')}: {c.get('failures')} failed bring-ups**: {c.get('error', '')}")
        a("")
    a("\"Added per bring-up\" is the median over repetitions of (through shim - direct) within the same "
      "repetition. \"Per relayed message\", the unit of the target, divides it by the messages the shim "
      "relays: every request and every reply (the shim adds one hop, half a unix-socket round trip, to "
      "each; the target allows two round trips). \"Per round trip\" divides it by the requests answered, "
      "a request and its reply together: the stricter figure, ideally one floor round trip (one extra "
      "hop each way); it is shown beside the target, not judged. Both include the shim accepting the front-end and connecting "
      "to the back-end, which a bring-up through the shim does once. Every sample: "
      "`$(BUILD)/bench-out/bringup-*-samples.tsv`.")
    a("")
    if steps and judged:
        names = []
        for st in steps:
            if st.get("place") == judged and st.get("case") not in names:
                names.append(st.get("case"))
        reqs = []
        for st in steps:
            if st.get("place") == judged and st.get("req") not in reqs:
                reqs.append(st.get("req"))
        a(f"Where the added time goes ({judged}): per request type, the median time of one request direct / "
          "through the shim, in µs (a request type sent more than once is averaged within a bring-up).")
        a("")
        a("| request | " + " | ".join(names) + " |")
        a("| --- |" + " ---: |" * len(names))
        for rq in reqs:
            cells = []
            for n in names:
                m = [st for st in steps if st.get("place") == judged and st.get("case") == n and st.get("req") == rq]
                cells.append(f"{m[0].get('direct_us')} / {m[0].get('shim_us')}" if m else "")
            a(f"| {rq} | " + " | ".join(cells) + " |")
        a("")

    a("## Data plane: packet rate")
    a("")
    if dp_rows:
        a(f"DPDK testpmd with `net_virtio_user` (txonly, 64-byte packets) sends to testpmd with `net_vhost` "
          f"(rxonly); four such pairs run at once: connected directly, through one shim (pass-through), "
          f"through two shims (up-conversion to vdpa-user, then down-conversion back to vhost-user), and a "
          f"second direct pair, the A/A control: its ratio to the first shows how much two identical "
          f"configurations differ in this run. Only one pair forwards at a time; rounds rotate the order "
          f"(direct, pass, chain, direct2; pass, chain, direct2, direct; ...). A sample is net_vhost's `Rx-pps` from `show port stats 0` over {env.get('DP_WINDOW')} s "
          f"of traffic (testpmd's own clock), after {env.get('DP_WARM')} s of warm-up; "
          f"{env.get('DP_ROUNDS')} rounds in {env.get('DP_EPOCHS')} epoch(s), each epoch with freshly started "
          f"processes in a rotated start order; medians. Each process polls on its own CPU "
          "(net_vhost's forwarding lcore on CPU 1, virtio-user's on CPU 0).")
        a("")
        a(f"Memory of every testpmd process: {env.get('DP_MEMORY', '?')}.")
        a("")
        a("| configuration | Mpps (median) | range | ratio to direct (median of per-round ratios) "
          "| per-round ratios, 25th..75th percentile | ratio of the medians | shim CPU ticks during traffic | |")
        a("| --- | ---: | --- | ---: | --- | ---: | ---: | --- |")
        for cfg, label, d, m, ratio, ratio_m, ok in dp_rows:
            spread = quartiles(paired.get(cfg, [])) if cfg != "direct" else "-"
            a(f"| {label} | {fmt(m, 3)} | {d.get('range')} | {fmt(ratio, 4)} | {spread or '-'} | {fmt(ratio_m, 4)} | "
              f"{d.get('shim_ticks') if not cfg.startswith('direct') else '-'} | {met(ok) if ok is not None else ''} |")
        a("")
        feats = first("dp_features")
        if feats:
            by = {}
            for f_ in feats:
                by.setdefault(f_.get("cfg"), set()).add((f_.get("virtio"), f_.get("protocol")))
            a("What each net_vhost negotiated (from its log; every epoch): " + "; ".join(
                f"{cfg}: virtio {', '.join(sorted(v for v, _ in vals))}, protocol {', '.join(sorted(p_ for _, p_ in vals))}"
                for cfg, vals in by.items()) + ". The virtio features, which decide the data path, are the "
              "same whatever sits between (the chain's protocol features differ: the down-converting "
              "shim negotiates its own).")
            a("")
        a("Per round (Mpps, in the order measured, and the 1-minute load average after the round):")
        a("")
        for r in rounds:
            a(f"- {r}")
        a("")
        a("The ratio judged is each round's rate divided by the direct pair's rate in the same round "
          "(seconds apart), the median over rounds: the machine's load can change during the run, "
          "which moves every configuration of a round alike. The shims' CPU ticks, read just before and just after each window of their "
          "configuration (not inside it: there the harness only sleeps), are summed: the data plane "
          "never wakes it (kick and call eventfds and guest memory go peer to peer).")
    else:
        a("Not measured: DPDK testpmd cannot start on this machine.")
    a("")

    a("## Scale: one shim, many devices")
    a("")
    if scale:
        a(f"One shim process with {scale.get('devices')} virtio-net devices, each with its own front-end "
          "and back-end socket. The harness (`tests/bench/scale.c`) listens on the back-end sockets as "
          "scripted back-ends and connects a scripted legacy front-end to every device, all brought up "
          "at once from one epoll loop (one queue pair each, "
          f"{scale.get('msgs_per_dev')} messages per device). Resident memory is the shim's VmRSS; the "
          "baseline is a shim with one idle device.")
        a("")
        a("| measure | value |")
        a("| --- | ---: |")
        a(f"| devices up | {scale.get('up')} of {scale.get('devices')} |")
        a(f"| shim start-up (all {scale.get('devices')} sockets listening) | {scale.get('start_ms')} ms |")
        a(f"| bring-up of all devices (first connect to the last DRIVER_OK ack) | {scale.get('bringup_all_ms')} ms |")
        a(f"| one device's bring-up while all run: median / 99th percentile | {scale.get('dev_median_ms')} / {scale.get('dev_p99_ms')} ms |")
        a(f"| VmRSS: one idle device / all listening / all in session | {scale.get('rss_base_kib')} / {scale.get('rss_idle_kib')} / {scale.get('rss_active_kib')} KiB |")
        a(f"| resident memory per listening device | {scale.get('idle_per_dev_kib')} KiB |")
        a(f"| resident memory per device in session (all in - baseline) / (N - 1) | **{scale.get('per_dev_kib')} KiB** |")
        a(f"| the shim's open fds with all in session | {scale.get('shim_fds')} |")
        a(f"| shim CPU over {scale.get('idle_s')} s idle with every session up | **{scale.get('idle_ticks')} ticks** "
          f"(messages seen meanwhile: {scale.get('idle_events')}) |")
        a(f"| shim exit status on SIGTERM, log lines at warn level | {shim_exit.get('exit', '?')}, {shim_exit.get('log_lines', '?')} |")
        a("")
    else:
        a("Not measured (the scale program failed; see the logs).")
        a("")

    a("## Relay rate: small messages on one core")
    a("")
    if relays:
        a("After the bring-up, on 1 and on 16 of those sessions the front-end keeps a window of "
          "SET_VRING_NUM requests with NEED_REPLY (20 bytes; the ack is 20 bytes) in flight and the "
          "back-end acks each; messages relayed = requests + replies. The shim is pinned to CPU 1 "
          "(`taskset`-style, sched_setaffinity); the harness is not pinned. \"Per shim CPU-second\" "
          "divides by the CPU time the shim actually used (from /proc/PID/stat), i.e. what one core "
          "fully given to the shim relays; the last row is the harness alone on a socketpair, its own "
          "ceiling. The shim's memory before and after each flood shows that relaying keeps nothing "
          "per message.")
        a("")
        a("| sessions | window | messages/s | shim CPU | harness CPU | messages per shim CPU-second "
          "| shim VmRSS before / after (KiB) |")
        a("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in relays:
            a(f"| {r.get('devices')} | {r.get('window')} | {r.get('msgs_per_s')} | {r.get('shim_cpu_pct')} % "
              f"| {r.get('harness_cpu_pct')} % | {r.get('msgs_per_cpu_s')} "
              f"| {r.get('rss_before_kib', '?')} / {r.get('rss_after_kib', '?')} |")
        if relay_direct:
            a(f"| no shim (socketpair) | {relay_direct.get('window')} | {relay_direct.get('msgs_per_s')} | - "
              f"| {relay_direct.get('harness_cpu_pct')} % | - | - |")
        a("")
    a("## Commands")
    a("")
    a("Run from the repository root; `W` is the run's temporary directory.")
    a("")
    a("```")
    for what, cmd in cmds:
        a(f"# {what}")
        a(cmd)
    a("```")
    a("")
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            a(f.read().rstrip())
        a("")
    with open(out, "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main()
