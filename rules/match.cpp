#include "rules/match.h"

#include <cstring>

#include "common/protocols.h"
#include "rules/policy.h"
#include "rules/prefix.h"

namespace bulkhead::rules {
namespace {

bool prefix_holds(const pb::Prefix& p, uint8_t family, const std::array<uint8_t, 16>& addr) {
  const size_t n = family == 4 ? 4 : 16;
  if (p.addr().size() != n) return false;
  uint32_t len = p.prefix_len();
  const auto* a = reinterpret_cast<const uint8_t*>(p.addr().data());
  for (size_t i = 0; i < n && len > 0; ++i) {
    const uint32_t bits = len >= 8 ? 8 : len;
    const uint8_t mask = static_cast<uint8_t>(0xff00u >> bits);
    if ((addr[i] & mask) != (a[i] & mask)) return false;
    len -= bits;
  }
  return true;
}

bool side_holds(const google::protobuf::RepeatedPtrField<pb::Prefix>& side, uint8_t family,
                const std::array<uint8_t, 16>& addr) {
  if (side.empty()) return true;
  for (const auto& p : side)
    if (prefix_holds(p, family, addr)) return true;
  return false;
}

bool ranges_hold(const google::protobuf::RepeatedPtrField<pb::PortRange>& r, uint16_t port) {
  if (r.empty()) return true;
  for (const auto& x : r)
    if (port >= x.lo() && port <= x.hi()) return true;
  return false;
}

}  // namespace

std::string proto_name(uint8_t proto) {
  switch (proto) {
    case common::kProtoTcp: return "tcp";
    case common::kProtoUdp: return "udp";
    case common::kProtoIcmp: return "icmp";
    case common::kProtoIcmpv6: return "icmpv6";
    case common::kProtoSctp: return "sctp";
    default: return std::to_string(proto);
  }
}

std::string format_tuple(const Tuple& t) {
  const std::string src = format_address(t.family, t.src);
  const std::string dst = format_address(t.family, t.dst);
  const std::string p = proto_name(t.proto);
  if (t.proto == common::kProtoIcmp || t.proto == common::kProtoIcmpv6)
    return p + " " + src + " -> " + dst + " type " + std::to_string(t.sport) + " code " + std::to_string(t.dport);
  if (t.family == 6)
    return p + " [" + src + "]:" + std::to_string(t.sport) + " -> [" + dst + "]:" + std::to_string(t.dport);
  return p + " " + src + ":" + std::to_string(t.sport) + " -> " + dst + ":" + std::to_string(t.dport);
}

const char* mismatch_name(Mismatch m) {
  switch (m) {
    case Mismatch::matched: return "matched";
    case Mismatch::tenant: return "tenant";
    case Mismatch::family: return "address family";
    case Mismatch::source: return "source address";
    case Mismatch::destination: return "destination address";
    case Mismatch::protocol: return "protocol";
    case Mismatch::source_port: return "source port";
    case Mismatch::destination_port: return "destination port";
    case Mismatch::expired: return "expired";
  }
  return "?";
}

Mismatch match_rule(const pb::CompiledRule& r, const Tuple& t, int64_t now_unix) {
  if (r.expires_at() != 0 && now_unix >= r.expires_at()) return Mismatch::expired;
  if (!r.tenant().empty() && r.tenant() != t.tenant) return Mismatch::tenant;
  if (t.family == 4 ? !r.v4() : !r.v6()) return Mismatch::family;
  if (!r.any_proto() && r.proto() != t.proto) return Mismatch::protocol;
  if (!side_holds(r.src(), t.family, t.src)) return Mismatch::source;
  if (r.fqdn_size() == 0 && !side_holds(r.dst(), t.family, t.dst)) return Mismatch::destination;
  if (!ranges_hold(r.sports(), t.sport)) return Mismatch::source_port;
  if (!ranges_hold(r.dports(), t.dport)) return Mismatch::destination_port;
  return Mismatch::matched;
}

bool destination_holds(const pb::CompiledRule& r, const Tuple& t) {
  if (r.fqdn_size() > 0 && r.dst().empty()) return false;
  return side_holds(r.dst(), t.family, t.dst);
}

int match_first(const pb::CompiledRuleSet& set, const Tuple& t, int64_t now_unix) {
  for (int i = 0; i < set.rules_size(); ++i)
    if (match_rule(set.rules(i), t, now_unix) == Mismatch::matched) return i;
  return -1;
}

std::optional<std::string> segment_of(const pb::CompiledRuleSet& set, uint8_t family,
                                      const std::array<uint8_t, 16>& addr) {
  std::optional<std::string> best;
  int best_len = -1;
  for (const auto& s : set.segments())
    for (const auto& p : s.prefixes())
      if (static_cast<int>(p.prefix_len()) > best_len && prefix_holds(p, family, addr)) {
        best = s.name();
        best_len = static_cast<int>(p.prefix_len());
      }
  return best;
}

}  // namespace bulkhead::rules
