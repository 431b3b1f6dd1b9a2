#!/usr/bin/env python3
"""The lab story told by tools/demo (see docs/lab.md): the example policy
written by hand, then the same lab learned from its traffic."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
LAB = os.path.join(HERE, "lab.sh")
NAME = "demo"
POLICY = os.path.join(TOP, "docs", "examples", "lab-policy.yaml")

BUILD = os.environ.get("BULKHEAD_BUILD_DIR", os.path.join(TOP, "build"))
CLI = os.path.join(BUILD, "tools", "cli", "bulkhead")
CONTROLPLANE = os.path.join(BUILD, "controlplane", "bulkhead-controlplane")

sys.path.insert(0, HERE)
import procs  # noqa: E402
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


# What the workloads do while the dataplane learns.
WORKLOAD = [
    ("http", "10.0.1.10", "10.0.2.20", 8080, 4),
    ("tcp", "10.0.1.10", "10.0.2.20", 5432, 4),
    ("udp", "10.0.1.10", "10.0.2.20", 53, 4),
    ("tcp", "192.168.1.10", "10.0.2.20", 22, 3),
    ("http", "10.0.1.10", "203.0.113.10", 443, 3),
]
# The lab's inventory: its segments, without rules.
INVENTORY = """segments:
  web:  [10.0.1.0/24, "fd00:1::/64"]
  app:  [10.0.2.0/24, "fd00:2::/64"]
  corp: [192.168.0.0/16]
"""
AFTER = [
    ("The web server fetches a page from the app tier (learned)", "http", "10.0.1.10", "10.0.2.20", 8080, True),
    ("The admin uses ssh on the app host (learned)", "tcp", "192.168.1.10", "10.0.2.20", 22, True),
    ("The web server calls the internet API (learned)", "http", "10.0.1.10", "203.0.113.10", 443, True),
    ("The web server tries ssh on the app host (never seen)", "tcp", "10.0.1.10", "10.0.2.20", 22, False),
    ("A corp laptop tries the internet host (never seen)", "http", "192.168.1.10", "203.0.113.10", 443, False),
]


def free_port_pair():
    """Two consecutive loopback TCP ports nothing listens on."""
    import socket
    for _ in range(100):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback ports")


def cli(*args, env, check=True):
    return subprocess.run([CLI, *args], check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env)


def learning_story(work):
    """The same lab, learned instead of written: learn mode, flows, proposal, enforcement."""
    ok = True
    env = dict(os.environ, BULKHEAD_CONTROLPLANE=f"ipc://{work}/cli.sock")
    for k in ("cp", "dp"):
        subprocess.run([CLI, "keys", "generate", k], cwd=work, check=True, stdout=subprocess.DEVNULL)
    port = free_port_pair()
    cp = subprocess.Popen([CONTROLPLANE, "--store", f"{work}/store", "--key", f"{work}/cp.key",
                           "--dataplane-key", f"{work}/dp.pub", "--listen", f"tcp://127.0.0.1:{port}",
                           "--flow-listen", f"tcp://127.0.0.1:{port + 1}", "--cli", env["BULKHEAD_CONTROLPLANE"]],
                          stdout=subprocess.DEVNULL, stderr=open(f"{work}/cp.log", "w"))
    try:
        learn = f"{work}/learn.yaml"
        with open(learn, "w") as f:
            f.write("version: 1\ndefaults: { action: deny, mode: learn }\n")
        for _ in range(50):
            if cli("history", env=env, check=False).returncode == 0:
                break
            time.sleep(0.1)
        # Stored now, enforced once the dataplane below connects (exit 1:
        # not yet enforced; 2: refused).
        applied = cli("apply", learn, "-m", "learn first", "--wait", "0", env=env, check=False)
        if applied.returncode == 2:
            with open(f"{work}/cp.log") as f:
                raise RuntimeError("the control plane did not take the policy: " + applied.stderr + f.read())
        lab("dp-stop", NAME, check=False)
        lab("dp-start", NAME, learn, "--controlplane", f"tcp://127.0.0.1:{port}", "--controlplane-key",
            f"{work}/cp.pub", "--key", f"{work}/dp.key", "--id", "lab", "--flow-export", f"tcp://127.0.0.1:{port + 1}",
            "--udp-timeout", "1", "--tcp-closed-timeout", "1", "--tcp-fin-timeout", "1", "--sweep-period", "200")
        print("\nLearning instead of writing: the dataplane now runs in learn mode (forwards everything,")
        print("records every connection) and sends its flow records to bulkhead-controlplane.")
        for kind, src, dst, dport, times in WORKLOAD:
            for _ in range(times):
                lab("probe", NAME, kind, src, dst, str(dport), check=False)
        # Every connection's start and end record (ends come when the short
        # lab timeouts expire).
        want = 2 * sum(w[4] for w in WORKLOAD)
        for _ in range(50):
            st = json.loads(cli("status", "--json", env=env, check=False).stdout)
            if int(st.get("flow_store", {}).get("records", 0)) >= want:
                break
            time.sleep(0.2)
        print("Workloads ran; the flow store now holds (bulkhead flows):")
        for line in cli("flows", "--since", "1h", env=env).stdout.splitlines():
            print("  " + line)
        inventory = f"{work}/inventory.yaml"
        with open(inventory, "w") as f:
            f.write(INVENTORY)
        learn_args = ["--since", "1h", "--inventory", inventory, "--min-flows", "3"]
        proposal = cli("learn", "propose", *learn_args, env=env)
        print("\nThe learner's proposal (bulkhead learn propose), rules and their evidence:")
        for line in proposal.stdout.splitlines():
            if line.startswith("  - {"):
                print("  " + line.split(", description")[0].strip() + " }")
        cli("learn", "accept", *learn_args, "-m", "learned in the demo", env=env)
        print("\nAccepted (bulkhead learn accept): generation 2, enforced. The same clients again:")
        for text, kind, src, dst, dport, expect in AFTER:
            res = lab("probe", NAME, kind, src, dst, str(dport), check=False)
            passed = res.stdout.strip().endswith("ok")
            ok = ok and passed == expect
            mark = "" if passed == expect else "   <-- unexpected"
            print(f"  {'PASSED ' if passed else 'BLOCKED'} {text}{mark}")
    finally:
        procs.stop(cp)
    return ok


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
        with open(os.path.join(os.environ.get("BULKHEAD_LAB_RUN", "/run/bulkhead-lab"), NAME, "dp.log")) as f:
            for line in f:
                if line.startswith("bulkhead: rule ") and not line.startswith("bulkhead: rule set"):
                    print("  " + line.strip())
        print("\nEverything passed as the policy says." if ok else "\nSome results differ from the policy!")
        with tempfile.TemporaryDirectory(prefix="bulkhead-demo-") as work:
            learned_ok = learning_story(work)
        print("\nThe learned policy allows what the workloads did and nothing else." if learned_ok
              else "\nSome results differ from the learned policy!")
        ok = ok and learned_ok
    except KeyboardInterrupt:
        ok = False
    finally:
        lab("down", NAME, check=False)
        print("Lab removed.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
