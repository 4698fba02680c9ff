#!/usr/bin/env python3
"""tests/interop/report.py [-o OUT] [--matrix DIR] [--bridges FILE] RESULTS... -
docs/interop.md from the
lines tests/interop/net_grid.sh wrote (--results RESULTS): one table per mode (rows
= front-end version, columns = back-end version, each cell PASS / FAIL / SKIP
and its one-line reason) and what differs between the versions, from the
FEAT lines (what each DPDK version offered or sent, as the shim's traces
show). The output depends on the results only (no time, no counts): the same
results give the same bytes. OUT defaults to standard output. CELL lines of
other device types ("CELL DEVICE MODE FE BE VERDICT reason", e.g. from
another grid) get a section each: a table per mode, rows and columns in the
order they first appear.

Then "What differs between versions, and how the shim bridges it"
(tests/interop/versions.py): every difference compat-matrix/*.tsv (DIR,
default the clone's compat-matrix/) measures between versions of one program,
each with its explanation from tests/interop/bridges.tsv (FILE). A
difference without an entry there is printed "no bridge recorded", and the
exit status is then 1 (the file is written all the same)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import versions  # noqa: E402

VERSIONS = [
    ("dpdk-20.11", "DPDK 20.11", "Debian 11 (bullseye), in the bullseye root (tests/peers/run)"),
    ("dpdk-22.11", "DPDK 22.11", "Debian 12 (bookworm), this machine's `/usr/bin/dpdk-testpmd`"),
    ("dpdk-24.11", "DPDK 24.11", "Debian 13 (trixie), in the trixie root (tests/peers/run)"),
]
MODES = [
    ("passthrough", "pass-through",
     "DPDK virtio-user -> vdpa-shim (pass-through) -> DPDK net_vhost"),
    ("chain", "up+down chain",
     "DPDK virtio-user -> vdpa-shim #1 (up-conversion) -> vdpa-user -> "
     "vdpa-shim #2 (down-conversion) -> DPDK net_vhost"),
    ("down", "down-conversion",
     "the reference vdpa-user driver (peers/vdpa-driver) -> vdpa-shim "
     "(down-conversion) -> DPDK net_vhost"),
    ("up", "up-conversion",
     "DPDK virtio-user -> vdpa-shim (up-conversion) -> the reference vdpa-user "
     "back-end (peers/vdpa-backend, loopback)"),
]
FEATS = [
    ("net_vhost", "features", "net_vhost: GET_FEATURES reply (from the pass-through cells)"),
    ("net_vhost", "protocol_features", "net_vhost: GET_PROTOCOL_FEATURES reply (from the pass-through cells)"),
    ("virtio-user", "features", "virtio-user: SET_FEATURES against the shim + reference back-end (up cells)"),
    ("virtio-user", "protocol_features",
     "virtio-user: SET_PROTOCOL_FEATURES against the shim + reference back-end (up cells)"),
    ("virtio-user", "requests", "virtio-user: the requests it sent in an up cell's whole session"),
    ("shim-to-net_vhost", "protocol_features",
     "the shim -> net_vhost: SET_PROTOCOL_FEATURES in down-conversion (down cells)"),
    ("shim-to-net_vhost", "features", "the shim -> net_vhost: SET_FEATURES in down-conversion (down cells)"),
]


def parse(paths):
    cells, feats, others = {}, {}, {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                words = line.rstrip("\n").split(" ")
                dpdk_grid = len(words) >= 6 and (words[3].startswith("dpdk-") or words[3] == "vdpa-driver")
                if len(words) >= 6 and words[0] == "CELL" and words[1] == "net" and dpdk_grid:
                    mode, fe, be, verdict = words[2:6]
                    cells[(mode, fe, be)] = (verdict, " ".join(words[6:]))
                elif len(words) >= 6 and words[0] == "CELL":
                    dev, mode, fe, be, verdict = words[1:6]
                    others.setdefault(dev, {})[(mode, fe, be)] = (verdict, " ".join(words[6:]))
                elif len(words) >= 5 and words[0] == "FEAT" and words[1] == "net":
                    role, label, key = words[2:5]
                    feats.setdefault((role, key), {}).setdefault(label, set()).add(" ".join(words[5:]))
    return cells, feats, others


def first_seen(items):
    return list(dict.fromkeys(items))


GUEST_MODES = {"pass": "pass-through", "up": "up-conversion (QEMU -> shim -> the reference vdpa-user back-end)",
               "chain": "the up+down chain (QEMU -> shim #1 up -> shim #2 down -> the back-end)"}


def other_device(out, dev, cells):
    out += [f"## {dev}: a Linux guest's driver through QEMU (tests/interop/guest_grid.sh)", "",
            "Rows: the QEMU version (qemu-X.Y/linux-K: QEMU 7.2 with guest kernel K; else the "
            "Debian 12 cloud kernel 6.1); columns: the back-end and its version. Each cell ran the "
            "test named in brackets with those versions (the test must say it used them).", ""]
    for mode in first_seen(k[0] for k in cells):
        keys = [k for k in cells if k[0] == mode]
        rows, cols = first_seen(k[1] for k in keys), first_seen(k[2] for k in keys)
        out += [f"### {dev}: {GUEST_MODES.get(mode, mode)}", ""]
        out.append("| front-end \\ back-end | " + " | ".join(cols) + " |")
        out.append("| --- |" + " --- |" * len(cols))
        for r in rows:
            out.append(f"| {r} | " + " | ".join(cell_text(cells, (mode, r, c)) for c in cols) + " |")
        out.append("")


def cell_text(cells, key):
    if key not in cells:
        return "not run"
    verdict, reason = cells[key]
    reason = reason.replace("|", "\\|")
    return f"**{verdict}**: {reason}" if reason else f"**{verdict}**"


def table(out, cells, mode):
    labels = [v[0] for v in VERSIONS]
    rows, cols = labels, labels
    if mode == "down":
        rows = ["vdpa-driver"]
    if mode == "up":
        cols = ["vdpa-backend"]
    out.append("| front-end \\ back-end | " + " | ".join(cols) + " |")
    out.append("| --- |" + " --- |" * len(cols))
    for r in rows:
        out.append(f"| {r} | " + " | ".join(cell_text(cells, (mode, r, c)) for c in cols) + " |")


def names(value):
    """The flag names of a traced value: "0x39 (MQ|REPLY_ACK)" -> {MQ, REPLY_ACK};
    a request list -> its words."""
    if "(" in value and value.endswith(")"):
        return set(value[value.index("(") + 1:-1].split("|"))
    return set(value.split())


def differences(out, feats):
    labels = [v[0] for v in VERSIONS]
    for role, key, title in FEATS:
        seen = feats.get((role, key), {})
        out.append(f"### {title}")
        out.append("")
        if not seen:
            out.append("Not measured (no cell that shows it passed).")
            out.append("")
            continue
        out.append("| version | value |")
        out.append("| --- | --- |")
        for label in labels:
            vals = sorted(seen.get(label, []))
            text = "; ".join("`" + v.replace("|", "\\|") + "`" for v in vals) if vals else "not measured"
            if len(vals) > 1:
                text += " (differs between cells)"
            out.append(f"| {label} | {text} |")
        out.append("")
        measured = {lab: set().union(*(names(v) for v in seen[lab])) for lab in labels if lab in seen}
        if len(measured) < 2:
            out.append("Fewer than two versions measured: nothing to compare.")
        else:
            common = set.intersection(*measured.values())
            diff = False
            for label in labels:
                if label not in measured:
                    continue
                only = sorted(measured[label] - common)
                if only:
                    diff = True
                    out.append(f"- {label} has, unlike another measured version: {', '.join(only)}")
            if not diff:
                out.append("The same in every measured version.")
        out.append("")


def main():
    args, dest = sys.argv[1:], None
    matrix, bridges = versions.DEFAULT_MATRIX, versions.DEFAULT_BRIDGES
    while args[:1] in (["-o"], ["--matrix"], ["--bridges"]) and len(args) >= 2:
        if args[0] == "-o":
            dest = args[1]
        elif args[0] == "--matrix":
            matrix = args[1]
        else:
            bridges = args[1]
        args = args[2:]
    if not args:
        sys.exit("usage: report.py [-o OUT] [--matrix DIR] [--bridges FILE] RESULTS...")
    cells, feats, others = parse(args)
    every = list(cells.values()) + [c for d in others.values() for c in d.values()]
    counts = {v: sum(1 for c in every if c[0] == v) for v in ("PASS", "FAIL", "SKIP")}
    out = [
        "# Interoperability: every version, through every mode",
        "",
        "Made by `make interop` (tests/interop/net_grid.sh and guest_grid.sh run",
        "the cells one at a time; tests/interop/report.py writes this file from",
        "their results and compat-matrix/); do not edit. Issue 18. A net cell is",
        "**PASS** when packets flowed both ways and the counters of both ends",
        "agree (no side received more than the other sent) and, through a shim",
        "mode, the shim's trace shows that mode (a conversion that fell back to",
        "pass-through is a **FAIL**); **SKIP** when a version cannot run here,",
        "with the reason. One cell again: `INTEROP_ONLY=MODE:FE:BE",
        "tests/interop/net_grid.sh` with Debian release names (e.g.",
        "`chain:bullseye:trixie`; `-` for the reference peers), or",
        "`GUEST_GRID_ONLY=TEXT tests/interop/guest_grid.sh` for the guest cells.",
        "",
        f"All cells: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped.",
        "",
        "| version | what | where it runs |",
        "| --- | --- | --- |",
    ]
    for label, name, where in VERSIONS:
        out.append(f"| {label} | {name}: testpmd's virtio-user and net_vhost | {where} |")
    out += ["", "## net: DPDK virtio-user x DPDK net_vhost", ""]
    for mode, title, path in MODES:
        out += [f"### {title}", "", path + ". Test: [tests/interop/net_grid.sh](../tests/interop/net_grid.sh) "
                f"(`cell_{mode}`).", ""]
        table(out, cells, mode)
        out.append("")
    for dev in sorted(others):
        other_device(out, dev, others[dev])
    lines, missing, _ = versions.section(matrix, bridges)
    out += lines
    out += ["## What the DPDK cells' traces show (net)", "",
            "Measured from the shim's traces in the net cells above (a version whose",
            "cells did not pass is \"not measured\").", ""]
    differences(out, feats)
    text = "\n".join(out).rstrip("\n") + "\n"
    if dest:
        with open(dest, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if missing:
        sys.exit("report.py: a difference between versions has no bridge in " + bridges + ": " +
                 ", ".join(missing))


if __name__ == "__main__":
    main()
