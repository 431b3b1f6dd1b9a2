// Counters over DPDK telemetry: /bulkhead/stats, /bulkhead/drops,
// /bulkhead/rules[,FIRST], /bulkhead/rule,ID, /bulkhead/policy,
// /bulkhead/conntrack, /bulkhead/ports. Readable while the dataplane runs, e.g. with
// `dpdk-telemetry.py -f PREFIX`.
//
// The telemetry thread calls the handlers; they read worker counters with
// relaxed loads and the active rule set under the holder's reader mutex.
// rte_telemetry callbacks take no context, so the engine is registered once
// per process.
#pragma once

namespace bulkhead::dataplane {

class Engine;

void register_telemetry(Engine* engine);

}  // namespace bulkhead::dataplane
