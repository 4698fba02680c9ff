"""tests/interop/versions.py - the "what differs between versions" part of
docs/interop.md (tests/interop/report.py): for each program measured in more
than one version (compat-matrix/<type>.tsv: `msg`, `offer`, `order` and
`note` records of columns `<program>-<major.minor>[-<variant>]:<role>`,
compat-matrix/README.md), every difference between its versions, type by
type, and next to each one how the shim bridges it, from
tests/interop/bridges.tsv. A difference with no entry there is printed as
"no bridge recorded" and counted: report.py then exits non-zero, so a new
difference cannot go unexplained.

Names come from the sources: protocol-feature bits from lib/proto/vhost_user.h
(VU_PF_*), transport feature bits from shim/trace_decode.c (the names the
shim's traces print), device feature bits from lib/base/virtio.h
(VIRTIO_<TYPE>_F_*), with DEVICE_BIT_NAMES for the bits that header lacks.
The output depends on the files only: sorted, no time."""

import glob
import os
import re

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_MATRIX = os.path.join(ROOT, "compat-matrix")
DEFAULT_BRIDGES = os.path.join(ROOT, "tests", "interop", "bridges.tsv")
# <program>-<major.minor>[-<variant>]:<role>, as matrix.py's split_column
VERSIONED_COLUMN = re.compile(r"^(.*?)-(\d+\.\d+)(-[^:]+)?:(\w+)$")
# Device feature bits measured here that lib/base/virtio.h does not define
# (VIRTIO 1.2 5.7.3: VIRTIO_GPU_F_EDID is bit 1).
DEVICE_BIT_NAMES = {("gpu", 1): "EDID"}
# How a version is named where the number alone would mislead.
VERSION_LABELS = {("virtiofsd:backend", "1.13"): "1.13 (Rust)",
                  ("virtiofsd:backend", "5.2"): "5.2 (C)",
                  ("virtiofsd:backend", "7.2"): "7.2 (C)"}
PROGRAM_TITLES = {
    "qemu:frontend": "QEMU (front-end: vhost-user devices of qemu-system-x86_64)",
    "qemu-storage-daemon:backend": "qemu-storage-daemon (blk back-end: vhost-user-blk export)",
    "virtiofsd:backend": "virtiofsd (fs back-end: 5.2 and 7.2 QEMU's C daemon, 1.13 the Rust one)",
    "dpdk-net_vhost:backend": "DPDK net_vhost (net back-end, testpmd)",
    "dpdk-virtio-user:frontend": "DPDK virtio-user (net front-end, testpmd)",
    "qemu-vhost-user-gpu:backend": "QEMU's vhost-user-gpu (gpu back-end)",
}
SKIP_NOTES = ("command",)


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def bit_names(root=ROOT):
    """(protocol-feature names by bit, transport feature names by bit,
    {(TYPE, bit): name} device feature names)."""
    pf = {int(b): n for n, b in re.findall(r"\bVU_PF_(\w+)\s*=\s*(\d+)\s*,",
                                            _read(os.path.join(root, "lib/proto/vhost_user.h")))
          if n != "COUNT_KNOWN"}
    dec = _read(os.path.join(root, "shim/trace_decode.c"))
    table = dec[dec.index("transport_features[64]"):]
    table = table[:table.index("};")]
    transport = {int(b): n for b, n in re.findall(r"\[(\d+)\]\s*=\s*\"(\w+)\"", table)}
    device = {(t.lower(), int(b)): n for t, n, b in re.findall(
        r"#define VIRTIO_([A-Z0-9]+)_F_(\w+)\s+(\d+)\b", _read(os.path.join(root, "lib/base/virtio.h")))}
    device.update(DEVICE_BIT_NAMES)
    return pf, transport, device


def version_key(v):
    return tuple(int(x) for x in v.split("."))


