#!/usr/bin/env bash
# The bulkhead CLI on constructed policies: outputs, JSON, exit codes, and
# one clear error line for every kind of bad input.
set -uo pipefail
cli="${BULKHEAD_BUILD_DIR:-build}/tools/cli/bulkhead"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

# expect_run DESCRIPTION EXPECTED_EXIT PATTERN_IN_OUTPUT -- COMMAND...
expect_run() {
  local what=$1 code=$2 pattern=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$code" ]; then fail "$what: exit $rc, wanted $code: $out"; return; fi
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then fail "$what: no /$pattern/ in: $out"; return; fi
  pass "$what"
}

# expect_json DESCRIPTION EXPECTED_EXIT CONDITION -- COMMAND...
# Reads the command's output as JSON, one document per line, and checks a
# Python condition over `docs` (all of them) and `d` (the first).
expect_json() {
  local what=$1 code=$2 cond=$3; shift 4
  local out rc
  out=$("$@" 2>/dev/null); rc=$?
  if [ "$rc" -ne "$code" ]; then fail "$what: exit $rc, wanted $code: $out"; return; fi
  if ! python3 - "$cond" "$out" <<'PY'
import json, sys
docs = [json.loads(line) for line in sys.argv[2].splitlines() if line.strip()]
d = docs[0] if docs else None
sys.exit(0 if eval(sys.argv[1]) else 1)
PY
  then fail "$what: ($cond) does not hold for: $out"; return; fi
  pass "$what"
}

cat >"$work/p.yaml" <<'YAML'
version: 1
defaults: { action: deny, mode: enforce }
segments:
  web: [10.0.1.0/24, "fd00:1::/64"]
  db: [10.0.2.0/24, "fd00:2::/64"]
rules:
  - { id: block-one, from: 10.0.1.66, to: db, action: deny }
  - { id: web-to-db, from: web, to: db, proto: tcp, ports: [5432, "6000-6010"], action: allow }
  - { id: dns, from: web, to: db, proto: udp, ports: [53], action: allow }
  - { id: ping, from: web, to: db, proto: icmp, icmp_types: [echo-request], action: allow }
YAML
printf 'version: 1\nrules:\n  - { id: a, from: nowhere, action: allow }\n' >"$work/bad.yaml"

expect_run "validate a good policy" 0 "ok: 4 rules, 2 segments, 0 analysis errors" -- "$cli" policy validate "$work/p.yaml"
expect_run "validate names file:line:column" 2 "bad.yaml:3:20: error: unknown segment 'nowhere'" -- "$cli" policy validate "$work/bad.yaml"
expect_json "validate --json" 2 "d['valid'] is False and (d['diagnostics'][0]['line'], d['diagnostics'][0]['column']) == (3, 20)" -- "$cli" policy validate "$work/bad.yaml" --json
expect_run "validate a missing file" 2 "cannot open" -- "$cli" policy validate "$work/none.yaml"

expect_run "explain an allowed flow" 0 "decided by:  rule web-to-db \(.*p.yaml:8\)" -- "$cli" policy explain "$work/p.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:6005"
expect_run "explain lists why earlier rules did not match" 0 "block-one +7 +different source address" -- "$cli" policy explain "$work/p.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:5432"
expect_run "explain names the segments" 0 "source: +10.0.1.5 in segment web" -- "$cli" policy explain "$work/p.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:5432"
expect_run "explain a denied flow exits 1" 1 "the default action" -- "$cli" policy explain "$work/p.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:22"
expect_run "explain an explicit deny" 1 "rule block-one" -- "$cli" policy explain "$work/p.yaml" --flow "udp 10.0.1.66:5 -> 10.0.2.9:53"
expect_run "explain IPv6" 0 "rule dns" -- "$cli" policy explain "$work/p.yaml" --flow "udp [fd00:1::5]:5353 -> [fd00:2::9]:53"
expect_run "explain ICMP with type and code" 0 "rule ping" -- "$cli" policy explain "$work/p.yaml" --flow "icmp 10.0.1.5 -> 10.0.2.9 type 8 code 0"
expect_json "explain --json" 1 "d['verdict'] == 'deny' and d['rule'] is None" -- "$cli" policy explain "$work/p.yaml" --flow "tcp 10.0.1.5:1 -> 10.0.2.9:22" --json
expect_run "explain rejects a malformed flow" 2 "--flow: .*needs a port" -- "$cli" policy explain "$work/p.yaml" --flow "tcp 10.0.1.5 -> 10.0.2.9:22"
expect_run "explain rejects mixed families" 2 "different address families" -- "$cli" policy explain "$work/p.yaml" --flow "tcp 10.0.1.5:1 -> [fd00::1]:22"

