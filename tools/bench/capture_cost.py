#!/usr/bin/env python3
"""The cost of an armed capture filter that matches nothing to the
forwarding rate, as a ratio in one run.

  capture_cost.py --pcap FILE --policy POLICY [--filter "--drops"] [--runs K] [--warmup S] [--window S] [-- extra args]

Each round runs the dataplane twice on the same virtual devices as
throughput.py (net_pcap0 infinite_rx into a net_null port): once with no
capture (the reference) and once with `bulkhead capture FILTER` armed
through the whole window, in alternating order. With traffic the policy
allows, `--drops` (the default) or `--rule NO-SUCH-RULE` match nothing: the
workers pay the armed check of every packet and copy none. Prints the
median rate of each, their ratio, the median of each round's ratio, and
what the capture wrote (0 packets). `bulkhead capture` runs on the main
lcore's core, as on an appliance whose worker cores are kept for the
workers.
"""
import argparse
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import throughput  # noqa: E402


def one(a, dp, cli, run, armed, work):
    pre = f"bhbench_c{os.getpid()}_{run}_{int(armed)}"
    cmd = [dp, *throughput.eal(pre, a.pcap, a.lcores), "--", "--policy", a.policy, "--mbufs", str(a.mbufs),
           "--mbuf-size", "256", *a.extra]
    capture, calls, summary = None, [], os.path.join(work, f"capture{run}.err")
    main_cpu = int(a.lcores.replace("-", ",").split(",")[0])

    # measure() calls stats() at the window's start and end: the capture is
    # armed before the first call's counters are read and ends after the
    # second's.
    def stats(prefix):
        nonlocal capture
        calls.append(1)
        if armed and len(calls) == 1:
            capture = subprocess.Popen([cli, "capture", "--prefix", prefix, *shlex.split(a.filter), "--count",
                                        "1000000", "-w", os.path.join(work, f"capture{run}.pcapng")],
                                       stdout=subprocess.DEVNULL, stderr=open(summary, "w"),
                                       preexec_fn=lambda: os.sched_setaffinity(0, {main_cpu}))
            if not throughput.wait_ready(prefix, "/bulkhead/stats"):
                raise RuntimeError("dataplane gone")
        s = throughput.stats(prefix)
        if armed and len(calls) == 2:
            capture.send_signal(signal.SIGINT)
            capture.wait(timeout=10)
        return s

    pps, _ = throughput.measure(cmd, pre, a.warmup, a.window, stats)
    return pps, open(summary).read().strip() if armed else ""


def main():
    ap = argparse.ArgumentParser()
    throughput.run_arguments(ap, window=10)
    ap.add_argument("--filter", default="--drops", help="the capture's filter options")
    a = ap.parse_args()
    dp = os.path.join(throughput.BUILD, "dataplane", "bulkhead-dataplane")
    cli = os.path.join(throughput.BUILD, "tools", "cli", "bulkhead")
    ref, got, said = [], [], ""
    with tempfile.TemporaryDirectory(prefix="bh-capture-cost-") as work:
        for run in range(a.runs):
            for armed in ((False, True) if run % 2 == 0 else (True, False)):
                pps, s = one(a, dp, cli, run, armed, work)
                (got if armed else ref).append(pps)
                said = s or said
    r, m = statistics.median(ref), statistics.median(got)
    # Each round's two runs are neighbours in time: the median of their
    # ratios is less moved by the machine's drift than the ratio of medians.
    paired = statistics.median(g / f for g, f in zip(got, ref))
    print(f"no capture {r / 1e6:.2f} Mpps; capture '{a.filter}' armed {m / 1e6:.2f} Mpps; ratio {m / r:.3f}; "
          f"median of the rounds' ratios {paired:.3f}; runs {a.runs}; the capture said: {said}")


if __name__ == "__main__":
    main()
