// What `bulkhead capture` may ask of a running dataplane, checked before
// anything is armed: one CaptureRequest (proto/bulkhead.proto) read into
// the filter the workers apply (dataplane/capture.h). Anyone who can open
// the capture socket is outside input, so every field is bounded here.
//
// Pure functions: no I/O, no DPDK, no state; any thread may call them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/counters.h"

namespace bulkhead::dataplane {

inline constexpr uint32_t kCaptureVersion = 1;
inline constexpr uint64_t kCaptureMaxCount = 10'000'000;
inline constexpr uint32_t kCaptureMaxRate = 1'000'000;       // copies per second
inline constexpr uint32_t kCaptureMaxDurationMs = 86'400'000;  // a day
inline constexpr size_t kCaptureMaxRequestBytes = 4096;
// The rule filter's name for the default action.
inline constexpr std::string_view kDefaultRuleName = "default";

// Which packets a capture copies: each condition set must hold.
struct CaptureFilter {
  bool drops_only = false;              // only dropped packets
  std::optional<DropReason> reason;     // only drops for this reason
  std::optional<std::string> rule;      // only packets this rule id decided ("default")
  uint64_t count = 0;                   // the capture ends after this many
  uint32_t duration_ms = 0;             // ... or after this long (0: no limit)
  uint32_t rate = 0;                    // copies per second, all workers together
};

// Reads an encoded CaptureRequest. False, with one line in `error`, when it
// does not parse, is not version 1, names an unknown drop reason, asks for
// both --all and a narrower filter, or is out of bounds.
bool read_capture_request(std::string_view bytes, CaptureFilter& out, std::string& error);

// The filter as one line: "drops reason=policy_deny rule=web count=10 ...".
std::string describe(const CaptureFilter& f);

// The drop reason with this name (/bulkhead/drops), if any.
std::optional<DropReason> drop_reason_by_name(std::string_view name) noexcept;

}  // namespace bulkhead::dataplane