# Rules written with names: explain decides by the names given, as the
# dataplane does by its bindings and the ClientHello; eval by addresses alone.
cat >"$work/names.yaml" <<'YAML'
version: 1
segments:
  payments: [10.1.0.0/16]
  resolvers: [10.0.0.53]
  stripe: { fqdn: [api.stripe.com, "*.stripe.network"] }
dns: { trusted: [resolvers] }
rules:
  - { id: dns, from: payments, to: resolvers, proto: udp, ports: [53], action: allow }
  - { id: stripe, from: payments, to: [stripe, 198.51.100.7], proto: tcp, ports: [443], action: allow }
  - { id: gh, from: payments, to: [internet, sni: "*.github.com"], proto: tcp, ports: [443], action: allow, mode: audit }
YAML
name_flow="tcp 10.1.0.5:40000 -> 203.0.113.9:443"
expect_run "validate a policy with names" 0 "ok: 3 rules" -- "$cli" policy validate "$work/names.yaml"
expect_run "explain: no answer seen, the fqdn rule does not match" 1 "stripe +9 +destination not answered for its names \(fqdn api.stripe.com, \*.stripe.network\)" -- "$cli" policy explain "$work/names.yaml" --flow "$name_flow"
expect_run "explain: no server name, the sni rule does not match" 1 "gh +10 +no server name given" -- "$cli" policy explain "$work/names.yaml" --flow "$name_flow"
expect_run "explain --name: answered for a name of the rule" 0 "its names: +fqdn api.stripe.com, \*.stripe.network" -- "$cli" policy explain "$work/names.yaml" --flow "$name_flow" --name API.Stripe.com.
expect_run "explain --name: a wildcard's name" 0 "decided by: +rule stripe" -- "$cli" policy explain "$work/names.yaml" --flow "$name_flow" --name a.b.stripe.network
expect_run "explain --sni: the server name decides, in the rule's mode" 0 "its mode: +audit" -- "$cli" policy explain "$work/names.yaml" --flow "$name_flow" --sni www.github.com
expect_run "explain --sni: another name" 1 "server name github.com is not one of its names" -- "$cli" policy explain "$work/names.yaml" --flow "$name_flow" --sni github.com
expect_json "explain --json: the address part needs no name" 0 "d['rule'] == 'stripe' and d['rule_names'].startswith('fqdn') and d['names'] == []" -- "$cli" policy explain "$work/names.yaml" --flow "tcp 10.1.0.5:1 -> 198.51.100.7:443" --json
expect_json "explain --json: why a rule's names failed" 1 "d['not_matched'][1]['because'] == 'names'" -- "$cli" policy explain "$work/names.yaml" --flow "$name_flow" --json
expect_run "explain refuses a bad --name" 2 "--name a..b: empty label" -- "$cli" policy explain "$work/names.yaml" --flow "$name_flow" --name a..b
printf 'tcp 10.1.0.5 40000 203.0.113.9 443\ntcp 10.1.0.5 40000 198.51.100.7 443\n' >"$work/name-tuples.txt"
expect_json "eval: names not seen, a rule with names decides by its addresses alone" 0 "[x['rule'] for x in docs] == [None, 'stripe']" -- "$cli" policy eval "$work/names.yaml" --tuples "$work/name-tuples.txt" --json

