#!/usr/bin/env python3
"""Enterprise traffic model for learning least-privilege network policy.

Generates two consecutive periods of a small datacenter's traffic as pcaps,
so a learner can propose a policy from period 1 and be judged on period 2.

  traffic_model.py --out DIR [--seed N] [--flows N] [--hours H]

  --flows N   connections per period, roughly (default 20000)
  --hours H   virtual length of each period (default 24, at least 3)
  --seed N    the output is deterministic for a given seed (default 1)

Writes into DIR:
  inventory.yaml  a policy-style `segments:` map naming each tier's /24
  period1.pcap    classic pcap, Ethernet, IPv4 only, sorted by time; period 1
  period2.pcap    starts 2026-11-01T00:00:00Z, period 2 where period 1 ends
  truth.json      {"periods": [{"pcap": ..., "flows": [{"src", "dst",
                  "proto", "dport", "kind", "legit"}, ...]}, ...]}: one entry
                  per connection, src being the side that opened it

The model. Every tier is its own /24 in 10.1.0.0/16: web (6 hosts), app (8),
db (3), dns (2), ntp (1), ldap (2), batch (2), backup (1), monitoring (1) and
admins (3 workstations). The only other addresses are the documentation
ranges 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24.

  public clients -> web tcp 443 (most traffic) and 80; the clients are a
                    random pool per period, a few of them heavy users
  web -> app tcp 8080;  app -> db tcp 5432;  app -> 203.0.113.10 tcp 443
  every host     -> dns udp 53 (web, app and db also tcp 53), ntp udp 123
  web, app       -> ldap tcp 389 and 636
  monitoring     -> every server (web, app, db, dns, ntp, ldap, batch) tcp
                    9100, each at a fixed interval (monitoring is about 12%
                    of the connections: every ~15 minutes at the defaults)
  backup         -> every web, app and db server tcp 22, nightly from 01:00
  admins         -> servers tcp 22 at random times
  batch          -> app tcp 8443 hourly, db tcp 5432 nightly from 02:00

Business traffic follows a daily curve (busiest 14:00 UTC, a quarter of that
at 02:00). Volumes are shares of --flows, but each steady (client tier,
server tier, port) gets at least 4 connections a period and the scheduled
ones at least 3, and host pairs are drawn per connection, so period 2 holds
pairs of known tiers that period 1 never showed.

Each period also holds a scan (legit false): a web host or an admin
workstation sends SYNs to 116 ports of a db host and to port 22 across the
server subnets; closed ports answer RST, open ones SYN-ACK (then the scanner
resets), absent hosts stay silent. And two legitimate one-off connections
(kind "one-off"), too rare to learn: an admin to a random high port, a batch
host to ldap tcp 3268.

TCP connections open with a full handshake, make 1-3 request/response rounds
(1-6 data segments each way, frames at most 1514 bytes, the client ACKing
each response), then close with FIN/ACK both ways, or 3% of them with a RST.
UDP is a request and its reply (DNS frames ~80/200 bytes, NTP 90). IPv4
header checksums are valid; L4 checksums are zero.
"""
import argparse
import functools
import json
import math
import os
import random
import socket
import struct
from collections import namedtuple
from operator import attrgetter, itemgetter

START = 1793491200  # 2026-11-01T00:00:00Z
TCP, UDP = 6, 17
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
CLIENT, SERVER = 0, 1
MSS = 1460  # a full segment makes a 1514-byte frame
MSS_OPTION = struct.pack("!BBH", 2, 4, MSS)
MAC_A, MAC_B = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
ETHERNET = (MAC_B + MAC_A + b"\x08\x00", MAC_A + MAC_B + b"\x08\x00")  # by sending side
MIN_FLOWS = 4  # floor per steady (client tier, server tier, port)
MONITORING_SHARE = 0.12
RESET_RATE = 0.03

