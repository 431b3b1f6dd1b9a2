#!/usr/bin/env bash
# Damaged state files: the dataplane refuses each with one clear line and
# starts with no rule set, dropping everything (fail-closed), never a
# half-read set.
source "$(dirname "$0")/lib.sh"
lab_up || exit 1
mkdir -p "$work/state"
dp_start --state-dir "$work/state" || exit 1
expect ok http 10.0.1.10 10.0.2.20 8080 "the file policy allows HTTP"
for _ in $(seq 50); do [ -s "$work/state/ruleset.pb" ] && break; sleep 0.1; done
cp "$work/state/ruleset.pb" "$work/good.pb"
"$lab" dp-stop "$name"
size=$(stat -c %s "$work/good.pb")
log="$BULKHEAD_LAB_RUN/$name/dp.log"
try() {  # what, then the damaged file is in place
  local what=$1
  "$lab" dp-start "$name" "$work/no-such-policy.yaml" --state-dir "$work/state" >/dev/null 2>&1 || { echo "FAIL $what: did not start"; failures=$((failures + 1)); return; }
  check "$what: one clear line, fail-closed" grep -aq "ruleset.pb: .*starting with no rule set: dropping everything (fail-closed)" "$log" ||
    cat -v "$log"
  grep -a "ruleset.pb" "$log" | head -1
  expect blocked http 10.0.1.10 10.0.2.20 8080 "$what: nothing is forwarded"
  "$lab" dp-stop "$name"
}
python3 -c "import random,sys; random.seed(17); sys.stdout.buffer.write(bytes(random.randrange(256) for _ in range(300)))" >"$work/state/ruleset.pb"
try "300 random bytes"
head -c $((size - 1)) "$work/good.pb" >"$work/state/ruleset.pb"; try "cut by one byte"
: >"$work/state/ruleset.pb"; try "empty"
# Well-formed protobuf that no compiler made: a rule id used twice.
python3 - "$work/good.pb" "$work/state/ruleset.pb" <<'PY'
import sys

def varint(data, j):
    n = shift = 0
    while True:
        b = data[j]; j += 1; n |= (b & 0x7f) << shift; shift += 7
        if b < 0x80:
            return n, j

data = open(sys.argv[1], "rb").read()
# Walk the top-level fields to the first rule (field 6, length-delimited)
# and append a copy of it: its id then appears twice.
j = 0
while j < len(data):
    start = j
    tag, j = varint(data, j)
    kind = tag & 7
    if kind == 0:
        _, j = varint(data, j)
    elif kind == 2:
        n, j = varint(data, j)
        j += n
        if tag >> 3 == 6:
            open(sys.argv[2], "wb").write(data + data[start:j])
            break
    else:
        sys.exit("unexpected wire type %d" % kind)
PY
try "a rule id used twice"
check "the refusal names the duplicate" grep -q "used twice" "$log"
finish
