#!/usr/bin/env bash
# kill -9 the control plane in the middle of applies, 12 times spread over
# the time one apply takes: no generation is ever half written (the store opens every time
# with no unreadable file), every generation it lists can be read, and the
# dataplane ends on the store's newest generation with traffic unharmed.
source "$(dirname "$0")/lib.sh"
lab_up || exit 1
start_controlplane || exit 1
mkdir -p "$work/state"
# shellcheck disable=SC2046
dp_start $(controlplane_args) --state-dir "$work/state" || exit 1
# A policy large enough that compiling and writing it takes a while: the
# lab's rules, then 3,000 more.
{ cat "$policy"; for i in $(seq 3000); do echo "  - { id: extra-$i, from: web, to: app, proto: tcp, ports: [$((10000 + i))], action: allow }"; done; } >"$work/big.yaml"
check "the big policy applies" "$cli" apply "$work/big.yaml" -m "big" --wait 20
# How long an apply takes here (store and reply), to spread the kills over
# it: the i-th comes after i/8 of that time, from before the request is
# read to after the generation is written.
t0=$(date +%s%N)
"$cli" apply "$work/big.yaml" -m "timed" --wait 0 >/dev/null 2>&1
apply_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "one apply of the big policy: $apply_ms ms"
traffic 15 "$work/traffic.json"
for i in $(seq 12); do
  "$cli" apply "$work/big.yaml" -m "apply $i" --wait 0 >/dev/null 2>&1 &
  apply_pid=$!
  delay_ms=$((apply_ms * i / 8))
  sleep "$((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000)))"
  kill -KILL "$cp_pid"; wait "$cp_pid" 2>/dev/null
  kill "$apply_pid" 2>/dev/null; wait "$apply_pid" 2>/dev/null  # its answer will never come
  restart_controlplane || { failures=$((failures + 1)); break; }
done
check "the store never held an unreadable generation" bash -c "! grep -q 'not a readable generation' '$work/cp.log'"
"$cli" history --json >"$work/history.json"
n=$(json_get "$work/history.json" "len(d['history'])")
newest=$(json_get "$work/history.json" "d['history'][-1]['number']")
echo "generations stored: $n, newest $newest (2 + the applies of 12 that completed before their kill);" \
  "temporary files left by killed writes: $(find "$work/store/generations" -type f ! -name '*.pb' | wc -l)"
check "each kill left whole generations only: numbers 1..$newest without holes" \
  [ "$(json_get "$work/history.json" "[int(h['number']) for h in d['history']] == list(range(1, int(d['history'][-1]['number']) + 1))")" = True ]
bad=0
for g in $(seq 2 "$newest"); do "$cli" diff "$((g - 1))" --to "$g" >/dev/null || bad=$((bad + 1)); done
check "every generation reads back" [ "$bad" = 0 ]
for _ in $(seq 100); do [ "$(dp_generation)" = "$newest" ] && break; sleep 0.1; done
check "the dataplane enforces the newest generation $newest" [ "$(dp_generation)" = "$newest" ]
wait "$traffic_pid"
cat "$work/traffic.json"
check "traffic lost nothing" [ "$(json_get "$work/traffic.json" "d['echoes_lost'] + d['new_failed']")" = 0 ]
finish
