#include "controlplane/flows/flow_store.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/file_write.h"
#include "common/protocols.h"
#include "controlplane/flows/record.h"

namespace bulkhead::controlplane::flows {
namespace {

constexpr size_t kMaxNames = 65535;

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

// A reply came back: for TCP the SYN was answered by a SYN-ACK, for the
// rest any packet came back.
bool answered(const pb::FlowRecord& r) {
  if (r.protocol() == common::kProtoTcp) return (r.tcp_flags_in() & common::kTcpSyn) != 0 || (!r.opener_known() && r.packets_in() > 0);
  return r.packets_in() > 0;
}

}  // namespace

size_t FlowStore::KeyHash::operator()(const Key& k) const noexcept {
  uint64_t w[5];
  std::memcpy(w, &k, 32);
  w[4] = static_cast<uint64_t>(k.dport) | static_cast<uint64_t>(k.proto) << 16 | static_cast<uint64_t>(k.family) << 24;
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (uint64_t x : w) h = mix(h ^ x) * 0x9E3779B97F4A7C15ull;
  return static_cast<size_t>(h);
}

FlowStore::FlowStore(FlowStoreOptions options) : opt_(options) {
  map_.reserve(std::min<size_t>(opt_.capacity, 1u << 20));
}

FlowStore::Key FlowStore::key_of(const std::string& src, const std::string& dst, uint32_t proto, uint32_t dport) {
  Key k;
  std::memset(&k, 0, sizeof(k));
  std::memcpy(k.src, src.data(), std::min<size_t>(src.size(), 16));
  std::memcpy(k.dst, dst.data(), std::min<size_t>(dst.size(), 16));
  k.dport = static_cast<uint16_t>(dport);
  k.proto = static_cast<uint8_t>(proto);
  k.family = src.size() == 16 ? 6 : 4;
  return k;
}

uint16_t FlowStore::intern(const std::string& name) {
  if (name.empty()) return 0;
  auto it = name_ids_.find(name);
  if (it != name_ids_.end()) return it->second;
  if (names_.size() >= kMaxNames) return 0;
  const auto id = static_cast<uint16_t>(names_.size());
  names_.push_back(name);
  name_ids_.emplace(name, id);
  return id;
}

uint32_t FlowStore::intern_dns(const std::string& name) {
  if (name.empty()) return 0;
  auto it = dns_ids_.find(name);
  if (it != dns_ids_.end()) return it->second;
  if (dns_names_.size() > kMaxDnsNames) {
    ++dns_names_full_;
    return 0;
  }
  const auto id = static_cast<uint32_t>(dns_names_.size());
  dns_names_.push_back(name);
  dns_ids_.emplace(name, id);
  return id;
}

void FlowStore::add_name(Names& names, uint32_t id) {
  if (id == 0 || names.back() == id) return;
  auto end = names.end();
  auto it = std::find(names.begin(), end, id);
  if (it == end) it = std::find(names.begin(), end, 0u);
  // Known or a free place: move the later ones down; full: the oldest goes.
  std::rotate(it == end ? names.begin() : it, (it == end ? names.begin() : it) + 1, end);
  names.back() = id;
}

void FlowStore::make_room() {
  if (map_.size() < opt_.capacity) return;
  // Evict the least recently seen sixteenth: amortised, each eviction pass
  // pays for capacity/16 inserts.
  std::vector<int64_t> seen;
  seen.reserve(map_.size());
  for (const auto& [k, v] : map_) seen.push_back(v.last_ms);
  const size_t n = std::max<size_t>(map_.size() / 16, 1);
  std::nth_element(seen.begin(), seen.begin() + static_cast<ptrdiff_t>(n - 1), seen.end());
  const int64_t cut = seen[n - 1];
  size_t removed = 0;
  for (auto it = map_.begin(); it != map_.end() && removed < n;) {
    if (it->second.last_ms <= cut) {
      it = map_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  evicted_ += removed;
  recompute_span();
}

void FlowStore::ingest(const pb::FlowRecord& r) {
  ++records_;
  const Key k = key_of(r.src(), r.dst(), r.protocol(), r.dst_port());
  auto it = map_.find(k);
  if (it == map_.end()) {
    make_room();
    it = map_.emplace(k, Agg{}).first;
    it->second.first_ms = r.start_ms() != 0 ? r.start_ms() : r.time_ms();
    it->second.src_segment = intern(r.src_segment());
    it->second.dst_segment = intern(r.dst_segment());
  }
  Agg& a = it->second;
  const int64_t start = r.start_ms() != 0 ? r.start_ms() : r.time_ms();
  a.first_ms = std::min(a.first_ms, start);
  a.last_ms = std::max(a.last_ms, r.time_ms());
  oldest_ms_ = oldest_ms_ == 0 ? a.first_ms : std::min(oldest_ms_, a.first_ms);
  newest_ms_ = std::max(newest_ms_, a.last_ms);
  a.src_port = static_cast<uint16_t>(r.src_port());
  add_name(a.dns, intern_dns(r.dns_name()));
  add_name(a.sni, intern_dns(r.sni()));
  switch (r.kind()) {
    case pb::FlowRecord::START:
      ++a.flows;
      if (r.verdict() == pb::FlowRecord::ALLOWED) ++a.allowed;
      else if (r.verdict() == pb::FlowRecord::WOULD_DENY) ++a.would_deny;
      else ++a.denied;
      if (r.verdict() != pb::FlowRecord::DENY) ++a.learnable;
      break;
    case pb::FlowRecord::DENIED:
      ++a.flows;
      if (r.verdict() == pb::FlowRecord::WOULD_DENY) {
        ++a.would_deny;
        ++a.learnable;
      } else {
        ++a.denied;
      }
      break;
    case pb::FlowRecord::END:
      a.packets += r.packets_out() + r.packets_in();
      a.bytes += r.bytes_out() + r.bytes_in();
      if (answered(r)) ++a.answered;
      else ++a.unanswered;
      break;
    default:
      break;
  }
}

void FlowStore::recompute_span() {
  oldest_ms_ = newest_ms_ = 0;
  for (const auto& [k, v] : map_) {
    if (oldest_ms_ == 0 || v.first_ms < oldest_ms_) oldest_ms_ = v.first_ms;
    newest_ms_ = std::max(newest_ms_, v.last_ms);
  }
}

void FlowStore::expire(int64_t now_ms) {
  const int64_t cut = now_ms - opt_.retention_ms;
  if (std::erase_if(map_, [cut](const auto& kv) { return kv.second.last_ms < cut; }) > 0) recompute_span();
}

void FlowStore::fill(const Key& k, const Agg& v, pb::FlowAggregate& out) const {
  const size_t len = k.family == 6 ? 16 : 4;
  out.set_src(reinterpret_cast<const char*>(k.src), len);
  out.set_dst(reinterpret_cast<const char*>(k.dst), len);
  out.set_protocol(k.proto);
  out.set_dst_port(k.dport);
  out.set_src_segment(names_[v.src_segment]);
  out.set_dst_segment(names_[v.dst_segment]);
  out.set_flows(v.flows);
  out.set_packets(v.packets);
  out.set_bytes(v.bytes);
  out.set_first_ms(v.first_ms);
  out.set_last_ms(v.last_ms);
  out.set_allowed(v.allowed);
  out.set_denied(v.denied);
  out.set_would_deny(v.would_deny);
  out.set_learnable(v.learnable);
  out.set_answered(v.answered);
  out.set_unanswered(v.unanswered);
  out.set_src_port(v.src_port);
  out.clear_dns_names();
  for (uint32_t id : v.dns)
    if (id != 0) out.add_dns_names(dns_names_[id]);
  out.clear_server_names();
  for (uint32_t id : v.sni)
    if (id != 0) out.add_server_names(dns_names_[id]);
}

std::vector<pb::FlowAggregate> FlowStore::query(const FlowQuery& q) const {
  std::vector<std::pair<const Key*, const Agg*>> hits;
  const uint16_t seg = [&]() -> uint16_t {
    if (q.segment.empty()) return 0;
    auto it = name_ids_.find(q.segment);
    return it == name_ids_.end() ? UINT16_MAX : it->second;
  }();
  Key host{};
  if (!q.host.empty()) std::memcpy(host.src, q.host.data(), std::min<size_t>(q.host.size(), 16));
  const uint8_t host_family = q.host.size() == 16 ? 6 : 4;
  for (const auto& [k, v] : map_) {
    if (q.since_ms != 0 && v.last_ms < q.since_ms) continue;
    if (q.until_ms != 0 && v.first_ms > q.until_ms) continue;
    if (q.denied_only && v.denied + v.would_deny == 0) continue;
    if (q.port != 0 && k.dport != q.port) continue;
    if (seg != 0 && v.src_segment != seg && v.dst_segment != seg) continue;
    if (!q.host.empty() && (k.family != host_family || (std::memcmp(k.src, host.src, 16) != 0 &&
                                                         std::memcmp(k.dst, host.src, 16) != 0)))
      continue;
    hits.emplace_back(&k, &v);
  }
  if (q.top != 0 && hits.size() > q.top) {
    std::partial_sort(hits.begin(), hits.begin() + q.top, hits.end(),
                      [](const auto& a, const auto& b) { return a.second->flows > b.second->flows; });
    hits.resize(q.top);
  } else if (q.top != 0) {
    std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) { return a.second->flows > b.second->flows; });
  }
  std::vector<pb::FlowAggregate> out(hits.size());
  for (size_t i = 0; i < hits.size(); ++i) fill(*hits[i].first, *hits[i].second, out[i]);
  return out;
}

pb::FlowStoreInfo FlowStore::info() const {
  pb::FlowStoreInfo i;
  i.set_aggregates(map_.size());
  i.set_capacity(opt_.capacity);
  i.set_records(records_);
  i.set_rejected_records(rejected_records_);
  i.set_rejected_batches(rejected_batches_);
  i.set_evicted(evicted_);
  i.set_lost_by_dataplanes(lost_);
  i.set_suppressed_by_dataplanes(suppressed_);
  i.set_dns_names(dns_names_.size() - 1);
  i.set_dns_names_not_kept(dns_names_full_);
  i.set_oldest_ms(oldest_ms_);
  i.set_newest_ms(newest_ms_);
  return i;
}

pb::FlowSnapshot FlowStore::snapshot(int64_t now_ms) const {
  pb::FlowSnapshot s;
  s.set_version(1);
  s.set_saved_ms(now_ms);
  s.mutable_aggregates()->Reserve(static_cast<int>(map_.size()));
  for (const auto& [k, v] : map_) fill(k, v, *s.add_aggregates());
  return s;
}

bool FlowStore::restore(const pb::FlowSnapshot& s, std::string& error) {
  if (s.version() != 1) {
    error = "flow snapshot version " + std::to_string(s.version()) + " is not one this release reads";
    return false;
  }
  FlowStore fresh(opt_);
  auto names_ok = [](const google::protobuf::RepeatedPtrField<std::string>& names) {
    return names.size() <= static_cast<int>(kMaxAggregateNames) && std::all_of(names.begin(), names.end(), plausible_name);
  };
  for (int i = 0; i < s.aggregates_size(); ++i) {
    const auto& a = s.aggregates(i);
    const bool sizes_ok = (a.src().size() == 4 && a.dst().size() == 4) || (a.src().size() == 16 && a.dst().size() == 16);
    if (!sizes_ok || a.protocol() > 255 || a.dst_port() > 65535 || a.src_port() > 65535 ||
        a.src_segment().size() > 64 || a.dst_segment().size() > 64 ||
        !names_ok(a.dns_names()) || !names_ok(a.server_names())) {
      error = "flow snapshot aggregate " + std::to_string(i) + " is malformed";
      return false;
    }
    if (fresh.map_.size() >= opt_.capacity) break;
    Agg v;
    v.flows = a.flows();
    v.packets = a.packets();
    v.bytes = a.bytes();
    v.allowed = a.allowed();
    v.denied = a.denied();
    v.would_deny = a.would_deny();
    v.learnable = a.learnable();
    v.answered = a.answered();
    v.unanswered = a.unanswered();
    v.first_ms = a.first_ms();
    v.last_ms = a.last_ms();
    v.src_segment = fresh.intern(a.src_segment());
    v.dst_segment = fresh.intern(a.dst_segment());
    v.src_port = static_cast<uint16_t>(a.src_port());
    for (const auto& n : a.dns_names()) add_name(v.dns, fresh.intern_dns(n));
    for (const auto& n : a.server_names()) add_name(v.sni, fresh.intern_dns(n));
    fresh.map_[key_of(a.src(), a.dst(), a.protocol(), a.dst_port())] = v;
  }
  map_ = std::move(fresh.map_);
  recompute_span();
  names_ = std::move(fresh.names_);
  name_ids_ = std::move(fresh.name_ids_);
  dns_names_ = std::move(fresh.dns_names_);
  dns_ids_ = std::move(fresh.dns_ids_);
  return true;
}

bool FlowStore::save(const std::string& path, int64_t now_ms, std::string& error) const {
  std::string bytes;
  if (!snapshot(now_ms).SerializeToString(&bytes)) {
    error = "cannot encode the flow snapshot";
    return false;
  }
  return common::write_file(path, bytes, error);
}

bool FlowStore::load(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return true;
  std::stringstream ss;
  ss << in.rdbuf();
  pb::FlowSnapshot s;
  if (!s.ParseFromString(ss.str())) {
    error = path + ": not a flow snapshot (unreadable)";
    return false;
  }
  if (!restore(s, error)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}

}  // namespace bulkhead::controlplane::flows
