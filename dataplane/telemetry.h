// Counters over DPDK telemetry: /bulkhead/stats, /bulkhead/drops,
// /bulkhead/rules[,FIRST], /bulkhead/rule,ID, /bulkhead/policy,
// /bulkhead/conntrack, /bulkhead/ports, /bulkhead/control, /bulkhead/flows. Readable while the dataplane runs, e.g. with
// `dpdk-telemetry.py -f PREFIX`.
//
// The telemetry thread calls the handlers; they read worker counters with
// relaxed loads and the active rule set under the holder's reader mutex.
// rte_telemetry callbacks take no context, so the engine is registered once
// per process.
#pragma once

namespace bulkhead::dataplane {

class Engine;
class Updater;
class FlowExporter;

void register_telemetry(Engine* engine);
// /bulkhead/control: the control channel's counters.
void register_control_telemetry(Updater* updater);
// /bulkhead/flows: flow records recorded, lost, sent.
void register_flow_telemetry(FlowExporter* exporter);

}  // namespace bulkhead::dataplane
