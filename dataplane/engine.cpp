#include "dataplane/engine.h"

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_malloc.h>

#include "common/file_write.h"
#include "dataplane/control_message.h"
#include "proto/names.pb.h"
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

bool same_tenants(const pb::CompiledRuleSet& a, const pb::CompiledRuleSet& b) {
  if (a.tenants_size() != b.tenants_size()) return false;
  for (int k = 0; k < a.tenants_size(); ++k)
    if (a.tenants(k).name() != b.tenants(k).name() || a.tenants(k).tag() != b.tenants(k).tag()) return false;
  return true;
}

int lcore_main(void* arg) {
  static_cast<Worker*>(arg)->run();
  return 0;
}

}  // namespace

Engine::~Engine() {
  stop();
  std::string error;
  if (!save_bindings(error)) BH_LOG(ERR, "cannot keep the name bindings: %s", error.c_str());
  workers_.clear();
  holder_.reset();
  conns_.reset();
  capture_.reset();
  for (auto* r : log_rings_) rte_ring_free(r);
  for (auto* r : flow_rings_) rte_ring_free(r);
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
  e->capture_ = CaptureTap::create(workers, error);
  if (!e->capture_) return nullptr;
  e->shared_.capture = e->capture_.get();
  e->shared_.config = &e->cfg_;
  e->shared_.rules = e->holder_.get();
  e->shared_.conns = e->conns_.get();
  e->shared_.qsbr = e->qsbr_;
  e->shared_.clock = &e->clock_;
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
    if (cfg.record_flows) {
      const std::string fname = "bh_flow" + std::to_string(w);
      rte_ring* f = rte_ring_create_elem(fname.c_str(), sizeof(FlowEvent), cfg.flow_ring, SOCKET_ID_ANY,
                                         RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
      if (f == nullptr) {
        error = "cannot create the flow record ring (" + std::to_string(cfg.flow_ring) + " slots)";
        return nullptr;
      }
      e->flow_rings_.push_back(f);
    }
  }
  e->shared_.flow_sample = cfg.flow_sample;
  e->shared_.flow_update_ms = cfg.flow_update_s * 1000;
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
  return apply(std::move(*result.value), error);
}

void Engine::fail(const std::string& error) {
  std::lock_guard<std::mutex> lock(status_mu_);
  ++status_.load_failures;
  status_.last_error = error;
}

bool Engine::apply(pb::CompiledRuleSet compiled, std::string& error, Keep keep) {
  std::lock_guard<std::mutex> serial(apply_mu_);
  if (!validate_rule_set(compiled, error) || !insertion::resolve_tenants(cfg_.insertion, compiled, error)) {
    fail(error);
    return false;
  }
  const int64_t now = clock_.unix_seconds();
  // The active set cannot be freed meanwhile: only an apply (serialised
  // here) publishes and retires sets.
  auto rs = RuleSet::build(compiled, effective_mode(compiled), next_epoch_, worker_count_, now, error,
                           holder_->acquire());
  if (!rs) {
    fail(error);
    return false;
  }
  commit(std::move(rs), std::move(compiled), keep);
  return true;
}

