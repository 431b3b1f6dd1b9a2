#include "dataplane/telemetry.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "dataplane/engine.h"
#include "dataplane/flow_export.h"
#include "dataplane/updater.h"

namespace bulkhead::dataplane {
namespace {

Engine* g_engine = nullptr;

// Keeps each reply inside the telemetry buffer.
constexpr uint32_t kRulesPerPage = 48;

void add_u64(rte_tel_data* d, const char* name, uint64_t v) { rte_tel_data_add_dict_u64(d, name, v); }

int handle_stats(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  const WorkerStats t = g_engine->totals();
  for (unsigned i = 0; i < kWorkerCounterCount; ++i)
    add_u64(d, worker_counter_name(static_cast<WorkerCounter>(i)), t.events[i]);
  uint64_t dropped = 0;
  for (unsigned i = 0; i < kDropReasonCount; ++i) dropped += t.drops[i];
  add_u64(d, "dropped", dropped);
  add_u64(d, "connections", g_engine->conns().count());
  add_u64(d, "workers", g_engine->worker_count());
  add_u64(d, "tsc_hz", rte_get_tsc_hz());  // busy_cycles' unit
  return 0;
}

int handle_drops(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  const WorkerStats t = g_engine->totals();
  for (unsigned i = 0; i < kDropReasonCount; ++i) add_u64(d, drop_reason_name(static_cast<DropReason>(i)), t.drops[i]);
  return 0;
}

// One rule as a flat dictionary.
void add_rule_fields(rte_tel_data* d, const RuleSet& rs, uint32_t index) {
  const RuleCounter c = rs.total(index);
  rte_tel_data_add_dict_string(d, "id", index == kNoRule ? "-" : rs.rules()[index].id.c_str());
  if (index != kNoRule) rte_tel_data_add_dict_u64(d, "index", index);
  rte_tel_data_add_dict_string(d, "action", rs.allows(index) ? "allow" : "deny");
  rte_tel_data_add_dict_u64(d, "packets", c.packets);
  rte_tel_data_add_dict_u64(d, "bytes", c.bytes);
  rte_tel_data_add_dict_u64(d, "connections", c.connections);
}

// /bulkhead/rules[,FIRST]: rules FIRST.. in pages of column arrays; the last
// page ends with the default action as "-".
int handle_rules(const char*, const char* params, rte_tel_data* d) {
  uint32_t first = 0;
  if (params != nullptr && *params != '\0') {
    char* end = nullptr;
    const unsigned long v = std::strtoul(params, &end, 10);
    if (end == params || *end != '\0') return -EINVAL;
    first = static_cast<uint32_t>(v);
  }
  rte_tel_data_start_dict(d);
  std::lock_guard<std::mutex> lock(g_engine->rules().readers());
  const RuleSet* rs = g_engine->rules().acquire();
  if (rs == nullptr) return 0;
  const auto n = static_cast<uint32_t>(rs->rules().size());
  rte_tel_data_add_dict_u64(d, "total_rules", n);
  rte_tel_data_add_dict_u64(d, "first", first);
  // Column arrays: 22.11 telemetry nests only arrays, and rule ids may hold
  // characters dictionary keys may not. The default action comes last, id "-".
  rte_tel_data* ids = rte_tel_data_alloc();
  rte_tel_data* actions = rte_tel_data_alloc();
  rte_tel_data* packets = rte_tel_data_alloc();
  rte_tel_data* bytes = rte_tel_data_alloc();
  rte_tel_data* conns = rte_tel_data_alloc();
  if (ids == nullptr || actions == nullptr || packets == nullptr || bytes == nullptr || conns == nullptr) {
    for (auto* t : {ids, actions, packets, bytes, conns}) rte_tel_data_free(t);
    return -ENOMEM;
  }
  rte_tel_data_start_array(ids, RTE_TEL_STRING_VAL);
  rte_tel_data_start_array(actions, RTE_TEL_STRING_VAL);
  rte_tel_data_start_array(packets, RTE_TEL_U64_VAL);
  rte_tel_data_start_array(bytes, RTE_TEL_U64_VAL);
  rte_tel_data_start_array(conns, RTE_TEL_U64_VAL);
  auto row = [&](uint32_t index) {
    const RuleCounter c = rs->total(index);
    rte_tel_data_add_array_string(ids, index == kNoRule ? "-" : rs->rules()[index].id.c_str());
    rte_tel_data_add_array_string(actions, rs->allows(index) ? "allow" : "deny");
    rte_tel_data_add_array_u64(packets, c.packets);
    rte_tel_data_add_array_u64(bytes, c.bytes);
    rte_tel_data_add_array_u64(conns, c.connections);
  };
  for (uint32_t i = first; i < n && i < first + kRulesPerPage; ++i) row(i);
  if (first + kRulesPerPage >= n) row(kNoRule);
  rte_tel_data_add_dict_container(d, "ids", ids, 0);
  rte_tel_data_add_dict_container(d, "actions", actions, 0);
  rte_tel_data_add_dict_container(d, "packets", packets, 0);
  rte_tel_data_add_dict_container(d, "bytes", bytes, 0);
  rte_tel_data_add_dict_container(d, "connections", conns, 0);
  if (first + kRulesPerPage < n) rte_tel_data_add_dict_u64(d, "next", first + kRulesPerPage);
  return 0;
}

int handle_rule(const char*, const char* params, rte_tel_data* d) {
  if (params == nullptr || *params == '\0') return -EINVAL;
  rte_tel_data_start_dict(d);
  std::lock_guard<std::mutex> lock(g_engine->rules().readers());
  const RuleSet* rs = g_engine->rules().acquire();
  if (rs == nullptr) return 0;
  if (std::strcmp(params, "-") == 0) {
    add_rule_fields(d, *rs, kNoRule);
    return 0;
  }
  for (uint32_t i = 0; i < rs->rules().size(); ++i)
    if (rs->rules()[i].id == params) {
      add_rule_fields(d, *rs, i);
      return 0;
    }
  return -ENOENT;
}

int handle_policy(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  {
    std::lock_guard<std::mutex> lock(g_engine->rules().readers());
    const RuleSet* rs = g_engine->rules().acquire();
    rte_tel_data_add_dict_u64(d, "loaded", rs != nullptr);
    if (rs != nullptr) {
      rte_tel_data_add_dict_u64(d, "epoch", rs->epoch());
      rte_tel_data_add_dict_u64(d, "generation", rs->generation());
      rte_tel_data_add_dict_string(d, "source", rs->source_name().substr(0, 120).c_str());
      rte_tel_data_add_dict_string(d, "sha256", rs->source_sha256().c_str());
      rte_tel_data_add_dict_string(d, "mode", mode_name(rs->mode()));
      rte_tel_data_add_dict_string(d, "default_action", rs->default_allow() ? "allow" : "deny");
      rte_tel_data_add_dict_u64(d, "rules", rs->rules().size());
      rte_tel_data_add_dict_u64(d, "classifier_entries_v4", rs->acl_rules4());
      rte_tel_data_add_dict_u64(d, "classifier_entries_v6", rs->acl_rules6());
      rte_tel_data_add_dict_u64(d, "classifier_contexts_v4", rs->acl_contexts4());
      rte_tel_data_add_dict_u64(d, "classifier_contexts_v6", rs->acl_contexts6());
      rte_tel_data_add_dict_u64(d, "build_us", rs->build_ns() / 1000);
      rte_tel_data_add_dict_u64(d, "next_expiry", static_cast<uint64_t>(rs->next_expiry()));
    }
  }
  std::lock_guard<std::mutex> lock(g_engine->status_mutex());
  const PolicyStatus& s = g_engine->policy_status();
  rte_tel_data_add_dict_u64(d, "loads", s.loads);
  rte_tel_data_add_dict_u64(d, "reloads", s.loads > 0 ? s.loads - 1 : 0);
  rte_tel_data_add_dict_u64(d, "reload_failures", s.load_failures);
  rte_tel_data_add_dict_u64(d, "loads_as_change", s.changes);
  rte_tel_data_add_dict_u64(d, "rebuilt_in_full", s.compactions);
  rte_tel_data_add_dict_u64(d, "loaded_at", static_cast<uint64_t>(s.loaded_at));
  rte_tel_data_add_dict_string(d, "last_error", s.last_error.substr(0, 120).c_str());
  return 0;
}

int handle_conntrack(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  ConnTable& c = g_engine->conns();
  const WorkerStats t = g_engine->totals();
  rte_tel_data_add_dict_u64(d, "connections", c.count());
  rte_tel_data_add_dict_u64(d, "max", c.max_connections());
  rte_tel_data_add_dict_u64(d, "slots", c.slots());
  rte_tel_data_add_dict_u64(d, "table_bytes", c.memory_bytes());
  rte_tel_data_add_dict_u64(d, "outside_eal_heap_bytes", c.mapped_bytes());
  rte_tel_data_add_dict_u64(d, "huge_page_bytes", c.huge_bytes());
  rte_tel_data_add_dict_u64(d, "retiring", c.retiring());
  rte_tel_data_add_dict_u64(d, "new", t.events[static_cast<unsigned>(WorkerCounter::conn_new)]);
  rte_tel_data_add_dict_u64(d, "expired", t.events[static_cast<unsigned>(WorkerCounter::conn_expired)]);
  rte_tel_data_add_dict_u64(d, "revoked", t.events[static_cast<unsigned>(WorkerCounter::conn_revoked)]);
  rte_tel_data_add_dict_u64(d, "table_full", t.drops[static_cast<unsigned>(DropReason::conn_table_full)]);
  const Timeouts& to = g_engine->config().timeouts;
  rte_tel_data_add_dict_u64(d, "tcp_established_timeout_s", to.tcp_established_ms / 1000);
  rte_tel_data_add_dict_u64(d, "udp_timeout_s", to.udp_ms / 1000);
  return 0;
}

// /bulkhead/ports: every port's counters side by side (port id as column).
int handle_ports(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  const char* names[] = {"port", "rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_missed", "rx_errors",
                         "tx_errors", "rx_no_mbuf"};
  rte_tel_data* cols[std::size(names)];
  for (size_t k = 0; k < std::size(names); ++k) {
    cols[k] = rte_tel_data_alloc();
    if (cols[k] == nullptr) {
      for (size_t j = 0; j < k; ++j) rte_tel_data_free(cols[j]);
      return -ENOMEM;
    }
    rte_tel_data_start_array(cols[k], RTE_TEL_U64_VAL);
  }
  uint16_t port;
  RTE_ETH_FOREACH_DEV(port) {
    rte_eth_stats st{};
    if (rte_eth_stats_get(port, &st) != 0) continue;
    const uint64_t v[] = {port, st.ipackets, st.opackets, st.ibytes, st.obytes, st.imissed, st.ierrors, st.oerrors,
                          st.rx_nombuf};
    for (size_t k = 0; k < std::size(names); ++k) rte_tel_data_add_array_u64(cols[k], v[k]);
  }
  for (size_t k = 0; k < std::size(names); ++k) rte_tel_data_add_dict_container(d, names[k], cols[k], 0);
  return 0;
}


// /bulkhead/insertion: inline or one-armed, the tunnels and their counters.
int handle_insertion(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  const InsertionConfig& c = g_engine->config().insertion;
  rte_tel_data_add_dict_string(d, "insertion", insertion::insertion_name(c.mode));
  if (!c.one_armed()) return 0;
  if (c.mode == insertion::Insertion::geneve) {
    rte_tel_data_add_dict_string(d, "geneve_profile", c.profile == insertion::GeneveProfile::aws   ? "aws"
                                                      : c.profile == insertion::GeneveProfile::gcp ? "gcp"
                                                                                                   : "generic");
    add_u64(d, "geneve_port", c.geneve_port);
  } else {
    add_u64(d, "vxlan_external_port", c.vxlan[0].port);
    add_u64(d, "vxlan_external_vni", c.vxlan[0].vni);
    add_u64(d, "vxlan_internal_port", c.vxlan[1].port);
    add_u64(d, "vxlan_internal_vni", c.vxlan[1].vni);
  }
  add_u64(d, "health_port", c.health_port);
  for (size_t k = 0; k < c.ports.size() && k < c.addresses.size(); ++k) {
    const auto& a = c.addresses[k];
    const std::string name = "port" + std::to_string(c.ports[k]) + "_address";
    const std::string text = std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
                             std::to_string(a[3]);
    rte_tel_data_add_dict_string(d, name.c_str(), text.c_str());
  }
  for (const auto& [name, value] : g_engine->insertion_counters()) add_u64(d, name, value);
  return 0;
}

// /bulkhead/names: the name bindings and the DNS snooping that makes them
// (dataplane/names/snoop.h lists the snooping counters).
int handle_names(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  const auto counters = g_engine->names_counters();
  add_u64(d, "table", !counters.empty());
  for (const auto& [name, value] : counters) add_u64(d, name.c_str(), value);
  return 0;
}

Updater* g_updater = nullptr;

// A helper thread's CurveZMQ connection, as both channels report it.
void add_channel(rte_tel_data* d, const ChannelCounters& c) {
  rte_tel_data_add_dict_u64(d, "handshake_failures", c.handshake_failures);
  rte_tel_data_add_dict_u64(d, "connections_lost", c.connections_lost);
}

int handle_control(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  if (g_updater == nullptr) return 0;
  const UpdaterStats& s = g_updater->stats();
  rte_tel_data_add_dict_u64(d, "received", s.received);
  rte_tel_data_add_dict_u64(d, "applied", s.applied);
  rte_tel_data_add_dict_u64(d, "rejected_malformed", s.rejected_malformed);
  rte_tel_data_add_dict_u64(d, "rejected_stale", s.rejected_stale);
  rte_tel_data_add_dict_u64(d, "rejected_invalid", s.rejected_invalid);
  rte_tel_data_add_dict_u64(d, "rejected_deposed", s.rejected_deposed);
  rte_tel_data_add_dict_u64(d, "last_apply_us", s.last_apply_us);
  add_channel(d, s.channel);
  // Several control planes (docs/ha.md): the highest leader term accepted,
  // whom the dataplane follows and where its flow records go, and each
  // session as columns.
  rte_tel_data_add_dict_u64(d, "leader_term", s.leader_term);
  rte_tel_data_add_dict_u64(d, "term_write_failures", s.term_write_failures);
  const int followed = s.followed.load(std::memory_order_relaxed);
  const int flows_to = s.flows_to.load(std::memory_order_relaxed);
  const auto endpoint_of = [&](int k) {
    return k >= 0 && static_cast<size_t>(k) < s.control_planes.size() ? s.control_planes[static_cast<size_t>(k)].endpoint
                                                                       : std::string();
  };
  rte_tel_data_add_dict_string(d, "followed", endpoint_of(followed).c_str());
  rte_tel_data_add_dict_string(d, "flows_to", endpoint_of(flows_to).c_str());
  rte_tel_data* endpoints = rte_tel_data_alloc();
  rte_tel_data* cols[4] = {};
  const char* names[4] = {"endpoint_connected", "endpoint_applied", "endpoint_deposed", "endpoint_last_term"};
  for (auto& col : cols) col = rte_tel_data_alloc();
  if (endpoints == nullptr || std::find(std::begin(cols), std::end(cols), nullptr) != std::end(cols)) {
    rte_tel_data_free(endpoints);
    for (auto* col : cols) rte_tel_data_free(col);
    return -ENOMEM;
  }
  rte_tel_data_start_array(endpoints, RTE_TEL_STRING_VAL);
  for (auto* col : cols) rte_tel_data_start_array(col, RTE_TEL_U64_VAL);
  for (const ControlPlaneStats& cp : s.control_planes) {
    rte_tel_data_add_array_string(endpoints, cp.endpoint.c_str());
    const uint64_t v[4] = {cp.connected.load(std::memory_order_relaxed), cp.applied, cp.deposed, cp.last_term};
    for (size_t k = 0; k < 4; ++k) rte_tel_data_add_array_u64(cols[k], v[k]);
  }
  rte_tel_data_add_dict_container(d, "endpoints", endpoints, 0);
  for (size_t k = 0; k < 4; ++k) rte_tel_data_add_dict_container(d, names[k], cols[k], 0);
  return 0;
}

FlowExporter* g_exporter = nullptr;

int handle_flows(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  if (g_engine != nullptr) {
    const WorkerStats t = g_engine->totals();
    rte_tel_data_add_dict_u64(d, "recorded", t.events[static_cast<unsigned>(WorkerCounter::flow_records)]);
    rte_tel_data_add_dict_u64(d, "lost_ring_full", t.events[static_cast<unsigned>(WorkerCounter::flow_records_lost)]);
    rte_tel_data_add_dict_u64(d, "denied_suppressed",
                              t.events[static_cast<unsigned>(WorkerCounter::flow_records_suppressed)]);
  }
  if (g_exporter != nullptr) {
    const FlowExportStats& s = g_exporter->stats();
    rte_tel_data_add_dict_u64(d, "records_sent", s.records_sent);
    rte_tel_data_add_dict_u64(d, "batches_sent", s.batches_sent);
    rte_tel_data_add_dict_u64(d, "records_unsent", s.records_unsent);
    add_channel(d, s.channel);
  }
  return 0;
}

}  // namespace

void register_flow_telemetry(FlowExporter* exporter) {
  const bool first = g_exporter == nullptr;
  g_exporter = exporter;
  if (first) rte_telemetry_register_cmd("/bulkhead/flows", handle_flows, "Flow records: recorded, lost, sent. No parameters");
}

void register_control_telemetry(Updater* updater) {
  const bool first = g_updater == nullptr;
  g_updater = updater;
  if (first) rte_telemetry_register_cmd("/bulkhead/control", handle_control, "Control channel counters. No parameters");
}

void register_telemetry(Engine* engine) {
  const bool first = g_engine == nullptr;
  g_engine = engine;
  if (!first) return;
  rte_telemetry_register_cmd("/bulkhead/stats", handle_stats, "Worker counters summed. No parameters");
  rte_telemetry_register_cmd("/bulkhead/drops", handle_drops, "Dropped packets by reason. No parameters");
  rte_telemetry_register_cmd("/bulkhead/rules", handle_rules,
                             "Per-rule counters as columns (ids, actions, packets, bytes, connections), 48 rules a page. Parameter: first rule index");
  rte_telemetry_register_cmd("/bulkhead/rule", handle_rule, "One rule's counters. Parameter: rule id, or - for the default");
  rte_telemetry_register_cmd("/bulkhead/policy", handle_policy, "Active rule set and reload status. No parameters");
  rte_telemetry_register_cmd("/bulkhead/conntrack", handle_conntrack, "Connection table. No parameters");
  rte_telemetry_register_cmd("/bulkhead/ports", handle_ports, "Per-port counters as columns. No parameters");
  rte_telemetry_register_cmd("/bulkhead/names", handle_names,
                             "Name bindings and DNS snooping: table, answers by outcome, ignored by reason. No parameters");
  rte_telemetry_register_cmd("/bulkhead/insertion", handle_insertion,
                             "Insertion (inline, geneve, vxlan), the tunnels and their counters. No parameters");
}

}  // namespace bulkhead::dataplane
