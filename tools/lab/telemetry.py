#!/usr/bin/env python3
"""Query a running DPDK process's telemetry socket.

  telemetry.py PREFIX COMMAND [KEY]

Prints the JSON reply to COMMAND (e.g. /bulkhead/stats), or with KEY the
value found under that key anywhere in the reply.
"""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402


def query(prefix, command):
    path = os.path.join(procs.runtime_dir(prefix), "dpdk_telemetry.v2")
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(2)
        s.connect(path)
        s.recv(65536)  # greeting
        s.send(command.encode())
        return json.loads(s.recv(1 << 20).decode())


def find(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            r = find(v, key)
            if r is not None:
                return r
    return None


def main():
    reply = query(sys.argv[1], sys.argv[2])
    if len(sys.argv) > 3:
        v = find(reply, sys.argv[3])
        print(json.dumps(v) if isinstance(v, (dict, list)) else v)
    else:
        print(json.dumps(reply, indent=1))


if __name__ == "__main__":
    main()
