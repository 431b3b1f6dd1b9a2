#!/usr/bin/env python3
"""High-availability figures of the policy store in etcd (docs/ha.md):

- failover: two control planes on a 3-member etcd cluster (loopback, data
  in a temporary directory); kill -9 the leader, then time until the
  standby has stored a generation (`bulkhead apply` to it, retried every
  20 ms, succeeds). The killed one is started again as the next standby.
  No dataplane takes part: this is kill -> the new leader applies.
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
from etcd_cluster import EtcdCluster  # noqa: E402
from free_ports import free_ports  # noqa: E402

BUILD = os.environ.get("BULKHEAD_BUILD_DIR", os.path.join(TOP, "build"))
CLI = os.path.join(BUILD, "tools", "cli", "bulkhead")
CP = os.path.join(BUILD, "controlplane", "bulkhead-controlplane")


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
        self.proc = subprocess.Popen([CP, "--store", self.store, *self.extra, "--key", "cp.key", "--dataplane-key",
                                      "dp1.pub", "--listen", f"tcp://127.0.0.1:{self.port}", "--cli", self.sock],
                                     cwd=self.work, stdout=log, stderr=log)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def apply(self, path, message):
        """The stored generation, or None when refused."""
        r = subprocess.run([CLI, "apply", path, "-m", message, "--wait", "0", "--json", "--controlplane", self.sock],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if r.returncode not in (0, 1):  # 1: stored, not enforced by the (absent) dataplane
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


def wait_for(cond, seconds=30):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
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
    with tempfile.TemporaryDirectory(prefix="bh-ha-bench-") as work:
        for k in ("cp", "dp1"):
            subprocess.run([CLI, "keys", "generate", k], cwd=work, check=True, stdout=subprocess.DEVNULL)
        files = [policy(work, 1000 + i) for i in range(2)]
        cps = []
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

                # Failover: kill -9 the leader; time until the standby stores.
                took = []
                for k in range(a.kills):
                    leader = next((c for c in ha if c.leads()), None)
                    if leader is None:
                        sys.exit("no leader before kill %d" % k)
                    standby = ha[1] if leader is ha[0] else ha[0]
                    if not wait_for(lambda: standby.status().get("standby", False)):
                        sys.exit("the standby did not come up")
                    leader.kill()
                    t = time.monotonic()
                    msg = f"after kill {k}"
                    while True:
                        g = standby.apply(files[k % 2], msg)
                        if g is not None:
                            break
                        if time.monotonic() - t > 10 * a.lease_ttl:
                            sys.exit(f"no new leader {10 * a.lease_ttl} s after kill {k}")
                        time.sleep(0.02)
                    took.append((time.monotonic() - t) * 1000)
                    stored.append((g, msg))
                    leader.start()
                print(f"failover, kill -9 of the leader -> the new leader stored a generation, lease {a.lease_ttl} s: "
                      f"p50 {pct(took, 50):.0f} ms, p99 {pct(took, 99):.0f} ms, min {min(took):.0f} ms, "
                      f"max {max(took):.0f} ms ({len(took)} kills)")
                leader = next(c for c in ha if c.leads())
                history = leader.history()
                numbers = [n for n, _ in history]
                if numbers != list(range(1, len(history) + 1)) or history != sorted(stored):
                    sys.exit("history is not every stored generation once, in order")
                print(f"history: generations 1..{len(history)}, each stored once, in order")
            finally:
                for c in cps:
                    if c.proc.poll() is None:
                        c.proc.terminate()
                        c.proc.wait()


if __name__ == "__main__":
    main()