# Tenants: the same flow judged under each tenant's own rules, then the shared ones.
{ cat "$work/p.yaml"; cat <<'YAML'
tenants:
  blue:
    endpoint: 0x0a0b0c0d01020304
    rules:
      - { id: blue-ssh, from: web, to: db, proto: tcp, ports: [22], action: allow }
  red:
    vni: 801
    rules:
      - { id: red-no-db, from: web, to: db, proto: tcp, ports: [5432], action: deny }
YAML
} >"$work/tenants.yaml"
expect_run "validate counts the tenants" 0 "ok: 6 rules, 2 segments, 2 tenants, 0 analysis errors" -- "$cli" policy validate "$work/tenants.yaml"
expect_run "explain under a tenant: its own allow" 0 "decided by:  rule blue-ssh" -- "$cli" policy explain "$work/tenants.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:22" --tenant blue
expect_run "explain under no tenant: the default" 1 "the default action" -- "$cli" policy explain "$work/tenants.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:22"
expect_run "explain under a tenant: its own deny first" 1 "decided by:  rule red-no-db" -- "$cli" policy explain "$work/tenants.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:5432" --tenant red
expect_run "explain under a tenant lists its own earlier rules" 0 "blue-ssh +[0-9]+ +different destination port" -- "$cli" policy explain "$work/tenants.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:5432" --tenant blue
out=$("$cli" policy explain "$work/tenants.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:5432" --tenant blue 2>&1)
if grep -q "red-no-db\|different tenant" <<<"$out"; then fail "explain under a tenant shows another tenant's rules: $out"; else pass "explain under a tenant shows nothing of another tenant"; fi
out=$("$cli" policy explain "$work/tenants.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:5432" 2>&1)
if grep -q "blue-ssh\|red-no-db" <<<"$out"; then fail "explain without --tenant shows tenants' rules: $out"; else pass "explain without --tenant: the shared rules only"; fi
expect_json "explain --json under a tenant: no other tenant's rule" 0 "d['not_matched'][0]['rule'] == 'blue-ssh' and all(x['rule'] != 'red-no-db' and x['because'] != 'tenant' for x in d['not_matched'])" -- "$cli" policy explain "$work/tenants.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:5432" --tenant blue --json
printf 'tcp 10.0.1.5 41000 10.0.2.9 22\ntcp 10.0.1.5 41000 10.0.2.9 5432\n' >"$work/tenant-tuples.txt"
expect_run "eval without --tenant: as inline traffic" 0 "^deny -$" -- "$cli" policy eval "$work/tenants.yaml" --tuples "$work/tenant-tuples.txt"
expect_run "eval --tenant: the tenant's own rules first" 0 "^allow blue-ssh$" -- "$cli" policy eval "$work/tenants.yaml" --tuples "$work/tenant-tuples.txt" --tenant blue
expect_run "eval --tenant: another tenant's deny" 0 "^deny red-no-db$" -- "$cli" policy eval "$work/tenants.yaml" --tuples "$work/tenant-tuples.txt" --tenant red
expect_run "eval refuses an unknown tenant" 2 "no tenant 'green' .it defines blue, red." -- "$cli" policy eval "$work/tenants.yaml" --tuples "$work/tenant-tuples.txt" --tenant green
{ cat "$work/tenants.yaml"; echo "      - { id: red-db-again, from: web, to: db, proto: tcp, ports: [5432], action: allow }"; } >"$work/tenants-shadow.yaml"
expect_run "validate names the tenant of a shadowed rule" 1 "rule 'red-db-again' of tenant red can never match" -- "$cli" policy validate "$work/tenants-shadow.yaml"
expect_json "validate --json: the finding's tenant" 1 "any(f['kind'] == 'shadowed' and f['tenant'] == 'red' for f in d['findings'])" -- "$cli" policy validate "$work/tenants-shadow.yaml" --json
expect_json "explain --tenant --json" 0 "d['tenant'] == 'blue' and d['rule'] == 'web-to-db'" -- "$cli" policy explain "$work/tenants.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:5432" --tenant blue --json
expect_run "explain refuses an unknown tenant" 2 "no tenant 'green' .it defines blue, red." -- "$cli" policy explain "$work/tenants.yaml" --flow "tcp 10.0.1.5:41000 -> 10.0.2.9:22" --tenant green
expect_run "fmt writes the tenants back" 0 "endpoint: 0x0a0b0c0d01020304" -- "$cli" policy fmt "$work/tenants.yaml"

printf 'tcp 10.0.1.5 41000 10.0.2.9 5432\n6\t10.0.1.5\t1\t10.0.2.9\t6010\nudp 10.0.1.66 1 10.0.2.9 53\n17 fd00:1::5 1 fd00:2::9 53\ntcp 10.0.1.5 1 10.0.2.9 22\n' >"$work/t.txt"
out=$("$cli" policy eval "$work/p.yaml" --tuples "$work/t.txt")
want=$'allow web-to-db\nallow web-to-db\ndeny block-one\nallow dns\ndeny -'
[ "$out" = "$want" ] && pass "eval --tuples: one verdict per line" || fail "eval --tuples gave: $out"
out=$("$cli" policy eval "$work/p.yaml" --tuples - <"$work/t.txt" | wc -l)
[ "$out" = 5 ] && pass "eval reads stdin" || fail "eval from stdin gave $out lines"
expect_json "eval --json" 0 "[(x['verdict'], x['rule']) for x in docs] == [('allow', 'web-to-db'), ('allow', 'web-to-db'), ('deny', 'block-one'), ('allow', 'dns'), ('deny', None)]" -- "$cli" policy eval "$work/p.yaml" --tuples "$work/t.txt" --json
printf 'tcp 10.0.1.5 1 10.0.2.9 22\ntcp 10.0.1.5 x 10.0.2.9 22\n' >"$work/bad.txt"
out=$("$cli" policy eval "$work/p.yaml" --tuples "$work/bad.txt" 2>"$work/err"); rc=$?
[ $rc = 2 ] && [ -z "$out" ] && grep -q "bad.txt:2: 'x' is not a port" "$work/err" && pass "eval names the bad line and prints nothing" || fail "eval bad line: rc=$rc out=$out err=$(cat "$work/err")"
expect_run "eval needs exactly one input" 2 "exactly one of --tuples or --pcap" -- "$cli" policy eval "$work/p.yaml"
expect_run "eval of a broken policy" 2 "bad.yaml:3:20" -- "$cli" policy eval "$work/bad.yaml" --tuples "$work/t.txt"
echo "not a pcap" >"$work/x.pcap"
expect_run "eval rejects a file that is not a pcap" 2 "x.pcap" -- "$cli" policy eval "$work/p.yaml" --pcap "$work/x.pcap"

