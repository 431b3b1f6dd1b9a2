#!/usr/bin/env bash
# Two worker lcores: each polls one port, so the two directions of every
# connection are handled by different workers over the shared table.
source "$(dirname "$0")/lib.sh"
lab_up || exit 1
DP_LCORES="--lcores 0@0,1@1,2@1" dp_start || exit 1
workers=$("$lab" telemetry "$name" /bulkhead/stats workers)
check "the dataplane runs two workers ($workers)" [ "$workers" = 2 ]
expect ok http 10.0.1.10 10.0.2.20 8080 "HTTP works across both workers"
expect ok tcp 10.0.1.10 10.0.2.20 5432 "TCP echo works across both workers"
expect ok udp 10.0.1.10 10.0.2.20 53 "UDP works across both workers"
expect blocked tcp 10.0.1.10 10.0.2.20 22 "denied stays denied"
expect blocked tcp 10.0.2.20 10.0.1.10 41000 "the server side still cannot open"
finish
