// Publication of rule sets to the workers (read-copy-update with QSBR).
//
// The main lcore builds a RuleSet off the fast path and hands it to
// publish(): a release store makes it visible, then the caller waits one
// QSBR grace period (every worker has finished the burst that may still use
// the old set) before the old set is retired. Workers read the active set
// once per burst with an acquire load, so a burst never sees two sets.
// Telemetry readers take the mutex so a set is never freed under them.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include <rte_rcu_qsbr.h>

#include "dataplane/ruleset.h"

namespace bulkhead::dataplane {

class RuleSetHolder {
 public:
  explicit RuleSetHolder(rte_rcu_qsbr* qsbr) noexcept : qsbr_(qsbr) {}
  ~RuleSetHolder() { delete active_.load(std::memory_order_relaxed); }

  RuleSet* acquire() const noexcept { return active_.load(std::memory_order_acquire); }

  // Makes `next` the active set; returns after the grace period, when no
  // worker can still hold the previous set (its counters are folded into
  // `next` and it is freed).
  void publish(std::unique_ptr<RuleSet> next) {
    RuleSet* fresh = next.release();
    RuleSet* old = active_.exchange(fresh, std::memory_order_acq_rel);
    if (old == nullptr) return;
    rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
    std::lock_guard<std::mutex> lock(readers_);
    fresh->inherit_counters(*old);
    delete old;
  }

  // For readers outside the fast path (telemetry, logging, the control
  // channel): hold it while using what acquire() returned, or publish()
  // may free the set under them.
  std::mutex& readers() noexcept { return readers_; }

  // The active set's generation (0: none), for readers outside the fast path.
  uint64_t generation() {
    std::lock_guard<std::mutex> lock(readers_);
    const RuleSet* rs = acquire();
    return rs != nullptr ? rs->generation() : 0;
  }

 private:
  std::atomic<RuleSet*> active_{nullptr};
  rte_rcu_qsbr* qsbr_;
  std::mutex readers_;
};

}  // namespace bulkhead::dataplane
