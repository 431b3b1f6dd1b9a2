// The flow store in ClickHouse (--flow-store clickhouse://HOST:PORT/DB),
// spoken to over its HTTP interface with cpp-httplib.
//
// Tables (created when absent, in DB):
//   flows_input  engine Null: what is inserted, one row per aggregate and
//                batch (a FlowAggregate's fields, `day` its last second's
//                UTC date);
//   flows        AggregatingMergeTree, partitioned by day (toYYYYMMDD),
//                ordered by the aggregate's key (src, dst, proto, dport):
//                counters as sum states, first/last seen as min/max,
//                segments as of the first connection, the client port as of
//                the last, names as unique arrays;
//   flows_mv     the materialized view that turns every insert into
//                flows_input into states in flows.
// ClickHouse merges the states in the background; a query merges what is
// left (GROUP BY the key), so every control plane inserting into the same
// database answers a FlowQuery alike. Retention drops whole days: 18.16 has
// no TTL clause.
//
// Records are aggregated here first (a FlowStore per batch) and inserted
// by a thread of this store's own every `flush_period_ms` or when a batch
// has `batch_rows` aggregates. While ClickHouse is slow or away the batch is
// retried (backing off) and records keep aggregating beside it, up to
// `buffer` aggregates; records past that are dropped and counted, and so
// are a batch's records when ClickHouse refuses it `kMaxRefusals` times. The
// thread that calls ingest() never waits on the network.
//
// A batch whose INSERT timed out after ClickHouse took it is inserted again
// on retry (counted twice): plain MergeTree tables do not deduplicate.
//
// Threading: ingest(), query(), fill_info() from any thread; query() opens
// a connection of its own and holds no lock meanwhile.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "controlplane/flows/flow_backend.h"

namespace bulkhead::controlplane::flows {

struct ClickHouseTarget {
  std::string host;
  int port = 8123;
  std::string database;
  std::string url() const;  // clickhouse://HOST:PORT/DB
};
// clickhouse://HOST:PORT/DB (HOST a name, an IPv4 address or [IPv6]; DB
// letters, digits and '_', not starting with a digit). False with `error`.
bool parse_clickhouse_url(const std::string& text, ClickHouseTarget& out, std::string& error);

struct ClickHouseOptions {
  size_t buffer = 1'000'000;              // aggregates held at most while ClickHouse is slow or away
  int64_t retention_ms = 30LL * 24 * 3600 * 1000;  // rounded up to whole days
  int64_t flush_period_ms = 1000;
  size_t batch_rows = 100'000;            // insert before the period when a batch is this big
  int64_t maintain_period_ms = 60'000;    // retention and the row count
  int connect_timeout_ms = 2000;
  int insert_timeout_ms = 30'000;
  int query_timeout_ms = 120'000;
};

// The SQL of `q` against DB's tables (FORMAT JSONEachRow, one aggregate a
// line): the FlowQuery's meaning written as WHERE and HAVING over the
// merged aggregates.
std::string clickhouse_query_sql(const FlowQuery& q, const std::string& database);
// One line of that query's answer into `out`; false with `why` when it is
// not one (ClickHouse writes an exception's text into a stream already
// begun, and anything may answer on that port).
bool parse_clickhouse_row(std::string_view line, pb::FlowAggregate& out, std::string& why);
// One aggregate as a line of flows_input (JSONEachRow, no newline).
std::string clickhouse_input_row(const pb::FlowAggregate& a);

class ClickHouseFlowStore : public FlowBackend {
 public:
  static constexpr int kMaxRefusals = 3;
  // Starts the inserting thread; never waits for ClickHouse (it may come
  // later: the tables are created when it answers).
  static std::unique_ptr<ClickHouseFlowStore> open(const ClickHouseTarget& target, const ClickHouseOptions& options);
  ~ClickHouseFlowStore() override;

  void ingest(const google::protobuf::RepeatedPtrField<pb::FlowRecord>& records) override;
  bool query(const FlowQuery& q, std::vector<pb::FlowAggregate>& out, std::string& error) override;
  void fill_info(pb::FlowStoreInfo& info) override;
  void tick(int64_t) override {}
  // Sends what is held, once, then stops the thread; what does not go is
  // counted as dropped.
  void close() override;

 private:
  struct Batch {
    std::string body;   // JSONEachRow lines
    uint64_t rows = 0, records = 0;
    int refusals = 0;
  };
  ClickHouseFlowStore(const ClickHouseTarget& target, const ClickHouseOptions& options);
  void loop();
  // Moves the pending aggregates into `batch_` (the thread's own).
  void take_pending();
  // Runs a statement (DDL, ALTER); false with `error`. `refused`: ClickHouse
  // answered, with an error (not the network).
  bool execute(const std::string& sql, const std::string& body, int timeout_ms, std::string& error,
               bool* refused = nullptr, std::string* answer = nullptr);
  bool create_tables(std::string& error);
  bool insert_batch(std::string& error, bool& refused);
  // batch_ went in: counted, and let go.
  void inserted();
  void maintain(int64_t now_ms);
  void note_error(const std::string& error);

  ClickHouseTarget target_;
  ClickHouseOptions opt_;

  std::mutex mu_;  // guards what follows, to the thread
  std::condition_variable wake_;
  FlowStore pending_;
  uint64_t pending_records_ = 0;
  uint64_t batch_rows_held_ = 0, batch_records_held_ = 0;  // batch_'s, as the others see it
  uint64_t records_ = 0, dropped_buffer_ = 0, dropped_errors_ = 0;
  uint64_t records_inserted_ = 0, rows_inserted_ = 0, batches_inserted_ = 0, insert_errors_ = 0;
  uint64_t rows_stored_ = 0, partitions_dropped_ = 0;
  std::string last_error_;
  bool connected_ = false;
  bool stop_ = false;

  Batch batch_;  // the thread's: the batch being inserted (empty: none)
  std::thread thread_;
};

}  // namespace bulkhead::controlplane::flows