def read_matrix(matrix_dir):
    """{program: {type: {version: [records]}}} of every versioned column."""
    programs = {}
    for path in sorted(glob.glob(os.path.join(matrix_dir, "*.tsv"))):
        with open(path, encoding="utf-8") as f:
            records = [line.rstrip("\n").split("\t") for line in f
                       if line.strip() and not line.startswith("#")]
        device = [r for r in records if r[0] == "device"]
        if not device:
            continue
        for r in records:
            if r[0] not in ("msg", "offer", "order", "note") or r[1].startswith("spec:"):
                continue
            m = VERSIONED_COLUMN.match(r[1])
            if not m:
                continue
            prog = f"{m.group(1)}{m.group(3) or ''}:{m.group(4)}"
            programs.setdefault(prog, {}).setdefault(device[0][1], {}).setdefault(
                m.group(2), []).append(r)
    return programs


def _bits(value):
    v = int(value, 16)
    return {b for b in range(64) if v >> b & 1}


def _bit_rows(what, by_version, vs, names):
    """One row per bit that some measured version offers and another lacks."""
    measured = {v: _bits(x) for v, x in by_version.items()}
    if len(measured) < 2:
        return []
    rows = []
    for b in sorted(set().union(*measured.values())):
        if all(b in s for s in measured.values()):
            continue
        name = names(b)
        kind = "protocol-feature" if what == "protocol-features" else "feature"
        label = f"{'protocol feature' if kind == 'protocol-feature' else 'feature'} `{name}` (bit {b}) offered"
        rows.append((kind, name, label,
                     {v: ("yes" if b in measured[v] else "no") if v in measured else "not measured"
                      for v in vs}))
    return rows


def type_rows(dev, versions, role, names):
    """(kind, name, label, {version: value}) for each difference between the
    versions of one program in one device type."""
    pf, transport, device = names
    vs = sorted(versions, key=version_key)
    msgs, offers, orders, notes = {}, {}, {}, {}
    for v in vs:
        for r in versions[v]:
            if r[0] == "msg":
                msgs.setdefault((r[2], r[3]), {})[v] = r[4]
            elif r[0] == "offer":
                offers.setdefault(r[2], {})[v] = r[3]
            elif r[0] == "order":
                orders.setdefault(v, []).append((int(r[2]), r[3]))
            elif r[0] == "note" and r[2] not in SKIP_NOTES:
                notes.setdefault(r[2], {})[v] = r[3]
    rows = []
    for (ch, req), cells in sorted(msgs.items()):
        vals = {v: cells.get(v, "not seen") for v in vs}
        if len(set(vals.values())) > 1:
            name = req if ch == "fe" else f"{req}@backend-channel"
            rows.append(("request", name, f"request `{req}`" +
                         (" (back-end channel)" if ch == "be" else ""), vals))
    for what in sorted(offers):
        by_version = dict(sorted(offers[what].items()))
        if what == "protocol-features":
            rows += _bit_rows(what, by_version, vs, lambda b: pf.get(b, f"bit{b}"))
        elif what == "features":
            rows += _bit_rows(what, by_version, vs, lambda b: transport.get(b) or device.get(
                (dev, b), f"{dev}-bit{b}"))
        elif len(set(by_version.values())) > 1 or len(by_version) < len(vs):
            rows.append(("offer", what, f"offer `{what}`",
                         {v: by_version.get(v, "not measured") for v in vs}))
    for what in sorted(notes):
        measured = notes[what]
        if len(set(measured.values())) > 1:
            rows.append(("note", what, f"note `{what}`",
                         {v: measured.get(v, "not measured") for v in vs}))
    common = set.intersection(*(set(r for _, r in orders.get(v, [])) for v in vs))
    seqs = {v: tuple(r for _, r in sorted(orders.get(v, [])) if r in common) for v in vs}
    if len(set(seqs.values())) > 1:
        rows.append(("order", "first-use", "order of first use (requests every version sends)",
                     {v: " ".join(seqs[v]) for v in vs}))
    return rows


