#!/usr/bin/env python3
"""A 3-member etcd cluster for tests: loopback ports the kernel picked, data
and logs only in a directory the caller owns, every member stopped in every
outcome.

Python tests use the class (run them with `python3 -B`, or the import writes
__pycache__ into the source tree):

    with EtcdCluster(tmpdir) as etcd:
        put(etcd.endpoints[0], "k", "v"); get(etcd.endpoints[1], "k")
        etcd.kill(0); etcd.wait_healthy(); etcd.restart(0)

Shell and C++ tests run it as a supervisor (tests/common/etcd_cluster.sh,
tests/common/etcd_cluster.h):

    etcd_cluster.py run DIR [MEMBERS]

prints "ready URL,URL,URL" (the client URLs, member 0 first) once every
member answers healthy, then takes one command a line on stdin -- "kill I"
(SIGKILL member I, at once), "healthy" (wait until every running member
answers healthy, i.e. has a leader), "restart I" (start it again on its
data, wait until it is healthy), "freeze I" / "thaw I" (SIGSTOP / SIGCONT
member I: it keeps its connections but answers nothing, as a hung machine
would), "stop" -- and answers each with "ok" or "error WHY". End of
input stops the cluster too, so a caller that dies however it dies (its
end of the pipe closes) leaves no member behind; the members themselves
die with the supervisor (PR_SET_PDEATHSIG).

    etcd_cluster.py put URL KEY VALUE     # through the v3 JSON gateway
    etcd_cluster.py get URL KEY           # prints the value; exit 1 if absent

Exit 77 (the skip code of meson and the test scripts) when etcd is not
installed (Debian package etcd-server).
"""
import base64
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from free_ports import free_ports  # noqa: E402

ETCD = "etcd"
START_TIMEOUT_S = 30.0
_PR_SET_PDEATHSIG = 1


class EtcdError(Exception):
    pass


def available():
    return shutil.which(ETCD) is not None


def _http(url, body=None, timeout=10.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"{}")


def _b64(s):
    return base64.b64encode(s.encode()).decode()


def put(endpoint, key, value):
    """Writes KEY=VALUE through the member at ENDPOINT (its client URL)."""
    _http(endpoint + "/v3/kv/put", {"key": _b64(key), "value": _b64(value)})


def get(endpoint, key):
    """The value of KEY as the member at ENDPOINT reads it (linearizable), or None."""
    kvs = _http(endpoint + "/v3/kv/range", {"key": _b64(key)}).get("kvs", [])
    return base64.b64decode(kvs[0]["value"]).decode() if kvs else None


def healthy(endpoint):
    try:
        return str(_http(endpoint + "/health", timeout=1.0).get("health")) == "true"
    except (OSError, ValueError):
        return False


def _die_with_parent(parent):
    # Runs in the child between fork and exec: SIGKILL when the parent goes.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it went before prctl took effect
        os._exit(1)


