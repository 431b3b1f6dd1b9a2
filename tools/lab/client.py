#!/usr/bin/env python3
"""Lab clients with short timeouts; print "ok" or "blocked" and exit 0 / 1.

  client.py tcp SRC DST PORT              connect, send a line, expect it echoed
  client.py udp SRC DST PORT              send a datagram, expect the answer
  client.py hold SRC DST PORT FLAG RESULT open a connection and check an echo, then
                                          wait for file FLAG, check an echo again on
                                          the same connection and write ok/blocked
                                          to RESULT (for reload tests)
  client.py traffic SRC DST PORT SECONDS  for SECONDS, keep one TCP connection echoing a
                                          line every 20 ms (a held connection must
                                          survive every fault) and open a new one every
                                          100 ms (new connections must keep being
                                          allowed); print one JSON line at the end:
                                          {"echoes", "echoes_lost", "held", "new_ok",
                                          "new_failed"} (for the fault tests)
  client.py stream SRC DST PORT RATE FLAG send numbered datagrams to a UDP responder,
                                          RATE a second, until file FLAG exists (120 s at
                                          most), wait up to 2 s for the last answers; prints
                                          "answered" at the first answer and at the end one
                                          JSON line: {"sent", "answered", "lost",
                                          "duplicated", "longest_silence_ms"}; every
                                          datagram is counted, so a loss is seen exactly
Runs only between the lab's own namespaces; stops by itself.
"""
import json
import os
import select
import socket
import sys
import time

TIMEOUT = 2.0


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


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
    s = socket.socket(family(dst), socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.bind((src, 0))
    s.connect((dst, port))
    return s


def tcp(src, dst, port):
    with connect(src, dst, port) as s:
        return echo(s, "hello from " + src)


def udp(src, dst, port):
    with socket.socket(family(dst), socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.bind((src, 0))
        s.sendto(b"query", (dst, port))
        data, _ = s.recvfrom(2048)
        return data == b"re:query"


def hold(src, dst, port, flag, result):
    with connect(src, dst, port) as s:
        if not echo(s, "first"):
            return False
        print("connected", flush=True)
        deadline = time.time() + 60
        while not os.path.exists(flag) and time.time() < deadline:
            time.sleep(0.05)
        try:
            ok = echo(s, "second")
        except OSError:
            ok = False
        with open(result, "w") as f:
            f.write("ok\n" if ok else "blocked\n")
        return True


def traffic(src, dst, port, seconds):
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


def stream(src, dst, port, rate, flag):
    out = {"sent": 0, "answered": 0, "lost": 0, "duplicated": 0, "longest_silence_ms": 0}
    answered = set()
    interval = 1.0 / rate
    with socket.socket(family(dst), socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        s.setblocking(False)
        start = time.monotonic()
        next_send, last_answer, drain_until = start, start, None
        while True:
            now = time.monotonic()
            if drain_until is None and (now - start > 120 or os.path.exists(flag)):
                drain_until = now + 2.0
            if drain_until is None and now >= next_send:
                s.sendto(b"seq %d" % out["sent"], (dst, port))
                out["sent"] += 1
                next_send += interval
            if drain_until is not None and (len(answered) == out["sent"] or now >= drain_until):
                break
            wait = (next_send if drain_until is None else drain_until) - now
            readable, _, _ = select.select([s], [], [], max(0.0, min(wait, 0.05)))
            while readable:
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                if not data.startswith(b"re:seq "):
                    continue
                seq = int(data[7:])
                if seq in answered:
                    out["duplicated"] += 1
                    continue
                if not answered:
                    print("answered", flush=True)
                answered.add(seq)
                now = time.monotonic()
                out["longest_silence_ms"] = max(out["longest_silence_ms"], round((now - last_answer) * 1000))
                last_answer = now
    out["answered"] = len(answered)
    out["lost"] = out["sent"] - out["answered"]
    print(json.dumps(out), flush=True)


def main():
    kind = sys.argv[1]
    if kind == "traffic":
        traffic(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        return
    if kind == "stream":
        stream(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
        return
    try:
        if kind == "tcp":
            ok = tcp(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        elif kind == "udp":
            ok = udp(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        elif kind == "hold":
            ok = hold(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6])
        else:
            sys.exit(f"unknown client kind {kind}")
    except OSError:
        ok = False
    print("ok" if ok else "blocked")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
