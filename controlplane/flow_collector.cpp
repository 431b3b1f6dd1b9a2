#include "controlplane/flow_collector.h"

#include <iostream>

#include <google/protobuf/arena.h>
#include <google/protobuf/stubs/logging.h>

#include "common/time.h"
#include "controlplane/flows/record.h"

namespace bulkhead::controlplane {
namespace {

constexpr uint32_t kBatchVersion = 1;
constexpr auto kComplainEvery = std::chrono::seconds(5);
constexpr size_t kMaxIdBytes = 255;  // a host name's length

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::unique_ptr<FlowCollector> FlowCollector::create(zmq::context_t& ctx, const CollectorConfig& cfg,
                                                     std::string& error) {
  std::unique_ptr<FlowCollector> c(new FlowCollector());
  c->cfg_ = cfg;
  if (cfg.clickhouse) {
    c->store_ = flows::ClickHouseFlowStore::open(*cfg.clickhouse, cfg.clickhouse_options);
  } else {
    const int64_t save_ms = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.save_period).count();
    c->store_ = flows::MemoryFlowBackend::open(cfg.store, cfg.snapshot_path, save_ms, error);
    if (!c->store_) return nullptr;
  }
  if (!cfg.jsonl_path.empty()) {
    c->log_ = flows::FlowLog::open(cfg.jsonl_path, cfg.log, error);
    if (!c->log_) return nullptr;
  }
  if (cfg.syslog) {
    c->syslog_ = flows::SyslogSink::open(*cfg.syslog, cfg.syslog_options, error);
    if (!c->syslog_) return nullptr;
  }
  try {
    c->socket_ = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::pull);
    c->socket_->set(zmq::sockopt::curve_server, 1);
    c->socket_->set(zmq::sockopt::curve_secretkey, cfg.secret_key);
    c->socket_->set(zmq::sockopt::zap_domain, "bulkhead");
    c->socket_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(cfg.max_message_bytes));
    c->socket_->set(zmq::sockopt::rcvhwm, 256);
    c->socket_->set(zmq::sockopt::linger, 0);
    c->socket_->bind(cfg.listen);
  } catch (const zmq::error_t& e) {
    error = "cannot listen for flow records on " + cfg.listen + ": " + e.what();
    return nullptr;
  }
  c->queries_ = ReplyThread::create(ctx, "flow-query", kMaxWaitingQueries, error);
  if (!c->queries_) return nullptr;
  c->thread_ = common::start_thread_without_signals([p = c.get()] { p->loop(); });
  return c;
}

FlowCollector::~FlowCollector() {
  queries_.reset();
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  socket_.reset();
  if (store_) store_->close();
}

void FlowCollector::complain(const std::string& what) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_complaint_ < kComplainEvery) {
    ++suppressed_;
    return;
  }
  std::cerr << "bulkhead-controlplane: flow records: " << what;
  if (suppressed_ > 0) std::cerr << " (and " << suppressed_ << " more refusals)";
  std::cerr << '\n';
  suppressed_ = 0;
  last_complaint_ = now;
}

