#!/usr/bin/env python3
"""Established traffic admitted by names beside the same traffic admitted by
addresses, on the same virtual devices in the same run (docs/egress.md,
docs/benchmarks.md).

  names_ratio.py [--flows N] [--answers N] [--tls N] [--runs K] [--warmup S] [--window S]

N UDP flows (gen_pcap.py --flows) are read from net_pcap0 (infinite_rx:
after the first round every packet is of an established connection) with
net_null0 beside it. Two policies alternate within each run:

  addresses  one rule allows the flows by their destination's address;
  names      the rule allows them by name (`to: [fqdn: svc.bench.example]`),
             each flow's (client, server) bound to that name by one of N
             bindings restored from the state directory before the first
             packet, with SNI inspection on (an sni rule on TCP 443, QUIC on
             UDP 443) for traffic these flows are not.

Each run checks that the names variant admitted the flows through the
bindings (live bindings, connections opened, nothing denied) before its
rate counts. Prints each median rate, the cycles per packet and the ratio
names / addresses: what established packets pay for names (goal >= 0.95),
as the median of each run's own ratio (its two variants back to back), with
the runs' range and the ratio of the medians beside it; and the same on
the worker thread's own CPU time (/proc/PID/task/TID/schedstat), which a
neighbour holding the core does not stretch.

Then DNS answers (gen_pcap.py --dns): N clients each asking a resolver
for one of 1,000 names and answered with an address of its own, replayed
(after the first round the queries come on established connections and
each answer matches its query again). Two policies alternate: `plain`
allows the clients' DNS and has no names (nothing is read); `snooped`
adds `dns: trusted` and an fqdn rule mentioning the names, so every answer
is read, matched to its query and binds (or refreshes) its address.
Prints answers read and bound per second on the one worker and the
ratio to the plain rate.

Last, new TLS connections (gen_pcap.py --tcp --sni): N connections, each
a handshake and a ClientHello, over the first pass of the capture. `plain`
allows them by address; `sni` by a rule with `sni:`, so each is admitted
provisionally, its ClientHello read and the rule decided on the name.
Prints connections per second (from 10% to 90% of them opened) and the
ratio.
"""
import argparse
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import throughput  # noqa: E402

NAME = b"svc.bench.example"


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, wire, payload):
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def bindings_file(path, flows):
    """proto/names.proto NameBindings: each flow's client (10.1.x.y, as gen_pcap.py numbers them) told that its
    server (10.2.0.z) is svc.bench.example, for a day from now."""
    now = int(time.time())
    body = bytearray(field(1, 0, now))
    for i in range(flows):
        client = struct.pack("!I", (10 << 24) | (1 << 16) | (i & 0xFFFF))
        server = struct.pack("!I", (10 << 24) | (2 << 16) | ((i >> 16) & 0xFF))
        b = field(2, 2, client) + field(3, 2, server) + field(4, 2, NAME) + field(5, 0, now) + field(6, 0, now + 86400)
        body += field(2, 2, b)
    with open(path, "wb") as f:
        f.write(body)


