# A ClickHouse server of a test's own (Debian clickhouse-server), sourced by
# the integration scripts that need one:
#
#   source tests/common/clickhouse.sh
#   clickhouse_start DIR      # sets ch_port (HTTP) and ch_url; 1 when it did not come up;
#                             # again with the same DIR: the same server (ports, data) restarted
#   clickhouse_query SQL      # runs SQL over HTTP, prints the answer (at most $ch_max_time s, 60)
#   clickhouse_stop           # stops it (also on exit, with the caller's trap)
#
# Everything it writes (data, temporary files, logs, its configuration) is
# under DIR; it listens on loopback only, on ports free when asked
# (free_ports.py). The caller's cleanup must call clickhouse_stop: a server
# left running would keep its ports and DIR busy.
ch_pid=
ch_server=${CLICKHOUSE_SERVER:-/usr/sbin/clickhouse-server}

clickhouse_start() {  # dir
  local dir=$1 tcp
  if [ -f "$dir/ports" ]; then
    { read -r ch_port; read -r tcp; } <"$dir/ports"
  else
    mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/log" "$dir/format_schemas"
    python3 "$(dirname "${BASH_SOURCE[0]}")/free_ports.py" 2 >"$dir/ports"
    { read -r ch_port; read -r tcp; } <"$dir/ports"
  fi
  cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/error.log</errorlog><size>10M</size><count>2</count></logger>
  <http_port>$ch_port</http_port>
  <tcp_port>$tcp</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <max_connections>64</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>32</max_concurrent_queries>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <mark_cache_size>67108864</mark_cache_size>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
XML
  cat >"$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage><log_queries>0</log_queries></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
  ch_url="http://127.0.0.1:$ch_port"
  (cd "$dir" && exec setsid "$ch_server" --config-file="$dir/config.xml" </dev/null >"$dir/log/stdout.log" 2>&1) &
  ch_pid=$!
  for _ in $(seq 200); do
    [ "$(curl -s --max-time 1 "$ch_url/ping" 2>/dev/null)" = "Ok." ] && return 0
    kill -0 "$ch_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "clickhouse-server did not come up:" >&2
  tail -20 "$dir/log/error.log" "$dir/log/stdout.log" >&2 2>/dev/null
  return 1
}

clickhouse_query() {  # sql
  curl -sS --max-time "${ch_max_time:-60}" --data-binary "$1" "$ch_url/"
}

clickhouse_stop() {
  [ -n "$ch_pid" ] || return 0
  kill -TERM "$ch_pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$ch_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$ch_pid" 2>/dev/null
  wait "$ch_pid" 2>/dev/null
  ch_pid=
}
