#include "tests/integration/harness.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/eal_runtime.h"

namespace bulkhead::test {
namespace {

std::atomic<uint32_t> g_seq{0};

}  // namespace

void init_eal() {
  static const bool ok = [] {
    const std::string prefix = "bh_it_" + std::to_string(getpid());
    std::vector<std::string> args = {"bulkhead-integration", "--no-huge", "-m", "1024", "--no-pci",
                                     "--no-telemetry", "--log-level=*:warning",
                                     "--file-prefix=" + prefix, "-l", "0"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0)
      throw std::runtime_error(std::string("EAL init failed: ") + rte_strerror(rte_errno));
    // Its runtime directory (memory maps as large as -m) goes with the
    // test process.
    dataplane::remove_eal_runtime_dir_at_exit(rte_eal_get_runtime_dir());
    return true;
  }();
  (void)ok;
}

Harness::Harness(const std::string& policy_yaml, uint32_t workers, void (*tweak)(dataplane::Config&)) {
  init_eal();
  const uint32_t seq = g_seq.fetch_add(1);
  policy_path_ = dir_.file("policy.yaml");
  std::ofstream(policy_path_) << policy_yaml;

  for (int p = 0; p < 2; ++p) {
    const std::string rx = "bh_it_rx" + std::to_string(seq) + "_" + std::to_string(p);
    const std::string tx = "bh_it_tx" + std::to_string(seq) + "_" + std::to_string(p);
    rx_[p] = rte_ring_create(rx.c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    tx_[p] = rte_ring_create(tx.c_str(), 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (rx_[p] == nullptr || tx_[p] == nullptr) throw std::runtime_error("cannot create test rings");
    const std::string name = "net_ring_it" + std::to_string(seq) + "_" + std::to_string(p);
    const int id = rte_eth_from_rings(name.c_str(), &rx_[p], 1, &tx_[p], 1, SOCKET_ID_ANY);
    if (id < 0) throw std::runtime_error("cannot create a ring port");
    port_id_[p] = static_cast<uint16_t>(id);
  }
  const std::string pool = "bh_it_inj" + std::to_string(seq);
  inject_pool_ = rte_pktmbuf_pool_create(pool.c_str(), 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (inject_pool_ == nullptr) throw std::runtime_error("cannot create the injection pool");

  dataplane::Config cfg;
  cfg.policy_path = policy_path_;
  cfg.pairs = {{port_id_[0], port_id_[1]}};
  cfg.mbufs = 2047;
  cfg.conn_max = 4096;
  cfg.rx_desc = 512;
  cfg.tx_desc = 512;
  if (tweak != nullptr) tweak(cfg);
  engine_ = dataplane::Engine::create(cfg, workers, error_);
  if (!engine_) throw std::runtime_error("engine: " + error_);
  if (!dataplane::setup_ports(cfg, workers, ports_, error_)) throw std::runtime_error("ports: " + error_);
  engine_->attach(ports_);
  loaded_ = engine_->load_policy_file(policy_path_, error_);
}

Harness::~Harness() {
  engine_.reset();
  dataplane::stop_ports(ports_);
  for (int p = 0; p < 2; ++p) {
    for (auto* r : {rx_[p], tx_[p]}) {
      void* m;
      while (r != nullptr && rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      rte_ring_free(r);
    }
  }
  rte_mempool_free(inject_pool_);
}

void Harness::send(int port, const Frame& frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(inject_pool_);
  if (m == nullptr) throw std::runtime_error("injection pool empty");
  char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
  if (data == nullptr) throw std::runtime_error("frame larger than an mbuf");
  std::memcpy(data, frame.data(), frame.size());
  if (rte_ring_enqueue(rx_[port], m) != 0) throw std::runtime_error("RX ring full");
}

void Harness::run() {
  for (int pass = 0; pass < 1000; ++pass) {
    if (rte_ring_count(rx_[0]) == 0 && rte_ring_count(rx_[1]) == 0) {
      // One more pass so every worker sweeps and reports quiescence.
      for (uint32_t w = 0; w < engine_->worker_count(); ++w) engine_->worker(w).poll_once();
      return;
    }
    for (uint32_t w = 0; w < engine_->worker_count(); ++w) engine_->worker(w).poll_once();
  }
  throw std::runtime_error("workers did not drain the RX rings");
}

std::vector<Frame> Harness::received(int port) {
  std::vector<Frame> out;
  void* obj;
  while (rte_ring_dequeue(tx_[port], &obj) == 0) {
    auto* m = static_cast<rte_mbuf*>(obj);
    const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
    out.emplace_back(d, d + rte_pktmbuf_data_len(m));
    rte_pktmbuf_free(m);
  }
  return out;
}

std::vector<Frame> Harness::pass(int from_port, const Frame& frame) {
  send(from_port, frame);
  run();
  return received(from_port ^ 1);
}

bool Harness::reload(const std::string& policy_yaml, std::string* error) {
  std::ofstream(policy_path_, std::ios::trunc) << policy_yaml;
  std::string e;
  const bool ok = engine_->load_policy_file(policy_path_, e);
  if (error != nullptr) *error = e;
  return ok;
}

uint64_t Harness::drops(dataplane::DropReason r) { return engine_->totals().drops[static_cast<unsigned>(r)]; }

uint64_t Harness::events(dataplane::WorkerCounter c) {
  return engine_->totals().events[static_cast<unsigned>(c)];
}

void Harness::settle() {
  // A connection's packets reach its rule's counters when the sweep folds
  // them, within one sweep period: move the clock that far, in steps the
  // sweep's per-pass budget keeps up with, so every connection is visited.
  const dataplane::Config& cfg = engine_->config();
  const uint64_t share = engine_->conns().buckets() / engine_->worker_count() + 1;
  const uint64_t per_pass = cfg.sweep_per_poll / dataplane::ConnTable::kBucketSlots + 1;
  const uint64_t steps = share / per_pass + 2;
  const auto step_ms = static_cast<int64_t>(cfg.sweep_period_ms / steps + 1);
  for (uint64_t k = 0; k < steps; ++k) {
    engine_->clock().advance(step_ms);
    for (uint32_t w = 0; w < engine_->worker_count(); ++w) engine_->worker(w).poll_once();
  }
}

dataplane::RuleCounter Harness::rule(const std::string& id) {
  settle();
  auto* rs = engine_->rules().acquire();
  if (id == "-") return rs->total(dataplane::kNoRule);
  for (uint32_t i = 0; i < rs->rules().size(); ++i)
    if (rs->rules()[i].id == id) return rs->total(i);
  throw std::runtime_error("no rule " + id);
}

}  // namespace bulkhead::test
