#!/usr/bin/env python3
"""The cost of Prometheus scraping to the forwarding rate, as a ratio in
one run.

  metrics_cost.py --pcap FILE --policy POLICY [--runs K] [--interval S] [--warmup S] [--window S] [-- extra args]

Each round runs the dataplane twice on the same virtual devices as
throughput.py (net_pcap0 infinite_rx into a net_null port), both times with
--metrics-listen on loopback: once not scraped (the reference) and once
scraped every --interval seconds (1) through the whole window, in
alternating order. Prints the median rate of each and their ratio, the
median of each round's ratio, the same per second of the worker's own CPU
time (what a core of its own would give, less moved by neighbours on a
shared machine), and how long a scrape took and how large its text was. The scraping client runs on the main
lcore's core, never on the worker's: Prometheus runs on another machine.
"""
import argparse
import os
import socket
import statistics
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import throughput  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scraper(threading.Thread):
    """GETs the endpoint every `interval` seconds until stopped."""

    def __init__(self, url, interval, cpu):
        super().__init__(daemon=True)
        self.url, self.interval, self.cpu = url, interval, cpu
        self.stop_flag = threading.Event()
        self.times, self.size, self.errors = [], 0, 0

    def run(self):
        os.sched_setaffinity(0, {self.cpu})  # this thread only
        while not self.stop_flag.is_set():
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    self.size = len(r.read())
                self.times.append(time.perf_counter() - t0)
            except OSError:
                self.errors += 1
            self.stop_flag.wait(max(0.0, self.interval - (time.perf_counter() - t0)))


def one(a, dp, run, scraped):
    pre = f"bhbench_m{os.getpid()}_{run}_{int(scraped)}"
    port = free_port()
    cmd = [dp, *throughput.eal(pre, a.pcap, a.lcores), "--", "--policy", a.policy, "--mbufs", str(a.mbufs),
           "--mbuf-size", "256", "--metrics-listen", f"127.0.0.1:{port}", *a.extra]
    main_cpu = int(a.lcores.replace("-", ",").split(",")[0])
    scraper = Scraper(f"http://127.0.0.1:{port}/metrics", a.interval, main_cpu) if scraped else None
    # measure() calls stats() at the window's start and end: the scraper
    # starts with the first call and stops with the second.
    calls = []

    def stats(prefix):
        calls.append(1)
        if scraper and len(calls) == 1:
            scraper.start()
        if scraper and len(calls) == 2:
            scraper.stop_flag.set()
        return throughput.stats(prefix)

    on_cpu = []
    pps, _ = throughput.measure(cmd, pre, a.warmup, a.window, stats, on_cpu=on_cpu)
    if scraper:
        scraper.join()
        if not scraper.times:
            raise RuntimeError("no scrape succeeded")
    print(f"  run {run} {'scraped' if scraped else 'not scraped'}: {pps / 1e6:.2f} Mpps, "
          f"{on_cpu[0] / 1e6:.2f} Mpps of worker CPU time", flush=True)
    return pps, on_cpu[0], scraper


def main():
    ap = argparse.ArgumentParser()
    throughput.run_arguments(ap, window=10)
    ap.add_argument("--interval", type=float, default=1.0)
    a = ap.parse_args()
    dp = os.path.join(throughput.BUILD, "dataplane", "bulkhead-dataplane")
    ref, got, ref_cpu, got_cpu, scrape_ms, size, errors = [], [], [], [], [], 0, 0
    for run in range(a.runs):
        for scraped in ((False, True) if run % 2 == 0 else (True, False)):
            pps, cpu, s = one(a, dp, run, scraped)
            if scraped:
                got.append(pps)
                got_cpu.append(cpu)
                scrape_ms += [t * 1e3 for t in s.times]
                size, errors = s.size, errors + s.errors
            else:
                ref.append(pps)
                ref_cpu.append(cpu)
    r, m = statistics.median(ref), statistics.median(got)
    rc, mc = statistics.median(ref_cpu), statistics.median(got_cpu)
    # Each round's two runs are neighbours in time: the median of their
    # ratios is less moved by the machine's drift than the ratio of medians.
    paired = statistics.median(g / f for g, f in zip(got, ref))
    print(f"not scraped {r / 1e6:.2f} Mpps; scraped every {a.interval:g} s {m / 1e6:.2f} Mpps; ratio {m / r:.3f}; "
          f"per worker CPU second {rc / 1e6:.2f} and {mc / 1e6:.2f} Mpps, ratio {mc / rc:.3f}; "
          f"median of the rounds' ratios {paired:.3f}; "
          f"scrape {statistics.median(scrape_ms):.1f} ms median, {max(scrape_ms):.1f} ms max, {size} bytes, "
          f"{len(scrape_ms)} scrapes, {errors} failed; runs {a.runs}")


if __name__ == "__main__":
    main()
