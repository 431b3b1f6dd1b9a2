#!/usr/bin/env bash
# UDP request and response pass when the request is allowed; not otherwise.
source "$(dirname "$0")/lib.sh"
lab_up && dp_start || exit 1
expect ok udp 10.0.1.10 10.0.2.20 53 "web's DNS query gets its answer (web-dns)"
expect ok udp fd00:1::10 fd00:2::20 53 "and over IPv6"
expect blocked udp 192.168.1.10 10.0.2.20 53 "corp's query is dropped"
finish
