#!/usr/bin/env python3
"""The cost of Prometheus scraping to the forwarding rate, as a ratio in
one run.

  metrics_cost.py --pcap FILE --policy POLICY [--runs K] [--interval S] [--warmup S] [--window S] [-- extra args]

Each round runs the dataplane twice on the same virtual devices as
throughput.py (net_pcap0 infinite_rx into a net_null port), both times with
--metrics-listen on loopback: once not scraped (the reference) and once
scraped every --interval seconds (1) through the whole window, in
alternating order. Prints the median rate of each and their ratio, and how
long a scrape took and how large its text was.
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

    def __init__(self, url, interval):
        super().__init__(daemon=True)
        self.url, self.interval = url, interval
        self.stop_flag = threading.Event()
        self.times, self.size, self.errors = [], 0, 0

    def run(self):
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
    scraper = Scraper(f"http://127.0.0.1:{port}/metrics", a.interval) if scraped else None
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

    pps, _ = throughput.measure(cmd, pre, a.warmup, a.window, stats)
    if scraper:
        scraper.join()
        if not scraper.times:
            raise RuntimeError("no scrape succeeded")
    return pps, scraper


def main():
    ap = argparse.ArgumentParser()
    throughput.run_arguments(ap, window=10)
    ap.add_argument("--interval", type=float, default=1.0)
    a = ap.parse_args()
    dp = os.path.join(throughput.BUILD, "dataplane", "bulkhead-dataplane")
    ref, got, scrape_ms, size, errors = [], [], [], 0, 0
    for run in range(a.runs):
        for scraped in ((False, True) if run % 2 == 0 else (True, False)):
            pps, s = one(a, dp, run, scraped)
            if scraped:
                got.append(pps)
                scrape_ms += [t * 1e3 for t in s.times]
                size, errors = s.size, errors + s.errors
            else:
                ref.append(pps)
    r, m = statistics.median(ref), statistics.median(got)
    print(f"not scraped {r / 1e6:.2f} Mpps; scraped every {a.interval:g} s {m / 1e6:.2f} Mpps; ratio {m / r:.3f}; "
          f"scrape {statistics.median(scrape_ms):.1f} ms median, {max(scrape_ms):.1f} ms max, {size} bytes, "
          f"{len(scrape_ms)} scrapes, {errors} failed; runs {a.runs}")


if __name__ == "__main__":
    main()
