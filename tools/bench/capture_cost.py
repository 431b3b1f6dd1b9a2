#!/usr/bin/env python3
"""The cost of an armed capture filter that matches nothing to the
forwarding rate, as a ratio in one run.

  capture_cost.py --pcap FILE --policy POLICY [--filter "--drops"] [--runs K] [--warmup S] [--window S] [-- extra args]
  capture_cost.py ... --alternate PAIRS

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

With --alternate, each run is one dataplane in which PAIRS windows with the
capture armed and PAIRS without take turns (the order flips every pair):
the two sides of a pair share the process, its memory and its placement,
and lie a window apart, so a pair's ratio is moved only by what changes
within seconds. Prints, beside the medians, the median of the pairs'
ratios by the wall clock and by the worker's own CPU time.
"""
import argparse
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import throughput  # noqa: E402 (puts tools/lab on the path)
import procs  # noqa: E402


def main_cpu(a):
    """The main lcore's core: `bulkhead capture` runs there, off the worker's."""
    return int(a.lcores.replace("-", ",").split(",")[0])


def start_capture(a, cli, prefix, pcapng, summary):
    """`bulkhead capture` with the filter under test, its summary line into the file `summary`."""
    cpu = main_cpu(a)
    return subprocess.Popen([cli, "capture", "--prefix", prefix, *shlex.split(a.filter), "--count", "1000000",
                             "-w", pcapng], stdout=subprocess.DEVNULL, stderr=open(summary, "w"),
                            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))


def one(a, dp, cli, run, armed, work):
    pre = f"bhbench_c{os.getpid()}_{run}_{int(armed)}"
    cmd = [dp, *throughput.eal(pre, a.pcap, a.lcores), "--", "--policy", a.policy, "--mbufs", str(a.mbufs),
           "--mbuf-size", "256", *a.extra]
    capture, calls, summary = None, [], os.path.join(work, f"capture{run}.err")

    # measure() calls stats() at the window's start and end: the capture is
    # armed before the first call's counters are read and ends after the
    # second's.
    def stats(prefix):
        nonlocal capture
        calls.append(1)
        if armed and len(calls) == 1:
            capture = start_capture(a, cli, prefix, os.path.join(work, f"capture{run}.pcapng"), summary)
            if not throughput.wait_ready(prefix, "/bulkhead/stats"):
                raise RuntimeError("dataplane gone")
        s = throughput.stats(prefix)
        if armed and len(calls) == 2:
            capture.send_signal(signal.SIGINT)
            capture.wait(timeout=10)
        return s

    pps, _ = throughput.measure(cmd, pre, a.warmup, a.window, stats)
    return pps, open(summary).read().strip() if armed else ""


def count_lines(path, text):
    with open(path, errors="replace") as f:
        return f.read().count(text)


def wait_lines(path, text, n, timeout=20):
    end = time.time() + timeout
    while count_lines(path, text) < n:
        if time.time() > end:
            raise RuntimeError(f"no '{text}' line {n} in {path}")
        time.sleep(0.02)


def alternating(a, dp, cli, run, work):
    """Rates (wall, on-CPU) without and with the capture armed, PAIRS windows each, in one dataplane."""
    pre = f"bhbench_c{os.getpid()}_alt{run}"
    log = os.path.join(work, f"dataplane{run}.log")
    cmd = [dp, *throughput.eal(pre, a.pcap, a.lcores), "--", "--policy", a.policy, "--mbufs", str(a.mbufs),
           "--mbuf-size", "256", *a.extra]
    rates = {False: [], True: []}
    said = ""
    with open(log, "wb") as out:
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT)
        try:
            if not throughput.wait_socket(pre) or not throughput.wait_ready(pre, "/bulkhead/stats"):
                raise RuntimeError("dataplane did not start: " + " ".join(cmd))
            time.sleep(a.warmup)
            armed_count = 0
            for k in range(a.alternate):
                for armed in ((False, True) if k % 2 == 0 else (True, False)):
                    capture, summary = None, os.path.join(work, f"capture{run}_{k}.err")
                    if armed:
                        armed_count += 1
                        capture = start_capture(a, cli, pre, os.path.join(work, f"capture{run}_{k}.pcapng"), summary)
                        wait_lines(log, "capture armed", armed_count)
                    s0, t0, c0 = throughput.rx(pre), time.time(), throughput.worker_run_ns(p.pid)
                    time.sleep(a.window)
                    s1, t1, c1 = throughput.rx(pre), time.time(), throughput.worker_run_ns(p.pid)
                    rates[armed].append(((s1 - s0) / (t1 - t0), (s1 - s0) / max(c1 - c0, 1) * 1e9))
                    if armed:
                        capture.send_signal(signal.SIGINT)
                        capture.wait(timeout=10)
                        wait_lines(log, "capture ended", armed_count)
                        said = open(summary).read().strip()
        finally:
            procs.stop(p)
    return rates, said


def main_alternating(a, dp, cli):
    ref, got, said = [], [], ""
    with tempfile.TemporaryDirectory(prefix="bh-capture-cost-") as work:
        for run in range(a.runs):
            rates, said = alternating(a, dp, cli, run, work)
            ref += rates[False]
            got += rates[True]
    r, m = (statistics.median(x[0] for x in v) for v in (ref, got))
    pairs = [g[0] / f[0] for g, f in zip(got, ref)]
    wall = statistics.median(pairs)
    q1, _, q3 = statistics.quantiles(pairs, n=4) if len(pairs) > 1 else (wall, wall, wall)
    cpu = statistics.median(g[1] / f[1] for g, f in zip(got, ref))
    print(f"no capture {r / 1e6:.2f} Mpps; capture '{a.filter}' armed {m / 1e6:.2f} Mpps; ratio {m / r:.3f}; "
          f"median of the pairs' ratios {wall:.3f} (middle half {q1:.3f}-{q3:.3f}; "
          f"on the worker's CPU time {cpu:.3f}); "
          f"{len(ref)} pairs in {a.runs} runs; the last capture said: {said}")


def main():
    ap = argparse.ArgumentParser()
    throughput.run_arguments(ap, window=10)
    ap.add_argument("--filter", default="--drops", help="the capture's filter options")
    ap.add_argument("--alternate", type=int, default=0, metavar="PAIRS",
                    help="armed and unarmed windows taking turns in one dataplane, PAIRS of each a run")
    a = ap.parse_args()
    dp = os.path.join(throughput.BUILD, "dataplane", "bulkhead-dataplane")
    cli = os.path.join(throughput.BUILD, "tools", "cli", "bulkhead")
    if a.alternate > 0:
        main_alternating(a, dp, cli)
        return
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