# name: (its /24, host count, tcp ports its hosts listen on; scans use these)
TIERS = {
    "web": ("10.1.1", 6, (22, 80, 443, 9100)),
    "app": ("10.1.2", 8, (22, 8080, 8443, 9100)),
    "db": ("10.1.3", 3, (22, 5432, 9100)),
    "dns": ("10.1.10", 2, (22, 53, 9100)),
    "ntp": ("10.1.11", 1, (22, 9100)),
    "ldap": ("10.1.12", 2, (22, 389, 636, 3268, 9100)),
    "batch": ("10.1.20", 2, (22, 9100)),
    "backup": ("10.1.30", 1, ()),
    "monitoring": ("10.1.31", 1, ()),
    "admins": ("10.1.40", 3, ()),
}
SERVER_TIERS = ("web", "app", "db", "dns", "ntp", "ldap", "batch")
EXTERNAL_API = "203.0.113.10"
PUBLIC_ADDRESSES = ["%s.%d" % (net, i) for net in ("192.0.2", "198.51.100", "203.0.113") for i in range(1, 255)
                    if "%s.%d" % (net, i) != EXTERNAL_API]
SCANNED_HIGH_PORTS = (1433, 3306, 3389, 5432, 5900, 6379, 8080, 9100, 9200, 27017)

# TCP kinds: (request bytes, response bytes) per round, and the most rounds;
# sizes lean toward the low end of their range.
SHAPES = {
    "public-https": ((150, 700), (250, 5840), 3),
    "public-http": ((120, 500), (150, 600), 1),  # mostly redirects to https
    "web-app": ((200, 900), (200, 4380), 3),
    "app-db": ((80, 600), (100, 4380), 3),
    "app-api": ((200, 800), (300, 2920), 2),
    "dns-tcp": ((40, 60), (200, 1400), 1),
    "ldap": ((80, 300), (100, 1200), 3),
    "ldaps": ((80, 300), (100, 1200), 3),
    "monitoring": ((120, 160), (1200, 4380), 1),
    "backup": ((40, 200), (2920, 8760), 1),
    "admin-ssh": ((40, 1000), (40, 2920), 3),
    "batch-db": ((200, 1400), (200, 4380), 3),
    "batch-app": ((200, 1400), (100, 1000), 2),
    "one-off": ((50, 400), (50, 800), 1),
}
# UDP kinds: (request payload, response payload) bytes
DATAGRAMS = {"dns": ((30, 50), (120, 200)), "ntp": ((48, 48), (48, 48))}

Channel = namedtuple("Channel", "kind clients servers proto dport share clock")
Flow = namedtuple("Flow", "t kind src dst proto dport legit")


def hosts(tier):
    net, count, _ = TIERS[tier]
    return ["%s.%d" % (net, 10 + i) for i in range(1, count + 1)]


LISTENING = {h: ports for tier, (_, _, ports) in TIERS.items() for h in hosts(tier)}


# ---------------------------------------------------------------- the plan


