"""The peer in the benchmark suite: Open vSwitch with DPDK (Debian package
openvswitch-switch-dpdk) as the usual stateful security-group pipeline, on
the same virtual devices as bulkhead-dataplane and testpmd.

A private ovsdb-server and ovs-vswitchd run in a scratch directory (nothing
of a system Open vSwitch is touched); one PMD thread on lcore 1, the main
thread on lcore 0, --no-huge like the others. Port 1 is the capture
(net_pcap, infinite_rx), port 2 a net_null port that drops. The pipeline:

  table 0: ip, -trk            -> ct(table=1)
  table 1: +trk+est            -> output:2
           +trk+new, allowed   -> ct(commit), output:2
           anything else       -> drop

Rates come from the port's own DPDK counters over the telemetry socket
(/ethdev/stats, as for the other two), cycles per packet from
`ovs-appctl dpif-netdev/pmd-stats-show`.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time

import procs
import telemetry

VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def available():
    """None when the peer can run, else why not (one line)."""
    missing = [p for p in (VSWITCHD, SCHEMA) if not os.path.exists(p)]
    missing += [t for t in ("ovsdb-tool", "ovsdb-server", "ovs-vsctl", "ovs-ofctl", "ovs-appctl")
                if shutil.which(t) is None]
    if missing:
        return ("Open vSwitch with DPDK is not installed (apt-get install openvswitch-switch-dpdk); missing "
                + ", ".join(missing))
    return None


class OvsPeer:
    """One ovs-vswitchd on a capture; use as a context manager. OVS sizes its
    shared packet pool at 262,144 buffers for a 1500-byte MTU: a capture
    replayed with infinite_rx must fit in it, with room for the queues."""

    def __init__(self, pcap, allow="udp", memory_mb=4096):
        self.pcap, self.allow, self.memory_mb = pcap, allow, memory_mb
        self.prefix = f"bhs_ovs{os.getpid()}_{int(time.time() * 1000) % 100000}"
        self.dir = tempfile.mkdtemp(prefix="bulkhead-ovs-")
        self.procs = []

    def _run(self, *cmd):
        return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=self.env, timeout=60).stdout

    def vsctl(self, *args):
        return self._run("ovs-vsctl", f"--db=unix:{self.db_sock}", *args)

    def appctl(self, *args):
        return self._run("ovs-appctl", "-t", self.ctl, *args)

    def __enter__(self):
        d = self.dir
        self.env = dict(os.environ, OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d)
        self.db_sock, self.ctl = os.path.join(d, "db.sock"), os.path.join(d, "vswitchd.ctl")
        try:
            self._run("ovsdb-tool", "create", os.path.join(d, "conf.db"), SCHEMA)
            log = open(os.path.join(d, "ovs.log"), "w")
            self.procs.append(subprocess.Popen(
                ["ovsdb-server", os.path.join(d, "conf.db"), f"--remote=punix:{self.db_sock}",
                 f"--unixctl={os.path.join(d, 'ovsdb.ctl')}", f"--pidfile={os.path.join(d, 'ovsdb.pid')}"],
                stdout=log, stderr=log, env=self.env))
            self._wait(lambda: os.path.exists(self.db_sock), "ovsdb-server did not start")
            self.vsctl("--no-wait", "init")
            # OVS adds --in-memory unless told --legacy-mem; --no-huge needs the latter.
            self.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
                       "other_config:dpdk-lcore-mask=0x1", "other_config:pmd-cpu-mask=0x2",
                       f"other_config:dpdk-extra=--no-huge -m {self.memory_mb} --no-pci --legacy-mem "
                       f"--file-prefix {self.prefix}")
            self.procs.append(subprocess.Popen(
                [VSWITCHD, f"unix:{self.db_sock}", f"--unixctl={self.ctl}",
                 f"--pidfile={os.path.join(d, 'vswitchd.pid')}"], stdout=log, stderr=log, env=self.env))
            self._wait(lambda: os.path.exists(self.ctl), "ovs-vswitchd did not start")
            # Until a measurement starts, everything is dropped before
            # conntrack: the capture spins without creating connections.
            self.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
            self._run("ovs-ofctl", "del-flows", "br0")
            self._run("ovs-ofctl", "add-flow", "br0", "priority=0,actions=drop")
            self.vsctl("add-port", "br0", "p0", "--", "set", "Interface", "p0", "type=dpdk",
                       f"options:dpdk-devargs=net_pcap0,rx_pcap={self.pcap},infinite_rx=1", "ofport_request=1")
            self.vsctl("add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dpdk",
                       "options:dpdk-devargs=net_null0,no-rx=1", "ofport_request=2")
            self._wait(self._port_up, "the capture port did not come up in ovs-vswitchd")
            return self
        except Exception:
            self.__exit__(None, None, None)
            raise

    def _wait(self, ok, what, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if ok():
                return
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{what} (exited; see {self.dir}/ovs.log)")
            time.sleep(0.1)
        raise RuntimeError(what)

    def _port_up(self):
        try:
            return self.rx() >= 0
        except (OSError, ValueError, KeyError):
            return False

    def pipeline(self):
        """Installs the security-group pipeline."""
        flows = os.path.join(self.dir, "flows.txt")
        with open(flows, "w") as f:
            f.write("table=0,priority=100,ip,ct_state=-trk,actions=ct(table=1,zone=1)\n"
                    "table=0,priority=0,actions=drop\n"
                    "table=1,priority=200,ip,in_port=1,ct_state=+trk+est,actions=output:2\n"
                    f"table=1,priority=100,{self.allow},in_port=1,ct_state=+trk+new,"
                    "actions=ct(commit,zone=1),output:2\n"
                    "table=1,priority=0,actions=drop\n")
        self._run("ovs-ofctl", "--bundle", "replace-flows", "br0", flows)

    def connections(self):
        return int(self.appctl("dpctl/ct-get-nconns").split()[0])

    def rx(self):
        """Packets received by the capture port (DPDK port 0, the first one added)."""
        return telemetry.query(self.prefix, "/ethdev/stats,0")["/ethdev/stats"]["ipackets"]

    def clear_cycles(self):
        self.appctl("dpif-netdev/pmd-stats-clear")

    def cycles_per_packet(self):
        m = re.search(r"avg processing cycles per packet: ([0-9.]+)", self.appctl("dpif-netdev/pmd-stats-show"))
        return float(m.group(1)) if m else 0.0

    def established(self, warmup, window):
        """Packets per second and cycles per packet once every flow is in conntrack."""
        self.pipeline()
        time.sleep(warmup)
        self.clear_cycles()
        a, t0 = self.rx(), time.time()
        time.sleep(window)
        b, t1 = self.rx(), time.time()
        return (b - a) / (t1 - t0), self.cycles_per_packet()

    def new_connections(self, flows):
        """Connections committed per second while the first `flows` unique
        flows of the capture go through conntrack (from 10% to 90% of them,
        counted in conntrack itself), and cycles per packet."""
        self.pipeline()
        self.clear_cycles()
        samples, end = [], time.time() + 60
        while time.time() < end:
            n = self.connections()
            samples.append((time.time(), n))
            if n >= flows * 0.95:
                break
            time.sleep(0.002)
        cycles = self.cycles_per_packet()
        lo = next(x for x in samples if x[1] >= flows * 0.1)
        hi = next(x for x in samples if x[1] >= flows * 0.9)
        return (hi[1] - lo[1]) / (hi[0] - lo[0]), cycles

    def __exit__(self, *exc):
        procs.stop(*self.procs, timeout=15)
        shutil.rmtree(self.dir, ignore_errors=True)
        procs.remove_runtime_dir(self.prefix)
        return False
