#!/usr/bin/env python3
"""The cost of flow logging in each format to the forwarding rate, on
established and on new-flow traffic, as ratios in one run.

  flowlog_cost.py [--flows N] [--new-flows N] [--runs K] [--update S] [--log-rate N] [--warmup S] [--window S]

Variants, in a different order each round:
  none     the dataplane alone, no flow export (the reference)
  export   records exported to a control plane that collects them, no log
  native, ecs, ocsf
           the same control plane also writing --flow-log in that format

Established traffic: N UDP flows replayed (net_pcap infinite_rx into a
net_null port, as throughput.py), every connection sending an update
record every --update seconds, so the log gets N / S records a second
beside full-rate forwarding. New-flow traffic: the first pass of a capture
of --new-flows unique flows (as `suite.py --only new-flows`), each
connection's start record exported: connections per second from 10% to 90%
of them opened. The control plane runs on the main lcore's core, the
worker keeps its own. --log-rate lifts the flow log's default cap of 5,000
lines a second so the format's own cost shows.

Prints, per traffic and variant, the median rate, the median of each
round's ratio to `none`, the records the dataplane exported and lost (a
full ring) and the lines the log holds.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import throughput  # noqa: E402  (puts tools/lab on the path)
import procs  # noqa: E402
import telemetry  # noqa: E402

VARIANTS = ("none", "export", "native", "ecs", "ocsf")
DP = os.path.join(throughput.BUILD, "dataplane", "bulkhead-dataplane")
CP = os.path.join(throughput.BUILD, "controlplane", "bulkhead-controlplane")
CLI = os.path.join(throughput.BUILD, "tools", "cli", "bulkhead")


class Collector:
    """A control plane collecting flow records, with a flow log in `fmt` unless it is 'export'."""

    def __init__(self, work, fmt, log_rate, main_cpu):
        self.log = os.path.join(work, f"flows-{fmt}.log")
        port = 25000 + os.getpid() % 10000
        store = os.path.join(work, "store")
        subprocess.run(["rm", "-rf", store], check=True)
        keys = os.path.join(work, "keys")
        cmd = [CP, "--store", store, "--key", os.path.join(keys, "cp.key"), "--dataplane-key",
               os.path.join(keys, "dp.pub"), "--listen", f"tcp://127.0.0.1:{port}", "--flow-listen",
               f"tcp://127.0.0.1:{port + 1}", "--cli", "ipc://" + os.path.join(work, "cp.sock")]
        if fmt != "export":
            cmd += ["--flow-log", self.log, "--flow-log-format", fmt, "--flow-log-rate", str(log_rate)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=lambda: os.sched_setaffinity(0, {main_cpu}))
        self.args = ["--flow-export", f"tcp://127.0.0.1:{port + 1}", "--controlplane-key",
                     os.path.join(keys, "cp.pub"), "--key", os.path.join(keys, "dp.key")]

    def lines(self):
        """Lines the flow log holds (and its rotated files), after the collector has stopped."""
        n = 0
        for name in (self.log, *(f"{self.log}.{k}" for k in range(1, 10))):
            if os.path.exists(name):
                with open(name, "rb") as f:
                    n += sum(1 for _ in f)
                os.remove(name)
        return n

    def stop(self):
        """Stops the collector once its log has stopped growing (the records in flight written), at most 15 s."""
        last, still, end = -1, 0, time.time() + 15
        while time.time() < end and still < 5:
            size = os.path.getsize(self.log) if os.path.exists(self.log) else 0
            still = still + 1 if size == last else 0
            last = size
            time.sleep(0.1)
        procs.stop(self.proc)


def flows(prefix):
    try:
        return telemetry.query(prefix, "/bulkhead/flows")["/bulkhead/flows"] or {}
    except (OSError, KeyError):
        return {}


def with_flows(prefix):
    s = throughput.stats(prefix)
    if s is not None:
        s = dict(s, flows=flows(prefix))
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, default=10000, help="established flows")
    ap.add_argument("--new-flows", type=int, default=1048576, help="unique flows of the new-flow traffic")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--update", type=int, default=1, help="seconds between update records (--flow-update)")
    ap.add_argument("--log-rate", type=int, default=1000000, help="the flow log's cap, lines a second")
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--window", type=float, default=5)
    ap.add_argument("--lcores", default="0,1")
    a = ap.parse_args()
    main_cpu = int(a.lcores.replace("-", ",").split(",")[0])
    rates = {t: {v: [] for v in VARIANTS} for t in ("established", "new flows")}
    exported = {t: {v: [] for v in VARIANTS} for t in rates}
    lost = {t: {v: [] for v in VARIANTS} for t in rates}
    lines = {t: {v: [] for v in VARIANTS} for t in rates}
    with tempfile.TemporaryDirectory(prefix="bh-flowlog-cost-") as work:
        keys = os.path.join(work, "keys")
        os.makedirs(keys)
        for k in ("cp", "dp"):
            subprocess.run([CLI, "keys", "generate", k], cwd=keys, check=True, stdout=subprocess.DEVNULL)
        gen = os.path.join(HERE, "gen_pcap.py")
        established, unique = os.path.join(work, "established.pcap"), os.path.join(work, "unique.pcap")
        for out, n in ((established, a.flows), (unique, a.new_flows)):
            subprocess.run([sys.executable, gen, "--flows", str(n), out], check=True, stdout=subprocess.DEVNULL)
        policy = os.path.join(work, "allow.yaml")
        with open(policy, "w") as f:
            f.write("version: 1\ndefaults: { action: allow, mode: enforce }\nrules: []\n")
        for run in range(a.runs):
            k = run % len(VARIANTS)
            for v in VARIANTS[k:] + VARIANTS[:k]:
                for traffic in rates:
                    collector = Collector(work, v, a.log_rate, main_cpu) if v != "none" else None
                    extra = collector.args if collector else []
                    pre = f"bhflowlog{os.getpid()}_{run}_{v}_{traffic[0]}"
                    try:
                        if traffic == "established":
                            mbufs = 4 * a.flows + 65536
                            cmd = [DP, *throughput.eal(pre, established, a.lcores), "--", "--policy", policy,
                                   "--mbufs", str(mbufs), "--mbuf-size", "256", *extra,
                                   *(["--flow-update", str(a.update)] if extra else [])]
                            got = []

                            def stats_of(prefix):
                                s = with_flows(prefix)
                                got.append(s["flows"] if s else {})
                                return s

                            rate, _ = throughput.measure(cmd, pre, a.warmup, a.window, stats_of)
                            f0, f1 = (got[0], got[-1]) if got else ({}, {})
                        else:
                            mbufs = a.new_flows + 131072
                            cmd = [DP, *throughput.eal(pre, unique, a.lcores), "--", "--policy", policy,
                                   "--mbufs", str(mbufs), "--mbuf-size", "256", "--conn-max",
                                   str(2 * a.new_flows), *extra]
                            ends = []
                            rate, _, _ = throughput.first_pass(cmd, pre, a.new_flows,
                                                               at_end=lambda p: ends.append(flows(p)))
                            f0, f1 = {}, ends[0] if ends else {}
                    finally:
                        if collector:
                            collector.stop()
                    rates[traffic][v].append(rate)
                    exported[traffic][v].append(f1.get("records_sent", 0) - f0.get("records_sent", 0))
                    lost[traffic][v].append(f1.get("lost_ring_full", 0) - f0.get("lost_ring_full", 0))
                    lines[traffic][v].append(collector.lines() if collector and v != "export" else 0)
    for traffic in rates:
        unit = "Mpps" if traffic == "established" else "M connections/s"
        print(f"{traffic}:")
        for v in VARIANTS:
            r = rates[traffic][v]
            paired = statistics.median(x / y for x, y in zip(r, rates[traffic]["none"]))
            print(f"  {v:7} {statistics.median(r) / 1e6:6.2f} {unit}; ratio to none {paired:.3f} "
                  f"(median of the rounds'); records sent {statistics.median(exported[traffic][v]):.0f}, "
                  f"lost to a full ring {statistics.median(lost[traffic][v]):.0f}; "
                  f"log lines {statistics.median(lines[traffic][v]):.0f}")
    print(f"established: {a.flows} flows, an update record every {a.update} s each, sent/lost counted over the "
          f"{a.window:g} s window; new flows: {a.new_flows} connections, counted over the whole pass; runs {a.runs}")


if __name__ == "__main__":
    main()
