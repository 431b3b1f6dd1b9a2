// bulkhead-bench-flows: the flow store's ingest rate and the learner's
// speed, on one core.
//
//   bulkhead-bench-flows [--flows N] [--records N] [--repeat K] [--flood-seconds S]
//                        [--sinks-seconds S] [--log-format native|ecs|ocsf]
//
// 1. store: records straight into a FlowStore (aggregation alone);
// 2. collector: encoded FlowBatch messages of 1,024 records through the
//    control plane's collector (decode, check, orient, aggregate) — what a
//    record costs from the socket on;
// 3. propose: the learner over N distinct flow aggregates (segments
//    inferred, the proposal compiled to check it); and the time of two
//    store queries (by host; by port, busiest 20) over them.
// 4. flood: a flood of denied packets as a dataplane without aggregation
//    would report it (a record per packet, each from its own source) into
//    the collector with a flow log, for S seconds with the log's caps lifted
//    and S seconds with its default caps: how fast the log grows, and what
//    the caps count as dropped.
// 5. sinks: the batches of 2, over and over for S seconds, into the
//    collector with a flow log (caps lifted) alone, then with a syslog sink
//    in the same format beside it (UDP to a loopback socket that reads
//    nothing, its queue long enough to lose nothing): the collector's rate
//    with one sink and with both, taking turns K times.
// Each figure of 1-3 and 5 is the median of K runs.
#include <boost/program_options.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
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

namespace flows = bulkhead::controlplane::flows;

struct Flood {
  double seconds = 0;
  uint64_t offered = 0;
  bulkhead::pb::FlowLogInfo log;
  bulkhead::pb::FlowSyslogInfo syslog;
  uint64_t disk = 0;  // bytes of every log file at the end
};

// A UDP socket on 127.0.0.1 that nobody reads: the syslog sink's sends
// succeed and the kernel drops what its buffer cannot hold.
struct Sponge {
  int fd = -1;
  uint16_t port = 0;
  Sponge() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::perror("bulkhead-bench-flows: a loopback UDP socket");
      std::exit(1);
    }
    port = ntohs(a.sin_port);
  }
  ~Sponge() { ::close(fd); }
  Sponge(const Sponge&) = delete;
  Sponge& operator=(const Sponge&) = delete;
};

// Denied SYNs from 10.128/9, each record its own source, as encoded batches.
std::vector<std::string> flood_batches(int64_t t0) {
  std::vector<std::string> batches;
  for (uint32_t b = 0; b < 64; ++b) {
    bulkhead::pb::FlowBatch batch;
    batch.set_version(1);
    batch.set_dataplane_id("bench");
    batch.set_sequence(b + 1);
    for (uint32_t i = 0; i < 1024; ++i) {
      FlowRecord& r = *batch.add_records();
      r.set_kind(FlowRecord::DENIED);
      r.set_time_ms(t0);
      r.set_start_ms(t0);
      r.set_src(ip(0x0A800000u | (b * 1024 + i)));
      r.set_dst(ip(0x0A020001u));
      r.set_protocol(6);
      r.set_src_port(40000 + i % 20000);
      r.set_dst_port(22);
      r.set_verdict(FlowRecord::DENY);
      r.set_mode("enforce");
      r.set_opener_known(true);
      r.set_rule_id("default");
      r.set_dst_segment("servers");
      r.set_packets_out(1);
      r.set_bytes_out(60);
      r.set_tcp_flags_out(0x02);
    }
    batches.push_back(batch.SerializeAsString());
  }
  return batches;
}

// The batches, over and over for `seconds`, into a collector whose flow
// log is in `dir`, and with a syslog sink when `syslog` is given.
Flood flood(const std::vector<std::string>& batches, const flows::FlowLogOptions& caps, double seconds,
            const std::string& dir, const std::string& name, const flows::SyslogOptions* syslog = nullptr,
            uint16_t syslog_port = 0) {
  zmq::context_t ctx(1);
  bulkhead::controlplane::CollectorConfig cfg;
  cfg.listen = "inproc://flood-" + name;
  char keys_pub[41], keys_sec[41];
  zmq_curve_keypair(keys_pub, keys_sec);
  cfg.secret_key = keys_sec;
  cfg.jsonl_path = dir + "/" + name + ".jsonl";
  cfg.log = caps;
  if (syslog) {
    cfg.syslog = flows::SyslogTarget{flows::SyslogTarget::Transport::udp, "127.0.0.1", syslog_port};
    cfg.syslog_options = *syslog;
  }
  std::string error;
  auto c = bulkhead::controlplane::FlowCollector::create(ctx, cfg, error);
  if (!c) {
    std::fprintf(stderr, "collector: %s\n", error.c_str());
    std::exit(1);
  }
  Flood f;
  const auto t = Clock::now();
  for (size_t i = 0; seconds_since(t) < seconds; ++i) {
    const std::string& b = batches[i % batches.size()];
    c->receive(b.data(), b.size());
    f.offered += 1024;
  }
  f.seconds = seconds_since(t);
  f.log = c->info().log();
  f.syslog = c->info().syslog();
  c.reset();
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind(name + ".jsonl", 0) == 0) f.disk += e.file_size();
  return f;
}

