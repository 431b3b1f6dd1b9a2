#!/usr/bin/env python3
"""Prints the ninja targets of the fuzz suite in a configured build directory
(relative to it), so that tools/test and tools/fuzz build only those."""
import json
import subprocess
import sys

build = sys.argv[1].rstrip("/")
targets = json.loads(subprocess.check_output(["meson", "introspect", build, "--targets"]))
for t in targets:
    if t["defined_in"].endswith("tests/fuzz/meson.build"):
        for f in t["filename"]:
            print(f[len(build) + 1:] if f.startswith(build + "/") else f)
