#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The size check (make check-size): no C file of lib/, shim/ or peers/ over
800 lines and no function over 80, counted from the first line of its
signature to its closing brace (the project's rule; the style puts a
function's braces at column 0).

    tests/check-size.py [ROOT]   exit 0, or 1 with one line per offender
"""
import os
import re
import sys

MAX_FILE = 800
MAX_FUNCTION = 80
DIRS = ("lib", "shim", "peers")
SIGNATURE = re.compile(r"^[A-Za-z_][\w \t\*]*\b(\w+)\s*\(")


def functions(lines):
    """(name, first line, line count) of each function definition: a
    signature at column 0, its body's braces at column 0."""
    start = name = None
    for i, line in enumerate(lines):
        m = SIGNATURE.match(line)
        if m and not line.startswith(("typedef", "struct ", "enum ", "union ", "static const")):
            start, name = i, m.group(1)
        elif line.startswith("}") and start is not None:
            yield name, start + 1, i - start + 1
            start = None
        elif start is not None and not line.startswith((" ", "\t", "{")) and line.strip():
            start = None  # a prototype, a declaration: no body followed


def offenders(root):
    out = []
    for top in DIRS:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    lines = fh.read().split("\n")
                if lines and lines[-1] == "":
                    lines.pop()
                if len(lines) > MAX_FILE:
                    out.append("%s: %d lines (at most %d)" % (rel, len(lines), MAX_FILE))
                for name, first, count in functions(lines):
                    if count > MAX_FUNCTION:
                        out.append("%s:%d: %s is %d lines (at most %d)"
                                   % (rel, first, name, count, MAX_FUNCTION))
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    found = offenders(root)
    for line in found:
        print(line)
    if found:
        print("size: %d offender(s)" % len(found))
        return 1
    print("size: no file over %d lines, no function over %d" % (MAX_FILE, MAX_FUNCTION))
    return 0


if __name__ == "__main__":
    sys.exit(main())
