#!/usr/bin/env bash
# A reload that revokes a rule cuts the open connection the rule admitted.
# The worker sleeps while the lab is quiet (--idle-sleep): the swap does not
# wait for it, and it enforces the new set when it wakes.
source "$(dirname "$0")/lib.sh"
lab_up && dp_start --idle-sleep 500 || exit 1
ns_in="bhl-$name-in"
ip netns exec "$ns_in" timeout 30 python3 "$top/tools/lab/client.py" hold 10.0.1.10 10.0.2.20 5432 \
  "$work/flag" "$work/result" >"$work/hold.log" 2>&1 &
holder=$!
for _ in $(seq 100); do grep -q connected "$work/hold.log" 2>/dev/null && break; sleep 0.05; done
check "a long-lived connection is open (web-to-db)" grep -q connected "$work/hold.log"
sed -i '/id: web-to-db/d' "$policy"
check "the reload is accepted" "$lab" dp-reload "$name"
touch "$work/flag"
wait "$holder"
check "the open connection no longer carries data ($(cat "$work/result" 2>/dev/null))" grep -qx blocked "$work/result"
revoked=$("$lab" telemetry "$name" /bulkhead/conntrack revoked)
check "the dataplane counts the revoked connection ($revoked)" [ "${revoked:-0}" -ge 1 ]
expect blocked tcp 10.0.1.10 10.0.2.20 5432 "new connections to 5432 are denied too"
expect ok http 10.0.1.10 10.0.2.20 8080 "other rules still apply"
finish