bool Engine::apply_change(pb::PushRuleSet& push, std::string& error, Keep keep) {
  std::lock_guard<std::mutex> serial(apply_mu_);
  RuleSet* current = holder_->acquire();
  const uint64_t running = current ? active_compiled_.generation() : 0;
  if (current == nullptr || push.base_generation() != running) {
    error = "a change of generation " + std::to_string(push.base_generation()) + ", but generation " +
            std::to_string(running) + " is enforced here";
    return false;
  }
  if (push.rule_set().format_version() != 1) {
    error = "rule set format version " + std::to_string(push.rule_set().format_version()) + " is not supported";
    fail(error);
    return false;
  }
  // Which base rule each rule of the new set is (kNewRule: its own).
  const auto base_n = static_cast<uint32_t>(active_compiled_.rules_size());
  std::vector<uint32_t> base_of;
  std::vector<bool> taken;
  if (!map_change(push, base_n, base_of, taken, error)) {
    fail(error);
    return false;
  }
  static_assert(kChangeNewRule == kNewRule);
  // The new set takes the base rules out of the active one (no copies); on
  // failure they go back.
  std::vector<pb::CompiledRule*> base(base_n);
  active_compiled_.mutable_rules()->ExtractSubrange(0, static_cast<int>(base_n), base.data());
  pb::CompiledRuleSet next = std::move(*push.mutable_rule_set());
  next.clear_rules();
  next.mutable_rules()->Reserve(static_cast<int>(base_of.size()));
  for (auto& piece : *push.mutable_pieces()) {
    if (piece.has_rule()) {
      next.mutable_rules()->AddAllocated(piece.release_rule());
      continue;
    }
    for (uint32_t k = piece.base().first(); k < piece.base().first() + piece.base().count(); ++k)
      next.mutable_rules()->AddAllocated(base[k]);
  }
  const int64_t now = clock_.unix_seconds();
  // The assembled set is checked like a whole one (a new rule may repeat a
  // base rule's id).
  std::unique_ptr<RuleSet> rs;
  if (validate_rule_set(next, error) && insertion::resolve_tenants(cfg_.insertion, next, error)) {
    // The kept contexts hold the base rules' tenant values: tenants that
    // changed need the full build.
    if (same_tenants(next, active_compiled_))
      rs = RuleSet::change(next, *current, base_of, effective_mode(next), next_epoch_, now, error);
    if (!rs && error.empty())  // a full build is the better answer
      rs = RuleSet::build(next, effective_mode(next), next_epoch_, worker_count_, now, error, current);
  }
  if (!rs) {
    std::vector<pb::CompiledRule*> back(base_of.size());
    next.mutable_rules()->ExtractSubrange(0, static_cast<int>(back.size()), back.data());
    for (size_t i = 0; i < back.size(); ++i)
      if (base_of[i] == kNewRule) delete back[i];
    for (auto* r : base) active_compiled_.mutable_rules()->AddAllocated(r);
    fail(error);
    return false;
  }
  for (uint32_t k = 0; k < base_n; ++k)
    if (!taken[k]) delete base[k];  // removed by the change
  if (rs->compactable()) {
    std::lock_guard<std::mutex> lock(status_mu_);
    ++status_.changes;
  }
  commit(std::move(rs), std::move(next), keep);
  return true;
}

void Engine::commit(std::unique_ptr<RuleSet> rs, pb::CompiledRuleSet compiled, Keep keep) {
  const int64_t now = clock_.unix_seconds();
  ++next_epoch_;
  rs->set_same_rules_as_previous(holder_->acquire() != nullptr &&
                                 compiled.source_sha256() == active_compiled_.source_sha256() &&
                                 compiled.rules_size() == active_compiled_.rules_size() &&
                                 compiled.generation() == active_compiled_.generation());
  BH_LOG(INFO,
         "rule set epoch %u: %d rules (%u IPv4 and %u IPv6 classifier entries in %u and %u contexts, %u reused%s), "
         "%s mode, built in %.1f ms",
         rs->epoch(), compiled.rules_size(), rs->acl_rules4(), rs->acl_rules6(), rs->acl_contexts4(),
         rs->acl_contexts6(), rs->acl_contexts_reused(), rs->compactable() ? ", built as a change" : "",
         mode_name(rs->mode()), static_cast<double>(rs->build_ns()) / 1e6);
  {
    // Flow records and rule log lines name rules and segments by the set
    // that judged them, even after it is replaced.
    auto ctx = std::make_shared<FlowContext>();
    ctx->generation = compiled.generation();
    ctx->mode = rs->mode();
    for (const auto& r : rs->rules()) ctx->rule_ids.push_back(r.id);
    ctx->segments = rules::SegmentIndex(compiled);
    std::lock_guard<std::mutex> lock(flow_mu_);
    flow_contexts_[rs->epoch()] = std::move(ctx);
    while (flow_contexts_.size() > 16) flow_contexts_.erase(flow_contexts_.begin());
  }
  // The binding table exists before any worker reads a set with names.
  if (const names::PolicyNames* names = rs->names()) ensure_bindings(*names);
  holder_->publish(std::move(rs));
  if (keep == Keep::now) persist(compiled);
  keep_pending_ = keep == Keep::later;
  active_compiled_ = std::move(compiled);
  std::lock_guard<std::mutex> lock(status_mu_);
  ++status_.loads;
  status_.loaded_at = now;
}

void Engine::compact() noexcept {
  std::lock_guard<std::mutex> serial(apply_mu_);
  RuleSet* current = holder_->acquire();
  if (current == nullptr || !current->compactable()) return;
  const int64_t now = clock_.unix_seconds();
  // A rule that expired since is the housekeeping's rebuild (a new epoch,
  // so that connections are re-checked), not this one.
  if (current->next_expiry() != 0 && now >= current->next_expiry()) return;
  std::string error;
  auto rs = RuleSet::build(active_compiled_, current->mode(), current->epoch(), worker_count_, now, error, current);
  if (!rs) {
    BH_LOG(ERR, "rebuilding the changed rule set in full failed (the change stays in force): %s", error.c_str());
    return;
  }
  rs->set_same_rules_as_previous(true);
  BH_LOG(INFO, "rule set epoch %u rebuilt in full: %u and %u contexts, %u reused, in %.1f ms", rs->epoch(),
         rs->acl_contexts4(), rs->acl_contexts6(), rs->acl_contexts_reused(),
         static_cast<double>(rs->build_ns()) / 1e6);
  holder_->publish(std::move(rs));
  std::lock_guard<std::mutex> lock(status_mu_);
  ++status_.compactions;
}