printf '@10.0.0.0/8\t192.168.1.0/24\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\n@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\t0x0000/0x0000\n' >"$work/cb"
expect_json "import-classbench --json summary" 0 "d['rules'] == 2" -- "$cli" policy import-classbench "$work/cb" -o "$work/cb.yaml" --json
expect_run "import-classbench writes a valid policy" 0 "ok: 2 rules" -- "$cli" policy validate "$work/cb.yaml"
out=$(printf 'tcp 10.1.1.1 5 192.168.1.7 80\nudp 1.1.1.1 5 2.2.2.2 9\n' | "$cli" policy eval "$work/cb.yaml" --tuples -)
[ "$out" = $'allow r1\nallow r2' ] && pass "imported rules keep order and ids" || fail "imported eval: $out"
printf '@10.0.0.0/8 192.168.1.0/24 0 : 65535 90 : 80 0x06/0xFF 0x0000/0x0000\n' >"$work/cb2"
expect_run "import-classbench names a bad line" 2 "cb2:1: bad port ranges" -- "$cli" policy import-classbench "$work/cb2" -o "$work/never.yaml"
[ ! -e "$work/never.yaml" ] && pass "nothing is written on error" || fail "an output was written despite the error"

# Analysis findings through validate.
cat >"$work/a.yaml" <<'YAML'
version: 1
segments:
  web: [10.0.1.0/24]
  db: [10.0.2.0/24]
  spare: [10.0.9.0/24]
rules:
  - { id: deny-db, to: db, action: deny }
  - { id: web-db, from: web, to: db, proto: tcp, ports: [5432], action: allow }
  - { id: db-open, to: 10.0.3.0/24, proto: tcp, ports: [5432], action: allow }
YAML
expect_run "validate reports a rule shadowed by the opposite action (exit 1)" 1 "a.yaml:8:5: error: \[shadowed\] rule 'web-db' can never match.*\(see deny-db at 7:5\)" -- "$cli" policy validate "$work/a.yaml"
expect_run "validate reports too-broad allows" 1 "\[too-broad\] rule 'db-open'.*port 5432" -- "$cli" policy validate "$work/a.yaml"
expect_run "validate reports unused segments" 1 "\[unused-segment\] segment 'spare'" -- "$cli" policy validate "$work/a.yaml"
expect_json "validate --json carries findings" 1 "any(f['kind'] == 'shadowed' and f['rules'] == ['web-db', 'deny-db'] for f in d['findings'])" -- "$cli" policy validate "$work/a.yaml" --json

