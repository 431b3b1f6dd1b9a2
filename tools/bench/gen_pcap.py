#!/usr/bin/env python3
"""Benchmark traffic: writes a pcap of minimal frames, one per flow.

  gen_pcap.py --trace CLASSBENCH_TRACE OUT.pcap [--count N] [--udp]
              [--distinct [--allowed-by POLICY]]
      headers of a ClassBench trace (the rule set's own traffic); with
      --distinct, N distinct flows: the trace again and again with the
      source port moved each round, and with --allowed-by only the flows
      that POLICY allows (`bulkhead policy eval`), so a capture of a
      million connections still exercises the rule set
  gen_pcap.py --flows N OUT.pcap [--ipv6] [--size BYTES | --imix] [--replies | --tcp] [--dport P]
      N distinct UDP flows from 10.0.0.0/8 (or fd00::/8) to a server range
      (port P, 53 by default);
      with --replies each request is followed by its reply (both on the
      one port: a replayed capture of two-way traffic, so that stateful
      peers such as a conntrack pipeline see established connections);
      with --imix frame sizes cycle 64, 594, 1518 bytes as 7:4:1; with
      --tcp each flow is a TCP connection: SYN, SYN-ACK, ACK, then a data
      segment each way (one packet in five opens a connection), 64
      connections interleaved so that each packet comes 64 packets (two
      bursts) after its connection's last; with --sni NAME the client's
      data segment is a TLS 1.3 ClientHello asking for NAME
  gen_pcap.py --syn-flood N OUT.pcap [--same]
      N TCP SYNs of distinct 5-tuples from 10.0.0.0/8 to 10.2.0.0/16 port
      22; with --same, one 5-tuple N times (a retransmitted or replayed
      opener: every packet of a burst has its first's key)
  gen_pcap.py --follow N OUT.pcap
      N UDP flows from 10.0.0.0/8 to 10.2.0.0/16 port 53, each as four
      packets in a row: request, reply, request, reply; every packet after
      a flow's first follows it within the burst (against a policy that
      denies the flow, the reply is classified in a second round)
  gen_pcap.py --dns N OUT.pcap [--names M]
      N clients (10.1.0.0/16) each asking the resolver 10.3.0.53 (UDP) for
      one of M names (hI.bench.example) and answered with one A record, an
      address of 198.18.0.0/15 of its own, TTL 300
  --repeat K writes the frames K times over: few flows in a capture as
  long as a larger one's (the same replay cost for the reference)
  --geneve wraps each frame's IP packet as AWS Gateway Load Balancer sends
  it to an appliance at 10.100.0.5 (GENEVE with its three options)

Frames carry valid IPv4 header checksums; L4 checksums are left zero (the
dataplane does not verify them). Sizes are Ethernet frames without FCS.
"""
import argparse
import os
import socket
import struct
import sys
import zlib
import subprocess


TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def eth(v6):
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" + (b"\x86\xdd" if v6 else b"\x08\x00")


def csum(data):
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


IMIX = [64] * 7 + [594] * 4 + [1518]
SYN, ACK, SYN_ACK = 0x02, 0x10, 0x12


def l4(proto, sport, dport, pad, flags=SYN, seq=1):
    if proto == 6:
        return struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 0x50, flags, 65535, 0, 0) + pad
    if proto in (17, 132):
        return struct.pack("!HHHH", sport, dport, 8 + len(pad), 0) + pad
    return struct.pack("!HHHH", sport, dport, 0, 0) + pad


def frame4(src, dst, proto, sport, dport, size, flags=SYN, payload=None, seq=1):
    pad = payload if payload is not None else b"\x00" * max(0, size - 14 - 20 - (20 if proto == 6 else 8))
    body = l4(proto, sport, dport, pad, flags, seq)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    f = eth(False) + hdr + body
    return f + b"\x00" * max(0, 60 - len(f))


def frame6(src, dst, proto, sport, dport, size, flags=SYN, payload=None, seq=1):
    pad = payload if payload is not None else b"\x00" * max(0, size - 14 - 40 - (20 if proto == 6 else 8))
    body = l4(proto, sport, dport, pad, flags, seq)
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(body), proto, 64, src, dst)
    return eth(True) + hdr + body


def geneve(frame):
    """`frame`'s IP packet as AWS Gateway Load Balancer sends it to an appliance at 10.100.0.5: IPv4, UDP 6081,
    GENEVE with the endpoint id, attachment id and flow cookie options (docs/cloud.md)."""
    ip = frame[14:]
    ip = ip[:struct.unpack("!H", ip[2:4])[0]] if ip[0] >> 4 == 4 else ip[:40 + struct.unpack("!H", ip[4:6])[0]]
    opts = (struct.pack("!HBB", 0x0108, 1, 2) + struct.pack("!Q", 0x0A0B0C0D01020304) +
            struct.pack("!HBB", 0x0108, 2, 2) + struct.pack("!Q", 0x1122334455667788) +
            struct.pack("!HBB", 0x0108, 3, 1) + struct.pack("!I", zlib.crc32(ip[:20])))
    g = struct.pack("!BBHI", len(opts) // 4, 0, 0x0800 if ip[0] >> 4 == 4 else 0x86DD, 0) + opts + ip
    udp = struct.pack("!HHHH", 50000, 6081, 8 + len(g), 0) + g
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                      socket.inet_aton("10.100.0.10"), socket.inet_aton("10.100.0.5"))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return eth(False) + hdr + udp