void Engine::keep_pending() noexcept {
  std::lock_guard<std::mutex> serial(apply_mu_);
  if (!keep_pending_) return;
  persist(active_compiled_);
  keep_pending_ = false;
}

std::string ruleset_path(const std::string& dir) { return dir + "/ruleset.pb"; }
std::string bindings_path(const std::string& dir) { return dir + "/bindings.pb"; }

namespace {

// State files are regular files: a device or a FIFO put in their place is
// neither read (it could block) nor written.
bool regular_or_absent(const std::string& path, bool& exists) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  exists = st.type() != std::filesystem::file_type::not_found;
  return !exists || st.type() == std::filesystem::file_type::regular;
}

uint64_t binding_changes(const names::BindingTable& t) {
  const auto& c = t.counters();
  return c.bound.load(std::memory_order_relaxed) + c.refreshed.load(std::memory_order_relaxed) +
         c.evicted.load(std::memory_order_relaxed) + c.expired.load(std::memory_order_relaxed);
}

}  // namespace

void Engine::ensure_bindings(const names::PolicyNames& names) {
  conns_->enable_names();  // the names connections are admitted by (dataplane/conntrack.h)
  const names::BindingTable::Limits want = names.limits();
  if (bindings_) {
    const auto& l = bindings_limits_;
    if (want.bindings != l.bindings || want.names != l.names || want.max_addresses_per_name != l.max_addresses_per_name)
      BH_LOG(NOTICE,
             "name bindings: the table keeps its size (%u bindings, %u names, %u addresses a name) until the next "
             "start; the rule set asks for %u, %u and %u",
             l.bindings, l.names, l.max_addresses_per_name, want.bindings, want.names, want.max_addresses_per_name);
    return;
  }
  auto table = std::make_unique<names::BindingTable>(want, KeyedHash::random());
  const uint32_t now = clock_.now_seconds();
  if (!cfg_.state_dir.empty()) {
    const std::string path = bindings_path(cfg_.state_dir);
    bool exists = false;
    pb::NameBindings saved;
    if (!regular_or_absent(path, exists)) {
      BH_LOG(ERR, "%s: not a regular file; starting without name bindings", path.c_str());
    } else if (exists) {
      std::ifstream in(path, std::ios::binary);
      if (!in || !saved.ParseFromIstream(&in)) {
        BH_LOG(ERR, "%s: damaged (not name bindings); starting without them", path.c_str());
      } else {
        const auto r = table->restore(saved, now, clock_.unix_seconds());
        BH_LOG(NOTICE,
               "name bindings: %u restored from %s (%u expired meanwhile, %u refused as malformed, %u over the "
               "table's caps)",
               r.restored, path.c_str(), r.expired, r.refused, r.not_bound);
      }
    }
  }
  BH_LOG(INFO, "name bindings: a table of %u bindings and %u names (%u addresses a name), %.1f MB", want.bindings,
         want.names, want.max_addresses_per_name, static_cast<double>(table->memory_bytes()) / 1e6);
  bindings_limits_ = want;
  bindings_saved_s_ = now;
  bindings_changes_saved_ = binding_changes(*table);
  bindings_ = std::move(table);
  for (auto& w : workers_) w->prepare_snoop();
  __atomic_store_n(&shared_.bindings, bindings_.get(), __ATOMIC_RELEASE);
}

bool Engine::save_bindings(std::string& error) {
  names::BindingTable* t = bindings();
  if (t == nullptr || cfg_.state_dir.empty()) return true;
  const uint32_t now = clock_.now_seconds();
  bindings_saved_s_ = now;
  const uint64_t changes = binding_changes(*t);
  const std::string path = bindings_path(cfg_.state_dir);
  bool exists = false;
  if (!regular_or_absent(path, exists)) {
    error = path + ": not a regular file";
    return false;
  }
  if (exists && changes == bindings_changes_saved_) return true;  // as kept
  pb::NameBindings out;
  t->save(now, clock_.unix_seconds(), out);
  std::string data;
  if (!out.SerializeToString(&data)) {
    error = "encoding failed";
    return false;
  }
  if (!common::write_file(path, data, error)) return false;
  bindings_changes_saved_ = changes;
  return true;
}