def measure_variants(dp, a, pcap, policies, want_bindings, work):
    """Median rates and cycles of each policy on `pcap`, alternating within each run; refuses runs that
    dropped packets, opened fewer connections than the capture has, or (for the variants in `want_bindings`)
    hold fewer live bindings than asked. Returns the rates, the cycles and the last run's telemetry."""
    rates = {k: [] for k in policies}
    cycles = {k: [] for k in policies}
    on_cpu = {k: [] for k in policies}
    last = {}
    mbufs = 4 * max(a.flows, a.answers) + 65536
    for run in range(a.runs):
        # Alternating, each variant first in every other run.
        for name, text in (list(policies.items()) if run % 2 == 0 else list(policies.items())[::-1]):
            policy = os.path.join(work, name + ".yaml")
            with open(policy, "w") as f:
                f.write(text)
            state = os.path.join(work, f"state-{name}-{run}")
            os.mkdir(state)
            if name in want_bindings:
                bindings_file(os.path.join(state, "bindings.pb"), want_bindings[name])
            seen = {}

            def observe(prefix, seen=seen):
                s = throughput.stats(prefix)
                seen["stats"] = s
                seen["names"] = throughput.telemetry.query(prefix, "/bulkhead/names")["/bulkhead/names"]
                seen["drops"] = throughput.telemetry.query(prefix, "/bulkhead/drops")["/bulkhead/drops"]
                return s

            pre = f"bhnames{os.getpid()}_{name}_{run}"
            cmd = [dp, *throughput.eal(pre, pcap, a.lcores), "--", "--policy", policy, "--state-dir", state,
                   "--mbufs", str(mbufs), "--mbuf-size", "512"]
            log = os.path.join(work, f"{name}-{run}.log")
            pps, cpp = throughput.measure(cmd, pre, a.warmup, a.window, observe, log, on_cpu[name])
            denied = {k: v for k, v in seen["drops"].items() if isinstance(v, int) and v}
            if denied:
                with open(log, errors="replace") as f:
                    sys.stderr.write("".join(f.readlines()[-40:]))
                sys.exit(f"{name}: packets dropped ({denied}); want none (the dataplane's last lines above)")
            if name in want_bindings and seen["names"].get("bindings_live", 0) < want_bindings[name]:
                sys.exit(f"{name}: {seen['names'].get('bindings_live')} bindings live, want {want_bindings[name]}")
            rates[name].append(pps)
            cycles[name].append(cpp or 0)
            last[name] = seen
            print(f"run {run + 1} {name:9} {pps / 1e6:.2f} Mpps, {cpp or 0:.0f} cycles/packet, "
                  f"{on_cpu[name][-1] / 1e6:.2f} Mpps of worker CPU time", flush=True)
    return rates, cycles, last, on_cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, default=10000)
    ap.add_argument("--answers", type=int, default=10000, help="DNS queries and answers in the DNS capture")
    ap.add_argument("--tls", type=int, default=200000, help="TLS connections in the ClientHello capture")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--window", type=float, default=5)
    ap.add_argument("--lcores", default="0,1")
    ap.add_argument("--port", type=int, default=8000, help="the flows' UDP destination port")
    a = ap.parse_args()
    dp = os.path.join(throughput.BUILD, "dataplane", "bulkhead-dataplane")
    work = tempfile.mkdtemp(prefix="bh_names_bench_")
    try:
        pcap = os.path.join(work, "flows.pcap")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_pcap.py"), "--flows", str(a.flows), "--dport",
                        str(a.port), pcap],
                       check=True, stdout=subprocess.DEVNULL)
        port = a.port
        common = "version: 1\ndefaults: { action: deny, mode: enforce }\n"
        policies = {
            "addresses": common + "rules:\n"
            f"  - {{ id: flows, from: 10.1.0.0/16, to: 10.2.0.0/24, proto: udp, ports: [{port}], action: allow }}\n",
            "names": common + "dns: { trusted: [10.255.0.53], max_addresses_per_name: 65536 }\n"
            "tls: { ports: [443], quic_ports: [443] }\n"
            "rules:\n"
            f"  - {{ id: flows, from: 10.1.0.0/16, to: [fqdn: svc.bench.example], proto: udp, ports: [{port}], "
            "action: allow }\n"
            "  - { id: web, from: 10.1.0.0/16, to: [internet, sni: \"*.bench.example\"], proto: tcp, ports: [443], "
            "action: allow }\n",
        }
        rates, cycles, seen, on_cpu = measure_variants(dp, a, pcap, policies, {"names": a.flows}, work)
        live = seen["names"]["names"].get("bindings_live", 0)
        table = seen["names"]["names"].get("table_bytes", 0)

        dns_pcap = os.path.join(work, "dns.pcap")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_pcap.py"), "--dns", str(a.answers), dns_pcap],
                       check=True, stdout=subprocess.DEVNULL)
        dns_rule = "  - { id: dns, from: 10.1.0.0/16, to: 10.3.0.53, proto: udp, ports: [53], action: allow }\n"
        dns_policies = {
            "plain": common + "rules:\n" + dns_rule,
            "snooped": common + f"dns: {{ trusted: [10.3.0.53], max_bindings: {4 * a.answers} }}\nrules:\n" +
            dns_rule + "  - { id: web, from: 10.1.0.0/16, to: [fqdn: \"*.bench.example\"], proto: tcp, "
            "ports: [443], action: allow }\n",
        }
        dns_rates, dns_cycles, dns_seen, _ = measure_variants(dp, a, dns_pcap, dns_policies, {}, work)
        answered = dns_seen["snooped"]["names"]

        tls_pcap = os.path.join(work, "tls.pcap")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_pcap.py"), "--flows", str(a.tls), "--tcp", "--sni",
                        "api.bench.example", tls_pcap], check=True, stdout=subprocess.DEVNULL)
        tls_policies = {
            "plain": common + "rules:\n  - { id: web, from: 10.1.0.0/16, to: 10.2.0.0/24, proto: tcp, ports: [443], "
            "action: allow }\n",
            "sni": common + "rules:\n  - { id: web, from: 10.1.0.0/16, to: [10.2.0.0/24, sni: api.bench.example], "
            "proto: tcp, ports: [443], action: allow }\n",
        }
        tls_rates = {k: [] for k in tls_policies}
        for run in range(a.runs):
            for name, text in (list(tls_policies.items()) if run % 2 == 0 else list(tls_policies.items())[::-1]):
                policy = os.path.join(work, f"tls-{name}.yaml")
                with open(policy, "w") as f:
                    f.write(text)
                pre = f"bhtls{os.getpid()}_{name}_{run}"
                cmd = [dp, *throughput.eal(pre, tls_pcap, a.lcores), "--", "--policy", policy, "--mbufs",
                       str(6 * a.tls + 65536), "--mbuf-size", "512", "--conn-max", str(2 * a.tls)]
                drops = {}

                def dropped(prefix, drops=drops):
                    drops.update(throughput.telemetry.query(prefix, "/bulkhead/drops")["/bulkhead/drops"])

                conns, _, _ = throughput.first_pass(cmd, pre, a.tls, at_end=dropped)
                cut = sum(v for v in drops.values() if isinstance(v, int))
                if cut:
                    sys.exit(f"tls {name}: {cut} packets dropped; every connection should pass")
                tls_rates[name].append(conns)
                print(f"run {run + 1} tls {name:5} {conns / 1e3:.0f} K connections/s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name in policies:
        print(f"{name:9} {statistics.median(rates[name]) / 1e6:.2f} Mpps, "
              f"{statistics.median(cycles[name]):.0f} cycles/packet")
    # Each run's two variants ran back to back: the median of the runs' own
    # ratios is less moved by a noisy neighbour than the ratio of medians.
    paired = [n / d for n, d in zip(rates["names"], rates["addresses"])]
    print(f"ratio names/addresses {statistics.median(paired):.2f} (runs {min(paired):.2f}..{max(paired):.2f}; "
          f"of medians {statistics.median(rates['names']) / statistics.median(rates['addresses']):.2f}; "
          f"{live} live bindings; the table takes {table / 1e6:.1f} MB)")
    # The same on the worker's own CPU time (/proc schedstat): what a core
    # of its own would forward, whatever else ran on this one.
    cpu_paired = [n / d for n, d in zip(on_cpu["names"], on_cpu["addresses"])]
    print(f"on worker CPU time: addresses {statistics.median(on_cpu['addresses']) / 1e6:.2f} Mpps, names "
          f"{statistics.median(on_cpu['names']) / 1e6:.2f} Mpps, ratio {statistics.median(cpu_paired):.2f} "
          f"(runs {min(cpu_paired):.2f}..{max(cpu_paired):.2f})")
    for name in dns_policies:
        print(f"dns {name:7} {statistics.median(dns_rates[name]) / 2e6:.2f} M answers/s, "
              f"{statistics.median(dns_cycles[name]) * 2:.0f} cycles per query and answer")
    print(f"ratio snooped/plain {statistics.median(dns_rates['snooped']) / statistics.median(dns_rates['plain']):.2f} "
          f"({answered.get('answers_bound', 0)} answers bound, {answered.get('bindings_live', 0)} bindings live, "
          f"{answered.get('ignored_unsolicited', 0)} unsolicited)")
    for name in tls_policies:
        print(f"tls {name:7} {statistics.median(tls_rates[name]) / 1e3:.0f} K new connections/s")
    print(f"ratio sni/plain {statistics.median(tls_rates['sni']) / statistics.median(tls_rates['plain']):.2f}")

if __name__ == "__main__":
    main()