# fmt and rule editing.
cp "$work/p.yaml" "$work/e.yaml"
printf '# header comment\n' | cat - "$work/p.yaml" >"$work/h.yaml"
expect_run "fmt --check on a hand-written file" 1 "not in canonical form" -- "$cli" policy fmt --check "$work/h.yaml"
"$cli" policy fmt -w "$work/h.yaml" && expect_run "fmt -w then --check" 0 "" -- "$cli" policy fmt --check "$work/h.yaml"
grep -q "^# header comment" "$work/h.yaml" && pass "fmt keeps the header comment" || fail "fmt dropped the header"
out=$(printf 'tcp 10.0.1.5 1 10.0.2.9 6005\n' | "$cli" policy eval "$work/h.yaml" --tuples -)
[ "$out" = "allow web-to-db" ] && pass "the formatted policy decides the same" || fail "formatted policy: $out"
printf '# top\nversion: 1\nrules:\n  # keep me\n  - { id: a, action: allow }\n' >"$work/c.yaml"
expect_run "fmt -w refuses to drop inner comments" 2 "comments below the header" -- "$cli" policy fmt -w "$work/c.yaml"
expect_run "rule list" 0 "web-to-db +allow +web +db +tcp +5432,6000-6010" -- "$cli" rule list "$work/e.yaml"
expect_run "rule add a just-in-time rule" 0 "added rule jit at position 1" -- "$cli" rule add "$work/e.yaml" --id jit --from 10.0.1.7 --to db --proto tcp --ports 22 --expires 2h --after block-one
expect_run "rule list shows its expiry" 0 "jit +allow .* in 1[12][0-9] min" -- "$cli" rule list "$work/e.yaml"
out=$(printf 'tcp 10.0.1.7 1 10.0.2.9 22\n' | "$cli" policy eval "$work/e.yaml" --tuples -)
[ "$out" = "allow jit" ] && pass "the JIT rule applies" || fail "jit eval: $out"
cp "$work/e.yaml" "$work/e.before"
# An --expires that is not a time to come is an error, never a permanent
# rule (unix 0 stood for "never"; '' used to be ignored; the big values
# overflowed a signed sum).
for bad in 0 '' 2020-01-01T00:00:00Z 999999999999999999d 9223372036854775807s 9223372036854775807 -5m 1.5h; do
  expect_run "rule add --expires '$bad' is refused" 2 "--expires: .*(has passed|neither a duration)" -- "$cli" rule add "$work/e.yaml" --id bad --to db --proto udp --ports 9 --expires "$bad"
done
cmp -s "$work/e.yaml" "$work/e.before" && pass "no refused --expires wrote a rule" || fail "a refused --expires changed the file"
expect_run "rule add with an absolute expiry to come" 0 "added rule old" -- "$cli" rule add "$work/e.yaml" --id old --to db --proto udp --ports 9 --expires 2099-01-01T00:00:00Z
printf 'version: 1
rules:
  - { id: gone, proto: udp, ports: [9], action: allow, expires: 2020-01-01T00:00:00Z }
' >"$work/x.yaml"
expect_run "validate flags an expired rule" 0 "x.yaml:3:5: warning: \[expired-rule\]" -- "$cli" policy validate "$work/x.yaml"
printf 'version: 1
rules:
  - { id: zero, proto: udp, ports: [9], action: allow, expires: 0 }
' >"$work/z.yaml"
expect_run "validate refuses expires: 0" 2 "z.yaml:3:65: error: expires must be" -- "$cli" policy validate "$work/z.yaml"
expect_run "rule move" 0 "moved rule old to position 0" -- "$cli" rule move "$work/e.yaml" --id old --position 0
expect_json "rule remove --json" 0 "d['ok'] is True and d['rule'] == 'old'" -- "$cli" rule remove "$work/e.yaml" --id old --json
cp "$work/e.yaml" "$work/e.before"
expect_run "rule add refuses an invalid rule" 2 "unknown segment 'nowhere'" -- "$cli" rule add "$work/e.yaml" --id x --from nowhere
expect_run "rule add refuses a rule shadowed by the opposite action" 1 "shadowed" -- "$cli" rule add "$work/e.yaml" --id y --from 10.0.1.66 --to db --proto udp --ports 53 --action allow --after web-to-db
expect_run "rule remove of an unknown id" 2 "no rule with id 'zzz'" -- "$cli" rule remove "$work/e.yaml" --id zzz
cmp -s "$work/e.yaml" "$work/e.before" && pass "nothing is written on error" || fail "the file changed after refused edits"
grep -q "^  - { id: block-one, from: 10.0.1.66" "$work/e.yaml" && pass "edits keep the other lines as written" || fail "edits rewrote other lines"