void Engine::housekeep_bindings() noexcept {
  names::BindingTable* t = bindings();
  if (t == nullptr) return;
  const uint32_t now = clock_.now_seconds();
  // About the whole table a second at this call's pace (every few ms), a
  // few buckets under the writers' lock at a time.
  t->sweep(now, t->bucket_count() / 200 + 1);
  if (cfg_.state_dir.empty() || now - bindings_saved_s_ < kBindingsSaveSeconds) return;
  std::string error;
  if (!save_bindings(error)) BH_LOG(ERR, "cannot keep the name bindings: %s", error.c_str());
}

std::vector<std::pair<std::string, uint64_t>> Engine::names_counters() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  const names::BindingTable* t = bindings();
  if (t == nullptr) return out;
  const auto& l = bindings_limits_;
  const auto& c = t->counters();
  auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  out = {{"bindings_live", t->live_bindings()},
         {"names_live", t->live_names()},
         {"bindings_max", l.bindings},
         {"names_max", l.names},
         {"addresses_per_name_max", l.max_addresses_per_name},
         {"table_bytes", t->memory_bytes()},
         {"bound", ld(c.bound)},
         {"refreshed", ld(c.refreshed)},
         {"evicted", ld(c.evicted)},
         {"expired", ld(c.expired)},
         {"name_cap", ld(c.name_cap)},
         {"names_full", ld(c.names_full)}};
  const names::SnoopStats s = snoop_totals();
  for (size_t i = 0; i < names::kSnoopCounterCount; ++i)
    out.emplace_back(names::snoop_counter_name(static_cast<names::SnoopCounter>(i)), s.events[i]);
  for (size_t i = 1; i < names::kDnsErrorCount; ++i)
    out.emplace_back("malformed_" + std::string(names::dns_error_name(static_cast<names::DnsError>(i))),
                     s.malformed[i]);
  return out;
}

names::SnoopStats Engine::snoop_totals() const noexcept {
  names::SnoopStats t;
  for (const auto& w : workers_) t.add(w->snoop_stats());
  return t;
}

