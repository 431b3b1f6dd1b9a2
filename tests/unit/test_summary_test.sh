#!/usr/bin/env bash
# tools/test_summary.py counts what meson ran: a failed gtest case, a
# script test that failed or timed out (meson's JUnit gives the latter a
# case without a failure in it) and a gtest binary that crashed before its
# report are each one failure, and the line and exit status say so.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/bh_summary_XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
check() {  # check WHAT WANT-LINE WANT-RC JUNIT JSON
  local out rc
  out=$(python3 "$top/tools/test_summary.py" "$4" "$5"); rc=$?
  if [ "$out" = "$2" ] && [ $rc = "$3" ]; then echo "PASS $1"; else echo "FAIL $1: '$out' rc $rc"; failures=$((failures + 1)); fi
}
case_ok='<testcase name="bulkhead:unit / ok" classname="bulkhead"><system-out/></testcase>'
junit() { printf '<testsuites><testsuite name="bulkhead" tests="9">%s</testsuite></testsuites>\n' "$1" >"$work/$2"; }
json() { printf '%s\n' "$@" >"$work/$J"; }

junit "$case_ok" a.xml
J=a.json json '{"name": "bulkhead:unit / ok", "result": "OK"}'
check "all passed" "1 passed, 0 failed" 0 "$work/a.xml" "$work/a.json"

junit "$case_ok"'<testcase name="bulkhead:integration / slow" classname="bulkhead"><system-out/></testcase>' b.xml
J=b.json json '{"name": "bulkhead:unit / ok", "result": "OK"}' '{"name": "bulkhead:integration / slow", "result": "TIMEOUT"}'
check "a script test that timed out is a failure" "1 passed, 1 failed" 1 "$work/b.xml" "$work/b.json"

junit "$case_ok"'<testcase name="bulkhead:integration / bad" classname="bulkhead"><failure/></testcase>' c.xml
J=c.json json '{"name": "bulkhead:unit / ok", "result": "OK"}' '{"name": "bulkhead:integration / bad", "result": "FAIL"}'
check "a failed script test counts once" "1 passed, 1 failed" 1 "$work/c.xml" "$work/c.json"

junit "$case_ok" d.xml
J=d.json json '{"name": "bulkhead:unit / ok", "result": "OK"}' '{"name": "bulkhead:unit / crashed", "result": "FAIL", "protocol": "gtest"}'
check "a gtest binary that crashed before its report is a failure" "1 passed, 1 failed" 1 "$work/d.xml" "$work/d.json"

[ $failures = 0 ]
