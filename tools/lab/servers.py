#!/usr/bin/env python3
"""Lab servers: TCP echo listeners and a UDP responder.

  servers.py tcp ADDR PORT [PORT ...]   echo every line back, many clients at once
  servers.py udp ADDR PORT              answer every datagram with b"re:" + datagram

Runs until killed. Used only between the lab's own network namespaces.
"""
import socket
import socketserver
import sys
import threading


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


class Tcp(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Tcp6(Tcp):
    address_family = socket.AF_INET6


def main():
    kind, addr, ports = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:]]
    if kind == "tcp":
        servers = []
        for port in ports:
            cls = Tcp6 if ":" in addr else Tcp
            s = cls((addr, port), Echo)
            servers.append(s)
            threading.Thread(target=s.serve_forever, daemon=True).start()
        threading.Event().wait()
    elif kind == "udp":
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind((addr, ports[0]))
        while True:
            data, peer = s.recvfrom(2048)
            s.sendto(b"re:" + data, peer)
    else:
        sys.exit(f"unknown server kind {kind}")


if __name__ == "__main__":
    main()
