// Logging for the dataplane: one macro over DPDK's rte_log, and a rate
// limiter for anything a packet or a message can trigger.
//
// BH_LOG may be called from any thread. Workers never log per packet; they
// count, and the main lcore reports what the counters and rings tell it.
#pragma once

#include <cstdint>

#include <rte_cycles.h>
#include <rte_log.h>

#include "common/rate_limit.h"

namespace bulkhead::dataplane {

// The registered rte_log type of the dataplane ("bulkhead.dataplane").
int log_type() noexcept;

// Allows at most `burst` events per `period_sec`, on the TSC; counts the
// rest so the next allowed line can say how many were suppressed. Not
// thread-safe: one limiter per thread.
class RateLimit {
 public:
  RateLimit(uint32_t burst, uint32_t period_sec) noexcept : limit_(burst, rte_get_tsc_hz() * period_sec) {}

  // True when the caller may log now; `suppressed` gets the number of events
  // dropped since the last allowed one.
  bool allow(uint64_t& suppressed) noexcept { return limit_.allow(rte_get_tsc_cycles(), suppressed); }

 private:
  common::WindowLimit limit_;
};

}  // namespace bulkhead::dataplane

#define BH_LOG(level, fmt, ...)                                                  \
  rte_log(RTE_LOG_##level, ::bulkhead::dataplane::log_type(), "bulkhead: " fmt "\n" \
          __VA_OPT__(, ) __VA_ARGS__)
