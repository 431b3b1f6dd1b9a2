#!/usr/bin/env bash
# IPv6 end to end: neighbour discovery passes, allowed services work,
# denied ports are blocked.
source "$(dirname "$0")/lib.sh"
lab_up && dp_start || exit 1
expect ok http fd00:1::10 fd00:2::20 8080 "web fetches a page over IPv6"
expect ok tcp fd00:1::10 fd00:2::20 5432 "web reaches the database port over IPv6"
expect blocked tcp fd00:1::10 fd00:2::20 22 "ssh over IPv6 is denied"
finish