void Engine::persist(const pb::CompiledRuleSet& compiled) noexcept {
  if (cfg_.state_dir.empty()) return;
  std::string data, error;
  if (!compiled.SerializeToString(&data) || !common::write_file(ruleset_path(cfg_.state_dir), data, error))
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
  if (!apply(std::move(compiled), error)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}

void Engine::attach(PortsSetup& ports) {
  workers_.clear();
  if (cfg_.insertion.one_armed()) {
    std::vector<std::array<uint8_t, 6>> macs;
    for (uint16_t p : cfg_.insertion.ports) {
      rte_ether_addr a{};
      rte_eth_macaddr_get(p, &a);
      macs.push_back(std::to_array(a.addr_bytes));
    }
    appliance_ = std::make_unique<insertion::Appliance>(cfg_.insertion, macs);
    shared_.appliance = appliance_.get();
    heartbeats_ = std::make_unique<Heartbeat[]>(worker_count_);
    shared_.heartbeats = heartbeats_.get();
  }
  for (uint32_t w = 0; w < worker_count_; ++w)
    workers_.push_back(std::make_unique<Worker>(w, shared_, ports.per_worker[w], log_rings_[w],
                                                flow_rings_.empty() ? nullptr : flow_rings_[w]));
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
  if (rs != nullptr && rs->next_expiry() != 0 && clock_.unix_seconds() >= rs->next_expiry()) {
    std::string error;
    pb::CompiledRuleSet compiled;
    {
      std::lock_guard<std::mutex> serial(apply_mu_);
      compiled = active_compiled_;
    }
    if (apply(std::move(compiled), error)) BH_LOG(INFO, "a time-bound rule expired; rule set rebuilt without it");
    else BH_LOG(ERR, "rebuilding after a rule expiry failed: %s", error.c_str());
    rs = holder_->acquire();
  }
  housekeep_bindings();
  LogRecord rec;
  for (auto* ring : log_rings_) {
    for (int k = 0; k < 256 && rte_ring_sc_dequeue_elem(ring, &rec, sizeof(rec)) == 0; ++k) {
      uint64_t suppressed = 0;
      if (!log_limit_.allow(suppressed)) continue;
      // Names come from the rule set that judged the record.
      const auto ctx = flow_context(rec.epoch);
      const bool known = ctx != nullptr && rec.rule < ctx->rule_ids.size();
      const std::string rule = rec.rule == kNoRule ? std::string("default")
                               : known ? ctx->rule_ids[rec.rule] : "#" + std::to_string(rec.rule);
      const char* verdict = rec.allowed ? "allow"
                          : rec.mode == static_cast<uint8_t>(Mode::enforce) ? "deny" : "would-deny";
      std::string segs;
      if (ctx != nullptr) {
        const std::string& s = ctx->segments.name(ctx->segments.find(rec.tuple.family, rec.tuple.src));
        const std::string& d = ctx->segments.name(ctx->segments.find(rec.tuple.family, rec.tuple.dst));
        segs = " (" + (s.empty() ? std::string("-") : s) + " -> " + (d.empty() ? std::string("-") : d) + ")";
      }
      if (suppressed > 0)
        BH_LOG(INFO, "rule %s: %s %s%s [%lu lines suppressed]", rule.c_str(), verdict,
               format_tuple(rec.tuple).c_str(), segs.c_str(), static_cast<unsigned long>(suppressed));
      else
        BH_LOG(INFO, "rule %s: %s %s%s", rule.c_str(), verdict, format_tuple(rec.tuple).c_str(), segs.c_str());
    }
  }
}

std::shared_ptr<const FlowContext> Engine::flow_context(uint32_t epoch) {
  std::lock_guard<std::mutex> lock(flow_mu_);
  auto it = flow_contexts_.find(epoch);
  if (it != flow_contexts_.end()) return it->second;
  // Older than every kept epoch: the oldest kept is the closest.
  return flow_contexts_.empty() ? nullptr : flow_contexts_.begin()->second;
}

size_t Engine::drain_flows(std::vector<pb::FlowRecord>& out, size_t max) {
  // Slots, not records: an event with a note is followed by its note's
  // slots, and one cut by the chunk's end has the rest on the ring already
  // (enqueued with it in one bulk), taken into the room after the chunk.
  constexpr unsigned kChunk = 256;
  FlowEvent evs[kChunk + kMaxNoteSlots];
  size_t added = 0;
  std::shared_ptr<const FlowContext> ctx;
  uint32_t ctx_epoch = 0;
  NameNote note;
  for (rte_ring* ring : flow_rings_) {
    while (added < max) {
      const unsigned want = static_cast<unsigned>(std::min<size_t>(kChunk, max - added));
      const unsigned got = rte_ring_sc_dequeue_burst_elem(ring, evs, sizeof(FlowEvent), want, nullptr);
      unsigned n = got;
      for (unsigned k = 0; k < n; ++k) {
        const FlowEvent& ev = evs[k];
        const NameNote* noted = nullptr;
        if (const unsigned slots = ev.note_slots; slots != 0) {
          if (slots > kMaxNoteSlots) break;  // not an event this build wrote: nothing after it can be read
          if (k + 1 + slots > n) {
            const unsigned rest = k + 1 + slots - n;
            if (rte_ring_sc_dequeue_bulk_elem(ring, evs + n, sizeof(FlowEvent), rest, nullptr) != rest) break;
            n += rest;
          }
          if (unpack_note(evs + k + 1, slots, note)) noted = &note;
          k += slots;
        }
        if (!ctx || ctx_epoch != ev.epoch) {
          ctx = flow_context(ev.epoch);
          ctx_epoch = ev.epoch;
        }
        pb::FlowRecord& r = out.emplace_back();
        make_flow_record(ev, noted, ctx.get(), clock_.now_ms(), clock_.unix_ms(), r);
        if (appliance_ != nullptr && ev.tenant != 0) r.set_tenant(appliance_->tenant_name(ev.tenant));
        ++added;
      }
      if (got < want) break;
    }
  }
  return added;
}

std::vector<std::pair<const char*, uint64_t>> Engine::insertion_counters() const {
  std::vector<std::pair<const char*, uint64_t>> out;
  if (!cfg_.insertion.one_armed()) return out;
  const WorkerStats t = totals();
  for (WorkerCounter w : {WorkerCounter::tunnel_received, WorkerCounter::vxlan_external_received,
                          WorkerCounter::vxlan_internal_received, WorkerCounter::geneve_unknown_options,
                          WorkerCounter::arp_answered, WorkerCounter::health_answered})
    out.emplace_back(worker_counter_name(w), t.events[static_cast<unsigned>(w)]);
  for (DropReason r = DropReason::not_for_appliance; r < DropReason::count;
       r = static_cast<DropReason>(static_cast<unsigned>(r) + 1))
    out.emplace_back(drop_reason_name(r), t.drops[static_cast<unsigned>(r)]);
  return out;
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
