#!/usr/bin/env python3
"""Encapsulated established traffic beside plain inline traffic, on the same
virtual devices in the same run (docs/cloud.md, docs/benchmarks.md).

  cloud_ratio.py [--flows N] [--runs K] [--warmup S] [--window S]

Writes three captures of the same N UDP flows: plain 64-byte frames
(inline), plain frames as long as the encapsulated ones (inline-wide: 146
bytes), and each 64-byte frame's packet inside GENEVE with AWS Gateway Load
Balancer's three options (gen_pcap.py --geneve). Each is read from
net_pcap0 (infinite_rx: after the first round every packet is of an
established connection) with net_null0 beside it. Inline, bulkhead-dataplane
forwards port 0 to port 1; with --insertion geneve it answers each packet on
port 0 itself (echoed to a pcap port with no TX file, which drops). The
variants alternate within each run. Prints each median rate, the cycles per
packet and the ratios GENEVE / inline and GENEVE / inline-wide: net_pcap
copies every frame into its buffer, so the second ratio leaves out what the
test device pays for the tunnel's 82 more bytes (a NIC writes them by DMA).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import throughput  # noqa: E402

# A 64-byte frame's IP packet in AWS GENEVE: Ethernet 14, IPv4 20, UDP 8,
# GENEVE 8 and options 32, then the 50-byte packet.
GENEVE_FRAME = 64 + 82


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--window", type=float, default=5)
    ap.add_argument("--lcores", default="0,1")
    a = ap.parse_args()
    dp = os.path.join(throughput.BUILD, "dataplane", "bulkhead-dataplane")
    work = tempfile.mkdtemp(prefix="bh_cloud_bench_")
    plain, wide, geneve = (os.path.join(work, f) for f in ("plain.pcap", "wide.pcap", "geneve.pcap"))
    gen = os.path.join(HERE, "gen_pcap.py")
    for out, args in ((plain, []), (wide, ["--size", str(GENEVE_FRAME)]), (geneve, ["--geneve"])):
        subprocess.run([sys.executable, gen, "--flows", str(a.flows), *args, out], check=True,
                       stdout=subprocess.DEVNULL)
    policy = os.path.join(work, "allow.yaml")
    with open(policy, "w") as f:
        f.write("version: 1\ndefaults: { action: allow, mode: enforce }\nrules: []\n")
    variants = {
        "inline": (plain, []),
        "inline-wide": (wide, []),
        "geneve": (geneve, ["--insertion", "geneve", "--ports", "0", "--address", "10.100.0.5"]),
    }
    rates = {k: [] for k in variants}
    cycles = {k: [] for k in variants}
    mbufs = 4 * a.flows + 65536
    try:
        for run in range(a.runs):
            for name, (pcap, extra) in variants.items():
                pre = f"bhcloud{os.getpid()}_{name}_{run}"
                cmd = [dp, *throughput.eal(pre, pcap, a.lcores), "--", "--policy", policy, "--mbufs", str(mbufs),
                       "--mbuf-size", "512", *extra]
                pps, cpp = throughput.measure(cmd, pre, a.warmup, a.window, throughput.stats)
                rates[name].append(pps)
                cycles[name].append(cpp or 0)
    finally:
        for f in (plain, wide, geneve, policy):
            os.remove(f)
        os.rmdir(work)
    for name in variants:
        print(f"{name:11} {statistics.median(rates[name]) / 1e6:.2f} Mpps, "
              f"{statistics.median(cycles[name]):.0f} cycles/packet")
    g = statistics.median(rates["geneve"])
    # Each run's variants are neighbours in time: the median of each run's
    # ratio is less moved by the machine's drift than the ratio of medians.
    paired = {k: statistics.median(x / y for x, y in zip(rates["geneve"], rates[k])) for k in ("inline", "inline-wide")}
    print(f"ratio geneve/inline {g / statistics.median(rates['inline']):.3f} (median of the runs' {paired['inline']:.3f}); "
          f"geneve/inline-wide {g / statistics.median(rates['inline-wide']):.3f} "
          f"(median of the runs' {paired['inline-wide']:.3f})")


if __name__ == "__main__":
    main()