def dns_name(name):
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\x00"


def dns_query(qid, name):
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", 1, 1)


def dns_answer(qid, name, address, ttl=300):
    """One A record for the question's name, the name written as a pointer to the question (offset 12)."""
    return (struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + dns_name(name) + struct.pack("!HH", 1, 1) +
            struct.pack("!HHHIH", 0xC00C, 1, 1, ttl, 4) + address)


def dns_exchanges(count, names):
    """`count` clients (10.1.x.y) each asking the resolver 10.3.0.53 for one of `names` names
    (hI.bench.example) and answered with an address of 198.18.0.0/15 of its own."""
    frames = []
    resolver = socket.inet_aton("10.3.0.53")
    for i in range(count):
        client = struct.pack("!I", (10 << 24) | (1 << 16) | (i & 0xFFFF))
        address = struct.pack("!I", (198 << 24) | (18 << 16) | (i & 0x1FFFF))
        sport = 1024 + (i >> 16)
        name = f"h{i % names}.bench.example"
        frames.append(frame4(client, resolver, 17, sport, 53, 0, payload=dns_query(i & 0xFFFF, name)))
        frames.append(frame4(resolver, client, 17, 53, sport, 0, payload=dns_answer(i & 0xFFFF, name, address)))
    return frames


def write(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)


def client_hello(sni):
    """A TLS 1.3 ClientHello record asking for `sni`: server_name and supported_versions extensions."""
    host = sni.encode()
    server_name = struct.pack("!HBH", len(host) + 3, 0, len(host)) + host
    ext = struct.pack("!HH", 0, len(server_name)) + server_name
    ext += struct.pack("!HHB", 43, 3, 2) + b"\x03\x04"
    body = (b"\x03\x03" + bytes(32) + b"\x00" + struct.pack("!H", 4) + b"\x13\x01\x13\x02" + b"\x01\x00" +
            struct.pack("!H", len(ext)) + ext)
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def tcp_connections(conns, size, stride=64, sni=None):
    """Each connection's handshake and a data segment each way, `stride` connections interleaved: step k of
    connection j comes after step k of the `stride` connections before it. With `sni`, the client's data
    segment is a ClientHello asking for that name."""
    steps = [(False, SYN), (True, SYN_ACK), (False, ACK), (False, ACK | 0x08), (True, ACK | 0x08)]
    frames = []
    hello = client_hello(sni) if sni else None
    if hello is not None:  # no payload but the ClientHello: frames are padded after the IP packet
        size = lambda n: 0  # noqa: E731
    for base in range(0, len(conns), stride):
        group = conns[base:base + stride]
        for step, (reply, flags) in enumerate(steps):
            for make, src, dst, sport in group:
                n = len(frames)
                if reply:
                    frames.append(make(dst, src, 6, 443, sport, size(n), flags))
                elif step == 3 and hello is not None:  # right after the SYN's sequence number
                    frames.append(make(src, dst, 6, sport, 443, size(n), flags, payload=hello, seq=2))
                else:
                    frames.append(make(src, dst, 6, sport, 443, size(n), flags))
    return frames


