#!/usr/bin/env python3
"""Locked atomic instructions per event, from two callgrind runs of one binary.

Callgrind counts how often each instruction ran (`--dump-instr=yes`); objdump says
which instructions are locked read-modify-writes (a `lock` prefix, or `xchg` with
memory, which locks implicitly). Run the binary at two event counts and this prints
the difference per event, in all and by function: setup cancels out.

    valgrind --tool=callgrind --dump-instr=yes --compress-pos=no \
        --callgrind-out-file=/tmp/cg.A BINARY ARGS-WITH-A-EVENTS
    valgrind ... --callgrind-out-file=/tmp/cg.B BINARY ARGS-WITH-B-EVENTS
    python3 benches/tools/locked_atomics.py BINARY /tmp/cg.A A /tmp/cg.B B

Only the binary's own code is counted (Rust links its crates statically); the C
library's (glibc's malloc) is not.
"""
import collections
import re
import subprocess
import sys


def executions(path, binary_name):
    """Times each address of the binary's own code ran, from a callgrind output file."""
    counts = collections.Counter()
    objects, obj, skip_next = {}, None, False
    for line in open(path):
        named = re.match(r"c?ob=\((\d+)\) (.*)", line)
        if named:
            objects[named.group(1)] = named.group(2).strip()
        if line.startswith("ob="):
            ref = re.match(r"ob=\((\d+)\)", line)
            obj = objects.get(ref.group(1)) if ref else line[3:].strip()
        elif line.startswith("calls="):
            skip_next = True  # the next cost line is the call's inclusive cost
        elif line.startswith("0x"):
            if skip_next:
                skip_next = False
                continue
            parts = line.split()
            if obj and obj.endswith("/" + binary_name) and len(parts) > 1:
                counts[int(parts[0], 16)] += int(parts[-1])
        else:
            skip_next = False
    return counts


def locked_instructions(binary):
    """Address -> (function, mnemonic) of every locked instruction in the binary."""
    listing = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", "-C", binary],
        capture_output=True, text=True, check=True,
    ).stdout
    found, function = {}, None
    for line in listing.splitlines():
        header = re.match(r"^([0-9a-f]+) <(.*)>:$", line)
        if header:
            function = header.group(2)
            continue
        ins = re.match(r"^\s*([0-9a-f]+):\s+(\S+)\s*(\S*)", line)
        if not ins:
            continue
        op, arg = ins.group(2), ins.group(3)
        if op == "lock" or (op.startswith("xchg") and "(" in arg):
            found[int(ins.group(1), 16)] = (function, f"{op} {arg.split(',')[0]}".strip())
    return found


def main():
    binary, out_a, n_a, out_b, n_b = sys.argv[1:6]
    n_a, n_b = int(n_a), int(n_b)
    name = binary.rsplit("/", 1)[-1]
    locked = locked_instructions(binary)
    a, b = executions(out_a, name), executions(out_b, name)
    by_function = collections.Counter()
    for addr, (function, _) in locked.items():
        by_function[function[:120]] += b.get(addr, 0) - a.get(addr, 0)
    per_event = sum(by_function.values()) / (n_b - n_a)
    print(f"locked instructions per event: {per_event:.2f}")
    for function, count in by_function.most_common():
        if count / (n_b - n_a) >= 0.05:
            print(f"{count / (n_b - n_a):6.2f}  {function}")


if __name__ == "__main__":
    main()
