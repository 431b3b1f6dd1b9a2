// The dataplane's clocks: a coarse millisecond clock from the TSC that the
// workers stamp connections with and expire them by (and its seconds, that
// name bindings expire by), and the wall clock in
// unix seconds that time-bound rules expire by. Both can be moved forward
// (advance()), so tests of timeouts and expiry need not sleep.
//
// Owned by the Engine; read by every worker once per pass and by the main
// lcore. advance() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_cycles.h>

#include "common/time.h"

namespace bulkhead::dataplane {

class Clock {
 public:
  Clock() noexcept : tsc_per_ms_(rte_get_tsc_hz() / 1000 ? rte_get_tsc_hz() / 1000 : 1) {}

  uint64_t tsc_per_ms() const noexcept { return tsc_per_ms_; }
  // Milliseconds of the worker clock for a TSC reading (it wraps after 49
  // days; every comparison of its values is a signed difference).
  uint32_t ms(uint64_t tsc) const noexcept {
    return static_cast<uint32_t>(tsc / tsc_per_ms_ + static_cast<uint64_t>(offset_ms_.load(std::memory_order_relaxed)));
  }
  uint32_t now_ms() const noexcept { return ms(rte_get_tsc_cycles()); }
  // Seconds of the same clock, without the millisecond clock's wrap (it
  // wraps after 136 years): the name bindings' clock
  // (dataplane/names/bindings.h), which workers bind and look up by and the
  // main lcore sweeps by.
  uint32_t seconds(uint64_t tsc) const noexcept {
    return static_cast<uint32_t>((tsc / tsc_per_ms_ + static_cast<uint64_t>(offset_ms_.load(std::memory_order_relaxed))) / 1000);
  }
  uint32_t now_seconds() const noexcept { return seconds(rte_get_tsc_cycles()); }
  int64_t unix_seconds() const noexcept {
    return common::now_unix_seconds() + offset_ms_.load(std::memory_order_relaxed) / 1000;
  }
  int64_t unix_ms() const noexcept { return common::now_unix_ms() + offset_ms_.load(std::memory_order_relaxed); }

  // Moves both clocks forward by `ms`.
  void advance(int64_t ms) noexcept { offset_ms_.fetch_add(ms, std::memory_order_relaxed); }

 private:
  uint64_t tsc_per_ms_;
  std::atomic<int64_t> offset_ms_{0};
};

}  // namespace bulkhead::dataplane