def allowed(policy, flows):
    """The verdicts of `bulkhead policy eval` for (src, dst, sport, dport, proto) tuples."""
    cli = os.path.join(os.environ.get("BULKHEAD_BUILD_DIR", os.path.join(TOP, "build")), "tools", "cli",
                       "bulkhead")
    text = "".join(f"{proto} {socket.inet_ntoa(struct.pack('!I', src))} {sport} "
                   f"{socket.inet_ntoa(struct.pack('!I', dst))} {dport}\n" for src, dst, sport, dport, proto in flows)
    out = subprocess.run([cli, "policy", "eval", policy, "--tuples", "-"], input=text, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    return [line.startswith("allow") for line in out]


def distinct_flows(headers, count, policy):
    """`count` distinct flows: the headers round after round, the source port moved by a different step each
    round; only those `policy` allows when one is given."""
    seen, kept = set(), []
    for rnd in range(1000):
        batch = []
        for src, dst, sport, dport, proto in headers:
            f = (src, dst, (sport + rnd * 7919) & 0xFFFF, dport, proto)
            key = (min(f[0], f[1]), max(f[0], f[1]), f[4]) + ((f[2], f[3]) if f[0] <= f[1] else (f[3], f[2]))
            if key not in seen:
                seen.add(key)
                batch.append(f)
        if policy:
            batch = [f for f, ok in zip(batch, allowed(policy, batch)) if ok]
        kept.extend(batch)
        if len(kept) >= count:
            return kept[:count]
    sys.exit(f"only {len(kept)} distinct flows from this trace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--trace")
    ap.add_argument("--flows", type=int)
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--udp", action="store_true", help="trace headers as UDP whatever their protocol")
    ap.add_argument("--ipv6", action="store_true")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--replies", action="store_true")
    ap.add_argument("--dport", type=int, default=53, help="with --flows (UDP): the servers' port")
    ap.add_argument("--imix", action="store_true", help="frame sizes 64, 594, 1518 as 7:4:1")
    ap.add_argument("--tcp", action="store_true", help="with --flows: TCP connections with their handshakes")
    ap.add_argument("--sni", help="with --tcp: the client's data segment is a TLS ClientHello for this name")
    ap.add_argument("--distinct", action="store_true", help="with --trace: --count distinct flows")
    ap.add_argument("--allowed-by", help="with --distinct: keep only flows this policy allows")
    ap.add_argument("--syn-flood", type=int, help="N TCP SYNs to port 22")
    ap.add_argument("--same", action="store_true", help="with --syn-flood: one 5-tuple N times")
    ap.add_argument("--follow", type=int, help="N UDP flows, each request, reply, request, reply in a row")
    ap.add_argument("--dns", type=int, help="N DNS queries to 10.3.0.53, each with its answer")
    ap.add_argument("--names", type=int, default=1000, help="with --dns: how many names are asked")
    ap.add_argument("--repeat", type=int, default=1,
                    help="the frames this many times over: few flows in a capture as long as a larger one's")
    ap.add_argument("--geneve", action="store_true",
                    help="each frame's IP packet in AWS GENEVE to an appliance at 10.100.0.5 (one-armed insertion)")
    a = ap.parse_args()
    frames = []
    if a.trace:
        headers = []
        with open(a.trace) as f:
            for line in f:
                p = line.split()
                if len(p) < 5:
                    continue
                src, dst, sport, dport, proto = (int(x) for x in p[:5])
                headers.append((src, dst, sport & 0xFFFF, dport & 0xFFFF, 17 if a.udp else proto))
        if a.distinct:
            headers = distinct_flows(headers, a.count, a.allowed_by)
        for src, dst, sport, dport, proto in headers[:a.count]:
            frames.append(frame4(struct.pack("!I", src), struct.pack("!I", dst), proto, sport, dport, a.size))
    elif a.flows:
        size = (lambda n: IMIX[n % len(IMIX)]) if a.imix else (lambda n: a.size)
        conns = []
        for i in range(a.flows):
            if a.ipv6:
                src = socket.inet_pton(socket.AF_INET6, "fd00:1::") [:12] + struct.pack("!I", i)
                dst = socket.inet_pton(socket.AF_INET6, "fd00:2::1")
                make, sport = frame6, 1024 + i % 60000
            else:
                src = struct.pack("!I", (10 << 24) | (1 << 16) | (i & 0xFFFF))
                dst = struct.pack("!I", (10 << 24) | (2 << 16) | ((i >> 16) & 0xFF))
                make, sport = frame4, 1024 + (i >> 8) % 60000
            if a.tcp:
                conns.append((make, src, dst, sport))
                continue
            frames.append(make(src, dst, 17, sport, a.dport, size(len(frames))))
            if a.replies:
                frames.append(make(dst, src, 17, a.dport, sport, size(len(frames))))
        if conns:
            frames = tcp_connections(conns, size, sni=a.sni)
    elif a.syn_flood:
        for i in range(a.syn_flood):
            k = 0 if a.same else i
            src = struct.pack("!I", (10 << 24) | (1 << 16) | (k & 0xFFFF))
            dst = struct.pack("!I", (10 << 24) | (2 << 16) | ((k >> 16) & 0xFF))
            frames.append(frame4(src, dst, 6, 1024 + (k >> 8) % 60000, 22, a.size))
    elif a.follow:
        for i in range(a.follow):
            src = struct.pack("!I", (10 << 24) | (1 << 16) | (i & 0xFFFF))
            dst = struct.pack("!I", (10 << 24) | (2 << 16) | ((i >> 16) & 0xFF))
            sport = 1024 + (i >> 8) % 60000
            for _ in range(2):
                frames.append(frame4(src, dst, 17, sport, 53, a.size))
                frames.append(frame4(dst, src, 17, 53, sport, a.size))
    elif a.dns:
        frames = dns_exchanges(a.dns, a.names)
    else:
        ap.error("give --trace, --flows, --syn-flood, --follow or --dns")
    if a.geneve:
        frames = [geneve(f) for f in frames]
    frames *= a.repeat
    write(a.out, frames)
    print(f"{a.out}: {len(frames)} frames")


if __name__ == "__main__":
    main()
