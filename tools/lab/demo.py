#!/usr/bin/env python3
"""The lab story told by tools/demo (see docs/lab.md)."""
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
LAB = os.path.join(HERE, "lab.sh")
NAME = "demo"
POLICY = os.path.join(TOP, "docs", "examples", "lab-policy.yaml")

sys.path.insert(0, HERE)
import telemetry  # noqa: E402


def lab(*args, check=True):
    return subprocess.run([LAB, *args], check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rules():
    reply = telemetry.query("bhl" + NAME, "/bulkhead/rules")["/bulkhead/rules"]
    return {i: (p, c) for i, p, c in zip(reply["ids"], reply["packets"], reply["connections"])}


def deciding_rule(before, after):
    # The rule that admitted a new connection, else the one that counted the
    # packets (a deny rule, or "-": the default action).
    new_conn = [i for i in after if after[i][1] > before.get(i, (0, 0))[1]]
    if new_conn:
        return new_conn[0]
    grew = [i for i in after if after[i][0] > before.get(i, (0, 0))[0]]
    return grew[0] if grew else None


STORY = [
    ("A web server fetches a page from the app tier", "http", "10.0.1.10", "10.0.2.20", 8080, True),
    ("The web server talks to the database", "tcp", "10.0.1.10", "10.0.2.20", 5432, True),
    ("The web server tries ssh on the app host", "tcp", "10.0.1.10", "10.0.2.20", 22, False),
    ("An admin on the corp network uses ssh on the app host", "tcp", "192.168.1.10", "10.0.2.20", 22, True),
    ("The web server calls an HTTPS API on the internet", "http", "10.0.1.10", "203.0.113.10", 443, True),
    ("A corp laptop tries the same internet host", "http", "192.168.1.10", "203.0.113.10", 443, False),
    ("The app server tries to open a connection back to the web server", "tcp", "10.0.2.20", "10.0.1.10", 41000, False),
    ("The web server asks the app tier's DNS over UDP", "udp", "10.0.1.10", "10.0.2.20", 53, True),
    ("The same page over IPv6", "http", "fd00:1::10", "fd00:2::20", 8080, True),
]


def main():
    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    ok = True
    try:
        print("Bulkhead demo: a web tier, an app/database tier, a corp network and the internet,")
        print("joined through bulkhead-dataplane (two af_packet ports, one worker).\n")
        lab("up", NAME)
        lab("dp-start", NAME, POLICY)
        print(f"Policy: {os.path.relpath(POLICY, TOP)} (default deny)\n")
        for text, kind, src, dst, port, expect in STORY:
            before = rules()
            res = lab("probe", NAME, kind, src, dst, str(port), check=False)
            passed = res.stdout.strip().endswith("ok")
            rule = deciding_rule(before, rules())
            who = "the default action (deny)" if rule == "-" else f"rule {rule}" if rule else "no rule (not counted)"
            verdict = "PASSED " if passed else "BLOCKED"
            mark = "" if passed == expect else "   <-- unexpected"
            ok = ok and passed == expect
            print(f"  {verdict} {text}\n          {kind} {src} -> {dst}:{port}, decided by {who}{mark}")
        stats = telemetry.query("bhl" + NAME, "/bulkhead/stats")["/bulkhead/stats"]
        drops = telemetry.query("bhl" + NAME, "/bulkhead/drops")["/bulkhead/drops"]
        print("\nCounters from the dataplane's telemetry:")
        print(f"  packets received {stats['rx_packets']}, forwarded {stats['tx_packets']}, "
              f"connections admitted {stats['conn_new']}")
        print(f"  dropped by policy {drops['policy_deny']}, invalid TCP {drops['tcp_invalid']}")
        print("\nRule log lines (rules with log: true):")
        with open(f"/run/bulkhead-lab/{NAME}/dp.log") as f:
            for line in f:
                if line.startswith("bulkhead: rule ") and not line.startswith("bulkhead: rule set"):
                    print("  " + line.strip())
        print("\nEverything passed as the policy says." if ok else "\nSome results differ from the policy!")
    except KeyboardInterrupt:
        ok = False
    finally:
        lab("down", NAME, check=False)
        print("Lab removed.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