class Plan:
    """The connections of one period, as offsets in seconds from its start."""

    def __init__(self, rng, t0, span):
        self.rng, self.t0, self.span = rng, t0, span
        self.flows = []

    def add(self, t, kind, src, dst, dport, proto=TCP, legit=True):
        self.flows.append(Flow(t % self.span, kind, src, dst, proto, dport, legit))

    def daytime(self):
        """An offset drawn from the daily curve: busiest 14:00, a quarter of that at 02:00."""
        while True:
            t = self.rng.uniform(0, self.span)
            hour = (self.t0 + t) % 86400 / 3600
            if self.rng.random() < 0.625 + 0.375 * math.cos((hour - 14) * math.pi / 12):
                return t

    def times(self, step, phase):
        """Offsets where the clock reads `phase` modulo `step` seconds (a random one if none)."""
        return list(range((phase - self.t0) % step, self.span, step)) or [self.rng.uniform(0, self.span)]

    def steady(self, channel, n):
        r = self.rng
        for _ in range(max(MIN_FLOWS, round(n * channel.share))):
            t = self.daytime() if channel.clock == "day" else r.uniform(0, self.span)
            self.add(t, channel.kind, r.choice(channel.clients), r.choice(channel.servers), channel.dport,
                     channel.proto)

    def scrapes(self, n):
        """monitoring -> every server's 9100 at a fixed interval, each server at its own phase."""
        targets = [h for tier in SERVER_TIERS for h in hosts(tier)]
        interval = min(self.span * len(targets) / (n * MONITORING_SHARE), self.span / MIN_FLOWS)
        for host in targets:
            t = self.rng.uniform(0, interval)
            while t < self.span:
                self.add(t, "monitoring", hosts("monitoring")[0], host, 9100)
                t += interval

    def backups(self):
        """backup -> every web, app and db server's ssh, one after another from 01:00."""
        targets = hosts("web") + hosts("app") + hosts("db")
        for t in self.times(86400, 3600):
            for host in self.rng.sample(targets, len(targets)):
                t += self.rng.uniform(60, 600)
                self.add(t, "backup", hosts("backup")[0], host, 22)

    def batch_jobs(self):
        """An hourly job calls app's 8443; a nightly one from 02:00 works on db's 5432."""
        r, batch = self.rng, hosts("batch")
        for hour in self.times(3600, 0):
            src = r.choice(batch)
            for _ in range(r.randint(1, 2)):
                self.add(hour + r.uniform(5, 300), "batch-app", src, r.choice(hosts("app")), 8443)
        for t in self.times(86400, 7200):
            for _ in range(r.randint(MIN_FLOWS, 8)):
                t += r.uniform(30, 300)
                self.add(t, "batch-db", r.choice(batch), r.choice(hosts("db")), 5432)

    def scan(self):
        """A host SYNs a db host's ports, then port 22 across the server subnets."""
        r = self.rng
        scanner = r.choice(hosts("web") + hosts("admins"))
        target = r.choice(hosts("db"))
        ports = r.sample(range(1, 1025), 106) + list(SCANNED_HIGH_PORTS)
        r.shuffle(ports)
        sweep = ["%s.%d" % (TIERS[tier][0], i) for tier in SERVER_TIERS for i in range(1, 31)]
        probes = [(target, port) for port in ports] + [(h, 22) for h in sweep if h != scanner]
        t = r.uniform(0, self.span - 60)
        for dst, port in probes:
            t += r.uniform(0.002, 0.005)
            self.add(t, "scan", scanner, dst, port, legit=False)

    def one_offs(self):
        r = self.rng
        servers = [h for tier in SERVER_TIERS for h in hosts(tier)]
        self.add(r.uniform(0, self.span), "one-off", r.choice(hosts("admins")), r.choice(servers),
                 r.randint(10000, 49151))
        self.add(r.uniform(0, self.span), "one-off", r.choice(hosts("batch")), r.choice(hosts("ldap")), 3268)


def spread(kind, pairs, proto, dport, share, clock):
    """One channel per (clients, servers) pair of tiers, the share split by their host pairs."""
    total = sum(len(c) * len(s) for c, s in pairs)
    return [Channel(kind, c, s, proto, dport, share * len(c) * len(s) / total, clock) for c, s in pairs]


def steady_channels(public):
    web, app, db, dns, ntp, ldap = (hosts(t) for t in ("web", "app", "db", "dns", "ntp", "ldap"))
    return [
        Channel("public-https", public, web, TCP, 443, 0.40, "day"),
        Channel("public-http", public, web, TCP, 80, 0.05, "day"),
        Channel("web-app", web, app, TCP, 8080, 0.16, "day"),
        Channel("app-db", app, db, TCP, 5432, 0.12, "day"),
        Channel("app-api", app, [EXTERNAL_API], TCP, 443, 0.02, "day"),
    ] + (spread("dns", [(hosts(t), dns) for t in TIERS if t != "dns"], UDP, 53, 0.08, "day")
         + spread("dns-tcp", [(web, dns), (app, dns), (db, dns)], TCP, 53, 0.004, "day")
         + spread("ntp", [(hosts(t), ntp) for t in TIERS if t != "ntp"], UDP, 123, 0.01, "flat")
         + spread("ldap", [(web, ldap), (app, ldap)], TCP, 389, 0.02, "day")
         + spread("ldaps", [(web, ldap), (app, ldap)], TCP, 636, 0.01, "day")
         + spread("admin-ssh", [(hosts("admins"), hosts(t)) for t in SERVER_TIERS], TCP, 22, 0.005, "flat"))


