#!/usr/bin/env python3
"""Real clients across the dataplane for the fault tests, for SECONDS:

  traffic.py SRC DST PORT SECONDS

keeps one TCP connection echoing a line every 20 ms (a held connection
must survive every fault) and opens a new connection every 100 ms (new
connections must keep being allowed). Prints one JSON line at the end:
{"echoes": N, "echoes_lost": N, "held": true, "new_ok": N, "new_failed": N}
Runs only between the lab's own namespaces; stops by itself.
"""
import json
import socket
import sys
import time

TIMEOUT = 2.0


def echo(sock, text):
    sock.sendall(text.encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data.decode().strip() == text


def connect(src, dst, port):
    s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.bind((src, 0))
    s.connect((dst, port))
    return s


def main():
    src, dst, port, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    out = {"echoes": 0, "echoes_lost": 0, "held": True, "new_ok": 0, "new_failed": 0}
    held = connect(src, dst, port)
    end = time.time() + seconds
    next_new = time.time()
    n = 0
    while time.time() < end:
        n += 1
        out["echoes"] += 1
        try:
            if not echo(held, "line %d" % n):
                out["echoes_lost"] += 1
        except OSError:
            out["echoes_lost"] += 1
            out["held"] = False
            try:
                held.close()
                held = connect(src, dst, port)
            except OSError:
                pass
        if time.time() >= next_new:
            next_new += 0.1
            try:
                with connect(src, dst, port) as s:
                    ok = echo(s, "new")
            except OSError:
                ok = False
            out["new_ok" if ok else "new_failed"] += 1
        time.sleep(0.02)
    held.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
