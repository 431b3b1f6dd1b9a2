// bulkhead-dataplane: the inline enforcer.
//
//   bulkhead-dataplane [EAL options] -- --policy FILE [options]
//
// The main lcore sets up, then stays in control: signals (SIGHUP reloads
// the policy, SIGINT/SIGTERM stop), rule log lines, rule expiry. Every other
// lcore runs a worker. Set-up errors are one clear message and exit code 1.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include <unistd.h>

#include <rte_eal.h>
#include <rte_lcore.h>

#include "common/file_write.h"
#include "common/metrics_server.h"
#include "dataplane/capture_server.h"
#include "dataplane/config.h"
#include "dataplane/eal_runtime.h"
#include "dataplane/engine.h"
#include "dataplane/flow_export.h"
#include "dataplane/log.h"
#include "dataplane/metrics.h"
#include "dataplane/ports.h"
#include "dataplane/telemetry.h"
#include "dataplane/updater.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_reload = 0;

void on_signal(int sig) {
  if (sig == SIGHUP) g_reload = 1;
  else g_stop = 1;
}

// Exit 2: the options cannot be used as given (the service unit does not
// restart on it); exit 1: setting up what they ask for failed.
constexpr int kExitUsage = 2;

int fail(const std::string& message, int status = 1) {
  std::fprintf(stderr, "bulkhead-dataplane: %s\n", message.c_str());
  return status;
}

void print_stats(bulkhead::dataplane::Engine& engine) {
  using namespace bulkhead::dataplane;
  const WorkerStats t = engine.totals();
  uint64_t dropped = 0;
  for (unsigned i = 0; i < kDropReasonCount; ++i) dropped += t.drops[i];
  BH_LOG(INFO, "rx %lu tx %lu dropped %lu connections %lu new %lu",
         static_cast<unsigned long>(t.events[static_cast<unsigned>(WorkerCounter::rx_packets)]),
         static_cast<unsigned long>(t.events[static_cast<unsigned>(WorkerCounter::tx_packets)]),
         static_cast<unsigned long>(dropped), static_cast<unsigned long>(engine.conns().count()),
         static_cast<unsigned long>(t.events[static_cast<unsigned>(WorkerCounter::conn_new)]));
}

// `bulkhead-dataplane --help`: the EAL answers it before it sets anything
// up, with its own options and then, through this hook, the dataplane's.
void print_options(const char*) {
  char name[] = "bulkhead-dataplane", help[] = "--help";
  char* args[] = {name, help, nullptr};
  std::string error;
  bool shown = false;
  (void)bulkhead::dataplane::parse_config(2, args, error, shown);
  std::fflush(stdout);
}