def public_clients(rng, n):
    """This period's public clients, repeated so that a few of them make most connections."""
    pool = rng.sample(PUBLIC_ADDRESSES, min(len(PUBLIC_ADDRESSES) * 2 // 3, max(20, n // 40)))
    return [a for rank, a in enumerate(pool) for _ in range(1 + 32 // (rank + 1))]


def plan_period(rng, t0, span, n):
    plan = Plan(rng, t0, span)
    for channel in steady_channels(public_clients(rng, n)):
        plan.steady(channel, n)
    plan.scrapes(n)
    plan.backups()
    plan.batch_jobs()
    plan.scan()
    plan.one_offs()
    return sorted(plan.flows, key=attrgetter("t"))


# ---------------------------------------------------------------- packets


def checksum(data):
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


@functools.lru_cache(maxsize=None)
def ip(address):
    return socket.inet_aton(address)


def internal(address):
    return address.startswith("10.")


def ipv4(side, src, dst, proto, ident, ttl, payload):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, ttl, proto, 0, src, dst)
    frame = ETHERNET[side] + header[:10] + struct.pack("!H", checksum(header)) + header[12:] + payload
    return frame + bytes(max(0, 60 - len(frame)))


def ttl(rng, address):
    """The TTL its packets arrive with: hosts outside are some hops away."""
    return 64 if internal(address) else rng.choice((64, 128)) - rng.randint(8, 20)


def round_trip(rng, flow):
    return rng.uniform(0.010, 0.060) if not (internal(flow.src) and internal(flow.dst)) else rng.uniform(0.001, 0.004)


def skewed(rng, lo, hi):
    return lo + int((hi - lo) * rng.random() ** 4)


def segments(size):
    return [MSS] * (size // MSS) + ([size % MSS] if size % MSS else [])


class Connection:
    """The packets of one TCP connection, built side by side with consistent sequence numbers."""

    def __init__(self, rng, flow):
        self.t = flow.t
        self.addr = (ip(flow.src), ip(flow.dst))
        self.port = (rng.randint(32768, 60999), flow.dport)
        self.seq = [rng.getrandbits(32), rng.getrandbits(32)]
        self.ident = [rng.getrandbits(16), rng.getrandbits(16)]
        self.ttl = (ttl(rng, flow.src), ttl(rng, flow.dst))
        self.packets = []

    def send(self, side, flags, delay, size=0, options=b""):
        self.t += delay
        other = 1 - side
        ack = self.seq[other] if flags & ACK else 0
        header = struct.pack("!HHIIBBHHH", self.port[side], self.port[other], self.seq[side], ack,
                             (5 + len(options) // 4) << 4, flags, 64240, 0, 0)
        self.packets.append((self.t, ipv4(side, self.addr[side], self.addr[other], TCP, self.ident[side],
                                          self.ttl[side], header + options + bytes(size))))
        self.ident[side] = (self.ident[side] + 1) & 0xFFFF
        self.seq[side] = (self.seq[side] + size + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF


def session(rng, flow):
    """Handshake, request/response rounds, then FIN/ACK both ways (or a RST)."""
    (request, response, most_rounds), rtt = SHAPES[flow.kind], round_trip(rng, flow)
    c = Connection(rng, flow)
    c.send(CLIENT, SYN, 0, options=MSS_OPTION)
    c.send(SERVER, SYN | ACK, rtt, options=MSS_OPTION)
    c.send(CLIENT, ACK, rtt)
    rounds = 1 + int(most_rounds * rng.random() ** 3)
    for _ in range(rounds):
        c.send(CLIENT, PSH | ACK, rng.uniform(0.0002, 0.002), skewed(rng, *request))
        reply = segments(min(skewed(rng, *response), MSS * (6 // rounds)))
        for i, size in enumerate(reply):
            delay = rng.uniform(0.001, 0.015) if i == 0 else rng.uniform(0.0001, 0.0005)
            c.send(SERVER, (PSH if i == len(reply) - 1 else 0) | ACK, delay, size)
        c.send(CLIENT, ACK, rtt)
    if rng.random() < RESET_RATE:
        c.send(rng.choice((CLIENT, SERVER)), RST | ACK, rng.uniform(0.001, 0.01))
    else:
        c.send(CLIENT, FIN | ACK, rng.uniform(0.001, 0.01))
        c.send(SERVER, FIN | ACK, rtt)
        c.send(CLIENT, ACK, rtt)
    return c.packets


def probe(rng, flow):
    """A scan SYN: SYN-ACK then the scanner's RST, a RST from a closed port, or silence."""
    c = Connection(rng, flow)
    c.send(CLIENT, SYN, 0, options=MSS_OPTION)
    ports = LISTENING.get(flow.dst)
    if ports is None:
        return c.packets
    rtt = round_trip(rng, flow)
    if flow.dport in ports:
        c.send(SERVER, SYN | ACK, rtt, options=MSS_OPTION)
        c.send(CLIENT, RST, rtt)
    else:
        c.seq[SERVER] = 0
        c.send(SERVER, RST | ACK, rtt)
    return c.packets


def exchange(rng, flow):
    """A UDP request and its reply."""
    request, response = DATAGRAMS[flow.kind]
    src, dst, sport = ip(flow.src), ip(flow.dst), rng.randint(32768, 60999)
    frames = []
    for side, t, a, b, ports, size in ((CLIENT, flow.t, src, dst, (sport, flow.dport), rng.randint(*request)),
                                       (SERVER, flow.t + rng.uniform(0.0005, 0.004), dst, src,
                                        (flow.dport, sport), rng.randint(*response))):
        datagram = struct.pack("!HHHH", ports[0], ports[1], 8 + size, 0) + bytes(size)
        frames.append((t, ipv4(side, a, b, UDP, rng.getrandbits(16), 64, datagram)))
    return frames


def render(rng, flow):
    if flow.kind == "scan":
        return probe(rng, flow)
    return exchange(rng, flow) if flow.proto == UDP else session(rng, flow)


# ---------------------------------------------------------------- output


def write_pcap(path, t0, packets):
    """Writes (offset, frame) pairs in time order; returns the bytes of frames."""
    packets.sort(key=itemgetter(0))
    total = 0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, frame in packets:
            sec, usec = divmod(round(t * 1e6), 1000000)
            f.write(struct.pack("<IIII", t0 + sec, usec, len(frame), len(frame)) + frame)
            total += len(frame)
    return total


def write_inventory(path):
    with open(path, "w") as f:
        f.write("# Internal tiers of the modelled datacenter (tools/learn/traffic_model.py).\nsegments:\n")
        for name, (net, _, _) in TIERS.items():
            f.write("  %-11s [%s.0/24]\n" % (name + ":", net))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory (created if missing)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--flows", type=int, default=20000, help="connections per period, roughly (default 20000)")
    ap.add_argument("--hours", type=float, default=24, help="virtual length of a period (default 24)")
    a = ap.parse_args()
    if a.flows < 1 or a.hours < 3:
        ap.error("--flows must be positive and --hours at least 3")
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    seconds = int(a.hours * 3600)
    write_inventory(os.path.join(a.out, "inventory.yaml"))
    truth = {"periods": []}
    for i in range(2):
        t0 = START + i * seconds
        flows = plan_period(rng, t0, seconds - 2, a.flows)  # 2 s for the last connections to finish
        packets = [p for flow in flows for p in render(rng, flow)]
        name = "period%d.pcap" % (i + 1)
        size = write_pcap(os.path.join(a.out, name), t0, packets)
        truth["periods"].append({"pcap": name, "flows": [
            {"src": f.src, "dst": f.dst, "proto": f.proto, "dport": f.dport, "kind": f.kind, "legit": f.legit}
            for f in flows]})
        scans = sum(1 for f in flows if not f.legit)
        print("%s: %d flows (%d scan), %d packets, %d bytes" % (name, len(flows), scans, len(packets), size))
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(truth, f)


if __name__ == "__main__":
    main()
