// bulkhead-bench-flows: the flow store's ingest rate and the learner's
// speed, on one core.
//
//   bulkhead-bench-flows [--flows N] [--records N] [--repeat K]
//
// 1. store: records straight into a FlowStore (aggregation alone);
// 2. collector: encoded FlowBatch messages of 1,024 records through the
//    control plane's collector (decode, check, orient, aggregate) — what a
//    record costs from the socket on;
// 3. propose: the learner over N distinct flow aggregates (segments
//    inferred, the proposal compiled to check it); and the time of two
//    store queries (by host; by port, busiest 20) over them.
// Each figure is the median of K runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "controlplane/flow_collector.h"
#include "controlplane/flows/flow_store.h"
#include "controlplane/learn/learner.h"

namespace {

using Clock = std::chrono::steady_clock;
using bulkhead::pb::FlowRecord;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string ip(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (24 - 8 * i));
  return s;
}

// `flows` distinct (client, server, port) keys over a datacenter-like
// address plan: 64K clients in 10.1/16, 4K servers in 10.2/20, 16 ports.
struct Key {
  uint32_t src, dst;
  uint16_t port;
};

std::vector<Key> keys(size_t flows, std::mt19937& rng) {
  std::vector<Key> v;
  v.reserve(flows);
  static const uint16_t ports[] = {22, 53, 80, 123, 389, 443, 636, 1433, 3306, 5432, 6379, 8080, 8443, 9092, 9100, 27017};
  for (size_t i = 0; i < flows; ++i)
    v.push_back({0x0A010000u | static_cast<uint32_t>(i % 65536), 0x0A020000u | static_cast<uint32_t>((i / 65536 * 977 + i) % 4096),
                 ports[(i / 65536) % 16]});
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

FlowRecord make(const Key& k, FlowRecord::Kind kind, int64_t t, uint16_t sport) {
  FlowRecord r;
  r.set_kind(kind);
  r.set_time_ms(t);
  r.set_start_ms(t);
  r.set_src(ip(k.src));
  r.set_dst(ip(k.dst));
  r.set_protocol(k.port == 53 || k.port == 123 ? 17 : 6);
  r.set_src_port(sport);
  r.set_dst_port(k.port);
  r.set_verdict(FlowRecord::ALLOWED);
  r.set_mode("learn");
  r.set_opener_known(r.protocol() == 6);
  r.set_rule_id("default");
  r.set_src_segment("clients");
  r.set_dst_segment("servers");
  if (kind == FlowRecord::END) {
    r.set_packets_out(6);
    r.set_packets_in(5);
    r.set_bytes_out(600);
    r.set_bytes_in(4000);
    r.set_tcp_flags_out(0x1b);
    r.set_tcp_flags_in(0x1b);
    r.set_end_reason(FlowRecord::CLOSED);
  }
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  size_t flows = 1'000'000, records = 4'000'000;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--flows")) flows = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--records")) records = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::atoi(argv[i + 1]);
  }
  std::mt19937 rng(7);
  const auto ks = keys(flows, rng);
  const int64_t t0 = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<FlowRecord> recs;
  recs.reserve(records);
  for (size_t i = 0; i < records; ++i) {
    const Key& k = ks[(i / 2) % ks.size()];
    recs.push_back(make(k, i % 2 ? FlowRecord::END : FlowRecord::START, t0 + static_cast<int64_t>(i / 1000),
                        static_cast<uint16_t>(32768 + i % 28000)));
  }

  // 1. Aggregation alone.
  std::vector<double> store_rate;
  for (int r = 0; r < repeat; ++r) {
    bulkhead::controlplane::flows::FlowStore store;
    const auto t = Clock::now();
    for (const auto& rec : recs) store.ingest(rec);
    store_rate.push_back(static_cast<double>(records) / seconds_since(t));
  }

  // 2. From encoded batches, through the collector.
  std::vector<std::string> batches;
  for (size_t i = 0; i < records; i += 1024) {
    bulkhead::pb::FlowBatch b;
    b.set_version(1);
    b.set_dataplane_id("bench");
    b.set_sequence(i / 1024 + 1);
    for (size_t j = i; j < std::min(records, i + 1024); ++j) *b.add_records() = recs[j];
    batches.push_back(b.SerializeAsString());
  }
  std::vector<double> collector_rate;
  size_t aggregates = 0;
  for (int r = 0; r < repeat; ++r) {
    zmq::context_t ctx(1);
    bulkhead::controlplane::CollectorConfig cfg;
    cfg.listen = "inproc://bench" + std::to_string(r);
    char keys_pub[41], keys_sec[41];
    zmq_curve_keypair(keys_pub, keys_sec);
    cfg.secret_key = keys_sec;
    std::string error;
    auto c = bulkhead::controlplane::FlowCollector::create(ctx, cfg, error);
    if (!c) {
      std::fprintf(stderr, "collector: %s\n", error.c_str());
      return 1;
    }
    const auto t = Clock::now();
    for (const auto& b : batches) c->receive(b.data(), b.size());
    collector_rate.push_back(static_cast<double>(records) / seconds_since(t));
    aggregates = c->info().aggregates();
  }

  // 3. The learner over `flows` distinct aggregates, and queries of the
  // store that holds them.
  bulkhead::controlplane::flows::FlowStore store;
  for (const auto& rec : recs) store.ingest(rec);
  std::vector<double> query_host_s, query_port_s;
  size_t port_hits = 0;
  for (int r = 0; r < repeat; ++r) {
    bulkhead::controlplane::flows::FlowQuery q;
    q.host = ip(ks[static_cast<size_t>(r)].src);
    auto t = Clock::now();
    (void)store.query(q);
    query_host_s.push_back(seconds_since(t));
    q = {};
    q.port = 5432;
    q.top = 20;
    t = Clock::now();
    port_hits = store.query(q).size();
    query_port_s.push_back(seconds_since(t));
  }
  std::vector<bulkhead::pb::FlowAggregate> aggs = store.query({});
  std::vector<double> propose_s;
  size_t rules = 0;
  for (int r = 0; r < repeat; ++r) {
    const auto t = Clock::now();
    const auto p = bulkhead::controlplane::learn::propose(aggs, nullptr, {});
    propose_s.push_back(seconds_since(t));
    rules = p.rules;
  }
  std::printf("records %zu over %zu distinct flows (%zu aggregates kept)\n", records, flows, aggregates);
  std::printf("store ingest        %.2f M records/s\n", median(store_rate) / 1e6);
  std::printf("collector ingest    %.2f M records/s (decode, check, orient, aggregate)\n", median(collector_rate) / 1e6);
  std::printf("propose             %.2f s for %zu distinct flows (%zu rules)\n", median(propose_s), aggs.size(), rules);
  std::printf("query by host       %.1f ms over %zu aggregates\n", median(query_host_s) * 1e3, aggs.size());
  std::printf("query by port, top  %.1f ms (%zu shown)\n", median(query_port_s) * 1e3, port_hits);
  return 0;
}
