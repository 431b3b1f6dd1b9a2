// The vocabulary of a judgement, shared by the fast path and everything
// that reports on it: the mode a rule set is enforced in and the rule index
// that decided (kNoRule: the default action). Pure; any thread.
#pragma once

#include <cstdint>

namespace bulkhead::dataplane {

enum class Mode : uint8_t { enforce = 0, audit = 1, learn = 2 };

inline constexpr const char* mode_name(Mode m) noexcept {
  switch (m) {
    case Mode::enforce: return "enforce";
    case Mode::audit: return "audit";
    case Mode::learn: return "learn";
  }
  return "?";
}

// The rule index of the default action.
inline constexpr uint32_t kNoRule = UINT32_MAX;

}  // namespace bulkhead::dataplane
