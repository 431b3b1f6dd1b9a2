# Control planes sharing a policy store in etcd, for shell tests: start
# them, and ask each who leads, under which term, and what it has stored.
# Source it after tests/integration/lib.sh or tests/e2e/lib.sh (they set
# build, cli, work and pids: every control plane started here is stopped
# with the test) and tests/common/etcd_cluster.sh.
#
# Set before start_cp: store (etcd://...), ttl (--lease-ttl seconds) and
# dataplane_keys (the admitted dataplanes' .pub files in $work). The
# control planes' key pair is $work/cp.key.
#
#   start_cp NAME PORT [OPTION...]
#                         control plane NAME (--name NAME) for dataplanes on
#                         tcp://127.0.0.1:PORT, its CLI on ipc://$work/NAME.sock,
#                         its log appended to $work/NAME.log; pid in cp_pid[NAME];
#                         OPTIONs go to it as they are
#   st NAME               its status --json ("" when it does not answer)
#   leads NAME            true when NAME leads
#   leader_seen_by NAME   the leader's name as NAME sees it ("standby" when
#                         NAME stands by, "" when it does not answer)
#   term_of NAME          the leader term as NAME sees it
#   history_of NAME       its history, "1:MESSAGE 2:MESSAGE ..."
#   within SECONDS CMD... runs CMD every 50 ms until it succeeds; false when
#                         SECONDS pass first
declare -A cp_pid
dataplane_keys=()

start_cp() {
  local k args=()
  for k in "${dataplane_keys[@]}"; do args+=(--dataplane-key "$work/$k"); done
  "$build/controlplane/bulkhead-controlplane" --store "$store" --name "$1" --lease-ttl "$ttl" --key "$work/cp.key" \
    "${args[@]}" --listen "tcp://127.0.0.1:$2" --cli "ipc://$work/$1.sock" "${@:3}" >>"$work/$1.log" 2>&1 &
  pids+=($!)
  cp_pid[$1]=$!
}
st() { "$cli" status --json --controlplane "ipc://$work/$1.sock" 2>/dev/null || true; }
leader_seen_by() { st "$1" | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(''.join(c['id'] for c in d.get('controllers', []) if c.get('leader')) if not d.get('standby') else 'standby')" 2>/dev/null; }
# Read from the text status: no interpreter's start between two polls, so
# a failover is timed closely.
leads() {
  local out
  out=$("$cli" status --controlplane "ipc://$work/$1.sock" 2>/dev/null)
  grep -q "^store etcd://" <<<"$out" && ! grep -q STANDBY <<<"$out"
}
term_of() { st "$1" | python3 -c "import json,sys; print(json.load(sys.stdin).get('leader_term', 0))"; }
history_of() { "$cli" history --json --controlplane "ipc://$work/$1.sock" | python3 -c "
import json, sys
print(' '.join(h['number'] + ':' + h['message'] for h in json.load(sys.stdin).get('history', [])))"; }
within() {
  local end=$(($(date +%s%N) + $1 * 1000000000)); shift
  until "$@"; do
    [ "$(date +%s%N)" -lt "$end" ] || return 1
    sleep 0.05
  done
}