class EtcdCluster:
    def __init__(self, directory, members=3):
        self.directory = os.path.abspath(directory)
        self.members = members
        ports = free_ports(2 * members)
        self.client_ports = ports[:members]
        self.peer_ports = ports[members:]
        self.endpoints = ["http://127.0.0.1:%d" % p for p in self.client_ports]
        self.token = "bh-%d-%d" % (os.getpid(), self.client_ports[0])
        self.procs = [None] * members
        self.frozen = set()

    def _name(self, i):
        return "etcd%d" % i

    def _start_member(self, i):
        peers = ",".join("%s=http://127.0.0.1:%d" % (self._name(j), self.peer_ports[j])
                         for j in range(self.members))
        args = [ETCD, "--name", self._name(i),
                "--data-dir", os.path.join(self.directory, self._name(i) + ".data"),
                "--listen-client-urls", self.endpoints[i],
                "--advertise-client-urls", self.endpoints[i],
                "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer_ports[i],
                "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer_ports[i],
                "--initial-cluster", peers,
                "--initial-cluster-token", self.token,
                "--initial-cluster-state", "new",
                "--logger", "zap", "--log-outputs", "stderr"]
        # Only the flags above configure the member: ETCD_* variables of the
        # caller's environment would otherwise override them.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
        log = open(os.path.join(self.directory, self._name(i) + ".log"), "ab")
        parent = os.getpid()
        self.procs[i] = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env, cwd=self.directory,
                                         preexec_fn=lambda: _die_with_parent(parent))
        log.close()

    def _wait_healthy(self, which):
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            for i in which:
                if self.procs[i].poll() is not None:
                    raise EtcdError("%s exited (%s): %s" % (self._name(i), self.procs[i].returncode,
                                                            self.log_tail(i)))
            if all(healthy(self.endpoints[i]) for i in which):
                return
            time.sleep(0.1)
        raise EtcdError("not healthy within %.0f s: %s" % (
            START_TIMEOUT_S, "; ".join(self.log_tail(i) for i in which)))

    def log_tail(self, i, lines=5):
        try:
            with open(os.path.join(self.directory, self._name(i) + ".log"), errors="replace") as f:
                return self._name(i) + ": " + " | ".join(f.read().splitlines()[-lines:])
        except OSError:
            return self._name(i) + ": no log"

    def start(self):
        try:
            for i in range(self.members):
                self._start_member(i)
            self._wait_healthy(range(self.members))
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, i):
        """SIGKILL member I, as a crash would."""
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()

    def freeze(self, i):
        """SIGSTOP member I: its sockets stay open and nothing answers."""
        os.kill(self.procs[i].pid, signal.SIGSTOP)
        self.frozen.add(i)

    def thaw(self, i):
        os.kill(self.procs[i].pid, signal.SIGCONT)
        self.frozen.discard(i)

    def wait_healthy(self):
        """Waits until every running member (not frozen) answers healthy:
        after a kill, until the others have elected a leader (etcd answers
        503 until then)."""
        self._wait_healthy([i for i in range(self.members) if i not in self.frozen and
                            self.procs[i] is not None and self.procs[i].poll() is None])

    def restart(self, i):
        """Starts member I again on its data and waits until it is healthy."""
        self.kill(i)
        self.frozen.discard(i)
        self._start_member(i)
        self._wait_healthy([i])

    def stop(self):
        """Kills every member and waits for it: a test's cluster keeps nothing
        worth a graceful shutdown, which as leader first hands leadership
        over and can take seconds."""
        for i in range(self.members):
            self.kill(i)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _supervise(directory, members):
    cluster = EtcdCluster(directory, members)

    def on_signal(signum, _frame):
        # Only unwind: the finally below (or start()'s own) stops the
        # members. Stopping them here could wait on a Popen lock the
        # interrupted code holds, and hang for good.
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        cluster.start()
    except EtcdError as e:
        print("error " + str(e), flush=True)
        return 1
    try:
        print("ready " + ",".join(cluster.endpoints), flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words == ["stop"]:
                break
            try:
                if words == ["healthy"]:
                    cluster.wait_healthy()
                    print("ok", flush=True)
                    continue
                i = int(words[1]) if len(words) == 2 else -1
                actions = {"kill": cluster.kill, "restart": cluster.restart,
                           "freeze": cluster.freeze, "thaw": cluster.thaw}
                if words[0] not in actions or not 0 <= i < members:
                    raise EtcdError("unknown command: " + line.strip())
                actions[words[0]](i)
                print("ok", flush=True)
            except EtcdError as e:
                print("error " + str(e), flush=True)
    finally:
        cluster.stop()
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "run":
        if not available():
            print("SKIP: etcd not installed (tools/setup installs etcd-server)", flush=True)
            return 77
        return _supervise(argv[1], int(argv[2]) if len(argv) > 2 else 3)
    if len(argv) == 4 and argv[0] == "put":
        put(argv[1], argv[2], argv[3])
        return 0
    if len(argv) == 3 and argv[0] == "get":
        value = get(argv[1], argv[2])
        if value is None:
            return 1
        print(value)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