// Everything once the EAL is up: `argv` holds the options after `--`.
int serve(int argc, char** argv) {
  using namespace bulkhead::dataplane;
  std::string error;
  bool help = false;
  const auto cfg = parse_config(argc, argv, error, help);
  if (!cfg) return help ? 0 : fail(error + " (see --help)", kExitUsage);

  std::vector<unsigned> lcores;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) lcores.push_back(lcore);
  if (lcores.empty()) return fail("no worker lcore: give the EAL at least two lcores (e.g. -l 0,1)");
  const auto workers = static_cast<uint32_t>(lcores.size());

  auto engine = Engine::create(*cfg, workers, error);
  if (!engine) return fail(error);
  // A dataplane of a control plane boots on the generation it was last
  // given (kept in the state directory), before any port forwards: the
  // policy file is older news. Otherwise the policy file first; the kept
  // rule set when the file is missing or broken; with neither, a state
  // directory means start without rules (fail closed or open), and no
  // state directory means a setup error.
  bool loaded = false;
  if (!cfg->controlplane.empty() && !cfg->state_dir.empty() && !cfg->policy_path.empty()) {
    std::string kept_error;
    loaded = engine->load_persisted(kept_error) && engine->rules().acquire()->generation() > 0;
    if (loaded)
      BH_LOG(NOTICE, "enforcing the rule set kept in %s (generation %lu from the control plane); %s not loaded",
             cfg->state_dir.c_str(), static_cast<unsigned long>(engine->rules().acquire()->generation()),
             cfg->policy_path.c_str());
  }
  if (!loaded && !cfg->policy_path.empty()) {
    loaded = engine->load_policy_file(cfg->policy_path, error);
    if (!loaded && cfg->state_dir.empty()) return fail("policy not loaded:\n" + error);
    if (!loaded) BH_LOG(ERR, "policy not loaded:\n%s", error.c_str());
  }
  if (!loaded && !cfg->state_dir.empty()) {
    loaded = engine->load_persisted(error);
    if (loaded) BH_LOG(NOTICE, "enforcing the rule set kept in %s", cfg->state_dir.c_str());
    else BH_LOG(ERR, "%s; starting with no rule set: %s", error.c_str(),
                cfg->fail_open ? "forwarding everything (fail-open)" : "dropping everything (fail-closed)");
  }

  PortsSetup ports;
  if (!setup_ports(*cfg, workers, ports, error)) {
    stop_ports(ports);
    return fail(error);
  }
  engine->attach(ports);
  register_telemetry(engine.get());

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_signal);
  if (!cfg->pid_file.empty() && !bulkhead::common::write_file(cfg->pid_file, std::to_string(getpid()) + "\n", error, 0644)) {
    stop_ports(ports);
    return fail(error);
  }

  if (!engine->launch(lcores, error)) {
    stop_ports(ports);
    return fail(error);
  }
  std::unique_ptr<Updater> updater;
  if (!cfg->controlplane.empty()) {
    UpdaterConfig uc;
    for (size_t k = 0; k < cfg->controlplanes.size(); ++k)
      uc.channels.push_back({cfg->controlplanes[k], controlplane_key_for(*cfg, k), cfg->key, cfg->id});
    uc.max_message_bytes = cfg->controlplane_max_message;
    updater = Updater::start(uc, *engine, error);
    if (!updater) {
      engine->stop();
      stop_ports(ports);
      return fail(error);
    }
    register_control_telemetry(updater.get());
  }
  std::unique_ptr<FlowExporter> exporter;
  if (!cfg->flow_export.empty()) {
    FlowExportConfig fc;
    for (size_t k = 0; k < cfg->flow_exports.size(); ++k)
      fc.channels.push_back({cfg->flow_exports[k], controlplane_key_for(*cfg, k), cfg->key, cfg->id});
    fc.sample = cfg->flow_sample;
    // Records follow the leader the control channel follows.
    if (updater) fc.target = &updater->stats().flows_to;
    exporter = FlowExporter::start(fc, *engine, error);
    if (!exporter) {
      if (updater) updater->stop();
      engine->stop();
      stop_ports(ports);
      return fail("--flow-export: " + error);
    }
    register_flow_telemetry(exporter.get());
  }
  // Prometheus /metrics, served by a helper thread (off the workers' lcores).
  std::unique_ptr<bulkhead::common::MetricsServer> metrics;
  if (!cfg->metrics_listen.empty()) {
    const MetricsSources sources{engine.get(), updater.get(), exporter.get(), cfg->metrics_max_rules};
    metrics = bulkhead::common::MetricsServer::start(cfg->metrics_listen, [sources] { return render_metrics(sources); }, error);
    if (!metrics) {
      if (updater) updater->stop();
      engine->stop();
      if (exporter) exporter->stop();
      stop_ports(ports);
      return fail("--metrics-listen: " + error);
    }
  }
  // `bulkhead capture` finds the capture socket by the EAL's file prefix.
  auto capture = CaptureServer::start(*engine, "", error);
  if (!capture) BH_LOG(ERR, "no packet capture: %s", error.c_str());
  // The control channel may already be swapping in a pushed set.
  std::string running = cfg->fail_open ? "no rule set (fail-open)" : "no rule set (fail-closed)";
  if (loaded) {
    std::lock_guard<std::mutex> lock(engine->rules().readers());
    const RuleSet* rs = engine->rules().acquire();
    running = "policy generation " + std::to_string(rs->generation()) + " from " +
              (rs->source_name().empty() ? std::string("the kept rule set") : rs->source_name());
  }
  std::printf("bulkhead-dataplane: ready: %zu ports, %u workers, %s\n", ports.ports.size(), workers, running.c_str());
  std::fflush(stdout);

  uint64_t last_stats = rte_get_tsc_cycles();
  while (!g_stop) {
    if (g_reload) {
      g_reload = 0;
      if (cfg->policy_path.empty()) {
        BH_LOG(NOTICE, "SIGHUP: no --policy file to reload");
      } else if (engine->load_policy_file(cfg->policy_path, error)) {
        BH_LOG(NOTICE, "policy reloaded from %s", cfg->policy_path.c_str());
      } else {
        BH_LOG(ERR, "policy reload failed; still enforcing the previous rule set:\n%s", error.c_str());
      }
    }
    engine->housekeeping();
    if (cfg->stats_interval_s > 0 && rte_get_tsc_cycles() - last_stats > rte_get_tsc_hz() * cfg->stats_interval_s) {
      last_stats = rte_get_tsc_cycles();
      print_stats(*engine);
    }
    usleep(5000);
  }
  BH_LOG(NOTICE, "stopping");
  metrics.reset();  // it reads the updater, the exporter and the engine
  capture.reset();  // its client gets the totals; the workers are disarmed
  if (updater) updater->stop();
  engine->stop();
  if (exporter) exporter->stop();  // after the workers: their last records leave too
  print_stats(*engine);
  stop_ports(ports);
  engine.reset();
  if (!cfg->pid_file.empty()) std::remove(cfg->pid_file.c_str());
  rte_eal_cleanup();
  return 0;
}

int run(int argc, char** argv) {
  rte_set_application_usage_hook(print_options);
  const int eal = rte_eal_init(argc, argv);
  if (eal < 0) return fail(std::string("EAL initialisation failed: ") + rte_strerror(rte_errno));
  // The EAL's runtime directory (its memory maps and sockets) is this
  // process's: removed however it stops, short of being killed.
  struct RemoveRuntimeDir {
    std::string dir = rte_eal_get_runtime_dir();
    ~RemoveRuntimeDir() { bulkhead::dataplane::remove_eal_runtime_dir(dir); }
  } runtime_dir;
  return serve(argc - eal, argv + eal);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    return fail(std::string("unexpected error: ") + e.what());
  }
}
