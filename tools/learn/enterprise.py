#!/usr/bin/env python3
"""Enterprise traffic model: two consecutive periods of a small datacenter's
traffic as pcaps, for learning a policy on one and judging it on the next.

  enterprise.py --out DIR [--seed N] [--flows N] [--hours H] [--no-anomalies]

writes DIR/inventory.yaml (the segments: map of every tier), period1.pcap,
period2.pcap (Ethernet, IPv4, full TCP handshakes and closes, UDP request
and reply, time-ordered; period 2 starts where period 1 ends) and
truth.json (every connection of each period with its kind and whether it
is legitimate).

The model: public clients (documentation ranges only) to web on 443 and
80; web to app on 8080; app to db on 5432 and to an external API on 443;
every server to DNS (udp, sometimes tcp 53) and NTP; web and app to LDAP
(389, 636); monitoring scraping every server on 9100; nightly backups
over ssh to every server; admins' ssh; batch jobs to db and app (8443).
Each period also has a scan (a host sweeping a db host's ports and ssh
across the servers; not legitimate) and one-off flows (legitimate, too
rare to learn). Host pairs are drawn per flow, so period 2 holds pairs of
the same tiers that period 1 never showed. Deterministic per --seed.
"""
import argparse
import json
import os
import random
import struct

START = 1793491200  # 2026-11-01T00:00:00Z
MAC = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"

TIERS = {
    "web": ["10.10.1.%d" % i for i in range(11, 17)],
    "app": ["10.10.2.%d" % i for i in range(11, 19)],
    "db": ["10.10.3.%d" % i for i in range(11, 14)],
    "dns": ["10.10.4.53", "10.10.4.54"],
    "ntp": ["10.10.4.123"],
    "ldap": ["10.10.5.11", "10.10.5.12"],
    "backup": ["10.10.6.11"],
    "monitoring": ["10.10.6.21"],
    "admins": ["10.10.9.21", "10.10.9.22", "10.10.9.23"],
    "batch": ["10.10.7.11", "10.10.7.12"],
}
INVENTORY = {
    "web": ["10.10.1.0/24"], "app": ["10.10.2.0/24"], "db": ["10.10.3.0/24"],
    "dns": ["10.10.4.53", "10.10.4.54"], "ntp": ["10.10.4.123"], "ldap": ["10.10.5.0/24"],
    "backup": ["10.10.6.11"], "monitoring": ["10.10.6.21"], "admins": ["10.10.9.0/24"],
    "batch": ["10.10.7.0/24"],
}
SERVERS = TIERS["web"] + TIERS["app"] + TIERS["db"] + TIERS["ldap"]
EXTERNAL_API = "203.0.113.10"
PUBLIC_NETS = ["192.0.2.", "198.51.100.", "203.0.113."]


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def frame(src, dst, proto, l4):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, ip4(src), ip4(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return MAC + hdr + l4


def tcp(src, dst, sport, dport, seq, ack, flags, size=0):
    return frame(src, dst, 6, struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                                          0x50, flags, 64240, 0, 0) + b"\0" * size)


def udp(src, dst, sport, dport, size):
    return frame(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + size, 0) + b"\0" * size)


