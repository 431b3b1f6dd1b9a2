#include "dataplane/rule_counters.h"

#include <rte_common.h>
#include <rte_malloc.h>

namespace bulkhead::dataplane {

RuleCounters::~RuleCounters() { rte_free(rows_); }

bool RuleCounters::allocate(uint32_t rules, uint32_t workers) noexcept {
  rules_ = rules;
  workers_ = workers == 0 ? 1 : workers;
  stride_ = (rules + 1 + 7) & ~size_t{7};  // 8 x 24 bytes: rows never share a cache line
  rows_ = static_cast<RuleCounter*>(
      rte_zmalloc("bh_rule_counters", sizeof(RuleCounter) * stride_ * (workers_ + 1), RTE_CACHE_LINE_SIZE));
  return rows_ != nullptr;
}

RuleCounter RuleCounters::total(uint32_t rule) const noexcept {
  RuleCounter sum{};
  const size_t s = slot(rule);
  for (uint32_t w = 0; w <= workers_; ++w) {
    const RuleCounter& c = rows_[w * stride_ + s];
    sum.packets += __atomic_load_n(&c.packets, __ATOMIC_RELAXED);
    sum.bytes += __atomic_load_n(&c.bytes, __ATOMIC_RELAXED);
    sum.connections += __atomic_load_n(&c.connections, __ATOMIC_RELAXED);
  }
  return sum;
}

void RuleCounters::inherit(uint32_t rule, const RuleCounter& c) noexcept {
  RuleCounter& row = rows_[workers_ * stride_ + slot(rule)];
  row.packets += c.packets;
  row.bytes += c.bytes;
  row.connections += c.connections;
}

}  // namespace bulkhead::dataplane