def read_bridges(path):
    """{KEY: (explanation, sources)}; KEY is `KIND:ROLE:NAME`, or
    `PROGRAM|KIND:ROLE:NAME` for one program only (tried first)."""
    bridges = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3 or not all(fields):
                raise SystemExit(f"{path}:{n}: want KEY<TAB>explanation<TAB>sources")
            if fields[0] in bridges:
                raise SystemExit(f"{path}:{n}: {fields[0]} given twice")
            bridges[fields[0]] = (fields[1], fields[2])
    return bridges


def bridge_of(bridges, prog, key):
    return bridges.get(f"{prog}|{key}") or bridges.get(key)


def esc(text):
    return text.replace("|", "\\|")


def section(matrix_dir=DEFAULT_MATRIX, bridges_path=DEFAULT_BRIDGES, root=ROOT):
    """(lines of the section, the keys that have no bridge, the bridge keys
    no difference used)."""
    names = bit_names(root)
    bridges = read_bridges(bridges_path)
    programs = read_matrix(matrix_dir)
    missing, used = set(), set()
    out = ["## What differs between versions, and how the shim bridges it", "",
           "Measured, not written by hand: each program measured in more than one version "
           "(compat-matrix/<type>.tsv, `make matrix`: for a back-end what it offers and how it "
           "answers each request the probe sends; for a front-end the requests it sends to the "
           "probe and their order), compared version by version for each device type. Only the "
           "rows that differ are shown. Protocol-feature bits are named as in "
           "lib/proto/vhost_user.h, feature bits as the shim's traces name them. The last "
           "column says how the shim meets the difference, with the file that does it "
           "(tests/interop/bridges.tsv; a difference without an entry there is \"no bridge "
           "recorded\" and fails `make interop`).", "",
           "The matrix does not record which protocol-feature bits a front-end acks (the probe "
           "offers them all); they show as the requests they gate: `SET_STATUS` / `GET_STATUS` "
           "need `STATUS`, `SET_VRING_ENABLE` needs `F_PROTOCOL_FEATURES` in `SET_FEATURES`, "
           "`GET_INFLIGHT_FD` needs `INFLIGHT_SHMFD`.", ""]
    for prog in sorted(programs, key=lambda p: (PROGRAM_TITLES.get(p) is None, p)):
        allv = sorted({v for t in programs[prog].values() for v in t}, key=version_key)
        if len(allv) < 2:
            continue
        label = lambda v: VERSION_LABELS.get((prog, v), v)  # noqa: E731
        role = prog.rsplit(":", 1)[1]
        out += [f"### {PROGRAM_TITLES.get(prog, prog)}", "",
                "Versions measured: " + ", ".join(label(v) for v in allv) + ".", ""]
        same, rows_by = [], {}
        for dev in sorted(programs[prog]):
            versions = programs[prog][dev]
            vs = sorted(versions, key=version_key)
            if len(vs) < 2:
                same.append(f"{dev} (only {label(vs[0])} has this device)")
                continue
            rows = type_rows(dev, versions, role, names)
            if not rows:
                same.append(dev + ("" if vs == allv else " (" + ", ".join(label(v) for v in vs) + ")"))
            for kind, name, text, vals in rows:
                key = f"{kind}:{role}:{name}"
                b = bridge_of(bridges, prog, key)
                if b is None:
                    missing.add(f"{prog}|{key}")
                    how = "**no bridge recorded** (`" + key + "`)"
                else:
                    used.add(f"{prog}|{key}" if f"{prog}|{key}" in bridges else key)
                    how = f"{b[0]} ({b[1]})"
                cells = "; ".join(f"{label(v)}: {vals[v]}" for v in allv if v in vals)
                # one row for the types that differ alike
                rows_by.setdefault((text, cells, how), []).append(dev)
        table = [f"| {', '.join(devs)} | {esc(text)} | {esc(cells)} | {esc(how)} |"
                 for (text, cells, how), devs in rows_by.items()]
        if table:
            out += ["| types | what differs | by version | how the shim bridges it |",
                    "| --- | --- | --- | --- |"] + table + [""]
        if same:
            out += ["The same in every measured version: " + ", ".join(same) + ".", ""]
    return out, sorted(missing), sorted(set(bridges) - used)
