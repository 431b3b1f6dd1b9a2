#!/usr/bin/env python3
"""Summarises `meson test` runs as one line: "N passed, N failed[, N skipped]".

usage: test_summary.py [--failed N] JUNIT JSONLOG [JUNIT JSONLOG ...] (one
pair per build directory that ran tests; --failed adds N failures for passes
that could not run their tests at all, a build that failed say).

GoogleTest binaries report every test case (read from meson's JUnit log);
script tests count as one case each. Exits 1 when anything failed.
"""
import json
import sys
import xml.etree.ElementTree as ET


def count(junit, jsonlog):
    passed = failed = skipped = 0
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"no test log: {e}")
        return 0, 1, 0
    for suite in root.iter("testsuite"):
        cases = list(suite.iter("testcase"))
        for case in cases:
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    # Meson's result is the last word on every test: a gtest binary that
    # crashed before writing its report has no cases, and a script test
    # that timed out has a case with no failure in it. Neither is lost.
    def has_failure(case):
        return case.find("failure") is not None or case.find("error") is not None

    try:
        with open(jsonlog) as f:
            for line in f:
                t = json.loads(line)
                if t.get("result") not in ("FAIL", "TIMEOUT", "ERROR"):
                    continue
                name = t.get("name", "")
                if t.get("protocol") == "gtest":
                    if not any(s.get("name") == name and list(s.iter("testcase")) for s in root.iter("testsuite")):
                        failed += 1
                    continue
                case = next((c for c in root.iter("testcase") if c.get("name") == name), None)
                if case is None:
                    failed += 1
                elif not has_failure(case):
                    failed += 1
                    passed -= 1  # counted as passed above
    except OSError:
        pass
    return passed, failed, skipped


def main() -> int:
    args = sys.argv[1:]
    extra = 0
    if args[:1] == ["--failed"]:
        extra = int(args[1])
        args = args[2:]
    if len(args) % 2:
        print("usage: test_summary.py JUNIT JSONLOG [JUNIT JSONLOG ...]")
        print("0 passed, 1 failed")
        return 1
    passed, failed, skipped = 0, extra, 0
    for i in range(0, len(args), 2):
        p, f, s = count(args[i], args[i + 1])
        passed, failed, skipped = passed + p, failed + f, skipped + s
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
