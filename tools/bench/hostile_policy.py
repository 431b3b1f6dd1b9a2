#!/usr/bin/env python3
"""Writes the hostile and the largest policies that docs/reliability.md
("Policy input") measures `bulkhead policy validate` on, to stdout.

  hostile_policy.py unknown [--segments 2000] [--refs 8000]
      SEGMENTS defined segments and REFS rules, each naming a segment that
      does not exist (each used to list every defined segment).
  hostile_policy.py flow-nesting [--depth 40000]
      `description: it's` (an apostrophe in a plain scalar), then DEPTH
      open brackets.
  hostile_policy.py block-nesting [--depth 900]
      DEPTH levels of block sequences, each one space deeper.
  hostile_policy.py limit [--rules 50000] [--segments 10000] [--prefixes 200000]
      A policy at the documented limits: SEGMENTS segments holding PREFIXES
      CIDRs between them, RULES rules from one segment to another.
"""
import argparse
import sys


def unknown(a, out):
    out.write("version: 1\nsegments:\n")
    for i in range(a.segments):
        out.write(f"  segment-{i:05d}: [10.{i // 256 % 256}.{i % 256}.0/24]\n")
    out.write("rules:\n")
    for i in range(a.refs):
        out.write(f"  - {{ id: r{i}, from: nosuch-{i}, to: segment-00000, action: allow }}\n")


def flow_nesting(a, out):
    out.write("version: 1\nrules:\n  - id: a\n    description: it's\n    from: ")
    out.write("[" * a.depth)
    out.write("\n")


def block_nesting(a, out):
    out.write("version: 1\nrules:\n")
    for i in range(a.depth):
        out.write(" " * (i + 2) + "-\n")


def limit(a, out):
    out.write("version: 1\nsegments:\n")
    per = max(1, a.prefixes // a.segments)
    n = 0
    for s in range(a.segments):
        cidrs = []
        for _ in range(per):
            # Distinct /32s inside 10.0.0.0/8 and then 11.0.0.0/8.
            cidrs.append(f"{10 + n // 16777216}.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}/32")
            n += 1
        out.write(f"  s{s}: [{', '.join(cidrs)}]\n")
    out.write("rules:\n")
    for i in range(a.rules):
        src = i % a.segments
        dst = (i * 7 + 1) % a.segments
        out.write(f"  - {{ id: r{i}, from: s{src}, to: s{dst}, proto: tcp, ports: [{1 + i % 60000}], "
                  f"action: {'allow' if i % 5 else 'deny'} }}\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="kind", required=True)
    u = sub.add_parser("unknown")
    u.add_argument("--segments", type=int, default=2000)
    u.add_argument("--refs", type=int, default=8000)
    f = sub.add_parser("flow-nesting")
    f.add_argument("--depth", type=int, default=40000)
    b = sub.add_parser("block-nesting")
    b.add_argument("--depth", type=int, default=900)
    m = sub.add_parser("limit")
    m.add_argument("--rules", type=int, default=50000)
    m.add_argument("--segments", type=int, default=10000)
    m.add_argument("--prefixes", type=int, default=200000)
    a = p.parse_args()
    {"unknown": unknown, "flow-nesting": flow_nesting, "block-nesting": block_nesting, "limit": limit}[a.kind](
        a, sys.stdout)


if __name__ == "__main__":
    main()
