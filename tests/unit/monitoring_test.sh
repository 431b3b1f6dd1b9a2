#!/usr/bin/env bash
# The shipped monitoring files (tools/monitoring): the alert rules pass
# `promtool check rules` and their own `promtool test rules` cases; the
# Grafana dashboard is JSON whose every query names bulkhead_ series only.
# (tests/integration/prometheus_test.sh runs the dashboard's queries against
# live metrics.)
set -uo pipefail
dir=$(cd "$(dirname "$0")/../../tools/monitoring" && pwd)
command -v promtool >/dev/null || { echo "SKIP: promtool not installed (tools/setup installs it)"; exit 77; }
failures=0
cd "$dir" || exit 1
promtool check rules bulkhead-alerts.yml || failures=$((failures + 1))
promtool test rules bulkhead-alerts.test.yml || failures=$((failures + 1))
python3 - bulkhead-dashboard.json <<'PY' || failures=$((failures + 1))
import json, re, sys
d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p["targets"]]
assert len(exprs) >= 10, exprs
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "panel ids repeat"
for e in exprs:
    names = set(re.findall(r"\b(bulkhead_[a-z_]+)", e))
    assert names, e
print(f"dashboard: {len(d['panels'])} panels, {len(exprs)} queries")
PY
exit $((failures > 0))
