#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The layering check (make check-layers; docs/architecture.md, "Layers").

Every source file of lib/, shim/ and peers/ belongs to a layer; a file may
include headers of its own layer or of a lower one, never a higher one. The
modes are side by side in one layer: each may include the mode interface
(mode.h) and its own files, never another mode's. The peers see lib/ and
their own headers, never the shim's.

    tests/check-layers.py [ROOT]     check the tree at ROOT (default: .)
    tests/check-layers.py --self-test
                                     show that a deliberate violation fails

Exit status 0 when every include points down, 1 with one line per violation.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# Lowest first. A shim file is named by its stem (session.c and session.h
# are "session"); a stem not listed here fails the check, so a new file
# must be given its layer.
SHIM_LAYERS = [
    ("base", ["cli", "config_file", "trace", "trace_decode", "own_sock", "conn", "ctrl_net",
              "sd_listen", "stats"]),
    ("session", ["session", "channel", "features", "watchdog", "fd_budget", "check",
                 "refusal", "ring_state"]),
    ("mode", ["mode", "pass", "replay", "upconv", "up_*", "downconv", "down_*"]),
    ("relay", ["relay", "offer"]),
    ("main", ["main"]),
]
# The modes: one group each; mode.h is the interface they all implement.
MODE_GROUPS = {"pass": ["pass", "replay"], "up": ["upconv", "up_*"],
               "down": ["downconv", "down_*"]}
LIB_LAYERS = {"base": 0, "proto": 1, "virtio": 2}
SHIM_BASE = 10                          # shim layers come after the libraries

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def match(stem, patterns):
    return any(stem == p or (p.endswith("*") and stem.startswith(p[:-1])) for p in patterns)


def shim_layer(stem):
    for rank, (name, stems) in enumerate(SHIM_LAYERS):
        if match(stem, stems):
            return SHIM_BASE + rank, name
    return None, None


def mode_group(stem):
    for group, stems in MODE_GROUPS.items():
        if match(stem, stems):
            return group
    return None


def classify(root, path):
    """(kind, layer rank, layer name, stem) of a source file under root."""
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    stem = os.path.splitext(parts[-1])[0]
    if parts[0] == "lib":
        if len(parts) == 2:  # lib/fd_util.h and the like: below everything
            return "lib", -1, "lib", stem
        return "lib", LIB_LAYERS.get(parts[1], 1), "lib/" + parts[1], stem
    if parts[0] == "shim":
        rank, name = shim_layer(stem)
        return "shim", rank, name, stem
    return "peers", 100, "peers/" + parts[1], stem


def resolve(root, src, name):
    """The file an include names, looked up as the compiler would."""
    for base in (os.path.dirname(src), os.path.join(root, "lib"), os.path.join(root, "lib/proto"),
                 os.path.join(root, "shim"), os.path.join(root, "peers")):
        cand = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(cand):
            return cand
    return None


def violations(root):
    out = []
    for top in ("lib", "shim", "peers"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    out += check_file(root, os.path.join(dirpath, f))
    return out


def check_file(root, src):
    kind, rank, name, stem = classify(root, src)
    rel = os.path.relpath(src, root)
    if kind == "shim" and rank is None:
        return ["%s: not in any layer (add its stem to SHIM_LAYERS in tests/check-layers.py)"
                % rel]
    out = []
    with open(src, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = resolve(root, src, m.group(1))
            if target is None:
                continue  # a system header or one the compiler finds elsewhere
            why = check_include(root, (kind, rank, name, stem), target)
            if why:
                out.append("%s:%d: includes %s: %s" % (rel, lineno, m.group(1), why))
    return out


def check_include(root, source, target):
    kind, rank, name, stem = source
    tkind, trank, tname, tstem = classify(root, target)
    if kind == "lib" and tkind != "lib":
        return "a library includes %s code" % tkind
    if kind == "peers" and tkind == "shim":
        return "a peer includes a shim header (peers link lib/ only)"
    if kind == "peers":
        return None
    if tkind != "shim":
        return None if kind == "shim" or trank <= rank else "%s includes the higher %s" % (
            name, tname)
    if trank is None:
        return "%s is not in any layer" % os.path.relpath(target, root)
    if trank > rank:
        return "layer %s includes the higher layer %s" % (shim_layer(stem)[1], tname)
    if tname == "mode" and shim_layer(stem)[1] == "mode" and tstem != "mode":
        group, tgroup = mode_group(stem), mode_group(tstem)
        if group != tgroup:
            return "mode %s includes mode %s's file (modes are side by side)" % (group, tgroup)
    return None


def self_test():
    """A copy of the tree with one deliberate violation must fail."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        for top in ("lib", "shim", "peers"):
            shutil.copytree(os.path.join(here, top), os.path.join(tmp, top))
        if violations(tmp):
            print("self-test: the tree itself fails; fix that first")
            return 1
        cases = [("shim/session.c", '#include "relay.h"'),
                 ("shim/session.c", '#include "mode.h"'),
                 ("shim/upconv.c", '#include "down_int.h"'),
                 ("peers/vdpa-backend/device.c", '#include "session.h"'),
                 ("lib/proto/wire.c", '#include "conn.h"'),
                 ("lib/base/peer_fd.c", '#include "msg_table.h"')]
        for path, line in cases:
            p = os.path.join(tmp, path)
            with open(p, encoding="utf-8") as fh:
                orig = fh.read()
            with open(p, "w", encoding="utf-8") as fh:
                fh.write(orig + "\n" + line + "\n")
            found = violations(tmp)
            with open(p, "w", encoding="utf-8") as fh:
                fh.write(orig)
            if not found:
                print("self-test: %s in %s was not caught" % (line, path))
                return 1
            print("self-test: caught %s" % found[0])
    print("self-test: every deliberate violation fails the check")
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    found = violations(root)
    for v in found:
        print(v)
    if found:
        print("layers: %d include(s) point up or sideways (docs/architecture.md, Layers)"
              % len(found))
        return 1
    print("layers: every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
