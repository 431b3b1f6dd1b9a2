// Per-rule counters of one rule set: a row per worker (each written only by
// its worker, cache-line aligned so no two workers share a line) and one
// row no worker writes, holding what earlier rule sets counted for the same
// rules. Index = rule index; the last slot of a row is the default action.
//
// What is counted where: a denied or stateless packet is counted when it is
// classified; a connection's packets and bytes are folded in from its
// table entry by the worker that sweeps it, once per sweep period and when
// it ends (dataplane/worker.cpp), so established traffic never touches
// these rows. Readers (telemetry, the main lcore) sum the rows with relaxed
// loads: a total is at most one sweep period old.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bulkhead::dataplane {

struct RuleCounter {
  uint64_t packets;
  uint64_t bytes;
  uint64_t connections;  // connections admitted (or flagged, in audit)
};

class RuleCounters {
 public:
  RuleCounters() = default;
  RuleCounters(const RuleCounters&) = delete;
  RuleCounters& operator=(const RuleCounters&) = delete;
  ~RuleCounters();

  // Rows for `rules` rules (and the default action) and `workers` workers.
  bool allocate(uint32_t rules, uint32_t workers) noexcept;

  // `rule` may be kNoRule (the default action). Only worker `worker`.
  RuleCounter& at(uint32_t worker, uint32_t rule) noexcept { return rows_[worker * stride_ + slot(rule)]; }
  // Sum over every row; any thread.
  RuleCounter total(uint32_t rule) const noexcept;
  // Adds counts of an earlier rule set to the row no worker writes; called
  // once that set's grace period is over.
  void inherit(uint32_t rule, const RuleCounter& c) noexcept;

 private:
  size_t slot(uint32_t rule) const noexcept { return rule >= rules_ ? rules_ : rule; }

  RuleCounter* rows_ = nullptr;  // (workers + 1) rows of stride_; the last row is inherited
  size_t stride_ = 0;
  uint32_t rules_ = 0;
  uint32_t workers_ = 0;
};

}  // namespace bulkhead::dataplane
