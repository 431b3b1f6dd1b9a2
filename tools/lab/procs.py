"""Child processes of the lab and benchmark scripts: stopped the one way,
and their EAL runtime directories removed the one way.

  procs.py remove-runtime-dir PREFIX...    (for the shell scripts)
"""
import os
import stat
import subprocess
import sys


def stop(*procs, timeout=10):
    """Asks each process to end (the last started first), waits up to
    `timeout` seconds for each, and kills and reaps any still running, so a
    hung child never outlives the script nor stalls it."""
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def runtime_dir(prefix):
    """DPDK's runtime directory of a --file-prefix, as rte_eal_init() makes
    it (dataplane/eal_runtime.h): its telemetry socket is found there."""
    base = "/var/run" if os.getuid() == 0 else os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return os.path.join(base, "dpdk", prefix)


def remove_runtime_dir(prefix):
    """Removes the runtime directory of a DPDK process of `prefix` that has
    stopped: bulkhead-dataplane removes its own unless killed, DPDK's tools
    (dpdk-testpmd, dpdk-test-acl) never do. Only files and sockets go; the
    directory stays if anything else is in it."""
    d = runtime_dir(prefix)
    try:
        if os.path.islink(d) or not os.path.isdir(d):
            return
        for e in os.scandir(d):
            if e.is_file(follow_symlinks=False) or stat.S_ISSOCK(e.stat(follow_symlinks=False).st_mode):
                os.unlink(e.path)
        os.rmdir(d)
    except OSError:
        pass


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "remove-runtime-dir":
        sys.exit("usage: procs.py remove-runtime-dir PREFIX...")
    for prefix in sys.argv[2:]:
        remove_runtime_dir(prefix)
