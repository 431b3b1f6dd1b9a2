#include "engine.h"

#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_malloc.h>

#include "rules/atomic_file.h"
#include "rules/load.h"
#include "rules/match.h"

namespace bulkhead::dataplane {
namespace {

std::string format_tuple(const FlowTuple& t) {
  rules::Tuple r;
  r.family = t.family;
  r.proto = t.proto;
  r.sport = t.sport;
  r.dport = t.dport;
  std::memcpy(r.src.data(), t.src, 16);
  std::memcpy(r.dst.data(), t.dst, 16);
  return rules::format_tuple(r);
}

int lcore_main(void* arg) {
  static_cast<Worker*>(arg)->run();
  return 0;
}

}  // namespace

Engine::~Engine() {
  stop();
  workers_.clear();
  holder_.reset();
  conns_.reset();
  for (auto* r : log_rings_) rte_ring_free(r);
  rte_free(qsbr_);
}

std::unique_ptr<Engine> Engine::create(const Config& cfg, uint32_t workers, std::string& error) {
  std::unique_ptr<Engine> e(new Engine());
  e->cfg_ = cfg;
  e->worker_count_ = workers;
  const size_t sz = rte_rcu_qsbr_get_memsize(workers);
  e->qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("bh_qsbr", sz, RTE_CACHE_LINE_SIZE));
  if (e->qsbr_ == nullptr || rte_rcu_qsbr_init(e->qsbr_, workers) != 0) {
    error = "cannot set up the reclamation state for " + std::to_string(workers) + " workers";
    return nullptr;
  }
  e->conns_ = ConnTable::create(cfg.conn_max, workers, e->qsbr_, error);
  if (!e->conns_) return nullptr;
  e->holder_ = std::make_unique<RuleSetHolder>(e->qsbr_);
  e->shared_.config = &e->cfg_;
  e->shared_.rules = e->holder_.get();
  e->shared_.conns = e->conns_.get();
  e->shared_.qsbr = e->qsbr_;
  e->shared_.tsc_per_ms = std::max<uint64_t>(rte_get_tsc_hz() / 1000, 1);
  e->shared_.workers = workers;
  for (uint32_t w = 0; w < workers; ++w) {
    const std::string name = "bh_log" + std::to_string(w);
    rte_ring* r = rte_ring_create_elem(name.c_str(), sizeof(LogRecord), 1024, SOCKET_ID_ANY,
                                       RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (r == nullptr) {
      error = "cannot create the rule log ring";
      return nullptr;
    }
    e->log_rings_.push_back(r);
  }
  return e;
}

Mode Engine::effective_mode(const pb::CompiledRuleSet& compiled) const noexcept {
  switch (cfg_.mode) {
    case ModeOverride::enforce: return Mode::enforce;
    case ModeOverride::audit: return Mode::audit;
    case ModeOverride::learn: return Mode::learn;
    case ModeOverride::from_policy: break;
  }
  switch (compiled.mode()) {
    case pb::MODE_AUDIT: return Mode::audit;
    case pb::MODE_LEARN: return Mode::learn;
    default: return Mode::enforce;
  }
}

bool Engine::load_policy_file(const std::string& path, std::string& error) {
  error.clear();
  auto result = rules::load_policy_file(path);
  if (!result.ok()) {
    std::ostringstream o;
    bool first = true;
    for (const auto& d : result.diagnostics) {
      if (d.severity != rules::Diagnostic::Severity::error) continue;
      if (!first) o << '\n';
      o << d.str();
      first = false;
    }
    error = o.str();
    std::lock_guard<std::mutex> lock(status_mu_);
    ++status_.load_failures;
    status_.last_error = error.substr(0, error.find('\n'));
    return false;
  }
  return apply(*result.value, error);
}

bool Engine::apply(const pb::CompiledRuleSet& compiled, std::string& error) {
  std::lock_guard<std::mutex> serial(apply_mu_);
  if (compiled.format_version() != 1) {
    error = "rule set format version " + std::to_string(compiled.format_version()) + " is not supported";
    std::lock_guard<std::mutex> lock(status_mu_);
    ++status_.load_failures;
    status_.last_error = error;
    return false;
  }
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  auto rs = RuleSet::build(compiled, effective_mode(compiled), next_epoch_, worker_count_, now, error);
  if (!rs) {
    std::lock_guard<std::mutex> lock(status_mu_);
    ++status_.load_failures;
    status_.last_error = error;
    return false;
  }
  ++next_epoch_;
  rs->set_same_rules_as_previous(holder_->acquire() != nullptr &&
                                 compiled.source_sha256() == active_compiled_.source_sha256() &&
                                 compiled.rules_size() == active_compiled_.rules_size() &&
                                 compiled.generation() == active_compiled_.generation());
  BH_LOG(INFO, "rule set epoch %u: %d rules (%u IPv4 and %u IPv6 classifier entries), %s mode, built in %.1f ms",
         rs->epoch(), compiled.rules_size(), rs->acl_rules4(), rs->acl_rules6(), mode_name(rs->mode()),
         static_cast<double>(rs->build_ns()) / 1e6);
  holder_->publish(std::move(rs));
  active_compiled_ = compiled;
  persist(compiled);
  std::lock_guard<std::mutex> lock(status_mu_);
  ++status_.loads;
  status_.loaded_at = now;
  return true;
}

std::string ruleset_path(const std::string& dir) { return dir + "/ruleset.pb"; }

void Engine::persist(const pb::CompiledRuleSet& compiled) noexcept {
  if (cfg_.state_dir.empty()) return;
  std::string data, error;
  if (!compiled.SerializeToString(&data) || !rules::write_file_atomic(ruleset_path(cfg_.state_dir), data, error))
    BH_LOG(ERR, "cannot keep the rule set: %s", error.empty() ? "encoding failed" : error.c_str());
}

bool Engine::load_persisted(std::string& error) {
  error.clear();
  if (cfg_.state_dir.empty()) {
    error = "no --state-dir";
    return false;
  }
  const std::string path = ruleset_path(cfg_.state_dir);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": no rule set kept";
    return false;
  }
  pb::CompiledRuleSet compiled;
  if (!compiled.ParseFromIstream(&in)) {
    error = path + ": damaged (not a compiled rule set)";
    return false;
  }
  if (!apply(compiled, error)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}

void Engine::attach(PortsSetup& ports) {
  workers_.clear();
  for (uint32_t w = 0; w < worker_count_; ++w)
    workers_.push_back(std::make_unique<Worker>(w, shared_, ports.per_worker[w], log_rings_[w]));
}

bool Engine::launch(const std::vector<unsigned>& lcores, std::string& error) {
  for (uint32_t w = 0; w < worker_count_ && w < lcores.size(); ++w) {
    const int rc = rte_eal_remote_launch(lcore_main, workers_[w].get(), lcores[w]);
    if (rc != 0) {
      error = "cannot start worker " + std::to_string(w) + " on lcore " + std::to_string(lcores[w]);
      stop();
      return false;
    }
    launched_.push_back(lcores[w]);
  }
  return true;
}

void Engine::stop() noexcept {
  shared_.stop.store(true, std::memory_order_relaxed);
  for (unsigned l : launched_) rte_eal_wait_lcore(l);
  launched_.clear();
}

void Engine::housekeeping() noexcept {
  RuleSet* rs = holder_->acquire();
  // Time-bound rules stop matching when they expire, by this clock.
  if (rs != nullptr && rs->next_expiry() != 0 && std::time(nullptr) >= rs->next_expiry()) {
    std::string error;
    pb::CompiledRuleSet compiled;
    {
      std::lock_guard<std::mutex> serial(apply_mu_);
      compiled = active_compiled_;
    }
    if (apply(compiled, error)) BH_LOG(INFO, "a time-bound rule expired; rule set rebuilt without it");
    else BH_LOG(ERR, "rebuilding after a rule expiry failed: %s", error.c_str());
    rs = holder_->acquire();
  }
  LogRecord rec;
  for (auto* ring : log_rings_) {
    for (int k = 0; k < 256 && rte_ring_sc_dequeue_elem(ring, &rec, sizeof(rec)) == 0; ++k) {
      uint64_t suppressed = 0;
      if (!log_limit_.allow(suppressed)) continue;
      std::lock_guard<std::mutex> lock(holder_->readers());
      rs = holder_->acquire();
      const bool known = rs != nullptr && rs->epoch() == rec.epoch && rec.rule < rs->rules().size();
      const std::string rule = rec.rule == kNoRule ? std::string("default")
                               : known ? rs->rules()[rec.rule].id : "#" + std::to_string(rec.rule);
      const char* verdict = rec.allowed ? "allow"
                          : rec.mode == static_cast<uint8_t>(Mode::enforce) ? "deny" : "would-deny";
      std::string segs;
      if (rs != nullptr) {
        const int s = rs->segment_of(rec.tuple, true), d = rs->segment_of(rec.tuple, false);
        segs = " (" + (s >= 0 ? rs->segment_name(s) : std::string("-")) + " -> " +
               (d >= 0 ? rs->segment_name(d) : std::string("-")) + ")";
      }
      if (suppressed > 0)
        BH_LOG(INFO, "rule %s: %s %s%s [%lu lines suppressed]", rule.c_str(), verdict,
               format_tuple(rec.tuple).c_str(), segs.c_str(), static_cast<unsigned long>(suppressed));
      else
        BH_LOG(INFO, "rule %s: %s %s%s", rule.c_str(), verdict, format_tuple(rec.tuple).c_str(), segs.c_str());
    }
  }
}

WorkerStats Engine::totals() const noexcept {
  WorkerStats t{};
  for (const auto& w : workers_) {
    const WorkerStats& s = w->stats();
    for (unsigned i = 0; i < kWorkerCounterCount; ++i) t.events[i] += __atomic_load_n(&s.events[i], __ATOMIC_RELAXED);
    for (unsigned i = 0; i < kDropReasonCount; ++i) t.drops[i] += __atomic_load_n(&s.drops[i], __ATOMIC_RELAXED);
  }
  return t;
}

}  // namespace bulkhead::dataplane
