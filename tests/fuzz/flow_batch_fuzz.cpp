// The control plane's flow collector on arbitrary messages, as they come
// off its socket: decoding of a FlowBatch, the checks of every record,
// orientation, aggregation in the store and the flow log. Every message is
// refused or ingested, nothing crashes, and the store and the log stay
// within their bounds however many messages arrive.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "controlplane/flow_collector.h"

namespace {

constexpr size_t kCapacity = 4096;
constexpr uint64_t kFileBytes = 1 << 20;

struct State {
  std::string dir;
  zmq::context_t ctx{1};
  std::unique_ptr<bulkhead::controlplane::FlowCollector> collector;
  uint64_t inputs = 0;

  State() {
    char tmpl[] = "/tmp/bh_fuzz_flows_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    dir = tmpl;
    bulkhead::controlplane::CollectorConfig cfg;
    cfg.listen = "inproc://flow-batch-fuzz";
    char pub[41], sec[41];
    zmq_curve_keypair(pub, sec);
    cfg.secret_key = sec;
    cfg.jsonl_path = dir + "/flows.jsonl";
    cfg.log.max_file_bytes = kFileBytes;
    cfg.log.keep_files = 1;
    cfg.log.rate = 1000;
    cfg.store.capacity = kCapacity;
    std::string error;
    collector = bulkhead::controlplane::FlowCollector::create(ctx, cfg, error);
    if (!collector) std::abort();
  }
  ~State() {
    collector.reset();
    std::filesystem::remove_all(dir);
  }
};

State& state() {
  static State s;
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  State& s = state();
  s.collector->receive(data, size);
  const auto info = s.collector->info();
  if (info.aggregates() > kCapacity) std::abort();
  if (info.log().dropped_errors() != 0) std::abort();  // the log's own writes never fail here
  if (++s.inputs % 4096 == 0) {
    uint64_t disk = 0;
    for (const auto& e : std::filesystem::directory_iterator(s.dir)) disk += e.file_size();
    if (disk > 2 * kFileBytes) std::abort();
  }
  return 0;
}
