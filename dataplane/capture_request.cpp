#include "dataplane/capture_request.h"

#include "common/text.h"
#include "dataplane/control_message.h"
#include "proto/bulkhead.pb.h"

namespace bulkhead::dataplane {

std::optional<DropReason> drop_reason_by_name(std::string_view name) noexcept {
  for (unsigned i = 0; i < kDropReasonCount; ++i)
    if (name == drop_reason_name(static_cast<DropReason>(i))) return static_cast<DropReason>(i);
  return std::nullopt;
}

bool read_capture_request(std::string_view bytes, CaptureFilter& out, std::string& error) {
  out = CaptureFilter{};
  pb::CaptureRequest req;
  if (bytes.size() > kCaptureMaxRequestBytes ||
      !req.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    error = "not a capture request";
    return false;
  }
  if (req.version() != kCaptureVersion) {
    error = "capture request version " + std::to_string(req.version()) + " is not supported (this dataplane speaks " +
            std::to_string(kCaptureVersion) + ")";
    return false;
  }
  if (req.all() && (req.drops() || !req.rule().empty() || !req.reason().empty())) {
    error = "--all takes every packet; it goes with no --drops, --rule or --reason";
    return false;
  }
  if (!req.all() && !req.drops() && req.rule().empty() && req.reason().empty()) {
    error = "nothing to capture: ask for --drops, --rule, --reason or --all";
    return false;
  }
  if (!req.reason().empty()) {
    out.reason = drop_reason_by_name(req.reason());
    if (!out.reason) {
      error = "unknown drop reason '" + common::escaped(req.reason()) +
              "' (the names of /bulkhead/drops, e.g. policy_deny)";
      return false;
    }
  }
  if (req.rule().size() > kMaxNameBytes) {
    error = "rule id longer than " + std::to_string(kMaxNameBytes) + " bytes";
    return false;
  }
  if (!req.rule().empty()) out.rule = req.rule();
  if (req.count() == 0 || req.count() > kCaptureMaxCount) {
    error = "count must be 1.." + std::to_string(kCaptureMaxCount);
    return false;
  }
  if (req.rate() == 0 || req.rate() > kCaptureMaxRate) {
    error = "rate must be 1.." + std::to_string(kCaptureMaxRate) + " packets a second";
    return false;
  }
  if (req.duration_ms() > kCaptureMaxDurationMs) {
    error = "duration longer than a day";
    return false;
  }
  out.drops_only = req.drops() || out.reason.has_value();
  out.count = req.count();
  out.duration_ms = req.duration_ms();
  out.rate = req.rate();
  return true;
}

std::string describe(const CaptureFilter& f) {
  std::string s = f.drops_only ? "drops" : f.rule ? "packets" : "all";
  if (f.reason) s += std::string(" reason=") + drop_reason_name(*f.reason);
  if (f.rule) s += " rule=" + common::escaped(*f.rule, kMaxNameBytes);
  s += " count=" + std::to_string(f.count) + " rate=" + std::to_string(f.rate) + "/s";
  if (f.duration_ms != 0) s += " duration=" + std::to_string(f.duration_ms) + "ms";
  return s;
}

}  // namespace bulkhead::dataplane
