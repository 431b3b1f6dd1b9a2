// Logging for the dataplane: one macro over DPDK's rte_log, and a rate
// limiter for anything a packet or a message can trigger.
//
// BH_LOG may be called from any thread. Workers never log per packet; they
// count, and the main lcore reports what the counters and rings tell it.
#pragma once

#include <cstdint>

#include <rte_cycles.h>
#include <rte_log.h>

namespace bulkhead::dataplane {

// The registered rte_log type of the dataplane ("bulkhead.dataplane").
int log_type() noexcept;

// Allows at most `burst` events per `period_sec`; counts the rest so the
// next allowed line can say how many were suppressed. Not thread-safe: one
// limiter per thread.
class RateLimit {
 public:
  RateLimit(uint32_t burst, uint32_t period_sec) noexcept
      : burst_(burst), period_tsc_(rte_get_tsc_hz() * period_sec) {}

  // True when the caller may log now; `suppressed` gets the number of events
  // dropped since the last allowed one.
  bool allow(uint64_t& suppressed) noexcept {
    const uint64_t now = rte_get_tsc_cycles();
    if (now - window_start_ >= period_tsc_) {
      window_start_ = now;
      used_ = 0;
    }
    if (used_ < burst_) {
      ++used_;
      suppressed = suppressed_;
      suppressed_ = 0;
      return true;
    }
    ++suppressed_;
    return false;
  }

 private:
  uint32_t burst_;
  uint32_t used_ = 0;
  uint64_t period_tsc_;
  uint64_t window_start_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace bulkhead::dataplane

#define BH_LOG(level, fmt, ...)                                                  \
  rte_log(RTE_LOG_##level, ::bulkhead::dataplane::log_type(), "bulkhead: " fmt "\n" \
          __VA_OPT__(, ) __VA_ARGS__)
