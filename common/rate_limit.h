// A log line's allowance: at most `burst` lines in each window of `period`,
// counting what was held back so the next line can say so.
//
// WindowLimit is the logic over any clock's ticks; LogLimit reads the steady
// clock, for the daemons' threads outside the fast path (the control plane,
// helper threads). The dataplane's workers read the TSC
// (dataplane/log.h's RateLimit). One thread at a time per object.
#pragma once

#include <chrono>
#include <cstdint>

namespace bulkhead::common {

class WindowLimit {
 public:
  WindowLimit(uint32_t burst, uint64_t period) noexcept : burst_(burst), period_(period) {}

  // True when a line may be written at `now` (in the period's ticks);
  // `suppressed` is then the number of lines held back since the last one
  // allowed.
  bool allow(uint64_t now, uint64_t& suppressed) noexcept {
    if (now - window_start_ >= period_) {
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
  uint64_t period_;
  uint64_t window_start_ = 0;
  uint64_t suppressed_ = 0;
};

class LogLimit {
 public:
  LogLimit(uint32_t burst, std::chrono::steady_clock::duration period) noexcept
      : limit_(burst, static_cast<uint64_t>(period.count())) {}

  bool allow(uint64_t& suppressed) noexcept {
    return limit_.allow(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()),
                        suppressed);
  }

 private:
  WindowLimit limit_;
};

}  // namespace bulkhead::common
