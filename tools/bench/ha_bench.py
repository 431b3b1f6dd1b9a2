#!/usr/bin/env python3
"""High-availability figures of the policy store in etcd (docs/ha.md):

- failover: two control planes on a 3-member etcd cluster (loopback, data
  in a temporary directory) and two dataplanes (net_null ports) with a
  session to each. kill -9 the leader, then time until the standby's status
  says it leads, and until every dataplane has acknowledged a generation
  from it: the new leader pushes the current generation again, under its
  term, to dataplanes that run it under an older one (at their next Hello,
  within a second). That moment is read from each dataplane's telemetry
  (/bulkhead/control leader_term above the killed leader's term), polled
  every 10 ms: a dataplane raises it just before it sends the Ack, whereas
  the leader's status reports each dataplane's term from its Hellos, a
  second apart, and acknowledgements in whole seconds. Then one apply to the
  new leader, enforced by both dataplanes, and the killed control plane is
  started again as the next standby.
- one-rule apply: the wall time of `bulkhead apply --wait 0` of a one-rule
  policy whose rule changes each time, alternating between a control plane
  on the etcd store (the same cluster) and one on a file store, in the same
  run. It includes the CLI's start and the control plane's compile and
  analysis, which both stores share.

  tools/bench/ha_bench.py [--kills 20] [--applies 200] [--lease-ttl 2]

At the end the etcd store's history must number every stored generation
once, in order (exit 1 otherwise).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "common"))
sys.path.insert(0, os.path.join(TOP, "tools", "lab"))
from etcd_cluster import EtcdCluster  # noqa: E402
from free_ports import free_ports  # noqa: E402
import procs  # noqa: E402
import telemetry  # noqa: E402

BUILD = os.environ.get("BULKHEAD_BUILD_DIR", os.path.join(TOP, "build"))
CLI = os.path.join(BUILD, "tools", "cli", "bulkhead")
CP = os.path.join(BUILD, "controlplane", "bulkhead-controlplane")
DP = os.path.join(BUILD, "dataplane", "bulkhead-dataplane")
DATAPLANES = ("dp1", "dp2")


def pct(v, q):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


class ControlPlane:
    def __init__(self, work, name, store, extra=()):
        self.work, self.name, self.store, self.extra = work, name, store, list(extra)
        self.sock = f"ipc://{work}/{name}.sock"
        self.port = free_ports(1)[0]
        self.proc = None
        self.start()

    def start(self):
        log = open(os.path.join(self.work, self.name + ".log"), "a")
        keys = sum([["--dataplane-key", d + ".pub"] for d in DATAPLANES], [])
        self.proc = subprocess.Popen([CP, "--store", self.store, *self.extra, "--key", "cp.key", *keys, "--listen",
                                      f"tcp://127.0.0.1:{self.port}", "--cli", self.sock],
                                     cwd=self.work, stdout=log, stderr=log)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def apply(self, path, message, wait=0):
        """The stored generation, or None when refused; with `wait`, None
        also when not every dataplane enforced it within that many seconds."""
        r = subprocess.run([CLI, "apply", path, "-m", message, "--wait", str(wait), "--json", "--controlplane",
                            self.sock], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if r.returncode not in ((0,) if wait else (0, 1)):  # 1: stored, not yet enforced
            return None
        return int(json.loads(r.stdout)["generation"])

    def status(self):
        r = subprocess.run([CLI, "status", "--json", "--controlplane", self.sock], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {}

    def leads(self):
        s = self.status()
        return bool(s) and not s.get("standby", False) and s.get("store", "").startswith("etcd://")

    def history(self):
        r = subprocess.run([CLI, "history", "--json", "--controlplane", self.sock], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, check=True)
        return [(int(h["number"]), h["message"]) for h in json.loads(r.stdout).get("history", [])]


class Dataplane:
    """A dataplane on net_null ports with a session to each control plane."""

    def __init__(self, work, name, controlplanes):
        self.prefix = f"bhhab{os.getpid()}{name}"
        state = os.path.join(work, "state-" + name)
        os.mkdir(state)
        log = open(os.path.join(work, name + ".log"), "w")
        endpoints = ",".join(f"tcp://127.0.0.1:{c.port}" for c in controlplanes)
        # No packets: the worker sleeps between polls, leaving the cores to
        # the control planes and etcd.
        self.proc = subprocess.Popen(
            [DP, "--no-huge", "-m", "256", "--no-pci", "-l", "0,1", "--file-prefix", self.prefix,
             "--vdev=net_null0,no-rx=1", "--vdev=net_null1,no-rx=1", "--", "--controlplane", endpoints,
             "--controlplane-key", "cp.pub", "--key", name + ".key", "--id", name, "--state-dir", state,
             "--mbufs", "2048", "--idle-sleep", "1000"], cwd=work, stdout=log, stderr=log)

    def term(self):
        """The highest leader term it accepted a push under (0 when it does not answer)."""
        try:
            return int(telemetry.query(self.prefix, "/bulkhead/control")["/bulkhead/control"]["leader_term"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0


def wait_for(cond, seconds=30, every=0.02):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(every)
    return False


def policy(work, port):
    path = os.path.join(work, f"p{port}.yaml")
    with open(path, "w") as f:
        f.write(f"version: 1\nrules:\n  - {{ id: a, proto: tcp, ports: [{port}], action: allow }}\n")
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--applies", type=int, default=200)
    ap.add_argument("--lease-ttl", type=int, default=2)
    a = ap.parse_args()
    print("load average at the start: %.1f %.1f %.1f" % os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="bh-ha-bench-") as work:
        for k in ("cp",) + DATAPLANES:
            subprocess.run([CLI, "keys", "generate", k], cwd=work, check=True, stdout=subprocess.DEVNULL)
        files = [policy(work, 1000 + i) for i in range(2)]
        cps, dps = [], []
        os.mkdir(os.path.join(work, "etcd"))
        with EtcdCluster(os.path.join(work, "etcd")) as etcd:
            store = "etcd://" + ",".join(e[len("http://"):] for e in etcd.endpoints) + "/bench"
            try:
                ha = [ControlPlane(work, n, store, ["--name", n, "--lease-ttl", str(a.lease_ttl)]) for n in "ab"]
                cps += ha
                cps.append(ControlPlane(work, "file", os.path.join(work, "store")))
                if not wait_for(lambda: any(c.leads() for c in ha)):
                    sys.exit("no control plane was elected")
                if not wait_for(lambda: os.path.exists(cps[2].sock[len("ipc://"):])):
                    sys.exit("the file-store control plane did not start")
                dps += [Dataplane(work, d, ha) for d in DATAPLANES]

                # One-rule applies, alternating the stores.
                times = {"etcd": [], "file": []}
                stored = []
                for i in range(a.applies):
                    leader = next(c for c in ha if c.leads())
                    for which, cp in (("etcd", leader), ("file", cps[2])):
                        t = time.monotonic()
                        g = cp.apply(files[i % 2], f"apply {i}")
                        times[which].append((time.monotonic() - t) * 1000)
                        if g is None:
                            sys.exit(f"apply {i} refused by the {which} store")
                        if which == "etcd":
                            stored.append((g, f"apply {i}"))
                for which, v in times.items():
                    print(f"one-rule apply, {which} store: p50 {pct(v, 50):.1f} ms, p99 {pct(v, 99):.1f} ms, "
                          f"max {max(v):.1f} ms ({len(v)} applies)")

                # Failover: kill -9 the leader; time until the standby leads,
                # and until every dataplane acknowledged a generation from it.
                if not stored:
                    leader = next(c for c in ha if c.leads())
                    stored.append((leader.apply(files[0], "first", wait=30), "first"))
                leads, acked = [], []
                for k in range(a.kills):
                    leader = next((c for c in ha if c.leads()), None)
                    if leader is None:
                        sys.exit("no leader before kill %d" % k)
                    standby = ha[1] if leader is ha[0] else ha[0]
                    if not wait_for(lambda: standby.status().get("standby", False)):
                        sys.exit("the standby did not come up")
                    old = int(leader.status().get("leader_term", 0))
                    if not wait_for(lambda: all(d.term() == old for d in dps)):
                        sys.exit(f"the dataplanes do not run term {old} before kill {k}")
                    leader.kill()
                    t = time.monotonic()
                    led = None
                    while time.monotonic() - t < 10 * a.lease_ttl:
                        if led is None and standby.leads():
                            led = time.monotonic()
                        if all(d.term() > old for d in dps):
                            break
                        time.sleep(0.01)
                    else:
                        sys.exit(f"not every dataplane followed a new leader {10 * a.lease_ttl} s after kill {k}")
                    acked.append((time.monotonic() - t) * 1000)
                    if led is None and not wait_for(standby.leads):
                        sys.exit(f"the dataplanes follow a new term but {standby.name} does not lead")
                    leads.append(((led or time.monotonic()) - t) * 1000)
                    msg = f"after kill {k}"
                    g = standby.apply(files[k % 2], msg, wait=30)
                    if g is None:
                        sys.exit(f"the new leader's apply after kill {k} was refused or not enforced by every dataplane")
                    stored.append((g, msg))
                    leader.start()
                for what, v in (("kill -9 of the leader -> the standby leads (its status)", leads),
                                ("kill -9 of the leader -> every dataplane acknowledged a generation from the new "
                                 "leader", acked),
                                ("the standby leads -> every dataplane acknowledged",
                                 [x - y for x, y in zip(acked, leads)])):
                    print(f"failover, {what}, lease {a.lease_ttl} s: p50 {pct(v, 50):.0f} ms, "
                          f"p99 {pct(v, 99):.0f} ms, min {min(v):.0f} ms, max {max(v):.0f} ms ({len(v)} kills)")
                leader = next(c for c in ha if c.leads())
                history = leader.history()
                numbers = [n for n, _ in history]
                if numbers != list(range(1, len(history) + 1)) or history != sorted(stored):
                    sys.exit("history is not every stored generation once, in order")
                print(f"history: generations 1..{len(history)}, each stored once, in order")
                print("load average at the end: %.1f %.1f %.1f" % os.getloadavg())
            finally:
                procs.stop(*[c.proc for c in cps], *[d.proc for d in dps])


if __name__ == "__main__":
    main()
