"""Child processes of the lab and benchmark scripts: stopped the one way."""
import subprocess


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