void print_flood(const char* what, const Flood& f) {
  std::printf("  %-13s %6.2f M records/s offered; log grew %7.2f MB/s (%llu lines, %llu dropped over the rate, "
              "%llu rotations, %.1f MB on disk at the end)\n",
              what, static_cast<double>(f.offered) / f.seconds / 1e6, static_cast<double>(f.log.bytes()) / f.seconds / 1e6,
              static_cast<unsigned long long>(f.log.records()), static_cast<unsigned long long>(f.log.dropped_rate()),
              static_cast<unsigned long long>(f.log.rotations()), static_cast<double>(f.disk) / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  size_t flows = 1'000'000, records = 4'000'000;
  int repeat = 3;
  double flood_seconds = 3;
  double sinks_seconds = 3;
  std::string log_format = "native";
  po::options_description desc("bulkhead-bench-flows options");
  desc.add_options()("help,h", "this help")("flows", po::value(&flows)->default_value(flows),
                                             "distinct (client, server, port) keys")(
      "records", po::value(&records)->default_value(records), "records ingested (a start and an end per connection)")(
      "repeat", po::value(&repeat)->default_value(repeat), "runs of each figure; the median is shown")(
      "flood-seconds", po::value(&flood_seconds)->default_value(flood_seconds),
      "seconds of each flood run (0: no flood runs)")(
      "sinks-seconds", po::value(&sinks_seconds)->default_value(sinks_seconds),
      "seconds of each run with the flow log alone and with the syslog sink beside it (0: none)")(
      "log-format", po::value(&log_format)->default_value(log_format), "the sinks' format: native, ecs or ocsf");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::printf("usage: bulkhead-bench-flows [options]\n");
      desc.print(std::cout);
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "bulkhead-bench-flows: %s\n", e.what());
    return 2;
  }
  // Sizes read as unsigned take "-1" as 2^64 - 1: every bound is checked.
  if (flows < 1 || flows > 100'000'000 || records < 2 || records > 1'000'000'000 || repeat < 1 || repeat > 100 ||
      !(flood_seconds >= 0 && flood_seconds <= 600) || !(sinks_seconds >= 0 && sinks_seconds <= 600)) {
    std::fprintf(stderr,
                 "bulkhead-bench-flows: --flows 1 to 100,000,000, --records 2 to 1,000,000,000, --repeat 1 to 100, "
                 "--flood-seconds and --sinks-seconds 0 to 600\n");
    return 2;
  }
  flows::LogFormat format;
  if (!flows::parse_log_format(log_format, format)) {
    std::fprintf(stderr, "bulkhead-bench-flows: --log-format native, ecs or ocsf\n");
    return 2;
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

  // 4. A denied flood into the flow log, with its caps lifted and as shipped.
  if (flood_seconds > 0) {
    char tmpl[] = "/tmp/bh_flood_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      std::perror("bulkhead-bench-flows: mkdtemp");
      return 1;
    }
    const std::string dir = tmpl;
    const auto batches = flood_batches(t0);
    bulkhead::controlplane::flows::FlowLogOptions lifted;
    lifted.rate = 10'000'000;
    lifted.max_file_bytes = 1ull << 40;
    const Flood before = flood(batches, lifted, flood_seconds, dir, "lifted");
    std::filesystem::remove_all(dir);
    std::filesystem::create_directory(dir);
    const Flood after = flood(batches, {}, flood_seconds, dir, "capped");
    std::filesystem::remove_all(dir);
    std::printf("flood of denied records, one per packet, each from its own source (%.0f s each):\n", flood_seconds);
    print_flood("caps lifted", before);
    print_flood("default caps", after);
  }

  // 5. The flow log alone, and with the syslog sink beside it in the same
  // format, taking turns.
  if (sinks_seconds > 0) {
    char tmpl[] = "/tmp/bh_sinks_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      std::perror("bulkhead-bench-flows: mkdtemp");
      return 1;
    }
    const std::string dir = tmpl;
    flows::FlowLogOptions lifted;
    lifted.rate = 10'000'000;
    lifted.max_file_bytes = 1ull << 40;
    lifted.format = format;
    flows::SyslogOptions syslog;
    syslog.format = format;
    syslog.queue = 10'000'000;
    syslog.hostname = "bench";
    const Sponge sponge;
    std::vector<double> alone, both;
    Flood last;
    for (int r = 0; r < repeat; ++r) {
      const Flood a = flood(batches, lifted, sinks_seconds, dir, "alone");
      alone.push_back(static_cast<double>(a.offered) / a.seconds);
      std::filesystem::remove_all(dir);
      std::filesystem::create_directory(dir);
      last = flood(batches, lifted, sinks_seconds, dir, "both", &syslog, sponge.port);
      both.push_back(static_cast<double>(last.offered) / last.seconds);
      std::filesystem::remove_all(dir);
      std::filesystem::create_directory(dir);
    }
    std::filesystem::remove_all(dir);
    std::printf("collector with sinks, %s (%g s each, median of %d)\n", flows::log_format_name(format), sinks_seconds,
                repeat);
    std::printf("  flow log           %.1f k records/s\n", median(alone) / 1e3);
    std::printf("  flow log + syslog  %.1f k records/s (%.3f of the log alone; the last run's queue lost %llu)\n",
                median(both) / 1e3, median(both) / median(alone),
                static_cast<unsigned long long>(last.syslog.dropped_queue()));
  }
  return 0;
}
