// The control plane's Prometheus metrics (--metrics-listen): its dataplanes
// and their generations, pushes and their outcomes, the apply latency,
// leadership and the etcd watch (a store in etcd), the flow collector. Names and meanings: docs/operations.md.
#include <string>

#include "common/prometheus.h"
#include "controlplane/server.h"

namespace bulkhead::controlplane {

void Server::refresh_metrics() {
  using common::prometheus::Type;
  common::prometheus::Writer w;
  metrics_at_ = std::chrono::steady_clock::now();
  const uint64_t current = store_->current();
  w.single("bulkhead_controlplane_generation", Type::gauge, "The store's current policy generation",
           static_cast<double>(current));

  // The states `bulkhead status` shows, from the same place.
  pb::CliResponse status;
  fill_status(status);
  struct StateName {
    pb::DataplaneState state;
    const char* name;
  };
  constexpr StateName kStates[] = {{pb::ENFORCED, "enforced"},
                                   {pb::PENDING, "pending"},
                                   {pb::REFUSED, "refused"},
                                   {pb::UNREACHABLE, "unreachable"}};
  w.family("bulkhead_controlplane_dataplanes", Type::gauge, "Configured dataplanes, by state");
  for (const auto& [state, name] : kStates) {
    double n = 0;
    for (const auto& d : status.dataplanes()) n += d.state() == state;
    w.sample({{"state", name}}, n);
  }
  auto per_dataplane = [&](const char* name, Type type, const char* help, auto value) {
    w.family(name, type, help);
    for (const auto& d : status.dataplanes()) w.sample({{"dataplane", d.key_name()}, {"id", d.id()}}, value(d));
  };
  per_dataplane("bulkhead_controlplane_dataplane_connected", Type::gauge, "1 while the dataplane is connected",
                [](const pb::DataplaneInfo& d) { return d.connected() ? 1.0 : 0.0; });
  per_dataplane("bulkhead_controlplane_dataplane_generation", Type::gauge, "Generation the dataplane reports enforcing",
                [](const pb::DataplaneInfo& d) { return static_cast<double>(d.generation()); });
  per_dataplane("bulkhead_controlplane_dataplane_generations_behind", Type::gauge,
                "Generations between the store's current one and the dataplane's",
                [&](const pb::DataplaneInfo& d) {
                  return d.generation() < current ? static_cast<double>(current - d.generation()) : 0.0;
                });
  per_dataplane("bulkhead_controlplane_dataplane_apply_seconds", Type::gauge,
                "The dataplane's own build and swap time of its last acknowledged generation",
                [](const pb::DataplaneInfo& d) { return static_cast<double>(d.apply_us()) / 1e6; });

  w.family("bulkhead_controlplane_pushes_total", Type::counter, "Generations pushed to dataplanes, by kind");
  w.sample({{"kind", "full"}}, static_cast<double>(pushes_full_));
  w.sample({{"kind", "change"}}, static_cast<double>(pushes_change_));
  w.family("bulkhead_controlplane_push_replies_total", Type::counter, "Dataplanes' replies to pushes, by outcome");
  w.sample({{"outcome", "ack"}}, static_cast<double>(acks_));
  w.sample({{"outcome", "nack"}}, static_cast<double>(nacks_));
  w.single("bulkhead_controlplane_refused_messages_total", Type::counter,
           "Messages from dataplanes the control plane refused", static_cast<double>(refused_messages_));
  apply_latency_.write(w, "bulkhead_controlplane_apply_latency_seconds",
                       "From the start of a generation's distribution to a dataplane's acknowledgement");

  if (leadership_) {
    w.single("bulkhead_controlplane_leading", Type::gauge, "1 while this control plane leads (a store in etcd)",
             leading() ? 1 : 0);
    w.single("bulkhead_controlplane_leader_term", Type::gauge, "The leader's term as this control plane last saw it",
             static_cast<double>(leadership_->leader_term()));
    w.single("bulkhead_controlplane_etcd_watch_up", Type::gauge,
             "1 while the watch of the store's keys in etcd delivers (else reads go to etcd)", watch_->healthy() ? 1 : 0);
    w.single("bulkhead_controlplane_etcd_watch_resyncs_total", Type::counter,
             "Full re-reads the watch asked for: its start, compactions, broken or stale streams",
             static_cast<double>(watch_->resyncs()));
    w.single("bulkhead_controlplane_etcd_watch_reconnects_total", Type::counter,
             "Watch streams made again, or attempts that failed, after one broke or went stale",
             static_cast<double>(watch_->reconnects()));
  }

  if (flows_) {
    const pb::FlowStoreInfo f = flows_->info();
    auto d = [](uint64_t v) { return static_cast<double>(v); };
    w.single("bulkhead_controlplane_flow_records_received_total", Type::counter, "Flow records received and stored",
             d(f.records()));
    w.family("bulkhead_controlplane_flow_records_dropped_total", Type::counter,
             "Flow records not stored or not logged, by cause");
    w.sample({{"cause", "malformed"}}, d(f.rejected_records()));
    w.sample({{"cause", "log_rate"}}, d(f.log().dropped_rate()));
    w.sample({{"cause", "log_error"}}, d(f.log().dropped_errors()));
    if (f.has_syslog()) {
      w.sample({{"cause", "syslog_queue"}}, d(f.syslog().dropped_queue()));
      w.sample({{"cause", "syslog_error"}}, d(f.syslog().dropped_errors()));
    }
    if (f.has_clickhouse()) {
      w.sample({{"cause", "clickhouse_buffer"}}, d(f.clickhouse().dropped_buffer()));
      w.sample({{"cause", "clickhouse_error"}}, d(f.clickhouse().dropped_errors()));
    }
    w.single("bulkhead_controlplane_flow_batches_rejected_total", Type::counter, "Flow record batches refused as malformed",
             d(f.rejected_batches()));
    w.single("bulkhead_controlplane_flow_records_lost_by_dataplanes_total", Type::counter,
             "Flow records the dataplanes reported lost before sending", d(f.lost_by_dataplanes()));
    w.single("bulkhead_controlplane_flow_store_aggregates", Type::gauge, "Flow aggregates in the store", d(f.aggregates()));
    w.single("bulkhead_controlplane_flow_store_capacity", Type::gauge, "Flow aggregates the store keeps at most",
             d(f.capacity()));
    w.single("bulkhead_controlplane_flow_store_evicted_total", Type::counter,
             "Flow aggregates evicted to stay within the capacity", d(f.evicted()));
    w.single("bulkhead_controlplane_flow_log_bytes_total", Type::counter, "Bytes written to the flow log",
             d(f.log().bytes()));
    if (f.has_clickhouse()) {
      const auto& c = f.clickhouse();
      w.single("bulkhead_controlplane_flow_clickhouse_records_inserted_total", Type::counter,
               "Flow records whose aggregates ClickHouse took", d(c.records_inserted()));
      w.single("bulkhead_controlplane_flow_clickhouse_insert_errors_total", Type::counter,
               "Inserts into ClickHouse that failed (each retried)", d(c.insert_errors()));
      w.single("bulkhead_controlplane_flow_clickhouse_buffered_records", Type::gauge,
               "Flow records waiting to go into ClickHouse", d(c.records_buffered()));
      w.single("bulkhead_controlplane_flow_clickhouse_connected", Type::gauge,
               "1 while the last request to ClickHouse succeeded", c.connected() ? 1 : 0);
    }
    if (f.has_syslog()) {
      w.single("bulkhead_controlplane_flow_syslog_messages_total", Type::counter,
               "Flow records sent to the syslog collector", d(f.syslog().messages()));
      w.single("bulkhead_controlplane_flow_syslog_queued", Type::gauge,
               "Flow records waiting to be sent to the syslog collector", d(f.syslog().queued()));
      w.single("bulkhead_controlplane_flow_syslog_connected", Type::gauge,
               "1 while the syslog collector is connected (TCP; UDP: always)", f.syslog().connected() ? 1 : 0);
    }
  }
  std::string text = w.take();
  std::lock_guard<std::mutex> lock(metrics_mu_);
  metrics_text_.swap(text);
}

}  // namespace bulkhead::controlplane