class Period:
    def __init__(self, rng, t0, seconds):
        self.rng, self.t0, self.seconds = rng, t0, seconds
        self.packets = []  # (time, frame)
        self.flows = []

    def when(self, hour=None):
        if hour is None:
            return self.t0 + self.rng.random() * self.seconds
        day = int(self.rng.random() * max(1, self.seconds // 86400))
        return self.t0 + day * 86400 + hour * 3600 + self.rng.random() * 1800

    def connection(self, kind, src, dst, dport, t, legit=True, req=(100, 400), resp=(200, 1400), answer=True):
        r = self.rng
        sport = r.randint(32768, 60999)
        cs, ss = r.getrandbits(32), r.getrandbits(32)
        self.flows.append({"src": src, "dst": dst, "proto": 6, "dport": dport, "kind": kind, "legit": legit})
        p = self.packets
        p.append((t, tcp(src, dst, sport, dport, cs, 0, 0x02)))
        if not answer:
            return
        if answer == "reset":
            p.append((t + 0.0005, tcp(dst, src, dport, sport, 0, cs + 1, 0x14)))
            return
        t += 0.0005
        p.append((t, tcp(dst, src, dport, sport, ss, cs + 1, 0x12)))
        t += 0.0005
        p.append((t, tcp(src, dst, sport, dport, cs + 1, ss + 1, 0x10)))
        cs += 1
        ss += 1
        for _ in range(r.randint(1, 3)):
            n = r.randint(*req)
            t += 0.001
            p.append((t, tcp(src, dst, sport, dport, cs, ss, 0x18, n)))
            cs += n
            m = r.randint(*resp)
            t += 0.002
            p.append((t, tcp(dst, src, dport, sport, ss, cs, 0x18, m)))
            ss += m
        if r.random() < 0.03:
            p.append((t + 0.001, tcp(src, dst, sport, dport, cs, ss, 0x14)))
            return
        p.append((t + 0.001, tcp(src, dst, sport, dport, cs, ss, 0x11)))
        p.append((t + 0.0015, tcp(dst, src, dport, sport, ss, cs + 1, 0x11)))
        p.append((t + 0.002, tcp(src, dst, sport, dport, cs + 1, ss + 1, 0x10)))

    def datagram(self, kind, src, dst, dport, t, req, resp):
        sport = self.rng.randint(32768, 60999)
        self.flows.append({"src": src, "dst": dst, "proto": 17, "dport": dport, "kind": kind, "legit": True})
        self.packets.append((t, udp(src, dst, sport, dport, req)))
        self.packets.append((t + 0.0008, udp(dst, src, dport, sport, resp)))


def public_client(rng):
    return rng.choice(PUBLIC_NETS) + str(rng.randint(1, 254))


def generate(period, n, scanner, oneoffs, anomalies=True):
    r = period.rng
    pick = r.choice
    mix = [
        (0.47, lambda: period.connection("public-https", public_client(r), pick(TIERS["web"]), 443, period.when())),
        (0.08, lambda: period.connection("public-http", public_client(r), pick(TIERS["web"]), 80, period.when(),
                                         resp=(100, 300))),
        (0.15, lambda: period.connection("web-app", pick(TIERS["web"]), pick(TIERS["app"]), 8080, period.when())),
        (0.10, lambda: period.connection("app-db", pick(TIERS["app"]), pick(TIERS["db"]), 5432, period.when())),
        (0.02, lambda: period.connection("app-api", pick(TIERS["app"]), EXTERNAL_API, 443, period.when())),
        (0.08, lambda: period.datagram("dns", pick(SERVERS), pick(TIERS["dns"]), 53, period.when(), 40, 120)),
        (0.005, lambda: period.connection("dns-tcp", pick(SERVERS), pick(TIERS["dns"]), 53, period.when())),
        (0.02, lambda: period.datagram("ntp", pick(SERVERS), TIERS["ntp"][0], 123, period.when(), 48, 48)),
        (0.03, lambda: period.connection("ldap", pick(TIERS["web"] + TIERS["app"]), pick(TIERS["ldap"]),
                                         pick([389, 389, 636]), period.when())),
        (0.03, lambda: period.connection("monitoring", TIERS["monitoring"][0], pick(SERVERS), 9100, period.when(),
                                         resp=(800, 1400))),
        (0.01, lambda: period.connection("admin-ssh", pick(TIERS["admins"]), pick(SERVERS), 22, period.when())),
        (0.005, lambda: period.connection("batch-db", pick(TIERS["batch"]), pick(TIERS["db"]), 5432,
                                          period.when(hour=2))),
        (0.005, lambda: period.connection("batch-app", pick(TIERS["batch"]), pick(TIERS["app"]), 8443,
                                          period.when(hour=3))),
    ]
    total = sum(w for w, _ in mix)
    for w, make in mix:
        for _ in range(max(4, round(n * w / total))):
            make()
    for server in SERVERS:  # nightly backups
        period.connection("backup", TIERS["backup"][0], server, 22, period.when(hour=1), resp=(1000, 1400))
    if not anomalies:
        return
    t = period.when()
    for port in r.sample(range(1, 10000), 150):  # the scan: a db host's ports, then ssh everywhere
        t += 0.002
        period.connection("scan", scanner, TIERS["db"][0], port, t, legit=False, answer="reset")
    for server in SERVERS:
        t += 0.002
        period.connection("scan", scanner, server, 22, t, legit=False, answer=r.choice([False, "reset"]))
    for src, dst, port in oneoffs:
        period.connection("one-off", src, dst, port, period.when())


def write_pcap(path, packets, snaplen=65535):
    """Frames cut to `snaplen` bytes, as `tcpdump -s SNAPLEN` keeps them:
    the record holds the captured length and the length on the wire."""
    packets.sort(key=lambda p: p[0])
    size = 0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1))
        for t, data in packets:
            sec = int(t)
            kept = data[:snaplen]
            f.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(kept), len(data)))
            f.write(kept)
            size += len(kept)
    return size


def write_inventory(path):
    with open(path, "w") as f:
        f.write("# Segments of the modelled datacenter (a policy's segments: map).\nsegments:\n")
        for name, cidrs in INVENTORY.items():
            f.write("  %s: [%s]\n" % (name, ", ".join(cidrs)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--flows", type=int, default=10000, help="connections per period (default 10000)")
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--no-anomalies", action="store_true", help="leave out the scans and one-off flows")
    ap.add_argument("--snaplen", type=int, default=65535,
                    help="keep at most this many bytes of each frame, as tcpdump -s does (default: all)")
    a = ap.parse_args()
    if not 14 <= a.snaplen <= 65535:
        ap.error("--snaplen: between 14 and 65535")
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    seconds = int(a.hours * 3600)
    write_inventory(os.path.join(a.out, "inventory.yaml"))
    truth = {"periods": []}
    scanners = [TIERS["web"][3], TIERS["admins"][2]]
    oneoffs = [
        [(TIERS["admins"][0], TIERS["app"][2], 7777), (TIERS["web"][1], TIERS["ntp"][0], 8123)],
        [(TIERS["admins"][1], TIERS["db"][1], 9999), (TIERS["batch"][0], TIERS["ldap"][0], 3268)],
    ]
    for i in range(2):
        period = Period(rng, START + i * seconds, seconds)
        generate(period, a.flows, scanners[i], oneoffs[i], anomalies=not a.no_anomalies)
        name = "period%d.pcap" % (i + 1)
        size = write_pcap(os.path.join(a.out, name), period.packets, a.snaplen)
        truth["periods"].append({"pcap": name, "flows": period.flows})
        print("%s: %d connections, %d packets, %d bytes" % (name, len(period.flows), len(period.packets), size))
    with open(os.path.join(a.out, "truth.json"), "w") as f:
        json.dump(truth, f)


if __name__ == "__main__":
    main()
