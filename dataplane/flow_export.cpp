#include "dataplane/flow_export.h"

#include <chrono>
#include <zmq.hpp>

#include "dataplane/engine.h"
#include "dataplane/log.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::dataplane {
namespace {

constexpr uint32_t kBatchVersion = 1;

uint64_t ring_losses(const Engine& engine) {
  return engine.totals().events[static_cast<unsigned>(WorkerCounter::flow_records_lost)];
}

uint64_t denied_suppressed(const Engine& engine) {
  return engine.totals().events[static_cast<unsigned>(WorkerCounter::flow_records_suppressed)];
}

}  // namespace

FlowExporter::~FlowExporter() { stop(); }

std::unique_ptr<FlowExporter> FlowExporter::start(const FlowExportConfig& cfg, Engine& engine, std::string& error) {
  if (!engine.records_flows()) {
    error = "the engine does not record flows";
    return nullptr;
  }
  std::unique_ptr<FlowExporter> x(new FlowExporter(engine));
  x->cfg_ = cfg;
  if (cfg.channels.empty()) {
    error = "no collector endpoint";
    return nullptr;
  }
  for (const auto& c : cfg.channels) {
    ChannelIdentity who;
    if (!load_channel_identity(c, who, error)) return nullptr;
    x->who_.push_back(std::move(who));
  }
  x->thread_.start([p = x.get()] { p->run(); });
  return x;
}

void FlowExporter::stop() { thread_.stop(); }

void FlowExporter::run() {
  zmq::context_t ctx(1);
  std::vector<std::unique_ptr<CurveClient>> clients;
  for (size_t k = 0; k < who_.size(); ++k) {
    clients.push_back(std::make_unique<CurveClient>(ctx, zmq::socket_type::push, who_[k], "flow export",
                                                    stats_.channel));
    zmq::socket_t& sock = clients[k]->socket();
    sock.set(zmq::sockopt::sndhwm, 64);
    sock.set(zmq::sockopt::linger, 1000);
    std::string error;
    if (!clients[k]->connect(cfg_.channels[k].endpoint, error)) {
      BH_LOG(ERR, "flow export: cannot connect to %s: %s", cfg_.channels[k].endpoint.c_str(), error.c_str());
      return;
    }
  }
  // The collector of the control plane followed now (the first when there
  // is one collector, or no control channel to say).
  auto target = [&]() -> size_t {
    const int t = cfg_.target != nullptr ? cfg_.target->load(std::memory_order_relaxed) : 0;
    return t >= 0 && static_cast<size_t>(t) < clients.size() ? static_cast<size_t>(t) : 0;
  };
  RateLimit limit(1, 10);
  pb::FlowBatch batch;
  std::vector<pb::FlowRecord> records;
  uint64_t sequence = 0, lost_reported = 0, unsent = 0, suppressed_reported = 0;
  auto first_at = std::chrono::steady_clock::now();
  auto send = [&] {
    const uint64_t ring_lost = ring_losses(engine_);
    const uint64_t suppressed = denied_suppressed(engine_);
    batch.Clear();
    batch.set_version(kBatchVersion);
    batch.set_dataplane_id(who_[0].id);
    batch.set_sequence(++sequence);
    batch.set_sample(cfg_.sample);
    batch.set_lost(ring_lost - lost_reported + unsent);
    batch.set_suppressed(suppressed - suppressed_reported);
    batch.mutable_records()->Reserve(static_cast<int>(records.size()));
    for (auto& r : records) *batch.add_records() = std::move(r);
    const size_t n = records.size();
    records.clear();
    const std::string data = batch.SerializeAsString();
    const size_t to = target();
    bool sent = false;
    try {
      sent = clients[to]->socket().send(zmq::buffer(data), zmq::send_flags::dontwait).has_value();
    } catch (const zmq::error_t&) {
      sent = false;
    }
    if (sent) {
      lost_reported = ring_lost;
      suppressed_reported = suppressed;
      unsent = 0;
      stats_.records_sent += n;
      ++stats_.batches_sent;
    } else {
      unsent += n;
      stats_.records_unsent += n;
      uint64_t lines = 0;
      if (limit.allow(lines))
        BH_LOG(WARNING, "flow export: the control plane at %s is not taking records; %lu dropped so far",
               cfg_.channels[to].endpoint.c_str(), static_cast<unsigned long>(stats_.records_unsent.load()));
    }
  };
  while (true) {
    for (auto& c : clients) c->watch();
    const bool stopping = thread_.stopping();
    const size_t before = records.size();
    engine_.drain_flows(records, cfg_.batch_records - records.size());
    if (before == 0 && !records.empty()) first_at = std::chrono::steady_clock::now();
    const bool full = records.size() >= cfg_.batch_records;
    const bool old = !records.empty() &&
                     std::chrono::steady_clock::now() - first_at >= std::chrono::milliseconds(cfg_.batch_ms);
    if (full || old || (stopping && !records.empty())) send();
    if (stopping && records.empty()) break;
    if (!full) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace bulkhead::dataplane
