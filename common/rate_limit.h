// A log line's allowance, for the daemons' threads outside the fast path
// (the control plane, helper threads): at most `burst` lines in each
// `period`, counting what was held back so the next line can say so.
// The dataplane's workers use their own TSC-based one (dataplane/log.h).
//
// One thread at a time per object.
#pragma once

#include <chrono>
#include <cstdint>

namespace bulkhead::common {

class LogLimit {
 public:
  LogLimit(uint32_t burst, std::chrono::steady_clock::duration period) : burst_(burst), period_(period) {}

  // True when a line may be written now; `suppressed` is then the number
  // of lines held back since the last one allowed.
  bool allow(uint64_t& suppressed) {
    const auto now = std::chrono::steady_clock::now();
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
  std::chrono::steady_clock::duration period_;
  std::chrono::steady_clock::time_point window_start_{};
  uint32_t used_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace bulkhead::common
