#!/usr/bin/env bash
# The control plane with two dataplanes over real ZeroMQ sockets with
# CurveZMQ: apply reaches both, a dataplane with a key not admitted is
# refused, history/diff/rollback, a dataplane restart restores its
# generation, a change sent again with its request id is answered with the
# generation it made and not stored twice, and killing the control plane
# leaves enforcement as it was.
source "$(dirname "$0")/lib.sh" cp

cd "$work"
for k in cp dp1 dp2 rogue; do "$cli" keys generate "$k" >/dev/null || exit 1; done
check "key files are private" [ "$(stat -c %a cp.key)" = 600 ]
out=$("$cli" keys generate ops --json)
check "keys generate --json names its files" python3 -c "import json,sys; d=json.loads(sys.argv[1]); assert d['key'] == 'ops.key' and d['pub'] == 'ops.pub' and len(d['public']) == 40" "$out"
export BULKHEAD_CONTROLPLANE="ipc://$work/cli.sock"

"$build/controlplane/bulkhead-controlplane" --store store --key cp.key --dataplane-key dp1.pub \
  --dataplane-key dp2.pub --listen "tcp://127.0.0.1:$port" --cli "$BULKHEAD_CONTROLPLANE" >cp.log 2>&1 &
pids+=($!)
start_dp() {  # name
  mkdir -p "state-$1"
  "$build/dataplane/bulkhead-dataplane" --no-huge -m 256 --no-pci -l 0,1 --file-prefix "bhcp$$$1" \
    --vdev=net_null0,no-rx=1 --vdev=net_null1,no-rx=1 -- --controlplane "tcp://127.0.0.1:$port" \
    --controlplane-key cp.pub --key "$1.key" --id "$1" --state-dir "state-$1" --mbufs 2048 >"$1.log" 2>&1 &
  pids+=($!)
  eval "pid_$1=$!"
}
start_dp dp1
start_dp dp2
start_dp rogue
connected() { "$cli" status --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(' '.join(sorted(x['id'] for x in d['dataplanes'] if x['connected'])))"; }
for _ in $(seq 100); do [ "$(connected 2>/dev/null)" = "dp1 dp2" ] && break; sleep 0.1; done
check "both admitted dataplanes are connected" [ "$(connected)" = "dp1 dp2" ]
check "the dataplane with another key is refused" grep -q "refused a dataplane" cp.log
check "status --json: each dataplane says it is inline" python3 -c "
import json, sys
d = json.loads(sys.argv[1])
assert sorted(x['insertion']['mode'] for x in d['dataplanes'] if x['connected']) == ['inline', 'inline'], d
" "$("$cli" status --json)"
check "status shows the insertion column" grep -q "insertion" <<<"$("$cli" status)"

printf 'version: 1\nrules:\n  - { id: a, proto: tcp, ports: [80], action: allow }\n' >p1.yaml
printf 'version: 1\nrules:\n  - { id: a, proto: tcp, ports: [80, 443], action: allow }\n  - { id: b, proto: udp, ports: [53], action: allow }\n' >p2.yaml
printf 'version: 1\nrules:\n  - { id: a, from: nowhere, action: allow }\n' >bad.yaml
out=$("$cli" apply p1.yaml -m "first" 2>&1); rc=$?
check "apply is acknowledged by both dataplanes ($rc)" [ $rc = 0 ]
grep -q "applied generation 1: enforced by 2 of 2 dataplanes" <<<"$out" && pass "apply reports the generation" || fail "apply output: $out"
policy_of() { tel "bhcp$$$1" /bulkhead/policy "$2"; }
check "dp1 enforces generation 1" [ "$(policy_of dp1 generation)" = 1 ]
check "dp2 enforces generation 1" [ "$(policy_of dp2 generation)" = 1 ]
out=$("$cli" apply bad.yaml 2>&1); rc=$?
[ $rc = 2 ] && grep -q "bad.yaml:3:" <<<"$out" && pass "an invalid policy is refused with its location" || fail "bad apply: $rc $out"
"$cli" apply p2.yaml -m "open 443 and dns" >/dev/null
check "dp1 enforces generation 2" [ "$(policy_of dp1 rules)" = 2 ]
out=$("$cli" diff 1 --to 2)
grep -q "added rules: b" <<<"$out" && grep -q "changed rules: a" <<<"$out" && pass "diff names the rules" || fail "diff: $out"
out=$("$cli" history)
grep -q "open 443 and dns" <<<"$out" && pass "history keeps the messages" || fail "history: $out"
# The author is who the control plane knows sent it: this process's uid on
# the socket; what $USER claims stands beside it.
out=$(USER=mallory "$cli" history --json)
check "history --json: the author is the socket's uid, the claim beside it" python3 -c "
import json, os, sys
h = json.loads(sys.argv[1])['history']
assert h[1]['author'].startswith('uid %d' % os.getuid()), h[1]
assert h[1]['message'] == 'open 443 and dns' and h[1]['number'] == '2', h[1]
" "$out"
USER=mallory "$cli" apply p2.yaml -m "as mallory" >/dev/null
check "a claimed name is kept beside the author" python3 -c "
import json, os, sys
h = json.loads(sys.argv[1])['history'][-1]
assert h['claimed_author'].startswith('mallory@') and h['author'].startswith('uid %d' % os.getuid()), h
" "$("$cli" history --json)"
check "audit.log is not world-readable" [ "$(( $(stat -c %#a store/audit.log) & 7 ))" = 0 ]
check "audit.log lines are JSON with both names" python3 -c "
import json
lines = [json.loads(l) for l in open('store/audit.log')]
assert lines[-1]['claimed_author'].startswith('mallory@') and lines[-1]['author'].startswith('uid '), lines[-1]
"
"$cli" rollback 2 -m "undo the extra generation" >/dev/null
"$cli" rollback 1 -m "back" >/dev/null
for _ in $(seq 50); do [ "$(policy_of dp2 generation)" = 5 ] && break; sleep 0.1; done
check "a rollback is generation 5 with one rule" [ "$(policy_of dp2 generation)" = 5 ] && [ "$(policy_of dp2 rules)" = 1 ]

# Rule edits against the control plane's store go through the same checks.
out=$("$cli" rule add --id jit-dns --proto udp --ports 5353 --expires 1h -m "temporary mdns" 2>&1); rc=$?
[ $rc = 0 ] && grep -q "added rule jit-dns at position 1: generation 6" <<<"$out" && pass "rule add in store mode makes generation 6" || fail "store rule add: $rc $out"
for _ in $(seq 50); do [ "$(policy_of dp2 generation)" = 6 ] && break; sleep 0.1; done
check "dp2 enforces the added rule" [ "$(policy_of dp2 rules)" = 2 ]
"$cli" rule list | grep -q "jit-dns" && pass "rule list reads the store" || fail "store rule list"
out=$("$cli" rule add --id bad --from nowhere 2>&1); rc=$?
[ $rc = 2 ] && pass "an invalid store edit is refused ($(head -1 <<<"$out"))" || fail "invalid store edit: $rc $out"
"$cli" history | grep -q "temporary mdns" && pass "the edit's message is in the history" || fail "history after rule add"
"$cli" rule remove --id jit-dns >/dev/null && pass "rule remove in store mode" || fail "store rule remove"
for _ in $(seq 50); do [ "$(policy_of dp2 generation)" = 7 ] && break; sleep 0.1; done
check "dp2 follows to generation 7" [ "$(policy_of dp2 generation)" = 7 ]
# Generations 6 and 7 differ from the one before by a rule: they travel as
# changes (the rest named by position) and are built as changes.
check "generations 6 and 7 reached dp2 as changes ($(policy_of dp2 loads_as_change))" \
  [ "$(policy_of dp2 loads_as_change)" -ge 2 ]

# A restarted dataplane comes back on its kept generation, then syncs: two
# generations applied while it was down reach it as the whole set (it does
# not run the base of the latest change).
kill -TERM "$pid_dp1"; sleep 1
"$cli" rule add --id dns --proto udp --ports 53 -m "dns" >/dev/null
"$cli" rule add --id ntp --proto udp --ports 123 -m "ntp" >/dev/null
for _ in $(seq 50); do [ "$(policy_of dp2 generation)" = 9 ] && break; sleep 0.1; done
check "dp2 took generation 9 as a change too" [ "$(policy_of dp2 generation)" = 9 ] && \
  [ "$(policy_of dp2 loads_as_change)" -ge 4 ]
start_dp dp1
for _ in $(seq 100); do [ "$(policy_of dp1 generation 2>/dev/null)" = 9 ] && break; sleep 0.1; done
grep -q "enforcing the rule set kept" dp1.log && pass "restarted dp1 booted from its kept rule set" || fail "dp1 did not boot from its state"
check "and was brought to generation 9 with its 3 rules" [ "$(policy_of dp1 generation)" = 9 ] && \
  [ "$(policy_of dp1 rules)" = 3 ]

# apply tells the truth: with dp1 down, generation 10 is stored but not
# enforced everywhere; exit 1, and --json says which dataplane is where.
kill -TERM "$pid_dp1"; wait "$pid_dp1" 2>/dev/null
out=$("$cli" apply p1.yaml -m "dp1 is down" --json); rc=$?
check "apply exits 1 when a configured dataplane does not enforce it ($rc)" [ $rc = 1 ]
check "apply --json: dp2 enforces generation 10, dp1 is unreachable" python3 -c "
import json, sys
d = json.loads(sys.argv[1])
assert d['ok'] and d['generation'] == '10' and d['enforced'] is False, d
s = {x['key_name']: x for x in d['status']['dataplanes']}
assert s['dp2']['state'] == 'ENFORCED' and s['dp1']['state'] == 'UNREACHABLE', s
" "$out"
"$cli" status >/dev/null; rc=$?
check "status exits 1 while dp1 is unreachable ($rc)" [ $rc = 1 ]

# A change sent again with its request id (a retry after a timeout) is
# answered with the generation it made, never stored twice.
id=0123456789abcdef0123456789abcdef
out=$("$cli" apply p2.yaml -m "with an id" --request-id "$id" --wait 0 --json); rc=$?
check "an apply with --request-id is stored as generation 11 ($rc)" python3 -c "
import json, sys
d = json.loads(sys.argv[1])
assert d['ok'] and d['generation'] == '11' and d['request_id'] == sys.argv[2] and not d['already_applied'], d
" "$out" "$id"
out=$("$cli" apply p2.yaml -m "with an id" --request-id 01234567-89AB-CDEF-0123-456789ABCDEF --wait 0 2>&1)
grep -q "already applied as generation 11 (request $id): nothing stored again" <<<"$out" &&
  pass "the same id again (as a UUID) is already applied" || fail "apply again: $out"
check "history holds it once, with its id" python3 -c "
import json, sys
h = json.loads(sys.argv[1])['history']
assert [x['number'] for x in h if x['request_id'] == sys.argv[2]] == ['11'] and h[-1]['number'] == '11', h
" "$("$cli" history --json)" "$id"
check "the audit log holds the id" grep -q "\"request_id\":\"$id\"" store/audit.log
out=$("$cli" rollback 1 --request-id "$id" --wait 0 2>&1); rc=$?
[ $rc = 2 ] && grep -q "already made generation 11, an apply" <<<"$out" && pass "the id on another change is refused" ||
  fail "rollback with a used id: $rc $out"
"$cli" apply p1.yaml -m "after the id" --wait 0 >/dev/null
out=$("$cli" apply p2.yaml --request-id "$id" --wait 0 2>&1); rc=$?
[ $rc = 0 ] && grep -q "already applied as generation 11" <<<"$out" && grep -q "the current one is 12" <<<"$out" &&
  pass "an id whose generation was followed by others: exit 0, nothing stored" || fail "superseded id: $rc $out"
for bad in xyz 0123456789abcdef0123456789abcdeg 0123456789abcdef-0123456789abcdef; do
  out=$("$cli" apply p2.yaml --request-id "$bad" --wait 0 2>&1); rc=$?
  [ $rc = 2 ] && grep -q "is not a request id (32 hex digits, or a UUID)" <<<"$out" &&
    pass "--request-id $bad is refused" || fail "--request-id $bad: $rc $out"
done
check "none of them stored anything" [ "$("$cli" history --json | python3 -c "import json,sys; print(len(json.load(sys.stdin)['history']))")" = 12 ]

# Without the control plane, enforcement goes on unchanged.
for _ in $(seq 50); do [ "$(policy_of dp2 generation)" = 12 ] && break; sleep 0.1; done
kill -TERM "${pids[0]}"; wait "${pids[0]}"; rc=$?
check "the control plane stops cleanly on SIGTERM ($rc)" [ $rc = 0 ]
check "dp2 still enforces generation 12 with the control plane gone" [ "$(policy_of dp2 generation)" = 12 ]
check "and is still running" kill -0 "$pid_dp2"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; echo "--- cp.log"; cat cp.log; exit 1; }
