# Shared set-up of the end-to-end tests: each test sources this, gets its own
# lab (unique namespaces, veths and dataplane prefix) and a trap that removes
# the lab in every outcome. Exit 77 means skipped.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
lab="$top/tools/lab/lab.sh"
policy_src="$top/docs/examples/lab-policy.yaml"
name="e$$"
name=${name:0:8}
labs=("$name")  # every lab the test makes (lab_up NAME adds one), removed at exit
build=${BULKHEAD_BUILD_DIR:-$top/build}
cli="$build/tools/cli/bulkhead"
pids=()  # processes the test started, killed at exit
# python3 itself first on the PATH: a version manager's shim in front of it
# costs a second a call on a loaded machine, and tests call it often.
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
failures=0

if [ "$(id -u)" -ne 0 ] || ! ip netns list >/dev/null 2>&1; then
  echo "skipped: needs root and network namespaces"
  exit 77
fi

work=$(mktemp -d "/tmp/bulkhead-e2e-$name.XXXXXX")
# Each lab keeps its pid files and logs here, inside the test's own folder.
export BULKHEAD_LAB_RUN="$work/lab"
cleanup() {
  local rc=$? n p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  for n in "${labs[@]}"; do
    if [ "$rc" -ne 0 ] || [ "$failures" -ne 0 ]; then
      echo "--- dataplane log ($n) ---"
      cat "$BULKHEAD_LAB_RUN/$n/dp.log" 2>/dev/null | tail -40
    fi
    "$lab" down "$n" >/dev/null 2>&1
  done
  # An etcd cluster (tests/common/etcd_cluster.sh) stops before its data goes.
  declare -F etcd_stop >/dev/null && etcd_stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

policy="$work/policy.yaml"
cp "$policy_src" "$policy"

# lab_up [NAME]: the test's lab, or another one named NAME (1-8 lowercase
# letters or digits, unique to the test).
lab_up() {
  local n=${1:-$name}
  [ "$n" = "$name" ] || labs+=("$n")
  "$lab" up "$n"
}

# A control plane for the lab on loopback: keys cp and dp in $work, the CLI
# socket in $BULKHEAD_CONTROLPLANE, dataplane endpoint tcp://127.0.0.1:$cp_port
# (flow records on $flow_port when "flows" is given), both ports free ones
# the kernel picked. Stopped at exit.
start_controlplane() {
  (cd "$work" && "$cli" keys generate cp >/dev/null && "$cli" keys generate dp >/dev/null) || return 1
  { read -r cp_port; read -r flow_port; } < <(python3 "$top/tests/common/free_ports.py" 2)
  export BULKHEAD_CONTROLPLANE="ipc://$work/cli.sock"
  cp_flows=()
  [ "${1:-}" = flows ] && cp_flows=(--flow-listen "tcp://127.0.0.1:$flow_port")
  trap 'kill $cp_pid 2>/dev/null; cleanup' EXIT
  restart_controlplane
}
# Starts the control plane again (after a kill) on the same store, keys and
# endpoints; its output is appended to $work/cp.log.
restart_controlplane() {
  "$build/controlplane/bulkhead-controlplane" --store "$work/store" --key "$work/cp.key" \
    --dataplane-key "$work/dp.pub" --listen "tcp://127.0.0.1:$cp_port" "${cp_flows[@]}" \
    --cli "$BULKHEAD_CONTROLPLANE" >>"$work/cp.log" 2>&1 &
  cp_pid=$!
  for _ in $(seq 50); do "$cli" history >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "control plane did not start:"; cat "$work/cp.log"
  return 1
}
# traffic SECONDS OUT: real clients (tools/lab/client.py traffic) from web to the
# app's echo port across the dataplane, in the background; JSON in OUT.
traffic() {
  ip netns exec "bhl-$name-in" python3 "$top/tools/lab/client.py" traffic 10.0.1.10 10.0.2.20 5432 "$1" >"$2" 2>&1 &
  traffic_pid=$!
}
# json_get FILE EXPRESSION: evaluates a Python expression over the JSON in
# FILE (as `d`).
json_get() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
# dp_generation: the generation the lab's dataplane enforces.
dp_generation() { "$lab" telemetry "$name" /bulkhead/policy generation 2>/dev/null; }
# The dataplane options that connect it to that control plane.
controlplane_args() {
  echo --controlplane "tcp://127.0.0.1:$cp_port" --controlplane-key "$work/cp.pub" --key "$work/dp.key" --id lab
}
dp_start() { "$lab" dp-start "$name" "$policy" "$@"; }

# expect ok|blocked KIND SRC DST PORT -- what the check means
expect() {
  local want=$1 kind=$2 src=$3 dst=$4 port=$5; shift 5
  local got; got=$("$lab" probe "$name" "$kind" "$src" "$dst" "$port" 2>/dev/null | tail -1)
  if [ "$got" = "$want" ]; then
    echo "PASS $* ($kind $src -> $dst:$port $got)"
  else
    echo "FAIL $* ($kind $src -> $dst:$port: wanted $want, got ${got:-nothing})"
    failures=$((failures + 1))
  fi
}

check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "PASS $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}

finish() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  exit 0
}
