#!/usr/bin/env python3
"""Runs one libFuzzer target for a bounded number of inputs, as a test.

The corpus is a temporary directory seeded from the given paths (files,
directories of files, and pcap files whose every frame becomes a seed), so
nothing outside it is ever written; it is removed in every outcome. A crash
prints the input that caused it (hex) and exits non-zero.

usage: run_fuzz.py TARGET --runs N [--max-len N] [--keep DIR] SEED...
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile


def pcap_frames(path):
    """Frames of a classic pcap file (either byte order); [] for anything else."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        return []
    frames, off = [], 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        frames.append(data[off:off + caplen])
        off += caplen
    return frames


def seed(corpus, paths):
    n = 0
    for p in paths:
        files = []
        if os.path.isdir(p):
            files = [os.path.join(p, f) for f in sorted(os.listdir(p))]
        elif os.path.exists(p):
            files = [p]
        for f in files:
            if not os.path.isfile(f):
                continue
            chunks = pcap_frames(f) if f.endswith(".pcap") else []
            if not chunks:
                with open(f, "rb") as fh:
                    chunks = [fh.read()]
            for c in chunks:
                with open(os.path.join(corpus, "seed%06d" % n), "wb") as out:
                    out.write(c)
                n += 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--max-len", type=int, default=0)
    ap.add_argument("--keep", help="copy the final corpus here")
    ap.add_argument("seeds", nargs="*")
    a = ap.parse_intermixed_args()
    work = tempfile.mkdtemp(prefix="bh_fuzz_")
    try:
        corpus = os.path.join(work, "corpus")
        os.mkdir(corpus)
        n = seed(corpus, a.seeds)
        cmd = [a.target, "-runs=%d" % a.runs, "-artifact_prefix=" + work + "/", "-print_final_stats=1"]
        if a.max_len:
            cmd.append("-max_len=%d" % a.max_len)
        cmd.append(corpus)
        print("seeds: %d; %s" % (n, " ".join(cmd)), flush=True)
        rc = subprocess.call(cmd)
        # libFuzzer exits 77 on a crash, which meson reads as "skipped".
        if rc == 77:
            rc = 1
        for f in sorted(os.listdir(work)):
            if f.startswith(("crash-", "leak-", "timeout-", "oom-", "slow-unit-")):
                with open(os.path.join(work, f), "rb") as fh:
                    print("%s (%s): %s" % (f, os.path.basename(a.target), fh.read().hex()))
        if a.keep:
            shutil.copytree(corpus, a.keep, dirs_exist_ok=True)
        return rc
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
