// bulkhead-controlplane: keeps the versioned policy and distributes it.
//
//   bulkhead-controlplane --config FILE | --store DIR|etcd://... --key cp.key --dataplane-key dp.pub ...
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iostream>

#include <boost/program_options.hpp>

#include "controlplane/server.h"
#include "common/option_needs.h"
#include "common/time.h"
#include "rules/parser.h"

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  using bulkhead::controlplane::Server;
  using bulkhead::controlplane::ServerConfig;
  ServerConfig cfg;
  uint64_t flow_log_mib = cfg.flow_log_limits.max_file_bytes >> 20;
  po::options_description o("bulkhead-controlplane [options]");
  // clang-format off
  o.add_options()
    ("help,h", "show this help")
    ("config", po::value<std::string>(), "read options from FILE (name = value lines, the names below; none by default)")
    ("store", po::value(&cfg.store_dir)->required(), "the policy store: a directory (generations, audit log, flow store), or etcd://HOST:PORT[,HOST:PORT...][/PREFIX] shared by several control planes, one of which leads (prefix /bulkhead by default; docs/ha.md) (required)")
    ("name", po::value(&cfg.name), "with an etcd store: this control plane's name among those sharing it (default: the host name)")
    ("lease-ttl", po::value(&cfg.lease_ttl_s)->default_value(cfg.lease_ttl_s), "with an etcd store: seconds of the leadership lease; a standby leads within about this long after the leader dies (2 to 60)")
    ("state-dir", po::value(&cfg.state_dir), "with an etcd store: a directory for this control plane's own state, the flow store's snapshot (none by default; --flow-listen needs it)")
    ("listen", po::value(&cfg.listen)->default_value(cfg.listen), "endpoint for dataplanes (CURVE)")
    ("key", po::value(&cfg.key_file)->required(), "this control plane's key pair file, from bulkhead keys generate (required)")
    ("dataplane-key", po::value(&cfg.dataplane_keys)->composing(), "public key file of an admitted dataplane (repeat; none by default: no dataplane admitted)")
    ("cli", po::value(&cfg.cli)->default_value(cfg.cli), "endpoint for the bulkhead CLI: ipc:// path (mode 0600), or tcp:// with CURVE and --cli-key")
    ("cli-key", po::value(&cfg.cli_keys)->composing(), "public key file of an operator admitted on a tcp:// CLI endpoint (repeat); NAME.pub is recorded as author \"key NAME\" (none by default)")
    ("flow-listen", po::value(&cfg.flow_listen), "endpoint for dataplanes' flow records (CURVE), e.g. tcp://0.0.0.0:7301 (none by default: no flow collection; the --flow-log and --flow-syslog options need it)")
    ("flow-log", po::value(&cfg.flow_log), "append every flow record to FILE as a JSON line, for a SIEM (none by default: no flow log)")
    ("flow-log-format", po::value<std::string>()->default_value("native"), "with --flow-log or --flow-syslog: lines as native | ecs (Elastic Common Schema) | ocsf (OCSF Network Activity)")
    ("flow-log-size", po::value(&flow_log_mib)->default_value(flow_log_mib), "with --flow-log: rotate it at this many MiB")
    ("flow-log-rotate", po::value<std::string>()->default_value("0"), "with --flow-log: also rotate it when a new period of this length starts (e.g. 1h, 1d: at hh:00 and 00:00 UTC); 0: by size only")
    ("flow-log-files", po::value(&cfg.flow_log_limits.keep_files)->default_value(cfg.flow_log_limits.keep_files), "with --flow-log: rotated flow logs kept (FILE.1 ... FILE.N)")
    ("flow-log-rate", po::value(&cfg.flow_log_limits.rate)->default_value(cfg.flow_log_limits.rate), "with --flow-log: lines a second, at most, of connection records and of denied records each")
    ("flow-syslog", po::value<std::string>(), "also send every flow record to a syslog collector at udp://HOST:PORT or tcp://HOST:PORT, one RFC 5424 message each (TCP: octet-counted frames), its payload the record in --flow-log-format (none by default)")
    ("flow-syslog-facility", po::value<std::string>()->default_value("local0"), "with --flow-syslog: the facility of its messages: user, daemon, auth, authpriv, local0 ... local7")
    ("flow-syslog-queue", po::value(&cfg.flow_syslog_options.queue)->default_value(cfg.flow_syslog_options.queue), "with --flow-syslog: messages held while the collector is slow or away; more are lost, counted")
    ("flow-syslog-hostname", po::value(&cfg.flow_syslog_options.hostname), "with --flow-syslog: the HOSTNAME field of its messages (default: this machine's name)")
    ("flow-store", po::value<std::string>()->default_value("memory"), "with --flow-listen: where flows are kept: memory (in this process, saved in the store directory) | clickhouse://HOST:PORT/DB (ClickHouse's HTTP interface, shared by every control plane that names it; tables created when absent)")
    ("flow-store-buffer", po::value(&cfg.flow_store_buffer)->default_value(cfg.flow_store_buffer), "with a clickhouse:// --flow-store: flow aggregates held while ClickHouse is slow or away; records of more are dropped, counted")
    ("flow-capacity", po::value(&cfg.flow_capacity)->default_value(cfg.flow_capacity), "with --flow-listen and the memory --flow-store: flow aggregates kept at most")
    ("flow-retention", po::value<std::string>()->default_value("30d"), "with --flow-listen: drop flow aggregates not seen for this long (ClickHouse: whole days, rounded up)")
    ("metrics-listen", po::value(&cfg.metrics_listen), "serve Prometheus metrics at http://ADDR:PORT/metrics, e.g. 127.0.0.1:9401 (none by default: no metrics endpoint)");
  // clang-format on
  // An option the daemon cannot use, or cannot use as given, is a usage
  // error (exit 2, which the service unit does not restart on); failing to
  // set up what the options ask for is exit 1.
  const auto usage_error = [](const std::string& message) {
    std::cerr << "bulkhead-controlplane: " << message << " (see --help)\n";
    return 2;
  };
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, o), vm);
    if (vm.count("help")) {
      std::cout << o << '\n';
      return 0;
    }
    if (vm.count("config")) {
      std::ifstream in(vm["config"].as<std::string>());
      if (!in) return usage_error("--config: cannot read " + vm["config"].as<std::string>());
      po::store(po::parse_config_file(in, o), vm);
    }
    po::notify(vm);
    const bool flow_syslog = vm.count("flow-syslog") != 0;
    const std::string flow_store = vm["flow-store"].as<std::string>();
    const bool clickhouse = flow_store != "memory";
    if (clickhouse) {
      bulkhead::controlplane::flows::ClickHouseTarget target;
      std::string why;
      if (!bulkhead::controlplane::flows::parse_clickhouse_url(flow_store, target, why))
        return usage_error("--flow-store: not memory, and " + why);
      cfg.flow_clickhouse = target;
    }
    if (cfg.flow_store_buffer == 0) return usage_error("--flow-store-buffer: at least 1");
    if (const std::string why = bulkhead::common::unmet_option_need(vm, {
            {{"flow-log", "flow-syslog", "flow-capacity", "flow-retention", "flow-store"}, !cfg.flow_listen.empty(),
             "--flow-listen (no flow record arrives)"},
            {{"flow-store-buffer"}, clickhouse, "a clickhouse:// --flow-store"},
            {{"flow-capacity"}, !clickhouse, "the memory --flow-store (ClickHouse keeps every aggregate for --flow-retention)"},
            {{"flow-log-size", "flow-log-rotate", "flow-log-files", "flow-log-rate"}, !cfg.flow_log.empty(), "--flow-log"},
            {{"flow-log-format"}, !cfg.flow_log.empty() || flow_syslog, "--flow-log or --flow-syslog"},
            {{"flow-syslog-facility", "flow-syslog-queue", "flow-syslog-hostname"}, flow_syslog, "--flow-syslog"},
            {{"cli-key"}, cfg.cli.rfind("tcp://", 0) == 0, "a tcp:// --cli endpoint (ipc:// admits by file mode)"},
            {{"name", "lease-ttl", "state-dir"}, bulkhead::controlplane::is_etcd_url(cfg.store_dir),
             "an etcd:// --store (a directory store has one control plane)"},
        });
        !why.empty())
      return usage_error(why);
    if (cfg.lease_ttl_s < 2 || cfg.lease_ttl_s > 60) return usage_error("--lease-ttl: 2 to 60 seconds");
    if (cfg.name.empty()) {
      char host[256] = {};
      gethostname(host, sizeof(host) - 1);
      cfg.name = host;
    }
    if (bulkhead::controlplane::is_etcd_url(cfg.store_dir)) {
      bulkhead::controlplane::EtcdTarget target;
      std::string why;
      if (!bulkhead::controlplane::parse_etcd_url(cfg.store_dir, target, why)) return usage_error("--store: " + why);
    }
    int64_t retention = 0;
    if (!bulkhead::common::parse_duration(vm["flow-retention"].as<std::string>(), retention))
      return usage_error("--flow-retention: not a duration (e.g. 30d, 12h)");
    cfg.flow_retention_s = retention;
    if (!bulkhead::controlplane::flows::parse_log_format(vm["flow-log-format"].as<std::string>(),
                                                         cfg.flow_log_limits.format))
      return usage_error("--flow-log-format: not native, ecs or ocsf");
    if (const std::string every = vm["flow-log-rotate"].as<std::string>(); every != "0") {
      if (!bulkhead::common::parse_duration(every, cfg.flow_log_limits.rotate_every_s))
        return usage_error("--flow-log-rotate: not a duration (e.g. 1h, 1d) or 0");
    }
    if (flow_syslog) {
      bulkhead::controlplane::flows::SyslogTarget target;
      std::string why;
      if (!bulkhead::controlplane::flows::parse_syslog_target(vm["flow-syslog"].as<std::string>(), target, why))
        return usage_error("--flow-syslog: " + why);
      cfg.flow_syslog = target;
    }
    if (!bulkhead::controlplane::flows::parse_syslog_facility(vm["flow-syslog-facility"].as<std::string>(),
                                                              cfg.flow_syslog_options.facility))
      return usage_error("--flow-syslog-facility: not user, daemon, auth, authpriv or local0 ... local7");
    cfg.flow_syslog_options.format = cfg.flow_log_limits.format;
    if (const std::string why = bulkhead::controlplane::flows::check(cfg.flow_syslog_options); !why.empty())
      return usage_error(why);
    cfg.flow_log_limits.max_file_bytes = flow_log_mib > (UINT64_MAX >> 20) ? UINT64_MAX : flow_log_mib << 20;
    if (const std::string why = bulkhead::controlplane::flows::check(cfg.flow_log_limits); !why.empty())
      return usage_error(why);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  // Nothing the daemon writes (generations, audit log, flow store and log)
  // is for every user of the machine to read.
  ::umask(027);
  std::string error;
  auto server = Server::create(cfg, error);
  if (!server) {
    std::cerr << "bulkhead-controlplane: " << error << '\n';
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::cout << "bulkhead-controlplane: ready: store " << cfg.store_dir << ", dataplanes on " << cfg.listen << ", CLI on " << cfg.cli
            << (cfg.flow_listen.empty() ? std::string() : ", flow records on " + cfg.flow_listen) << std::endl;
  server->run(g_stop);
  return 0;
}
