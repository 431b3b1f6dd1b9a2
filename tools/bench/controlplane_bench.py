#!/usr/bin/env python3
"""Control-plane figures: apply-to-acknowledged latency with 1 and 4
dataplanes (a 10K-rule policy, and a one-rule change of it), and zero loss
while 1,000 generations are applied back to back under traffic.

  tools/bench/controlplane_bench.py [--applies N] [--generations N]

Dataplanes use net_null ports (latency) or a net_pcap infinite_rx port into
net_null (zero loss), one worker each. The latency of one apply is the
control plane's own push-to-Ack time per dataplane (`bulkhead status`):
from when the stored generation starts going out (its change against the
generation before is made with the apply) to the Ack. For the latency runs,
no traffic flows: workers sleep when idle (--idle-sleep) and the dataplanes'
main lcores alternate between the two cores, so four dataplanes on two
cores measure the channel rather than the scheduler.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tools", "lab"))
import procs  # noqa: E402
import telemetry  # noqa: E402

BUILD = os.environ.get("BULKHEAD_BUILD_DIR", os.path.join(TOP, "build"))
CLI = os.path.join(BUILD, "tools", "cli", "bulkhead")
CP = os.path.join(BUILD, "controlplane", "bulkhead-controlplane")
DP = os.path.join(BUILD, "dataplane", "bulkhead-dataplane")
DATA = os.path.normpath(os.path.join(TOP, "..", "shared", "data", "classbench"))


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw).stdout


class Fleet:
    def __init__(self, work, n, vdevs_for=None, extra=(), pin=None):
        """`pin`: CPUs (taskset's list) the control plane and the CLI run on, off a worker's core."""
        self.work, self.procs, self.n = work, [], n
        self.pin = ["taskset", "-c", pin] if pin else []
        os.chdir(work)
        for k in ["cp"] + [f"dp{i}" for i in range(n)]:
            run(CLI, "keys", "generate", k)
        self.port = 21000 + os.getpid() % 20000
        self.env = dict(os.environ, BULKHEAD_CONTROLPLANE=f"ipc://{work}/cli.sock")
        keys = sum([["--dataplane-key", f"dp{i}.pub"] for i in range(n)], [])
        self.procs.append(subprocess.Popen([*self.pin, CP, "--store", "store", "--key", "cp.key", *keys, "--listen",
                                            f"tcp://127.0.0.1:{self.port}", "--cli", self.env["BULKHEAD_CONTROLPLANE"]],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.prefixes = []
        for i in range(n):
            pre = f"bhcpb{os.getpid()}_{i}"
            vdevs = vdevs_for(i) if vdevs_for else ["--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1"]
            self.procs.append(subprocess.Popen(
                # Main lcores (where a rule set is built) alternate between the
                # two cores: the builds of several dataplanes do not all queue
                # on core 0.
                [DP, "--no-huge", "-m", "2048", "--no-pci", "-l", "0,1", "--main-lcore", str(i % 2), "--file-prefix",
                 pre, *vdevs, "--",
                 "--controlplane", f"tcp://127.0.0.1:{self.port}", "--controlplane-key", "cp.pub", "--key",
                 f"dp{i}.key", "--id", f"dp{i}", "--mbufs", "131071", "--mbuf-size", "256", *extra],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            self.prefixes.append(pre)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                st = self.status()
                if sum(1 for d in st["dataplanes"] if d["connected"]) == n:
                    return
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.2)
        raise RuntimeError("dataplanes did not connect")

    def status(self):
        return json.loads(run(CLI, "status", "--json", env=self.env))

    def apply(self, path, force=True):
        args = [*self.pin, CLI, "apply", path, "--wait", "60", "--json"] + (["--force"] if force else [])
        return json.loads(subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                         env=self.env).stdout)

    def close(self):
        procs.stop(*self.procs)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def latency(n, applies):
    with tempfile.TemporaryDirectory() as work:
        # No traffic flows here: idle workers sleep instead of spinning, so
        # four dataplanes on two cores measure the channel, not the scheduler.
        fleet = Fleet(work, n, extra=("--idle-sleep", "200"))
        try:
            base = os.path.join(work, "10k.yaml")
            run(CLI, "policy", "import-classbench", os.path.join(DATA, "acl1_10k"), "-o", base)
            text = open(base).read()
            variants = []
            for k in range(2):  # one rule differs between the two
                p = os.path.join(work, f"10k-{k}.yaml")
                open(p, "w").write(text + f"  - {{ id: extra, proto: tcp, ports: [{1000 + k}], action: allow }}\n")
                variants.append(p)
            small = [os.path.join(work, f"small-{k}.yaml") for k in range(2)]
            for k, p in enumerate(small):
                open(p, "w").write(f"version: 1\nrules:\n  - {{ id: a, proto: tcp, ports: [{80 + k}], action: allow }}\n")
            results = {}
            for name, files in (("10K rules, one-rule change", variants), ("1 rule, one-rule change", small)):
                # The first push of a policy is a whole new set, not a change:
                # reported on its own, and every measured push below changes
                # one rule of the set before it.
                first = fleet.apply(files[1])
                if not first.get("ok") or not first.get("enforced"):
                    raise RuntimeError(f"apply failed: {first}")
                whole = [d["ack_latency_us"] / 1000 for d in first["status"]["dataplanes"]]
                results[name.replace("one-rule change", "whole policy, first push")] = (
                    statistics.median(whole), max(whole), len(whole))
                lat = []
                for i in range(applies):
                    r = fleet.apply(files[i % 2])
                    if not r.get("ok") or not r.get("enforced"):
                        raise RuntimeError(f"apply failed: {r}")
                    lat += [d["ack_latency_us"] / 1000 for d in r["status"]["dataplanes"]]
                results[name] = (statistics.median(lat), pct(lat, 0.99), len(lat))
            return results
        finally:
            fleet.close()


def zero_loss(generations):
    with tempfile.TemporaryDirectory() as work:
        pcap = os.path.join(work, "flows.pcap")
        run(sys.executable, os.path.join(HERE, "gen_pcap.py"), pcap, "--flows", "65536")
        fleet = Fleet(work, 1, lambda i: [f"--vdev=net_pcap0,rx_pcap={pcap},infinite_rx=1", "--vdev=net_null0,no-rx=1"])
        try:
            files = []
            for k in range(2):
                p = os.path.join(work, f"g{k}.yaml")
                open(p, "w").write("version: 1\nrules:\n  - { id: udp, proto: udp, action: allow }\n"
                                   f"  - {{ id: extra, proto: tcp, ports: [{80 + k}], action: allow }}\n")
                files.append(p)
            def counters():
                st = telemetry.query(fleet.prefixes[0], "/bulkhead/stats")["/bulkhead/stats"]
                dr = telemetry.query(fleet.prefixes[0], "/bulkhead/drops")["/bulkhead/drops"]
                return st["rx_packets"], st["tx_packets"], st["dropped"], dr["policy_deny"] + dr["connection_revoked"]

            fleet.apply(files[1])  # the first generation; before it the dataplane fails closed
            time.sleep(1)
            before = counters()
            t0 = time.time()
            for g in range(generations):
                r = fleet.apply(files[g % 2])
                if not r.get("enforced"):
                    raise RuntimeError(f"generation {g} not enforced: {r}")
            elapsed = time.time() - t0
            after = counters()
            pol = telemetry.query(fleet.prefixes[0], "/bulkhead/policy")["/bulkhead/policy"]
            rx, tx, dropped, policy = (a - b for a, b in zip(after, before))
            return {"generations": generations, "seconds": elapsed, "rx": rx, "tx": tx, "dropped": dropped,
                    "policy_drops": policy, "generation": pol["generation"]}
        finally:
            fleet.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--applies", type=int, default=20)
    ap.add_argument("--generations", type=int, default=1000)
    a = ap.parse_args()
    for n in (1, 4):
        for name, (p50, p99, count) in latency(n, a.applies).items():
            print(f"apply-to-ack, {n} dataplane{'s' if n > 1 else ''}, {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
                  f"({count} acks)", flush=True)
    z = zero_loss(a.generations)
    lost = z["rx"] - z["tx"] - z["dropped"]
    print(f"zero loss: {z['generations']} generations in {z['seconds']:.1f} s under traffic; rx {z['rx']}, "
          f"tx {z['tx']}, dropped {z['dropped']} (policy {z['policy_drops']}); unaccounted {lost} "
          f"(in flight between the counters' readings); dataplane at generation {z['generation']}")


if __name__ == "__main__":
    main()
