#!/usr/bin/env python3
"""Benchmark traffic: writes a pcap of minimal frames, one per flow.

  gen_pcap.py --trace CLASSBENCH_TRACE OUT.pcap [--count N] [--udp]
      headers of a ClassBench trace (the rule set's own traffic)
  gen_pcap.py --flows N OUT.pcap [--ipv6] [--size BYTES] [--replies]
      N distinct UDP flows from 10.0.0.0/8 (or fd00::/8) to a server range;
      with --replies each request is followed by its reply (both on the
      one port: a replayed capture of two-way traffic, so that stateful
      peers such as a conntrack pipeline see established connections)

Frames carry valid IPv4 header checksums; L4 checksums are left zero (the
dataplane does not verify them). Sizes are Ethernet frames without FCS.
"""
import argparse
import socket
import struct


def eth(v6):
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" + (b"\x86\xdd" if v6 else b"\x08\x00")


def csum(data):
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def l4(proto, sport, dport, pad):
    if proto == 6:
        return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x02, 65535, 0, 0) + pad
    if proto in (17, 132):
        return struct.pack("!HHHH", sport, dport, 8 + len(pad), 0) + pad
    return struct.pack("!HHHH", sport, dport, 0, 0) + pad


def frame4(src, dst, proto, sport, dport, size):
    pad = b"\x00" * max(0, size - 14 - 20 - (20 if proto == 6 else 8))
    body = l4(proto, sport, dport, pad)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    f = eth(False) + hdr + body
    return f + b"\x00" * max(0, 60 - len(f))


def frame6(src, dst, proto, sport, dport, size):
    pad = b"\x00" * max(0, size - 14 - 40 - (20 if proto == 6 else 8))
    body = l4(proto, sport, dport, pad)
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(body), proto, 64, src, dst)
    return eth(True) + hdr + body


def write(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)


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
    a = ap.parse_args()
    frames = []
    if a.trace:
        with open(a.trace) as f:
            for line in f:
                p = line.split()
                if len(p) < 5:
                    continue
                src, dst, sport, dport, proto = (int(x) for x in p[:5])
                proto = 17 if a.udp else proto
                frames.append(frame4(struct.pack("!I", src), struct.pack("!I", dst), proto, sport & 0xFFFF,
                                     dport & 0xFFFF, a.size))
                if len(frames) >= a.count:
                    break
    elif a.flows:
        for i in range(a.flows):
            if a.ipv6:
                src = socket.inet_pton(socket.AF_INET6, "fd00:1::") [:12] + struct.pack("!I", i)
                dst = socket.inet_pton(socket.AF_INET6, "fd00:2::1")
                make, sport = frame6, 1024 + i % 60000
            else:
                src = struct.pack("!I", (10 << 24) | (1 << 16) | (i & 0xFFFF))
                dst = struct.pack("!I", (10 << 24) | (2 << 16) | ((i >> 16) & 0xFF))
                make, sport = frame4, 1024 + (i >> 8) % 60000
            frames.append(make(src, dst, 17, sport, 53, a.size))
            if a.replies:
                frames.append(make(dst, src, 17, 53, sport, a.size))
    else:
        ap.error("give --trace or --flows")
    write(a.out, frames)
    print(f"{a.out}: {len(frames)} frames")


if __name__ == "__main__":
    main()