# A tenant's rules are listed and edited as the shared ones are.
"$cli" policy fmt -o "$work/te.yaml" "$work/tenants.yaml"
expect_run "rule list --tenant" 0 "red-no-db +deny +web +db +tcp +5432" -- "$cli" rule list "$work/te.yaml" --tenant red
out=$("$cli" rule list "$work/te.yaml" --tenant red 2>&1)
if grep -q "web-to-db\|blue-ssh" <<<"$out"; then fail "rule list --tenant shows other rules: $out"; else pass "rule list --tenant: that tenant's rules only"; fi
out=$("$cli" rule list "$work/te.yaml" 2>&1)
if grep -q "blue-ssh\|red-no-db" <<<"$out"; then fail "rule list shows tenants' rules: $out"; else pass "rule list without --tenant: the shared rules"; fi
expect_json "rule list --tenant --json" 0 "[x['id'] for x in d] == ['blue-ssh'] and d[0]['tenant'] == 'blue'" -- "$cli" rule list "$work/te.yaml" --tenant blue --json
cp "$work/te.yaml" "$work/te.before"
expect_run "rule add --tenant refuses an unknown tenant" 2 "no tenant 'green' .it defines blue, red." -- "$cli" rule add "$work/te.yaml" --tenant green --id g --proto udp --ports 53
expect_run "rule list --tenant refuses an unknown tenant" 2 "no tenant 'green' .it defines blue, red." -- "$cli" rule list "$work/te.yaml" --tenant green
expect_run "rule remove --tenant: the id must be that tenant's" 2 "tenant blue has no rule with id 'red-no-db'" -- "$cli" rule remove "$work/te.yaml" --tenant blue --id red-no-db
cmp -s "$work/te.yaml" "$work/te.before" && pass "refused tenant edits write nothing" || fail "a refused tenant edit changed the file"
expect_run "rule add --tenant" 0 "added rule blue-dns at position 0 of tenant blue" -- "$cli" rule add "$work/te.yaml" --tenant blue --id blue-dns --to db --proto udp --ports 53 --before blue-ssh
expect_run "rule add --tenant appends to the last tenant" 0 "added rule red-ntp at position 1 of tenant red" -- "$cli" rule add "$work/te.yaml" --tenant red --id red-ntp --to db --proto udp --ports 123
expect_run "rule move --tenant" 0 "moved rule blue-dns to position 1 of tenant blue" -- "$cli" rule move "$work/te.yaml" --tenant blue --id blue-dns --after blue-ssh
expect_json "the tenant's rules in their new order" 0 "[x['id'] for x in d] == ['blue-ssh', 'blue-dns']" -- "$cli" rule list "$work/te.yaml" --tenant blue --json
expect_run "the added tenant rule judges that tenant's traffic" 0 "decided by:  rule red-ntp" -- "$cli" policy explain "$work/te.yaml" --flow "udp 10.0.1.5:1 -> 10.0.2.9:123" --tenant red
expect_run "rule remove --tenant" 0 "removed rule blue-ssh of tenant blue" -- "$cli" rule remove "$work/te.yaml" --tenant blue --id blue-ssh
expect_run "rule remove --tenant of its last rule" 0 "removed rule blue-dns of tenant blue" -- "$cli" rule remove "$work/te.yaml" --tenant blue --id blue-dns
expect_run "rule add --tenant to an emptied list" 0 "added rule blue-web at position 0 of tenant blue" -- "$cli" rule add "$work/te.yaml" --tenant blue --id blue-web --to web --proto tcp --ports 8080
expect_run "the tenant edits keep the file canonical" 0 "" -- "$cli" policy fmt --check "$work/te.yaml"
grep -q "^  - { id: web-to-db" "$work/te.yaml" && pass "tenant edits leave the shared rules as written" || fail "tenant edits rewrote the shared rules"
printf 'version: 1\nrules:\n  - { id: a, proto: tcp, ports: [80], action: allow }\ntenants:\n  # first\n  blue:\n    vni: 5\n\n  red: { vni: 6 }\n' >"$work/tn.yaml"
expect_run "rule add --tenant gives a tenant its first rules: list" 0 "added rule b1" -- "$cli" rule add "$work/tn.yaml" --tenant blue --id b1 --proto tcp --ports 81
grep -q "^    rules:$" "$work/tn.yaml" && grep -q "^      - { id: b1, proto: tcp" "$work/tn.yaml" && pass "the new list sits under its tenant" || fail "new tenant list: $(cat "$work/tn.yaml")"
expect_run "rule add --tenant refuses a tenant written inline" 2 "tenant 'red' is written as one inline map" -- "$cli" rule add "$work/tn.yaml" --tenant red --id r1 --proto tcp --ports 81

expect_run "unknown command" 2 "unknown command 'policy nope'" -- "$cli" policy nope
expect_run "--help on a command" 0 "usage: bulkhead policy eval" -- "$cli" policy eval --help
expect_run "unknown option" 2 "unrecognised option|unrecognized option" -- "$cli" policy validate "$work/p.yaml" --frobnicate

