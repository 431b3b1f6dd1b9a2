#!/usr/bin/env bash
# Only the client side may open: the server side cannot open a connection
# back towards the client, even though replies of client connections pass.
source "$(dirname "$0")/lib.sh"
lab_up && dp_start || exit 1
expect ok tcp 10.0.1.10 10.0.2.20 5432 "web opens a connection to the app"
expect blocked tcp 10.0.2.20 10.0.1.10 41000 "the app cannot open a connection to web"
expect blocked tcp fd00:2::20 fd00:1::10 41000 "nor over IPv6"
finish