void FlowCollector::receive(const void* data, size_t size) {
  // One arena per batch: the records' strings are carved from it and freed
  // at once, not one allocation each.
  google::protobuf::Arena arena;
  auto* batch = google::protobuf::Arena::CreateMessage<pb::FlowBatch>(&arena);
  // Protobuf logs a line of its own for every string that is not UTF-8:
  // a refusal is told by complain(), rate-limited, instead.
  const bool parsed = [&] {
    google::protobuf::LogSilencer quiet;
    return size <= cfg_.max_message_bytes && batch->ParseFromArray(data, static_cast<int>(size));
  }();
  if (!parsed) {
    std::lock_guard lock(mu_);
    ++rejected_batches_;
    complain("a malformed batch refused");
    return;
  }
  if (batch->version() != kBatchVersion) {
    std::lock_guard lock(mu_);
    ++rejected_batches_;
    complain("a batch of version " + std::to_string(batch->version()) + " refused");
    return;
  }
  // The id is written into every line of the flow log: a long one would
  // make a small batch cost a great deal.
  if (batch->dataplane_id().size() > kMaxIdBytes) {
    std::lock_guard lock(mu_);
    ++rejected_batches_;
    complain("a batch with a dataplane id of " + std::to_string(batch->dataplane_id().size()) + " bytes refused");
    return;
  }
  // Keep the valid records, in order, at the front.
  auto& records = *batch->mutable_records();
  uint64_t rejected = 0;
  std::string why;
  int kept = 0;
  for (int i = 0; i < records.size(); ++i) {
    if (!flows::validate(records.Get(i), why)) {
      ++rejected;
      continue;
    }
    if (kept != i) records.SwapElements(kept, i);
    ++kept;
  }
  records.DeleteSubrange(kept, records.size() - kept);
  flows::orient(records, false);
  store_->ingest(records);
  std::lock_guard lock(mu_);
  lost_ += batch->lost();
  dataplanes_suppressed_ += batch->suppressed();
  if (rejected > 0) {
    rejected_records_ += rejected;
    complain(std::to_string(rejected) + " malformed records from " + flows::dump(batch->dataplane_id().substr(0, 64)) +
             " (" + why + ")");
  }
  if (!log_ && !syslog_) return;
  // One line a record serves both sinks when their formats agree: it is
  // made when the first of them takes the record.
  flows::RecordLines lines(records, batch->dataplane_id(), log_ ? log_->format() : syslog_->format());
  if (log_) {
    const uint64_t lost = log_->info().dropped_errors();
    log_->write(lines, steady_ms(), common::now_unix_ms());
    if (log_->info().dropped_errors() != lost)
      complain("flow log: " + std::to_string(log_->info().dropped_errors() - lost) + " records lost (" +
               log_->info().last_error() + ")");
  }
  if (syslog_) syslog_->send(lines);
}

void FlowCollector::loop() {
  while (!stop_) {
    zmq::pollitem_t items[] = {{static_cast<void*>(*socket_), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 1, std::chrono::milliseconds(100));  // signals are blocked on this thread
    for (int n = 0; n < 64 && (items[0].revents & ZMQ_POLLIN); ++n) {
      zmq::message_t m;
      if (!socket_->recv(m, zmq::recv_flags::dontwait)) break;
      receive(m.data(), m.size());
    }
    if (log_) {
      std::lock_guard lock(mu_);
      log_->tick(steady_ms(), common::now_unix_ms());
    }
    store_->tick(common::now_unix_ms());
  }
}

bool FlowCollector::query(const flows::FlowQuery& q, std::vector<pb::FlowAggregate>& out, std::string& error) {
  return store_->query(q, out, error);
}

pb::CliResponse FlowCollector::answer(const pb::FlowsRequest& f) {
  pb::CliResponse r;
  flows::FlowQuery q;
  q.since_ms = f.since_ms();
  q.until_ms = f.until_ms();
  q.denied_only = f.denied_only();
  q.host = f.host();
  q.segment = f.segment();
  q.port = f.port();
  q.top = f.top();
  std::vector<pb::FlowAggregate> found;
  std::string error;
  if (!query(q, found, error)) {
    r.add_errors("the flow store cannot answer: " + error);
    return r;
  }
  r.mutable_flows()->Reserve(static_cast<int>(found.size()));
  for (auto& a : found) *r.add_flows() = std::move(a);
  *r.mutable_flow_store() = info();
  r.set_ok(true);
  return r;
}

bool FlowCollector::ask(std::string route, const pb::FlowsRequest& req) {
  return queries_->ask(std::move(route), [this, req] { return answer(req).SerializeAsString(); });
}

pb::FlowStoreInfo FlowCollector::info() {
  pb::FlowStoreInfo i;
  store_->fill_info(i);
  std::lock_guard lock(mu_);
  i.set_rejected_records(rejected_records_);
  i.set_rejected_batches(rejected_batches_);
  i.set_lost_by_dataplanes(lost_);
  i.set_suppressed_by_dataplanes(dataplanes_suppressed_);
  if (log_) *i.mutable_log() = log_->info();
  if (syslog_) *i.mutable_syslog() = syslog_->info();
  return i;
}

}  // namespace bulkhead::controlplane
