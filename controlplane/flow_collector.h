// The control plane's flow collector: a PULL socket (CURVE, the dataplane
// keys admitted by the server's ZAP handler) that receives FlowBatch
// messages from dataplanes, checks every record, orients it, and adds it to
// the flow store; optionally appends each record as a JSON line for a SIEM
// to the flow log, whose size and rate are capped (flows/flow_log.h), and
// as a syslog message to a collector (flows/syslog_sink.h). The
// in-memory store is saved to disk every `save_period` and on stop, and
// restored at start.
//
// Threading: the collector runs on a thread of its own; the server's CLI
// loop reads info() and hands flow queries to ask(), answered on a second
// thread of the collector's; the store guards itself (a ClickHouse query
// holds no lock the collector's thread waits on).
// Malformed, oversized and unauthenticated messages are refused and
// counted, with a log line at most every few seconds.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "common/threads.h"
#include "controlplane/flows/clickhouse_store.h"
#include "controlplane/flows/flow_backend.h"
#include "controlplane/flows/flow_log.h"
#include "controlplane/flows/syslog_sink.h"
#include "controlplane/reply_thread.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::controlplane {

struct CollectorConfig {
  std::string listen;                  // e.g. tcp://0.0.0.0:7301
  std::string secret_key;              // this control plane's CURVE secret key (raw 32 bytes)
  std::string snapshot_path;           // where the store is kept
  std::string jsonl_path;              // the flow log ("": none)
  flows::FlowLogOptions log;
  std::optional<flows::SyslogTarget> syslog;  // the syslog collector (none: no syslog)
  flows::SyslogOptions syslog_options;
  flows::FlowStoreOptions store;
  // The flows in ClickHouse instead of memory (none: in memory, saved to
  // snapshot_path).
  std::optional<flows::ClickHouseTarget> clickhouse;
  flows::ClickHouseOptions clickhouse_options;
  std::chrono::seconds save_period{60};
  size_t max_message_bytes = 16 << 20;
};

class FlowCollector {
 public:
  // Binds and restores the store; nullptr with `error` on failure (an
  // unreadable snapshot is an error: it is not silently discarded).
  static std::unique_ptr<FlowCollector> create(zmq::context_t& ctx, const CollectorConfig& cfg, std::string& error);
  ~FlowCollector();

  // False with `error` when the store cannot answer (ClickHouse away).
  bool query(const flows::FlowQuery& q, std::vector<pb::FlowAggregate>& out, std::string& error);
  // The CLI's answer to a flow query: the aggregates and the store's
  // counters, or the reason the store cannot answer.
  pb::CliResponse answer(const pb::FlowsRequest& req);
  // Answers `req` on a thread of the collector's own, so a slow store
  // (ClickHouse over many days) never holds up the caller's loop: the
  // reply comes out of replies() as two frames, `route` and the encoded
  // CliResponse. False when kMaxWaitingQueries already wait (answer busy).
  static constexpr size_t kMaxWaitingQueries = 8;
  bool ask(std::string route, const pb::FlowsRequest& req);
  // A PULL socket for the caller's thread alone: poll it, read the replies.
  zmq::socket_t& replies() { return queries_->replies(); }
  // The store's counters, and the flow log's and the syslog sink's when
  // there are.
  pb::FlowStoreInfo info();
  // Ingests one encoded FlowBatch as if it had arrived (tests, benchmarks).
  void receive(const void* data, size_t size);

 private:
  FlowCollector() = default;
  void loop();
  void complain(const std::string& what);

  CollectorConfig cfg_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::unique_ptr<flows::FlowBackend> store_;
  std::mutex mu_;  // guards what follows
  uint64_t rejected_records_ = 0, rejected_batches_ = 0, lost_ = 0, dataplanes_suppressed_ = 0;
  std::unique_ptr<flows::FlowLog> log_;
  std::unique_ptr<flows::SyslogSink> syslog_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  // Flow queries: asked by the server's loop, answered on their thread.
  std::unique_ptr<ReplyThread> queries_;
  std::chrono::steady_clock::time_point last_complaint_{};
  uint64_t suppressed_ = 0;
};

}  // namespace bulkhead::controlplane
