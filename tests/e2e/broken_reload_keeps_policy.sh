#!/usr/bin/env bash
# A reload with a broken policy file keeps enforcing the previous policy.
source "$(dirname "$0")/lib.sh"
lab_up && dp_start || exit 1
printf 'version: 1\nrules:\n  - { id: oops, from: nowhere, action: allow }\n' >"$policy"
"$lab" dp-reload "$name"
check "the dataplane logs the refusal with file:line:column" grep -q "policy.yaml:3:.*unknown segment 'nowhere'" "$BULKHEAD_LAB_RUN/$name/dp.log"
failures_seen=$("$lab" telemetry "$name" /bulkhead/policy reload_failures)
check "telemetry shows one reload failure ($failures_seen)" [ "$failures_seen" = 1 ]
expect ok http 10.0.1.10 10.0.2.20 8080 "what was allowed is still allowed"
expect blocked tcp 10.0.1.10 10.0.2.20 22 "what was denied is still denied"
finish
