#include "dataplane/metrics.h"

#include <mutex>
#include <string>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "common/prometheus.h"
#include "dataplane/engine.h"
#include "dataplane/flow_export.h"
#include "dataplane/updater.h"

namespace bulkhead::dataplane {
namespace {

using common::prometheus::Type;
using common::prometheus::Writer;

double ev(const WorkerStats& t, WorkerCounter c) { return static_cast<double>(t.events[static_cast<unsigned>(c)]); }
double ld(const std::atomic<uint64_t>& a) { return static_cast<double>(a.load(std::memory_order_relaxed)); }

// Worker events without a family of their own: one family, the event as a
// label (its meaning is the counter list's description).
bool own_family(WorkerCounter c) {
  switch (c) {
    case WorkerCounter::rx_packets:
    case WorkerCounter::rx_bytes:
    case WorkerCounter::tx_packets:
    case WorkerCounter::conn_new:
    case WorkerCounter::conn_expired:
    case WorkerCounter::conn_revoked:
    case WorkerCounter::flow_records:
    case WorkerCounter::flow_records_lost:
    case WorkerCounter::flow_records_suppressed:
    case WorkerCounter::polls:
    case WorkerCounter::busy_polls:
    case WorkerCounter::busy_cycles:
      return true;
    default:
      return false;
  }
}

void write_traffic(Writer& w, const WorkerStats& t) {
  w.single("bulkhead_worker_received_packets_total", Type::counter, "Packets the workers received", ev(t, WorkerCounter::rx_packets));
  w.single("bulkhead_worker_received_bytes_total", Type::counter, "Bytes the workers received", ev(t, WorkerCounter::rx_bytes));
  w.single("bulkhead_worker_transmitted_packets_total", Type::counter, "Packets the workers transmitted", ev(t, WorkerCounter::tx_packets));
  w.family("bulkhead_dropped_packets_total", Type::counter, "Packets dropped, by reason (docs/operations.md lists the reasons)");
  for (unsigned i = 0; i < kDropReasonCount; ++i)
    w.sample({{"reason", drop_reason_name(static_cast<DropReason>(i))}}, static_cast<double>(t.drops[i]));
  w.family("bulkhead_worker_events_total", Type::counter, "Worker events, by event (docs/operations.md lists them)");
  for (unsigned i = 0; i < kWorkerCounterCount; ++i) {
    const auto c = static_cast<WorkerCounter>(i);
    if (!own_family(c)) w.sample({{"event", worker_counter_name(c)}}, static_cast<double>(t.events[i]));
  }
}

void write_workers(Writer& w, Engine& e) {
  const double hz = static_cast<double>(rte_get_tsc_hz());
  auto per_worker = [&](const char* name, const char* help, auto value) {
    w.family(name, Type::counter, help);
    for (uint32_t i = 0; i < e.worker_count(); ++i) {
      const WorkerStats& s = e.worker(i).stats();
      w.sample({{"worker", std::to_string(i)}}, value(s));
    }
  };
  auto load = [](const WorkerStats& s, WorkerCounter c) {
    return static_cast<double>(__atomic_load_n(&s.events[static_cast<unsigned>(c)], __ATOMIC_RELAXED));
  };
  per_worker("bulkhead_worker_loop_passes_total", "Loop passes of each worker (flat: the worker has stopped)",
             [&](const WorkerStats& s) { return load(s, WorkerCounter::polls); });
  per_worker("bulkhead_worker_busy_loop_passes_total", "Loop passes of each worker that received packets",
             [&](const WorkerStats& s) { return load(s, WorkerCounter::busy_polls); });
  per_worker("bulkhead_worker_busy_seconds_total",
             "Seconds each worker spent in passes that received packets (its rate is the busy ratio)",
             [&](const WorkerStats& s) { return hz > 0 ? load(s, WorkerCounter::busy_cycles) / hz : 0.0; });
  per_worker("bulkhead_worker_packets_total", "Packets each worker received",
             [&](const WorkerStats& s) { return load(s, WorkerCounter::rx_packets); });
}

void write_ports(Writer& w) {
  struct Row {
    uint16_t port;
    rte_eth_stats st;
  };
  std::vector<Row> rows;
  uint16_t port;
  RTE_ETH_FOREACH_DEV(port) {
    rte_eth_stats st{};
    if (rte_eth_stats_get(port, &st) == 0) rows.push_back({port, st});
  }
  auto both = [&](const char* name, const char* help, uint64_t rte_eth_stats::*rx, uint64_t rte_eth_stats::*tx) {
    w.family(name, Type::counter, help);
    for (const Row& r : rows) {
      const std::string p = std::to_string(r.port);
      w.sample({{"port", p}, {"direction", "rx"}}, static_cast<double>(r.st.*rx));
      w.sample({{"port", p}, {"direction", "tx"}}, static_cast<double>(r.st.*tx));
    }
  };
  both("bulkhead_port_packets_total", "Packets through each port, by direction (the port's own counters)",
       &rte_eth_stats::ipackets, &rte_eth_stats::opackets);
  both("bulkhead_port_bytes_total", "Bytes through each port, by direction", &rte_eth_stats::ibytes,
       &rte_eth_stats::obytes);
  both("bulkhead_port_errors_total", "Packets each port failed to receive or transmit, by direction",
       &rte_eth_stats::ierrors, &rte_eth_stats::oerrors);
  auto one = [&](const char* name, const char* help, uint64_t rte_eth_stats::*f) {
    w.family(name, Type::counter, help);
    for (const Row& r : rows) w.sample({{"port", std::to_string(r.port)}}, static_cast<double>(r.st.*f));
  };
  one("bulkhead_port_missed_packets_total", "Packets each port dropped because its receive queues were full",
      &rte_eth_stats::imissed);
  one("bulkhead_port_no_buffer_total", "Receive failures for want of a packet buffer", &rte_eth_stats::rx_nombuf);
}

void write_connections(Writer& w, Engine& e, const WorkerStats& t) {
  ConnTable& c = e.conns();
  w.single("bulkhead_connections", Type::gauge, "Connections tracked now", static_cast<double>(c.count()));
  w.single("bulkhead_connections_max", Type::gauge, "Connections the table holds at most (--conn-max)",
           static_cast<double>(c.max_connections()));
  w.single("bulkhead_connections_new_total", Type::counter, "Connections admitted", ev(t, WorkerCounter::conn_new));
  w.single("bulkhead_connections_expired_total", Type::counter, "Connections ended by their idle timeout",
           ev(t, WorkerCounter::conn_expired));
  w.single("bulkhead_connections_revoked_total", Type::counter,
           "Connections cut because the rule set no longer allows them", ev(t, WorkerCounter::conn_revoked));
  w.single("bulkhead_connections_table_full_total", Type::counter,
           "New connections refused because the table was full",
           static_cast<double>(t.drops[static_cast<unsigned>(DropReason::conn_table_full)]));
  w.single("bulkhead_connection_table_bytes", Type::gauge, "Memory of the connection table",
           static_cast<double>(c.memory_bytes()));
}

void write_policy(Writer& w, Engine& e, uint32_t max_rules) {
  {
    std::lock_guard<std::mutex> lock(e.rules().readers());
    const RuleSet* rs = e.rules().acquire();
    w.single("bulkhead_policy_loaded", Type::gauge, "1 when a rule set is enforced, 0 when none is",
             rs != nullptr ? 1 : 0);
    if (rs != nullptr) {
      w.single("bulkhead_policy_generation", Type::gauge, "Generation of the active rule set (0: from a file)",
               static_cast<double>(rs->generation()));
      w.single("bulkhead_policy_epoch", Type::gauge, "Epoch of the active rule set (changes at every swap)",
               static_cast<double>(rs->epoch()));
      w.single("bulkhead_policy_rules", Type::gauge, "Rules in the active rule set", static_cast<double>(rs->rules().size()));
      w.family("bulkhead_classifier_entries", Type::gauge, "Classifier entries of the active rule set, by family");
      w.sample({{"family", "ipv4"}}, rs->acl_rules4());
      w.sample({{"family", "ipv6"}}, rs->acl_rules6());
      w.single("bulkhead_classifier_build_seconds", Type::gauge, "Time the active rule set took to build",
               static_cast<double>(rs->build_ns()) / 1e9);
      const auto n = static_cast<uint32_t>(rs->rules().size());
      const uint32_t shown = n < max_rules ? n : max_rules;
      RuleCounter other{};
      for (uint32_t i = shown; i < n; ++i) {
        const RuleCounter c = rs->total(i);
        other.packets += c.packets;
        other.bytes += c.bytes;
        other.connections += c.connections;
      }
      auto rows = [&](const char* name, const char* help, uint64_t RuleCounter::*f) {
        w.family(name, Type::counter, help);
        for (uint32_t i = 0; i < shown; ++i)
          w.sample({{"rule", rs->rules()[i].id}, {"action", rs->allows(i) ? "allow" : "deny"}},
                   static_cast<double>(rs->total(i).*f));
        if (shown < n) w.sample({{"rule", "_other"}, {"action", "mixed"}}, static_cast<double>(other.*f));
        w.sample({{"rule", "_default"}, {"action", rs->default_allow() ? "allow" : "deny"}},
                 static_cast<double>(rs->total(kNoRule).*f));
      };
      rows("bulkhead_rule_packets_total", "Packets matched by each rule (_default: the default action)",
           &RuleCounter::packets);
      rows("bulkhead_rule_bytes_total", "Bytes matched by each rule", &RuleCounter::bytes);
      rows("bulkhead_rule_connections_total", "Connections admitted or refused by each rule", &RuleCounter::connections);
    }
  }
  std::lock_guard<std::mutex> lock(e.status_mutex());
  const PolicyStatus& s = e.policy_status();
  w.family("bulkhead_policy_loads_total", Type::counter, "Rule set loads (start-up, reloads, pushes), by outcome");
  w.sample({{"outcome", "success"}}, static_cast<double>(s.loads));
  w.sample({{"outcome", "failure"}}, static_cast<double>(s.load_failures));
  w.single("bulkhead_policy_loaded_timestamp_seconds", Type::gauge, "Unix time the active rule set was loaded",
           static_cast<double>(s.loaded_at));
}

void write_control(Writer& w, const Updater& u) {
  const UpdaterStats& s = u.stats();
  w.single("bulkhead_control_messages_received_total", Type::counter, "Messages from the control plane",
           ld(s.received));
  w.family("bulkhead_control_pushes_total", Type::counter, "Rule set pushes from the control plane, by outcome");
  w.sample({{"outcome", "applied"}}, ld(s.applied));
  w.sample({{"outcome", "malformed"}}, ld(s.rejected_malformed));
  w.sample({{"outcome", "stale"}}, ld(s.rejected_stale));
  w.sample({{"outcome", "invalid"}}, ld(s.rejected_invalid));
  w.sample({{"outcome", "deposed"}}, ld(s.rejected_deposed));
  w.single("bulkhead_control_last_apply_seconds", Type::gauge, "Build and swap time of the last pushed rule set",
           ld(s.last_apply_us) / 1e6);
  w.single("bulkhead_control_handshake_failures_total", Type::counter, "Control channel handshakes that failed",
           ld(s.channel.handshake_failures));
  w.single("bulkhead_control_connections_lost_total", Type::counter, "Control channel connections lost",
           ld(s.channel.connections_lost));
  w.single("bulkhead_control_leader_term", Type::gauge, "The highest leader term a push was accepted under",
           ld(s.leader_term));
  w.family("bulkhead_control_connected", Type::gauge, "Control plane sessions past their handshake, by endpoint");
  for (const ControlPlaneStats& cp : s.control_planes)
    w.sample({{"endpoint", cp.endpoint}}, cp.connected.load(std::memory_order_relaxed) ? 1.0 : 0.0);
}

void write_flows(Writer& w, const WorkerStats& t, const FlowExporter* x) {
  w.single("bulkhead_flow_records_total", Type::counter, "Flow records the workers made",
           ev(t, WorkerCounter::flow_records));
  w.family("bulkhead_flow_records_lost_total", Type::counter, "Flow records lost, by cause");
  w.sample({{"cause", "ring_full"}}, ev(t, WorkerCounter::flow_records_lost));
  w.sample({{"cause", "unsent"}}, x != nullptr ? ld(x->stats().records_unsent) : 0.0);
  w.single("bulkhead_flow_records_suppressed_total", Type::counter,
           "Records of denied packets not made: over --flow-denied-rate", ev(t, WorkerCounter::flow_records_suppressed));
  if (x == nullptr) return;
  w.single("bulkhead_flow_records_sent_total", Type::counter, "Flow records sent to the control plane",
           ld(x->stats().records_sent));
  w.single("bulkhead_flow_batches_sent_total", Type::counter, "Flow record batches sent", ld(x->stats().batches_sent));
}

// Name bindings and the DNS snooping that makes them. The snooping
// counters go to families by their name's prefix (answers_*, ignored_*),
// so the list in dataplane/names/snoop.h stays the only one.
void write_names(Writer& w, Engine& e) {
  const names::BindingTable* t = e.bindings();
  const auto& l = e.bindings_limits();
  auto c = [&](std::atomic<uint64_t> names::BindingTable::Counters::*f) {
    return t != nullptr ? ld(t->counters().*f) : 0.0;
  };
  w.single("bulkhead_name_bindings", Type::gauge, "Name bindings alive now (DNS answers for the policy's names)",
           t != nullptr ? t->live_bindings() : 0);
  w.single("bulkhead_name_binding_names", Type::gauge, "Distinct names the live bindings hold",
           t != nullptr ? t->live_names() : 0);
  w.single("bulkhead_name_bindings_max", Type::gauge, "Bindings the table holds at most (0: no table yet)",
           t != nullptr ? l.bindings : 0);
  w.single("bulkhead_name_binding_table_bytes", Type::gauge, "Memory of the binding table",
           t != nullptr ? static_cast<double>(t->memory_bytes()) : 0.0);
  w.family("bulkhead_name_binding_changes_total", Type::counter,
           "Bindings made, refreshed, evicted (a full bucket) and expired (swept)");
  w.sample({{"change", "bound"}}, c(&names::BindingTable::Counters::bound));
  w.sample({{"change", "refreshed"}}, c(&names::BindingTable::Counters::refreshed));
  w.sample({{"change", "evicted"}}, c(&names::BindingTable::Counters::evicted));
  w.sample({{"change", "expired"}}, c(&names::BindingTable::Counters::expired));
  w.family("bulkhead_name_binding_refusals_total", Type::counter,
           "Bindings refused: a name's address cap (name_cap), the names cap (names_full)");
  w.sample({{"cause", "name_cap"}}, c(&names::BindingTable::Counters::name_cap));
  w.sample({{"cause", "names_full"}}, c(&names::BindingTable::Counters::names_full));

  const names::SnoopStats s = e.snoop_totals();
  const std::string_view answers = "answers_", ignored = "ignored_";
  auto each = [&](std::string_view prefix, const char* label) {
    for (size_t i = 0; i < names::kSnoopCounterCount; ++i) {
      const std::string_view name = names::snoop_counter_name(static_cast<names::SnoopCounter>(i));
      if (name.starts_with(prefix) && name != "answers_truncated")
        w.sample({{label, std::string(name.substr(prefix.size()))}}, static_cast<double>(s.events[i]));
    }
  };
  w.family("bulkhead_dns_answers_total", Type::counter,
           "Answers of trusted resolvers read, by outcome (bound, negative, not_mentioned, unbound)");
  each(answers, "outcome");
  w.family("bulkhead_dns_answers_ignored_total", Type::counter,
           "DNS answers not acted on, by reason (untrusted, malformed, unsolicited, ...: docs/egress.md)");
  each(ignored, "reason");
  w.family("bulkhead_dns_malformed_total", Type::counter, "Answers the DNS reader refused, by reason");
  for (size_t i = 1; i < names::kDnsErrorCount; ++i)
    w.sample({{"reason", std::string(names::dns_error_name(static_cast<names::DnsError>(i)))}},
             static_cast<double>(s.malformed[i]));
  w.family("bulkhead_dns_snoop_events_total", Type::counter,
           "Other DNS snooping events, by event (dataplane/names/snoop.h lists them)");
  for (size_t i = 0; i < names::kSnoopCounterCount; ++i) {
    const std::string_view name = names::snoop_counter_name(static_cast<names::SnoopCounter>(i));
    if ((!name.starts_with(answers) || name == "answers_truncated") && !name.starts_with(ignored))
      w.sample({{"event", std::string(name)}}, static_cast<double>(s.events[i]));
  }
}

}  // namespace

std::string render_metrics(const MetricsSources& s) {
  Writer w;
  Engine& e = *s.engine;
  const WorkerStats t = e.totals();
  w.single("bulkhead_workers", Type::gauge, "Worker lcores", e.worker_count());
  write_traffic(w, t);
  write_workers(w, e);
  write_ports(w);
  write_connections(w, e, t);
  write_policy(w, e, s.max_rules);
  if (s.updater != nullptr) write_control(w, *s.updater);
  write_flows(w, t, s.exporter);
  write_names(w, e);
  return w.take();
}

}  // namespace bulkhead::dataplane
