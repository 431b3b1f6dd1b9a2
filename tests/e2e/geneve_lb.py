#!/usr/bin/env python3
"""A stand-in for AWS Gateway Load Balancer, for the end-to-end tests (the
kernel here has no GENEVE device).

  geneve_lb.py TUN LOCAL APPLIANCE STATS

In the load balancer's namespace it reads the packets routed into the TUN
device TUN, wraps each in GENEVE (RFC 8926) with the three AWS options
(endpoint id, attachment id, and a flow cookie per 5-tuple, the same for
both directions) and sends it over UDP from LOCAL:6081 to APPLIANCE:6081;
the echoes that come back are checked (each must carry a cookie the
balancer gave its flow) and their inner packets written
back into TUN, as AWS's own tunnel handler does in reverse. SIGUSR1 renews
every flow's cookie: its next packets carry a new one. SIGTERM writes {"sent", "echoed", "bad_echoes"} to the
file STATS and exits.
"""
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
ENDPOINT, ATTACHMENT = 0x0A0B0C0D01020304, 0x1122334455667788


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def flow_key(ip):
    """The direction-free 5-tuple of an IPv4 packet (ports 0 for protocols without them)."""
    ihl = (ip[0] & 0x0F) * 4
    proto, src, dst = ip[9], ip[12:16], ip[16:20]
    sport = dport = 0
    if proto in (6, 17) and len(ip) >= ihl + 4:
        sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
    a, b = (src, sport), (dst, dport)
    return (proto,) + (a + b if a <= b else b + a)


def wrap(ip, cookie):
    opts = (struct.pack("!HBBQ", 0x0108, 1, 2, ENDPOINT) + struct.pack("!HBBQ", 0x0108, 2, 2, ATTACHMENT) +
            struct.pack("!HBBI", 0x0108, 3, 1, cookie))
    return struct.pack("!BBHI", len(opts) // 4, 0, 0x0800, 0) + opts + ip


def unwrap(g):
    """(cookie, inner packet) of a GENEVE payload, or None."""
    if len(g) < 8 or g[0] >> 6 != 0:
        return None
    opt_len = (g[0] & 0x3F) * 4
    if len(g) < 8 + opt_len:
        return None
    cookie, off = None, 8
    while off + 4 <= 8 + opt_len:
        cls, typ, n = struct.unpack("!HBB", g[off:off + 4])
        n = (n & 0x1F) * 4
        if cls == 0x0108 and typ == 3 and n == 4:
            cookie = struct.unpack("!I", g[off + 4:off + 8])[0]
        off += 4 + n
    return cookie, g[8 + opt_len:]


def main():
    tun_name, local, appliance, stats_path = sys.argv[1:5]
    tun = open_tun(tun_name)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((local, 6081))
    cookies = {}
    issued = set()  # (flow, cookie): every cookie given, renewed ones too (an echo may be on its way)
    generation = [1]
    stats = {"sent": 0, "echoed": 0, "bad_echoes": 0}

    def renew(*_):
        generation[0] += 1
        cookies.clear()

    def stop(*_):
        with open(stats_path, "w") as f:
            json.dump(stats, f)
        sys.exit(0)

    signal.signal(signal.SIGUSR1, renew)
    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while True:
        try:
            ready, _, _ = select.select([tun, sock], [], [], 1.0)
        except InterruptedError:
            continue
        if tun in ready:
            ip = os.read(tun, 65535)
            if ip and ip[0] >> 4 == 4:
                key = flow_key(ip)
                cookie = cookies.setdefault(key, (hash(key) & 0xFFFF) << 16 | generation[0] & 0xFFFF)
                issued.add((key, cookie))
                sock.sendto(wrap(ip, cookie), (appliance, 6081))
                stats["sent"] += 1
        if sock in ready:
            g, _ = sock.recvfrom(65535)
            got = unwrap(g)
            if got is None or got[1][:1] == b"" or got[1][0] >> 4 != 4:
                stats["bad_echoes"] += 1
                continue
            cookie, ip = got
            if (flow_key(ip), cookie) not in issued:
                stats["bad_echoes"] += 1
            stats["echoed"] += 1
            os.write(tun, ip)


if __name__ == "__main__":
    main()
