// The dataplane engine: everything between the ports and the policy.
//
// Owns the QSBR variable, the connection table, the active rule set and the
// workers. The main lcore creates it, loads policy into it (at start, on
// SIGHUP, and when a time-bound rule expires), launches the workers and
// calls housekeeping() periodically. Tests drive the same object in one
// process, calling Worker::poll_once() instead of launching lcores.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <rte_ring.h>
#include <rte_rcu_qsbr.h>

#include "dataplane/capture.h"
#include "dataplane/clock.h"
#include "dataplane/config.h"
#include "dataplane/conntrack.h"
#include "dataplane/flow_record.h"
#include "dataplane/insertion/stage.h"
#include "dataplane/log.h"
#include "dataplane/names/bindings.h"
#include "dataplane/names/snoop.h"
#include "dataplane/ports.h"
#include "dataplane/ruleset.h"
#include "dataplane/swap.h"
#include "dataplane/worker.h"
#include "proto/bulkhead.pb.h"
#include "rules/segment_index.h"

namespace bulkhead::dataplane {

struct PolicyStatus {
  uint64_t loads = 0;          // successful loads, start-up included
  uint64_t load_failures = 0;  // reloads refused (old policy kept)
  uint64_t changes = 0;        // loads built as a change of the set before
  uint64_t compactions = 0;    // changed sets rebuilt in full afterwards
  std::string last_error;      // first line of the last refusal
  int64_t loaded_at = 0;       // unix seconds of the active set's load
};

class Engine {
 public:
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  static std::unique_ptr<Engine> create(const Config& cfg, uint32_t workers, std::string& error);

  // Parses, compiles and builds the policy file, then swaps it in. On any
  // error the active set stays as it was and `error` holds what went wrong
  // (one diagnostic per line).
  bool load_policy_file(const std::string& path, std::string& error);
  // When a newly applied set is written to the state directory.
  enum class Keep { now, later };
  // Builds and swaps in an already compiled rule set; with a state
  // directory, keeps it there as the last good set — at once, or with
  // Keep::later when keep_pending() is called (the control channel
  // acknowledges first: writing 10K rules and syncing them to disk takes
  // longer than the swap). Takes the set by value: callers done with theirs
  // move it in (a 10K-rule set copies in ~6 ms).
  bool apply(pb::CompiledRuleSet compiled, std::string& error, Keep keep = Keep::now);
  // Applies a pushed change of the active set (PushRuleSet with a base
  // generation): the new set is assembled from the active set's rules and
  // the push's own, and built as a change (RuleSet::change) — or in full
  // when that is better. The push's rules are taken. False with `error`
  // when the push is not a change of the active generation or is
  // malformed; the active set is then untouched.
  bool apply_change(pb::PushRuleSet& push, std::string& error, Keep keep = Keep::now);
  // Rebuilds the active set in full when it was built as a change (same
  // rules, same epoch: connections are not re-checked). Off the push's
  // path; a no-op otherwise.
  void compact() noexcept;
  // Writes the active set to the state directory if an apply left it for later.
  void keep_pending() noexcept;
  // Loads the rule set kept in the state directory. False (with `error`)
  // when there is none or it cannot be read; the active set is untouched.
  bool load_persisted(std::string& error);

  // Creates the workers over the queues of `ports`.
  void attach(PortsSetup& ports);
  // Runs worker i on each of the given lcores (one per worker).
  bool launch(const std::vector<unsigned>& lcores, std::string& error);
  // Stops and joins launched workers.
  void stop() noexcept;

  // Main-lcore duties: print rule log records (rate-limited), rebuild the
  // rule set when a time-bound rule expires, sweep expired name bindings
  // and keep them in the state directory every kBindingsSaveSeconds. Call
  // every few milliseconds.
  void housekeeping() noexcept;

  // Name bindings (dataplane/names/bindings.h). The table is made when the
  // first rule set written with names is applied, sized by that set's
  // limits (PolicyNames::limits()), and restored from the state directory
  // then; it stays, with its size, across every later reload (a set with
  // other limits, or without names), so bindings survive reloads; new
  // limits take effect at the next start, which restores the saved
  // bindings into a table of the new size. nullptr before.
  names::BindingTable* bindings() const noexcept { return __atomic_load_n(&shared_.bindings, __ATOMIC_ACQUIRE); }
  const names::BindingTable::Limits& bindings_limits() const noexcept { return bindings_limits_; }
  // Writes the live bindings to the state directory (atomically); false
  // with `error` when that fails. Nothing to do (true) without a state
  // directory or a table. Main lcore (or, stopped, any one thread).
  bool save_bindings(std::string& error);
  static constexpr uint32_t kBindingsSaveSeconds = 10;
  // Every worker's DNS snooping counters, summed.
  names::SnoopStats snoop_totals() const noexcept;
  // The binding table's and the snooping's counters by name, as
  // /bulkhead/names and the Hello report them; empty before a table.
  std::vector<std::pair<std::string, uint64_t>> names_counters() const;

