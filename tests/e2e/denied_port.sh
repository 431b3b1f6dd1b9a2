#!/usr/bin/env bash
# A port no rule allows is blocked, and the drop is counted as policy.
source "$(dirname "$0")/lib.sh"
lab_up && dp_start || exit 1
expect blocked tcp 10.0.1.10 10.0.2.20 22 "web cannot reach ssh on the app (default deny)"
expect blocked http 192.168.1.10 203.0.113.10 443 "corp cannot reach the internet"
expect ok tcp 192.168.1.10 10.0.2.20 22 "corp may reach ssh (corp-ssh)"
drops=$("$lab" telemetry "$name" /bulkhead/drops policy_deny)
check "policy drops are counted ($drops)" [ "${drops:-0}" -gt 0 ]
finish
