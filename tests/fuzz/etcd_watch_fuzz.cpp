// What the control plane reads of an etcd watch stream (the JSON gateway's
// POST /v3/watch), on arbitrary bytes: the stream is cut into responses
// and their events decoded, or refused with a reason, never with an
// exception or a crash. However the bytes are split into reads (the
// input's length chooses the split), the responses and the verdict are the same as
// when they arrive at once.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "controlplane/etcd_watch.h"

using namespace bulkhead::controlplane;

namespace {

bool same(const std::vector<WatchResponse>& a, const std::vector<WatchResponse>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].revision != b[i].revision || a[i].canceled != b[i].canceled || a[i].error != b[i].error ||
        a[i].events.size() != b[i].events.size())
      return false;
    for (size_t j = 0; j < a[i].events.size(); ++j)
      if (a[i].events[j].kv.key != b[i].events[j].kv.key || a[i].events[j].kv.value != b[i].events[j].kv.value ||
          a[i].events[j].deleted != b[i].events[j].deleted)
        return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const size_t step = 1 + size % 61;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  WatchStreamParser whole;
  std::vector<WatchResponse> at_once;
  const bool whole_ok = whole.feed(text, at_once);
  if (!whole_ok && whole.error().empty()) std::abort();

  WatchStreamParser parts;
  std::vector<WatchResponse> in_parts;
  bool parts_ok = true;
  for (size_t i = 0; i < text.size() && parts_ok; i += step) parts_ok = parts.feed(text.substr(i, step), in_parts);
  if (parts_ok != whole_ok || !same(at_once, in_parts)) std::abort();
  // Refused once, refused for good.
  if (!whole_ok && whole.feed("{}", at_once)) std::abort();
  for (const auto& r : at_once)
    for (const auto& e : r.events)
      if (e.kv.key.empty()) std::abort();
  return 0;
}