# --help tells the truth about defaults: every option of every command says
# what it means and, taking a value, its default (boost's "(=VALUE)", or in
# words where it depends on something), and defaults applied in code show.
helps_ok=1
while read -r group name; do
  "$cli" $group $name --help >"$work/help.txt" 2>&1 || { fail "bulkhead $group $name --help: exit $?"; helps_ok=0; continue; }
  if ! out=$(python3 "$(dirname "$0")/../common/help_complete.py" "$work/help.txt" 1); then
    fail "bulkhead $group $name --help lacks meanings or defaults:"$'\n'"$out"; helps_ok=0
  fi
done < <("$cli" --help | sed -n 's/^  \([a-z-]*\) \([a-z-]*\) .*/\1 \2/p')
[ "$helps_ok" = 1 ] && pass "every command's --help gives each option its meaning and default"
# expect_help DESCRIPTION PATTERN -- COMMAND...: COMMAND --help, its lines
# joined (boost wraps meanings), matches PATTERN.
expect_help() {
  local what=$1 pattern=$2; shift 3
  local out
  out=$("$@" --help 2>&1 | tr -s ' \n' ' ')
  grep -qE -- "$pattern" <<<"$out" && pass "$what" || fail "$what: no /$pattern/ in: $out"
}
expect_help "flows --help shows the --since default" "--since arg \(=1h\)" -- "$cli" flows
expect_help "learn propose --help shows its longer --since default" "--since arg \(=24h\)" -- "$cli" learn propose
expect_help "names --help shows --tls-port 443" "--tls-port arg \(=443\)" -- "$cli" names
expect_help "capture --help says the --count defaults" "--count arg stop after N packets \(default 1000; 100 with --all\)" -- "$cli" capture
expect_help "rule add --help says what a left-out --proto means" "--proto arg [^-]* \(default: any\)" -- "$cli" rule add
expect_help "rollback --help says the message it stores" "\(default: \"rollback to generation GEN\"\)" -- "$cli" rollback
expect_run "rule list takes no message (it writes nothing)" 2 "unrecogni[sz]ed option '-m'" -- \
  "$cli" rule list "$work/p.yaml" -m "why"
expect_run "import-classbench --json without -o is refused" 2 "--json goes with -o" -- "$cli" policy import-classbench "$work/p.yaml" --json
expect_run "fmt takes one of -w, -o and --check" 2 "one of -w, -o and --check" -- "$cli" policy fmt "$work/p.yaml" -w --check

# Flows, learning and simulation from captures (offline: no control plane).
top=$(cd "$(dirname "$0")/../.." && pwd)
python3 "$top/tools/learn/enterprise.py" --out "$work/tm" --seed 3 --flows 400 --hours 4 >/dev/null
expect_run "flows of a capture" 0 "tcp/5432" -- "$cli" flows --pcap "$work/tm/period1.pcap" --top 100
expect_json "flows --json is one object per line" 0 "docs and all(isinstance(x, dict) and 'src' in x for x in docs)" -- "$cli" flows --pcap "$work/tm/period1.pcap" --json --port 443
expect_run "learn propose from a capture" 0 "" -- "$cli" learn propose --pcap "$work/tm/period1.pcap" --inventory "$work/tm/inventory.yaml" -o "$work/learned.yaml" --report "$work/report.txt"
expect_run "the proposal validates" 0 "ok:" -- "$cli" policy validate "$work/learned.yaml"
grep -q "scan-like" "$work/report.txt" && pass "the report names the scanner" || fail "report: $(head -5 "$work/report.txt")"
expect_run "simulate the next period: nothing newly blocked against itself" 0 "0 connections newly blocked" -- "$cli" simulate "$work/learned.yaml" --pcap "$work/tm/period2.pcap" --against "$work/learned.yaml"
expect_run "simulate against allow-everything lists what would be blocked" 1 "newly blocked:" -- "$cli" simulate "$work/learned.yaml" --pcap "$work/tm/period2.pcap" --against <(printf 'version: 1\ndefaults: { action: allow }\n')
printf 'not a capture\n' >"$work/bad.pcap"
expect_run "a file that is not a capture" 2 "bad.pcap" -- "$cli" learn propose --pcap "$work/bad.pcap"
head -c 5000 "$work/tm/period1.pcap" >"$work/cut.pcap"
expect_run "a capture cut short" 2 "cut.pcap" -- "$cli" learn propose --pcap "$work/cut.pcap" -o "$work/cut.yaml"
[ ! -e "$work/cut.yaml" ] && pass "nothing is written from a broken capture" || fail "cut.yaml written"
printf 'segments:\n  web: [10.0.1.5/24]\n' >"$work/inv.yaml"
expect_run "an inventory error has its location" 2 "inv.yaml:2:" -- "$cli" learn propose --pcap "$work/tm/period1.pcap" --inventory "$work/inv.yaml"
printf 'segments:\n  web: [%s]\n' "$(seq -s, 1 70000 | sed 's/[0-9]*/10.0.0.0\/8/g')" >"$work/huge.yaml"
expect_run "an inventory of 70,000 prefixes is handled" 0 "" -- "$cli" learn propose --pcap "$work/tm/period1.pcap" --inventory "$work/huge.yaml" -o /dev/null
expect_run "--min-flows 0 is a usage error" 2 "min-flows" -- "$cli" learn propose --pcap "$work/tm/period1.pcap" --min-flows 0
expect_run "--mode must be a mode" 2 "--mode" -- "$cli" learn propose --pcap "$work/tm/period1.pcap" --mode chaos
expect_run "--since with --pcap is refused (a capture is read whole)" 2 "--since: not with --pcap" -- "$cli" flows --pcap "$work/tm/period1.pcap" --since 2h
expect_run "names reads TLS on 443 unless told" 0 "" -- "$cli" names --pcap "$work/tm/period1.pcap"
expect_run "learn without a control plane says where it looked" 2 "control plane" -- env BULKHEAD_CONTROLPLANE="ipc://$work/none.sock" "$cli" learn propose --since 1h

