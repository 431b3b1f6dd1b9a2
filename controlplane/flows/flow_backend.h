// Where the control plane keeps its flows: one interface over the flow
// stores, so the collector, the CLI's queries and their meaning (FlowQuery,
// flow_store.h) are the same whichever keeps them.
//
//   memory      the FlowStore in this process, saved to a file (the default
//               for one control plane);
//   clickhouse  a ClickHouse database shared by every control plane
//               (clickhouse_store.h): aggregation and queries done there, so
//               every control plane answers alike.
//
// A record is aggregated the same way by both: the ClickHouse store
// aggregates each batch in a FlowStore before it inserts it, and sums the
// batches in ClickHouse as FlowStore sums records.
//
// Threading: every member may be called from any thread; each backend
// guards itself. ingest() never waits on I/O (the collector's thread calls
// it for every record); query() may (a remote store), and holds no lock
// that ingest() needs meanwhile.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controlplane/flows/flow_store.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane::flows {

class FlowBackend {
 public:
  virtual ~FlowBackend() = default;
  // Adds records that passed validate() and orient().
  virtual void ingest(const google::protobuf::RepeatedPtrField<pb::FlowRecord>& records) = 0;
  // The aggregates `q` selects (FlowQuery's meaning); false with `error`
  // when the store cannot answer now.
  virtual bool query(const FlowQuery& q, std::vector<pb::FlowAggregate>& out, std::string& error) = 0;
  // Its own counters into `info` (aggregates, records, what it lost).
  virtual void fill_info(pb::FlowStoreInfo& info) = 0;
  // Called every few seconds by the collector: retention, saving.
  virtual void tick(int64_t now_ms) = 0;
  // Called once when the collector stops: save or send what is held.
  virtual void close() = 0;
};

// The FlowStore behind a lock, restored from and saved to `snapshot_path`
// ("": kept in memory only) every `save_period_ms` and at close().
class MemoryFlowBackend : public FlowBackend {
 public:
  // nullptr with `error` when the snapshot exists and cannot be read (it is
  // not silently discarded).
  static std::unique_ptr<MemoryFlowBackend> open(const FlowStoreOptions& options, const std::string& snapshot_path,
                                                 int64_t save_period_ms, std::string& error);
  void ingest(const google::protobuf::RepeatedPtrField<pb::FlowRecord>& records) override;
  bool query(const FlowQuery& q, std::vector<pb::FlowAggregate>& out, std::string& error) override;
  void fill_info(pb::FlowStoreInfo& info) override;
  void tick(int64_t now_ms) override;
  void close() override;

 private:
  MemoryFlowBackend(const FlowStoreOptions& options) : store_(options) {}
  void save(int64_t now_ms);

  std::mutex mu_;
  FlowStore store_;
  std::string path_;
  int64_t save_period_ms_ = 60'000;
  int64_t saved_ms_ = 0;
};

}  // namespace bulkhead::controlplane::flows