  Worker& worker(uint32_t i) { return *workers_[i]; }
  uint32_t worker_count() const noexcept { return worker_count_; }
  RuleSetHolder& rules() noexcept { return *holder_; }
  ConnTable& conns() noexcept { return *conns_; }
  const Config& config() const noexcept { return cfg_; }
  // The workers' and the rule expiry's clocks; tests move them forward.
  Clock& clock() noexcept { return clock_; }
  const PolicyStatus& policy_status() const noexcept { return status_; }
  std::mutex& status_mutex() noexcept { return status_mu_; }

  // Sums of every worker's counters.
  WorkerStats totals() const noexcept;
  // One-armed insertion's counters, as /bulkhead/insertion and the Hello
  // report them: the tunnels' receive counts, ARP and health answers, and
  // the drops of the insertion's own reasons (none inline).
  std::vector<std::pair<const char*, uint64_t>> insertion_counters() const;

  // Flow records: moves up to `max` waiting flow events of every worker
  // into `out` as records (rule ids, segments and generation resolved under
  // the rule set that judged them). Called by the exporter's thread, or by
  // tests; one caller at a time. Returns how many were added.
  size_t drain_flows(std::vector<pb::FlowRecord>& out, size_t max);
  // Rule ids, segments and generation of the set with this epoch (or the
  // oldest kept, for an older one); nullptr before any set. Any thread.
  std::shared_ptr<const FlowContext> flow_context(uint32_t epoch);

  // Packet capture: the workers' side (dataplane/capture.h). The capture
  // thread arms and drains it; disarm() waits on this QSBR variable.
  CaptureTap& capture() noexcept { return *capture_; }
  rte_rcu_qsbr* qsbr() noexcept { return qsbr_; }
  bool records_flows() const noexcept { return !flow_rings_.empty(); }

 private:
  Engine() = default;
  Mode effective_mode(const pb::CompiledRuleSet& compiled) const noexcept;
  void persist(const pb::CompiledRuleSet& compiled) noexcept;
  // Publishes a built set for `compiled` (apply_mu_ held).
  void commit(std::unique_ptr<RuleSet> rs, pb::CompiledRuleSet compiled, Keep keep);
  void fail(const std::string& error);
  // Makes the binding table for a set written with names (apply_mu_ held).
  void ensure_bindings(const names::PolicyNames& names);
  void housekeep_bindings() noexcept;

  Config cfg_;
  Clock clock_;
  uint32_t worker_count_ = 0;
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::unique_ptr<ConnTable> conns_;
  std::unique_ptr<RuleSetHolder> holder_;
  std::unique_ptr<CaptureTap> capture_;
  std::unique_ptr<insertion::Appliance> appliance_;  // one-armed insertion's ports
  std::unique_ptr<Heartbeat[]> heartbeats_;          // one-armed: the workers' signs of life
  Shared shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<rte_ring*> log_rings_;
  std::vector<rte_ring*> flow_rings_;
  std::mutex flow_mu_;  // flow_contexts_
  std::map<uint32_t, std::shared_ptr<const FlowContext>> flow_contexts_;  // the last few epochs
  std::vector<unsigned> launched_;
  pb::CompiledRuleSet active_compiled_;  // kept to rebuild when a rule expires
  bool keep_pending_ = false;            // active_compiled_ not yet in the state directory
  uint32_t next_epoch_ = 1;
  PolicyStatus status_;
  std::mutex status_mu_;
  std::mutex apply_mu_;  // one rule-set build and swap at a time (main lcore, control channel)
  RateLimit log_limit_{20, 1};
  std::unique_ptr<names::BindingTable> bindings_;  // see bindings()
  names::BindingTable::Limits bindings_limits_;    // the table's, as made
  uint32_t bindings_saved_s_ = 0;                  // the bindings' clock at the last save
  uint64_t bindings_changes_saved_ = 0;            // the table's changes counted then
};

}  // namespace bulkhead::dataplane
