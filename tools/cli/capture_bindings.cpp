#include "tools/cli/capture_bindings.h"

#include <algorithm>

namespace bulkhead::cli {

std::string address_bytes(const Endpoint& e) {
  return std::string(reinterpret_cast<const char*>(e.addr.data()), e.family == 6 ? 16 : 4);
}

void CaptureBindings::add(const DnsSeen& d, const std::function<bool(const DnsSeen&)>& trusted) {
  if (!d.address || (!d.ignored.empty() && d.ignored != "unsolicited")) return;
  if (trusted && !trusted(d)) return;
  if (answers_ >= kMaxAnswers) {
    ++dropped_;
    return;
  }
  const auto& a = *d.address;
  std::string server(reinterpret_cast<const char*>(a.addr.data()), a.family == 6 ? 16 : 4);
  auto& list = by_pair_[{address_bytes(d.client), std::move(server)}];
  // Kept by time: a capture's timestamps may step back a little.
  auto at = std::upper_bound(list.begin(), list.end(), d.time_us,
                             [](int64_t t, const Answer& x) { return t < x.time_us; });
  list.insert(at, Answer{d.time_us, a.ttl, d.name, d.qname});
  ++answers_;
}

std::span<const CaptureBindings::Answer> CaptureBindings::before(const std::string& client, const std::string& server,
                                                                 int64_t time_us) const {
  auto it = by_pair_.find({client, server});
  if (it == by_pair_.end()) return {};
  const auto& list = it->second;
  auto end = std::upper_bound(list.begin(), list.end(), time_us,
                              [](int64_t t, const Answer& x) { return t < x.time_us; });
  return {list.data(), static_cast<std::size_t>(end - list.begin())};
}

const CaptureBindings::Answer* CaptureBindings::latest(const std::string& client, const std::string& server,
                                                       int64_t time_us) const {
  auto all = before(client, server, time_us);
  return all.empty() ? nullptr : &all.back();
}

}  // namespace bulkhead::cli
