// The capture socket's request reader on arbitrary bytes: a request is read
// or refused with a message, nothing crashes, and a filter it accepts keeps
// every bound the workers and the capture thread rely on.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dataplane/capture_request.h"

using namespace bulkhead::dataplane;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CaptureFilter f;
  std::string error;
  const bool ok = read_capture_request(std::string_view(reinterpret_cast<const char*>(data), size), f, error);
  if (!ok) {
    if (error.empty()) std::abort();  // refused without a message
    return 0;
  }
  if (f.count == 0 || f.count > kCaptureMaxCount || f.rate == 0 || f.rate > kCaptureMaxRate ||
      f.duration_ms > kCaptureMaxDurationMs)
    std::abort();
  if (f.reason && (static_cast<unsigned>(*f.reason) >= kDropReasonCount || !f.drops_only)) std::abort();
  if (f.rule && (f.rule->empty() || f.rule->size() > 256)) std::abort();
  if (describe(f).empty()) std::abort();
  return 0;
}
