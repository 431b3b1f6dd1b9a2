#!/usr/bin/env python3
"""Judge the learner on the enterprise traffic model: learn on period 1,
evaluate on period 2.

  evaluate.py [--bulkhead PATH] [--work DIR] [--seed N] [--flows N] [--min-flows N]

Generates the two periods (enterprise.py), proposes a policy from period 1
with the inventory and without it (inferred segments), and reports for each:

  false-deny      legitimate period-2 connections the learned policy would
                  block, as a share of all legitimate period-2 connections
                  (judged by `bulkhead policy eval`, the dataplane's
                  classifier)
  scans blocked   period-2 scan connections it would block
  over-permission (destination host, protocol, port) pairs the policy
                  allows that no legitimate connection of either period
                  used, as a share of all the pairs it allows, over the
                  model's hosts and the ports any rule names
  widest rule     any-port rules (must be none) and rules whose side is
                  `internet` (only where many public clients came)

Exit status 1 when false-deny is 0.5% or more, or a rule allows any port.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import enterprise  # noqa: E402


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def verdicts(bulkhead, policy, tuples, work):
    path = os.path.join(work, "tuples.txt")
    with open(path, "w") as f:
        for proto, src, dst, port in tuples:
            f.write("%s %s 45000 %s %d\n" % ("tcp" if proto == 6 else "udp", src, dst, port))
    out = run([bulkhead, "policy", "eval", policy, "--tuples", path, "--json"]).stdout.splitlines()
    return [json.loads(line)["verdict"] == "allow" for line in out]


def judge(bulkhead, policy, truth, work):
    p1, p2 = truth["periods"]
    legit2 = [f for f in p2["flows"] if f["legit"]]
    scans2 = [f for f in p2["flows"] if not f["legit"]]
    allowed = verdicts(bulkhead, policy, [(f["proto"], f["src"], f["dst"], f["dport"]) for f in legit2 + scans2], work)
    denied_legit = [f for f, ok in zip(legit2, allowed[:len(legit2)]) if not ok]
    scans_blocked = sum(1 for ok in allowed[len(legit2):] if not ok)

    text = open(policy).read()
    ports = sorted({int(p) for m in re.finditer(r"ports: \[([^\]]*)\]", text)
                    for p in re.findall(r"\d+", m.group(1))})
    hosts = [h for tier in enterprise.TIERS.values() for h in tier] + [enterprise.EXTERNAL_API]
    sources = hosts + ["198.51.100.7", "192.0.2.99", "203.0.113.77"]
    space = [(proto, src, dst, port) for proto in (6, 17) for dst in hosts for port in ports for src in sources]
    ok = verdicts(bulkhead, policy, space, work)
    allowed_pairs = {(proto, dst, port) for (proto, src, dst, port), v in zip(space, ok) if v}
    used = {(f["proto"], f["dst"], f["dport"]) for p in (p1, p2) for f in p["flows"] if f["legit"]}
    unused = allowed_pairs - used
    any_port = [line.strip() for line in text.splitlines()
                if line.strip().startswith("- {") and ("proto: tcp" in line or "proto: udp" in line) and "ports:" not in line]
    internet = [re.search(r"id: ([^,]+)", line).group(1) for line in text.splitlines() if "internet" in line and "- {" in line]
    return {
        "rules": text.count("\n  - {"),
        "legit_period2": len(legit2),
        "false_deny": len(denied_legit),
        "false_deny_rate": len(denied_legit) / max(1, len(legit2)),
        "false_deny_kinds": sorted({f["kind"] for f in denied_legit}),
        "scans_period2": len(scans2),
        "scans_blocked": scans_blocked,
        "allowed_pairs": len(allowed_pairs),
        "unused_pairs": len(unused),
        "over_permission": len(unused) / max(1, len(allowed_pairs)),
        "any_port_rules": any_port,
        "internet_rules": internet,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bulkhead", default=os.path.join(HERE, "..", "..", "build", "tools", "cli", "bulkhead"))
    ap.add_argument("--work")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--flows", type=int, default=10000)
    ap.add_argument("--min-flows", type=int, default=3)
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="bh-learn-eval-")
    os.makedirs(work, exist_ok=True)
    run([sys.executable, os.path.join(HERE, "enterprise.py"), "--out", work, "--seed", str(a.seed),
         "--flows", str(a.flows)])
    truth = json.load(open(os.path.join(work, "truth.json")))
    failed = False
    for label, extra in (("inventory", ["--inventory", os.path.join(work, "inventory.yaml")]), ("inferred", [])):
        policy = os.path.join(work, "learned-%s.yaml" % label)
        run([a.bulkhead, "learn", "propose", "--pcap", os.path.join(work, "period1.pcap"), "--min-flows",
             str(a.min_flows), "-o", policy, "--report", policy + ".report"] + extra)
        r = judge(a.bulkhead, policy, truth, work)
        print("%-9s rules %3d  false-deny %d/%d = %.3f%% (%s)  scans blocked %d/%d  over-permission %d/%d = %.1f%%  "
              "any-port rules %d  internet rules %s" % (
                  label, r["rules"], r["false_deny"], r["legit_period2"], 100 * r["false_deny_rate"],
                  ", ".join(r["false_deny_kinds"]) or "-", r["scans_blocked"], r["scans_period2"], r["unused_pairs"],
                  r["allowed_pairs"], 100 * r["over_permission"], len(r["any_port_rules"]),
                  ", ".join(r["internet_rules"]) or "-"))
        failed |= r["false_deny_rate"] >= 0.005 or bool(r["any_port_rules"])
    print("work directory: %s" % work)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
