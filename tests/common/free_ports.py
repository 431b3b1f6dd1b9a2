#!/usr/bin/env python3
"""Prints N loopback TCP ports free at the time of asking, one per line:

  free_ports.py [N]

The kernel picks them (bind to port 0), all held open together so they
differ, then released. Tests running side by side get ports of their own
this way, where a port derived from the pid could meet another test's.
Python tests import free_ports(n) instead.
"""
import socket
import sys


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


if __name__ == "__main__":
    print("\n".join(str(p) for p in free_ports(int(sys.argv[1]) if len(sys.argv) > 1 else 1)))
