// The flow exporter: a thread that drains the workers' flow rings (through
// Engine::drain_flows), batches the records into FlowBatch messages and
// sends them over a ZeroMQ PUSH socket (CurveZMQ client, the control
// channel's keys) to the control plane's collector. With several control
// planes, one socket per collector, and each batch goes to the one the
// control channel names (UpdaterStats::flows_to: the followed leader's).
//
// The fast path never waits for it: a full worker ring drops the record
// and counts it (flow_records_lost), and a batch the socket cannot take
// (the collector away and the send queue full) is dropped and counted too.
// Each batch carries how many records were lost before it, so the control
// plane knows what it did not see.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/channel.h"

namespace bulkhead::dataplane {

class Engine;

struct FlowExportConfig {
  // Endpoints e.g. tcp://10.0.0.1:7301: one, or one per control plane in
  // the control channel's order.
  std::vector<ChannelConfig> channels;
  uint32_t sample = 1;
  size_t batch_records = 1024;  // a batch leaves when this full...
  uint32_t batch_ms = 200;      // ...or this old
  // Index of the collector each batch goes to, written by the control
  // channel's thread; nullptr: the first.
  const std::atomic<int>* target = nullptr;
};

struct FlowExportStats {
  std::atomic<uint64_t> records_sent{0};
  std::atomic<uint64_t> batches_sent{0};
  std::atomic<uint64_t> records_unsent{0};  // in batches the socket refused
  ChannelCounters channel;
};

class FlowExporter {
 public:
  ~FlowExporter();
  static std::unique_ptr<FlowExporter> start(const FlowExportConfig& cfg, Engine& engine, std::string& error);
  // Sends what is waiting, then stops the thread.
  void stop();
  const FlowExportStats& stats() const { return stats_; }

 private:
  explicit FlowExporter(Engine& engine) : engine_(engine) {}
  void run();

  FlowExportConfig cfg_;
  std::vector<ChannelIdentity> who_;  // one per collector
  Engine& engine_;
  FlowExportStats stats_;
  ChannelThread thread_;  // last: stopped before the rest goes
};

}  // namespace bulkhead::dataplane
