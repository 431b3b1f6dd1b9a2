#include "tools/cli/capture_bindings.h"

#include <algorithm>

#include "dataplane/names/policy_names.h"

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

void CaptureBindings::alive(const std::string& client, const std::string& server, int64_t time_us, uint32_t grace_s,
                             const std::function<bool(const Answer&)>& fn) const {
  const auto all = before(client, server, time_us);
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    if (it->time_us + (int64_t{it->ttl} + grace_s) * 1'000'000 >= time_us && !fn(*it)) return;
}

std::function<bool(const DnsSeen&)> CaptureBindings::trusted_by(const dataplane::names::PolicyNames& policy) {
  return [&policy](const DnsSeen& d) {
    return d.ignored.empty() && d.resolver.port == 53 &&
           policy.trusted_resolver(d.resolver.addr.data(), d.resolver.family);
  };
}

void CaptureHellos::add(const SniSeen& h) {
  if (!h.ignored.empty()) return;
  auto key = std::tuple(address_bytes(h.client) + address_bytes(h.server), h.client.port, h.server.port);
  auto it = by_conn_.find(key);
  if (it == by_conn_.end()) {
    if (by_conn_.size() >= kMaxHellos) {
      ++dropped_;
      return;
    }
    it = by_conn_.emplace(std::move(key), Hello{}).first;
  }
  it->second = Hello{h.sni, h.ech};
}

const CaptureHellos::Hello* CaptureHellos::find(const std::string& client, uint16_t cport, const std::string& server,
                                                uint16_t sport) const {
  auto it = by_conn_.find(std::tuple(client + server, cport, sport));
  return it == by_conn_.end() ? nullptr : &it->second;
}

}  // namespace bulkhead::cli
