#!/usr/bin/env bash
# An allowed TCP service works, with data flowing both ways.
source "$(dirname "$0")/lib.sh"
lab_up && dp_start || exit 1
expect ok http 10.0.1.10 10.0.2.20 8080 "web fetches a page from the app (web-to-http)"
expect ok tcp 10.0.1.10 10.0.2.20 5432 "web's line comes back echoed from the database port (web-to-db)"
expect ok http 10.0.1.10 203.0.113.10 443 "web reaches the internet on 443 (web-egress-https)"
conns=$("$lab" telemetry "$name" /bulkhead/rule,web-to-db connections)
check "web-to-db admitted one connection (telemetry says $conns)" [ "$conns" = 1 ]
finish