# Output files: -o never replaces what is not a regular file.
mkfifo "$work/fifo"
cat "$work/fifo" >"$work/from_fifo" &
reader=$!
expect_run "-o to a FIFO writes through it" 0 "" -- "$cli" policy fmt "$work/p.yaml" -o "$work/fifo"
wait "$reader"
[ -p "$work/fifo" ] && grep -q "web-to-db" "$work/from_fifo" && pass "the FIFO is still a FIFO and carried the policy" || fail "FIFO replaced or empty"
expect_run "-o - writes standard output" 0 "web-to-db" -- "$cli" policy fmt "$work/p.yaml" -o -
expect_run "eval --pass/--drop to a device and a file" 0 "" -- "$cli" policy eval "$work/p.yaml" --pcap "$work/tm/period1.pcap" --pass /dev/null --drop "$work/drop.pcap"
[ -s "$work/drop.pcap" ] && [ -z "$(ls -A "$work" | grep '\.tmp\.')" ] && pass "the drop capture is in place, no temporary file left" || fail "drop.pcap missing or a temporary file left"
printf 'version: 1\ndefaults: { action: allow }\nrules: []\ntenants:\n  red:\n    vni: 801\n    rules:\n      - { id: red-rest, action: deny }\n' >"$work/tp.yaml"
expect_json "eval --pcap without --tenant: as inline traffic" 0 "d['denied'] == 0 and d['allowed'] > 0" -- "$cli" policy eval "$work/tp.yaml" --pcap "$work/tm/period1.pcap" --json
expect_json "eval --pcap --tenant: the tenant's catch-all decides" 0 "d['allowed'] == 0 and d['denied'] > 0 and d['rules'][0] == {'rule': 'red-rest', 'hits': d['denied']}" -- "$cli" policy eval "$work/tp.yaml" --pcap "$work/tm/period1.pcap" --tenant red --json
mkdir "$work/adir"
expect_run "-o to a directory is refused" 2 "not a regular file" -- "$cli" policy fmt "$work/p.yaml" -o "$work/adir"
ln -s "$work/target.yaml" "$work/link.yaml"; cp "$work/p.yaml" "$work/target.yaml"
expect_run "-o through a symlink" 0 "" -- "$cli" policy fmt "$work/p.yaml" -o "$work/link.yaml"
[ -L "$work/link.yaml" ] && grep -q "web-to-db" "$work/target.yaml" && pass "the symlink stays and its target is written" || fail "symlink replaced"

# Shell completion.
comp=$(bash -c "source '$(dirname "$0")/../../tools/completion/bulkhead.bash'; COMP_WORDS=(bulkhead rule ad); COMP_CWORD=2; _bulkhead; echo \${COMPREPLY[@]}")
[ "$comp" = "add" ] && pass "bash completion completes commands" || fail "completion gave '$comp'"
comp=$(bash -c "source '$(dirname "$0")/../../tools/completion/bulkhead.bash'; COMP_WORDS=(bulkhead policy eval p.yaml --tu); COMP_CWORD=4; _bulkhead; echo \${COMPREPLY[@]}")
[ "$comp" = "--tuples" ] && pass "bash completion completes options" || fail "completion gave '$comp'"

# Every run above that wrote to /dev/null must have left it a device.
[ -c /dev/null ] && pass "/dev/null is still a character device" || fail "/dev/null is no longer a character device"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
