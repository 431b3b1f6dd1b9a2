#!/usr/bin/env python3
"""Forwarding rate of bulkhead-dataplane beside dpdk-testpmd io forwarding,
on the same virtual devices in the same run.

  throughput.py --pcap FILE --policy POLICY [--mbufs N] [--warmup S] [--window S] [--runs K] [-- extra dataplane args]

Both read net_pcap0 (rx_pcap=FILE, infinite_rx=1) and transmit to a
net_null port that drops. The rate is port 0's received packets over the
window, from each process's telemetry; the median of K runs is printed with
the ratio to testpmd, and the dataplane's cycles per packet (busy TSC
cycles over packets).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import procs  # noqa: E402
import telemetry  # noqa: E402

TOP = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("BULKHEAD_BUILD_DIR", os.path.join(TOP, "build"))


def eal(prefix, pcap, lcores):
    return ["--no-huge", "-m", "2048", "--no-pci", "-l", lcores, "--file-prefix", prefix,
            f"--vdev=net_pcap0,rx_pcap={pcap},infinite_rx=1", "--vdev=net_null0,no-rx=1"]


def wait_socket(prefix, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            telemetry.query(prefix, "/ethdev/stats,0")
            return True
        except OSError:
            time.sleep(0.2)
    return False


def rx(prefix):
    return telemetry.query(prefix, "/ethdev/stats,0")["/ethdev/stats"]["ipackets"]


def wait_ready(prefix, command, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if telemetry.query(prefix, command).get(command.split(",")[0]):
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    return False


def worker_run_ns(pid):
    """Nanoseconds the process's DPDK worker threads have run on a CPU (/proc/PID/task/*/schedstat): unlike
    the wall clock, it does not grow while a neighbour holds the core."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if not f.read().startswith(("rte-worker", "lcore-worker", "dpdk-worker")):
                    continue
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            continue
    return total


def measure(cmd, prefix, warmup, window, extra_stats=None, log=None, on_cpu=None):
    """Packets/s and cycles/packet of a dataplane (`cmd`) over `window` seconds after `warmup`; its output goes
    to the file `log` when given (to say why a run was refused). With a list `on_cpu`, appends the packets per
    second of its workers' own CPU time: the rate a core of its own would give, less moved by neighbours."""
    out = open(log, "wb") if log else subprocess.DEVNULL
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT if log else out)
    try:
        if not wait_socket(prefix) or (extra_stats and not wait_ready(prefix, "/bulkhead/stats")):
            raise RuntimeError("process did not start: " + " ".join(cmd))
        time.sleep(warmup)
        s0, t0, c0 = rx(prefix), time.time(), worker_run_ns(p.pid)
        b0 = extra_stats(prefix) if extra_stats else None
        time.sleep(window)
        s1, t1, c1 = rx(prefix), time.time(), worker_run_ns(p.pid)
        b1 = extra_stats(prefix) if extra_stats else None
        pps = (s1 - s0) / (t1 - t0)
        if on_cpu is not None:
            on_cpu.append((s1 - s0) / max(c1 - c0, 1) * 1e9)
        cpp = None
        if b0 and b1 and s1 > s0:
            cpp = (b1["busy_cycles"] - b0["busy_cycles"]) / max(1, b1["rx_packets"] - b0["rx_packets"])
        return pps, cpp
    finally:
        procs.stop(p)
        procs.remove_runtime_dir(prefix)
        if log:
            out.close()


def first_pass(cmd, prefix, flows, stats_of=None, timeout=30, at_end=None):
    """Connections/s, packets/s and cycles/packet of a dataplane (`cmd`) over the first pass of a capture of
    `flows` unique connections, from 10% to 90% of them opened: the steady part. `stats_of(prefix)` reads
    /bulkhead/stats (default: stats); `at_end(prefix)` is called before the dataplane is stopped."""
    stats_of = stats_of or stats
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_socket(prefix):
            raise RuntimeError("dataplane did not start")
        samples = []
        end = time.time() + timeout
        while time.time() < end:
            try:
                s = stats_of(prefix)
            except OSError:
                s = None
            if not s:  # not registered until the dataplane is ready
                time.sleep(0.005)
                continue
            samples.append((time.time(), s["conn_new"], s["busy_cycles"], s["rx_packets"]))
            if s["conn_new"] >= flows * 0.95:
                break
            time.sleep(0.01)
        lo = next(x for x in samples if x[1] >= flows * 0.1)
        hi = next(x for x in samples if x[1] >= flows * 0.9)
        if at_end:
            at_end(prefix)
        return ((hi[1] - lo[1]) / (hi[0] - lo[0]), (hi[3] - lo[3]) / (hi[0] - lo[0]),
                (hi[2] - lo[2]) / max(1, hi[3] - lo[3]))
    finally:
        procs.stop(p)


def stats(prefix):
    return telemetry.query(prefix, "/bulkhead/stats")["/bulkhead/stats"]


def run_arguments(ap, window=5):
    """The options of a measured dataplane run (metrics_cost.py has them too)."""
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--policy", required=True)
    ap.add_argument("--mbufs", type=int, default=262143)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--window", type=float, default=window)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lcores", default="0,1")
    ap.add_argument("extra", nargs="*")


def main():
    ap = argparse.ArgumentParser()
    run_arguments(ap)
    ap.add_argument("--skip-testpmd", action="store_true")
    a = ap.parse_args()
    dp = os.path.join(BUILD, "dataplane", "bulkhead-dataplane")
    ref, got, cycles = [], [], []
    for run in range(a.runs):
        if not a.skip_testpmd:
            pre = f"bhbench_tp{os.getpid()}_{run}"
            cmd = ["dpdk-testpmd", *eal(pre, a.pcap, a.lcores), "--", "--forward-mode=io", "--stats-period", "100",
                   f"--total-num-mbufs={a.mbufs}", "--mbuf-size=256", "--nb-cores=1", "--txq=1", "--rxq=1"]
            ref.append(measure(cmd, pre, a.warmup, a.window)[0])
        pre = f"bhbench_dp{os.getpid()}_{run}"
        cmd = [dp, *eal(pre, a.pcap, a.lcores), "--", "--policy", a.policy, "--mbufs", str(a.mbufs),
               "--mbuf-size", "256", *a.extra]
        pps, cpp = measure(cmd, pre, a.warmup, a.window, stats)
        got.append(pps)
        cycles.append(cpp or 0)
    m = statistics.median(got)
    line = f"bulkhead {m / 1e6:.2f} Mpps, {statistics.median(cycles):.0f} cycles/packet"
    if ref:
        r = statistics.median(ref)
        line += f"; testpmd io {r / 1e6:.2f} Mpps; ratio {m / r:.2f}"
    print(line)


if __name__ == "__main__":
    main()
