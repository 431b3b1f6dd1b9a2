// The dataplane's Prometheus metrics (--metrics-listen): the counters
// telemetry reads (dataplane/telemetry.cpp), as text exposition. The names
// and their meanings are listed in docs/operations.md.
//
// render() runs on the metrics server's helper thread: worker counters by
// relaxed loads, the rule set under the holder's reader mutex (as
// telemetry), the updater's and the exporter's atomics. Never on a worker.
#pragma once

#include <cstdint>
#include <string>

namespace bulkhead::dataplane {

class Engine;
class Updater;
class FlowExporter;

struct MetricsSources {
  Engine* engine = nullptr;
  const Updater* updater = nullptr;        // nullptr: no control channel
  const FlowExporter* exporter = nullptr;  // nullptr: flows not exported
  // Per-rule series for at most this many rules (in rule order); the rest
  // are summed into rule="_other". The default action is rule="_default".
  uint32_t max_rules = 1000;
};

std::string render_metrics(const MetricsSources& s);

}  // namespace bulkhead::dataplane
