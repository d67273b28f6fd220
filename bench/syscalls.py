#!/usr/bin/env python3
"""Attributes the syscalls of one traced sealrun call to the code that made them.

usage: syscalls.py TRACE_PREFIX BINARY [--json OUT]

TRACE_PREFIX is what `strace -k -ff -o TRACE_PREFIX` wrote: one file per
process, each syscall followed by its stack (" > binary(symbol+0x..) [..]").
The stack is walked from the innermost frame out; the first frame of a known
owner decides:
  sealrun   sealrun's own code (crate sealrun or exeseal)
  libcontainer  youki's libcontainer and libcgroups, and pathrs/procfs
            they call
  start-up  no owned frame, before or around main: the kernel's execve, glibc's
            and Rust's runtime start-up, thread start
Frames of std, core, alloc, glibc and general-purpose crates (serde, nix,
rustix, tracing, clap, ...) are passed through: whoever called them owns the
syscall. Processes are named by role: main (the sealrun call), intermediate
and init (libcontainer's [1:INTER] and [2:INIT]), hook/other for the rest.
"""

import glob
import json
import re
import sys
from collections import Counter, defaultdict

OWNERS = [
    ("sealrun", re.compile(r"^<?(sealrun|exeseal)::")),
    ("libcontainer", re.compile(r"^<?(libcontainer|libcgroups|pathrs|procfs|procfs_core)::")),
]
FRAME = re.compile(r"^ > ([^(]*)\((.*?)(\+0x[0-9a-f]+)?\) \[0x([0-9a-f]+)\]$")


class Symbols:
    """BINARY's symbol table (nm -C), for frames strace printed without a
    name: after pivot_root the traced process's paths no longer resolve on
    the host, and strace gives the module-relative address only."""

    def __init__(self, binary):
        import bisect
        import subprocess

        self.binary = binary
        self.bisect = bisect.bisect_right
        rows = []
        out = subprocess.run(
            ["nm", "-C", "--defined-only", binary], capture_output=True, text=True, check=True
        ).stdout
        for line in out.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[1] in "tTwW":
                rows.append((int(parts[0], 16), parts[2]))
        rows.sort()
        self.addrs = [a for a, _ in rows]
        self.names = [n for _, n in rows]

    def name(self, module, symbol, addr):
        if symbol or not module.endswith(self.binary.rsplit("/", 1)[-1]):
            return symbol
        i = self.bisect(self.addrs, int(addr, 16)) - 1
        return self.names[i] if i >= 0 else ""


def owner_of(frames):
    for symbol in frames:
        for name, pattern in OWNERS:
            if pattern.search(symbol):
                return name
    return "start-up"


def role_of(lines):
    for line in lines[:40]:
        if '"youki:[1:INTER]"' in line:
            return "intermediate"
        if '"youki:[2:INIT]"' in line:
            return "init"
    for line in lines[:5]:
        if line.startswith("execve(") and "sealrun" in line.split(",")[0]:
            return "main"
    return "other"


def calls(lines, symbols):
    """(syscall name, [frame symbols]) for each syscall of one trace."""
    current = None
    for line in lines:
        if line.startswith(" > "):
            if current is not None:
                m = FRAME.match(line.rstrip("\n"))
                if m:
                    current[1].append(symbols.name(m.group(1), m.group(2), m.group(4)))
            continue
        if current is not None:
            yield current
            current = None
        m = re.match(r"^([a-z_0-9]+)\(", line)
        if m:
            current = (m.group(1), [])
    if current is not None:
        yield current


def main():
    prefix = sys.argv[1]
    symbols = Symbols(sys.argv[2])
    out = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    table = defaultdict(Counter)  # role -> owner -> count
    by_call = defaultdict(Counter)  # owner -> syscall -> count
    for path in sorted(glob.glob(prefix + ".*")):
        with open(path, errors="replace") as f:
            lines = f.readlines()
        role = role_of(lines)
        for name, frames in calls(lines, symbols):
            owner = owner_of(frames)
            table[role][owner] += 1
            by_call[owner][name] += 1
    owners = ["sealrun", "libcontainer", "start-up"]
    roles = [r for r in ["main", "intermediate", "init", "other"] if r in table]
    print("| process | " + " | ".join(owners) + " | all |")
    print("|---|" + "---|" * (len(owners) + 1))
    totals = Counter()
    for role in roles:
        row = [table[role][o] for o in owners]
        totals.update(table[role])
        print(f"| {role} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    print("| **all** | " + " | ".join(f"**{totals[o]}**" for o in owners) + f" | **{sum(totals.values())}** |")
    print()
    for owner in owners:
        top = ", ".join(f"{n} {c}" for n, c in by_call[owner].most_common(8))
        print(f"- {owner}: {top}")
    if out:
        with open(out, "w") as f:
            json.dump(
                {
                    "by_process": {r: dict(table[r]) for r in roles},
                    "totals": dict(totals),
                    "by_syscall": {o: dict(by_call[o]) for o in owners},
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
